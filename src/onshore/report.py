"""Report: one self-contained HTML file per assessment (verdicts, evidence, origin Sankey,
ownership chains, every source cited). Plotly's JavaScript is embedded, no CDN.

PDF: no PDF engine (WeasyPrint, wkhtmltopdf, a headless browser) is installed by the
project, so ``pdf=True`` raises :class:`~onshore.errors.EngineUnavailable` after writing the
HTML; print the HTML from a browser instead.
"""

from __future__ import annotations

import datetime as dt
from importlib import metadata, resources
from pathlib import Path

import jinja2
import pandas as pd

from onshore.check import Verdict, worst
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
        links = dict(source=[labels.index(s) for s in src], target=[len(labels) - 1] * len(src),
                     value=g["quantity"].astype(float).tolist())
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
        links = dict(source=[labels.index(s) for s in pairs["s"]], target=[labels.index(t) for t in pairs["t"]],
                     value=pairs["n"].astype(float).tolist())
        note = (f"Recorded supply links upstream of the product, grouped by stage and country (link width = number "
                f"of recorded flows); {df if isinstance(df, str) else 'the trace returned nothing'}.")
    fig = go.Figure(go.Sankey(node=dict(label=labels, pad=12), link=links))
    fig.update_layout(height=480, margin=dict(l=10, r=10, t=10, b=10))
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
        raise EngineUnavailable(f"wrote {out}, but no PDF engine is installed with onshore; open the HTML in a "
                                "browser and print it to PDF")
    return [out]


__all__ = ["render", "write_report"]
