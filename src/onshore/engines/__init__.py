"""Engines: where the analyses that scale run, declared once.

``local`` (NumPy / SciPy in this process, the default) and ``spark`` (PySpark DataFrames, the
``[spark]`` extra). Each engine states which analyses it runs (:data:`ANALYSES`:
``trace_all``, ``owners``, ``concentration``, ``screen``) and computes the same tables with
the same columns as the library's functions; :func:`trace_all`, :func:`effective_ownership`,
:func:`concentration_table` and :func:`screen` take ``engine=``. A missing extra is refused with
:class:`~onshore.errors.EngineUnavailable` naming the exact install line
(``pip install 'onshore[spark]'``). :mod:`onshore.engines.tables` moves the model's tables
between the DuckDB store (through Arrow), partitioned Parquet and Spark.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from onshore.engines.base import ANALYSES, Analysis, Engine
from onshore.engines.local import LocalEngine
from onshore.errors import EngineUnavailable, InputError
from onshore.network import Network

ENGINES: tuple[str, ...] = ("local", "spark")
"""The engine names, as ``--engine`` takes them."""

EngineName = Literal["local", "spark"]


def get(engine: str | Engine = "local") -> Engine:
    """The engine of a name (or the engine given).

    Parameters
    ----------
    engine : {"local", "spark"} or Engine

    Returns
    -------
    Engine

    Raises
    ------
    InputError
        An unknown name.
    EngineUnavailable
        The engine's extra (or Java, for Spark) is not installed; the message says what to run.
    """
    if isinstance(engine, Engine):
        return engine
    if engine == "local":
        return LocalEngine()
    if engine == "spark":
        from onshore.engines import spark

        why = spark.available()
        if why:
            raise EngineUnavailable(why)
        return spark.SparkEngine()
    raise InputError(f"unknown engine {engine!r}: one of {', '.join(ENGINES)}")


def supports(engine: str, analysis: Analysis) -> bool:
    """Whether the engine of this name runs ``analysis`` (without starting it).

    Parameters
    ----------
    engine : str
    analysis : str

    Returns
    -------
    bool
    """
    from onshore.engines.spark import SparkEngine

    cls: type[Engine] = {"local": LocalEngine, "spark": SparkEngine}[engine]
    return analysis in cls.supports


def trace_all(
    network: Network,
    by: Sequence[str] = ("raw", "stage", "country"),
    weight: Literal["mass", "cost"] = "mass",
    period: str | None = None,
    out: str | Path | None = None,
    engine: str | Engine = "local",
    **kw: Any,
) -> pd.DataFrame | Path | str:
    """Every node traced on an engine: :func:`onshore.trace.solve_all`'s table or directory
    (``out``: a local directory; on Spark also a URI, returned as given).

    Parameters
    ----------
    network : Network
    by, weight, period, out, **kw
        As :func:`onshore.trace.solve_all`.
    engine : {"local", "spark"} or Engine

    Returns
    -------
    DataFrame or Path
    """
    e = get(engine)
    e.require("trace_all")
    return e.trace_all(network, by=by, weight=weight, period=period, out=out, **kw)


def effective_ownership(
    network: Network,
    kind: str = "equity",
    out: str | Path | None = None,
    engine: str | Engine = "local",
) -> pd.DataFrame:
    """Effective ownership ``(I - S)^-1`` on an engine: ``owner, owned, share``.

    Parameters
    ----------
    network : Network
    kind : {"equity", "voting"}
    out : str or Path, optional
        Also write the table to this Parquet path or URI (``file://``; on Spark any URI the
        session writes, ``s3a://``, ``gs://``, ``abfss://``, ``hdfs://``).
    engine : {"local", "spark"} or Engine

    Returns
    -------
    DataFrame
        As :func:`onshore.owners.effective_ownership`.
    """
    e = get(engine)
    e.require("owners")
    return e.effective_ownership(network, kind=kind, out=out)


def concentration_table(
    network: Network,
    control: Mapping[str, str] | None = None,
    stage: str | None = None,
    period: str | None = None,
    out: str | Path | None = None,
    engine: str | Engine = "local",
) -> pd.DataFrame:
    """HHI per (material, stage) on an engine, as :func:`onshore.risk.concentration_table`.

    Parameters
    ----------
    network : Network
    control, stage, period
        As :func:`onshore.risk.concentration_table`.
    out : str or Path, optional
        Also write the table to this Parquet path or URI (``file://``; on Spark any URI the
        session writes, ``s3a://``, ``gs://``, ``abfss://``, ``hdfs://``).
    engine : {"local", "spark"} or Engine

    Returns
    -------
    DataFrame
    """
    e = get(engine)
    e.require("concentration")
    return e.concentration_table(network, control=control, stage=stage, period=period, out=out)


def screen(
    network: Network,
    rows: Sequence[Mapping[str, Any]] | pd.DataFrame,
    lists: Mapping[str, Any] | None = None,
    rules: Any = None,
    on: dt.date | None = None,
    engine: str | Engine = "local",
) -> list[dict[str, Any]]:
    """A supplier list screened on an engine, as :func:`onshore.compliance.screen.screen`.

    On Spark the candidate blocking (the query's keys joined with the index) and the scoring
    (the local scorer applied to each query's block) are DataFrame jobs; the rows are then
    put together as locally.

    Parameters
    ----------
    network : Network
    rows, lists, rules, on
        As :func:`onshore.compliance.screen.screen`.
    engine : {"local", "spark"} or Engine

    Returns
    -------
    list of dict
        The same rows as the local screener's.
    """
    e = get(engine)
    e.require("screen")
    return e.screen(network, rows, lists=lists, rules=rules, on=on)


__all__ = [
    "ANALYSES",
    "ENGINES",
    "Engine",
    "EngineName",
    "EngineUnavailable",
    "LocalEngine",
    "concentration_table",
    "effective_ownership",
    "get",
    "screen",
    "supports",
    "trace_all",
]
