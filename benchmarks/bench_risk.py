"""Cut-off simulation on the synthetic networks of the trace benchmark.

Targets (issue 5): one scenario on the 100 k-facility network <= 10 s; 1,000 Monte Carlo
draws on the 10 k network <= 60 s. The networks are :func:`onshore.synthetic.network` with
the trace benchmark's parameters (10 flows per facility, seed 1). The scenario: China halts
exports of anode material and of cells for 6 of 12 months (the bare anode cut hits nothing
there: Chinese cell makers, fed by the same anode plants, fill the gap through the market),
cells hold 30 days of stock and 5 kt/yr of new anode capacity ramps up from March. The
Monte Carlo draws each cut-off's probability and duration. Timings include the baseline
(from the flows) and the LP build, not generating the network. Large networks go through the
market-pool LP (:mod:`onshore.risk.pool`); the per-plant LP is timed on the 10 k network for
comparison.
"""

from __future__ import annotations

import time
from typing import Any

from onshore import synthetic
from onshore.risk.cutoff import Simulator
from onshore.risk.montecarlo import monte_carlo
from onshore.risk.scenario import parse_scenario

SCENARIO: dict[str, Any] = {
    "name": "CN halts anode material and cell exports", "start": "2026-01", "horizon": 12,
    "cutoffs": [{"country": "CN", "materials": ["anode"], "months": 6, "probability": 0.3,
                 "duration": {"dist": "triangular", "low": 1, "mode": 6, "high": 12}},
                {"country": "CN", "materials": ["cell"], "months": 6, "probability": 0.2,
                 "duration": {"dist": "uniform", "low": 1, "high": 9}}],
    "inventories": [{"stage": "cell", "days": 30}],
    "substitutes": [{"material": "anode", "capacity": 5000, "unit": "t", "from": "2026-03", "ramp_months": 4}],
    "montecarlo": {"draws": 1000, "seed": 1},
}


def network(n: int) -> Any:
    return synthetic.network(n, n_flows=10 * n, seed=1)


def one(net: Any, method: str = "auto") -> tuple[float, Simulator, Any]:
    sc = parse_scenario(SCENARIO)
    net._cache.clear()  # the baseline is part of the scenario's cost
    t0 = time.perf_counter()
    sim = Simulator(net, sc, method)
    res = sim.result(sim.run())
    return time.perf_counter() - t0, sim, res


def run(quick: bool) -> list[dict[str, Any]]:
    rows = []
    sizes = [10_000] if quick else [10_000, 100_000]
    for n in sizes:
        net = network(n)
        dt, sim, res = one(net)
        lost = float(res.recovery["lost"].sum())
        rows.append({"benchmark": "risk", "case": f"one cut-off scenario, {len(net.facilities):,} facilities / {len(net.flows):,} flows, "
                     f"{sim.scenario.horizon} months ({sim.method} LP)", "seconds": dt,
                     "target": 10.0 if n >= 100_000 else None, "met": dt <= 10.0 if n >= 100_000 else None,
                     "detail": f"LP {sim.lp.A.shape[0]:,} rows x {sim.lp.A.shape[1]:,} cols; {int((res.recovery['lost'] > 0).sum()):,} "
                               f"final plants hit, {lost:,.0f} units lost"})
        if n == 10_000 and not quick:
            dt, sim, res = one(net, "plant")
            rows.append({"benchmark": "risk", "case": f"same, {len(net.facilities):,} facilities, per-plant LP (for comparison)", "seconds": dt,
                         "detail": f"LP {sim.lp.A.shape[0]:,} rows x {sim.lp.A.shape[1]:,} cols; {int((res.recovery['lost'] > 0).sum()):,} "
                                   f"final plants hit, {float(res.recovery['lost'].sum()):,.0f} units lost"})
    net = network(10_000)
    draws = 200 if quick else 1000
    sc = parse_scenario(SCENARIO)
    net._cache.clear()
    t0 = time.perf_counter()
    mc = monte_carlo(net, sc, draws=draws)
    dt = time.perf_counter() - t0
    tot = mc.total()
    rows.append({"benchmark": "risk", "case": f"Monte Carlo {draws} draws, {len(net.facilities):,} facilities", "seconds": dt,
                 "target": 60.0 if draws == 1000 else None, "met": dt <= 60.0 if draws == 1000 else None,
                 "detail": f"share of final supply lost P50 {tot['p50']:.4f} P90 {tot['p90']:.4f} P99 {tot['p99']:.4f} "
                           f"(mean {tot['mean']:.4f}); {len({r.tobytes() for r in mc.schedules})} distinct schedules, "
                           f"{float((mc.lost.sum(axis=1) > 0).mean()):.0%} of draws with shortfall"})
    return rows
