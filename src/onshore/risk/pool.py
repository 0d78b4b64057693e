"""Market pools: the cut-off LP over pools of like plants instead of single plants.

With the market on, every plant of the affected sub-network may sell its whole output to
any buyer of that material and buy any input from any seller, so a plant's own supplier
links matter only where a cut-off bounds them. What tells plants apart is then their
role (affected plant, outside supplier, market seller), where they stand, their stage and
material, whether they ship nothing (a final product) and which cut-offs target them.
Plants that agree on all of these form one *pool*:

    key = (role, country, stage, material, final, cut-offs targeting it)

and the LP of :mod:`onshore.risk.lp` is built over pools: a pool's production, capacity,
spare, inputs, links (kept per pool pair and per set of cut-offs that bound them) and
inventories are the sums over its plants, its recipe is its inputs over its production.

The rule that makes the pooled LP a restriction of the per-plant one (documented, and
compared on small cases in ``tests/test_risk_pool.py``): **within a pool, every plant runs
at the same fraction of its baseline** (proportional allocation), so a final plant ``p`` in
pool ``P`` gets ``Y_P * b_p / B_P``, and the pool's fraction counts once per plant in the
objective (weight ``n_P``). Where each pool holds one plant, or its plants share one recipe,
the pooled LP gives the per-plant totals; the per-plant LP may instead starve some plants of
a pool to serve others in full (it maximises the sum of fractions), which this rule rules out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from onshore.risk import lp as lpm

__all__ = ["Units", "plant_units", "pooled_units"]


@dataclass
class Units:
    """The LP's units (plants or pools) with everything :func:`onshore.risk.lp.build` reads."""

    parts: lpm.Parts  # D, S, market and edges/recipe in unit positions
    production: np.ndarray  # per unit, per year
    capacity: np.ndarray
    material: np.ndarray
    weight: np.ndarray | None  # objective weight per D unit (None: 1 each)
    hits: np.ndarray  # (edges, cut-offs) bool: the cut-off bounds this edge
    targets: np.ndarray  # (units, cut-offs) bool: the cut-off stops this unit's market sales
    stock0: np.ndarray  # per recipe row: inventory at the start
    unit_of: np.ndarray  # per plant: its unit (-1 when in none)
    count: np.ndarray  # plants per unit


def plant_units(
    parts: lpm.Parts,
    production: np.ndarray,
    capacity: np.ndarray,
    material: np.ndarray,
    hits: np.ndarray,
    targets: np.ndarray,
    stock0: np.ndarray,
) -> Units:
    """One unit per plant: the per-plant LP.

    Parameters
    ----------
    parts : onshore.risk.lp.Parts
        The affected plants ``D``, their outside suppliers ``S``, the market sellers, the links
        into ``D`` and the recipes of ``D``, in baseline plant positions.
    production, capacity : ndarray, shape (n,)
        Baseline production and capacity per plant, in its material's unit per year.
    material : ndarray of object, shape (n,)
        Output material per plant (None when unknown).
    hits : ndarray of bool, shape (edges, cut-offs)
        Whether each cut-off bounds each link of ``parts.edges``.
    targets : ndarray of bool, shape (n, cut-offs)
        Whether each cut-off stops each plant's market sales.
    stock0 : ndarray, shape (recipe rows,)
        Inventory at the start per row of ``parts.recipe``, in the material's unit.

    Returns
    -------
    Units
        The inputs unchanged, with objective weight None (1 per plant), ``unit_of`` the
        identity and ``count`` 1 per plant.
    """
    n = len(production)
    return Units(
        parts,
        production,
        capacity,
        material,
        None,
        hits,
        targets,
        stock0,
        np.arange(n),
        np.ones(n, dtype=np.int64),
    )


def pooled_units(
    parts: lpm.Parts,
    production: np.ndarray,
    capacity: np.ndarray,
    material: np.ndarray,
    country: np.ndarray,
    stage: np.ndarray,
    hits: np.ndarray,
    targets: np.ndarray,
    stock0: np.ndarray,
) -> Units:
    """Pools of plants with the same (role, country, stage, material, final, targeting cut-offs).

    Parameters
    ----------
    parts : onshore.risk.lp.Parts
        The affected plants ``D``, their outside suppliers ``S``, the market sellers, the links
        into ``D`` and the recipes of ``D``, in baseline plant positions.
    production, capacity : ndarray, shape (n,)
        Baseline production and capacity per plant, in its material's unit per year.
    material : ndarray of object, shape (n,)
        Output material per plant (None when unknown).
    country, stage : ndarray, shape (n,)
        Country and stage per plant (pool keys).
    hits : ndarray of bool, shape (edges, cut-offs)
        Whether each cut-off bounds each link of ``parts.edges``.
    targets : ndarray of bool, shape (n, cut-offs)
        Whether each cut-off stops each plant's market sales.
    stock0 : ndarray, shape (recipe rows,)
        Inventory at the start per row of ``parts.recipe``, in the material's unit.

    Returns
    -------
    Units
        One unit per pool: summed production, capacity, links (per pool pair, material and
        set of bounding cut-offs) and stocks; recipes = pooled inputs / pooled production;
        objective weight = plants per affected pool; ``unit_of`` maps each plant to its pool
        (-1 outside the sub-network).
    """
    n = len(production)
    role = np.zeros(n, dtype=np.int64)
    role[parts.D], role[parts.S], role[parts.market] = 1, 2, 3
    final = np.zeros(n, dtype=bool)
    final[parts.D[parts.final]] = True
    bits = (
        (1 << np.arange(targets.shape[1], dtype=np.int64))
        if targets.shape[1]
        else np.zeros(0, dtype=np.int64)
    )
    mask = targets.astype(np.int64) @ bits if len(bits) else np.zeros(n, dtype=np.int64)
    member = np.flatnonzero(role > 0)
    key = pd.DataFrame(
        {
            "role": role[member],
            "country": country[member],
            "stage": stage[member],
            "material": pd.Series(material[member]).fillna("").astype(str).to_numpy(),
            "final": final[member],
            "mask": mask[member],
        }
    )
    codes, uniq = pd.factorize(pd.MultiIndex.from_frame(key), sort=True)
    U = len(uniq)
    unit_of = np.full(n, -1, dtype=np.int64)
    unit_of[member] = codes
    count = np.bincount(codes, minlength=U)
    u_prod = np.bincount(codes, weights=production[member], minlength=U)
    u_cap = np.bincount(codes, weights=capacity[member], minlength=U)
    first = np.full(U, -1, dtype=np.int64)
    first[codes[::-1]] = member[::-1]
    u_mat = material[first]
    u_role = role[first]
    u_final = final[first]
    u_targets = targets[first] if U else np.zeros((0, targets.shape[1]), dtype=bool)
    D = np.flatnonzero(u_role == 1)
    S = np.flatnonzero(u_role == 2)
    M = np.flatnonzero(u_role == 3)
    # links per (source pool, customer pool, material, cut-offs bounding them)
    e = parts.edges
    hmask = hits.astype(np.int64) @ bits if len(bits) else np.zeros(len(e), dtype=np.int64)
    ek = pd.DataFrame(
        {
            "s": unit_of[e["s"].to_numpy()],
            "c": unit_of[e["c"].to_numpy()],
            "material": e["material"].to_numpy(),
            "h": hmask,
            "qty": e["qty"].to_numpy(),
        }
    )
    ek = ek.groupby(["s", "c", "material", "h"], as_index=False, sort=True)["qty"].sum()
    u_hits = (
        ((ek["h"].to_numpy()[:, None] & bits[None, :]) > 0)
        if len(bits)
        else np.zeros((len(ek), 0), dtype=bool)
    )
    # recipes: a pool's inputs over its production; its stock the sum of its plants'
    r = parts.recipe
    rc = r["c"].to_numpy()
    rk = pd.DataFrame(
        {
            "c": unit_of[rc],
            "material": r["material"].to_numpy(),
            "a": r["r"].to_numpy() * production[rc],
            "stock": stock0,
        }
    )
    rk = rk.groupby(["c", "material"], as_index=False, sort=True)[["a", "stock"]].sum()
    rk["r"] = rk["a"].to_numpy() / np.maximum(u_prod[rk["c"].to_numpy()], 1e-300)
    pparts = lpm.Parts(
        D, S, M, ek[["s", "c", "material", "qty"]], rk[["c", "material", "r"]], u_final[D]
    )
    return Units(
        pparts,
        u_prod,
        u_cap,
        u_mat,
        count[D].astype(float),
        u_hits,
        u_targets,
        rk["stock"].to_numpy(),
        unit_of,
        count,
    )
