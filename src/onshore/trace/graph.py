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

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from onshore.errors import NotFound, TraceError
from onshore.network import Network
from onshore.records import units
from onshore.records.frames import positions
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
    """

    nodes: pd.DataFrame
    A: sp.csr_matrix
    E: sp.csr_matrix
    raws: list[str]
    price: np.ndarray
    period: str | None = None
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
        One row per kept flow, in input order: ``supplier``, ``customer``, ``material`` and
        ``qty`` (the recorded quantity converted to the material's unit, e.g. kg).

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
    fac_stage = fac["stage"].astype(str).to_numpy()

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

    stage_of = producing_stage(network)
    vstage = np.array([stage_of.get(m, UNKNOWN) for m in mat_ids], dtype=object)
    safe = np.minimum(nfac, max(nf - 1, 0))
    stage = np.where(is_virtual, vstage[nmat], fac_stage[safe] if nf else UNKNOWN).astype(object)
    country = np.where(
        is_virtual, UNKNOWN, fac["country"].astype(str).to_numpy()[safe] if nf else UNKNOWN
    )
    company = np.where(
        is_virtual, UNKNOWN, fac["company"].astype(str).to_numpy()[safe] if nf else UNKNOWN
    )
    rank = pd.Series(stage).map(STAGE_RANK).fillna(STAGE_RANK[UNKNOWN]).to_numpy(dtype=np.int64)
    nodes = pd.DataFrame(
        {
            "facility": np.where(is_virtual, UNKNOWN, fac_ids.to_numpy()[safe] if nf else UNKNOWN),
            "material": mat_ids.to_numpy()[nmat],
            "stage": stage,
            "country": country,
            "company": company,
            "virtual": is_virtual,
            "rank": rank,
        }
    )
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
    pair, f_sup = per // nfk, per % nfk  # ``per`` is sorted, so ``pair`` is too
    pinv = np.unique(pair, return_inverse=True)[1].ravel()
    tot = np.bincount(pinv, weights=qty)[pinv]  # each (customer, material)'s inflow
    with np.errstate(invalid="ignore", divide="ignore"):
        share = qty / tot
    fl = pd.DataFrame(
        {
            "cus": pair // nm,
            "mat": pair % nm,
            "u": node_pos.reindex(f_sup * nm + pair % nm).to_numpy(),
            "s": share,
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
    m = rec.merge(fl[["cus", "mat", "u", "s"]], on=["cus", "mat"], how="left")
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
    A = sp.csr_matrix((vals.astype(float), (rows.astype(np.int64), cols)), shape=(n, n))
    A.sum_duplicates()

    price_m = material_prices_usd(network).reindex(mat_ids).to_numpy(dtype=float)
    return Graph(
        nodes=nodes, A=A, E=E, raws=raws, price=price_m[nmat], period=period, plans=network.plans
    )


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
    return network.cached(("trace.graph", period), lambda: build(network, period))


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


def per_product(network: Network, product: str) -> str:
    """What a traced quantity of ``product`` is per (``per kWh of cell``)."""
    g, node = find_product(network, product)
    m = str(g.nodes["material"].iloc[node])
    mats = network.materials
    unit = mats.loc[mats["id"].astype(str) == m, "unit"].astype(str)
    return per_unit(unit.iloc[0] if len(unit) else "", m)
