"""Plan charts: capacity (used, idle, ramping, under construction) and production by
country and segment per period. HTML with plotly (the script inlined: no CDN) and PNG with
matplotlib's Agg back end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from onshore.plan.solve import PlanResult

CAPACITY_PARTS = {
    "used": "#1f77b4",
    "idle": "#aec7e8",
    "ramping": "#ff7f0e",
    "under_construction": "#d9d9d9",
}


def capacity_table(res: PlanResult) -> pd.DataFrame:
    """Capacity per plant and period split into used, idle, ramping and under construction."""
    c = res.capacity
    if c.empty:
        return pd.DataFrame(columns=["plant", "period", *CAPACITY_PARTS])
    out = c[["plant", "country", "period"]].copy()
    out["used"] = c["used"]
    out["idle"] = (c["available"] - c["used"]).clip(lower=0)
    out["ramping"] = c["ramping"]
    out["under_construction"] = c["under_construction"]
    return out.sort_values(["period", "plant"]).reset_index(drop=True)


def production_table(res: PlanResult) -> pd.DataFrame:
    """Good units delivered per period by ``country / segment``."""
    p = res.production
    if p.empty:
        return pd.DataFrame()
    key = p["country"].fillna("?") + " / " + p["segment"]
    t = p.assign(group=key).pivot_table(
        index="period", columns="group", values="quantity", aggfunc="sum"
    )
    return t.fillna(0.0).sort_index()


def capacity_figure(res: PlanResult) -> Any:
    """A plotly stacked bar chart: per period and plant, the state of the capacity."""
    import plotly.graph_objects as go

    t = capacity_table(res)
    fig = go.Figure()
    x = [t["period"].astype(str).tolist(), t["plant"].tolist()]
    for part, colour in CAPACITY_PARTS.items():
        fig.add_bar(x=x, y=t[part], name=part.replace("_", " "), marker_color=colour)
    fig.update_layout(
        barmode="stack",
        title=f"{res.name}: capacity by plant (gross units a year)",
        yaxis_title="units / year",
        legend_title="capacity",
    )
    return fig


def production_figure(res: PlanResult) -> Any:
    """A plotly stacked bar chart of deliveries per period by country and segment."""
    import plotly.graph_objects as go

    t = production_table(res)
    fig = go.Figure()
    for col in t.columns:
        fig.add_bar(x=t.index.astype(str), y=t[col], name=col)
    fig.update_layout(
        barmode="stack",
        title=f"{res.name}: deliveries by country of production and segment",
        yaxis_title="good units",
        legend_title="country / segment",
    )
    return fig


def _png_capacity(res: PlanResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = capacity_table(res)
    plants = sorted(t["plant"].unique())
    fig, axes = plt.subplots(
        1, max(len(plants), 1), figsize=(4 * max(len(plants), 1), 4), sharey=True, squeeze=False
    )
    for ax, plant in zip(axes[0], plants, strict=False):
        g = t[t["plant"] == plant].set_index("period")
        bottom = None
        for part, colour in CAPACITY_PARTS.items():
            ax.bar(
                g.index.astype(str),
                g[part],
                bottom=bottom,
                color=colour,
                label=part.replace("_", " "),
            )
            bottom = g[part] if bottom is None else bottom + g[part]
        ax.set_title(plant)
        ax.tick_params(axis="x", rotation=45)
    axes[0][0].set_ylabel("units / year")
    axes[0][-1].legend(fontsize="small")
    fig.suptitle(f"{res.name}: capacity by plant")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _png_production(res: PlanResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = production_table(res)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    if not t.empty:
        t.index = t.index.astype(str)
        t.plot.bar(stacked=True, ax=ax, rot=0, colormap="tab20")
        ax.legend(
            fontsize="small", title="country / segment", bbox_to_anchor=(1.02, 1), loc="upper left"
        )
    ax.set_ylabel("good units")
    ax.set_title(f"{res.name}: deliveries by country and segment")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_charts(res: PlanResult, out_dir: str | Path) -> list[Path]:
    """Write ``capacity.html/png`` and ``production.html/png`` to ``out_dir``; return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [
        out / "capacity.html",
        out / "production.html",
        out / "capacity.png",
        out / "production.png",
    ]
    capacity_figure(res).write_html(paths[0], include_plotlyjs=True)
    production_figure(res).write_html(paths[1], include_plotlyjs=True)
    _png_capacity(res, paths[2])
    _png_production(res, paths[3])
    return paths
