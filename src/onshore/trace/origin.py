"""Trace: where the minerals and the processing stages of every product come from.

With ``A`` the input coefficients of :mod:`onshore.trace.graph` (``A[p, u]`` = units of node ``u``
in one unit of node ``p``) and ``B`` the tags each node adds, the tag content of every node
solves

    X = A X + B,    X = L B,    L = (I - A)^-1  (the Leontief inverse),

exactly, cycles (recycling) included, by :mod:`onshore.trace.leontief` (strong components, a
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
explain a number are in :mod:`onshore.trace.paths`, conservation checks in
:mod:`onshore.trace.conservation`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from onshore.network import Network
from onshore.trace.graph import UNKNOWN, Graph, find_product
from onshore.trace.tags import Controller, Weight, field_codes, leontief_row, share_keys, values


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
        :func:`onshore.owners.control.controlling_country` (the ultimate controller's country;
        :func:`direct_parent_country` gives the direct parent's).

    Returns
    -------
    DataFrame
        One column per tag field (plus ``price`` with cost), ``quantity`` per unit of the
        product and ``share`` = quantity / total over the same (raw, stage), so shares over
        countries sum to one per (raw, stage), ``unknown`` included.

    Raises
    ------
    NotFound
        When the product is not in the network.
    TraceError
        When a tag field is unknown or a cycle creates mass.

    Examples
    --------
    >>> trace(net, "cell1", by=("raw", "stage", "country"))  # doctest: +SKIP
    """
    by = tuple(by)
    g, p = find_product(network, product, period)
    y = leontief_row(g, p)
    W, uk, cols, ordered = _tag_matrix(g, network, by, weight, controller)
    return _frame(np.asarray(W @ y)[:, None], uk, cols, ordered, by, weight)


def trace_products(
    network: Network,
    products: Sequence[str],
    by: Sequence[str] = ("raw", "stage", "country"),
    weight: Weight = "mass",
    period: str | None = None,
    controller: Controller | None = None,
    batch: int = 256,
    forward: bool | None = None,
) -> pd.DataFrame:
    """:func:`trace` of many products, by whichever of two solves costs less.

    Few products: the rows ``Y = e_P L`` of a batch ``P`` of products solve
    ``Y = A^T Y + E_P`` (one column per product) in one backward solve, one sweep of the plan
    for the whole batch instead of one per product, and ``Q = W Y`` sums them by tag. Many
    products (at least :data:`FORWARD_PER_TAG` x the tags): the forward system
    ``X = A X + W^T`` (one column per tag, every node's trace) is solved in blocks of tag
    columns up to the last product's level, and only the products' rows are kept. Both give
    the tables of :func:`trace` (to 1e-10: the cyclic solves' residual).

    Parameters
    ----------
    network : Network
    products : sequence of str
        ``FACILITY`` or ``FACILITY:MATERIAL`` each, as :func:`trace`.
    by, weight, period, controller
        As :func:`trace`.
    batch : int
        Products per backward solve, at most :data:`BATCH_CELLS` / nodes (the solution of a
        batch is nodes x products floats: 64 products at 1 M nodes).
    forward : bool, optional
        True: the forward solve, False: the transposed one; default: by the number of
        products (see above).

    Returns
    -------
    DataFrame
        ``product`` then the columns of :func:`trace`, the products in the order given.

    Raises
    ------
    NotFound
        When a product is not in the network.
    TraceError
        When a tag field is unknown or a cycle creates mass.
    """
    by = tuple(by)
    found = [find_product(network, prod, period) for prod in products]
    parts: list[pd.DataFrame] = []
    groups: dict[int, list[int]] = {}
    for i, (g, _) in enumerate(found):
        groups.setdefault(id(g), []).append(i)
    for members in groups.values():
        g = found[members[0]][0]
        nodes = np.array([found[i][1] for i in members], dtype=np.int64)
        if forward is None:
            W = _tag_matrix(g, network, by, weight, controller)[0]
            fwd = len(np.unique(nodes)) >= FORWARD_PER_TAG * W.shape[0]
        else:
            fwd = bool(forward)
        solve = _forward if fwd else _backward
        parts += solve(g, network, members, nodes, by, weight, controller, batch)
    names = ["product", *by, *(["price"] if weight == "cost" else []), "quantity", "share"]
    if not parts:
        return pd.DataFrame(columns=names)
    out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    if len(groups) > 1:  # products of several graphs: back to the order given
        out = out.sort_values("_p", kind="stable").reset_index(drop=True)
    out.insert(0, "product", np.asarray(list(products), dtype=object)[out["_p"].to_numpy()])
    return out[names]


def _backward(
    g: Graph,
    network: Network,
    members: list[int],
    nodes: np.ndarray,
    by: tuple[str, ...],
    weight: Weight,
    controller: Controller | None,
    batch: int,
) -> list[pd.DataFrame]:
    """The tables of the products at ``nodes`` (labelled ``members``) by the transposed system:
    ``Y = A^T Y + E_P`` per batch of products, ``Q = W Y``."""
    from onshore.trace.leontief import solve_permuted
    from onshore.trace.tags import backward_plan, g_names

    parts: list[pd.DataFrame] = []
    step = max(min(int(batch), BATCH_CELLS // max(g.n, 1)), 1)
    bp = backward_plan(g)
    W, uk, cols, ordered = _tag_matrix(g, network, by, weight, controller, bp.perm)
    for a in range(0, len(members), step):
        chunk = members[a : a + step]
        at = nodes[a : a + step]
        e = sp.csr_matrix(
            (np.ones(len(at)), (bp.pos[at], np.arange(len(at)))), shape=(g.n, len(at))
        )
        Y = solve_permuted(bp, e, names=g_names(g))  # plan order: no permutation back
        step_t = max(1, min(len(chunk), TABLE_CELLS // max(W.shape[0], 1)))
        for b in range(0, len(chunk), step_t):
            Q = np.asarray(W @ Y[:, b : b + step_t])  # (tags, products)
            parts.append(_frame(Q, uk, cols, ordered, by, weight, chunk[b : b + step_t]))
    return parts


def _forward(
    g: Graph,
    network: Network,
    members: list[int],
    nodes: np.ndarray,
    by: tuple[str, ...],
    weight: Weight,
    controller: Controller | None,
    batch: int,
) -> list[pd.DataFrame]:
    """The tables of the products at ``nodes`` (labelled ``members``) by the forward system:
    ``X = A X + W^T`` over blocks of tag columns (ordered by their first plan row, so a block
    of downstream tags skips the levels above it), solved up to the last product's level, of
    which only the products' rows are kept: ``Q = X_P^T``."""
    from onshore.trace.leontief import solve_permuted
    from onshore.trace.tags import forward_plan, g_names

    fp = forward_plan(g)
    W, uk, cols, ordered = _tag_matrix(g, network, by, weight, controller, fp.perm)
    ntag = W.shape[0]
    rows = fp.pos[nodes]
    uniq, back = np.unique(rows, return_inverse=True)  # sorted plan rows of the products
    Bt = W.T.tocsc()  # plan rows x tags, sliced by columns
    first = np.full(ntag, g.n, dtype=np.int64)  # the first plan row of each tag column
    has = np.flatnonzero(np.diff(W.indptr) > 0)
    if has.size:
        first[has] = np.minimum.reduceat(W.indices, W.indptr[has])
    order = np.argsort(first, kind="stable")
    step = max(1, min(FORWARD_TAGS, BATCH_CELLS // max(g.n, 1)))
    # the products' rows of every tag, Q (tags x rows), at most FORWARD_CELLS floats at a
    # time: more products are solved in groups of rows, each solve up to its group's last row
    per = max(1, FORWARD_CELLS // max(ntag, 1))
    mem = np.asarray(members, dtype=np.int64)
    step_t = max(1, TABLE_CELLS // max(ntag, 1))
    parts: list[pd.DataFrame] = []
    for g0 in range(0, len(uniq), per):
        grp = uniq[g0 : g0 + per]
        Q = np.zeros((ntag, len(grp)))
        for a in range(0, ntag, step):
            tags = order[a : a + step]
            X = solve_permuted(fp, Bt[:, tags].tocsr(), names=g_names(g), upto=int(grp[-1]))
            Q[tags] = X[grp].T
            del X
        inside = np.flatnonzero((back >= g0) & (back < g0 + len(grp)))
        for b in range(0, len(inside), step_t):
            sel = inside[b : b + step_t]
            parts.append(
                _frame(Q[:, back[sel] - g0], uk, cols, ordered, by, weight, mem[sel].tolist())
            )
    if len(uniq) > per:  # groups of plan rows: back to the order of the products given
        out = pd.concat(parts, ignore_index=True).sort_values("_p", kind="stable")
        return [out.reset_index(drop=True)]
    return parts


FORWARD_PER_TAG = 0.3
""":func:`trace_products` takes the forward system when a graph's products number at least
this many times its tags (the columns of ``W``): the forward solve of every tag then costs
about what the transposed system does for those products (the crossover measured at 0.15-0.44
x the tags at 10 k nodes in three runs and 0.41-0.49 x at 100 k in two, under load 1-8;
``python -m benchmarks.bench_trace --products`` reports it); within that band either solve
is within about 2x of the other."""
FORWARD_TAGS = 256
"""Tag columns per forward solve of :func:`trace_products` (fewer when the nodes x columns
would pass :data:`BATCH_CELLS`)."""


BATCH_CELLS = 1 << 26
"""Nodes x products of one backward solve of :func:`trace_products` (512 MiB of float64)."""
TABLE_CELLS = 1 << 24
"""Tags x products summed at once by :func:`trace_products` (128 MiB of float64)."""
FORWARD_CELLS = 1 << 27
"""Tags x product rows the forward path of :func:`trace_products` holds at once (1 GiB of
float64); more products are solved in groups of rows, one forward solve per group."""


def _tag_columns(
    g: Graph,
    network: Network,
    by: tuple[str, ...],
    weight: Weight,
    controller: Controller | None,
    n_id: np.ndarray,
    raw: np.ndarray,
    priced: np.ndarray,
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Per tag column of a trace table: its name, the code of each (node, raw) entry and the
    values the codes index (sorted, so code order is value order)."""
    raws = np.array(g.raws + [""], dtype=object)
    cols: list[tuple[str, np.ndarray, np.ndarray]] = []
    for f in by:
        if f == "raw":
            cols.append((f, raw % len(raws), raws))
        else:
            codes, uniq = field_codes(g, network, f, controller)
            cols.append((f, codes[n_id], uniq))
    if weight == "cost":
        cols.append(("price", np.where(priced, 0, 1), np.array(["known", UNKNOWN], dtype=object)))
    return cols


def _code_order_is_value_order(cols: list[tuple[str, np.ndarray, np.ndarray]]) -> bool:
    """Whether rows in the order of their combined codes are sorted by their values already
    (every column's values sorted; raw's trailing ``""`` is never a code of a row with a raw),
    so that a stable sort by the values would keep the order and can be skipped."""
    for name, _, u in cols:
        v = u[:-1] if name == "raw" else u
        if len(v) > 1 and not bool(np.all(v[:-1] <= v[1:])):
            return False
    return True


def _tag_matrix(
    g: Graph,
    network: Network,
    by: tuple[str, ...],
    weight: Weight,
    controller: Controller | None,
    order: np.ndarray | None = None,
) -> tuple[sp.csr_matrix, np.ndarray, list[tuple[str, np.ndarray]], bool]:
    """The tag weights of every node, cached on the graph per (by, weight, controller).

    ``W[t, u]`` is the value of node ``u``'s entry with tag ``t`` (one entry per (node, raw)
    with ``raw`` in ``by``, else per node; see :func:`~onshore.trace.tags.values`), so the
    trace of a product with rows ``y`` (units of every node per unit of product) is
    ``Q = W y``: one sparse product instead of a sum by tag over its upstream. With ``order``
    (a plan's ``perm``) the columns are in that order. Returns ``W``, the combined code of each
    tag (sorted), the columns' names and values the codes index, and whether code order is
    value order."""
    ckey = f"origin.tags:{by}:{weight}:{id(controller) if 'controlling_country' in by else ''}"
    if ckey not in g.cache:
        n_id, raw, val, priced = values(g, np.arange(g.n), weight, by)
        cols = _tag_columns(g, network, by, weight, controller, n_id, raw, priced)
        key = np.zeros(len(val), dtype=np.int64)
        for _, c, u in cols:
            key = key * len(u) + c
        space = int(np.prod([len(u) for _, _, u in cols], dtype=np.float64)) if cols else 1
        if space <= max(4 * len(key), 1 << 16):  # few possible tags: a lookup, no sort
            seen = np.bincount(key, minlength=space) > 0
            uk = np.flatnonzero(seen)
            inv = (np.cumsum(seen) - 1)[key]
        else:
            uk, inv = np.unique(key, return_inverse=True)
        W = sp.csr_matrix((val, (inv.ravel(), n_id)), shape=(len(uk), g.n))
        named = [(name, u) for name, _, u in cols]
        g.cache[ckey] = (W, uk, named, _code_order_is_value_order(cols), {})
    W, uk, named, ordered, by_order = g.cache[ckey]
    if order is not None:
        okey = id(order)
        if okey not in by_order:
            by_order.clear()
            by_order[okey] = (order, W[:, order].tocsr())
        W = by_order[okey][1]
    return W, uk, named, ordered


def _frame(
    Q: np.ndarray,
    uk: np.ndarray,
    cols: list[tuple[str, np.ndarray]],
    ordered: bool,
    by: tuple[str, ...],
    weight: Weight,
    products: Sequence[int] | None = None,
) -> pd.DataFrame:
    """The trace table of ``Q`` (tags x products): the nonzero tags of each product, sorted
    by tag values, with ``share`` within (raw, stage) (and ``price``); with ``products`` a
    first column ``_p`` (the label of each column), each product's rows as alone."""
    jj, tt = np.nonzero(np.ascontiguousarray(Q.T))  # product-major, tags in code order
    data: dict[str, Any] = {}
    rest = uk[tt]
    for name, u in reversed(cols):
        data[name] = u[rest % len(u)]
        rest = rest // len(u)
    names = [name for name, _ in cols]
    lead = []
    if products is not None:
        data["_p"] = np.asarray(products, dtype=np.int64)[jj]
        lead = ["_p"]
    out = pd.DataFrame({name: data[name] for name in [*lead, *names]})
    out["quantity"] = Q[tt, jj]
    if names and not ordered:
        out = out.sort_values([*lead, *names], kind="stable").reset_index(drop=True)
    sk = [*lead, *share_keys(by, weight)]
    tot = out.groupby(sk)["quantity"].transform("sum") if sk else out["quantity"].sum()
    out["share"] = (out["quantity"] / tot).fillna(0.0)
    return out
