"""One module per kind of rule test, each one function ``(Products, Rule, date) -> [Finding]``
that serves one product (``check``) and every product (``check --all``) alike."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from onshore.compliance.context import Products
from onshore.compliance.kinds import (
    content_threshold,
    entity_list,
    feoc_content,
    named_entity,
    origin_country,
    ownership,
)
from onshore.compliance.kinds.simple import always, informational, tariff
from onshore.compliance.verdicts import Finding
from onshore.rules import Rule

Kind = Callable[[Products, Rule, dt.date], list[Finding]]

KINDS: dict[str, Kind] = {
    "named_entity": named_entity.evaluate,
    "entity_list": entity_list.evaluate,
    "feoc_content": feoc_content.evaluate,
    "origin_country": origin_country.evaluate,
    "content_threshold_by_year": content_threshold.evaluate,
    "ownership_threshold": ownership.evaluate,
    "informational": informational,
    "always": always,
    "tariff": tariff,
}
"""The evaluator of each ``test.kind`` of the rule files."""

__all__ = ["KINDS", "Kind"]
