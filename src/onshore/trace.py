"""Trace: where the minerals and the processing stages of every product come from.

With ``A`` the input coefficients of :mod:`onshore.graph` (``A[p, u]`` = units of node ``u``
in one unit of node ``p``) and ``B`` the tags each node adds, the tag content of every node
solves

    X = A X + B,    X = L B,    L = (I - A)^-1  (the Leontief inverse),

exactly, cycles (recycling) included. The solver never forms ``L``: it splits the graph into
strongly connected components, sweeps the condensation in topological order level by level
(one sparse product per level), and solves each cyclic component either by a sparse direct
solve (small) or by block Gauss-Seidel ordered by stage, whose few back edges (recycling)
make it converge in a handful of sweeps, to a relative residual <= 1e-10. A component whose
spectral radius is >= 1 (a cycle that creates mass) is refused with a TraceError naming it.

Tags, in two solves:

1. raw content ``C = L E`` (``E`` = raw extracted at mines): ``C[p, r]`` units of raw ``r``
   in one unit of ``p``;
2. stage tags: node ``p`` of stage ``s`` in country ``c`` adds ``b_p[(r, s, c)] = C[p, r]``;
   ``X = L B`` is then the raw ``r`` in each product that went through stage ``s`` in
   country ``c`` (counted once per passage: on a recycling loop material that passes a stage
   twice counts twice, and ``share`` normalises per (raw, stage)).

For one product ``p`` the row ``y = e_p L`` (``y = A^T y + e_p``, upstream nodes only) gives
every upstream node's units per unit of ``p``; its trace is ``sum_u y_u b_u`` grouped by tag.
Data gaps are the virtual ``unknown`` nodes: country, controlling country ``unknown``.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order, connected_components
from scipy.sparse.linalg import splu

from onshore.errors import TraceError
from onshore.graph import UNKNOWN, Graph, find_product, graph
from onshore.network import Network

TOL = 1e-10
"""Relative residual ``||X - A X - B|| / ||B||`` every cyclic solve reaches."""
DIRECT_MAX = 300
"""Cyclic components up to this many nodes are solved directly (sparse LU), larger ones iteratively."""
FIELDS = ("raw", "stage", "country", "controlling_country", "company", "facility")
PLACE_FIELDS = ("country", "controlling_country", "company", "facility")
Weight = Literal["mass", "cost"]
Controller = Callable[[Network], Mapping[str, str]]


# ================================================================================ solver
def _levels(n: int, dep_rows: np.ndarray, dep_cols: np.ndarray) -> np.ndarray:
    """Longest-path level of each vertex of a DAG given edges ``row depends on col`` (Kahn, by frontiers)."""
    level = np.zeros(n, dtype=np.int64)
    if len(dep_rows) == 0:
        return level
    indeg = np.bincount(dep_rows, minlength=n)
    # dependents of each vertex: CSR over (col -> row)
    D = sp.csr_matrix((np.ones(len(dep_rows), dtype=np.int8), (dep_cols, dep_rows)), shape=(n, n))
    D.sum_duplicates()
    indeg = np.diff(D.tocsc().indptr)
    frontier = np.flatnonzero(indeg == 0)
    lev = 0
    done = 0
    while frontier.size:
        level[frontier] = lev
        done += frontier.size
        sub = D[frontier]
        if sub.nnz == 0:
            break
        deps, cnt = np.unique(sub.indices, return_counts=True)
        indeg[deps] -= cnt
        frontier = deps[indeg[deps] == 0]
        lev += 1
    if done < n:
        raise TraceError("internal: levels asked of a graph with a cycle")
    return level


@dataclass
class _Cycle:
    """The cyclic components of one condensation level, solved together (block diagonal)."""

    idx: np.ndarray  # global node ids
    M: sp.csr_matrix  # internal coefficients, local ids
    lu: Any = None  # splu of I - M when small
    order: list[np.ndarray] = field(default_factory=list)  # GS levels (local ids)
    rows: list[sp.csr_matrix] = field(default_factory=list)  # M[order[j]]
    late: sp.csr_matrix | None = None  # entries read before they are updated in a sweep


@dataclass
class _Level:
    nodes: np.ndarray  # global ids at this condensation level
    ext: sp.csr_matrix  # A[nodes] without entries inside components
    cyc: _Cycle | None  # components of size > 1 at this level (local positions in nodes)
    cyc_pos: np.ndarray  # positions of cycle nodes within ``nodes``


@dataclass
class Plan:
    """How to solve ``X = M X + B`` for a fixed ``M``: condensation levels and cyclic blocks."""

    n: int
    levels: list[_Level]
    labels: np.ndarray


def plan(M: sp.csr_matrix, rank: np.ndarray | None = None, names: Callable[[np.ndarray], list[str]] | None = None) -> Plan:
    """Prepare the solve of ``X = M X + B``: strong components, condensation levels, cyclic blocks.

    Parameters
    ----------
    M : csr_matrix (n, n), nonnegative
        ``M[p, u]``: how much ``p`` takes of ``u``.
    rank : ndarray of int, optional
        An upstream-to-downstream hint (stage order); edges against it are the back edges of
        a cyclic block, iterated by Gauss-Seidel.
    names : callable, optional
        Node ids -> names, for the error that refuses a mass-creating cycle.

    Raises
    ------
    TraceError
        A cycle whose spectral radius is >= 1 (it would create mass).
    """
    M = sp.csr_matrix(M, dtype=float)
    M.sum_duplicates()
    M.eliminate_zeros()
    n = M.shape[0]
    rank = np.zeros(n, dtype=np.int64) if rank is None else np.asarray(rank, dtype=np.int64)
    ncomp, lab = connected_components(M, directed=True, connection="strong")
    coo = M.tocoo()
    inside = lab[coo.row] == lab[coo.col]
    size = np.bincount(lab, minlength=ncomp)
    cyclic_node = size[lab] > 1
    ext = sp.csr_matrix((coo.data[~inside], (coo.row[~inside], coo.col[~inside])), shape=(n, n))
    internal = sp.csr_matrix((coo.data[inside], (coo.row[inside], coo.col[inside])), shape=(n, n))
    _check_spectral(internal, lab, cyclic_node, names)
    clev = _levels(ncomp, lab[coo.row[~inside]], lab[coo.col[~inside]])
    nlev = clev[lab]
    order = np.argsort(nlev, kind="stable")
    bounds = np.searchsorted(nlev[order], np.arange(int(nlev.max(initial=0)) + 2))
    levels: list[_Level] = []
    for k in range(len(bounds) - 1):
        nodes = order[bounds[k] : bounds[k + 1]]
        if nodes.size == 0:
            continue
        cpos = np.flatnonzero(cyclic_node[nodes])
        cyc = _cycle(internal, nodes[cpos], rank) if cpos.size else None
        levels.append(_Level(nodes=nodes, ext=ext[nodes], cyc=cyc, cyc_pos=cpos))
    return Plan(n=n, levels=levels, labels=lab)


def _cycle(internal: sp.csr_matrix, idx: np.ndarray, rank: np.ndarray) -> _Cycle:
    m = len(idx)
    Mc = internal[idx][:, idx].tocsr()
    c = _Cycle(idx=idx, M=Mc)
    if m <= DIRECT_MAX:
        c.lu = splu(sp.csc_matrix(sp.identity(m) - Mc))
        return c
    # forward edges: along the stage order; ties broken by a second strong-component pass
    coo = Mc.tocoo()
    r = rank[idx]
    fwd = r[coo.col] <= r[coo.row]
    F0 = sp.csr_matrix((np.ones(int(fwd.sum())), (coo.row[fwd], coo.col[fwd])), shape=(m, m))
    _, lab2 = connected_components(F0, directed=True, connection="strong")
    fwd &= ~((lab2[coo.row] == lab2[coo.col]) & (coo.col > coo.row))
    lev = _levels(m, coo.row[fwd], coo.col[fwd])
    late = lev[coo.col] >= lev[coo.row]
    c.late = sp.csr_matrix((coo.data[late], (coo.row[late], coo.col[late])), shape=(m, m))
    o = np.argsort(lev, kind="stable")
    b = np.searchsorted(lev[o], np.arange(int(lev.max(initial=0)) + 2))
    c.order = [o[b[j] : b[j + 1]] for j in range(len(b) - 1) if b[j + 1] > b[j]]
    c.rows = [Mc[rows] for rows in c.order]
    return c


def _check_spectral(
    internal: sp.csr_matrix, lab: np.ndarray, cyclic: np.ndarray, names: Callable[[np.ndarray], list[str]] | None
) -> None:
    """Refuse any strong component whose spectral radius is >= 1 (Collatz-Wielandt bounds)."""
    idx = np.flatnonzero(cyclic)
    if idx.size == 0:
        return
    Mc = internal[idx][:, idx].tocsr()
    comp = pd.factorize(lab[idx])[0]
    nc = int(comp.max()) + 1
    v = np.ones(len(idx))
    lo = hi = np.zeros(nc)
    for _ in range(60):
        w = Mc @ v
        ratio = w / v
        lo = np.full(nc, np.inf)
        hi = np.zeros(nc)
        np.minimum.at(lo, comp, ratio)
        np.maximum.at(hi, comp, ratio)
        if (hi < 1).all():
            return
        v = w + v  # power iteration on I + M (primitive), Perron vector of M
        scale = np.zeros(nc)
        np.maximum.at(scale, comp, v)
        v = v / scale[comp]
    bad = np.flatnonzero(lo >= 1 - 1e-12)
    for k in np.flatnonzero((lo < 1 - 1e-12) & (hi >= 1)):  # undecided: exact when small
        nodes = np.flatnonzero(comp == k)
        if len(nodes) <= 400:
            rho = max(abs(np.linalg.eigvals(Mc[nodes][:, nodes].toarray())))
            if rho >= 1 - 1e-12:
                bad = np.append(bad, k)
    if bad.size:
        k = int(bad[0])
        nodes = idx[comp == k]
        shown = names(nodes[:12]) if names else [str(i) for i in nodes[:12]]
        more = f" and {len(nodes) - 12} more" if len(nodes) > 12 else ""
        raise TraceError(
            f"a cycle creates mass (spectral radius >= 1, about {lo[k]:.4g}..{hi[k]:.4g}): "
            f"{' -> '.join(shown)}{more}; check the BOM quantities and flows on this loop"
        )


def solve(
    p: Plan,
    B: np.ndarray | sp.spmatrix,
    mask: np.ndarray | None = None,
    names: Callable[[np.ndarray], list[str]] | None = None,
    tol: float = TOL * 1e-3,
) -> np.ndarray:
    """Solve ``X = M X + B`` with a plan: topological sweep, cyclic blocks to residual <= 1e-10.

    Parameters
    ----------
    p : Plan
    B : (n, k) dense or sparse
    mask : bool (n,), optional
        Rows to compute (the others are left 0): a set closed under dependencies (e.g. the
        upstream of a product), or whose outside rows are 0 in the solution.
    tol : float
        Relative residual at which the iterative solves of cyclic blocks stop (default
        1e-13, well past the 1e-10 contract, so entries agree with a dense inverse to ~1e-12).

    Returns
    -------
    ndarray (n, k)
    """
    Bs = sp.csr_matrix(B) if not sp.issparse(B) else sp.csr_matrix(B)
    k = Bs.shape[1]
    X = np.zeros((p.n, k))
    for lv in p.levels:
        nodes, ext = lv.nodes, lv.ext
        if mask is not None:
            keep = mask[nodes]
            if not keep.any():
                continue
            sel = np.flatnonzero(keep)
            nodes, ext = nodes[sel], ext[sel]
        R = ext @ X + Bs[nodes].toarray()
        X[nodes] = R
        if lv.cyc is not None:
            c = lv.cyc
            Rc = X[c.idx]
            if mask is not None:
                Rc = np.where(mask[c.idx][:, None], Rc, 0.0)
            X[c.idx] = _solve_cycle(c, Rc, names, tol)
    return X


def _solve_cycle(c: _Cycle, R: np.ndarray, names: Callable[[np.ndarray], list[str]] | None, tol: float = TOL * 1e-3) -> np.ndarray:
    norm = np.linalg.norm(R, axis=0)
    if not norm.any():
        return np.zeros_like(R)
    if c.lu is not None:
        X = c.lu.solve(R)
        for _ in range(3):  # iterative refinement
            res = R - (X - c.M @ X)
            if (np.linalg.norm(res, axis=0) <= TOL * np.maximum(norm, 1e-300)).all():
                break
            X += c.lu.solve(res)
        if (X < -1e-12 * np.abs(X).max()).any():
            raise TraceError(f"a cycle creates mass: {' -> '.join(_names(c, names))}")
        return np.asarray(X)
    X = R.copy()
    prev = np.inf
    worse = 0
    for it in range(5000):
        old = X.copy()
        for rows, Mr in zip(c.order, c.rows, strict=True):
            X[rows] = Mr @ X + R[rows]
        assert c.late is not None
        res = np.linalg.norm(c.late @ (X - old), axis=0)
        rel = float((res / np.maximum(norm, 1e-300)).max())
        if rel <= tol:
            return X
        worse = worse + 1 if rel >= prev else 0
        if worse >= 20 or not np.isfinite(rel):
            if rel <= TOL:  # stagnating at rounding level
                return X
            break
        prev = rel
    raise TraceError(f"a cycle does not converge (it creates mass?): {' -> '.join(_names(c, names))}")


def _names(c: _Cycle, names: Callable[[np.ndarray], list[str]] | None) -> list[str]:
    return names(c.idx[:12]) if names else [str(i) for i in c.idx[:12]]


# ======================================================================== graph + plans
def g_names(g: Graph) -> Callable[[np.ndarray], list[str]]:
    return lambda idx: g.labels(idx)


def forward_plan(g: Graph) -> Plan:
    """The plan of ``X = A X + B``, built once per graph."""
    if "fwd" not in g.cache:
        g.cache["fwd"] = plan(g.A, g.nodes["rank"].to_numpy(), g_names(g))
    p: Plan = g.cache["fwd"]
    return p


def backward_plan(g: Graph) -> Plan:
    """The plan of ``y = A^T y + e``, built once per graph."""
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
    """``y = e_p L``: units of every node embodied in one unit of node ``p`` (``y = A^T y + e_p``)."""
    mask = upstream(g, node) if mask is None else mask
    e = sp.csr_matrix(([1.0], ([node], [0])), shape=(g.n, 1))
    return solve(backward_plan(g), e, mask=mask, names=g_names(g))[:, 0]


# ============================================================================ tag values
def direct_parent_country(network: Network) -> dict[str, str]:
    """Company id -> its controlling country: the country of its direct parent (the owner
    with the largest equity share), else its own country. The default controller hook;
    :func:`onshore.owners.controlling_country` gives the ultimate controller's country."""
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


def _node_fields(g: Graph, network: Network, by: Sequence[str], controller: Controller | None) -> dict[str, np.ndarray]:
    nd = g.nodes
    out: dict[str, np.ndarray] = {}
    for f in by:
        if f == "raw":
            continue
        if f not in FIELDS:
            raise TraceError(f"unknown tag field {f!r}; fields: {', '.join(FIELDS)}")
        if f == "controlling_country":
            key = f"cc:{id(controller)}"
            if key not in g.cache:
                cc = (controller or direct_parent_country)(network)
                g.cache[key] = nd["company"].map(cc).fillna(UNKNOWN).where(~nd["virtual"], UNKNOWN).to_numpy()
            out[f] = g.cache[key]
        else:
            out[f] = nd[f].astype(str).to_numpy()
    return out


def _values(g: Graph, nodes: np.ndarray, weight: Weight, by: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per (node, raw) value per unit of node: returns node ids, raw names, values, priced flags."""
    C = content(g)
    raws = np.array(g.raws, dtype=object)
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
        return nodes[ii], raws[rr], val, priced
    if weight == "cost":
        pr = g.price[nodes]
        priced = ~np.isnan(pr)
        val = np.where(priced, np.nan_to_num(pr), 1.0)
    else:
        val = C[nodes].sum(axis=1)
        priced = np.ones(len(nodes), dtype=bool)
    keep = val != 0
    return nodes[keep], np.full(int(keep.sum()), "", dtype=object), val[keep], priced[keep]


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
        :func:`direct_parent_country`.

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
    mask = upstream(g, p)
    y = leontief_row(g, p, mask)
    nodes = np.flatnonzero(mask & (y != 0))
    return _table(g, network, nodes, y[nodes], by, weight, controller)


def _table(
    g: Graph, network: Network, nodes: np.ndarray, y: np.ndarray, by: tuple[str, ...], weight: Weight, controller: Controller | None
) -> pd.DataFrame:
    pos = pd.Series(np.arange(len(nodes)), index=nodes)
    n_id, raw, val, priced = _values(g, nodes, weight, by)
    q = y[pos.reindex(n_id).to_numpy()] * val
    fields = _node_fields(g, network, by, controller)
    df = pd.DataFrame({f: (raw if f == "raw" else fields[f][n_id]) for f in by})
    if weight == "cost":
        df["price"] = np.where(priced, "known", UNKNOWN)
    df["quantity"] = q
    keys = list(df.columns[:-1])
    out = df.groupby(keys, sort=True, as_index=False)["quantity"].sum() if keys else df.sum().to_frame().T
    sk = _share_keys(by, weight)
    tot = out.groupby(sk)["quantity"].transform("sum") if sk else out["quantity"].sum()
    out["share"] = (out["quantity"] / tot).fillna(0.0)
    out = out[out["quantity"] != 0].reset_index(drop=True)
    return out


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
    weight: Weight = "mass",
    period: str | None = None,
    controller: Controller | None = None,
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
    tag : mapping
        Tag field -> value, e.g. ``{"raw": "lithium", "stage": "refine", "country": "CN"}``.
    """
    by = tuple(tag)
    g, p = find_product(network, product, period)
    mask = upstream(g, p)
    nodes = np.flatnonzero(mask)
    n_id, raw, val, priced = _values(g, nodes, weight, by)
    fields = _node_fields(g, network, by, controller)
    ok = np.ones(len(n_id), dtype=bool)
    for f, v in tag.items():
        if f == "price":
            ok &= np.where(priced, "known", UNKNOWN) == v
        elif f == "raw":
            ok &= raw == v
        else:
            ok &= fields[f][n_id] == v
    b = np.zeros(g.n)
    np.add.at(b, n_id[ok], val[ok])
    Xb = solve(forward_plan(g), sp.csr_matrix(b[:, None]), mask=mask, names=g_names(g))[:, 0]
    total = float(Xb[p])
    paths: list[SupplyPath] = []
    if total == 0:
        return [SupplyPath([], 0.0, residual=True)]
    A = g.A
    cnt = itertools.count()
    heap: list[tuple[float, int, bool, int, float, tuple[int, ...]]] = [(-total, next(cnt), False, p, 1.0, (p,))]
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
                heapq.heappush(heap, (-w * a * Xb[v], next(cnt), False, int(v), w * a, walk + (int(v),)))
    listed = sum(x.weight for x in paths)
    paths.append(SupplyPath([], float(total - listed), residual=True))
    return paths


# ============================================================================ all nodes
def _blocks(g: Graph, network: Network, by: tuple[str, ...], weight: Weight, controller: Controller | None) -> Iterator[tuple[dict[str, str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Column blocks: (fixed fields, rows, place codes, values, place labels) per (raw, stage)."""
    nodes = np.arange(g.n)
    n_id, raw, val, priced = _values(g, nodes, weight, by)
    fields = _node_fields(g, network, by, controller)
    place = [f for f in by if f in PLACE_FIELDS]
    parts = [fields[f][n_id].astype(str) for f in place]
    if weight == "cost":
        parts.append(np.where(priced, "known", UNKNOWN))
    key = pd.Series(["\x1f".join(t) for t in zip(*parts, strict=True)] if parts else [""] * len(n_id))
    code, uniq = pd.factorize(key)
    stage = g.nodes["stage"].astype(str).to_numpy()[n_id] if "stage" in by else np.full(len(n_id), "", dtype=object)
    grp = pd.DataFrame({"raw": raw, "stage": stage}).groupby(["raw", "stage"], sort=True).indices
    for (r, s), sel in grp.items():
        fixed = {k: v for k, v in (("raw", r), ("stage", s)) if k in by}
        yield fixed, n_id[sel], code[sel], val[sel], np.asarray(uniq, dtype=object)


def solve_all(
    network: Network,
    by: Sequence[str] = ("raw", "stage", "country"),
    weight: Weight = "mass",
    period: str | None = None,
    controller: Controller | None = None,
    out: str | Path | None = None,
    min_quantity: float = 0.0,
    tol: float = TOL,
    stats: dict[str, float] | None = None,
) -> pd.DataFrame | Path:
    """Trace every node at once, one (raw, stage) block of tag columns at a time.

    Each block solves ``X = A X + B`` with ``B[p, c] = b_p`` for the nodes ``p`` of that raw
    material and stage whose place (country, ...) is ``c``, restricted to the nodes
    downstream of them. With ``out`` the nonzero results stream to a Parquet file (columns:
    ``node``, the tag fields, ``quantity``, ``share``) and the path is returned; otherwise
    a DataFrame (small networks). Virtual (``unknown``) nodes are not written. ``stats``,
    when given, receives the seconds spent solving and writing.
    """
    import time

    import pyarrow as pa
    import pyarrow.parquet as pq

    by = tuple(by)
    g = graph(network, period)
    fp = forward_plan(g)
    place = [f for f in by if f in PLACE_FIELDS] + (["price"] if weight == "cost" else [])
    node_ids = np.array(g.labels(), dtype=object)
    writer: pq.ParquetWriter | None = None
    frames: list[pd.DataFrame] = []
    AT = g.A.T.tocsr()
    virtual = g.nodes["virtual"].to_numpy()
    for fixed, rows, code, val, uniq in _blocks(g, network, by, weight, controller):
        used, col = np.unique(code, return_inverse=True)
        B = sp.csr_matrix((val, (rows, col)), shape=(g.n, len(used)))
        t0 = time.perf_counter()
        mask = _downstream(AT, rows, g.n)
        X = solve(fp, B, mask=mask, names=g_names(g), tol=tol)
        t1 = time.perf_counter()
        X[virtual] = 0.0
        tot = X.sum(axis=1)
        ii, jj = np.nonzero(X > min_quantity)
        q = X[ii, jj]
        labels = [u.split("\x1f") if u else [] for u in uniq[used]]
        cols: dict[str, Any] = {"node": ii.astype(np.int64)}
        for f in by:
            if f in fixed:
                cols[f] = pa.DictionaryArray.from_arrays(np.zeros(len(ii), dtype=np.int32), pa.array([fixed[f]]))
        for k, f in enumerate(place):
            dic = pa.array([lab[k] for lab in labels])
            cols[f] = pa.DictionaryArray.from_arrays(jj.astype(np.int32), dic)
        cols["quantity"] = q
        cols["share"] = q / tot[ii]
        table = pa.table(cols)
        del X
        if out is not None:
            if writer is None:
                schema = table.schema
                writer = pq.ParquetWriter(str(out), schema, compression="none")
            writer.write_table(table.cast(writer.schema))
        else:
            frames.append(table.to_pandas())
        if stats is not None:
            stats["solve"] = stats.get("solve", 0.0) + t1 - t0
            stats["write"] = stats.get("write", 0.0) + time.perf_counter() - t1
            stats["rows"] = stats.get("rows", 0.0) + len(ii)
    if out is not None:
        if writer is not None:
            writer.close()
        return Path(out)
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if len(df):
        df.insert(1, "product", node_ids[df["node"].to_numpy()])
        for c in df.columns:
            if isinstance(df[c].dtype, pd.CategoricalDtype):
                df[c] = df[c].astype(str)
    return df


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


# ============================================================================= validate
@dataclass(frozen=True)
class Finding:
    """One result of a conservation check: ``level`` error | warning | info."""

    level: str
    check: str
    node: str
    message: str


def material_content(network: Network, g: Graph | None = None) -> pd.DataFrame:
    """Raw content per unit of each material from the generic BOMs alone: ``(I - Q)^-1 E_m``."""
    g = g or graph(network)
    vnodes = np.flatnonzero(g.nodes["virtual"].to_numpy())
    C = content(g)
    return pd.DataFrame(C[vnodes], index=g.nodes["material"].to_numpy()[vnodes], columns=g.raws)


def validate(network: Network, period: str | None = None, tol: float = 1e-9, sample: int = 50) -> list[Finding]:
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
    recorded supplier.
    """
    g = graph(network, period)
    out: list[Finding] = []
    C = content(g)
    names = g.labels()
    res = np.abs(C - g.A @ C - g.E.toarray()).max(axis=1)
    scale = np.maximum(np.abs(C).max(axis=1), 1.0)
    for i in np.flatnonzero(res > tol * scale):
        out.append(Finding("error", "mass balance", names[i], f"C - A C - E = {res[i]:.3g}"))
    # nodes downstream of a plant-specific recipe or a pass-through may differ from the generic content
    bm = network.boms
    spec = set(zip(bm["facility"].dropna().astype(str), bm.loc[bm["facility"].notna(), "output"].astype(str), strict=True))
    nd = g.nodes
    special = np.array([(f, m) in spec for f, m in zip(nd["facility"], nd["material"], strict=True)]) if spec else np.zeros(g.n, dtype=bool)
    norecipe = (np.diff(g.A.indptr) == 0) & (np.asarray(g.E.sum(axis=1)).ravel() == 0)
    passthru = ~nd["virtual"].to_numpy() & (nd["stage"].to_numpy() != "mine") & np.isin(nd["material"].to_numpy(), g.raws)
    special |= passthru
    aff = _downstream(g.A.T.tocsr(), np.flatnonzero(special), g.n) if special.any() else special
    mc = material_content(network, g).reindex(nd["material"].to_numpy()).to_numpy()
    diff = np.abs(C - mc).max(axis=1)
    for i in np.flatnonzero(~aff & ~norecipe & (diff > tol * np.maximum(np.abs(mc).max(axis=1), 1.0))):
        out.append(Finding("error", "BOM chain", names[i], f"traced content differs from the BOMs by {diff[i]:.3g}"))
    for i in np.flatnonzero(norecipe & ~nd["virtual"].to_numpy() & (nd["stage"].to_numpy() != "mine")):
        out.append(Finding("warning", "no recipe", names[i], "no BOM for this output: its raw content is unknown"))
    vn = np.flatnonzero(nd["virtual"].to_numpy())
    gaps = g.A[:, vn].tocoo()
    real_rows = ~nd["virtual"].to_numpy()[gaps.row]
    for r, c in zip(gaps.row[real_rows], gaps.col[real_rows], strict=True):
        out.append(Finding("info", "unknown origin", names[r], f"no recorded supplier of {nd['material'].iloc[vn[c]]}"))
    real = np.flatnonzero(~nd["virtual"].to_numpy() & (C.sum(axis=1) > 0))
    order = real[np.argsort(-nd["rank"].to_numpy()[real], kind="stable")][:sample]
    for i in order:
        t = trace(network, names[i], by=("raw", "stage", "country"), period=period)
        s = t.groupby(["raw", "stage"])["share"].sum()
        for (r, st), v in s.items():
            if abs(v - 1) > 1e-9:
                out.append(Finding("error", "shares", names[i], f"shares of ({r}, {st}) sum to {v:.12g}"))
        mine = t[t["stage"] == "mine"].groupby("raw")["quantity"].sum()
        for r, v in mine.items():
            c = C[i, g.raws.index(str(r))]
            if abs(v - c) > tol * max(c, 1.0):
                lvl = "error" if v < c - tol * max(c, 1.0) else "warning"  # more: a mine fed by a mine
                out.append(Finding(lvl, "mine total", names[i], f"{r}: stage 'mine' counts {v:.12g}, content {c:.12g}"))
    return out
