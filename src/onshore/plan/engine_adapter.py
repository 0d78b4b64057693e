"""The seam to the rules engine: verdicts, rule dates and dated tariffs for the planner.

Everything here goes through :mod:`onshore.check` and the rule files; the planner itself
never names a country or a company.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from onshore.plan.eligibility import PlantFacts, SegmentFacts
from onshore.plan.scenario import TariffRate

RULES_DIR = Path(__file__).resolve().parent.parent / "rules"


def available() -> bool:
    """Whether the rules engine (``onshore.check``) is installed."""
    try:
        return importlib.util.find_spec("onshore.check") is not None
    except (ImportError, ValueError):
        return False


def empty_network() -> Any:
    """An empty network, for judging hypothetical plants without a store."""
    from onshore.network import Network

    return Network()


def verdicts(
    network: Any,
    plant: PlantFacts,
    product: str,
    segment: SegmentFacts,
    on: dt.date,
    check: Callable[..., list[Any]] | None = None,
) -> list[Any]:
    """The rules engine's verdicts on a plant's product for a segment's buyer on a date."""
    if check is None:
        from onshore.check import check as engine_check

        check = engine_check
    return list(check(network, plant.facility or plant.id, segment.buyer, on))


def rule_ids(network: Any) -> list[str]:
    """Ids of the rules the engine knows."""
    return [str(r.get("id")) for r in _rule_entries()]


def rule_dates(network: Any) -> list[dt.date]:
    """Every date on which a rule starts or stops applying."""
    out: set[dt.date] = set()
    for r in _rule_entries():
        for key, shift in (("effective_from", 0), ("effective_until", 1)):
            d = _date(r.get(key))
            if d is not None:
                out.add(d + dt.timedelta(days=shift))
    return sorted(out)


def tariff_rates() -> list[TariffRate]:
    """Dated tariff rates stated in the rule files (entries whose test kind is ``tariff``)."""
    out = []
    for r in _rule_entries():
        test = r.get("test") or {}
        if not isinstance(test, dict) or test.get("kind") != "tariff":
            continue
        start = _date(r.get("effective_from"))
        if start is None:
            continue
        origins = test.get("origin") or test.get("origins") or []
        for origin in [origins] if isinstance(origins, str) else origins:
            out.append(
                TariffRate(
                    id=str(r.get("id")),
                    origin=origin,
                    destination=test.get("destination", r.get("jurisdiction", "US")),
                    tariff_class=test.get("tariff_class") or test.get("goods") or "*",
                    rate=float(test.get("rate", 0.0)),
                    effective_from=start,
                    effective_until=_date(r.get("effective_until")),
                    source=r.get("source"),
                )
            )
    return out


def _date(v: Any) -> dt.date | None:
    if v is None or v == "":
        return None
    if isinstance(v, dt.date):
        return v
    try:
        return dt.date.fromisoformat(str(v))
    except ValueError:
        return None


@cache
def _rule_entries() -> tuple[dict[str, Any], ...]:
    """The raw rule entries of every rule file (tolerant of either a list or a `rules:` key)."""
    import yaml

    out: list[dict[str, Any]] = []
    if not RULES_DIR.is_dir():
        return ()
    for f in sorted(RULES_DIR.glob("*.yaml")):
        doc = yaml.safe_load(f.read_text(encoding="utf-8"))
        items = doc.get("rules", []) if isinstance(doc, dict) else doc or []
        out += [r for r in items if isinstance(r, dict)]
    return tuple(out)
