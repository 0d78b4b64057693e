"""The linear-algebra core of the trace: solve ``X = M X + B`` for a fixed sparse ``M >= 0``.

:func:`plan` splits ``M`` into strongly connected components, orders the condensation in
levels (a vertex only reads lower levels) and permutes the nodes so that every level, and
inside a cyclic block every Gauss-Seidel sublevel, is a contiguous range of rows: a sweep
is then one sparse product per level on contiguous slices, and the plan is built once and
reused for every block of right-hand sides. A node outside every cycle that takes from
itself (own use, a diagonal entry ``d`` of ``M``) is solved exactly in the sweep as
``X_p = (sum_{u != p} M[p, u] X_u + B_p) / (1 - d)``; ``d >= 1`` is refused. Cyclic blocks
(their diagonal included) are solved directly when small: by a dense LU (LAPACK) when dense,
as an input-output table is, else by a sparse LU; large ones by Gauss-Seidel ordered by
stage, accelerated by Anderson mixing on the few *feedback* variables (the columns read
before they are updated in a sweep, i.e. the recycling back edges): one sweep is an exact
function of them, so the iteration and its residual live on them alone. Every cyclic
solve stops at a relative residual ``||X - M X - R|| / ||R|| <= 1e-10`` per column. A
component whose spectral radius is >= 1 (a cycle that would create mass) is refused with a
:class:`~onshore.errors.TraceError`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.linalg import lu_factor, lu_solve
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import splu

from onshore.errors import TraceError

try:  # scipy's compiled CSR x dense kernels: accumulate in place and release the GIL
    from scipy.sparse._sparsetools import csr_matvec as _csr_matvec
    from scipy.sparse._sparsetools import csr_matvecs as _csr_matvecs
except ImportError:  # pragma: no cover - other scipy layouts: the public product
    _csr_matvecs = _csr_matvec = None

TOL = 1e-10
"""Relative residual ``||X - A X - B|| / ||B||`` every cyclic solve reaches."""
DIRECT_MAX = 300
"""Cyclic components up to this many nodes are solved directly (sparse LU), larger ones
iteratively."""
DENSE_MAX = 3000
"""Cyclic blocks up to this many nodes that are dense (at least :data:`DENSE_FILL` of their
entries nonzero, e.g. an input-output table) are solved directly by a dense LU (LAPACK)."""
DENSE_FILL = 0.1
DENSE_RHS = 250_000
"""Right-hand sides of up to this many entries (nodes x columns) are solved dense."""
ANDERSON = 3
"""Depth of the Anderson mixing of the feedback variables (0: plain Gauss-Seidel)."""
FEEDBACK_MAX = 3000
"""Cyclic blocks with up to this many feedback variables can be solved directly on them: the
sweep is affine in the feedback values, ``g = S x_F + r``, so ``(I - S) x_F = r`` by a dense
LU and one more sweep give ``X`` (:func:`feedback_factor`)."""
FEEDBACK_AMORTISE = 1 / 16
"""The feedback map ``S`` (one sweep per feedback variable) is built once a block has solved
this many right-hand sides per feedback variable: at 10-15 sweeps per right-hand side, the
iterations have then cost about what the map costs (rent or buy)."""
THREADS = min(2, os.cpu_count() or 1)
"""Threads of the sparse x dense products (rows split in two by nonzeros); 1 in worker
processes that already share the cores."""
PARALLEL_MIN = 1 << 18
"""Products of fewer multiply-adds (nonzeros x columns) than this run on one thread: below
about a quarter of a millisecond of work, handing half to a second thread costs more than it
saves. One product's trace at 1 M facilities is some 65 products of 0.4 M multiply-adds
(median) in the sweeps of its cycle: 2^18 against 2^22 measured 104-130 ms against 138-173 ms
a product, alternating; no slower at 100 k (docs/scale.md)."""
Names = Callable[[np.ndarray], list[str]]
_POOL: ThreadPoolExecutor | None = None


def _forget_pool() -> None:
    """In a forked child the parent's threads do not exist: start a pool of its own."""
    global _POOL
    _POOL = None


os.register_at_fork(after_in_child=_forget_pool)


def single_threaded() -> None:
    """Run the sparse products of this process on one thread (worker processes)."""
    global THREADS
    THREADS = 1


def _product(
    rows: int, cols: int, k: int,
    ip: np.ndarray, ix: np.ndarray, dat: np.ndarray, x: np.ndarray, y: np.ndarray,
) -> None:
    """``y += M @ x`` for CSR arrays and raveled C-ordered ``x`` (cols x k), ``y`` (rows x k).
    One column takes the vector kernel (a dot per row, the same sums in the same order as the
    multi-column kernel, which loops over the columns once per nonzero): 1.3x on one column."""
    if k == 1:
        _csr_matvec(rows, cols, ip, ix, dat, x, y)
    else:
        _csr_matvecs(rows, cols, k, ip, ix, dat, x, y)


def spmm(M: sp.csr_matrix, X: np.ndarray, out: np.ndarray) -> None:
    """``out += M @ X`` in place, on :data:`THREADS` threads when large.

    Parameters
    ----------
    M : csr_matrix, shape (r, n)
    X : ndarray, shape (n, k), float64
        C-contiguous, not overlapping the rows of ``out`` that ``M`` reads.
    out : ndarray, shape (r, k), float64
        C-contiguous (e.g. a row range of a C-contiguous array); accumulated into.
    """
    global _POOL
    r = M.shape[0]
    k = X.shape[1]
    if (
        _csr_matvecs is None
        or not (X.flags.c_contiguous and out.flags.c_contiguous)
        or X.dtype != np.float64
        or out.dtype != np.float64
        or M.dtype != np.float64
    ):
        out += M @ X
        return
    ip, ix, dat = M.indptr, M.indices, M.data
    if THREADS < 2 or M.nnz * k < PARALLEL_MIN or r < 2:
        _product(r, M.shape[1], k, ip, ix, dat, X.ravel(), out.ravel())
        return
    mid = int(np.searchsorted(ip, ip[-1] // 2))  # half the nonzeros on each side
    mid = min(max(mid, 1), r - 1)
    lo, hi = int(ip[mid]), int(ip[-1])
    xr = X.ravel()
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="onshore-spmm")
    fut = _POOL.submit(
        _product, r - mid, M.shape[1], k, ip[mid:] - lo, ix[lo:hi], dat[lo:hi], xr,
        out[mid:].ravel(),
    )
    _product(mid, M.shape[1], k, ip[: mid + 1], ix[:lo], dat[:lo], xr, out[:mid].ravel())
    fut.result()


def levels(n: int, dep_rows: np.ndarray, dep_cols: np.ndarray) -> np.ndarray:
    """Longest-path level of each vertex of a DAG (Kahn's algorithm, by frontiers).

    Parameters
    ----------
    n : int
        The number of vertices.
    dep_rows, dep_cols : ndarray of int
        The edges: vertex ``dep_rows[k]`` depends on vertex ``dep_cols[k]``.

    Returns
    -------
    ndarray of int64, shape (n,)
        The level of each vertex: 0 for vertices that depend on nothing, else one more than
        the highest level among the vertices it depends on.

    Raises
    ------
    TraceError
        When the edges contain a cycle (an internal error: callers pass a condensation).
    """
    level = np.zeros(n, dtype=np.int64)
    if len(dep_rows) == 0:
        return level
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
class Cycle:
    """The cyclic components of one level (block diagonal), rows ``lo:lo+m`` of the plan."""

    idx: np.ndarray  # original node ids, in plan order
    M: sp.csr_matrix  # internal coefficients, local (plan-order) ids
    rho: float = 0.0  # upper bound of the spectral radius (Collatz-Wielandt)
    rho_sweep: float = 1.0  # upper bound of the spectral radius of one sweep's feedback map S
    lu: Any = None  # splu of I - M when small and sparse
    dense: Any = None  # LAPACK LU factors of I - M when small and dense (lu_factor)
    sub: list[tuple[int, int, sp.csr_matrix]] = field(
        default_factory=list
    )  # GS sublevels: (a, b, M[a:b])
    F: np.ndarray | None = None  # feedback variables: columns read before they are updated
    lateF: sp.csr_matrix | None = None  # the late entries: rows that read them, columns F
    fb: Any = None  # LAPACK LU factors of I - S, S the sweep's map on the feedback variables
    cols: int = 0  # right-hand sides solved iteratively so far (when to build ``fb``)
    factored: Callable[[], None] | None = field(default=None, repr=False, compare=False)
    """Called once ``fb`` is built by a solve (the plan's keeper saves it again with ``fb``)."""

    def __getstate__(self) -> dict[str, Any]:
        """A SuperLU object does not pickle: sent without it (e.g. to Spark's workers)."""
        state = dict(self.__dict__)
        state["lu"] = None if self.lu is None else True
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """The sparse LU of ``I - M`` made again where it was dropped by pickling."""
        self.__dict__.update(state)
        if self.lu is True:
            m = len(self.idx)
            self.lu = splu(sp.csc_matrix(sp.identity(m) - self.M))


@dataclass
class Level:
    lo: int
    hi: int
    ext: sp.csr_matrix  # rows lo:hi of the permuted M without entries inside components
    cyc: Cycle | None  # cyclic nodes of the level: rows lo : lo + len(cyc.idx)


@dataclass
class Plan:
    """How to solve ``X = M X + B`` for a fixed ``M``: a permutation into levels and cyclic blocks.

    ``perm[i]`` is the node at plan position ``i``, ``pos[node]`` its position."""

    n: int
    levels: list[Level]
    labels: np.ndarray
    perm: np.ndarray
    pos: np.ndarray
    own: np.ndarray | None = None  # plan order: 1 / (1 - M[p, p]) of acyclic nodes, else 1


def plan(M: sp.csr_matrix, rank: np.ndarray | None = None, names: Names | None = None) -> Plan:
    """Prepare the solve of ``X = M X + B``: strong components, condensation levels, cyclic blocks.

    Parameters
    ----------
    M : csr_matrix (n, n), nonnegative
        ``M[p, u]``: how much ``p`` takes of ``u``.
    rank : ndarray of int, optional
        An upstream-to-downstream hint (stage order); edges against it are the back edges of
        a cyclic block, whose sources are the feedback variables.
    names : callable, optional
        Node ids -> names, for the error that refuses a mass-creating cycle.

    Returns
    -------
    Plan
        The permutation into levels and cyclic blocks, reusable for any right-hand side.

    Raises
    ------
    TraceError
        A cycle whose spectral radius is >= 1 (it would create mass).
    """
    M = sp.csr_matrix(M, dtype=float, copy=True)  # the caller's matrix is left as it is
    M.sum_duplicates()
    M.eliminate_zeros()
    n = M.shape[0]
    rank = np.zeros(n, dtype=np.int64) if rank is None else np.asarray(rank, dtype=np.int64)
    ncomp, lab = connected_components(M, directed=True, connection="strong")
    coo = M.tocoo()
    inside = lab[coo.row] == lab[coo.col]
    size = np.bincount(lab, minlength=ncomp)
    cyclic_node = size[lab] > 1
    internal = sp.csr_matrix((coo.data[inside], (coo.row[inside], coo.col[inside])), shape=(n, n))
    rho = _check_spectral(internal, lab, cyclic_node, names)
    # own use: a node outside any cycle that takes from itself, X_p = d X_p + rest, is
    # solved exactly as X_p = rest / (1 - d); d >= 1 would create mass
    diag = M.diagonal() * ~cyclic_node
    if (diag >= 1).any():
        bad = np.flatnonzero(diag >= 1)
        shown = names(bad[:1]) if names else [str(bad[0])]
        raise TraceError(
            f"a node takes at least one unit of itself per unit (own use {diag[bad[0]]:.4g} "
            f">= 1, it would create mass): {shown[0]}; check its recipe and flows"
        )
    clev = levels(ncomp, lab[coo.row[~inside]], lab[coo.col[~inside]])
    nlev = clev[lab]
    order = np.argsort(nlev, kind="stable")
    bounds = np.searchsorted(nlev[order], np.arange(int(nlev.max(initial=0)) + 2))
    parts: list[np.ndarray] = []
    cycles: list[Cycle | None] = []
    for k in range(len(bounds) - 1):
        nodes = order[bounds[k] : bounds[k + 1]]
        if nodes.size == 0:
            continue
        cyc_nodes = nodes[cyclic_node[nodes]]
        cyc = (
            _cycle(internal, cyc_nodes, rank, float(rho[cyc_nodes].max()))
            if cyc_nodes.size
            else None
        )
        parts.append(np.concatenate([cyc.idx, nodes[~cyclic_node[nodes]]]) if cyc else nodes)
        cycles.append(cyc)
    perm = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    pos = np.empty(n, dtype=np.int64)
    pos[perm] = np.arange(n)
    keep = ~inside
    ext = sp.csr_matrix((coo.data[keep], (pos[coo.row[keep]], pos[coo.col[keep]])), shape=(n, n))
    lvls: list[Level] = []
    lo = 0
    for nodes, cyc in zip(parts, cycles, strict=True):
        hi = lo + len(nodes)
        lvls.append(Level(lo=lo, hi=hi, ext=ext[lo:hi], cyc=cyc))
        lo = hi
    own = 1.0 / (1.0 - diag[perm]) if diag.any() else None
    return Plan(n=n, levels=lvls, labels=lab, perm=perm, pos=pos, own=own)


def _cycle(internal: sp.csr_matrix, idx: np.ndarray, rank: np.ndarray, rho: float) -> Cycle:
    m = len(idx)
    Mc = internal[idx][:, idx].tocsr()
    if m <= DENSE_MAX and Mc.nnz >= DENSE_FILL * m * m:
        dense = lu_factor(np.eye(m) - Mc.toarray(), check_finite=False)
        return Cycle(idx=idx, M=Mc, rho=rho, dense=dense)
    if m <= DIRECT_MAX:
        return Cycle(idx=idx, M=Mc, rho=rho, lu=splu(sp.csc_matrix(sp.identity(m) - Mc)))
    # forward edges: along the stage order, started where the fewest nodes feed back; ties
    # broken by a second strong-component pass
    coo = Mc.tocoo()
    r = _cut(coo.row, coo.col, rank[idx])
    fwd = r[coo.col] <= r[coo.row]
    F0 = sp.csr_matrix((np.ones(int(fwd.sum())), (coo.row[fwd], coo.col[fwd])), shape=(m, m))
    _, lab2 = connected_components(F0, directed=True, connection="strong")
    fwd &= ~((lab2[coo.row] == lab2[coo.col]) & (coo.col > coo.row))
    lev = levels(m, coo.row[fwd], coo.col[fwd])
    o = np.argsort(lev, kind="stable")  # plan order: sublevels contiguous
    at = np.empty(m, dtype=np.int64)
    at[o] = np.arange(m)
    row, col = at[coo.row], at[coo.col]
    P = sp.csr_matrix((coo.data, (row, col)), shape=(m, m))
    late = lev[coo.col] >= lev[coo.row]
    F, fcol = np.unique(col[late], return_inverse=True)
    lrows, lrow = np.unique(row[late], return_inverse=True)  # only rows that read late entries
    lateF = sp.csr_matrix((coo.data[late], (lrow, fcol)), shape=(len(lrows), len(F)))
    ls = lev[o]
    b = np.searchsorted(ls, np.arange(int(ls.max(initial=0)) + 2))
    sub = [
        (int(b[j]), int(b[j + 1]), P[b[j] : b[j + 1]]) for j in range(len(b) - 1) if b[j + 1] > b[j]
    ]
    c = Cycle(idx=idx[o], M=P, rho=rho, sub=sub, F=F, lateF=lateF)
    c.rho_sweep = sweep_radius(c)
    return c


def _cut(row: np.ndarray, col: np.ndarray, r: np.ndarray) -> np.ndarray:
    """The stage order of a cyclic block, turned to start where its back edges leave the fewest
    nodes (the feedback variables of the sweep).

    A loop through the stages (refining, precursor, cathode, cell, recycling and back) can be
    cut between any two of its stages. Every cut gives the same solution at the same cost per
    sweep, but the feedback variables (what Anderson mixing, the stop rule and the feedback map
    work on) are the nodes the cut leaves: with the order rotated to start at stage ``s``, the
    back edges are those whose supplier comes after its customer. Ties keep the plain order.

    Parameters
    ----------
    row, col : ndarray of int
        The block's entries (row takes from col), local ids.
    r : ndarray of int
        The stage rank of each local node.

    Returns
    -------
    ndarray of int
        The rank to order the block by (``r`` itself, or ``r`` rotated).
    """
    best, out = -1, r
    span = int(r.max(initial=0)) - int(r.min(initial=0)) + 1
    for s in np.unique(r):
        r2 = np.where(r >= s, r - s, r - s + span)
        k = np.unique(col[r2[col] > r2[row]]).size
        if best < 0 or k < best:
            best, out = k, r2
    return out


SWEEP_RADIUS_ITER = 40
"""Power steps of :func:`sweep_radius` (each one sweep of a single column)."""


def sweep_radius(c: Cycle) -> float:
    """An upper bound of the spectral radius of ``S``, one sweep's map on the feedback values.

    ``S`` is nonnegative, so for any positive ``u`` its spectral radius is at most
    ``max_i (S u)_i / u_i`` (Collatz-Wielandt); ``u`` is led towards the Perron vector by power
    steps on ``I + S`` (one sweep of one column each) until the bound stops improving. The
    sweep is Gauss-Seidel on ``I - M``, so (Stein-Rosenberg) the radius is also at most that of
    ``M``: the smaller of the two bounds is returned. It sets the stop rule's factor
    ``1 / (1 - rho)`` (:func:`_rel`); the sweep's radius is often much smaller than ``M``'s
    (0.23 against 0.75 on the synthetic recycling loop).

    Parameters
    ----------
    c : Cycle
        An iteratively solved block (``c.F`` and ``c.sub`` set).

    Returns
    -------
    float
    """
    assert c.F is not None
    m, nf = len(c.idx), len(c.F)
    if nf == 0:
        return 0.0
    u = np.ones(nf)
    best = np.inf
    X = np.zeros((m, 1))
    zero = np.zeros((m, 1))
    for _ in range(SWEEP_RADIUS_ITER):
        X[:] = 0.0
        X[c.F, 0] = u
        _sweep(c, X, zero)
        Su = X[c.F, 0]
        ratio = Su / u
        hi, lo = float(ratio.max()), float(ratio.min())
        if hi < best - 1e-4 * max(best, 1e-300) or not np.isfinite(best):
            best = min(best, hi)
        else:
            break
        if hi - lo <= 1e-3 * hi:
            break
        u = Su + u
        u /= u.max()
    return float(min(best, c.rho))


def _check_spectral(
    internal: sp.csr_matrix, lab: np.ndarray, cyclic: np.ndarray, names: Names | None
) -> np.ndarray:
    """Refuse any strong component whose spectral radius is >= 1 (Collatz-Wielandt bounds).

    Returns, per node, an upper bound of its component's spectral radius (0 off cycles)."""
    rho = np.zeros(len(lab))
    idx = np.flatnonzero(cyclic)
    if idx.size == 0:
        return rho
    Mc = internal[idx][:, idx].tocsr()
    comp = pd.factorize(lab[idx])[0]
    nc = int(comp.max()) + 1
    v = np.ones(len(idx))
    lo = hi = np.zeros(nc)
    best = np.full(nc, np.inf)
    below = 0
    for _ in range(80):
        w = Mc @ v
        ratio = w / v
        lo = np.full(nc, np.inf)
        hi = np.zeros(nc)
        np.minimum.at(lo, comp, ratio)
        np.maximum.at(hi, comp, ratio)
        best = np.minimum(best, hi)
        if (
            best < 1
        ).all():  # proven; a few more steps tighten the bound (it sets the stopping rule)
            below += 1
            if below > 12 or (best - lo < 1e-3).all():
                rho[idx] = best[comp]
                return rho
        v = w + v  # power iteration on I + M (primitive), Perron vector of M
        scale = np.zeros(nc)
        np.maximum.at(scale, comp, v)
        v = v / scale[comp]
    bad = np.flatnonzero(lo >= 1 - 1e-12)
    for u in np.flatnonzero((lo < 1 - 1e-12) & (hi >= 1)):  # undecided: exact when small
        nodes = np.flatnonzero(comp == u)
        if len(nodes) <= 400:
            exact = float(max(abs(np.linalg.eigvals(Mc[nodes][:, nodes].toarray()))))
            if exact >= 1 - 1e-12:
                bad = np.append(bad, u)
            else:
                best[u] = min(best[u], exact)
    if bad.size:
        k = int(bad[0])
        nodes = idx[comp == k]
        shown = names(nodes[:12]) if names else [str(i) for i in nodes[:12]]
        more = f" and {len(nodes) - 12} more" if len(nodes) > 12 else ""
        raise TraceError(
            f"a cycle creates mass (spectral radius >= 1, about {lo[k]:.4g}..{hi[k]:.4g}): "
            f"{' -> '.join(shown)}{more}; check the BOM quantities and flows on this loop"
        )
    # no component refused: the bound found (the exact radius of a small undecided component;
    # >= 1 for a large undecided one, which makes the cycle solve use its strictest stop rule)
    rho[idx] = best[comp]
    return rho


def solve_permuted(
    p: Plan,
    Bp: sp.csr_matrix | np.ndarray,
    names: Names | None = None,
    tol: float = TOL,
    stats: dict[str, float] | None = None,
    upto: int | None = None,
) -> np.ndarray:
    """Solve with ``Bp`` given in plan order (rows permuted); returns ``X`` in plan order.

    Levels before the first nonzero row of ``Bp`` are left 0 without work, and so are the
    levels after row ``upto`` when given (a level only reads lower ones, so the rows up to
    ``upto`` are exact without them).

    Parameters
    ----------
    p : Plan
    Bp : csr_matrix or ndarray, shape (n, k)
        The right-hand sides, row ``i`` being the node ``p.perm[i]`` (dense for small ones).
    names : callable, optional
        Node ids -> names, for the error of a cycle that does not converge.
    tol : float
        Relative residual per column at which cyclic solves stop.
    stats : dict, optional
        When given, ``stats["sweeps"]`` is increased by the Gauss-Seidel sweeps made.
    upto : int, optional
        The last plan row wanted: the levels after the one holding it are not solved (their
        rows stay 0).

    Returns
    -------
    ndarray, shape (n, k)
        ``X`` in plan order (row ``i`` is node ``p.perm[i]``).

    Raises
    ------
    TraceError
        When a cyclic block creates mass or does not converge.
    """
    k = Bp.shape[1]
    Bd = Bp if isinstance(Bp, np.ndarray) else None
    Bsp = None if isinstance(Bp, np.ndarray) else sp.csr_matrix(Bp)
    if Bsp is not None:
        Bsp.sum_duplicates()
    X = np.zeros((p.n, k))
    rows = np.flatnonzero(Bd.any(axis=1)) if Bd is not None else np.flatnonzero(
        np.diff(Bsp.indptr)  # type: ignore[union-attr]
    )
    if rows.size == 0:
        return X
    first = int(rows[0])
    last = p.n if upto is None else int(upto)
    for lv in p.levels:
        if lv.hi <= first:
            continue
        if lv.lo > last:
            break
        if lv.ext.nnz:  # reads lower levels only: accumulated in place
            spmm(lv.ext, X, X[lv.lo : lv.hi])
        if Bd is not None:
            X[lv.lo : lv.hi] += Bd[lv.lo : lv.hi]
        else:
            assert Bsp is not None
            Bl = Bsp[lv.lo : lv.hi].tocoo()
            if Bl.nnz:  # entries unique (summed above): plain fancy-index addition
                X[lv.lo + Bl.row, Bl.col] += Bl.data
        if p.own is not None:
            X[lv.lo : lv.hi] *= p.own[lv.lo : lv.hi, None]
        if lv.cyc is not None:
            m = len(lv.cyc.idx)
            X[lv.lo : lv.lo + m] = solve_cycle(lv.cyc, X[lv.lo : lv.lo + m], names, tol, stats)
    return X


def solve(
    p: Plan,
    B: np.ndarray | sp.spmatrix,
    mask: np.ndarray | None = None,
    names: Names | None = None,
    tol: float = TOL,
) -> np.ndarray:
    """Solve ``X = M X + B`` with a plan: topological sweep, cyclic blocks to residual <= ``tol``.

    Parameters
    ----------
    p : Plan
    B : (n, k) dense or sparse
    mask : bool (n,), optional
        Rows to return (the others are set to 0): a set closed under dependencies (e.g. the
        upstream of a product), or whose outside rows are 0 in the solution.
    tol : float
        Relative residual at which the iterative solves of cyclic blocks stop (1e-10).

    Returns
    -------
    ndarray (n, k)

    Raises
    ------
    TraceError
        When a cyclic block creates mass or does not converge.
    """
    Bs: np.ndarray | sp.csr_matrix
    if p.n * B.shape[1] <= DENSE_RHS:  # small: dense right-hand sides, no sparse overhead
        Bs = np.asarray(sp.csr_matrix(B).toarray() if sp.issparse(B) else B, dtype=float)[p.perm]
    else:
        Bs = sp.csr_matrix(B, dtype=float)[p.perm]
    X: np.ndarray = solve_permuted(p, Bs, names, tol)[p.pos]
    if mask is not None:
        X[~mask] = 0.0
    return X


def solve_cycle(
    c: Cycle,
    R: np.ndarray,
    names: Names | None,
    tol: float = TOL,
    stats: dict[str, float] | None = None,
) -> np.ndarray:
    """``X = M X + R`` on one cyclic block (plan order), to relative residual ``tol`` per column.

    Parameters
    ----------
    c : Cycle
    R : ndarray, shape (m, k)
        The block's right-hand sides (external inputs already added), ``m = len(c.idx)``.
    names : callable, optional
        Node ids -> names, for the error message.
    tol : float
        The relative residual ``||X - M X - R|| / ||R||`` to reach per column.
    stats : dict, optional
        When given, ``stats["sweeps"]`` is increased by the Gauss-Seidel sweeps made.

    Returns
    -------
    ndarray, shape (m, k)
        ``X`` on the block's rows (zeros when ``R`` is zero).

    Raises
    ------
    TraceError
        When the direct solution is negative or the iteration does not converge in 2000
        sweeps (the cycle creates mass).
    """
    norm = np.linalg.norm(R, axis=0)
    if not norm.any():
        return np.zeros_like(R)
    scale = np.maximum(norm, 1e-300)
    if c.lu is not None or c.dense is not None:

        def lu(b: np.ndarray) -> np.ndarray:
            if c.dense is not None:
                out: np.ndarray = lu_solve(c.dense, b, check_finite=False)
                return out
            return np.asarray(c.lu.solve(b))

        X = lu(R)
        for _ in range(3):  # iterative refinement
            res = R - (X - c.M @ X)
            if (np.linalg.norm(res, axis=0) <= tol * scale).all():
                break
            X += lu(res)
        if (X < -1e-12 * np.abs(X).max()).any():
            raise TraceError(f"a cycle creates mass: {' -> '.join(_names(c, names))}")
        return np.asarray(X)
    assert c.F is not None and c.lateF is not None
    F = c.F
    if c.fb is None and len(F) <= FEEDBACK_MAX:
        c.cols += R.shape[1]
        if c.cols >= FEEDBACK_AMORTISE * len(F):
            feedback_factor(c)
            if c.factored is not None:
                c.factored()
    X = R.copy()
    xF = X[F]
    if c.fb is not None:  # direct: r = G(0), x_F = (I - S)^-1 r, X = G(x_F)
        X[F] = 0.0
        _sweep(c, X, R)
        xF = lu_solve(c.fb, X[F], check_finite=False)
        for _ in range(3):  # iterative refinement on the feedback equation
            X[F] = xF
            _sweep(c, X, R)
            f = X[F] - xF
            if stats is not None:
                stats["sweeps"] = stats.get("sweeps", 0) + 1
            if _rel(c, f, X[F], scale) <= tol:
                return X
            xF = xF + lu_solve(c.fb, f, check_finite=False)
    dF: list[np.ndarray] = []
    dG: list[np.ndarray] = []
    f_old = g_old = None
    best = np.inf
    worse = 0
    for it in range(1, 2001):
        X[F] = xF
        _sweep(c, X, R)  # one Gauss-Seidel sweep: an exact function of X[F]
        g = X[F]
        f = g - xF
        res = _res(c, f, scale)
        rel = _rel(c, f, g, scale, res)
        if stats is not None:
            stats["sweeps"] = stats.get("sweeps", 0) + 1
        if rel <= tol:
            return X
        if not np.isfinite(rel):
            break
        worse = worse + 1 if rel >= best else 0
        best = min(best, rel)
        if worse >= 25:
            if res <= max(tol, TOL):  # stagnating at rounding level, within the contract
                return X
            break
        if ANDERSON and f_old is not None:
            dF.append(f - f_old)
            dG.append(g - g_old)
            if len(dF) > ANDERSON:
                dF.pop(0)
                dG.pop(0)
        f_old, g_old = f, g
        xF = g - _anderson(dF, dG, f) if dF else g
    raise TraceError(
        f"a cycle does not converge (it creates mass?): {' -> '.join(_names(c, names))}"
    )


def _sweep(c: Cycle, X: np.ndarray, R: np.ndarray) -> None:
    """One Gauss-Seidel sweep of a cyclic block in place; reads ``X[c.F]`` as set."""
    for a, b, Mj in c.sub:  # Mj may read its own rows (late entries): into a copy
        t = R[a:b].copy()
        spmm(Mj, X, t)
        X[a:b] = t


def _res(c: Cycle, f: np.ndarray, scale: np.ndarray) -> float:
    """The relative residual of the swept ``X``: exactly ``lateF @ f`` per column."""
    assert c.lateF is not None
    return float((np.linalg.norm(c.lateF @ f, axis=0) / scale).max())


def _rel(
    c: Cycle, f: np.ndarray, g: np.ndarray, scale: np.ndarray, res: float | None = None
) -> float:
    """The stop measure of a sweep with feedback change ``f`` and new feedback values ``g``.

    The residual of the swept ``X`` is exactly ``lateF @ f`` (the contract: <= tol x ||R||
    per column); ``X`` grows monotonically with ``X[F]``, so ``|f| <= eps X[F]`` entrywise
    bounds every entry's relative error by about ``eps / (1 - rho)``, ``rho`` the spectral
    radius of the sweep's map (:func:`sweep_radius`): both are required."""
    if res is None:
        res = _res(c, f, scale)
    ag = np.abs(g)
    ent = float((np.abs(f) / (ag + 1e-15 * ag.max(axis=0, initial=0.0) + 1e-300)).max(initial=0.0))
    return max(res, ent / max(1.0 - min(c.rho, c.rho_sweep), 1e-6))


def feedback_factor(c: Cycle, chunk: int = 256) -> None:
    """Build and factor ``I - S``, ``S`` the map of one sweep on the feedback variables.

    A sweep with zero right-hand side is linear in ``X[F]``: column ``j`` of ``S`` is the
    feedback values after a sweep from ``X[F] = e_j``. ``S`` costs one sweep per feedback
    variable (``chunk`` of them at a time) and ``len(F)**2`` floats; it is stored on the block
    as the LU factors of ``I - S`` (``c.fb``), and every later solve of the block is two
    sweeps and one dense triangular solve instead of an iteration.

    Parameters
    ----------
    c : Cycle
        An iteratively solved block (``c.F`` set).
    chunk : int
        Feedback variables swept at once (memory ``len(c.idx) x chunk`` floats).
    """
    assert c.F is not None
    m, nf = len(c.idx), len(c.F)
    S = np.empty((nf, nf))
    for a in range(0, nf, chunk):
        b = min(a + chunk, nf)
        X = np.zeros((m, b - a))
        X[c.F[a:b], np.arange(b - a)] = 1.0
        for lo, hi, Mj in c.sub:
            t = np.zeros((hi - lo, b - a))
            spmm(Mj, X, t)
            X[lo:hi] = t
        S[:, a:b] = X[c.F]
    c.fb = lu_factor(np.eye(nf) - S, check_finite=False)


def _anderson(dF: list[np.ndarray], dG: list[np.ndarray], f: np.ndarray) -> np.ndarray:
    """``sum_j gamma_j dG_j`` with ``gamma = argmin ||f - sum_j gamma_j dF_j||`` per column.

    The normal equations per column are built from the few (at most :data:`ANDERSON`)
    difference arrays by elementwise products summed over the feedback variables: one pass
    over each pair, no stacked copies."""
    m = len(dF)
    k = f.shape[1]
    G = np.empty((k, m, m))
    r = np.empty((k, m))
    for i in range(m):
        r[:, i] = np.einsum("fk,fk->k", dF[i], f)
        for j in range(i + 1):
            G[:, i, j] = G[:, j, i] = np.einsum("fk,fk->k", dF[i], dF[j])
    d = np.einsum("kii->ki", G)
    reg = 1e-13 * d.max(axis=1, initial=0.0)[:, None, None] * np.eye(m) + 1e-300 * np.eye(m)
    try:
        gamma = np.linalg.solve(G + reg, r[..., None])[..., 0]  # (k, m)
    except np.linalg.LinAlgError:
        return np.zeros_like(f)
    gamma = np.nan_to_num(gamma)
    out: np.ndarray = dG[0] * gamma[:, 0]
    for j in range(1, m):
        out += dG[j] * gamma[:, j]
    return out


def _names(c: Cycle, names: Names | None) -> list[str]:
    return names(c.idx[:12]) if names else [str(i) for i in c.idx[:12]]


# =================================================================== a plan as arrays
PLAN_FORMAT = 3
"""The layout of :func:`plan_arrays`; a stored plan of another layout is not used."""


def plan_constants() -> tuple[object, ...]:
    """What, besides the matrix and the rank, decides the structure of a plan: the layout and
    the solver's size limits (a plan kept under other limits is not reused)."""
    return (PLAN_FORMAT, DIRECT_MAX, DENSE_MAX, DENSE_FILL)


def plan_arrays(p: Plan) -> dict[str, np.ndarray]:
    """A plan as named numeric arrays (:func:`plan_from_arrays` builds it back).

    Each level keeps its external entries (a CSR matrix) and bounds; each cyclic block keeps
    its index, its internal matrix, its spectral bound and its kind: the dense LU factors, a
    flag for a sparse LU (refactored when read: at most :data:`DIRECT_MAX` nodes), or the
    Gauss-Seidel sublevel bounds and matrices, feedback variables and late entries (with the
    LU of the feedback map when it was built). Every matrix is stored whole, so that reading
    it back copies nothing.

    Parameters
    ----------
    p : Plan

    Returns
    -------
    dict of str to ndarray
        Numbers only; LU factors stored transposed (C order) so they read back in Fortran
        order without a copy.
    """
    out: dict[str, np.ndarray] = {
        "format": np.array([PLAN_FORMAT], dtype=np.int64),
        "n": np.array([p.n], dtype=np.int64),
        "perm": np.asarray(p.perm, dtype=np.int64),
        "labels": np.asarray(p.labels),
        "bounds": np.array([lv.lo for lv in p.levels] + [p.n], dtype=np.int64),
    }
    if p.own is not None:
        out["own"] = np.asarray(p.own, dtype=float)
    for k, lv in enumerate(p.levels):  # each matrix whole: a slice of a larger array would be
        _put_csr(out, f"e{k}", lv.ext)  # copied by scipy (it prunes views of large arrays)
    cyc_level: list[int] = []
    for k, lv in enumerate(p.levels):
        c = lv.cyc
        if c is None:
            continue
        pre = f"c{len(cyc_level)}_"
        cyc_level.append(k)
        out[pre + "idx"] = np.asarray(c.idx, dtype=np.int64)
        out[pre + "rho"] = np.array([c.rho], dtype=float)
        _put_csr(out, pre + "M", c.M)
        if c.dense is not None:
            _put_lu(out, pre + "dense", c.dense)
        elif c.lu is not None:
            out[pre + "splu"] = np.ones(1, dtype=np.int8)
        else:
            assert c.F is not None and c.lateF is not None
            out[pre + "sub"] = np.array([a for a, _, _ in c.sub] + [c.sub[-1][1]], dtype=np.int64)
            for j, (_, _, Mj) in enumerate(c.sub):
                _put_csr(out, f"{pre}s{j}", Mj)
            out[pre + "F"] = np.asarray(c.F, dtype=np.int64)
            out[pre + "rhos"] = np.array([c.rho_sweep], dtype=float)
            _put_csr(out, pre + "lateF", c.lateF)
            if c.fb is not None:
                _put_lu(out, pre + "fb", c.fb)
    out["cyc_level"] = np.array(cyc_level, dtype=np.int64)
    return out


def plan_from_arrays(d: Mapping[str, np.ndarray]) -> Plan:
    """The plan that :func:`plan_arrays` wrote; the arrays are used in place (e.g. mapped).

    Parameters
    ----------
    d : mapping of str to ndarray

    Returns
    -------
    Plan
        Equal to the plan written: the same permutation, levels, blocks and factors (a
        block's sparse LU is computed again).

    Raises
    ------
    ValueError
        When the arrays are of another layout or not consistent with each other.
    """
    if int(d["format"][0]) != PLAN_FORMAT:
        raise ValueError("a plan of another layout")
    n = int(d["n"][0])
    perm = d["perm"]
    bounds = d["bounds"]
    if perm.shape != (n,) or bounds[0] != 0 or bounds[-1] != n or (np.diff(bounds) <= 0).any():
        raise ValueError("a plan's permutation or level bounds do not fit its size")
    pos = np.full(n, -1, dtype=np.int64)
    pos[perm] = np.arange(n)
    if (pos < 0).any():
        raise ValueError("a plan's permutation is not one")
    cyc_of = {int(k): j for j, k in enumerate(d["cyc_level"])}
    levels_: list[Level] = []
    for k in range(len(bounds) - 1):
        lo, hi = int(bounds[k]), int(bounds[k + 1])
        cyc = _read_cycle(d, f"c{cyc_of[k]}_") if k in cyc_of else None
        if cyc is not None and len(cyc.idx) > hi - lo:
            raise ValueError("a plan's cyclic block is larger than its level")
        levels_.append(Level(lo=lo, hi=hi, ext=_csr(d, f"e{k}", (hi - lo, n)), cyc=cyc))
    own = d.get("own")
    if own is not None and own.shape != (n,):
        raise ValueError("a plan's own-use factors do not fit its size")
    return Plan(n=n, levels=levels_, labels=d["labels"], perm=perm, pos=pos, own=own)


def _read_cycle(d: Mapping[str, np.ndarray], pre: str) -> Cycle:
    idx = d[pre + "idx"]
    m = len(idx)
    M = _csr(d, pre + "M", (m, m))
    c = Cycle(idx=idx, M=M, rho=float(d[pre + "rho"][0]))
    if pre + "dense_lu" in d:
        c.dense = _get_lu(d, pre + "dense", m)
    elif pre + "splu" in d:
        c.lu = splu(sp.csc_matrix(sp.identity(m) - M))
    else:
        b = d[pre + "sub"]
        if b[0] != 0 or b[-1] != m or (np.diff(b) <= 0).any():
            raise ValueError("a plan's sublevel bounds do not fit its block")
        c.sub = [
            (int(b[j]), int(b[j + 1]), _csr(d, f"{pre}s{j}", (int(b[j + 1] - b[j]), m)))
            for j in range(len(b) - 1)
        ]
        c.F = d[pre + "F"]
        c.rho_sweep = float(d[pre + "rhos"][0])
        c.lateF = _csr(d, pre + "lateF", None)
        if c.lateF.shape[1] != len(c.F):
            raise ValueError("a plan's late entries do not fit its feedback variables")
        if pre + "fb_lu" in d:
            c.fb = _get_lu(d, pre + "fb", len(c.F))
    return c


def _put_csr(out: dict[str, np.ndarray], name: str, M: sp.csr_matrix) -> None:
    out[name + "_indptr"] = M.indptr
    out[name + "_indices"] = M.indices
    out[name + "_data"] = np.asarray(M.data, dtype=float)
    out[name + "_shape"] = np.array(M.shape, dtype=np.int64)


def _csr(d: Mapping[str, np.ndarray], name: str, shape: tuple[int, int] | None) -> sp.csr_matrix:
    """A CSR matrix over stored arrays (views: nothing copied)."""
    ip, ix, dat = d[name + "_indptr"], d[name + "_indices"], d[name + "_data"]
    if shape is None:
        sh = d[name + "_shape"]
        shape = (int(sh[0]), int(sh[1]))
    if (
        ip.shape != (shape[0] + 1,)
        or ip.dtype != ix.dtype
        or int(ip[0]) != 0
        or int(ip[-1]) != len(ix)
        or len(dat) != len(ix)
    ):
        raise ValueError(f"a plan's matrix {name} is not consistent")
    return sp.csr_matrix((dat, ix, ip), shape=shape, copy=False)


def _put_lu(out: dict[str, np.ndarray], name: str, f: tuple[np.ndarray, np.ndarray]) -> None:
    lu, piv = f
    out[name + "_lu"] = np.asfortranarray(lu).T  # C order: reads back as a Fortran view
    out[name + "_piv"] = np.asarray(piv)


def _get_lu(d: Mapping[str, np.ndarray], name: str, m: int) -> tuple[np.ndarray, np.ndarray]:
    lu, piv = d[name + "_lu"].T, d[name + "_piv"]
    if lu.shape != (m, m) or piv.shape != (m,):
        raise ValueError(f"a plan's LU factors {name} do not fit their block")
    return lu, piv
