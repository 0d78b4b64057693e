"""The planning MILP, built with linopy.

Sets: plants ``p`` (existing plants and candidate sites), products ``k``, segments ``s``,
periods ``t``. Variables:

- ``production[p, k, s, t] >= 0``: good units of ``k`` from ``p`` delivered to ``s`` in ``t``;
- ``build[p, t]`` integer: modules ordered at candidate site ``p`` in period ``t``;
- ``unmet[k, s, t] >= 0``: demand not delivered (only for segments with a penalty).

Constraints:

- demand: :math:`\\sum_p x_{pkst} + u_{kst} = D_{kst}`;
- capacity: :math:`\\sum_{k,s} x_{pkst} / \\eta_{pk} \\le C_{pt}
  + \\sum_{\\tau} m_p\\,r_{p,t-\\tau-L_p}\\,b_{p\\tau}`
  with yield :math:`\\eta`, module size :math:`m`, lead time :math:`L` and ramp-up :math:`r`;
- modules: :math:`\\sum_t b_{pt} \\le B_p`;
- eligibility: for each level :math:`f<1` of the eligible share :math:`e_{pkst}`,
  :math:`\\sum_{p: e_{pkst} \\le f} x_{pkst} \\le f D_{kst}` (exact when the windows in
  which plants may serve are nested, e.g. all end or all start on rule dates);
- content floors: :math:`\\sum_{p \\in A,k} x_{pkst} \\ge \\phi \\sum_{p,k} x_{pkst}`.

Objective: discounted production, logistics and tariff costs, unmet-demand penalties, and
the capex annuity of every module from the period it is ordered to the end of the horizon.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import linopy
import numpy as np
import xarray as xr

from onshore.plan.eligibility import (
    Eligibility,
    PlantFacts,
    SegmentFacts,
    allow_all,
    eligible_share,
    period_tariff,
)
from onshore.plan.scenario import Candidate, Scenario, TariffRate, per_key, per_period

__all__ = ["PlanData", "annuity", "build_model", "prepare"]


def annuity(rate: float, lifetime: int) -> float:
    """Capital recovery factor: the yearly payment that repays 1 over ``lifetime`` years.

    Parameters
    ----------
    rate : float
        The discount rate per year (0.08 = 8 %).
    lifetime : int
        Years of payments.

    Returns
    -------
    float
        ``rate (1 + rate)^n / ((1 + rate)^n - 1)``; ``1 / lifetime`` at rate 0.
    """
    if rate == 0:
        return 1.0 / lifetime
    return rate * (1 + rate) ** lifetime / ((1 + rate) ** lifetime - 1)


@dataclass
class PlanData:
    """Every parameter of the model as labelled arrays, computed once from a scenario."""

    scenario: Scenario
    plants: list[PlantFacts]
    segments: list[SegmentFacts]
    eligibility: Eligibility
    demand: xr.DataArray  # (product, segment, period)
    penalty: xr.DataArray  # (segment,), NaN = must be met
    makes: xr.DataArray  # (plant, product) bool
    yield_: xr.DataArray  # (plant, product)
    unit_cost: xr.DataArray  # (plant, product) per good unit, before yield
    logistics: xr.DataArray  # (plant, segment)
    tariff: xr.DataArray  # (plant, product, segment, period) per good unit
    capacity0: xr.DataArray  # (plant, period) gross units
    share: xr.DataArray  # (plant, product, segment, period) eligible share of the period
    module_size: xr.DataArray  # (plant,)
    max_modules: xr.DataArray  # (plant,)
    buildable: xr.DataArray  # (plant, period) bool
    ramp: xr.DataArray  # (plant, build_period, period): capacity per module ordered
    online: xr.DataArray  # (plant, build_period, period): nameplate per module ordered
    capex_coef: xr.DataArray  # (plant, period): discounted annuities of one module ordered
    discount: xr.DataArray  # (period,)
    notes: list[str] = field(default_factory=list)

    @property
    def periods(self) -> list[int]:
        """The periods (years) of the scenario, in order.

        Returns
        -------
        list of int
        """
        return list(self.scenario.periods)

    def with_eligibility(self, eligibility: Eligibility) -> PlanData:
        """The same data judged by another eligibility (e.g. without one rule).

        Parameters
        ----------
        eligibility : Eligibility

        Returns
        -------
        PlanData
            A copy with ``eligibility`` and the eligible ``share`` recomputed from it.
        """
        share = _share(self.scenario, eligibility, self.plants, self.segments)
        return replace(self, eligibility=eligibility, share=share)

    def without_floors(self, ids: set[str] | None = None) -> PlanData:
        """The same data without the named content floors (all when ``ids`` is None).

        Parameters
        ----------
        ids : set of str, optional
            Ids of the content floors to drop.

        Returns
        -------
        PlanData
            A copy whose scenario keeps only the other floors.
        """
        floors = [f for f in self.scenario.content_floors if ids is not None and f.id not in ids]
        return replace(self, scenario=self.scenario.model_copy(update={"content_floors": floors}))

    def relaxed(self, penalty: float) -> PlanData:
        """Every must-be-met segment gets an unmet penalty (to find what cannot be met).

        Parameters
        ----------
        penalty : float
            The penalty per unit not delivered, in the scenario's currency.

        Returns
        -------
        PlanData
            A copy in which every segment's demand may go unmet.
        """
        return replace(self, penalty=self.penalty.fillna(penalty))


def plant_facts(s: Scenario) -> list[PlantFacts]:
    """The rule-relevant facts of every plant and new site (an expansion shares its plant's).

    Parameters
    ----------
    s : Scenario

    Returns
    -------
    list of PlantFacts
        The scenario's plants, then its candidates that do not expand a plant; the owner
        country defaults to the plant's country.
    """
    out = [
        PlantFacts(
            pid, p.country, p.owner_country or p.country, p.company, p.facility, tuple(p.products)
        )
        for pid, p in s.plants.items()
    ]
    for cid, c in s.candidates.items():
        if c.expands is None:
            out.append(
                PlantFacts(
                    cid,
                    c.country,
                    c.owner_country or c.country,
                    c.company,
                    c.facility,
                    tuple(c.products),
                )
            )
    return out


def _share(
    s: Scenario, elig: Eligibility, plants: list[PlantFacts], segs: list[SegmentFacts]
) -> xr.DataArray:
    return eligible_share(
        elig, plants, list(s.products), [(sf, s.segments[sf.id]) for sf in segs], s.periods
    )


def prepare(
    scenario: Scenario,
    eligibility: Eligibility | None = None,
    tariff_rates: list[TariffRate] | None = None,
) -> PlanData:
    """Turn a scenario into model parameters.

    Parameters
    ----------
    scenario : Scenario
        The checked scenario (plants already resolved from the store, if any).
    eligibility : Eligibility, optional
        Who may serve which segment when; default: everyone, always.
    tariff_rates : list of TariffRate, optional
        Dated tariffs (from the rule files and the scenario); default: the scenario's.

    Returns
    -------
    PlanData
    """
    s = scenario
    elig = eligibility or allow_all
    rates = list(s.tariffs.rates) if tariff_rates is None else tariff_rates
    T, K, S = s.periods, list(s.products), list(s.segments)
    plants = plant_facts(s)
    P = [p.id for p in plants]
    segs = [
        SegmentFacts(sid, seg.buyer, seg.destination, tuple(seg.accept_unknown))
        for sid, seg in s.segments.items()
    ]
    spec = {**s.plants, **{c: v for c, v in s.candidates.items() if v.expands is None}}
    cand: dict[str, Candidate] = {c.expands or cid: c for cid, c in s.candidates.items()}

    def arr(values: object, *dims: str) -> xr.DataArray:
        coords = {"plant": P, "product": K, "segment": S, "period": T, "build_period": T}
        return xr.DataArray(
            np.asarray(values, dtype=float), coords={d: coords[d] for d in dims}, dims=dims
        )

    demand = arr(
        [[per_period(s.segments[sg].demand.get(k, {}), T) for sg in S] for k in K],
        "product",
        "segment",
        "period",
    )
    penalty = arr(
        [
            np.nan if s.segments[sg].unmet_penalty is None else s.segments[sg].unmet_penalty
            for sg in S
        ],
        "segment",
    )
    makes = (
        arr(
            [
                [k in spec[p].products or (p in cand and k in cand[p].products) for k in K]
                for p in P
            ],
            "plant",
            "product",
        )
        > 0
    )
    yld = arr([[per_key(spec[p].yield_, k, 1.0) for k in K] for p in P], "plant", "product")
    ucost = arr([[per_key(spec[p].unit_cost, k, 0.0) for k in K] for p in P], "plant", "product")
    logi = arr([[per_key(spec[p].logistics, sg, 0.0) for sg in S] for p in P], "plant", "segment")
    value = {k: s.products[k].value for k in K}
    tariff = np.zeros((len(P), len(K), len(S), len(T)))
    for i, pf in enumerate(plants):
        for j, k in enumerate(K):
            # customs value: the product's declared value, else the plant's cost per good unit
            declared = value[k]
            v = declared if declared is not None else float(ucost[i, j] / yld[i, j])
            for m, sg in enumerate(segs):
                for t, y in enumerate(T):
                    tariff[i, j, m, t] = v * period_tariff(
                        rates, pf.country, sg.destination, s.products[k].tariff_class, y
                    )
    cap0 = arr([per_period(spec[p].capacity, T) for p in P], "plant", "period")

    disc = arr([(1 + s.discount_rate) ** -(y - T[0]) for y in T], "period")
    msize, mmax = np.zeros(len(P)), np.zeros(len(P))
    buildable = np.zeros((len(P), len(T)), dtype=bool)
    ramp = np.zeros((len(P), len(T), len(T)))
    online = np.zeros_like(ramp)
    capex = np.zeros((len(P), len(T)))
    for i, p in enumerate(P):
        c = cand.get(p)
        if c is None:
            continue
        msize[i], mmax[i] = c.module_size, c.max_modules
        buildable[i] = [c.first_period is None or y >= c.first_period for y in T]
        ann = c.capex_per_module * annuity(s.discount_rate, c.lifetime)
        for b in range(len(T)):
            capex[i, b] = ann * float(disc[b:].sum())
            for t in range(b + c.lead_time, len(T)):
                age = t - b - c.lead_time
                ramp[i, b, t] = c.module_size * c.ramp_up[min(age, len(c.ramp_up) - 1)]
                online[i, b, t] = c.module_size
    data = PlanData(
        scenario=s,
        plants=plants,
        segments=segs,
        eligibility=elig,
        demand=demand,
        penalty=penalty,
        makes=makes,
        yield_=yld,
        unit_cost=ucost,
        logistics=logi,
        tariff=arr(tariff, "plant", "product", "segment", "period"),
        capacity0=cap0,
        share=xr.DataArray(),
        module_size=arr(msize, "plant"),
        max_modules=arr(mmax, "plant"),
        buildable=arr(buildable, "plant", "period") > 0,
        ramp=arr(ramp, "plant", "build_period", "period"),
        online=arr(online, "plant", "build_period", "period"),
        capex_coef=arr(capex, "plant", "period"),
        discount=disc,
    )
    return data.with_eligibility(elig)


def build_model(data: PlanData) -> linopy.Model:
    """Build the linopy model of a prepared plan; see the module docstring for the maths.

    Parameters
    ----------
    data : PlanData
        From :func:`prepare`.

    Returns
    -------
    linopy.Model
        Variables ``production``, ``unmet`` and ``build``, constraints ``demand``,
        ``capacity``, ``modules``, ``eligibility`` and ``floor_<id>``, and the discounted
        cost (scenario currency) as the objective.

    Examples
    --------
    >>> from onshore.plan.scenario import load_scenario, bundled
    >>> m = build_model(prepare(load_scenario(bundled("ses_korea"))))
    >>> sorted(m.variables)
    ['build', 'production', 'unmet']
    """
    m = linopy.Model()
    d = data
    need = d.demand > 0
    # a plant can deliver in a period only if it has, or could have, capacity then
    has_cap = (d.capacity0 > 0) | (
        (d.ramp * d.buildable.rename(period="build_period")).sum("build_period") > 0
    )
    may = d.makes & (d.share > 0) & need & has_cap
    x = m.add_variables(lower=0, coords=may.coords, name="production", mask=may).fillna(0)
    soft = need & d.penalty.notnull()
    u = m.add_variables(lower=0, coords=need.coords, name="unmet", mask=soft).fillna(0)
    can_build = d.buildable & (d.max_modules > 0)
    b = m.add_variables(
        lower=0,
        upper=d.max_modules.broadcast_like(d.buildable),
        coords=d.buildable.coords,
        name="build",
        integer=True,
        mask=can_build,
    ).fillna(0)

    delivered = x.sum("plant")
    m.add_constraints(delivered + u == d.demand, name="demand", mask=need)

    gross = (x / d.yield_).sum(["product", "segment"])
    built = (b.rename(period="build_period") * d.ramp).sum("build_period")
    m.add_constraints(
        gross - built <= d.capacity0, name="capacity", mask=may.any(["product", "segment"])
    )
    m.add_constraints(b.sum("period") <= d.max_modules, name="modules", mask=d.max_modules > 0)

    levels = np.unique(d.share.where(may).values)
    levels = levels[(levels > 0) & (levels < 1) & ~np.isnan(levels)]
    if len(levels):
        lv = xr.DataArray(levels, coords={"level": np.arange(len(levels))}, dims="level")
        member = may & (d.share <= lv)
        lhs = (x * member).sum("plant")
        m.add_constraints(lhs <= lv * d.demand, name="eligibility", mask=member.any("plant"))

    T = xr.DataArray(d.periods, coords={"period": d.periods}, dims="period")
    for f in d.scenario.content_floors:
        inside = xr.DataArray(
            [pf.country in f.countries for pf in d.plants],
            coords={"plant": d.share.plant},
            dims="plant",
        )
        segs = xr.DataArray(
            [sg in f.segments for sg in d.share.segment.values],
            coords={"segment": d.share.segment},
            dims="segment",
        )
        active = T >= (f.from_period or d.periods[0])
        xs = x * segs
        lhs = (xs * inside).sum(["plant", "product", "segment"]) - f.share * xs.sum(
            ["plant", "product", "segment"]
        )
        m.add_constraints(lhs >= 0, name=f"floor_{f.id}", mask=active)

    unit = d.unit_cost / d.yield_ + d.logistics + d.tariff
    cost = (
        (x * unit * d.discount).sum()
        + (u * d.penalty.fillna(0) * d.discount).sum()
        + (b * d.capex_coef).sum()
    )
    m.add_objective(cost)
    return m


def first_online(data: PlanData, plant: str) -> int | None:
    """The first period in which a module at a candidate site can deliver anything.

    Parameters
    ----------
    data : PlanData
    plant : str
        A plant or candidate-site id.

    Returns
    -------
    int or None
        The first period (year) in which a module ordered in a buildable period gives
        capacity; None when none can within the horizon (or the plant cannot build).
    """
    r = data.ramp.sel(plant=plant) * data.buildable.sel(plant=plant).rename(period="build_period")
    live = (r.sum("build_period") > 0).values
    return data.periods[int(np.argmax(live))] if live.any() else None
