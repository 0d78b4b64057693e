"""The Spark engine: trace of every node, effective ownership and concentration as DataFrame jobs.

Install with ``pip install 'onshore[spark]'`` (PySpark; a Java 17 runtime must be on the
machine). The results have the columns and meaning of the local engine's.

**Trace** (``X = A X + B``, every node, tags by raw, stage and place). The graph, its strong
components and the levels of their condensation are computed on the driver
(:func:`onshore.trace.forward_plan`); that plan and the right-hand sides are broadcast, and
the columns are distributed: one task per (raw, stage) block of tag columns (a block of
more than :data:`CELLS` nodes x columns split into tasks of fewer columns, each also solving
the block's total for the share cut), solved by the local engine's own solver
(:func:`onshore.trace.leontief.solve_permuted`: sweep in level order, cycles by their LU or
Gauss-Seidel with Anderson acceleration) and its values kept as locally
(:func:`onshore.trace.allnodes.kept`). One Spark job, no shuffle: with ``out`` a local
directory each task writes its Parquet file (``values/task_NNNNN.parquet``; the directory
must be one the driver and the executors see at the same path) and reports its rows; with
``out`` a URI the values go to Spark's DataFrame writer; without it they come back through
Arrow. Propagating (node, tag) rows by DataFrame joins, one level
after another, made one Spark row per multiply-add of the solve (~1.4 B at 1 M flows) and did
not finish at 1 M flows in 30 min; the columns are independent, so the work splits by them.

**Ownership**: ``E = S + S^2 + ...`` (``(I - S)^-1 - I``) by path doubling
(:mod:`onshore.engines.spark_owners`: ``T + P T`` and ``P P`` from one join a round, so a
chain of ``L`` holdings takes ``log2 L`` rounds), until ``S^k`` is empty (no cycle) or its
largest entry is at most ``tol`` (cross-holding cycles, whose gain is < 1); the diagonal is
dropped as locally.

**Screening**: the supplier rows are a DataFrame; their blocking keys (the normalised
name's letters, native script and tokens, and the index tokens spelled like each token) come
from :func:`onshore.compliance.names.normalize` and :meth:`Matcher.near` applied over
partitions (``mapInPandas``), and are joined with the index's postings to give each row its
block; each block is then scored by :meth:`Matcher.candidates` (the local scorer, one
implementation) over partitions. The index (the store's companies and the restricted lists)
is built on the driver and broadcast; the rows come back to the driver to be put together
as :func:`onshore.compliance.screen.screen` does (reviews, lists, reasons).

**Concentration** (:mod:`onshore.engines.spark_risk`): the rows of
:mod:`onshore.risk.concentration` (capacity and flows per material, stage, country and
controlling country) are built in Spark from the tables (partitioned Parquet, or the
network's frames through Arrow) and summed per market and country; those sums come back to
the driver, where the local :func:`~onshore.risk.concentration.concentration` makes the HHI
and the leaders.

**Output**: ``out`` is a local path or any URI the session writes (``file://``, ``s3a://``,
``gs://``, ``abfss://``, ``hdfs://``); tables are written by Spark's DataFrame writer
(:mod:`onshore.engines.output`).

Sessions: :func:`session` returns the active SparkSession (e.g. under ``spark-submit``) or
starts one from ``ONSHORE_SPARK_MASTER`` (default ``local[*]``) and
``ONSHORE_SPARK_PARTITIONS`` (shuffle partitions, default 8).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import pickle
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import pandas as pd

from onshore.engines.base import Engine
from onshore.errors import EngineUnavailable, InputError, TraceError
from onshore.network import Network

if TYPE_CHECKING:
    from onshore.compliance.names import Candidate, Matcher

INSTALL = "pip install 'onshore[spark]'"
"""The exact line that installs the Spark engine."""
CELLS = 2**25
"""Nodes x tag columns of the dense solution one trace task holds at most (256 MiB): a
(raw, stage) block with more is split into tasks of fewer columns."""


class Labels:
    """Node ids -> ``facility:material`` names for the solver's errors (picklable, unlike a
    closure over the graph)."""

    def __init__(self, labels: Sequence[str]) -> None:
        self.labels = np.asarray(labels, dtype=object)

    def __call__(self, idx: Any) -> list[str]:
        return [str(x) for x in self.labels[np.asarray(idx, dtype=np.int64)]]


def tasks(blocks: Sequence[Any], n: int, cells: int = CELLS) -> list[tuple[int, int, int]]:
    """The trace's tasks: ``(block, first column, end column)``, largest first.

    A block of ``k`` tag columns is one task when ``n x k <= cells``, else split into tasks
    of at most ``max(1, cells // n - 1)`` columns (each solves one more: the block's total).
    The order (most columns first, then most right-hand-side entries: a task's work is about
    its columns times the nonzeros of ``A``) lets the longest tasks start first.

    Parameters
    ----------
    blocks : sequence of (rows, cols, values, base)
        :func:`onshore.trace.allnodes.prepare`'s blocks.
    n : int
        Nodes.
    cells : int

    Returns
    -------
    list of (int, int, int)
    """
    out: list[tuple[int, int, int, int, int]] = []
    for i, (rows, col, _, _) in enumerate(blocks):
        k = int(col.max(initial=-1)) + 1
        if k == 0:
            continue
        step = k if n * k <= cells else max(1, cells // max(n, 1) - 1)
        counts = np.bincount(col, minlength=k)
        for lo in range(0, k, step):
            hi = min(k, lo + step)
            out.append((i, lo, hi, hi - lo + (step < k), int(counts[lo:hi].sum())))
    out.sort(key=lambda t: (-t[3], -t[4]))
    return [(b, lo, hi) for b, lo, hi, _, _ in out]


def _uri(path: Path) -> str:
    """A local directory as a URI for :meth:`pyarrow.fs.FileSystem.from_uri` (created)."""
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve().as_uri()


def _clear(values: Path) -> None:
    """Remove the value files of an earlier run from an output directory."""
    if values.is_dir():
        for f in values.iterdir():
            if f.is_file():
                f.unlink()


def solve_task(job: Mapping[str, Any], t: int, stats: dict[str, float]) -> Any:
    """Solve task ``t`` of a trace job (on an executor).

    With ``job["dir"]`` the kept values (``node`` int32, ``tag``, ``quantity``) are written
    to ``task_NNNNN.parquet`` there, as :func:`onshore.trace.solve_all` writes its blocks
    (a task run again writes the same file again), and nothing is yielded; else the frames
    of kept values are yielded, with ``share``. ``stats["sweeps"]`` is increased by the
    Gauss-Seidel sweeps made and ``stats["rows"]`` by the values kept."""
    import pyarrow as pa
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq
    import scipy.sparse as sp

    from onshore.trace.allnodes import kept
    from onshore.trace.leontief import solve_permuted

    p = job["plan"]
    b, lo, hi = job["tasks"][t]
    rows, col, val, base = job["blocks"][b]
    whole = lo == 0 and hi == job["width"][b]
    sel = (col >= lo) & (col < hi)
    r, c, v = p.pos[rows[sel]], col[sel] - lo, val[sel]
    k = hi - lo
    if not whole:  # one more column: the block's right-hand side summed, for the total
        r, c, v = np.r_[r, p.pos[rows]], np.r_[c, np.full(len(rows), k)], np.r_[v, val]
    Bp = sp.csr_matrix((v, (r, c)), shape=(p.n, k + (not whole)))
    keep = job["rows"]
    if keep.size == 0:
        return
    X = solve_permuted(p, Bp, job["names"], job["tol"], stats, upto=int(keep[-1]))
    total = None if whole else X[:, k]
    schema = pa.schema(
        [
            ("node", pa.int32()),
            ("tag", pa.from_numpy_dtype(job["tag_dtype"])),
            ("quantity", pa.float64()),
        ]
    )
    writer = None
    if job["dir"] is not None:
        fs, root = pafs.FileSystem.from_uri(job["dir"])
        writer = pq.ParquetWriter(
            f"{root}/task_{t:05d}.parquet",
            schema,
            filesystem=fs,
            compression="none",
            use_dictionary=["tag"],
        )
    try:
        for node, tag, q, tot in kept(
            p, X[:, :k], base + lo, keep, job["min_quantity"], job["min_share"], total
        ):
            stats["rows"] = stats.get("rows", 0) + node.size
            f = {"node": node.astype(np.int32), "tag": tag.astype(job["tag_dtype"]), "quantity": q}
            if writer is not None:
                writer.write_table(pa.table(f, schema=schema))
            else:
                yield pd.DataFrame({**f, "share": q / tot})
    finally:
        if writer is not None:
            writer.close()


def available() -> str | None:
    """None when PySpark and Java are there, else what is missing and how to install it."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return f"the spark engine needs PySpark: {INSTALL}"
    import shutil

    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        return "the spark engine needs a Java runtime (17): apt-get install default-jre-headless"
    return None


def session(master: str | None = None, partitions: int | None = None) -> Any:
    """The active SparkSession, or a new one for this process.

    Parameters
    ----------
    master : str, optional
        Spark master (default ``$ONSHORE_SPARK_MASTER`` or ``local[*]``); ignored when a
        session is active (``spark-submit`` sets its own).
    partitions : int, optional
        ``spark.sql.shuffle.partitions`` (default ``$ONSHORE_SPARK_PARTITIONS`` or 8).

    Returns
    -------
    pyspark.sql.SparkSession

    Raises
    ------
    EngineUnavailable
        When PySpark or Java is missing.
    """
    why = available()
    if why:
        raise EngineUnavailable(why)
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    # Python workers (screening's mapInPandas) run this interpreter and find this package
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    here = str(Path(__file__).resolve().parents[2])
    parts = partitions or int(os.environ.get("ONSHORE_SPARK_PARTITIONS", "8"))
    b = (
        SparkSession.builder.appName("onshore")
        .master(master or os.environ.get("ONSHORE_SPARK_MASTER", "local[*]"))
        .config("spark.sql.shuffle.partitions", str(parts))
        .config("spark.default.parallelism", str(parts))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.driver.memory", os.environ.get("ONSHORE_SPARK_DRIVER_MEMORY", "2g"))
        .config("spark.executorEnv.PYTHONPATH", here)
    )
    spark = b.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _checkpoint(df: Any) -> Any:
    """Cut the lineage: a reliable checkpoint when a checkpoint directory is set (clusters),
    else a local one (executor storage; local mode)."""
    if df.sparkSession.sparkContext.getCheckpointDir():
        return df.checkpoint(eager=True)
    return df.localCheckpoint(eager=True)


@contextlib.contextmanager
def _jobs(spark: Any, stats: dict[str, float] | None) -> Iterator[None]:
    """Count the Spark jobs run inside into ``stats["jobs"]`` (a job group of their own)."""
    if stats is None:
        yield
        return
    sc = spark.sparkContext
    group = f"onshore-{time.monotonic_ns()}"
    sc.setJobGroup(group, "onshore")
    try:
        yield
    finally:
        stats["jobs"] = len(sc.statusTracker().getJobIdsForGroup(group))
        sc.setLocalProperty("spark.jobGroup.id", None)
        sc.setLocalProperty("spark.job.description", None)


def write_uri(spark: Any, uri: str, values: Any, g: Any, tag_df: pd.DataFrame) -> None:
    """A trace's output directory at a URI, by Spark's writer: ``values/`` (replaced; none
    written when ``values`` is None), ``tags.parquet`` and ``nodes.parquet`` (Parquet
    directories of one part), as :func:`onshore.trace.read_all` reads them."""
    from onshore.engines.output import write_frame

    if values is not None:
        write_frame(values, f"{uri}/values")
    nodes = pd.DataFrame({"node": np.arange(g.n, dtype=np.int32), "product": g.labels()})
    for name, df in (("tags", tag_df), ("nodes", nodes)):
        write_frame(spark.createDataFrame(df).coalesce(1), f"{uri}/{name}.parquet")


class SparkEngine(Engine):
    """PySpark DataFrames: trace of every node, effective ownership, concentration."""

    name: ClassVar[str] = "spark"
    extra: ClassVar[str | None] = "spark"

    def __init__(self, spark: Any = None) -> None:
        self._spark = spark

    @property
    def spark(self) -> Any:
        """The SparkSession (started on first use)."""
        if self._spark is None:
            self._spark = session()
        return self._spark

    # ------------------------------------------------------------------------------- trace
    def trace_all(
        self,
        network: Network,
        by: Sequence[str] = ("raw", "stage", "country"),
        weight: Literal["mass", "cost"] = "mass",
        period: str | None = None,
        out: str | Path | None = None,
        controller: Any = None,
        min_quantity: float = 0.0,
        min_share: float = 1e-15,
        tol: float | None = None,
        stats: dict[str, float] | None = None,
        cells: int = CELLS,
        **kw: Any,
    ) -> pd.DataFrame | Path | str:
        """Every node traced, as :func:`onshore.trace.solve_all` (same table, same files).

        The plan (strong components and levels of ``A``, from the driver) and the
        right-hand sides are broadcast; each task solves some tag columns of one (raw, stage)
        block by the local solver (:func:`onshore.trace.leontief.solve_permuted`) and emits
        the values kept, which Spark writes or collects. A block whose nodes x columns exceed
        ``cells`` is split into tasks of fewer columns, each solving one more column, the
        block's total, for the share cut.

        With ``out`` the directory holds ``tags.parquet``, ``nodes.parquet`` and ``values/``
        (``node`` int32, ``tag`` int16/int32, ``quantity``), which
        :func:`onshore.trace.read_all` reads: a local directory (the driver's and every
        executor's: each task writes its file, ``task_NNNNN.parquet``), or a URI
        (``file://``, ``s3a://``, ``gs://``, ``abfss://``, ``hdfs://``), written by Spark's
        DataFrame writer (``values/`` in Spark part files, the two index files as Parquet
        directories of one part) and returned as given. ``stats`` receives ``prepare`` (graph, plan
        and right-hand sides on the driver), ``broadcast``, ``solve`` (the Spark job: solves,
        extraction and writing), ``wall`` (seconds), ``levels``, ``tasks``, ``rows`` and
        ``sweeps`` (Gauss-Seidel sweeps of cyclic blocks, summed over tasks).
        """
        from onshore.trace.allnodes import kept_rows, prepare, write_index
        from onshore.trace.leontief import TOL as SOLVE_TOL

        wall = time.perf_counter()
        spark = self.spark
        sc = spark.sparkContext
        by = tuple(by)
        g, fp, blocks, tag_df = prepare(network, by, weight, period, controller)
        todo = tasks(blocks, g.n, cells)
        st: dict[str, float] = {"prepare": time.perf_counter() - wall, "levels": len(fp.levels)}
        st["tasks"] = len(todo)
        from onshore.engines.output import is_uri

        uri = str(out).rstrip("/") if out is not None and is_uri(out) else None
        d = Path(out) if out is not None and uri is None else None
        if d is not None:
            write_index(d, g, tag_df)
            _clear(d / "values")
        tag_t = "smallint" if len(tag_df) < 2**15 else "int"
        cols = "task int, rows long, sweeps long"
        if d is None:
            cols = f"node int, tag {tag_t}, quantity double, share double"
        counted = sc.accumulator(0)
        res = pd.DataFrame()
        done = pd.DataFrame({"rows": [0], "sweeps": [0]})
        sweeps = sc.accumulator(0)
        if todo:
            t0 = time.perf_counter()
            job = {
                "plan": fp,
                "blocks": blocks,
                "tasks": todo,
                "width": [int(b[1].max(initial=-1)) + 1 for b in blocks],
                "rows": kept_rows(g, fp),
                "names": Labels(g.labels()),
                "tol": SOLVE_TOL if tol is None else tol,
                "min_quantity": min_quantity,
                "min_share": min_share,
                "dir": None if d is None else _uri(d / "values"),
                "tag_dtype": np.int16 if tag_t == "smallint" else np.int32,
            }
            bc = sc.broadcast(job)
            st["broadcast"] = time.perf_counter() - t0

            def run(it: Any) -> Any:
                from onshore.trace import leontief

                leontief.single_threaded()  # Spark runs as many tasks as it has cores
                j = bc.value
                for pdf in it:
                    for t in pdf["task"].tolist():
                        st_: dict[str, float] = {}
                        yield from solve_task(j, int(t), st_)
                        if j["dir"] is None:  # the values are the output: sweeps aside
                            sweeps.add(int(st_.get("sweeps", 0)))
                            counted.add(int(st_.get("rows", 0)))
                        else:  # one row per task: what it wrote
                            yield pd.DataFrame(
                                {
                                    "task": [int(t)],
                                    "rows": [int(st_.get("rows", 0))],
                                    "sweeps": [int(st_.get("sweeps", 0))],
                                }
                            )

            t0 = time.perf_counter()
            ids = spark.range(0, len(todo), numPartitions=len(todo))  # one task a partition
            out_df = ids.select(ids.id.cast("int").alias("task")).mapInPandas(run, cols)
            try:
                if d is not None:
                    done = out_df.toPandas()
                    if len(done) != len(todo):
                        raise TraceError(f"{len(done)} of {len(todo)} trace tasks reported")
                elif uri is not None:
                    write_uri(spark, uri, out_df.select("node", "tag", "quantity"), g, tag_df)
                    done = pd.DataFrame({"rows": [counted.value], "sweeps": [0]})
                else:
                    res = out_df.toPandas()
                    done = pd.DataFrame({"rows": [len(res)], "sweeps": [0]})
            finally:
                bc.unpersist()
            st["solve"] = time.perf_counter() - t0
        st.update(rows=int(done["rows"].sum()), wall=time.perf_counter() - wall)
        st["sweeps"] = int(done["sweeps"].sum()) if d is not None else sweeps.value
        if stats is not None:
            stats.update(st)
        if d is not None:
            return d
        if uri is not None:
            if not todo:
                write_uri(spark, uri, None, g, tag_df)
            return str(out)
        if res.empty:
            return pd.DataFrame()
        res = res.astype({"node": np.int64, "tag": np.int64})
        res = res.sort_values(["tag", "node"], kind="stable").reset_index(drop=True)
        df = res.merge(tag_df, on="tag", how="left").drop(columns="tag")
        df.insert(1, "product", np.array(g.labels(), dtype=object)[df["node"].to_numpy()])
        cols_ = ["node", "product", *[c for c in tag_df.columns if c != "tag"], "quantity", "share"]
        return df[cols_]

    # ------------------------------------------------------------------------------ owners
    def effective_ownership(
        self,
        network: Network,
        kind: str = "equity",
        out: str | Path | None = None,
        tol: float | None = None,
        stats: dict[str, float] | None = None,
    ) -> pd.DataFrame:
        """``owner, owned, share`` as :func:`onshore.owners.effective_ownership`, summed by path
        doubling (:mod:`onshore.engines.spark_owners`); also written to ``out`` (a Parquet
        directory: a local path or a URI Spark writes) when given. ``stats`` receives
        ``rounds``, ``steps``, ``frontier`` and ``jobs`` (Spark jobs run)."""
        from onshore.engines import spark_owners
        from onshore.owners.control import owners

        o = owners(network)
        S = spark_owners.direct_holdings(o.direct, kind)
        with _jobs(self.spark, stats):
            return spark_owners.effective(
                self.spark,
                o.ids,
                S,
                spark_owners.TOL if tol is None else tol,
                out=None if out is None else str(out),
                stats=stats,
            )

    # ------------------------------------------------------------------------------ screen
    def screen(
        self,
        network: Network,
        rows: Sequence[Mapping[str, Any]] | pd.DataFrame,
        lists: Mapping[str, Any] | None = None,
        rules: Any = None,
        on: dt.date | None = None,
    ) -> list[dict[str, Any]]:
        """The rows of :func:`onshore.compliance.screen.screen`, each distinct (name, country,
        id) blocked and scored as Spark jobs (:meth:`candidates`)."""
        from onshore.compliance.screen import build_index, row_key
        from onshore.compliance.screen import screen as assemble

        recs = rows.to_dict("records") if isinstance(rows, pd.DataFrame) else list(rows)
        idx = build_index(network, lists)
        keys = list(dict.fromkeys(row_key(r) for r in recs))
        scored = dict(zip(keys, self.candidates(idx, keys), strict=True))
        return assemble(network, recs, lists=lists, rules=rules, on=on, scored=scored)

    def blocks(self, matcher: Matcher, names: Sequence[str]) -> list[set[int]]:
        """The block of each name (positions in ``matcher.names``) as the Spark join finds
        it; :meth:`Matcher.block` finds the same set locally.

        Parameters
        ----------
        matcher : Matcher
        names : sequence of str

        Returns
        -------
        list of set of int
        """
        queries = [(n, None, "") for n in names]
        q, bm = self._queries(matcher, queries)
        got = {
            int(r["qid"]): {int(j) for j in r["js"]}
            for r in self._block_frame(matcher, q, bm).collect()
        }
        return [got.get(i, set()) for i in range(len(names))]

    def candidates(
        self, matcher: Matcher, queries: Sequence[tuple[str, str | None, str]]
    ) -> list[list[Candidate]]:
        """The candidates of each (name, country, id), as ``matcher.candidates(name, country,
        [id])`` gives them, blocked by joins and scored over partitions.

        Parameters
        ----------
        matcher : Matcher
            The index (broadcast to the executors).
        queries : sequence of (str, str or None, str)
            :func:`onshore.compliance.screen.row_key` of the rows.

        Returns
        -------
        list of list of Candidate
            In the order of ``queries``.
        """
        from pyspark.sql import functions as F

        if not queries:
            return []
        q, bm = self._queries(matcher, queries)
        scored = q.join(self._block_frame(matcher, q, bm), "qid", "left")

        def score(it: Any) -> Any:
            m = bm.value
            for pdf in it:
                out = []
                for name, country, rid, js in zip(
                    pdf["name"], pdf["country"], pdf["rid"], pdf["js"], strict=True
                ):
                    block = [] if js is None else [int(j) for j in js]
                    c = m.candidates(name, country or None, [rid] if rid else [], block=block)
                    out.append(pickle.dumps(c))
                yield pd.DataFrame({"qid": pdf["qid"], "cands": out})

        res = (
            scored.select("qid", "name", "country", "rid", F.col("js"))
            .mapInPandas(score, "qid long, cands binary")
            .toPandas()
        )
        by_qid = dict(zip(res["qid"].astype(int), res["cands"], strict=True))
        return [pickle.loads(by_qid[i]) for i in range(len(queries))]

    def _queries(
        self, matcher: Matcher, queries: Sequence[tuple[str, str | None, str]]
    ) -> tuple[Any, Any]:
        """The queries as a DataFrame (qid, name, country, rid) and the broadcast index."""
        spark = self.spark
        q = pd.DataFrame(
            {
                "qid": np.arange(len(queries), dtype=np.int64),
                "name": [k[0] for k in queries],
                "country": [k[1] or "" for k in queries],
                "rid": [k[2] for k in queries],
            }
        )
        return spark.createDataFrame(q), spark.sparkContext.broadcast(matcher)

    def _block_frame(self, matcher: Matcher, q: Any, bm: Any) -> Any:
        """``qid, js``: the positions in ``matcher.names`` that share a key with each query
        (as :meth:`Matcher.block`), by joins of the queries' keys with the index's postings."""
        from pyspark.sql import functions as F

        spark = self.spark
        kind, key, pos = [], [], []
        for k, postings in matcher.postings().items():
            for word, js in postings.items():
                kind += [k] * len(js)
                key += [word] * len(js)
                pos += sorted(js)
        post = spark.createDataFrame(
            pd.DataFrame({"kind": kind, "key": key, "j": np.asarray(pos, dtype=np.int64)})
        )

        def keys(it: Any) -> Any:
            from onshore.compliance.names import Matcher, identifier, normalize

            for pdf in it:
                qid, kk, kv = [], [], []
                for i, name in zip(pdf["qid"], pdf["name"], strict=True):
                    if identifier(name):
                        continue  # an identifier is an exact key, never blocked as a name
                    ks = Matcher.keys(normalize(name))
                    qid += [int(i)] * len(ks)
                    kk += [a for a, _ in ks]
                    kv += [b for _, b in ks]
                yield pd.DataFrame({"qid": np.asarray(qid, dtype=np.int64), "kind": kk, "key": kv})

        def near(it: Any) -> Any:
            m = bm.value
            for pdf in it:
                src, dst = [], []
                for t in pdf["key"]:
                    for v, _ in m.near(t):
                        src.append(t)
                        dst.append(v)
                yield pd.DataFrame({"key": src, "near": dst})

        k = q.select("qid", "name").mapInPandas(keys, "qid long, kind string, key string")
        k = _checkpoint(k)
        toks = k.filter(F.col("kind") == "t")
        nr = toks.select("key").distinct().mapInPandas(near, "key string, near string")
        spelled = toks.join(nr, "key").select("qid", "kind", F.col("near").alias("key"))
        pairs = k.unionByName(spelled).join(post, ["kind", "key"]).select("qid", "j").distinct()
        return pairs.groupBy("qid").agg(F.collect_list("j").alias("js"))

    # ----------------------------------------------------------------------- concentration
    def concentration_table(
        self,
        network: Network | None,
        control: Mapping[str, str] | None = None,
        stage: str | None = None,
        period: str | None = None,
        out: str | Path | None = None,
        tables: str | Path | None = None,
    ) -> pd.DataFrame:
        """HHI per (material, stage) as :func:`onshore.risk.concentration_table`, its rows
        built and summed by Spark (:mod:`onshore.engines.spark_risk`) from ``tables`` (a folder
        or URI written by :func:`onshore.engines.tables.write_tables`) or, without it, from the
        network's tables through Arrow (``network`` may then be None); also written to
        ``out`` (a Parquet directory: a local path or a URI Spark writes) when given."""
        from onshore.engines import spark_risk
        from onshore.engines.tables import spark_tables

        spark = self.spark
        if tables is not None:
            t = spark_tables(spark, tables)
        elif network is not None:
            t = spark_risk.network_tables(spark, network)
        else:
            raise InputError("give a network or the tables' folder (tables=)")
        df = spark_risk.concentration_table(spark, t, control=control, stage=stage, period=period)
        if out is not None:
            self.write(df, out)
        return df

    def write(self, df: pd.DataFrame, out: str | Path) -> str:
        """Write a result table as a Parquet directory at ``out`` (a local path or any URI the
        session writes) by Spark's DataFrame writer."""
        from onshore.engines.output import write_frame

        spark = self.spark
        return write_frame(spark.createDataFrame(df) if len(df) else _no_rows(spark, df), out)


def _no_rows(spark: Any, df: pd.DataFrame) -> Any:
    """An empty Spark frame with the columns of ``df`` (as text)."""
    return spark.createDataFrame([], ", ".join(f"{c} string" for c in df.columns))
