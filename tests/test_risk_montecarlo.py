"""Monte Carlo: reproducible from a seed, and its mean converges to the exact expectation."""

from __future__ import annotations

import numpy as np
import pytest

from onshore.risk.montecarlo import monte_carlo
from onshore.risk.scenario import parse_scenario
from test_risk_cutoff import net


def scenario(seed: int = 1) -> dict:
    # one cut-off, probability 1/2, uniform 0-12 months (rounded: 0 and 12 weigh 1/24, others 1/12)
    return {"start": "2026-01", "horizon": 12, "montecarlo": {"draws": 4000, "seed": seed},
            "cutoffs": [{"country": "CN", "materials": ["graphite"], "probability": 0.5,
                         "duration": {"dist": "uniform", "low": 0, "high": 12}}]}


def test_reproducible_from_seed() -> None:
    calls = []
    a = monte_carlo(net(), parse_scenario(scenario(7)), draws=200, progress=lambda d, n: calls.append((d, n)))
    b = monte_carlo(net(), parse_scenario(scenario(7)), draws=200)
    c = monte_carlo(net(), parse_scenario(scenario(8)), draws=200)
    assert np.array_equal(a.lost, b.lost) and np.array_equal(a.schedules, b.schedules)
    assert not np.array_equal(a.schedules, c.schedules)
    assert calls[-1] == (200, 200) and len(calls) == 200


def test_mean_converges_to_exact_expectation() -> None:
    r = monte_carlo(net(), parse_scenario(scenario()))
    k = list(r.products).index("K")
    # exact: E[months] = 0.5 * 6; each month of cut loses 40/12 of K's 100/12 a month
    exact = 0.5 * 6 * 40 / 12
    lost = r.lost[:, k]
    se = lost.std(ddof=1) / np.sqrt(len(lost))
    assert abs(lost.mean() - exact) < 4 * se
    assert abs(lost.mean() - exact) / exact < 0.05
    s = r.summary().set_index("product").loc["K"]
    assert s["p_hit"] == pytest.approx(0.5 * 22 / 24, abs=0.03)  # 0 months also means no hit
    assert s["p99"] == pytest.approx(0.4, abs=1e-9)  # 12 of 12 months at 40 % short
    assert s["p50"] == 0.0  # P(no loss) = 1/2 + 1/48 > 1/2


def test_total_quantiles_ordered() -> None:
    t = monte_carlo(net(), parse_scenario(scenario()), draws=500).total()
    assert t["p50"] <= t["p90"] <= t["p99"] and t["draws"] == 500
