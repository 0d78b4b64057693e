"""Solve a plan with HiGHS, read the solution as tidy tables, and explain it in words.

- :func:`solve_model`: HiGHS through linopy, relative MIP gap 1e-4 by default;
- :func:`results`: production, builds, capacity, unmet demand and costs as DataFrames;
- :func:`rule_costs`: the cost of each rule, the difference of two solves (with, without);
- :func:`explain_binding` / :func:`explain_unmet`: what limits the plan, in words;
- :func:`solve_plan`: all of it; an infeasible plan raises :class:`InfeasiblePlan` with the
  demand that cannot be met and why.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import linopy
import numpy as np
import pandas as pd

from onshore.errors import InfeasiblePlan
from onshore.plan.eligibility import RuleAware, allow_all
from onshore.plan.explain import _fmt, explain_binding, explain_unmet
from onshore.plan.model import PlanData, annuity, build_model

if TYPE_CHECKING:
    import xarray as xr

TOL = 1e-6
Progress = Callable[[str], None]


@dataclass
class PlanResult:
    """A solved plan: objective, tidy tables, rule costs and explanations."""

    name: str
    currency: str
    status: str
    objective: float
    production: pd.DataFrame
    builds: pd.DataFrame
    capacity: pd.DataFrame
    unmet: pd.DataFrame
    costs: pd.DataFrame
    rule_costs: pd.DataFrame = field(default_factory=pd.DataFrame)
    binding: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: PlanData | None = field(default=None, repr=False)
    model: linopy.Model | None = field(default=None, repr=False)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The result tables by name.

        Returns
        -------
        dict of str to DataFrame
            ``production``, ``builds``, ``capacity``, ``unmet``, ``costs``, ``rule_costs``.
        """
        return {
            "production": self.production,
            "builds": self.builds,
            "capacity": self.capacity,
            "unmet": self.unmet,
            "costs": self.costs,
            "rule_costs": self.rule_costs,
        }

    def summary(self) -> dict[str, object]:
        """The headline numbers, for a table or JSON.

        Returns
        -------
        dict
            ``scenario``, ``status``, ``objective`` (discounted, in ``currency``, 2 decimals),
            ``currency``, ``cost_<component>`` (discounted sums), ``modules_built`` and
            ``unmet_units`` (in the products' units).
        """
        by = (
            self.costs.groupby("component")["discounted"].sum()
            if len(self.costs)
            else pd.Series(dtype=float)
        )
        return {
            "scenario": self.name,
            "status": self.status,
            "objective": round(self.objective, 2),
            "currency": self.currency,
            **{f"cost_{k}": round(float(v), 2) for k, v in by.items()},
            "modules_built": int(self.builds["modules"].sum()) if len(self.builds) else 0,
            "unmet_units": float(self.unmet["quantity"].sum()) if len(self.unmet) else 0.0,
        }


def write_tables(res: PlanResult, out_dir: str | Path, parquet: bool = True) -> list[Path]:
    """Write every table as CSV (and Parquet) plus ``summary.json`` (headline, binding, notes).

    Parameters
    ----------
    res : PlanResult
    out_dir : str or Path
        Created when missing; existing files are overwritten.
    parquet : bool
        Also write each table as Parquet.

    Returns
    -------
    list of Path
        The files written, ``summary.json`` last.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, df in res.tables().items():
        paths.append(out / f"{name}.csv")
        df.to_csv(paths[-1], index=False)
        if parquet:
            paths.append(out / f"{name}.parquet")
            df.to_parquet(paths[-1], index=False)
    doc = {**res.summary(), "binding": res.binding, "notes": res.notes}
    paths.append(out / "summary.json")
    paths[-1].write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
    return paths


def solve_model(m: linopy.Model, mip_gap: float = 1e-4, time_limit: float | None = None) -> str:
    """Solve with HiGHS; return the termination condition (``optimal``, ``infeasible``, ...).

    Parameters
    ----------
    m : linopy.Model
    mip_gap : float
        Relative MIP gap (HiGHS ``mip_rel_gap``).
    time_limit : float, optional
        Seconds (HiGHS ``time_limit``); default none.

    Returns
    -------
    str
        linopy's termination condition; the solution is stored on ``m``.
    """
    opts: dict[str, Any] = {"mip_rel_gap": mip_gap, "output_flag": False}  # HiGHS options
    if time_limit is not None:
        opts["time_limit"] = time_limit
    with _quiet():
        _, condition = m.solve(solver_name="highs", progress=False, **opts)
    return str(condition)


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence HiGHS's banner (written by C++ to fd 1) and linopy's solver-status log."""
    log = logging.getLogger("linopy")
    level = log.level
    log.setLevel(logging.ERROR)
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no real stdout (e.g. some embedded runners)
        saved = None
    try:
        if saved is not None:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 1)
        yield
    finally:
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)
        log.setLevel(level)


def _sol(m: linopy.Model, name: str) -> pd.Series:
    s: pd.Series = m.variables[name].solution.fillna(0.0).to_series()
    return s


def results(data: PlanData, m: linopy.Model, status: str = "optimal") -> PlanResult:
    """Read a solved model into tidy tables (quantities in the products' units).

    Parameters
    ----------
    data : PlanData
    m : linopy.Model
        The solved model of ``data``.
    status : str
        The termination condition, kept on the result.

    Returns
    -------
    PlanResult
        ``production`` (good units, gross units and costs per row), ``builds``,
        ``capacity`` (gross units per plant and period), ``unmet``, ``costs`` (per period
        and component, nominal and discounted) and the objective; no rule costs or
        explanations yet.
    """
    d, s = data, data.scenario
    country = {p.id: p.country for p in d.plants}
    x = _sol(m, "production").rename("quantity").reset_index()
    x = x[x["quantity"] > TOL].copy()

    def idx(a: xr.DataArray, cols: list[str]) -> np.ndarray:
        """``a`` read at the (plant, product, ...) of every row of ``x``."""
        out: np.ndarray = a.to_series().reindex(pd.MultiIndex.from_frame(x[cols])).to_numpy()
        return out

    yl = idx(d.yield_, ["plant", "product"])
    x["country"] = x["plant"].map(country)
    x["gross"] = x["quantity"] / yl
    x["production_cost"] = x["quantity"] * idx(d.unit_cost, ["plant", "product"]) / yl
    x["logistics_cost"] = x["quantity"] * idx(d.logistics, ["plant", "segment"])
    x["tariff_cost"] = x["quantity"] * idx(d.tariff, ["plant", "product", "segment", "period"])
    x = x[
        [
            "period",
            "segment",
            "product",
            "plant",
            "country",
            "quantity",
            "gross",
            "production_cost",
            "logistics_cost",
            "tariff_cost",
        ]
    ]
    x = x.sort_values(["period", "segment", "product", "plant"]).reset_index(drop=True)

    b = _sol(m, "build").round().unstack("period").reindex(columns=d.periods, fill_value=0.0)
    cand = {c.expands or cid: c for cid, c in s.candidates.items()}
    rows = []
    for p, series in b.iterrows():
        for t, n in series.items():
            if n > 0.5:
                c = cand[str(p)]
                rows.append(
                    {
                        "plant": p,
                        "period": t,
                        "modules": int(n),
                        "capacity_added": n * c.module_size,
                        "first_output": int(t) + c.lead_time,
                        "capex": n * c.capex_per_module,
                    }
                )
    builds = pd.DataFrame(
        rows, columns=["plant", "period", "modules", "capacity_added", "first_output", "capex"]
    )

    bb = b.reindex(index=d.share.plant.values, fill_value=0.0)
    bv = bb.to_numpy()  # (plant, build_period)
    avail = d.capacity0.values + np.einsum("pb,pbt->pt", bv, d.ramp.values)
    name_plate = d.capacity0.values + np.einsum("pb,pbt->pt", bv, d.online.values)
    ordered = d.capacity0.values + np.cumsum(bv * d.module_size.values[:, None], axis=1)
    used = x.groupby(["plant", "period"])["gross"].sum()
    cap = []
    for i, p in enumerate(d.share.plant.values):
        for t, y in enumerate(d.periods):
            if ordered[i, t] <= 0:
                continue
            u = float(used.get((p, y), 0.0))
            cap.append(
                {
                    "plant": p,
                    "country": country[p],
                    "period": y,
                    "existing": float(d.capacity0.values[i, t]),
                    "nameplate": name_plate[i, t],
                    "available": avail[i, t],
                    "ramping": name_plate[i, t] - avail[i, t],
                    "under_construction": ordered[i, t] - name_plate[i, t],
                    "used": u,
                    "utilisation": u / avail[i, t] if avail[i, t] > 0 else 0.0,
                }
            )
    capacity = pd.DataFrame(cap)

    un = (
        _sol(m, "unmet").rename("quantity").reset_index()
        if "unmet" in m.variables
        else pd.DataFrame()
    )
    if len(un):
        un = un[un["quantity"] > TOL].copy()
        un["penalty"] = un["segment"].map(d.penalty.to_series())
    unmet = (
        un.reset_index(drop=True)
        if len(un)
        else pd.DataFrame(columns=["product", "segment", "period", "quantity", "penalty"])
    )

    costs = _costs(d, x, bv, unmet)
    objective = float(m.objective.value) if m.objective.value is not None else float("nan")
    return PlanResult(
        s.name, s.currency, status, objective, x, builds, capacity, unmet, costs, data=d, model=m
    )


def _costs(d: PlanData, x: pd.DataFrame, bv: np.ndarray, unmet: pd.DataFrame) -> pd.DataFrame:
    """Cost by period and component, nominal and discounted (the discounted sum is the
    objective)."""
    s = d.scenario
    ann = np.array(
        [
            (c.capex_per_module * annuity(s.discount_rate, c.lifetime)) if c is not None else 0.0
            for c in (
                {c.expands or k: c for k, c in s.candidates.items()}.get(p)
                for p in d.share.plant.values
            )
        ]
    )
    capex = (np.cumsum(bv, axis=1) * ann[:, None]).sum(axis=0)
    disc = d.discount.to_series()
    rows = []
    for t, y in enumerate(d.periods):
        xt = x[x["period"] == y]
        ut = unmet[unmet["period"] == y] if len(unmet) else unmet
        parts = {
            "production": xt["production_cost"].sum(),
            "logistics": xt["logistics_cost"].sum(),
            "tariffs": xt["tariff_cost"].sum(),
            "capex_annuity": capex[t],
            "unmet_penalty": float((ut["quantity"] * ut["penalty"]).sum()) if len(ut) else 0.0,
        }
        rows += [
            {"period": y, "component": k, "cost": float(v), "discounted": float(v) * disc[y]}
            for k, v in parts.items()
        ]
    return pd.DataFrame(rows)


def _solve(data: PlanData, mip_gap: float, time_limit: float | None) -> tuple[linopy.Model, str]:
    m = build_model(data)
    return m, solve_model(m, mip_gap, time_limit)


def rule_costs(
    data: PlanData, base: PlanResult, mip_gap: float = 1e-4, progress: Progress | None = None
) -> pd.DataFrame:
    """The cost of each rule that restricts the plan: objective with it minus without it.

    Each rule (and each content floor) is dropped alone; ``all rules`` drops every
    eligibility restriction at once. A positive cost is what obeying the rule costs.

    Parameters
    ----------
    data : PlanData
    base : PlanResult
        The solved plan with every rule.
    mip_gap : float
        Relative MIP gap of each re-solve.
    progress : callable, optional
        Called with a message before each re-solve.

    Returns
    -------
    DataFrame
        ``rule, kind (eligibility|content floor), objective_with, objective_without, cost,
        unmet_with, unmet_without``; objectives in the scenario currency (discounted),
        ``objective_without`` NaN when that solve is not optimal.
    """
    cases: list[tuple[str, str, PlanData]] = []
    elig = data.eligibility
    if isinstance(elig, RuleAware):
        for rid in dict.fromkeys(elig.rule_ids()):
            other = data.with_eligibility(elig.without(rid))
            if not np.array_equal(other.share.values, data.share.values):
                cases.append((rid, "eligibility", other))
    if len(cases) != 1 and bool((data.share < 1).where(data.makes).any()):
        cases.append(("all rules", "eligibility", data.with_eligibility(allow_all)))
    for f in data.scenario.content_floors:
        cases.append((f.id, "content floor", data.without_floors({f.id})))
    rows = []
    for rid, kind, other in cases:
        if progress:
            progress(f"solving without {rid}")
        m, status = _solve(other, mip_gap, None)
        value = m.objective.value if status == "optimal" else None
        obj = float(value) if value is not None else float("nan")
        unmet = (
            float(_sol(m, "unmet").sum()) if status == "optimal" and "unmet" in m.variables else 0.0
        )
        rows.append(
            {
                "rule": rid,
                "kind": kind,
                "objective_with": base.objective,
                "objective_without": obj,
                "cost": base.objective - obj,
                "unmet_with": float(base.unmet["quantity"].sum()) if len(base.unmet) else 0.0,
                "unmet_without": unmet,
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "rule",
            "kind",
            "objective_with",
            "objective_without",
            "cost",
            "unmet_with",
            "unmet_without",
        ],
    )


def solve_plan(
    data: PlanData,
    mip_gap: float = 1e-4,
    time_limit: float | None = None,
    with_rule_costs: bool = True,
    progress: Progress | None = None,
) -> PlanResult:
    """Build, solve, read and explain a plan.

    Parameters
    ----------
    data : PlanData
        From :func:`~onshore.plan.model.prepare`.
    mip_gap : float
        Relative MIP gap for HiGHS.
    time_limit : float, optional
        Seconds for the main solve.
    with_rule_costs : bool
        Also solve once without each rule to price it (:func:`rule_costs`).
    progress : callable, optional
        Called with a message at each step.

    Returns
    -------
    PlanResult
        With ``binding`` and, when demand goes unmet, its explanation in ``notes``.

    Raises
    ------
    InfeasiblePlan
        When must-be-met demand cannot be met; the reasons say which demand and why.
    """
    if progress:
        progress("building the model")
    m = build_model(data)
    if progress:
        progress(f"solving ({m.nvars:,} variables, {m.ncons:,} constraints)")
    status = solve_model(m, mip_gap, time_limit)
    if status in ("infeasible", "infeasible_or_unbounded"):
        raise _infeasible(data, mip_gap)
    if status != "optimal":
        raise InfeasiblePlan(
            f"the solver stopped without a plan ({status})", [f"termination condition: {status}"]
        )
    res = results(data, m, status)
    res.binding = explain_binding(res)
    if len(res.unmet):
        res.notes += explain_unmet(data, res.unmet, res.capacity)
    if with_rule_costs:
        res.rule_costs = rule_costs(data, res, mip_gap, progress)
    return res


def _infeasible(data: PlanData, mip_gap: float) -> InfeasiblePlan:
    """Re-solve with every demand soft at a high penalty to find what cannot be met."""
    big = (
        1e3
        * float(np.nanmax([data.unit_cost.max() + data.logistics.max() + data.tariff.max(), 1.0]))
        + 1e6
    )
    relaxed = data.relaxed(big)
    m = build_model(relaxed)
    if solve_model(m, mip_gap) != "optimal":
        return InfeasiblePlan("the plan is infeasible and no relaxation could say why", [])
    res = results(relaxed, m)
    hard = set(data.penalty.to_series()[data.penalty.isnull().values].index)
    un = res.unmet[res.unmet["segment"].isin(hard)]
    reasons = explain_unmet(relaxed, un, res.capacity)
    short = set(un["segment"])
    reasons += [
        f"content floor {f.id} requires {f.share:.0%} of "
        f"{', '.join(sorted(short & set(f.segments)))} from {', '.join(f.countries)}"
        for f in data.scenario.content_floors
        if short & set(f.segments)
    ]
    total = float(un["quantity"].sum())
    return InfeasiblePlan(
        f"demand that must be met cannot be met ({_fmt(total)} units short)", reasons
    )
