"""The core model: plain typed records for a battery supply network.

Company, Ownership, Facility, Material, Bom, Flow and Licence, each carrying its
provenance (``source``, ``estimate``, ``note``). Single-record rules (country codes,
fractions, positive quantities, known units, dates) live on the records; rules that
span records (keys, references, owners over 100 %) live in :mod:`onshore.records.integrity`.
``TABLES`` declares each record's table, key and references as data.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from onshore.records import units
from onshore.records.countries import normalize_country


class Stage(StrEnum):
    """A processing stage of the lithium-ion chain, upstream to downstream."""

    MINE = "mine"
    REFINE = "refine"
    PRECURSOR = "precursor"
    CATHODE = "cathode"
    ANODE = "anode"
    ELECTROLYTE = "electrolyte"
    SEPARATOR = "separator"
    CELL = "cell"
    PACK = "pack"
    DEVICE = "device"
    RECYCLE = "recycle"
    MARKET = "market"
    """A country-level market pool (imports or production of one material, passed through to
    its customers): it has a country but makes nothing, so a trace by stage does not count
    it at the stage of the material it carries."""


STAGE_RANK: dict[str, int] = {
    Stage.MINE: 0,
    Stage.REFINE: 1,
    Stage.PRECURSOR: 2,
    Stage.CATHODE: 3,
    Stage.ANODE: 3,
    Stage.ELECTROLYTE: 3,
    Stage.SEPARATOR: 3,
    Stage.CELL: 4,
    Stage.PACK: 5,
    Stage.DEVICE: 6,
    Stage.RECYCLE: 7,
    Stage.MARKET: 7,
    "unknown": 8,
}
"""Upstream-to-downstream rank of each stage (components share a rank; ``unknown``, the stage
of an input no plant is recorded to make, comes last). The one definition of stage order."""

STAGE_ORDER: tuple[str, ...] = tuple(s.value for s in Stage)
"""The stages upstream to downstream, as strings."""


class CompanyKind(StrEnum):
    """What a company row stands for: a company, a state (a government, e.g. via SASAC), a
    person, or the producers of a country that are not identified (the origin of a market
    pool: no company is named, so no test may clear it)."""

    COMPANY = "company"
    STATE = "state"
    PERSON = "person"
    UNIDENTIFIED = "unidentified"


class MaterialKind(StrEnum):
    RAW = "raw"
    INTERMEDIATE = "intermediate"
    CELL = "cell"
    PACK = "pack"
    DEVICE = "device"


class Status(StrEnum):
    OPERATING = "operating"
    CONSTRUCTION = "construction"
    PLANNED = "planned"
    PAUSED = "paused"
    CLOSED = "closed"
    CONVERTED = "converted"
    CANCELLED = "cancelled"


_DATE = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$")
_PERIOD = re.compile(r"^\d{4}(-(Q[1-4]|0[1-9]|1[0-2]))?$")
_ID = re.compile(r"^[^\s:,;][^:,;\n]*$")


def _blank_to_none(v: Any) -> Any:
    if isinstance(v, str) and v.strip() == "":
        return None
    if isinstance(v, float) and math.isnan(v):  # NaN from spreadsheets and Parquet
        return None
    return v


def _to_str(v: Any) -> Any:
    v = _blank_to_none(v)
    if isinstance(v, int | float) and not isinstance(v, bool):
        # a year typed as a number in a spreadsheet (2025 or 2025.0)
        return str(int(v)) if float(v).is_integer() else str(v)
    return v


def _to_aliases(v: Any) -> Any:
    v = _blank_to_none(v)
    if v is None:
        return ()
    if isinstance(v, str):
        return tuple(a.strip() for a in v.split(";") if a.strip())
    if not isinstance(v, list | tuple):
        # a ValueError, not a TypeError: pydantic reports only the former as a row error
        raise ValueError("names separated by ';' (or a list of names)")  # noqa: TRY004
    return tuple(v)


Opt = Annotated[Any, BeforeValidator(_blank_to_none)]
Text = Annotated[str, BeforeValidator(_to_str)]
OptText = Annotated[str | None, BeforeValidator(_to_str)]
Fraction = Annotated[
    Annotated[float, Field(ge=0.0, le=1.0)] | None, BeforeValidator(_blank_to_none)
]
Positive = Annotated[float, BeforeValidator(_blank_to_none), Field(gt=0.0)]
OptNonNeg = Annotated[Annotated[float, Field(ge=0.0)] | None, BeforeValidator(_blank_to_none)]
Flag = Annotated[bool, BeforeValidator(lambda v: False if _blank_to_none(v) is None else v)]


class FieldProblem(ValueError):
    """A record-level check that is about one column: names it, so the message can show
    that column's value rather than none."""

    def __init__(self, column: str, expected: str) -> None:
        self.column = column
        super().__init__(expected)


def known_unit(v: str) -> str:
    """The canonical unit name; a ValueError naming the known units otherwise."""
    try:
        return units.normalize(v)
    except units.UnitError:
        raise ValueError(
            f"a known unit: {', '.join(units.UNITS)} (a rate may end in '/yr')"
        ) from None


def check_date(v: str | None) -> str | None:
    """A date written YYYY, YYYY-MM or YYYY-MM-DD (a bare year is a whole year)."""
    if v is not None and not _DATE.match(v):
        raise ValueError("a date as YYYY, YYYY-MM or YYYY-MM-DD")
    return v


def check_id(v: str) -> str:
    if not _ID.match(v):
        raise ValueError("an id without ':', ',', ';' or leading space")
    return v


class Record(BaseModel):
    """Base of every record: frozen, strict about unknown fields, with provenance."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)
    table: ClassVar[str]

    source: OptText = None
    estimate: Flag = False
    note: OptText = None


class Company(Record):
    """A company, a state (a government as owner) or a person."""

    table: ClassVar[str] = "companies"
    id: Text
    name: Text
    aliases: Annotated[tuple[str, ...], BeforeValidator(_to_aliases)] = ()
    country: Text
    hq_country: OptText = None
    kind: CompanyKind = CompanyKind.COMPANY

    _id = field_validator("id")(check_id)

    @field_validator("country", "hq_country")
    @classmethod
    def _country(cls, v: str | None) -> str | None:
        return None if v is None else normalize_country(v)


class Ownership(Record):
    """A holding of ``owner`` in ``owned``: fractions of equity, votes, board seats, debt."""

    table: ClassVar[str] = "ownership"
    owner: Text
    owned: Text
    equity: Fraction = None
    voting: Fraction = None
    board: Fraction = None
    debt: Fraction = None
    as_of: OptText = None

    _as_of = field_validator("as_of")(check_date)

    @model_validator(mode="after")
    def _not_self(self) -> Ownership:
        if self.owner == self.owned:
            raise FieldProblem("owner", "an owner other than the owned company itself")
        return self


class Facility(Record):
    """A plant or mine of a company at one stage, with its yearly capacity."""

    table: ClassVar[str] = "facilities"
    id: Text
    company: Text
    name: Text
    country: Text
    lat: Annotated[
        Annotated[float, Field(ge=-90, le=90)] | None, BeforeValidator(_blank_to_none)
    ] = None
    lon: Annotated[
        Annotated[float, Field(ge=-180, le=180)] | None, BeforeValidator(_blank_to_none)
    ] = None
    stage: Stage
    material: OptText = None
    capacity: OptNonNeg = None
    unit: OptText = None
    status: Annotated[Status, BeforeValidator(lambda v: _blank_to_none(v) or "operating")] = (
        Status.OPERATING
    )
    since: OptText = None
    until: OptText = None

    _id = field_validator("id")(check_id)
    _dates = field_validator("since", "until")(check_date)

    @field_validator("country")
    @classmethod
    def _country(cls, v: str) -> str:
        return normalize_country(v)

    @field_validator("unit")
    @classmethod
    def _unit(cls, v: str | None) -> str | None:
        return None if v is None else known_unit(v)

    @model_validator(mode="after")
    def _capacity_has_unit(self) -> Facility:
        if self.capacity is not None and self.unit is None:
            raise FieldProblem("unit", "a unit for the capacity (e.g. t, GWh, cells)")
        if self.since and self.until and self.until < self.since:
            raise FieldProblem("until", "'until' on or after 'since'")
        return self


class Material(Record):
    """A material or product, counted in ``unit``, optionally with a price per unit."""

    table: ClassVar[str] = "materials"
    id: Text
    name: Text
    kind: MaterialKind
    unit: Text
    price: OptNonNeg = None
    currency: OptText = None
    price_year: Annotated[int | None, BeforeValidator(_blank_to_none)] = None

    _id = field_validator("id")(check_id)

    @field_validator("unit")
    @classmethod
    def _unit(cls, v: str) -> str:
        return known_unit(v)

    @model_validator(mode="after")
    def _price(self) -> Material:
        if self.price is not None:
            if self.currency is None:
                raise FieldProblem("currency", "a currency (USD, EUR, KRW, CNY) for the price")
            if not units.is_currency(self.currency):
                raise FieldProblem("currency", f"a currency among {', '.join(units.CURRENCIES)}")
        return self


class Bom(Record):
    """A recipe line: ``quantity`` of ``input`` per one unit of ``output``.

    A row naming a facility overrides the generic recipe for that plant. A recipe may take
    its output as its input in two ways: *own use*, less than one unit per unit (a power
    plant's own electricity, an input-output sector's use of its own product; any row), or
    *pass-through*, exactly one unit per unit on a facility's own row (a market pool or
    trader passing the material on from its suppliers). One unit or more of itself on a
    generic row, or more than one anywhere, would create mass and is refused.
    """

    table: ClassVar[str] = "boms"
    output: Text
    input: Text
    quantity: Positive
    unit: OptText = None
    facility: OptText = None

    @field_validator("unit")
    @classmethod
    def _unit(cls, v: str | None) -> str | None:
        if v is None:
            return None
        parts = v.split("/")
        if len(parts) != 2:
            raise ValueError("a ratio unit such as 'kg/kWh' (input unit per output unit)")
        return f"{known_unit(parts[0])}/{known_unit(parts[1])}"

    @model_validator(mode="after")
    def _not_self(self) -> Bom:
        own_use = self.quantity < 1
        pass_through = self.facility is not None and self.quantity == 1
        if self.output == self.input and not (own_use or pass_through):
            raise FieldProblem(
                "input",
                "an input other than the output itself, or less than one unit of it per unit "
                "(own use); only a facility's own recipe may pass its output through, with "
                "quantity 1",
            )
        return self


class Flow(Record):
    """What moved from one facility to another in a period: the evidence of supply.

    A flow whose supplier is its customer is *own use*: the facility consumed part of its
    own output (an input-output table's diagonal). The trace counts it as one more supplier
    of the customer's input, the facility itself, exactly (a diagonal entry of ``A``).
    """

    table: ClassVar[str] = "flows"
    supplier: Text
    customer: Text
    material: Text
    quantity: Positive
    unit: Text
    period: Text

    @field_validator("unit")
    @classmethod
    def _unit(cls, v: str) -> str:
        return known_unit(v)

    @field_validator("period")
    @classmethod
    def _period(cls, v: str) -> str:
        if not _PERIOD.match(v):
            raise ValueError("a period as YYYY, YYYY-Qn or YYYY-MM")
        return v


class Licence(Record):
    """Technology used under licence, e.g. a US plant making cells on a Chinese design."""

    table: ClassVar[str] = "licences"
    licensor: Text
    licensee: Text
    technology: Text
    facility: OptText = None
    since: OptText = None
    until: OptText = None

    _dates = field_validator("since", "until")(check_date)


@dataclass(frozen=True)
class Table:
    """How a record type is stored: its key and the references it makes."""

    name: str
    record: type[Record]
    key: tuple[str, ...]
    refs: dict[str, str] = field(default_factory=dict)  # column -> referenced table

    @property
    def columns(self) -> list[str]:
        return list(self.record.model_fields)

    @property
    def required(self) -> list[str]:
        return [n for n, f in self.record.model_fields.items() if f.is_required()]

    def parse_key(self, text: str) -> tuple[str | None, ...]:
        """A row's key written as its parts joined by ':' ('owner:owned'); a blank part is
        None, and the trailing parts of a key of three or more parts may be left out.

        Raises
        ------
        InputError
            When ``text`` has more parts than the key, or too few for a short key.
        """
        from onshore.errors import InputError

        n = len(self.key)
        parts = [p or None for p in text.split(":", n - 1)]
        if len(parts) > n or (len(parts) < n < 3):
            raise InputError(f"{text!r}: a {self.name} key is {':'.join(self.key).upper()}")
        return tuple(parts + [None] * (n - len(parts)))


# In dependency order: a table only refers to tables before it.
TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table("companies", Company, ("id",)),
        Table("materials", Material, ("id",)),
        Table("facilities", Facility, ("id",), {"company": "companies", "material": "materials"}),
        Table(
            "ownership", Ownership, ("owner", "owned"), {"owner": "companies", "owned": "companies"}
        ),
        Table(
            "boms",
            Bom,
            ("output", "input", "facility"),
            {"output": "materials", "input": "materials", "facility": "facilities"},
        ),
        Table(
            "flows",
            Flow,
            ("supplier", "customer", "material", "period"),
            {"supplier": "facilities", "customer": "facilities", "material": "materials"},
        ),
        Table(
            "licences",
            Licence,
            ("licensor", "licensee", "technology", "facility"),
            {"licensor": "companies", "licensee": "companies", "facility": "facilities"},
        ),
    )
}


def date_bounds(d: str | None) -> tuple[str | None, str | None]:
    """The first and last ISO day a partial date covers: '2021' -> ('2021-01-01', '2021-12-31')."""
    if d is None:
        return None, None
    if len(d) == 4:
        return f"{d}-01-01", f"{d}-12-31"
    if len(d) == 7:
        import calendar

        y, m = int(d[:4]), int(d[5:7])
        return f"{d}-01", f"{d}-{calendar.monthrange(y, m)[1]:02d}"
    return d, d
