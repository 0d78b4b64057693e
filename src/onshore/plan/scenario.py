"""The plan scenario: a YAML file checked against a pydantic schema.

A scenario names the periods (years), the products, the customer segments with their
demand, the existing plants and the candidate expansions, the tariffs, the discount rate
and, optionally, rules stated in the scenario itself (for what-if studies or when the rules
engine has nothing to say) and floors on domestic or allied content. Every number may carry
a ``source``; an ``assumptions`` block keeps the basis of invented figures next to them.

Errors name the key path, e.g. ``segments.dod_drone.demand.drone_cell.2027: ...``.
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from onshore.errors import ScenarioError
from onshore.records.countries import normalize_country

PerPeriod = float | dict[int, float]


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _country(v: str | None) -> str | None:
    return None if v is None else normalize_country(v)


class Product(_Base):
    """A product the plants make and the segments buy (e.g. a drone cell)."""

    name: str | None = None
    unit: str = "cells"
    value: float | None = Field(
        None, ge=0, description="customs value per unit for ad valorem tariffs"
    )
    tariff_class: str | None = None
    source: str | None = None


class Segment(_Base):
    """A customer segment: its buyer for the rules, where it takes delivery, its demand."""

    buyer: str | None = None
    destination: str = "US"
    demand: dict[str, dict[int, float]]
    unmet_penalty: float | None = Field(
        None, ge=0, description="cost per unit not delivered; none = must be met"
    )
    unknown: Literal["deny", "allow"] = "deny"
    accept_unknown: list[str] = Field(
        default_factory=list,
        description="rule ids whose UNKNOWN verdicts this segment accepts (state the basis)",
    )
    source: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_product(cls, v: Any) -> Any:
        # `product: x` with `demand: {2027: n}` is shorthand for `demand: {x: {2027: n}}`
        if isinstance(v, dict) and "product" in v:
            if not isinstance(v["product"], str):
                raise ValueError("'product' is a product id (a facility id), as text")
            v = dict(v)
            v["demand"] = {v.pop("product"): v.get("demand")}
        return v

    _dest = field_validator("destination")(classmethod(lambda cls, v: _country(v)))


class Plant(_Base):
    """An existing plant, from the store (``facility``) or declared here."""

    name: str | None = None
    facility: str | None = None
    company: str | None = None
    country: str | None = None
    owner_country: str | None = None
    products: list[str] = Field(default_factory=list)
    capacity: PerPeriod = 0.0
    yield_: float | dict[str, float] = Field(default=1.0, alias="yield")
    unit_cost: float | dict[str, float] = 0.0
    logistics: float | dict[str, float] = 0.0
    source: str | None = None

    _countries = field_validator("country", "owner_country")(
        classmethod(lambda cls, v: _country(v))
    )

    @field_validator("yield_")
    @classmethod
    def _yield(cls, v: float | dict[str, float]) -> float | dict[str, float]:
        for y in v.values() if isinstance(v, dict) else [v]:
            if not 0 < y <= 1:
                raise ValueError("a yield in (0, 1]")
        return v


class Candidate(Plant):
    """A candidate expansion: modules of capacity with capex, lead time and ramp-up."""

    expands: str | None = None
    capex_per_module: float = Field(ge=0)
    module_size: float = Field(gt=0)
    lead_time: int = Field(default=1, ge=0, description="periods from the decision to first output")
    ramp_up: list[float] = Field(default_factory=lambda: [1.0])
    max_modules: int = Field(ge=0)
    lifetime: int = Field(default=15, ge=1, description="years over which capex is annualised")
    first_period: int | None = None

    @field_validator("ramp_up")
    @classmethod
    def _ramp(cls, v: list[float]) -> list[float]:
        if not v or any(not 0 <= r <= 1 for r in v):
            raise ValueError("a non-empty list of fractions in [0, 1]")
        return v


class TariffRate(_Base):
    """An ad valorem tariff on goods of one class from one origin into one destination."""

    id: str | None = None
    origin: str
    destination: str = "US"
    tariff_class: str = "*"
    rate: float = Field(ge=0)
    effective_from: dt.date
    effective_until: dt.date | None = None
    source: str | None = None

    _c = field_validator("origin", "destination")(classmethod(lambda cls, v: _country(v)))


class Tariffs(_Base):
    """Tariffs: dated rates from the rule files, overridden by rates stated here."""

    from_rules: bool = True
    rates: list[TariffRate] = Field(default_factory=list)


class RuleTarget(_Base):
    """What a scenario rule prohibits: plants by country, owner country, company or id."""

    countries: list[str] = Field(default_factory=list)
    owner_countries: list[str] = Field(default_factory=list)
    companies: list[str] = Field(default_factory=list)
    plants: list[str] = Field(default_factory=list)

    @field_validator("countries", "owner_countries")
    @classmethod
    def _cs(cls, v: list[str]) -> list[str]:
        return [normalize_country(c) for c in v]


class ScenarioRule(_Base):
    """A rule stated in the scenario: from a date, these buyers may not take these plants' goods."""

    id: str
    title: str | None = None
    buyers: list[str]
    effective_from: dt.date
    effective_until: dt.date | None = None
    prohibit: RuleTarget
    source: str | None = None
    basis: str | None = None


class ContentFloor(_Base):
    """At least ``share`` of a segment's deliveries from plants in ``countries``."""

    id: str
    segments: list[str]
    countries: list[str]
    share: float = Field(ge=0, le=1)
    from_period: int | None = None
    source: str | None = None

    @field_validator("countries")
    @classmethod
    def _cs(cls, v: list[str]) -> list[str]:
        return [normalize_country(c) for c in v]


class Scenario(_Base):
    """A whole planning scenario; see the module docstring."""

    name: str
    description: str | None = None
    currency: str = "USD"
    periods: list[int]
    discount_rate: float = Field(default=0.08, ge=0, lt=1)
    products: dict[str, Product]
    segments: dict[str, Segment]
    plants: dict[str, Plant] = Field(default_factory=dict)
    candidates: dict[str, Candidate] = Field(default_factory=dict)
    tariffs: Tariffs = Field(default_factory=Tariffs)
    eligibility: Literal["auto", "engine", "scenario", "none"] = "auto"
    rules: list[ScenarioRule] = Field(default_factory=list)
    content_floors: list[ContentFloor] = Field(default_factory=list)
    assumptions: dict[str, Any] = Field(default_factory=dict)
    sources: dict[str, str] = Field(default_factory=dict)

    @field_validator("periods")
    @classmethod
    def _periods(cls, v: list[int]) -> list[int]:
        if not v or v != sorted(set(v)) or any(b - a != 1 for a, b in itertools.pairwise(v)):
            raise ValueError("consecutive years in increasing order, e.g. [2026, 2027, 2028]")
        return v

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        _check_references(self)
        return self

    # helpers ----------------------------------------------------------------------
    def units(self) -> dict[str, Plant]:
        """Plants and candidates by model id (a candidate that expands a plant shares its id).

        Returns
        -------
        dict of str to Plant
            Every plant, then every candidate that does not expand one (a :class:`Candidate`).
        """
        out: dict[str, Plant] = dict(self.plants)
        for cid, c in self.candidates.items():
            out[c.expands or cid] = c if c.expands is None else out[c.expands]
        return out


def _err(path: str, msg: str) -> ValueError:
    return ValueError(f"{path}: {msg}")


def _check_references(s: Scenario) -> None:
    """Cross-references: products, segments, periods, expanded plants."""
    errors: list[str] = []
    periods = set(s.periods)
    for sid, seg in s.segments.items():
        for prod, series in seg.demand.items():
            if prod not in s.products:
                errors.append(
                    f"segments.{sid}.demand.{prod}: unknown product "
                    f"(known: {', '.join(s.products)})"
                )
            for p in series:
                if p not in periods:
                    errors.append(
                        f"segments.{sid}.demand.{prod}.{p}: not one of the periods {s.periods}"
                    )
    for kind, table in (("plants", s.plants), ("candidates", s.candidates)):
        for pid, pl in table.items():
            for prod in pl.products:
                if prod not in s.products:
                    errors.append(f"{kind}.{pid}.products: unknown product {prod!r}")
            for key in ("unit_cost", "yield_"):
                val = getattr(pl, key)
                if isinstance(val, dict):
                    for prod in val:
                        if prod not in s.products:
                            errors.append(f"{kind}.{pid}.{key.rstrip('_')}.{prod}: unknown product")
            if isinstance(pl.logistics, dict):
                for seg_id in pl.logistics:
                    if seg_id not in s.segments:
                        errors.append(f"{kind}.{pid}.logistics.{seg_id}: unknown segment")
            if isinstance(pl.capacity, dict):
                for p in pl.capacity:
                    if p not in periods:
                        errors.append(f"{kind}.{pid}.capacity.{p}: not one of the periods")
    for cid, c in s.candidates.items():
        if c.expands is not None and c.expands not in s.plants:
            errors.append(f"candidates.{cid}.expands: unknown plant {c.expands!r}")
        if c.expands is not None and c.expands in {
            x.expands for k, x in s.candidates.items() if k != cid
        }:
            errors.append(
                f"candidates.{cid}.expands: another candidate already expands {c.expands!r}"
            )
        if c.expands is None and cid in s.plants:
            errors.append(f"candidates.{cid}: same id as a plant; use `expands: {cid}`")
    for i, f in enumerate(s.content_floors):
        for seg_id in f.segments:
            if seg_id not in s.segments:
                errors.append(f"content_floors.{i}.segments: unknown segment {seg_id!r}")
    if errors:
        raise ValueError("; ".join(errors))


def _format(e: ValidationError, origin: str) -> ScenarioError:
    lines = []
    for err in e.errors():
        path = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        if not path and ": " in msg:  # cross-reference errors carry their own paths
            lines += [m.strip() for m in msg.split("; ")]
        else:
            lines.append(f"{path}: {msg}" if path else msg)
    head = f"{origin}: {len(lines)} problem(s) in the scenario"
    return ScenarioError("\n  ".join([head, *lines]))


def parse_scenario(data: dict[str, Any], origin: str = "scenario") -> Scenario:
    """Check a scenario given as a mapping; raise :class:`ScenarioError` with key paths.

    Parameters
    ----------
    data : dict
        The parsed YAML.
    origin : str
        Where it comes from, for the message (e.g. the file name).

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        When ``data`` is not a mapping or does not fit the schema.
    """
    if not isinstance(data, dict):
        raise ScenarioError(
            f"{origin}: expected a mapping at the top level, got {type(data).__name__}"
        )
    try:
        return Scenario.model_validate(data)
    except ValidationError as e:
        raise _format(e, origin) from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario YAML file.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        When the file does not exist, is not valid YAML or does not fit the schema.

    Examples
    --------
    >>> from onshore.plan.scenario import load_scenario, bundled
    >>> load_scenario(bundled("ses_korea")).periods[0]
    2026
    """
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_bytes().decode("utf-8-sig"))
    except FileNotFoundError:
        raise ScenarioError(f"{p}: no such scenario file") from None
    except OSError as e:
        raise ScenarioError(f"{p}: cannot read ({e.strerror})") from None
    except UnicodeDecodeError as e:
        raise ScenarioError(
            f"{p}: expected UTF-8 text; byte 0x{e.object[e.start]:02x} at offset {e.start} is not"
        ) from None
    except yaml.YAMLError as e:
        raise ScenarioError(f"{p}: not valid YAML ({e})") from None
    return parse_scenario(data, origin=str(p))


def bundled(name: str) -> Path:
    """The path of a scenario shipped in ``onshore/data/scenarios``.

    Parameters
    ----------
    name : str
        The file name without ``.yaml``.

    Returns
    -------
    Path
        The absolute path (not checked for existence).
    """
    return Path(__file__).resolve().parent.parent / "data" / "scenarios" / f"{name}.yaml"


def per_period(value: PerPeriod, periods: list[int]) -> list[float]:
    """A scalar or a {year: value} mapping as one value per period (missing years are 0).

    Parameters
    ----------
    value : float or dict of int to float
    periods : list of int

    Returns
    -------
    list of float
        One value per period.
    """
    if isinstance(value, dict):
        return [float(value.get(p, 0.0)) for p in periods]
    return [float(value)] * len(periods)


def per_key(value: float | dict[str, float], key: str, default: float) -> float:
    """A scalar or a {key: value} mapping read for one key.

    Parameters
    ----------
    value : float or dict of str to float
    key : str
    default : float
        The value when the mapping has neither ``key`` nor ``"*"``.

    Returns
    -------
    float
        The scalar, else ``value[key]``, else ``value["*"]``, else ``default``.
    """
    if isinstance(value, dict):
        return float(value.get(key, value.get("*", default)))
    return float(value)


def resolve_from_store(s: Scenario, network: Any | None) -> Scenario:
    """Fill plant facts (company, country, owner country) from the store's facilities.

    Facts the scenario states are kept; the owner country is the company's headquarters
    country, else its country; the name the facility's.

    Parameters
    ----------
    s : Scenario
    network : Network, optional
        Without it (or when no plant names a ``facility``) the scenario is returned as is.

    Returns
    -------
    Scenario
        A copy with the plants and candidates that name a facility filled in.

    Raises
    ------
    ScenarioError
        When a plant names a facility that is not in the store.
    """
    if network is None or not any(p.facility for p in [*s.plants.values(), *s.candidates.values()]):
        return s
    fac = network.facilities.set_index("id")
    comp = network.companies.set_index("id") if len(network.companies) else None
    errors = []

    def fill(kind: str, pid: str, p: Plant) -> Plant:
        if p.facility is None:
            return p
        if p.facility not in fac.index:
            errors.append(f"{kind}.{pid}.facility: {p.facility!r} is not in the store")
            return p
        row = fac.loc[p.facility]
        upd: dict[str, Any] = {
            "company": p.company or row["company"],
            "country": p.country or row["country"],
        }
        if p.owner_country is None and comp is not None and upd["company"] in comp.index:
            c = comp.loc[upd["company"]]
            upd["owner_country"] = c.get("hq_country") or c.get("country")
        if p.name is None:
            upd["name"] = row["name"]
        return p.model_copy(update=upd)

    plants = {k: fill("plants", k, v) for k, v in s.plants.items()}
    cands = {k: fill("candidates", k, v) for k, v in s.candidates.items()}
    if errors:
        raise ScenarioError("\n  ".join([f"{len(errors)} problem(s) resolving plants", *errors]))
    return s.model_copy(update={"plants": plants, "candidates": cands})
