"""Each bad scenario gives a ScenarioError naming the key path; the bundled one loads."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from onshore.errors import ScenarioError
from onshore.network import Network
from onshore.risk.scenario import bundled, load_scenario, parse_scenario


def good() -> dict:
    return {"start": "2026-01", "horizon": 6, "cutoffs": [{"country": "CN", "materials": ["g"], "months": 3}]}


def net() -> Network:
    return Network.from_frames(
        companies=pd.DataFrame({"id": ["a"], "name": ["A"], "country": ["CN"]}),
        materials=pd.DataFrame({"id": ["g"], "name": ["g"], "kind": ["intermediate"], "unit": ["kg"]}),
        facilities=pd.DataFrame({"id": ["f"], "company": ["a"], "name": ["F"], "country": ["CN"], "stage": ["anode"],
                                 "material": ["g"], "capacity": [10.0], "unit": ["t"]}),
    )


def error_of(data: object, network: Network | None = None) -> str:
    with pytest.raises(ScenarioError) as e:
        parse_scenario(data, "s.yaml", network)
    return str(e.value)


def test_good_scenario() -> None:
    sc = parse_scenario(good(), network=net())
    assert sc.cutoffs[0].target == ("country", "CN") and sc.month_of("2026-04") == 3


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda d: d["cutoffs"][0].update(country="QQ"), "cutoffs.0.country"),
        (lambda d: d["cutoffs"][0].update(months=-2), "cutoffs.0.months"),
        (lambda d: d["cutoffs"][0].update(cap=1.5), "cutoffs.0.cap"),
        (lambda d: d["cutoffs"][0].update(colour="red"), "cutoffs.0.colour"),
        (lambda d: d.update(horizon=0), "horizon"),
        (lambda d: d.update(start="2026-13"), "start"),
        (lambda d: d["cutoffs"][0].update(company="a"), "cutoffs.0"),
        (lambda d: d["cutoffs"][0].update(duration={"dist": "uniform", "low": 5, "high": 2}), "cutoffs.0.duration"),
        (lambda d: d["cutoffs"][0].update(probability=1.2), "cutoffs.0.probability"),
        (lambda d: d.update(montecarlo={"draws": 0}), "montecarlo.draws"),
        (lambda d: d.update(substitutes=[{"material": "g", "capacity": 5, "ramp_months": -1}]), "substitutes.0.ramp_months"),
        (lambda d: d.update(inventories=[{"days": -3}]), "inventories.0.days"),
    ],
)
def test_bad_scenario_names_key(change, key: str) -> None:  # type: ignore[no-untyped-def]
    d = good()
    change(d)
    msg = error_of(d)
    assert f"{key}:" in msg or f"{key} " in msg, msg
    assert msg.startswith("s.yaml:")


def test_checks_against_network() -> None:
    d = good()
    d["cutoffs"][0].update(country="KR")
    assert "cutoffs.0.country: 'KR' has no facility" in error_of(d, net())
    d = good()
    d["cutoffs"][0]["materials"] = ["zinc"]
    assert "cutoffs.0.materials.0: unknown material 'zinc'" in error_of(d, net())
    d = good()
    d["cutoffs"][0].update(cap_quantity=20, unit="t")  # 20 t above the 10 t of capacity
    assert "cutoffs.0.cap_quantity" in error_of(d, net()) and "above the capacity" in error_of(d, net())
    d["cutoffs"][0].update(cap_quantity=5)
    parse_scenario(d, network=net())
    d = good()
    d["cutoffs"] = [{"facility": "nope"}]
    assert "cutoffs.0.facility: unknown facility 'nope'" in error_of(d, net())


def test_not_a_mapping_and_bad_yaml(tmp_path: Path) -> None:
    assert "a mapping" in error_of([1, 2])
    p = tmp_path / "bad.yaml"
    p.write_text("start: [unclosed\n")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(p)


def test_bundled_graphite_scenario() -> None:
    sc = load_scenario(bundled("graphite_cutoff"))
    assert sc.cutoffs[0].country == "CN" and sc.cutoffs[0].months == 6
    assert sc.montecarlo.seed == 2023
