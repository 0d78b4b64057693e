"""The solve plans kept beside the store: equal results, fallback when missing, corrupt or stale,
atomic writes (a writer killed mid-file leaves nothing that is read)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from onshore import synthetic
from onshore import trace as T
from onshore.network import Network
from onshore.store.duckdb import DuckDBStore
from onshore.store.plans import PlanCache
from onshore.trace import leontief as L
from onshore.trace import tags
from onshore.trace.graph import build

G = importlib.import_module("onshore.trace.graph")


# ------------------------------------------------------------------------------ the file
def test_arrays_round_trip_read_only(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arrays = {
        "f8": rng.random((7, 3)),
        "i8": np.arange(-5, 1000, dtype=np.int64),
        "i4": np.arange(13, dtype=np.int32)[::-1],  # not contiguous: written contiguous
        "b1": rng.random(9) < 0.5,
        "empty": np.zeros(0),
        "fortran_t": np.asfortranarray(rng.random((4, 5))).T,
    }
    c = PlanCache(tmp_path / "p", "snapA")
    path = c.save("k-1", arrays)
    assert path is not None and path.exists()
    got = c.load("k-1")
    assert got is not None and set(got) == set(arrays)
    for k, a in arrays.items():
        assert got[k].dtype == a.dtype and got[k].shape == a.shape
        assert np.array_equal(got[k], a)
        assert not got[k].flags.writeable
        if got[k].size:
            assert got[k].ctypes.data % 64 == 0  # aligned in the mapped file
    assert c.load("other") is None  # missing


def test_numbers_only(tmp_path: Path) -> None:
    c = PlanCache(tmp_path, "s")
    with pytest.raises(ValueError, match="numbers only"):
        c.save("k", {"o": np.array(["a"], dtype=object)})
    with pytest.raises(ValueError, match="cache key"):
        c.path("../x")


@pytest.mark.parametrize("damage", ["flip", "truncate", "extend", "empty", "garbage", "header"])
def test_damaged_file_not_read(tmp_path: Path, damage: str) -> None:
    c = PlanCache(tmp_path, "snap")
    data = {"x": np.arange(100_000, dtype=float)}
    path = c.save("k", data)
    assert path is not None and c.load("k") is not None
    raw = bytearray(path.read_bytes())
    if damage == "flip":  # one bit of one value: only the checksum sees it
        raw[-8 * 500] ^= 0x01
    elif damage == "truncate":
        raw = raw[: len(raw) // 2]
    elif damage == "extend":
        raw += b"\0" * 8
    elif damage == "empty":
        raw = bytearray()
    elif damage == "garbage":
        raw = bytearray(os.urandom(len(raw)))
    elif damage == "header":
        raw[20:30] = b"}}}}}}}}}}"
    path.write_bytes(bytes(raw))
    assert c.load("k") is None


def test_entry_found_by_key_whichever_snapshot_wrote_it(tmp_path: Path) -> None:
    c = PlanCache(tmp_path, "snapA")
    path = c.save("k", {"x": np.ones(3)})
    assert path is not None and path.name == "k.plan"
    other = PlanCache(tmp_path, "snapB")  # another snapshot of the store: the same arrays
    got = other.load("k")
    assert got is not None and np.array_equal(got["x"], np.ones(3))
    # a file copied under another key's name is refused by its header
    other.path("k2").write_bytes(path.read_bytes())
    assert other.load("k2") is None


def test_entries_bounded_by_count_and_bytes_least_recently_used_first(tmp_path: Path) -> None:
    a = PlanCache(tmp_path, "snapA", keep=3)
    for i in range(5):
        assert a.save(f"k{i}", {"x": np.full(2, i)}) is not None
        t = time.time() - 100 + i  # distinct last-use times
        os.utime(a.path(f"k{i}"), (t, t))
    assert a.load("k0") is None and a.load("k1") is None  # the oldest beyond keep=3
    assert [int(a.load(f"k{i}")["x"][0]) for i in (2, 3, 4)] == [2, 3, 4]  # type: ignore[index]
    t = time.time() - 50
    os.utime(a.path("k3"), (t, t))  # k3 now the least recently used (k2, k4 were just loaded)
    b = PlanCache(tmp_path, "snapB", keep=3)  # another snapshot: nothing of A's removed for it
    assert b.save("k9", {"x": np.zeros(1)}) is not None
    assert [p.name for p in b.entries()] == ["k2.plan", "k4.plan", "k9.plan"]
    # by bytes: a large entry pushes out the least recently used ones, never itself
    size = a.path("k9").stat().st_size
    big = PlanCache(tmp_path, "snapC", keep=10, keep_bytes=160_000 + 2 * size)  # huge + one small
    for name in ("k2", "k4", "k9"):
        t = time.time() - {"k2": 30, "k4": 20, "k9": 10}[name]
        os.utime(big.path(name), (t, t))
    assert big.save("huge", {"x": np.zeros(20_000)}) is not None  # 160 kB
    assert [p.name for p in big.entries()] == ["huge.plan", "k9.plan"]
    assert big.save("huger", {"x": np.zeros(100_000)}) is not None  # above the bound alone
    assert [p.name for p in big.entries()] == ["huger.plan"]


def test_old_temp_files_removed(tmp_path: Path) -> None:
    c = PlanCache(tmp_path, "s")
    old = tmp_path / ".tmp-k-1-dead"
    young = tmp_path / ".tmp-k-2-live"  # a writer still at work
    for p in (old, young):
        p.write_bytes(b"partial")
    t = time.time() - 2 * 3600
    os.utime(old, (t, t))
    c.save("k", {"x": np.ones(1)})
    assert not old.exists() and young.exists()


def test_writer_killed_mid_file_leaves_nothing_read(tmp_path: Path) -> None:
    """A real crash: the writing process is killed (SIGKILL) after part of the data is
    written. No file under the entry's name exists, a load misses, a later save works."""
    code = textwrap.dedent(
        f"""
        import os, signal
        import numpy as np
        from onshore.store import plans
        real = plans._write
        calls = []
        def dying(f, arr):
            calls.append(1)
            if len(calls) == 2:  # the first array is written, then the process dies
                f.write(plans._bytes(arr)[: arr.nbytes // 2].data)
                f.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            real(f, arr)
        plans._write = dying
        c = plans.PlanCache({str(tmp_path)!r}, "snap")
        c.save("k", {{"a": np.ones(1000), "b": np.arange(100000.0)}})
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=False)
    assert p.returncode == -9, p.stderr.decode()
    left = list(tmp_path.iterdir())
    assert len(left) == 1 and left[0].name.startswith(".tmp-")  # the partial file, unnamed
    assert left[0].stat().st_size > 1000 * 8
    c = PlanCache(tmp_path, "snap")
    assert c.load("k") is None
    assert c.save("k", {"a": np.ones(3)}) is not None
    got = c.load("k")
    assert got is not None and np.array_equal(got["a"], np.ones(3))


def test_write_failure_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from onshore.store import plans

    def full(f: object, arr: np.ndarray) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(plans, "_write", full)
    c = PlanCache(tmp_path, "s")
    assert c.save("k", {"x": np.ones(10)}) is None
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------ the plan
def _same_solves(p: L.Plan, q: L.Plan, n: int, k: int = 3, seed: int = 0) -> float:
    """Largest relative difference of the two plans' solutions for random right-hand sides."""
    rng = np.random.default_rng(seed)
    B = sp.random(n, k, density=min(1.0, 20 / n), random_state=seed, format="csr")
    B.data[:] = rng.random(B.nnz)
    Xp, Xq = L.solve(p, B), L.solve(q, B)
    return float(np.abs(Xp - Xq).max() / max(np.abs(Xp).max(), 1e-300))


def _round_trip(p: L.Plan, tmp_path: Path) -> L.Plan:
    c = PlanCache(tmp_path, "s")
    assert c.save("plan", L.plan_arrays(p)) is not None
    d = c.load("plan")
    assert d is not None
    q = L.plan_from_arrays(d)
    for k, lv in enumerate(q.levels):  # the matrices are the mapped arrays, not copies
        assert np.shares_memory(lv.ext.data, d[f"e{k}_data"]) or not lv.ext.nnz
        if lv.cyc is not None and lv.cyc.sub:
            j = len(lv.cyc.sub) - 1
            assert np.shares_memory(lv.cyc.sub[j][2].indices, d[f"c0_s{j}_indices"])
    return q


def _cyclic(m: int, density: float, seed: int, diag: float = 0.0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    M = sp.random(m, m, density=density, random_state=seed, format="csr")
    M.data[:] = rng.random(M.nnz)
    ring = sp.csr_matrix((np.full(m, 0.5), (np.arange(m), (np.arange(m) + 1) % m)), shape=(m, m))
    M = (M + ring).tocsr()
    M.setdiag(diag)
    rows = np.asarray(M.sum(axis=1)).ravel()
    return sp.csr_matrix(sp.diags(0.8 / rows) @ M)  # row sums 0.8: spectral radius 0.8


@pytest.mark.parametrize(
    ("m", "density", "kind"),
    [(40, 0.5, "dense"), (200, 0.01, "splu"), (4000, 0.0005, "iterative")],
)
def test_plan_round_trip_each_block_kind(
    tmp_path: Path, m: int, density: float, kind: str
) -> None:
    """Every kind of cyclic block, with an acyclic tail and own use on the tail: the plan read
    back solves as the plan written, and both as a dense solve."""
    core = _cyclic(m, density, seed=m)
    n = m + 30
    tail_r = np.arange(m, n)
    extra = sp.csr_matrix(
        (np.full(2 * len(tail_r), 0.3), (np.r_[tail_r, tail_r], np.r_[tail_r - m, tail_r])),
        shape=(n, n),
    )  # each tail node takes from a core node and (own use 0.3) from itself
    A = (sp.block_diag([core, sp.csr_matrix((30, 30))]) + extra).tocsr()
    p = L.plan(A, rank=np.arange(n) % 7)
    blocks = [lv.cyc for lv in p.levels if lv.cyc is not None]
    assert len(blocks) == 1
    b = blocks[0]
    kinds = {"dense": b.dense is not None, "splu": b.lu is not None, "iterative": b.F is not None}
    assert kinds[kind]
    assert p.own is not None
    q = _round_trip(p, tmp_path)
    assert np.array_equal(q.perm, p.perm) and np.array_equal(q.pos, p.pos)
    assert _same_solves(p, q, n) <= 1e-12
    B = np.random.default_rng(1).random((n, 2))
    X = L.solve(q, B)
    want = np.linalg.solve(np.eye(n) - A.toarray(), B)
    assert np.abs(X - want).max() <= 1e-8 * np.abs(want).max()


def test_feedback_factor_kept(tmp_path: Path) -> None:
    """A block whose feedback map was factored keeps the factors; the plan read back solves
    directly with them (two sweeps), to the same answer."""
    A = _cyclic(3000, 0.0008, seed=5)
    p = L.plan(A, rank=np.arange(3000) % 5)
    c = next(lv.cyc for lv in p.levels if lv.cyc is not None)
    assert c.F is not None and len(c.F) <= L.FEEDBACK_MAX
    L.feedback_factor(c)
    q = _round_trip(p, tmp_path)
    qc = next(lv.cyc for lv in q.levels if lv.cyc is not None)
    assert qc.fb is not None and qc.fb[0].flags.f_contiguous
    assert np.array_equal(qc.fb[0], c.fb[0])
    stats: dict[str, float] = {}
    B = np.random.default_rng(2).random((3000, 2))
    X = L.solve_permuted(q, B[q.perm], stats=stats)[q.pos]
    assert stats["sweeps"] <= 4  # direct on the feedback variables, not iterated
    want = np.linalg.solve(np.eye(3000) - A.toarray(), B)
    assert np.abs(X - want).max() <= 1e-9 * np.abs(want).max()


def test_plan_of_other_layout_refused() -> None:
    A = _cyclic(50, 0.1, seed=1)
    d = dict(L.plan_arrays(L.plan(A)))
    d["format"] = np.array([L.PLAN_FORMAT + 1])
    with pytest.raises(ValueError, match="layout"):
        L.plan_from_arrays(d)
    d = dict(L.plan_arrays(L.plan(A)))
    d["perm"] = np.zeros_like(d["perm"])
    with pytest.raises(ValueError, match="permutation"):
        L.plan_from_arrays(d)


# ------------------------------------------------------------- through the store and trace
def _synthetic_store(tmp_path: Path, n: int = 2000) -> Path:
    from onshore.io.load import import_files

    net = synthetic.network(n, n_flows=8 * n, seed=3)
    folder = tmp_path / "csv"
    folder.mkdir()
    files = []
    for name in ("companies", "materials", "facilities", "boms", "flows"):
        df = getattr(net, name)
        if len(df):
            files.append(folder / f"{name}.csv")
            df.to_csv(files[-1], index=False)
    db = tmp_path / "net.duckdb"
    with DuckDBStore(db) as store:
        import_files(store, files)
    return db


def _packs(net: Network, k: int = 3) -> list[str]:
    g = T.graph(net)
    packs = np.flatnonzero((g.nodes["stage"] == "pack").to_numpy() & ~g.nodes["virtual"].to_numpy())
    return g.labels(packs[:k])


def _counting(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> list[int]:
    """Count the calls of ``module.name`` (replaced by a counting wrapper)."""
    calls: list[int] = []
    real = getattr(module, name)

    def counted(*a: object, **kw: object) -> object:
        calls.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(module, name, counted)
    return calls


def _counting_plan(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the solve plans computed (not read from the plan folder)."""
    return _counting(monkeypatch, tags, "plan")


def _counting_build(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the graphs built (not read from the plan folder)."""
    return _counting(monkeypatch, G, "build")


def _quantities(net: Network, products: list[str]) -> list[pd.DataFrame]:
    return [T.trace(net, p, by=("raw", "stage", "country")) for p in products]


def _assert_equal_traces(a: list[pd.DataFrame], b: list[pd.DataFrame], tol: float = 1e-12) -> None:
    for x, y in zip(a, b, strict=True):
        assert list(x.columns) == list(y.columns) and len(x) == len(y)
        cols = [c for c in x.columns if c not in ("quantity", "share")]
        assert x[cols].equals(y[cols])
        q, r = x["quantity"].to_numpy(), y["quantity"].to_numpy()
        assert np.abs(q - r).max() <= tol * np.abs(r).max()


@pytest.fixture(scope="module")
def synth_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _synthetic_store(tmp_path_factory.mktemp("plans"))


def test_fresh_load_reuses_plans_with_equal_results(
    synth_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = Network.load(synth_db)
    assert net.plans is not None and net.plans.folder == Path(str(synth_db) + ".plans")
    for p in net.plans.entries():
        p.unlink()
    prods = _packs(net)
    first = _quantities(net, prods)
    kinds = sorted(p.name.split("-")[0] for p in net.plans.entries())
    assert kinds == ["bwd", "content", "fwd", "graph"]
    assert any(lv.cyc is not None for lv in T.backward_plan(T.graph(net)).levels)
    # a network loaded afresh (as a new process does): no plan is computed, results equal
    calls = _counting_plan(monkeypatch)
    builds = _counting_build(monkeypatch)
    again = Network.load(synth_db)
    _assert_equal_traces(_quantities(again, prods), first)
    assert calls == [] and builds == []
    g = T.graph(again)
    assert not T.content(g).flags.writeable  # mapped from the file
    # and equal to plans computed from scratch without any cache
    bare = Network.load(synth_db)
    bare.plans = None
    _assert_equal_traces(_quantities(bare, prods), first)
    assert len(calls) == 2 and len(builds) == 1


def test_corrupt_or_missing_entries_fall_back(
    synth_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = Network.load(synth_db)
    prods = _packs(net)
    want = _quantities(net, prods)
    assert net.plans is not None
    files = {p.name.split("-")[0]: p for p in net.plans.entries()}
    raw = bytearray(files["bwd"].read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # damaged in the middle of its data
    files["bwd"].write_bytes(bytes(raw))
    files["content"].write_bytes(files["content"].read_bytes()[:100])  # cut short
    files["fwd"].unlink()  # missing
    calls = _counting_plan(monkeypatch)
    again = Network.load(synth_db)
    _assert_equal_traces(_quantities(again, prods), want)
    assert len(calls) == 2  # both plans computed again
    # ... and written again, intact: the next process reads them
    calls.clear()
    third = Network.load(synth_db)
    _assert_equal_traces(_quantities(third, prods), want)
    assert calls == []


def test_changed_flow_never_uses_the_old_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Change one flow's quantity in the store: the snapshot moves on, the old plans are not
    used (another ``A``, another key; they stay until the bound removes them), and the traces
    are those of the new data."""
    from onshore.io.load import import_files

    db = _synthetic_store(tmp_path, n=1500)
    net = Network.load(db)
    assert net.plans is not None
    g = T.graph(net)
    # a pack whose input comes from two suppliers: a quantity moves its shares
    fl = net.flows
    two = fl.groupby(["customer", "material"])["supplier"].transform("nunique") >= 2
    packs = net.facilities.loc[net.facilities["stage"] == "pack", "id"]
    cand = fl[two & fl["customer"].isin(packs)]
    row = cand.iloc[0]
    prod = g.labels([g.node(str(row["customer"]))])[0]
    before = T.trace(net, prod)
    old = net.plans.entries()
    assert len(old) == 4
    changed = fl[(fl["supplier"] == row["supplier"]) & (fl["customer"] == row["customer"])
                 & (fl["material"] == row["material"]) & (fl["period"] == row["period"])].copy()
    changed["quantity"] = changed["quantity"] * 50
    path = tmp_path / "flows_change.csv"
    changed.to_csv(path, index=False)
    with DuckDBStore(db) as store:
        import_files(store, [path])
    calls = _counting_plan(monkeypatch)
    new = Network.load(db)
    assert new.snapshot != net.snapshot
    after = T.trace(new, prod)
    assert len(calls) == 2  # both plans of the new data (backward; forward for the content)
    bare = Network.load(db)
    bare.plans = None
    _assert_equal_traces([after], [T.trace(bare, prod)])
    m = before.merge(after, on=["raw", "stage", "country"], how="outer").fillna(0.0)
    assert np.abs(m["quantity_x"] - m["quantity_y"]).max() > 1e-6  # the change shows
    assert all(p.exists() for p in old) and len(new.plans.entries()) == 8  # type: ignore[union-attr]


def test_import_that_leaves_the_matrix_keeps_the_plans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new company changes the snapshot but not the tables of the graph: the next process
    builds no graph, computes no plan and writes no entry, with equal traces."""
    from onshore.io.load import import_files

    db = _synthetic_store(tmp_path, n=1500)
    net = Network.load(db)
    prods = _packs(net, 2)
    want = _quantities(net, prods)
    assert net.plans is not None
    entries = {p: p.stat().st_mtime_ns for p in net.plans.entries()}
    assert len(entries) == 4
    path = tmp_path / "companies_new.csv"
    pd.DataFrame([{"id": "C-NEW", "name": "New Battery Holdings", "country": "KR"}]).to_csv(path, index=False)
    with DuckDBStore(db) as store:
        import_files(store, [path])
    calls = _counting_plan(monkeypatch)
    again = Network.load(db)
    assert again.snapshot != net.snapshot
    _assert_equal_traces(_quantities(again, prods), want)
    assert calls == []
    assert again.plans is not None and set(again.plans.entries()) == set(entries)


def test_same_snapshot_other_matrix_not_reused(
    synth_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key holds a digest of A: flows changed in memory (same snapshot label) do not
    pick up the plan of the stored flows."""
    net = Network.load(synth_db)
    prods = _packs(net, 1)
    _quantities(net, prods)
    calls = _counting_plan(monkeypatch)
    other = Network.load(synth_db)
    f = other.flows.copy()
    f.loc[f.index[::3], "quantity"] = f.loc[f.index[::3], "quantity"] * 7.0
    other.flows = f
    got = _quantities(other, prods)
    assert len(calls) == 2
    bare = Network.load(synth_db)
    bare.flows = f
    bare.plans = None
    _assert_equal_traces(got, _quantities(bare, prods))


def test_digest_depends_on_matrix_rank_and_kind() -> None:
    net = synthetic.network(300, seed=2)
    g = build(net)
    h = tags.digest(g, "bwd")
    assert h == tags.digest(build(net), "bwd")  # the same graph built again
    assert len({h, tags.digest(g, "fwd"), tags.digest(g, "content")}) == 3
    g2 = build(net)
    g2.A = g2.A.copy()
    g2.A.data[0] *= 1 + 1e-15
    assert tags.digest(g2, "bwd") != h
    g3 = build(net)
    g3.nodes = g3.nodes.assign(rank=g3.nodes["rank"][::-1].to_numpy())
    assert tags.digest(g3, "bwd") != h


def test_memory_store_has_no_plan_cache() -> None:
    with DuckDBStore(":memory:") as s:
        assert s.plan_cache("x") is None
    assert Network.reference().plans is None


def test_feedback_factors_built_later_are_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A solve that factors a block's feedback map saves the plan again with the factors; a
    fresh process reads them and does not factor again, with equal traces."""
    synth_db = _synthetic_store(tmp_path, n=1500)
    net = Network.load(synth_db)
    g = T.graph(net)
    bp = T.backward_plan(g)
    blocks = [lv.cyc for lv in bp.levels if lv.cyc is not None and lv.cyc.F is not None]
    assert blocks and all(c.fb is None for c in blocks)
    packs = np.flatnonzero((g.nodes["stage"] == "pack").to_numpy() & ~g.nodes["virtual"].to_numpy())
    need = max(int(L.FEEDBACK_AMORTISE * len(c.F)) + 1 for c in blocks)  # type: ignore[arg-type]
    prods = g.labels(packs[: max(need, 8)])
    want = T.trace_products(net, prods)
    assert all(c.fb is not None for c in blocks)
    factored: list[int] = []
    real = L.feedback_factor
    monkeypatch.setattr(L, "feedback_factor", lambda c, *a: (factored.append(1), real(c, *a)))
    fresh = Network.load(synth_db)
    fb = [lv.cyc for lv in T.backward_plan(T.graph(fresh)).levels if lv.cyc is not None]
    assert all(c.fb is not None for c in fb if c.F is not None)
    got = T.trace_products(fresh, prods)
    assert factored == []
    keys = ["product", "raw", "stage", "country"]
    assert got[keys].equals(want[keys])
    q, r = got["quantity"].to_numpy(), want["quantity"].to_numpy()
    assert np.abs(q - r).max() <= 1e-12 * np.abs(r).max()


# ------------------------------------------------------------------ the graph kept
def _same_graph(a: G.Graph, b: G.Graph) -> None:
    assert a.nodes.equals(b.nodes) and a.nodes.dtypes.equals(b.nodes.dtypes)
    for x, y in ((a.A, b.A), (a.E, b.E)):
        assert x.shape == y.shape and x.dtype == y.dtype
        for part in ("indptr", "indices", "data"):
            assert np.array_equal(getattr(x, part), getattr(y, part))
    assert a.raws == b.raws and np.array_equal(a.price, b.price, equal_nan=True)
    assert a.period == b.period


@pytest.mark.parametrize("period", [None, "2025"])
def test_graph_read_from_the_folder_equals_the_graph_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, period: str | None
) -> None:
    db = _synthetic_store(tmp_path, n=800)
    net = Network.load(db)
    first = T.graph(net, period)
    key = G.kept_key(net, period)
    assert key is not None and net.plans is not None
    assert [p.name for p in net.plans.entries()] == [f"{key}.plan"]
    assert G.kept_key(net, None if period else "2025") != key  # one entry per period
    builds = _counting_build(monkeypatch)
    again = Network.load(db)
    kept = T.graph(again, period)
    assert builds == []
    _same_graph(kept, first)
    _same_graph(kept, G.build(Network.load(db), period))  # and to one built afresh
    assert tags.digest(kept, "bwd") == tags.digest(G.build(again, period), "bwd")
    assert kept.A.data.flags.writeable  # a copy, not the read-only mapped file


@pytest.mark.parametrize("how", ["replaced", "edited in place"])
def test_graph_of_changed_tables_is_never_the_stored_rows_graph(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """Tables changed after loading (a frame replaced, or edited in place as a what-if does)
    keep the snapshot label but not the rows: the graph of the stored rows is not read for
    them, and the graph of the changed rows, kept under its own key, is never read for the
    stored rows by a later process."""
    db = _synthetic_store(tmp_path, n=800)
    stored = T.graph(Network.load(db))
    other = Network.load(db)
    factor = np.where(np.arange(len(other.flows)) % 2 == 0, 50.0, 1.0)
    if how == "replaced":
        other.flows = other.flows.assign(quantity=other.flows["quantity"] * factor)
    else:
        other.flows.loc[:, "quantity"] = other.flows["quantity"].to_numpy() * factor
    assert G.kept_key(other, None) != G.kept_key(Network.load(db), None)
    builds = _counting_build(monkeypatch)
    changed = T.graph(other)
    assert len(builds) == 1  # built, not read
    bare = Network.load(db)
    bare.flows = other.flows.copy()
    bare.plans = None
    _same_graph(changed, G.build(bare))
    assert abs(changed.A - stored.A).max() > 1e-6  # the change shows
    builds.clear()
    again = T.graph(Network.load(db))  # a later process on the unchanged store
    assert builds == []
    _same_graph(again, stored)


@pytest.mark.parametrize("damage", ["flip", "shape", "keys"])
def test_damaged_or_unfit_graph_entry_is_built_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    db = _synthetic_store(tmp_path, n=800)
    net = Network.load(db)
    want = T.graph(net)
    key = G.kept_key(net, None)
    assert key is not None and net.plans is not None
    arrays = {k: np.array(v) for k, v in (net.plans.load(key) or {}).items()}
    if damage == "flip":  # caught by the checksum
        path = net.plans.path(key)
        raw = bytearray(path.read_bytes())
        raw[-5] ^= 0x10
        path.write_bytes(bytes(raw))
    elif damage == "shape":  # an intact file whose A does not fit the node keys
        arrays["A_indptr"] = arrays["A_indptr"][:-1]
        net.plans.save(key, arrays)
    else:  # node keys of other tables
        arrays["key"] = arrays["key"][1:]
        net.plans.save(key, arrays)
    builds = _counting_build(monkeypatch)
    got = T.graph(Network.load(db))
    assert len(builds) == 1
    _same_graph(got, want)
    builds.clear()
    _same_graph(T.graph(Network.load(db)), want)  # written again, intact
    assert builds == []


def test_graph_key_holds_the_layout_and_every_value_the_graph_is_made_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = _synthetic_store(tmp_path, n=300)
    net = Network.load(db)
    key = G.kept_key(net, None)
    assert key == G.kept_key(Network.load(db), None)  # the same rows: the same key
    monkeypatch.setattr(G, "GRAPH_FORMAT", G.GRAPH_FORMAT + 1)
    assert G.kept_key(net, None) not in (None, key)
    monkeypatch.undo()
    net.snapshot = "0" * 64  # the label is not what names the graph: the rows are
    assert G.kept_key(net, None) == key
    for table, col in (("materials", "price"), ("facilities", "stage"), ("boms", "quantity"),
                       ("flows", "estimate"), ("flows", "period")):
        other = Network.load(db)
        frame = getattr(other, table)
        v = frame[col].to_numpy(copy=True)
        v[0] = (not v[0]) if v.dtype == bool else (v[0] * 2 if v.dtype.kind == "f" else "x")
        frame[col] = v  # one value of one column, in place
        assert G.kept_key(other, None) != key, (table, col)
    assert G.kept_key(Network.reference(), None) is None  # a store in memory: nothing kept


def test_provenance_columns_left_out_of_the_key_do_not_shape_the_graph() -> None:
    """The key leaves out `source` and `note`: changing them in every table of the graph
    changes nothing the graph holds (else a kept graph could be read for other rows)."""
    net = synthetic.network(400, seed=5)
    want = build(net)
    tables = {t: getattr(net, t).copy() for t in ("companies", "materials", "facilities", "ownership", "boms", "flows")}
    rng = np.random.default_rng(1)
    for t in G.GRAPH_TABLES:
        for col in G.PROVENANCE:
            tables[t][col] = [f"changed {x}" if x > 0.3 else None for x in rng.random(len(tables[t]))]
    got = build(Network.from_frames(**tables))
    _same_graph(got, want)
    assert np.array_equal(got.estimated, want.estimated)  # type: ignore[arg-type]
