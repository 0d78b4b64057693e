"""Tags of the trace: the plans of ``X = A X + B`` and its transpose, raw content, and the value
of each tag field per node (raw, stage, country, controlling country, company, facility)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order

from onshore.errors import TraceError
from onshore.network import Network
from onshore.owners import controlling_country
from onshore.trace.graph import UNKNOWN, Graph
from onshore.trace.leontief import Plan, plan, solve

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

    return controlling_country(network)


def field_values(g: Graph, network: Network, f: str, controller: Controller | None) -> np.ndarray:
    """Per node, the value of a tag field (strings), cached on the graph."""
    if f not in FIELDS or f == "raw":
        raise TraceError(f"unknown tag field {f!r}; fields: {', '.join(FIELDS)}")
    key = f"field:{f}:{id(controller) if f == 'controlling_country' else ''}"
    if key not in g.cache:
        nd = g.nodes
        if f == "controlling_country":
            cc = (controller or ultimate_controller_country)(network)
            g.cache[key] = (
                nd["company"]
                .map(cc)
                .fillna(UNKNOWN)
                .where(~nd["virtual"], UNKNOWN)
                .astype(str)
                .to_numpy(dtype=object)
            )
        else:
            g.cache[key] = nd[f].astype(str).to_numpy(dtype=object)
    v: np.ndarray = g.cache[key]
    return v


def field_codes(
    g: Graph, network: Network, f: str, controller: Controller | None
) -> tuple[np.ndarray, np.ndarray]:
    """Per node, the code of a field's value and the (sorted) values."""
    key = f"codes:{f}:{id(controller) if f == 'controlling_country' else ''}"
    if key not in g.cache:
        codes, uniq = pd.factorize(field_values(g, network, f, controller), sort=True)
        g.cache[key] = (codes.astype(np.int64), np.asarray(uniq, dtype=object))
    out: tuple[np.ndarray, np.ndarray] = g.cache[key]
    return out


def values(
    g: Graph, nodes: np.ndarray, weight: Weight, by: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per (node, raw) value per unit of node: node ids, raw indices (into ``g.raws``; -1
    without ``raw``), values, priced flags."""
    C = content(g)
    if "raw" in by:
        sub = C[nodes]
        ii, rr = np.nonzero(sub)
        val = sub[ii, rr]
        if weight == "cost":
            pr = raw_price(g)[rr]
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


def share_keys(by: Sequence[str], weight: Weight) -> list[str]:
    keys = [f for f in by if f in ("raw", "stage")]
    return keys + (["price"] if weight == "cost" else [])


def raw_price(g: Graph) -> np.ndarray:
    """Per raw material of ``g.raws``, the USD price of one unit (NaN where unpriced)."""
    if "raw_price" not in g.cache:
        rp = (
            pd.Series(g.price, index=g.nodes["material"].astype(str).to_numpy())
            .groupby(level=0)
            .first()
        )
        g.cache["raw_price"] = rp.reindex([str(r) for r in g.raws]).to_numpy(dtype=float)
    out: np.ndarray = g.cache["raw_price"]
    return out


def raw_prices(g: Graph, basis: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Raw materials, the value of one unit of each as the trace weights it (its price by
    cost, 1 where unpriced or by mass) and whether it is priced."""
    raws = [str(r) for r in g.raws]
    if basis != "cost":
        return raws, np.ones(len(raws)), np.ones(len(raws), dtype=bool)
    pr = raw_price(g)
    priced = ~np.isnan(pr)
    return raws, np.where(priced, np.nan_to_num(pr), 1.0), priced
