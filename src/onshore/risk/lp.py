"""The re-allocation linear program of a cut-off, built once and re-solved by changing bounds.

For one month, over the *affected sub-network* ``D`` (the customers of cut supply and
everything downstream of them) with the direct suppliers ``S`` of ``D`` as sources:

    max  sum_p y_p / b_p  -  eps * (market + substitute + inventory use)
    s.t. sum_{e out of f} x_e + sell_f            <= y_f          f in D   (output)
         r_{f,m} y_f - sum_{e into f, m} x_e - buy_{f,m} - draw_{f,m} <= 0  (recipe)
         sum_{e out of s} x_e + sell_s            <= a_s          s in S   (availability)
         sum_f buy_{f,m} - sum_g sell_g - sub_m   <= 0            per material m (market)
         0 <= y_f <= capacity_f (final products: <= b_f),  0 <= x_e <= cut_e, ...

``y`` is production, ``x`` shipments on existing supplier links, ``sell``/``buy`` trades on
a market per material (any maker's spare capacity), ``sub`` substitute capacity, ``draw``
inventory. Plants outside ``D`` keep their baseline (upstream of a cut nothing changes;
suppliers keep serving their unaffected customers). Only column bounds change from month
to month and draw to draw, so one HiGHS instance is built and warm-started throughout.
:func:`to_linopy` writes the same LP as a linopy model (for inspection and for tests).
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np
import pandas as pd
import scipy.sparse as sp

INF = highspy.kHighsInf
EPS = 1e-6


@dataclass
class LP:
    """Matrix form ``min c x, A x <= b, l <= x <= u`` with named column blocks."""

    A: sp.csr_matrix
    b: np.ndarray
    c: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    blocks: dict[str, slice]  # y, x, sell, buy, sub, draw

    def solver(self) -> highspy.Highs:
        """A HiGHS instance holding this LP (silent, dual simplex, warm-startable).

        Returns
        -------
        highspy.Highs
            The model passed in with infinite upper bounds as HiGHS infinity; re-solve it with
            :func:`solve`.
        """
        h = _quiet_highs()
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = self.A.shape[1], self.A.shape[0]
        lp.col_cost_, lp.col_lower_, lp.col_upper_ = (
            self.c,
            self.lower,
            np.where(np.isinf(self.upper), INF, self.upper),
        )
        lp.row_lower_, lp.row_upper_ = np.full(self.A.shape[0], -INF), self.b
        csc = self.A.tocsc()
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = (
            csc.indptr,
            csc.indices,
            csc.data,
        )
        lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = lp.num_col_, lp.num_row_
        h.passModel(lp)
        return h


def _quiet_highs() -> highspy.Highs:
    """A silent HiGHS instance: its banner (printed by C++ on first use) kept off stdout."""
    import os
    import sys

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            h = highspy.Highs()  # type: ignore[no-untyped-call]  # highspy: __init__ unannotated
            h.setOptionValue("output_flag", False)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    return h


def solve(h: highspy.Highs, upper: np.ndarray) -> np.ndarray:
    """Set the column upper bounds and solve; the optimal column values.

    Only bounds that changed since the last call on ``h`` are passed; after the first solve
    presolve is switched off so later solves start from the last basis.

    Parameters
    ----------
    h : highspy.Highs
        An instance from :meth:`LP.solver`.
    upper : ndarray, shape (columns,)
        Column upper bounds (``inf`` for none), quantities per month.

    Returns
    -------
    ndarray, shape (columns,)
        The optimal value of every column.

    Raises
    ------
    RuntimeError
        When HiGHS does not report an optimal solution.
    """
    u = np.where(np.isinf(upper), INF, upper)
    prev = getattr(h, "_onshore_upper", None)
    idx = (
        np.arange(len(u), dtype=np.int32)
        if prev is None
        else np.flatnonzero(prev != u).astype(np.int32)
    )
    if len(idx):
        h.changeColsBounds(len(idx), idx, np.zeros(len(idx)), u[idx])
    h._onshore_upper = u  # type: ignore[attr-defined]
    h.run()
    h.setOptionValue("presolve", "off")  # later solves start from this basis
    status = h.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"the cut-off LP did not solve: {h.modelStatusToString(status)}")
    return np.asarray(h.getSolution().col_value)


@dataclass
class Parts:
    """The pieces of the sub-network the LP is built from (positions into the baseline)."""

    D: np.ndarray  # affected plants
    S: np.ndarray  # their outside suppliers
    market: np.ndarray  # outside plants with spare capacity selling on the market
    edges: pd.DataFrame  # s, c, material, qty (per year): links into D
    recipe: pd.DataFrame  # c, material, r: inputs of D plants
    final: np.ndarray  # bool per D plant: ships nothing (a final product)


def build(
    parts: Parts,
    base_production: np.ndarray,
    capacity: np.ndarray,
    material: np.ndarray,
    sub_material: list[str],
    use_market: bool,
    weight: np.ndarray | None = None,
) -> LP:
    """The monthly LP (quantities per month) of :class:`Parts`; bounds are the no-cut ones.

    The units may be plants or pools of plants (:mod:`onshore.risk.pool`); ``weight`` is the
    objective weight of each final unit's fraction supplied (a pool's number of plants; 1).

    Parameters
    ----------
    parts : Parts
    base_production, capacity : ndarray, shape (n,)
        Per unit, in its material's unit per year (divided by 12 here).
    material : ndarray of object, shape (n,)
        Output material per unit (None when unknown).
    sub_material : list of str
        The material of each substitute capacity (one ``sub`` column each).
    use_market : bool
        Whether plants may buy from and sell to a market per material.
    weight : ndarray, optional
        Objective weight per unit of ``parts.D`` (default 1 each).

    Returns
    -------
    LP
        Columns in blocks ``y, x, sell, buy, sub, draw``; ``draw`` and ``sub`` bounded at
        0 (no cut-off); the attribute ``sellers`` holds the unit of each ``sell`` column.
    """
    D, S, M = parts.D, parts.S, parts.market if use_market else np.zeros(0, dtype=np.int64)
    nD, nE, nR = len(D), len(parts.edges), len(parts.recipe)
    sellers = np.concatenate([D, S, M])
    mats = sorted(set(parts.recipe["material"]))
    mpos = {m: k for k, m in enumerate(mats)}
    seller_mat = np.array(
        [mpos.get(material[g], -1) if isinstance(material[g], str) else -1 for g in sellers]
    )
    if not use_market:  # no market: only substitutes feed the per-material pools
        seller_mat[:] = -1
    sell_ok = np.flatnonzero(seller_mat >= 0)
    nSell, nSub = len(sell_ok), len(sub_material)
    sizes = {"y": nD, "x": nE, "sell": nSell, "buy": nR, "sub": nSub, "draw": nR}
    blocks, at = {}, 0
    for k, v in sizes.items():
        blocks[k] = slice(at, at + v)
        at += v
    n = at
    posD = {int(f): k for k, f in enumerate(D)}
    posS = {int(s): k for k, s in enumerate(S)}
    es, ec = parts.edges["s"].to_numpy(), parts.edges["c"].to_numpy()
    rows, cols, vals = [], [], []

    def add(r: np.ndarray, c: np.ndarray, v: np.ndarray | float) -> None:
        rows.append(np.asarray(r, dtype=np.int64))
        cols.append(np.asarray(c, dtype=np.int64))
        vals.append(np.broadcast_to(np.asarray(v, dtype=float), np.shape(r)).copy())

    # output rows 0..nD-1; availability rows nD..nD+nS-1; recipe rows next; market rows last
    out_row = np.array([posD.get(int(s), -1) for s in es])
    av_row = np.array([nD + posS[int(s)] if int(s) in posS else -1 for s in es])
    src_row = np.where(out_row >= 0, out_row, av_row)
    add(src_row, blocks["x"].start + np.arange(nE), 1.0)
    add(np.arange(nD), blocks["y"].start + np.arange(nD), -1.0)
    seller_row = np.concatenate([np.arange(nD), nD + np.arange(len(S)), np.full(len(M), -1)])[
        sell_ok
    ]
    has_row = seller_row >= 0
    add(seller_row[has_row], blocks["sell"].start + np.flatnonzero(has_row), 1.0)
    r0 = nD + len(S)
    rc = parts.recipe["c"].to_numpy()
    rkey = pd.MultiIndex.from_arrays([rc, parts.recipe["material"].to_numpy()])
    add(
        r0 + np.arange(nR),
        blocks["y"].start + np.array([posD[int(c)] for c in rc], dtype=np.int64),
        parts.recipe["r"].to_numpy(),
    )
    erow = rkey.get_indexer(pd.MultiIndex.from_arrays([ec, parts.edges["material"].to_numpy()]))
    add(r0 + erow, blocks["x"].start + np.arange(nE), -1.0)
    add(r0 + np.arange(nR), blocks["draw"].start + np.arange(nR), -1.0)
    m0 = r0 + nR
    add(r0 + np.arange(nR), blocks["buy"].start + np.arange(nR), -1.0)
    rmat = np.array([mpos[m] for m in parts.recipe["material"]], dtype=np.int64)
    add(m0 + rmat, blocks["buy"].start + np.arange(nR), 1.0)
    add(m0 + seller_mat[sell_ok], blocks["sell"].start + np.arange(nSell), -1.0)
    sub_row = np.array([mpos.get(m, -1) for m in sub_material], dtype=np.int64)
    ok = sub_row >= 0
    add(m0 + sub_row[ok], blocks["sub"].start + np.flatnonzero(ok), -1.0)
    nrows = m0 + len(mats)
    A = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(nrows, n)
    )
    b = np.zeros(nrows)
    base_m, spare_m = base_production / 12.0, np.maximum(capacity - base_production, 0.0) / 12.0
    shipped_to_D = (
        np.bincount(
            np.searchsorted(S, es[av_row >= 0]),
            weights=parts.edges["qty"].to_numpy()[av_row >= 0] / 12.0,
            minlength=len(S),
        )
        if len(S)
        else np.zeros(0)
    )
    b[nD : nD + len(S)] = shipped_to_D + spare_m[S]
    c = np.zeros(n)
    bD = base_m[D]
    w = np.ones(nD) if weight is None else np.asarray(weight, dtype=float)
    c[blocks["y"]] = np.where(parts.final, -w / np.maximum(bD, 1e-300), 0.0)
    use = parts.recipe.groupby("material")["r"].size()  # scale of each material's trade for eps
    scale = {
        m: max(
            float(
                np.sum(
                    parts.recipe["r"].to_numpy()[parts.recipe["material"].to_numpy() == m]
                    * base_m[rc[parts.recipe["material"].to_numpy() == m]]
                )
            ),
            1e-300,
        )
        for m in use.index
    }
    rscale = np.array([scale[m] for m in parts.recipe["material"]]) if nR else np.zeros(0)
    c[blocks["buy"]] = EPS / rscale if nR else c[blocks["buy"]]
    c[blocks["draw"]] = 2 * EPS / rscale if nR else c[blocks["draw"]]
    c[blocks["sub"]] = (
        np.array([EPS / scale.get(m, 1.0) for m in sub_material]) * 0.5
        if nSub
        else c[blocks["sub"]]
    )
    upper = np.full(n, np.inf)
    upper[blocks["y"]] = np.where(parts.final, bD, capacity[D] / 12.0)
    upper[blocks["sell"]] = np.concatenate(
        [capacity[D] / 12.0, shipped_to_D + spare_m[S], spare_m[M]]
    )[sell_ok]
    upper[blocks["draw"]] = 0.0
    upper[blocks["sub"]] = 0.0
    lp = LP(A, b, c, np.zeros(n), upper, blocks)
    lp.sellers = sellers[sell_ok]  # type: ignore[attr-defined]
    return lp


def to_linopy(lp: LP) -> object:
    """The same LP as a :class:`linopy.Model` (one variable ``v`` over columns).

    Parameters
    ----------
    lp : LP

    Returns
    -------
    linopy.Model
        Variable ``v`` (dimension ``col``) with the LP's bounds, constraints ``rows``
        (``A v <= b``) and objective ``c v`` (minimised).
    """
    import linopy
    import xarray as xr

    m = linopy.Model()
    n = lp.A.shape[1]
    v = m.add_variables(
        lower=xr.DataArray(lp.lower, dims="col"),
        upper=xr.DataArray(np.where(np.isinf(lp.upper), np.inf, lp.upper), dims="col"),
        name="v",
    )
    A = lp.A.tocsr()
    k = max(int(np.diff(A.indptr).max(initial=0)), 1)
    coeffs = np.zeros((A.shape[0], k))
    idx = np.full((A.shape[0], k), -1, dtype=np.int64)
    for r in range(A.shape[0]):
        lo, hi = A.indptr[r], A.indptr[r + 1]
        coeffs[r, : hi - lo] = A.data[lo:hi]
        idx[r, : hi - lo] = v.labels.values[A.indices[lo:hi]]
    ds = xr.Dataset({"coeffs": (("row", "_term"), coeffs), "vars": (("row", "_term"), idx)})
    expr = linopy.LinearExpression(ds, m)
    m.add_constraints(expr <= xr.DataArray(lp.b, dims="row"), name="rows")
    m.add_objective((xr.DataArray(lp.c, dims="col") * v).sum())
    _ = n
    return m
