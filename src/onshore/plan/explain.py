"""The plan in words: what binds it and why demand goes unmet.

Read from the solution values (not duals, which a MILP does not have): plants at full
capacity, sites built out, plants a rule keeps from a segment (and from which date), unmet
demand with its causes (rules, lead times, ramp-up, full capacity), binding content floors.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pandas as pd

from onshore.plan.eligibility import RuleAware, _slices
from onshore.plan.model import PlanData, first_online

if TYPE_CHECKING:
    from onshore.plan.solve import PlanResult

TOL = 1e-6


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.3g}"


def _why_not(data: PlanData, plant: str, product: str, segment: str, year: int) -> str:
    """Why a plant may not (fully) serve a segment in a period, naming rules and dates."""
    elig = data.eligibility
    pf = next(p for p in data.plants if p.id == plant)
    sf = next(s for s in data.segments if s.id == segment)
    dates = elig.dates() if isinstance(elig, RuleAware) else []
    for start, _ in _slices(year, dates):
        ans = elig(pf, product, sf, start)
        if ans is not True:
            rules = elig.prohibiting(pf, product, sf, start) if isinstance(elig, RuleAware) else []
            what = (
                f"prohibited by {', '.join(rules)}"
                if rules
                else (_undecided(elig, pf, product, sf, start) if ans is None else "not eligible")
            )
            since = f" from {start.isoformat()}" if start > dt.date(year, 1, 1) else ""
            return f"{plant} ({pf.country}) is {what} for buyer {sf.buyer}{since}"
    return f"{plant} is not eligible"


def explain_unmet(
    data: PlanData, unmet: pd.DataFrame, used: pd.DataFrame | None = None
) -> list[str]:
    """Say which demand is not met and why: rules, lead times, ramp-up, full capacity.

    Parameters
    ----------
    data : PlanData
    unmet : DataFrame
        Rows ``product, segment, period, quantity`` of unmet demand (as
        :attr:`PlanResult.unmet`).
    used : DataFrame, optional
        The capacity table of the solution (``plant, period, utilisation``), to name plants
        at full capacity.

    Returns
    -------
    list of str
        One sentence per unmet row: the segment, the quantity (in the product's units), the
        period and the reasons.
    """
    out = []
    d = data
    for r in unmet.itertuples(index=False):
        k, sg, y, q = str(r.product), str(r.segment), int(r.period), float(r.quantity)
        why: list[str] = []
        makers = [p.id for p in d.plants if bool(d.makes.sel(plant=p.id, product=k))]
        share = d.share.sel(product=k, segment=sg, period=y)
        blocked = [p for p in makers if float(share.sel(plant=p)) < 1 and _has_capacity(d, p)]
        for p in blocked:
            why.append(_why_not(d, p, k, sg, y))
        eligible = [p for p in makers if float(share.sel(plant=p)) > 0]
        existing = [p for p in eligible if float(d.capacity0.sel(plant=p, period=y)) > 0]
        sites = [p for p in eligible if float(d.max_modules.sel(plant=p)) > 0]
        late = []
        for p in sites:
            first = first_online(d, p)
            if first is None or first > y:
                c = next(c for cid, c in d.scenario.candidates.items() if (c.expands or cid) == p)
                late.append(
                    f"{p} cannot deliver before {first or 'the horizon end'} "
                    f"(lead time {c.lead_time} period(s))"
                )
        if not existing and len(late) == len(sites):
            head = f"no compliant capacity for {sg} in {y}" + (
                f" before {min(first_online(d, p) or 9999 for p in sites)} because of lead time"
                if sites
                else ""
            )
            why.insert(0, head)
        why += late
        late_ids = {s.split()[0] for s in late}
        candidates = dict.fromkeys(existing + [p for p in sites if p not in late_ids])
        full = [p for p in candidates if used is not None and _full(used, p, y)]
        if full:
            why.append(f"eligible capacity at {', '.join(full)} is fully used in {y}")
        if not why:
            why.append("the unmet-demand penalty is cheaper than serving it")
        out.append(f"{sg}: {_fmt(q)} {k} not met in {y}: " + "; ".join(why))
    return out


def _has_capacity(d: PlanData, p: str) -> bool:
    return bool((d.capacity0.sel(plant=p) > 0).any() or float(d.max_modules.sel(plant=p)) > 0)


def _full(capacity: pd.DataFrame, plant: str, year: int) -> bool:
    row = capacity[(capacity["plant"] == plant) & (capacity["period"] == year)]
    return bool(len(row) and row["utilisation"].iloc[0] >= 1 - 1e-4)


def explain_binding(res: PlanResult) -> list[str]:
    """The constraints that shape the plan, in words.

    Parameters
    ----------
    res : PlanResult
        A solved plan with its data.

    Returns
    -------
    list of str
        Plants at full capacity, sites built out, plants a rule limits or excludes from a
        segment (and from which date), unmet demand with its penalty, binding content floors.
    """
    d = res.data
    assert d is not None
    out = []
    full = res.capacity[(res.capacity["available"] > 0) & (res.capacity["utilisation"] >= 1 - 1e-4)]
    for (p, ctry), g in full.groupby(["plant", "country"], sort=False):
        ramping = g[g["ramping"] > TOL]["period"].tolist()
        extra = f"; new lines still ramping up in {_years(ramping)}" if ramping else ""
        lo, hi = g["available"].min(), g["available"].max()
        size = _fmt(lo) if lo == hi else f"{_fmt(lo)} to {_fmt(hi)}"
        out.append(
            f"{p} ({ctry}) runs at full capacity in {_years(g['period'].tolist())} "
            f"({size} gross units){extra}"
        )
    if len(res.builds):
        tot = res.builds.groupby("plant")["modules"].sum()
        for p, n in tot.items():
            if n >= float(d.max_modules.sel(plant=p)):
                out.append(f"{p} is built out to its maximum of {int(n)} module(s)")
    x = res.production.set_index(["plant", "product", "segment", "period"])["quantity"]
    excluded: dict[tuple[str, str], list[int]] = {}
    for (k, sg, y), dem in d.demand.to_series().items():
        if dem <= 0:
            continue
        share = d.share.sel(product=k, segment=sg, period=y).to_series()
        for p, f in share.items():
            if not bool(d.makes.sel(plant=p, product=k)) or f >= 1 or not _has_capacity(d, str(p)):
                continue
            why = _why_not(d, str(p), k, sg, y)
            if f == 0:
                excluded.setdefault((why, f"{sg}"), []).append(int(y))
                continue
            used = float(x.get((p, k, sg, y), 0.0))
            tail = (
                ", and does"
                if used >= f * dem - 1e-6 * max(dem, 1)
                else f" (it delivers {used / dem:.1%})"
            )
            out.append(f"{why}: it may serve at most {f:.1%} of {sg} {k} demand in {y}{tail}")
    for (why, sg), years in excluded.items():
        out.append(f"{why}: it cannot serve {sg} in {_years(years)}")
    for r in res.unmet.itertuples(index=False):
        out.append(
            f"{_fmt(r.quantity)} {r.product} for {r.segment} not met in {r.period} "
            f"(penalty {_fmt(r.penalty)} per unit)"
        )
    for f in d.scenario.content_floors:
        seg = res.production[res.production["segment"].isin(f.segments)]
        for y, g in seg.groupby("period"):
            if y < (f.from_period or d.periods[0]) or g["quantity"].sum() <= 0:
                continue
            inside = g[g["country"].isin(f.countries)]["quantity"].sum() / g["quantity"].sum()
            if inside <= f.share + 1e-6:
                out.append(
                    f"content floor {f.id} binds in {y}: {inside:.1%} from "
                    f"{', '.join(f.countries)} (floor {f.share:.0%})"
                )
    return out


def _years(years: list[int]) -> str:
    """2026, 2027, 2028, 2030 -> '2026-2028, 2030'."""
    ys = sorted({int(y) for y in years})
    runs: list[list[int]] = []
    for y in ys:
        if runs and y == runs[-1][-1] + 1:
            runs[-1].append(y)
        else:
            runs.append([y])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def _undecided(elig: object, pf: object, product: str, sf: object, on: dt.date) -> str:
    """'not decided by the rules (unknown: R1: what would settle it; ...)'."""
    rules: list[str] = getattr(elig, "undecided", lambda *a: [])(pf, product, sf, on)
    return "not decided by the rules (unknown" + (f": {'; '.join(rules)})" if rules else ")")
