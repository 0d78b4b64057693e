"""Where an engine writes its results: a local path, or a URI (``file://``, ``s3a://``,
``gs://``, ``abfss://``, ``hdfs://``, ...).

On Spark a URI is written by Spark's DataFrame writer, through the Hadoop file systems the
session is configured with (on a managed service: its object store), by the executors that
hold the rows; a local path as well (in local mode, or a mount every node sees). On the local
engine a URI is written through :mod:`pyarrow.fs` (``file://``, ``s3://`` (``s3a://`` read as
``s3://``), ``gs://``, ``hdfs://``, ``abfss://``, as pyarrow supports them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd

from onshore.errors import InputError

PYARROW_SCHEMES = {"s3a": "s3", "s3n": "s3"}
"""Hadoop scheme names pyarrow spells otherwise."""


def is_uri(out: str | Path) -> bool:
    """Whether ``out`` is a URI (``scheme://...``) rather than a local path."""
    return not isinstance(out, Path) and "://" in str(out)


def local_dir(out: str | Path) -> Path | None:
    """The local directory of ``out``: a path as given, a ``file://`` URI's path; None for a
    URI of another scheme."""
    if not is_uri(out):
        return Path(out)
    u = urlparse(str(out))
    return Path(u.path) if u.scheme == "file" else None


def write_frame(sdf: Any, out: str | Path) -> str:
    """Write a Spark DataFrame as a Parquet directory at ``out`` (replaced), by Spark's writer.

    Parameters
    ----------
    sdf : pyspark.sql.DataFrame
    out : str or Path
        A local path or any URI the session's Hadoop file systems write.

    Returns
    -------
    str
        ``out`` as written to.
    """
    target = str(out) if is_uri(out) else str(Path(out).resolve())
    sdf.write.mode("overwrite").parquet(target)
    return str(out)


def write_pandas(df: pd.DataFrame, out: str | Path) -> str:
    """Write a table as one Parquet file at ``out``: a local path, or a URI through
    :mod:`pyarrow.fs`.

    Parameters
    ----------
    df : DataFrame
    out : str or Path

    Returns
    -------
    str
        ``out``.

    Raises
    ------
    InputError
        A URI whose scheme pyarrow does not write.
    """
    import pyarrow as pa
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    if not is_uri(out):
        df.to_parquet(out, index=False)
        return str(out)
    u = urlparse(str(out))
    uri = str(out)
    if u.scheme in PYARROW_SCHEMES:
        uri = f"{PYARROW_SCHEMES[u.scheme]}{uri[len(u.scheme) :]}"
    try:
        fs, path = pafs.FileSystem.from_uri(uri)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as e:
        raise InputError(f"{out}: the local engine cannot write there ({e})") from e
    parent = path.rsplit("/", 1)[0]
    if parent:
        fs.create_dir(parent, recursive=True)
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, filesystem=fs)
    return str(out)
