"""The facts behind a verdict, gathered for a report an officer can sign: the product, buyer,
date and data snapshot in words; per rule its verdict, reason, citation, reading and status;
the evidence chain that decided it (ownership chains to a named entity with their stakes, the
cost table of a content test with its FEOC share); what would settle every UNKNOWN; which
flows and stakes are estimates; what was cut from long lists; the flows between stages for a
Sankey; scope, limitations and the audit entries. Views render a :class:`Dossier`; they
compute nothing."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from onshore.compliance.context import context, facility_of
from onshore.compliance.evaluate import data_basis
from onshore.compliance.verdicts import Outcome, Verdict, worst
from onshore.errors import OnshoreError
from onshore.network import Network
from onshore.owners import (
    controlling_country,
    feoc,
    feoc_facilities,
    ownership_paths,
    upstream_owners,
)
from onshore.records.model import STAGE_RANK
from onshore.rules import RuleSet, bundled
from onshore.trace import trace

EVIDENCE_CAP = 12
"""The most evidence lines shown per rule; the rest are counted."""
LIST_CAP = 25
"""The most rows of a long table or list (sources, estimates, owners, cost rows)."""

SETTLE_DEFAULT = (
    "the data or rule reading named in the reason above (the test gave no specific step: "
    "record it and re-run the check)"
)

SCOPE = [
    (
        "The verdicts answer one question: may the named buyer acquire the product (the output of "
        "the named plant) on the date given, under the rules loaded for that buyer scope."
    ),
    (
        "Only the rules listed are evaluated; other laws, contract clauses, waivers and "
        "exclusions are reported where the rule files name them, never decided."
    ),
    (
        "Every verdict rests on the data snapshot named above: the plants, supply flows, bills of "
        "materials, ownership stakes and licences recorded in the store. What is not recorded is "
        "never taken as clear: missing data gives UNKNOWN, not ALLOWED."
    ),
]
LIMITATIONS = [
    (
        "Supply flows and stakes marked as estimates (listed below) were inferred from cited "
        "trade, production and ownership sources; confirm them with the suppliers before relying "
        "on a firm verdict."
    ),
    (
        "Content shares come from the cost- or mass-weighted trace of recorded flows and bills of "
        "materials; pooled inputs are shared pro rata, not by physical batch."
    ),
    (
        "Rules whose text was read from secondary sources, or not read in full, say so under "
        "'confirmation' and 'reading'; an unconfirmed rule never gives a firm verdict."
    ),
    (
        "Company identities are matched by identifiers and normalised names; a reviewer's "
        "judgement is applied where one is recorded."
    ),
]


@dataclass
class RuleEvidence:
    """One rule's verdict with its rule text, provenance and the evidence that decided it."""

    verdict: Verdict
    status: str
    """The rule's legal status: enacted, bill or proposed."""
    excerpt: str
    """The rule as recorded: its title and note (the rule files hold no statute text)."""
    effective: str
    evidence: list[str]
    evidence_cut: int
    """Evidence lines not shown (beyond :data:`EVIDENCE_CAP`)."""
    settle: list[str]
    """What would settle an UNKNOWN (never empty for one), else the test's own steps."""
    chains: list[dict[str, Any]] = field(default_factory=list)
    """Ownership chains to the named entity: ``text``, ``weight``, ``links`` (owner, owned,
    stake, estimate)."""
    cost: dict[str, Any] | None = None
    """For a content test: ``rows`` (stage, facility, company, country, cost, share, feoc),
    ``total``, ``feoc_share``, ``cut``, ``cut_cost``, ``note``."""


@dataclass
class Dossier:
    """Everything a report of one product's verdicts shows."""

    product: str
    buyer: str
    on: dt.date | str
    plant: str
    snapshot: str
    overall: str
    verdicts: list[Verdict]
    maker: str
    chain: list[str]
    controlling_country: str
    feoc: str
    owners: list[dict[str, Any]]
    data_sources: list[dict[str, Any]]
    data_basis: str
    links: dict[str, Any]
    """Sankey: ``labels``, ``x`` and ``y`` (node positions 0 to 1: stage columns, mine
    first), ``source``, ``target``, ``value``."""
    links_note: str
    title: dict[str, str] = field(default_factory=dict)
    """``product``, ``maker``, ``buyer``, ``date``, ``snapshot``, ``period`` in words."""
    rules: list[RuleEvidence] = field(default_factory=list)
    estimates: dict[str, Any] = field(default_factory=dict)
    """``flows`` and ``stakes`` (lists of text), ``flows_cut``, ``stakes_cut``, totals."""
    cuts: list[str] = field(default_factory=list)
    """What was cut from long lists, and how many, in words."""
    chain_names: list[str] = field(default_factory=list)
    """The control chain by company name, the maker first."""
    owners_cut: int = 0
    data_sources_cut: int = 0
    scope: list[str] = field(default_factory=lambda: list(SCOPE))
    limitations: list[str] = field(default_factory=lambda: list(LIMITATIONS))
    signoff: dict[str, str] = field(default_factory=dict)
    """``prepared_by``, ``reviewed_by``, ``date`` (blank lines to fill when not given)."""
    audit: dict[str, Any] | None = None
    """The audit entries the verdicts were appended as: ``first``, ``last``, ``hash``."""
    period: str | None = None
    """The period of the flows behind the verdicts and the rest of the report (None: every
    period pooled); ``title["period"]`` says it in words."""


def _date_words(on: dt.date | str) -> str:
    if isinstance(on, str):
        try:
            on = dt.date.fromisoformat(on)
        except ValueError:
            return str(on)
    return f"{on.day} {on.strftime('%B %Y')}"


def stage_links(
    network: Network, product: str, period: str | None = None
) -> tuple[dict[str, Any], str]:
    """Links for a Sankey of ``product``: nodes are (stage, country), links the traced flows
    between them, mine -> refine -> ... -> the product, over the flows of ``period`` (every
    period pooled when None).

    The trace gives ``y``, the units of every node in one unit of the product, and the input
    coefficients ``A``; the flow from node ``u`` into node ``v`` per unit of product is
    ``A[v, u] * y[v]``, valued at ``u``'s price (USD per unit of product). Links are these
    summed by the (stage, country) of both ends; when a material has no price, its flows
    count in their own units and the note says so. When the product cannot be traced, the
    recorded supply links upstream are counted instead."""
    from onshore.trace.graph import find_product
    from onshore.trace.tags import leontief_row

    try:
        g, p = find_product(network, product, period)
        y = leontief_row(g, p)
    except OnshoreError as e:
        why = f"the trace could not be computed: {e}"
        return _recorded_links(network, product, why, period)
    A = g.A.tocoo()
    q = A.data * y[A.row]
    keep = (q > 0) & (A.row != A.col)
    if not keep.any():
        return _recorded_links(network, product, "the trace found no inputs", period)
    v, u, q = A.row[keep], A.col[keep], q[keep]
    price = np.asarray(g.price, dtype=float)[u]
    priced = np.isfinite(price)
    val = np.where(priced, q * np.where(priced, price, 0.0), q)
    nd = g.nodes
    stage = nd["stage"].astype(str).to_numpy()
    country = nd["country"].astype(str).fillna("unknown").to_numpy()
    label = np.array(
        [f"{s} · {'unknown' if c in ('', 'nan', 'None') else c}" for s, c in zip(stage, country)],
        dtype=object,
    )
    label[p] = f"{stage[p]} · {country[p]} (this product)"
    df = pd.DataFrame({"s": label[u], "t": label[v], "value": val})
    df = df[df["s"] != df["t"]].groupby(["s", "t"], sort=False)["value"].sum().reset_index()
    rank: dict[str, float] = {lab: STAGE_RANK.get(s, 0) for lab, s in zip(label, stage)}
    # pools, untraced supply and recycling have no fixed place in the stage order: draw each
    # just before the earliest stage it feeds
    floating = {lab for lab, s in zip(label, stage) if s in ("market", "unknown", "recycle")}
    for _ in range(3):
        for lab in floating & set(df["s"]):
            feeds = [rank[t] for t in df.loc[df["s"] == lab, "t"] if t != lab]
            if feeds:
                rank[lab] = max(-0.5, min(feeds) - 0.5)
    labels = sorted(dict.fromkeys([*df["s"], *df["t"]]), key=lambda x: (rank[x], x))
    ranks = sorted({rank[x] for x in labels})
    pos = {r: (k / (len(ranks) - 1) if len(ranks) > 1 else 0.5) for k, r in enumerate(ranks)}
    column = [rank[x] for x in labels]
    ys = [0.05 + 0.9 * (column[:k].count(c) + 0.5) / column.count(c) for k, c in enumerate(column)]
    links = {
        "labels": labels,
        "x": [0.01 + 0.98 * pos[rank[x]] for x in labels],
        "y": ys,
        "source": [labels.index(s) for s in df["s"]],
        "target": [labels.index(t) for t in df["t"]],
        "value": df["value"].astype(float).tolist(),
    }
    note = (
        "Traced flows between stages, by stage and country, into one unit of the product "
        "(link width: the value of the input in USD at its material's price"
        + ("; inputs without a price count in their own units" if not priced.all() else "")
        + "). 'unknown' is supply with no recorded supplier."
    )
    return links, note


def _recorded_links(
    network: Network, product: str, why: str, period: str | None = None
) -> tuple[dict[str, Any], str]:
    ctx = context(network, period)
    up = [str(ctx.ids[i]) for i in ctx.upstream(product)]
    f = network.flows_of(period)
    f = f[f["supplier"].astype(str).isin(up) & f["customer"].astype(str).isin(up)]
    node = {p: f"{ctx.fac.loc[p, 'stage']} · {ctx.fac.loc[p, 'country']}" for p in up}
    node[product] = f"{node[product]} (this product)"
    pairs = pd.DataFrame(
        {"s": f["supplier"].astype(str).map(node), "t": f["customer"].astype(str).map(node)}
    )
    pairs = pairs[pairs["s"] != pairs["t"]].value_counts().reset_index(name="n")
    stage_of = {v: str(ctx.fac.loc[k, "stage"]) for k, v in node.items()}
    labels = sorted(
        dict.fromkeys([*pairs["s"], *pairs["t"], node[product]]),
        key=lambda x: (STAGE_RANK.get(stage_of.get(x, ""), 0), x),
    )
    links = {
        "unit": "count",
        "labels": labels,
        "x": [],
        "y": [],
        "source": [labels.index(s) for s in pairs["s"]],
        "target": [labels.index(t) for t in pairs["t"]],
        "value": pairs["n"].astype(float).tolist(),
    }
    return links, (
        "Recorded supply links upstream of the product, grouped by stage and country (link "
        f"width = number of recorded flows); {why}."
    )


def origin_links(
    network: Network, product: str, period: str | None = None
) -> tuple[dict[str, Any], str]:
    """The Sankey links of ``product`` (see :func:`stage_links`)."""
    return stage_links(network, product, period)


def _names(network: Network) -> dict[str, str]:
    c = network.companies
    return dict(zip(c["id"].astype(str), c["name"].astype(str), strict=True))


def _chains(
    network: Network, maker: str, targets: list[str], names: dict[str, str]
) -> list[dict[str, Any]]:
    """Ownership chains between the maker and the named entities, with each link's stake."""
    own = network.ownership
    key = own["owner"].astype(str) + "|" + own["owned"].astype(str)
    rows = dict(zip(key, own.to_dict("records"), strict=True))
    out: list[dict[str, Any]] = []
    for t in targets:
        if t == maker:
            out.append(
                {
                    "text": f"{names.get(t, t)} [{t}] is itself the named entity",
                    "weight": 1.0,
                    "links": [],
                }
            )
            continue
        found = []
        for a, b in ((t, maker), (maker, t)):
            try:
                found += ownership_paths(network, a, b, top=3)
            except OnshoreError:
                continue
        for path, w in found[:3]:
            links = []
            for a, b in itertools.pairwise(path):
                r = rows.get(f"{a}|{b}", {})
                stake = [
                    f"{k} {100 * float(r[k]):.1f}%"
                    for k in ("equity", "voting", "board")
                    if r.get(k) is not None and pd.notna(r.get(k))
                ]
                links.append(
                    {
                        "owner": f"{names.get(a, a)} [{a}]",
                        "owned": f"{names.get(b, b)} [{b}]",
                        "stake": ", ".join(stake) or "no stake recorded",
                        "estimate": bool(r.get("estimate") or False),
                        "source": r.get("source") or "(no source recorded)",
                    }
                )
            out.append(
                {
                    "text": " → ".join(f"{names.get(c, c)}" for c in path),
                    "weight": float(w),
                    "links": links,
                }
            )
    return out


def _targets(v: Verdict, maker: str, companies: set[str]) -> list[str]:
    named = v.inputs.get("named_companies") or v.inputs.get("listed_companies") or []
    if v.inputs.get("company"):
        named = [*named, str(v.inputs["company"])]
    return [str(c) for c in named if str(c) in companies]


def cost_table(
    network: Network,
    product: str,
    stages: tuple[str, ...],
    verdict: Verdict,
    period: str | None = None,
) -> dict[str, Any]:
    """The component cost of ``product`` by stage, plant and supplier with FEOC flags: the
    cost-weighted trace over ``stages`` (of the flows of ``period``; every period pooled when
    None) and the per-facility FEOC test."""
    names = _names(network)
    by = ("stage", "country", "company", "facility")
    try:
        df = trace(network, product, by=by, weight="cost", period=period)
    except OnshoreError as e:
        return {
            "rows": [],
            "total": 0.0,
            "feoc_share": None,
            "cut": 0,
            "cut_cost": 0.0,
            "note": f"the cost trace could not be computed: {e}",
        }
    df = df[df["stage"].astype(str).isin(stages)].copy()
    flags = feoc_facilities(network)
    fac_names = dict(
        zip(
            network.facilities["id"].astype(str),
            network.facilities["name"].astype(str),
            strict=True,
        )
    )
    df["feoc"] = [
        "FEOC" if flags.get(str(f), False) else ("untraced" if str(f) not in flags else "no")
        for f in df["facility"]
    ]
    known = df[df["price"].astype(str) != "unknown"] if "price" in df else df
    total = float(known["quantity"].sum())
    known = known.sort_values("quantity", ascending=False)
    rows = [
        {
            "stage": str(r["stage"]),
            "facility": fac_names.get(str(r["facility"]), "(no supplier recorded)"),
            "facility_id": str(r["facility"]),
            "company": names.get(str(r["company"]), "—"),
            "country": str(r["country"]),
            "cost": float(r["quantity"]),
            "share": float(r["quantity"]) / total if total else 0.0,
            "feoc": str(r["feoc"]),
        }
        for _, r in known.iterrows()
    ]
    fe = sum(r["cost"] for r in rows if r["feoc"] == "FEOC")
    unk = sum(r["cost"] for r in rows if r["feoc"] == "untraced")
    shown, cut = rows[:LIST_CAP], rows[LIST_CAP:]
    unpriced = int((df["price"].astype(str) == "unknown").sum()) if "price" in df else 0
    stated = verdict.inputs.get("feoc_share")
    note = (
        f"FEOC share of the component cost in this table: {100 * fe / total:.1f}%"
        + (f" (untraced supply: {100 * unk / total:.1f}%)" if unk else "")
        + (f"; the rule's test found {100 * float(stated):.1f}%" if stated is not None else "")
        + (
            f"; {unpriced} component row(s) without a price are not in the table"
            if unpriced
            else ""
        )
        + ". A stage is counted at every plant of that stage a path passes."
        if total
        else "no priced component of these stages is traced"
    )
    return {
        "rows": shown,
        "total": total,
        "feoc_share": fe / total if total else None,
        "cut": len(cut),
        "cut_cost": float(sum(r["cost"] for r in cut)),
        "note": note,
    }


def _estimates(
    network: Network, product: str, chain_companies: set[str], period: str | None = None
) -> dict[str, Any]:
    ctx = context(network, period)
    plants = set(ctx.ids[ctx.upstream(product)])
    f = network.flows_of(period)
    inside = f["customer"].astype(str).isin(plants) & f["supplier"].astype(str).isin(plants)
    ef = f[inside & f["estimate"].fillna(False).astype(bool)]
    flows = [
        f"{r['supplier']} → {r['customer']}: {r['material']} {r['quantity']:g} {r['unit']} "
        f"({r['period']}); source: {r['source'] or '(none)'}"
        for _, r in ef.iterrows()
    ]
    own = network.ownership
    eo = own[
        own["owned"].astype(str).isin(chain_companies) & own["estimate"].fillna(False).astype(bool)
    ]
    names = _names(network)
    stakes = [
        f"{names.get(str(r['owner']), r['owner'])} → {names.get(str(r['owned']), r['owned'])}: "
        + (
            ", ".join(
                f"{k} {100 * float(r[k]):.1f}%"
                for k in ("equity", "voting", "board")
                if pd.notna(r.get(k))
            )
            or "no stake recorded"
        )
        + f"; source: {r['source'] or '(none)'}"
        for _, r in eo.iterrows()
    ]
    return {
        "flows": flows[:LIST_CAP],
        "flows_cut": max(0, len(flows) - LIST_CAP),
        "flows_total": int(inside.sum()),
        "stakes": stakes[:LIST_CAP],
        "stakes_cut": max(0, len(stakes) - LIST_CAP),
        "stakes_total": int(own["owned"].astype(str).isin(chain_companies).sum()),
    }


def dossier(
    network: Network,
    product: str,
    verdicts: list[Verdict],
    rules: RuleSet | None = None,
    prepared_by: str = "",
    reviewed_by: str = "",
    signed_on: str = "",
    audit: dict[str, Any] | None = None,
    period: str | None = None,
    period_text: str = "",
) -> Dossier:
    """Gather the facts a report of ``verdicts`` on ``product`` shows.

    Everything that depends on the flows (upstream plants and their sources, the Sankey,
    the cost tables, the estimated flows, the data basis) is of the flows of ``period``,
    the period the verdicts were decided from.

    Parameters
    ----------
    network : Network
    product : str
    verdicts : list of Verdict
        From :func:`~onshore.compliance.check`.
    rules : RuleSet, optional
        The rules the verdicts came from (default: the bundled rules).
    prepared_by, reviewed_by, signed_on : str
        The sign-off block (blank lines to fill by hand when empty).
    audit : dict, optional
        The audit entries the verdicts were appended as (``first``, ``last``, ``hash``).
    period : str, optional
        The period of the flows the verdicts were decided from (``2025``); every period
        pooled when None, as :func:`~onshore.compliance.check` does.
    period_text : str
        How the period was chosen, in words, for the report (default: said from
        ``period``).

    Returns
    -------
    Dossier
    """
    rules = rules or bundled()
    ctx = context(network, period)
    names = _names(network)
    i = ctx.fidx[facility_of(product)]
    maker = str(ctx.company[i])
    f = feoc(network).loc[maker]
    chain = owners_chain = ctx.owners.control_chain(maker)
    own_df = upstream_owners(network, maker)
    chain_companies = {maker, *owners_chain, *own_df["owner"].astype(str)}

    data_sources = [
        {
            "what": ctx.describe(int(p)),
            "source": ctx.fac.iloc[int(p)]["source"] or "(no source recorded)",
        }
        for p in ctx.upstream(product)
    ]
    comp = network.companies.set_index(network.companies["id"].astype(str))
    data_sources += [
        {
            "what": f"company {names.get(c, c)} [{c}]",
            "source": comp.loc[c, "source"] or "(no source recorded)",
        }
        for c in chain
    ]
    own = network.ownership
    for _, r in own[own["owned"].astype(str).isin(chain)].iterrows():
        data_sources.append(
            {
                "what": f"holding {r['owner']} → {r['owned']}",
                "source": r.get("source") or "(no source recorded)",
            }
        )

    companies = set(names)
    evidence: list[RuleEvidence] = []
    for v in verdicts:
        rule = rules.rules.get(v.rule_id)
        kind = rule.test.kind if rule else ""
        settle = list(v.settle)
        if v.verdict == Outcome.UNKNOWN and not settle:
            settle = [SETTLE_DEFAULT]
        re_ = RuleEvidence(
            verdict=v,
            status=rule.status if rule else "",
            excerpt=(rule.title + (f" — {rule.note}" if rule and rule.note else ""))
            if rule
            else v.title,
            effective=(
                f"in force from {rule.effective_from}"
                + (f" until {rule.effective_until}" if rule.effective_until else "")
                if rule
                else ""
            ),
            evidence=v.evidence[:EVIDENCE_CAP],
            evidence_cut=max(0, len(v.evidence) - EVIDENCE_CAP),
            settle=settle,
        )
        decided = v.verdict in (Outcome.PROHIBITED, Outcome.UNKNOWN)
        if decided and kind in ("named_entity", "entity_list", "ownership_threshold"):
            plant_company = maker
            near = v.inputs.get("nearest_plant")
            if near is not None and str(near) in ctx.fidx:
                plant_company = str(ctx.company[ctx.fidx[str(near)]])
            re_.chains = _chains(
                network, plant_company, _targets(v, plant_company, companies), names
            )
        if kind == "feoc_content" and v.verdict != Outcome.NOT_APPLICABLE and rule is not None:
            stages = tuple(getattr(rule.test, "component_stages", ()))
            re_.cost = cost_table(network, product, stages, v, period)
        evidence.append(re_)

    links, note = origin_links(network, product, period)
    first = verdicts[0] if verdicts else None
    buyer = first.buyer if first else ""
    on = first.on if first else ""
    owners_rows = own_df.to_dict("records")
    est = _estimates(network, product, chain_companies, period)
    cuts = [
        f"{r.verdict.rule_id}: {r.evidence_cut} evidence line(s) beyond the first {EVIDENCE_CAP}"
        for r in evidence
        if r.evidence_cut
    ]
    cuts += [
        f"{r.verdict.rule_id}: {r.cost['cut']} cost row(s) beyond the largest {LIST_CAP} "
        f"(USD {r.cost['cut_cost']:.2f} per unit)"
        for r in evidence
        if r.cost and r.cost["cut"]
    ]
    if len(owners_rows) > LIST_CAP:
        cuts.append(
            f"owners of {names.get(maker, maker)}: {len(owners_rows) - LIST_CAP} "
            f"beyond the first {LIST_CAP}"
        )
    if len(data_sources) > 2 * LIST_CAP:
        cuts.append(
            f"data sources: {len(data_sources) - 2 * LIST_CAP} beyond the first {2 * LIST_CAP}"
        )
    if est["flows_cut"]:
        cuts.append(f"estimated flows: {est['flows_cut']} beyond the first {LIST_CAP}")
    if est["stakes_cut"]:
        cuts.append(f"estimated stakes: {est['stakes_cut']} beyond the first {LIST_CAP}")
    buyer_title = rules.buyers[buyer].title if buyer in rules.buyers else buyer
    snap = network.snapshot
    title = {
        "product": f"{ctx.name[i]} ({ctx.stage[i]} plant, {ctx.country[i]})",
        "product_id": product,
        "maker": names.get(maker, maker),
        "buyer": buyer_title,
        "buyer_id": buyer,
        "date": _date_words(on),
        "snapshot": (
            f"store snapshot {snap[:12]} of {len(network.facilities)} plants, "
            f"{len(network.companies)} companies, {len(network.flows)} supply flows and "
            f"{len(network.ownership)} holdings"
            if snap
            else f"an unsaved network of {len(network.facilities)} plants, "
            f"{len(network.companies)} companies and {len(network.flows)} supply flows "
            "(not from a store)"
        ),
        "period": period_text
        or (f"flows of {period}" if period is not None else "flows of every period pooled"),
    }
    return Dossier(
        product=product,
        buyer=buyer,
        on=on,
        plant=ctx.describe(i),
        snapshot=snap,
        overall=worst(verdicts).value,
        verdicts=verdicts,
        maker=maker,
        chain=chain,
        chain_names=[names.get(c, c) for c in chain],
        controlling_country=controlling_country(network)[maker],
        feoc=("yes: " + str(f["reason"])) if f["feoc"] else "no",
        owners=owners_rows[:LIST_CAP],
        owners_cut=max(0, len(owners_rows) - LIST_CAP),
        data_sources=data_sources[: 2 * LIST_CAP],
        data_sources_cut=max(0, len(data_sources) - 2 * LIST_CAP),
        data_basis=data_basis(network, product, period)["text"],
        links=links,
        links_note=note,
        title=title,
        rules=evidence,
        estimates=est,
        cuts=cuts,
        signoff={"prepared_by": prepared_by, "reviewed_by": reviewed_by, "date": signed_on},
        audit=audit,
        period=period,
    )
