"""Verdicts per rule on small hand-made networks: allowed, prohibited, unknown, and date edges."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from onshore.store.audit import AuditLog
from onshore.compliance import Outcome, Verdict, check, check_all, products, summary, worst
from onshore.errors import NotFound
from onshore.network import Network

D = dt.date.fromisoformat


def small(prices: bool = True) -> Network:
    companies = pd.DataFrame([
        ("prc", "PRC (SASAC)", "CN", "state"), ("zeng", "Zeng Yuqun", "CN", "person"),
        ("catl", "Contemporary Amperex Technology Co., Limited", "CN", "company"),
        ("catl_hu", "CATL Hungary Kft.", "HU", "company"), ("sister", "Sister Co", "CN", "company"),
        ("kr_cells", "Korea Cells Co", "KR", "company"), ("kr_parent", "Korea Parent", "KR", "company"),
        ("us_pack", "US Pack Inc", "US", "company"), ("us_owner", "US Owner", "US", "company"),
        ("xnm", "Xinjiang Nonferrous Metals Industry Group Co., Ltd.", "CN", "company"),
        ("au_mine", "Aussie Mining", "AU", "company"),
    ], columns=["id", "name", "country", "kind"])
    ownership = pd.DataFrame([
        {"owner": "zeng", "owned": "catl", "equity": .6}, {"owner": "catl", "owned": "catl_hu", "equity": 1.0},
        {"owner": "zeng", "owned": "sister", "equity": .9}, {"owner": "kr_parent", "owned": "kr_cells", "equity": 1.0},
        {"owner": "us_owner", "owned": "us_pack", "equity": 1.0}, {"owner": "prc", "owned": "xnm", "equity": 1.0},
    ])
    p = (lambda v: v) if prices else (lambda v: None)
    materials = pd.DataFrame([
        ("lithium", "Lithium", "raw", "kg", p(10.0)), ("cam", "Cathode active material", "intermediate", "kg", p(20.0)),
        ("anode", "Anode graphite", "intermediate", "kg", p(5.0)), ("cell", "Li-ion cell", "cell", "kWh", p(80.0)),
        ("pack", "Li-ion pack", "pack", "kWh", p(120.0)),
    ], columns=["id", "name", "kind", "unit", "price"])
    materials["currency"] = [("USD" if prices else None)] * len(materials)
    fac = pd.DataFrame([
        ("catl_ningde", "catl", "CATL Ningde", "CN", "cell", "cell"),
        ("catl_debrecen", "catl_hu", "CATL Debrecen", "HU", "cell", "cell"),
        ("sister_cell", "sister", "Sister cell plant", "HU", "cell", "cell"),
        ("kr_cell", "kr_cells", "Korea cell plant", "KR", "cell", "cell"),
        ("kr_cell_bare", "kr_cells", "Korea cell plant without suppliers", "KR", "cell", "cell"),
        ("kr_cam", "kr_cells", "Korea cathode plant", "KR", "cathode", "cam"),
        ("catl_cam", "catl", "CATL cathode plant", "CN", "cathode", "cam"),
        ("kr_cell_cn_cam", "kr_cells", "Korea cell plant on CATL cathode", "KR", "cell", "cell"),
        ("us_pack_catl", "us_pack", "US pack on CATL cells", "US", "pack", "pack"),
        ("xnm_refinery", "xnm", "XNM lithium refinery", "CN", "refine", "lithium"),
        ("au_lithium", "au_mine", "Aussie lithium", "AU", "mine", "lithium"),
        ("kr_cell_xnm", "kr_cells", "Korea cell plant on XNM lithium", "KR", "cell", "cell"),
        ("kr_anode", "kr_cells", "Korea anode plant", "KR", "anode", "anode"),
    ], columns=["id", "company", "name", "country", "stage", "material"])
    flows = pd.DataFrame([
        ("au_lithium", "kr_cam", "lithium"), ("kr_cam", "kr_cell", "cam"), ("kr_anode", "kr_cell", "anode"),
        ("catl_cam", "kr_cell_cn_cam", "cam"), ("kr_anode", "kr_cell_cn_cam", "anode"),
        ("catl_ningde", "us_pack_catl", "cell"), ("xnm_refinery", "kr_cell_xnm", "lithium"),
    ], columns=["supplier", "customer", "material"])
    flows["quantity"], flows["period"] = 1.0, "2024"
    flows["unit"] = ["kWh" if m == "cell" else "t" for m in flows["material"]]
    boms = pd.DataFrame([("cell", "cam", 1.5, "kg/kWh"), ("cell", "anode", 1.0, "kg/kWh"),
                         ("cam", "lithium", 0.1, "kg/kg"), ("pack", "cell", 1.0, "kWh/kWh")],
                        columns=["output", "input", "quantity", "unit"])
    licences = pd.DataFrame([{"licensor": "catl", "licensee": "us_pack", "technology": "LFP", "facility": "us_pack_catl",
                              "since": "2023"}])
    return Network.from_frames(companies=companies, ownership=ownership, materials=materials, facilities=fac,
                               flows=flows, boms=boms, licences=licences)


def one(vs: list[Verdict], rule: str) -> Verdict:
    (v,) = [v for v in vs if v.rule_id == rule]
    return v


@pytest.fixture(scope="module")
def net() -> Network:
    return small()


# ------------------------------------------------------------------ FY2024 NDAA s154
def test_154_date_edges(net: Network) -> None:
    assert one(check(net, "catl_ningde", "dod", D("2027-09-30")), "US-NDAA24-154").verdict == Outcome.NOT_APPLICABLE
    v = one(check(net, "catl_ningde", "dod", D("2027-10-01")), "US-NDAA24-154")
    assert v.verdict == Outcome.PROHIBITED
    assert "Contemporary Amperex" in v.reason and "2027-10-01" in v.reason


def test_154_allowed_prohibited_unknown(net: Network) -> None:
    on = D("2027-10-01")
    assert one(check(net, "kr_cell", "dod", on), "US-NDAA24-154").verdict == Outcome.ALLOWED
    sub = one(check(net, "catl_debrecen", "dod", on), "US-NDAA24-154")
    assert sub.verdict == Outcome.PROHIBITED and "controlled by" in sub.reason
    # a pack assembled in the US from CATL cells is produced (in part) by CATL
    assert one(check(net, "us_pack_catl", "dod", on), "US-NDAA24-154").verdict == Outcome.PROHIBITED
    # a sister company under common control with CATL: the unread affiliate wording decides
    sis = one(check(net, "sister_cell", "dod", on), "US-NDAA24-154")
    assert sis.verdict == Outcome.UNKNOWN and sis.settle


def test_154_applies_to_dod_sub_scopes_not_to_others(net: Network) -> None:
    on = D("2027-10-01")
    assert one(check(net, "catl_ningde", "dod_new_program", on), "US-NDAA24-154").verdict == Outcome.PROHIBITED
    assert not [v for v in check(net, "catl_ningde", "eu_market", on) if v.rule_id == "US-NDAA24-154"]


# ------------------------------------------------------------------ s805 / 1260H
def test_805_direct_and_indirect_dates(net: Network) -> None:
    r = "US-NDAA24-805-direct"
    assert one(check(net, "catl_ningde", "dod", D("2026-06-29")), r).verdict == Outcome.NOT_APPLICABLE
    assert one(check(net, "catl_ningde", "dod", D("2026-06-30")), r).verdict == Outcome.PROHIBITED
    assert one(check(net, "kr_cell_cn_cam", "dod", D("2026-06-30")), r).verdict == Outcome.ALLOWED
    r = "US-NDAA24-805-indirect"
    assert one(check(net, "kr_cell_cn_cam", "dod", D("2027-06-29")), r).verdict == Outcome.NOT_APPLICABLE
    v = one(check(net, "kr_cell_cn_cam", "dod", D("2027-06-30")), r)
    assert v.verdict == Outcome.PROHIBITED and "catl_cam" in v.reason
    assert one(check(net, "kr_cell", "dod", D("2027-06-30")), r).verdict == Outcome.ALLOWED
    # no supplier recorded: a listed supplier cannot be excluded
    assert one(check(net, "kr_cell_bare", "dod", D("2027-06-30")), r).verdict == Outcome.UNKNOWN


# ------------------------------------------------------------------ 10 U.S.C. 4865
def test_4865_dates_and_scopes(net: Network) -> None:
    r = "US-10USC4865-new"
    assert one(check(net, "catl_ningde", "dod_new_program", D("2027-12-31")), r).verdict == Outcome.NOT_APPLICABLE
    v = one(check(net, "catl_ningde", "dod_new_program", D("2028-01-01")), r)
    assert v.verdict == Outcome.PROHIBITED and "final assembly" in v.reason
    assert one(check(net, "catl_ningde", "dod_standard", D("2028-12-31")), "US-10USC4865-std").verdict == Outcome.NOT_APPLICABLE
    assert one(check(net, "catl_ningde", "dod_standard", D("2029-01-01")), "US-10USC4865-std").verdict == Outcome.PROHIBITED
    assert one(check(net, "catl_ningde", "dod_existing_program", D("2031-01-29")), "US-10USC4865-exist").verdict == Outcome.NOT_APPLICABLE
    assert one(check(net, "catl_ningde", "dod_existing_program", D("2031-01-30")), "US-10USC4865-exist").verdict == Outcome.PROHIBITED


def test_4865_feoc_licence_prohibits(net: Network) -> None:
    v = one(check(net, "us_pack_catl", "dod_new_program", D("2028-01-01")), "US-10USC4865-new")
    assert v.verdict == Outcome.PROHIBITED
    # the cells come from CATL in China: final assembly of the cells by a FEOC comes first
    assert "FEOC" in v.reason


def test_4865_without_prices_is_unknown_unless_the_bounds_decide() -> None:
    on = D("2028-01-01")
    # FEOC cathode and Korean anode, neither priced: the share could be anything from 0 to 1
    v = one(check(small(prices=False), "kr_cell_cn_cam", "dod_new_program", on), "US-10USC4865-new")
    assert v.verdict == Outcome.UNKNOWN and "prices" in v.reason and v.settle
    assert v.inputs["feoc_share_low"] == 0.0 and v.inputs["feoc_share_high"] == 1.0
    # every component Korean: no FEOC share whatever the prices, so the missing prices do not matter
    v = one(check(small(prices=False), "kr_cell", "dod_new_program", on), "US-10USC4865-new")
    assert v.verdict == Outcome.ALLOWED
    assert v.inputs["feoc_share_low"] == v.inputs["feoc_share_high"] == 0.0


def test_4865_with_one_component_unpriced_uses_the_bounds() -> None:
    """The FEOC cathode is priced, the Korean anode is not: over the priced parts alone the
    share is 100 %, but an anode of high enough price would bring it under 5 %: UNKNOWN."""
    net = small()
    m = net.materials
    m.loc[m["id"] == "anode", "price"] = None
    net = Network.from_frames(**{t: getattr(net, t) for t in ("companies", "materials", "facilities",
                                                               "ownership", "boms", "flows", "licences")})
    v = one(check(net, "kr_cell_cn_cam", "dod_new_program", D("2028-01-01")), "US-10USC4865-new")
    assert v.verdict == Outcome.UNKNOWN, v.reason
    assert v.inputs["feoc_share"] == pytest.approx(1.0)
    assert v.inputs["feoc_share_low"] == 0.0
    assert "anode" in v.reason


def test_4865_cost_share_from_the_trace(net: Network) -> None:
    pytest.importorskip("onshore.trace")
    on = D("2028-01-01")
    assert one(check(net, "kr_cell", "dod_new_program", on), "US-10USC4865-new").verdict == Outcome.ALLOWED
    v = one(check(net, "kr_cell_cn_cam", "dod_new_program", on), "US-10USC4865-new")
    assert v.verdict == Outcome.PROHIBITED and v.evidence


# ------------------------------------------------------------------ 30D
def test_30d_ends_after_2025_09_30(net: Network) -> None:
    before = check(net, "kr_cell", "us_tax_30d", D("2025-09-30"))
    after = check(net, "kr_cell", "us_tax_30d", D("2025-10-01"))
    assert one(before, "US-30D-END").verdict == Outcome.NOT_APPLICABLE
    assert one(after, "US-30D-END").verdict == Outcome.PROHIBITED
    assert "not eligible" in one(after, "US-30D-END").reason
    assert one(after, "US-30D-FEOC-comp").verdict == Outcome.NOT_APPLICABLE


def test_30d_feoc_components(net: Network) -> None:
    assert one(check(net, "catl_ningde", "us_tax_30d", D("2023-12-31")), "US-30D-FEOC-comp").verdict == Outcome.NOT_APPLICABLE
    v = one(check(net, "catl_ningde", "us_tax_30d", D("2024-01-01")), "US-30D-FEOC-comp")
    assert v.verdict == Outcome.PROHIBITED and v.reason.startswith("not eligible")


# ------------------------------------------------------------------ 45X (unconfirmed thresholds)
def test_45x_unconfirmed_never_firm(net: Network) -> None:
    v = one(check(net, "catl_ningde", "us_45x", D("2026-01-01")), "US-45X-PFE")
    assert v.verdict == Outcome.UNKNOWN and "would be PROHIBITED" in v.reason
    assert one(check(net, "catl_ningde", "us_45x", D("2025-12-31")), "US-45X-PFE").verdict == Outcome.NOT_APPLICABLE
    # a company with no recorded holders cannot pass an ownership test
    n = small()
    v2 = one(check(n, "kr_cell", "us_45x", D("2026-01-01")), "US-45X-PFE")
    assert v2.verdict == Outcome.UNKNOWN


# ------------------------------------------------------------------ UFLPA, 301, EU, DFARS
def test_uflpa_listing_dates(net: Network) -> None:
    r = "US-UFLPA-battery"
    assert one(check(net, "kr_cell_xnm", "us_import", D("2024-11-24")), r).verdict == Outcome.ALLOWED
    v = one(check(net, "kr_cell_xnm", "us_import", D("2024-11-25")), r)
    assert v.verdict == Outcome.PROHIBITED and "Xinjiang Nonferrous" in v.reason
    assert one(check(net, "kr_cell_bare", "us_import", D("2025-01-01")), r).verdict == Outcome.UNKNOWN


def test_tariff_is_information(net: Network) -> None:
    v = one(check(net, "catl_ningde", "us_import", D("2024-09-27")), "US-301-batteries")
    assert v.verdict == Outcome.INFO and "25.0%" in v.reason and "7.5%" in v.reason
    assert "no " in one(check(net, "kr_cell", "us_import", D("2025-01-01")), "US-301-batteries").reason
    assert one(check(net, "catl_ningde", "us_import", D("2024-09-26")), "US-301-batteries").verdict == Outcome.NOT_APPLICABLE


def test_eu_informational_dates(net: Network) -> None:
    assert one(check(net, "kr_cell", "eu_market", D("2027-02-17")), "EU-BR-passport").verdict == Outcome.NOT_APPLICABLE
    assert one(check(net, "kr_cell", "eu_market", D("2027-02-18")), "EU-BR-passport").verdict == Outcome.INFO
    assert one(check(net, "kr_cell", "eu_market", D("2027-08-18")), "EU-BR-DD").verdict == Outcome.INFO


def test_dfars_ends_and_restarts(net: Network) -> None:
    assert one(check(net, "kr_cell", "dod", D("2026-12-31")), "US-DFARS-7052-a").verdict == Outcome.ALLOWED
    assert one(check(net, "kr_cell", "dod", D("2027-01-01")), "US-DFARS-7052-a").verdict == Outcome.NOT_APPLICABLE
    assert one(check(net, "kr_cell", "dod", D("2027-01-01")), "US-DFARS-7052-b").verdict == Outcome.ALLOWED


# ------------------------------------------------------------------ plumbing
def test_unknown_product_and_buyer(net: Network) -> None:
    with pytest.raises(NotFound):
        check(net, "nope", "dod", D("2027-10-01"))
    with pytest.raises(NotFound):
        check(net, "kr_cell", "navy", D("2027-10-01"))


def test_verdicts_are_audited(net: Network, store) -> None:  # type: ignore[no-untyped-def]
    log = AuditLog(store.con)
    vs = check(net, "catl_ningde", "dod", D("2027-10-01"), audit=log)
    rows = log.rows()
    assert len(rows) == len(vs) and log.verify() == []
    assert set(rows["rule_id"]) == {v.rule_id for v in vs}
    assert (rows["evaluated_on"] == "2027-10-01").all()


def test_check_all_and_summary(net: Network) -> None:
    res = check_all(net, "dod", D("2027-10-01"))
    assert "catl_ningde" in res and "us_pack_catl" in res and "kr_cam" not in res
    rows = {r["product"]: r for r in summary(res)}
    assert rows["catl_ningde"]["verdict"] == "PROHIBITED"
    assert worst(res["catl_ningde"]) == Outcome.PROHIBITED
    d = res["catl_ningde"][0].as_dict()
    assert {"id", "verdict", "reason", "evidence"} <= set(d)


# ------------------------------------------------------------------ check --all (batched) = check per product
SCREENS = [("dod_new_program", "2028-01-01"), ("dod", "2027-10-01"), ("dod", "2026-06-30"), ("us_tax_30d", "2025-06-01"),
           ("us_45x", "2026-06-01"), ("us_import", "2026-01-01")]


def _same_as_per_product(network: Network, screens: list[tuple[str, str]]) -> int:
    n = 0
    for buyer, on in screens:
        batched = check_all(network, buyer, D(on))
        assert set(batched) == set(products(network))
        for p, vs in batched.items():
            got = {v.rule_id: (v.verdict, v.reason) for v in vs}
            want = {v.rule_id: (v.verdict, v.reason) for v in check(network, p, buyer, D(on))}
            assert got == want, (buyer, on, p)
            n += len(vs)
    return n


def test_check_all_matches_check_on_reference() -> None:
    assert _same_as_per_product(Network.reference(), SCREENS) > 0


@pytest.mark.parametrize("recycling", [0.0, 0.3])
def test_check_all_matches_check_on_synthetic(recycling: float) -> None:
    from onshore.synthetic import network

    net = network(n_facilities=150, seed=3, ownership=True, recycling=recycling)
    assert _same_as_per_product(net, [("dod_new_program", "2028-01-01"), ("us_tax_30d", "2025-06-01"), ("us_45x", "2026-06-01")]) > 0


def test_check_all_on_small_network_and_capped_evidence(net: Network) -> None:
    assert _same_as_per_product(net, SCREENS) > 0
    v = one(check_all(net, "dod", D("2027-10-01"))["us_pack_catl"], "US-NDAA24-154")
    assert v.verdict == Outcome.PROHIBITED and any("--all mode" in e for e in v.evidence)


def test_data_basis_counts_estimated_upstream_flows() -> None:
    from onshore.compliance import data_basis

    net = Network.reference()
    b = data_basis(net, "ses_chungju")
    f = net.flows
    assert b["upstream_plants"] > 5 and 0 < b["estimated_flows"] <= b["flows"]
    assert "estimates" in b["text"]
    # independent count: walk the flows' ids upstream, then count the flows among them
    for product in ("ses_chungju", "lges_wroclaw_modules", "lges_holland"):
        for period in (None, "2024"):
            g = f if period is None else f[f["period"].astype(str).str.startswith(period)]
            ends = list(zip(g["supplier"].astype(str), g["customer"].astype(str), strict=True))
            seen, todo = {product}, [product]
            while todo:
                at = todo.pop()
                for s_, c_ in ends:
                    if c_ == at and s_ not in seen:
                        seen.add(s_)
                        todo.append(s_)
            inside = g[g["supplier"].astype(str).isin(seen) & g["customer"].astype(str).isin(seen)]
            got = data_basis(net, product, period)
            assert got["upstream_plants"] == len(seen) - 1, (product, period)
            assert got["flows"] == len(inside), (product, period)
            assert got["estimated_flows"] == int(inside["estimate"].fillna(False).sum())
    lone = data_basis(net, net.facilities["id"][~net.facilities["id"].isin(f["customer"])].iloc[0])
    assert lone == {"upstream_plants": 0, "flows": 0, "estimated_flows": 0, "text": "no recorded supplier flows"}


def _cell_without_electrolyte_maker() -> Network:
    """A KR cell of cam (1.5 kg x 20), anode (1 kg x 5) and electrolyte (0.5 kg x 20 USD) whose
    electrolyte has no recorded supplier and no plant in the network makes electrolyte."""
    m = [("cam", "intermediate", "kg", 20.0), ("anode", "intermediate", "kg", 5.0),
         ("el", "intermediate", "kg", 20.0), ("cell", "cell", "kWh", 80.0)]
    return Network.from_frames(
        companies=pd.DataFrame([{"id": "kr", "name": "Kr Co", "country": "KR"}]),
        materials=pd.DataFrame([{"id": i, "name": i, "kind": k, "unit": u, "price": p, "currency": "USD", "price_year": 2024}
                                for i, k, u, p in m]),
        facilities=pd.DataFrame([{"id": i, "company": "kr", "name": i, "country": "KR", "stage": s, "material": mat}
                                 for i, s, mat in [("cam1", "cathode", "cam"), ("an1", "anode", "anode"), ("cell1", "cell", "cell")]]),
        boms=pd.DataFrame([{"output": "cell", "input": i, "quantity": q} for i, q in [("cam", 1.5), ("anode", 1.0), ("el", 0.5)]]),
        flows=pd.DataFrame([{"supplier": s, "customer": "cell1", "material": mat, "quantity": 1, "unit": "t", "period": "2025"}
                            for s, mat in [("cam1", "cam"), ("an1", "anode")]]),
    )


def test_an_input_no_plant_makes_is_never_allowed() -> None:
    # 10 of the 45 USD of components (22.2 %) are of unknown origin and stage: above the 5 % limit
    net = _cell_without_electrolyte_maker()
    on = dt.date(2028, 1, 2)
    (v,) = [v for v in check(net, "cell1", "dod_new_program", on) if v.rule_id == "US-10USC4865-new"]
    assert v.verdict == Outcome.UNKNOWN and "22.2%" in v.reason
    (a,) = [v for v in check_all(net, "dod_new_program", on)["cell1"] if v.rule_id == "US-10USC4865-new"]
    assert a.verdict == Outcome.UNKNOWN


def test_a_date_may_be_a_string(net: Network) -> None:
    from onshore.errors import InputError

    by_date = [v.verdict for v in net.check("kr_cell_xnm", "us_import", dt.date(2024, 11, 25))]
    assert [v.verdict for v in net.check("kr_cell_xnm", "us_import", on="2024-11-25")] == by_date
    with pytest.raises(InputError, match="YYYY-MM-DD"):
        net.check("kr_cell_xnm", "us_import", on="25.11.2024")


def test_a_pack_without_a_recorded_cell_plant_cannot_have_its_cell_maker_checked() -> None:
    net = Network.reference()
    pack = "bmw_woodruff"
    assert net.facilities.set_index("id").loc[pack, "stage"] == "pack"
    assert not (net.flows["customer"] == pack).any()  # no recorded supplier at all
    v = one(check(net, pack, "dod", D("2027-10-01")), "US-NDAA24-154")
    assert v.verdict == Outcome.UNKNOWN
    assert v.reason == f"no cell plant is recorded upstream of {pack}, so its cell maker cannot be checked"
    assert v.settle == [f"record the flows from the cell plants into {pack}"]
    # a cell plant is its own first stage: no such gap for it
    cell = one(check(net, "ses_chungju", "dod", D("2027-10-01")), "US-NDAA24-154")
    assert "cannot be checked" not in cell.reason


@pytest.mark.parametrize("seed", [0, 5])
def test_node_fields_by_facility_position_equal_the_node_table(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-node fields the rule kinds read, taken from each node's facility by position,
    equal the same fields read node by node off the trace's node table: with missing
    countries, stages and companies, and virtual nodes."""
    import numpy as np

    from onshore import synthetic
    from onshore.compliance.context import Context, context

    base = synthetic.network(300, seed=seed)
    fac = base.facilities.copy()
    fac.loc[fac.index[::7], "country"] = None
    fac.loc[fac.index[3::11], "stage"] = None
    fac.loc[fac.index[5::13], "company"] = None
    flows = base.flows
    net = Network.from_frames(materials=base.materials, facilities=fac, boms=base.boms, flows=flows,
                              companies=base.companies)
    fast = context(net).node_fields()
    assert fast["virtual"].any() and pd.isna(fast["country"]).sum() + (fast["country"] == "nan").sum() > 0
    monkeypatch.setattr(Context, "_node_facility", lambda self, g: None)
    slow = Context.node_fields(context(Network.from_frames(
        materials=base.materials, facilities=fac, boms=base.boms, flows=flows, companies=base.companies)))
    assert fast.keys() == slow.keys()
    for k in fast:
        a, b = fast[k], slow[k]
        assert a.shape == b.shape and a.dtype == b.dtype, k
        na = pd.isna(a)
        assert (na == pd.isna(b)).all() and (a[~na] == b[~na]).all(), k
