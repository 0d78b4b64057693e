"""Trace every node at once (``solve_all``): one plan, (raw, stage) blocks of tag columns solved by
worker processes and streamed compactly to Parquet (triplets or dense, float64 or float32, block
by block); :func:`read_all` reads them back tidy."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from onshore.network import Network
from onshore.trace import leontief as _solve
from onshore.trace.graph import UNKNOWN, Graph, graph, product_ids
from onshore.trace.leontief import TOL, Plan
from onshore.trace.tags import (
    PLACE_FIELDS,
    Controller,
    Weight,
    field_values,
    forward_plan,
    g_names,
    values,
)


def _blocks(
    g: Graph, network: Network, by: tuple[str, ...], weight: Weight, controller: Controller | None
) -> Iterator[tuple[dict[str, str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Column blocks: (fixed fields, rows, place codes, values, place labels) per (raw, stage)."""
    nodes = np.arange(g.n)
    n_id, rawi, val, priced = values(g, nodes, weight, by)
    raw = np.array(g.raws + [""], dtype=object)[rawi]
    place = [f for f in by if f in PLACE_FIELDS]
    parts = [field_values(g, network, f, controller)[n_id] for f in place]
    if weight == "cost":
        parts.append(np.where(priced, "known", UNKNOWN))
    key = pd.Series(
        ["\x1f".join(t) for t in zip(*parts, strict=True)] if parts else [""] * len(n_id)
    )
    code, uniq = pd.factorize(key)
    stage = (
        g.nodes["stage"].astype(str).to_numpy()[n_id]
        if "stage" in by
        else np.full(len(n_id), "", dtype=object)
    )
    grp = pd.DataFrame({"raw": raw, "stage": stage}).groupby(["raw", "stage"], sort=True).indices
    for (r, s), sel in grp.items():
        fixed = {k: v for k, v in (("raw", r), ("stage", s)) if k in by}
        yield fixed, n_id[sel], code[sel], val[sel], np.asarray(uniq, dtype=object)


Block = tuple[np.ndarray, np.ndarray, np.ndarray, int]
"""One (raw, stage) block of right-hand sides: node rows, column codes, values, first tag."""


def prepare(
    network: Network,
    by: Sequence[str],
    weight: Weight,
    period: str | None,
    controller: Controller | None,
) -> tuple[Graph, Plan, list[Block], pd.DataFrame]:
    """The graph, its forward plan, the right-hand-side blocks and the tag table of a trace of
    every node: what every engine of :func:`solve_all` starts from (``tag`` is
    ``base + column`` of a block)."""
    by = tuple(by)
    g = graph(network, period)
    fp = forward_plan(g)
    place = [f for f in by if f in PLACE_FIELDS] + (["price"] if weight == "cost" else [])
    blocks: list[Block] = []
    tags: list[dict[str, Any]] = []
    for fixed, rows, code, val, uniq in _blocks(g, network, by, weight, controller):
        used, col = np.unique(code, return_inverse=True)
        blocks.append((rows, col, val, len(tags)))
        for u in uniq[used]:
            lab = u.split("\x1f") if u else []
            tags.append(
                {
                    "tag": len(tags),
                    **{f: fixed[f] for f in by if f in fixed},
                    **dict(zip(place, lab, strict=True)),
                }
            )
    tag_df = pd.DataFrame(tags, columns=["tag", *[f for f in by if f in ("raw", "stage")], *place])
    return g, fp, blocks, tag_df


def write_index(d: Path, g: Graph, tag_df: pd.DataFrame) -> None:
    """``tags.parquet`` and ``nodes.parquet`` of an output directory of :func:`solve_all`."""
    d.mkdir(parents=True, exist_ok=True)
    tag_df.to_parquet(d / "tags.parquet", index=False)
    pd.DataFrame({"node": np.arange(g.n, dtype=np.int32), "product": g.labels()}).to_parquet(
        d / "nodes.parquet", index=False
    )


PRODUCT_STAGES = ("cell", "pack", "device")
"""The stages whose plants make what users trace as products: cells, packs and devices."""


def kept_rows(g: Graph, fp: Plan, stages: Sequence[str] | None = None) -> np.ndarray:
    """The plan rows of the nodes :func:`solve_all` keeps, ascending: the real (not virtual)
    nodes, of ``stages`` only when given.

    Parameters
    ----------
    g : Graph
    fp : Plan
        The forward plan of ``g``.
    stages : sequence of str, optional
        Only nodes of these stages.

    Returns
    -------
    ndarray of int64
        Plan positions (``fp.pos`` of the nodes), sorted.
    """
    keep = ~g.nodes["virtual"].to_numpy()
    if stages is not None:
        keep &= g.nodes["stage"].astype(str).isin([str(s) for s in stages]).to_numpy()
    return np.sort(fp.pos[np.flatnonzero(keep)])


FLOAT32_TINY = float(np.finfo(np.float32).tiny)
"""The smallest normal float32 (1.18e-38): below it float32 loses relative precision."""

FLOAT32_ROUNDING = 2.0**-24
"""The relative rounding of a float64 value stored as float32 (round to nearest, normal range):
at most 2^-24, 5.96e-8."""

TAG_BYTES = 1
"""Bytes a triplet's ``tag`` takes, about, in Parquet's dictionary coding (a block has at most
a few hundred tags: 8 bits or fewer each), for :func:`dense_is_smaller`."""

PRECISION_NOTE = {
    "float32": (
        "float32: each value is the float64 solve rounded to the nearest float32 after the "
        "kept cut was applied in float64; relative error at most 2^-24 (5.96e-08); "
        "onshore.trace.read_all widens it to float64 exactly as stored"
    ),
    "float64": "float64: the values of the solve, exact",
}
"""What the ``onshore.precision`` note in each value file's Parquet schema metadata says."""


def dense_is_smaller(rows: int, values: int, k: int, width: int) -> bool:
    """Whether a block is written dense: one ``width``-byte column per tag beside an int32
    ``node``, for its ``rows`` rows with a value (``4 + width * k`` bytes a row), is no
    larger than its ``values`` triplets (int32 ``node``, the value, the dictionary-coded
    ``tag``: ``4 + width + TAG_BYTES`` bytes each). For float32 (``width`` 4) dense wins
    from a fill ``values / (rows * k)`` of about 0.45 on; for float64 from about 0.62.

    Parameters
    ----------
    rows, values : int
        Rows with a kept value and kept values of the block.
    k : int
        Tags (columns) of the block.
    width : int
        Bytes of a stored value: 4 (float32) or 8 (float64).

    Returns
    -------
    bool
    """
    return values > 0 and rows * (4 + width * k) <= values * (4 + width + TAG_BYTES)


def cut(
    X: np.ndarray,
    rows: np.ndarray,
    min_quantity: float,
    min_share: float,
    total: np.ndarray | None = None,
    floor: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Zero, in place, the values of the rows ``rows`` of one solved block that are not kept:
    the rule of :func:`solve_all` (and of the Spark engine's tasks), applied in float64.

    Kept are values ``> min_quantity`` and ``> min_share`` x the node's total over the block.
    Rows are taken in chunks of about 2^22 cells, as views of ``X`` where the rows asked for
    fill at least half of the chunk's span (rows between them are cut too), else gathered
    and put back.

    Parameters
    ----------
    X : ndarray, shape (n, k), float64
        The block's solution in plan order; changed in place.
    rows : ndarray of int
        The plan rows kept, ascending (:func:`kept_rows`).
    min_quantity, min_share : float
        As :func:`solve_all` (both >= 0).
    total : ndarray, shape (n,), optional
        The node's total over the whole block when ``X`` holds only some of its columns;
        default the sum of ``X``'s columns.
    floor : float
        Report whether any kept value is below this.

    Returns
    -------
    (count, total, below) : ndarray of int64, ndarray of float64, bool
        Each row's count of kept values, each row's block total (both aligned with
        ``rows``), and whether a kept value is below ``floor``.
    """
    k = X.shape[1]
    count = np.zeros(len(rows), dtype=np.int64)
    tot = np.zeros(len(rows))
    below = False
    chunk = max(1, 2**22 // max(k, 1))
    for a in range(0, len(rows), chunk):
        at = rows[a : a + chunk]
        lo, hi = int(at[0]), int(at[-1]) + 1
        span = 2 * len(at) >= hi - lo
        sub = X[lo:hi] if span else X[at]
        t = sub.sum(axis=1) if total is None else (total[lo:hi] if span else total[at])
        c = np.maximum(min_quantity, min_share * t)
        np.putmask(sub, sub <= c[:, None], 0.0)
        n = np.count_nonzero(sub, axis=1)
        if not span:
            X[at] = sub
        pick = at - lo if span else slice(None)
        count[a : a + len(at)] = n[pick]
        tot[a : a + len(at)] = t[pick]
        if floor > 0 and not below:  # kept values exceed c: only rows with c < floor can be below
            low = (n > 0) & (c < floor)
            if span:
                mine = np.zeros(hi - lo, dtype=bool)
                mine[at - lo] = True
                low &= mine
            if low.any():
                v = sub[low]
                below = bool(((v > 0) & (v < floor)).any())
    return count, tot, below


def _triplets(
    p: Plan, X: np.ndarray, base: int, rows: np.ndarray, count: np.ndarray, tot: np.ndarray
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """The nonzeros of the rows ``rows`` of a block cut by :func:`cut`, in chunks of about
    2^22 cells: (node, tag, quantity, total)."""
    has = np.flatnonzero(count)
    chunk = max(1, 2**22 // max(X.shape[1], 1))
    for a in range(0, len(has), chunk):
        h = has[a : a + chunk]
        sub = X[rows[h]]
        ii, jj = np.nonzero(sub)
        yield p.perm[rows[h[ii]]], base + jj, sub[ii, jj], tot[h[ii]]


def kept(
    p: Plan,
    X: np.ndarray,
    base: int,
    rows: np.ndarray,
    min_quantity: float,
    min_share: float,
    total: np.ndarray | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """The values of one solved block that are kept (:func:`cut`), as :func:`solve_all` keeps
    them in its ``triplets`` layout (the Spark engine's tasks), in chunks of about 2^22 cells.

    Parameters
    ----------
    p : Plan
    X : ndarray, shape (n, k)
        The block's solution in plan order, column ``c`` being tag ``base + c``; the values
        not kept are zeroed in place.
    base : int
    rows : ndarray of int
        The plan rows kept, ascending (:func:`kept_rows`).
    min_quantity, min_share : float
        As :func:`solve_all`: kept are values ``> min_quantity`` and ``> min_share`` x the
        node's total over the block.
    total : ndarray, shape (n,), optional
        The node's total over the whole block when ``X`` holds only some of its columns;
        default the sum of ``X``'s columns.

    Yields
    ------
    (node, tag, quantity, total) : ndarrays of the kept values
        Node ids, tag ids, the values and the node's block total of each.
    """
    count, tot, _ = cut(X, rows, min_quantity, min_share, total)
    yield from _triplets(p, X, base, rows, count, tot)


_JOB: dict[str, Any] = {}
"""The work of :func:`solve_all`, set before worker processes fork (they inherit it)."""

WRITE_QUEUE = 4
"""Tables (of about 2^22 cells each) a worker's writer thread may hold while the worker goes on
solving: the Parquet encoding of one block overlaps the solve of the next. 0: written inline."""


class _Writer:
    """Writes a worker's value files in a thread fed through a bounded queue (pyarrow encodes
    and writes without the GIL), or inline when ``depth`` is 0. ``busy``: seconds writing;
    ``wait``: seconds the worker waited for room in the queue."""

    def __init__(self, depth: int, compression: str) -> None:
        import queue
        import threading

        self.depth, self.compression = depth, compression
        self.busy = self.wait = 0.0
        self.error: BaseException | None = None
        self._w: Any = None
        self._q: queue.Queue[tuple[Any, ...] | None] = queue.Queue(maxsize=max(depth, 1))
        self._t = threading.Thread(target=self._loop, daemon=True) if depth > 0 else None
        if self._t is not None:
            self._t.start()

    def _do(self, item: tuple[Any, ...]) -> None:
        import time

        import pyarrow.parquet as pq

        t = time.perf_counter()
        if item[0] == "open":
            _, path, schema, dictionary = item
            self._w = pq.ParquetWriter(  # statistics of node only (read_all filters by it)
                path,
                schema,
                compression=self.compression,
                use_dictionary=dictionary,
                write_statistics=["node"],
            )
        elif item[0] == "table":
            self._w.write_table(item[1])
        else:
            self._w.close()
            self._w = None
        self.busy += time.perf_counter() - t

    def _loop(self) -> None:
        while (item := self._q.get()) is not None:
            if self.error is None:
                try:
                    self._do(item)
                except BaseException as e:  # noqa: BLE001 - raised in the worker by put/close
                    self.error = e

    def put(self, *item: Any) -> None:
        """``("open", path, schema, use_dictionary)``, ``("table", table)`` or ``("close",)``."""
        import time

        if self.error is not None:
            raise self.error
        if self._t is None:
            self._do(item)
            return
        t = time.perf_counter()
        self._q.put(item)
        self.wait += time.perf_counter() - t

    def close(self) -> dict[str, float]:
        """Wait for every file to be written; their seconds (raises what writing raised)."""
        if self._t is not None:
            self._q.put(None)
            self._t.join()
        if self.error is not None:
            raise self.error
        return {"write": self.busy, "write_wait": self.wait}


def _schema(fields: list[tuple[str, Any]], precision: str, layout: str) -> Any:
    import pyarrow as pa

    meta = {"onshore.precision": PRECISION_NOTE[precision], "onshore.layout": layout}
    return pa.schema(fields, metadata=meta)


def _run_block(
    b: int, writer: _Writer | None = None
) -> tuple[int, dict[str, float], pd.DataFrame | None]:
    """Solve block ``b`` of ``_JOB``; hand its value file to ``writer`` or return it as a
    frame."""
    import time

    import pyarrow as pa

    j = _JOB
    p: Plan = j["plan"]
    rows, col, val, base = j["blocks"][b]
    st: dict[str, float] = {}
    t0 = time.perf_counter()
    k = int(col.max()) + 1
    Bp = sp.csr_matrix((val, (p.pos[rows], col)), shape=(p.n, k))
    keep_rows: np.ndarray = j["rows"]  # the plan rows to keep, ascending, virtual nodes out
    if keep_rows.size == 0:
        return b, {"solve": 0.0, "extract": 0.0, "rows": 0}, None
    X = _solve.solve_permuted(p, Bp, j["names"], j["tol"], st, upto=int(keep_rows[-1]))
    t1 = time.perf_counter()
    spent = (writer.busy if writer.depth == 0 else 0.0) + writer.wait if writer else 0.0
    f32 = j["precision"] == "float32"
    count, tot, below = cut(
        X, keep_rows, j["min_quantity"], j["min_share"], floor=FLOAT32_TINY if f32 else 0.0
    )
    nz = int(count.sum())
    st["rows"] = nz
    if j["dir"] is None:  # a frame, float64
        frames = [
            pd.DataFrame({"node": node, "tag": tag, "quantity": q, "share": q / t})
            for node, tag, q, t in _triplets(p, X, base, keep_rows, count, tot)
        ]
        st["solve"], st["extract"] = t1 - t0, time.perf_counter() - t1
        return b, st, (pd.concat(frames, ignore_index=True) if frames else None)
    # float32 holds the block when its kept values are normal float32 numbers: each is at most
    # its row's total (values are >= 0), and cut() reports one below the smallest normal
    f32 = f32 and not below and float(tot[count > 0].max(initial=0.0)) < np.finfo(np.float32).max
    precision = "float32" if f32 else "float64"
    dtype = np.float32 if f32 else np.float64
    ftype = pa.float32() if f32 else pa.float64()
    has = np.flatnonzero(count)
    if j["layout"] == "auto":
        dense = dense_is_smaller(len(has), nz, k, 4 if f32 else 8)
    else:
        dense = j["layout"] == "dense"
    st["dense_blocks"] = float(dense)
    st["float32_blocks"] = float(f32)
    out = writer if j["write"] and nz else None
    tag_t = np.int16 if j["ntags"] < 2**15 else np.int32
    if dense:
        schema = _schema(
            [("node", pa.int32())] + [(str(base + c), ftype) for c in range(k)], precision, "dense"
        )
    else:
        schema = _schema(
            [("node", pa.int32()), ("tag", pa.from_numpy_dtype(tag_t)), ("quantity", ftype)],
            precision,
            "triplets",
        )
    if out is not None:
        path = str(j["dir"] / f"block_{b:04d}.parquet")
        out.put("open", path, schema, False if dense else ["tag"])
    if dense:  # every column of the block for the rows with a value kept: no extraction
        chunk = max(1, 2**22 // max(k, 1))
        for a in range(0, len(has), chunk):
            h = keep_rows[has[a : a + chunk]]
            cols = X[h].T.astype(dtype, order="C")  # one column per tag
            arrays = [pa.array(p.perm[h].astype(np.int32))]
            arrays += [pa.array(cols[c]) for c in range(k)]
            if out is not None:
                out.put("table", pa.Table.from_arrays(arrays, schema=schema))
    else:
        for node, tag, q, _ in _triplets(p, X, base, keep_rows, count, tot):
            t = pa.Table.from_arrays(
                [
                    pa.array(node.astype(np.int32)),
                    pa.array(tag.astype(tag_t)),
                    pa.array(q.astype(dtype)),
                ],
                schema=schema,
            )
            if out is not None:
                out.put("table", t)
    if out is not None:
        out.put("close")
    if writer is not None:  # writing inline, and waiting for the thread, are not extracting
        spent = (writer.busy if writer.depth == 0 else 0.0) + writer.wait - spent
    st["solve"], st["extract"] = t1 - t0, time.perf_counter() - t1 - spent
    return b, st, None


def _worker(tasks: Any, results: Any) -> None:
    """A worker process of :func:`solve_all`: blocks from ``tasks`` until None, each block's
    stats to ``results``, then its writer's (or the error raised)."""
    try:
        _solve.single_threaded()
        w = _Writer(WRITE_QUEUE, _JOB["compression"])
        while (b := tasks.get()) is not None:
            results.put(("block", _run_block(b, w)))
        results.put(("done", w.close()))
    except BaseException as e:  # noqa: BLE001 - raised again in the parent
        results.put(("error", e))


def _in_workers(order: list[int], nw: int) -> list[tuple[int, dict[str, float], Any]]:
    """Run the blocks ``order`` (largest first) in ``nw`` forked worker processes, each taking
    the next block when done with one; the blocks' stats and each worker's writer stats."""
    import multiprocessing as mp
    import queue

    ctx = mp.get_context("fork")
    tasks, results = ctx.Queue(), ctx.Queue()
    for b in order:
        tasks.put(b)
    for _ in range(nw):
        tasks.put(None)
    procs = [ctx.Process(target=_worker, args=(tasks, results), daemon=True) for _ in range(nw)]
    for pr in procs:
        pr.start()
    out: list[tuple[int, dict[str, float], Any]] = []
    done = 0
    try:
        while done < nw:
            try:
                kind, got = results.get(timeout=1.0)
            except queue.Empty:
                if any(pr.exitcode not in (None, 0) for pr in procs) or all(
                    pr.exitcode is not None for pr in procs
                ):
                    raise RuntimeError("a worker process of solve_all died") from None
                continue
            if kind == "error":
                raise got
            if kind == "done":
                done += 1
                out.append((-1, got, None))
            else:
                out.append(got)
    finally:
        for pr in procs:
            if pr.is_alive() and done < nw:
                pr.terminate()
            pr.join()
    return out


def solve_all(
    network: Network,
    by: Sequence[str] = ("raw", "stage", "country"),
    weight: Weight = "mass",
    period: str | None = None,
    controller: Controller | None = None,
    out: str | Path | None = None,
    min_quantity: float = 0.0,
    tol: float = TOL,
    stats: dict[str, float] | None = None,
    workers: int | None = None,
    min_share: float = 1e-15,
    compression: str = "none",
    write: bool = True,
    stages: Sequence[str] | None = None,
    layout: Literal["triplets", "dense", "auto"] = "triplets",
    precision: Literal["float64", "float32"] = "float64",
) -> pd.DataFrame | Path:
    """Trace every node (or every node of some stages) at once, one (raw, stage) block of tag
    columns at a time.

    Each block solves ``X = A X + B`` with ``B[p, c] = b_p`` for the nodes ``p`` of that raw
    material and stage whose place (country, ...) is ``c``, with one plan for all blocks.
    Kept: values ``> min_quantity`` and ``> min_share`` x the node's total over its block
    (the default 1e-15 drops only rounding noise, far below the solver's 1e-10 residual).
    Virtual (``unknown``) nodes are not written. With ``stages`` (e.g. :data:`PRODUCT_STAGES`:
    every cell, pack and device) only the rows of nodes of those stages are kept: the solve
    still runs over everything upstream of them (a row needs its suppliers'), but stops at
    the level of the last kept row, and nothing else is extracted or written.

    With ``out`` (a directory) blocks are solved by ``workers`` processes (default: the
    CPU count), each handing its files to a writer thread (:data:`WRITE_QUEUE`), so that the
    Parquet encoding of one block overlaps the solve of the next, and written compactly:
    ``tags.parquet`` (``tag`` -> the tag fields), ``nodes.parquet`` (``node`` -> ``product``)
    and ``values/block_NNNN.parquet`` (a former run's block files are removed first), one
    a block, in one of two layouts: ``triplets``, ``node`` (int32), ``tag`` (int16) and
    ``quantity``; or ``dense``, one column per tag of the block (named by its ``tag``
    number; 0 where nothing is kept) beside ``node``, for the nodes with a value in the
    block: no nonzero extraction, and fewer bytes where most (node, tag) cells of a block
    hold a value, as a product's do. ``layout="auto"`` takes, block by block, the smaller
    (:func:`dense_is_smaller`, on the counts of the kept values). Values are stored as
    ``precision``: ``float64``, the solve's values exactly, or ``float32``, each rounded to
    the nearest float32 (relative error at most 2^-24, 5.96e-8) after the cut below is
    decided in float64; a block with a kept value outside float32's normal range
    (1.18e-38 .. 3.4e38) stays float64. Each file's Parquet schema metadata says its
    precision (``onshore.precision``) and layout (``onshore.layout``). :func:`read_all`
    reads every layout and precision into the same tidy table, float32 widened exactly.
    ``share`` is not stored: it is ``quantity`` over the sum of the node's (raw, stage).
    Without ``out`` a tidy DataFrame is returned (small networks), in float64 whatever
    ``precision`` says. ``stats``, when given, receives the seconds of solving, extracting
    (the cut, gathering and encoding the tables) and writing (in the writer threads,
    overlapping the rest) summed over workers, the seconds the workers waited for their
    writer (``write_wait``), the wall time, the values (``rows``), the cyclic sweeps and the
    blocks written dense and as float32; ``write=False`` (with ``out``) solves and extracts
    without writing, to time the compute.

    Parameters
    ----------
    network : Network
    by : sequence of str
        Tag fields among ``raw``, ``stage``, ``country``, ``controlling_country``,
        ``company``, ``facility`` (as :func:`~onshore.trace.origin.trace`).
    weight : {"mass", "cost"}
        Units of raw per unit of node, or USD per unit of node (as ``trace``).
    period : str, optional
        Flows whose period starts with this.
    controller : callable, optional
        ``network -> {company: country}`` for ``controlling_country``.
    out : str or Path, optional
        The directory to write to (created if needed); default: return a DataFrame.
    min_quantity : float
        Values at or below this (units or USD per unit of node) are dropped.
    tol : float
        Relative residual at which cyclic solves stop.
    stats : dict, optional
        Filled with ``solve``, ``extract``, ``write``, ``write_wait``, ``wall`` (seconds),
        ``rows``, ``sweeps``, ``dense_blocks``, ``float32_blocks`` and ``workers``.
    workers : int, optional
        Worker processes with ``out`` (default the CPU count; 1 without ``out``).
    min_share : float
        Values at or below this fraction of the node's block total are dropped.
    compression : str
        Parquet compression codec of the value files (``none``, ``zstd``, ...).
    write : bool
        With ``out``, False skips writing the value files (for timing).
    stages : sequence of str, optional
        Keep only the nodes of these stages (default: every node).
    layout : {"triplets", "dense", "auto"}
        How the value files are written with ``out`` (see above).
    precision : {"float64", "float32"}
        How the values are stored with ``out`` (see above).

    Returns
    -------
    DataFrame or Path
        ``out`` as a Path when given; else a DataFrame with ``node``, ``product``, the tag
        fields (plus ``price`` by cost), ``quantity`` per unit of the product and ``share``
        (empty when nothing is kept).

    Raises
    ------
    TraceError
        When a cycle creates mass or does not converge.
    ValueError
        When ``layout`` or ``precision`` is none of the above.
    """
    import multiprocessing as mp
    import os
    import time

    if precision not in PRECISION_NOTE:
        raise ValueError(f"precision is float32 or float64, not {precision!r}")
    if layout not in ("triplets", "dense", "auto"):
        raise ValueError(f"layout is triplets, dense or auto, not {layout!r}")
    wall = time.perf_counter()
    by = tuple(by)
    g, fp, blocks, tag_df = prepare(network, by, weight, period, controller)
    d = Path(out) if out is not None else None
    if d is not None:
        (d / "values").mkdir(parents=True, exist_ok=True)
        for old in (d / "values").glob("block_*.parquet"):  # a former run's blocks
            old.unlink()
        write_index(d, g, tag_df)
    _JOB.clear()
    _JOB.update(
        plan=fp,
        blocks=blocks,
        names=g_names(g),
        tol=tol,
        rows=kept_rows(g, fp, stages),
        layout=layout,
        precision=precision,
        ntags=len(tag_df),
        dir=(d / "values") if d is not None else None,
        min_quantity=min_quantity,
        min_share=min_share,
        compression=compression,
        write=write,
    )
    nw = workers if workers is not None else (os.cpu_count() or 1)
    nw = max(1, min(nw, len(blocks))) if d is not None else 1
    order = sorted(range(len(blocks)), key=lambda b: -len(blocks[b][0]))  # big blocks first
    try:
        if nw > 1 and "fork" in mp.get_all_start_methods():
            results = _in_workers(order, nw)
        elif d is not None:
            w = _Writer(WRITE_QUEUE, compression)
            results = [_run_block(b, w) for b in order]
            results.append((-1, w.close(), None))
        else:
            results = [_run_block(b) for b in order]
    finally:
        _JOB.clear()
    if stats is not None:
        for _, st, _ in results:
            for k, v in st.items():
                stats[k] = stats.get(k, 0.0) + v
        stats["workers"] = nw
        stats["wall"] = time.perf_counter() - wall
    if d is not None:
        return d
    frames = [f for _, _, f in sorted(results, key=lambda r: r[0]) if f is not None]
    if not frames:
        return pd.DataFrame()
    df = pd.concat(frames, ignore_index=True)
    df = df.merge(tag_df, on="tag", how="left").drop(columns="tag")
    df.insert(1, "product", np.array(g.labels(), dtype=object)[df["node"].to_numpy()])
    cols = ["node", "product", *[c for c in tag_df.columns if c != "tag"], "quantity", "share"]
    return df[cols]


def read_all(out: str | Path, nodes: Sequence[int] | None = None) -> pd.DataFrame:
    """The tidy table written by :func:`solve_all`, optionally for some nodes only.

    Every layout (triplets, dense) and precision reads to the same table; float32 values are
    widened to float64 exactly as stored (each within 2^-24, 5.96e-8, relative of the solve:
    :data:`FLOAT32_ROUNDING`), so ``share``, computed here from the stored values, is within
    about 1.2e-7 relative of the solve's.

    Parameters
    ----------
    out : str or Path
        The directory :func:`solve_all` wrote.
    nodes : sequence of int, optional
        Node ids to read (see ``nodes.parquet``); default all.

    Returns
    -------
    DataFrame
        ``node``, ``product``, the tag fields, ``quantity`` per unit of the product and
        ``share`` = quantity / the node's total over the same (raw, stage[, price]); rows by
        block file, then as written. ``attrs["precision"]`` is ``"float32"`` when any value
        file stores float32 values, else ``"float64"``; ``attrs["rounding"]`` the relative
        rounding of the stored values (2^-24 or 0).
    """
    import pyarrow as pa
    import pyarrow.dataset as ds

    d = Path(out)
    flt = ds.field("node").isin(list(nodes)) if nodes is not None else None
    parts = []
    f32 = False
    for f in sorted((d / "values").glob("*.parquet")):
        data = ds.dataset(str(f), format="parquet")
        f32 |= any(data.schema.field(c).type == pa.float32() for c in data.schema.names)
        t = data.to_table(filter=flt)
        if "quantity" in t.column_names:
            v = t.to_pandas()
            parts.append(v.astype({"quantity": np.float64}))
            continue
        names = [c for c in t.column_names if c != "node"]  # dense: one column per tag
        if not names or t.num_rows == 0:
            continue
        q = np.column_stack([t.column(c).to_numpy() for c in names])
        ii, jj = np.nonzero(q)
        parts.append(
            pd.DataFrame(
                {
                    "node": t.column("node").to_numpy()[ii],
                    "tag": np.asarray([int(c) for c in names])[jj],
                    "quantity": q[ii, jj].astype(np.float64),
                }
            )
        )
    v = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame({"node": [], "tag": [], "quantity": []})
    )
    tags = pd.read_parquet(d / "tags.parquet")
    prod = pd.read_parquet(d / "nodes.parquet")["product"].to_numpy()
    df = v.merge(tags, on="tag", how="left").drop(columns="tag")
    sk = ["node", *[c for c in ("raw", "stage", "price") if c in df.columns]]
    df["share"] = df["quantity"] / df.groupby(sk)["quantity"].transform("sum")
    df.insert(1, "product", prod[df["node"].to_numpy()])
    df = df[["node", "product", *[c for c in tags.columns if c != "tag"], "quantity", "share"]]
    df.attrs["precision"] = "float32" if f32 else "float64"
    df.attrs["rounding"] = FLOAT32_ROUNDING if f32 else 0.0
    return df


def write_products(
    network: Network,
    out: str | Path,
    stages: Sequence[str] = PRODUCT_STAGES,
    by: Sequence[str] = ("raw", "stage", "country"),
    weight: Weight = "mass",
    period: str | None = None,
    controller: Controller | None = None,
    stats: dict[str, float] | None = None,
    workers: int | None = None,
    write: bool = True,
    precision: Literal["float64", "float32"] = "float64",
) -> Path:
    """Trace every product (every cell, pack and device plant) and write the traces to ``out``.

    The forward solve of :func:`solve_all` over everything upstream of the products, up to
    the last product's level, keeping the products' rows only, in the dense layout (each
    (raw, stage) block one column per tag: a product's rows of a block are mostly nonzero),
    with ``nodes.parquet`` naming each node by its product id (:func:`product_ids`, the ids
    :func:`~onshore.trace.graph.products` lists). :func:`read_all` reads it; each product's
    rows equal :func:`~onshore.trace.origin.trace` (to 1e-10, the cyclic solves' residual).

    Parameters
    ----------
    network : Network
    out : str or Path
        The directory to write (created if needed).
    stages : sequence of str
        The stages whose nodes are kept (default :data:`PRODUCT_STAGES`).
    by, weight, period, controller, stats, workers, write
        As :func:`solve_all`.
    precision : {"float64", "float32"}
        As :func:`solve_all`: ``float32`` stores each value rounded to at most 2^-24
        (5.96e-8) relative, in half the bytes; :func:`read_all` widens it exactly.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    TraceError
        When a cycle creates mass or does not converge.
    """
    res = solve_all(
        network, by=by, weight=weight, period=period, controller=controller, out=out,
        stats=stats, workers=workers, write=write, stages=stages, layout="dense",
        precision=precision,
    )
    assert isinstance(res, Path)
    g = graph(network, period)
    pd.DataFrame({"node": np.arange(g.n, dtype=np.int32), "product": product_ids(g)}).to_parquet(
        res / "nodes.parquet", index=False
    )
    return res


