"""A Sankey drawn as inline SVG: stage columns left to right, node heights and link widths
proportional to the values given. No JavaScript, so a report stays small, prints exactly as
it shows and has no interactive toolbar; hovering a band shows its value (SVG ``title``)."""

from __future__ import annotations

from html import escape
from typing import Any

PALETTE = (
    "#8c6d31",
    "#6b6ecf",
    "#b5cf6b",
    "#e7969c",
    "#7b4173",
    "#3182bd",
    "#e6550d",
    "#31a354",
    "#756bb1",
    "#636363",
)


def sankey_svg(
    links: dict[str, Any], width: int = 900, height: int = 480, unit: str = "USD"
) -> str:
    """The Sankey of ``links`` (``labels``, ``x``, ``source``, ``target``, ``value``) as an
    SVG element; empty when there is no link.

    Nodes sit in the column of their ``x`` (0 to 1; without ``x``, columns follow the labels'
    order of appearance along the links), stacked top to bottom in label order.
    """
    src, tgt, val = links["source"], links["target"], [float(v) for v in links["value"]]
    labels = [str(x) for x in links["labels"]]
    if not src or not any(v > 0 for v in val):
        return ""
    n = len(labels)
    xs = list(links.get("x") or [])
    if len(xs) != n:
        depth = [0] * n
        for _ in range(n):
            for s, t in zip(src, tgt, strict=True):
                depth[t] = max(depth[t], depth[s] + 1)
        top = max(depth) or 1
        xs = [d / top for d in depth]
    cols = sorted(set(xs))
    col = [cols.index(x) for x in xs]
    inflow, outflow = [0.0] * n, [0.0] * n
    for s, t, v in zip(src, tgt, val, strict=True):
        outflow[s] += v
        inflow[t] += v
    size = [max(a, b) for a, b in zip(inflow, outflow, strict=True)]
    pad, node_w, left, right, top_m = 10.0, 12.0, 6.0, 190.0, 6.0
    inner_h = height - 2 * top_m
    members = [[k for k in range(n) if col[k] == c] for c in range(len(cols))]
    scale = min(
        (inner_h - pad * (len(m) - 1)) / max(sum(size[k] for k in m), 1e-12) for m in members if m
    )
    span = width - left - right - node_w
    x0 = [left + (span * col[k] / max(len(cols) - 1, 1)) for k in range(n)]
    y0 = [0.0] * n
    for m in members:
        used = sum(max(size[k] * scale, 1.0) for k in m) + pad * (len(m) - 1)
        y = top_m + (inner_h - used) / 2
        for k in m:
            y0[k] = y
            y += max(size[k] * scale, 1.0) + pad
    order = sorted(range(len(src)), key=lambda e: (y0[tgt[e]], y0[src[e]]))
    out_at, in_at = list(y0), list(y0)
    bands: list[str] = []
    for e in order:
        s, t, w = src[e], tgt[e], val[e] * scale
        if w <= 0:
            continue
        xa, xb = x0[s] + node_w, x0[t]
        ya, yb = out_at[s], in_at[t]
        out_at[s] += w
        in_at[t] += w
        xm = (xa + xb) / 2
        colour = PALETTE[col[s] % len(PALETTE)]
        d = (
            f"M{xa:.1f},{ya:.1f} C{xm:.1f},{ya:.1f} {xm:.1f},{yb:.1f} {xb:.1f},{yb:.1f} "
            f"L{xb:.1f},{yb + w:.1f} C{xm:.1f},{yb + w:.1f} {xm:.1f},{ya + w:.1f} "
            f"{xa:.1f},{ya + w:.1f} Z"
        )
        tip = escape(f"{labels[s]} → {labels[t]}: {val[e]:,.2f} {unit}")
        bands.append(
            f'<path d="{d}" fill="{colour}" fill-opacity="0.35" stroke="none">'
            f"<title>{tip}</title></path>"
        )
    nodes: list[str] = []
    for k in range(n):
        h = max(size[k] * scale, 1.0)
        colour = PALETTE[col[k] % len(PALETTE)]
        lx, anchor = x0[k] + node_w + 4, "start"
        tip = escape(f"{labels[k]}: {size[k]:,.2f} {unit}")
        nodes.append(
            f'<rect x="{x0[k]:.1f}" y="{y0[k]:.1f}" width="{node_w:.0f}" height="{h:.1f}" '
            f'fill="{colour}"><title>{tip}</title></rect>'
            f'<text x="{lx:.1f}" y="{y0[k] + h / 2:.1f}" dy="0.35em" text-anchor="{anchor}" '
            f'font-size="12" paint-order="stroke" stroke="#fff" stroke-width="3">'
            f"{escape(labels[k])}</text>"
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="Sankey of flows between stages" '
        f'font-family="system-ui, sans-serif">{"".join(bands)}{"".join(nodes)}</svg>'
    )


__all__ = ["sankey_svg"]
