"""HHI on hand-checked cases: capacities (with unit conversion), flows, controlling countries."""

from __future__ import annotations

import pandas as pd
import pytest

from onshore.network import Network
from onshore.risk.concentration import (
    capacity_concentration,
    concentration,
    concentration_table,
    dependency_concentration,
    flow_concentration,
    hhi,
)


def net() -> Network:
    companies = pd.DataFrame(
        {"id": ["c1", "c2", "c3", "c4"], "name": ["A", "B", "C", "D"], "country": ["CN", "KR", "JP", "US"]}
    )
    materials = pd.DataFrame({"id": ["graphite", "cell"], "name": ["g", "c"], "kind": ["intermediate", "cell"], "unit": ["t", "kWh"]})
    facilities = pd.DataFrame(
        {
            "id": ["a1", "a2", "a3", "a4", "k1"],
            "company": ["c1", "c1", "c2", "c3", "c4"],
            "name": ["A1", "A2", "B1", "C1", "Cells"],
            "country": ["CN", "CN", "KR", "JP", "US"],
            "stage": ["anode"] * 4 + ["cell"],
            "material": ["graphite"] * 4 + ["cell"],
            # 30 kt + 30 000 t in CN, 20 000 t in KR, 20 000 t in JP (A4 in kt: unit conversion)
            "capacity": [30.0, 30000.0, 20000.0, 20.0, None],
            "unit": ["kt", "t", "t", "kt", None],
        }
    )
    flows = pd.DataFrame(
        {
            "supplier": ["a1", "a3", "a4"],
            "customer": ["k1", "k1", "k1"],
            "material": ["graphite"] * 3,
            "quantity": [500.0, 300.0, 0.2],
            "unit": ["t", "t", "kt"],
            "period": ["2025", "2025", "2025"],
        }
    )
    return Network.from_frames(companies=companies, materials=materials, facilities=facilities, flows=flows)


def test_hhi_by_hand() -> None:
    assert hhi([50, 30, 20]) == pytest.approx(2500 + 900 + 400)
    assert hhi([1.0]) == 10_000
    assert hhi([1, 1, 1, 1]) == pytest.approx(2500)


def test_capacity_hhi_converts_units_and_skips_missing_capacity() -> None:
    out = capacity_concentration(net())
    assert list(out["material"]) == ["graphite"]  # the cell plant has no capacity
    row = out.iloc[0]
    assert row["total"] == pytest.approx(100_000)
    assert row["hhi"] == pytest.approx(10_000 * (0.6**2 + 0.2**2 + 0.2**2))  # 4400
    assert row["top"] == "CN" and row["top_share"] == pytest.approx(0.6)
    assert row["leaders"].startswith("CN 60%")


def test_controlling_country_moves_shares() -> None:
    # the KR company is controlled from CN: CN now holds 80 %
    out = capacity_concentration(net(), by="control", control={"c2": "CN"})
    assert out.iloc[0]["hhi"] == pytest.approx(10_000 * (0.8**2 + 0.2**2))
    default = capacity_concentration(net(), by="control")
    assert default.iloc[0]["hhi"] == pytest.approx(4400)


def test_flow_hhi() -> None:
    out = flow_concentration(net(), period="2025")
    row = out.iloc[0]
    assert (row["material"], row["stage"]) == ("graphite", "anode")
    assert row["total"] == pytest.approx(1000)
    assert row["hhi"] == pytest.approx(10_000 * (0.5**2 + 0.3**2 + 0.2**2))  # 3800


def test_table_and_stage_filter() -> None:
    t = concentration_table(net())
    assert set(t["basis"]) == {"capacity", "flows"}
    assert concentration_table(net(), stage="cell").empty


def test_dependency_hhi_per_raw_and_stage() -> None:
    traced = pd.DataFrame(
        {"raw": ["li", "li", "li", "co"], "stage": ["mine", "mine", "refine", "mine"],
         "country": ["AU", "CL", "CN", "CD"], "quantity": [0.5, 0.5, 1.0, 0.2]}
    )
    out = dependency_concentration(traced).set_index(["raw", "stage"])
    assert out.loc[("li", "mine"), "hhi"] == pytest.approx(5000)
    assert out.loc[("li", "refine"), "hhi"] == pytest.approx(10_000)
    assert out.loc[("co", "mine"), "top"] == "CD"


def test_empty_concentration() -> None:
    assert concentration(pd.DataFrame(columns=["g", "c", "quantity"]), ["g"], "c").empty
