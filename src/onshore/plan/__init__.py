"""What to build where, and when: the least-cost multi-year onshoring plan.

One call does the common thing::

    from onshore.plan import plan
    result = plan("scenario.yaml")          # or a Scenario, with an optional Network
    result.summary(); result.production; result.rule_costs; result.binding

The steps stay available for experts (as PyPSA's create_model / solve_model)::

    scenario = load_scenario(path)
    data = prepare(scenario, eligibility_for(scenario, network), tariff_rates_for(scenario))
    m = build_model(data)                   # a linopy.Model: add constraints here
    status = solve_model(m, mip_gap=1e-4)
    res = results(data, m, status)

Eligibility (who may serve which segment when) comes from the rules engine's verdicts on
each plant's product (:class:`EngineRules`) and/or the rules stated in the scenario
(:class:`ScenarioRules`); see :mod:`onshore.plan.eligibility`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from onshore.plan.eligibility import (
    Combined,
    Eligibility,
    EngineRules,
    PlantFacts,
    RuleAware,
    ScenarioRules,
    SegmentFacts,
    allow_all,
)
from onshore.plan.model import PlanData, build_model, prepare
from onshore.plan.scenario import (
    Scenario,
    TariffRate,
    bundled,
    load_scenario,
    parse_scenario,
    resolve_from_store,
)
from onshore.plan.solve import PlanResult, Progress, results, rule_costs, solve_model, solve_plan

__all__ = [
    "Combined",
    "Eligibility",
    "EngineRules",
    "PlanData",
    "PlanResult",
    "PlantFacts",
    "RuleAware",
    "Scenario",
    "ScenarioRules",
    "SegmentFacts",
    "allow_all",
    "build_model",
    "bundled",
    "eligibility_for",
    "load_scenario",
    "parse_scenario",
    "plan",
    "prepare",
    "results",
    "rule_costs",
    "solve_model",
    "solve_plan",
    "tariff_rates_for",
]


def eligibility_for(
    scenario: Scenario, network: Any | None = None
) -> tuple[Eligibility, list[str]]:
    """The eligibility a scenario asks for, and notes on where it came from.

    ``eligibility: auto`` (default) uses the rules engine (:mod:`onshore.compliance`)
    together with any rules stated in the scenario; ``engine`` the engine alone;
    ``scenario`` uses the scenario's rules only; ``none`` allows everything.

    Parameters
    ----------
    scenario : Scenario
    network : Network, optional
        The network the engine judges plants against (hypothetical plants added).

    Returns
    -------
    tuple of (Eligibility, list of str)
        The eligibility (:func:`allow_all`, :class:`EngineRules`, :class:`ScenarioRules` or
        their :class:`Combined`) and one note per source used.
    """
    from onshore.plan import engine_adapter

    notes: list[str] = []
    local = ScenarioRules(tuple(scenario.rules)) if scenario.rules else None
    mode = scenario.eligibility
    if mode == "none":
        return allow_all, ["eligibility: no rules applied (eligibility: none)"]
    engine: Eligibility | None = None
    if mode in ("auto", "engine"):
        from onshore.plan.model import plant_facts

        engine = EngineRules(engine_adapter.with_plants(network, plant_facts(scenario)))
        notes.append("eligibility: verdicts of the rules engine (onshore.compliance)")
    if local is not None and mode != "engine":
        notes.append(f"eligibility: {len(scenario.rules)} rule(s) stated in the scenario")
    parts = tuple(p for p in (engine, local if mode != "engine" else None) if p is not None)
    if not parts:
        return allow_all, notes
    return (parts[0] if len(parts) == 1 else Combined(parts)), notes


def tariff_rates_for(scenario: Scenario) -> tuple[list[TariffRate], list[str]]:
    """Dated tariff rates: the rule files' (when ``from_rules``), overridden by the scenario's.

    A scenario rate replaces every rule-file rate with the same origin, destination and class.

    Parameters
    ----------
    scenario : Scenario

    Returns
    -------
    tuple of (list of TariffRate, list of str)
        The rule-file rates kept, then the scenario's; and a note on how many came from
        each.
    """
    from onshore.plan import engine_adapter

    own = list(scenario.tariffs.rates)
    if not scenario.tariffs.from_rules:
        return own, [f"tariffs: {len(own)} rate(s) from the scenario"]
    ruled = engine_adapter.tariff_rates()
    keys = {(r.origin, r.destination, r.tariff_class) for r in own}
    kept = [r for r in ruled if (r.origin, r.destination, r.tariff_class) not in keys]
    return kept + own, [
        f"tariffs: {len(kept)} rate(s) from the rule files, {len(own)} from the scenario"
    ]


def plan(
    scenario: Scenario | str | Path,
    network: Any | None = None,
    *,
    eligibility: Eligibility | None = None,
    mip_gap: float = 1e-4,
    time_limit: float | None = None,
    with_rule_costs: bool = True,
    progress: Progress | None = None,
) -> PlanResult:
    """Solve a scenario: the least-cost plan, the cost of each rule, and why.

    Parameters
    ----------
    scenario : Scenario or path
        A checked scenario or the path of a scenario YAML file.
    network : Network, optional
        The supply network: plants named by ``facility`` are read from it, and the rules
        engine judges plants against it.
    eligibility : Eligibility, optional
        Overrides the scenario's choice (see :func:`eligibility_for`).
    mip_gap : float
        Relative MIP gap for HiGHS (default 1e-4).
    with_rule_costs : bool
        Also solve once without each rule to price it.

    Returns
    -------
    PlanResult

    Raises
    ------
    ScenarioError
        A scenario that does not fit the schema (the message names the key path).
    InfeasiblePlan
        Demand that must be met cannot be; the reasons say which and why.
    """
    s = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    s = resolve_from_store(s, network)
    notes: list[str] = []
    if eligibility is None:
        eligibility, notes = eligibility_for(s, network)
    rates, tnotes = tariff_rates_for(s)
    if progress:
        progress("judging plants against the rules")
    data = prepare(s, eligibility, rates)
    res = solve_plan(data, mip_gap, time_limit, with_rule_costs, progress)
    res.notes = notes + tnotes + res.notes
    return res
