"""Tags of the trace: the plans of ``X = A X + B`` and its transpose, raw content, and the value
of each tag field per node (raw, stage, country, controlling country, company, facility)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Literal, TypeVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order

from onshore.errors import TraceError
from onshore.network import Network
from onshore.owners import controlling_country
from onshore.records.frames import positions
from onshore.trace.graph import UNKNOWN, Graph, digest_of_A
from onshore.trace.leontief import (
    TOL,
    Plan,
    plan,
    plan_arrays,
    plan_constants,
    plan_from_arrays,
    solve,
    solve_permuted,
)

FIELDS = ("raw", "stage", "country", "controlling_country", "company", "facility")
PLACE_FIELDS = ("country", "controlling_country", "company", "facility")
Weight = Literal["mass", "cost"]
Controller = Callable[[Network], Mapping[str, str]]
T = TypeVar("T")


# ======================================================================== graph + plans
def g_names(g: Graph) -> Callable[[np.ndarray], list[str]]:
    """A node-names callback for the solver's error messages.

    Parameters
    ----------
    g : Graph

    Returns
    -------
    callable
        Node ids (ndarray of int) -> their ``facility:material`` names (:meth:`Graph.labels`).
    """
    return lambda idx: g.labels(idx)


def forward_plan(g: Graph) -> Plan:
    """The plan of ``X = A X + B``, built once per graph (cached on it).

    Parameters
    ----------
    g : Graph

    Returns
    -------
    Plan
        The solve plan of ``A`` with the stage rank as the upstream-to-downstream hint.

    Raises
    ------
    TraceError
        When a cycle of ``A`` would create mass (spectral radius >= 1).
    """
    if "fwd" not in g.cache:
        g.cache["fwd"] = _kept_plan(
            g, "fwd", lambda: plan(g.A, g.nodes["rank"].to_numpy(), g_names(g))
        )
    p: Plan = g.cache["fwd"]
    return p


def backward_plan(g: Graph) -> Plan:
    """The plan of ``y = A^T y + e``, built once per graph (cached on it).

    Parameters
    ----------
    g : Graph

    Returns
    -------
    Plan
        The solve plan of ``A^T`` with the reversed stage rank as the hint.

    Raises
    ------
    TraceError
        When a cycle of ``A`` would create mass (spectral radius >= 1).
    """
    if "bwd" not in g.cache:
        g.cache["bwd"] = _kept_plan(
            g, "bwd", lambda: plan(g.A.T.tocsr(), -g.nodes["rank"].to_numpy(), g_names(g))
        )
    p: Plan = g.cache["bwd"]
    return p


# ==================================================== plans and raw content kept with the store
def digest(g: Graph, kind: str) -> str:
    """What a kept plan or raw content of ``g`` depends on, as a hex digest.

    SHA-256 of the kind (``fwd``, ``bwd``, ``content``), the plan layout and the solver's size
    limits (:func:`~onshore.trace.leontief.plan_constants`), ``A`` (shape, index arrays and
    values), the stage rank and, for the raw content, ``E`` and the tolerance. ``A`` is hashed
    once per graph.

    Parameters
    ----------
    g : Graph
    kind : str

    Returns
    -------
    str
        40 hex digits.
    """
    h = hashlib.sha256(repr((kind, plan_constants(), digest_of_A(g))).encode())
    if kind == "content":
        E = sp.csr_matrix(g.E)
        h.update(repr((E.shape, str(E.indptr.dtype), str(E.indices.dtype), TOL)).encode())
        for a in (E.indptr, E.indices, E.data):
            h.update(np.ascontiguousarray(a).reshape(-1).view(np.uint8).data)
    return h.hexdigest()[:40]


def _kept(
    g: Graph,
    kind: str,
    make: Callable[[], T],
    write: Callable[[T], Mapping[str, np.ndarray]],
    read: Callable[[Mapping[str, np.ndarray]], T],
) -> T:
    """The value of ``make()``, from the graph's plan cache when it holds an intact entry
    for exactly this ``A`` (:func:`digest`), else computed and saved there."""
    cache = g.plans
    if cache is None:
        return make()
    key = f"{kind}-{digest(g, kind)}"
    arrays = cache.load(key)
    if arrays is not None:
        try:
            return read(arrays)
        except (ValueError, KeyError, IndexError, TypeError):
            pass  # not what this code writes: compute and replace it
    value = make()
    cache.save(key, write(value))
    return value


def _kept_plan(g: Graph, kind: str, make: Callable[[], Plan]) -> Plan:
    """A plan through :func:`_kept`; when a later solve factors the feedback map of one of
    its blocks, the plan is saved again with the factors (the next process solves directly)."""
    p = _kept(g, kind, make, plan_arrays, plan_from_arrays)
    if g.plans is not None:
        keeper, key, owner = g.plans, f"{kind}-{digest(g, kind)}", os.getpid()

        def save_again() -> None:
            # only in the process that loaded the plan: the workers of an all-nodes solve
            # inherit it, and each would write the whole plan at once
            if os.getpid() == owner:
                keeper.save(key, plan_arrays(p))

        for lv in p.levels:
            if lv.cyc is not None and lv.cyc.F is not None and lv.cyc.fb is None:
                lv.cyc.factored = save_again
    return p


def content(g: Graph) -> np.ndarray:
    """Raw content ``C = L E = (I - A)^-1 E``, cached on the graph.

    Parameters
    ----------
    g : Graph

    Returns
    -------
    ndarray, shape (n, R)
        ``C[p, r]``: units of raw ``g.raws[r]`` (its own unit, e.g. kg) in one unit of
        node ``p``.
    """
    if "content" not in g.cache:
        shape = (g.n, len(g.raws))

        def read(d: Mapping[str, np.ndarray]) -> np.ndarray:
            if d["C"].shape != shape or d["C"].dtype != np.float64:
                raise ValueError("stored raw content of another shape")
            return d["C"]

        g.cache["content"] = _kept(
            g,
            "content",
            lambda: solve(forward_plan(g), g.E, names=g_names(g)),
            lambda C: {"C": C},
            read,
        )
    C: np.ndarray = g.cache["content"]
    return C


def upstream(g: Graph, node: int) -> np.ndarray:
    """Nodes upstream of ``node`` (itself included), as a boolean mask.

    Parameters
    ----------
    g : Graph
    node : int
        A node id.

    Returns
    -------
    ndarray of bool, shape (n,)
        True for ``node`` and every node it takes from, directly or indirectly.
    """
    order = breadth_first_order(g.A, node, directed=True, return_predecessors=False)
    mask = np.zeros(g.n, dtype=bool)
    mask[order] = True
    return mask


def leontief_row(g: Graph, node: int, mask: np.ndarray | None = None) -> np.ndarray:
    """``y = e_p L``: units of every node embodied in one unit of node ``p`` (``y = A^T y + e_p``).

    Only nodes upstream of ``p`` are nonzero.

    Parameters
    ----------
    g : Graph
    node : int
        The node ``p``.
    mask : ndarray of bool, shape (n,), optional
        Rows to keep; every other row of ``y`` is set to 0.

    Returns
    -------
    ndarray, shape (n,)
        ``y[u]``: units of node ``u`` (in ``u``'s material unit) per unit of ``p``;
        ``y[p] = 1`` on an acyclic graph.
    """
    bp = backward_plan(g)
    e = np.zeros((g.n, 1))  # in plan order, dense: no sparse slicing per level
    e[bp.pos[node], 0] = 1.0
    y: np.ndarray = solve_permuted(bp, e, names=g_names(g))[bp.pos, 0]
    if mask is not None:
        y[~mask] = 0.0
    return y


# ============================================================================ tag values
def direct_parent_country(network: Network) -> dict[str, str]:
    """Company id -> the country of its direct parent, else its own country.

    The direct parent is the owner with the largest equity share (ties: the first in the
    ownership table). A controller hook; the default is
    :func:`onshore.owners.controlling_country` (the ultimate controller's country).

    Parameters
    ----------
    network : Network

    Returns
    -------
    dict of str to str
        Company id -> country code; ``unknown`` when the parent is not a known company.
    """
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
    """Company id -> the country of its ultimate controller (the default controller hook).

    Parameters
    ----------
    network : Network

    Returns
    -------
    dict of str to str
        Company id -> country code, as :func:`onshore.owners.controlling_country`.
    """

    return controlling_country(network)


def field_values(g: Graph, network: Network, f: str, controller: Controller | None) -> np.ndarray:
    """Per node, the value of a tag field (strings), cached on the graph.

    Parameters
    ----------
    g : Graph
    network : Network
        The network of ``g`` (its ownership for ``controlling_country``).
    f : str
        A tag field of :data:`FIELDS` other than ``raw``.
    controller : callable, optional
        ``network -> {company: country}`` for ``controlling_country``; default
        :func:`ultimate_controller_country`.

    Returns
    -------
    ndarray of object, shape (n,)
        The field's value per node; ``unknown`` on virtual nodes and, for
        ``controlling_country``, companies the controller does not map.

    Raises
    ------
    TraceError
        When ``f`` is not a tag field, or is ``raw`` (raw is a column of ``C``, not a node value).
    """
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
    """Per node, the code of a field's value and the (sorted) values.

    Parameters
    ----------
    g : Graph
    network : Network
    f : str
        A tag field other than ``raw`` (see :func:`field_values`).
    controller : callable, optional
        The controller hook for ``controlling_country``.

    Returns
    -------
    tuple of (ndarray of int64, ndarray of object)
        ``codes`` (shape (n,)) indexing into ``uniq``, and ``uniq``, the distinct values sorted.

    Raises
    ------
    TraceError
        When ``f`` is not a node tag field (see :func:`field_values`).
    """
    if f not in FIELDS or f == "raw":  # as field_values refuses it, whatever the column
        raise TraceError(f"unknown tag field {f!r}; fields: {', '.join(FIELDS)}")
    key = f"codes:{f}:{id(controller) if f == 'controlling_country' else ''}"
    if key not in g.cache:
        col = g.nodes[f] if f in g.nodes.columns and f != "controlling_country" else None
        fast = _arrow_codes(col) if col is not None else None
        if fast is not None:
            g.cache[key] = fast
        else:
            codes, uniq = pd.factorize(field_values(g, network, f, controller), sort=True)
            g.cache[key] = (codes.astype(np.int64), np.asarray(uniq, dtype=object))
    out: tuple[np.ndarray, np.ndarray] = g.cache[key]
    return out


def _arrow_codes(col: pd.Series) -> tuple[np.ndarray, np.ndarray] | None:
    """``pd.factorize(col.astype(str), sort=True)`` of a text column held by Arrow without
    nulls, by Arrow's dictionary encoding (no Python string per row); None for other columns."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not isinstance(col.dtype, pd.StringDtype) or col.dtype.storage != "pyarrow":
        return None
    got = pa.array(col.array)  # the Arrow data itself (``__arrow_array__``), no copy
    arr = got.combine_chunks() if isinstance(got, pa.ChunkedArray) else got
    if arr.null_count:
        return None
    enc = pc.dictionary_encode(arr)
    words = enc.dictionary.to_pylist()
    order = sorted(range(len(words)), key=words.__getitem__)
    rank = np.empty(len(words), dtype=np.int64)
    rank[order] = np.arange(len(words))
    codes = rank[enc.indices.to_numpy(zero_copy_only=False)]
    return codes, np.array([words[i] for i in order], dtype=object)


def values(
    g: Graph, nodes: np.ndarray, weight: Weight, by: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per (node, raw) value per unit of node.

    With ``raw`` in ``by``: one entry per nonzero ``C[u, r]``; by mass the value is
    ``C[u, r]``, by cost ``C[u, r]`` x the raw's USD price (unpriced raws keep their mass).
    Without ``raw``: one entry per node with a nonzero value; by mass ``sum_r C[u, r]``, by
    cost the node's USD price per unit (1 where unpriced).

    Parameters
    ----------
    g : Graph
    nodes : ndarray of int
        The node ids to value.
    weight : {"mass", "cost"}
    by : sequence of str
        The tag fields; only whether ``raw`` is among them matters here.

    Returns
    -------
    tuple of four ndarrays
        Node ids, raw indices (into ``g.raws``; -1 without ``raw``), values (units of raw or
        USD per unit of node) and priced flags (False where a cost value fell back to units).
    """
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
    """The columns a trace's shares are normalised over.

    Parameters
    ----------
    by : sequence of str
        The tag fields of the trace.
    weight : {"mass", "cost"}

    Returns
    -------
    list of str
        ``raw`` and ``stage`` when in ``by`` (in ``by`` order), plus ``price`` by cost; empty
        when shares are over the whole total.
    """
    keys = [f for f in by if f in ("raw", "stage")]
    return keys + (["price"] if weight == "cost" else [])


def raw_price(g: Graph) -> np.ndarray:
    """Per raw material of ``g.raws``, the USD price of one unit (NaN where unpriced).

    Parameters
    ----------
    g : Graph

    Returns
    -------
    ndarray, shape (R,)
        USD per unit of each raw material's own unit, in ``g.raws`` order.
    """
    if "raw_price" not in g.cache:
        # a node's price is its material's, so the first node of each raw gives it
        at = positions(
            pd.Series([str(r) for r in g.raws], dtype=object), pd.Index(g.nodes["material"])
        )
        price = np.asarray(g.price, dtype=float)
        g.cache["raw_price"] = np.where(at >= 0, price[np.maximum(at, 0)], np.nan)
    out: np.ndarray = g.cache["raw_price"]
    return out


def raw_prices(g: Graph, basis: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Raw materials, the value of one unit of each as the trace weights it, and whether priced.

    Parameters
    ----------
    g : Graph
    basis : str
        ``cost`` to value by price; anything else values by mass.

    Returns
    -------
    tuple of (list of str, ndarray, ndarray of bool)
        The raw materials (``g.raws``), the value of one unit of each (its USD price by cost,
        1 where unpriced or by mass) and whether it is priced (all True by mass).
    """
    raws = [str(r) for r in g.raws]
    if basis != "cost":
        return raws, np.ones(len(raws)), np.ones(len(raws), dtype=bool)
    pr = raw_price(g)
    priced = ~np.isnan(pr)
    return raws, np.where(priced, np.nan_to_num(pr), 1.0), priced
