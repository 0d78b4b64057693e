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

import pandas as pd

from onshore.errors import UnitError
from onshore.records import units

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
    fac = {
        (u, m): (_factor(u, mu[m]) if m in mu else None)
        for u, m in zip(pairs["unit"], pairs["material"], strict=True)
    }
    f["qty"] = f["quantity"].astype(float) * [
        fac[(u, m)] if fac[(u, m)] is not None else math.nan
        for u, m in zip(f["unit"], f["material"], strict=True)
    ]
    return f


def _facility_table(facilities: pd.DataFrame, materials: pd.DataFrame) -> pd.DataFrame:
    """Per facility: material, producing window and yearly capacity in the material's unit."""
    mu = dict(zip(materials["id"].astype(str), materials["unit"].astype(str), strict=True))
    rows = []
    for r in facilities.itertuples(index=False):
        mat = None if _blank(r.material) else str(r.material)
        cap = None
        if mat is not None and not _blank(r.capacity) and mat in mu:
            f = _factor(r.unit, mu[mat])
            cap = None if f is None else float(r.capacity) * f
        rows.append(
            {
                "id": str(r.id),
                "material": mat,
                "status": "operating" if _blank(r.status) else str(r.status),
                "window": producing_months(r.status, r.since, r.until),
                "cap": cap,
            }
        )
    return pd.DataFrame(rows, columns=["id", "material", "status", "window", "cap"]).set_index("id")


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
    f = f[f["supplier"].isin(fac.index) & f["customer"].isin(fac.index)]
    months = {p: period_months(p) for p in f["period"].unique()}
    f["first"] = f["period"].map(lambda p: months[p][0])
    f["last"] = f["period"].map(lambda p: months[p][1])
    f["year"] = f["period"].str[:4]

    # 2. producing --------------------------------------------------------------------
    win = fac["window"].to_dict()
    status = fac["status"].to_dict()
    for (sup, per), _g in f.groupby(["supplier", "period"], sort=True):
        a, b = months[per]
        if _overlap(win[sup], a, b) == 0:
            out.append(
                Finding(
                    "error",
                    "producing",
                    sup,
                    f"ships in {per} but was not producing then "
                    f"({_describe(status[sup], win[sup])})",
                )
            )
    for (cus, per), _g in f.groupby(["customer", "period"], sort=True):
        a, b = months[per]
        if _overlap(win[cus], a, b) == 0:
            out.append(
                Finding(
                    "warning",
                    "producing",
                    cus,
                    f"receives in {per} but was not producing then "
                    f"({_describe(status[cus], win[cus])})",
                )
            )

    # 1. capacity -----------------------------------------------------------------------
    main = f[f["material"].to_numpy() == fac["material"].reindex(f["supplier"]).to_numpy()]
    cap = fac["cap"].to_dict()
    shipped = main.groupby(["supplier", "period"], sort=True)["qty"].sum()
    for (sup, per), q in shipped.items():
        c = cap.get(sup)
        if c is None or math.isnan(q):
            continue
        a, b = months[per]
        active = _overlap(win[sup], a, b)
        limit = c * active / 12
        if active and q > limit * (1 + CAPACITY_TOLERANCE):
            out.append(
                Finding(
                    "error",
                    "capacity",
                    sup,
                    f"ships {_fmt(q)} {fac.at[sup, 'material']} in {per}, more than its capacity "
                    f"for the period ({_fmt(limit)}: {_fmt(c)} a year x {active}/12 months)",
                )
            )
    per_year = main.groupby(["supplier", "year"], sort=True).agg(
        qty=("qty", "sum"), periods=("period", "nunique")
    )
    for (sup, yr), r in per_year[per_year["periods"] > 1].iterrows():
        c = cap.get(sup)
        if c is None:
            continue
        y = int(yr) * 12
        active = _overlap(win[sup], y, y + 11)
        limit = c * active / 12
        if r["qty"] > limit * (1 + CAPACITY_TOLERANCE):
            out.append(
                Finding(
                    "error",
                    "capacity",
                    sup,
                    f"ships {_fmt(r['qty'])} in {yr} over its periods, more than its capacity "
                    f"for the year ({_fmt(limit)})",
                )
            )

    # 3. recipe -------------------------------------------------------------------------
    out += _check_recipes(fac, f, boms, materials, months, tolerance)
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
    fac: pd.DataFrame,
    f: pd.DataFrame,
    boms: pd.DataFrame,
    materials: pd.DataFrame,
    months: dict[str, tuple[int, int]],
    tol: float,
) -> list[Finding]:
    out: list[Finding] = []
    rec = _recipes(boms, materials)
    main_mat = fac["material"].to_dict()
    is_main = f["material"].to_numpy() == fac["material"].reindex(f["supplier"]).to_numpy()
    shipped = f[is_main].groupby(["supplier", "period"])["qty"].sum().to_dict()
    received = f.groupby(["customer", "period", "material"])["qty"].sum()
    cap = fac["cap"].to_dict()
    win = fac["window"].to_dict()
    for (cus, per, mat), q in received.items():
        m = main_mat.get(cus)
        if m is None or math.isnan(q):
            continue
        recipe = rec.get((cus, m)) or rec.get((None, m)) or {}
        if mat not in recipe:
            continue
        k = recipe[mat]
        a, b = months[per]
        active = _overlap(win[cus], a, b)
        if active == 0:
            continue  # reported by the producing check
        c = cap.get(cus)
        if c is not None:
            most = k * c * active / 12
            if q > most * (1 + tol):
                out.append(
                    Finding(
                        "error",
                        "recipe",
                        cus,
                        f"receives {_fmt(q)} {mat} in {per}, more than its capacity can use "
                        f"({_fmt(most)} = {_fmt(k)} per unit x capacity for the period)",
                    )
                )
        s = shipped.get((cus, per), 0.0)
        if s > 0 and q < k * s * (1 - tol):
            out.append(
                Finding(
                    "warning",
                    "recipe",
                    cus,
                    f"receives {_fmt(q)} {mat} in {per}, less than its recorded output needs "
                    f"({_fmt(k * s)} = {_fmt(k)} per unit x {_fmt(s)} {m} shipped)",
                )
            )
    return out
