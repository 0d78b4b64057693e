"""`onshore risk` (concentration, dependency, single points of failure) and `onshore simulate`
(an export cut-off scenario, optionally Monte Carlo), and the demo's risk section."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from onshore.cli.app import (
    DbOption,
    EngineOption,
    Format,
    FormatOption,
    app,
    emit,
    err_console,
    handle_errors,
    open_network,
    out_folder,
    records,
    scenario_path,
)


def control_of(network: Any) -> dict[str, str] | None:
    try:
        from onshore.owners import controlling_country

        return controlling_country(network)
    except Exception:  # noqa: BLE001  (ownership data missing or inconsistent: fall back to own country)
        return None


@app.command()
@handle_errors
def risk(
    product: Annotated[
        str | None, typer.Option("--product", "-p", help="A product: facility id or material id.")
    ] = None,
    stage: Annotated[
        str | None, typer.Option("--stage", "-s", help="Only this stage (e.g. anode).")
    ] = None,
    threshold: Annotated[
        float, typer.Option("--threshold", help="Single points of failure: least share lost.")
    ] = 0.1,
    engine: EngineOption = "local",
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            "-o",
            help="Also write the concentration table to Parquet: a path or a URI (file://; "
            "with --engine spark also s3a://, gs://, abfss://, hdfs://).",
        ),
    ] = None,
    format: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """Concentration (HHI) per material and stage; with --product its dependency and single points
    of failure."""
    from onshore.engines import concentration_table
    from onshore.risk import single_points_of_failure

    network = open_network(db)
    if product is None:
        t = concentration_table(
            network, control=control_of(network), stage=stage, out=out, engine=engine
        )
        if out is not None:
            err_console.print(f"wrote {out}", highlight=False)
        emit(
            records(t),
            format,
            title="Concentration by material and stage (HHI 0-10 000; > 2 500 highly concentrated)",
        )
        if format == Format.table:
            err_console.print(
                "single points of failure are per product: onshore risk --product PRODUCT"
                + (f" --stage {stage}" if stage else "")
                + " (onshore products lists them)",
                highlight=False,
            )
        return
    if engine != "local":
        raise typer.BadParameter(
            f"the {engine} engine computes the concentration table (no --product)",
            param_hint="--engine",
        )
    if out is not None:
        raise typer.BadParameter("--out writes the concentration table (no --product)")
    spof = single_points_of_failure(network, product, threshold=threshold)
    if stage is not None:
        spof = spof[(spof["stage"] == stage) | (spof["kind"] == "company")]
    try:
        from onshore.risk.concentration import product_dependency

        dep = product_dependency(network, product)
    except ImportError:
        dep = pd.DataFrame()
    if stage is not None and len(dep):
        dep = dep[dep["stage"] == stage]
    if format == Format.json:
        sys.stdout.write(
            json.dumps(
                {"dependency": records(dep), "single_points_of_failure": records(spof)},
                indent=2,
                default=str,
            )
            + "\n"
        )
        return
    if len(dep):
        emit(records(dep), format, title=f"{product}: dependency per (raw material, stage)")
    emit(records(spof), format, title=f"{product}: single points of failure (share of supply lost)")


@app.command()
@handle_errors
def simulate(
    scenario: Annotated[
        Path,
        typer.Argument(
            help="The scenario YAML file, or the name of a bundled one (graphite_cutoff)."
        ),
    ],
    draws: Annotated[
        int,
        typer.Option("--draws", "-n", help="Monte Carlo draws (0: the scenario as written only)."),
    ] = 0,
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="Folder for CSV tables and charts.")
    ] = None,
    format: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """Simulate an export cut-off: shortfall per product and month, who is hit, time to recover."""
    from onshore.risk.cutoff import Simulator
    from onshore.risk.scenario import load_scenario

    if out is not None:
        out_folder(out)
    network = open_network(db)
    sc = load_scenario(scenario_path(scenario), network=network)
    sim = Simulator(network, sc)
    res = sim.result(sim.run())
    by_product = res.by_product()
    short = by_product[by_product["shortfall"] > 0]
    mc = _monte_carlo(network, sc, sim, draws, err_console) if draws > 0 else None
    if out is not None:
        from onshore.views.charts.risk import write_charts

        out.mkdir(parents=True, exist_ok=True)
        res.monthly.to_csv(out / "shortfall_monthly.csv", index=False)
        res.recovery.to_csv(out / "recovery.csv", index=False)
        if mc is not None:
            mc.summary().to_csv(out / "montecarlo.csv", index=False)
        for p in write_charts(out, by_product=by_product):
            err_console.print(f"wrote {p}")
    if format == Format.json:
        doc: dict[str, Any] = {
            "scenario": sc.name,
            "shortfall": records(short),
            "recovery": records(res.recovery),
        }
        if mc is not None:
            doc["montecarlo"] = {"total": mc.total(), "products": records(mc.summary())}
        sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
        return
    emit(
        records(short),
        format,
        title=f"{sc.name}: shortfall per product and month",
        columns=["material", "period", "baseline", "shortfall", "share", "customers_hit"],
    )
    emit(
        records(res.recovery),
        format,
        title="Products hit: peak share short, total lost, months to recover",
    )
    if mc is not None:
        emit(
            records(mc.summary().head(20)),
            format,
            title=(
                f"Monte Carlo ({len(mc.lost)} draws, seed {mc.seed}): share of horizon supply lost"
            ),
        )


def _monte_carlo(network: Any, sc: Any, sim: Any, draws: int, con: Console) -> Any:
    from onshore.risk.montecarlo import monte_carlo

    with Progress(
        TextColumn("Monte Carlo"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=con,
    ) as bar:
        task = bar.add_task("draws", total=draws)
        return monte_carlo(
            network,
            sc,
            draws=draws,
            simulator=sim,
            progress=lambda d, n: bar.update(task, completed=d),
        )
