"""Risk charts: shortfall over time per product, and concentration bars per (material, stage).

HTML with plotly (the plotly script inlined with ``include_plotlyjs=True``: no CDN) and PNG
with matplotlib's Agg back end. Each writer returns the paths it wrote.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from onshore.risk.concentration import HIGHLY_CONCENTRATED

__all__ = ["concentration_bars", "shortfall_over_time", "write_charts"]


def shortfall_over_time(
    by_product: pd.DataFrame, path: Path, title: str = "Shortfall by product"
) -> list[Path]:
    """Lines of the share of each product material short, per month (HTML and PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go

    df = by_product[by_product.groupby("material")["shortfall"].transform("sum") > 0]
    fig = go.Figure()
    fig2, ax = plt.subplots(figsize=(9, 4.5))
    for mat, g in df.groupby("material"):
        g = g.sort_values("month")
        fig.add_trace(
            go.Scatter(
                x=g["period"], y=100 * g["share"].fillna(0), mode="lines+markers", name=str(mat)
            )
        )
        ax.plot(g["period"], 100 * g["share"].fillna(0), marker="o", label=str(mat))
    fig.update_layout(
        title=title,
        xaxis_title="month",
        yaxis_title="% of baseline supply short",
        yaxis_range=[0, 100],
    )
    ax.set(title=title, xlabel="month", ylabel="% of baseline supply short", ylim=(0, 100))
    ax.tick_params(axis="x", rotation=60, labelsize=7)
    if len(df):
        ax.legend(fontsize=7)
    return _write(fig, fig2, path)


def concentration_bars(
    table: pd.DataFrame,
    path: Path,
    top: int = 25,
    title: str = "Concentration (HHI) by material and stage",
) -> list[Path]:
    """Horizontal bars of the country HHI of the most concentrated (material, stage) markets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go

    t = table[table["basis"] == "capacity"] if "basis" in table else table
    t = t.sort_values("hhi_country", ascending=False).head(top).iloc[::-1]
    labels = [f"{m} ({s})" for m, s in zip(t["material"], t["stage"], strict=True)]
    fig = go.Figure(
        go.Bar(
            x=t["hhi_country"], y=labels, orientation="h", text=t["leaders_country"], name="country"
        )
    )
    if "hhi_control" in t:
        fig.add_trace(
            go.Bar(x=t["hhi_control"], y=labels, orientation="h", name="controlling country")
        )
    fig.add_vline(x=HIGHLY_CONCENTRATED, line_dash="dash")
    fig.update_layout(
        title=title, xaxis_title="HHI (0-10 000)", barmode="group", height=300 + 22 * len(t)
    )
    fig2, ax = plt.subplots(figsize=(9, 2 + 0.3 * len(t)))
    ax.barh(labels, t["hhi_country"], color="#1f77b4", label="country")
    ax.axvline(HIGHLY_CONCENTRATED, ls="--", color="grey")
    ax.set(title=title, xlabel="HHI (0-10 000)", xlim=(0, 10_000))
    ax.tick_params(axis="y", labelsize=7)
    return _write(fig, fig2, path)


def _write(fig: object, fig2: object, path: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    html, png = path.with_suffix(".html"), path.with_suffix(".png")
    fig.write_html(str(html), include_plotlyjs=True, full_html=True)  # type: ignore[attr-defined]
    fig2.tight_layout()  # type: ignore[attr-defined]
    fig2.savefig(png, dpi=110)  # type: ignore[attr-defined]
    plt.close(fig2)  # type: ignore[arg-type]
    return [html, png]


def write_charts(
    out_dir: Path, by_product: pd.DataFrame | None = None, concentration: pd.DataFrame | None = None
) -> list[Path]:
    """Write whichever charts have data into ``out_dir``."""
    paths: list[Path] = []
    if by_product is not None and len(by_product):
        paths += shortfall_over_time(by_product, out_dir / "risk_shortfall")
    if concentration is not None and len(concentration):
        paths += concentration_bars(concentration, out_dir / "risk_concentration")
    return paths
