"""Trace every node at once (``solve_all``): one plan, (raw, stage) blocks of tag columns solved by
worker processes and streamed compactly to Parquet; :func:`read_all` reads them back tidy."""

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


def kept(
    p: Plan,
    X: np.ndarray,
    base: int,
    rows: np.ndarray,
    min_quantity: float,
    min_share: float,
    total: np.ndarray | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """The values of one solved block that are kept, as :func:`solve_all` keeps them in its
    ``triplets`` layout (the Spark engine's tasks), in chunks of about 2^22 cells.

    Parameters
    ----------
    p : Plan
    X : ndarray, shape (n, k)
        The block's solution in plan order, column ``c`` being tag ``base + c``.
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
    k = X.shape[1]
    chunk = max(1, 2**22 // max(k, 1))
    for a in range(0, len(rows), chunk):
        at = rows[a : a + chunk]
        lo, hi = int(at[0]), int(at[-1]) + 1
        sub = X[lo:hi] if hi - lo == len(at) else X[at]
        tot = sub.sum(axis=1) if total is None else total[at]
        ii, jj = np.nonzero(sub > np.maximum(min_quantity, min_share * tot)[:, None])
        if ii.size:
            yield p.perm[at[ii]], base + jj, sub[ii, jj], tot[ii]


_JOB: dict[str, Any] = {}
"""The work of :func:`solve_all`, set before worker processes fork (they inherit it)."""


def _run_block(b: int) -> tuple[int, dict[str, float], pd.DataFrame | None]:
    """Solve block ``b`` of ``_JOB``; write it to Parquet or return it as a frame."""
    import time

    import pyarrow as pa
    import pyarrow.parquet as pq

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
    tag_t = np.int16 if j["ntags"] < 2**15 else np.int32
    dense = j["layout"] == "dense" and j["dir"] is not None
    schema = (
        pa.schema([("node", pa.int32())] + [(str(base + c), pa.float64()) for c in range(k)])
        if dense
        else j["schema"]
    )
    writer = (
        pq.ParquetWriter(
            str(j["dir"] / f"block_{b:04d}.parquet"),
            schema,
            compression=j["compression"],
            use_dictionary=False if dense else ["tag"],
        )
        if j["dir"] is not None and j["write"]
        else None
    )
    frames = []
    nrows = 0
    chunk = max(1, 2**22 // max(k, 1))
    for a in range(0, len(keep_rows), chunk):
        at = keep_rows[a : a + chunk]
        lo, hi = int(at[0]), int(at[-1]) + 1
        sub = X[lo:hi] if hi - lo == len(at) else X[at]  # a slice where no row is left out
        tot = sub.sum(axis=1)
        cut = np.maximum(j["min_quantity"], j["min_share"] * tot)[:, None]
        if dense:  # every column of the block for the rows with a value kept: no extraction
            np.putmask(sub, sub <= cut, 0.0)
            nz = int(np.count_nonzero(sub))
            if nz == 0:
                continue
            nrows += nz
            if writer is None:
                continue
            t2 = time.perf_counter()
            has = np.flatnonzero(sub.any(axis=1))
            cols = (sub if has.size == len(sub) else sub[has]).T.copy()  # one column per tag
            arrays = [pa.array(p.perm[at[has]].astype(np.int32))]
            arrays += [pa.array(cols[c]) for c in range(k)]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            st["write"] = st.get("write", 0.0) + time.perf_counter() - t2
            continue
        ii, jj = np.nonzero(sub > cut)
        if ii.size == 0:
            continue
        nrows += ii.size
        node = p.perm[at[ii]]
        q = sub[ii, jj]
        if j["dir"] is not None and writer is None:
            continue  # write=False: compute and extract only (benchmarks)
        if writer is not None:
            t2 = time.perf_counter()
            writer.write_table(
                pa.table(
                    {
                        "node": node.astype(np.int32),
                        "tag": (base + jj).astype(tag_t),
                        "quantity": q,
                    },
                    schema=schema,
                )
            )
            st["write"] = st.get("write", 0.0) + time.perf_counter() - t2
        else:
            frames.append(
                pd.DataFrame({"node": node, "tag": base + jj, "quantity": q, "share": q / tot[ii]})
            )
    if writer is not None:
        t2 = time.perf_counter()
        writer.close()
        st["write"] = st.get("write", 0.0) + time.perf_counter() - t2
    st["solve"] = t1 - t0
    st["extract"] = time.perf_counter() - t1 - st.get("write", 0.0)
    st["rows"] = nrows
    return b, st, (pd.concat(frames, ignore_index=True) if frames else None)


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
    layout: Literal["triplets", "dense"] = "triplets",
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
    CPU count) and written compactly: ``tags.parquet`` (``tag`` -> the tag fields),
    ``nodes.parquet`` (``node`` -> ``product``) and ``values/block_NNNN.parquet`` with
    ``node`` (int32), ``tag`` (int16) and ``quantity`` (float64), or with
    ``layout="dense"`` one column per tag of the block (named by its ``tag`` number,
    float64, exact; 0 where nothing is kept) beside ``node``, for the nodes with a value
    in the block: no nonzero extraction, and fewer bytes where most (node, tag) cells of a
    block hold a value, as a product's do; :func:`read_all` joins either into the tidy
    table. ``share`` is not stored: it is ``quantity`` over the sum of
    the node's (raw, stage). Without ``out`` a tidy DataFrame is returned (small
    networks). ``stats``, when given, receives the seconds of solving, extracting and
    writing (summed over workers), the wall time, the rows and the cyclic sweeps;
    ``write=False`` (with ``out``) solves and extracts without writing, to time the compute.

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
        Filled with ``solve``, ``extract``, ``write``, ``wall`` (seconds), ``rows``,
        ``sweeps`` and ``workers``.
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
    layout : {"triplets", "dense"}
        How the value files are written with ``out`` (see above).

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
    """
    import multiprocessing as mp
    import os
    import time

    import pyarrow as pa

    wall = time.perf_counter()
    by = tuple(by)
    g, fp, blocks, tag_df = prepare(network, by, weight, period, controller)
    d = Path(out) if out is not None else None
    if d is not None:
        (d / "values").mkdir(parents=True, exist_ok=True)
        write_index(d, g, tag_df)
    tags = tag_df["tag"].tolist()
    tag_t = pa.int16() if len(tags) < 2**15 else pa.int32()
    _JOB.clear()
    _JOB.update(
        plan=fp,
        blocks=blocks,
        names=g_names(g),
        tol=tol,
        rows=kept_rows(g, fp, stages),
        layout=layout,
        ntags=len(tags),
        dir=(d / "values") if d is not None else None,
        min_quantity=min_quantity,
        min_share=min_share,
        compression=compression,
        write=write,
        schema=pa.schema([("node", pa.int32()), ("tag", tag_t), ("quantity", pa.float64())]),
    )
    nw = workers if workers is not None else (os.cpu_count() or 1)
    nw = max(1, min(nw, len(blocks))) if d is not None else 1
    order = sorted(range(len(blocks)), key=lambda b: -len(blocks[b][0]))  # big blocks first
    try:
        if nw > 1 and "fork" in mp.get_all_start_methods():
            with mp.get_context("fork").Pool(nw, initializer=_solve.single_threaded) as pool:
                results = list(pool.imap_unordered(_run_block, order))
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
        block file, then as written (either layout).
    """
    import pyarrow.dataset as ds

    d = Path(out)
    flt = ds.field("node").isin(list(nodes)) if nodes is not None else None
    parts = []
    for f in sorted((d / "values").glob("*.parquet")):
        t = ds.dataset(str(f), format="parquet").to_table(filter=flt)
        if "quantity" in t.column_names:
            parts.append(t.to_pandas())
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
                    "quantity": q[ii, jj],
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
    return df[["node", "product", *[c for c in tags.columns if c != "tag"], "quantity", "share"]]


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
    )
    assert isinstance(res, Path)
    g = graph(network, period)
    pd.DataFrame({"node": np.arange(g.n, dtype=np.int32), "product": product_ids(g)}).to_parquet(
        res / "nodes.parquet", index=False
    )
    return res


