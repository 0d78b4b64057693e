"""The baseline a risk analysis starts from: who makes what, how much, with which inputs.

For one base period the flows give, per facility ``f``: its output material, its
production ``b_f`` (what it shipped; for a facility that ships nothing, what its inputs
allow under its BOM, else its capacity), its inputs ``a_{f,m}`` and so its observed
recipe ``r_{f,m} = a_{f,m} / b_f``, and its yearly capacity in the material's own unit.
Quantities are annualised (a quarter's flows times four), so capacities compare directly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from onshore.network import Network
from onshore.records import units
from onshore.records.frames import positions
from onshore.sparse import reachable

__all__ = [
    "Baseline",
    "baseline",
    "capacity_in_material_units",
    "months_in",
    "output_material",
    "reach",
]


def months_in(period: str) -> int:
    """Months a period string covers: '2025' -> 12, '2025-Q1' -> 3, '2025-03' -> 1.

    Parameters
    ----------
    period : str
        A flow period.

    Returns
    -------
    int
        12 for a year, 3 for a quarter, 1 for anything else (a month).
    """
    if re.fullmatch(r"\d{4}", period):
        return 12
    if re.fullmatch(r"\d{4}-Q[1-4]", period):
        return 3
    return 1


def default_period(network: Network) -> str | None:
    """The latest year that has flows (None when there are no flows).

    Parameters
    ----------
    network : Network

    Returns
    -------
    str or None
        The largest ``YYYY`` prefix among the flow periods.
    """
    if network.flows.empty:
        return None
    return str(max(str(p)[:4] for p in network.flows["period"]))


def _codes(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes and their string values of a column (categorical or not; -1 = missing)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        return col.cat.codes.to_numpy(dtype=np.int64), col.cat.categories.astype(str).to_numpy(
            dtype=object
        )
    codes, uniq = pd.factorize(col.astype(object).where(col.notna(), None))
    return codes.astype(np.int64), np.asarray(uniq, dtype=object).astype(str)


def output_material(network: Network) -> pd.Series:
    """Facility id -> the material it outputs (its own column, else what it ships most).

    Parameters
    ----------
    network : Network

    Returns
    -------
    Series
        Indexed by facility id: the facility's ``material``; where that is empty, the
        material of most of its flow rows as supplier; None/NaN when neither is known.
    """
    fac = network.facilities
    mat = pd.Series(fac["material"].to_numpy(dtype=object), index=fac["id"].astype(str))
    missing = (mat.isna() | (mat.astype(str) == "")).to_numpy()
    fl = network.flows
    if len(fl) and missing.any():
        counts = fl.groupby(["supplier", "material"], observed=True).size().reset_index(name="n")
        mat[missing] = most_shipped(counts).reindex(mat.index[missing]).to_numpy()
    return mat


def most_shipped(counts: pd.DataFrame) -> pd.Series:
    """Supplier -> the material of most of its flow rows, from the rows counted per
    ``(supplier, material)`` (column ``n``); a tie goes to the material first in text order.

    Parameters
    ----------
    counts : DataFrame
        ``supplier, material, n``.

    Returns
    -------
    Series of str
        Indexed by supplier id.
    """
    c = counts.assign(
        supplier=counts["supplier"].astype(str), material=counts["material"].astype(str)
    )
    c = c.sort_values(["n", "material"], ascending=[False, True], kind="stable")
    c = c.drop_duplicates("supplier", keep="first")
    return pd.Series(c["material"].to_numpy(), index=c["supplier"].to_numpy())


def capacity_factors(pairs: Iterable[tuple[object, object]]) -> dict[tuple[object, object], float]:
    """The factor from a capacity's unit to its material's unit, per distinct ``(unit,
    material unit)`` pair: 1 where the material's unit is unknown; pairs without a unit, or
    of another dimension than the material's (e.g. GWh for cells), are left out.

    Parameters
    ----------
    pairs : iterable of (unit, material unit)

    Returns
    -------
    dict of (unit, material unit) to float
    """
    known: dict[tuple[object, object], float] = {}
    for pair in set(pairs):
        u, m = pair
        if not isinstance(u, str):
            continue
        try:
            known[pair] = units.factor(u, m) if isinstance(m, str) else 1.0
        except units.UnitError:
            continue  # another dimension than the material's: left out
    return known


def capacity_in_material_units(network: Network) -> pd.Series:
    """Facility id -> yearly capacity in its output material's unit (NaN where unknown).

    Capacities in a unit of another dimension than the material's (e.g. GWh for a
    material counted in cells) are left out as NaN rather than guessed.

    Parameters
    ----------
    network : Network

    Returns
    -------
    Series of float
        Indexed by facility id: capacity per year in the unit of :func:`output_material`'s
        material (as given when the material is unknown); NaN without a capacity or unit.
    """
    fac = network.facilities
    mat_unit = dict(zip(network.materials["id"], network.materials["unit"], strict=True))
    mats = output_material(network).reindex(fac["id"].astype(str))
    cap = pd.to_numeric(fac["capacity"], errors="coerce").to_numpy(dtype=float)
    unit = fac["unit"].to_numpy(dtype=object)
    mu = mats.map(mat_unit).to_numpy(dtype=object)
    known = capacity_factors(zip(unit, mu, strict=True))
    f = np.array([known.get(pair, np.nan) for pair in zip(unit, mu, strict=True)], dtype=float)
    out = cap * f
    return pd.Series(out, index=fac["id"].astype(str).to_numpy())


@dataclass(frozen=True)
class Baseline:
    """Production, inputs and capacities of every facility in one base period (per year)."""

    period: str | None
    ids: np.ndarray  # facility ids, the index of every array below
    index: dict[str, int]
    material: np.ndarray  # output material per facility (object, None when unknown)
    production: np.ndarray  # b_f, in the material's unit per year
    capacity: np.ndarray  # max(capacity, b_f); b_f where capacity is unknown
    edges: pd.DataFrame  # s, c (int positions), material, qty (per year)
    recipe: pd.DataFrame  # c, material, r (input per unit of output)

    @property
    def spare(self) -> np.ndarray:
        """Unused yearly capacity per facility.

        Returns
        -------
        ndarray, shape (n,)
            ``max(capacity - production, 0)`` in each facility's material unit per year.
        """
        spare: np.ndarray = np.maximum(self.capacity - self.production, 0.0)
        return spare


def baseline(network: Network, period: str | None = None) -> Baseline:
    """The per-year baseline of ``network`` in ``period`` (default: each link's latest year).

    Parameters
    ----------
    network : Network
    period : str, optional
        A flow period prefix ('2025', '2025-Q1'); flows whose period starts with it count.
        Default: every supplier link in the latest year it has flows (plants that
        started later keep their links).

    Returns
    -------
    Baseline
    """
    return network.cached(("risk.baseline", period), lambda: _baseline(network, period))


def _baseline(network: Network, period: str | None) -> Baseline:
    ids = network.facilities["id"].astype(str).to_numpy()
    id_index = pd.Index(ids)
    index = dict(zip(ids, range(len(ids)), strict=True))
    n = len(ids)
    fl = network.flows_in_material_units(period)
    s = positions(fl["supplier"], id_index)
    c = positions(fl["customer"], id_index)
    mcode, mnames = _codes(fl["material"])
    order = np.argsort(mnames, kind="stable")  # edges sorted by (s, c, material name)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    mcode, mnames = (
        np.where(mcode >= 0, rank[np.maximum(mcode, 0)] if len(rank) else -1, -1),
        mnames[order],
    )
    qty = fl["qty"].to_numpy(dtype=float)
    pcode, pnames = _codes(fl["period"])
    if period is not None:
        scale = np.full(len(fl), 12.0 / months_in(period))
    else:  # each link in its latest year with flows, annualised by the months its rows cover
        p_year = np.array(
            [int(str(p)[:4]) if str(p)[:4].isdigit() else -1 for p in pnames], dtype=np.int64
        )
        p_months = np.array([months_in(str(p)) for p in pnames], dtype=float)
        year = np.where(pcode >= 0, p_year[np.maximum(pcode, 0)], -1)
        months = np.where(pcode >= 0, p_months[np.maximum(pcode, 0)], 12.0)
        link = (s * (n + 1) + c) * (len(mnames) + 1) + mcode
        lk, inv = np.unique(link, return_inverse=True)
        latest = np.full(len(lk), -2, dtype=np.int64)
        np.maximum.at(latest, inv, year)
        keep_y = year == latest[inv]
        covered = np.bincount(inv, weights=np.where(keep_y, months, 0.0), minlength=len(lk))
        scale = np.where(keep_y, 12.0 / np.minimum(np.maximum(covered[inv], 1e-300), 12.0), 0.0)
    ok = (s >= 0) & (c >= 0) & (mcode >= 0) & np.isfinite(qty) & (scale > 0)
    ekey = (s[ok] * (n + 1) + c[ok]) * (len(mnames) + 1) + mcode[ok]
    uk, inv = np.unique(ekey, return_inverse=True)
    eq = np.bincount(inv, weights=qty[ok] * scale[ok], minlength=len(uk))
    m_of = uk % (len(mnames) + 1)
    sc_ = uk // (len(mnames) + 1)
    edges = pd.DataFrame(
        {
            "s": sc_ // (n + 1),
            "c": sc_ % (n + 1),
            "material": pd.Categorical.from_codes(m_of, categories=pd.Index(mnames, dtype=object)),
            "qty": eq,
        }
    )
    shipped = np.bincount(edges["s"], weights=edges["qty"], minlength=n)
    ckey = edges["c"].to_numpy() * (len(mnames) + 1) + m_of
    uc, cinv = np.unique(ckey, return_inverse=True)
    inputs = pd.DataFrame(
        {
            "c": uc // (len(mnames) + 1),
            "material": pd.Categorical.from_codes(
                uc % (len(mnames) + 1), categories=pd.Index(mnames, dtype=object)
            ),
            "qty": np.bincount(cinv, weights=eq, minlength=len(uc)),
        }
    )
    cap_raw = capacity_in_material_units(network).reindex(ids).to_numpy(dtype=float)
    material = output_material(network).reindex(ids).to_numpy(dtype=object)
    production = shipped.copy()
    # facilities that ship nothing (final products): what their inputs allow under the BOM
    boms = network.boms_in_material_units()
    generic = boms[boms["facility"].isna()] if len(boms) else boms
    q = (
        {
            (o, i): v
            for o, i, v in zip(generic["output"], generic["input"], generic["qty"], strict=True)
        }
        if len(boms)
        else {}
    )
    allowed = np.full(n, np.inf)
    for ci, m, a in zip(inputs["c"], inputs["material"], inputs["qty"], strict=True):
        need = q.get((material[ci], m))
        if need:
            allowed[ci] = min(allowed[ci], a / need)
    idle = shipped <= 0
    has_in = np.bincount(inputs["c"], minlength=n) > 0
    fill = idle & np.isfinite(allowed)
    production[fill] = allowed[fill]
    fill = idle & ~np.isfinite(allowed) & has_in
    production[fill] = np.where(
        np.isfinite(cap_raw[fill]) & (cap_raw[fill] > 0), cap_raw[fill], 1.0
    )
    capacity = np.where(np.isfinite(cap_raw), np.maximum(cap_raw, production), production)
    recipe = inputs.assign(
        r=inputs["qty"].to_numpy() / np.maximum(production[inputs["c"].to_numpy()], 1e-300)
    )
    out = Baseline(
        period, ids, index, material, production, capacity, edges, recipe[["c", "material", "r"]]
    )
    return out


def reach(base: Baseline, seeds: np.ndarray, downstream: bool = True) -> np.ndarray:
    """Positions of ``seeds`` and every plant connected to them along the supplier links.

    Downstream: every plant they supply; upstream: every plant that supplies them, directly
    or not (a breadth-first sweep over the base period's links).

    Parameters
    ----------
    base : Baseline
    seeds : ndarray of int
        Facility positions in ``base.ids``.
    downstream : bool
        Follow links from supplier to customer (True) or back (False).

    Returns
    -------
    ndarray of int
        Sorted positions, the seeds included.
    """
    n = len(base.ids)
    src, dst = (
        (base.edges["s"], base.edges["c"]) if downstream else (base.edges["c"], base.edges["s"])
    )
    A = sp.csr_matrix((np.ones(len(base.edges)), (src, dst)), shape=(n, n))
    return np.flatnonzero(reachable(A, np.asarray(seeds)))
