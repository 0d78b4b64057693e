"""The checked records of one import: by table, each with the file and row it came from."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from onshore.records.model import TABLES, Record


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a record came from: file and row, for error messages."""

    file: str
    row: int | None


@dataclass
class Batch:
    """Checked records of one import call, by table, each with its origin."""

    records: dict[str, list[Record]] = field(default_factory=lambda: {t: [] for t in TABLES})
    origins: dict[str, list[Origin]] = field(default_factory=lambda: {t: [] for t in TABLES})

    def add(self, record: Record, origin: Origin) -> None:
        self.records[record.table].append(record)
        self.origins[record.table].append(origin)

    def extend(self, records: Iterable[Record], file: str = "<api>") -> None:
        for i, r in enumerate(records, start=1):
            self.add(r, Origin(file, i))

    def count(self) -> dict[str, int]:
        return {t: len(v) for t, v in self.records.items() if v}

    def __len__(self) -> int:
        return sum(len(v) for v in self.records.values())
