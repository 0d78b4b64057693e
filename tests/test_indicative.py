"""A content-based pass that rests on estimated or prior-based inputs is ALLOWED (indicative),
with the share of the tested value that rests on them, or UNKNOWN above INDICATIVE_MAX.

Hand-built: a Korean cell plant whose cathode active material (cam, 1.5 kg/kWh at 20 USD/kg:
30 USD) and anode (1.0 kg/kWh at 5 USD/kg: 5 USD) come from Korean plants, with 28 % of the
anode from a Chinese plant. 10 U.S.C. 4865 tests the cam/anode value (35 USD per kWh): the FEOC
share is 0.28 x 5 / 35 = 4 %, below the 5 % limit. Which flows are estimates decides what the
pass rests on; an estimated volume counts only where it splits an input between suppliers.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from onshore.compliance import Outcome, Verdict, check
from onshore.compliance.verdicts import INDICATIVE_MAX
from onshore.network import Network

NEW = dt.date(2028, 1, 1)
COMPANIES = [
    ("hanul", "Hanul Cells Co., Ltd.", "KR", "company"),
    ("hanul_hold", "Hanul Holdings", "KR", "company"),
    ("hgr", "Hunan Graphite Co., Ltd.", "CN", "company"),
    ("outback", "Outback Lithium Ltd", "AU", "company"),
    ("liberty", "Liberty Cells Inc.", "US", "company"),
    ("liberty_hold", "Liberty Holdings", "US", "company"),
]
OWNERSHIP = [
    {"owner": "hanul_hold", "owned": "hanul", "equity": 1.0},
    {"owner": "liberty_hold", "owned": "liberty", "equity": 1.0},
]
MATERIALS = [
    ("li", "Lithium", "raw", "kg", 10.0),
    ("cam", "Cathode active material", "intermediate", "kg", 20.0),
    ("an", "Anode graphite", "intermediate", "kg", 5.0),
    ("cell", "Li-ion cell", "cell", "kWh", 80.0),
]
BOMS = [("cell", "cam", 1.5, "kg/kWh"), ("cell", "an", 1.0, "kg/kWh"), ("cam", "li", 0.1, "kg/kg")]
PLANTS = [
    ("au_li", "outback", "AU", "mine", "li"),
    ("kr_cam", "hanul", "KR", "cathode", "cam"),
    ("kr_cam2", "hanul", "KR", "cathode", "cam"),
    ("kr_an", "hanul", "KR", "anode", "an"),
    ("cn_an", "hgr", "CN", "anode", "an"),
    ("kr_cell", "hanul", "KR", "cell", "cell"),
    ("us_cell", "liberty", "US", "cell", "cell"),
]


def network(cell: str, cam: list[tuple[str, float, bool]], an: list[tuple[str, float, bool]]) -> Network:
    """The network with ``cell`` fed by ``cam`` and ``an`` suppliers (id, quantity, estimate)."""
    flows = [("au_li", "kr_cam", "li", 1.0, False), ("au_li", "kr_cam2", "li", 1.0, False)]
    flows += [(s, cell, "cam", q, e) for s, q, e in cam] + [(s, cell, "an", q, e) for s, q, e in an]
    mats = pd.DataFrame(MATERIALS, columns=["id", "name", "kind", "unit", "price"])
    mats["currency"] = "USD"
    return Network.from_frames(
        companies=pd.DataFrame(COMPANIES, columns=["id", "name", "country", "kind"]),
        ownership=pd.DataFrame(OWNERSHIP),
        materials=mats,
        facilities=pd.DataFrame(
            [(f, c, f"plant {f}", k, s, m) for f, c, k, s, m in PLANTS],
            columns=["id", "company", "name", "country", "stage", "material"],
        ),
        flows=pd.DataFrame(
            [(s, c, m, q, "kWh" if m == "cell" else "t", "2024", e) for s, c, m, q, e in flows],
            columns=["supplier", "customer", "material", "quantity", "unit", "period", "estimate"],
        ),
        boms=pd.DataFrame(BOMS, columns=["output", "input", "quantity", "unit"]),
    )


def one(net: Network, product: str, buyer: str, on: dt.date, rule: str) -> Verdict:
    (v,) = [v for v in check(net, product, buyer, on) if v.rule_id == rule]
    return v


def s4865(cam_est: bool, an_est: bool, two_cam: bool = False) -> Verdict:
    cam = [("kr_cam", 1.0, cam_est)] + ([("kr_cam2", 1.0, cam_est)] if two_cam else [])
    an = [("kr_an", 72.0, an_est), ("cn_an", 28.0, an_est)]
    return one(network("kr_cell", cam, an), "kr_cell", "dod_new_program", NEW, "US-10USC4865-new")


def test_a_pass_on_recorded_volumes_is_a_plain_allowed() -> None:
    v = s4865(cam_est=False, an_est=False)
    assert v.verdict == Outcome.ALLOWED and not v.indicative, v.reason
    assert "indicative" not in v.reason and v.inputs["estimated_share"] == 0.0


def test_a_pass_resting_on_an_estimated_split_is_indicative_with_its_share() -> None:
    # the anode split (72 / 28) is estimated: the anode's 5 of 35 USD rests on it
    v = s4865(cam_est=False, an_est=True)
    assert v.verdict == Outcome.ALLOWED and v.indicative, v.reason
    assert v.reason.startswith("ALLOWED (indicative):")
    assert "14.3% of the cost of the cathode/anode/electrolyte/separator components" in v.reason
    assert v.inputs["estimated_share"] == pytest.approx(5 / 35)
    assert "estimates/priors" in v.inputs["basis"] and v.as_dict()["indicative"] is True


def test_an_estimated_sole_supplier_changes_nothing() -> None:
    # the cam has one supplier: its share is 1 whatever the estimated volume
    v = s4865(cam_est=True, an_est=False)
    assert v.verdict == Outcome.ALLOWED and not v.indicative, v.reason


def test_a_pass_resting_mostly_on_estimates_is_unknown() -> None:
    # cam split between two plants by estimated volumes as well: 35 of 35 USD rests on estimates
    v = s4865(cam_est=True, an_est=True, two_cam=True)
    assert INDICATIVE_MAX < 1.0
    assert v.verdict == Outcome.UNKNOWN and not v.indicative, v.reason
    assert v.reason.startswith("would be ALLOWED, but 100.0% of the cost") and v.settle


def test_a_fail_is_not_softened_by_estimates() -> None:
    # a Chinese anode split: 14.3 % FEOC > 5 %: PROHIBITED, however estimated the split is
    an = [("cn_an", 1.0, True), ("kr_an", 0.0001, True)]
    net = network("kr_cell", [("kr_cam", 1.0, False)], an)
    v = one(net, "kr_cell", "dod_new_program", NEW, "US-10USC4865-new")
    assert v.verdict == Outcome.PROHIBITED and not v.indicative


def test_content_threshold_pass_is_indicative() -> None:
    # 30D battery components: US cell 80 of 80 + 30 + 5 = 69.6 % >= 60 % (2024); the cam split
    # between two Korean plants is estimated: 30 of 115 USD rests on it
    net = network("us_cell", [("kr_cam", 1.0, True), ("kr_cam2", 1.0, True)], [("kr_an", 1.0, False)])
    v = one(net, "us_cell", "us_tax_30d", dt.date(2024, 6, 1), "US-30D-BC")
    assert v.verdict == Outcome.ALLOWED and v.indicative, v.reason
    assert "ALLOWED (indicative)" in v.reason and "26.1%" in v.reason
    net = network("us_cell", [("kr_cam", 1.0, False)], [("kr_an", 1.0, False)])
    v = one(net, "us_cell", "us_tax_30d", dt.date(2024, 6, 1), "US-30D-BC")
    assert v.verdict == Outcome.ALLOWED and not v.indicative, v.reason


def test_an_estimated_split_is_judged_on_the_flows_of_the_period() -> None:
    # the anode split is estimated in 2025, the period decided from (as `onshore check` takes
    # the latest year); recorded volumes of the same suppliers in 2024 do not make the 2025
    # shares recorded
    net = network("kr_cell", [("kr_cam", 1.0, False)], [("kr_an", 72.0, True), ("cn_an", 28.0, True)])
    f = net.flows.assign(period="2025")
    sure_2024 = f[f["material"] == "an"].assign(period="2024", estimate=False)
    net = Network.from_frames(**{**_tables(net), "flows": pd.concat([f, sure_2024])})
    (v,) = [v for v in check(net, "kr_cell", "dod_new_program", NEW, period="2025")
            if v.rule_id == "US-10USC4865-new"]
    assert v.verdict == Outcome.ALLOWED and v.indicative, v.reason
    assert v.inputs["estimated_share"] == pytest.approx(5 / 35)
    (pooled,) = [v for v in check(net, "kr_cell", "dod_new_program", NEW)
                 if v.rule_id == "US-10USC4865-new"]  # 2024 and 2025 together: recorded
    assert pooled.verdict == Outcome.ALLOWED and not pooled.indicative, pooled.reason


def _tables(net: Network) -> dict[str, pd.DataFrame]:
    return {t: getattr(net, t) for t in ("companies", "materials", "facilities", "ownership", "boms", "flows")}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_estimate_flags_of_A_equal_a_count_by_hand(seed: int) -> None:
    """Per entry of the trace matrix: every flow of the period behind it is an estimate and its
    customer has several suppliers of the material, counted flow by flow in Python."""
    import numpy as np

    from onshore import synthetic
    from onshore.trace import graph

    net = synthetic.network(400, n_flows=3000, seed=seed)
    rng = np.random.default_rng(seed)
    f = net.flows.copy()
    f["estimate"] = rng.uniform(size=len(f)) < 0.7
    f["period"] = np.where(rng.uniform(size=len(f)) < 0.5, "2024", "2025")
    net = Network.from_frames(**{**_tables(net), "flows": f})
    g = graph(net, "2025")
    assert g.estimated is not None and len(g.estimated) == g.A.nnz
    rows = f[f["period"] == "2025"]
    sure: dict[tuple[str, str, str], bool] = {}
    suppliers: dict[tuple[str, str], set[str]] = {}
    for s, c, m, e in zip(rows["supplier"], rows["customer"], rows["material"], rows["estimate"], strict=True):
        sure[(c, s, m)] = sure.get((c, s, m), False) or not e
        suppliers.setdefault((c, m), set()).add(s)
    A = g.A.tocoo()
    fac = g.nodes["facility"].to_numpy()
    mat = g.nodes["material"].to_numpy()
    want = np.array([
        (fac[p], fac[u], mat[u]) in sure and not sure[(fac[p], fac[u], mat[u])]
        and len(suppliers[(fac[p], mat[u])]) > 1
        for p, u in zip(A.row, A.col, strict=True)
    ])
    assert want.any() and not want.all()
    assert np.array_equal(g.estimated, want)


def test_a_zero_flow_leaves_the_matrix_and_its_flags_aligned() -> None:
    """A recorded flow of quantity 0 in a split is an explicit zero of ``A``: solving plans
    must not drop it from the graph's own matrix, whose entries the estimate flags follow."""
    import numpy as np

    from onshore import synthetic
    from onshore.compliance import check_all
    from onshore.trace import forward_plan, graph

    base = synthetic.network(300, seed=3)
    f = base.flows.copy()
    f["quantity"] = f["quantity"].astype(float)
    several = f.groupby(["customer", "material"], observed=True)["supplier"].transform("nunique") > 1
    f.loc[f.index[several.to_numpy()][:1], "quantity"] = 0.0
    f["estimate"] = np.random.default_rng(0).random(len(f)) < 0.5
    net = Network.from_frames(**{**_tables(base), "flows": f})
    g = graph(net)
    nnz, flags = g.A.nnz, g.estimated
    assert (g.A.data == 0).any()
    forward_plan(g)
    assert g.A.nnz == nnz and flags is not None and len(flags) == g.A.nnz
    res = check_all(net, "us_tax_30d", dt.date(2025, 6, 1))
    assert res and all(vs for vs in res.values())
