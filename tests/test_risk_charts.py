"""Risk charts: the files are written, the HTML carries plotly inline, the PNG decodes."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.image as mpimg
import pandas as pd

from onshore.views.charts.risk import concentration_bars, shortfall_over_time, write_charts
from onshore.risk.concentration import concentration_table
from onshore.risk.cutoff import simulate
from onshore.risk.scenario import parse_scenario
from test_risk_concentration import net as conc_net
from test_risk_cutoff import net, scenario


def _check(paths: list[Path]) -> None:
    html = [p for p in paths if p.suffix == ".html"]
    png = [p for p in paths if p.suffix == ".png"]
    assert html and png
    for p in html:
        text = p.read_text(encoding="utf-8")
        assert "<script" in text and "Plotly" in text
        assert not re.search(r"<script[^>]*\bsrc\s*=", text, re.I)  # no CDN or other external script
    for p in png:
        img = mpimg.imread(p)
        assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100


def test_shortfall_chart(tmp_path: Path) -> None:
    by_product = simulate(net(), parse_scenario(scenario())).by_product()
    paths = shortfall_over_time(by_product, tmp_path / "sub" / "short")
    assert {p.name for p in paths} == {"short.html", "short.png"}
    _check(paths)
    assert "graphite" in (tmp_path / "sub" / "short.html").read_text() or "cell" in (tmp_path / "sub" / "short.html").read_text()


def test_concentration_chart(tmp_path: Path) -> None:
    paths = concentration_bars(concentration_table(conc_net()), tmp_path / "conc")
    _check(paths)


def test_write_charts_skips_empty(tmp_path: Path) -> None:
    by_product = simulate(net(), parse_scenario(scenario())).by_product()
    paths = write_charts(tmp_path, by_product=by_product, concentration=concentration_table(conc_net()))
    assert {p.name for p in paths} == {"risk_shortfall.html", "risk_shortfall.png", "risk_concentration.html", "risk_concentration.png"}
    assert all(p.exists() and p.stat().st_size > 0 for p in paths)
    assert write_charts(tmp_path / "none", by_product=pd.DataFrame(), concentration=None) == []
