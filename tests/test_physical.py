"""Physical checks: flows within capacity, only from producing plants, inputs fitting recipes."""

from __future__ import annotations

from functools import cache

import pandas as pd

from onshore.io.load import import_files
from onshore.network import Network
from onshore.records.physical import check_physical, period_months, producing_months
from onshore.store.duckdb import DuckDBStore
from onshore.trace import validate


@cache
def ref() -> Network:
    return Network.reference()


def _net(flows: list[dict], **fac: dict) -> tuple[pd.DataFrame, ...]:
    base = {"status": "operating", "since": None, "until": None}
    f = pd.DataFrame(
        [
            {
                "id": "a",
                "material": "anode",
                "capacity": 12.0,
                "unit": "kt",
                **base,
                **fac.get("a", {}),
            },
            {
                "id": "c",
                "material": "cell",
                "capacity": 10.0,
                "unit": "GWh",
                **base,
                **fac.get("c", {}),
            },
        ]
    )
    mats = pd.DataFrame({"id": ["anode", "cell"], "unit": ["kg", "kWh"]})
    boms = pd.DataFrame(
        {
            "output": ["cell"],
            "input": ["anode"],
            "quantity": [1.0],
            "unit": ["kg/kWh"],
            "facility": [None],
        }
    )
    fl = pd.DataFrame(
        [{"supplier": "a", "customer": "c", "material": "anode", "unit": "t", **x} for x in flows]
    )
    return f, fl, boms, mats


def _checks(*args: pd.DataFrame) -> list[tuple[str, str]]:
    return [(x.level, x.check) for x in check_physical(*args)]


def test_the_bundled_network_passes_every_physical_check() -> None:
    net = ref()
    found = check_physical(net.facilities, net.flows, net.boms, net.materials)
    assert [f for f in found if f.level == "error"] == []
    assert [f for f in found if f.level == "warning"] == []
    assert [f for f in validate(net, sample=5) if f.level == "error"] == []


def test_a_flow_over_capacity_fails() -> None:
    assert _checks(*_net([{"quantity": 1000.0, "period": "2025"}])) == []
    assert ("error", "capacity") in _checks(*_net([{"quantity": 12001.0, "period": "2025"}]))


def test_a_quarter_counts_against_a_quarter_and_a_month_a_twelfth() -> None:
    assert _checks(*_net([{"quantity": 900.0, "period": "2025-Q1"}])) == []
    assert ("error", "capacity") in _checks(*_net([{"quantity": 3001.0, "period": "2025-Q1"}]))
    assert ("error", "capacity") in _checks(*_net([{"quantity": 1001.0, "period": "2025-03"}]))
    # yearly and monthly rows of one year are added up
    rows = [{"quantity": 11500.0, "period": "2025"}, {"quantity": 900.0, "period": "2025-02"}]
    found = check_physical(*_net(rows))
    assert any(f.check == "capacity" and "over its periods" in f.message for f in found)


def test_no_flow_leaves_a_plant_that_was_not_producing() -> None:
    one = [{"quantity": 10.0, "period": "2024"}]
    assert ("error", "producing") in _checks(*_net(one, a={"since": "2026"}))
    assert ("error", "producing") in _checks(
        *_net([{"quantity": 10.0, "period": "2026"}], a={"until": "2025"})
    )
    assert ("error", "producing") in _checks(*_net(one, a={"status": "construction"}))
    assert ("error", "producing") in _checks(*_net(one, a={"status": "cancelled", "since": "2020"}))
    assert _checks(*_net(one, a={"status": "construction", "since": "2024-06"})) == []
    # a plant that started in October has three twelfths of its capacity in that year
    late = _net([{"quantity": 3500.0, "period": "2024"}], a={"since": "2024-10"})
    assert ("error", "capacity") in _checks(*late)


def test_inputs_must_fit_the_recipe() -> None:
    # a 1 GWh cell plant (1 kg anode per kWh) cannot use 1,500 t of anode in a year
    small = {"capacity": 1.0}
    assert ("error", "recipe") in _checks(*_net([{"quantity": 1500.0, "period": "2025"}], c=small))
    assert _checks(*_net([{"quantity": 900.0, "period": "2025"}], c=small)) == []


def test_producing_months() -> None:
    assert period_months("2025-Q2") == (2025 * 12 + 3, 2025 * 12 + 5)
    assert producing_months("operating", None, None) == (float("-inf"), float("inf"))
    assert producing_months("planned", None, None) is None
    assert producing_months("paused", "2022-08", "2025") == (2022 * 12 + 7, 2025 * 12 + 11)


def test_own_data_gets_warnings_not_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "companies.csv").write_text("id,name,country\nco,Co,KR\n")
    (tmp_path / "materials.csv").write_text(
        "id,name,kind,unit\nanode,Anode,intermediate,kg\ncell,Cell,cell,kWh\n"
    )
    (tmp_path / "facilities.csv").write_text(
        "id,company,name,country,stage,material,capacity,unit,status,since\n"
        "a,co,A,KR,anode,anode,1,kt,operating,\n"
        "c,co,C,KR,cell,cell,,,planned,\n"
    )
    (tmp_path / "flows.csv").write_text(
        "supplier,customer,material,quantity,unit,period\na,c,anode,2,kt,2025\n"
    )
    files = [tmp_path / f"{t}.csv" for t in ("companies", "materials", "facilities", "flows")]
    with DuckDBStore(":memory:") as store:
        written = import_files(store, files)
        assert written["flows"] == 1
        checks = {(f.level, f.check) for f in written.findings}
    assert ("error", "capacity") in checks and ("warning", "producing") in checks
