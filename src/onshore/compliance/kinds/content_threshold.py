"""``content_threshold_by_year``: a share of the product's content that must reach a
threshold set per year (45X material assistance, 30D critical minerals and components).

Measures: ``qualifying_country`` (content extracted or processed in the listed countries,
per stage or at either stage), ``feoc_free`` (content not from FEOC plants or covered
nations) and ``non_pfe`` (content not from prohibited foreign entities, the product's own
plant left out). The share is bounded by what is of unknown origin: ALLOWED when the lower
bound reaches the threshold, PROHIBITED when the upper bound misses it, else UNKNOWN."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import scipy.sparse as sp

from onshore.compliance.context import UNKNOWN_ORIGIN, Context, Products, at_stages
from onshore.compliance.verdicts import Finding, Outcome, no_trace, on_estimates
from onshore.errors import OnshoreError
from onshore.owners import COVERED_NATIONS
from onshore.rules import ContentThresholdByYear, Rule
from onshore.trace import content, trace


def evaluate(ps: Products, rule: Rule, on: dt.date) -> list[Finding]:
    """The content-threshold finding of every product.

    Parameters
    ----------
    ps : Products
    rule : Rule
        A rule whose test is :class:`~onshore.rules.ContentThresholdByYear`.
    on : datetime.date
        The threshold is the one of the latest year set at or before ``on``.

    Returns
    -------
    list of Finding
        One per product, in order.
    """
    t = rule.test
    assert isinstance(t, ContentThresholdByYear)
    years = sorted(y for y in t.thresholds if y <= on.year)
    if not years:
        return [
            Finding(Outcome.NOT_APPLICABLE, f"no threshold is set for {on.year}") for _ in ps.ids
        ]
    thr = t.thresholds[years[-1]]
    if t.measure == "non_pfe":
        return [_non_pfe(ps.ctx, t, p, on, thr, years[-1]) for p in ps.ids]
    return _traced(ps, t, on, thr, years[-1])


def _traced(
    ps: Products, t: ContentThresholdByYear, on: dt.date, thr: float, year: int
) -> list[Finding]:
    ctx = ps.ctx
    nf = ctx.node_fields()
    cost = t.basis == "cost"
    cols: list[np.ndarray] = []
    miss_names: list[str] = []
    if t.measure == "qualifying_country":
        good = np.isin(nf["country"], t.countries)
        unk = nf["unknown_country"]
        groups = [(s,) for s in t.stages] if t.either_stage else [tuple(t.stages)]
        if t.either_stage:  # by raw: raw content valued at the raw's price
            C = np.asarray(content(ctx.graph()))
            raws, pr, priced = ctx.raw_prices(t.basis)
            v_ok = C[:, priced] @ pr[priced]
            for gs in groups:
                at = at_stages(nf["stage"], gs)
                cols += [at * v_ok, (at & good & ~unk) * v_ok, (at & unk) * v_ok]
            at = at_stages(nf["stage"], t.stages)
            for j in np.flatnonzero(~priced) if cost else []:
                cols.append(at * C[:, j])
                miss_names.append(raws[j])
        else:
            val, priced_n = ctx.node_values(t.basis)
            ok = priced_n & (val != 0)
            at = at_stages(nf["stage"], t.stages)
            cols += [(at & ok) * val, (at & ok & good & ~unk) * val, (at & ok & unk) * val]
            if cost:
                cols.append((at & ~priced_n & (val != 0)).astype(float))
                miss_names.append("(some inputs)")
    else:  # FEOC content by company and country
        bad = np.isin(nf["country"], COVERED_NATIONS) | ctx.feoc_flag("nodes")
        val, priced_n = ctx.node_values(t.basis)
        at = at_stages(nf["stage"], t.stages)
        ok = at & priced_n & (val != 0)
        unp = at & ~priced_n & (val != 0)
        groups = [tuple(t.stages)]
        cols += [ok * val, (ok & bad & ~nf["unknown"]) * val, (ok & nf["unknown"]) * val]
        mats = sorted(set(nf["fac_material"][unp & ~nf["virtual"]]))
        cols.append((unp & nf["virtual"]).astype(float))
        miss_names.append("(unknown suppliers)")
        for m in mats:
            cols.append((unp & ~nf["virtual"] & (nf["fac_material"] == m)).astype(float))
            miss_names.append(m)
    try:
        X = ctx.solve(sp.csr_matrix(np.column_stack(cols)))
    except OnshoreError as e:
        return [no_trace(f"the trace could not be computed: {e}") for _ in ps.ids]
    ng = 3 * len(groups)
    tcol = np.sum([cols[3 * gi] for gi in range(len(groups))], axis=0)
    try:  # the tested value that comes through estimated or market-pool flows
        ttot = np.sum([X[:, 3 * gi] for gi in range(len(groups))], axis=0)
        est = ctx.estimated(tcol, ttot) / np.where(ttot > 0, ttot, 1.0)
    except OnshoreError:
        est = np.ones(X.shape[0])
    nodes = ps.nodes()
    missing: np.ndarray = X[np.maximum(nodes, 0), ng:] > 0  # per product, unpriced columns
    any_missing: list[bool] = np.asarray(missing.any(axis=1)).tolist()
    out: list[Finding] = []
    for k in range(len(ps)):
        node = int(nodes[k])
        if node < 0:
            out.append(no_trace(ps.untraceable(k)))
            continue
        x = X[node]
        miss = (
            [m for m, h in zip(miss_names, missing[k].tolist(), strict=True) if h]
            if any_missing[k]
            else []
        )
        if t.measure != "qualifying_country":
            real = [m for m in miss if m != "(unknown suppliers)"]
            miss = real or miss
        failed = None
        per_stage, unk_total = [], 0.0
        for gi, gs in enumerate(groups):
            total, gq, uq = x[3 * gi], x[3 * gi + 1], x[3 * gi + 2]
            if total <= 0:
                if t.measure == "qualifying_country":
                    failed = (
                        f"nothing traced at stage {gs[0] if t.either_stage else tuple(t.stages)}"
                    )
                else:
                    failed = "nothing traced at the stages tested"
                break
            per_stage.append(gq / total)
            unk_total += uq / total
        if failed:
            out.append(Finding(Outcome.UNKNOWN, failed, settle=["flows and BOMs upstream"]))
            continue
        if t.measure == "qualifying_country":
            lo, hi = max(per_stage), min(1.0, sum(per_stage) + unk_total)
        else:
            lo, hi = 1 - (per_stage[0] + unk_total), 1 - per_stage[0]
        if miss:
            out.append(_unpriced(miss))
            continue
        out.append(_decide(t, on, lo, hi, thr, year, float(est[node])))
    return out


def _unpriced(miss: list[str]) -> Finding:
    return Finding(
        Outcome.UNKNOWN,
        f"the cost-weighted trace needs prices for {', '.join(miss)}",
        settle=[f"prices (and currency) for the materials {', '.join(miss)}"],
    )


def _decide(
    t: ContentThresholdByYear,
    on: dt.date,
    lo: float,
    hi: float,
    thr: float,
    year: int,
    estimated: float,
) -> Finding:
    """ALLOWED when the share's lower bound reaches the threshold (indicative, or UNKNOWN, when
    ``estimated`` of the tested value rests on estimates or priors), PROHIBITED when its upper
    bound misses it."""
    inputs = {"low": lo, "high": hi, "threshold": thr, "year": year}
    ev = [
        f"{t.measure.replace('_', ' ')} share by {t.basis}: {lo:.1%}"
        + (f" to {hi:.1%}" if hi - lo > 1e-9 else "")
        + f"; {on.year} threshold {thr:.0%}"
    ]
    if lo >= thr - 1e-12:
        return on_estimates(
            Finding(Outcome.ALLOWED, ev[0], ev, inputs=inputs),
            estimated,
            f"{t.basis} tested at {'/'.join(t.stages)}",
        )
    if hi < thr - 1e-12:
        return Finding(Outcome.PROHIBITED, ev[0], ev, inputs=inputs)
    return Finding(
        Outcome.UNKNOWN,
        ev[0] + " (the range straddles the threshold)",
        ev,
        settle=[
            "the joint origin of each unit (which mine fed which refinery) or the untraced inputs"
        ],
        inputs=inputs,
    )


def _non_pfe(
    ctx: Context, t: ContentThresholdByYear, product: str, on: dt.date, thr: float, year: int
) -> Finding:
    """The ``non_pfe`` measure of one product: it leaves the product's own plant out of its
    trace, so it reads the product's trace by facility rather than the all-node solve."""
    try:
        df = trace(
            ctx.network,
            product,
            by=("stage", "country", "company", "facility"),
            weight=t.basis,
            period=ctx.period,
        )
    except OnshoreError as e:
        return no_trace(f"the trace could not be computed: {e}")
    ids, _ = ctx.resolve(t.listed)
    flag = ctx.pfe(list(ids))["pfe"]
    df = df[df["facility"].astype(str) != product]
    pfe = {str(c): bool(v) for c, v in flag.items()}
    bad = df["company"].astype(str).map(lambda c: pfe.get(c, False)).astype(bool)
    at = at_stages(df["stage"].astype(str).to_numpy(), t.stages)
    miss = _unpriced_in(ctx, df, at)
    if "price" in df:
        at &= (df["price"].astype(str) != "unknown").to_numpy()
    q = pd.to_numeric(df["quantity"], errors="coerce").fillna(0.0).to_numpy()
    unk = at & _unknown(df)
    total, b, u = (
        float(q[at].sum()),
        float(q[at & bad.to_numpy() & ~unk].sum()),
        float(q[unk].sum()),
    )
    if total <= 0:
        return Finding(
            Outcome.UNKNOWN,
            "nothing traced at the stages tested",
            settle=["flows and BOMs upstream"],
        )
    if miss:
        return _unpriced(miss)
    return _decide(
        t, on, 1 - (b + u) / total, 1 - b / total, thr, year, _estimated_at(ctx, t, product)
    )


def _estimated_at(ctx: Context, t: ContentThresholdByYear, product: str) -> float:
    """The share of a product's tested value (its own plant left out) that comes through
    estimated or market-pool flows, from the all-node solve (cached per stages and basis)."""
    key = ("content_threshold.estimated", tuple(t.stages), t.basis)
    if key not in ctx.cache:
        nf = ctx.node_fields()
        val, priced = ctx.node_values(t.basis)
        col = (at_stages(nf["stage"], t.stages) & priced & (val != 0)) * val
        try:
            Y = ctx.solve(sp.csr_matrix(col.reshape(-1, 1)))[:, 0]
            ctx.cache[key] = (col, Y, ctx.estimated(col, Y))
        except OnshoreError:
            ctx.cache[key] = None
    got = ctx.cache[key]
    try:
        node = ctx.graph().node(product)
    except OnshoreError:
        return 1.0
    if got is None:
        return 1.0
    col, Y, est = got
    own = Y[node] - col[node]
    return float(est[node] / own) if own > 0 else 0.0


def _unknown(df: pd.DataFrame) -> np.ndarray:
    """Rows of unknown origin: an unknown country or company (data gaps in the trace)."""
    out = np.zeros(len(df), dtype=bool)
    for c in ("country", "company"):
        if c in df:
            out |= (
                df[c].isna() | df[c].astype(str).str.strip().str.lower().isin(UNKNOWN_ORIGIN)
            ).to_numpy()
    return out


def _unpriced_in(ctx: Context, df: pd.DataFrame, at: np.ndarray) -> list[str]:
    """Materials at the tested stages whose price is missing (their cost cannot be added)."""
    if "price" not in df:
        return []
    rows = df[at & (df["price"].astype(str) == "unknown").to_numpy()]
    if rows.empty:
        return []
    mats = {
        str(ctx.fac.loc[f, "material"]) for f in rows["facility"].astype(str) if f in ctx.fac.index
    }
    return sorted(mats) or ["(unknown suppliers)"]
