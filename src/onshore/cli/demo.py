"""`onshore demo`: the reference network in a working folder, summarised, then each analysis."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from onshore.cli.app import app, console, handle_errors
from onshore.cli.plan import save, show, solve_scenario
from onshore.cli.risk import control_of
from onshore.cli.screen import read_supplier_list
from onshore.cli.trace import trace_table


def _summary(network: object) -> None:
    from onshore import overview as summary
    from onshore.network import Network

    assert isinstance(network, Network)
    counts = network.summary()
    console.print(
        f"[bold]Reference network[/]: {counts['facilities']} facilities of {counts['companies']} "
        "companies "
        f"in {network.facilities['country'].nunique()} countries; {counts['ownership']} "
        "shareholdings, "
        f"{counts['materials']} materials, {counts['boms']} BOM lines, {counts['flows']} flows, "
        f"{counts['licences']} licences"
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
        caption=(
            "Shares are of the plants in the reference network with a known capacity, "
            "not of world capacity."
        ),
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
        import_files(store, reference_files(), physical="error")
        network = Network.from_store(store)
    console.print(f"store: {db}")
    _summary(network)
    for section in _sections():
        section(console, network, workdir)


def _sections() -> list:  # type: ignore[type-arg]
    """The analyses the demo shows after the summary, each a function (console, network,
    workdir)."""
    return [demo_traces, demo_screen, demo_checks, demo_risk, demo_plan]


# ------------------------------------------------------------------ sections


def _cell_node(network: Any, company: str, name: str, stage: str = "cell") -> str | None:
    f = network.facilities
    m = (f["stage"].astype(str) == stage) & f["material"].notna()
    hit = f[
        m
        & (f["company"].astype(str) == company)
        & f["name"].astype(str).str.contains(name, case=False)
    ]
    if hit.empty:
        hit = f[m & (f["company"].astype(str) == company)]
    return None if hit.empty else f"{hit['id'].iloc[0]}:{hit['material'].iloc[0]}"


def demo_traces(console: Console, network: Any, workdir: Path | None = None) -> None:
    """The demo's trace section: an SES AI Chungju drone/eVTOL cell and a CATL cell."""
    from onshore.errors import OnshoreError
    from onshore.trace import explain, trace

    console.rule("[bold]Trace: where the minerals and the processing of a cell come from")
    for label, company, name in (
        ("SES AI Chungju drone/eVTOL cell", "ses_ai", "Chungju"),
        ("CATL cell", "catl", "Ningde"),
    ):
        product = _cell_node(network, company, name)
        if product is None:
            console.print(
                f"[yellow]{label}: no such facility in this network (company {company!r}); "
                "skipped[/]"
            )
            continue
        try:
            df = trace(network, product, by=("raw", "stage", "country"))
        except OnshoreError as e:
            console.print(f"[yellow]{label}: {e}[/]")
            continue
        df = df.sort_values(["raw", "stage", "quantity"], ascending=[True, True, False])
        console.print(trace_table(df.head(40), f"{label} ({product}), per unit; top rows"))
        if len(df) > 40:
            console.print(f"  ... {len(df) - 40} more rows (onshore trace {product})")
        big = df[df["stage"] == "mine"].sort_values("quantity", ascending=False).head(1)
        if len(big):
            tag = {
                "raw": str(big["raw"].iloc[0]),
                "stage": "mine",
                "country": str(big["country"].iloc[0]),
            }
            console.print(f"Heaviest paths for {tag}:")
            for p in explain(network, product, tag, top=3):
                console.print(
                    f"  {p.weight:10.4g}  "
                    f"{'(other paths)' if p.residual else ' -> '.join(p.nodes)}",
                    highlight=False,
                )


def _cell(
    network: Any, company: str, country: str | None = None, words: tuple[str, ...] = ()
) -> str | None:
    f = network.facilities
    m = (f["company"].astype(str) == company) & (f["stage"].astype(str) == "cell")
    if country:
        m &= f["country"].astype(str) == country
    for w in words:
        if (m & f["name"].astype(str).str.lower().str.contains(w)).any():
            m &= f["name"].astype(str).str.lower().str.contains(w)
    ids = f.loc[m, "id"].astype(str).tolist()
    return ids[0] if ids else None


def demo_checks(console: Console, network: Any, workdir: Path) -> list[Path]:
    """Check SES AI Chungju, SES AI Shanghai and a CATL/Gotion cell for DoD on three dates; write
    the report."""
    from rich.table import Table

    from onshore.compliance import check
    from onshore.views.report import write_report

    candidates = [
        ("SES AI Chungju (KR)", _cell(network, "ses_ai", "KR", ("chungju",))),
        ("SES AI Shanghai (CN)", _cell(network, "ses_ai", "CN", ("shanghai",))),
        ("CATL (CN)", _cell(network, "catl", "CN", ("ningde",)) or _cell(network, "gotion", "CN")),
    ]
    picks = [(label, fid) for label, fid in candidates if fid]
    if not picks:
        console.print(
            "[yellow]checks: no SES AI, CATL or Gotion cell plant in this network; skipped[/]"
        )
        return []
    dates = [("2027-09-30", "dod"), ("2027-10-01", "dod"), ("2028-01-01", "dod_new_program")]
    t = Table(title="May the DoD buy this cell? (worst verdict; rules behind it)")
    t.add_column("cell")
    for d, b in dates:
        t.add_column(f"{d}\n{b}")
    for label, fid in picks:
        cells = []
        for d, b in dates:
            vs = check(network, fid, b, dt.date.fromisoformat(d))
            bad = [v for v in vs if v.verdict.value in ("PROHIBITED", "UNKNOWN")]
            top = bad[0].verdict.value if bad else "ALLOWED"
            if not bad and any(v.indicative for v in vs):
                top = "ALLOWED (indicative)"  # a pass that rests in part on estimates or priors
            colour = {"PROHIBITED": "red", "UNKNOWN": "yellow"}.get(top, "green")
            cells.append(
                f"[{colour}]{top}[/] "
                f"{', '.join(sorted({v.rule_id for v in bad if v.verdict.value == top}))}"
            )
        t.add_row(f"{label}\n{fid}", *cells)
    console.print(t)
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        fid = picks[0][1]
        vs = check(network, fid, "dod_new_program", dt.date(2028, 1, 1))
        paths = write_report(network, fid, vs, workdir / f"report_{fid}.html")
        console.print(f"report: {paths[0]}")
        return paths
    except Exception as e:  # noqa: BLE001 - the demo goes on without the report
        console.print(f"[yellow]report not written: {e}[/]")
        return []


def _cell_named(network: Any, company: str, name_has: str = "") -> str | None:
    f = network.facilities
    hit = f[
        (f["company"].astype(str) == company)
        & f["name"].astype(str).str.contains(name_has, case=False)
        & (f["stage"].astype(str) == "cell")
    ]
    return str(hit["id"].iloc[0]) if len(hit) else None


def demo_risk(con: Console, network: Any, workdir: Path) -> None:
    """The demo's risk section: HHI table, then the graphite cut-off and its effect on the demo
    cells."""
    from rich.table import Table

    from onshore.risk import concentration_table
    from onshore.risk.cutoff import Simulator
    from onshore.risk.scenario import bundled, load_scenario
    from onshore.views.charts.risk import write_charts

    conc = concentration_table(network, control=control_of(network))
    cap = conc[conc["basis"] == "capacity"].head(15)
    t = Table(
        title=(
            "Most concentrated (material, stage) by capacity: "
            "HHI over countries and controlling countries"
        )
    )
    for c in ["material", "stage", "HHI country", "leaders", "HHI control", "leaders (control)"]:
        t.add_column(c, justify="right" if c.startswith("HHI") else "left")
    for _, r in cap.iterrows():
        t.add_row(
            r["material"],
            r["stage"],
            f"{r['hhi_country']:,.0f}",
            r["leaders_country"],
            f"{r['hhi_control']:,.0f}",
            r["leaders_control"],
        )
    con.print(t)
    sc = load_scenario(bundled("graphite_cutoff"), network=network)
    sim = Simulator(network, sc)
    res = sim.result(sim.run())
    con.print(
        f"[bold]Scenario[/]: {sc.name} ({len(res.recovery)} plants downstream of a cut link, "
        f"{int((res.recovery['lost'] > 0).sum())} of them short)"
    )
    rec = res.recovery[res.recovery["lost"] > 0].head(10)
    t = Table(title="Plants hit: peak share short, months to recover")
    for c in ["product", "material", "country", "peak short", "months to recover"]:
        t.add_column(c)
    for _, r in rec.iterrows():
        m = r["months_to_recover"]
        t.add_row(
            r["product"],
            str(r["material"]),
            str(r["country"]),
            f"{r['peak_share']:.0%}",
            "not within horizon" if m is None or pd.isna(m) else str(int(m)),
        )
    con.print(t)
    for label, fid in (
        ("SES AI Chungju cell", _cell_named(network, "ses_ai", "Chungju")),
        ("CATL cell", _cell_named(network, "catl", "Debrecen") or _cell_named(network, "catl")),
    ):
        if fid is None:
            con.print(f"  {label}: not in this network")
            continue
        row = res.recovery[res.recovery["product"] == fid]
        if row.empty:
            con.print(f"  {label} ({fid}): not downstream of any cut link; no shortfall")
        else:
            r = row.iloc[0]
            con.print(
                f"  {label} ({fid}): peak {r['peak_share']:.0%} short, {r['lost']:,.0f} units lost "
                f"over {sc.horizon} months"
            )
    for p in write_charts(workdir, by_product=res.by_product(), concentration=conc):
        con.print(f"  chart: {p}")


def demo_plan(console: Console, network: Any, workdir: Path) -> None:
    """Demo section: solve the bundled ses_korea scenario, print it, write tables and charts."""
    from onshore.plan import bundled, load_scenario

    s = load_scenario(bundled("ses_korea"))
    console.rule("[bold]What to build where: the ses_korea onshoring plan[/]")
    console.print(
        f"[dim]{s.description.strip() if s.description else ''} "
        "Costs, demand and capex in this scenario are labelled assumptions, not data.[/]"
    )
    res = solve_scenario(s, network, True, 1e-4, console)
    show(res, console)
    written = save(res, workdir / "plan")
    console.print(
        f"plan tables and charts: {workdir / 'plan'} ({len(written)} files, e.g. capacity.html, "
        "production.png)"
    )


def demo_screen(console: Any, network: Any, workdir: Path) -> None:
    """The demo's screening section: a messy supplier list of its own (mixed scripts and
    spellings) linked to the store, and the section 154 verdicts that follow on 2027-10-01."""
    import datetime as dt
    from importlib import resources

    from rich.table import Table

    from onshore.compliance import check
    from onshore.compliance.screen import screen as run

    path = Path(str(resources.files("onshore") / "data" / "examples" / "suppliers_messy.csv"))
    out = run(network, read_supplier_list(path))
    fac = network.facilities
    t = Table(title=f"Screening a messy supplier list ({path.name}): who is each row?")
    for c in ["input", "match", "score", "decision", "lists", "sec. 154 on 2027-10-01"]:
        t.add_column(c)
    for r in out:
        verdict = ""
        if r["match"] and r["decision"] == "match":
            plants = fac[(fac["company"] == r["match"]) & fac["stage"].isin(["cell", "pack"])]
            if len(plants):
                p = str(plants["id"].iloc[0])
                v = [
                    x
                    for x in check(network, p, "dod", dt.date(2027, 10, 1))
                    if x.rule_id == "US-NDAA24-154"
                ]
                verdict = f"{p}: {v[0].verdict.value}" if v else ""
        elif r["decision"] == "review":
            verdict = "pair for `onshore review`"
        t.add_row(
            r["input"] or "(id only)",
            r["match"] or "",
            f"{r['score']:.2f}",
            r["decision"],
            ", ".join(f"{h['list']}:{h['entry']}" for h in r["lists"]),
            verdict,
        )
    console.print(t)
