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
    rows = []
    for stage, material, country, cap, unit in zip(
        f["stage"], f["material"], f["country"], f["capacity"], f["unit"], strict=True
    ):
        target = DISPLAY_UNIT[units.dimension(unit)]
        rows.append(
            (
                stage,
                material if isinstance(material, str) else "",
                country,
                units.convert(float(cap), unit, target),
                target,
            )
        )
    df = pd.DataFrame(rows, columns=["stage", "material", "country", "capacity", "unit"])
    return df.groupby(["stage", "material", "unit", "country"], as_index=False)["capacity"].sum()


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
