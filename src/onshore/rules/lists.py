"""Restricted lists as cited, dated data (``onshore/data/lists/*.yaml``).

Each file is one list (section 154 makers, DoD 1260H, UFLPA Entity List, BIS Entity List):
entries with their names in every script seen, identifiers (ticker, USCC, LEI), the dates
they were listed and removed, their known subsidiaries and a source. A file that does not
fit raises :class:`~onshore.errors.RuleError` naming the file and the key path, e.g.
``uflpa.yaml: entries[3] (hoshine).listed_from: Input should be a valid date ...``.

Rules refer to a list by id (``list: ndaa_154``); :func:`entities` turns its entries into
the :class:`~onshore.rules.loader.Entity` rows the checks resolve.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from onshore.errors import RuleError
from onshore.rules.loader import Entity, _parse

_EMPTY_NAME = re.compile(
    r"^[\W_]*(co|ltd|limited|inc|corp|company|llc|gmbh|ag|sa)?[\W_]*$", re.IGNORECASE
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Identifiers(_Model):
    """Exact keys of an entry: exchange tickers, the Chinese USCC, the LEI."""

    ticker: tuple[str, ...] = ()
    uscc: tuple[str, ...] = ()
    lei: tuple[str, ...] = ()

    @field_validator("uscc")
    @classmethod
    def _uscc(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for x in v:
            if not re.fullmatch(r"[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}", x):
                raise ValueError(f"{x!r} is not an 18-character unified social credit code")
        return v

    @field_validator("lei")
    @classmethod
    def _lei(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for x in v:
            if not re.fullmatch(r"[0-9A-Z]{18}\d{2}", x):
                raise ValueError(f"{x!r} is not a 20-character LEI")
        return v

    def all(self) -> tuple[str, ...]:
        """Every identifier, in one tuple."""
        return (*self.ticker, *self.uscc, *self.lei)


class Subsidiary(_Model):
    """A company known to belong to (or be related to) a listed entry."""

    name: str
    aliases: tuple[str, ...] = ()
    company: str | None = None
    """Its company id in the reference store, when it is there."""
    relation: Literal["subsidiary", "parent", "minority", "site"] = "subsidiary"
    """Only ``subsidiary`` names screen as the entry itself; a ``site`` is not a legal entity."""
    as_read: str | None = None


class Update(_Model):
    date: dt.date
    what: str
    sources: tuple[str, ...] = ()


class ListEntry(_Model):
    """One entry of a restricted list."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_]*$")
    names: tuple[str, ...] = Field(min_length=1)
    identifiers: Identifiers = Identifiers()
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    listed_from: dt.date | Literal["unknown"] | None = None
    """The day the listing took effect; 'unknown' when it was not read."""
    date_confirmed: bool = True
    removed_on: dt.date | None = None
    """The first day the entry no longer applies (withdrawn, removed, court-ordered removal)."""
    state: Literal["listed", "withdrawn", "removed", "unknown"] = "listed"
    """``unknown``: whether the entry is on the list was not read; a match gives UNKNOWN."""
    subsidiaries: tuple[Subsidiary, ...] = ()
    source: str = Field(pattern=r"^https?://")
    note: str | None = None

    @field_validator("names")
    @classmethod
    def _names(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for n in v:
            if _EMPTY_NAME.match(n):
                raise ValueError(f"{n!r} is no name (only a legal form or punctuation)")
        return v

    @model_validator(mode="after")
    def _dates(self) -> ListEntry:
        lf = self.listed_from
        if self.removed_on is not None and isinstance(lf, dt.date) and self.removed_on < lf:
            raise ValueError("removed_on on or after listed_from")
        if self.state in ("withdrawn", "removed") and self.removed_on is None:
            raise ValueError(f"a {self.state} entry needs removed_on")
        return self

    def listed_on(self, on: dt.date) -> bool:
        """Whether the entry is in effect on ``on`` (an unknown start counts as listed)."""
        if self.state == "withdrawn":
            return False
        lf = self.listed_from
        if isinstance(lf, dt.date) and on < lf:
            return False
        return self.removed_on is None or on < self.removed_on


class RestrictedList(_Model):
    """One restricted list: its citation and its entries."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_]*$")
    title: str
    citation: str
    source: str = Field(pattern=r"^https?://")
    source_note: str | None = None
    effective_from: dt.date | None = None
    as_of: dt.date
    updates_seen: tuple[Update, ...] = ()
    court_ordered_removals: str | None = None
    not_listed_notes: str | None = None
    coverage_note: str | None = None
    search_note: str | None = None
    entries: tuple[ListEntry, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> RestrictedList:
        seen: dict[str, tuple[str, ...]] = {}
        for e in self.entries:
            # an id may repeat only for successive listings (e.g. withdrawn, then listed)
            if e.id in seen and e.state == "listed" and "listed" in seen[e.id]:
                raise ValueError(f"entry {e.id!r} is listed twice")
            seen[e.id] = (*seen.get(e.id, ()), e.state)
        return self

    def entry_ids(self) -> list[str]:
        """Entry ids in order, each once."""
        return list(dict.fromkeys(e.id for e in self.entries))


def _package_files() -> list[tuple[str, str]]:
    root = resources.files("onshore") / "data" / "lists"
    return sorted(
        (p.name, p.read_text(encoding="utf-8")) for p in root.iterdir() if p.name.endswith(".yaml")
    )


def load_lists(extra: Iterable[str | Path] = (), package: bool = True) -> dict[str, RestrictedList]:
    """Load and validate the bundled restricted lists (and ``extra`` files or folders).

    Parameters
    ----------
    extra : iterable of paths
        More list files, or folders of ``*.yaml``; a list id may appear only once.
    package : bool
        Include the lists shipped in ``onshore/data/lists``.

    Returns
    -------
    dict of str to RestrictedList
        By list id.

    Raises
    ------
    RuleError
        Naming the file and the key path of the first problems.
    """
    items = _package_files() if package else []
    for p in map(Path, extra):
        for f in sorted(p.glob("*.yaml")) if p.is_dir() else [p]:
            try:
                text = f.read_bytes().decode("utf-8-sig")
            except OSError as e:
                raise RuleError(f"{f}: cannot read ({e.strerror})") from None
            except UnicodeDecodeError as e:
                raise RuleError(
                    f"{f}: expected UTF-8 text; byte 0x{e.object[e.start]:02x} at offset "
                    f"{e.start} is not"
                ) from None
            items.append((str(f), text))
    out: dict[str, RestrictedList] = {}
    for name, text in items:
        lst: RestrictedList = _parse(name, text, RestrictedList)
        if lst.id in out:
            raise RuleError(f"{name}: id: the list {lst.id!r} is already loaded")
        out[lst.id] = lst
    return out


@functools.cache
def bundled_lists() -> dict[str, RestrictedList]:
    """The restricted lists shipped with onshore, loaded once (do not modify the result).

    Returns
    -------
    dict of str to RestrictedList
    """
    return load_lists()


def entities(lst: RestrictedList) -> tuple[Entity, ...]:
    """The list's entries as rule entities (withdrawn entries are left out: they never applied).

    Parameters
    ----------
    lst : RestrictedList

    Returns
    -------
    tuple of Entity
        Names first-seen first; no ``company`` (a store's ids are its own, so entries are
        found by identifier and name); ``listed_from`` 'unknown' becomes no date with
        ``date_confirmed`` false.
    """
    out = []
    for e in lst.entries:
        if e.state == "withdrawn":
            continue
        lf = e.listed_from
        out.append(
            Entity(
                name=e.names[0],
                aliases=e.names[1:],
                id=e.id,
                listed_from=lf if isinstance(lf, dt.date) else None,
                date_confirmed=e.date_confirmed and lf != "unknown",
                removed_on=e.removed_on,
                state="unknown" if e.state == "unknown" else "listed",
                identifiers=e.identifiers.all(),
                country=e.country,
                list=lst.id,
                subsidiaries=tuple(
                    n
                    for s in e.subsidiaries
                    if s.relation == "subsidiary"
                    for n in (s.name, *s.aliases)
                ),
                note=e.note,
            )
        )
    return tuple(out)


__all__ = [
    "ListEntry",
    "RestrictedList",
    "Subsidiary",
    "bundled_lists",
    "entities",
    "load_lists",
]
