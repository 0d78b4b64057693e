"""Summaries of a network: capacity by stage and country, and the leading countries per stage."""

from __future__ import annotations

import pandas as pd

from onshore.network import Network
from onshore.records import units
from onshore.records.model import STAGE_ORDER

DISPLAY_UNIT = {"mass": "t", "energy": "GWh", "area": "m2", "cells": "cells", "packs": "packs"}


def capacity_table(network: Network) -> pd.DataFrame:
    """Yearly capacity per (stage, material, country), in one display unit per dimension.

    The display units are t, GWh, m2, cells and packs. Facilities without a capacity are
    left out.

    Parameters
    ----------
    network : Network

    Returns
    -------
    DataFrame
        ``stage, material, unit, country, capacity``: summed yearly capacity in ``unit``;
        ``material`` is empty for facilities without one.

    Raises
    ------
    UnitError
        When a facility's capacity unit is unknown.
    """
    f = network.facilities
    f = f[f["capacity"].notna() & f["unit"].notna()]
    caps, shown = _displayed(f["capacity"], f["unit"])
    df = pd.DataFrame(
        {
            "stage": f["stage"].to_numpy(dtype=object),
            "material": [m if isinstance(m, str) else "" for m in f["material"]],
            "country": f["country"].to_numpy(dtype=object),
            "capacity": caps,
            "unit": shown,
        }
    )
    return df.groupby(["stage", "material", "unit", "country"], as_index=False)["capacity"].sum()


def _displayed(capacity: pd.Series, unit: pd.Series) -> tuple[list[float], list[str]]:
    """Each capacity in the display unit of its unit's dimension, and that unit (NaN and ""
    where the capacity or its unit is missing)."""
    caps: list[float] = []
    shown: list[str] = []
    for cap, u in zip(capacity, unit, strict=True):
        if pd.isna(cap) or pd.isna(u):
            caps.append(float("nan"))
            shown.append("")
            continue
        target = DISPLAY_UNIT[units.dimension(str(u))]
        caps.append(units.convert(float(cap), str(u), target))
        shown.append(target)
    return caps, shown


def top_countries(network: Network, n: int = 3) -> pd.DataFrame:
    """For each (stage, material, unit): total capacity and the top ``n`` countries with shares.

    Parameters
    ----------
    network : Network
    n : int
        How many countries per row.

    Returns
    -------
    DataFrame
        ``stage, material, unit, total`` and ``#1`` ... ``#n`` (e.g. ``"CN 80%"``), in
        chain order of stages (mine to device), then by descending total; empty without
        capacities.
    """
    cap = capacity_table(network)
    out = []
    for (stage, material, unit), g in cap.groupby(["stage", "material", "unit"], sort=False):
        total = g["capacity"].sum()
        g = g.sort_values("capacity", ascending=False).head(n)
        row = {"stage": stage, "material": material, "unit": unit, "total": total}
        for i, (c, v) in enumerate(zip(g["country"], g["capacity"], strict=True), start=1):
            row[f"#{i}"] = f"{c} {v / total:.0%}" if total > 0 else c
        out.append(row)
    order = {s: i for i, s in enumerate(STAGE_ORDER)}
    df = pd.DataFrame(out)
    if df.empty:
        return df
    return df.sort_values(
        ["stage", "total"], key=lambda s: s.map(order) if s.name == "stage" else -s
    ).reset_index(drop=True)


def facilities_by_stage_country(network: Network) -> pd.DataFrame:
    """Count of facilities per stage (rows) and country (columns), most common countries first.

    Parameters
    ----------
    network : Network

    Returns
    -------
    DataFrame
        A crosstab of facility counts, indexed by stage, columns ordered by total count.
    """
    f = network.facilities
    pivot = pd.crosstab(f["stage"], f["country"])
    return pivot[pivot.sum().sort_values(ascending=False).index]


MAP_COLUMNS = ["id", "name", "company", "stage", "status", "country", "control", "lat", "lon",
               "material", "capacity", "unit"]


def facility_map(network: Network) -> pd.DataFrame:
    """The plants of a network with where they are and who controls them, for a map.

    Market pools (stage ``market``: a country's unidentified supply) are not plants and are
    left out; plants without coordinates are kept (``lat`` and ``lon`` empty), so that counts
    and capacities do not depend on which plants were located.

    Parameters
    ----------
    network : Network

    Returns
    -------
    DataFrame
        ``id, name, company, stage, status, country, control, lat, lon, material, capacity,
        unit``: ``control`` the controlling country, ``capacity`` per year in the display
        unit of its dimension (t, GWh, m2, cells, packs), ``unit`` that unit; in stage order
        (mine to device), then by id.
    """
    from onshore.owners import controlling_country

    f = network.facilities
    f = f[f["stage"].astype(str) != "market"]
    ctrl = controlling_country(network)
    out = pd.DataFrame(
        {
            "id": f["id"].astype(str),
            "name": f["name"].astype(str),
            "company": f["company"].astype(str),
            "stage": f["stage"].astype(str),
            "status": f["status"].astype(str),
            "country": f["country"].astype(str),
            "control": [ctrl.get(str(c), str(k)) for c, k in
                        zip(f["company"], f["country"], strict=True)],
            "lat": f["lat"].astype(float),
            "lon": f["lon"].astype(float),
            "material": f["material"].astype(object).where(f["material"].notna(), ""),
        }
    )
    out["capacity"], out["unit"] = _displayed(f["capacity"], f["unit"])
    order = {s: i for i, s in enumerate(STAGE_ORDER)}
    out = out.assign(_rank=out["stage"].map(order).fillna(len(order)))
    return out.sort_values(["_rank", "id"]).drop(columns="_rank").reset_index(drop=True)[
        MAP_COLUMNS
    ]


def filter_plants(
    plants: pd.DataFrame,
    stage: str | None = None,
    status: str | None = None,
    control: str | None = None,
) -> pd.DataFrame:
    """The plants of :func:`facility_map` of one stage, status and controlling country.

    Parameters
    ----------
    plants : DataFrame
        As :func:`facility_map` gives.
    stage, status : str, optional
        Keep only plants of this stage, or of this status (operating, construction, ...).
    control : str, optional
        Keep only plants whose company's ultimate controller is of this country
        (:func:`onshore.owners.controlling_country`).

    Returns
    -------
    DataFrame
        The rows kept, in the same order.
    """
    for col, value in (("stage", stage), ("status", status), ("control", control)):
        if value:
            plants = plants[plants[col] == value]
    return plants


def capacity_by_stage_country(plants: pd.DataFrame, by: str = "country") -> pd.DataFrame:
    """Yearly capacity per stage and country of plants such as :func:`facility_map` gives.

    Parameters
    ----------
    plants : DataFrame
        With columns ``stage``, ``unit``, ``capacity`` and ``by``.
    by : str
        ``country`` (where the plants are) or ``control`` (their controlling country).

    Returns
    -------
    DataFrame
        ``stage, unit, country, capacity, plants, share``: summed capacity in ``unit``, the
        number of plants with a capacity, and the share of the stage's capacity in that unit
        (0..1); in stage order, then by descending capacity.
    """
    p = plants[plants["capacity"].notna() & (plants["unit"] != "")]
    cols = ["stage", "unit", "country", "capacity", "plants", "share"]
    if p.empty:
        return pd.DataFrame(columns=cols)
    g = (
        p.groupby(["stage", "unit", by], as_index=False)
        .agg(capacity=("capacity", "sum"), plants=("capacity", "size"))
        .rename(columns={by: "country"})
    )
    total = g.groupby(["stage", "unit"])["capacity"].transform("sum")
    g["share"] = (g["capacity"] / total.where(total > 0)).fillna(0.0)
    order = {s: i for i, s in enumerate(STAGE_ORDER)}
    g = g.assign(_rank=g["stage"].map(order).fillna(len(order)))
    g = g.sort_values(["_rank", "unit", "capacity"], ascending=[True, True, False])
    return g.drop(columns="_rank").reset_index(drop=True)[cols]


def countries_by_share(capacity: pd.DataFrame) -> list[str]:
    """The countries of :func:`capacity_by_stage_country`, the largest first: by the sum of
    their shares over the stages (a country holding half of two stages comes before one
    holding 90 % of one), ties by name.

    Parameters
    ----------
    capacity : DataFrame
        With columns ``country`` and ``share``.

    Returns
    -------
    list of str
    """
    if capacity.empty:
        return []
    total = capacity.groupby("country")["share"].sum()
    return sorted(total.index.astype(str), key=lambda c: (-float(total[c]), c))
