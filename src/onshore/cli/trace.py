"""`onshore trace` (origin of a product by raw material, stage and country, with paths) and
`onshore validate` (conservation checks), and the demo's trace section."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import pandas as pd
import typer
from rich.table import Table

from onshore.cli.app import (
    DbOption,
    EngineOption,
    Format,
    FormatOption,
    app,
    console,
    emit,
    handle_errors,
    open_network,
    records,
)

CAPTION = (
    "share: of the (raw, stage) total, unknown included. A stage met twice on a path (nickel "
    "refined "
    "in Indonesia, then in China) counts at each plant, so a stage's quantities may add up to more "
    "than the raw content; the mine rows add up to it exactly."
)


def trace_table(df: pd.DataFrame, title: str) -> Table:
    t = Table(title=title, caption=CAPTION if "share" in df.columns else None)
    for c in df.columns:
        t.add_column(c, justify="right" if c in ("quantity", "share") else "left")
    for r in df.itertuples(index=False):
        cells = []
        for c, v in zip(df.columns, r, strict=True):
            cells.append(
                f"{v:.1%}" if c == "share" else f"{v:.4g}" if isinstance(v, float) else str(v)
            )
        t.add_row(*cells)
    return t


def trace_command(
    product: str,
    by: str = "raw,stage,country",
    weight: str = "mass",
    period: str | None = None,
    explain: bool = False,
    top: int = 5,
    fmt: Format = Format.table,
    db: Path | None = None,
) -> None:
    """Print the trace of one product (and with ``explain`` the heaviest paths of its largest
    tags)."""
    from onshore.trace import heaviest, trace

    network = open_network(db)
    fields = tuple(f.strip() for f in by.split(",") if f.strip())
    df = trace(network, product, by=fields, weight=weight, period=period)  # type: ignore[arg-type]
    if fmt != Format.table:
        emit(records(df), fmt, columns=list(df.columns))
        return
    from onshore.trace import per_product

    unit = "USD" if weight == "cost" else "units of the raw material (kg)"
    console.print(
        trace_table(
            df,
            f"{product}: {per_product(network, product, period)}, {unit}; share per "
            f"({', '.join(f for f in fields if f in ('raw', 'stage'))})",
        )
    )
    if explain:
        for tp in heaviest(network, product, tags=top, top=top, by=fields, weight=weight,
                           period=period):
            console.print(
                f"[bold]{', '.join(f'{k}={v}' for k, v in tp.tag.items())}[/]: {tp.quantity:.4g}"
            )
            for p in tp.paths:
                path = "(other paths)" if p.residual else " -> ".join(p.nodes)
                console.print(f"  {p.weight:12.4g}  {path}", highlight=False)


def validate_command(db: Path | None = None, fmt: Format = Format.table) -> None:
    """Run the trace's conservation checks; exit 1 when one fails."""
    from onshore.trace import validate

    findings = validate(open_network(db))
    rows = [
        {"level": f.level, "check": f.check, "node": f.node, "message": f.message} for f in findings
    ]
    errors = sum(f.level == "error" for f in findings)
    if fmt != Format.table:
        emit(rows, fmt, columns=["level", "check", "node", "message"])
    else:
        counts = pd.Series([f"{f.level}: {f.check}" for f in findings]).value_counts()
        for k, v in counts.items():
            console.print(f"{v:6d}  {k}")
        shown = [r for r in rows if r["level"] != "info"][:50]
        if shown:
            emit(shown, fmt, title="Findings (errors and warnings, first 50)")
        console.print(
            "[green]conservation checks pass[/]" if errors == 0 else f"[red]{errors} error(s)[/]"
        )
    if errors:
        raise typer.Exit(1)


@app.command("trace")
@handle_errors
def trace_cmd(
    product: Annotated[
        str | None,
        typer.Argument(help="FACILITY (when it makes one material) or FACILITY:MATERIAL."),
    ] = None,
    by: Annotated[
        str,
        typer.Option(
            "--by", help="Tag fields: raw, stage, country, controlling_country, company, facility."
        ),
    ] = "raw,stage,country",
    weight: Annotated[
        str, typer.Option("--weight", help="mass (kg of raw per unit) or cost (USD per unit).")
    ] = "mass",
    period: Annotated[
        str | None, typer.Option("--period", help="Flows whose period starts with this, e.g. 2025.")
    ] = None,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain", help="Also show the heaviest upstream paths of the largest tags."
        ),
    ] = False,
    top: Annotated[int, typer.Option("--top", help="How many tags and paths to explain.")] = 5,
    all_: Annotated[
        bool,
        typer.Option(
            "--all", help="Every product (cell, pack, device) at once (with --out: to Parquet)."
        ),
    ] = False,
    all_nodes: Annotated[
        bool,
        typer.Option(
            "--all-nodes",
            help="Every node (mines, refiners, ... too) at once (with --out: to Parquet).",
        ),
    ] = False,
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            "-o",
            help="With --all or --all-nodes: the directory to write (with --engine spark also "
            "a URI: file://, s3a://, gs://, abfss://, hdfs://).",
        ),
    ] = None,
    precision: Annotated[
        str | None,
        typer.Option(
            "--precision",
            help=(
                "With --all --out or --all-nodes --out: how the values are stored, float32 "
                "(the default on the local engine: each value rounded to 6e-8 relative, half "
                "the bytes) or float64 (exact; the only one on spark)."
            ),
        ),
    ] = None,
    engine: EngineOption = "local",
    format: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """Where a product comes from: raw material, processing stage and country (or owner nation),
    per unit."""
    if weight not in ("mass", "cost"):
        raise typer.BadParameter("mass or cost", param_hint="--weight")
    if precision not in (None, "float32", "float64"):
        raise typer.BadParameter("float32 or float64", param_hint="--precision")
    if precision is not None and not ((all_nodes or all_) and out is not None):
        raise typer.BadParameter(
            "only with --all --out or --all-nodes --out", param_hint="--precision"
        )
    if all_nodes:
        if engine != "local" and precision == "float32":
            raise typer.BadParameter(
                f"the {engine} engine writes float64", param_hint="--precision"
            )
        trace_all_command(by, weight, period, out, engine, format, db, precision)
        return
    if all_:
        if engine != "local":
            raise typer.BadParameter(
                f"the {engine} engine traces every node (--all-nodes); every product runs "
                "locally",
                param_hint="--engine",
            )
        trace_products_command(
            by, weight, period, None if out is None else Path(out), format, db, precision
        )
        return
    if product is None:
        raise typer.BadParameter("give a PRODUCT, --all or --all-nodes")
    if engine != "local":
        raise typer.BadParameter(
            f"the {engine} engine traces every node (--all-nodes); one product runs locally",
            param_hint="--engine",
        )
    trace_command(product, by, weight, period, explain, top, format, db)


@app.command("products")
@handle_errors
def products_cmd(
    stage: Annotated[
        list[str] | None,
        typer.Option("--stage", "-s", help="Only this stage (repeatable), e.g. cell, pack."),
    ] = None,
    company: Annotated[
        list[str] | None, typer.Option("--company", "-c", help="Only this company (repeatable).")
    ] = None,
    format: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """The products of the store, with the ids that trace, check, report and risk take, and
    the unit a traced quantity is per."""
    from onshore.records.model import STAGE_RANK
    from onshore.trace import products

    bad = [s for s in stage or [] if s not in STAGE_RANK]
    if bad:
        raise typer.BadParameter(
            f"{', '.join(bad)}; stages are {', '.join(STAGE_RANK)}", param_hint="--stage"
        )
    df = products(open_network(db), stage or (), company or ())
    cols = ["product", "stage", "company", "country", "per"]
    emit(records(df), format, title=f"{len(df)} products", columns=cols, whole=("product",))


def trace_products_command(
    by: str,
    weight: str,
    period: str | None,
    out: Path | None,
    fmt: Format,
    db: Path | None,
    precision: str | None = None,
) -> None:
    """Trace every cell, pack and device: write the Parquet directory (float32 unless
    ``precision`` says float64) or print the rows."""
    from onshore.trace import PRODUCT_STAGES, products, trace_products, write_products

    network = open_network(db)
    fields = tuple(f.strip() for f in by.split(",") if f.strip())
    w: Literal["mass", "cost"] = "cost" if weight == "cost" else "mass"
    if out is not None:
        p: Literal["float64", "float32"] = "float64" if precision == "float64" else "float32"
        res = write_products(network, out, by=fields, weight=w, period=period, precision=p)
        console.print(f"wrote {res} (read it with onshore.trace.read_all)")
        return
    prods = products(network, PRODUCT_STAGES, period=period)["product"].tolist()
    df = trace_products(network, prods, by=fields, weight=w, period=period)
    emit(
        records(df.head(200)),
        fmt,
        title=f"{len(prods):,} products traced ({len(df):,} rows; first 200)",
    )


def trace_all_command(
    by: str,
    weight: str,
    period: str | None,
    out: str | None,
    engine: str,
    fmt: Format,
    db: Path | None,
    precision: str | None = None,
) -> None:
    """Trace every node on an engine; write the compact Parquet directory or print rows. The
    local engine writes each (raw, stage) block in the smaller layout, in ``precision``
    (default float32: the written values round to 2^-24 relative; traces and verdicts are
    computed in float64 and do not read these files)."""
    from onshore.engines import trace_all

    network = open_network(db)
    fields = tuple(f.strip() for f in by.split(",") if f.strip())
    w: Literal["mass", "cost"] = "cost" if weight == "cost" else "mass"
    kw: dict[str, str] = {}
    if engine == "local" and out is not None:
        kw = {"layout": "auto", "precision": precision or "float32"}
    res = trace_all(network, by=fields, weight=w, period=period, out=out, engine=engine, **kw)
    if not isinstance(res, pd.DataFrame):
        console.print(f"wrote {res} (read it with onshore.trace.read_all)")
        return
    emit(records(res.head(200)), fmt, title=f"Every node traced ({len(res):,} rows; first 200)")


@app.command("validate")
@handle_errors
def validate_cmd(db: DbOption = None, format: FormatOption = Format.table) -> None:
    """Conservation checks: mass balance at every node, BOM-chain content, shares summing to one."""
    validate_command(db, format)
