"""Rule files: the schema every rule must fit, and loading them (validated at load).

A rule file is YAML with a top-level ``rules:`` list; ``buyers.yaml`` declares the buyer
scopes (``buyers:`` mapping, each with an optional ``parent``). A file that does not fit
raises :class:`~onshore.errors.RuleError` naming the file and the key path, e.g.
``us_dod.yaml: rules[0] (US-NDAA24-154).test.affiliates: Input should be ...``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from onshore.errors import NotFound, RuleError

Stage = Literal[
    "mine",
    "refine",
    "precursor",
    "cathode",
    "anode",
    "electrolyte",
    "separator",
    "cell",
    "pack",
    "device",
    "recycle",
]
Basis = Literal["mass", "cost"]
Share = Annotated[float, Field(ge=0.0, le=1.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Entity(_Strict):
    """A named entity of a rule or list, with the names it goes by."""

    name: str
    aliases: tuple[str, ...] = ()
    company: str | None = None
    """The company id in the store, when known; otherwise names are matched."""
    listed_from: dt.date | None = None
    date_confirmed: bool = True
    """False when the listing date is unconfirmed: before it, a match gives UNKNOWN."""
    removed_on: dt.date | None = None
    """The first day the listing no longer applies."""
    state: Literal["listed", "unknown"] = "listed"
    """``unknown``: whether the entity is listed at all was not read; a match gives UNKNOWN."""
    identifiers: tuple[str, ...] = ()
    """Exact keys (tickers, registry numbers) matched against company aliases and ids."""
    country: str | None = None
    id: str | None = None
    """The entry id in its restricted list."""
    list: str | None = None
    """The restricted list the entity comes from."""
    subsidiaries: tuple[str, ...] = ()
    """Names of known subsidiaries (screened as the entity; not used to find store companies)."""
    note: str | None = None

    def listed_on(self, on: dt.date) -> bool:
        """Whether the listing applies on ``on`` (no date: listed whenever the rule is)."""
        if self.listed_from is not None and on < self.listed_from:
            return False
        return self.removed_on is None or on < self.removed_on


class NamedEntity(_Strict):
    """The product is produced by a named entity (or, per ``affiliates``, a related one)."""

    kind: Literal["named_entity"]
    list: str | None = None
    """A restricted list by id (``data/lists/ID.yaml``) whose entries are the named entities."""
    entities: tuple[Entity, ...] = ()
    produced_by: tuple[Stage, ...] = ("cell", "pack")
    affiliates: Literal["none", "controlled", "common_control"] = "controlled"
    """Relations that prohibit: 'controlled' = the entity and companies it controls."""
    uncertain: tuple[Literal["controller", "sister", "minority"], ...] = ()
    """Relations that give UNKNOWN (the wording that would settle them was not read)."""
    minority: Share = 0.25

    @model_validator(mode="after")
    def _entities(self) -> NamedEntity:
        if not self.entities and self.list is None:
            raise ValueError("give the entities, or a restricted list by id ('list: ndaa_154')")
        return self


class EntityList(_Strict):
    """The maker (``reach: maker``) or any upstream supplier is on a list."""

    kind: Literal["entity_list"]
    list: str
    """A restricted list by id (``data/lists/ID.yaml``); with inline ``entities``, the list's
    name."""
    label: str | None = None
    """How verdicts name the list (default: the list file's title, or ``list``)."""
    entities: tuple[Entity, ...] = ()
    reach: Literal["maker", "upstream"] = "maker"
    affiliates: Literal["none", "controlled"] = "controlled"

    @property
    def name(self) -> str:
        """The list's name in verdicts."""
        return self.label or self.list


class OriginCountry(_Strict):
    """Share of the product (of given raw materials) whose stages happened in given countries."""

    kind: Literal["origin_country"]
    stages: tuple[Stage, ...] = Field(min_length=1)
    countries: tuple[str, ...] = Field(min_length=1)
    materials: tuple[str, ...] = ()
    """Keywords matched in raw-material ids and names; empty means every material."""
    basis: Basis = "mass"
    max_share: Share = 0.0
    """Prohibited when the share in ``countries`` is above this."""


class FeocContent(_Strict):
    """FEOC share of component value, final assembly and licences (10 U.S.C. 4865 safe harbour)."""

    kind: Literal["feoc_content"]
    component_stages: tuple[Stage, ...] = Field(min_length=1)
    basis: Basis = "cost"
    max_feoc_share: Share = 0.05
    final_assembly_stages: tuple[Stage, ...] = ("cell", "pack")
    no_feoc_licence: bool = True
    threshold: Share = 0.25
    exclusions: tuple[str, ...] = ()


class OwnershipThreshold(_Strict):
    """The maker (or every upstream maker) fails an ownership test (FEOC or 45X PFE)."""

    kind: Literal["ownership_threshold"]
    holder: Literal["covered_government", "specified_foreign_entity"]
    lists: tuple[str, ...] = ()
    """Restricted lists by id whose entries are listed entities (added to ``listed``)."""
    listed: tuple[Entity, ...] = ()
    single: Share = 0.25
    together: Share = 0.40
    debt: Share = 0.15


class ContentThresholdByYear(_Strict):
    """A share that must reach a threshold that changes by calendar year."""

    kind: Literal["content_threshold_by_year"]
    measure: Literal["qualifying_country", "non_feoc", "non_pfe"]
    stages: tuple[Stage, ...] = Field(min_length=1)
    countries: tuple[str, ...] = ()
    either_stage: bool = False
    """A unit qualifies when any one of its ``stages`` happened in ``countries``."""
    basis: Basis = "cost"
    thresholds: dict[int, Share] = Field(min_length=1)
    lists: tuple[str, ...] = ()
    """Restricted lists by id whose entries are listed entities (added to ``listed``)."""
    listed: tuple[Entity, ...] = ()


class Informational(_Strict):
    """An obligation to know about; no pass or fail."""

    kind: Literal["informational"]
    message: str


class Always(_Strict):
    """When in force and in scope, the rule's verdict holds whatever the product (e.g. a credit
    ended)."""

    kind: Literal["always"]
    message: str


class Rate(_Strict):
    category: str
    origins: tuple[str, ...] = Field(min_length=1)
    rate: Annotated[float, Field(ge=0.0)]
    previous: Annotated[float, Field(ge=0.0)] | None = None
    effective_from: dt.date
    effective_until: dt.date | None = None
    confirmation: Literal["verified", "secondary", "unconfirmed"] = "secondary"


class Tariff(_Strict):
    """Dated duty rates per product category and origin (read by the planner)."""

    kind: Literal["tariff"]
    rates: tuple[Rate, ...] = Field(min_length=1)
    product_categories: dict[str, str] = {}
    """Material kind (cell, pack, raw, ...) -> the category whose rate applies."""
    alternatives: dict[str, str] = {}
    """Material kind -> a second category whose rate is shown beside the first, for products the
    store cannot tell apart (e.g. an EV and a non-EV lithium-ion battery)."""


Test = Annotated[
    NamedEntity
    | EntityList
    | OriginCountry
    | FeocContent
    | OwnershipThreshold
    | ContentThresholdByYear
    | Informational
    | Always
    | Tariff,
    Field(discriminator="kind"),
]


class Source(_Strict):
    url: str = Field(pattern=r"^https?://")
    title: str | None = None


class Rule(_Strict):
    """One dated, cited rule: who it binds, what it tests and the verdict it gives."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    version: int = Field(ge=1)
    title: str
    jurisdiction: str
    citation: str
    sources: tuple[Source, ...] = Field(min_length=1)
    status: Literal["enacted", "bill", "proposed"]
    confirmation: Literal["verified", "secondary", "unconfirmed"]
    effective_from: dt.date
    effective_until: dt.date | None = None
    """The last day the rule applies (inclusive); none when open-ended."""
    buyers: tuple[str, ...] = Field(min_length=1)
    test: Test
    verdict: Literal["prohibited", "not_eligible", "informational"] = "prohibited"
    reading: str | None = None
    """How the text was read where it is unconfirmed or open."""
    note: str | None = None

    @model_validator(mode="after")
    def _dates(self) -> Rule:
        if self.effective_until is not None and self.effective_until < self.effective_from:
            raise ValueError("effective_until on or after effective_from")
        return self

    def in_force(self, on: dt.date) -> bool:
        """True when ``on`` lies in [effective_from, effective_until]."""
        return self.effective_from <= on and (
            self.effective_until is None or on <= self.effective_until
        )

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.sources]


class Buyer(_Strict):
    title: str
    parent: str | None = None


class _RuleFile(_Strict):
    rules: tuple[Rule, ...] = Field(min_length=1)


class _BuyerFile(_Strict):
    buyers: dict[str, Buyer] = Field(min_length=1)


@dataclass
class RuleSet:
    """Every rule loaded, by id, with the buyer scopes."""

    rules: dict[str, Rule] = field(default_factory=dict)
    buyers: dict[str, Buyer] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    """Rule id -> the file it came from."""

    def get(self, rule_id: str) -> Rule:
        try:
            return self.rules[rule_id]
        except KeyError:
            raise NotFound(f"no rule {rule_id!r}; see 'onshore rules list'") from None

    def scopes(self, buyer: str) -> list[str]:
        """The buyer and its parents ('dod_new_program' -> ['dod_new_program', 'dod'])."""
        if buyer not in self.buyers:
            raise NotFound(f"no buyer scope {buyer!r}; known: {', '.join(self.buyers)}")
        out = [buyer]
        while (p := self.buyers[out[-1]].parent) is not None and p not in out:
            out.append(p)
        return out

    def for_buyer(self, buyer: str) -> list[Rule]:
        """The rules that bind ``buyer`` (directly or through a parent scope)."""
        s = set(self.scopes(buyer))
        return [r for r in self.rules.values() if s.intersection(r.buyers)]

    def tariff_rate(self, category: str, origin: str, on: dt.date) -> float | None:
        """The dated duty rate for a product category from an origin, or None when no rule has
        one."""
        for r in self.rules.values():
            if isinstance(r.test, Tariff) and r.in_force(on):
                for rate in r.test.rates:
                    if (
                        rate.category == category
                        and origin in rate.origins
                        and rate.effective_from <= on
                        and (rate.effective_until is None or on <= rate.effective_until)
                    ):
                        return rate.rate
        return None


def _path(loc: Iterable[Any], data: Any) -> str:
    out, node = "", data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            if isinstance(node, list) and 0 <= part < len(node):
                node = node[part]
                if isinstance(node, dict) and "id" in node and out.count("[") == 1:
                    out += f" ({node['id']})"
                continue
        else:
            out += f".{part}" if out else str(part)
        node = node.get(part) if isinstance(node, dict) else None
    return out


_SAFE: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""YAML's safe loader, its scanner and parser in C (libyaml) where PyYAML was built with it:
the same documents and the same safe constructors, read several times faster."""


class _Loader(_SAFE):  # type: ignore[misc]
    """YAML's safe loader, except that a date which does not exist (``2027-02-30``) stays a
    string, so that the schema refuses it naming its key path instead of YAML failing."""


def _timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError:
        return loader.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


def _parse(name: str, text: str, model: type[BaseModel]) -> Any:
    try:
        data = yaml.load(text, Loader=_Loader)  # a SafeLoader
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise RuleError(f"{name}:{where}: not valid YAML ({getattr(e, 'problem', e)})") from None
    try:
        return model.model_validate(data)
    except ValidationError as e:
        msgs = [f"{name}: {_path(err['loc'], data)}: {err['msg']}" for err in e.errors()[:10]]
        raise RuleError("\n".join(msgs)) from None


def _read(f: Path) -> str:
    """A rule file's text; RuleError when it cannot be read or is not UTF-8."""
    try:
        return f.read_bytes().decode("utf-8-sig")
    except OSError as e:
        raise RuleError(f"{f}: cannot read ({e.strerror})") from None
    except UnicodeDecodeError as e:
        raise RuleError(
            f"{f}: expected UTF-8 text; byte 0x{e.object[e.start]:02x} at offset {e.start} is not"
        ) from None


def _package_files() -> list[tuple[str, str]]:
    root = resources.files("onshore.rules")
    return sorted(
        (p.name, p.read_text(encoding="utf-8")) for p in root.iterdir() if p.name.endswith(".yaml")
    )


def load_rules(
    extra: Iterable[str | Path] = (), package: bool = True, lists: Iterable[str | Path] = ()
) -> RuleSet:
    """Load and validate the bundled rule files (and ``extra`` files or folders).

    A ``named_entity`` or ``entity_list`` test that gives no inline ``entities`` takes them
    from the restricted list it names (``list: ID``, see :mod:`onshore.rules.lists`).

    Parameters
    ----------
    extra : iterable of paths
        More rule files, or folders of ``*.yaml``; a rule id may appear only once.
    package : bool
        Include the rule files shipped in ``onshore/rules``.
    lists : iterable of paths
        More restricted-list files or folders (the bundled lists are always read).

    Returns
    -------
    RuleSet

    Raises
    ------
    RuleError
        Naming the file and the key path of the first problems.
    """
    items = _package_files() if package else []
    for p in map(Path, extra):
        if not p.exists():
            raise RuleError(f"{p}: no such rule file or folder")
        files = sorted(p.glob("*.yaml")) if p.is_dir() else [p]
        if p.is_dir() and not files:
            raise RuleError(f"{p}: a folder with no rule files (*.yaml)")
        for f in files:
            items.append((str(f), _read(f)))
    out = RuleSet()
    for name, text in items:
        if name.endswith("buyers.yaml"):
            out.buyers.update(_parse(name, text, _BuyerFile).buyers)
            continue
        for rule in _parse(name, text, _RuleFile).rules:
            if rule.id in out.rules:
                raise RuleError(
                    f"{name}: rules ({rule.id}): the id is already used in {out.files[rule.id]}"
                )
            out.rules[rule.id] = rule
            out.files[rule.id] = name
    _attach_lists(out, lists)
    for rule_id, rule in out.rules.items():
        unknown = [b for b in rule.buyers if b not in out.buyers]
        if out.buyers and unknown:
            raise RuleError(
                f"{out.files[rule_id]}: rules ({rule_id}).buyers: unknown scope(s) {unknown}"
            )
    return out


def _attach_lists(out: RuleSet, extra: Iterable[str | Path]) -> None:
    """Fill the entities of tests that name a restricted list."""
    from onshore.rules.lists import entities, load_lists

    needs = [
        r
        for r in out.rules.values()
        if (isinstance(r.test, NamedEntity | EntityList) and not r.test.entities)
        or (isinstance(r.test, OwnershipThreshold | ContentThresholdByYear) and r.test.lists)
    ]
    if not needs:
        return
    lists = load_lists(extra)

    def named(r: Rule, lid: str | None, key: str) -> Any:
        if lid not in lists:
            raise RuleError(
                f"{out.files[r.id]}: rules ({r.id}).test.{key}: no restricted list {lid!r}; "
                f"known: {', '.join(sorted(lists))}"
            )
        return lists[lid]

    for r in needs:
        t = r.test
        update: dict[str, Any]
        if isinstance(t, OwnershipThreshold | ContentThresholdByYear):
            listed = list(t.listed)
            for k, lid in enumerate(t.lists):
                listed += entities(named(r, lid, f"lists.{k}"))
            update = {"listed": tuple(listed)}
        else:
            assert isinstance(t, NamedEntity | EntityList)
            lst = named(r, t.list, "list")
            update = {"entities": entities(lst)}
            if isinstance(t, EntityList) and t.label is None:
                update["label"] = lst.title
        out.rules[r.id] = r.model_copy(update={"test": t.model_copy(update=update)})


def tariff_table(rules: RuleSet) -> list[dict[str, Any]]:
    """Every dated tariff rate in the rule files as flat rows (what the planner reads).

    Rows: ``id, origin, destination, tariff_class, rate, previous, effective_from,
    effective_until, confirmation, source``.
    """
    out: list[dict[str, Any]] = []
    for r in rules.rules.values():
        if not isinstance(r.test, Tariff):
            continue
        for rate in r.test.rates:
            for origin in rate.origins:
                out.append(
                    {
                        "id": r.id,
                        "origin": origin,
                        "destination": r.jurisdiction.split()[0],
                        "tariff_class": rate.category,
                        "rate": rate.rate,
                        "previous": rate.previous,
                        "effective_from": max(rate.effective_from, r.effective_from),
                        "effective_until": rate.effective_until or r.effective_until,
                        "confirmation": rate.confirmation,
                        "source": r.urls[0],
                    }
                )
    return out
