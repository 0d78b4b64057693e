"""The Spark engine: trace of every node, effective ownership and concentration as DataFrame jobs.

Install with ``pip install 'onshore[spark]'`` (PySpark; a Java 17 runtime must be on the
machine). The results have the columns and meaning of the local engine's.

**Trace** (``X = A X + B`` over (node, tag) rows). The strong components of ``A`` and the
levels of their condensation are computed on the driver (:func:`onshore.trace.forward_plan`):
that needs only the node graph (one int per node and edge, 12 bytes an edge, ~12 GB at 1 B
edges; in practice far less, since flows between the same two nodes are one edge), it is
linear in its size, and it is what orders the distributed work; the right-hand sides and
the solution, which are nodes x tags and dominate the memory, stay on the executors. Then per
level: ``X_k = B_k + A_{k,<k} X_{<k}`` is one join of the level's edges with the rows
already solved and one aggregation by (node, tag); a level that holds cyclic components
iterates ``Y <- R_k + A_kk Y`` (Jacobi) and stops when the change times ``rho / (1 - rho)``
(``rho`` the plan's upper bound of the component's spectral radius, so a bound of the
remaining error) is at most ``tol`` of the largest right-hand side per tag. Every level's
result and every iterate is checkpointed, so lineage never grows beyond one step.

**Ownership**: ``E = S + S^2 + ...`` (``(I - S)^-1 - I``) by iterated joins of the walk
frontier with ``S``, until the frontier is empty (no cycle) or its largest entry is at most
``tol`` (cross-holding cycles, whose gain is < 1); the diagonal is dropped as locally.

**Screening**: the supplier rows are a DataFrame; their blocking keys (the normalised
name's letters, native script and tokens, and the index tokens spelled like each token) come
from :func:`onshore.compliance.names.normalize` and :meth:`Matcher.near` applied over
partitions (``mapInPandas``), and are joined with the index's postings to give each row its
block; each block is then scored by :meth:`Matcher.candidates` (the local scorer, one
implementation) over partitions. The index (the store's companies and the restricted lists)
is built on the driver and broadcast; the rows come back to the driver to be put together
as :func:`onshore.compliance.screen.screen` does (reviews, lists, reasons).

**Concentration**: the rows of :mod:`onshore.risk.concentration` (capacity and flows per
material, stage and country) are summed, shared and squared in Spark; the few rows per
market come back to the driver for the HHI's rounding and the leaders' wording.

Sessions: :func:`session` returns the active SparkSession (e.g. under ``spark-submit``) or
starts one from ``ONSHORE_SPARK_MASTER`` (default ``local[*]``) and
``ONSHORE_SPARK_PARTITIONS`` (shuffle partitions, default 8).
"""

from __future__ import annotations

import datetime as dt
import os
import pickle
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import pandas as pd

from onshore.engines.base import Engine
from onshore.errors import EngineUnavailable, TraceError
from onshore.network import Network

if TYPE_CHECKING:
    from onshore.compliance.names import Candidate, Matcher

INSTALL = "pip install 'onshore[spark]'"
"""The exact line that installs the Spark engine."""
TOL = 1e-13
"""Bound of the relative error at which cyclic solves and ownership walks stop."""
MAX_ITER = 5_000
EVERY = 4
"""Jacobi sweeps between convergence checks (a check is one more join and an action)."""
CHECKPOINT = 2
DRIVER_MAX = 200_000
"""Cyclic nodes of one level up to which the level's cycles are solved on the driver: the
right-hand sides of those nodes (nodes x tags of the level) are collected, solved as the local
engine solves them (:func:`onshore.trace.leontief.solve_cycle`: LU factors for small
components, Gauss-Seidel with Anderson acceleration otherwise) and sent back; beyond it
Jacobi sweeps run on the executors."""
"""Jacobi sweeps between checkpoints (the lineage of an iterate is at most this deep)."""


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
        tol: float = TOL,
        stats: dict[str, float] | None = None,
        driver_max: int | None = None,
        **kw: Any,
    ) -> pd.DataFrame | Path:
        """Every node traced, as :func:`onshore.trace.solve_all` (same table, same files).

        With ``out`` the directory holds ``tags.parquet``, ``nodes.parquet`` and ``values/``
        (Spark part files with ``node`` int32, ``tag`` int16/int32, ``quantity``), which
        :func:`onshore.trace.read_all` reads. ``stats`` receives ``wall``, ``levels``,
        ``sweeps`` (Jacobi iterations) and ``rows``. Cyclic components of at most
        ``driver_max`` nodes in a level (default :data:`DRIVER_MAX`) are solved on the driver
        (sparse LU, as the local engine), larger ones by Jacobi sweeps on the executors.
        """
        from pyspark.sql import functions as F
        from pyspark.sql import types as T

        from onshore.trace.allnodes import prepare, write_index

        wall = time.perf_counter()
        spark = self.spark
        driver_max = DRIVER_MAX if driver_max is None else driver_max
        by = tuple(by)
        g, fp, blocks, tag_df = prepare(network, by, weight, period, controller)
        n = g.n
        lev = np.zeros(n, dtype=np.int32)
        rho: dict[int, float] = {}
        cyc: dict[int, Any] = {}
        for k, L in enumerate(fp.levels):
            lev[fp.perm[L.lo : L.hi]] = k
            if L.cyc is not None:
                rho[k] = float(L.cyc.rho)
                cyc[k] = L.cyc
        A = g.A.tocoo()
        inside = fp.labels[A.row] == fp.labels[A.col]
        edges = pd.DataFrame(
            {
                "dst": A.row.astype(np.int64),
                "src": A.col.astype(np.int64),
                "a": A.data.astype(float),
                "lev": lev[A.row],
                "inside": inside,
            }
        )
        edges = edges[edges["a"] != 0]
        if blocks:
            rows = np.concatenate([b[0] for b in blocks]).astype(np.int64)
            tags = np.concatenate([b[3] + b[1] for b in blocks]).astype(np.int64)
            vals = np.concatenate([b[2] for b in blocks]).astype(float)
        else:
            rows = tags = np.zeros(0, dtype=np.int64)
            vals = np.zeros(0)
        rhs = pd.DataFrame({"node": rows, "tag": tags, "x": vals, "lev": lev[rows]})
        rhs = rhs[rhs["x"] != 0]
        blk = np.zeros(len(tag_df), dtype=np.int64)
        for i, b in enumerate(blocks):
            blk[b[3] : b[3] + int(b[1].max(initial=-1)) + 1] = i
        tag_blk = pd.DataFrame({"tag": tag_df["tag"].to_numpy(dtype=np.int64), "blk": blk})

        xs = T.StructType(
            [
                T.StructField("node", T.LongType()),
                T.StructField("tag", T.LongType()),
                T.StructField("x", T.DoubleType()),
            ]
        )
        E = _checkpoint(spark.createDataFrame(edges))
        Bdf = _checkpoint(spark.createDataFrame(rhs))
        used = sorted(set(rhs["lev"].tolist()) | set(edges["lev"].tolist()))
        solved: list[Any] = []
        sweeps = 0

        def union(parts: list[Any]) -> Any:
            if not parts:
                return spark.createDataFrame([], xs)
            df = parts[0]
            for p in parts[1:]:
                df = df.unionByName(p)
            return df

        def step(R: Any, M: Any, Y: Any) -> Any:
            c = M.join(Y, M.src == Y.node).select(
                M.dst.alias("node"), Y.tag, (M.a * Y.x).alias("x")
            )
            return R.unionByName(c).groupBy("node", "tag").agg(F.sum("x").alias("x"))

        for k in used:
            Bk = Bdf.filter(Bdf.lev == k).select("node", "tag", "x")
            parts = [Bk]
            if solved:
                ext = E.filter((E.lev == k) & ~E.inside)
                X = union(solved)
                parts.append(
                    ext.join(X, ext.src == X.node).select(
                        ext.dst.alias("node"), X.tag, (ext.a * X.x).alias("x")
                    )
                )
            R = _checkpoint(union(parts).groupBy("node", "tag").agg(F.sum("x").alias("x")))
            if k in rho and len(cyc[k].idx) <= driver_max:
                R = _checkpoint(self._solve_on_driver(R, cyc[k]))
            elif k in rho:
                M = _checkpoint(E.filter((E.lev == k) & E.inside).select("dst", "src", "a"))
                r = rho[k]
                factor = r / (1.0 - r) if r < 1.0 else float("inf")
                norm = _checkpoint(R.groupBy("tag").agg(F.max(F.abs("x")).alias("rn")))
                Y = R
                for it in range(1, MAX_ITER + 1):
                    Yn = step(R, M, Y)
                    sweeps += 1
                    if it % EVERY:
                        Y = _checkpoint(Yn) if it % CHECKPOINT == 0 else Yn
                        continue
                    Yn = _checkpoint(Yn)
                    d = (
                        Yn.alias("n")
                        .join(Y.alias("o"), ["node", "tag"], "full")
                        .select(
                            "tag",
                            F.abs(
                                F.coalesce("n.x", F.lit(0.0)) - F.coalesce("o.x", F.lit(0.0))
                            ).alias("d"),
                        )
                        .groupBy("tag")
                        .agg(F.max("d").alias("d"))
                        .join(norm, "tag")
                        .select(F.max(F.col("d") / F.col("rn")).alias("e"))
                        .collect()[0]["e"]
                    )
                    Y = Yn
                    if d is None or d * max(factor, 1.0) <= tol:
                        break
                else:
                    raise TraceError(
                        f"a cyclic component at level {k} did not converge in {MAX_ITER} "
                        f"iterations (spectral radius bound {r:.3g})"
                    )
                R = Y
            solved.append(R)

        X = union(solved)
        virt = np.flatnonzero(g.nodes["virtual"].to_numpy())
        if len(virt):
            V = spark.createDataFrame(pd.DataFrame({"node": virt.astype(np.int64)}))
            X = X.join(F.broadcast(V), "node", "left_anti")
        from pyspark.sql.window import Window

        TB = F.broadcast(spark.createDataFrame(tag_blk)) if len(tag_blk) else None
        if TB is None:
            res = pd.DataFrame()
            if stats is not None:
                stats.update(wall=time.perf_counter() - wall, levels=len(used), sweeps=sweeps)
            if out is not None:
                d_ = Path(out)
                (d_ / "values").mkdir(parents=True, exist_ok=True)
                write_index(d_, g, tag_df)
                return d_
            return res
        w = Window.partitionBy("node", "blk")
        X = X.join(TB, "tag").withColumn("tot", F.sum("x").over(w))
        X = X.filter(
            (F.col("x") > F.lit(min_quantity)) & (F.col("x") > F.lit(min_share) * F.col("tot"))
        )
        tag_t = T.ShortType() if len(tag_df) < 2**15 else T.IntegerType()
        if out is not None:
            d_ = Path(out)
            write_index(d_, g, tag_df)
            X.select(
                F.col("node").cast(T.IntegerType()).alias("node"),
                F.col("tag").cast(tag_t).alias("tag"),
                F.col("x").alias("quantity"),
            ).write.mode("overwrite").parquet(str(d_ / "values"))
            if stats is not None:
                stats.update(wall=time.perf_counter() - wall, levels=len(used), sweeps=sweeps)
            return d_
        pdf = X.select(
            "node", "tag", F.col("x").alias("quantity"), (F.col("x") / F.col("tot")).alias("share")
        ).toPandas()
        if stats is not None:
            stats.update(
                wall=time.perf_counter() - wall, levels=len(used), sweeps=sweeps, rows=len(pdf)
            )
        if pdf.empty:
            return pd.DataFrame()
        pdf = pdf.sort_values(["tag", "node"], kind="stable").reset_index(drop=True)
        df = pdf.merge(tag_df, on="tag", how="left").drop(columns="tag")
        df.insert(1, "product", np.array(g.labels(), dtype=object)[df["node"].to_numpy()])
        cols = ["node", "product", *[c for c in tag_df.columns if c != "tag"], "quantity", "share"]
        return df[cols]

    def _solve_on_driver(self, R: Any, c: Any) -> Any:
        """``Y = (I - M)^-1 R`` on the rows of a level's cyclic nodes, the others as they are."""
        from pyspark.sql import functions as F

        from onshore.trace.leontief import solve_cycle

        spark = self.spark
        idx = np.asarray(c.idx, dtype=np.int64)
        ids = F.broadcast(spark.createDataFrame(pd.DataFrame({"node": idx})))
        rest = R.join(ids, "node", "left_anti")
        Rc = R.join(ids, "node").toPandas()
        if Rc.empty:
            return R
        local = pd.Series(np.arange(len(idx)), index=idx)
        tags, col = np.unique(Rc["tag"].to_numpy(), return_inverse=True)
        B = np.zeros((len(idx), len(tags)))
        np.add.at(B, (local[Rc["node"].to_numpy()].to_numpy(), col), Rc["x"].to_numpy())
        # the local engine's own cycle solve: its factors when the plan made them (small
        # components), else Gauss-Seidel with Anderson acceleration (a sparse LU of a large
        # strongly connected component fills in far beyond the memory and time of a sweep)
        Y = solve_cycle(c, B, None)
        ii, jj = np.nonzero(Y)
        back = pd.DataFrame({"node": idx[ii], "tag": tags[jj].astype(np.int64), "x": Y[ii, jj]})
        return rest.unionByName(spark.createDataFrame(back))

    # ------------------------------------------------------------------------------ owners
    def effective_ownership(
        self,
        network: Network,
        kind: str = "equity",
        out: str | Path | None = None,
        tol: float = TOL,
    ) -> pd.DataFrame:
        """``owner, owned, share`` as :func:`onshore.owners.effective_ownership` (also written
        to ``out``, a Parquet directory, when given)."""
        from pyspark.sql import functions as F

        from onshore.owners.control import owners

        spark = self.spark
        o = owners(network)
        d = o.direct
        w = d["eq"] if kind == "equity" else d["vote"]
        S_pd = (
            pd.DataFrame({"i": d["i"].astype(np.int64), "j": d["j"].astype(np.int64), "w": w})
            .groupby(["i", "j"], as_index=False)["w"]
            .sum()
        )
        S_pd = S_pd[S_pd["w"] != 0]
        cols = ["owner", "owned", "share"]
        if S_pd.empty:
            return pd.DataFrame(columns=cols)
        S = _checkpoint(spark.createDataFrame(S_pd))
        P = S
        parts = [S]
        for _ in range(MAX_ITER):
            P = _checkpoint(
                P.alias("p")
                .join(S.alias("s"), F.col("p.j") == F.col("s.i"))
                .select(
                    F.col("p.i").alias("i"),
                    F.col("s.j").alias("j"),
                    (F.col("p.w") * F.col("s.w")).alias("w"),
                )
                .groupBy("i", "j")
                .agg(F.sum("w").alias("w"))
            )
            top = P.agg(F.max("w").alias("m")).collect()[0]["m"]
            if top is None:
                break
            parts.append(P)
            if top <= tol:
                break
            if len(parts) % 20 == 0:  # bound the union's width as well as its depth
                acc = parts[0]
                for p in parts[1:]:
                    acc = acc.unionByName(p)
                parts = [_checkpoint(acc.groupBy("i", "j").agg(F.sum("w").alias("w")))]
        else:
            from onshore.errors import DataError

            raise DataError(
                f"cross-holdings did not converge in {MAX_ITER} steps (a cycle's gain >= 1)"
            )
        acc = parts[0]
        for p in parts[1:]:
            acc = acc.unionByName(p)
        Eff = acc.groupBy("i", "j").agg(F.sum("w").alias("share"))
        Eff = Eff.filter((F.col("i") != F.col("j")) & (F.col("share") != 0))
        ids = spark.createDataFrame(
            pd.DataFrame({"k": np.arange(len(o.ids), dtype=np.int64), "id": o.ids.astype(str)})
        )
        res = (
            Eff.join(F.broadcast(ids.withColumnRenamed("k", "i")), "i")
            .withColumnRenamed("id", "owner")
            .join(F.broadcast(ids.withColumnRenamed("k", "j")), "j")
            .withColumnRenamed("id", "owned")
            .select("owner", "owned", "share")
        )
        if out is not None:
            res.write.mode("overwrite").parquet(str(out))
        pdf = res.toPandas()
        return pdf.sort_values(["owner", "owned"]).reset_index(drop=True)[cols]

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
    def concentration(
        self, df: pd.DataFrame, group: list[str], by: str, value: str = "quantity", top: int = 3
    ) -> pd.DataFrame:
        """:func:`onshore.risk.concentration.concentration` as a Spark job."""
        from pyspark.sql import functions as F
        from pyspark.sql.window import Window

        cols = [*group, "total", "n", "hhi", "top", "top_share", "leaders"]
        if df.empty:
            return pd.DataFrame(columns=cols)
        spark = self.spark
        sdf = spark.createDataFrame(df[[*group, by, value]].astype({value: float}))
        agg = sdf.groupBy(*group, by).agg(F.sum(value).alias("v")).filter(F.col("v") > 0)
        w = Window.partitionBy(*group)
        ranked = (
            agg.withColumn("total", F.sum("v").over(w))
            .withColumn("s", F.col("v") / F.col("total"))
            .withColumn("rk", F.row_number().over(w.orderBy(F.desc("v"), F.asc(by))))
        )
        summary = ranked.groupBy(*group).agg(
            F.first("total").alias("total"),
            F.count(F.lit(1)).alias("n"),
            F.sum(F.col("s") * F.col("s")).alias("ss"),
            F.sum("s").alias("sum_s"),
            F.sort_array(
                F.collect_list(
                    F.when(F.col("rk") <= top, F.struct(F.col("rk"), F.col(by), F.col("s")))
                )
            ).alias("lead"),
        )
        rows = []
        for r in summary.toLocalIterator():
            lead = [(x[by], float(x["s"])) for x in r["lead"]]
            # hhi() of the shares, as the local engine: ss / sum_s^2 is its renormalisation
            h = float(round(10_000.0 * float(r["ss"]) / float(r["sum_s"]) ** 2, 9))
            rows.append(
                (
                    *[r[c] for c in group],
                    float(r["total"]),
                    int(r["n"]),
                    h,
                    str(lead[0][0]),
                    lead[0][1],
                    ", ".join(f"{c} {s:.0%}" for c, s in lead),
                )
            )
        out = pd.DataFrame(rows, columns=cols)
        return out.sort_values(["hhi", "total"], ascending=[False, False]).reset_index(drop=True)

    def concentration_table(
        self,
        network: Network,
        control: Mapping[str, str] | None = None,
        stage: str | None = None,
        period: str | None = None,
        out: str | Path | None = None,
    ) -> pd.DataFrame:
        """HHI per (material, stage) as :func:`onshore.risk.concentration_table`, the sums,
        shares and squares computed by Spark."""
        from onshore.risk.concentration import concentration_table

        df = concentration_table(
            network,
            control=control,
            stage=stage,
            period=period,
            concentrate=lambda rows, group, by: self.concentration(rows, group, by),
        )
        if out is not None:
            self.spark.createDataFrame(df).write.mode("overwrite").parquet(str(out))
        return df
