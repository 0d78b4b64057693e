"""Screening a supplier list: link each row to a company in the store and to the restricted
lists, or say that it cannot, with a score and the reasons.

>>> from onshore.network import Network
>>> from onshore.compliance.screen import screen
>>> rows = screen(Network.reference(), [{"name": "CONTEMPORARY AMPEREX TECH CO LTD"}])
>>> rows[0]["match"], rows[0]["decision"]
('catl', 'match')

The index holds the store's companies (name and aliases; tickers among the aliases become
exact keys) and the entries of the restricted lists (``data/lists``). A list entry whose
identifiers or names match a store company is that company; other entries stand alone
(``match`` is then null and ``lists`` names the entry). Reviewers' judgements
(:func:`apply_reviews`, stored by :mod:`onshore.store.reviews`) override the scores:
'same' makes a pair a match, 'different' removes it, 'unsure' keeps it in review.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from onshore.compliance.names import Candidate, Entry, Matcher, decide, normalize
from onshore.network import Network
from onshore.rules import RuleSet
from onshore.rules.lists import RestrictedList, bundled_lists


def query_key(name: str) -> str:
    """The key a review judgement is stored under: the normalised, word-sorted name.

    Parameters
    ----------
    name : str

    Returns
    -------
    str
    """
    n = normalize(str(name))
    return n.key or n.native or str(name).strip().casefold()


def _company_entries(network: Network) -> list[Entry]:
    c = network.companies
    out = []
    for cid, name, aliases, country in zip(
        c["id"].astype(str).tolist(),
        c["name"].astype(str).tolist(),
        c["aliases"].tolist(),
        c["country"].tolist(),
        strict=True,
    ):
        names = [name]
        if isinstance(aliases, str):
            names += [a for a in aliases.split(";") if a.strip()]
        elif isinstance(aliases, list | tuple):
            names += list(aliases)
        out.append(Entry(cid, name, str(country) if isinstance(country, str) else None, names))
    return out


def company_index(network: Network) -> Matcher:
    """The matcher over the store's companies only (names and aliases; cached per network,
    and kept beside the store, see :meth:`Matcher.kept`).

    Parameters
    ----------
    network : Network

    Returns
    -------
    Matcher
    """
    return network.cached(
        ("compliance.screen.companies",),
        lambda: Matcher.kept(_company_entries(network), network.plans),
    )


def build_index(network: Network, lists: Mapping[str, RestrictedList] | None = None) -> Matcher:
    """The matcher over the store's companies and the restricted lists (cached per network).

    Parameters
    ----------
    network : Network
    lists : mapping of str to RestrictedList, optional
        Default: the bundled lists.

    Returns
    -------
    Matcher
        Entries carry ``lists`` (list id, entry id) of the list entries linked to them.
    """
    key = ("compliance.screen.index", tuple(sorted(lists)) if lists is not None else None)
    return network.cached(key, lambda: _build_index(network, lists))


def _build_index(network: Network, lists: Mapping[str, RestrictedList] | None) -> Matcher:
    lists = bundled_lists() if lists is None else lists
    companies = _company_entries(network)
    store = company_index(network)
    by_id = {e.id: e for e in companies}
    alone: dict[str, Entry] = {}
    for lst in lists.values():
        for e in lst.entries:
            target = _link(store, e)
            names = list(e.names)
            secondary: set[str] = set()
            for s in e.subsidiaries:
                if s.relation != "subsidiary":
                    continue
                own = _link_names(store, [s.name, *s.aliases], None)
                if own is not None and own != target:
                    sub = by_id[own]  # a subsidiary that is itself in the store
                    sub.names += [n for n in (s.name, *s.aliases) if n not in sub.names]
                else:
                    names += [s.name, *s.aliases]
                    secondary |= {s.name, *s.aliases}
            if target is not None:
                ent = by_id[target]
            else:
                ent = alone.setdefault(
                    e.id, Entry(e.id, e.names[0], e.country, [], set(), [], store=False)
                )
            ent.secondary |= secondary - set(ent.names)
            ent.names += [n for n in names if n not in ent.names]
            ent.identifiers |= set(e.identifiers.all())
            if (lst.id, e.id) not in ent.lists:
                ent.lists.append((lst.id, e.id))
    return Matcher.kept(
        [*companies, *(e for e in alone.values() if e.id not in by_id)], network.plans
    )


def _link(store: Matcher, e: Any) -> str | None:
    """The store company a list entry is: by identifier, else by its names (a match)."""
    for ident in e.identifiers.all():
        hit = store.candidates(ident)
        if hit and hit[0].decision == "match":
            return hit[0].id
    return _link_names(store, e.names, e.country)


def _link_names(store: Matcher, names: Iterable[str], country: str | None) -> str | None:
    best: Candidate | None = None
    for n in names:
        for c in store.candidates(n, country, limit=1):
            if c.decision == "match" and (best is None or c.score > best.score):
                best = c
    return best.id if best else None


def apply_reviews(
    key: str, cands: list[Candidate], reviews: pd.DataFrame | None
) -> tuple[list[Candidate], list[str]]:
    """Candidates after the reviewers' latest judgements of (key, candidate) pairs.

    Parameters
    ----------
    key : str
        :func:`query_key` of the input.
    cands : list of Candidate
    reviews : DataFrame, optional
        Columns key, candidate, decision (same, different, unsure, pending), by, at.

    Returns
    -------
    list of Candidate, list of str
        The candidates (a 'same' pair first, 'different' pairs dropped) and the notes.
    """
    if reviews is None or not len(reviews):
        return cands, []
    mine = reviews[(reviews["key"] == key) & (reviews["decision"] != "pending")]
    if not len(mine):
        return cands, []
    latest = mine.sort_values("at").groupby("candidate").tail(1).set_index("candidate")
    out, notes = [], []
    for c in cands:
        if c.id not in latest.index:
            out.append(c)
            continue
        r = latest.loc[c.id]
        who = f"{r['decision']} by {r['by']} on {str(r['at'])[:10]}"
        if r["decision"] == "same":
            out.insert(
                0,
                Candidate(
                    c.id,
                    c.name,
                    1.0,
                    "match",
                    {**c.features, "review": "same"},
                    (f"reviewed: {who}", *c.reasons),
                ),
            )
        elif r["decision"] == "different":
            notes.append(f"{c.id} ({c.name}) reviewed: {who}")
        else:
            s = min(c.score, 0.85)
            out.append(
                Candidate(
                    c.id,
                    c.name,
                    s,
                    "review" if s >= 0.5 else decide(s),
                    {**c.features, "review": "unsure"},
                    (f"reviewed: {who}", *c.reasons),
                )
            )
    # a pair judged 'same' that the scorer did not even propose
    for cid in latest.index[latest["decision"] == "same"]:
        if all(c.id != cid for c in out):
            r = latest.loc[cid]
            out.insert(
                0,
                Candidate(
                    str(cid),
                    str(cid),
                    1.0,
                    "match",
                    {"review": "same"},
                    (f"reviewed: same by {r['by']} on {str(r['at'])[:10]}",),
                ),
            )
    return out, notes


def row_key(row: Mapping[str, Any]) -> tuple[str, str | None, str]:
    """What a supplier row is screened by: (name, country upper-cased or None, id).

    Parameters
    ----------
    row : mapping
        With ``name``; optional ``country`` and ``id``.

    Returns
    -------
    tuple of (str, str or None, str)
    """
    return (
        _text(row.get("name")),
        _text(row.get("country")).upper() or None,
        _text(row.get("id")),
    )


def _rule_ids(rules: RuleSet | None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if rules is None:
        return out
    for r in rules.rules.values():
        for e in getattr(r.test, "entities", ()) or ():
            if getattr(e, "list", None):
                ids = out.setdefault(f"{e.list}:{e.id}", [])
                if r.id not in ids:
                    ids.append(r.id)
    return out


def screen(
    network: Network,
    rows: Sequence[Mapping[str, Any]] | pd.DataFrame,
    lists: Mapping[str, RestrictedList] | None = None,
    rules: RuleSet | None = None,
    on: dt.date | None = None,
    scored: Mapping[tuple[str, str | None, str], list[Candidate]] | None = None,
) -> list[dict[str, Any]]:
    """Link every row of a supplier list to a company and to the restricted lists.

    Parameters
    ----------
    network : Network
        The store's companies (and ``network.reviews``, the judgements so far).
    rows : sequence of mappings, or DataFrame
        Each with ``name``; optional ``country`` (ISO alpha-2), ``id`` (ticker, USCC, LEI
        or the company id in the store) and ``address``.
    lists : mapping of str to RestrictedList, optional
        Default: the bundled lists.
    rules : RuleSet, optional
        To name the rules each list entry feeds (default: the bundled rules).
    on : datetime.date, optional
        Show only list entries in effect on this date (default: every entry not withdrawn).
    scored : mapping, optional
        The candidates of each :func:`row_key`, as :meth:`Matcher.candidates` of
        :func:`build_index` gives them, when they were scored elsewhere (the Spark engine);
        rows whose key is missing are scored here.

    Returns
    -------
    list of dict
        Per row: input, country, match (company id or None), name, score (0..1), decision
        (match, review, no_match), lists (entries hit with their rule ids), candidates
        (id:score of the runners-up) and reasons.
    """
    from onshore.rules import bundled

    idx = build_index(network, lists)
    lists = bundled_lists() if lists is None else lists
    rule_of = _rule_ids(rules if rules is not None else bundled())
    reviews = getattr(network, "reviews", None)
    recs = rows.to_dict("records") if isinstance(rows, pd.DataFrame) else list(rows)
    ids_in_store = set(network.companies["id"].astype(str))
    entry_of = {}
    for lid, lst in lists.items():
        for e in lst.entries:  # the entry in effect last wins over a withdrawn one
            if (lid, e.id) not in entry_of or e.state != "withdrawn":
                entry_of[(lid, e.id)] = e
    memo: dict[tuple[str, str | None, str], list[Candidate]] = {}
    out = []
    for r in recs:
        k = name, country, rid = row_key(r)
        if k not in memo:
            if scored is not None and k in scored:
                cands = list(scored[k])
            else:
                cands = idx.candidates(name, country, [rid] if rid else [])
            if rid and rid in ids_in_store and all(c.id != rid for c in cands):
                known = idx.by_id[rid]
                cands.insert(
                    0,
                    Candidate(
                        rid,
                        known.label,
                        1.0,
                        "match",
                        {"exact": "company id"},
                        ("the row gives the company id",),
                    ),
                )
            memo[k] = cands
        cands, notes = apply_reviews(query_key(name), memo[k], reviews)
        best = cands[0] if cands else None
        row: dict[str, Any] = {"input": name, "country": country}
        if best is None or best.decision == "no_match":
            row.update(
                match=None,
                name=None,
                score=best.score if best else 0.0,
                decision="no_match",
                lists=[],
            )
            reasons = list(best.reasons) if best else ["no candidate shares a distinctive word"]
        else:
            node = idx.by_id[best.id]
            hits = []
            for lid, eid in node.lists:
                ent = entry_of.get((lid, eid))
                if ent is None or (on is not None and not ent.listed_on(on)):
                    continue
                hit = {"list": lid, "entry": eid, "rules": rule_of.get(f"{lid}:{eid}", [])}
                if ent.state != "listed":
                    hit["state"] = ent.state
                hits.append(hit)
            row.update(
                match=best.id if node.store else None,
                name=node.label,
                score=best.score,
                decision=best.decision,
                lists=hits,
            )
            reasons = list(best.reasons)
        row["candidates"] = [f"{c.id}:{c.score:.2f}" for c in cands[1:3] if c.score >= 0.5]
        row["reasons"] = [*reasons, *notes]
        out.append(row)
    return out


def pending_pairs(results: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The (input, candidate) pairs of screen results that need a reviewer.

    Parameters
    ----------
    results : iterable of dict
        Rows from :func:`screen`.

    Returns
    -------
    list of dict
        key, input, candidate (company or entry id), name, score.
    """
    out = []
    for r in results:
        if r["decision"] == "review":
            cand = r["match"] or (r["lists"][0]["entry"] if r["lists"] else None)
            if cand:
                out.append(
                    {
                        "key": query_key(r["input"]),
                        "input": r["input"],
                        "candidate": cand,
                        "name": r["name"],
                        "score": r["score"],
                    }
                )
    return out


def link_batch(
    network: Network, batch: Any, queue: list[dict[str, Any]] | None = None
) -> tuple[Any, list[dict[str, Any]]]:
    """Link the companies of an import to those already in the store instead of adding
    duplicates: a new company whose name matches a stored one is dropped and every
    reference to its id (ownership, facilities, licences) points to the stored id.

    Parameters
    ----------
    network : Network
        The store's content before the import.
    batch : Batch
        The records read from the files.
    queue : list, optional
        Receives the pairs left for review (see :func:`pending_pairs`).

    Returns
    -------
    Batch, list of dict
        The rewritten batch and one row per linked company (id, linked_to, score, reasons).
    """
    from onshore.records.batch import Batch
    from onshore.records.model import TABLES

    stored = set(network.companies["id"].astype(str))
    comp = batch.frame("companies")
    new = comp[~comp["id"].astype(str).isin(stored)] if len(comp) else comp
    rows = [
        {"name": str(n), "country": c} for n, c in zip(new["name"], new["country"], strict=True)
    ]
    res = screen(network, rows) if rows else []
    remap: dict[str, str] = {}
    linked = []
    for cid, r in zip(new["id"].astype(str), res, strict=True):
        if r["decision"] == "match" and r["match"]:
            remap[cid] = r["match"]
            linked.append(
                {
                    "id": cid,
                    "linked_to": r["match"],
                    "score": r["score"],
                    "reasons": "; ".join(r["reasons"]),
                }
            )
    if queue is not None:
        queue += pending_pairs(res)
    if not remap:
        return batch, linked
    out = Batch(warnings=list(batch.warnings))
    for name, spec in TABLES.items():
        df = batch.frame(name)
        if not len(df):
            continue
        df = df.copy()
        if name == "companies":
            df = df[~df["id"].astype(str).isin(remap)].reset_index(drop=True)
        for col in (col for col, target in spec.refs.items() if target == "companies"):
            moved = df[col].astype(object).map(lambda v: remap.get(v, v))
            categorical = isinstance(df[col].dtype, pd.CategoricalDtype)
            df[col] = moved.astype("category") if categorical else moved
        out.add_frame(name, df)
    return out, linked


def _text(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return str(v).strip()


__all__ = [
    "apply_reviews",
    "build_index",
    "company_index",
    "link_batch",
    "pending_pairs",
    "query_key",
    "row_key",
    "screen",
]
