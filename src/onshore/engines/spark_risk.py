"""Concentration (HHI by material, stage, country and controlling country) on Spark, from the
model's tables as Spark DataFrames (partitioned Parquet read by
:func:`onshore.engines.tables.spark_tables`, or a Network's frames through Arrow).

The rows of :mod:`onshore.risk.concentration` are built in Spark: one per facility with a
capacity (in its output material's unit) and one per flow (in its material's unit), each with
the plant's country and its company's controlling country. The rules come from the local
code, applied on the driver to the few distinct keys and joined back: the unit factors
(:func:`onshore.risk.supply.capacity_factors`, :func:`onshore.network.unit_factors`), a
facility's output material when its own column is empty
(:func:`onshore.risk.supply.most_shipped`, on the flow rows counted in Spark). Spark sums
the rows per (basis, material, stage, country) and per (basis, material, stage, controlling
country) in one job; those sums (a row per market and country) come back to the driver,
where :func:`onshore.risk.concentration.concentration` (the HHI, the leaders) and
:func:`onshore.risk.concentration.combine` make the table, as locally.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from onshore.network import Network

TABLES: dict[str, tuple[str, ...]] = {
    "facilities": ("id", "company", "country", "stage", "material", "capacity", "unit"),
    "flows": ("supplier", "material", "quantity", "unit", "period"),
    "companies": ("id", "country"),
    "materials": ("id", "unit"),
}
"""The tables the concentration reads, and their columns it reads."""
UNKNOWN = "??"
"""The country of a supplier or company not found (as locally)."""


def network_tables(spark: Any, network: Network) -> dict[str, Any]:
    """The tables :func:`concentration_table` reads, from a Network's frames through Arrow.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    network : Network

    Returns
    -------
    dict of str to pyspark.sql.DataFrame
    """
    import pyarrow as pa

    from onshore.engines.tables import arrow

    out = {}
    for t, cols in TABLES.items():
        tab = arrow(network, t).select(list(cols)).replace_schema_metadata(None)
        for k, f in enumerate(tab.schema):  # Spark takes no dictionary or large-text columns
            if pa.types.is_dictionary(f.type):
                tab = tab.set_column(k, f.name, tab.column(k).cast(f.type.value_type))
            if pa.types.is_large_string(tab.schema[k].type):
                tab = tab.set_column(k, f.name, tab.column(k).cast(pa.string()))
        # through pandas (Arrow batches): createDataFrame of the 1 M-flow Arrow tables
        # themselves sat idle for 3 min without finishing here (PySpark 4.3, local mode)
        out[t] = spark.createDataFrame(tab.to_pandas()) if tab.num_rows else _empty(spark, tab)
    return out


def _empty(spark: Any, tab: Any) -> Any:
    from pyspark.sql.pandas.types import from_arrow_schema

    return spark.createDataFrame([], from_arrow_schema(tab.schema))


def _finite(c: Any) -> Any:
    from pyspark.sql import functions as F

    return c.isNotNull() & ~F.isnan(c) & (F.abs(c) != float("inf"))


def _frame(spark: Any, df: pd.DataFrame, schema: str) -> Any:
    return spark.createDataFrame(df, schema) if len(df) else spark.createDataFrame([], schema)


def rows(
    spark: Any,
    tables: Mapping[str, Any],
    control: Mapping[str, str] | None = None,
    period: str | None = None,
) -> Any:
    """The concentration's rows as a Spark frame: ``basis`` (capacity|flows), ``material,
    stage, country, control, quantity``, as
    :func:`onshore.risk.concentration.capacity_concentration` and
    :func:`~onshore.risk.concentration.flow_concentration` build them.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    tables : mapping of str to pyspark.sql.DataFrame
        ``facilities``, ``flows``, ``companies``, ``materials``.
    control : mapping company id -> country, optional
        Controlling countries (default: each company's own country).
    period : str, optional
        Flows whose period starts with this.

    Returns
    -------
    pyspark.sql.DataFrame
    """
    from pyspark.sql import functions as F

    from onshore.network import unit_factors
    from onshore.risk.supply import capacity_factors, most_shipped

    fac, fl = tables["facilities"], tables["flows"]
    mats = tables["materials"].select("id", "unit").toPandas()
    mat_unit = pd.Series(mats["unit"].to_numpy(), index=mats["id"].astype(str))
    mu = _frame(
        spark,
        pd.DataFrame({"material": mat_unit.index, "mat_unit": mat_unit.to_numpy()}),
        "material string, mat_unit string",
    )
    # the company's controlling country: the given one, else its own
    own = tables["companies"].select(F.col("id").alias("company"), F.col("country").alias("own"))
    ctl = pd.DataFrame(
        {
            "company": [str(k) for k in control or {}],
            "ctl": [str(v) for v in (control or {}).values()],
        }
    )
    owner = own.join(
        F.broadcast(_frame(spark, ctl, "company string, ctl string")), "company", "left"
    )
    owner = owner.select("company", F.coalesce("ctl", "own").alias("control"))

    # a facility's output material: its own, else the material of most of its flow rows
    blank = fac.filter(F.col("material").isNull() | (F.col("material") == "")).select(
        F.col("id").alias("supplier")
    )
    counts = (
        fl.join(blank, "supplier", "left_semi")
        .filter(F.col("material").isNotNull())
        .groupBy("supplier", "material")
        .agg(F.count(F.lit(1)).alias("n"))
        .toPandas()
    )
    ms = most_shipped(counts) if len(counts) else pd.Series(dtype=object)
    shipped = _frame(
        spark,
        pd.DataFrame({"id": ms.index.astype(str), "shipped": ms.to_numpy()}),
        "id string, shipped string",
    )
    f = (
        fac.join(F.broadcast(shipped), "id", "left")
        .withColumn(
            "material",
            F.when(
                F.col("material").isNull() | (F.col("material") == ""), F.col("shipped")
            ).otherwise(F.col("material")),
        )
        .join(F.broadcast(mu), "material", "left")
        .join(F.broadcast(owner), "company", "left")
    )
    fcols = f.select(
        F.col("id").alias("supplier"),
        F.col("country").cast("string").alias("country"),
        F.col("company"),
        F.col("stage").cast("string").alias("stage"),
    )

    # capacity rows: yearly capacity in the output material's unit
    pairs = f.select("unit", "mat_unit").distinct().toPandas()
    cf = capacity_factors(zip(pairs["unit"], pairs["mat_unit"], strict=True))
    cfac = pd.DataFrame(
        {
            "cu": [u for u, _ in cf],
            "cm": [m if isinstance(m, str) else None for _, m in cf],
            "factor": list(cf.values()),
        }
    )
    cfs = F.broadcast(_frame(spark, cfac, "cu string, cm string, factor double"))
    on = (F.col("unit") == F.col("cu")) & F.col("mat_unit").eqNullSafe(F.col("cm"))
    cap = f.join(cfs, on, "left").select(
        F.lit("capacity").alias("basis"),
        F.coalesce(F.col("material"), F.lit("")).alias("material"),
        F.col("stage").cast("string").alias("stage"),
        F.col("country").cast("string").alias("country"),
        F.coalesce(F.col("control"), F.lit(UNKNOWN)).alias("control"),
        (F.col("capacity").try_cast("double") * F.col("factor")).alias("quantity"),
    )
    cap = cap.filter(_finite(F.col("quantity")) & (F.col("quantity") > 0))

    # flow rows: the quantity shipped in the material's unit, at the supplier's country
    if period is not None:
        fl = fl.filter(F.col("period").cast("string").startswith(str(period)))
    fp = fl.select(F.col("unit").cast("string"), F.col("material").cast("string")).distinct()
    fp = fp.toPandas()
    fpairs = list(zip(fp["unit"].astype(str), fp["material"].astype(str), strict=True))
    ff = _frame(
        spark,
        pd.DataFrame(
            {
                "unit": [u for u, _ in fpairs],
                "material": [m for _, m in fpairs],
                "factor": unit_factors(fpairs, mat_unit),
            }
        ),
        "unit string, material string, factor double",
    )
    flows = (
        fl.withColumn("unit", F.col("unit").cast("string"))
        .withColumn("material", F.col("material").cast("string"))
        .join(F.broadcast(ff), ["unit", "material"], "left")
        .join(fcols, "supplier", "left")
        .join(F.broadcast(owner), "company", "left")
        .select(
            F.lit("flows").alias("basis"),
            F.col("material"),
            F.coalesce(F.col("stage"), F.lit("nan")).alias("stage"),
            F.coalesce(F.col("country"), F.lit(UNKNOWN)).alias("country"),
            F.coalesce(F.col("control"), F.lit(UNKNOWN)).alias("control"),
            (F.col("quantity").cast("double") * F.col("factor")).alias("quantity"),
        )
        .filter(_finite(F.col("quantity")))
    )
    return cap.unionByName(flows)


def sums(rows_: Any) -> pd.DataFrame:
    """The rows summed per (basis, material, stage) and country, and per (basis, material,
    stage) and controlling country, in one Spark job: ``basis, by (country|control), material,
    stage, where, quantity``.

    Parameters
    ----------
    rows_ : pyspark.sql.DataFrame
        :func:`rows`.

    Returns
    -------
    DataFrame
    """
    from pyspark.sql import functions as F

    key = ["basis", "material", "stage"]
    parts = [
        rows_.groupBy(*key, F.col(by).alias("where"))
        .agg(F.sum("quantity").alias("quantity"))
        .withColumn("by", F.lit(by))
        for by in ("country", "control")
    ]
    return parts[0].unionByName(parts[1]).toPandas()


def concentration_table(
    spark: Any,
    tables: Mapping[str, Any],
    control: Mapping[str, str] | None = None,
    stage: str | None = None,
    period: str | None = None,
) -> pd.DataFrame:
    """:func:`onshore.risk.concentration_table` from the tables as Spark frames.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    tables : mapping of str to pyspark.sql.DataFrame
        ``facilities``, ``flows``, ``companies``, ``materials``.
    control, stage, period
        As :func:`onshore.risk.concentration_table`.

    Returns
    -------
    DataFrame
        The same columns and rows.
    """
    from onshore.errors import InputError
    from onshore.risk.concentration import combine, concentration

    missing = [t for t in TABLES if t not in tables]
    if missing:
        raise InputError(f"the concentration reads the tables {', '.join(missing)}: not given")
    s = sums(rows(spark, tables, control, period))
    out = {}
    for basis in ("capacity", "flows"):
        ab = []
        for by in ("country", "control"):
            part = s[(s["basis"] == basis) & (s["by"] == by)]
            ab.append(concentration(part, ["material", "stage"], "where"))
        out[basis] = (ab[0], ab[1])
    return combine(out, stage)
