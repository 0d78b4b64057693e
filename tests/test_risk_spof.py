"""Single points of failure on a small network whose answer is known by hand.

    mineA (AU) --li 100--> refX (CN) --lioh 60--> cell (KR)
    mineB (CL) --li 100--> refY (JP) --lioh 40--> cell
                           refZ (CN), idle, spare 10 of lioh
The cell needs both lioh sources in its 60/40 mix. refX and refZ belong to one company.
"""

from __future__ import annotations

import pandas as pd
import pytest

from onshore.errors import NotFound
from onshore.network import Network
from onshore.risk.spof import single_points_of_failure


def net(spare_z: float = 10.0) -> Network:
    companies = pd.DataFrame({"id": ["m1", "m2", "r1", "r2", "k"], "name": list("ABCDE"), "country": ["AU", "CL", "CN", "JP", "KR"]})
    materials = pd.DataFrame({"id": ["li", "lioh", "cell"], "name": ["li", "lioh", "cell"], "kind": ["raw", "intermediate", "cell"], "unit": ["t", "t", "kWh"]})
    facilities = pd.DataFrame(
        {
            "id": ["mineA", "mineB", "refX", "refY", "refZ", "cell"],
            "company": ["m1", "m2", "r1", "r2", "r1", "k"],
            "name": ["Mine A", "Mine B", "Ref X", "Ref Y", "Ref Z", "Cell"],
            "country": ["AU", "CL", "CN", "JP", "CN", "KR"],
            "stage": ["mine", "mine", "refine", "refine", "refine", "cell"],
            "material": ["li", "li", "lioh", "lioh", "lioh", "cell"],
            "capacity": [100.0, 100.0, 60.0, 40.0, spare_z, 1000.0],
            "unit": ["t", "t", "t", "t", "t", "kWh"],
        }
    )
    flows = pd.DataFrame(
        {
            "supplier": ["mineA", "mineB", "refX", "refY"],
            "customer": ["refX", "refY", "cell", "cell"],
            "material": ["li", "li", "lioh", "lioh"],
            "quantity": [100.0, 100.0, 60.0, 40.0],
            "unit": ["t"] * 4,
            "period": ["2025"] * 4,
        }
    )
    return Network.from_frames(companies=companies, materials=materials, facilities=facilities, flows=flows)


def test_spof_by_hand() -> None:
    out = single_points_of_failure(net(), "cell", threshold=0.0, kind="facility").set_index("id")
    # refX lost: 60 of lioh, refZ covers 10 -> 50/60 of refX's output gone -> cell loses 60 % * 5/6 = 50 %
    assert out.loc["refX", "loss"] == pytest.approx(0.5)
    # refY lost: 40, refZ covers 10 -> 30 % of the cell
    assert out.loc["refY", "loss"] == pytest.approx(0.3)
    # a mine lost: no spare lithium anywhere -> its refinery stops
    assert out.loc["mineA", "loss"] == pytest.approx(0.6)
    assert out.loc["mineB", "loss"] == pytest.approx(0.4)
    assert out.loc["cell", "loss"] == pytest.approx(1.0)
    assert list(out.index[:3]) == ["cell", "mineA", "refX"]  # ranked
    assert "refZ" not in out.index or out.loc["refZ", "loss"] == 0.0


def test_spof_company_and_threshold() -> None:
    out = single_points_of_failure(net(), "cell", threshold=0.45, kind="company").set_index("id")
    # company r1 loses refX and refZ together: no spare left -> 60 %
    assert out.loc["r1", "loss"] == pytest.approx(0.6)
    assert "r2" not in out.index  # 30 % is under the threshold


def test_spof_without_spare_and_by_material() -> None:
    out = single_points_of_failure(net(spare_z=0.0), "cell", threshold=0.0, kind="facility").set_index("id")
    assert out.loc["refX", "loss"] == pytest.approx(0.6)
    by_mat = single_points_of_failure(net(), "cell", threshold=0.0, kind="facility").set_index("id")
    assert by_mat.loc["refY", "loss"] == pytest.approx(0.3)


def test_unknown_product() -> None:
    with pytest.raises(NotFound):
        single_points_of_failure(net(), "nope")
