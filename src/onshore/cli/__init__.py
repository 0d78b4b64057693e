"""The command line: a thin shell over the library; one module per command group."""

from __future__ import annotations

from onshore.cli import check as _check  # noqa: F401  (registers check, rules, owners, report)
from onshore.cli import demo as _demo  # noqa: F401  (registers demo)
from onshore.cli import plan as _plan  # noqa: F401  (registers plan)
from onshore.cli import risk as _risk  # noqa: F401  (registers risk, simulate)
from onshore.cli import store as _store  # noqa: F401  (registers init, import, export, info)
from onshore.cli import trace as _trace  # noqa: F401  (registers trace, validate)
from onshore.cli.app import app


def main() -> None:
    """Entry point of the ``onshore`` console script."""
    app()


__all__ = ["app", "main"]
