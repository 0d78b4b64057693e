"""Physical checks on the tables: what a plant ships fits its capacity and its producing
period, and what it receives fits its recipe.

Three checks, on the tables alone (no graph):

1. **capacity**: a supplier's outgoing flows of its main material in one period are at most
   its yearly capacity times the part of the year the period covers and the plant was
   producing (a year counts against the whole capacity, ``2025-Q1`` against a quarter, a
   month against a twelfth; a plant that started in September has four twelfths of its
   capacity in that year). Flows of one year in several granularities are also added up
   per year. Units are converted to the material's unit.
2. **producing**: no flow leaves a plant that was not producing in the period, and none
   enters one (a warning): see :func:`producing_months`.
3. **recipe**: what a plant receives of each recipe input in a period is at most what its
   capacity can use (``quantity x capacity``), and at least what its recorded output needs
   (``quantity x shipped``), each within ``TOLERANCE``. Receiving too much is an error;
   receiving too little for what was shipped is a warning (part of the supply may be
   unrecorded). Inputs of which nothing was received are data gaps, not findings.

Every check returns :class:`Finding` rows; ``level`` is ``error`` or ``warning``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from onshore.errors import UnitError
from onshore.records import units
from onshore.records.frames import positions

TOLERANCE = 0.05
"""Relative tolerance of the recipe check (rounding of quantities and BOM factors)."""

CAPACITY_TOLERANCE = 1e-6
"""Relative tolerance of the capacity check (rounding only)."""

NEVER_PRODUCING = frozenset({"cancelled"})
NOT_YET_PRODUCING = frozenset({"planned", "construction"})


@dataclass(frozen=True)
class Finding:
    """One result of a check: ``level`` error | warning | info."""

    level: str
    check: str
    node: str
    message: str


def _blank(v: object) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or str(v).strip() == ""


def _month(d: str) -> int:
    """Month index (year * 12 + month - 1) of a date's first month."""
    return int(d[:4]) * 12 + (int(d[5:7]) - 1 if len(d) >= 7 else 0)


def _month_end(d: str) -> int:
    """Month index of a date's last month ('2025' -> December 2025)."""
    return int(d[:4]) * 12 + (int(d[5:7]) - 1 if len(d) >= 7 else 11)


def period_months(period: str) -> tuple[int, int]:
    """First and last month index a period covers: '2025', '2025-Q2' or '2025-03'.

    Parameters
    ----------
    period : str
        A flow period.

    Returns
    -------
    tuple of int
        Month indices (year * 12 + month - 1), both inclusive.
    """
    y = int(period[:4]) * 12
    if len(period) == 4:
        return y, y + 11
    if period[5] == "Q":
        q = int(period[6]) - 1
        return y + 3 * q, y + 3 * q + 2
    m = int(period[5:7]) - 1
    return y + m, y + m


def producing_months(status: object, since: object, until: object) -> tuple[float, float] | None:
    """The months a facility produces in, from its status and dates.

    * ``operating``: from ``since`` (blank: always before) to ``until`` (blank: open);
    * ``planned`` and ``construction``: from ``since``, the stated start of production, to
      ``until``; never when no start is stated;
    * ``paused``, ``closed`` and ``converted``: from ``since`` to ``until`` (blank: open,
      the stop date is not recorded); never when no start is stated (construction stopped
      before production);
    * ``cancelled``: never.

    Parameters
    ----------
    status : str
        The facility's status.
    since, until : str or None
        Its dates (``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``).

    Returns
    -------
    tuple of float, or None
        First and last month index (``-inf``/``inf`` when open), or None when never.
    """
    st = "operating" if _blank(status) else str(status)
    if st in NEVER_PRODUCING:
        return None
    s = None if _blank(since) else str(since)
    u = None if _blank(until) else str(until)
    if st != "operating" and s is None:
        return None
    lo = -math.inf if s is None else float(_month(s))
    hi = math.inf if u is None else float(_month_end(u))
    return lo, hi


def _overlap(window: tuple[float, float] | None, first: int, last: int) -> int:
    if window is None:
        return 0
    lo, hi = max(window[0], first), min(window[1], last)
    return max(int(hi - lo + 1), 0) if hi >= lo else 0


def _factor(a: object, b: object) -> float | None:
    if _blank(a) or _blank(b):
        return None
    try:
        return units.factor(str(a), str(b))
    except (UnitError, KeyError):
        return None


def _flows_in_material_units(flows: pd.DataFrame, materials: pd.DataFrame) -> pd.DataFrame:
    mu = dict(zip(materials["id"].astype(str), materials["unit"].astype(str), strict=True))
    f = flows[["supplier", "customer", "material", "quantity", "unit", "period"]].copy()
    for c in ("supplier", "customer", "material", "unit", "period"):
        f[c] = f[c].astype(str)
    pairs = f[["unit", "material"]].drop_duplicates()
    pairs["factor"] = [
        math.nan if (x := _factor(u, mu[m]) if m in mu else None) is None else x
        for u, m in zip(pairs["unit"], pairs["material"], strict=True)
    ]
    factor = f[["unit", "material"]].merge(pairs, on=["unit", "material"], how="left")["factor"]
    f["qty"] = f["quantity"].astype(float).to_numpy() * factor.to_numpy(dtype=float)
    return f


@dataclass
class _Plants:
    """Per facility (by position): id, material, status, producing window and yearly
    capacity in the material's unit (NaN when not known)."""

    ids: pd.Index
    material: np.ndarray
    status: np.ndarray
    window: list[tuple[float, float] | None]
    lo: np.ndarray
    hi: np.ndarray
    cap: np.ndarray

    def overlap(self, i: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
        """Months of ``first..last`` that plants ``i`` produce in (:func:`_overlap`)."""
        lo = np.maximum(self.lo[i], first)
        hi = np.minimum(self.hi[i], last)
        with np.errstate(invalid="ignore"):
            n = np.where(hi >= lo, hi - lo + 1, 0.0)
        return n.astype(np.int64)


def _facility_table(facilities: pd.DataFrame, materials: pd.DataFrame) -> _Plants:
    """Per facility: material, producing window and yearly capacity in the material's unit."""
    mu = dict(zip(materials["id"].astype(str), materials["unit"].astype(str), strict=True))
    n = len(facilities)

    def col(c: str) -> np.ndarray:
        return facilities[c].astype(object).to_numpy() if c in facilities else np.full(n, None)

    material = np.array([None if _blank(m) else str(m) for m in col("material")], dtype=object)
    status = np.array(["operating" if _blank(s) else str(s) for s in col("status")], dtype=object)
    since, until = col("since"), col("until")
    windows: dict[tuple[object, object, object], tuple[float, float] | None] = {}
    window = []
    for st, a, b in zip(status, since, until, strict=True):
        key = (st, None if _blank(a) else str(a), None if _blank(b) else str(b))
        if key not in windows:
            windows[key] = producing_months(*key)
        window.append(windows[key])
    lo = np.array([math.inf if w is None else w[0] for w in window], dtype=float)
    hi = np.array([-math.inf if w is None else w[1] for w in window], dtype=float)
    capacity, unit = col("capacity"), col("unit")
    factors: dict[tuple[object, str], float | None] = {}
    cap = np.full(n, math.nan)
    for i, (m, c, u) in enumerate(zip(material, capacity, unit, strict=True)):
        if m is None or _blank(c) or m not in mu:
            continue
        k = (u, m)
        if k not in factors:
            factors[k] = _factor(u, mu[m])
        fk = factors[k]
        if fk is not None:
            cap[i] = float(c) * fk
    ids = pd.Index(facilities["id"].astype(str).to_numpy(dtype=object), dtype=object)
    return _Plants(ids, material, status, window, lo, hi, cap)


def _fmt(x: float) -> str:
    return f"{x:,.6g}"


def _describe(status: str, window: tuple[float, float] | None) -> str:
    if window is None:
        return f"status {status}, no start of production recorded"

    def m(i: float) -> str:
        return f"{int(i) // 12}-{int(i) % 12 + 1:02d}"

    lo = "" if math.isinf(window[0]) else f"from {m(window[0])}"
    hi = "" if math.isinf(window[1]) else f"until {m(window[1])}"
    return f"status {status}, producing {' '.join(p for p in (lo, hi) if p) or 'always'}"


def _codes(values: pd.Series, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of the kept values and the distinct values (as text)."""
    codes, uniq = pd.factorize(values)
    return codes[keep], np.asarray([str(u) for u in uniq], dtype=object)


def _groups(*codes: tuple[np.ndarray, int]) -> tuple[np.ndarray, np.ndarray]:
    """Distinct combinations of integer codes (each with its number of values): the first
    row of each group and each row's group."""
    key = np.zeros(len(codes[0][0]), dtype=np.int64)
    for c, n in codes:
        key = key * n + c
    _, first, inv = np.unique(key, return_index=True, return_inverse=True)
    return first, inv.ravel()


def _sums(inv: np.ndarray, n: int, values: np.ndarray) -> np.ndarray:
    """Per group, the sum of ``values`` with NaN counted as 0 (as pandas sums)."""
    return np.bincount(inv, weights=np.where(np.isnan(values), 0.0, values), minlength=n)


def check_physical(
    facilities: pd.DataFrame,
    flows: pd.DataFrame,
    boms: pd.DataFrame,
    materials: pd.DataFrame,
    tolerance: float = TOLERANCE,
) -> list[Finding]:
    """Capacity, producing-period and recipe checks of the flows.

    Parameters
    ----------
    facilities, flows, boms, materials : DataFrame
        The tables, with the model's columns (see :mod:`onshore.records.model`).
    tolerance : float
        Relative tolerance of the recipe check.

    Returns
    -------
    list of Finding
        Errors (over capacity, shipping while not producing, receiving more than the
        capacity can use) and warnings (receiving while not producing, receiving less
        than the recorded output needs).
    """
    out: list[Finding] = []
    if flows is None or len(flows) == 0 or len(facilities) == 0:
        return out
    fac = _facility_table(facilities, materials)
    f = _flows_in_material_units(flows, materials)
    si = positions(f["supplier"], fac.ids)
    ci = positions(f["customer"], fac.ids)
    keep = (si >= 0) & (ci >= 0)
    si, ci = si[keep], ci[keep]
    pc, periods = _codes(f["period"], keep)
    mc, mats = _codes(f["material"], keep)
    qty = f["qty"].to_numpy(dtype=float)[keep]
    months = np.array([period_months(str(p)) for p in periods], dtype=float).reshape(-1, 2)
    first, last = months[pc, 0], months[pc, 1]
    nf, npe = len(fac.ids), len(periods)
    ids = fac.ids.to_numpy()

    # 2. producing --------------------------------------------------------------------
    for who, level, verb in ((si, "error", "ships"), (ci, "warning", "receives")):
        rows, _ = _groups((who, nf), (pc, npe))
        idle = rows[fac.overlap(who[rows], first[rows], last[rows]) == 0]
        for name, per, p in sorted((str(ids[who[r]]), str(periods[pc[r]]), who[r]) for r in idle):
            out.append(
                Finding(
                    level,
                    "producing",
                    name,
                    f"{verb} in {per} but was not producing then "
                    f"({_describe(fac.status[p], fac.window[p])})",
                )
            )

    # 1. capacity -----------------------------------------------------------------------
    main = np.asarray(mats[mc] == fac.material[si], dtype=bool)
    ms, mp, mq = si[main], pc[main], qty[main]
    rows, inv = _groups((ms, nf), (mp, npe))
    shipped = _sums(inv, len(rows), mq)
    sup, per = ms[rows], mp[rows]
    active = fac.overlap(sup, months[per, 0], months[per, 1])
    limit = fac.cap[sup] * active / 12
    over = (active > 0) & (shipped > limit * (1 + CAPACITY_TOLERANCE))
    found = []
    for g in np.flatnonzero(over):
        s, p = int(sup[g]), str(periods[per[g]])
        found.append(
            (
                (str(ids[s]), p),
                Finding(
                    "error",
                    "capacity",
                    str(ids[s]),
                    f"ships {_fmt(shipped[g])} {fac.material[s]} in {p}, more than its "
                    f"capacity for the period ({_fmt(limit[g])}: {_fmt(fac.cap[s])} a year x "
                    f"{active[g]}/12 months)",
                ),
            )
        )
    out += [x for _, x in sorted(found, key=lambda t: t[0])]
    years = np.array([int(str(p)[:4]) for p in periods], dtype=np.int64)
    my = years[mp]
    y0 = int(my.min()) if len(my) else 0
    yrows, yinv = _groups((ms, nf), (my - y0, int(my.max()) - y0 + 1 if len(my) else 1))
    yqty = _sums(yinv, len(yrows), mq)
    # distinct periods per (supplier, year): the (supplier, period) groups of each
    pyear = _groups((ms[rows], nf), (my[rows] - y0, int(my.max()) - y0 + 1 if len(my) else 1))[1]
    nper = np.bincount(pyear, minlength=len(yrows))
    found = []
    for g in np.flatnonzero(nper > 1):
        s, yr = int(ms[yrows[g]]), int(my[yrows[g]])
        c = fac.cap[s]
        if math.isnan(c):
            continue
        act = int(fac.overlap(np.array([s]), np.array([yr * 12.0]), np.array([yr * 12.0 + 11]))[0])
        lim = c * act / 12
        if yqty[g] > lim * (1 + CAPACITY_TOLERANCE):
            found.append(
                (
                    (str(ids[s]), str(yr)),
                    Finding(
                        "error",
                        "capacity",
                        str(ids[s]),
                        f"ships {_fmt(yqty[g])} in {yr} over its periods, more than its "
                        f"capacity for the year ({_fmt(lim)})",
                    ),
                )
            )
    out += [x for _, x in sorted(found, key=lambda t: t[0])]

    # 3. recipe -------------------------------------------------------------------------
    shipped_at = dict(
        zip(zip(sup.tolist(), per.tolist(), strict=True), shipped.tolist(), strict=True)
    )
    out += _check_recipes(
        fac, ci, pc, mc, qty, periods, mats, months, shipped_at, boms, materials, tolerance
    )
    return out


def _recipes(
    boms: pd.DataFrame, materials: pd.DataFrame
) -> dict[tuple[str | None, str], dict[str, float]]:
    """(facility or None, output) -> {input: quantity in the materials' own units}."""
    mu = dict(zip(materials["id"].astype(str), materials["unit"].astype(str), strict=True))
    rec: dict[tuple[str | None, str], dict[str, float]] = {}
    for r in boms.itertuples(index=False):
        q = float(r.quantity)
        if not _blank(r.unit):
            num, den = units.split_ratio(str(r.unit))
            fi, fo = _factor(num, mu.get(str(r.input))), _factor(den, mu.get(str(r.output)))
            if fi is None or fo is None:
                continue
            q = q * fi / fo
        key = (None if _blank(r.facility) else str(r.facility), str(r.output))
        rec.setdefault(key, {})[str(r.input)] = q
    return rec


def _check_recipes(
    fac: _Plants,
    ci: np.ndarray,
    pc: np.ndarray,
    mc: np.ndarray,
    qty: np.ndarray,
    periods: np.ndarray,
    mats: np.ndarray,
    months: np.ndarray,
    shipped: dict[tuple[int, int], float],
    boms: pd.DataFrame,
    materials: pd.DataFrame,
    tol: float,
) -> list[Finding]:
    rec = _recipes(boms, materials)
    ids = fac.ids.to_numpy()
    rows, inv = _groups((ci, len(ids)), (pc, len(periods)), (mc, len(mats)))
    received = _sums(inv, len(rows), qty)
    cus, per, mat = ci[rows], pc[rows], mc[rows]
    main = fac.material[cus]
    # the quantity of each input per unit of output: the plant's own recipe, else the general
    mat_ix = {str(m): i for i, m in enumerate(mats)}
    outputs = sorted({o for _, o in rec})
    out_ix = {o: i for i, o in enumerate(outputs)}
    general = np.full((len(outputs) + 1, len(mats)), math.nan)
    for (where, o), inputs in rec.items():
        if where is None:
            for i, q in inputs.items():
                if i in mat_ix:
                    general[out_ix[o], mat_ix[i]] = q
    oc = np.array([out_ix.get(m, len(outputs)) if m is not None else len(outputs) for m in main])
    k = general[oc, mat] if len(rows) else np.zeros(0)
    own = {(where, o) for where, o in rec if where is not None}
    if own:
        for g in np.flatnonzero([(str(ids[c]), m) in own for c, m in zip(cus, main, strict=True)]):
            recipe = rec[(str(ids[cus[g]]), str(main[g]))]
            k[g] = recipe.get(str(mats[mat[g]]), math.nan)
    active = fac.overlap(cus, months[per, 0], months[per, 1])
    most = k * fac.cap[cus] * active / 12
    s = np.array([shipped.get((int(c), int(p)), 0.0) for c, p in zip(cus, per, strict=True)])
    with np.errstate(invalid="ignore"):
        known = ~np.isnan(k) & (active > 0)
        too_much = known & (received > most * (1 + tol))
        too_little = known & (s > 0) & (received < k * s * (1 - tol))
    found = []
    for g in np.flatnonzero(too_much | too_little):
        c, p, m = str(ids[cus[g]]), str(periods[per[g]]), str(mats[mat[g]])
        q = received[g]
        if too_much[g]:
            found.append(
                (
                    (c, p, m, 0),
                    Finding(
                        "error",
                        "recipe",
                        c,
                        f"receives {_fmt(q)} {m} in {p}, more than its capacity can use "
                        f"({_fmt(most[g])} = {_fmt(k[g])} per unit x capacity for the period)",
                    ),
                )
            )
        if too_little[g]:
            found.append(
                (
                    (c, p, m, 1),
                    Finding(
                        "warning",
                        "recipe",
                        c,
                        f"receives {_fmt(q)} {m} in {p}, less than its recorded output needs "
                        f"({_fmt(k[g] * s[g])} = {_fmt(k[g])} per unit x {_fmt(s[g])} "
                        f"{main[g]} shipped)",
                    ),
                )
            )
    return [x for _, x in sorted(found, key=lambda t: t[0])]
