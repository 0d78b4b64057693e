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
from typing import Any

import jinja2

from onshore.compliance import Verdict
from onshore.compliance.dossier import dossier
from onshore.errors import EngineUnavailable
from onshore.network import Network


def _sankey(links: dict[str, Any]) -> str:
    """The origin Sankey as an HTML fragment (plotly's JavaScript embedded)."""
    import plotly.graph_objects as go

    link = {k: links[k] for k in ("source", "target", "value")}
    fig = go.Figure(go.Sankey(node={"label": links["labels"], "pad": 12}, link=link))
    fig.update_layout(height=480, margin={"l": 10, "r": 10, "t": 10, "b": 10})
    html: str = fig.to_html(full_html=False, include_plotlyjs=True)
    return html


def render(network: Network, product: str, verdicts: list[Verdict]) -> str:
    """The report as one HTML string."""
    d = dossier(network, product, verdicts)
    try:
        version = metadata.version("onshore")
    except metadata.PackageNotFoundError:
        version = "dev"
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.files("onshore.views") / "templates")),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
    )
    return env.get_template("report.html.j2").render(
        product=d.product,
        buyer=d.buyer,
        on=d.on,
        plant=d.plant,
        snapshot=d.snapshot,
        generated=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        version=version,
        overall=d.overall,
        verdicts=d.verdicts,
        sankey=_sankey(d.links),
        sankey_note=d.links_note,
        maker=d.maker,
        chain=d.chain,
        controlling_country=d.controlling_country,
        feoc=d.feoc,
        owners=d.owners,
        data_sources=d.data_sources,
        data_basis=d.data_basis,
    )


def write_report(
    network: Network, product: str, verdicts: list[Verdict], out: str | Path, pdf: bool = False
) -> list[Path]:
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
        cmd = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            "--virtual-time-budget=5000",
            f"--print-to-pdf={pdf.resolve()}",
            html.resolve().as_uri(),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0 or not pdf.exists() or pdf.stat().st_size == 0:
        raise EngineUnavailable(
            f"Chromium could not print {html} to PDF: {done.stderr.strip()[-300:]}"
        )
    return pdf


__all__ = ["render", "write_report"]
