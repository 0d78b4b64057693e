"""Store commands: init, import, import-io, export, info."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from onshore import settings
from onshore.cli.app import (
    DbOption,
    Format,
    app,
    console,
    emit,
    handle_errors,
    open_db,
    out_folder,
    print_warnings,
)


@app.command()
@handle_errors
def init(db: DbOption = None) -> None:
    """Create an empty store (a DuckDB file); an existing store is left as it is."""
    path = settings.db_path(db)
    existed = path.exists()
    with open_db(db, create=True):
        pass
    console.print(f"{'store already exists' if existed else 'created store'}: {path}")


@app.command("import")
@handle_errors
def import_(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help=(
                "CSV, XLSX, Parquet or JSON files, one table each "
                "(a workbook: one sheet per table)."
            ),
            show_default=False,
        ),
    ] = None,
    reference: Annotated[
        bool,
        typer.Option(
            "--reference", help="Import the bundled reference network of the lithium-ion chain."
        ),
    ] = False,
    screen: Annotated[
        bool,
        typer.Option(
            "--screen",
            help="Link incoming companies to those in the store by name (no duplicates); "
            "undecided pairs go to `onshore review`.",
        ),
    ] = False,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Refuse extra columns and sheets that are not tables instead of ignoring them.",
        ),
    ] = False,
    db: DbOption = None,
) -> None:
    """Import tables into the store, all-or-nothing: any bad row and nothing is written.

    Files are named after their table: companies, ownership, facilities, materials, boms,
    flows, licences (e.g. facilities.csv, flows_2025.parquet). Re-importing updates by id;
    a `deleted` column (true, yes, 1 or x) retires rows by key in the same import, audited.
    What was interpreted (51% as 0.51, an encoding) or ignored (a notes sheet) is listed.
    """
    from onshore.io.load import import_files, reference_files

    files: list[Path | str] = list(paths or [])
    if reference:
        files = [*reference_files(), *files]
    if not files:
        raise typer.BadParameter("give files to import, or --reference")
    # the bundled network must pass the physical checks; a user's own data gets warnings
    physical = "error" if reference and not paths else "warn"
    linked: list[dict[str, object]] = []
    with open_db(db, create=True) as store, console.status("importing") as status:
        link = None
        queue: list[dict[str, object]] = []
        if screen:
            from onshore.compliance.screen import link_batch
            from onshore.network import Network

            net = Network.from_store(store)

            def link(batch):  # type: ignore[no-untyped-def]
                out, found = link_batch(net, batch, queue)
                linked.extend(found)
                return out

        written = import_files(
            store,
            files,
            progress=lambda msg: status.update(msg),
            physical=physical,
            link=link,
            strict=strict,
        )
        if queue:
            from onshore.store.reviews import ReviewQueue

            ReviewQueue(store.con).add(queue)
    if linked:
        emit(linked, Format.table, title=f"linked {len(linked)} companies to the store")
    print_warnings(written.warnings)
    emit(
        [{"table": t, "rows written": n} for t, n in written.items()],
        Format.table,
        title=f"imported {sum(written.values())} rows (snapshot {written.snapshot[:12]})",
    )
    if written.deleted:
        emit(
            [{"table": t, "rows deleted": n} for t, n in written.deleted.items()],
            Format.table,
            title=f"deleted {sum(written.deleted.values())} rows (recorded in the audit log)",
        )
    shown = [f for f in written.findings if f.level in ("error", "warning")]
    if shown:
        console.print(
            f"[yellow]{len(shown)} physical warning(s)[/] (capacity, producing periods, "
            "recipes; `onshore validate` lists them all):"
        )
        for f in shown[:20]:
            console.print(f"  {f.level}: {f.check}: {f.node}: {f.message}", highlight=False)


@app.command()
@handle_errors
def delete(
    table: Annotated[str, typer.Argument(help="The table: companies, facilities, flows, ...")],
    ids: Annotated[
        list[str],
        typer.Argument(
            help="The keys of the rows: an id, or the key columns joined by ':' "
            "(ownership OWNER:OWNED; flows SUPPLIER:CUSTOMER:MATERIAL:PERIOD).",
            show_default=False,
        ),
    ],
    db: DbOption = None,
) -> None:
    """Remove rows by key, all-or-nothing and audited; refused while other rows refer to them."""
    from onshore.errors import InputError
    from onshore.records.model import TABLES

    spec = TABLES.get(table)
    if spec is None:
        raise InputError(f"no table {table!r}; the tables are {', '.join(TABLES)}")
    keys = [spec.parse_key(i) for i in ids]
    with open_db(db) as store:
        n = store.delete(table, keys)
    console.print(f"removed {n} row(s) from {table} (recorded in the audit log)")


class ExportFormat(StrEnum):
    parquet = "parquet"
    csv = "csv"


@app.command("import-io")
@handle_errors
def import_io_(
    folder: Annotated[
        Path,
        typer.Argument(
            help="An IO system saved by pymrio (save_all): Z, Y, x and factor_inputs/F.",
            show_default=False,
        ),
    ],
    period: Annotated[str, typer.Option("--period", help="The period of the flows.")] = "2020",
    factors: Annotated[
        str,
        typer.Option("--factors", help="The extension whose F are the factor inputs."),
    ] = "factor_inputs",
    country: Annotated[
        list[str] | None,
        typer.Option(
            "--country",
            help="REGION=CC: the ISO code of a region (default: the region when it is one, "
            "else XX).",
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Import an input-output system: one facility per region-sector, one material per
    sector (USD), recipes Z / x and F / x, flows Z and F (the diagonal is own use).

    Value added by region of one USD of a region-sector's output is then
    `onshore trace REGION/SECTOR --by raw,stage,company` (the mine rows: pymrio's M by
    region).
    """
    from onshore.io.iotable import import_io, read_folder

    cmap: dict[str, str] = {}
    for c in country or []:
        if "=" not in c:
            raise typer.BadParameter(f"--country REGION=CC, not {c!r}")
        r, code = c.split("=", 1)
        cmap[r.strip()] = code.strip()
    Z, Y, x, F = read_folder(folder, factors)
    with open_db(db, create=True) as store, console.status("importing") as status:
        written = import_io(
            store,
            Z,
            Y,
            x,
            F,
            period=period,
            countries=cmap,
            source=str(folder),
            progress=lambda msg: status.update(msg),
        )
    emit(
        [{"table": t, "rows written": n} for t, n in written.items()],
        Format.table,
        title=f"imported {sum(written.values())} rows (snapshot {written.snapshot[:12]})",
    )


@app.command()
@handle_errors
def export(
    folder: Annotated[Path, typer.Argument(help="Folder to write one file per table into.")],
    format: Annotated[
        ExportFormat, typer.Option("--format", help="parquet or csv.")
    ] = ExportFormat.parquet,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace table files already in the folder.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Export every table of the store; importing the files into a new store round-trips exactly."""
    from onshore.records.model import TABLES

    out_folder(folder, [f"{t}.{format.value}" for t in TABLES], overwrite)
    with open_db(db) as store:
        files = store.export(folder, format.value)
    console.print(f"wrote {len(files)} files to {folder}")


@app.command()
@handle_errors
def info(db: DbOption = None) -> None:
    """What is in the store: rows per table, stages and countries."""
    with open_db(db) as store:
        counts = store.counts()
        path = store.path
        snap = store.snapshot_hash()[:12]
        stages = store.con.execute(
            "SELECT stage, count(*), count(DISTINCT country) FROM facilities GROUP BY stage ORDER "
            "BY 2 DESC"
        ).fetchall()
    emit(
        [{"table": t, "rows": n} for t, n in counts.items()],
        Format.table,
        title=f"{path} (snapshot {snap})",
    )
    if stages:
        emit(
            [{"stage": s, "facilities": n, "countries": c} for s, n, c in stages],
            Format.table,
            title="facilities by stage",
        )
