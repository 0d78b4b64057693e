"""``feoc_content``: the 10 U.S.C. 4865 safe harbour: final assembly by a non-FEOC, no
technology licence from a FEOC, and the FEOC share of the functional cell components'
cost (or mass) below the limit.

The share is traced (``X = L B`` with the component value of FEOC plants, of all plants,
of unknown origin and of unpriced parts as columns); an unknown origin or a missing price
that could decide the verdict gives UNKNOWN."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import scipy.sparse as sp

from onshore.compliance.context import Context, Products, at_stages
from onshore.compliance.verdicts import Finding, Outcome, no_trace, on_estimates
from onshore.errors import OnshoreError
from onshore.owners import COVERED_NATIONS, blank_stakes
from onshore.records.frames import positions
from onshore.rules import FeocContent, Rule
from onshore.trace import explain, leontief_row


def fails(share: float, limit: float) -> bool:
    """Whether a FEOC share breaks ``max_feoc_share``: with a limit of 0, any FEOC share; otherwise
    a share at or above the limit (10 U.S.C. 4865(c): *more than* 95 % from non-FEOC sources)."""
    return share > 1e-12 and share >= limit - 1e-12


def limit_text(limit: float) -> str:
    """The limit in words."""
    return "any FEOC share fails" if limit <= 0 else f"the FEOC share must be below {limit:.0%}"


def evaluate(ps: Products, rule: Rule, on: dt.date) -> list[Finding]:
    """The FEOC-content finding of every product.

    Parameters
    ----------
    ps : Products
    rule : Rule
        A rule whose test is :class:`~onshore.rules.FeocContent`.
    on : datetime.date
        Licences are read as live on this date.

    Returns
    -------
    list of Finding
        One per product, in order.
    """
    t = rule.test
    assert isinstance(t, FeocContent)
    ctx = ps.ctx
    covered = COVERED_NATIONS
    f = ctx.feoc()
    out: list[Finding | None] = [None] * len(ps)
    # final assembly by a FEOC (company flag, else operating in a covered nation)
    plants = np.isin(ctx.stage, t.final_assembly_stages)
    key = ("feoc_content.why",)
    if key not in ctx.cache:  # per plant, why it is a FEOC ('' when it is not)
        flag = ctx.feoc_flag("facilities")
        why = np.full(ctx.n, "", dtype=object)
        run = np.flatnonzero(flag)  # run by a FEOC: the company's reason
        why[run] = _lookup(f["reason"].astype(object), ctx.company[run], "")
        there = np.flatnonzero(~flag & np.isin(ctx.country, covered))
        why[there] = [f"operates in {c}" for c in ctx.country[there]]
        ctx.cache[key] = (why, why != "")
    why, is_feoc = ctx.cache[key]
    bad = plants & is_feoc
    near = ps.nearest(bad)
    for k in map(int, np.flatnonzero(near >= 0)):
        i = int(near[k])
        out[k] = Finding(
            Outcome.PROHIBITED,
            f"final assembly by a FEOC: {ctx.describe(i)} ({why[i]})",
            [ctx.describe(i) + f": {why[i]}"],
            inputs={"assembly": ctx.ids[i]},
        )
    # technology licences from a FEOC
    if t.no_feoc_licence:
        for _, r in ctx.network.licences.iterrows():
            since = r.get("since") if isinstance(r.get("since"), str) else "0000"
            until = r.get("until") if isinstance(r.get("until"), str) else "9999"
            live = str(since) <= on.isoformat() and on.isoformat()[: len(str(until))] <= str(until)
            if not (live and bool(f["feoc"].get(str(r["licensor"]), False))):
                continue
            s = _bound_by(ctx, plants, r)
            for k in map(int, np.flatnonzero(ps.nearest(s) >= 0)):
                if out[k] is None:
                    out[k] = Finding(
                        Outcome.PROHIBITED,
                        f"technology licensed from the FEOC {r['licensor']} to "
                        f"{r['licensee']}: {r['technology']}",
                        [f"licence {r['licensor']} -> {r['licensee']} ({r.get('source')})"],
                    )
    rest = [k for k in range(len(out)) if out[k] is None]
    if rest:
        maybe = ps.nearest(plants & ctx.feoc_unsure("facilities") & ~bad)
        _content(ps, t, rest, out, maybe)
    return [x if x is not None else no_trace("the trace could not be computed") for x in out]


def _lookup(values: pd.Series, keys: np.ndarray, default: object) -> np.ndarray:
    """``values.get(key, default)`` for every key, as an object array."""
    pos = positions(pd.Series(keys, dtype=object), values.index)
    out = np.full(len(keys), default, dtype=object)
    hit = pos >= 0
    out[hit] = values.to_numpy(dtype=object)[pos[hit]]
    return out


def _bound_by(ctx: Context, plants: np.ndarray, licence: pd.Series) -> np.ndarray:
    """The plants a licence binds: the facility it names; without one, the licensee's plants
    whose product matches the technology (every plant of the licensee when none matches)."""
    fac = licence.get("facility")
    if isinstance(fac, str) and fac.strip():
        out: np.ndarray = plants & (ctx.ids == fac.strip())
        return out
    own = plants & (ctx.company == str(licence["licensee"]))
    words = {
        w
        for w in re.split(r"[^a-z0-9]+", str(licence.get("technology") or "").lower())
        if len(w) >= 3
    }
    m = ctx.network.materials
    names = dict(zip(m["id"].astype(str), m["name"].astype(str).str.lower(), strict=True))
    made = np.array(
        [any(w in f"{x.lower()} {names.get(x, '')}" for w in words) for x in ctx.material],
        dtype=bool,
    )
    hit: np.ndarray = own & made
    return hit if hit.any() else own


def _content(
    ps: Products, t: FeocContent, rest: list[int], out: list[Finding | None], maybe: np.ndarray
) -> None:
    """The FEOC share of the component value, one solve for every product in ``rest``
    (``maybe``: per product, the nearest final-assembly plant that may be a FEOC, or -1)."""
    ctx = ps.ctx
    nf = ctx.node_fields()
    val, priced = ctx.node_values(t.basis)
    at = at_stages(nf["stage"], t.component_stages)
    unknown = nf["unknown"] | ctx.feoc_unsure("nodes")
    fbad = (np.isin(nf["country"], COVERED_NATIONS) | ctx.feoc_flag("nodes")) & ~unknown
    ok = at & priced & (val != 0)
    unp = at & ~priced & (val != 0)
    mats = sorted(set(nf["fac_material"][unp & ~nf["virtual"]]))
    cols = [
        ok * val,
        (ok & fbad) * val,
        (ok & unknown) * val,
        (unp & nf["virtual"]).astype(float),
        (unp & fbad).astype(float),
        (unp & ~fbad & ~unknown).astype(float),
        (unp & unknown).astype(float),
    ] + [(unp & ~nf["virtual"] & (nf["fac_material"] == m)).astype(float) for m in mats]
    try:
        X = ctx.solve(sp.csr_matrix(np.column_stack(cols)))
    except OnshoreError as e:
        for k in rest:
            out[k] = no_trace(f"the trace could not be computed: {e}")
        return
    try:  # the component value that comes through estimated or market-pool flows
        est = ctx.estimated(cols[0], X[:, 0])
    except OnshoreError:
        est = X[:, 0].copy()  # cannot tell: all of it may rest on estimates
    bcol, xfeoc = cols[1], X[:, 1]
    comp = "/".join(t.component_stages)
    nodes = ps.nodes()
    at_nodes = X[np.maximum(nodes, 0)].tolist() if len(nodes) else []
    for k in rest:
        node, p = int(nodes[k]), ps.ids[k]
        if node < 0:
            out[k] = no_trace(ps.untraceable(k))
            continue
        x = at_nodes[k]
        total, bd, unk = x[0], x[1], x[2]
        pf, pn, pu = (x[j] > 0 for j in (4, 5, 6))
        miss = [m for j, m in enumerate(mats) if x[7 + j] > 0]
        if not miss and x[3] > 0:
            miss = ["(unknown suppliers)"]
        if total <= 0 and not miss:
            out[k] = Finding(
                Outcome.UNKNOWN,
                f"no {comp} content is traced for {p}",
                settle=[f"flows or BOMs for the {comp} inputs of {p}"],
            )
            continue
        share = bd / total if total else 0.0
        ushare = unk / total if total else 1.0
        inputs = {"feoc_share": share, "unknown_share": ushare, "basis": t.basis, "unpriced": miss}
        ev = [
            f"FEOC share of the {comp} {t.basis}: {share:.1%} (limit {t.max_feoc_share:.0%}); "
            f"of unknown origin: {ushare:.1%}" + (f"; unpriced: {', '.join(miss)}" if miss else "")
        ]
        # the FEOC share's bounds over every value the unpriced parts could have: a
        # non-FEOC (or unknown) part of any price can dilute it to 0, a FEOC (or unknown)
        # part can raise it to 1; unknown origin counts as non-FEOC low, FEOC high
        known = total > 0
        lo = 0.0 if (pn or pu) else (share if known else (1.0 if pf else 0.0))
        hi = 1.0 if (pf or pu) else (share + ushare if known else 0.0)
        inputs.update(feoc_share_low=lo, feoc_share_high=hi)
        if miss:
            ev.append(
                f"with the unpriced parts at any price, the FEOC share lies between {lo:.1%} "
                f"and {hi:.1%}"
            )
        if ps.full:
            ev += _sources(ps, k, node, bcol, total, t.basis)
            decided = ev
        else:
            decided = (
                ev
                + ([ctx.path(node, xfeoc, bcol)] if bd > 0 else [])
                + ps.capped("the shares and one FEOC supply path", k)
            )
        # with a limit of 0 any FEOC part of positive value fails, whatever the others cost
        if fails(lo, t.max_feoc_share) or (t.max_feoc_share <= 0 and (bd > 0 or pf)):
            out[k] = Finding(
                Outcome.PROHIBITED,
                f"{share:.1%} of the {t.basis} of the components comes from FEOC sources "
                f"({limit_text(t.max_feoc_share)})",
                decided,
                inputs=inputs,
            )
        elif miss and fails(hi, t.max_feoc_share):
            out[k] = Finding(
                Outcome.UNKNOWN,
                f"the cost-weighted trace needs prices for {', '.join(miss)}",
                decided,
                settle=[f"prices (and currency) for the materials {', '.join(miss)}"],
                inputs=inputs,
            )
        elif fails(hi, t.max_feoc_share):
            out[k] = Finding(
                Outcome.UNKNOWN,
                f"FEOC share {share:.1%}, but {ushare:.1%} is of unknown origin and could "
                f"break the limit ({limit_text(t.max_feoc_share)})",
                decided,
                settle=["the origin of the untraced inputs"],
                inputs=inputs,
            )
        elif maybe[k] >= 0:
            i = int(maybe[k])
            why = ctx.feoc().loc[ctx.company[i], "possible_reason"]
            out[k] = Finding(
                Outcome.UNKNOWN,
                f"final assembly may be by a FEOC: {ctx.describe(i)} would be one if the stakes "
                f"not recorded were as large as they could be ({why})",
                decided + blank_stakes(ctx.network, str(ctx.company[i])),
                settle=[f"the stakes not recorded in the ownership chain of {ctx.company[i]}"],
                inputs=inputs,
            )
        else:
            out[k] = on_estimates(
                Finding(
                    Outcome.ALLOWED,
                    f"final assembly by non-FEOC plants, {1 - share:.1%} of the component "
                    f"{t.basis} from non-FEOC sources, no FEOC licence",
                    ev + ps.capped("the shares", k),
                    inputs=inputs,
                ),
                float(est[node]) / total if total > 0 else 0.0,
                f"{t.basis} of the {comp} components",
            )


def _sources(
    ps: Products, k: int, node: int, bcol: np.ndarray, total: float, basis: str
) -> list[str]:
    """The three largest FEOC sources of one product and their heaviest paths (full evidence)."""
    ctx = ps.ctx
    g = ctx.graph()
    y = leontief_row(g, node)
    part = y * bcol
    fac = ctx.node_fields()["facility"]
    by_fac: dict[str, float] = {}
    for u in np.flatnonzero(part > 0):
        by_fac[str(fac[u])] = by_fac.get(str(fac[u]), 0.0) + float(part[u])
    lines = []
    for fid, q in sorted(by_fac.items(), key=lambda kv: -kv[1])[:3]:
        who = ctx.describe(ctx.fidx[fid]) if fid in ctx.fidx else fid
        lines.append(f"FEOC source: {who}: {q / max(total, 1e-300):.1%} of the {basis}")
        try:
            paths = explain(
                ctx.network, ps.ids[k], {"facility": fid}, top=3, weight=basis, period=ctx.period
            )
        except OnshoreError:
            paths = []
        lines += [
            f"path ({p.weight:.3g}): {' -> '.join(p.nodes)}"
            for p in paths
            if not p.residual and p.nodes
        ]
    return lines
