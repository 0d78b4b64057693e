"""Graph: the node index and the input-coefficient matrix ``A`` of a supply network, built once.

A node is ``(facility, material it outputs)``. For node ``p``, recipe quantities
``q(p, i)`` come from BOMs (rows naming the facility replace the generic recipe of that
output for that plant) and supplier shares ``s(p, i, u)`` from flows: the share of supplier
node ``u`` in what ``p``'s facility received of input ``i`` over the period (suppliers of
one material are pooled at the receiving facility: mass balance). Then

    A[p, u] = q(p, i) * s(p, i, u),

the technical-coefficient matrix of input-output economics (units of ``u`` per unit of
``p``). Data gaps stay explicit: a recipe input with no recorded supplier is taken from the
*virtual* node ``unknown:<input>``, whose own recipe is the generic BOM with every input
again unknown, so the mass is kept and its origin is ``unknown``. Mines are sources: a raw
input of a mine node is extracted there (``E[p, r]``, units of raw ``r`` per unit of ``p``),
and a mine whose output is itself raw contains one unit of it per unit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from onshore.errors import NotFound, TraceError
from onshore.network import Network
from onshore.records import units
from onshore.records.frames import positions, truthy
from onshore.records.model import STAGE_RANK

if TYPE_CHECKING:
    from onshore.store.plans import PlanCache

UNKNOWN = "unknown"
"""Facility id, country and controlling country of the virtual nodes (data gaps)."""


@dataclass
class Graph:
    """The node index and the sparse matrices of one network (and period).

    Attributes
    ----------
    nodes : DataFrame
        One row per node (row ``k`` is node ``k``): ``facility``, ``material``, ``stage``,
        ``country``, ``company``, ``virtual`` (a data-gap node) and ``rank`` (stage order).
    A : scipy.sparse.csr_matrix, shape (n, n)
        Input coefficients, ``A[p, u]`` = units of node ``u`` in one unit of node ``p``.
    E : scipy.sparse.csr_matrix, shape (n, R)
        Extraction, ``E[p, r]`` = units of raw material ``raws[r]`` extracted at ``p`` per
        unit of its output (mines and the virtual raw nodes only).
    raws : list of str
        The raw materials (``materials.kind == 'raw'``), columns of ``E``.
    price : ndarray, shape (n,)
        USD per unit of each node's output material (NaN where the material has no price).
    estimated : ndarray of bool, shape (A.nnz,), or None
        Per stored entry of ``A`` (aligned with ``A.data``), whether its supplier share rests
        on estimated volumes alone: every flow of the period behind the entry is marked
        ``estimate`` and the customer has more than one supplier of that material (the trace
        uses volumes only as supplier shares, so a sole supplier's share is 1 whatever its
        volume). None for a graph assembled by hand.
    """

    nodes: pd.DataFrame
    A: sp.csr_matrix
    E: sp.csr_matrix
    raws: list[str]
    price: np.ndarray
    period: str | None = None
    estimated: np.ndarray | None = field(default=None, repr=False)
    cache: dict[str, Any] = field(default_factory=dict, repr=False)
    plans: PlanCache | None = field(default=None, repr=False, compare=False)
    """Where this graph's solve plans and raw content are kept between processes (the
    network's :attr:`~onshore.network.Network.plans`), or None."""

    @property
    def n(self) -> int:
        """The number of nodes, real and virtual (the order of ``A``).

        Returns
        -------
        int
            ``A.shape[0]``.
        """
        return int(self.A.shape[0])

    def labels(self, idx: Iterable[int] | np.ndarray | None = None) -> list[str]:
        """``facility:material`` names of nodes.

        Parameters
        ----------
        idx : iterable of int or ndarray, optional
            Node ids (rows of ``nodes``); default every node, in node order.

        Returns
        -------
        list of str
            One ``facility:material`` name per node asked for, in the order given (virtual nodes
            are ``unknown:<material>``).
        """
        nd = (
            self.nodes
            if idx is None
            else self.nodes.iloc[np.asarray(list(idx) if not isinstance(idx, np.ndarray) else idx)]
        )
        names: list[str] = (nd["facility"].astype(str) + ":" + nd["material"].astype(str)).tolist()
        return names

    def _lookup(self) -> pd.Series:
        if "lookup" not in self.cache:
            key = self.nodes["facility"].astype(str) + ":" + self.nodes["material"].astype(str)
            self.cache["lookup"] = pd.Series(np.arange(self.n), index=pd.Index(key))
        s: pd.Series = self.cache["lookup"]
        return s

    SCANS = 32
    """Lookups of ``FACILITY:MATERIAL`` answered by scanning the node columns before the
    name index is built: a scan of a million nodes costs about a fiftieth of the index, and
    one trace needs one lookup."""

    def _scan(self, product: str) -> int | None:
        """The node named ``product`` (``facility:material``) found by comparing the columns,
        or None when not exactly one matches (and after :attr:`SCANS` scans, so that many
        lookups use the index)."""
        done = self.cache.get("scans", 0)
        if done >= self.SCANS:
            return None
        self.cache["scans"] = done + 1
        fac = self.nodes["facility"]
        mat = self.nodes["material"]
        hits: list[int] = []
        at = product.find(":")
        while at >= 0:  # every split of the name: a facility id may hold ':' itself
            mask = (fac == product[:at]).to_numpy(dtype=bool, na_value=False)
            if mask.any():
                mask = mask & (mat == product[at + 1 :]).to_numpy(dtype=bool, na_value=False)
                hits += np.flatnonzero(mask).tolist()
            at = product.find(":", at + 1)
        return hits[0] if len(hits) == 1 else None

    def node(self, product: str) -> int:
        """The node of ``FACILITY`` (when it makes one material) or ``FACILITY:MATERIAL``.

        Parameters
        ----------
        product : str
            ``FACILITY`` or ``FACILITY:MATERIAL``; a bare facility id must name a facility with
            exactly one real output node.

        Returns
        -------
        int
            The node id (row of ``nodes`` and of ``A``).

        Raises
        ------
        NotFound
            With the closest names when the product is not a node.
        """
        if ":" in product:
            hit = self._scan(product) if "lookup" not in self.cache else None
            if hit is not None:
                return hit
            lookup = self._lookup()
            if product in lookup.index:
                return int(lookup[product])
            fac = product.split(":", 1)[0]
        else:
            fac = product
        real = self.nodes[(self.nodes["facility"] == fac) & ~self.nodes["virtual"]]
        if ":" not in product and len(real) == 1:
            return int(real.index[0])
        if len(real) > 1 and ":" not in product:
            mats = ", ".join(f"{fac}:{m}" for m in real["material"])
            raise NotFound(f"facility {fac!r} makes several materials; name one: {mats}")
        if len(real):
            mats = ", ".join(f"{fac}:{m}" for m in real["material"])
            raise NotFound(f"{product!r} is not made there; {fac!r} makes: {mats}")
        import difflib

        facs = self.nodes.loc[~self.nodes["virtual"], "facility"].astype(str).unique().tolist()
        close = difflib.get_close_matches(fac, facs, n=5, cutoff=0.5)
        hint = (
            f"; did you mean {', '.join(close)}?"
            if close
            else "; see `onshore info` for the facilities"
        )
        raise NotFound(f"no product {product!r} (no facility {fac!r} with an output){hint}")


# ------------------------------------------------------------------------------- helpers
def flows_qty(network: Network, period: str | None = None) -> pd.DataFrame:
    """Flows of the period with ``qty`` in the material's own unit, vectorised.

    The same as ``Network.flows_in_material_units`` with one conversion factor per
    distinct (unit, material) pair rather than per row, so ten million flows take seconds.

    Parameters
    ----------
    network : Network
    period : str, optional
        Keep flows whose period starts with this (``"2025"`` keeps 2025, 2025-Q1, 2025-03);
        default every flow.

    Returns
    -------
    DataFrame
        One row per kept flow, in input order: ``supplier``, ``customer``, ``material``,
        ``qty`` (the recorded quantity converted to the material's unit, e.g. kg) and
        ``estimate`` (bool).

    Raises
    ------
    TraceError
        When a flow names a material that is not in ``network.materials``.
    UnitError
        When a flow's unit cannot be converted to its material's unit.
    """
    f = network.flows_of(period)
    mats = pd.Index(network.materials["id"].astype(str))
    mu = network.materials["unit"].astype(str).to_numpy()
    m = positions(f["material"], mats)
    if (m < 0).any():
        bad = f["material"].to_numpy()[m < 0][:5]
        raise TraceError(f"flows of unknown materials: {', '.join(map(str, bad))}")
    ucode, uniq = pd.factorize(f["unit"])
    pair = ucode.astype(np.int64) * len(mats) + m
    up, inv = np.unique(pair, return_inverse=True)
    fac = np.array(
        [units.factor(str(uniq[p // len(mats)]), str(mu[p % len(mats)])) for p in up], dtype=float
    )
    out = pd.DataFrame(
        {
            "supplier": _values(f["supplier"]),
            "customer": _values(f["customer"]),
            "material": _values(f["material"]),
            "qty": f["quantity"].to_numpy(dtype=float) * (fac[inv] if len(up) else np.zeros(0)),
            "estimate": truthy(f["estimate"]) if "estimate" in f else np.zeros(len(f), bool),
        }
    )
    return out


def _values(col: pd.Series) -> Any:
    """A column's values for a new frame: a categorical or text (Arrow) column as its own
    array, so the new frame holds the same dtype without a round trip through Python strings;
    any other as a NumPy array (the frame infers its dtype as from the records)."""
    if isinstance(col.dtype, pd.CategoricalDtype | pd.StringDtype):
        return col.array
    return col.to_numpy()


def material_prices_usd(network: Network) -> pd.Series:
    """USD per unit of each material (NaN where no price).

    Each price is converted with ``units.convert(price, currency, 'USD', price_year)``.

    Parameters
    ----------
    network : Network

    Returns
    -------
    Series
        Material id -> USD per unit of the material's own unit; NaN where the price or its
        currency is missing.
    """
    m = network.materials
    out = pd.Series(np.nan, index=m["id"].astype(str).to_numpy(), dtype=float)
    for mid, p, cur, yr in zip(m["id"], m["price"], m["currency"], m["price_year"], strict=True):
        if p is None or pd.isna(p):
            continue
        if cur is None or pd.isna(cur):
            continue
        year = None if yr is None or pd.isna(yr) else int(yr)
        out[str(mid)] = units.convert(float(p), str(cur), "USD", year)
    return out


def _boms(network: Network) -> pd.DataFrame:
    return network.boms_in_material_units()


def producing_stage(network: Network) -> dict[str, str]:
    """Material -> the stage that makes it.

    ``mine`` for raw materials, else the most common stage of the facilities whose output
    it is.

    Parameters
    ----------
    network : Network

    Returns
    -------
    dict of str to str
        Material id -> stage; materials that are neither raw nor any facility's output are
        absent.
    """
    out: dict[str, str] = {}
    fac = network.facilities.dropna(subset=["material"])
    if len(fac):
        mode = fac.groupby("material")["stage"].agg(lambda s: s.astype(str).value_counts().index[0])
        out.update({str(k): str(v) for k, v in mode.items()})
    for mid, kind in zip(network.materials["id"], network.materials["kind"], strict=True):
        if str(kind) == "raw":
            out[str(mid)] = "mine"
    return out


# --------------------------------------------------------------------------------- build
def build(
    network: Network, period: str | None = None, extra: Iterable[tuple[str, str]] = ()
) -> Graph:
    """Build the node index, ``A``, ``E`` and prices of a network, vectorised.

    Parameters
    ----------
    network : Network
    period : str, optional
        Keep flows whose period starts with this (``"2025"`` keeps 2025, 2025-Q1, 2025-03).
    extra : iterable of (facility, material)
        Nodes the caller needs even when no flow or facility record names them.

    Returns
    -------
    Graph

    Raises
    ------
    TraceError
        When a facility is named ``unknown`` (the id reserved for data gaps), or flows or
        facilities name unknown facilities or materials.
    """
    mats = network.materials
    mat_ids = pd.Index(mats["id"].astype(str))
    nm = len(mat_ids)
    kind = mats["kind"].astype(str).to_numpy()
    is_raw_mat = kind == "raw"
    raws = mat_ids[is_raw_mat].tolist()
    raw_col = np.full(nm, -1, dtype=np.int64)
    raw_col[is_raw_mat] = np.arange(len(raws))

    fac = network.facilities
    fac_ids = pd.Index(fac["id"].astype(str))
    nf = len(fac_ids)
    if UNKNOWN in fac_ids:
        raise TraceError(f"a facility is named {UNKNOWN!r}, the id reserved for data gaps")

    flows = flows_qty(network, period)
    sup = positions(flows["supplier"], fac_ids)
    cus = positions(flows["customer"], fac_ids)
    fmat = positions(flows["material"], mat_ids)
    if (sup < 0).any() or (cus < 0).any():
        bad = pd.concat([flows["supplier"][sup < 0], flows["customer"][cus < 0]]).unique()[:5]
        raise TraceError(f"flows name unknown facilities: {', '.join(map(str, bad))}")

    # nodes: facility code (nf = virtual 'unknown') * nm + material code
    keys = [sup.astype(np.int64) * nm + fmat]
    has_mat = fac["material"].notna().to_numpy()
    fm = mat_ids.get_indexer(fac["material"][has_mat].astype(str))
    if (fm < 0).any():
        raise TraceError("facilities name unknown materials")
    keys.append(np.flatnonzero(has_mat).astype(np.int64) * nm + fm)
    extra = list(extra)
    if extra:
        ef = fac_ids.get_indexer([e[0] for e in extra])
        em = mat_ids.get_indexer([e[1] for e in extra])
        ok = (ef >= 0) & (em >= 0)
        keys.append(ef[ok].astype(np.int64) * nm + em[ok])
    real = np.unique(np.concatenate(keys))
    virtual = np.int64(nf) * nm + np.arange(nm, dtype=np.int64)
    key = np.concatenate([real, virtual])
    n = len(key)
    nfac = key // nm
    nmat = key % nm
    is_virtual = nfac == nf
    nodes = _node_table(network, key)
    stage = nodes["stage"].to_numpy()
    is_mine = stage == "mine"  # virtual mine-stage nodes extract too

    # recipes: (node, input material, qty); facility rows override the generic recipe
    b = _boms(network)
    b_out = mat_ids.get_indexer(b["output"].astype(str))
    b_in = mat_ids.get_indexer(b["input"].astype(str))
    b_q = b["qty"].to_numpy(dtype=float)
    b_fac_named = b["facility"].notna().to_numpy()
    b_fac = np.full(len(b), -1, dtype=np.int64)
    if b_fac_named.any():
        b_fac[b_fac_named] = fac_ids.get_indexer(b["facility"][b_fac_named].astype(str))
    spec = b_fac_named & (b_fac >= 0)
    spec_key = b_fac[spec] * nm + b_out[spec]
    node_pos = pd.Series(np.arange(n), index=key)
    has_spec = np.isin(key, spec_key) & ~is_virtual
    # specific rows: node = (facility, output)
    sp_nodes = node_pos.reindex(spec_key).to_numpy()
    ok = ~np.isnan(sp_nodes)
    r_node = [sp_nodes[ok].astype(np.int64)]
    r_in = [b_in[spec][ok]]
    r_q = [b_q[spec][ok]]
    # generic rows: every node of that output without specific rows
    gen = ~b_fac_named
    g = pd.DataFrame({"mat": b_out[gen], "inp": b_in[gen], "q": b_q[gen]})
    takers = pd.DataFrame({"node": np.flatnonzero(~has_spec), "mat": nmat[~has_spec]})
    gm = takers.merge(g, on="mat", how="inner")
    r_node.append(gm["node"].to_numpy(dtype=np.int64))
    r_in.append(gm["inp"].to_numpy(dtype=np.int64))
    r_q.append(gm["q"].to_numpy(dtype=float))
    rn, ri, rq = np.concatenate(r_node), np.concatenate(r_in), np.concatenate(r_q)
    # a non-mine node making a raw material with no recipe passes it through (from its suppliers)
    has_recipe = np.zeros(n, dtype=bool)
    has_recipe[rn] = True
    passthru = ~has_recipe & ~is_virtual & ~is_mine & is_raw_mat[nmat]
    rn = np.concatenate([rn, np.flatnonzero(passthru)])
    ri = np.concatenate([ri, nmat[passthru]])
    rq = np.concatenate([rq, np.ones(int(passthru.sum()))])

    # extraction: raw inputs of mines, raw outputs of mines and of the virtual raw nodes
    extracted = is_mine[rn] & is_raw_mat[ri]
    e_rows = [rn[extracted], np.flatnonzero((is_mine | is_virtual) & is_raw_mat[nmat])]
    e_cols = [raw_col[ri[extracted]], raw_col[nmat[(is_mine | is_virtual) & is_raw_mat[nmat]]]]
    e_vals = [rq[extracted], np.ones(len(e_rows[1]))]
    E = sp.csr_matrix(
        (np.concatenate(e_vals), (np.concatenate(e_rows), np.concatenate(e_cols))),
        shape=(n, len(raws)),
    )
    rn, ri, rq = rn[~extracted], ri[~extracted], rq[~extracted]

    # supplier shares: pooled by (customer facility, material)
    # (customer, material, supplier) as one integer: summed by sorting, no pandas group-by
    nfk = max(nf, 1)
    triple = (cus.astype(np.int64) * nm + fmat) * nfk + sup
    per, inv = np.unique(triple, return_inverse=True)
    qty = np.bincount(inv.ravel(), weights=flows["qty"].to_numpy(dtype=float), minlength=len(per))
    sure = np.bincount(inv.ravel(), weights=~flows["estimate"].to_numpy(bool), minlength=len(per))
    pair, f_sup = per // nfk, per % nfk  # ``per`` is sorted, so ``pair`` is too
    _, pinv, suppliers = np.unique(pair, return_inverse=True, return_counts=True)
    pinv = pinv.ravel()
    tot = np.bincount(pinv, weights=qty)[pinv]  # each (customer, material)'s inflow
    split_est = (sure == 0) & (suppliers[pinv] > 1)  # estimated volumes split an input
    with np.errstate(invalid="ignore", divide="ignore"):
        share = qty / tot
    fl = pd.DataFrame(
        {
            "cus": pair // nm,
            "mat": pair % nm,
            "u": node_pos.reindex(f_sup * nm + pair % nm).to_numpy(),
            "s": share,
            "e": split_est,
        }
    )

    virt_rows = is_virtual[rn]
    rec = pd.DataFrame(
        {
            "p": rn[~virt_rows],
            "cus": nfac[rn[~virt_rows]],
            "mat": ri[~virt_rows],
            "q": rq[~virt_rows],
        }
    )
    m = rec.merge(fl[["cus", "mat", "u", "s", "e"]], on=["cus", "mat"], how="left")
    found = m["u"].notna().to_numpy()
    vnode = n - nm  # first virtual node; virtual node of material k is vnode + k
    rows = np.concatenate([m["p"].to_numpy()[found], m["p"].to_numpy()[~found], rn[virt_rows]])
    cols = np.concatenate(
        [
            m["u"].to_numpy()[found].astype(np.int64),
            vnode + m["mat"].to_numpy()[~found],
            vnode + ri[virt_rows],
        ]
    )
    vals = np.concatenate(
        [(m["q"] * m["s"]).to_numpy()[found], m["q"].to_numpy()[~found], rq[virt_rows]]
    )
    rows = rows.astype(np.int64)
    A = sp.csr_matrix((vals.astype(float), (rows, cols)), shape=(n, n))
    A.sum_duplicates()
    # the same entries flagged 1 where estimated (a matrix of the same rows and columns has the
    # same structure: A's order of entries); duplicates are one (customer, supplier, material)
    est = np.zeros(len(rows))
    est[: int(found.sum())] = m["e"].to_numpy()[found].astype(bool)
    F = sp.csr_matrix((est, (rows, cols)), shape=(n, n))
    F.sum_duplicates()
    return _graph(network, period, key, nodes, A, E, F.data > 0)


def _node_table(network: Network, key: np.ndarray) -> pd.DataFrame:
    """The node table of the node keys ``facility code * materials + material code`` (codes
    in the order of ``network.facilities`` and ``network.materials``; the facility code one
    past the last facility is the virtual ``unknown``).

    The text columns are taken with Arrow from the tables' text (``astype(str)``, as the
    records hold it), so no Python string is made per node."""
    mats, fac = network.materials, network.facilities
    mat_ids = mats["id"].astype(str)
    nm, nf = len(mat_ids), len(fac)
    nfac, nmat = key // nm, key % nm
    is_virtual = nfac == nf
    virtual = pa.array(is_virtual, type=pa.bool_())
    safe = pa.array(np.minimum(nfac, max(nf - 1, 0)), type=pa.int64())
    at_mat = pa.array(nmat, type=pa.int64())

    def text(col: pd.Series, at: pa.Array) -> pa.Array:
        arr = pa.array(col.astype(str), from_pandas=True, type=pa.large_string())
        if isinstance(arr, pa.ChunkedArray):  # text held by Arrow in several pieces
            arr = arr.combine_chunks()
        return arr.take(at)

    def per_facility(name: str) -> pa.Array:
        if not nf:
            return pa.array([UNKNOWN] * len(key), type=pa.large_string())
        return pc.if_else(virtual, UNKNOWN, text(fac[name], safe))

    stage_of = producing_stage(network)
    vstage = pd.Series([stage_of.get(m, UNKNOWN) for m in mat_ids], dtype=object)
    stage = pc.if_else(virtual, text(vstage, at_mat), per_facility("stage")) if len(key) else None
    cols = {
        "facility": per_facility("id"),
        "material": text(mat_ids, at_mat),
        "stage": stage if stage is not None else pa.array([], type=pa.large_string()),
        "country": per_facility("country"),
        "company": per_facility("company"),
    }
    enc = pc.dictionary_encode(cols["stage"])  # a few stages: ranked once each
    ranks = np.array(
        [STAGE_RANK.get(str(v), STAGE_RANK[UNKNOWN]) for v in enc.dictionary.to_pylist()]
        + [STAGE_RANK[UNKNOWN]],
        dtype=np.int64,
    )
    codes = enc.indices.fill_null(len(enc.dictionary)).to_numpy(zero_copy_only=False)
    text_dtype = pd.StringDtype("pyarrow", na_value=np.nan)
    out = pd.DataFrame({k: pd.Series(v, dtype=text_dtype) for k, v in cols.items()})
    out["virtual"] = is_virtual
    out["rank"] = ranks[codes] if len(key) else np.zeros(0, dtype=np.int64)
    return out


def _graph(
    network: Network,
    period: str | None,
    key: np.ndarray,
    nodes: pd.DataFrame,
    A: sp.csr_matrix,
    E: sp.csr_matrix,
    estimated: np.ndarray,
) -> Graph:
    """The graph of built or kept matrices: raw materials and prices from the tables."""
    mats = network.materials
    mat_ids = pd.Index(mats["id"].astype(str))
    raws = mat_ids[(mats["kind"].astype(str) == "raw").to_numpy()].tolist()
    price_m = material_prices_usd(network).reindex(mat_ids).to_numpy(dtype=float)
    g = Graph(
        nodes=nodes,
        A=A,
        E=E,
        raws=raws,
        price=price_m[key % max(len(mat_ids), 1)],
        period=period,
        estimated=estimated,
        plans=network.plans,
    )
    g.cache["key"] = key
    return g


def graph(network: Network, period: str | None = None) -> Graph:
    """The graph of a network and period, built once and kept in the network's cache.

    Parameters
    ----------
    network : Network
    period : str, optional
        Keep flows whose period starts with this (see :func:`build`).

    Returns
    -------
    Graph
        The cached graph of ``(network, period)``; the same object on every call.
    """
    return network.cached(("trace.graph", period), lambda: _kept_or_built(network, period))


# ---------------------------------------------------------------- kept beside the store
GRAPH_FORMAT = 3
"""The layout of a kept graph's arrays; entries of another layout are not read."""
_SHAPERS = (
    "onshore.trace.graph",
    "onshore.network",
    "onshore.records.units",
    "onshore.records.frames",
    "onshore.records.model",
)
"""The modules whose code decides the graph of given tables (their source is in the key)."""


GRAPH_TABLES = ("materials", "facilities", "boms", "flows")
"""The tables a graph is made from; every column of each but :data:`PROVENANCE` is in the key
of a kept graph."""
PROVENANCE = ("source", "note")
"""Columns that say where a row comes from and that :func:`build` does not read (a test
changes them and finds the same graph): left out of the key, as they are half its cost."""


def kept_key(network: Network, period: str | None) -> str | None:
    """The name under which the graph of ``(network, period)`` is kept beside the store, or
    None when it is not kept (a network with no plan folder).

    The key is a digest of what the graph is made from, read off the tables as they are now
    (so a table edited or replaced after loading has another key): every column of
    :data:`GRAPH_TABLES` but :data:`PROVENANCE` (:func:`_digest_column`), the
    period, the layout and the code that builds it (the source of :data:`_SHAPERS`, the
    exchange rates and the numpy, pandas, pyarrow and scipy versions). About 0.04-0.08 s for the
    tables of a million flows (the columns digested on two threads).

    Parameters
    ----------
    network : Network
    period : str, optional

    Returns
    -------
    str or None
        ``graph-`` and 40 hex digits.
    """
    if network.plans is None:
        return None
    import importlib
    from importlib import resources
    from pathlib import Path

    import scipy

    versions = (np.__version__, pd.__version__, pa.__version__, scipy.__version__)
    h = hashlib.sha256(repr((GRAPH_FORMAT, period, versions)).encode())
    for name in _SHAPERS:
        h.update(Path(str(importlib.import_module(name).__file__)).read_bytes())
    h.update((resources.files("onshore") / "data" / "fx_rates.csv").read_bytes())
    columns = []
    for table in GRAPH_TABLES:
        frame = getattr(network, table)
        cols = [c for c in map(str, frame.columns) if c not in PROVENANCE]
        h.update(repr((table, len(frame), cols)).encode())
        columns += [frame[c] for c in cols]
    # each column hashed on its own, the large ones on both cores (hashing lets go of the GIL)
    with ThreadPoolExecutor(max_workers=2) as pool:
        for digest in pool.map(_digest_column, columns):
            h.update(digest)
    return f"graph-{h.hexdigest()[:40]}"


def _digest_column(col: pd.Series) -> bytes:
    """The SHA-256 digest of a column's values, whatever pieces Arrow holds them in: the type,
    the length, the missing values and the values (text: its bytes and where each value ends;
    numbers and booleans: their bytes; categoricals by their values; any other type by its
    text)."""
    h = hashlib.sha256()
    try:
        arr = pa.array(col, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed kinds in one object column
        arr = pa.array([None if v is None else repr(v) for v in col.tolist()], type=pa.string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    kind = arr.type
    text = pa.types.is_string(kind) or pa.types.is_large_string(kind)
    if not (
        text or pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
    ):
        arr, text = arr.cast(pa.large_string()), True  # dates, decimals, nulls: by their text
    nulls = arr.null_count
    h.update(repr(("text" if text else str(arr.type), len(arr), nulls)).encode())
    if nulls:
        h.update(np.packbits(arr.is_null().to_numpy(zero_copy_only=False)).tobytes())
    if text:
        if not pa.types.is_large_string(arr.type):
            arr = arr.cast(pa.large_string())
        _, ptr, data = arr.buffers()
        ends = np.frombuffer(ptr, dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
        h.update((ends - ends[0] if ends[0] else ends).data)
        if data is not None:
            h.update(memoryview(data)[int(ends[0]) : int(ends[-1])])
    else:
        values = arr.fill_null(False if pa.types.is_boolean(kind) else 0) if nulls else arr
        h.update(np.ascontiguousarray(values.to_numpy(zero_copy_only=False)).data)
    return h.digest()


def _kept_or_built(network: Network, period: str | None) -> Graph:
    """The graph read from the network's plan folder when kept there, else built (and kept).

    A kept entry holds the node keys, ``A``, ``E``, the estimate flags of ``A``'s entries and
    the digest of ``A`` that the plans' keys use; the node table, raw materials and prices are
    made again from the tables, as :func:`build` makes them. An entry whose arrays do not fit
    the tables is not used (the graph is built and the entry written again)."""
    name = kept_key(network, period)
    if name is None or network.plans is None:
        return build(network, period)
    arrays = network.plans.load(name)
    g = _from_kept(network, period, arrays) if arrays is not None else None
    if g is not None:
        return g
    g = build(network, period)
    assert g.estimated is not None  # build flags every entry
    network.plans.save(
        name,
        {
            "key": g.cache["key"],
            "A_indptr": g.A.indptr,
            "A_indices": g.A.indices,
            "A_data": g.A.data,
            "E_indptr": g.E.indptr,
            "E_indices": g.E.indices,
            "E_data": g.E.data,
            "A_estimated": g.estimated,
            "digest_A": np.frombuffer(bytes.fromhex(digest_of_A(g)), dtype=np.uint8),
        },
    )
    return g


def digest_of_A(g: Graph) -> str:
    """SHA-256 of ``A`` (shape, index arrays and values) and the stage rank, as 64 hex digits;
    computed once per graph (a graph read from the plan folder brings it along).

    Parameters
    ----------
    g : Graph

    Returns
    -------
    str
    """
    if "digest:A" not in g.cache:
        h = hashlib.sha256()
        A = g.A
        h.update(repr((A.shape, str(A.indptr.dtype), str(A.indices.dtype), A.nnz)).encode())
        for a in (A.indptr, A.indices, A.data, g.nodes["rank"].to_numpy(dtype=np.int64)):
            h.update(np.ascontiguousarray(a).reshape(-1).view(np.uint8).data)
        g.cache["digest:A"] = h.hexdigest()
    out: str = g.cache["digest:A"]
    return out


def _csr_fits(a: dict[str, np.ndarray], prefix: str, rows: int, cols: int) -> bool:
    """Whether kept arrays ``<prefix>_indptr``, ``_indices`` and ``_data`` make a CSR matrix
    of shape (rows, cols)."""
    ptr, ix, val = a[f"{prefix}_indptr"], a[f"{prefix}_indices"], a[f"{prefix}_data"]
    return (
        ptr.shape == (rows + 1,)
        and ix.ndim == val.ndim == 1
        and int(ptr[0]) == 0
        and int(ptr[-1]) == len(ix) == len(val)
        and bool(np.all(np.diff(ptr) >= 0))
        and (len(ix) == 0 or (int(ix.min()) >= 0 and int(ix.max()) < cols))
    )


def _from_kept(network: Network, period: str | None, a: dict[str, np.ndarray]) -> Graph | None:
    """The graph of a kept entry's arrays, or None when they do not fit the tables."""
    nm, nf = len(network.materials), len(network.facilities)
    nraw = int((network.materials["kind"].astype(str) == "raw").sum())
    try:
        key = np.array(a["key"], dtype=np.int64)
        n = len(key)
        tail = np.int64(nf) * nm + np.arange(nm, dtype=np.int64)
        fits = (
            key.ndim == 1
            and n >= nm
            and np.array_equal(key[n - nm :], tail)
            and (n == 0 or int(key[0]) >= 0)
            and bool(np.all(np.diff(key) > 0))
            and _csr_fits(a, "A", n, n)
            and _csr_fits(a, "E", n, nraw)
            and a["A_estimated"].shape == a["A_data"].shape
            and a["A_estimated"].dtype == np.bool_
            and a["digest_A"].shape == (32,)
        )
    except (KeyError, ValueError, TypeError, IndexError):
        return None
    if not fits:
        return None

    def csr(prefix: str, cols: int) -> sp.csr_matrix:
        # copies: the kept arrays are read-only views of the mapped file
        return sp.csr_matrix(
            (
                np.array(a[f"{prefix}_data"]),
                np.array(a[f"{prefix}_indices"]),
                np.array(a[f"{prefix}_indptr"]),
            ),
            shape=(n, cols),
        )

    nodes = _node_table(network, key)
    est = np.array(a["A_estimated"])
    g = _graph(network, period, key, nodes, csr("A", n), csr("E", nraw), est)
    g.cache["digest:A"] = bytes(a["digest_A"]).hex()
    return g


def find_product(network: Network, product: str, period: str | None = None) -> tuple[Graph, int]:
    """The graph and node of a product.

    When the facility and the material exist but no record names them together, a graph
    with that extra node is built (and cached per product).

    Parameters
    ----------
    network : Network
    product : str
        ``FACILITY`` (when it makes one material) or ``FACILITY:MATERIAL``.
    period : str, optional
        Keep flows whose period starts with this.

    Returns
    -------
    tuple of (Graph, int)
        The graph and the product's node in it.

    Raises
    ------
    NotFound
        When the product is not a node and cannot be added (see :meth:`Graph.node`).
    """
    g = graph(network, period)
    try:
        return g, g.node(product)
    except NotFound:
        if ":" in product:
            f, m = product.split(":", 1)
            if f in set(network.facilities["id"].astype(str)) and m in set(
                network.materials["id"].astype(str)
            ):
                _refuse_consumed(network, g, f, m)
                g = network.cached(
                    ("trace.graph", period, product), lambda: build(network, period, extra=[(f, m)])
                )
                return g, g.node(product)
        raise


def _refuse_consumed(network: Network, g: Graph, facility: str, material: str) -> None:
    """A plant's input is not its product: tracing it would show only the unknown origins of
    a node with no recipe. Refuse with what the plant makes and who supplies the input."""
    fl = network.flows
    got = fl[(fl["customer"].astype(str) == facility) & (fl["material"].astype(str) == material)]
    makes = g.nodes[(g.nodes["facility"] == facility) & ~g.nodes["virtual"]]
    outs = set(makes["material"].astype(str))
    boms = network.boms
    used = bool(
        len(boms[(boms["input"].astype(str) == material) & boms["output"].astype(str).isin(outs)])
    )
    if not len(got) and not used:
        return
    made = ", ".join(f"{facility}:{m}" for m in sorted(outs)) or "nothing recorded"
    suppliers = sorted(set(got["supplier"].astype(str)))
    hint = (
        f"; to see where its {material} comes from, trace its supplier(s): "
        + ", ".join(f"{s}:{material}" for s in suppliers[:5])
        if suppliers
        else ""
    )
    raise NotFound(
        f"{facility!r} consumes {material!r}, it does not make it (it makes: {made}){hint}"
    )


def per_unit(unit: str, material: str) -> str:
    """What one unit of a product is, in words: ``per kWh of cell``, ``per pack``."""
    counts = {"cells": "cell", "packs": "pack", "pcs": "piece", "units": "unit"}
    if unit in counts:
        return f"per {counts[unit]}"
    return f"per {unit} of {material}"


def product_ids(g: Graph) -> np.ndarray:
    """Per node, its product id as every command takes it: ``FACILITY`` where the plant makes
    one material, else ``FACILITY:MATERIAL`` (virtual nodes: ``unknown:MATERIAL``), as
    :func:`products` lists them.

    Parameters
    ----------
    g : Graph

    Returns
    -------
    ndarray of object, shape (n,)
    """
    nd = g.nodes
    fac = nd["facility"].astype(str).to_numpy(dtype=object)
    mat = nd["material"].astype(str).to_numpy(dtype=object)
    real = ~nd["virtual"].to_numpy()
    several = ~real
    several[real] = pd.Series(fac[real]).duplicated(keep=False).to_numpy()
    out: np.ndarray = np.where(several, fac + ":" + mat, fac)
    return out


def products(
    network: Network,
    stages: Iterable[str] = (),
    company: Iterable[str] = (),
    period: str | None = None,
) -> pd.DataFrame:
    """The products of a network, named as every command and the library accept them.

    Parameters
    ----------
    network : Network
    stages : iterable of str, optional
        Only plants of these stages (e.g. ``cell``, ``pack``); default every stage.
    company : iterable of str, optional
        Only plants of these companies (ids).
    period : str, optional
        The products of the graph of this period's flows (a plant that makes a second
        material only in other periods is named by its facility alone); default every
        period pooled.

    Returns
    -------
    DataFrame
        ``product`` (``FACILITY``, or ``FACILITY:MATERIAL`` where a plant makes several
        materials), ``facility``, ``material``, ``stage``, ``company``, ``country`` and
        ``per`` (the unit a traced quantity is per, e.g. ``per kWh of cell``), by stage order.
    """
    from onshore.records.model import STAGE_RANK

    g = graph(network, period)
    real = ~g.nodes["virtual"].to_numpy()
    ids = product_ids(g)[real]
    nd = g.nodes[real]
    fac = nd["facility"].astype(str)
    mat = nd["material"].astype(str)
    unit = dict(
        zip(network.materials["id"].astype(str), network.materials["unit"].astype(str), strict=True)
    )
    out = pd.DataFrame(
        {
            "product": ids,
            "facility": fac.to_numpy(),
            "material": mat.to_numpy(),
            "stage": nd["stage"].astype(str).to_numpy(),
            "company": nd["company"].astype(str).to_numpy(),
            "country": nd["country"].astype(str).to_numpy(),
            "per": [per_unit(unit.get(m, ""), m) for m in mat],
        }
    )
    stages, company = list(stages), list(company)
    if stages:
        out = out[out["stage"].isin(stages)]
    if company:
        out = out[out["company"].isin(company)]
    rank = out["stage"].map(lambda s: STAGE_RANK.get(s, 99))
    return (
        out.assign(_rank=rank)
        .sort_values(["_rank", "product"])
        .drop(columns="_rank")
        .reset_index(drop=True)
    )


def per_product(network: Network, product: str, period: str | None = None) -> str:
    """What a traced quantity of ``product`` is per (``per kWh of cell``), read off the graph
    of ``period`` (the one a check or trace of that period has already made)."""
    g, node = find_product(network, product, period)
    m = str(g.nodes["material"].iloc[node])
    mats = network.materials
    unit = mats.loc[mats["id"].astype(str) == m, "unit"].astype(str)
    return per_unit(unit.iloc[0] if len(unit) else "", m)
