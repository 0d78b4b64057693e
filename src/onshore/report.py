"""Report: one self-contained HTML file per assessment (verdicts, evidence, origin Sankey,
ownership chains, every source cited). Plotly's JavaScript is embedded, no CDN.

PDF: printed from the HTML by headless Chromium (Debian's ``chromium``, installed by
``make pdf-engine``), so the Sankey renders as on screen. Without a browser ``pdf=True``
raises :class:`~onshore.errors.EngineUnavailable` after writing the HTML, saying what to install.
"""

from __future__ import annotations

import datetime as dt
from importlib import metadata, resources
from pathlib import Path

import jinja2
import pandas as pd

from onshore.check import Verdict, data_basis, worst
from onshore.errors import EngineUnavailable
from onshore.network import Network


def _sankey(network: Network, product: str) -> tuple[str, str]:
    """An origin Sankey as an HTML fragment, and a note on what it shows."""
    import plotly.graph_objects as go

    from onshore.rules.kinds import context, traced

    ctx = context(network)
    df = traced(ctx, product, "mass", ("stage", "country"))
    if not isinstance(df, str) and len(df):
        g = df.groupby(["stage", "country"], dropna=False)["quantity"].sum().reset_index()
        src = [f"{s} · {c}" for s, c in zip(g["stage"].astype(str), g["country"].astype(str), strict=True)]
        labels = [*dict.fromkeys(src), product]
        links = {"source": [labels.index(s) for s in src], "target": [len(labels) - 1] * len(src),
                 "value": g["quantity"].astype(float).tolist()}
        note = "Traced origin of the product by stage and country (mass-weighted), from the trace engine."
    else:
        up = set(ctx.upstream(product)) | {product}
        f = network.flows
        f = f[f["supplier"].astype(str).isin(up) & f["customer"].astype(str).isin(up)]
        node = {p: f"{ctx.fac.loc[p, 'stage']} · {ctx.fac.loc[p, 'country']}" for p in up}
        node[product] = product
        pairs = pd.DataFrame({"s": f["supplier"].astype(str).map(node), "t": f["customer"].astype(str).map(node)})
        pairs = pairs[pairs["s"] != pairs["t"]].value_counts().reset_index(name="n")
        labels = list(dict.fromkeys([*pairs["s"], *pairs["t"], product]))
        links = {"source": [labels.index(s) for s in pairs["s"]], "target": [labels.index(t) for t in pairs["t"]],
                 "value": pairs["n"].astype(float).tolist()}
        note = (f"Recorded supply links upstream of the product, grouped by stage and country (link width = number "
                f"of recorded flows); {df if isinstance(df, str) else 'the trace returned nothing'}.")
    fig = go.Figure(go.Sankey(node={"label": labels, "pad": 12}, link=links))
    fig.update_layout(height=480, margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return fig.to_html(full_html=False, include_plotlyjs=True), note


def render(network: Network, product: str, verdicts: list[Verdict]) -> str:
    """The report as one HTML string."""
    from onshore.owners import controlling_country, feoc, owners, upstream_owners
    from onshore.rules.kinds import context

    ctx = context(network)
    maker = str(ctx.fac.loc[product, "company"])
    f = feoc(network).loc[maker]
    sankey, note = _sankey(network, product)
    plants = [product, *ctx.upstream(product)]
    data_sources = [{"what": ctx.describe(p), "source": ctx.fac.loc[p, "source"] or "(no source recorded)"} for p in plants]
    comp = network.companies.set_index(network.companies["id"].astype(str))
    chain = owners(network).control_chain(maker)
    data_sources += [{"what": f"company {c}", "source": comp.loc[c, "source"] or "(no source recorded)"} for c in chain]
    own = network.ownership
    for _, r in own[own["owned"].astype(str).isin(chain)].iterrows():
        data_sources.append({"what": f"holding {r['owner']} -> {r['owned']}", "source": r.get("source") or "(no source recorded)"})
    first = verdicts[0] if verdicts else None
    try:
        version = metadata.version("onshore")
    except metadata.PackageNotFoundError:
        version = "dev"
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(resources.files("onshore") / "templates")),
                             autoescape=jinja2.select_autoescape(["html", "j2"]))
    return env.get_template("report.html.j2").render(
        product=product, buyer=first.buyer if first else "", on=first.on if first else "", plant=ctx.describe(product),
        snapshot=network.snapshot, generated=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), version=version,
        overall=worst(verdicts).value, verdicts=verdicts, sankey=sankey, sankey_note=note, maker=maker, chain=chain,
        controlling_country=controlling_country(network)[maker],
        feoc=("yes: " + str(f["reason"])) if f["feoc"] else "no",
        owners=upstream_owners(network, maker).to_dict("records"), data_sources=data_sources,
        data_basis=data_basis(network, product)["text"],
    )


def write_report(network: Network, product: str, verdicts: list[Verdict], out: str | Path, pdf: bool = False) -> list[Path]:
    """Write the HTML report (and refuse PDF politely when no engine is installed).

    Returns
    -------
    list of Path
        The files written.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(network, product, verdicts), encoding="utf-8")
    if pdf:
        return [out, html_to_pdf(out, out.with_suffix(".pdf"))]
    return [out]


BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    """The path of a headless-capable Chromium, or None ($ONSHORE_BROWSER first)."""
    import os
    import shutil

    for name in (os.environ.get("ONSHORE_BROWSER"), *BROWSERS):
        if name and (path := shutil.which(name)):
            return path
    return None


def html_to_pdf(html: Path, pdf: Path, timeout: float = 120) -> Path:
    """Print an HTML file to PDF with headless Chromium (no network: the page is self-contained)."""
    import subprocess
    import tempfile

    browser = find_browser()
    if browser is None:
        raise EngineUnavailable(
            f"wrote {html}, but printing a PDF needs Chromium: run 'make pdf-engine' "
            "(apt-get install chromium) or set ONSHORE_BROWSER to a Chromium binary"
        )
    with tempfile.TemporaryDirectory() as profile:
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", "--no-pdf-header-footer", "--virtual-time-budget=5000",
               f"--print-to-pdf={pdf.resolve()}", html.resolve().as_uri()]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0 or not pdf.exists() or pdf.stat().st_size == 0:
        raise EngineUnavailable(f"Chromium could not print {html} to PDF: {done.stderr.strip()[-300:]}")
    return pdf


__all__ = ["render", "write_report"]
