"""The trace: hand-computed Leontief answers, cycles, data gaps, refusals, paths, cost, checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from onshore.trace import leontief as S
from onshore import trace as T
from onshore.errors import NotFound, TraceError
from onshore.trace.graph import build
from onshore.network import Network
from test_graph import boms, facs, flows, mats


def q(df: pd.DataFrame, **tag: str) -> float:
    m = np.ones(len(df), dtype=bool)
    for k, v in tag.items():
        m &= df[k].to_numpy() == v
    return float(df.loc[m, "quantity"].sum())


def pack_net(prices: bool = False) -> Network:
    """A US pack of 10 kWh of cells: 30 kWh bought from KR, 10 kWh from CN."""
    m = mats(("li", "raw", "kg"), ("ore", "intermediate", "kg"), ("cell", "cell", "kWh"), ("pack", "pack", "packs"))
    if prices:
        m["price"] = [None, 10.0, 100.0, None]
        m["currency"] = [None, "USD", "EUR", None]
        m["price_year"] = [None, None, 2023, None]
    return Network.from_frames(
        companies=pd.DataFrame(
            [
                {"id": "co", "name": "Co", "country": "KR"},
                {"id": "st", "name": "State", "country": "CN", "kind": "state"},
                {"id": "cn", "name": "CnCo", "country": "SG"},
            ]
        ),
        ownership=pd.DataFrame([{"owner": "st", "owned": "cn", "equity": 0.6}]),
        materials=m,
        facilities=pd.concat(
            [
                facs(("mau", "AU", "mine", "ore"), ("mcl", "CL", "mine", "ore"), ("ckr", "KR", "cell", "cell"), ("pus", "US", "pack", "pack")),
                pd.DataFrame([{"id": "ccn", "company": "cn", "name": "ccn", "country": "CN", "stage": "cell", "material": "cell"}]),
            ]
        ),
        boms=boms(("ore", "li", 0.1), ("cell", "ore", 2.0), ("pack", "cell", 10.0)),
        flows=flows(
            ("mau", "ckr", "ore", 1, "t"),
            ("mcl", "ccn", "ore", 1, "t"),
            ("ckr", "pus", "cell", 30, "kWh"),
            ("ccn", "pus", "cell", 10, "kWh"),
        ),
    )


def test_pack_of_cells_from_two_countries() -> None:
    t = T.trace(pack_net(), "pus")
    # 10 kWh x 2 kg ore x 0.1 kg Li = 2 kg Li per pack; 3/4 of the cells from KR
    assert q(t, raw="li", stage="pack", country="US") == pytest.approx(2.0)
    assert q(t, raw="li", stage="cell", country="KR") == pytest.approx(1.5)
    assert q(t, raw="li", stage="cell", country="CN") == pytest.approx(0.5)
    assert q(t, raw="li", stage="mine", country="AU") == pytest.approx(1.5)
    assert q(t, raw="li", stage="mine", country="CL") == pytest.approx(0.5)
    share = t.set_index(["stage", "country"])["share"]
    assert share[("cell", "KR")] == pytest.approx(0.75)
    assert list(t.columns) == ["raw", "stage", "country", "quantity", "share"]


def test_controlling_country_and_hook() -> None:
    net = pack_net()
    t = T.trace(net, "pus", by=("stage", "controlling_country"))
    # ccn's company 'cn' (SG) is 60 % held by the Chinese state: direct parent -> CN
    assert q(t, stage="cell", controlling_country="CN") == pytest.approx(0.5)
    assert q(t, stage="cell", controlling_country="KR") == pytest.approx(1.5)
    t2 = T.trace(net, "pus", by=("stage", "controlling_country"), controller=lambda n: {"cn": "XX", "co": "YY"})
    assert q(t2, stage="cell", controlling_country="XX") == pytest.approx(0.5)


def test_default_controller_is_the_ultimate_one() -> None:
    # cn (SG) is 60 % held by a Hong Kong holding, itself 60 % held by the Chinese state
    base = pack_net()
    comp = pd.concat([base.companies, pd.DataFrame([{"id": "hold", "name": "Hold", "country": "HK"}])], ignore_index=True)
    own = pd.DataFrame([{"owner": "hold", "owned": "cn", "equity": 0.6}, {"owner": "st", "owned": "hold", "equity": 0.6}])
    net = Network.from_frames(
        companies=comp[["id", "name", "country"] + (["kind"] if "kind" in comp else [])],
        ownership=own,
        materials=base.materials,
        facilities=base.facilities,
        boms=base.boms,
        flows=base.flows,
    )
    t = T.trace(net, "pus", by=("stage", "controlling_country"))
    assert q(t, stage="cell", controlling_country="CN") == pytest.approx(0.5)  # ultimate: the state
    assert q(t, stage="cell", controlling_country="HK") == 0.0
    t2 = T.trace(net, "pus", by=("stage", "controlling_country"), controller=T.direct_parent_country)
    assert q(t2, stage="cell", controlling_country="HK") == pytest.approx(0.5)  # direct parent
    assert q(t2, stage="cell", controlling_country="KR") == pytest.approx(1.5)


def recycle_net(gain: float = 1.0) -> Network:
    """Mine (AU) -> refiner (CN, fed partly by a recycler) -> cell (KR) -> recycler (US) -> refiner."""
    return Network.from_frames(
        companies=pd.DataFrame([{"id": "co", "name": "Co", "country": "KR"}]),
        materials=mats(("li", "raw", "kg"), ("ore", "intermediate", "kg"), ("lioh", "intermediate", "kg"), ("bm", "intermediate", "kg"), ("cell", "cell", "kWh")),
        facilities=facs(("m", "AU", "mine", "ore"), ("r", "CN", "refine", "lioh"), ("c", "KR", "cell", "cell"), ("y", "US", "recycle", "bm")),
        boms=boms(
            ("ore", "li", 0.1),
            ("lioh", "ore", 5.0),  # generic recipe, overridden at r
            ("lioh", "ore", 4.0, "r"),
            ("lioh", "bm", 1.0 * gain, "r"),
            ("cell", "lioh", 0.5),
            ("bm", "cell", 0.2),
        ),
        flows=flows(("m", "r", "ore", 10, "t"), ("y", "r", "bm", 1, "t"), ("r", "c", "lioh", 5, "t"), ("c", "y", "cell", 100, "kWh")),
    )


def test_recycling_loop_closed_form() -> None:
    net = recycle_net()
    # content: c_m = 0.1; c_r = 4 c_m + c_y; c_c = 0.5 c_r; c_y = 0.2 c_c  =>  c_r = 0.4 / 0.9
    c_r = 0.4 / 0.9
    c_c, c_y = 0.5 * c_r, 0.1 * c_r
    # Leontief row of the cell: y_c = 1 / (1 - 0.5 * 1 * 0.2), y_r = 0.5 y_c, y_y = y_r, y_m = 4 y_r
    y_c = 1 / 0.9
    y_r = 0.5 * y_c
    t = T.trace(net, "c")
    assert q(t, stage="mine", country="AU") == pytest.approx(4 * y_r * 0.1, rel=1e-12)
    assert q(t, stage="mine", country="AU") == pytest.approx(c_c, rel=1e-12)
    assert q(t, stage="refine", country="CN") == pytest.approx(y_r * c_r, rel=1e-12)
    assert q(t, stage="cell", country="KR") == pytest.approx(y_c * c_c, rel=1e-12)
    assert q(t, stage="recycle", country="US") == pytest.approx(y_r * c_y, rel=1e-12)
    g = build(net)
    C = np.linalg.inv(np.eye(g.n) - g.A.toarray()) @ g.E.toarray()
    assert T.content(T.graph(net))[g.node("c"), 0] == pytest.approx(C[g.node("c"), 0], rel=1e-12)


@pytest.mark.parametrize("direct_max", [0, 10_000])
def test_recycling_loop_iterative_and_direct(monkeypatch: pytest.MonkeyPatch, direct_max: int) -> None:
    monkeypatch.setattr(S, "DIRECT_MAX", direct_max)
    t = T.trace(recycle_net(), "c")
    assert q(t, stage="refine", country="CN") == pytest.approx(0.5 / 0.9 * 0.4 / 0.9, rel=1e-10)


@pytest.mark.parametrize("direct_max", [0, 10_000])
@pytest.mark.parametrize("gain", [10.0, 20.0])
def test_mass_creating_cycle_is_refused(monkeypatch: pytest.MonkeyPatch, direct_max: int, gain: float) -> None:
    # loop gain 0.5 * gain * 0.2: 1 at gain 10 (no loss), 2 at gain 20
    monkeypatch.setattr(S, "DIRECT_MAX", direct_max)
    with pytest.raises(TraceError, match=r"r:lioh") as e:
        T.trace(recycle_net(gain), "c")
    assert "c:cell" in str(e.value) and "y:bm" in str(e.value)


def test_unknown_origin_is_kept() -> None:
    net = pack_net()
    net.flows = net.flows[net.flows["supplier"] != "mcl"].reset_index(drop=True)
    t = T.trace(net, "pus")
    assert q(t, stage="mine", country="unknown") == pytest.approx(0.5)
    assert q(t, stage="mine") == pytest.approx(2.0)  # mass kept: BOM content 2 kg
    s = t.groupby(["raw", "stage"])["share"].sum()
    assert np.allclose(s.to_numpy(), 1.0)
    net2 = pack_net()
    net2.flows = net2.flows[net2.flows["customer"] != "pus"].reset_index(drop=True)
    t2 = T.trace(net2, "pus")
    assert q(t2, stage="cell", country="unknown") == pytest.approx(2.0)
    assert q(t2, stage="mine", country="unknown") == pytest.approx(2.0)
    assert q(t2, stage="pack", country="US") == pytest.approx(2.0)


def test_unknown_product() -> None:
    with pytest.raises(NotFound, match="pus"):
        T.trace(pack_net(), "pusx")


def test_a_material_the_plant_only_consumes_is_not_its_product() -> None:
    # pus receives cells from ckr and ccn and makes packs: its cells are not a product of it
    with pytest.raises(NotFound, match="'pus' consumes 'cell'.*pus:pack.*ccn:cell, ckr:cell"):
        T.trace(pack_net(), "pus:cell")
    assert len(T.trace(pack_net(), "ckr:cell"))


def test_paths_sum_to_traced_value() -> None:
    net = recycle_net()
    tag = {"raw": "li", "stage": "mine", "country": "AU"}
    total = q(T.trace(net, "c"), **tag)
    paths = T.explain(net, "c", tag, top=3)
    assert paths[-1].residual
    assert sum(p.weight for p in paths) == pytest.approx(total, rel=1e-12)
    assert paths[0].nodes == ["m:ore", "r:lioh", "c:cell"]
    assert paths[0].weight == pytest.approx(4 * 0.5 * 0.1)
    w = [p.weight for p in paths[:-1]]
    assert w == sorted(w, reverse=True) and len(w) == 3
    # the second heaviest goes once around the loop
    assert paths[1].nodes == ["m:ore", "r:lioh", "c:cell", "y:bm", "r:lioh", "c:cell"]
    # enumerate far enough and the residual vanishes geometrically
    many = T.explain(net, "c", tag, top=40)
    assert abs(many[-1].weight) < 1e-12 * total + 1e-30
    pk = T.explain(pack_net(), "pus", {"stage": "cell", "country": "KR"}, top=5)
    assert [p.nodes for p in pk[:-1]] == [["ckr:cell", "pus:pack"]]
    assert pk[-1].weight == pytest.approx(0.0, abs=1e-15)


def test_heaviest_explains_the_largest_tags() -> None:
    net = recycle_net()
    df = T.trace(net, "c")
    hv = T.heaviest(net, "c", tags=2, top=2)
    largest = df.sort_values("quantity", ascending=False).head(2)
    assert [tp.tag for tp in hv] == [
        {k: str(r[k]) for k in ("raw", "stage", "country")} for _, r in largest.iterrows()
    ]
    for tp in hv:
        assert tp.quantity == pytest.approx(q(df, **tp.tag), rel=1e-12)
        assert len(tp.paths) <= 3 and tp.paths[-1].residual
        assert sum(p.weight for p in tp.paths) == pytest.approx(tp.quantity, rel=1e-12)
    mined = T.heaviest(net, "c", tags=5, top=1, stages=("mine",))
    assert mined and {tp.tag["stage"] for tp in mined} == {"mine"}
    assert len(mined) == min(5, int((df["stage"] == "mine").sum()))


def test_cost_weighting() -> None:
    net = pack_net(prices=True)
    t = T.trace(net, "pus", by=("stage", "country"), weight="cost")
    eur = 1 / 0.924470740501063  # USD per EUR in 2023 (fx_rates.csv)
    # value of the cells per pack: 7.5 kWh from KR, 2.5 from CN at 100 EUR/kWh
    assert q(t, stage="cell", country="KR", price="known") == pytest.approx(750 * eur)
    assert q(t, stage="cell", country="CN", price="known") == pytest.approx(250 * eur)
    assert q(t, stage="mine", country="AU", price="known") == pytest.approx(15 * 10.0)
    # the pack has no price: kept, in its own units, under price 'unknown'
    assert q(t, stage="pack", country="US", price="unknown") == pytest.approx(1.0)
    cell = t[t["stage"] == "cell"]
    assert cell["share"].sum() == pytest.approx(1.0)
    tr = T.trace(net, "pus", by=("raw", "stage", "country"), weight="cost")
    assert set(tr["price"]) == {"unknown"}  # lithium has no price: all of it stays, in kg


def test_solve_all_matches_single_traces() -> None:
    net = recycle_net()
    allx = T.solve_all(net)
    assert isinstance(allx, pd.DataFrame)
    one = T.trace(net, "c")
    sub = allx[allx["product"] == "c:cell"]
    for _, r in one.iterrows():
        got = sub[(sub["stage"] == r["stage"]) & (sub["country"] == r["country"])]["quantity"].sum()
        assert got == pytest.approx(r["quantity"], rel=1e-10)


def test_solve_all_streams_parquet(tmp_path) -> None:  # type: ignore[no-untyped-def]
    net = pack_net()
    p = T.solve_all(net, out=tmp_path / "all", workers=2)
    raw = pd.read_parquet(p / "values")
    assert list(raw.columns) == ["node", "tag", "quantity"] and str(raw["node"].dtype) == "int32" and str(raw["tag"].dtype) == "int16"
    df = T.read_all(p)
    assert {"node", "product", "raw", "stage", "country", "quantity", "share"} <= set(df.columns)
    assert len(df) > 0 and df.groupby(["node", "raw", "stage"])["share"].sum().between(1 - 1e-12, 1 + 1e-12).all()
    mem = T.solve_all(net)
    assert isinstance(mem, pd.DataFrame)
    key = ["product", "raw", "stage", "country"]
    both = df.merge(mem, on=key, suffixes=("", "_mem"))
    assert len(both) == len(df) == len(mem) and np.allclose(both["quantity"], both["quantity_mem"], rtol=1e-12)


def test_validate_clean_and_broken() -> None:
    assert [f for f in T.validate(recycle_net()) if f.level == "error"] == []
    net = pack_net()
    net.flows = net.flows[net.flows["supplier"] != "mcl"].reset_index(drop=True)
    fs = T.validate(net)
    assert [f for f in fs if f.level == "error"] == []
    assert any(f.check == "unknown origin" and f.node == "ccn:cell" for f in fs)
    net2 = pack_net()
    net2.boms = net2.boms[net2.boms["output"] != "pack"].reset_index(drop=True)
    assert any(f.check == "no recipe" and f.node == "pus:pack" for f in T.validate(net2))


# ------------------------------------------------------------ agreement with a dense inverse
@st.composite
def random_system(draw: st.DrawFn) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    n = draw(st.integers(2, 40))
    seed = draw(st.integers(0, 2**31 - 1))
    density = draw(st.floats(0.02, 0.4))
    rng = np.random.default_rng(seed)
    A = sp.random(n, n, density=density, random_state=rng, format="csr")
    A.setdiag(0)
    A.eliminate_zeros()
    rows = np.asarray(A.sum(axis=1)).ravel()
    cap = draw(st.floats(0.1, 0.95))
    A = sp.diags(np.where(rows > 0, cap / np.maximum(rows, 1e-300), 0)) @ A  # row sums < 1: rho < 1
    B = rng.random((n, 3)) * (rng.random((n, 3)) < 0.5)
    rank = rng.integers(0, 3, n)
    return sp.csr_matrix(A), B, rank


@settings(max_examples=60, deadline=None)
@given(random_system(), st.booleans())
def test_solver_agrees_with_dense_inverse(sys: tuple[sp.csr_matrix, np.ndarray, np.ndarray], direct: bool) -> None:
    A, B, rank = sys
    old = S.DIRECT_MAX
    S.DIRECT_MAX = 10_000 if direct else 0
    try:
        X = T.solve(T.plan(A, rank), B)
    finally:
        S.DIRECT_MAX = old
    L = np.linalg.inv(np.eye(A.shape[0]) - A.toarray())
    Xd = L @ B
    assert np.allclose(X, Xd, rtol=1e-9, atol=1e-12 * max(1.0, np.abs(Xd).max())), (np.abs(X - Xd).max(), A.toarray().tolist(), rank.tolist(), B.tolist())


@st.composite
def random_network(draw: st.DrawFn) -> Network:
    """Layered mine -> refine -> cell -> pack, random flows, some recycling back to refiners."""
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    stages = [("mine", "ore"), ("refine", "chem"), ("cell", "cell"), ("pack", "pack"), ("recycle", "bm")]
    f = []
    for s, m in stages:
        for k in range(int(rng.integers(1, 4))):
            f.append((f"{s}{k}", str(rng.choice(["AU", "CN", "KR", "US"])), s, m))
    fac = facs(*f)
    by = {s: [x[0] for x in f if x[2] == s] for s, _ in stages}
    fl = []
    for cus_s, sup_s, mat in [("refine", "mine", "ore"), ("cell", "refine", "chem"), ("pack", "cell", "cell"), ("recycle", "cell", "cell"), ("refine", "recycle", "bm")]:
        for c in by[cus_s]:
            for s in by[sup_s]:
                if rng.random() < 0.7:
                    fl.append((s, c, mat, float(rng.integers(1, 100)), "kg" if mat != "cell" else "kWh"))
    b = [("ore", "li", 0.1), ("chem", "ore", 3.0), ("cell", "chem", 0.6), ("pack", "cell", 5.0), ("bm", "cell", 0.3)]
    b += [("chem", "bm", float(rng.uniform(0.1, 2.0)), r) for r in by["refine"] if rng.random() < 0.5]
    b += [("chem", "ore", 2.0, r) for r in by["refine"] if any(x[3] == r for x in b if len(x) > 3)]
    return Network.from_frames(
        companies=pd.DataFrame([{"id": "co", "name": "Co", "country": "KR"}]),
        materials=mats(("li", "raw", "kg"), ("ore", "intermediate", "kg"), ("chem", "intermediate", "kg"), ("bm", "intermediate", "kg"), ("cell", "cell", "kWh"), ("pack", "pack", "packs")),
        facilities=fac,
        boms=boms(*b),
        flows=flows(*fl) if fl else None,
    )


@settings(max_examples=25, deadline=None)
@given(random_network())
def test_network_trace_agrees_with_dense_and_conserves(net: Network) -> None:
    g = build(net)
    L = np.linalg.inv(np.eye(g.n) - g.A.toarray())
    C = L @ g.E.toarray()
    assert np.allclose(T.content(T.graph(net)), C, rtol=1e-9, atol=1e-14)
    for prod in [f for f in g.nodes.loc[~g.nodes["virtual"], "facility"] if f.startswith(("pack", "cell"))][:3]:
        p = g.node(prod)
        t = T.trace(net, prod)
        # stage tags: sum over nodes of the stage of L[p, u] * C[u]
        for s in ("mine", "refine", "cell"):
            want = sum(L[p, u] * C[u, 0] for u in range(g.n) if g.nodes["stage"].iloc[u] == s)
            assert q(t, stage=s) == pytest.approx(want, rel=1e-9, abs=1e-14)
        assert q(t, stage="mine") == pytest.approx(C[p, 0], rel=1e-9)  # every kg mined once
        assert np.allclose(t.groupby(["raw", "stage"])["share"].sum(), 1.0)
        paths = T.explain(net, prod, {"raw": "li", "stage": "mine"}, top=4)
        assert sum(x.weight for x in paths) == pytest.approx(C[p, 0], rel=1e-9)
    assert [f for f in T.validate(net, sample=3) if f.level == "error"] == []


def test_cli_trace_and_validate(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from typer.testing import CliRunner

    import onshore.cli  # noqa: F401
    import onshore.cli.trace  # noqa: F401  (registers trace and validate)
    from onshore.cli.app import app
    from onshore.io.load import import_files
    from onshore.store.duckdb import DuckDBStore
    from conftest import TINY, tiny_files

    db = tmp_path / "t.duckdb"
    with DuckDBStore(db) as s:
        import_files(s, tiny_files(TINY))
    r = CliRunner().invoke(app, ["trace", "cell1", "--format", "json", "--db", str(db)])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert {"raw", "stage", "country", "quantity", "share"} == set(rows[0])
    assert any(x["stage"] == "mine" and x["country"] == "AU" and abs(x["quantity"] - 0.11718) < 1e-9 for x in rows)
    r = CliRunner().invoke(app, ["trace", "cell1", "--explain", "--db", str(db)])
    assert r.exit_code == 0 and "mine1:spodumene -> ref1:lioh -> cell1:cell" in r.stdout
    r = CliRunner().invoke(app, ["trace", "nope", "--db", str(db)])
    assert r.exit_code == 2
    r = CliRunner().invoke(app, ["validate", "--db", str(db)])
    assert r.exit_code == 0, r.output


def test_monetary_input_output_table_with_a_cycle() -> None:
    """Sectors in USD that buy from each other (input-output style): refining buys 0.05 USD
    of cells per USD, cells buy 0.4 USD of refined metal, refining 0.3 USD of ore. Closed form
    by hand: content of the cell c = 0.4 * 0.3 / (1 - 0.4 * 0.05) = 0.12 / 0.98; a stage on the
    cycle is met once per pass round it, so its tag is c / 0.98."""
    net = Network.from_frames(
        companies=pd.DataFrame([{"id": "co", "name": "Co", "country": "US"}]),
        materials=mats(("ore_usd", "raw", "USD"), ("metal_usd", "intermediate", "USD"), ("cell_usd", "cell", "USD")),
        facilities=facs(("mine", "CL", "mine", "ore_usd"), ("ref", "KR", "refine", "metal_usd"), ("cel", "US", "cell", "cell_usd")),
        boms=boms(("metal_usd", "ore_usd", 0.3), ("metal_usd", "cell_usd", 0.05), ("cell_usd", "metal_usd", 0.4)),
        flows=flows(("mine", "ref", "ore_usd", 300, "USD"), ("cel", "ref", "cell_usd", 50, "USD"), ("ref", "cel", "metal_usd", 400, "USD")),
    )
    t = T.trace(net, "cel")
    c = 0.12 / 0.98
    assert q(t, raw="ore_usd", stage="mine", country="CL") == pytest.approx(c, rel=1e-12)
    assert q(t, raw="ore_usd", stage="refine", country="KR") == pytest.approx(c / 0.98, rel=1e-12)
    assert q(t, raw="ore_usd", stage="cell", country="US") == pytest.approx(c / 0.98, rel=1e-12)
    # the same numbers from numpy's dense Leontief inverse
    A = np.array([[0, 0, 0], [0.3, 0, 0.05], [0, 0.4, 0]])
    L = np.linalg.inv(np.eye(3) - A)
    assert q(t, raw="ore_usd", stage="mine", country="CL") == pytest.approx(L[2, 0], rel=1e-12)


def test_cycle_undecided_by_power_iteration_is_planned(monkeypatch: pytest.MonkeyPatch) -> None:
    # a 300-node ring with uneven gains and spectral radius 0.999: the Collatz-Wielandt bounds
    # do not fall below 1 in the power iterations, so the exact check decides it (it used to
    # leave the plan without its spectral bounds); solved directly (a factorised block)
    monkeypatch.setattr(S, "DIRECT_MAX", 10_000)
    rng = np.random.default_rng(0)
    n = 300
    w = rng.uniform(0.2, 5.0, n)
    w = w / np.exp(np.log(w).mean()) * 0.999
    rows = np.arange(n)
    M = sp.csr_matrix((w, (rows, (rows + 1) % n)), shape=(n, n))
    p = S.plan(M)
    (cyc,) = [lv.cyc for lv in p.levels if lv.cyc is not None]
    assert cyc.rho == pytest.approx(0.999, rel=1e-9)
    B = np.eye(n)[:, :3]
    X = S.solve(p, B)
    assert np.allclose(X, np.linalg.solve(np.eye(n) - M.toarray(), B), rtol=1e-8, atol=0)
    with pytest.raises(TraceError, match="creates mass"):
        S.plan(sp.csr_matrix((w / 0.999 * 1.001, (rows, (rows + 1) % n)), shape=(n, n)))


# own use: a diagonal of A -------------------------------------------------------------------

@pytest.mark.parametrize("dense_max", [0, 3000])
def test_own_use_full_diagonal_agrees_with_dense_inverse(monkeypatch: pytest.MonkeyPatch, dense_max: int) -> None:
    """Every node takes some of itself: singletons (an acyclic chain) and a cyclic block,
    against numpy's dense inverse; once through the dense LU, once the sparse one."""
    monkeypatch.setattr(S, "DENSE_MAX", dense_max)
    rng = np.random.default_rng(7)
    n = 12
    M = np.tril(rng.uniform(0, 0.15, (n, n)), -1)  # acyclic below the diagonal
    M[8:, 8:] = rng.uniform(0, 0.2, (4, 4))  # a dense cyclic block of four
    np.fill_diagonal(M, rng.uniform(0.05, 0.6, n))  # a full diagonal
    B = rng.uniform(0, 1, (n, 3))
    want = np.linalg.inv(np.eye(n) - M) @ B
    p = S.plan(sp.csr_matrix(M))
    assert np.allclose(S.solve(p, B), want, rtol=1e-12, atol=0)
    pT = S.plan(sp.csr_matrix(M.T))
    assert np.allclose(S.solve(pT, B), np.linalg.inv(np.eye(n) - M.T) @ B, rtol=1e-12, atol=0)


def test_own_use_of_one_unit_or_more_is_refused() -> None:
    M = sp.csr_matrix(np.array([[0.0, 0.0], [0.5, 1.0]]))
    with pytest.raises(TraceError, match="own use"):
        S.plan(M)


def own_use_net() -> Network:
    """A power plant using 10 % of its own electricity, selling the rest to a smelter; the
    smelter takes 2 kWh per kg and recycles a quarter of its own metal (own-use flow and
    recipe; a facility's own rows replace the generic recipe, so all are its own). By hand: e = 1 / 0.9 units of plant output per kWh; metal content
    m = 2 e / (1 - 0.25)."""
    return Network.from_frames(
        companies=pd.DataFrame([{"id": "co", "name": "Co", "country": "US"}]),
        materials=mats(("coal", "raw", "kg"), ("power", "intermediate", "kWh"), ("metal", "intermediate", "kg")),
        facilities=facs(("mine", "AU", "mine", "coal"), ("plant", "US", "refine", "power"), ("sm", "US", "refine", "metal")),
        boms=boms(("power", "coal", 0.5, "plant"), ("power", "power", 0.1, "plant"), ("metal", "power", 2.0, "sm"), ("metal", "metal", 0.25, "sm")),
        flows=flows(
            ("mine", "plant", "coal", 50, "kg"),
            ("plant", "plant", "power", 10, "kWh"),
            ("plant", "sm", "power", 90, "kWh"),
            ("sm", "sm", "metal", 5, "kg"),
        ),
    )


def test_own_use_traced_exactly() -> None:
    net = own_use_net()
    t = T.trace(net, "sm")
    coal = 2.0 * (0.5 / 0.9) / 0.75
    assert q(t, raw="coal", stage="mine", country="AU") == pytest.approx(coal, rel=1e-12)
    g = T.graph(net)
    A = g.A.toarray()
    i, j = g.node("plant"), g.node("sm")
    assert A[i, i] == pytest.approx(0.1) and A[j, j] == pytest.approx(0.25)
    C = T.content(g)
    assert C[j, 0] == pytest.approx((np.linalg.inv(np.eye(g.n) - A) @ g.E.toarray())[j, 0], rel=1e-12)
    assert not [f for f in T.validate(net) if f.level == "error"]


def test_own_use_records_are_valid_and_more_than_one_unit_is_not() -> None:
    from onshore.records.model import Bom, Flow, FieldProblem

    Flow(supplier="a", customer="a", material="m", quantity=1, unit="kg", period="2024")
    Bom(output="m", input="m", quantity=0.3)  # own use, generic
    Bom(output="m", input="m", quantity=1, facility="a")  # pass-through
    for kw in ({"quantity": 1.0}, {"quantity": 1.5, "facility": "a"}):
        with pytest.raises((FieldProblem, ValueError)):
            Bom(output="m", input="m", **kw)


@pytest.mark.parametrize("batch", [1, 2, 256])
def test_trace_products_batched_matches_single_traces(batch: int) -> None:
    nets = [(pack_net(), ["pus", "ckr", "ccn:cell", "mau"]), (recycle_net(), None), (own_use_net(), ["sm", "plant"]),
            (pack_net(prices=True), ["pus", "ckr"])]
    for net, prods in nets:
        if prods is None:
            g = T.graph(net)
            prods = g.labels(np.flatnonzero(~g.nodes["virtual"].to_numpy()))
        for by, weight in ((("raw", "stage", "country"), "mass"), (("stage", "controlling_country"), "mass"),
                           (("stage", "country"), "cost")):
            got = T.trace_products(net, prods, by=by, weight=weight, batch=batch)  # type: ignore[arg-type]
            assert list(got.columns[:1]) == ["product"]
            for prod in prods:
                want = T.trace(net, prod, by=by, weight=weight)  # type: ignore[arg-type]
                mine = got[got["product"] == prod].drop(columns="product").reset_index(drop=True)
                assert list(mine.columns) == list(want.columns)
                pd.testing.assert_frame_equal(mine.drop(columns=["quantity", "share"]), want.drop(columns=["quantity", "share"]))
                assert np.allclose(mine["quantity"], want["quantity"], rtol=1e-12, atol=0)


@settings(max_examples=40, deadline=None)
@given(random_system())
def test_feedback_direct_solve_agrees_with_dense_inverse(sys: tuple[sp.csr_matrix, np.ndarray, np.ndarray]) -> None:
    """Cycles solved through the LU of the feedback map (built at the first solve) equal the
    dense inverse, and so do later solves with the stored factors."""
    A, B, rank = sys
    old = S.DIRECT_MAX, S.DENSE_MAX, S.FEEDBACK_AMORTISE
    S.DIRECT_MAX, S.DENSE_MAX, S.FEEDBACK_AMORTISE = 0, 0, 0.0
    try:
        p = T.plan(A, rank)
        X = T.solve(p, B)
        X2 = T.solve(p, B[:, ::-1])
    finally:
        S.DIRECT_MAX, S.DENSE_MAX, S.FEEDBACK_AMORTISE = old
    cycles = [lv.cyc for lv in p.levels if lv.cyc is not None]
    assert all(c.fb is not None for c in cycles)
    Xd = np.linalg.inv(np.eye(A.shape[0]) - A.toarray()) @ B
    tol = dict(rtol=1e-10, atol=1e-13 * max(1.0, np.abs(Xd).max()))
    assert np.allclose(X, Xd, **tol), np.abs(X - Xd).max()  # type: ignore[arg-type]
    assert np.allclose(X2, Xd[:, ::-1], **tol)  # type: ignore[arg-type]


def test_feedback_map_is_built_once_enough_columns_were_solved(monkeypatch: pytest.MonkeyPatch) -> None:
    from onshore import synthetic

    monkeypatch.setattr(S, "DIRECT_MAX", 0)
    monkeypatch.setattr(S, "DENSE_MAX", 0)
    g = build(synthetic.network(1500, seed=4))
    p = T.plan(g.A, g.nodes["rank"].to_numpy())
    cyc = [lv.cyc for lv in p.levels if lv.cyc is not None and lv.cyc.F is not None]
    assert cyc, "the synthetic network has a recycling loop"
    c = cyc[0]
    assert len(c.F) * S.FEEDBACK_AMORTISE > 1
    e = sp.csr_matrix(g.E)
    first = T.solve(p, e[:, :1])
    assert c.fb is None  # one column: iterations are cheaper than the map
    many = T.solve(p, sp.csr_matrix(np.ones((g.n, int(len(c.F) * S.FEEDBACK_AMORTISE) + 1))))
    assert c.fb is not None
    want = np.linalg.inv(np.eye(g.n) - g.A.toarray())
    assert np.allclose(first[:, 0], want @ g.E.toarray()[:, 0], rtol=1e-9, atol=1e-13)
    assert np.allclose(many[:, 0], want.sum(axis=1), rtol=1e-10, atol=1e-13)
    assert np.allclose(T.solve(p, e)[:, :1], first, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("threads", [1, 2])
def test_spmm_accumulates_in_place_like_the_product(monkeypatch: pytest.MonkeyPatch, threads: int) -> None:
    monkeypatch.setattr(S, "THREADS", threads)
    monkeypatch.setattr(S, "PARALLEL_MIN", 0)
    rng = np.random.default_rng(5)
    for rows, n, k in ((1, 5, 3), (7, 30, 1), (200, 300, 9)):
        M = sp.random(rows, n, density=0.2, random_state=rng, format="csr")
        X = rng.random((n, k))
        out = rng.random((rows, k))
        want = out + M @ X
        S.spmm(M, X, out)
        assert np.allclose(out, want, rtol=1e-14, atol=0)
        strided = np.asfortranarray(rng.random((rows, k)))  # not C-contiguous: the public product
        want = strided + M @ X
        S.spmm(M, X, strided)
        assert np.allclose(strided, want, rtol=1e-14, atol=0)


@pytest.mark.parametrize("threads", [1, 2])
def test_spmm_of_one_column_sums_as_the_many_column_kernel(monkeypatch: pytest.MonkeyPatch, threads: int) -> None:
    """One column takes scipy's vector kernel: the same sums in the same order, so bit for bit
    what the many-column kernel gives (no trace moves by a rounding)."""
    monkeypatch.setattr(S, "THREADS", threads)
    monkeypatch.setattr(S, "PARALLEL_MIN", 0)
    rng = np.random.default_rng(11)
    M = sp.random(500, 800, density=0.05, random_state=rng, format="csr")
    X = rng.random((800, 1))
    out = rng.random((500, 1))
    want = out.copy()
    S._csr_matvecs(500, 800, 1, M.indptr, M.indices, M.data, X.ravel(), want.ravel())
    S.spmm(M, X, out)
    assert (out == want).all()


def test_trace_products_in_column_chunks_and_by_place(monkeypatch: pytest.MonkeyPatch) -> None:
    from onshore.trace import origin

    monkeypatch.setattr(origin, "TABLE_CELLS", 3)  # a few tags x products at a time
    monkeypatch.setattr(origin, "BATCH_CELLS", 2 * T.graph(pack_net()).n)  # two products a solve
    net = pack_net()
    prods = ["pus", "ckr", "ccn:cell", "mau"]
    for by in (("raw", "stage", "company"), ("facility",), ("raw", "country", "controlling_country")):
        got = T.trace_products(net, prods, by=by)
        for prod in prods:
            want = T.trace(net, prod, by=by)
            mine = got[got["product"] == prod].drop(columns="product").reset_index(drop=True)
            pd.testing.assert_frame_equal(mine.drop(columns=["quantity", "share"]), want.drop(columns=["quantity", "share"]))
            assert np.allclose(mine["quantity"], want["quantity"], rtol=1e-12, atol=0)
            assert np.allclose(mine["share"], want["share"], rtol=1e-12, atol=0)


def _product_ids(net: Network) -> list[str]:
    return T.products(net, stages=T.PRODUCT_STAGES)["product"].tolist()


@settings(max_examples=25, deadline=None)
@given(random_network(), st.booleans())
def test_trace_products_forward_and_written_equal_single_traces(net: Network, iterate: bool) -> None:
    """On a random cyclic network, both solves of ``trace_products`` and the written products
    (``write_products``, read back) equal each product's own trace to 1e-10; with ``iterate``
    the cycles are solved by Gauss-Seidel instead of a direct LU."""
    import tempfile
    from pathlib import Path

    old = S.DIRECT_MAX, S.DENSE_MAX
    if iterate:
        S.DIRECT_MAX, S.DENSE_MAX = 0, 0
    try:
        prods = _product_ids(net)
        fwd = T.trace_products(net, prods, forward=True)
        bwd = T.trace_products(net, prods, forward=False)
        with tempfile.TemporaryDirectory() as d:
            written = T.read_all(T.write_products(net, Path(d) / "p"))  # named by product id
        wants = {prod: T.trace(net, prod) for prod in prods}
    finally:
        S.DIRECT_MAX, S.DENSE_MAX = old
    key = ["raw", "stage", "country"]
    assert set(written["product"]) <= set(prods)
    for prod, want in wants.items():
        for got in (fwd, bwd):
            mine = got[got["product"] == prod].drop(columns="product").reset_index(drop=True)
            pd.testing.assert_frame_equal(mine[key], want[key])
            assert np.allclose(mine["quantity"], want["quantity"], rtol=1e-10, atol=0)
            assert np.allclose(mine["share"], want["share"], rtol=1e-10, atol=1e-15)
        w = written[written["product"] == prod].merge(want, on=key, how="outer", suffixes=("", "_want"))
        assert not w["quantity"].isna().any() and not w["quantity_want"].isna().any()
        assert np.allclose(w["quantity"], w["quantity_want"], rtol=1e-10, atol=0)
        assert np.allclose(w["share"], w["share_want"], rtol=1e-10, atol=1e-15)


def test_trace_products_takes_the_forward_solve_for_many_products(monkeypatch: pytest.MonkeyPatch) -> None:
    """The solve is chosen by the number of products against the tags (FORWARD_PER_TAG), and
    a synthetic network's products (iterated recycling loop) agree both ways."""
    from onshore import synthetic
    from onshore.trace import origin

    monkeypatch.setattr(S, "DIRECT_MAX", 0)
    monkeypatch.setattr(S, "DENSE_MAX", 0)
    net = synthetic.network(600, seed=4)
    prods = _product_ids(net)
    calls: list[str] = []
    for name in ("_forward", "_backward"):
        real = getattr(origin, name)
        monkeypatch.setattr(origin, name, lambda *a, _r=real, _n=name: calls.append(_n) or _r(*a))
    ntag = origin._tag_matrix(T.graph(net), net, ("raw", "stage", "country"), "mass", None)[0].shape[0]
    monkeypatch.setattr(origin, "FORWARD_PER_TAG", (len(prods) + 1) / ntag)  # one product short
    few = T.trace_products(net, prods)
    assert calls == ["_backward"]
    monkeypatch.setattr(origin, "FORWARD_PER_TAG", len(prods) / ntag)
    many = T.trace_products(net, prods)
    assert calls == ["_backward", "_forward"]
    monkeypatch.setattr(origin, "FORWARD_TAGS", 7)  # several tag blocks, each from its first level
    blocks = T.trace_products(net, prods, forward=True)
    monkeypatch.setattr(origin, "FORWARD_CELLS", ntag * 5)  # groups of 5 product rows
    shuffled = prods[::-1]  # the order given is kept across groups
    grouped = T.trace_products(net, shuffled, forward=True)
    order = {p: k for k, p in enumerate(prods)}
    grouped = grouped.assign(_k=grouped["product"].map(order)).sort_values("_k", kind="stable")
    grouped = grouped.drop(columns="_k").reset_index(drop=True)
    assert list(dict.fromkeys(T.trace_products(net, shuffled, forward=True)["product"])) == shuffled
    for got in (many, blocks, grouped):
        pd.testing.assert_frame_equal(got.drop(columns=["quantity", "share"]), few.drop(columns=["quantity", "share"]))
        assert np.allclose(got["quantity"], few["quantity"], rtol=1e-10, atol=0)


def test_solve_all_kept_stages_and_dense_layout_equal_the_full_solve(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``stages`` keeps those nodes' rows only, the same values as every node's solve; the
    dense layout reads back as the triplets do."""
    from onshore import synthetic

    net = synthetic.network(800, seed=6)
    key = ["node", "product", "raw", "stage", "country"]
    full = T.read_all(T.solve_all(net, out=tmp_path / "full", workers=2))
    kept = T.read_all(T.solve_all(net, out=tmp_path / "kept", stages=("pack",), workers=1))
    dense = T.read_all(T.solve_all(net, out=tmp_path / "dense", stages=("cell", "pack"), layout="dense", workers=2))
    assert set(pd.read_parquet(tmp_path / "dense" / "values").columns) - {"node"}  # tag columns
    g = T.graph(net)
    stage = g.nodes["stage"].astype(str).to_numpy()
    assert set(stage[kept["node"].to_numpy()]) == {"pack"}
    assert set(stage[dense["node"].to_numpy()]) == {"cell", "pack"}
    for part, stages in ((kept, {"pack"}), (dense, {"cell", "pack"})):
        want = full[np.isin(stage[full["node"].to_numpy()], list(stages))]
        a = part.sort_values(key).reset_index(drop=True)
        b = want.sort_values(key).reset_index(drop=True)
        assert len(a) == len(b) > 0 and a[key].equals(b[key])
        assert np.array_equal(a["quantity"], b["quantity"]) and np.allclose(a["share"], b["share"], rtol=1e-14)
    some = dense["node"].unique()[:3]
    sub = T.read_all(tmp_path / "dense", nodes=some.tolist())
    assert set(sub["node"]) == set(some) and len(sub) == int(dense["node"].isin(some).sum())


def test_solve_permuted_stops_after_the_level_asked_for() -> None:
    from onshore import synthetic

    g = T.graph(synthetic.network(500, seed=7))
    p = T.forward_plan(g)
    B = sp.csr_matrix(g.E)[p.perm]
    full = S.solve_permuted(p, B)
    mid = p.levels[len(p.levels) // 2]
    part = S.solve_permuted(p, B, upto=mid.lo)
    assert np.array_equal(part[: mid.hi], full[: mid.hi])
    assert not part[mid.hi :].any() and full[mid.hi :].any()


def test_written_products_are_named_by_the_ids_commands_take(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from onshore.trace.allnodes import product_ids

    net = pack_net()
    g = T.graph(net)
    ids = product_ids(g)
    real = ~g.nodes["virtual"].to_numpy()
    assert sorted(ids[real]) == sorted(T.products(net)["product"])
    assert all(i.startswith("unknown:") for i in ids[~real])
    got = T.read_all(T.write_products(net, tmp_path / "p"))
    assert set(got["product"]) == set(T.products(net, stages=T.PRODUCT_STAGES)["product"])
    for prod in set(got["product"]):
        want = T.trace(net, prod)
        mine = got[got["product"] == prod].sort_values(["raw", "stage", "country"]).reset_index(drop=True)
        assert mine[["raw", "stage", "country"]].equals(want[["raw", "stage", "country"]])
        assert np.allclose(mine["quantity"], want["quantity"], rtol=1e-12, atol=0)
    # float32 storage: each value the float64 one rounded to the nearest float32, read back
    f32 = T.read_all(T.write_products(net, tmp_path / "p32", precision="float32"))
    assert f32.attrs["precision"] == "float32" and got.attrs["precision"] == "float64"
    key = ["product", "raw", "stage", "country"]
    a, b = (x.sort_values(key).reset_index(drop=True) for x in (f32, got))
    assert a[key].equals(b[key])
    assert np.array_equal(a["quantity"], b["quantity"].astype(np.float32).astype(float))
    assert np.allclose(a["quantity"], b["quantity"], rtol=2**-24, atol=0)


def test_field_codes_by_arrow_equal_factorize() -> None:
    """The codes of Arrow-held node columns (dictionary encoding) are pandas' sorted
    factorisation of the values, including a column with non-ASCII text."""
    import pandas as pd

    from onshore import synthetic
    from onshore.trace import tags
    from onshore.trace.graph import build

    net = synthetic.network(500, seed=6)
    g = build(net)
    named = g.nodes["company"].where(g.nodes.index % 7 != 0, "Zürich Å")
    g.nodes["company"] = named.astype("str")
    for f in ("stage", "country", "company", "facility"):
        codes, uniq = tags.field_codes(g, net, f, None)
        want_c, want_u = pd.factorize(tags.field_values(g, net, f, None), sort=True)
        assert np.array_equal(codes, want_c) and list(uniq) == list(want_u), f
    assert tags._arrow_codes(g.nodes["rank"]) is None

def test_plan_pickles_with_its_sparse_lu() -> None:
    """A plan sent to other processes (Spark's workers): its sparse LU factors, which do not
    pickle, are made again on arrival, and the solve is the same."""
    import pickle

    from onshore import synthetic
    from onshore.trace.allnodes import prepare
    from onshore.trace.leontief import solve_permuted

    net = synthetic.network(300, n_flows=1500, seed=5, recycling=0.3)
    _, fp, blocks, _ = prepare(net, ("raw", "stage", "country"), "mass", None, None)
    cyc = [lv.cyc for lv in fp.levels if lv.cyc is not None]
    assert cyc and all(c.lu is not None for c in cyc)
    back = pickle.loads(pickle.dumps(fp))
    assert all(lv.cyc.lu is not None and lv.cyc.lu is not True for lv in back.levels if lv.cyc)
    rows, col, val, _ = max(blocks, key=lambda b: len(b[0]))
    B = sp.csr_matrix((val, (fp.pos[rows], col)), shape=(fp.n, int(col.max()) + 1))
    a, b = solve_permuted(fp, B), solve_permuted(back, B)
    assert np.abs(a).max() > 0
    np.testing.assert_allclose(b, a, rtol=1e-12, atol=0)


def test_a_trace_by_a_column_that_is_not_a_tag_field_is_refused_whatever_its_dtype(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # a store-loaded network holds its text columns in Arrow (a fast path for tag codes):
    # the node column "material" is not a tag field there either
    from onshore.errors import TraceError
    from onshore.io.load import import_files, reference_files
    from onshore.store.duckdb import DuckDBStore

    with DuckDBStore(tmp_path / "r.duckdb") as s:
        import_files(s, reference_files())
        net = Network.from_store(s)
    for n in (net, Network.reference()):
        with pytest.raises(TraceError, match="unknown tag field 'material'"):
            T.trace(n, "ses_chungju", by=("raw", "material"))


def _loop(sizes: tuple[int, ...], seed: int = 0) -> tuple[sp.csr_matrix, np.ndarray]:
    """A loop through stages of the given sizes, every node of a stage taking from every node
    of the stage before (the first stage from the last: the back edges); rows sum to 0.3-0.9."""
    rng = np.random.default_rng(seed)
    first = np.concatenate([[0], np.cumsum(sizes)])
    rows, cols, vals = [], [], []
    for k, m in enumerate(sizes):
        prev = (k - 1) % len(sizes)
        for i in range(m):
            w = rng.uniform(0.3, 0.9) * rng.dirichlet(np.ones(sizes[prev]))
            rows += [first[k] + i] * sizes[prev]
            cols += list(range(first[prev], first[prev] + sizes[prev]))
            vals += list(w)
    n = int(first[-1])
    A = sp.csr_matrix((vals, (rows, cols)), shape=(n, n))
    rank = np.repeat(np.arange(len(sizes)), sizes)
    return A, rank


def test_a_loop_is_cut_where_it_leaves_the_fewest_feedback_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(S, "DIRECT_MAX", 0)
    monkeypatch.setattr(S, "DENSE_MAX", 0)
    monkeypatch.setattr(S, "FEEDBACK_MAX", 0)  # iterate: the feedback variables are the iteration's
    for sizes, narrow in (((9, 3, 12, 7), 1), ((5, 8, 6, 2), 3), ((4, 4, 4), None)):
        A, rank = _loop(sizes)
        p = S.plan(A, rank)
        (c,) = [lv.cyc for lv in p.levels if lv.cyc is not None]
        assert c.F is not None
        if narrow is None:  # a tie: the plain stage order, cut at the first stage's back edges
            assert sorted(rank[c.idx[c.F]]) == [len(sizes) - 1] * sizes[-1]
        else:  # every node of the narrowest stage, and only those, feeds back
            assert sorted(rank[c.idx[c.F]]) == [narrow] * sizes[narrow]
        B = np.random.default_rng(1).random((A.shape[0], 3))
        X = S.solve(p, B)
        want = np.linalg.solve(np.eye(A.shape[0]) - A.toarray(), B)
        assert np.allclose(X, want, rtol=1e-10, atol=0)


def test_the_sweep_radius_bounds_the_feedback_map_closely(monkeypatch: pytest.MonkeyPatch) -> None:
    from onshore import synthetic

    monkeypatch.setattr(S, "DIRECT_MAX", 0)
    monkeypatch.setattr(S, "DENSE_MAX", 0)
    for A, rank in (_loop((9, 3, 12, 7)), _loop((30, 20, 25), seed=3)) + (
        (lambda g: (g.A, g.nodes["rank"].to_numpy()))(build(synthetic.network(1500, seed=4))),
    ):
        p = S.plan(A, rank)
        for c in [lv.cyc for lv in p.levels if lv.cyc is not None and lv.cyc.F is not None]:
            S.feedback_factor(c)  # the map itself, to compare with: S = I - L U (pivoted)
            lu, piv = c.fb
            m = len(c.F)
            P = np.arange(m)
            for i, j in enumerate(piv):
                P[[i, j]] = P[[j, i]]
            L_ = np.tril(lu, -1) + np.eye(m)
            Smap = np.eye(m) - (L_ @ np.triu(lu))[np.argsort(P)]
            exact = float(max(abs(np.linalg.eigvals(Smap))))
            assert exact <= c.rho_sweep + 1e-12  # an upper bound
            assert c.rho_sweep <= c.rho + 1e-15  # never above the block's own bound
            assert c.rho_sweep <= exact + 0.02 * max(exact, 1e-3) or c.rho_sweep == c.rho


def _written(net: Network, d, **kw):  # type: ignore[no-untyped-def]
    from pathlib import Path

    return T.read_all(T.solve_all(net, out=Path(d), **kw))


def _by_key(df: pd.DataFrame) -> pd.DataFrame:
    """Rows by node and tag, ``node`` as int64 (int32 in the files)."""
    out = df.astype({"node": np.int64}) if len(df) else df
    return out.sort_values(["node", "raw", "stage", "country"]).reset_index(drop=True)


@settings(max_examples=12, deadline=None)
@given(random_network(), st.sampled_from(["auto", "dense", "triplets"]))
def test_float32_output_is_the_float64_solve_rounded(net: Network, layout: str) -> None:
    """On random (often cyclic) networks the float32 files read back as the float64 solve
    rounded to the nearest float32 (numpy's rounding), so within 2^-24 relative, on the same
    rows; the float64 files read back exactly as the in-memory solve, in every layout."""
    import tempfile

    mem = T.solve_all(net)
    with tempfile.TemporaryDirectory() as d:
        f64 = _written(net, f"{d}/64", layout=layout, workers=1)
        f32 = _written(net, f"{d}/32", layout=layout, precision="float32", workers=1)
    if not isinstance(mem, pd.DataFrame) or mem.empty:
        assert f64.empty and f32.empty
        return
    mem, f64, f32 = _by_key(mem), _by_key(f64), _by_key(f32)
    key = ["node", "product", "raw", "stage", "country"]
    assert f64[key].equals(mem[key]) and f32[key].equals(mem[key])
    assert np.array_equal(f64["quantity"].to_numpy(), mem["quantity"].to_numpy())
    want = mem["quantity"].to_numpy()
    got = f32["quantity"].to_numpy()
    assert got.dtype == np.float64 and np.array_equal(got, want.astype(np.float32).astype(np.float64))
    assert (np.abs(got - want) <= 2.0**-24 * want).all()
    assert np.allclose(f32["share"], mem["share"], rtol=3e-7, atol=0)
    assert f32.attrs == {"precision": "float32", "rounding": 2.0**-24}
    assert f64.attrs == {"precision": "float64", "rounding": 0.0}


def test_dense_or_triplets_by_the_smaller_size() -> None:
    """The rule by hand: 10 rows x 10 tags all filled are 440 bytes dense (int32 node +
    10 float32) against 900 as triplets (4 + 4 + 1 each); a fifth filled, 440 against 180;
    float64 at 60 % fill: 10 x 84 = 840 against 60 x 13 = 780; nothing kept is never dense."""
    from onshore.trace.allnodes import dense_is_smaller

    assert dense_is_smaller(10, 100, 10, 4) and not dense_is_smaller(10, 20, 10, 4)
    assert not dense_is_smaller(10, 60, 10, 8) and dense_is_smaller(10, 70, 10, 8)
    assert dense_is_smaller(10, 60, 10, 4)
    assert not dense_is_smaller(0, 0, 5, 4)


def test_each_block_takes_the_smaller_layout_and_says_its_precision(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """With ``layout="auto"`` each block file is dense exactly when the rule says so for its
    own counts (both layouts occur on the synthetic network, a sparse block stays triplets),
    its schema metadata names its precision and layout, and the mixed directory reads back
    as the float64 triplets do, within float32 rounding."""
    import pyarrow.parquet as pq

    from onshore import synthetic
    from onshore.trace.allnodes import dense_is_smaller

    net = synthetic.network(600, seed=5)
    d = T.solve_all(net, out=tmp_path / "auto", layout="auto", precision="float32", workers=2)
    ref = _by_key(_written(net, tmp_path / "ref", workers=2))
    tags = pd.read_parquet(d / "tags.parquet")
    width = tags.groupby(["raw", "stage"])["tag"].transform("size").to_numpy()
    seen = set()
    for f in sorted((d / "values").glob("*.parquet")):
        meta = pq.read_schema(f).metadata
        layout = meta[b"onshore.layout"].decode()
        assert meta[b"onshore.precision"].startswith(b"float32:") and b"2^-24" in meta[b"onshore.precision"]
        t = pd.read_parquet(f)
        if layout == "dense":
            q = t.drop(columns="node").to_numpy()
            rows, values, k = len(t), int(np.count_nonzero(q)), q.shape[1]
            assert q.dtype == np.float32
        else:
            assert list(t.columns) == ["node", "tag", "quantity"] and t["quantity"].dtype == np.float32
            rows, values, k = t["node"].nunique(), len(t), int(width[t["tag"].iloc[0]])
        assert dense_is_smaller(rows, values, k, 4) == (layout == "dense")
        seen.add(layout)
    assert seen == {"dense", "triplets"}
    got = _by_key(T.read_all(d))
    key = ["node", "raw", "stage", "country"]
    assert got[key].equals(ref[key])
    assert (np.abs(got["quantity"] - ref["quantity"]) <= 2.0**-24 * ref["quantity"]).all()
    # a block by facility is sparse: each node draws on a few of the block's many mines
    fac = T.solve_all(pack_net(), by=("raw", "stage", "facility"), out=tmp_path / "fac",
                      layout="auto", precision="float32", workers=1)
    tags = pd.read_parquet(fac / "tags.parquet")
    mine = set(tags.loc[tags["stage"] == "mine", "tag"])
    for f in (fac / "values").glob("*.parquet"):
        t = pd.read_parquet(f)
        if "tag" in t.columns and set(t["tag"]) <= mine:
            assert pq.read_schema(f).metadata[b"onshore.layout"] == b"triplets"
            break
    else:
        raise AssertionError("the mine block by facility was written dense")


def test_float64_and_float32_files_read_together(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A directory whose blocks are partly float64 triplets, partly float32 (dense or not)
    reads to one table: the float64 blocks exact, the others rounded, precision float32."""
    import shutil

    from onshore import synthetic

    net = synthetic.network(300, seed=8)
    a = T.solve_all(net, out=tmp_path / "a", workers=1)
    b = T.solve_all(net, out=tmp_path / "b", layout="auto", precision="float32", workers=1)
    files = sorted((b / "values").glob("*.parquet"))
    for f in files[::2]:
        shutil.copy(a / "values" / f.name, f)
    got, want = _by_key(T.read_all(b)), _by_key(T.read_all(a))
    key = ["node", "raw", "stage", "country"]
    assert got[key].equals(want[key]) and got.attrs["precision"] == "float32"
    rel = np.abs(got["quantity"] - want["quantity"]) / want["quantity"]
    assert (rel <= 2.0**-24).all() and (rel == 0).mean() > 0.3 and (rel > 0).any()


def test_values_float32_cannot_hold_stay_float64(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Kept values below float32's smallest normal number (1e-40 kg of lithium a unit) keep
    their block in float64, exactly."""
    import pyarrow.parquet as pq

    net = recycle_net()
    b = net.boms.copy()
    b.loc[b["input"] == "li", "quantity"] = 1e-40
    tiny = Network.from_frames(companies=net.companies, materials=net.materials,
                               facilities=net.facilities, boms=b, flows=net.flows)
    mem = _by_key(T.solve_all(tiny))
    got = _by_key(_written(tiny, tmp_path / "t", precision="float32", layout="auto"))
    assert 0 < mem["quantity"].max() < 1e-38
    assert np.array_equal(got["quantity"].to_numpy(), mem["quantity"].to_numpy())
    assert got.attrs["precision"] == "float64"
    for f in (tmp_path / "t" / "values").glob("*.parquet"):
        assert pq.read_schema(f).metadata[b"onshore.precision"].startswith(b"float64")


def test_writer_thread_writes_what_inline_writing_does_and_errors_surface(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """The files handed to the writer thread hold what writing inline holds; a failed write
    and a failed solve in a worker process are raised by ``solve_all``."""
    from onshore import synthetic
    from onshore.trace import allnodes

    net = synthetic.network(300, seed=9)
    monkeypatch.setattr(allnodes, "WRITE_QUEUE", 0)
    inline = T.read_all(T.solve_all(net, out=tmp_path / "i", layout="auto", precision="float32", workers=2))
    monkeypatch.setattr(allnodes, "WRITE_QUEUE", 1)  # the thread, and the queue full at times
    threaded = T.read_all(T.solve_all(net, out=tmp_path / "t", layout="auto", precision="float32", workers=2))
    pd.testing.assert_frame_equal(_by_key(inline), _by_key(threaded))
    w = allnodes._Writer(2, "none")
    import pyarrow as pa

    w.put("open", str(tmp_path / "no" / "such" / "dir" / "x.parquet"), pa.schema([("a", pa.int32())]), False)
    with pytest.raises(OSError):
        w.close()

    def fail(*a, **k):  # type: ignore[no-untyped-def]
        raise TraceError("solve failed in a worker")

    monkeypatch.setattr(S, "solve_permuted", fail)
    with pytest.raises(TraceError, match="in a worker"):
        T.solve_all(net, out=tmp_path / "f", workers=2)
    with pytest.raises(ValueError, match="precision"):
        T.solve_all(net, out=tmp_path / "f", precision="float16")  # type: ignore[arg-type]


@pytest.mark.parametrize("rows", [[0, 5], [0, 1, 2, 4]])
def test_cut_keeps_values_above_both_thresholds(rows: list[int]) -> None:
    """By hand: a row (3, 1, 0.001) totals 4.001; at min_share 0.01 the cut is 0.04001 and at
    min_quantity 2 it is 2: kept (3, 1) and (3) — whether the rows asked for are a span of X
    (viewed) or scattered (gathered and put back); rows not asked for are left alone when
    scattered; a kept value below ``floor`` is reported."""
    from onshore.trace.allnodes import cut

    X = np.tile([3.0, 1.0, 0.001], (6, 1))
    X[4] = [0.0, 0.0, 0.0]
    Y = X.copy()
    count, tot, below = cut(Y, np.array(rows), 0.0, 0.01, floor=0.5)
    assert count.tolist() == [0 if r == 4 else 2 for r in rows] and not below
    assert tot.tolist() == [0.0 if r == 4 else 4.001 for r in rows]
    for r in rows:
        assert Y[r].tolist() == ([0.0] * 3 if r == 4 else [3.0, 1.0, 0.0])
    if rows == [0, 5]:
        assert np.array_equal(Y[1:5], X[1:5])
    Y = X.copy()
    count, _, below = cut(Y, np.array(rows), 2.0, 0.0, floor=3.5)
    assert count.tolist() == [0 if r == 4 else 1 for r in rows] and below
