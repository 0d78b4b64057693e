"""Commands: check, check --all, rules list|show, owners, report; and the demo's checks."""

from __future__ import annotations

import datetime as dt
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
    open_db,
)

BuyerOption = Annotated[
    str,
    typer.Option(
        "--buyer", "-b", help="Buyer scope (see 'onshore rules list'), e.g. dod, dod_new_program."
    ),
]
OnOption = Annotated[str, typer.Option("--on", help="Evaluation date YYYY-MM-DD (default: today).")]

rules_app = typer.Typer(help="The rules as data: list them, show one.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


def _date(s: str) -> dt.date:
    try:
        return dt.date.fromisoformat(s) if s else dt.date.today()
    except ValueError:
        raise typer.BadParameter(f"a date as YYYY-MM-DD, not {s!r}") from None


def _rows(vs: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "id": v.rule_id,
            "verdict": v.verdict.value,
            "reason": v.reason,
            "evidence": v.evidence,
            "settle": v.settle,
            "version": v.version,
            "confirmation": v.confirmation,
            "sources": v.sources,
        }
        for v in vs
    ]


@app.command("check")
@handle_errors
def check_cmd(
    product: Annotated[
        str | None, typer.Argument(help="A product: the facility id of the plant that makes it.")
    ] = None,
    buyer: BuyerOption = "dod",
    on: OnOption = "",
    all_: Annotated[bool, typer.Option("--all", help="Every cell and pack product.")] = False,
    db: DbOption = None,
    fmt: FormatOption = Format.table,
) -> None:
    """May BUYER buy PRODUCT on a date? One verdict per rule, with reasons (audited)."""
    from onshore.compliance import check, check_all, summary
    from onshore.network import Network
    from onshore.store.audit import AuditLog

    if not all_ and not product:
        raise typer.BadParameter("give a PRODUCT or --all")
    with open_db(db) as store:
        net, log = Network.from_store(store), AuditLog(store.con)
        if all_:
            emit(
                summary(check_all(net, buyer, _date(on), audit=log)),
                fmt,
                title=f"{buyer} on {_date(on)}",
            )
        else:
            from onshore.compliance import data_basis

            rows = _rows(check(net, product or "", buyer, _date(on), audit=log))
            emit(
                rows,
                fmt,
                title=f"{product} for {buyer} on {_date(on)}",
                columns=None if fmt == Format.json else ["id", "verdict", "reason"],
            )
            if fmt == Format.table:
                console.print(f"data basis: {data_basis(net, product or '')['text']}")


@rules_app.command("list")
@handle_errors
def rules_list(fmt: FormatOption = Format.table) -> None:
    """Every rule: id, dates, buyers, status and how well it is confirmed."""
    from onshore.rules import bundled

    emit(
        [
            {
                "id": r.id,
                "from": str(r.effective_from),
                "until": str(r.effective_until or ""),
                "buyers": ", ".join(r.buyers),
                "test": r.test.kind,
                "status": r.status,
                "confirmation": r.confirmation,
                "title": r.title,
            }
            for r in bundled().rules.values()
        ],
        fmt,
        title="rules",
    )


@rules_app.command("show")
@handle_errors
def rules_show(rule_id: str, fmt: FormatOption = Format.table) -> None:
    """One rule in full: citation, sources, reading and test."""
    from onshore.rules import bundled

    d = bundled().get(rule_id).model_dump(mode="json")
    emit(
        [d] if fmt == Format.json else [{"key": k, "value": v} for k, v in d.items()],
        fmt,
        title=rule_id,
    )


@app.command("owners")
@handle_errors
def owners_cmd(
    company: Annotated[
        str | None, typer.Argument(help="A company id; default every holding.")
    ] = None,
    engine: EngineOption = "local",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the effective holdings to Parquet.")
    ] = None,
    db: DbOption = None,
    fmt: FormatOption = Format.table,
) -> None:
    """The owners of COMPANY up to its ultimate controller, with effective shares and flags;
    without COMPANY (or with --engine spark) the effective holdings (I - S)^-1."""
    from onshore.cli.app import open_network
    from onshore.engines import effective_ownership
    from onshore.owners import controlling_country, feoc, upstream_owners

    net = open_network(db)
    if company is None or engine != "local" or out is not None:
        eff = effective_ownership(net, out=out, engine=engine)
        if company is not None:
            eff = eff[eff["owned"] == company]
        if out is not None:
            typer.echo(f"wrote {out}")
        more = "; first 500" if len(eff) > 500 else ""
        title = f"Effective holdings ({len(eff):,} rows{more})"
        emit(eff.head(500).to_dict("records"), fmt, title=title)
        return
    rows = upstream_owners(net, company).to_dict("records")
    f = feoc(net).loc[company]
    emit(
        rows,
        fmt,
        title=f"{company}: controlling country {controlling_country(net)[company]}; "
        f"FEOC: {'yes - ' + f['reason'] if f['feoc'] else 'no'}",
    )


@app.command("report")
@handle_errors
def report_cmd(
    product: str,
    buyer: BuyerOption = "dod",
    on: OnOption = "",
    out: Annotated[Path, typer.Option("-o", "--out", help="The HTML file to write.")] = Path(
        "report.html"
    ),
    pdf: Annotated[
        bool, typer.Option("--pdf", help="Also write a PDF (needs a PDF engine).")
    ] = False,
    db: DbOption = None,
) -> None:
    """One self-contained HTML report: verdicts, evidence, origin Sankey, owners, sources."""
    from onshore.compliance import check
    from onshore.network import Network
    from onshore.store.audit import AuditLog
    from onshore.views.report import write_report

    with open_db(db) as store:
        net = Network.from_store(store)
        vs = check(net, product, buyer, _date(on), audit=AuditLog(store.con))
    for p in write_report(net, product, vs, out, pdf=pdf):
        typer.echo(f"wrote {p}")
