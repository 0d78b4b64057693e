"""`onshore risk` and `onshore simulate` run in process on a store built from the tiny example.

The tiny network: mine1 (AU) -> spodumene -> ref1 (CN) -> lioh -> cell1 (KR). China stopping
its lioh exports leaves the KR cell plant with nothing (no other lioh maker).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from conftest import tiny_files
from onshore.cli import app

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path, tiny_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "risk.duckdb"
    monkeypatch.setenv("ONSHORE_DB", str(path))
    assert runner.invoke(app, ["init"]).exit_code == 0
    r = runner.invoke(app, ["import", *map(str, tiny_files(tiny_dir))])
    assert r.exit_code == 0, r.output
    return path


def scenario_file(tmp_path: Path, **change: object) -> Path:
    sc = {"name": "CN stops LiOH exports", "start": "2026-01", "horizon": 6,
          "cutoffs": [{"country": "CN", "materials": ["lioh"], "months": 3, "probability": 0.5,
                       "duration": {"dist": "uniform", "low": 1, "high": 6}}],
          "montecarlo": {"draws": 50, "seed": 3}}
    sc["cutoffs"][0].update(change)  # type: ignore[index]
    p = tmp_path / "sc.yaml"
    p.write_text(yaml.safe_dump(sc))
    return p


def test_risk_table_and_json(db: Path) -> None:
    r = runner.invoke(app, ["risk"])
    assert r.exit_code == 0, r.output
    assert "HHI" in r.output and "lioh" in r.output
    r = runner.invoke(app, ["risk", "--format", "json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    lioh = [x for x in rows if x["material"] == "lioh" and x["basis"] == "capacity"][0]
    assert lioh["hhi_country"] == pytest.approx(10_000) and lioh["top_country"] == "CN"


def test_risk_product_json(db: Path) -> None:
    r = runner.invoke(app, ["risk", "--product", "cell1", "--threshold", "0.5", "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    ids = {x["id"] for x in doc["single_points_of_failure"]}
    assert {"ref1", "mine1"} <= ids  # each sole supplier stops the cell plant
    assert all(x["loss"] > 0.5 for x in doc["single_points_of_failure"])
    assert {"raw", "stage", "hhi"} <= set(doc["dependency"][0])


def test_simulate_json_with_monte_carlo(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = runner.invoke(app, ["simulate", str(scenario_file(tmp_path)), "--draws", "50", "--format", "json", "-o", str(out)])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["scenario"] == "CN stops LiOH exports"
    months = sorted({row["period"] for row in doc["shortfall"]})
    assert months == ["2026-01", "2026-02", "2026-03"]
    assert all(row["share"] == pytest.approx(1.0) and row["customers_hit"] == "cell1" for row in doc["shortfall"])
    rec = doc["recovery"][0]
    assert rec["product"] == "cell1" and rec["months_to_recover"] == 3
    mc = doc["montecarlo"]["total"]
    assert mc["draws"] == 50 and mc["p50"] <= mc["p90"] <= mc["p99"] <= 1.0
    assert (out / "shortfall_monthly.csv").exists() and (out / "montecarlo.csv").exists() and (out / "risk_shortfall.png").exists()


def test_simulate_table(db: Path, tmp_path: Path) -> None:
    r = runner.invoke(app, ["simulate", str(scenario_file(tmp_path))])
    assert r.exit_code == 0, r.output
    assert "CN stops LiOH exports" in r.output and "cell1" in r.output


@pytest.mark.parametrize(
    ("change", "key"),
    [({"country": "XX"}, "cutoffs.0.country"), ({"months": -1}, "cutoffs.0.months"), ({"cap": 2.0}, "cutoffs.0.cap"),
     ({"materials": ["unobtainium"]}, "cutoffs.0.materials.0")],
)
def test_bad_scenario_exits_2_naming_the_key(db: Path, tmp_path: Path, change: dict, key: str) -> None:
    r = runner.invoke(app, ["simulate", str(scenario_file(tmp_path, **change))])
    assert r.exit_code == 2
    assert key in r.output
    assert "Traceback" not in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)  # a clean exit, not a crash
