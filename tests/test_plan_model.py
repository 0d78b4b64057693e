"""The plan model: hand-checked optima, ramp-up, lead times, eligibility windows."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from onshore.plan import ScenarioRules, parse_scenario
from onshore.plan.eligibility import PlantFacts, SegmentFacts, eligible_share, period_tariff
from onshore.plan.model import annuity, build_model, first_online, prepare
from onshore.plan.scenario import TariffRate
from onshore.plan.solve import solve_model

BASE: dict[str, Any] = {
    "name": "small",
    "periods": [2026, 2027, 2028],
    "discount_rate": 0.0,
    "products": {"cell": {}},
    "segments": {
        "com": {
            "product": "cell",
            "demand": {2026: 100, 2027: 100, 2028: 100},
            "unmet_penalty": 1000,
        }
    },
    "plants": {},
    "candidates": {},
}


def scenario(**changes: Any) -> dict[str, Any]:
    s = copy.deepcopy(BASE)
    s.update(changes)
    return s


def test_annuity_is_the_capital_recovery_factor() -> None:
    assert annuity(0.0, 4) == pytest.approx(0.25)
    assert annuity(0.1, 1) == pytest.approx(1.1)
    assert annuity(0.08, 10) == pytest.approx(0.149029, rel=1e-5)


def test_cheapest_plant_first_then_the_next_with_yield() -> None:
    s = parse_scenario(
        scenario(
            plants={
                "a": {
                    "country": "US",
                    "products": ["cell"],
                    "capacity": 60,
                    "unit_cost": 9,
                    "yield": 0.9,
                },
                "b": {"country": "KR", "products": ["cell"], "capacity": 1000, "unit_cost": 12},
            }
        )
    )
    m = build_model(prepare(s))
    assert solve_model(m) == "optimal"
    # a: 54 good cells (60 gross at yield 0.9) at 10 per good cell; b: 46 at 12; three years
    assert m.objective.value == pytest.approx(3 * (54 * 10 + 46 * 12))


def test_lead_time_and_ramp_up_bound_new_capacity() -> None:
    s = parse_scenario(
        scenario(
            candidates={
                "n": {
                    "country": "US",
                    "products": ["cell"],
                    "unit_cost": 1,
                    "capex_per_module": 1,
                    "module_size": 100,
                    "lead_time": 1,
                    "ramp_up": [0.5, 1.0],
                    "max_modules": 1,
                    "lifetime": 1,
                }
            }
        )
    )
    d = prepare(s)
    assert first_online(d, "n") == 2027
    m = build_model(d)
    assert solve_model(m) == "optimal"
    x = m.variables["production"].solution.fillna(0).sum(["product", "segment"]).sel(plant="n")
    assert list(x.values) == pytest.approx([0, 50, 100])
    assert float(m.variables["build"].solution.sel(plant="n", period=2026)) == pytest.approx(1)
    # unmet 100 + 50 at 1000, production 150 at 1, one module ordered in 2026 paid 3 years
    assert m.objective.value == pytest.approx(150_000 + 150 + 3)


def test_first_period_delays_the_earliest_order() -> None:
    s = parse_scenario(
        scenario(
            candidates={
                "n": {
                    "country": "US",
                    "products": ["cell"],
                    "capex_per_module": 1,
                    "module_size": 100,
                    "lead_time": 1,
                    "max_modules": 1,
                    "first_period": 2027,
                }
            }
        )
    )
    assert first_online(prepare(s), "n") == 2028


PLANTS = [PlantFacts("cn", "CN", products=("cell",)), PlantFacts("kr", "KR", products=("cell",))]


def _share(effective: str) -> Any:
    s = parse_scenario(
        scenario(
            segments={"dod": {"buyer": "dod", "product": "cell", "demand": {2027: 1}}},
            rules=[
                {
                    "id": "R",
                    "buyers": ["dod"],
                    "effective_from": effective,
                    "prohibit": {"countries": ["CN"]},
                }
            ],
        )
    )
    seg = [(SegmentFacts("dod", "dod", "US"), s.segments["dod"])]
    return eligible_share(ScenarioRules(tuple(s.rules)), PLANTS, ["cell"], seg, s.periods).sel(
        product="cell", segment="dod"
    )


def test_compliance_window_follows_the_rules_effective_date() -> None:
    late = _share("2027-10-01")
    assert list(late.sel(plant="cn").values) == pytest.approx([1.0, 273 / 365, 0.0])
    assert list(late.sel(plant="kr").values) == [1.0, 1.0, 1.0]
    early = _share("2027-01-01")
    assert list(early.sel(plant="cn").values) == [1.0, 0.0, 0.0]
    later = _share("2028-07-01")
    assert list(later.sel(plant="cn").values) == pytest.approx([1.0, 1.0, 182 / 366])


def test_unknown_verdicts_deny_unless_the_segment_allows() -> None:
    s = parse_scenario(
        scenario(
            segments={
                "a": {"buyer": "dod", "product": "cell", "demand": {2027: 1}},
                "b": {"buyer": "dod", "product": "cell", "demand": {2027: 1}, "unknown": "allow"},
            }
        )
    )
    segs = [(SegmentFacts(k, "dod"), v) for k, v in s.segments.items()]
    sh = eligible_share(lambda p, k, sg, on: None, PLANTS, ["cell"], segs, s.periods)
    assert float(sh.sel(plant="cn", product="cell", segment="a", period=2027)) == 0.0
    assert float(sh.sel(plant="cn", product="cell", segment="b", period=2027)) == 1.0


def test_tariff_is_day_weighted_and_specific_classes_win() -> None:
    rates = [
        TariffRate(
            origin="CN",
            rate=0.075,
            effective_from=dt.date(2019, 1, 1),
            tariff_class="li_ion_non_ev",
        ),
        TariffRate(
            origin="CN", rate=0.25, effective_from=dt.date(2026, 7, 1), tariff_class="li_ion_non_ev"
        ),
        TariffRate(origin="CN", rate=0.9, effective_from=dt.date(2020, 1, 1)),
    ]
    assert period_tariff(rates, "CN", "US", "li_ion_non_ev", 2025) == pytest.approx(0.075)
    assert period_tariff(rates, "CN", "US", "li_ion_non_ev", 2026) == pytest.approx(
        (181 * 0.075 + 184 * 0.25) / 365
    )
    assert period_tariff(rates, "CN", "US", "other", 2026) == pytest.approx(0.9)
    assert period_tariff(rates, "KR", "US", "li_ion_non_ev", 2026) == 0.0


def test_tariff_enters_the_cost_per_unit() -> None:
    s = parse_scenario(
        scenario(
            products={"cell": {"value": 20, "tariff_class": "x"}},
            plants={
                "cn": {"country": "CN", "products": ["cell"], "capacity": 1000, "unit_cost": 10}
            },
            tariffs={
                "from_rules": False,
                "rates": [{"origin": "CN", "rate": 0.25, "effective_from": "2020-01-01"}],
            },
        )
    )
    m = build_model(prepare(s))
    assert solve_model(m) == "optimal"
    assert m.objective.value == pytest.approx(3 * 100 * (10 + 0.25 * 20))
