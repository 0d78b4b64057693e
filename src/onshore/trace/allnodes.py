"""Trace every node at once (``solve_all``): one plan, (raw, stage) blocks of tag columns solved by
worker processes and streamed compactly to Parquet; :func:`read_all` reads them back tidy."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from onshore.network import Network
from onshore.trace import leontief as _solve
from onshore.trace.graph import UNKNOWN, Graph, graph
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


def kept(
    p: Plan,
    X: np.ndarray,
    base: int,
    skip: np.ndarray,
    min_quantity: float,
    min_share: float,
    total: np.ndarray | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """The values of one solved block that are kept, in chunks of about 2^22 cells.

    Parameters
    ----------
    p : Plan
    X : ndarray, shape (n, k)
        The block's solution in plan order, column ``c`` being tag ``base + c``.
    base : int
    skip : ndarray of bool, shape (n,)
        Rows (plan order) not written: the virtual nodes.
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
    for a in range(0, p.n, chunk):
        sub = X[a : a + chunk]
        tot = sub.sum(axis=1) if total is None else total[a : a + chunk]
        keep = (sub > np.maximum(min_quantity, min_share * tot)[:, None]) & ~skip[
            a : a + chunk, None
        ]
        ii, jj = np.nonzero(keep)
        if ii.size:
            yield p.perm[a + ii], base + jj, sub[ii, jj], tot[ii]


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
    X = _solve.solve_permuted(p, Bp, j["names"], j["tol"], st)
    t1 = time.perf_counter()
    skip = j["skip"]  # virtual nodes, in plan order
    tag_t = np.int16 if j["ntags"] < 2**15 else np.int32
    writer = (
        None
        if not j["write"]
        else pq.ParquetWriter(
            str(j["dir"] / f"block_{b:04d}.parquet"),
            j["schema"],
            compression=j["compression"],
            use_dictionary=["tag"],
        )
        if j["dir"] is not None
        else None
    )
    frames = []
    nrows = 0
    for node, tag, q, tot in kept(p, X, base, skip, j["min_quantity"], j["min_share"]):
        nrows += node.size
        if j["dir"] is not None and writer is None:
            continue  # write=False: compute and extract only (benchmarks)
        if writer is not None:
            t2 = time.perf_counter()
            writer.write_table(
                pa.table(
                    {"node": node.astype(np.int32), "tag": tag.astype(tag_t), "quantity": q},
                    schema=j["schema"],
                )
            )
            st["write"] = st.get("write", 0.0) + time.perf_counter() - t2
        else:
            frames.append(pd.DataFrame({"node": node, "tag": tag, "quantity": q, "share": q / tot}))
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
) -> pd.DataFrame | Path:
    """Trace every node at once, one (raw, stage) block of tag columns at a time.

    Each block solves ``X = A X + B`` with ``B[p, c] = b_p`` for the nodes ``p`` of that raw
    material and stage whose place (country, ...) is ``c``, with one plan for all blocks.
    Kept: values ``> min_quantity`` and ``> min_share`` x the node's total over its block
    (the default 1e-15 drops only rounding noise, far below the solver's 1e-10 residual).
    Virtual (``unknown``) nodes are not written.

    With ``out`` (a directory) blocks are solved by ``workers`` processes (default: the
    CPU count) and written compactly: ``tags.parquet`` (``tag`` -> the tag fields),
    ``nodes.parquet`` (``node`` -> ``product``) and ``values/block_NNNN.parquet`` with
    ``node`` (int32), ``tag`` (int16) and ``quantity`` (float64); :func:`read_all` joins
    them into the tidy table. ``share`` is not stored: it is ``quantity`` over the sum of
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
        skip=g.nodes["virtual"].to_numpy()[fp.perm],
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
        ``share`` = quantity / the node's total over the same (raw, stage[, price]).
    """
    import pyarrow.dataset as ds

    d = Path(out)
    flt = ds.field("node").isin(list(nodes)) if nodes is not None else None
    v = ds.dataset(str(d / "values"), format="parquet").to_table(filter=flt).to_pandas()
    tags = pd.read_parquet(d / "tags.parquet")
    prod = pd.read_parquet(d / "nodes.parquet")["product"].to_numpy()
    df = v.merge(tags, on="tag", how="left").drop(columns="tag")
    sk = ["node", *[c for c in ("raw", "stage", "price") if c in df.columns]]
    df["share"] = df["quantity"] / df.groupby(sk)["quantity"].transform("sum")
    df.insert(1, "product", prod[df["node"].to_numpy()])
    return df[["node", "product", *[c for c in tags.columns if c != "tag"], "quantity", "share"]]
