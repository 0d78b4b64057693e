"""Which plant may serve which segment on which date, and what tariff its goods pay.

The planner never lists countries itself. It asks an :data:`Eligibility`, a callable
``(plant, product, segment, on) -> bool | None`` (``None`` = the rules could not decide),
and turns the answers into the share of each period in which a plant may serve a segment.

Adapters:

- :func:`allow_all`: no rules (the cost of all rules is measured against it);
- :class:`ScenarioRules`: rules stated in the scenario file (what-if studies);
- :class:`EngineRules`: the verdicts of :func:`onshore.compliance.evaluate.check` on each plant's
  product;
- :class:`Combined`: prohibited if any part prohibits.

Rule-aware adapters also say which rules exist (``rule_ids``), on which dates their
answers may change (``dates``), and give themselves without one rule (``without``), so the
cost of each rule is the difference of two solves.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import xarray as xr

from onshore.plan.scenario import ScenarioRule, Segment, TariffRate


@dataclass(frozen=True)
class PlantFacts:
    """The rule-relevant facts of a plant (existing or hypothetical)."""

    id: str
    country: str | None = None
    owner_country: str | None = None
    company: str | None = None
    facility: str | None = None
    products: tuple[str, ...] = ()


@dataclass(frozen=True)
class SegmentFacts:
    """The rule-relevant facts of a segment: its id, buyer and destination."""

    id: str
    buyer: str | None = None
    destination: str | None = None
    accept_unknown: tuple[str, ...] = ()


Eligibility = Callable[[PlantFacts, str, SegmentFacts, dt.date], bool | None]


@runtime_checkable
class RuleAware(Protocol):
    """An eligibility that knows its rules (for rule costs) and their dates."""

    def __call__(
        self, plant: PlantFacts, product: str, segment: SegmentFacts, on: dt.date
    ) -> bool | None: ...

    def rule_ids(self) -> list[str]:
        """The ids of the rules this eligibility applies.

        Returns
        -------
        list of str
            Ids of the rules it applies, in the order they are listed.
        """
        ...

    def dates(self) -> list[dt.date]:
        """The dates on which its answers may change.

        Returns
        -------
        list of datetime.date
            Sorted dates on which its rules start or stop applying (the day after an
            ``effective_until``); eligibility may change only on these dates.
        """
        ...

    def without(self, rule_id: str) -> Eligibility:
        """This eligibility without one rule.

        Parameters
        ----------
        rule_id : str
            The rule to leave out.

        Returns
        -------
        Eligibility
            The same eligibility without that rule (unchanged when no rule has that id), to
            price the rule by a second solve.
        """
        ...

    def prohibiting(
        self, plant: PlantFacts, product: str, segment: SegmentFacts, on: dt.date
    ) -> list[str]:
        """Ids of the rules that prohibit this plant's product for this segment on this date.

        Parameters
        ----------
        plant : PlantFacts
            The plant whose goods are judged.
        product : str
            The product (scenario product id) it would deliver.
        segment : SegmentFacts
            The segment (buyer, destination) it would serve.
        on : datetime.date
            The date of the delivery.

        Returns
        -------
        list of str
            Ids of the prohibiting rules; empty when the plant may serve the segment.
        """
        ...


def allow_all(plant: PlantFacts, product: str, segment: SegmentFacts, on: dt.date) -> bool | None:
    """Every plant may serve every segment.

    Parameters
    ----------
    plant : PlantFacts
        The plant whose goods are judged.
    product : str
        The product (scenario product id) it would deliver.
    segment : SegmentFacts
        The segment (buyer, destination) it would serve.
    on : datetime.date
        The date of the delivery.

    Returns
    -------
    bool
        Always True.
    """
    return True


@dataclass(frozen=True)
class ScenarioRules:
    """Rules stated in a scenario: a buyer may not take goods of the targeted plants."""

    rules: tuple[ScenarioRule, ...]

    def prohibiting(
        self, plant: PlantFacts, product: str, segment: SegmentFacts, on: dt.date
    ) -> list[str]:
        """Ids of the rules that prohibit this plant's product for this segment on this date.

        Parameters
        ----------
        plant : PlantFacts
            The plant whose goods are judged.
        product : str
            The product (scenario product id) it would deliver.
        segment : SegmentFacts
            The segment (buyer, destination) it would serve.
        on : datetime.date
            The date of the delivery.

        Returns
        -------
        list of str
            Ids of the prohibiting rules (the segment's buyer is bound, the date is in the
            rule's window and the plant, its country, owner country or company is targeted);
            empty when the plant may serve the segment.
        """
        out = []
        for r in self.rules:
            if segment.buyer not in r.buyers or on < r.effective_from:
                continue
            if r.effective_until is not None and on > r.effective_until:
                continue
            t = r.prohibit
            if (
                plant.id in t.plants
                or (plant.country is not None and plant.country in t.countries)
                or (plant.owner_country is not None and plant.owner_country in t.owner_countries)
                or (plant.company is not None and plant.company in t.companies)
            ):
                out.append(r.id)
        return out

    def __call__(
        self, plant: PlantFacts, product: str, segment: SegmentFacts, on: dt.date
    ) -> bool | None:
        return not self.prohibiting(plant, product, segment, on)

    def rule_ids(self) -> list[str]:
        """The ids of the scenario's rules.

        Returns
        -------
        list of str
            Ids of the rules stated in the scenario, in the order they are listed.
        """
        return [r.id for r in self.rules]

    def dates(self) -> list[dt.date]:
        """The dates on which the scenario's rules start or stop applying.

        Returns
        -------
        list of datetime.date
            Sorted dates on which the scenario's rules start or stop applying (the day after an
            ``effective_until``); eligibility may change only on these dates.
        """
        ds = [r.effective_from for r in self.rules]
        ds += [r.effective_until + dt.timedelta(days=1) for r in self.rules if r.effective_until]
        return sorted(set(ds))

    def without(self, rule_id: str) -> ScenarioRules:
        """The scenario's rules without one rule.

        Parameters
        ----------
        rule_id : str
            The rule to leave out.

        Returns
        -------
        ScenarioRules
            The same eligibility without that rule (unchanged when no rule has that id), to
            price the rule by a second solve.
        """
        return ScenarioRules(tuple(r for r in self.rules if r.id != rule_id))


@dataclass
class EngineRules:
    """Eligibility from the rules engine: ``onshore.compliance.evaluate.check`` on each plant's
    product.

    A plant whose product is not in the network (a hypothetical site) is judged on a copy of
    the network with the plant's facts added (``with_plant``) when the network supports it.
    """

    network: Any
    skip: frozenset[str] = frozenset()
    check: Callable[..., list[Any]] | None = None
    _cache: dict[tuple[Any, ...], list[Any]] = field(default_factory=dict, repr=False)

    def _verdicts(
        self, plant: PlantFacts, product: str, segment: SegmentFacts, on: dt.date
    ) -> list[Any]:
        key = (plant, product, segment.buyer, on)
        if key not in self._cache:
            from onshore.plan import engine_adapter

            self._cache[key] = engine_adapter.verdicts(
                self.network, plant, product, segment, on, self.check
            )
        return [v for v in self._cache[key] if _rule_id(v) not in self.skip]

    def prohibiting(
        self, plant: PlantFacts, product: str, segment: SegmentFacts, on: dt.date
    ) -> list[str]:
        """Ids of the rules whose engine verdict is PROHIBITED for this plant, segment and date.

        Parameters
        ----------
        plant : PlantFacts
            The plant whose goods are judged.
        product : str
            The product (scenario product id) it would deliver.
        segment : SegmentFacts
            The segment (buyer, destination) it would serve.
        on : datetime.date
            The date of the delivery.

        Returns
        -------
        list of str
            Ids of the prohibiting rules (rules in ``skip`` left out; none for a segment
            without a buyer); empty when the plant may serve the segment.
        """
        if segment.buyer is None:
            return []
        return [
            _rule_id(v)
            for v in self._verdicts(plant, product, segment, on)
            if _value(v) == "PROHIBITED"
        ]

    def __call__(
        self, plant: PlantFacts, product: str, segment: SegmentFacts, on: dt.date
    ) -> bool | None:
        if segment.buyer is None:
            return True
        values = {
            _value(v)
            for v in self._verdicts(plant, product, segment, on)
            if not (_value(v) == "UNKNOWN" and _rule_id(v) in segment.accept_unknown)
        }
        if "PROHIBITED" in values:
            return False
        if "UNKNOWN" in values:
            return None
        return True

    def undecided(
        self, plant: PlantFacts, product: str, segment: SegmentFacts, on: dt.date
    ) -> list[str]:
        """Ids of the rules that could not decide (UNKNOWN), with what would settle them.

        Parameters
        ----------
        plant : PlantFacts
            The plant whose goods are judged.
        product : str
            The product (scenario product id) it would deliver.
        segment : SegmentFacts
            The segment (buyer, destination) it would serve.
        on : datetime.date
            The date of the delivery.

        Returns
        -------
        list of str
            One entry per undecided rule: ``rule_id: what would settle it`` (or the bare id);
            rules the segment accepts as unknown are left out.
        """
        if segment.buyer is None:
            return []
        return [
            f"{_rule_id(v)}: {v.settle[0]}" if getattr(v, "settle", None) else _rule_id(v)
            for v in self._verdicts(plant, product, segment, on)
            if _value(v) == "UNKNOWN" and _rule_id(v) not in segment.accept_unknown
        ]

    def rule_ids(self) -> list[str]:
        """The ids of the rules the engine applies, less those skipped.

        Returns
        -------
        list of str
            Ids of the rules in the bundled rule files (tariff rules excluded) not in ``skip``,
            in the order they are listed.
        """
        from onshore.plan import engine_adapter

        return [r for r in engine_adapter.rule_ids(self.network) if r not in self.skip]

    def dates(self) -> list[dt.date]:
        """The dates on which the engine's rules start or stop applying.

        Returns
        -------
        list of datetime.date
            Sorted dates on which the bundled rules start or stop applying (the day after an
            ``effective_until``); eligibility may change only on these dates.
        """
        from onshore.plan import engine_adapter

        return engine_adapter.rule_dates(self.network)

    def without(self, rule_id: str) -> EngineRules:
        """The engine's eligibility with one more rule skipped (the verdict cache is shared).

        Parameters
        ----------
        rule_id : str
            The rule to leave out.

        Returns
        -------
        EngineRules
            The same eligibility without that rule (unchanged when no rule has that id), to
            price the rule by a second solve.
        """
        return EngineRules(self.network, self.skip | {rule_id}, self.check, self._cache)


def _rule_id(v: Any) -> str:
    return str(getattr(v, "rule_id", None) or getattr(v, "rule", None) or v.get("rule_id"))


def _value(v: Any) -> str:
    val = getattr(v, "verdict", None) or getattr(v, "value", None)
    if val is None and isinstance(v, dict):
        val = v.get("verdict")
    val = getattr(val, "value", val)
    return str(val).upper()


@dataclass(frozen=True)
class Combined:
    """Prohibited if any part prohibits; unknown if any part cannot decide."""

    parts: tuple[Eligibility, ...]

    def __call__(
        self, plant: PlantFacts, product: str, segment: SegmentFacts, on: dt.date
    ) -> bool | None:
        answers = [p(plant, product, segment, on) for p in self.parts]
        if False in answers:
            return False
        return None if None in answers else True

    def prohibiting(
        self, plant: PlantFacts, product: str, segment: SegmentFacts, on: dt.date
    ) -> list[str]:
        """Ids of the rules of every rule-aware part that prohibit this plant's product.

        Parameters
        ----------
        plant : PlantFacts
            The plant whose goods are judged.
        product : str
            The product (scenario product id) it would deliver.
        segment : SegmentFacts
            The segment (buyer, destination) it would serve.
        on : datetime.date
            The date of the delivery.

        Returns
        -------
        list of str
            Ids of the prohibiting rules; empty when the plant may serve the segment.
        """
        return [
            r
            for p in self.parts
            if isinstance(p, RuleAware)
            for r in p.prohibiting(plant, product, segment, on)
        ]

    def undecided(
        self, plant: PlantFacts, product: str, segment: SegmentFacts, on: dt.date
    ) -> list[str]:
        """The undecided rules of every part that reports them, with what would settle them.

        Parameters
        ----------
        plant : PlantFacts
            The plant whose goods are judged.
        product : str
            The product (scenario product id) it would deliver.
        segment : SegmentFacts
            The segment (buyer, destination) it would serve.
        on : datetime.date
            The date of the delivery.

        Returns
        -------
        list of str
            One entry per undecided rule: ``rule_id: what would settle it`` (or the bare id);
            rules the segment accepts as unknown are left out.
        """
        return [
            r
            for p in self.parts
            if hasattr(p, "undecided")
            for r in p.undecided(plant, product, segment, on)
        ]

    def rule_ids(self) -> list[str]:
        """The ids of the rules of every rule-aware part.

        Returns
        -------
        list of str
            Ids of the rules of the parts, part by part (repeats kept).
        """
        return [r for p in self.parts if isinstance(p, RuleAware) for r in p.rule_ids()]

    def dates(self) -> list[dt.date]:
        """The dates on which any part's rules start or stop applying.

        Returns
        -------
        list of datetime.date
            Sorted dates on which the rules of any part start or stop applying (the day after an
            ``effective_until``); eligibility may change only on these dates.
        """
        return sorted({d for p in self.parts if isinstance(p, RuleAware) for d in p.dates()})

    def without(self, rule_id: str) -> Combined:
        """Every rule-aware part without one rule.

        Parameters
        ----------
        rule_id : str
            The rule to leave out.

        Returns
        -------
        Combined
            The same eligibility without that rule (unchanged when no rule has that id), to
            price the rule by a second solve.
        """
        return Combined(
            tuple(p.without(rule_id) if isinstance(p, RuleAware) else p for p in self.parts)
        )


# periods as date ranges ---------------------------------------------------------------
def period_bounds(year: int) -> tuple[dt.date, dt.date]:
    """The first day of a period and the first day of the next.

    Parameters
    ----------
    year : int
        The period (a calendar year).

    Returns
    -------
    tuple of (datetime.date, datetime.date)
        January 1 of ``year`` and of ``year + 1``.
    """
    return dt.date(year, 1, 1), dt.date(year + 1, 1, 1)


def _slices(year: int, dates: Iterable[dt.date]) -> list[tuple[dt.date, float]]:
    """Sub-intervals of a period cut at ``dates``: (start, share of the period's days)."""
    a, b = period_bounds(year)
    cuts = sorted({a, *(d for d in dates if a < d < b), b})
    total = (b - a).days
    return [(s, (e - s).days / total) for s, e in itertools.pairwise(cuts)]


def eligible_share(
    eligibility: Eligibility,
    plants: Sequence[PlantFacts],
    products: Sequence[str],
    segments: Sequence[tuple[SegmentFacts, Segment]],
    periods: Sequence[int],
) -> xr.DataArray:
    """Share of each period in which a plant's product may serve a segment.

    Eligibility is asked at the start of each period and at every date on which the rules
    may change inside it; each answer holds until the next date. ``None`` (unknown) counts
    as prohibited unless the segment says ``unknown: allow``.

    Parameters
    ----------
    eligibility : Eligibility
        The callable that judges a plant's product for a segment on a date.
    plants : sequence of PlantFacts
    products : sequence of str
        Product ids; a plant is judged only for the products it makes (others are 0).
    segments : sequence of (SegmentFacts, Segment)
        Each segment's facts and its scenario entry (for ``unknown``).
    periods : sequence of int
        The periods (years).

    Returns
    -------
    xarray.DataArray
        Dims (plant, product, segment, period), values in [0, 1] (the day-weighted share of
        the year, rounded to 9 decimals).
    """
    dates = eligibility.dates() if isinstance(eligibility, RuleAware) else []
    out = np.zeros((len(plants), len(products), len(segments), len(periods)))
    slices = {y: _slices(y, dates) for y in periods}
    for i, pl in enumerate(plants):
        for j, prod in enumerate(products):
            if prod not in pl.products:
                continue
            for k, (sf, seg) in enumerate(segments):
                for t, y in enumerate(periods):
                    share = 0.0
                    for start, w in slices[y]:
                        ans = eligibility(pl, prod, sf, start)
                        if ans is None:
                            ans = seg.unknown == "allow"
                        share += w * bool(ans)
                    out[i, j, k, t] = round(share, 9)
    return xr.DataArray(
        out,
        coords={
            "plant": [p.id for p in plants],
            "product": list(products),
            "segment": [s.id for s, _ in segments],
            "period": list(periods),
        },
        dims=("plant", "product", "segment", "period"),
    )


def period_tariff(
    rates: Sequence[TariffRate],
    origin: str | None,
    destination: str | None,
    tariff_class: str | None,
    year: int,
) -> float:
    """The day-weighted ad valorem rate on goods from ``origin`` over one period.

    Rates for the same (origin, destination, class) that overlap: a class-specific rate
    beats the wildcard ``*``, then the later-starting wins.

    Parameters
    ----------
    rates : sequence of TariffRate
    origin, destination : str, optional
        Country codes; no tariff when either is missing or they are equal.
    tariff_class : str, optional
        The goods' tariff class (rates of class ``*`` apply to every class).
    year : int
        The period.

    Returns
    -------
    float
        The rate as a fraction of the goods' value (0.25 = 25 %), weighted by the days of the
        year each rate applies (0 on days without one).
    """
    if origin is None or destination is None or origin == destination:
        return 0.0
    match = [
        r
        for r in rates
        if r.origin == origin
        and r.destination == destination
        and r.tariff_class in ("*", tariff_class)
    ]
    if not match:
        return 0.0
    dates = [r.effective_from for r in match] + [
        r.effective_until + dt.timedelta(days=1) for r in match if r.effective_until
    ]
    total = 0.0
    for start, w in _slices(year, dates):
        live = [
            r
            for r in match
            if r.effective_from <= start
            and (r.effective_until is None or start <= r.effective_until)
        ]
        if live:
            # a class-specific rate beats a wildcard; then the most recent start
            best = max(live, key=lambda r: (r.tariff_class != "*", r.effective_from))
            total += w * best.rate
    return total
