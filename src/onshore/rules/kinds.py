"""How each kind of rule test is evaluated on a product (a facility's output) on a date.

Each function takes the per-network :class:`Context`, the rule, the product and the date,
and returns a :class:`~onshore.check.Finding`. Company-level facts come from
:mod:`onshore.owners`, names from :mod:`onshore.screen`, supplier plants from recorded
flows, origin shares from the trace (:mod:`onshore.trace`), weighted by mass or by cost.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from onshore.check import Finding, Outcome
from onshore.errors import OnshoreError
from onshore.graph import STAGE_RANK
from onshore.network import Network
from onshore.owners import (
    COVERED_NATIONS,
    Owners,
    affiliates,
    feoc,
    owners,
    ownership_paths,
    prohibited_foreign_entity,
)
from onshore.rules.loader import (
    Always,
    ContentThresholdByYear,
    Entity,
    EntityList,
    FeocContent,
    Informational,
    NamedEntity,
    OriginCountry,
    OwnershipThreshold,
    Rule,
    Tariff,
)
from onshore.screen import match

UNKNOWN_ORIGIN = {"", "unknown", "?", "??", "none", "nan", "xx"}


def bfs_order(G: sp.csr_matrix, source: int) -> np.ndarray:
    """Vertices reachable from ``source`` along ``G``, by hop distance then position (source first)."""
    seen = np.zeros(G.shape[0], dtype=bool)
    seen[source] = True
    frontier = np.array([source], dtype=np.int64)
    out = [frontier]
    while frontier.size:
        nxt = G[frontier].indices
        nxt = np.unique(nxt[~seen[nxt]])
        seen[nxt] = True
        if nxt.size:
            out.append(nxt)
        frontier = nxt
    return np.concatenate(out)


# ------------------------------------------------------------------------------ context
@dataclass
class Context:
    """Per-network facts the tests share, computed once."""

    network: Network
    owners: Owners
    fac: pd.DataFrame
    """Facilities indexed by id."""
    fidx: dict[str, int]
    upstream_graph: sp.csr_matrix
    """customer -> supplier adjacency over facilities (all periods)."""
    names: dict[str, str]
    cache: dict[Any, Any] = field(default_factory=dict)

    def upstream(self, product: str) -> list[str]:
        """Every facility upstream of ``product`` by recorded flows (not the product itself),
        nearest first (by number of flow hops, then by facility position): the order in
        which a test reports "the first" plant, the same in ``check`` and ``check --all``."""
        key = ("up", product)
        if key not in self.cache:
            order = bfs_order(self.upstream_graph, self.fidx[product])
            ids = self.fac.index.to_numpy()
            self.cache[key] = [str(ids[k]) for k in order[1:]]
        out: list[str] = self.cache[key]
        return out

    def feoc(self) -> pd.DataFrame:
        if "feoc" not in self.cache:
            self.cache["feoc"] = feoc(self.network)
        out: pd.DataFrame = self.cache["feoc"]
        return out

    def pfe(self, ids: list[str], single: float = 0.25, together: float = 0.40, debt: float = 0.15) -> pd.DataFrame:
        """:func:`~onshore.owners.prohibited_foreign_entity` for these listed companies (cached)."""
        key = ("pfe", tuple(sorted(ids)), single, together, debt)
        if key not in self.cache:
            self.cache[key] = prohibited_foreign_entity(self.network, list(ids), single, together, debt)
        out: pd.DataFrame = self.cache[key]
        return out

    def describe(self, facility: str) -> str:
        f = self.fac.loc[facility]
        return (f"{f['stage']} plant {facility} ({f['name']}, {f['country']}) of "
                f"{self.names.get(str(f['company']), f['company'])} [{f['company']}]")

    def resolve(self, entities: tuple[Entity, ...], on: dt.date | None = None) -> tuple[dict[str, Entity], list[str]]:
        """Company id -> entity for entities listed on ``on``; and notes on possible matches/unsure dates.

        Screened once per (entities, date) and cached; callers get their own copies."""
        key = ("resolve", entities, on)
        if key not in self.cache:
            self.cache[key] = self._resolve(entities, on)
        found, notes = self.cache[key]
        return dict(found), list(notes)

    def _resolve(self, entities: tuple[Entity, ...], on: dt.date | None) -> tuple[dict[str, Entity], list[str]]:
        found: dict[str, Entity] = {}
        notes: list[str] = []
        for e in entities:
            m = match(self.network, [e.name, *e.aliases], e.company)
            if on is not None and e.listed_from is not None and on < e.listed_from:
                if not e.date_confirmed and m.exact:
                    notes.append(f"{e.name} ({', '.join(m.exact)}) is listed from {e.listed_from} "
                                 f"(date unconfirmed); before that date the listing cannot be excluded")
                continue
            for c in m.exact:
                found[c] = e
            for cid, name, score in m.possible:
                notes.append(f"company {cid} ('{name}') resembles {e.name} (score {score:.0f}) but is not linked to it")
        return found, notes


def context(network: Network) -> Context:
    """The shared facts of ``network`` (cached on it)."""
    if "check:context" not in network._cache:
        fac = network.facilities.copy()
        fac["id"] = fac["id"].astype(str)
        fac = fac.set_index("id", drop=False)
        fidx = {f: k for k, f in enumerate(fac.index)}
        fl = network.flows
        s = fl["supplier"].astype(str).map(fidx)
        c = fl["customer"].astype(str).map(fidx)
        ok = s.notna() & c.notna()
        n = len(fac)
        g = sp.csr_matrix((np.ones(int(ok.sum())), (c[ok].to_numpy(dtype=np.int64), s[ok].to_numpy(dtype=np.int64))),
                          shape=(n, n))
        names = dict(zip(network.companies["id"].astype(str), network.companies["name"].astype(str), strict=True))
        network._cache["check:context"] = Context(network, owners(network), fac, fidx, g, names)
    ctx: Context = network._cache["check:context"]
    return ctx


def _chain(ctx: Context, top: str, company: str) -> str:
    paths = ownership_paths(ctx.network, top, company, top=1)
    if not paths:
        return f"{top} -> {company}"
    p, w = paths[0]
    return " -> ".join(p) + f" (product of shares {w:.0%})"


# -------------------------------------------------------------------------- named entity
_REL = {"self": "the company is", "subsidiary": "controlled by", "controller": "the controller of",
        "sister": "under common control with", "minority": "held >= 25 % by"}


def _relations(ctx: Context, company: str, named: dict[str, Entity], t: NamedEntity | EntityList) -> list[tuple[str, str, str]]:
    """(named company, relation, chain) of ``company`` to each named company it relates to."""
    o = ctx.owners
    out = []
    j = o.idx(company)
    for e in named:
        if e == company:
            out.append((e, "self", company))
            continue
        if ("aff", e) not in ctx.cache:
            ctx.cache[("aff", e)] = affiliates(ctx.network, e)
        rel = ctx.cache[("aff", e)].get(company)
        if rel == "subsidiary":
            out.append((e, "subsidiary", " -> ".join(reversed(o.control_chain(company)[: o.control_chain(company).index(e) + 1]))))
        elif rel in ("controller", "sister"):
            out.append((e, rel, f"{company} and {e} share the controller {o.ids[o.ultimate[j]]}"))
        elif isinstance(t, NamedEntity) and o.equity[o.idx(e), j] >= t.minority:
            out.append((e, "minority", _chain(ctx, e, company)))
    return out


def named_entity(ctx: Context, rule: Rule, product: str, on: dt.date) -> Finding:
    t = rule.test
    assert isinstance(t, NamedEntity)
    plants = [p for p in [product, *ctx.upstream(product)] if str(ctx.fac.loc[p, "stage"]) in t.produced_by]
    if not plants:
        return Finding(Outcome.UNKNOWN, f"no {'/'.join(t.produced_by)} plant is recorded for {product}",
                       settle=[f"record the flows from the {'/'.join(t.produced_by)} plants into {product}"])
    named, notes = ctx.resolve(t.entities)
    gap = named_gap(t, str(ctx.fac.loc[product, "stage"]), {str(ctx.fac.loc[p, "stage"]) for p in plants}, product)
    prohibit = {"self", "subsidiary"} | ({"controller", "sister"} if t.affiliates == "common_control" else set())
    evidence, unsure = [], []
    for p in plants:
        c = str(ctx.fac.loc[p, "company"])
        for e, rel, chain in _relations(ctx, c, named, t):
            line = f"{ctx.describe(p)}: {_REL[rel]} the named entity {named[e].name} ({chain})"
            if rel in prohibit:
                evidence.append(line)
            elif rel in t.uncertain:
                unsure.append(line)
    inputs = {"plants": plants, "named_companies": sorted(named)}
    if evidence:
        return Finding(Outcome.PROHIBITED, f"produced by a named entity: {evidence[0]}; in force from {rule.effective_from}",
                       evidence + unsure, inputs=inputs)
    if gap:
        return Finding(Outcome.UNKNOWN, gap, [gap, *unsure, *notes], settle=[named_gap_settle(t, product)], inputs=inputs)
    if unsure or notes:
        return Finding(Outcome.UNKNOWN, named_unknown_reason(unsure[:1] + notes), unsure + notes,
                       settle=named_unknown_settle(), inputs=inputs)
    makers = sorted({str(ctx.fac.loc[p, "company"]) for p in plants})
    ev = [ctx.describe(p) for p in plants] + [f"control chain of {m}: {' <- '.join(ctx.owners.control_chain(m))}" for m in makers]
    return Finding(Outcome.ALLOWED, named_allowed_reason(str(ctx.fac.loc[plants[0], "company"]), t), ev, inputs=inputs)


def named_gap(t: NamedEntity, stage: str, found: set[str], product: str) -> str:
    """Why the maker cannot be checked: the product comes after the first ``produced_by`` stage
    (a pack after its cells) and no plant of that stage is recorded upstream; else ''."""
    first = min(t.produced_by, key=lambda s: STAGE_RANK.get(s, 99))
    if STAGE_RANK.get(stage, 99) > STAGE_RANK.get(first, 99) and first not in found:
        return f"no {first} plant is recorded upstream of {product}, so its {first} maker cannot be checked"
    return ""


def named_gap_settle(t: NamedEntity, product: str) -> str:
    first = min(t.produced_by, key=lambda s: STAGE_RANK.get(s, 99))
    return f"record the flows from the {first} plants into {product}"


def named_unknown_reason(lines: list[str]) -> str:
    """The UNKNOWN reason of a named-entity test: the nearest related plant and the screening notes."""
    return "related to a named entity in a way the rule's unread wording would settle: " + "; ".join(lines)


def named_unknown_settle() -> list[str]:
    return ["the exact affiliate/successor wording of the rule (see 'reading')", "ownership records linking the companies named"]


def named_allowed_reason(maker: str, t: NamedEntity) -> str:
    """The ALLOWED reason of a named-entity test (``maker``: the company of the nearest such plant)."""
    return (f"made by {maker}; no {'/'.join(t.produced_by)} plant in its recorded supply chain is, or is controlled by, "
            "a named entity on the recorded ownership")


def entity_list(ctx: Context, rule: Rule, product: str, on: dt.date) -> Finding:
    t = rule.test
    assert isinstance(t, EntityList)
    listed, notes = ctx.resolve(t.entities, on)
    plants = [product] if t.reach == "maker" else [product, *ctx.upstream(product)]
    hits = []
    for p in plants:
        c = str(ctx.fac.loc[p, "company"])
        for e, rel, chain in _relations(ctx, c, listed, t):
            if rel in ("self", "subsidiary") or (t.affiliates == "controlled" and rel == "controller" and t.reach == "maker"):
                hits.append(f"{ctx.describe(p)}: {_REL[rel]} {listed[e].name}, on the {t.list} ({chain})")
    inputs = {"plants": len(plants), "listed_companies": sorted(listed)}
    if hits:
        return Finding(Outcome.PROHIBITED, f"{hits[0]}", hits, inputs=inputs)
    settle = []
    if t.reach == "upstream" and len(plants) == 1 and str(ctx.fac.loc[product, "stage"]) != "mine":
        settle.append(f"record the supplier flows into {product}")
        notes.append(f"no supplier of {product} is recorded, so listed suppliers cannot be excluded")
    if notes:
        return Finding(Outcome.UNKNOWN, "; ".join(notes), notes, settle or ["entity identities (ids, registry numbers)"],
                       inputs=inputs)
    return Finding(Outcome.ALLOWED, entity_allowed_reason(t), [ctx.describe(p) for p in plants[:5]], inputs=inputs)


def entity_allowed_reason(t: EntityList) -> str:
    checked = "the maker" if t.reach == "maker" else "the maker and every plant upstream of it by recorded flows"
    return f"none of the plants checked ({checked}) belongs to an entity on the {t.list} or a company it controls"


# ------------------------------------------------------------------------------- traced
def traced(ctx: Context, product: str, weight: str, by: tuple[str, ...]) -> pd.DataFrame | str:
    """The trace of ``product`` by ``by`` (see :func:`onshore.trace.trace`), or why it failed."""
    key = ("trace", product, weight, by)
    if key not in ctx.cache:
        try:
            from onshore.trace import trace
        except ImportError:
            return "the trace engine (onshore.trace) is not available"
        try:
            ctx.cache[key] = trace(ctx.network, product, by=by, weight=weight)  # type: ignore[arg-type]
        except OnshoreError as e:
            return f"the trace could not be computed: {e}"
    out: pd.DataFrame | str = ctx.cache[key]
    return out


def _unknown(df: pd.DataFrame) -> pd.Series:
    """Rows of unknown origin: an unknown country or company (data gaps in the trace)."""
    out = pd.Series(False, index=df.index)
    for c in ("country", "company"):
        if c in df:
            out |= df[c].isna() | df[c].astype(str).str.strip().str.lower().isin(UNKNOWN_ORIGIN)
    return out


def _unpriced(ctx: Context, df: pd.DataFrame, at: pd.Series) -> list[str]:
    """Materials at the tested stages whose price is missing (their cost cannot be added)."""
    if "price" not in df:
        return []
    rows = df[at & (df["price"].astype(str) == "unknown")]
    if rows.empty:
        return []
    if "facility" in rows:
        mats = {str(ctx.fac.loc[f, "material"]) for f in rows["facility"].astype(str) if f in ctx.fac.index}
        return sorted(mats) or ["(unknown suppliers)"]
    if "raw" in rows:
        return sorted(set(rows["raw"].astype(str)))
    return ["(some inputs)"] if len(rows) else []


def _explain(ctx: Context, product: str, tag: dict[str, Any], weight: str) -> list[str]:
    try:
        from onshore.trace import explain

        paths = explain(ctx.network, product, tag, top=3, weight=weight)
    except (ImportError, OnshoreError):
        return []
    return [f"path ({p.weight:.3g}): {' -> '.join(p.nodes)}" for p in paths if not p.residual and p.nodes]


def _at(df: pd.DataFrame, stages: tuple[str, ...]) -> pd.Series:
    """Rows at the tested stages, and rows of an unknown stage (an input that no plant in the
    network is recorded to make could be any stage, so it may never make a verdict ALLOWED)."""
    stage = df["stage"].astype(str)
    return stage.isin(stages) | (stage == "unknown")


def _shares(df: pd.DataFrame, stages: tuple[str, ...], bad: pd.Series) -> tuple[float, float, float]:
    """(total, bad, unknown) quantities over the priced rows at ``stages`` (unknown stage included)."""
    at = _at(df, stages)
    if "price" in df:
        at &= df["price"].astype(str) != "unknown"
    q = pd.to_numeric(df["quantity"], errors="coerce").fillna(0.0)
    unk = at & _unknown(df)
    return float(q[at].sum()), float(q[at & bad & ~unk].sum()), float(q[unk].sum())


def feoc_fails(share: float, limit: float) -> bool:
    """Whether a FEOC share breaks ``max_feoc_share``: with a limit of 0, any FEOC share; otherwise
    a share at or above the limit (10 U.S.C. 4865(c): *more than* 95 % from non-FEOC sources)."""
    return share > 1e-12 and share >= limit - 1e-12


def feoc_limit(limit: float) -> str:
    return "any FEOC share fails" if limit <= 0 else f"the FEOC share must be below {limit:.0%}"


def _no_trace(msg: str) -> Finding:
    return Finding(Outcome.UNKNOWN, msg, settle=["a traceable supply network for the product (flows and BOMs)"])


def feoc_content(ctx: Context, rule: Rule, product: str, on: dt.date) -> Finding:
    t = rule.test
    assert isinstance(t, FeocContent)
    covered = COVERED_NATIONS
    f = ctx.feoc()
    # final assembly
    plants = [p for p in [product, *ctx.upstream(product)] if str(ctx.fac.loc[p, "stage"]) in t.final_assembly_stages]
    for p in plants:
        c, country = str(ctx.fac.loc[p, "company"]), str(ctx.fac.loc[p, "country"])
        why = f.loc[c, "reason"] if c in f.index and f.loc[c, "feoc"] else (f"operates in {country}" if country in covered else "")
        if why:
            return Finding(Outcome.PROHIBITED, f"final assembly by a FEOC: {ctx.describe(p)} ({why})",
                           [ctx.describe(p) + f": {why}"], inputs={"assembly": p})
    # licences
    if t.no_feoc_licence:
        lic = ctx.network.licences
        makers = {str(ctx.fac.loc[p, "company"]) for p in plants}
        for _, r in lic.iterrows():
            hit = str(r["licensee"]) in makers or str(r.get("facility")) in plants
            since = r.get("since") if isinstance(r.get("since"), str) else "0000"
            until = r.get("until") if isinstance(r.get("until"), str) else "9999"
            live = str(since) <= on.isoformat() and on.isoformat()[: len(str(until))] <= str(until)
            if hit and live and bool(f["feoc"].get(str(r["licensor"]), False)):
                return Finding(Outcome.PROHIBITED, f"technology licensed from the FEOC {r['licensor']} to {r['licensee']}: "
                               f"{r['technology']}", [f"licence {r['licensor']} -> {r['licensee']} ({r.get('source')})"])
    # content
    df = traced(ctx, product, t.basis, ("stage", "country", "company", "facility"))
    if isinstance(df, str):
        return _no_trace(df)
    at = _at(df, t.component_stages)
    bad = df["country"].astype(str).isin(covered) | df["company"].astype(str).map(f["feoc"].astype(object)).fillna(False).astype(bool)
    total, b, unk = _shares(df, t.component_stages, bad)
    miss = _unpriced(ctx, df, at)
    if total <= 0 and not miss:
        return Finding(Outcome.UNKNOWN, f"no {'/'.join(t.component_stages)} content is traced for {product}",
                       settle=[f"flows or BOMs for the {'/'.join(t.component_stages)} inputs of {product}"])
    share = b / total if total else 0.0
    ushare = unk / total if total else 1.0
    inputs = {"feoc_share": share, "unknown_share": ushare, "basis": t.basis, "unpriced": miss}
    ev = [f"FEOC share of the {'/'.join(t.component_stages)} {t.basis}: {share:.1%} (limit {t.max_feoc_share:.0%}); "
          f"of unknown origin: {ushare:.1%}" + (f"; unpriced: {', '.join(miss)}" if miss else "")]
    top = df[bad & at & ~_unknown(df)].sort_values("quantity", ascending=False).head(3)
    for _, r in top.iterrows():
        ev.append(f"FEOC source: {ctx.describe(str(r['facility']))}: {r['quantity'] / max(total, 1e-300):.1%} of the {t.basis}")
        ev += _explain(ctx, product, {"facility": str(r["facility"])}, t.basis)
    if feoc_fails(share, t.max_feoc_share):
        return Finding(Outcome.PROHIBITED, f"{share:.1%} of the {t.basis} of the components comes from FEOC sources "
                       f"({feoc_limit(t.max_feoc_share)})", ev, inputs=inputs)
    if miss:
        return Finding(Outcome.UNKNOWN, f"the cost-weighted trace needs prices for {', '.join(miss)}", ev,
                       settle=[f"prices (and currency) for the materials {', '.join(miss)}"], inputs=inputs)
    if feoc_fails(share + ushare, t.max_feoc_share):
        return Finding(Outcome.UNKNOWN, f"FEOC share {share:.1%}, but {ushare:.1%} is of unknown origin and could break "
                       f"the limit ({feoc_limit(t.max_feoc_share)})", ev, settle=["the origin of the untraced inputs"], inputs=inputs)
    return Finding(Outcome.ALLOWED, f"final assembly by non-FEOC plants, {1 - share:.1%} of the component {t.basis} "
                   f"from non-FEOC sources, no FEOC licence", ev, inputs=inputs)


def _bom_has(ctx: Context, product: str, keywords: tuple[str, ...]) -> bool:
    """Whether any material in the product's BOM closure or upstream plants matches a keyword."""
    b = ctx.network.boms
    mats = {str(ctx.fac.loc[p, "material"]) for p in [product, *ctx.upstream(product)]}
    frontier = set(mats)
    while frontier:
        new = set(b.loc[b["output"].astype(str).isin(frontier), "input"].astype(str)) - mats
        mats |= new
        frontier = new
    m = ctx.network.materials
    names = dict(zip(m["id"].astype(str), m["name"].astype(str), strict=True))
    text = " ".join(f"{x} {names.get(x, '')}" for x in mats).lower()
    return any(k in text for k in keywords)


def origin_country(ctx: Context, rule: Rule, product: str, on: dt.date) -> Finding:
    t = rule.test
    assert isinstance(t, OriginCountry)
    if t.materials and not _bom_has(ctx, product, t.materials):
        return Finding(Outcome.ALLOWED, f"no {', '.join(t.materials)} material is in the recorded bills of materials "
                       f"or supplier plants of {product}")
    df = traced(ctx, product, t.basis, ("raw", "stage", "country"))
    if isinstance(df, str):
        return _no_trace(df)
    if t.materials:
        raw = df["raw"].astype(str).str.lower()
        m = ctx.network.materials
        names = dict(zip(m["id"].astype(str).str.lower(), m["name"].astype(str).str.lower(), strict=True))
        full = raw + " " + raw.map(names).fillna("")
        df = df[full.apply(lambda s: any(k in s for k in t.materials))]
        if df.empty:
            return Finding(Outcome.ALLOWED, f"no {', '.join(t.materials)} is in the recorded bill of materials of {product}")
    bad = df["country"].astype(str).isin(t.countries)
    total, b, unk = _shares(df, t.stages, bad)
    if total <= 0 or _unpriced(ctx, df, _at(df, t.stages)):
        return Finding(Outcome.UNKNOWN, "nothing (priced) traced at the stages tested", settle=["flows, BOMs and prices upstream"])
    inputs = {"share": b / total, "unknown_share": unk / total}
    ev = [f"share at {'/'.join(t.stages)} in {', '.join(t.countries)} by {t.basis}: {b / total:.1%}; untraced {unk / total:.1%}"]
    if b / total > t.max_share + 1e-12:
        return Finding(Outcome.PROHIBITED, ev[0], ev, inputs=inputs)
    if (b + unk) / total > t.max_share + 1e-12:
        return Finding(Outcome.UNKNOWN, ev[0], ev, settle=["the origin of the untraced inputs"], inputs=inputs)
    return Finding(Outcome.ALLOWED, ev[0], ev, inputs=inputs)


def content_threshold_by_year(ctx: Context, rule: Rule, product: str, on: dt.date) -> Finding:
    t = rule.test
    assert isinstance(t, ContentThresholdByYear)
    years = sorted(y for y in t.thresholds if y <= on.year)
    if not years:
        return Finding(Outcome.NOT_APPLICABLE, f"no threshold is set for {on.year}")
    thr = t.thresholds[years[-1]]
    if t.measure == "qualifying_country":
        df = traced(ctx, product, t.basis, ("raw", "stage", "country") if t.either_stage else ("stage", "country"))
        if isinstance(df, str):
            return _no_trace(df)
        miss = _unpriced(ctx, df, _at(df, t.stages))
        good = df["country"].astype(str).isin(t.countries)
        per_stage = []
        unk_total = 0.0
        for s in t.stages if t.either_stage else [None]:
            total, g, unk = _shares(df, (s,) if s else t.stages, good)
            if total <= 0:
                return Finding(Outcome.UNKNOWN, f"nothing traced at stage {s or t.stages}", settle=["flows and BOMs upstream"])
            per_stage.append(g / total)
            unk_total += unk / total
        lo, hi = max(per_stage), min(1.0, sum(per_stage) + unk_total)
    else:
        df = traced(ctx, product, t.basis, ("stage", "country", "company", "facility"))
        if isinstance(df, str):
            return _no_trace(df)
        if t.measure == "non_pfe":
            ids, _ = ctx.resolve(t.listed)
            flag = ctx.pfe(list(ids))["pfe"]
            df = df[df["facility"].astype(str) != product]
            bad = df["company"].astype(str).map(flag.astype(object)).fillna(False).astype(bool)
        else:
            bad = df["company"].astype(str).map(ctx.feoc()["feoc"].astype(object)).fillna(False).astype(bool)
            bad |= df["country"].astype(str).isin(COVERED_NATIONS)
        miss = _unpriced(ctx, df, _at(df, t.stages))
        total, b, unk = _shares(df, t.stages, bad)
        if total <= 0:
            return Finding(Outcome.UNKNOWN, "nothing traced at the stages tested", settle=["flows and BOMs upstream"])
        lo, hi = 1 - (b + unk) / total, 1 - b / total
    if miss:
        return Finding(Outcome.UNKNOWN, f"the cost-weighted trace needs prices for {', '.join(miss)}",
                       settle=[f"prices (and currency) for the materials {', '.join(miss)}"])
    inputs = {"low": lo, "high": hi, "threshold": thr, "year": years[-1]}
    ev = [f"{t.measure.replace('_', ' ')} share by {t.basis}: {lo:.1%}" + (f" to {hi:.1%}" if hi - lo > 1e-9 else "")
          + f"; {on.year} threshold {thr:.0%}"]
    if lo >= thr - 1e-12:
        return Finding(Outcome.ALLOWED, ev[0], ev, inputs=inputs)
    if hi < thr - 1e-12:
        return Finding(Outcome.PROHIBITED, ev[0], ev, inputs=inputs)
    return Finding(Outcome.UNKNOWN, ev[0] + " (the range straddles the threshold)", ev,
                   settle=["the joint origin of each unit (which mine fed which refinery) or the untraced inputs"], inputs=inputs)


# ------------------------------------------------------------------------------- owners
def ownership_threshold(ctx: Context, rule: Rule, product: str, on: dt.date) -> Finding:
    t = rule.test
    assert isinstance(t, OwnershipThreshold)
    c = str(ctx.fac.loc[product, "company"])
    if t.holder == "covered_government":
        row = ctx.feoc().loc[c]
        flagged, reason = bool(row["feoc"]), str(row["reason"])
    else:
        ids, _ = ctx.resolve(t.listed)
        p = ctx.pfe(list(ids), t.single, t.together, t.debt).loc[c]
        flagged, reason = bool(p["pfe"]), str(p["reason"])
    ev = [ctx.describe(product)] + [f"owner chain: {' <- '.join(ctx.owners.control_chain(c))}"]
    if flagged:
        return Finding(Outcome.PROHIBITED, f"{c} is a {'FEOC' if t.holder == 'covered_government' else 'prohibited foreign entity'}: "
                       f"{reason}", ev, inputs={"company": c})
    has_owners = bool((ctx.owners.direct["j"] == ctx.owners.idx(c)).any()) or ctx.owners.kind[ctx.owners.idx(c)] != "company"
    if not has_owners:
        return Finding(Outcome.UNKNOWN, f"no shareholder or debt holder of {c} is recorded", ev,
                       settle=[f"the shareholders, voting rights, board seats and debt holders of {c}"], inputs={"company": c})
    return Finding(Outcome.ALLOWED, f"{c} passes the ownership tests on its recorded holders", ev, inputs={"company": c})


# ------------------------------------------------------------------------------- others
def informational(ctx: Context, rule: Rule, product: str, on: dt.date) -> Finding:
    assert isinstance(rule.test, Informational)
    return Finding(Outcome.INFO, rule.test.message.strip())


def always(ctx: Context, rule: Rule, product: str, on: dt.date) -> Finding:
    assert isinstance(rule.test, Always)
    return Finding(Outcome.PROHIBITED, rule.test.message.strip())


def tariff(ctx: Context, rule: Rule, product: str, on: dt.date) -> Finding:
    t = rule.test
    assert isinstance(t, Tariff)
    if "material_kind" not in ctx.cache:
        m = ctx.network.materials
        ctx.cache["material_kind"] = dict(zip(m["id"].astype(str), m["kind"].astype(str), strict=True))
    mat = str(ctx.fac.loc[product, "material"])
    kind = ctx.cache["material_kind"].get(mat, "unknown")
    cat = t.product_categories.get(kind)
    origin = str(ctx.fac.loc[product, "country"])
    if cat is None:
        return Finding(Outcome.INFO, f"no tariff category is set for products of kind {kind}")
    live = [r for r in t.rates if r.category == cat and r.effective_from <= on and (r.effective_until is None or on <= r.effective_until)]
    hit = [r for r in live if origin in r.origins]
    if not hit:
        return Finding(Outcome.INFO, f"no {rule.citation.split(',')[0]} rate on {cat} from {origin} on {on}",
                       inputs={"category": cat, "origin": origin})
    r = hit[0]
    was = f" (was {r.previous:.1%})" if r.previous is not None else ""
    return Finding(Outcome.INFO, f"{r.rate:.1%} on {cat} from {origin} on {on}{was}; other duties may stack",
                   inputs={"category": cat, "origin": origin, "rate": r.rate})


TESTS: dict[str, Callable[[Context, Rule, str, dt.date], Finding]] = {
    "named_entity": named_entity, "entity_list": entity_list, "feoc_content": feoc_content,
    "origin_country": origin_country, "content_threshold_by_year": content_threshold_by_year,
    "ownership_threshold": ownership_threshold, "informational": informational, "always": always, "tariff": tariff,
}
