"""Cut-off simulation on layered synthetic networks.

Targets (issue 5): one scenario on the 100 k-facility network <= 10 s; 1,000 Monte Carlo
draws on the 10 k network <= 60 s. The networks come from ``onshore.synthetic`` when it
exists, else from the small layered generator below (mine -> refine -> anode/cathode ->
cell -> pack, each plant buying from 2-4 suppliers of the stage above, one country in
three being CN). The scenario cuts CN's anode material exports for 6 of 12 months, with
inventories and a ramping substitute; the Monte Carlo draws its probability and duration.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from onshore.network import Network
from onshore.risk.cutoff import Simulator
from onshore.risk.montecarlo import monte_carlo
from onshore.risk.scenario import parse_scenario

STAGES = [("mine", "ore"), ("refine", "chem"), ("anode", "anode_mat"), ("cathode", "cam"), ("cell", "cell"), ("pack", "pack")]
INPUTS = {"refine": ["ore"], "anode": ["chem"], "cathode": ["chem"], "cell": ["anode_mat", "cam"], "pack": ["cell"]}
SHARE = {"mine": 0.15, "refine": 0.1, "anode": 0.1, "cathode": 0.1, "cell": 0.15, "pack": 0.4}
COUNTRIES = ["CN", "KR", "JP", "US", "DE", "AU", "ID", "CL", "PL", "HU", "CA", "MA"]


def layered(n: int, seed: int = 0) -> Network:
    """A layered synthetic network of about ``n`` facilities (our own, for the benchmark)."""
    try:
        from onshore import synthetic  # type: ignore[attr-defined]

        return synthetic.network(n, seed=seed)  # type: ignore[no-any-return]
    except (ImportError, AttributeError, TypeError):
        pass
    rng = np.random.default_rng(seed)
    ids: dict[str, np.ndarray] = {}
    fac, flows = [], []
    for stage, mat in STAGES:
        k = max(2, int(n * SHARE[stage]))
        ids[stage] = np.array([f"{stage}{i}" for i in range(k)])
        cty = rng.choice(COUNTRIES, k, p=[0.34] + [0.66 / 11] * 11)
        cap = rng.uniform(100, 1000, k)
        fac.append(pd.DataFrame({"id": ids[stage], "company": [f"co_{stage}{i % 997}" for i in range(k)], "name": ids[stage],
                                 "country": cty, "stage": stage, "material": mat, "capacity": cap, "unit": "t"}))
    prod = {st: fac[i]["capacity"].to_numpy() * 0.8 for i, (st, _) in enumerate(STAGES)}
    by_mat = {mat: stage for stage, mat in STAGES}
    for stage, _ in STAGES[1:]:
        for m in INPUTS[stage]:
            up = by_mat[m]
            k, u = len(ids[stage]), len(ids[up])
            deg = rng.integers(2, 5, k)
            cust = np.repeat(np.arange(k), deg)
            sup = rng.integers(0, u, len(cust))
            q = rng.uniform(1, 10, len(cust))
            flows.append(pd.DataFrame({"supplier": ids[up][sup], "customer": ids[stage][cust], "material": m, "quantity": q,
                                       "unit": "t", "period": "2025"}))
    fl = pd.concat(flows, ignore_index=True).drop_duplicates(["supplier", "customer", "material"])
    materials = pd.DataFrame({"id": [m for _, m in STAGES], "name": [m for _, m in STAGES],
                              "kind": ["raw", "intermediate", "intermediate", "intermediate", "cell", "pack"], "unit": "t"})
    f = pd.concat(fac, ignore_index=True)
    shipped = fl.groupby("supplier")["quantity"].sum()  # plants run at ~95 % of capacity
    f["capacity"] = f["id"].map(shipped * 1.05).fillna(f["capacity"]).to_numpy()
    companies = pd.DataFrame({"id": f["company"].unique(), "name": f["company"].unique(), "country": "KR"})
    _ = prod
    return Network.from_frames(companies=companies, materials=materials, facilities=f, flows=fl)


SCENARIO: dict[str, Any] = {
    "name": "CN anode material export halt", "start": "2026-01", "horizon": 12,
    "cutoffs": [{"country": "CN", "materials": ["anode_mat"], "months": 6, "probability": 0.3,
                 "duration": {"dist": "triangular", "low": 1, "mode": 6, "high": 12}},
                {"country": "CN", "materials": ["cam"], "months": 3, "probability": 0.1,
                 "duration": {"dist": "uniform", "low": 1, "high": 6}}],
    "inventories": [{"stage": "cell", "days": 30}],
    "substitutes": [{"material": "anode_mat", "capacity": 500, "unit": "t", "from": "2026-03", "ramp_months": 4}],
    "montecarlo": {"draws": 1000, "seed": 1},
}


def run(quick: bool) -> list[dict[str, Any]]:
    rows = []
    sizes = [10_000] if quick else [10_000, 100_000]
    for n in sizes:
        net = layered(n)
        sc = parse_scenario(SCENARIO)
        t0 = time.perf_counter()
        sim = Simulator(net, sc)
        res = sim.result(sim.run())
        dt = time.perf_counter() - t0
        rows.append({"benchmark": "risk", "case": f"one cut-off scenario, {len(net.facilities):,} facilities, {sc.horizon} months",
                     "seconds": dt, "target": 10.0 if n >= 100_000 else None, "met": dt <= 10.0 if n >= 100_000 else None,
                     "detail": f"LP {sim.lp.A.shape[0]:,} rows x {sim.lp.A.shape[1]:,} cols; {int((res.recovery['lost'] > 0).sum())} plants hit"})
    net = layered(10_000)
    draws = 200 if quick else 1000
    sc = parse_scenario(SCENARIO)
    t0 = time.perf_counter()
    mc = monte_carlo(net, sc, draws=draws)
    dt = time.perf_counter() - t0
    tot = mc.total()
    rows.append({"benchmark": "risk", "case": f"Monte Carlo {draws} draws, {len(net.facilities):,} facilities", "seconds": dt,
                 "target": 60.0 if draws == 1000 else None, "met": dt <= 60.0 if draws == 1000 else None,
                 "detail": f"share lost P50 {tot['p50']:.3f} P90 {tot['p90']:.3f} P99 {tot['p99']:.3f}; "
                           f"{len({r.tobytes() for r in mc.schedules})} distinct schedules"})
    return rows
