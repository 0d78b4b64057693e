"""The node index and A: recipes, pooled supplier shares, overrides, data gaps, periods."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from onshore.errors import NotFound
from onshore.trace.graph import build
from onshore.network import Network


def mats(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame([{"id": i, "name": i, "kind": k, "unit": u} for i, k, u in rows])


def facs(*rows: tuple[str, str, str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"id": i, "company": "co", "name": i, "country": c, "stage": s, "material": m} for i, c, s, m in rows]
    )


def boms(*rows: tuple) -> pd.DataFrame:  # type: ignore[type-arg]
    return pd.DataFrame(
        [{"output": r[0], "input": r[1], "quantity": r[2], "facility": r[3] if len(r) > 3 else None} for r in rows]
    )


def flows(*rows: tuple) -> pd.DataFrame:  # type: ignore[type-arg]
    return pd.DataFrame(
        [
            {"supplier": r[0], "customer": r[1], "material": r[2], "quantity": r[3], "unit": r[4], "period": r[5] if len(r) > 5 else "2025"}
            for r in rows
        ]
    )


def chain() -> Network:
    return Network.from_frames(
        companies=pd.DataFrame([{"id": "co", "name": "Co", "country": "KR"}]),
        materials=mats(("li", "raw", "kg"), ("ore", "intermediate", "kg"), ("lioh", "intermediate", "kg"), ("cell", "cell", "kWh")),
        facilities=facs(
            ("m1", "AU", "mine", "ore"),
            ("m2", "CL", "mine", "ore"),
            ("r1", "CN", "refine", "lioh"),
            ("c1", "KR", "cell", "cell"),
            ("c2", "KR", "cell", "cell"),
        ),
        boms=boms(("ore", "li", 0.1), ("lioh", "ore", 5.0), ("lioh", "ore", 4.0, "r1"), ("cell", "lioh", 0.5)),
        flows=flows(
            ("m1", "r1", "ore", 3, "t"),
            ("m2", "r1", "ore", 1000, "kg"),
            ("m2", "r1", "ore", 500, "kg", "2024"),
            ("r1", "c1", "lioh", 2, "t"),
        ),
    )


def test_nodes_a_and_extraction() -> None:
    g = build(chain(), period="2025")
    ix = {f"{f}:{m}": k for k, (f, m) in enumerate(zip(g.nodes["facility"], g.nodes["material"], strict=True))}
    A = g.A.toarray()
    # pooled shares: 3 t of 4 t from m1 (the 2024 flow is outside the period)
    assert A[ix["r1:lioh"], ix["m1:ore"]] == pytest.approx(4.0 * 0.75)
    assert A[ix["r1:lioh"], ix["m2:ore"]] == pytest.approx(4.0 * 0.25)
    # plant-specific row (4) replaced the generic one (5) for r1
    assert A[ix["r1:lioh"]].sum() == pytest.approx(4.0)
    assert A[ix["c1:cell"], ix["r1:lioh"]] == pytest.approx(0.5)
    # c2 has no supplier: its lioh comes from the virtual unknown node, with the generic recipe
    assert A[ix["c2:cell"], ix["unknown:lioh"]] == pytest.approx(0.5)
    assert A[ix["unknown:lioh"], ix["unknown:ore"]] == pytest.approx(5.0)
    # mines extract their raw inputs; nothing upstream of a mine
    E = g.E.toarray()
    assert E[ix["m1:ore"], 0] == pytest.approx(0.1)
    assert E[ix["unknown:ore"], 0] == pytest.approx(0.1)
    assert A[ix["m1:ore"]].sum() == 0
    assert g.nodes.loc[ix["unknown:lioh"], "stage"] == "refine"
    assert g.nodes.loc[ix["unknown:lioh"], "country"] == "unknown"


def test_period_changes_shares() -> None:
    g = build(chain(), period="2024")
    ix = {f"{f}:{m}": k for k, (f, m) in enumerate(zip(g.nodes["facility"], g.nodes["material"], strict=True))}
    assert g.A[ix["r1:lioh"], ix["m2:ore"]] == pytest.approx(4.0)
    assert g.A[ix["c1:cell"], ix["unknown:lioh"]] == pytest.approx(0.5)


def test_raw_output_of_mine_counts_itself() -> None:
    net = Network.from_frames(
        materials=mats(("co", "raw", "kg"), ("sulf", "intermediate", "kg")),
        facilities=facs(("m", "CD", "mine", "co"), ("r", "CN", "refine", "sulf")),
        boms=boms(("sulf", "co", 0.2)),
        flows=flows(("m", "r", "co", 1, "t")),
    )
    g = build(net)
    m = g.node("m")
    r = g.node("r:sulf")
    assert g.E[m, 0] == 1.0
    assert g.A[r, m] == pytest.approx(0.2)


def test_product_lookup() -> None:
    g = build(chain())
    assert g.labels([g.node("c1")]) == ["c1:cell"]
    with pytest.raises(NotFound, match="c1"):
        g.node("c11")
    with pytest.raises(NotFound, match="makes"):
        g.node("c1:lioh")


def test_a_is_sparse_csr() -> None:
    g = build(chain())
    assert g.A.format == "csr"
    assert np.all(g.A.data > 0)


def test_node_scan_and_index_agree() -> None:
    """The first lookups scan the columns, later ones use the name index: both give every
    node of a synthetic graph its own id, and a facility id holding ':' is found."""
    import numpy as np
    import pandas as pd

    from onshore import synthetic
    from onshore.trace.graph import Graph, build

    g = build(synthetic.network(400, seed=4))
    labels = g.labels()
    got = [g.node(x) for x in labels]  # past Graph.SCANS the index answers
    assert got == list(range(g.n)) and "lookup" in g.cache
    assert g.cache["scans"] == Graph.SCANS
    nodes = pd.DataFrame(
        {
            "facility": pd.array(["a:b", "a", "c"], dtype="str"),
            "material": pd.array(["m", "n", "m"], dtype="str"),
            "virtual": [False, False, False],
        }
    )
    h = Graph(nodes=nodes, A=g.A[:3, :3], E=g.E[:3], raws=g.raws, price=np.zeros(3))
    assert [h.node("a:b:m"), h.node("a:n"), h.node("c:m")] == [0, 1, 2]
    assert "lookup" not in h.cache


@pytest.mark.parametrize("seed", range(5))
def test_pooled_shares_equal_a_sum_by_hand(seed: int) -> None:
    """Random flows, many between the same plants (several periods pooled, zero quantities
    included): each entry of A is the recipe quantity times the supplier's share of the
    customer's inflow of that material, summed by hand over the flow records."""
    rng = np.random.default_rng(seed)
    n_mine, n_cell = 6, 5
    fac = [(f"m{k}", "AU", "mine", "ore") for k in range(n_mine)]
    fac += [(f"c{k}", "KR", "cell", "cell") for k in range(n_cell)]
    rows = []
    for _ in range(60):
        rows.append((f"m{rng.integers(n_mine)}", f"c{rng.integers(n_cell)}", "ore",
                     float(rng.choice([0.0, 1.0, 2.5, 7.0])), "kg", str(rng.choice(["2024", "2025"]))))
    net = Network.from_frames(
        companies=pd.DataFrame([{"id": "co", "name": "Co", "country": "KR"}]),
        materials=mats(("li", "raw", "kg"), ("ore", "intermediate", "kg"), ("cell", "cell", "kWh")),
        facilities=facs(*fac),
        boms=boms(("ore", "li", 0.1), ("cell", "ore", 3.0)),
        flows=flows(*rows),
    )
    g = build(net)  # every period pooled
    ix = {f"{f}:{m}": k for k, (f, m) in enumerate(zip(g.nodes["facility"], g.nodes["material"], strict=True))}
    A = g.A.toarray()
    inflow: dict[str, float] = {}
    pair: dict[tuple[str, str], float] = {}
    for s, c, _, q, _, _ in rows:
        inflow[c] = inflow.get(c, 0.0) + q
        pair[(s, c)] = pair.get((s, c), 0.0) + q
    for c in range(n_cell):
        for m in range(n_mine):
            got = A[ix[f"c{c}:cell"], ix[f"m{m}:ore"]]
            q, tot = pair.get((f"m{m}", f"c{c}"), 0.0), inflow.get(f"c{c}", 0.0)
            if tot > 0:
                assert got == pytest.approx(3.0 * q / tot, rel=1e-12, abs=1e-15)
            elif (f"m{m}", f"c{c}") in pair:  # suppliers with nothing shipped: no share to give
                assert np.isnan(got) or got == 0


@pytest.mark.parametrize("seed, held", [(0, "object"), (1, "object"), (2, "arrow chunks")])
def test_node_table_equals_one_built_node_by_node(seed: int, held: str) -> None:
    """Each node's facility, material, stage, country, company, virtual flag and stage rank,
    looked up one node at a time in Python; facilities with no country or stage included, their
    text held as Python objects or by Arrow in several chunks."""
    import pyarrow as pa

    from onshore import synthetic
    from onshore.records.model import STAGE_RANK
    from onshore.trace.graph import producing_stage

    net = synthetic.network(300, seed=seed)
    fac = net.facilities.astype(object)
    fac.loc[fac.index[::7], "country"] = None
    fac.loc[fac.index[3::11], "stage"] = None
    if held == "arrow chunks":
        for col in ("id", "company", "country", "stage", "material"):
            v = fac[col].tolist()
            chunks = pa.chunked_array([pa.array(v[:100], pa.string()), pa.array(v[100:], pa.string())])
            fac[col] = pd.Series(pd.arrays.ArrowStringArray(chunks), index=fac.index)
    net = Network.from_frames(
        **{t: getattr(net, t) for t in ("companies", "materials", "boms", "flows")}, facilities=fac
    )
    g = build(net)
    mats = net.materials["id"].astype(str).tolist()
    rows = fac.to_dict("records")
    made = producing_stage(net)
    want = []
    for k in g.cache["key"].tolist():
        f, m = divmod(k, len(mats))
        if f == len(rows):  # virtual
            stage = made.get(mats[m], "unknown")
            want.append(("unknown", mats[m], stage, "unknown", "unknown", True))
        else:
            r = rows[f]
            want.append((r["id"], mats[m], r["stage"], r["country"], r["company"], False))
    got = g.nodes
    for col, i in (("facility", 0), ("material", 1), ("stage", 2), ("country", 3), ("company", 4)):
        vals = [None if pd.isna(v) else v for v in got[col].tolist()]
        assert vals == [w[i] for w in want], col
    assert got["virtual"].tolist() == [w[5] for w in want]
    rank = [STAGE_RANK.get(w[2], STAGE_RANK["unknown"]) if w[2] else STAGE_RANK["unknown"] for w in want]
    assert got["rank"].tolist() == rank
    assert got["country"].isna().sum() > 0 and got["stage"].isna().sum() > 0


@pytest.mark.parametrize("seed", [0, 3])
def test_raw_prices_are_each_raw_materials_price(seed: int) -> None:
    """The price of each raw material of the graph, read off its first node, equals the price
    the materials table gives it (USD here; NaN where unpriced), and every node of that
    material carries the same price."""
    from onshore import synthetic
    from onshore.trace.tags import raw_price

    net = synthetic.network(300, seed=seed)
    m = net.materials.copy()
    k = np.arange(len(m))
    m["price"] = np.where(k % 3 == 0, np.nan, 10.0 + k)  # every third material unpriced
    m["currency"] = np.where(k % 3 == 0, None, "USD")
    net = Network.from_frames(materials=m, facilities=net.facilities, boms=net.boms, flows=net.flows)
    g = build(net)
    by_hand = dict(zip(m["id"].astype(str), m["price"], strict=True))
    got = raw_price(g)
    assert len(got) == len(g.raws) > 3
    mat = g.nodes["material"].astype(str).to_numpy()
    for r, p in zip(g.raws, got, strict=True):
        want = by_hand[str(r)]
        assert (np.isnan(p) and np.isnan(want)) or p == pytest.approx(want), r
        assert np.allclose(g.price[mat == str(r)], p, equal_nan=True), r
    assert np.isnan(got).any() and (~np.isnan(got)).any()
