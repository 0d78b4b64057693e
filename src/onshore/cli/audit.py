"""Commands: backup, restore; audit export | verify | head."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from onshore import settings
from onshore.cli.app import DbOption, app, console, err_console, handle_errors, open_db

audit_app = typer.Typer(
    help="The audit log: export it, verify its hash chain, print its head.", no_args_is_help=True
)
app.add_typer(audit_app, name="audit")


@app.command()
@handle_errors
def backup(
    path: Annotated[Path, typer.Argument(help="A new (or empty) folder for the backup.")],
    db: DbOption = None,
) -> None:
    """Back up every table, the review queue and the audit log, with a manifest of checksums."""
    from onshore.store.backup import backup as take

    with open_db(db) as store:
        m = take(store, path)
    rows = sum(t["rows"] for t in m["tables"].values())
    console.print(
        f"backed up {rows} rows to {path} (snapshot {m['snapshot'][:12]}, audit head "
        f"{m['audit_head']['seq']}:{m['audit_head']['hash']})",
        highlight=False,
    )


@app.command()
@handle_errors
def restore(
    path: Annotated[Path, typer.Argument(help="A folder written by 'onshore backup'.")],
    force: Annotated[
        bool, typer.Option("--force", help="Replace a store that is newer than the backup.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Restore a backup into the store, after checking every checksum and the audit chain."""
    from onshore.store.backup import restore as put_back

    target = settings.db_path(db)
    m = put_back(path, target, force=force)
    console.print(
        f"restored {path} into {target} (snapshot {m['snapshot'][:12]}, audit head "
        f"{m['audit_head']['seq']}:{m['audit_head']['hash']})",
        highlight=False,
    )


class AuditFormat(StrEnum):
    csv = "csv"
    json = "json"
    pdf = "pdf"


@audit_app.command("export")
@handle_errors
def audit_export(
    format: Annotated[AuditFormat, typer.Option("--format", "-f", help="csv, json or pdf.")] = (
        AuditFormat.csv
    ),
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    db: DbOption = None,
) -> None:
    """Every verdict (rule id and version, snapshot, date, evidence) and review decision (who)."""
    from onshore.views.audit import render

    with open_db(db) as store:
        data = render(store.con, format.value)
    if output is None:
        if format == AuditFormat.pdf:
            raise typer.BadParameter("a PDF goes to a file: give --output FILE")
        sys.stdout.write(data.decode("utf-8"))
    else:
        output.write_bytes(data)
        console.print(f"wrote {output}")


@audit_app.command("verify")
@handle_errors
def audit_verify(
    head: Annotated[
        str | None,
        typer.Option("--head", help="A head printed earlier by 'onshore audit head' (SEQ:HASH)."),
    ] = None,
    db: DbOption = None,
) -> None:
    """Recompute the hash chain; name the first row that breaks it (exit code 1)."""
    from onshore.store.audit import AuditLog

    with open_db(db) as store:
        log = AuditLog(store.con)
        problems, n = log.verify(head), len(log)
    if problems:
        for p in problems:
            err_console.print(f"[bold red]broken:[/] {p}", highlight=False)
        raise typer.Exit(1)
    anchored = f"; the anchored head {head} is in it" if head else ""
    console.print(f"audit log intact: {n} rows, hash chain verified{anchored}", highlight=False)


@audit_app.command("head")
@handle_errors
def audit_head(db: DbOption = None) -> None:
    """Print the audit chain's head (SEQ:HASH); keep it outside the store."""
    from onshore.store.audit import AuditLog

    with open_db(db) as store:
        sys.stdout.write(AuditLog(store.con).head() + "\n")
