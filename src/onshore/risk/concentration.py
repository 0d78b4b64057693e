"""Concentration: how much of each (material, stage) sits in one country or one controller.

The Herfindahl-Hirschman index of shares ``s_i`` (summing to one) is

    HHI = 10 000 * sum_i s_i^2,

in points as antitrust authorities write it: 10 000 is a monopoly, below 1 500 is
unconcentrated, above 2 500 highly concentrated. It is computed from capacities (each
facility's yearly capacity in its material's unit; facilities without a capacity are left
out) and from flows (what suppliers shipped in a period), over the country where the plant
stands and over the *controlling* country of its company (a ``dict[company, country]``,
e.g. :func:`onshore.owners.control.controlling_country`; default: the company's own country).
For a product, :func:`product_dependency` reads the trace: its dependency on each
country per (raw material, stage) and the HHI of that dependency.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal

import numpy as np
import pandas as pd

from onshore.network import Network
from onshore.risk.supply import capacity_in_material_units, output_material

__all__ = [
    "HIGHLY_CONCENTRATED",
    "capacity_concentration",
    "combine",
    "concentration",
    "concentration_table",
    "flow_concentration",
    "hhi",
    "product_dependency",
]

HIGHLY_CONCENTRATED = 2500.0
"""HHI above which a market counts as highly concentrated (US DOJ/FTC 2010 guidelines)."""


Concentrate = Callable[[pd.DataFrame, list[str], str], pd.DataFrame]
"""``(rows, group, by) -> table``: :func:`concentration` or an engine's equivalent."""


def hhi(values: np.ndarray | list[float]) -> float:
    """The HHI in points (0-10 000) of non-negative quantities (normalised to shares).

    Parameters
    ----------
    values : array_like of float
        Non-negative quantities (any unit; only their shares of the total matter).

    Returns
    -------
    float
        ``10 000 * sum_i s_i^2`` with ``s_i = values_i / sum(values)``, rounded to 9
        decimals; NaN when the total is not positive.

    Examples
    --------
    >>> hhi([50, 30, 20])
    3800.0
    """
    v = np.asarray(values, dtype=float)
    total = v.sum()
    if total <= 0:
        return float("nan")
    s = v / total
    return float(round(10_000.0 * float(np.sum(s * s)), 9))


def concentration(
    df: pd.DataFrame, group: list[str], by: str, value: str = "quantity", top: int = 3
) -> pd.DataFrame:
    """HHI and leading shares of ``value`` over ``by`` within each ``group``.

    Parameters
    ----------
    df : DataFrame
        One row per (group..., by) contribution; rows are summed first.
    group : list of str
        Columns that define a market, e.g. ``["material", "stage"]``.
    by : str
        The column whose shares are measured, e.g. ``"country"``.

    Returns
    -------
    DataFrame
        ``group..., total, n, hhi, top, top_share, leaders`` (e.g. ``"CN 80%, KR 12%"``),
        sorted by descending HHI.
    """
    cols = [*group, "total", "n", "hhi", "top", "top_share", "leaders"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    agg = df.groupby([*group, by], as_index=False, dropna=False)[value].sum()
    agg = agg[agg[value] > 0]
    rows = []
    for key, g in agg.groupby(group, sort=False, dropna=False):
        g = g.sort_values([value, by], ascending=[False, True], kind="stable")
        total = float(g[value].sum())
        shares = g[value].to_numpy(dtype=float) / total
        lead = ", ".join(
            f"{c} {s:.0%}" for c, s in zip(g[by].head(top), shares[:top], strict=False)
        )
        key_t = key if isinstance(key, tuple) else (key,)
        rows.append(
            (*key_t, total, len(g), hhi(shares), str(g[by].iloc[0]), float(shares[0]), lead)
        )
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["hhi", "total"], ascending=[False, False]).reset_index(drop=True)


def _owner_country(network: Network, control: Mapping[str, str] | None) -> dict[str, str]:
    own = dict(
        zip(
            network.companies["id"].astype(str),
            network.companies["country"].astype(str),
            strict=True,
        )
    )
    if control:
        own.update({str(k): str(v) for k, v in control.items()})
    return own


def _stage_str(s: object) -> str:
    return str(getattr(s, "value", s))


def capacity_concentration(
    network: Network,
    by: Literal["country", "control"] = "country",
    control: Mapping[str, str] | None = None,
    concentrate: Concentrate | None = None,
) -> pd.DataFrame:
    """HHI per (material, stage) of yearly capacity, over countries or controlling countries.

    Parameters
    ----------
    network : Network
    by : {"country", "control"}
        Where the plant stands, or the controlling country of its company.
    control : mapping company id -> country, optional
        Controlling countries (default: each company's own country).
    concentrate : callable, optional
        ``(rows, group, by) -> table`` as :func:`concentration` (an engine's; default that).

    Returns
    -------
    DataFrame
        As :func:`concentration` over ``where`` (the country): ``material, stage, total, n,
        hhi, top, top_share, leaders``; ``total`` is the yearly capacity in the material's
        unit. Facilities without a capacity in their material's unit are left out.
    """
    fac = network.facilities
    cap = capacity_in_material_units(network).reindex(fac["id"].astype(str)).to_numpy(dtype=float)
    mats = output_material(network).reindex(fac["id"].astype(str)).to_numpy(dtype=object)
    keep = np.isfinite(cap) & (cap > 0)
    owner = _owner_country(network, control)
    where = fac["country"].astype(str) if by == "country" else fac["company"].astype(str).map(owner)
    df = pd.DataFrame(
        {
            "material": pd.Series(mats).fillna("").astype(str).to_numpy()[keep],
            "stage": fac["stage"].map(_stage_str).to_numpy()[keep],
            "where": where.fillna("??").to_numpy()[keep],
            "quantity": cap[keep],
        }
    )
    return (concentrate or concentration)(df, ["material", "stage"], "where")


def flow_concentration(
    network: Network,
    by: Literal["country", "control"] = "country",
    control: Mapping[str, str] | None = None,
    period: str | None = None,
    concentrate: Concentrate | None = None,
) -> pd.DataFrame:
    """HHI per (material, supplier stage) of shipped quantities, over supplier countries.

    Parameters
    ----------
    network : Network
    by : {"country", "control"}
        Where the supplying plant stands, or the controlling country of its company.
    control : mapping company id -> country, optional
        Controlling countries (default: each company's own country).
    period : str, optional
        Flows whose period starts with this; default every flow.
    concentrate : callable, optional
        ``(rows, group, by) -> table`` as :func:`concentration` (an engine's; default that).

    Returns
    -------
    DataFrame
        As :func:`concentration` over the supplier's country: ``material, stage, total, n,
        hhi, top, top_share, leaders``; ``total`` is the quantity shipped in the material's
        unit over the period. Suppliers of unknown country count as ``??``.
    """
    fl = network.flows_in_material_units(period)
    fac = network.facilities.set_index(network.facilities["id"].astype(str))
    sup = fl["supplier"].astype(str)
    owner = _owner_country(network, control)
    where = sup.map(fac["country"]) if by == "country" else sup.map(fac["company"]).map(owner)
    df = pd.DataFrame(
        {
            "material": fl["material"].astype(str).to_numpy(),
            "stage": sup.map(fac["stage"]).map(_stage_str).to_numpy(),
            "where": where.fillna("??").astype(str).to_numpy(),
            "quantity": fl["qty"].to_numpy(dtype=float),
        }
    )
    df = df[np.isfinite(df["quantity"])]
    return (concentrate or concentration)(df, ["material", "stage"], "where")


def concentration_table(
    network: Network,
    control: Mapping[str, str] | None = None,
    stage: str | None = None,
    period: str | None = None,
    concentrate: Concentrate | None = None,
) -> pd.DataFrame:
    """Capacity and flow concentration side by side, per (material, stage).

    Parameters
    ----------
    network : Network
    control : mapping company id -> country, optional
        Controlling countries for the ``*_control`` columns (default: each company's own
        country).
    stage : str, optional
        Keep only this stage.
    period : str, optional
        The flow period prefix of the ``flows`` rows.
    concentrate : callable, optional
        ``(rows, group, by) -> table`` as :func:`concentration`: where the HHI is computed
        (:mod:`onshore.engines`); default :func:`concentration`.

    Returns
    -------
    DataFrame
        ``material, stage, basis (capacity|flows), total, hhi_country, top_country,
        top_share, leaders_country, hhi_control, leaders_control``, most concentrated first.
    """
    tables = {}
    for basis, fn in (("capacity", capacity_concentration), ("flows", flow_concentration)):
        kw = {"period": period} if basis == "flows" else {}
        a = fn(network, by="country", control=control, concentrate=concentrate, **kw)
        b = fn(network, by="control", control=control, concentrate=concentrate, **kw)
        tables[basis] = (a, b)
    return combine(tables, stage)


TABLE_COLUMNS = [
    "material",
    "stage",
    "basis",
    "total",
    "hhi_country",
    "top_country",
    "top_share",
    "leaders_country",
    "hhi_control",
    "leaders_control",
]
"""The columns of :func:`concentration_table`."""


def combine(
    tables: Mapping[str, tuple[pd.DataFrame, pd.DataFrame]], stage: str | None = None
) -> pd.DataFrame:
    """:func:`concentration_table` from the :func:`concentration` tables of each basis.

    Parameters
    ----------
    tables : mapping basis -> (by country, by controlling country)
        ``capacity`` and ``flows``, in that order.
    stage : str, optional
        Keep only this stage.

    Returns
    -------
    DataFrame
        As :func:`concentration_table`.
    """
    parts = []
    for basis, (a, b) in tables.items():
        if a.empty:
            continue
        m = a[["material", "stage", "total", "hhi", "top", "top_share", "leaders"]].merge(
            b[["material", "stage", "hhi", "leaders"]],
            on=["material", "stage"],
            suffixes=("_country", "_control"),
        )
        parts.append(m.assign(basis=basis).rename(columns={"top": "top_country"}))
    if not parts:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    out = pd.concat(parts, ignore_index=True)[TABLE_COLUMNS]
    if stage is not None:
        out = out[out["stage"] == stage]
    return out.sort_values(["hhi_country", "total"], ascending=[False, False]).reset_index(
        drop=True
    )


def dependency_concentration(traced: pd.DataFrame, value: str = "quantity") -> pd.DataFrame:
    """From a trace result (``raw, stage, country`` + quantity), HHI per (raw, stage).

    Parameters
    ----------
    traced : DataFrame
        A :func:`onshore.trace.trace` table with ``raw``, ``stage`` and ``country`` columns.
    value : str
        The column whose shares are measured (``quantity`` or ``share``).

    Returns
    -------
    DataFrame
        ``raw, stage, total, n, hhi, top, top_share, leaders``, by descending HHI.
    """
    return concentration(traced, ["raw", "stage"], "country", value=value)


def product_dependency(network: Network, product: str, period: str | None = None) -> pd.DataFrame:
    """A product's traced dependency on each country per (raw material, stage), with HHI.

    Reads :func:`onshore.trace.trace` with ``by=("raw", "stage", "country")``.

    Parameters
    ----------
    network : Network
    product : str
        ``FACILITY`` (when it makes one material) or ``FACILITY:MATERIAL``.
    period : str, optional
        Flows whose period starts with this.

    Returns
    -------
    DataFrame
        ``raw, stage, total, n, hhi, top, top_share, leaders``; ``total`` is units of raw
        per unit of the product.

    Raises
    ------
    NotFound
        When the product is not in the network.
    """
    from onshore.trace import trace  # the trace engine; imported late (it may be optional)

    traced = trace(network, product, by=("raw", "stage", "country"), weight="mass", period=period)
    value = "quantity" if "quantity" in traced.columns else "share"
    return dependency_concentration(traced, value=value)
