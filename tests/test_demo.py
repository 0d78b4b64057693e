"""`onshore demo` runs on the bundled data and shows each part of the answer."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from onshore.cli import app


def test_demo_runs_and_summarises(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["demo", "--workdir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "onshore.duckdb").exists()
    assert "Reference network" in r.output
    assert "Facilities by stage and country" in r.output
    assert "top three countries" in r.output
    assert "SES AI Chungju" in r.output and "CATL cell" in r.output          # traces
    assert "May the DoD buy this cell?" in r.output                         # checks
    assert (tmp_path / "report_ses_chungju.html").exists()
    assert "HHI" in r.output and "graphite" in r.output                     # risk
    assert "What to build where" in r.output                                # plan
    assert any((tmp_path / "plan").glob("*.png"))
