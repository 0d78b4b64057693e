"""Conservation checks of the trace (``onshore validate``): mass balance at every node, content
by the BOM chain, shares summing to one per (raw, stage), mine totals; with the physical checks
of the tables (capacity, producing periods, recipes: :mod:`onshore.records.physical`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from onshore.network import Network
from onshore.records.physical import Finding, check_physical
from onshore.sparse import reachable
from onshore.trace.graph import Graph, graph
from onshore.trace.origin import trace
from onshore.trace.tags import content


def material_content(network: Network, g: Graph | None = None) -> pd.DataFrame:
    """Raw content per unit of each material from the generic BOMs alone: ``(I - Q)^-1 E_m``.

    Read off the virtual nodes, whose recipes are the generic BOMs with unknown suppliers.

    Parameters
    ----------
    network : Network
    g : Graph, optional
        The network's graph; default :func:`~onshore.trace.graph.graph` of all periods.

    Returns
    -------
    DataFrame
        Index: material id; columns: the raw materials (``g.raws``); values: units of raw
        (its own unit) in one unit of the material.
    """

    g = g or graph(network)
    vnodes = np.flatnonzero(g.nodes["virtual"].to_numpy())
    C = content(g)
    return pd.DataFrame(C[vnodes], index=g.nodes["material"].to_numpy()[vnodes], columns=g.raws)


def validate(
    network: Network,
    period: str | None = None,
    tol: float = 1e-9,
    sample: int = 50,
    physical: bool = True,
) -> list[Finding]:
    """Conservation checks of the trace.

    1. Mass balance at every node: ``C = A C + E`` to ``tol`` (relative).
    2. Content by the BOM chain: a node whose upstream uses only generic recipes holds
       exactly the raw content the generic BOMs imply for its material,
       ``c_m = sum_i q(m, i) c_i`` (computed on the virtual nodes, which follow them).
    3. For up to ``sample`` products (most downstream first), shares over countries sum to
       one per (raw, stage), ``unknown`` included, and the stage-``mine`` quantities add up
       to the product's raw content (less is an error; more, a warning: some raw passes
       two mine-stage facilities and is counted at each).
    Also reported: nodes without a recipe (their content is unknown) and inputs with no
    recorded supplier; and first the physical checks of the flows of the period
    (:func:`onshore.records.physical.check_physical`: capacity, producing periods, recipes),
    unless ``physical`` is False.

    Parameters
    ----------
    network : Network
    period : str, optional
        Flows whose period starts with this.
    tol : float
        Relative tolerance of the mass-balance, BOM-chain and mine-total checks (scaled by
        ``max(value, 1)``).
    sample : int
        How many products get the share and mine-total checks.
    physical : bool
        Run the physical checks first.

    Returns
    -------
    list of Finding
        The physical findings, then errors, warnings (``no recipe``, a mine total above
        content) and infos (``unknown origin``), grouped by check in the order above; empty
        when nothing is found.
    """

    g = graph(network, period)
    flows = network.flows_of(period)
    out: list[Finding] = (
        check_physical(network.facilities, flows, network.boms, network.materials)
        if physical
        else []
    )
    C = content(g)
    names = g.labels()
    res = np.abs(C - g.A @ C - g.E.toarray()).max(axis=1)
    scale = np.maximum(np.abs(C).max(axis=1), 1.0)
    for i in np.flatnonzero(res > tol * scale):
        out.append(Finding("error", "mass balance", names[i], f"C - A C - E = {res[i]:.3g}"))
    # nodes downstream of a plant-specific recipe or a pass-through may differ from the
    # generic content
    bm = network.boms
    # a plant's own recipe makes it special, unless it only passes its output through
    own = bm[bm["facility"].notna()]
    own = own[~(own["input"].astype(str) == own["output"].astype(str)).to_numpy()]
    spec = set(zip(own["facility"].astype(str), own["output"].astype(str), strict=True))
    nd = g.nodes
    special = (
        np.array([(f, m) in spec for f, m in zip(nd["facility"], nd["material"], strict=True)])
        if spec
        else np.zeros(g.n, dtype=bool)
    )
    norecipe = (np.diff(g.A.indptr) == 0) & (np.asarray(g.E.sum(axis=1)).ravel() == 0)
    passthru = (
        ~nd["virtual"].to_numpy()
        & (nd["stage"].to_numpy() != "mine")
        & np.isin(nd["material"].to_numpy(), g.raws)
    )
    special |= passthru
    aff = reachable(g.A.T.tocsr(), np.flatnonzero(special)) if special.any() else special
    mc = material_content(network, g).reindex(nd["material"].to_numpy()).to_numpy()
    diff = np.abs(C - mc).max(axis=1)
    for i in np.flatnonzero(
        ~aff & ~norecipe & (diff > tol * np.maximum(np.abs(mc).max(axis=1), 1.0))
    ):
        out.append(
            Finding(
                "error",
                "BOM chain",
                names[i],
                f"traced content differs from the BOMs by {diff[i]:.3g}",
            )
        )
    for i in np.flatnonzero(
        norecipe & ~nd["virtual"].to_numpy() & (nd["stage"].to_numpy() != "mine")
    ):
        out.append(
            Finding(
                "warning",
                "no recipe",
                names[i],
                "no BOM for this output: its raw content is unknown",
            )
        )
    vn = np.flatnonzero(nd["virtual"].to_numpy())
    gaps = g.A[:, vn].tocoo()
    real_rows = ~nd["virtual"].to_numpy()[gaps.row]
    for r, c in zip(gaps.row[real_rows], gaps.col[real_rows], strict=True):
        out.append(
            Finding(
                "info",
                "unknown origin",
                names[r],
                f"no recorded supplier of {nd['material'].iloc[vn[c]]}",
            )
        )
    real = np.flatnonzero(~nd["virtual"].to_numpy() & (C.sum(axis=1) > 0))
    order = real[np.argsort(-nd["rank"].to_numpy()[real], kind="stable")][:sample]
    for i in order:
        t = trace(network, names[i], by=("raw", "stage", "country"), period=period)
        s = t.groupby(["raw", "stage"])["share"].sum()
        for (r, st), v in s.items():
            if abs(v - 1) > 1e-9:
                out.append(
                    Finding("error", "shares", names[i], f"shares of ({r}, {st}) sum to {v:.12g}")
                )
        mine = t[t["stage"] == "mine"].groupby("raw")["quantity"].sum()
        for r, v in mine.items():
            c = C[i, g.raws.index(str(r))]
            if abs(v - c) > tol * max(c, 1.0):
                lvl = (
                    "error" if v < c - tol * max(c, 1.0) else "warning"
                )  # more: a mine fed by a mine
                out.append(
                    Finding(
                        lvl,
                        "mine total",
                        names[i],
                        f"{r}: stage 'mine' counts {v:.12g}, content {c:.12g}",
                    )
                )
    return out
