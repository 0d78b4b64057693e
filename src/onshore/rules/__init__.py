"""Rules as data: dated, cited, versioned rules in ``*.yaml`` files beside this module.

Adding a law is a YAML edit plus a test. :func:`load_rules` validates every file at load.
"""

from __future__ import annotations

from functools import cache

from onshore.rules.loader import (
    Always,
    Buyer,
    ContentThresholdByYear,
    Entity,
    EntityList,
    FeocContent,
    Informational,
    NamedEntity,
    OriginCountry,
    OwnershipThreshold,
    Rule,
    RuleSet,
    Tariff,
    load_rules,
    tariff_table,
)


@cache
def bundled() -> RuleSet:
    """The rule files shipped with onshore, loaded once."""
    return load_rules()


__all__ = [
    "Always",
    "Buyer",
    "ContentThresholdByYear",
    "Entity",
    "EntityList",
    "FeocContent",
    "Informational",
    "NamedEntity",
    "OriginCountry",
    "OwnershipThreshold",
    "Rule",
    "RuleSet",
    "Tariff",
    "bundled",
    "load_rules",
    "tariff_table",
]
