"""The local engine: the library's own functions, in this process (and its workers)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import pandas as pd

from onshore.engines.base import Engine
from onshore.network import Network


class LocalEngine(Engine):
    """NumPy / SciPy in one process; ``trace_all`` with ``out`` forks worker processes."""

    name: ClassVar[str] = "local"

    def trace_all(
        self,
        network: Network,
        by: Sequence[str] = ("raw", "stage", "country"),
        weight: Literal["mass", "cost"] = "mass",
        period: str | None = None,
        out: str | Path | None = None,
        **kw: Any,
    ) -> pd.DataFrame | Path | str:
        from onshore.engines.output import local_dir
        from onshore.errors import InputError
        from onshore.trace.allnodes import solve_all

        d = None if out is None else local_dir(out)
        if out is not None and d is None:
            raise InputError(
                f"{out}: the local engine writes the trace to a local directory "
                "(a file:// URI or a path); --engine spark writes to other URIs"
            )
        return solve_all(network, by=by, weight=weight, period=period, out=d, **kw)

    def effective_ownership(
        self, network: Network, kind: str = "equity", out: str | Path | None = None
    ) -> pd.DataFrame:
        from onshore.owners import effective_ownership

        df = effective_ownership(network, kind)
        if out is not None:
            self.write(df, out)
        return df

    def concentration_table(
        self,
        network: Network,
        control: Mapping[str, str] | None = None,
        stage: str | None = None,
        period: str | None = None,
        out: str | Path | None = None,
    ) -> pd.DataFrame:
        from onshore.risk.concentration import concentration_table

        df = concentration_table(network, control=control, stage=stage, period=period)
        if out is not None:
            self.write(df, out)
        return df

    def screen(
        self,
        network: Network,
        rows: Sequence[Mapping[str, Any]] | pd.DataFrame,
        lists: Mapping[str, Any] | None = None,
        rules: Any = None,
        on: dt.date | None = None,
    ) -> list[dict[str, Any]]:
        from onshore.compliance.screen import screen

        return screen(network, rows, lists=lists, rules=rules, on=on)
