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
    err_console,
    handle_errors,
    open_db,
    out_file,
)
from onshore.errors import OnshoreError

BuyerOption = Annotated[
    str,
    typer.Option(
        "--buyer", "-b", help="Buyer scope (see 'onshore rules list'), e.g. dod, dod_new_program."
    ),
]
OnOption = Annotated[str, typer.Option("--on", help="Evaluation date YYYY-MM-DD (default: today).")]

RulesOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--rules",
        help="A rule file of your own, checked as the bundled ones and added to them "
        "(repeatable).",
        show_default=False,
    ),
]
RulesDirOption = Annotated[
    Path | None,
    typer.Option(
        "--rules-dir", help="A folder of your own rule files (*.yaml).", show_default=False
    ),
]


def _ruleset(files: list[Path] | None, folder: Path | None) -> Any:
    """The bundled rules, plus the user's rule files when given (validated the same way)."""
    from onshore.rules import bundled, load_rules

    extra = [*(files or []), *([folder] if folder else [])]
    return load_rules(extra=extra) if extra else bundled()


PeriodOption = Annotated[
    str | None,
    typer.Option(
        "--period",
        help="Decide from the flows of this period, e.g. 2025 (default: the latest year with "
        "flows in the product's supply chain).",
        show_default=False,
    ),
]


def facility_of(product: str) -> str:
    """The plant of a product id (``FACILITY`` or ``FACILITY:MATERIAL``)."""
    return product.split(":", 1)[0]


def _period(net: Any, period: str | None, product: str | None) -> tuple[str | None, str]:
    """The period to decide from and how it was chosen, in words."""
    from onshore.compliance.context import decision_period

    return decision_period(net, period, product)


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
            "indicative": bool(getattr(v, "indicative", False)),
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
    rules: RulesOption = None,
    rules_dir: RulesDirOption = None,
    period: PeriodOption = None,
    db: DbOption = None,
    fmt: FormatOption = Format.table,
) -> None:
    """May BUYER buy PRODUCT on a date? One verdict per rule, with reasons (audited)."""
    from onshore.compliance import check, check_all, summary
    from onshore.network import Network
    from onshore.store.audit import AuditLog

    if not all_ and not product:
        raise typer.BadParameter("give a PRODUCT or --all")
    ruleset = _ruleset(rules, rules_dir)
    with open_db(db) as store:
        net, log = Network.from_store(store), AuditLog(store.con)
        used, how = _period(net, period, None if all_ else facility_of(product or ""))
        if fmt == Format.table:
            err_console.print(f"period: {how}", highlight=False)
        if all_:
            emit(
                summary(check_all(net, buyer, _date(on), rules=ruleset, audit=log, period=used)),
                fmt,
                title=f"{buyer} on {_date(on)}, {how.split(' (')[0]}",
            )
        else:
            from onshore.compliance import data_basis

            rows = _rows(
                check(net, product or "", buyer, _date(on), rules=ruleset, audit=log, period=used)
            )
            emit(
                rows,
                fmt,
                title=f"{product} for {buyer} on {_date(on)}, {how.split(' (')[0]}",
                columns=None if fmt == Format.json else ["id", "verdict", "reason"],
            )
            if fmt == Format.table:
                from onshore.trace import per_product

                try:
                    per = f"; quantities {per_product(net, product or '', used)}"
                except OnshoreError:
                    per = ""
                basis = data_basis(net, product or "", used)["text"]
                console.print(f"data basis: {basis}{per}; period: {how}")


@rules_app.command("list")
@handle_errors
def rules_list(
    fmt: FormatOption = Format.table,
    all_columns: Annotated[
        bool,
        typer.Option("--all-columns", help="Also the test kind, confirmation and title."),
    ] = False,
    rules: RulesOption = None,
    rules_dir: RulesDirOption = None,
) -> None:
    """Every rule: id, dates, buyers, status and how well it is confirmed."""
    short = ["id", "from", "until", "buyers", "status"]
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
            for r in _ruleset(rules, rules_dir).rules.values()
        ],
        fmt,
        title="rules" if all_columns or fmt != Format.table else "rules (--all-columns for more)",
        columns=None if all_columns or fmt != Format.table else short,
        whole=("id",),
    )


@rules_app.command("show")
@handle_errors
def rules_show(
    rule_id: str,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="yaml (as in the rule files) or json.")
    ] = "yaml",
    rules: RulesOption = None,
    rules_dir: RulesDirOption = None,
) -> None:
    """One rule in full, as YAML: citation, sources, reading and test."""
    import json
    import sys

    import yaml

    if fmt not in ("yaml", "json", "table"):
        raise typer.BadParameter("yaml or json", param_hint="--format")
    d = _ruleset(rules, rules_dir).get(rule_id).model_dump(mode="json", exclude_none=True)
    if fmt == "json":
        sys.stdout.write(json.dumps(d, indent=2) + "\n")
    else:
        sys.stdout.write(yaml.safe_dump(d, sort_keys=False, allow_unicode=True, width=96))


@app.command("owners")
@handle_errors
def owners_cmd(
    company: Annotated[
        str | None, typer.Argument(help="A company id; default every holding.")
    ] = None,
    engine: EngineOption = "local",
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            "-o",
            help="Write the effective holdings to Parquet: a path or a URI (file://; with "
            "--engine spark also s3a://, gs://, abfss://, hdfs://).",
        ),
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
    prepared_by: Annotated[
        str, typer.Option("--prepared-by", help="Name for the sign-off block.")
    ] = "",
    reviewed_by: Annotated[
        str, typer.Option("--reviewed-by", help="Reviewer's name for the sign-off block.")
    ] = "",
    rules: RulesOption = None,
    rules_dir: RulesDirOption = None,
    period: PeriodOption = None,
    db: DbOption = None,
) -> None:
    """A report an officer can sign: verdicts, rules, evidence chains, what would settle each
    UNKNOWN, estimates, stage Sankey, sign-off and the audit entries (HTML, and PDF)."""
    from onshore.compliance import check
    from onshore.network import Network
    from onshore.store.audit import AuditLog
    from onshore.views.report import write_report

    out_file(out, "HTML file", "report.html")
    ruleset = _ruleset(rules, rules_dir)
    with open_db(db) as store:
        net = Network.from_store(store)
        log = AuditLog(store.con)
        used, how = _period(net, period, facility_of(product))
        vs = check(net, product, buyer, _date(on), rules=ruleset, audit=log, period=used)
        entry = log.last(len(vs)) if vs else None
    err_console.print(f"period: {how}", highlight=False)
    written = write_report(
        net,
        product,
        vs,
        out,
        pdf=pdf,
        prepared_by=prepared_by,
        reviewed_by=reviewed_by,
        signed_on=dt.date.today().isoformat() if prepared_by else "",
        audit=entry,
        period=used,
        period_text=how,
    )
    for p in written:
        typer.echo(f"wrote {p}")
    if entry:
        typer.echo(f"audit entries #{entry['first']}-#{entry['last']} (hash {entry['hash'][:16]})")
