"""Single points of failure: plants or companies whose loss alone cuts a product's supply.

Losing a set ``K`` of plants removes their output of each material ``m``; the other makers
of ``m`` cover what their spare capacity allows (capacity-weighted), so the share of
``K``'s output that is really lost is

    u_m = max(0, out_K,m - spare_(not K),m) / out_K,m.

The loss then runs downstream along the flows of the base period. A plant needs all its
inputs (a Leontief recipe), so it loses the largest share lost on any one input, each
input's loss being the flow-weighted loss of its suppliers:

    l_c = max(own_c, max_m sum_s w(s -> c, m) * l_s),   w = share of c's input m from s.

A product's loss is its plants' production-weighted loss. Candidates are the product's
upstream plants (and their companies); those above ``threshold`` are ranked.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from onshore.errors import NotFound
from onshore.network import Network
from onshore.risk.supply import Baseline, baseline, reach

__all__ = ["loss_of", "product_facilities", "propagate_loss", "single_points_of_failure"]


def _share_matrix(base: Baseline) -> tuple[sp.csr_matrix, np.ndarray]:
    """Rows (customer, input material) x supplier shares, and each row's customer."""
    e = base.edges
    n = len(base.ids)
    if e.empty:
        return sp.csr_matrix((0, n)), np.zeros(0, dtype=np.int64)
    rows, row_key = pd.factorize(pd.MultiIndex.from_arrays([e["c"], e["material"]]))
    total = np.bincount(rows, weights=e["qty"].to_numpy())
    w = e["qty"].to_numpy() / total[rows]
    W = sp.csr_matrix((w, (rows, e["s"].to_numpy())), shape=(len(row_key), n))
    return W, row_key.get_level_values(0).to_numpy(dtype=np.int64)


def propagate_loss(
    W: sp.csr_matrix, row_c: np.ndarray, own: np.ndarray, max_iter: int = 500
) -> np.ndarray:
    """Downstream loss ``l = max(own, max_m W l)`` by fixed-point sweeps (exact on DAGs).

    Parameters
    ----------
    W : sparse matrix, shape (rows, n)
        Input shares: row (c, m) holds the share of c's input m from each supplier.
    row_c : array of int, shape (rows,)
        The customer of each row.
    own : array, shape (n,)
        The share of each plant's output lost by the event itself (0..1).
    max_iter : int
        The most sweeps (on cycles the iteration may stop before a fixed point).

    Returns
    -------
    ndarray, shape (n,)
        The share of each plant's output lost (0..1), the event's own loss included.
    """
    lost = own.copy()
    for _ in range(max_iter):
        nxt = own.copy()
        if W.shape[0]:
            np.maximum.at(nxt, row_c, W @ lost)
        if np.allclose(nxt, lost, rtol=0, atol=1e-12):
            return nxt
        lost = nxt
    return lost


def product_facilities(network: Network, product: str, base: Baseline | None = None) -> np.ndarray:
    """Positions of the plants that make ``product`` (a facility id or a material id).

    Parameters
    ----------
    network : Network
    product : str
        A facility id, ``FACILITY:MATERIAL`` (the plant), or a material id (every plant whose
        output it is).
    base : Baseline, optional
        Default: the network's baseline over each link's latest year.

    Returns
    -------
    ndarray of int
        Positions in ``base.ids``.

    Raises
    ------
    NotFound
        When ``product`` is neither a facility nor a material a facility makes.
    """
    base = base or baseline(network)
    if product in base.index:
        return np.array([base.index[product]], dtype=np.int64)
    if ":" in product and product.split(":", 1)[0] in base.index:
        from onshore.trace import graph

        graph(network).node(product)  # a material the plant makes, or NotFound saying so
        return np.array([base.index[product.split(":", 1)[0]]], dtype=np.int64)
    hits = np.flatnonzero(base.material == product)
    if len(hits) == 0:
        raise NotFound(f"product {product!r} is neither a facility nor a material made by one")
    return hits


def loss_of(base: Baseline, lost: np.ndarray, substitution: bool = True) -> np.ndarray:
    """The own-loss vector when the plants at positions ``lost`` stop (spare capacity covers).

    Parameters
    ----------
    base : Baseline
    lost : ndarray of int
        Positions of the plants that stop.
    substitution : bool
        Let the other makers' spare capacity of the same material cover the lost output.

    Returns
    -------
    ndarray, shape (n,)
        Per plant, the share of its output lost (0..1): for the stopped plants of material
        ``m``, ``max(0, out - spare) / out``; 1 where their output is 0 or the material
        unknown; 0 for the others.
    """
    n = len(base.ids)
    own = np.zeros(n)
    gone = np.zeros(n, dtype=bool)
    gone[lost] = True
    mats = pd.Series(base.material).fillna("").to_numpy(dtype=object)
    for m in set(mats[gone]):
        mk = mats == m
        out_k = base.production[gone & mk].sum()
        spare = base.spare[~gone & mk].sum() if (substitution and m) else 0.0
        u = max(0.0, out_k - spare) / out_k if out_k > 0 else 1.0
        own[gone & mk] = u
    return own


def single_points_of_failure(
    network: Network,
    product: str,
    threshold: float = 0.1,
    kind: str = "both",
    period: str | None = None,
    substitution: bool = True,
) -> pd.DataFrame:
    """Plants and companies whose loss alone cuts ``product``'s supply by more than ``threshold``.

    Parameters
    ----------
    network : Network
    product : str
        A facility id (its output) or a material id (all plants making it).
    threshold : float
        Smallest share of the product's supply lost to be listed (0..1).
    kind : {"facility", "company", "both"}
    substitution : bool
        Let the other makers' spare capacity cover a lost plant's output.

    Returns
    -------
    DataFrame
        ``product, kind, id, name, country, stage, material, loss`` ranked by ``loss``.

    Examples
    --------
    A cell plant fed 60/40 by two anode plants with no spare capacity: losing the first
    cuts the cell's supply by 60 %.
    """
    base = baseline(network, period)
    targets = product_facilities(network, product, base)
    weight = base.production[targets]
    weight = (
        weight / weight.sum() if weight.sum() > 0 else np.full(len(targets), 1.0 / len(targets))
    )
    W, row_c = _share_matrix(base)
    cands = reach(base, targets, downstream=False)
    fac = network.facilities.set_index(network.facilities["id"].astype(str))
    rows = []

    def score(lost: np.ndarray) -> float:
        loss = propagate_loss(W, row_c, loss_of(base, lost, substitution))
        return float(np.dot(weight, loss[targets]))

    if kind in ("facility", "both"):
        for k in cands:
            fid = str(base.ids[k])
            r = fac.loc[fid]
            rows.append(
                (
                    product,
                    "facility",
                    fid,
                    r["name"],
                    r["country"],
                    str(getattr(r["stage"], "value", r["stage"])),
                    base.material[k],
                    score(np.array([k])),
                )
            )
    if kind in ("company", "both"):
        comp = fac["company"].reindex(base.ids).astype(str).to_numpy()
        names = dict(
            zip(network.companies["id"].astype(str), network.companies["name"], strict=True)
        )
        countries = dict(
            zip(network.companies["id"].astype(str), network.companies["country"], strict=True)
        )
        for c in sorted(set(comp[cands])):
            own_plants = np.flatnonzero(comp == c)
            mats = sorted({str(m) for m in base.material[own_plants] if isinstance(m, str)})
            rows.append(
                (
                    product,
                    "company",
                    c,
                    names.get(c, c),
                    countries.get(c),
                    "",
                    ";".join(mats),
                    score(own_plants),
                )
            )
    out = pd.DataFrame(
        rows, columns=["product", "kind", "id", "name", "country", "stage", "material", "loss"]
    )
    out = out[out["loss"] > threshold]
    return out.sort_values(["loss", "kind", "id"], ascending=[False, False, True]).reset_index(
        drop=True
    )
