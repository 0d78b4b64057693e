"""The model's tables as partitioned Parquet: written from a store (through Arrow) or a Network,
read back into a Network or into Spark DataFrames.

One folder per table (``companies/``, ``flows/``, ...), Hive-partitioned where a table is large:
``flows`` by ``period`` and ``facilities`` by ``stage`` (:data:`PARTITION_BY`), so that a Spark
job reading one period reads only its files. The columns and types are the store's.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from onshore.network import Network
from onshore.records.model import TABLES
from onshore.store.duckdb import DuckDBStore

PARTITION_BY: dict[str, list[str]] = {"flows": ["period"], "facilities": ["stage"]}
"""The partition columns of each table (tables not named are written unpartitioned)."""


def arrow(source: Network | DuckDBStore, table: str) -> pa.Table:
    """One table of a store (through Arrow) or a Network as an Arrow table (stages as text)."""
    if isinstance(source, DuckDBStore):
        return source.arrow(table)
    df = getattr(source, table)
    df = df.map(lambda v: getattr(v, "value", v)) if table == "facilities" else df
    return pa.Table.from_pandas(df, preserve_index=False)


def write_tables(
    source: Network | DuckDBStore,
    folder: str | Path,
    partition_by: Mapping[str, list[str]] | None = None,
) -> Path:
    """Write every table of a store (read through Arrow) or a Network as Parquet.

    Parameters
    ----------
    source : Network or DuckDBStore
    folder : str or Path
        Created if needed; each table's folder is replaced.
    partition_by : mapping table -> columns, optional
        Default :data:`PARTITION_BY`.

    Returns
    -------
    Path
        ``folder``.
    """
    import pyarrow.dataset as ds

    d = Path(folder)
    parts = PARTITION_BY if partition_by is None else partition_by
    for t in TABLES:
        tab = arrow(source, t)
        cols = [c for c in parts.get(t, []) if c in tab.column_names]
        for c in cols:  # a partition value must be a string (nulls as the Hive default)
            tab = tab.set_column(
                tab.column_names.index(c), c, pa.compute.cast(tab.column(c), pa.string())
            )
        shutil.rmtree(d / t, ignore_errors=True)  # partitions of an earlier write too
        ds.write_dataset(
            tab,
            str(d / t),
            format="parquet",
            partitioning=cols or None,
            partitioning_flavor="hive" if cols else None,
            existing_data_behavior="delete_matching",
        )
    return d


def read_network(folder: str | Path) -> Network:
    """The Network in a folder written by :func:`write_tables` (partition columns restored).

    Parameters
    ----------
    folder : str or Path

    Returns
    -------
    Network
    """
    import pyarrow.dataset as ds

    d = Path(folder)
    frames: dict[str, pd.DataFrame] = {}
    for t in TABLES:
        if not (d / t).exists():
            continue
        df = ds.dataset(str(d / t), format="parquet", partitioning="hive").to_table().to_pandas()
        for c in PARTITION_BY.get(t, []):
            if c in df.columns:
                df[c] = df[c].astype(object).where(df[c].notna(), None)
        frames[t] = df
    return Network.from_frames(**frames)


def spark_tables(spark: Any, folder: str | Path) -> dict[str, Any]:
    """Every table of a folder written by :func:`write_tables` as a Spark DataFrame.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    folder : str or Path
        A local path or any URI Spark reads (``s3a://``, ``abfss://``, ``gs://``).

    Returns
    -------
    dict of str to pyspark.sql.DataFrame
        By table name; partition columns are read back from the folder names.
    """
    from onshore.engines.output import local_dir

    local = local_dir(folder)
    d = str(folder if local is None or "://" in str(folder) else local.resolve()).rstrip("/")
    out = {}
    for t in TABLES:
        if local is not None and not (local / t).exists():
            continue
        try:
            out[t] = spark.read.parquet(f"{d}/{t}")
        except Exception as e:  # a table not written there (object stores: no listing first)
            if "PATH_NOT_FOUND" not in str(e) and "does not exist" not in str(e):
                raise
    return out
