"""Screening commands: screen (a supplier list against the store and the restricted lists)
and review (the queue of name pairs a person must judge)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from onshore.cli.app import (
    DbOption,
    EngineOption,
    Format,
    FormatOption,
    app,
    console,
    emit,
    handle_errors,
)
from onshore.errors import OnshoreError


def read_supplier_list(path: Path) -> list[dict[str, Any]]:
    """Rows of a CSV or XLSX supplier list with a ``name`` column (country, id, address
    optional)."""
    import pandas as pd

    if path.suffix.lower() in (".xlsx", ".xlsm"):
        df = pd.read_excel(path, dtype=str)
    elif path.suffix.lower() == ".csv":
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    else:
        raise OnshoreError(f"{path}: give a .csv or .xlsx file")
    df.columns = [str(c).strip().lower() for c in df.columns]
    if "name" not in df.columns:
        raise OnshoreError(f"{path}: no 'name' column (columns: {', '.join(df.columns)})")
    rows: list[dict[str, Any]] = df.fillna("").to_dict("records")
    return rows


def _flat(r: dict[str, Any], fmt: Format) -> dict[str, Any]:
    lists = [
        f"{h['list']}:{h['entry']}"
        + (f" ({', '.join(h['rules'])})" if h["rules"] else "")
        + (f" [{h['state']}]" if h.get("state") else "")
        for h in r["lists"]
    ]
    if fmt == Format.json:
        return r
    return {
        **r,
        "lists": "; ".join(lists),
        "reasons": "; ".join(r["reasons"]),
        "candidates": " ".join(r["candidates"]),
    }


@app.command()
@handle_errors
def screen(
    file: Annotated[
        Path,
        typer.Argument(help="CSV or XLSX with a 'name' column (country, id, address optional)."),
    ],
    format: FormatOption = Format.table,
    queue: Annotated[
        bool, typer.Option("--queue/--no-queue", help="Add undecided pairs to the review queue.")
    ] = True,
    engine: EngineOption = "local",
    dest: Annotated[
        str | None,
        typer.Option(
            "--out",
            "-o",
            help="Also write the rows to Parquet (lists, reasons and candidates as text): a "
            "path or a URI (file://; with --engine spark also s3a://, gs://, abfss://, hdfs://).",
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Link each supplier row to a company in the store and to the restricted lists, or say
    that it cannot: match, score (0..1), decision (match, review, no_match), lists and reasons."""
    import pandas as pd

    from onshore.cli.app import err_console, open_db
    from onshore.compliance.screen import pending_pairs
    from onshore.engines import get
    from onshore.engines import screen as run
    from onshore.network import Network
    from onshore.store.reviews import ReviewQueue

    rows = read_supplier_list(file)
    with open_db(db) as store:
        net = Network.from_store(store)
        out = run(net, rows, engine=engine)
        added = ReviewQueue(store.con).add(pending_pairs(out)) if queue else 0
    if dest is not None:
        get(engine).write(pd.DataFrame([_flat(r, Format.table) for r in out]), dest)
        err_console.print(f"wrote {dest}", highlight=False)
    cols = ["input", "match", "name", "score", "decision", "lists", "reasons"]
    emit([_flat(r, format) for r in out], format, title=f"screened {len(out)} rows", columns=cols)
    if format == Format.table:
        n = {d: sum(r["decision"] == d for r in out) for d in ("match", "review", "no_match")}
        console.print(
            f"{n['match']} match, {n['review']} review, {n['no_match']} no match; "
            f"{added} new pair(s) queued for `onshore review`"
        )


@app.command()
@handle_errors
def review(
    pair: Annotated[
        int | None,
        typer.Argument(help="The pair number shown by `onshore review`.", show_default=False),
    ] = None,
    decision: Annotated[
        str | None, typer.Option("--decide", help="same, different or unsure.", show_default=False)
    ] = None,
    by: Annotated[str, typer.Option("--by", help="Who decides (recorded and audited).")] = "",
    all_: Annotated[
        bool, typer.Option("--all", help="List every judgement, not only pending.")
    ] = False,
    format: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """The review queue: pending name pairs; `onshore review N --decide same --by NAME` judges
    one. Judgements are kept in the store and applied to every later screen, import and check."""
    from onshore.cli.app import open_db
    from onshore.store.reviews import ReviewQueue

    with open_db(db) as store:
        q = ReviewQueue(store.con)
        if pair is not None:
            if decision is None:
                raise typer.BadParameter("give --decide same|different|unsure")
            rows = q.latest()
            hit = rows[rows["seq"] == pair]
            if not len(hit):
                raise OnshoreError(f"no pair {pair}; see `onshore review`")
            r = q.decide(str(hit.iloc[0]["key"]), str(hit.iloc[0]["candidate"]), decision, by)
            console.print(
                f"recorded: '{r['input']}' and {r['candidate']} are {decision} (by {by}, {r['at']})"
            )
            return
        df = q.latest() if all_ else q.pending()
    cols = ["seq", "input", "candidate", "name", "score", "decision", "by", "at"]
    rows_out = (
        [
            {c: (None if isinstance(v, float) and math.isnan(v) else v) for c, v in r.items()}
            for r in df[cols].to_dict("records")
        ]
        if len(df)
        else []
    )
    emit(
        [{("pair" if k == "seq" else k): v for k, v in r.items()} for r in rows_out],
        format,
        title=f"{len(rows_out)} pair(s){'' if all_ else ' to review'}",
    )


__all__ = ["read_supplier_list", "review", "screen"]
