"""The storage interface every back end offers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

    from onshore.errors import RowError
    from onshore.records.batch import Batch, Origin
    from onshore.records.integrity import Existing


class Store(Protocol):
    """A place that holds the network's tables and writes a batch all-or-nothing."""

    def read(self, table: str) -> pd.DataFrame:
        """One table, its rows ordered by key."""
        ...

    def write(self, batch: Batch) -> dict[str, int]:
        """Upsert every record of the batch and remove the rows it retires, in one
        transaction; returns rows written per table."""
        ...

    def missing_errors(
        self, name: str, keys: list[tuple[object, ...]], origins: list[Origin]
    ) -> list[RowError]:
        """A RowError for each key to retire that no row of the table has."""
        ...

    def existing(self) -> Existing:
        """What cross-record checks need to know of the current content."""
        ...

    def counts(self) -> dict[str, int]:
        """Rows per table."""
        ...

    def snapshot_hash(self, fresh: bool = False) -> str:
        """A hash of the whole content: equal content, equal hash (``fresh``: computed from
        the rows, not a kept value)."""
        ...

    def export(self, folder: Path, fmt: str) -> list[Path]:
        """Write one file per table; returns the files written."""
        ...
