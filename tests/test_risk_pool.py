"""The market-pool LP against the per-plant LP on small cases.

Where every pool holds one plant (the hand network of ``test_risk_cutoff``) the two agree.
With two cell plants of one recipe in one pool they agree on the pool's total; the pool
shares it in proportion to baseline (the per-plant LP may serve the smaller plant first).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from onshore.network import Network
from onshore.risk.cutoff import Simulator, simulate
from onshore.risk.scenario import parse_scenario
from test_risk_cutoff import net, scenario

CASES = [
    scenario(),
    scenario(substitutes=[{"material": "graphite", "capacity": 24, "unit": "kg", "from": "2026-01"}]),
    scenario(substitutes=[{"material": "graphite", "capacity": 36, "unit": "kg", "from": "2026-02", "ramp_months": 3}]),
    scenario(inventories=[{"stage": "cell", "days": 15}]),
]


@pytest.mark.parametrize("sc", CASES)
def test_singleton_pools_equal_per_plant(sc: dict) -> None:
    a = simulate(net(), parse_scenario(sc), method="plant").monthly
    b = simulate(net(), parse_scenario(sc), method="pool").monthly
    assert list(a["product"]) == list(b["product"])
    np.testing.assert_allclose(a["shortfall"].to_numpy(), b["shortfall"].to_numpy(), atol=1e-9)


def two_cells() -> Network:
    """gA (CN, 90) and gB (KR, 60, spare 10) feed KR cell plants K (100) and L (50) 60/40; gC (JP, idle, 30) sells."""
    companies = pd.DataFrame({"id": ["a", "b", "c", "k"], "name": list("ABCK"), "country": ["CN", "KR", "JP", "KR"]})
    materials = pd.DataFrame({"id": ["graphite", "cell"], "name": ["g", "c"], "kind": ["intermediate", "cell"], "unit": ["kg", "kWh"]})
    facilities = pd.DataFrame(
        {"id": ["gA", "gB", "gC", "K", "L"], "company": ["a", "b", "c", "k", "k"], "name": ["GA", "GB", "GC", "K", "L"],
         "country": ["CN", "KR", "JP", "KR", "KR"], "stage": ["anode"] * 3 + ["cell"] * 2,
         "material": ["graphite"] * 3 + ["cell"] * 2, "capacity": [90.0, 70.0, 30.0, None, None], "unit": ["kg"] * 3 + [None] * 2}
    )
    flows = pd.DataFrame({"supplier": ["gA", "gB", "gA", "gB"], "customer": ["K", "K", "L", "L"],
                          "material": ["graphite"] * 4, "quantity": [60.0, 40.0, 30.0, 20.0], "unit": ["kg"] * 4,
                          "period": ["2025"] * 4})
    boms = pd.DataFrame({"output": ["cell"], "input": ["graphite"], "quantity": [1.0], "unit": ["kg/kWh"]})
    return Network.from_frames(companies=companies, materials=materials, facilities=facilities, flows=flows, boms=boms)


def test_pool_total_equal_and_shared_in_proportion() -> None:
    sc = parse_scenario(scenario())
    plant = simulate(two_cells(), sc, method="plant").monthly
    pool = simulate(two_cells(), sc, method="pool").monthly
    # China's 90 a year stop: gB's 60 + its spare 10 + gC's 30 on the market cover 100 of 150
    tot_plant = plant.groupby("month")["shortfall"].sum().to_numpy()
    tot_pool = pool.groupby("month")["shortfall"].sum().to_numpy()
    np.testing.assert_allclose(tot_plant, tot_pool, atol=1e-9)
    assert tot_pool[0] == pytest.approx((150 - 60 - 10 - 30) / 12)
    m0 = pool[pool["month"] == 0].set_index("product")
    assert m0.loc["K", "share"] == pytest.approx(m0.loc["L", "share"])  # proportional within the pool


def test_auto_pools_only_large_networks_with_a_market() -> None:
    assert Simulator(net(), parse_scenario(scenario())).method == "plant"
    with pytest.raises(ValueError, match="market"):
        Simulator(net(), parse_scenario(scenario(market=False)), method="pool")
