"""Paths that explain a traced number: the heaviest upstream walks carrying a tag into a product.

A path runs from the node that adds the tag (the mine for ``stage='mine'``, the refinery
for ``stage='refine'``) down to the product; its weight is the product of the coefficients
``A`` along it times the tag value at its origin. The weights of all paths (walks, on
cycles) sum to the traced value; :func:`explain` lists the heaviest first (best-first
search bounded by each partial path's exact remaining value) and one residual entry.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from onshore.network import Network
from onshore.trace.graph import UNKNOWN, find_product
from onshore.trace.leontief import solve
from onshore.trace.tags import field_values, forward_plan, g_names, upstream, values


@dataclass(frozen=True)
class SupplyPath:
    """One upstream path, origin first: ``nodes`` (``facility:material``) and its weight.

    ``residual`` marks the one entry holding the weight of all paths not listed."""

    nodes: list[str]
    weight: float
    residual: bool = False


def explain(
    network: Network,
    product: str,
    tag: Mapping[str, str],
    top: int = 5,
    weight: str = "mass",
    period: str | None = None,
    controller: object = None,
    max_expand: int = 200_000,
) -> list[SupplyPath]:
    """The ``top`` heaviest paths that carry a tag into a product, plus one residual entry.

    A path runs from the node that adds the tag (the mine for ``stage='mine'``, the
    refinery for ``stage='refine'``) down to the product; its weight is the product of the
    coefficients ``A`` along it times the tag value at its origin. The weights of all paths
    (walks, on cycles) sum to the traced value ``sum_u y_u b_u``; the last entry
    (``residual=True``) holds what the listed paths leave, so the list always sums to it.
    Paths come heaviest first (best-first search bounded by each partial path's exact
    remaining value ``A``-weight x ``(L b)_u``).

    Parameters
    ----------
    network : Network
    product : str
        ``FACILITY`` (when it makes one material) or ``FACILITY:MATERIAL``.
    tag : mapping
        Tag field -> value, e.g. ``{"raw": "lithium", "stage": "refine", "country": "CN"}``.
    top : int
        The most paths listed.
    weight : {"mass", "cost"}
        As :func:`~onshore.trace.origin.trace`: units of raw, or USD, per unit of product.
    period : str, optional
        Flows whose period starts with this.
    controller : callable, optional
        ``network -> {company: country}`` for ``controlling_country``.
    max_expand : int
        The most partial paths expanded before the search stops (the rest goes to the
        residual).

    Returns
    -------
    list of SupplyPath
        Up to ``top`` paths, heaviest first, then the residual entry; only the residual
        (weight 0) when the product carries none of the tag.

    Raises
    ------
    NotFound
        When the product is not in the network.
    """

    by = tuple(tag)
    g, p = find_product(network, product, period)
    mask = upstream(g, p)
    nodes = np.flatnonzero(mask)
    n_id, raw, val, priced = values(g, nodes, weight, by)  # type: ignore[arg-type]
    ok = np.ones(len(n_id), dtype=bool)
    for f, v in tag.items():
        if f == "price":
            ok &= np.where(priced, "known", UNKNOWN) == v
        elif f == "raw":
            ok &= np.array(g.raws + [""], dtype=object)[raw] == v
        else:
            ok &= field_values(g, network, f, controller)[n_id] == v  # type: ignore[arg-type]
    b = np.zeros(g.n)
    np.add.at(b, n_id[ok], val[ok])
    Xb = solve(forward_plan(g), sp.csr_matrix(b[:, None]), mask=mask, names=g_names(g))[:, 0]
    total = float(Xb[p])
    paths: list[SupplyPath] = []
    if total == 0:
        return [SupplyPath([], 0.0, residual=True)]
    A = g.A
    cnt = itertools.count()
    heap: list[tuple[float, int, bool, int, float, tuple[int, ...]]] = [
        (-total, next(cnt), False, p, 1.0, (p,))
    ]
    expanded = 0
    while heap and len(paths) < top and expanded < max_expand:
        negv, _, done, u, w, walk = heapq.heappop(heap)
        if done:
            paths.append(SupplyPath(g.labels(np.array(walk[::-1])), float(-negv)))
            continue
        expanded += 1
        if b[u] > 0:
            heapq.heappush(heap, (-w * b[u], next(cnt), True, u, w, walk))
        lo, hi = A.indptr[u], A.indptr[u + 1]
        for v, a in zip(A.indices[lo:hi], A.data[lo:hi], strict=True):
            if Xb[v] > 0:
                heapq.heappush(
                    heap, (-w * a * Xb[v], next(cnt), False, int(v), w * a, walk + (int(v),))
                )
    listed = sum(x.weight for x in paths)
    paths.append(SupplyPath([], float(total - listed), residual=True))
    return paths


@dataclass(frozen=True)
class TagPaths:
    """The heaviest paths behind one traced tag of a product (see :func:`heaviest`)."""

    tag: dict[str, str]
    quantity: float
    paths: list[SupplyPath]


def heaviest(
    network: Network,
    product: str,
    tags: int = 3,
    top: int = 3,
    by: tuple[str, ...] = ("raw", "stage", "country"),
    weight: str = "mass",
    period: str | None = None,
    stages: tuple[str, ...] | None = None,
) -> list[TagPaths]:
    """The largest traced tags of a product, each with its heaviest upstream paths.

    The product is traced by ``by``; the ``tags`` rows with the largest quantity are explained
    by :func:`explain` (an ``unknown`` field is a tag like any other).

    Parameters
    ----------
    network : Network
    product : str
        ``FACILITY`` (when it makes one material) or ``FACILITY:MATERIAL``.
    tags : int
        How many of the largest tags are explained.
    top : int
        The most paths listed per tag (then one residual entry).
    by : tuple of str
        The tag fields, as :func:`~onshore.trace.origin.trace`.
    weight : {"mass", "cost"}
        Units of raw material, or USD, per unit of product.
    period : str, optional
        Flows whose period starts with this.
    stages : tuple of str, optional
        Only tags of these stages (``by`` must hold ``stage``), e.g. ``("mine", "refine")``
        for where the minerals were mined and refined.

    Returns
    -------
    list of TagPaths
        Largest tag first; each tag's paths sum to its quantity.

    Raises
    ------
    NotFound
        When the product is not in the network.
    """
    from onshore.trace.origin import trace

    df = trace(network, product, by=by, weight=weight, period=period)  # type: ignore[arg-type]
    fields = [c for c in by if c in df.columns]
    if stages is not None:
        df = df[df["stage"].astype(str).isin(stages)]
    out: list[TagPaths] = []
    for _, r in df.sort_values("quantity", ascending=False, kind="stable").head(tags).iterrows():
        tag = {c: str(r[c]) for c in fields}
        paths = explain(network, product, tag, top=top, weight=weight, period=period)
        out.append(TagPaths(tag=tag, quantity=float(r["quantity"]), paths=paths))
    return out
