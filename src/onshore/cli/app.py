"""The typer application and what every command shares: the store option, output formats,
and turning onshore's errors into clear messages and exit codes."""

from __future__ import annotations

import functools
import json
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from onshore import settings
from onshore.errors import MAX_ERRORS, DataError, OnshoreError, counted

app = typer.Typer(
    name="onshore",
    help="Where a lithium-ion battery really comes from, who may buy it, how exposed it is, "
    "and what to build where.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
# Wide tables stay readable when output goes to a file or a CI log (no terminal width to read).
console = Console(width=None if sys.stdout.isatty() else 140)
err_console = Console(stderr=True, soft_wrap=True)

DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        help="The store file (default: $ONSHORE_DB or ./onshore.duckdb).",
        show_default=False,
    ),
]


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


FormatOption = Annotated[
    Format, typer.Option("--format", "-f", help="Output: a table, CSV or JSON.")
]

F = TypeVar("F", bound=Callable[..., Any])


EngineOption = Annotated[
    str,
    typer.Option(
        "--engine",
        help="Where the analysis runs: local, or spark (pip install 'onshore[spark]').",
    ),
]


def handle_errors(fn: F) -> F:
    """Turn onshore's own errors into a message on stderr and exit code 1 (2 for bad data)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DataError as e:
            print_warnings(getattr(e, "warnings", []))
            err_console.print(
                f"[bold red]error:[/] {counted(e.total, 'error')} in the input; "
                "nothing was written",
                highlight=False,
            )
            for row in e.errors:
                err_console.print(f"  {row}", markup=False, highlight=False)
            raise typer.Exit(2) from None
        except OnshoreError as e:
            err_console.print(f"[bold red]error:[/] {e}", highlight=False)
            for reason in getattr(e, "reasons", []):
                err_console.print(f"  - {reason}", highlight=False)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def print_warnings(warnings: list[Any]) -> None:
    """What an import interpreted or ignored, on stderr (the first 100, with the count)."""
    if not warnings:
        return
    err_console.print(
        f"[bold yellow]warning:[/] {counted(len(warnings), 'warning')}", highlight=False
    )
    for w in warnings[:MAX_ERRORS]:
        err_console.print(f"  {w}", markup=False, highlight=False)


@contextmanager
def open_db(db: Path | None, create: bool = False) -> Iterator[Any]:
    """Open the store named by --db / $ONSHORE_DB; without ``create`` it must exist."""
    from onshore.store.duckdb import open_store

    store = open_store(settings.db_path(db), create=create)
    try:
        yield store
    finally:
        store.close()


def open_network(db: Path | None) -> Any:
    """The Network in the store named by --db / $ONSHORE_DB."""
    from onshore.network import Network

    with open_db(db) as store:
        return Network.from_store(store)


def records(df: Any) -> list[dict[str, Any]]:
    """A DataFrame's rows as plain dicts for ``emit``: numpy scalars as Python values, NaN as
    None."""
    out = []
    for r in df.to_dict("records"):
        row = {}
        for k, v in r.items():
            v = v.item() if hasattr(v, "item") else v
            row[k] = None if isinstance(v, float) and math.isnan(v) else v
        out.append(row)
    return out


def emit(
    rows: list[dict[str, Any]], fmt: Format, title: str = "", columns: list[str] | None = None
) -> None:
    """Print rows as a rich table, CSV or JSON (one object per row)."""
    import csv

    from rich.table import Table

    cols = columns or (list(rows[0]) if rows else [])
    if fmt == Format.json:
        sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
    elif fmt == Format.csv:
        w = csv.DictWriter(sys.stdout, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    else:
        t = Table(title=title or None)
        for c in cols:
            t.add_column(
                c, justify="right" if rows and isinstance(rows[0].get(c), int | float) else "left"
            )
        for r in rows:
            t.add_row(*[_fmt(r.get(c)) for c in cols])
        console.print(t)


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    return str(v)
