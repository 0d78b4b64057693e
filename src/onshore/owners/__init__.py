"""Owners: who owns and who controls each company, and the foreign-entity tests built on that.

* :mod:`~onshore.owners.control`: effective ownership ``(I - S)^-1 - I``, control by majority
  chains, ultimate controllers and controlling countries, affiliates, ownership paths;
* :mod:`~onshore.owners.feoc`: the FEOC test and the 45X prohibited-foreign-entity tests.
"""

from onshore.owners.control import (
    Owners,
    affiliates,
    blank_stakes,
    controlling_country,
    effective_ownership,
    leontief,
    owners,
    ownership_paths,
    ultimate_controller,
    upstream_owners,
)
from onshore.owners.feoc import COVERED_NATIONS, feoc, feoc_facilities, prohibited_foreign_entity

__all__ = [
    "COVERED_NATIONS",
    "Owners",
    "affiliates",
    "blank_stakes",
    "controlling_country",
    "effective_ownership",
    "feoc",
    "feoc_facilities",
    "leontief",
    "owners",
    "ownership_paths",
    "prohibited_foreign_entity",
    "ultimate_controller",
    "upstream_owners",
]
