"""``origin_country``: at most ``max_share`` of the product's content (of the named raw
materials, or of all) may pass the tested stages in the named countries (by mass or cost);
untraced content that could break the limit gives UNKNOWN."""

from __future__ import annotations

import datetime as dt

import numpy as np
import scipy.sparse as sp

from onshore.compliance.context import Products, at_stages
from onshore.compliance.verdicts import Finding, Outcome, no_trace, on_estimates
from onshore.errors import OnshoreError
from onshore.rules import OriginCountry, Rule
from onshore.trace import content


def evaluate(ps: Products, rule: Rule, on: dt.date) -> list[Finding]:
    """The origin-country finding of every product.

    Parameters
    ----------
    ps : Products
    rule : Rule
        A rule whose test is :class:`~onshore.rules.OriginCountry`.
    on : datetime.date

    Returns
    -------
    list of Finding
        One per product, in order.
    """
    t = rule.test
    assert isinstance(t, OriginCountry)
    ctx = ps.ctx
    out: list[Finding | None] = [None] * len(ps)
    rest = list(range(len(out)))
    if t.materials:
        has = ps.nearest(ctx.material_keywords(t.materials)) >= 0
        for k in map(int, np.flatnonzero(~has)):
            out[k] = Finding(
                Outcome.ALLOWED,
                f"no {', '.join(t.materials)} material is in the recorded bills of "
                f"materials or supplier plants of {ps.ids[k]}",
            )
        rest = [int(k) for k in np.flatnonzero(has)]
    if rest:
        _shares(ps, t, rest, out)
    return [x if x is not None else no_trace("the trace could not be computed") for x in out]


def _shares(ps: Products, t: OriginCountry, rest: list[int], out: list[Finding | None]) -> None:
    ctx = ps.ctx
    g = ctx.graph()
    nf = ctx.node_fields()
    C = np.asarray(content(g))
    raws, _, _ = ctx.raw_prices("mass")
    m = ctx.network.materials
    mnames = dict(
        zip(m["id"].astype(str).str.lower(), m["name"].astype(str).str.lower(), strict=True)
    )
    if t.materials:
        sel = [
            j
            for j, r in enumerate(raws)
            if any(k in f"{r.lower()} {mnames.get(r.lower(), '')}" for k in t.materials)
        ]
    else:
        sel = list(range(len(raws)))
    _, pr, priced_r = ctx.raw_prices(t.basis)
    at = at_stages(nf["stage"], t.stages)
    bad = np.isin(nf["country"], t.countries) & ~nf["unknown_country"]
    z = np.zeros(g.n)
    anyq, tot, bq, uq, unp = z.copy(), z.copy(), z.copy(), z.copy(), z.copy()
    for j in sel:
        c = C[:, j]
        v = c * pr[j]
        anyq += np.abs(v)
        if priced_r[j]:
            tot += at * v
            bq += (at & bad) * v
            uq += (at & nf["unknown_country"]) * v
        else:
            unp += at * (c != 0)
    try:
        X = ctx.solve(sp.csr_matrix(np.column_stack([anyq, tot, bq, uq, unp])))
    except OnshoreError as e:
        for k in rest:
            out[k] = no_trace(f"the trace could not be computed: {e}")
        return
    try:  # the tested value that comes through estimated or market-pool flows
        est = ctx.estimated(tot, X[:, 1])
    except OnshoreError:
        est = X[:, 1].copy()
    nodes = ps.nodes()
    for k in rest:
        node = int(nodes[k])
        if node < 0:
            out[k] = no_trace(ps.untraceable(k))
            continue
        a, total, bd, unk, miss = (float(X[node, j]) for j in range(5))
        if t.materials and a <= 0:
            out[k] = Finding(
                Outcome.ALLOWED,
                f"no {', '.join(t.materials)} is in the recorded bill of materials of {ps.ids[k]}",
            )
            continue
        if total <= 0 or miss > 0:
            out[k] = Finding(
                Outcome.UNKNOWN,
                "nothing (priced) traced at the stages tested",
                settle=["flows, BOMs and prices upstream"],
            )
            continue
        inputs = {"share": bd / total, "unknown_share": unk / total}
        ev = [
            (
                f"share at {'/'.join(t.stages)} in {', '.join(t.countries)} by {t.basis}: "
                f"{bd / total:.1%}; "
                f"untraced {unk / total:.1%}"
            )
        ]
        if bd / total > t.max_share + 1e-12:
            out[k] = Finding(Outcome.PROHIBITED, ev[0], ev, inputs=inputs)
        elif (bd + unk) / total > t.max_share + 1e-12:
            out[k] = Finding(
                Outcome.UNKNOWN,
                ev[0],
                ev,
                settle=["the origin of the untraced inputs"],
                inputs=inputs,
            )
        else:
            out[k] = on_estimates(
                Finding(Outcome.ALLOWED, ev[0], ev, inputs=inputs),
                float(est[node]) / total,
                f"{t.basis} tested at {'/'.join(t.stages)}",
            )
