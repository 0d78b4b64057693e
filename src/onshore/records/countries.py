"""Countries: ISO 3166-1 alpha-2 codes, checked with pycountry."""

from __future__ import annotations

from functools import cache

import pycountry

OTHER = "XX"
"""Other or unspecified countries: the ISO 3166 user-assigned code used for the remainder of
trade statistics ("other", "not elsewhere specified"). Analyses treat it as unknown origin."""


@cache
def _codes() -> frozenset[str]:
    return frozenset(c.alpha_2 for c in pycountry.countries) | {OTHER}


def is_country(code: str) -> bool:
    """True when ``code`` is an ISO 3166-1 alpha-2 code (upper case) or ``XX`` (other)."""
    return code in _codes()


def normalize_country(code: str) -> str:
    """The upper-case alpha-2 code; raises ValueError when it is not one."""
    c = code.strip().upper()
    if not is_country(c):
        raise ValueError(f"an ISO 3166-1 alpha-2 country code (e.g. CN, KR, US), not {code!r}")
    return c


def country_name(code: str) -> str:
    """A readable name for an alpha-2 code ('KR' -> 'Korea, Republic of')."""
    if code == OTHER:
        return "Other or unspecified countries"
    c = pycountry.countries.get(alpha_2=code)
    return c.name if c is not None else code
