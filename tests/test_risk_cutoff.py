"""A cut-off whose shortfall is computed by hand.

    gA (CN) --graphite 60/yr--> cell K (KR, 100 kWh/yr, 1 kg graphite per kWh)
    gB (KR) --graphite 40/yr--> cell K          gB capacity 50 (spare 10)
    gC (JP) --graphite 20/yr--> cell K2 (JP)    gC capacity 30 (spare 10, on the market)
China stops graphite exports for 6 of 12 months.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from onshore.network import Network
from onshore.risk.cutoff import Simulator, simulate
from onshore.risk.lp import solve, to_linopy
from onshore.risk.scenario import parse_scenario


def net() -> Network:
    companies = pd.DataFrame({"id": ["a", "b", "c", "k", "k2"], "name": list("ABCKL"), "country": ["CN", "KR", "JP", "KR", "JP"]})
    materials = pd.DataFrame({"id": ["graphite", "cell"], "name": ["g", "c"], "kind": ["intermediate", "cell"], "unit": ["kg", "kWh"]})
    facilities = pd.DataFrame(
        {
            "id": ["gA", "gB", "gC", "K", "K2"], "company": ["a", "b", "c", "k", "k2"], "name": ["GA", "GB", "GC", "Cell K", "Cell K2"],
            "country": ["CN", "KR", "JP", "KR", "JP"], "stage": ["anode"] * 3 + ["cell"] * 2,
            "material": ["graphite"] * 3 + ["cell"] * 2, "capacity": [60.0, 50.0, 30.0, None, None], "unit": ["kg"] * 3 + [None] * 2,
        }
    )
    flows = pd.DataFrame(
        {"supplier": ["gA", "gB", "gC"], "customer": ["K", "K", "K2"], "material": ["graphite"] * 3,
         "quantity": [60.0, 40.0, 20.0], "unit": ["kg"] * 3, "period": ["2025"] * 3}
    )
    boms = pd.DataFrame({"output": ["cell"], "input": ["graphite"], "quantity": [1.0], "unit": ["kg/kWh"]})
    return Network.from_frames(companies=companies, materials=materials, facilities=facilities, flows=flows, boms=boms)


def scenario(**extra: object) -> dict:
    sc = {"name": "t", "start": "2026-01", "horizon": 12,
          "cutoffs": [{"country": "CN", "materials": ["graphite"], "months": 6}]}
    sc.update(extra)
    return sc


def shortfall_of_K(sc: dict) -> np.ndarray:
    res = simulate(net(), parse_scenario(sc, network=net()))
    m = res.monthly[res.monthly["product"] == "K"].sort_values("month")
    assert set(res.monthly["product"]) == {"K"}  # K2 is not downstream of the cut
    return m["shortfall"].to_numpy()


def test_halt_with_spare_and_market() -> None:
    # 40 + 10 spare at gB + 10 spare at gC on the market = 60 of 100 -> short 40/12 a month
    s = shortfall_of_K(scenario())
    assert s[:6] == pytest.approx([40 / 12] * 6)
    assert s[6:] == pytest.approx([0.0] * 6)


def test_no_market_only_own_suppliers() -> None:
    s = shortfall_of_K(scenario(market=False))
    assert s[0] == pytest.approx(50 / 12)


def test_partial_substitute_and_recovery() -> None:
    subs = [{"material": "graphite", "capacity": 24, "unit": "kg", "from": "2026-01"}]
    s = shortfall_of_K(scenario(substitutes=subs))
    assert s[0] == pytest.approx((40 - 24) / 12)
    res = simulate(net(), parse_scenario(scenario(substitutes=subs)))
    rec = res.recovery.set_index("product").loc["K"]
    assert rec["months_to_recover"] == 6 and rec["first_month"] == 0
    assert rec["lost"] == pytest.approx(6 * 16 / 12)


def test_substitute_ramp() -> None:
    subs = [{"material": "graphite", "capacity": 36, "unit": "kg", "from": "2026-02", "ramp_months": 3}]
    s = shortfall_of_K(scenario(substitutes=subs))
    # month 0: none; month 1: 1/3 of 3 a month; month 2: 2/3; month 3: full (3 a month)
    assert s[:4] == pytest.approx([40 / 12, 40 / 12 - 1, 40 / 12 - 2, 40 / 12 - 3])


def test_cap_keeps_half() -> None:
    sc = scenario()
    sc["cutoffs"][0]["cap"] = 0.5
    assert shortfall_of_K(sc)[0] == pytest.approx(10 / 12)


def test_inventory_covers_first_months() -> None:
    # 15 days of graphite = 100 * 15/365 = 4.11 kg; 3.33 short a month
    s = shortfall_of_K(scenario(inventories=[{"stage": "cell", "days": 15}]))
    stock = 100 * 15 / 365
    assert s[0] == pytest.approx(0.0, abs=1e-9)
    assert s[1] == pytest.approx(40 / 12 - (stock - 40 / 12))
    assert s[2] == pytest.approx(40 / 12)


def test_home_customers_spared() -> None:
    sc = scenario()
    sc["cutoffs"][0]["country"] = "KR"  # KR's own graphite goes to a KR cell: not an export
    res = simulate(net(), parse_scenario(sc))
    assert res.monthly.empty or res.monthly["shortfall"].sum() == 0


def test_by_product_names_customers() -> None:
    res = simulate(net(), parse_scenario(scenario()))
    g = res.by_product()
    assert g.loc[g["month"] == 0, "customers_hit"].iloc[0] == "K"
    assert g.loc[g["month"] == 0, "share"].iloc[0] == pytest.approx(0.4)


def test_linopy_model_matches_highs() -> None:
    sim = Simulator(net(), parse_scenario(scenario()))
    u = sim.upper(0, [(0, 6)], sim.stock0)
    x = solve(sim.h, u)
    lp = sim.lp
    lp.upper = u
    m = to_linopy(lp)
    m.solve(solver_name="highs")  # type: ignore[attr-defined]
    assert float(m.objective.value) == pytest.approx(float(lp.c @ x), abs=1e-9)  # type: ignore[attr-defined]
