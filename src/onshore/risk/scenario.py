"""The cut-off scenario: a YAML file checked against a pydantic schema.

A scenario removes or caps supply from a country (its exports by default), a company or a
facility, for chosen materials, from a month on, for a number of months; buyers may hold
inventories (days of cover) and substitute capacity may ramp up. A Monte Carlo section
gives the number of draws and the seed; each cut-off carries its probability and the
distribution of its duration. Example (``data/scenarios/graphite_cutoff.yaml``)::

    name: China halts graphite anode exports
    start: 2026-01          # first simulated month
    horizon: 18             # months
    cutoffs:
      - country: CN
        materials: [anode_graphite]
        cap: 0.0            # share of the baseline still shipped (0 = halt)
        months: 6
        probability: 0.3    # Monte Carlo only
        duration: {dist: uniform, low: 3, high: 12}
    inventories: [{stage: cell, days: 30}]
    substitutes:
      - {material: anode_graphite, capacity: 20000, unit: t, from: 2026-04, ramp_months: 6}
    montecarlo: {draws: 1000, seed: 7}

Errors name the key path, e.g. ``cutoffs.0.months: a duration of 0 months or more``.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from onshore.errors import ScenarioError
from onshore.network import Network
from onshore.records import units
from onshore.records.countries import normalize_country

__all__ = [
    "Cutoff",
    "Duration",
    "Scenario",
    "bundled",
    "check_against",
    "load_scenario",
    "month_index",
    "parse_scenario",
]

_MONTH = re.compile(r"^(\d{4})(?:-(0[1-9]|1[0-2])(?:-(?:0[1-9]|[12]\d|3[01]))?)?$")


def month_index(d: str) -> int:
    """Months since year 0 of a date 'YYYY', 'YYYY-MM' or 'YYYY-MM-DD' (a year is its January).

    Parameters
    ----------
    d : str
        The date.

    Returns
    -------
    int
        ``year * 12 + month - 1``.

    Raises
    ------
    ValueError
        When ``d`` is not in one of the three forms (the schema turns it into a message).
    """
    m = _MONTH.match(str(d))
    if not m:
        raise ValueError("a date as YYYY, YYYY-MM or YYYY-MM-DD")
    return int(m.group(1)) * 12 + int(m.group(2) or 1) - 1


def _date(v: Any) -> str | None:
    if v is None:
        return None
    s = str(v)
    month_index(s)
    return s


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Duration(_Base):
    """A distribution of durations in months: fixed, uniform, triangular or exponential."""

    dist: Literal["fixed", "uniform", "triangular", "exponential"] = "uniform"
    low: float = Field(default=0.0, ge=0, description="months")
    high: float | None = Field(None, ge=0)
    mode: float | None = Field(None, ge=0)
    mean: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _shape(self) -> Duration:
        if self.dist in ("uniform", "triangular") and (self.high is None or self.high < self.low):
            raise ValueError("'high' at or above 'low' for a uniform or triangular duration")
        if self.dist == "triangular" and not (
            self.mode is not None and self.low <= self.mode <= (self.high or 0)
        ):
            raise ValueError("'mode' between 'low' and 'high'")
        if self.dist == "exponential" and self.mean is None:
            raise ValueError("'mean' for an exponential duration")
        return self

    def sample(self, rng: np.random.Generator, size: int, fixed: float) -> np.ndarray:
        """Durations in months (``fixed`` for the fixed distribution).

        Parameters
        ----------
        rng : numpy.random.Generator
        size : int
            The number of durations.
        fixed : float
            The duration of the ``fixed`` distribution (the cut-off's ``months``).

        Returns
        -------
        ndarray, shape (size,)
            Durations in months (not rounded); for an exponential, ``low`` plus an exponential
            of mean ``mean``.
        """
        if self.dist == "fixed":
            return np.full(size, fixed)
        if self.dist == "uniform":
            return rng.uniform(self.low, float(self.high), size)  # type: ignore[arg-type]
        if self.dist == "triangular":
            lo, hi = self.low, float(self.high)  # type: ignore[arg-type]
            return lo if lo == hi else rng.triangular(lo, float(self.mode), hi, size)  # type: ignore[return-value,arg-type]
        return self.low + rng.exponential(float(self.mean), size)  # type: ignore[arg-type]


class Cutoff(_Base):
    """Supply removed or capped from one country, company or facility."""

    country: str | None = None
    company: str | None = None
    facility: str | None = None
    materials: list[str] | None = Field(None, description="default: every material")
    exports_only: bool = Field(True, description="a country cut-off spares its home customers")
    cap: float = Field(default=0.0, ge=0, description="share of the baseline still shipped, 0..1")
    cap_quantity: float | None = Field(None, ge=0, description="or: yearly quantity still shipped")
    unit: str | None = None
    from_: str | None = Field(None, alias="from")
    months: float | None = Field(None, description="duration; none = to the horizon")
    probability: float = Field(default=1.0, ge=0, le=1)
    duration: Duration | None = None

    _from = field_validator("from_")(classmethod(lambda cls, v: _date(v)))

    @field_validator("country")
    @classmethod
    def _country(cls, v: str | None) -> str | None:
        return None if v is None else normalize_country(v)

    @field_validator("months")
    @classmethod
    def _months(cls, v: float | None) -> float | None:
        if v is not None and v < 0:
            raise ValueError("a duration of 0 months or more")
        return v

    @field_validator("cap")
    @classmethod
    def _cap(cls, v: float) -> float:
        if v > 1:
            raise ValueError(
                "a cap of at most 1 (the share of baseline supply kept); a cap above capacity"
            )
        return v

    @field_validator("unit")
    @classmethod
    def _unit(cls, v: str | None) -> str | None:
        if v is None:
            return None
        try:
            return units.normalize(v)
        except units.UnitError as e:
            raise ValueError(str(e)) from None

    @model_validator(mode="after")
    def _one_target(self) -> Cutoff:
        if sum(x is not None for x in (self.country, self.company, self.facility)) != 1:
            raise ValueError("exactly one of 'country', 'company' or 'facility'")
        if self.cap_quantity is not None and self.unit is None:
            raise ValueError("a 'unit' for 'cap_quantity'")
        return self

    @property
    def target(self) -> tuple[str, str]:
        """('country'|'company'|'facility', id).

        Returns
        -------
        tuple of (str, str)
            The kind of target and its id (the one of the three that is set).
        """
        for k in ("country", "company", "facility"):
            v = getattr(self, k)
            if v is not None:
                return k, v
        raise AssertionError


class Inventory(_Base):
    """Stock held by buyers, in days of their input use, for a material and/or stage."""

    material: str | None = None
    stage: str | None = None
    days: float = Field(ge=0)


class Substitute(_Base):
    """New capacity of a material that ramps up linearly to ``capacity`` per year."""

    material: str
    capacity: float = Field(gt=0)
    unit: str | None = None
    country: str | None = None
    from_: str | None = Field(None, alias="from")
    ramp_months: float = Field(default=0.0, ge=0)

    _from = field_validator("from_")(classmethod(lambda cls, v: _date(v)))
    _country = field_validator("country")(
        classmethod(lambda cls, v: None if v is None else normalize_country(v))
    )


class MonteCarlo(_Base):
    """How many draws, from which seed."""

    draws: int = Field(default=1000, gt=0)
    seed: int = 0


class Scenario(_Base):
    """A cut-off scenario (see the module docstring)."""

    name: str = "scenario"
    description: str | None = None
    start: str
    horizon: int = Field(default=12, gt=0, le=240, description="months")
    base_period: str | None = None
    cutoffs: list[Cutoff] = Field(min_length=1)
    inventories: list[Inventory] = Field(default_factory=list)
    substitutes: list[Substitute] = Field(default_factory=list)
    market: bool = Field(True, description="buyers may buy from any maker's spare capacity")
    montecarlo: MonteCarlo = Field(default_factory=MonteCarlo)
    source: str | None = None

    _start = field_validator("start")(classmethod(lambda cls, v: _date(v)))

    def month_of(self, d: str | None) -> int:
        """The simulated month (0 = start) of a date; 0 when none is given.

        Parameters
        ----------
        d : str, optional
            A date 'YYYY', 'YYYY-MM' or 'YYYY-MM-DD'.

        Returns
        -------
        int
            Months from ``start`` (negative before it).
        """
        return 0 if d is None else month_index(d) - month_index(self.start)


def _format(e: ValidationError, origin: str) -> ScenarioError:
    lines = []
    for err in e.errors():
        path = ".".join(str(p) for p in err["loc"]).replace("from_", "from")
        msg = str(err["msg"]).removeprefix("Value error, ")
        lines.append(f"{path}: {msg}" if path else msg)
    return ScenarioError(
        "\n  ".join([f"{origin}: {len(lines)} problem(s) in the scenario", *lines])
    )


def parse_scenario(data: Any, origin: str = "scenario", network: Network | None = None) -> Scenario:
    """Check a scenario given as a mapping; raise :class:`ScenarioError` naming key paths.

    Parameters
    ----------
    data : mapping
        The parsed YAML.
    origin : str
        Where it comes from, for the messages (e.g. the file name).
    network : Network, optional
        When given, the ids and absolute caps are checked against it
        (:func:`check_against`).

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        When ``data`` is not a mapping or does not fit the schema (or the network).
    """
    if not isinstance(data, dict):
        raise ScenarioError(f"{origin}: a mapping of keys (name, start, cutoffs, ...) at the top")
    try:
        sc = Scenario.model_validate(data)
    except ValidationError as e:
        raise _format(e, origin) from None
    if network is not None:
        check_against(sc, network, origin)
    return sc


def load_scenario(path: str | Path, network: Network | None = None) -> Scenario:
    """Read and check a scenario YAML file (against ``network`` when given).

    Parameters
    ----------
    path : str or Path
    network : Network, optional
        When given, the ids and absolute caps are checked against it.

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        When the file cannot be read, is not valid YAML or does not fit the schema.
    """
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_bytes().decode("utf-8-sig"))
    except OSError as e:
        raise ScenarioError(f"{p}: cannot read ({e.strerror})") from None
    except UnicodeDecodeError as e:
        raise ScenarioError(
            f"{p}: expected UTF-8 text; byte 0x{e.object[e.start]:02x} at offset {e.start} is not"
        ) from None
    except yaml.YAMLError as e:
        raise ScenarioError(f"{p}: not valid YAML ({e})") from None
    return parse_scenario(data, str(p), network)


def bundled(name: str) -> Path:
    """The path of a scenario shipped with onshore, e.g. ``bundled("graphite_cutoff")``.

    Parameters
    ----------
    name : str
        The file name without ``.yaml``.

    Returns
    -------
    Path
        ``onshore/data/scenarios/<name>.yaml`` (not checked for existence).
    """
    return Path(str(resources.files("onshore") / "data" / "scenarios" / f"{name}.yaml"))


def check_against(sc: Scenario, network: Network, origin: str = "scenario") -> None:
    """Check the ids a scenario names, and absolute caps, against a network.

    Parameters
    ----------
    sc : Scenario
    network : Network
    origin : str
        Where the scenario comes from, for the message.

    Returns
    -------
    None

    Raises
    ------
    ScenarioError
        Listing every unknown country, company, facility or material and every
        ``cap_quantity`` above the targeted plants' capacity (or in an unconvertible unit).
    """
    from onshore.risk.supply import capacity_in_material_units, output_material

    fac = network.facilities
    mats = set(network.materials["id"].astype(str))
    comps = set(network.companies["id"].astype(str))
    countries = set(fac["country"].astype(str))
    cap = capacity_in_material_units(network)
    out_mat = output_material(network)
    problems = []
    for i, c in enumerate(sc.cutoffs):
        kind, ident = c.target
        known = {"country": countries, "company": comps, "facility": set(fac["id"].astype(str))}[
            kind
        ]
        if ident not in known:
            problems.append(
                f"cutoffs.{i}.{kind}: {ident!r} has no facility in the network"
                if kind == "country"
                else f"cutoffs.{i}.{kind}: unknown {kind} {ident!r}"
            )
            continue
        for j, m in enumerate(c.materials or []):
            if m not in mats:
                problems.append(f"cutoffs.{i}.materials.{j}: unknown material {m!r}")
        if c.cap_quantity is not None:
            sel = fac[kind if kind != "facility" else "id"].astype(str) == ident
            ids = fac["id"].astype(str)[sel]
            if c.materials:
                ids = ids[out_mat.reindex(ids).isin(c.materials).to_numpy()]
            mu = (
                network.materials.set_index("id")["unit"].get(c.materials[0])
                if c.materials
                else None
            )
            total = float(cap.reindex(ids).sum())
            try:
                q = c.cap_quantity * (units.factor(str(c.unit), str(mu)) if mu else 1.0)
            except units.UnitError as e:
                problems.append(f"cutoffs.{i}.unit: {e}")
                continue
            if q > total:
                problems.append(
                    f"cutoffs.{i}.cap_quantity: {c.cap_quantity:g} {c.unit} is above the capacity "
                    f"of the targeted plants ({total:g} {mu or ''})"
                )
    for i, s in enumerate(sc.substitutes):
        if s.material not in mats:
            problems.append(f"substitutes.{i}.material: unknown material {s.material!r}")
    for i, inv in enumerate(sc.inventories):
        if inv.material is not None and inv.material not in mats:
            problems.append(f"inventories.{i}.material: unknown material {inv.material!r}")
    if problems:
        raise ScenarioError(
            "\n  ".join([f"{origin}: {len(problems)} problem(s) in the scenario", *problems])
        )
