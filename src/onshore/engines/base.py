"""The engine interface: which analyses an engine runs, and the one call per analysis.

An engine computes the same tables as the library's local functions, with the same columns
and the same meaning; it differs in where the work is done. ``ANALYSES`` names the analyses
that can be given to an engine; :attr:`Engine.supports` says which of them it runs, and
:func:`onshore.engines.get` refuses an engine that is not installed with the exact install
line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import pandas as pd

from onshore.errors import InputError
from onshore.network import Network

Analysis = Literal["trace_all", "owners", "concentration", "screen"]
ANALYSES: tuple[Analysis, ...] = ("trace_all", "owners", "concentration", "screen")
"""``trace_all``: every node traced (:func:`onshore.trace.solve_all`); ``owners``: effective
ownership ``(I - S)^-1`` (:func:`onshore.owners.effective_ownership`); ``concentration``: HHI
by material, stage and country (:func:`onshore.risk.concentration_table`); ``screen``: a
supplier list linked to companies and the restricted lists
(:func:`onshore.compliance.screen.screen`)."""


METHODS: dict[Analysis, str] = {
    "trace_all": "trace_all",
    "owners": "effective_ownership",
    "concentration": "concentration_table",
    "screen": "screen",
}
"""The :class:`Engine` method that runs each analysis."""


class Engine:
    """One way to run the analyses; a subclass overrides the methods of the analyses it runs,
    and :attr:`supports` is derived from which it overrides."""

    name: ClassVar[str] = ""
    supports: ClassVar[frozenset[str]] = frozenset()
    """The analyses this engine runs: those whose method the subclass overrides."""
    extra: ClassVar[str | None] = None
    """The optional dependency group that installs it (``pip install 'onshore[EXTRA]'``)."""

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        cls.supports = frozenset(
            a for a, m in METHODS.items() if getattr(cls, m) is not getattr(Engine, m)
        )

    def require(self, analysis: str) -> None:
        """Raise :class:`~onshore.errors.InputError` unless this engine runs ``analysis``."""
        if analysis not in self.supports:
            raise self.unsupported(analysis)

    def unsupported(self, analysis: str) -> InputError:
        """The error for an analysis this engine does not run, naming those it does."""
        runs = ", ".join(sorted(self.supports)) or "nothing"
        return InputError(f"the {self.name} engine does not run {analysis} (it runs: {runs})")

    def trace_all(
        self,
        network: Network,
        by: Sequence[str] = ("raw", "stage", "country"),
        weight: Literal["mass", "cost"] = "mass",
        period: str | None = None,
        out: str | Path | None = None,
        **kw: Any,
    ) -> pd.DataFrame | Path | str:
        """Every node traced: the table (or directory, or URI) of
        :func:`onshore.trace.solve_all`."""
        raise self.unsupported("trace_all")

    def effective_ownership(
        self, network: Network, kind: str = "equity", out: str | Path | None = None
    ) -> pd.DataFrame:
        """``owner, owned, share`` as :func:`onshore.owners.effective_ownership`."""
        raise self.unsupported("owners")

    def concentration_table(
        self,
        network: Network,
        control: Mapping[str, str] | None = None,
        stage: str | None = None,
        period: str | None = None,
        out: str | Path | None = None,
    ) -> pd.DataFrame:
        """HHI per (material, stage) as :func:`onshore.risk.concentration_table`."""
        raise self.unsupported("concentration")

    def screen(
        self,
        network: Network,
        rows: Sequence[Mapping[str, Any]] | pd.DataFrame,
        lists: Mapping[str, Any] | None = None,
        rules: Any = None,
        on: dt.date | None = None,
    ) -> list[dict[str, Any]]:
        """The rows of :func:`onshore.compliance.screen.screen`."""
        raise self.unsupported("screen")

    def write(self, df: pd.DataFrame, out: str | Path) -> str:
        """Write a result table as Parquet at ``out``, a local path or a URI
        (:func:`onshore.engines.output.write_pandas`; an engine may write it its own way).

        Returns
        -------
        str
            ``out``.
        """
        from onshore.engines.output import write_pandas

        return write_pandas(df, out)
