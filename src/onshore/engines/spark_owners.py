"""Effective ownership ``(I - S)^-1`` on Spark, by path doubling.

``E = S + S^2 + ...`` (``(I - S)^-1 - I``, diagonal dropped, as
:func:`onshore.owners.effective_ownership`) is summed by doubling the walk length each round:
with ``P = S^k`` and ``T = S + ... + S^k``,

    T <- T + P T,   P <- P P,   k <- 2k,

so a chain of ``L`` holdings takes ``ceil(log2 L)`` rounds instead of ``L`` steps. The rounds
stop when ``P`` is empty (no cycle: every walk is shorter than ``k``) or its largest entry is
at most ``tol`` (cross-holding cycles, whose gain is below one: ``P`` then shrinks
quadratically per round). Each round is one Spark action (the size and largest entry of the
new ``P``); ``P`` and ``T`` are local checkpoints made by that action (lazy ones: no job of
their own), so the lineage is one round deep. ``P`` is broadcast into both joins while it
has at most :data:`BROADCAST_ROWS` rows, so each join is a map-side join, and both products
of a round come from one join and one sum by ``(tag, i, j)``. While the walk runs, adaptive
execution is off (its shuffle stages would each be a job) and the shuffle partitions are
sized to the holdings (:func:`partitions`); the session's settings are restored after.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from onshore.errors import DataError

TOL = 1e-13
"""Largest entry of ``S^k`` at which the rounds stop (cycles' remainder below this)."""
MAX_STEPS = 5_000
"""Longest walk summed: ``S^k`` still above ``tol`` at this ``k`` means a cycle's gain >= 1."""
BROADCAST_ROWS = 2_000_000
"""``P`` is broadcast into the joins while it has at most this many rows (~48 MB)."""
CONF: dict[str, str] = {"spark.sql.adaptive.enabled": "false"}
"""Session settings while the walk runs (restored after): without adaptive execution a
round's shuffles are stages of one job, not one job each."""
ROWS_PER_PARTITION = 100_000
"""Direct holdings per shuffle partition of the walk (at most the session's
``spark.sql.shuffle.partitions``): 13,006 holdings at 1 M flows make one."""


def partitions(spark: Any, holdings: int) -> int:
    """The walk's shuffle partitions: one per :data:`ROWS_PER_PARTITION` direct holdings,
    between 1 and the session's ``spark.sql.shuffle.partitions``."""
    most = int(spark.conf.get("spark.sql.shuffle.partitions", "200"))
    return max(1, min(most, -(-holdings // ROWS_PER_PARTITION)))


@contextlib.contextmanager
def settings(spark: Any, conf: Mapping[str, str]) -> Iterator[None]:
    """The session's ``conf`` set inside, the former values restored after."""
    old = {k: spark.conf.get(k, None) for k in conf}
    for k, v in conf.items():
        spark.conf.set(k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                spark.conf.unset(k)
            else:
                spark.conf.set(k, v)


def _lazy(df: Any) -> Any:
    """Cut the lineage at ``df`` without a job of its own: a lazy local checkpoint (made by
    the first action that computes it), or a reliable one when a checkpoint directory is set."""
    if df.sparkSession.sparkContext.getCheckpointDir():
        return df.checkpoint(eager=False)
    return df.localCheckpoint(eager=False)


def _round(P: Any, T: Any, small: bool) -> Any:
    """One doubling: ``T + P T`` (``tag`` 0) and ``P P`` (``tag`` 1) as one frame ``tag, i, j,
    w``, from one join of ``P`` (broadcast when ``small``) with ``T`` and ``P`` side by side and
    one sum by ``(tag, i, j)``, ``T``'s own rows included."""
    from pyspark.sql import functions as F

    right = T.withColumn("tag", F.lit(0)).unionByName(P.withColumn("tag", F.lit(1)))
    left = F.broadcast(P) if small else P
    prod = (
        left.alias("a")
        .join(right.alias("b"), F.col("a.j") == F.col("b.i"))
        .select(
            F.col("b.tag").alias("tag"),
            F.col("a.i").alias("i"),
            F.col("b.j").alias("j"),
            (F.col("a.w") * F.col("b.w")).alias("w"),
        )
    )
    return (
        prod.unionByName(T.select(F.lit(0).alias("tag"), "i", "j", "w"))
        .groupBy("tag", "i", "j")
        .agg(F.sum("w").alias("w"))
    )


def walk_sum(
    spark: Any,
    direct: pd.DataFrame,
    tol: float = TOL,
    stats: dict[str, float] | None = None,
) -> Any:
    """``S + S^2 + ...`` of the holdings ``direct`` (``i, j, w``) as a Spark frame ``i, j, w``.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    direct : DataFrame
        ``i, j`` (int64 company positions) and ``w``, one row per pair (summed), ``w != 0``.
    tol : float
        Stop when the largest entry of ``S^k`` is at most this.
    stats : dict, optional
        Receives ``rounds`` (doublings), ``steps`` (the walk length ``k`` summed) and
        ``frontier`` (rows of the last ``S^k``).

    Returns
    -------
    pyspark.sql.DataFrame
        ``i, j, w``, the diagonal (walks back to a company) included.

    Raises
    ------
    DataError
        When ``S^k`` is still above ``tol`` at ``k`` > :data:`MAX_STEPS` (a cycle's gain >= 1).
    """
    from pyspark.sql import functions as F

    S = _lazy(spark.createDataFrame(direct[["i", "j", "w"]]))
    P, T = S, S
    top, rows = float(direct["w"].abs().max()), len(direct)
    k, rounds = 1, 0
    while rows and top > tol:
        if k > MAX_STEPS:
            raise DataError(
                f"cross-holdings did not converge in {MAX_STEPS} steps (a cycle's gain >= 1)"
            )
        C = _lazy(_round(P, T, rows <= BROADCAST_ROWS))
        T = C.filter(F.col("tag") == 0).drop("tag")
        P = C.filter(F.col("tag") == 1).drop("tag")
        r = P.agg(F.count(F.lit(1)).alias("n"), F.max(F.abs("w")).alias("m")).collect()[0]
        rows, top = int(r["n"]), float(r["m"] or 0.0)
        k, rounds = 2 * k, rounds + 1
    if stats is not None:
        stats.update(rounds=rounds, steps=k, frontier=rows)
    return T


def effective(
    spark: Any,
    ids: np.ndarray,
    direct: pd.DataFrame,
    tol: float = TOL,
    out: str | None = None,
    stats: dict[str, float] | None = None,
) -> pd.DataFrame:
    """``owner, owned, share`` (every non-zero effective holding, self-holdings dropped), as
    :func:`onshore.owners.effective_ownership`, from the positions ``ids`` of the companies and
    their direct holdings; also written to ``out`` (a Parquet directory or URI) when given.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    ids : ndarray of str
        Company id by position.
    direct : DataFrame
        ``i, j, w`` as :func:`walk_sum` takes it.
    tol : float
    out : str, optional
    stats : dict, optional
        As :func:`walk_sum`.

    Returns
    -------
    DataFrame
        Sorted by ``owner, owned``.
    """

    cols = ["owner", "owned", "share"]
    if direct.empty:
        return pd.DataFrame(columns=cols)
    conf = {**CONF, "spark.sql.shuffle.partitions": str(partitions(spark, len(direct)))}
    with settings(spark, conf):
        return _effective(spark, ids, direct, tol, out, stats)


def _effective(
    spark: Any,
    ids: np.ndarray,
    direct: pd.DataFrame,
    tol: float,
    out: str | None,
    stats: dict[str, float] | None,
) -> pd.DataFrame:
    from pyspark.sql import functions as F

    from onshore.engines.output import write_frame

    cols = ["owner", "owned", "share"]
    E = walk_sum(spark, direct, tol, stats)
    E = E.filter((F.col("i") != F.col("j")) & (F.col("w") != 0))
    names = spark.createDataFrame(
        pd.DataFrame({"k": np.arange(len(ids), dtype=np.int64), "id": ids.astype(str)})
    )
    res = (
        E.join(F.broadcast(names.withColumnRenamed("k", "i")), "i")
        .withColumnRenamed("id", "owner")
        .join(F.broadcast(names.withColumnRenamed("k", "j")), "j")
        .withColumnRenamed("id", "owned")
        .select("owner", "owned", F.col("w").alias("share"))
    )
    if out is not None:
        res = _lazy(res)
        write_frame(res, out)
    pdf = res.toPandas()
    return pdf.sort_values(["owner", "owned"]).reset_index(drop=True)[cols]


def direct_holdings(direct: pd.DataFrame, kind: str) -> pd.DataFrame:
    """``i, j, w`` of :attr:`onshore.owners.control.Owners.direct`: equity (``kind ==
    "equity"``) or votes, summed per pair, zeros dropped (the matrix ``S`` the local engine
    builds from the same rows)."""
    w = direct["eq"] if kind == "equity" else direct["vote"]
    S = (
        pd.DataFrame({"i": direct["i"].astype(np.int64), "j": direct["j"].astype(np.int64), "w": w})
        .groupby(["i", "j"], as_index=False)["w"]
        .sum()
    )
    return S[S["w"] != 0].reset_index(drop=True)
