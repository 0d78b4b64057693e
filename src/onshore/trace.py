"""Trace: where the minerals and the processing stages of every product come from.

With ``A`` the input coefficients of :mod:`onshore.graph` (``A[p, u]`` = units of node ``u``
in one unit of node ``p``) and ``B`` the tags each node adds, the tag content of every node
solves

    X = A X + B,    X = L B,    L = (I - A)^-1  (the Leontief inverse),

exactly, cycles (recycling) included, by :mod:`onshore.solve` (strong components, a
level sweep, direct or Anderson-accelerated Gauss-Seidel solves of cyclic blocks to a
relative residual <= 1e-10), which never forms ``L``.

Tags, in two solves:

1. raw content ``C = L E`` (``E`` = raw extracted at mines): ``C[p, r]`` units of raw ``r``
   in one unit of ``p``;
2. stage tags: node ``p`` of stage ``s`` in country ``c`` adds ``b_p[(r, s, c)] = C[p, r]``;
   ``X = L B`` is then the raw ``r`` in each product that went through stage ``s`` in
   country ``c`` (counted once per passage: on a recycling loop material that passes a stage
   twice counts twice, and ``share`` normalises per (raw, stage)).

For one product ``p`` the row ``y = e_p L`` (``y = A^T y + e_p``) gives every upstream
node's units per unit of ``p``; its trace is ``sum_u y_u b_u`` grouped by tag. Data gaps
are the virtual ``unknown`` nodes: country, controlling country ``unknown``. Paths that
explain a number are in :mod:`onshore.paths`, conservation checks in :mod:`onshore.checks`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order

from onshore.checks import Finding, material_content, validate
from onshore.errors import TraceError
from onshore.graph import UNKNOWN, Graph, find_product, graph
from onshore.network import Network
from onshore.paths import SupplyPath, explain
from onshore.solve import TOL, Plan, plan, solve

__all__ = [
    "TOL",
    "Finding",
    "Plan",
    "SupplyPath",
    "content",
    "explain",
    "graph",
    "material_content",
    "plan",
    "read_all",
    "solve",
    "solve_all",
    "trace",
    "validate",
]
FIELDS = ("raw", "stage", "country", "controlling_country", "company", "facility")
PLACE_FIELDS = ("country", "controlling_country", "company", "facility")
Weight = Literal["mass", "cost"]
Controller = Callable[[Network], Mapping[str, str]]


# ======================================================================== graph + plans
def g_names(g: Graph) -> Callable[[np.ndarray], list[str]]:
    return lambda idx: g.labels(idx)


def forward_plan(g: Graph) -> Plan:
    """The plan of ``X = A X + B``, built once per graph (cached on it)."""
    if "fwd" not in g.cache:
        g.cache["fwd"] = plan(g.A, g.nodes["rank"].to_numpy(), g_names(g))
    p: Plan = g.cache["fwd"]
    return p


def backward_plan(g: Graph) -> Plan:
    """The plan of ``y = A^T y + e``, built once per graph (cached on it)."""
    if "bwd" not in g.cache:
        g.cache["bwd"] = plan(g.A.T.tocsr(), -g.nodes["rank"].to_numpy(), g_names(g))
    p: Plan = g.cache["bwd"]
    return p


def content(g: Graph) -> np.ndarray:
    """Raw content ``C = L E = (I - A)^-1 E``: ``C[p, r]`` units of raw ``r`` in one unit of ``p``."""
    if "content" not in g.cache:
        g.cache["content"] = solve(forward_plan(g), g.E, names=g_names(g))
    C: np.ndarray = g.cache["content"]
    return C


def upstream(g: Graph, node: int) -> np.ndarray:
    """Nodes upstream of ``node`` (itself included), as a boolean mask."""
    order = breadth_first_order(g.A, node, directed=True, return_predecessors=False)
    mask = np.zeros(g.n, dtype=bool)
    mask[order] = True
    return mask


def leontief_row(g: Graph, node: int, mask: np.ndarray | None = None) -> np.ndarray:
    """``y = e_p L``: units of every node embodied in one unit of node ``p`` (``y = A^T y + e_p``).

    Only nodes upstream of ``p`` are nonzero; ``mask`` (optional) zeroes any other row."""
    e = sp.csr_matrix(([1.0], ([node], [0])), shape=(g.n, 1))
    return solve(backward_plan(g), e, mask=mask, names=g_names(g))[:, 0]


# ============================================================================ tag values
def direct_parent_country(network: Network) -> dict[str, str]:
    """Company id -> the country of its direct parent (the owner with the largest equity
    share), else its own country. A controller hook; the default is
    :func:`onshore.owners.controlling_country` (the ultimate controller's country)."""
    comp = network.companies
    country = dict(zip(comp["id"].astype(str), comp["country"].astype(str), strict=True))
    out = dict(country)
    own = network.ownership
    if len(own):
        o = own.assign(eq=pd.to_numeric(own["equity"], errors="coerce").fillna(0.0))
        o = o[o["eq"] > 0].sort_values(["owned", "eq"], ascending=[True, False], kind="stable")
        top = o.drop_duplicates("owned")
        for owned, owner in zip(top["owned"].astype(str), top["owner"].astype(str), strict=True):
            out[owned] = country.get(owner, UNKNOWN)
    return out


def ultimate_controller_country(network: Network) -> dict[str, str]:
    """Company id -> the country of its ultimate controller (the default controller hook)."""
    from onshore.owners import controlling_country

    return controlling_country(network)


def _field_values(g: Graph, network: Network, f: str, controller: Controller | None) -> np.ndarray:
    """Per node, the value of a tag field (strings), cached on the graph."""
    if f not in FIELDS or f == "raw":
        raise TraceError(f"unknown tag field {f!r}; fields: {', '.join(FIELDS)}")
    key = f"field:{f}:{id(controller) if f == 'controlling_country' else ''}"
    if key not in g.cache:
        nd = g.nodes
        if f == "controlling_country":
            cc = (controller or ultimate_controller_country)(network)
            g.cache[key] = nd["company"].map(cc).fillna(UNKNOWN).where(~nd["virtual"], UNKNOWN).astype(str).to_numpy(dtype=object)
        else:
            g.cache[key] = nd[f].astype(str).to_numpy(dtype=object)
    v: np.ndarray = g.cache[key]
    return v


def _field_codes(g: Graph, network: Network, f: str, controller: Controller | None) -> tuple[np.ndarray, np.ndarray]:
    """Per node, the code of a field's value and the (sorted) values."""
    key = f"codes:{f}:{id(controller) if f == 'controlling_country' else ''}"
    if key not in g.cache:
        codes, uniq = pd.factorize(_field_values(g, network, f, controller), sort=True)
        g.cache[key] = (codes.astype(np.int64), np.asarray(uniq, dtype=object))
    out: tuple[np.ndarray, np.ndarray] = g.cache[key]
    return out


def _values(g: Graph, nodes: np.ndarray, weight: Weight, by: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per (node, raw) value per unit of node: node ids, raw indices (into ``g.raws``; -1
    without ``raw``), values, priced flags."""
    C = content(g)
    if "raw" in by:
        sub = C[nodes]
        ii, rr = np.nonzero(sub)
        val = sub[ii, rr]
        if weight == "cost":
            rp = pd.Series(g.price, index=g.nodes["material"]).groupby(level=0).first()
            pr = rp.reindex(g.raws).to_numpy(dtype=float)[rr]
            priced = ~np.isnan(pr)
            val = np.where(priced, val * np.nan_to_num(pr), val)
        else:
            priced = np.ones(len(val), dtype=bool)
        return nodes[ii], rr.astype(np.int64), val, priced
    if weight == "cost":
        pr = g.price[nodes]
        priced = ~np.isnan(pr)
        val = np.where(priced, np.nan_to_num(pr), 1.0)
    else:
        val = C[nodes].sum(axis=1)
        priced = np.ones(len(nodes), dtype=bool)
    keep = val != 0
    return nodes[keep], np.full(int(keep.sum()), -1, dtype=np.int64), val[keep], priced[keep]


def _share_keys(by: Sequence[str], weight: Weight) -> list[str]:
    keys = [f for f in by if f in ("raw", "stage")]
    return keys + (["price"] if weight == "cost" else [])


# ================================================================================ public
def trace(
    network: Network,
    product: str,
    by: Sequence[str] = ("raw", "stage", "country"),
    weight: Weight = "mass",
    period: str | None = None,
    controller: Controller | None = None,
) -> pd.DataFrame:
    """The origin of one product by tag: raw material, stage, country, controlling country.

    Parameters
    ----------
    network : Network
    product : str
        ``FACILITY`` (when it makes one material) or ``FACILITY:MATERIAL``.
    by : sequence of str
        Tag fields among ``raw``, ``stage``, ``country``, ``controlling_country``,
        ``company``, ``facility``.
    weight : {"mass", "cost"}
        ``mass``: with ``raw``, units of raw ``r`` (its own unit, e.g. kg) in one unit of
        the product that passed a facility with the tag; without ``raw``, the sum over raw
        materials. ``cost``: USD per unit of product; with ``raw``, the raw content valued
        at the raw material's price; without ``raw``, the value of the tagged components
        ``sum_u y_u v_u`` (``y_u`` units of node ``u`` per unit of product, ``v_u`` its
        material's price), e.g. the cathode value made in KR per kWh of cell. Parts whose
        price is missing are kept under ``price = 'unknown'`` in their own units.
    period : str, optional
        Flows whose period starts with this (``"2025"``).
    controller : callable, optional
        ``network -> {company: country}`` for ``controlling_country``; default
        :func:`onshore.owners.controlling_country` (the ultimate controller's country;
        :func:`direct_parent_country` gives the direct parent's).

    Returns
    -------
    DataFrame
        One column per tag field (plus ``price`` with cost), ``quantity`` per unit of the
        product and ``share`` = quantity / total over the same (raw, stage), so shares over
        countries sum to one per (raw, stage), ``unknown`` included.

    Examples
    --------
    >>> trace(net, "cell1", by=("raw", "stage", "country"))  # doctest: +SKIP
    """
    by = tuple(by)
    g, p = find_product(network, product, period)
    y = leontief_row(g, p)
    nodes = np.flatnonzero(y)
    return _table(g, network, nodes, y[nodes], by, weight, controller)


def _table(
    g: Graph, network: Network, nodes: np.ndarray, y: np.ndarray, by: tuple[str, ...], weight: Weight, controller: Controller | None
) -> pd.DataFrame:
    """Sum ``y_u b_u`` by tag on integer codes (one ``np.unique`` and ``bincount``)."""
    pos = np.empty(g.n, dtype=np.int64)
    pos[nodes] = np.arange(len(nodes))
    n_id, raw, val, priced = _values(g, nodes, weight, by)
    q = y[pos[n_id]] * val
    raws = np.array(g.raws + [""], dtype=object)
    cols: list[tuple[str, np.ndarray, np.ndarray]] = []  # (name, codes per row, values)
    for f in by:
        if f == "raw":
            cols.append((f, raw % len(raws), raws))
        else:
            codes, uniq = _field_codes(g, network, f, controller)
            cols.append((f, codes[n_id], uniq))
    if weight == "cost":
        cols.append(("price", np.where(priced, 0, 1), np.array(["known", UNKNOWN], dtype=object)))
    key = np.zeros(len(q), dtype=np.int64)
    for _, c, u in cols:
        key = key * len(u) + c
    uk, inv = np.unique(key, return_inverse=True)
    sums = np.bincount(inv, weights=q, minlength=len(uk))
    data: dict[str, Any] = {}
    rest = uk
    for name, _, u in reversed(cols):
        data[name] = u[rest % len(u)]
        rest = rest // len(u)
    out = pd.DataFrame({name: data[name] for name, _, _ in cols})
    out["quantity"] = sums
    keys = [name for name, _, _ in cols]
    if keys:
        out = out.sort_values(keys, kind="stable").reset_index(drop=True)
    sk = _share_keys(by, weight)
    tot = out.groupby(sk)["quantity"].transform("sum") if sk else out["quantity"].sum()
    out["share"] = (out["quantity"] / tot).fillna(0.0)
    return out[out["quantity"] != 0].reset_index(drop=True)


def _downstream(AT: sp.csr_matrix, sources: np.ndarray, n: int) -> np.ndarray:
    """Nodes reachable from ``sources`` along consumers (``A^T``), sources included."""
    mask = np.zeros(n, dtype=bool)
    frontier = np.unique(sources)
    mask[frontier] = True
    while frontier.size:
        nxt = AT[frontier].indices
        nxt = np.unique(nxt[~mask[nxt]])
        mask[nxt] = True
        frontier = nxt
    return mask


# re-exported; it reads the helpers above
from onshore.allnodes import read_all, solve_all
