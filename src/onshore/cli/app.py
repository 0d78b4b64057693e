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
from onshore.errors import (
    MAX_ERRORS,
    DataError,
    InputError,
    NotFound,
    OnshoreError,
    RuleError,
    ScenarioError,
    UnitError,
    counted,
)

BAD_INPUT = 2
"""Exit code of a command given bad input: a bad row, parameter, id, path, rule or scenario file."""
FAILED = 1
"""Exit code of a command whose analysis failed (or whose store cannot be opened)."""
_BAD_INPUT_ERRORS = (InputError, NotFound, RuleError, ScenarioError, UnitError)

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
    """Turn onshore's own errors into a message on stderr and an exit code: 2 for bad input
    (rows, parameters, ids, paths, rule and scenario files), 1 for an analysis that failed."""

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
            raise typer.Exit(BAD_INPUT) from None
        except OnshoreError as e:
            from rich.markup import escape

            # the message is text, not markup ("pip install 'onshore[server]'" keeps its brackets)
            err_console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False)
            for reason in getattr(e, "reasons", []):
                err_console.print(f"  - {escape(str(reason))}", highlight=False)
            raise typer.Exit(BAD_INPUT if isinstance(e, _BAD_INPUT_ERRORS) else FAILED) from None

    return wrapper  # type: ignore[return-value]


def out_file(path: Path, what: str = "file", example: str = "out") -> Path:
    """``path`` as a file to write: refused (before any work) when it is a folder or its
    folder cannot be made."""
    if path.is_dir():
        raise InputError(f"{path} is a folder; give the {what} to write, e.g. {path / example}")
    if path.parent.exists() and not path.parent.is_dir():
        raise InputError(f"{path.parent} is a file, not a folder to write {path.name} into")
    return path


def out_folder(path: Path, names: list[str] | None = None, overwrite: bool = False) -> Path:
    """``path`` as a folder to write into: refused (before any work) when it is a file, or,
    without ``overwrite``, when it already holds files of the given ``names``."""
    if path.exists() and not path.is_dir():
        raise InputError(f"{path} is a file; give a folder to write into")
    if path.is_dir() and names and not overwrite:
        there = sorted(p.name for p in path.iterdir() if p.name in names or p.stem in names)
        if there:
            raise InputError(
                f"{path} already holds {', '.join(there[:5])}"
                + (f" and {len(there) - 5} more" if len(there) > 5 else "")
                + "; give another folder, or --overwrite to replace them"
            )
    return path


def scenario_path(scenario: Path) -> Path:
    """A scenario file as given, or, when no such file exists and it is a bare name, the
    bundled scenario of that name (``graphite_cutoff``, ``ses_korea``)."""
    if scenario.exists() or scenario.parent != Path("."):
        return scenario
    from importlib import resources

    folder = Path(str(resources.files("onshore") / "data" / "scenarios"))
    name = scenario.name.removesuffix(".yaml").removesuffix(".yml")
    bundled = folder / f"{name}.yaml"
    if bundled.exists():
        return bundled
    names = ", ".join(sorted(p.stem for p in folder.glob("*.yaml")))
    raise InputError(f"no scenario file {scenario}; the bundled scenarios are: {names}")


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
    rows: list[dict[str, Any]],
    fmt: Format,
    title: str = "",
    columns: list[str] | None = None,
    whole: tuple[str, ...] = (),
) -> None:
    """Print rows as a rich table, CSV or JSON (one object per row); the ``whole`` columns of
    a table are never cut or wrapped (ids to copy)."""
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
            wide = max((len(_fmt(r.get(c))) for r in rows), default=0) if c in whole else None
            t.add_column(
                c,
                justify="right" if rows and isinstance(rows[0].get(c), int | float) else "left",
                no_wrap=c in whole,
                min_width=wide,
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
