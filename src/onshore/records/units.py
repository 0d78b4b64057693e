"""Units: what each unit measures, and conversion between units of one dimension.

Units are data: ``UNITS`` maps a unit name to its dimension and its size in the
dimension's base unit (kg, kWh, cells, packs, m2, and one base per currency).
Rates such as ``t/yr`` are read as the quantity per year. Money converts between
currencies through annual average exchange rates shipped in ``data/fx_rates.csv``.
"""

from __future__ import annotations

import csv
from functools import cache
from importlib import resources

from onshore.errors import UnitError

__all__ = [
    "CURRENCIES",
    "UNITS",
    "UnitError",
    "convert",
    "dimension",
    "factor",
    "normalize",
    "split_ratio",
]

# unit -> (dimension, size in the dimension's base unit)
UNITS: dict[str, tuple[str, float]] = {
    "g": ("mass", 1e-3),
    "kg": ("mass", 1.0),
    "t": ("mass", 1e3),
    "kt": ("mass", 1e6),
    "Mt": ("mass", 1e9),
    "Wh": ("energy", 1e-3),
    "kWh": ("energy", 1.0),
    "MWh": ("energy", 1e3),
    "GWh": ("energy", 1e6),
    "cells": ("cells", 1.0),
    "packs": ("packs", 1.0),
    "m2": ("area", 1.0),
    "USD": ("money", 1.0),
    "EUR": ("money", 1.0),
    "KRW": ("money", 1.0),
    "CNY": ("money", 1.0),
}
CURRENCIES = ("USD", "EUR", "KRW", "CNY")
_PER_YEAR = ("/yr", "/year", "/a", " per year")


def _strip_rate(unit: str) -> str:
    u = unit.strip()
    for suffix in _PER_YEAR:
        if u.endswith(suffix):
            return u[: -len(suffix)].strip()
    return u


def normalize(unit: str) -> str:
    """The canonical name of a unit (``t/yr`` -> ``t``); raises UnitError when unknown."""
    u = _strip_rate(unit)
    if u in UNITS:
        return u
    for name in UNITS:
        if name.lower() == u.lower():
            return name
    raise UnitError(f"unknown unit {unit!r}; known units: {', '.join(UNITS)} (optionally '/yr')")


def dimension(unit: str) -> str:
    """What a unit measures: mass, energy, cells, packs, area or money."""
    return UNITS[normalize(unit)][0]


def is_currency(unit: str) -> bool:
    return normalize(unit) in CURRENCIES


@cache
def fx_rates() -> dict[tuple[str, int], float]:
    """Annual average units of currency per USD, keyed by (currency, year)."""
    path = resources.files("onshore") / "data" / "fx_rates.csv"
    rows = csv.DictReader(path.read_text(encoding="utf-8").splitlines())
    return {(r["currency"], int(r["year"])): float(r["per_usd"]) for r in rows}


def _per_usd(currency: str, year: int | None) -> float:
    if currency == "USD":
        return 1.0
    if year is None:
        raise UnitError(f"converting {currency} needs a year for the exchange rate")
    rates = fx_rates()
    if (currency, year) not in rates:
        years = sorted(y for c, y in rates if c == currency)
        raise UnitError(f"no {currency} exchange rate for {year}; rates exist for {years}")
    return rates[(currency, year)]


def factor(from_unit: str, to_unit: str, year: int | None = None) -> float:
    """The number that turns a quantity in ``from_unit`` into ``to_unit``."""
    a, b = normalize(from_unit), normalize(to_unit)
    (da, sa), (db, sb) = UNITS[a], UNITS[b]
    if da != db:
        raise UnitError(f"cannot convert {from_unit!r} ({da}) to {to_unit!r} ({db})")
    if da == "money" and a != b:
        return _per_usd(b, year) / _per_usd(a, year)
    return sa / sb


def convert(value: float, from_unit: str, to_unit: str, year: int | None = None) -> float:
    """Convert ``value`` from one unit to another of the same dimension."""
    return value * factor(from_unit, to_unit, year)


def split_ratio(unit: str) -> tuple[str, str]:
    """Split a ratio unit such as ``kg/kWh`` into its numerator and denominator units."""
    parts = unit.split("/")
    if len(parts) != 2:
        raise UnitError(f"expected a ratio unit such as 'kg/kWh', got {unit!r}")
    return normalize(parts[0]), normalize(parts[1])
