"""The trace at scale: build A, solve every node, trace one product, peak memory; against a
dense Leontief inverse and networkx path enumeration; pymrio's test system against pymrio and
numpy; many products traced one by one and in batches.

Each synthetic size runs in its own subprocess (its peak RSS is its own). Targets (issue 3):
full solve at 1 M facilities / 10 M flows <= 30 s and <= 8 GiB; one product <= 0.5 s;
>= 100x faster than ``numpy.linalg.inv(I - A)`` at 10 k nodes with equal results.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parent.parent


def _row(case: str, seconds: float, **kw: Any) -> dict[str, Any]:
    return {"benchmark": "trace", "case": case, "seconds": seconds, **kw}


def size_run(n: int, flows: int, outdir: str) -> dict[str, Any]:
    """One size, in this process: what the parent measures in a subprocess."""
    from onshore import synthetic
    from onshore import trace as T
    from onshore.trace.graph import build

    res: dict[str, Any] = {}
    t = time.perf_counter()
    net = synthetic.network(n, n_flows=flows, seed=1)
    res["generate"] = time.perf_counter() - t
    res["flows"] = len(net.flows)
    t = time.perf_counter()
    g = build(net)
    res["build"] = time.perf_counter() - t
    res["nodes"], res["nnz"] = g.n, int(g.A.nnz)
    net._cache[("trace.graph", None)] = g  # the key graph() uses
    t = time.perf_counter()
    T.forward_plan(g)
    res["plan"] = time.perf_counter() - t
    t = time.perf_counter()
    T.content(g)
    res["content"] = time.perf_counter() - t
    packs = np.flatnonzero((g.nodes["stage"] == "pack").to_numpy() & ~g.nodes["virtual"].to_numpy())
    prod = g.labels(packs[:2])
    t = time.perf_counter()
    T.trace(net, prod[0])
    res["trace_first"] = time.perf_counter() - t  # includes the backward plan, built once
    t = time.perf_counter()
    df = T.trace(net, prod[1])
    res["trace"] = time.perf_counter() - t
    res["trace_rows"] = len(df)
    dry: dict[str, float] = {}
    t = time.perf_counter()
    T.solve_all(net, out=Path(outdir) / f"dry_{n}", stats=dry, write=False)  # no disk: the compute alone
    res["dry_wall"] = time.perf_counter() - t
    res["dry_solve"], res["dry_extract"] = dry.get("solve", 0.0), dry.get("extract", 0.0)
    stats: dict[str, float] = {}
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    t = time.perf_counter()
    path = T.solve_all(net, out=Path(outdir) / f"all_{n}", stats=stats)
    res["solve_all"] = time.perf_counter() - t
    for k in ("solve", "extract", "write", "rows", "sweeps", "workers"):
        res[f"solve_all_{k}"] = stats.get(k, 0.0)
    files = list(Path(path).rglob("*.parquet"))
    res["parquet_gib"] = sum(f.stat().st_size for f in files) / 2**30
    vals = sum(f.stat().st_size for f in files if f.parent.name == "values")
    res["write_mb_s"] = vals / 2**20 / max(stats.get("write", 0.0), 1e-9)
    res["peak_self_gib"] = max(peak_before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
    res["peak_child_gib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    # workers fork from this process and share its pages copy-on-write: parent + workers x
    # the largest worker is an upper bound of the total
    res["peak_gib"] = res["peak_self_gib"] + stats.get("workers", 1) * res["peak_child_gib"]
    import shutil

    shutil.rmtree(path, ignore_errors=True)
    shutil.rmtree(Path(outdir) / f"dry_{n}", ignore_errors=True)
    return res


def _sizes(quick: bool) -> list[dict[str, Any]]:
    sizes = [(10_000, 100_000)] if quick else [(10_000, 100_000), (100_000, 1_000_000), (1_000_000, 10_000_000)]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, f in sizes:
            code = f"import json,sys; from benchmarks.bench_trace import size_run; print(json.dumps(size_run({n}, {f}, {tmp!r})))"
            p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=1500)
            if p.returncode != 0:
                rows.append(_row(f"{n:,} facilities", float("nan"), detail=f"failed: {p.stderr[-300:]}", met=False))
                continue
            r = json.loads(p.stdout.strip().splitlines()[-1])
            big = n >= 1_000_000
            tag = f"{n:,} fac / {r['flows']:,} flows"
            rows.append(_row(f"build A, {tag}", r["build"], detail=f"{r['nodes']:,} nodes, nnz {r['nnz']:,}; generate {r['generate']:.1f} s"))
            rows.append(_row(f"plan + raw content, {tag}", r["plan"] + r["content"], detail=f"plan {r['plan']:.2f} s (SCCs, levels, spectral check)"))
            solve_met = (r["solve_all"] <= 30 and r["peak_gib"] <= 8) if big else None
            w = r["solve_all_workers"]
            rows.append(
                _row(
                    f"solve all nodes without writing, {tag}",
                    r["dry_wall"],
                    detail=f"the same solve and nonzero extraction, nothing written: compute {r['dry_solve'] / w:.1f} s + extract {r['dry_extract'] / w:.1f} s per worker",
                )
            )
            rows.append(
                _row(
                    f"solve all nodes, {tag}",
                    r["solve_all"],
                    peak_gib=r["peak_gib"],
                    compute_s=r["solve_all_solve"] / w,
                    write_s=(r["solve_all_write"] + r["solve_all_extract"]) / w,
                    target="<= 30 s, <= 8 GiB" if big else None,
                    met=solve_met,
                    detail=(
                        f"5 raws x 7 stages x 61 countries in (raw, stage) blocks, {w:.0f} worker processes; "
                        f"without writing: {r['dry_wall']:.1f} s wall (compute {r['dry_solve'] / w:.1f} s + extract {r['dry_extract'] / w:.1f} s per worker); with writing: "
                        f"per worker: compute {r['solve_all_solve'] / w:.1f} s ({r['solve_all_sweeps']:.0f} cyclic sweeps in all), "
                        f"extract {r['solve_all_extract'] / w:.1f} s, Parquet write {r['solve_all_write'] / w:.1f} s "
                        f"({r['write_mb_s']:.0f} MB/s per worker); {r['solve_all_rows']:,.0f} rows, {r['parquet_gib']:.2f} GiB; "
                        f"peak parent {r['peak_self_gib']:.2f} GiB + {w:.0f} x worker {r['peak_child_gib']:.2f} GiB (upper bound, pages shared)"
                    ),
                )
            )
            rows.append(
                _row(
                    f"trace one product, {tag}",
                    r["trace"],
                    target="<= 0.5 s" if big else None,
                    met=(r["trace"] <= 0.5) if big else None,
                    detail=f"first call {r['trace_first']:.2f} s (builds the backward plan once); {r['trace_rows']} rows",
                )
            )
    return rows


def _mine_tags(g: Any) -> sp.csr_matrix:
    """B for (raw, mine country): ``B[p, r * 61 + c_p] = E[p, r]``."""
    from onshore.synthetic import COUNTRIES

    cidx = {c: k for k, c in enumerate(COUNTRIES)}
    country = np.array([cidx.get(c, len(COUNTRIES)) for c in g.nodes["country"]])
    E = g.E.tocoo()
    nc = len(COUNTRIES) + 1
    return sp.csr_matrix((E.data, (E.row, E.col * nc + country[E.row])), shape=(g.n, len(g.raws) * nc))


def _dense(quick: bool) -> list[dict[str, Any]]:
    return _dense_sizes([2_000] if quick else [2_000, 5_000, 10_000])


_BW: list[float] = []


def bandwidth() -> float:
    """Measured memory bandwidth of this machine in bytes/s: best of 5 copies of 256 MiB
    (read + write counted), once per process."""
    if not _BW:
        src = np.ones(2**25)
        dst = np.empty_like(src)
        _BW.append(2 * src.nbytes / _best(lambda: np.copyto(dst, src), 5))
    return _BW[0]


def solve_bytes(nnz: int, n: int, k: int) -> int:
    """Bytes a solve of ``X = A X + B`` with ``k`` dense columns must move at least without
    reuse of ``X`` rows in cache: every nonzero of ``A`` (12 B) and the ``X`` row it reads
    (8k B), and ``X`` written once (8nk B)."""
    return int(nnz * (12 + 8 * k) + 8 * n * k)


def _dense_sizes(sizes: list[int]) -> list[dict[str, Any]]:
    from onshore import synthetic
    from onshore import trace as T
    from onshore.trace.graph import build

    rows = []
    bw = bandwidth()
    for nodes in sizes:
        g = build(synthetic.network(nodes - 20, seed=2))
        B = _mine_tags(g)
        rank = g.nodes["rank"].to_numpy()
        t = time.perf_counter()
        p = T.plan(g.A, rank)
        tplan = time.perf_counter() - t
        t = time.perf_counter()
        X = T.solve(p, B)
        first = time.perf_counter() - t
        warm = _best(lambda p=p, B=B: T.solve(p, B), 5)
        t = time.perf_counter()
        L = np.linalg.inv(np.eye(g.n) - g.A.toarray())
        inv = time.perf_counter() - t
        t = time.perf_counter()
        Xd = L @ B.toarray()
        dense = inv + time.perf_counter() - t
        err = float(np.abs(X - Xd).max() / np.abs(Xd).max())
        ok = bool(np.allclose(X, Xd, rtol=1e-9, atol=1e-12 * np.abs(Xd).max()))
        big = nodes == 10_000
        bound = solve_bytes(int(g.A.nnz), g.n, B.shape[1]) / bw
        tag = f"{g.n:,} nodes, {B.shape[1]} tag columns"
        rows.append(
            _row(
                f"dense inv(I - A) @ B vs solve with the plan, {tag}",
                warm,
                ratio=dense / warm,
                target=">= 1000x, equal to 1e-9" if big else None,
                met=(dense / warm >= 1000 and ok) if big else None,
                bound_s=bound,
                detail=(
                    f"dense {dense:.2f} s (inv {inv:.2f} s); ours warm, best of 5 (the plan, "
                    f"like L, is built once per network); {warm / bound:.1f}x the bandwidth "
                    f"bound {bound * 1e3:.1f} ms ({bw / 1e9:.1f} GB/s); max rel diff {err:.1e}; "
                    f"agree(1e-9)={ok}"
                ),
            )
        )
        rows.append(
            _row(
                f"dense inv(I - A) @ B vs plan + first solve, {tag}",
                tplan + first,
                ratio=dense / (tplan + first),
                detail=(
                    f"plan {tplan * 1e3:.0f} ms (strong components, levels, spectral check) + "
                    f"first solve {first * 1e3:.0f} ms (builds the feedback map of the cycle)"
                ),
            )
        )
    return rows


def _networkx(quick: bool) -> list[dict[str, Any]]:
    import networkx as nx

    from onshore import synthetic
    from onshore import trace as T
    from onshore.trace.graph import build

    rows = []
    for n in [200] if quick else [200, 600, 1_500]:
        net = synthetic.network(n, n_flows=3 * n, seed=3, recycling=0.0)  # simple paths = all walks only when acyclic
        g = build(net)
        net._cache[("trace.graph", None)] = g  # the key graph() uses
        packs = np.flatnonzero((g.nodes["stage"] == "pack").to_numpy() & ~g.nodes["virtual"].to_numpy())
        p = int(packs[0])
        prod = g.labels([p])[0]
        t = time.perf_counter()
        ours_df = T.trace(net, prod, by=("raw", "stage", "country"))
        ours = time.perf_counter() - t
        want = ours_df[ours_df["stage"] == "mine"].groupby(["raw", "country"])["quantity"].sum()
        t = time.perf_counter()
        G = nx.DiGraph()
        A = g.A.tocoo()
        G.add_weighted_edges_from(zip(A.row.tolist(), A.col.tolist(), A.data.tolist(), strict=True))
        E = g.E.tocsr()
        mines = [int(i) for i in np.flatnonzero(np.diff(E.indptr)) if i in G]
        got: dict[tuple[str, str], float] = {}
        npaths = 0
        timed_out = False
        for path in nx.all_simple_paths(G, p, mines):
            w = 1.0
            for a, b in zip(path[:-1], path[1:], strict=True):
                w *= G[a][b]["weight"]
            m = path[-1]
            for k in range(E.indptr[m], E.indptr[m + 1]):
                key = (g.raws[E.indices[k]], str(g.nodes["country"].iloc[m]))
                got[key] = got.get(key, 0.0) + w * E.data[k]
            npaths += 1
            if time.perf_counter() - t > 120:
                timed_out = True
                break
        nxt = time.perf_counter() - t
        agree = (not timed_out) and all(abs(got.get(k, 0.0) - v) <= 1e-9 * max(abs(v), 1e-300) for k, v in want.items())
        rows.append(
            _row(
                f"networkx all_simple_paths vs ours, {n} fac ({g.n} nodes)",
                ours,
                ratio=nxt / ours,
                detail=f"networkx {nxt:.2f} s over {npaths:,} paths{' (stopped at 120 s: ratio is a lower bound)' if timed_out else ''}; agree(1e-9)={agree}",
            )
        )
    return rows


def _best(f: Any, k: int) -> float:
    best = float("inf")
    for _ in range(k):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best


def _pymrio(quick: bool) -> list[dict[str, Any]]:
    """pymrio's test system (6 regions x 8 sectors, Z dense with its diagonal): onshore vs
    pymrio ``calc_all`` vs numpy's ``inv(I - A)``, side by side, best of k runs each."""
    try:
        import pymrio
    except ImportError:
        return [_row("pymrio test system", float("nan"), detail="pymrio not installed (dev extra)")]
    from onshore import trace as T
    from onshore.io import iotable
    from onshore.network import Network
    from onshore.trace.graph import build

    k = 5 if quick else 20
    io = pymrio.load_test()
    io.calc_all()
    net = Network.from_frames(**iotable.tables(io.Z, io.Y, io.x, io.factor_inputs.F))
    g = build(net)
    rank = g.nodes["rank"].to_numpy()
    idx = [g.node(f"{r}/{s}") for r, s in io.Z.index]
    A = g.A.toarray()
    E = g.E.toarray()
    p = T.plan(g.A, rank)
    C = T.solve(p, g.E)
    Ld = np.linalg.inv(np.eye(g.n) - A)
    err_m = float(np.abs(C[idx, 0] - io.factor_inputs.M.to_numpy()[0]).max())
    err_l = float(np.abs(T.solve(T.plan(g.A.T.tocsr()), np.eye(g.n))[np.ix_(idx, idx)] - io.L.to_numpy()).max())
    solve = _best(lambda: T.solve(p, g.E), 10 * k)
    first = _best(lambda: T.solve(T.plan(g.A, rank), g.E), 10 * k)
    dense = _best(lambda: np.linalg.inv(np.eye(g.n) - A) @ E, 10 * k)
    dsolve = _best(lambda: np.linalg.solve(np.eye(g.n) - A, E), 10 * k)
    m = pymrio.load_test()

    def calc() -> None:
        m.reset_full()
        m.calc_all()

    pm = _best(calc, k)
    tr = _best(lambda: T.trace(net, "reg1/food", by=("raw", "stage", "company")), k)
    agree = err_m <= 1e-8 and err_l <= 1e-8 and bool(np.allclose(C, Ld @ E, rtol=1e-12, atol=0))
    tag = f"pymrio test system ({g.n} nodes, nnz {g.A.nnz:,})"
    return [
        _row(
            f"value added content, {tag}: solve with the plan",
            solve,
            ratio=dense / solve,
            target="within 2x of numpy",
            met=solve <= 2 * min(dense, dsolve),
            detail=(
                f"numpy inv(I - A) @ E {dense * 1e3:.3f} ms (ratio {dense / solve:.2f}), "
                f"numpy solve {dsolve * 1e3:.3f} ms (ratio {dsolve / solve:.2f}), pymrio calc_all "
                f"{pm * 1e3:.1f} ms (ratio {pm / solve:.0f}); agree with pymrio L and M "
                f"(1e-8) and numpy (1e-12): {agree} (max |dM| {err_m:.1e}, |dL| {err_l:.1e})"
            ),
        ),
        _row(
            f"value added content, {tag}: plan + solve",
            first,
            ratio=dense / first,
            detail=(
                f"the first call: strong components, spectral check, dense LU, then the solve; "
                f"numpy inv {dense * 1e3:.3f} ms, pymrio calc_all {pm * 1e3:.1f} ms "
                f"(ratio {pm / first:.1f})"
            ),
        ),
        _row(
            f"trace one product by (raw, stage, company), {tag}",
            tr,
            ratio=pm / tr,
            detail=f"value added by region of reg1/food; pymrio calc_all {pm * 1e3:.1f} ms",
        ),
    ]


def products_run(n: int, flows: int, k: int = 64, singles: int | None = None) -> dict[str, Any]:
    """One size, in this process: one product's trace cold (the first call: plans and raw
    content built) and warm, ``singles`` packs traced one by one and ``k`` packs by
    :func:`trace_products` in one batch (first and best of two)."""
    from onshore import synthetic
    from onshore import trace as T
    from onshore.trace.graph import build

    res: dict[str, Any] = {}
    net = synthetic.network(n, n_flows=flows, seed=1)
    g = build(net)
    res["nodes"], res["nnz"] = g.n, int(g.A.nnz)
    net._cache[("trace.graph", None)] = g  # the key graph() uses
    packs = np.flatnonzero((g.nodes["stage"] == "pack").to_numpy() & ~g.nodes["virtual"].to_numpy())
    prods = g.labels(packs[: k + 1])
    t = time.perf_counter()
    T.trace(net, prods[0])
    res["first"] = time.perf_counter() - t
    prods = prods[1:]
    one = prods[: singles or k]
    alone, times = [], []
    for p in one:
        t = time.perf_counter()
        alone.append(T.trace(net, p))
        times.append(time.perf_counter() - t)
    res["singles"] = sum(times)
    res["single_median"] = float(np.median(times))
    res["single_range"] = (min(times), max(times))
    res["n_singles"] = len(one)
    t = time.perf_counter()
    batched = T.trace_products(net, prods)
    res["batched_first"] = time.perf_counter() - t
    res["batched"] = min(res["batched_first"], _best(lambda: T.trace_products(net, prods), 2))
    res["k"] = len(prods)
    if n <= 100_000:  # the forward solve of every tag, for the crossover (minutes at 1 M)
        from onshore.trace.origin import _tag_matrix

        res["tags"] = _tag_matrix(g, net, ("raw", "stage", "country"), "mass", None)[0].shape[0]
        T.trace_products(net, prods[:2], forward=True)  # warm: the tag matrix in plan order
        t = time.perf_counter()
        fwd = T.trace_products(net, prods, forward=True)
        res["forward"] = time.perf_counter() - t
        res["forward_err"] = float(
            np.abs(fwd["quantity"].to_numpy() - batched["quantity"].to_numpy()).max()
            / max(float(np.abs(batched["quantity"].to_numpy()).max()), 1e-300)
        )
    err = 0.0
    for p, want_df in zip(one, alone, strict=True):
        mine = batched[batched["product"] == p]["quantity"].to_numpy()
        want = want_df["quantity"].to_numpy()
        err = max(err, float(np.abs(mine - want).max() / max(np.abs(want).max(), 1e-300)))
    res["err"] = err
    res["peak_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return res


def cold_run(n: int, flows: int, folder: str | None) -> dict[str, Any]:
    """One fresh process: the synthetic network and its graph built, then one product traced
    (the first call), with the plans kept in ``folder`` (a :class:`PlanCache` under a label of
    the seeded network, read when there, written when not) or, with ``folder`` None, none."""
    from onshore import synthetic
    from onshore import trace as T
    from onshore.store.plans import PlanCache
    from onshore.trace.graph import build

    net = synthetic.network(n, n_flows=flows, seed=1)
    if folder is not None:
        net.plans = PlanCache(folder, f"synthetic-{n}-{flows}-seed1")
    g = build(net)
    net._cache[("trace.graph", None)] = g
    packs = np.flatnonzero((g.nodes["stage"] == "pack").to_numpy() & ~g.nodes["virtual"].to_numpy())
    prod = g.labels(packs[:1])[0]
    res: dict[str, Any] = {"nodes": g.n, "found": len(net.plans.entries()) if net.plans else 0}
    t = time.perf_counter()
    df = T.trace(net, prod)
    res["first"] = time.perf_counter() - t
    res["rows"], res["quantity"] = len(df), df["quantity"].tolist()
    res["kept_mib"] = sum(p.stat().st_size for p in net.plans.entries()) / 2**20 if net.plans else 0.0
    res["peak_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return res


def _cold(quick: bool) -> list[dict[str, Any]]:
    """One product's first trace in a fresh process, with and without the plans kept beside
    the store, side by side: no cache (plans computed), an empty cache (computed and written),
    the cache written by that run (read)."""
    import os
    import shutil

    rows = []
    sizes = [(10_000, 100_000)] if quick else [(100_000, 1_000_000), (1_000_000, 10_000_000)]
    for n, f in sizes:
        folder = tempfile.mkdtemp(prefix="onshore-plans-")
        got: dict[str, dict[str, Any]] = {}
        try:
            for name, arg in (("none", None), ("write", folder), ("read", folder)):
                code = (
                    "import json; from benchmarks.bench_trace import cold_run; "
                    f"print(json.dumps(cold_run({n}, {f}, {arg!r})))"
                )
                cmd = [sys.executable, "-c", code]
                if n >= 1_000_000 and shutil.which("flock"):  # one 1 M network at a time
                    cmd = ["flock", "/tmp/onshore-1m.lock", *cmd]
                p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=2400,
                                   check=False)
                if p.returncode != 0:
                    got[name] = {"error": p.stderr[-300:]}
                    continue
                got[name] = json.loads(p.stdout.strip().splitlines()[-1])
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        tag = f"{n:,} fac / {f:,} flows"
        if any("error" in r for r in got.values()):
            rows.append(_row(f"trace one product cold, plans kept, {tag}", float("nan"),
                             detail=f"failed: {got}"))
            continue
        none, write, read = got["none"], got["write"], got["read"]
        q0, q1 = np.asarray(none["quantity"]), np.asarray(read["quantity"])
        diff = float(np.abs(q1 - q0).max() / np.abs(q0).max()) if len(q0) == len(q1) else np.inf
        big = n >= 1_000_000
        load = os.getloadavg()[0]
        rows.append(
            _row(
                f"trace one product cold, plans computed (no cache), fresh process, {tag}",
                none["first"],
                peak_gib=none["peak_gib"],
                detail=f"{none['nodes']:,} nodes; both plans and the raw content computed",
            )
        )
        rows.append(
            _row(
                f"trace one product cold, plans read from the cache, fresh process, {tag}",
                read["first"],
                peak_gib=read["peak_gib"],
                ratio=none["first"] / read["first"],
                target="<= 1 s" if big else None,
                met=(read["first"] <= 1.0) if big else None,
                detail=(
                    f"ratio: no cache / cache read, same run; {read['found']} entries kept "
                    f"({read['kept_mib']:.0f} MiB), the backward plan and the raw content "
                    f"mapped; the run that wrote them took "
                    f"{write['first']:.2f} s ({write['first'] - none['first']:+.2f} s for "
                    f"writing); max rel diff to the computed table {diff:.1e}; load {load:.1f}"
                ),
            )
        )
    return rows


def _products(quick: bool) -> list[dict[str, Any]]:
    rows = []
    bw = bandwidth()
    sizes = [(10_000, 100_000, None)] if quick else [
        (10_000, 100_000, None), (100_000, 1_000_000, None), (1_000_000, 10_000_000, 32)
    ]
    for n, f, singles in sizes:
        code = (
            "import json; from benchmarks.bench_trace import products_run; "
            f"print(json.dumps(products_run({n}, {f}, singles={singles})))"
        )
        p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=2400)
        if p.returncode != 0:
            rows.append(_row(f"trace products, {n:,} fac", float("nan"), detail=f"failed: {p.stderr[-300:]}"))
            continue
        r = json.loads(p.stdout.strip().splitlines()[-1])
        one = r["single_median"]
        big = n >= 1_000_000
        tag = f"{n:,} fac / {f:,} flows ({r['nodes']:,} nodes)"
        rows.append(
            _row(
                f"trace one product warm, {tag}",
                one,
                peak_gib=r["peak_gib"],
                target="<= 0.1 s" if big else None,
                met=(one <= 0.1) if big else None,
                bound_s=solve_bytes(r["nnz"], r["nodes"], 1) / bw,
                detail=(
                    f"median of {r['n_singles']} packs, each traced once, warm (plans and raw "
                    f"content built); mean {r['singles'] / r['n_singles']:.3f} s, range "
                    f"{r['single_range'][0]:.3f}-{r['single_range'][1]:.3f} s"
                ),
            )
        )
        rows.append(
            _row(
                f"trace one product cold (first call), {tag}",
                r["first"],
                target="<= 1 s" if big else None,
                met=(r["first"] <= 1) if big else None,
                detail="the graph built; the first call builds the forward and backward plans and the raw content",
            )
        )
        per = r["batched"] / r["k"]
        bound = solve_bytes(r["nnz"], r["nodes"], r["k"]) / bw / r["k"]
        rows.append(
            _row(
                f"trace_products, {r['k']} packs in one batch, per product, {tag}",
                per,
                ratio=one / per,
                target="5-8 ms per product" if n == 100_000 else None,
                met=(per <= 0.008 and r["err"] <= 1e-13) if n == 100_000 else None,
                bound_s=bound,
                detail=(
                    f"best of 2 (first batch {r['batched_first']:.2f} s); {per / bound:.1f}x the "
                    f"bandwidth bound of the backward solve ({bw / 1e9:.1f} GB/s); ratio: one by one "
                    f"/ batched; max rel diff to single traces {r['err']:.1e}"
                ),
            )
        )
        if "forward" in r:
            cross = r["forward"] / per
            rows.append(
                _row(
                    f"trace_products by the forward solve (every tag, the products' rows), {tag}",
                    r["forward"],
                    ratio=cross / r["tags"],
                    detail=(
                        f"{r['tags']:,} tag columns, {r['k']} packs (the cost hardly depends on them); "
                        f"crossover: this / the batched per-product cost = {cross:,.0f} products, "
                        f"ratio = that / the tags (FORWARD_PER_TAG is 0.3); max rel diff to the "
                        f"batched {r['forward_err']:.1e}"
                    ),
                )
            )
    return rows


class PeakPss:
    """The peak proportional set size of this process and its children (shared pages counted
    once across them), sampled every ``every`` seconds in a thread while in the ``with``."""

    def __init__(self, every: float = 0.2) -> None:
        self.every, self.peak, self._stop = every, 0, False

    def now(self) -> int:
        import psutil

        me = psutil.Process()
        total = 0
        for proc in [me, *me.children(recursive=True)]:
            try:
                total += proc.memory_full_info().pss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        return total

    def _run(self) -> None:
        while not self._stop:
            self.peak = max(self.peak, self.now())
            time.sleep(self.every)

    def __enter__(self) -> PeakPss:
        import threading

        self.peak = self.now()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        self._thread.join()
        self.peak = max(self.peak, self.now())


def written_run(n: int, flows: int, outdir: str, batch: int = 64, precision: str = "float32") -> dict[str, Any]:
    """Every cell, pack and device product of one size traced and written
    (:func:`onshore.trace.write_products`, in ``precision`` as `onshore trace --all --out`
    writes by default), in this process, with the peak PSS of the process and its workers;
    and one batch of ``batch`` products by the transposed system, the cost per product the
    other path would have."""
    import os
    import shutil

    from onshore import synthetic
    from onshore import trace as T
    from onshore.trace.graph import build

    res: dict[str, Any] = {}
    net = synthetic.network(n, n_flows=flows, seed=1)
    g = build(net)
    net._cache[("trace.graph", None)] = g
    res["nodes"], res["nnz"] = g.n, int(g.A.nnz)
    t = time.perf_counter()
    T.forward_plan(g)
    T.content(g)
    res["plan_content"] = time.perf_counter() - t
    prods = T.products(net, stages=T.PRODUCT_STAGES)["product"].tolist()
    res["products"] = len(prods)
    out = Path(outdir) / f"products_{n}"
    stats: dict[str, float] = {}
    res["load_before"] = os.getloadavg()[0]
    with PeakPss() as mem:
        t = time.perf_counter()
        T.write_products(net, out, stats=stats, precision=precision)  # type: ignore[arg-type]
        res["written"] = time.perf_counter() - t
    res["load_after"] = os.getloadavg()[0]
    res["peak_pss_gib"] = mem.peak / 2**30
    for k in ("solve", "extract", "write", "rows", "sweeps", "workers"):
        res[k] = stats.get(k, 0.0)
    files = list(out.rglob("*.parquet"))
    res["parquet_gib"] = sum(f.stat().st_size for f in files) / 2**30
    import pandas as pd

    res["tags"] = len(pd.read_parquet(out / "tags.parquet"))
    shutil.rmtree(out, ignore_errors=True)
    rng = np.random.default_rng(0)
    some = [prods[i] for i in rng.choice(len(prods), min(batch, len(prods)), replace=False)]
    T.trace_products(net, some[:2], forward=False)  # warm: the backward plan, its tag matrix
    t = time.perf_counter()
    T.trace_products(net, some, forward=False)
    res["backward_per_product"] = (time.perf_counter() - t) / len(some)
    return res


def _written(quick: bool) -> list[dict[str, Any]]:
    rows = []
    bw = bandwidth()
    sizes = [(10_000, 100_000)] if quick else [(10_000, 100_000), (100_000, 1_000_000), (1_000_000, 10_000_000)]
    with tempfile.TemporaryDirectory() as tmp:
        for n, f in sizes:
            code = f"import json; from benchmarks.bench_trace import written_run; print(json.dumps(written_run({n}, {f}, {tmp!r})))"
            p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=2400)
            case = f"every cell, pack and device product traced and written, {n:,} fac / {f:,} flows"
            if p.returncode != 0:
                rows.append(_row(case, float("nan"), detail=f"failed: {p.stderr[-300:]}", met=False if n >= 1_000_000 else None))
                continue
            r = json.loads(p.stdout.strip().splitlines()[-1])
            big = n >= 1_000_000
            w = max(r["workers"], 1)
            est = r["backward_per_product"] * r["products"]
            rows.append(
                _row(
                    case,
                    r["written"],
                    peak_gib=r["peak_pss_gib"],
                    ratio=est / r["written"],
                    target="<= 30 s, <= 8 GiB (PSS)" if big else None,
                    met=(r["written"] <= 30 and r["peak_pss_gib"] <= 8) if big else None,
                    bound_s=solve_bytes(r["nnz"], r["nodes"], r["tags"]) / bw,
                    detail=(
                        f"{r['products']:,} products of {r['nodes']:,} nodes, forward solve kept to their rows, dense "
                        f"float32 blocks; per worker ({w:.0f}): solve {r['solve'] / w:.1f} s ({r['sweeps']:.0f} cyclic sweeps in all), "
                        f"extract {r['extract'] / w:.1f} s, write {r['write'] / w:.1f} s; {r['rows']:,.0f} values, "
                        f"{r['parquet_gib']:.2f} GiB; bound: one pass over A for all {r['tags']:,} tag columns at {bw / 1e9:.1f} GB/s (no cyclic sweeps: "
                        f"a lower bound); peak PSS of the process and its workers; ratio: the transposed "
                        f"system's {r['backward_per_product'] * 1e3:.1f} ms a product (a batch of 64, measured) x the "
                        f"products ({est:.0f} s) / this; load {r['load_before']:.1f} -> {r['load_after']:.1f}"
                    ),
                )
            )
    return rows


ALLNODES_CASES = {
    "float64 triplets, written inline": {"layout": "triplets", "precision": "float64", "queue": 0},
    "float32 by block (dense or triplets), written inline": {"layout": "auto", "precision": "float32", "queue": 0},
    "float32 by block, writer thread": {"layout": "auto", "precision": "float32", "queue": None},
    "float32 by block, not written (compute only)": {"layout": "auto", "precision": "float32", "queue": None, "write": False},
}
"""The all-nodes cases of :func:`allnodes_run`: the former output (float64 triplets, written by
the worker between solves), the float32 layout written inline, the same with the writer thread
(the default :data:`~onshore.trace.allnodes.WRITE_QUEUE`), and the compute alone."""


def allnodes_run(n: int, flows: int, outdir: str, rounds: int = 2, sample: int = 300,
                 cases: list[str] | None = None) -> dict[str, Any]:
    """Every node traced and written (:func:`onshore.trace.solve_all` with ``out``) in each
    case of :data:`ALLNODES_CASES` (or of ``cases``, which must hold the float64 triplets and
    the writer thread's), in turns in this process (``rounds`` times), on one network;
    the seconds, the values, the bytes of the value files, and the largest relative difference
    of ``sample`` nodes' read-back values between the float32 and float64 outputs."""
    import os
    import shutil

    import pandas as pd

    from onshore import synthetic
    from onshore import trace as T
    from onshore.trace import allnodes
    from onshore.trace.graph import build

    res: dict[str, Any] = {"cases": {}}
    net = synthetic.network(n, n_flows=flows, seed=1)
    g = build(net)
    net._cache[("trace.graph", None)] = g
    res["nodes"], res["nnz"] = g.n, int(g.A.nnz)
    T.forward_plan(g)
    default_queue = allnodes.WRITE_QUEUE
    keep: dict[str, Path] = {}
    todo = {k: v for k, v in ALLNODES_CASES.items() if cases is None or k in cases}
    for r in range(rounds):
        for name, c in todo.items():
            out = Path(outdir) / f"all_{n}_{len(keep)}_{r}"
            allnodes.WRITE_QUEUE = default_queue if c["queue"] is None else c["queue"]
            stats: dict[str, float] = {}
            load = os.getloadavg()[0]
            t = time.perf_counter()
            try:
                T.solve_all(net, out=out, stats=stats, layout=c["layout"], precision=c["precision"],
                            write=c.get("write", True))
            finally:
                allnodes.WRITE_QUEUE = default_queue
            sec = time.perf_counter() - t
            vals = sum(f.stat().st_size for f in (out / "values").glob("*.parquet"))
            got = res["cases"].setdefault(name, {"seconds": [], "load": []})
            got["seconds"].append(sec)
            got["load"].append(load)
            got.update(values=stats.get("rows", 0.0), bytes=vals, workers=stats.get("workers", 1.0),
                       solve=stats.get("solve", 0.0), extract=stats.get("extract", 0.0),
                       write=stats.get("write", 0.0), write_wait=stats.get("write_wait", 0.0),
                       dense_blocks=stats.get("dense_blocks", 0.0),
                       float32_blocks=stats.get("float32_blocks", 0.0))
            if r == rounds - 1 and name in list(ALLNODES_CASES)[::2][:2]:  # float64, float32 threaded
                keep[name] = out
            else:
                shutil.rmtree(out, ignore_errors=True)
    res["tags"] = len(pd.read_parquet(next(iter(keep.values())) / "tags.parquet"))
    rng = np.random.default_rng(0)
    some = rng.choice(np.flatnonzero(~g.nodes["virtual"].to_numpy()), sample, replace=False).tolist()
    a, b = (T.read_all(p, nodes=some) for p in keep.values())
    key = ["node", "raw", "stage", "country"]
    m = a.merge(b, on=key, how="outer", suffixes=("_64", "_32"))
    res["same_rows"] = bool(not m[["quantity_64", "quantity_32"]].isna().any().any())
    res["max_rel"] = float((np.abs(m["quantity_32"] - m["quantity_64"]) / m["quantity_64"]).max())
    res["sample_values"] = len(m)
    for p in keep.values():
        shutil.rmtree(p, ignore_errors=True)
    return res


def _allnodes(quick: bool, big: bool = False) -> list[dict[str, Any]]:
    """Every node traced and written, the former layout and the float32 one side by side
    (:func:`allnodes_run`); with ``big`` the 1 M size, one round of the former layout and
    the writer thread's only (minutes a case there)."""
    import shutil

    rows = []
    bw = bandwidth()
    sizes = [(10_000, 100_000)] if quick else [(100_000, 1_000_000)]
    if big:
        sizes = [(1_000_000, 10_000_000)]
    with tempfile.TemporaryDirectory() as tmp:
        for n, f in sizes:
            rounds = 1 if n >= 1_000_000 else 2
            cases = list(ALLNODES_CASES)[::2][:2] if n >= 1_000_000 else None
            code = (f"import json; from benchmarks.bench_trace import allnodes_run; "
                    f"print(json.dumps(allnodes_run({n}, {f}, {tmp!r}, rounds={rounds}, cases={cases!r})))")
            cmd = [sys.executable, "-c", code]
            if n >= 1_000_000 and shutil.which("flock"):  # one 1 M network at a time
                cmd = ["flock", "/tmp/onshore-1m.lock", *cmd]
            p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=7200)
            tag = f"{n:,} fac / {f:,} flows"
            if p.returncode != 0:
                rows.append(_row(f"all nodes written, {tag}", float("nan"), detail=f"failed: {p.stderr[-300:]}"))
                continue
            r = json.loads(p.stdout.strip().splitlines()[-1])
            bound = solve_bytes(r["nnz"], r["nodes"], r["tags"]) / bw
            cases = r["cases"]
            old = min(next(iter(cases.values()))["seconds"])
            for name, c in cases.items():
                best = min(c["seconds"])
                w = max(c["workers"], 1)
                written = c["bytes"] > 0
                rows.append(
                    _row(
                        f"all nodes, {name}, {tag}",
                        best,
                        ratio=old / best,
                        bound_s=bound,
                        gib=c["bytes"] / 2**30,
                        values=c["values"],
                        target="2x faster than float64 triplets, half the bytes" if written and name != next(iter(cases)) else None,
                        detail=(
                            f"best of {len(c['seconds'])} ({', '.join(f'{x:.1f}' for x in c['seconds'])} s, load "
                            f"{', '.join(f'{x:.1f}' for x in c['load'])}); ratio: the float64 triplets' best / this; "
                            f"{best / bound:.1f}x the bound (one pass over A for all {r['tags']:,} tag columns at "
                            f"{bw / 1e9:.1f} GB/s); {c['values']:,.0f} values, "
                            + (f"{c['bytes'] / 2**30:.2f} GiB ({c['bytes'] / max(c['values'], 1):.2f} bytes a value), "
                               if written else "nothing written, ")
                            + f"{c['dense_blocks']:.0f} blocks dense, {c['float32_blocks']:.0f} float32; per worker ({w:.0f}): solve "
                            f"{c['solve'] / w:.1f} s, extract {c['extract'] / w:.1f} s, write {c['write'] / w:.1f} s, "
                            f"waited for the writer {c['write_wait'] / w:.1f} s"
                        ),
                    )
                )
            rows.append(
                _row(
                    f"all nodes, float32 read back against float64, {tag}",
                    float("nan"),
                    detail=(f"{r['sample_values']:,} values of 300 nodes: same rows {r['same_rows']}, max rel "
                            f"diff {r['max_rel']:.2e} (float32 rounding bound 5.96e-08)"),
                )
            )
    return rows


def dense_10k() -> list[dict[str, Any]]:
    """Only the 10 k-node comparison with ``numpy.linalg.inv(I - A)`` (``python -m
    benchmarks.bench_trace --dense-10k``)."""
    return _dense_sizes([10_000])


def run(quick: bool = False) -> list[dict[str, Any]]:
    """All trace benchmarks; ``quick`` keeps the smallest sizes."""
    return (
        _pymrio(quick) + _products(quick) + _written(quick) + _cold(quick) + _sizes(quick)
        + _dense(quick) + _networkx(quick)
    )


if __name__ == "__main__":
    only = {"--pymrio": lambda: _pymrio("--quick" in sys.argv), "--dense-10k": dense_10k,
            "--products": lambda: _products("--quick" in sys.argv),
            "--written": lambda: _written("--quick" in sys.argv),
            "--cold": lambda: _cold("--quick" in sys.argv),
            "--all-nodes": lambda: _allnodes("--quick" in sys.argv, big="--1m" in sys.argv)}
    if "--help" in sys.argv or "-h" in sys.argv:
        print("python -m benchmarks.bench_trace [--quick] [" + " | ".join(only) + "] [--1m]\n"
              "no case flag: every trace benchmark (minutes to hours); --quick: the smallest sizes; "
              "--all-nodes --1m: the all-nodes cases at 1 M facilities (under /tmp/onshore-1m.lock)")
        sys.exit(0)
    if any(a in only for a in sys.argv):
        rows = [r for a, f in only.items() if a in sys.argv for r in f()]
    else:
        rows = run("--quick" in sys.argv)
    for r in rows:
        print(r)
