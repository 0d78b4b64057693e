"""Solving plans: hand-known optimum, rule costs as the difference of two solves,
infeasibility explained in words, the engine seam, and the bundled demo."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from onshore.errors import InfeasiblePlan
from onshore.plan import EngineRules, ScenarioRules, allow_all, parse_scenario, plan
from onshore.plan.eligibility import PlantFacts, SegmentFacts

BASE: dict[str, Any] = {
    "name": "two plants",
    "periods": [2026, 2027, 2028],
    "discount_rate": 0.0,
    "eligibility": "scenario",
    "products": {"cell": {}},
    "segments": {
        "dod": {
            "buyer": "dod",
            "product": "cell",
            "demand": {2026: 100, 2027: 100, 2028: 100},
            "unmet_penalty": 1000,
        },
        "com": {"product": "cell", "demand": {2026: 50, 2027: 50, 2028: 50}, "unmet_penalty": 1000},
    },
    "plants": {
        "cn": {"country": "CN", "products": ["cell"], "capacity": 1000, "unit_cost": 10},
        "kr": {"country": "KR", "products": ["cell"], "capacity": 60, "unit_cost": 15},
    },
    "candidates": {
        "kr2": {
            "country": "KR",
            "products": ["cell"],
            "unit_cost": 12,
            "capex_per_module": 100,
            "module_size": 50,
            "lead_time": 1,
            "ramp_up": [0.5, 1.0],
            "max_modules": 3,
            "lifetime": 1,
        }
    },
    "rules": [
        {
            "id": "R",
            "buyers": ["dod"],
            "effective_from": "2027-10-01",
            "prohibit": {"countries": ["CN"]},
        }
    ],
}


def scenario(**changes: Any) -> Any:
    s = copy.deepcopy(BASE)
    s.update(changes)
    return parse_scenario(s)


# Hand solution: 2026 all from cn (150 x 10). 2027: cn may serve 273/365 of dod; one kr2 module
# ordered in 2026 gives 25 (ramp 0.5) at 12, kr the last 0.205 at 15. 2028: kr2 50 at 12,
# kr 50 at 15, com from cn. The module costs 100 a year for three years.
CN_2027 = 100 * 273 / 365
HAND = 1500 + (CN_2027 + 50) * 10 + (75 - CN_2027) * 15 + 25 * 12 + 500 + 750 + 600 + 300


def test_hand_known_optimum_and_cost_breakdown() -> None:
    r = plan(scenario())
    assert r.objective == pytest.approx(HAND, rel=1e-6)
    assert r.costs["discounted"].sum() == pytest.approx(r.objective, rel=1e-9)
    assert r.builds[["plant", "period", "modules", "first_output"]].values.tolist() == [
        ["kr2", 2026, 1, 2027]
    ]
    cn = r.production[(r.production.plant == "cn") & (r.production.segment == "dod")]
    assert cn.set_index("period")["quantity"].to_dict() == pytest.approx({2026: 100, 2027: CN_2027})
    assert any("at most 74.8% of dod cell demand in 2027, and does" in b for b in r.binding)
    assert any(
        "kr2 (KR) runs at full capacity in 2027-2028" in b and "ramping up in 2027" in b
        for b in r.binding
    )


def test_rule_cost_equals_the_difference_of_two_solves() -> None:
    with_rule = plan(scenario(), with_rule_costs=True)
    without = plan(scenario(), eligibility=allow_all, with_rule_costs=False)
    assert without.objective == pytest.approx(450 * 10)
    row = with_rule.rule_costs.set_index("rule").loc["R"]
    assert row["cost"] == pytest.approx(with_rule.objective - without.objective, rel=1e-9)
    assert row["cost"] == pytest.approx(HAND - 4500, rel=1e-6)


def test_each_rule_is_priced_alone() -> None:
    rules = copy.deepcopy(BASE["rules"]) + [
        {
            "id": "KR-ban",
            "buyers": ["dod"],
            "effective_from": "2028-01-01",
            "prohibit": {"plants": ["kr"]},
        }
    ]
    r = plan(scenario(rules=rules))
    costs = r.rule_costs.set_index("rule")["cost"]
    assert set(costs.index) == {"R", "KR-ban", "all rules"}
    only_r = plan(scenario(), with_rule_costs=False).objective
    assert costs["KR-ban"] == pytest.approx(r.objective - only_r, rel=1e-9)
    assert costs["all rules"] == pytest.approx(r.objective - 4500, rel=1e-9)


def test_infeasible_plan_says_which_demand_and_why() -> None:
    s = copy.deepcopy(BASE)
    s["segments"]["dod"]["unmet_penalty"] = None
    s["rules"][0]["effective_from"] = "2027-01-01"
    s["plants"].pop("kr")
    s["candidates"]["kr2"]["lead_time"] = 2
    with pytest.raises(InfeasiblePlan) as e:
        plan(parse_scenario(s))
    text = " ".join(e.value.reasons)
    assert "dod: 100 cell not met in 2027" in text
    assert "no compliant capacity for dod in 2027 before 2028 because of lead time" in text
    assert "cn (CN) is prohibited by R for buyer dod" in text
    assert "kr2 cannot deliver before 2028 (lead time 2 period(s))" in text
    assert "2026" not in " ".join(r for r in e.value.reasons if "not met in 2026" in r)


def test_content_floor_binds_and_is_priced() -> None:
    floor = [{"id": "allied", "segments": ["com"], "countries": ["KR"], "share": 0.5}]
    r = plan(scenario(content_floors=floor, rules=[]))
    com = (
        r.production[r.production.segment == "com"].groupby(["period", "country"])["quantity"].sum()
    )
    assert com[(2026, "KR")] == pytest.approx(25)
    assert r.rule_costs.set_index("rule").loc["allied", "cost"] == pytest.approx(3 * 25 * 5)
    assert any("content floor allied binds" in b for b in r.binding)


def test_engine_seam_uses_verdicts_and_prices_each_rule() -> None:
    calls: list[tuple[str, str | None, dt.date]] = []

    def fake_check(
        network: Any, product: str, buyer: str | None, on: dt.date
    ) -> list[dict[str, str]]:
        calls.append((product, buyer, on))
        bad = product == "cn" and on >= dt.date(2027, 10, 1)
        return [{"rule_id": "R", "verdict": "PROHIBITED" if bad else "ALLOWED"}]

    engine = EngineRules(network=None, check=fake_check)
    engine.dates = lambda: [dt.date(2027, 10, 1)]  # type: ignore[method-assign]
    engine.rule_ids = lambda: ["R"]  # type: ignore[method-assign]
    assert (
        engine(PlantFacts("cn", "CN"), "cell", SegmentFacts("dod", "dod"), dt.date(2028, 1, 1))
        is False
    )
    assert (
        engine(PlantFacts("cn", "CN"), "cell", SegmentFacts("com", None), dt.date(2028, 1, 1))
        is True
    )
    r = plan(scenario(), eligibility=engine)
    assert r.objective == pytest.approx(HAND, rel=1e-6)
    assert calls and all(buyer == "dod" for _, buyer, _ in calls)


def test_scenario_rules_are_rule_aware() -> None:
    rules = ScenarioRules(tuple(scenario().rules))
    assert rules.rule_ids() == ["R"] and rules.dates() == [dt.date(2027, 10, 1)]
    assert rules.without("R").rule_ids() == []


def test_bundled_demo_solves_and_explains_itself() -> None:
    from onshore.plan.scenario import bundled

    r = plan(bundled("ses_korea"))
    assert r.status == "optimal"
    dod = r.production[(r.production.segment == "dod_drone") & (r.production.period >= 2028)]
    assert set(dod["country"]) <= {"KR", "US"}
    assert len(r.rule_costs) >= 1 and (r.rule_costs["cost"] >= -1e-6).all()
    assert r.binding


def test_real_rules_engine_judges_a_hypothetical_plant_by_its_owner() -> None:
    from onshore.plan import engine_adapter

    from onshore.network import Network

    plants = [
        PlantFacts("owned_by_catl", "CN", "CN", company="catl"),
        PlantFacts("kr_new", "KR", "US"),
    ]
    engine = EngineRules(engine_adapter.with_plants(Network.reference(), plants))
    dod = SegmentFacts("dod", "dod", "US")
    assert "US-NDAA24-154" in engine.prohibiting(plants[0], "cell", dod, dt.date(2028, 1, 1))
    assert "US-NDAA24-154" not in engine.prohibiting(plants[0], "cell", dod, dt.date(2027, 9, 30))
    assert engine.prohibiting(plants[1], "cell", dod, dt.date(2028, 1, 1)) == []
    assert dt.date(2027, 10, 1) in engine.dates()
    assert "US-NDAA24-154" not in engine.without("US-NDAA24-154").prohibiting(
        plants[0], "cell", dod, dt.date(2028, 1, 1)
    )
