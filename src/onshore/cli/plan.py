"""`onshore plan`: the least-cost onshoring plan for a scenario file, and the demo section."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from onshore.cli.app import (
    DbOption,
    Format,
    FormatOption,
    app,
    emit,
    err_console,
    handle_errors,
    open_network,
    out_folder,
    scenario_path,
)

if TYPE_CHECKING:
    from onshore.plan import PlanResult


@app.command()
@handle_errors
def plan(
    scenario: Annotated[
        Path,
        typer.Argument(help="The scenario YAML file, or the name of a bundled one (ses_korea)."),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--out",
            help="Folder for the plan tables (CSV, Parquet), costs, rule costs and charts.",
        ),
    ] = None,
    format: FormatOption = Format.table,
    db: DbOption = None,
    rule_costs: Annotated[
        bool,
        typer.Option("--rule-costs/--no-rule-costs", help="Price each rule by solving without it."),
    ] = True,
    mip_gap: Annotated[float, typer.Option("--mip-gap", help="Relative MIP gap for HiGHS.")] = 1e-4,
) -> None:
    """Solve a scenario: what to make where, what to build when, and what each rule costs."""
    from onshore import plan as planner

    if out is not None:
        out_folder(out)
    s = planner.load_scenario(scenario_path(scenario))
    uses_store = db is not None or any(
        p.facility for p in [*s.plants.values(), *s.candidates.values()]
    )
    network = open_network(db) if uses_store else None
    res = solve_scenario(s, network, rule_costs, mip_gap, err_console)
    if format == Format.json:
        import json
        import sys

        doc = {
            **res.summary(),
            "binding": res.binding,
            "notes": res.notes,
            **{k: v.to_dict(orient="records") for k, v in res.tables().items()},
        }
        sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
    elif format == Format.csv:
        emit(res.production.to_dict(orient="records"), Format.csv)
    else:
        show(res, Console())
    if out is not None:
        written = save(res, out)
        err_console.print(f"wrote {len(written)} files to {out}")


def solve_scenario(
    s: Any, network: Any, rule_costs: bool, mip_gap: float, console: Console
) -> PlanResult:
    from onshore.plan import plan as run_plan

    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(f"planning {s.name}", total=None)
        return run_plan(
            s,
            network,
            mip_gap=mip_gap,
            with_rule_costs=rule_costs,
            progress=lambda msg: bar.update(task, description=msg),
        )


def save(res: PlanResult, out: Path) -> list[Path]:
    """Write the plan tables, summary and charts to ``out``."""
    from onshore.plan.solve import write_tables
    from onshore.views.charts.plan import write_charts

    return write_tables(res, out) + write_charts(res, out)


def show(res: PlanResult, console: Console) -> None:
    """Print the plan summary: costs, builds, deliveries, rule costs, what binds."""
    cur = res.currency
    costs = res.costs.groupby("component")["discounted"].sum()
    console.print(
        f"[bold]Plan {res.name}[/]: {res.status}, discounted cost {res.objective:,.0f} {cur}  "
        + "  ".join(f"{k} {v:,.0f}" for k, v in costs.items() if abs(v) > 0.5)
    )
    if len(res.builds):
        t = Table(title="New capacity ordered")
        for c in [
            "plant",
            "ordered",
            "modules",
            "capacity added",
            "first output",
            f"capex ({cur})",
        ]:
            t.add_column(c, justify="left" if c == "plant" else "right")
        for r in res.builds.itertuples(index=False):
            t.add_row(
                str(r.plant),
                str(r.period),
                str(r.modules),
                f"{r.capacity_added:,.0f}",
                str(r.first_output),
                f"{r.capex:,.0f}",
            )
        console.print(t)
    p = res.production.pivot_table(
        index=["segment", "country"], columns="period", values="quantity", aggfunc="sum"
    ).fillna(0)
    t = Table(
        title=(
            "Deliveries by segment and country of production "
            "(good units; k = thousand, M = million)"
        )
    )
    t.add_column("segment")
    t.add_column("from")
    for y in p.columns:
        t.add_column(str(y), justify="right")
    for (seg, ctry), row in p.iterrows():
        t.add_row(str(seg), str(ctry), *[_n(v) for v in row])
    console.print(t)
    if len(res.rule_costs):
        t = Table(title="Cost of each rule (objective with it minus without it)")
        for c in ["rule", "kind", f"cost ({cur})", "unmet with", "unmet without"]:
            t.add_column(c, justify="left" if c in ("rule", "kind") else "right")
        for r in res.rule_costs.itertuples(index=False):
            t.add_row(
                str(r.rule),
                str(r.kind),
                f"{r.cost:,.0f}",
                f"{r.unmet_with:,.0f}",
                f"{r.unmet_without:,.0f}",
            )
        console.print(t)
    if res.binding:
        console.print("[bold]What shapes the plan[/]")
        for b in res.binding:
            console.print(f"  - {b}", highlight=False)
    for n in res.notes:
        console.print(f"[dim]note: {n}[/]", highlight=False)


def _n(v: float) -> str:
    """A compact quantity: 350k, 1.25M."""
    if not v:
        return ""
    if abs(v) >= 1e6:
        return f"{v / 1e6:.3g}M"
    if abs(v) >= 1e3:
        return f"{v / 1e3:.3g}k"
    return f"{v:.3g}"
