"""Reachability on sparse adjacency matrices: the one implementation behind "which plants are
upstream (or downstream) of these", "in which order", and "which is the nearest"."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def reachable(G: sp.csr_matrix, sources: np.ndarray, include_sources: bool = True) -> np.ndarray:
    """Vertices reachable from ``sources`` along the rows of ``G`` (``G[i, j] != 0``: an edge
    ``i -> j``), as a boolean mask.

    Parameters
    ----------
    G : csr_matrix (n, n)
    sources : int array or bool mask of the start vertices
    include_sources : bool
        Mark the sources themselves (else only what is reached from them by at least one edge).

    Returns
    -------
    ndarray of bool (n,)
    """
    n = G.shape[0]
    src = (
        np.flatnonzero(sources)
        if np.asarray(sources).dtype == bool
        else np.unique(np.asarray(sources, dtype=np.int64))
    )
    mask = np.zeros(n, dtype=bool)
    frontier = src
    if include_sources:
        mask[src] = True
    else:
        frontier = np.unique(G[src].indices)
        mask[frontier] = True
    while frontier.size:
        nxt = G[frontier].indices
        nxt = np.unique(nxt[~mask[nxt]])
        mask[nxt] = True
        frontier = nxt
    return mask


def bfs_order(G: sp.csr_matrix, source: int) -> np.ndarray:
    """Vertices reachable from ``source`` along ``G``, by hop distance then position.

    Parameters
    ----------
    G : csr_matrix (n, n)
        ``G[i, j] != 0``: an edge ``i -> j``.
    source : int
        The start vertex.

    Returns
    -------
    ndarray of int64
        ``source`` first, then the vertices one hop away in ascending order, then two hops
        away, and so on.
    """
    seen = np.zeros(G.shape[0], dtype=bool)
    seen[source] = True
    frontier = np.array([source], dtype=np.int64)
    out = [frontier]
    while frontier.size:
        nxt = G[frontier].indices
        nxt = np.unique(nxt[~seen[nxt]])
        seen[nxt] = True
        if nxt.size:
            out.append(nxt)
        frontier = nxt
    return np.concatenate(out)


def nearest_source(G: sp.csr_matrix, mask: np.ndarray) -> np.ndarray:
    """For every vertex, the nearest vertex of ``mask`` from which it is reached along ``G``.

    Itself when marked; else fewest hops, then lowest position; -1 when there is none.
    One multi-source breadth-first search: every marked vertex starts with its own label,
    and a vertex first reached in a round takes the lowest label among those reaching it.

    Parameters
    ----------
    G : csr_matrix (n, n)
        ``G[i, j] != 0``: an edge ``i -> j``.
    mask : ndarray of bool (n,)
        The source vertices.

    Returns
    -------
    ndarray of int64 (n,)
        The nearest source of each vertex, or -1.
    """
    n = G.shape[0]
    lab = np.full(n, -1, dtype=np.int64)
    frontier = np.flatnonzero(mask)
    lab[frontier] = frontier
    seen = mask.astype(bool).copy()
    while frontier.size:
        sub = G[frontier]
        v = sub.indices
        src = np.repeat(lab[frontier], np.diff(sub.indptr))
        new = ~seen[v]
        v, src = v[new], src[new]
        if not v.size:
            break
        o = np.lexsort((src, v))
        v, src = v[o], src[o]
        first = np.r_[True, v[1:] != v[:-1]]
        v, src = v[first], src[first]
        lab[v] = src
        seen[v] = True
        frontier = v
    return lab
