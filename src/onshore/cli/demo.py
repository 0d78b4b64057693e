"""`onshore demo`: the reference network in a working folder, summarised, then each analysis."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from onshore.cli.app import app, console, handle_errors


def _summary(network: object) -> None:
    from onshore import overview as summary
    from onshore.network import Network

    assert isinstance(network, Network)
    counts = network.summary()
    console.print(
        f"[bold]Reference network[/]: {counts['facilities']} facilities of {counts['companies']} companies "
        f"in {network.facilities['country'].nunique()} countries; {counts['ownership']} shareholdings, "
        f"{counts['materials']} materials, {counts['boms']} BOM lines, {counts['flows']} flows, {counts['licences']} licences"
    )
    pivot = summary.facilities_by_stage_country(network)
    shown = list(pivot.columns[:10])
    t = Table(title="Facilities by stage and country")
    t.add_column("stage")
    for c in shown:
        t.add_column(c, justify="right")
    t.add_column("other", justify="right")
    for stage, row in pivot.iterrows():
        t.add_row(
            str(stage),
            *[str(row[c]) if row[c] else "" for c in shown],
            str(int(row.drop(shown).sum())),
        )
    console.print(t)
    top = summary.top_countries(network)
    t = Table(
        title="Yearly capacity by stage: total and top three countries (share of capacity)",
        caption="Shares are of the plants in the reference network with a known capacity, not of world capacity.",
    )
    for c in ["stage", "material", "total", "unit", "#1", "#2", "#3"]:
        t.add_column(c, justify="right" if c == "total" else "left")
    for _, r in top.iterrows():
        t.add_row(
            r["stage"],
            r["material"],
            f"{r['total']:,.0f}",
            r["unit"],
            *[r[k] if isinstance(r.get(k), str) else "" for k in ("#1", "#2", "#3")],
        )
    console.print(t)


@app.command()
@handle_errors
def demo(
    workdir: Annotated[
        Path, typer.Option("--workdir", help="Folder for the demo store, reports and charts.")
    ] = Path("onshore-demo"),
) -> None:
    """Build a store from the bundled reference network and show what onshore answers."""
    from onshore.io.load import import_files, reference_files
    from onshore.network import Network
    from onshore.store.duckdb import DuckDBStore

    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "onshore.duckdb"
    if db.exists():
        db.unlink()
    with DuckDBStore(db) as store:
        import_files(store, reference_files())
        network = Network.from_store(store)
    console.print(f"store: {db}")
    _summary(network)
    for section in _sections():
        section(console, network, workdir)


def _sections() -> list:  # type: ignore[type-arg]
    """The analyses the demo shows after the summary, each a function (console, network, workdir)."""
    from onshore.cli.check import demo_checks
    from onshore.cli.plan import demo_plan
    from onshore.cli.risk import demo_risk
    from onshore.cli.screen import demo_screen
    from onshore.cli.trace import demo_traces

    return [demo_traces, demo_screen, demo_checks, demo_risk, demo_plan]
