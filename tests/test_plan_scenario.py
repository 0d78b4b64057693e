"""The plan scenario schema: good files load, bad files name the key path."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from onshore.errors import ScenarioError
from onshore.plan.scenario import bundled, load_scenario, parse_scenario, per_period

BASE: dict[str, Any] = {
    "name": "small",
    "periods": [2026, 2027, 2028],
    "products": {"cell": {"unit": "cells"}},
    "segments": {
        "dod": {
            "buyer": "dod",
            "product": "cell",
            "demand": {2026: 100, 2027: 100},
            "unmet_penalty": 50,
        },
    },
    "plants": {"cn": {"country": "cn", "products": ["cell"], "capacity": 1000, "unit_cost": 10}},
    "candidates": {
        "kr": {
            "country": "KR",
            "products": ["cell"],
            "capex_per_module": 100,
            "module_size": 50,
            "max_modules": 2,
        }
    },
}


def scenario(**changes: Any) -> dict[str, Any]:
    s = copy.deepcopy(BASE)
    s.update(changes)
    return s


def error_of(data: dict[str, Any]) -> str:
    with pytest.raises(ScenarioError) as e:
        parse_scenario(data, origin="t.yaml")
    return str(e.value)


def test_a_good_scenario_loads_with_shorthand_demand_and_countries() -> None:
    s = parse_scenario(scenario())
    assert s.segments["dod"].demand == {"cell": {2026: 100.0, 2027: 100.0}}
    assert s.plants["cn"].country == "CN"
    assert s.candidates["kr"].ramp_up == [1.0]
    assert per_period(s.segments["dod"].demand["cell"], s.periods) == [100.0, 100.0, 0.0]


def test_bad_value_names_its_key_path() -> None:
    bad = scenario()
    bad["segments"]["dod"]["demand"] = {2027: "lots"}
    msg = error_of(bad)
    assert "t.yaml" in msg and "segments.dod.demand.cell.2027" in msg


def test_misspelt_key_is_refused_with_its_path() -> None:
    bad = scenario()
    bad["plants"]["cn"]["capcity"] = 5
    assert "plants.cn.capcity" in error_of(bad)


def test_yield_above_one_is_refused() -> None:
    bad = scenario()
    bad["plants"]["cn"]["yield"] = 1.2
    assert "plants.cn.yield" in error_of(bad)


def test_unknown_references_are_listed_each_with_a_path() -> None:
    bad = scenario()
    bad["plants"]["cn"]["products"] = ["pack"]
    bad["segments"]["dod"]["demand"] = {2031: 5}
    bad["candidates"]["kr"]["expands"] = "nowhere"
    msg = error_of(bad)
    assert "plants.cn.products: unknown product 'pack'" in msg
    assert "segments.dod.demand.cell.2031" in msg
    assert "candidates.kr.expands" in msg


def test_periods_must_be_consecutive_years() -> None:
    assert "periods" in error_of(scenario(periods=[2026, 2028]))


def test_missing_required_key_is_named() -> None:
    bad = scenario()
    del bad["candidates"]["kr"]["module_size"]
    assert "candidates.kr.module_size" in error_of(bad)


def test_bad_country_is_refused() -> None:
    bad = scenario()
    bad["plants"]["cn"]["country"] = "Atlantis"
    assert "plants.cn.country" in error_of(bad)


def test_files_missing_or_not_yaml_give_scenario_errors(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_scenario(tmp_path / "nope.yaml")
    f = tmp_path / "bad.yaml"
    f.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(f)
    f.write_text("- a list\n")
    with pytest.raises(ScenarioError, match="mapping"):
        load_scenario(f)


def test_the_bundled_demo_scenario_loads_and_labels_its_assumptions() -> None:
    s = load_scenario(bundled("ses_korea"))
    assert {"dod_drone", "evtol", "commercial"} <= set(s.segments)
    assert s.segments["dod_drone"].buyer == "dod"
    assert s.assumptions, "invented figures must be labelled in the assumptions block"
    for pid, p in {**s.plants, **s.candidates}.items():
        assert p.source, f"{pid} has no source"
