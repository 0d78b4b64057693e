"""A product's dependency per (raw material, stage) read from the real trace, on a hand network.

    mine A (AU) --spodumene 60--> refinery R (CN) --lioh 10--> cell plant K (KR)
    mine B (CL) --spodumene 40--> R
BOMs: 0.03 kg lithium per kg spodumene, 10 kg spodumene per kg LiOH, 0.5 kg LiOH per kWh,
so a kWh holds 0.5 * 10 * 0.03 = 0.15 kg lithium: 60 % mined in AU, 40 % in CL.
"""

from __future__ import annotations

import pandas as pd
import pytest

from onshore.network import Network
from onshore.risk.concentration import dependency_concentration, product_dependency
from onshore.trace import trace


def net() -> Network:
    companies = pd.DataFrame({"id": ["a", "b", "r", "k"], "name": list("ABRK"), "country": ["AU", "CL", "CN", "KR"]})
    materials = pd.DataFrame({"id": ["lithium", "spodumene", "lioh", "cell"], "name": ["li", "sp", "lioh", "cell"],
                              "kind": ["raw", "intermediate", "intermediate", "cell"], "unit": ["kg", "kg", "kg", "kWh"]})
    facilities = pd.DataFrame(
        {"id": ["mA", "mB", "R", "K"], "company": ["a", "b", "r", "k"], "name": ["MA", "MB", "R", "K"],
         "country": ["AU", "CL", "CN", "KR"], "stage": ["mine", "mine", "refine", "cell"],
         "material": ["spodumene", "spodumene", "lioh", "cell"], "capacity": [100.0, 100.0, 10.0, 20.0],
         "unit": ["kg", "kg", "kg", "kWh"]}
    )
    flows = pd.DataFrame({"supplier": ["mA", "mB", "R"], "customer": ["R", "R", "K"], "material": ["spodumene", "spodumene", "lioh"],
                          "quantity": [60.0, 40.0, 10.0], "unit": ["kg"] * 3, "period": ["2025"] * 3})
    boms = pd.DataFrame({"output": ["spodumene", "lioh", "cell"], "input": ["lithium", "spodumene", "lioh"],
                         "quantity": [0.03, 10.0, 0.5], "unit": ["kg/kg", "kg/kg", "kg/kWh"]})
    return Network.from_frames(companies=companies, materials=materials, facilities=facilities, flows=flows, boms=boms)


def test_dependency_by_hand_from_the_trace() -> None:
    dep = product_dependency(net(), "K").set_index(["raw", "stage"])
    mine = dep.loc[("lithium", "mine")]
    assert mine["total"] == pytest.approx(0.15)
    assert mine["hhi"] == pytest.approx(10_000 * (0.6**2 + 0.4**2))  # 5200
    assert (mine["top"], mine["top_share"], mine["n"]) == ("AU", pytest.approx(0.6), 2)
    assert mine["leaders"] == "AU 60%, CL 40%"
    assert dep.loc[("lithium", "refine"), "hhi"] == pytest.approx(10_000)
    assert dep.loc[("lithium", "refine"), "top"] == "CN"
    assert dep.loc[("lithium", "cell"), "top"] == "KR"


def test_dependency_equals_concentration_of_the_trace() -> None:
    traced = trace(net(), "K", by=("raw", "stage", "country"))
    a = product_dependency(net(), "K").sort_values(["raw", "stage"]).reset_index(drop=True)
    b = dependency_concentration(traced).sort_values(["raw", "stage"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
