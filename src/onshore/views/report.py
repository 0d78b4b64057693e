"""Report: one self-contained HTML file per assessment, for an officer to sign: the verdicts
with their rules, the evidence chains, what would settle each UNKNOWN, the estimates, the
stage Sankey, scope and limitations, the sign-off block and the audit entries. It renders a
:class:`~onshore.compliance.dossier.Dossier` and computes nothing. The Sankey is inline
SVG (plotly's 4.8 MB script would make the file too large to send and has a toolbar that
prints), so the file is small, needs no network and prints as it shows.

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
    """The stage Sankey as inline SVG (no script: small, and it prints as it shows)."""
    from onshore.views.charts.sankey import sankey_svg

    unit = "units" if links.get("unit") == "count" else "USD"
    return sankey_svg(links, unit=unit)


def render(
    network: Network,
    product: str,
    verdicts: list[Verdict],
    prepared_by: str = "",
    reviewed_by: str = "",
    signed_on: str = "",
    audit: dict[str, Any] | None = None,
    period: str | None = None,
    period_text: str = "",
) -> str:
    """The report as one HTML string (see :func:`write_report`)."""
    d = dossier(
        network,
        product,
        verdicts,
        prepared_by=prepared_by,
        reviewed_by=reviewed_by,
        signed_on=signed_on,
        audit=audit,
        period=period,
        period_text=period_text,
    )
    try:
        version = metadata.version("onshore")
    except metadata.PackageNotFoundError:
        version = "dev"
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.files("onshore.views") / "templates")),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
    )
    sankey = _sankey(d.links)
    return env.get_template("report.html.j2").render(
        d=d,
        generated=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        version=version,
        sankey=sankey,
    )


def write_report(
    network: Network,
    product: str,
    verdicts: list[Verdict],
    out: str | Path,
    pdf: bool = False,
    prepared_by: str = "",
    reviewed_by: str = "",
    signed_on: str = "",
    audit: dict[str, Any] | None = None,
    period: str | None = None,
    period_text: str = "",
) -> list[Path]:
    """Write the HTML report (and the PDF; refused politely when no engine is installed).

    Parameters
    ----------
    network, product, verdicts
        The verdicts of :func:`~onshore.compliance.check` on ``product``.
    out : path
        The HTML file; the PDF goes next to it with the suffix ``.pdf``.
    pdf : bool
    prepared_by, reviewed_by, signed_on : str
        The sign-off block (blank lines to sign by hand when empty).
    audit : dict, optional
        The audit entries the verdicts were appended as
        (:meth:`~onshore.store.audit.AuditLog.last`).
    period : str, optional
        The period the verdicts were decided from: the Sankey, cost tables, upstream plants
        and estimated flows are of the same flows (every period pooled when None).
    period_text : str
        How the period was chosen, in words (stated in the report).

    Returns
    -------
    list of Path
        The files written.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    html = render(
        network,
        product,
        verdicts,
        prepared_by,
        reviewed_by,
        signed_on,
        audit,
        period=period,
        period_text=period_text,
    )
    out.write_text(html, encoding="utf-8")
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
