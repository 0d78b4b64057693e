"""The checked records of one import: by table, each with the file and row it came from.

A batch is columnar: one DataFrame per table, in the form the store writes (enums as their
values, aliases ``;``-joined, blanks as None or NaN), plus ``_file`` and ``_row`` columns
naming each row's origin. Records added one by one (the API, tests) are turned into rows
when the table is first read; a reader adds whole checked frames at once.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from onshore.errors import RowWarning
from onshore.records.model import TABLES, Record

ORIGIN = ("_file", "_row")


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a record came from: file and row, for error messages."""

    file: str
    row: int | None


def _kind(annotation: Any) -> str:
    """'float', 'bool', 'int' or 'text': how a field is held in a batch frame."""
    if typing.get_origin(annotation) is tuple:
        return "text"
    args = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    base = args[0]
    if typing.get_origin(base) is typing.Annotated:
        return _kind(typing.get_args(base)[0])
    if typing.get_origin(base) is not None and typing.get_args(base):
        return _kind(base)
    if base is bool:
        return "bool"
    if base is float:
        return "float"
    if base is int:
        return "int"
    return "text"


def column_kinds(table: str) -> dict[str, str]:
    """Each column of ``table`` and how a batch frame holds it."""
    return {n: _kind(f.annotation) for n, f in TABLES[table].record.model_fields.items()}


def store_value(v: Any) -> Any:
    """A record's field value as the store holds it."""
    if isinstance(v, tuple):
        return ";".join(v) or None
    if isinstance(v, Enum):
        return v.value
    return v


def typed_frame(table: str, data: dict[str, Any], file: Any, row: Any) -> pd.DataFrame:
    """A batch frame for ``table`` from column data in store form, with its origins."""
    cols: dict[str, Any] = {}
    n = len(row)
    for c, kind in column_kinds(table).items():
        v = data.get(c)
        if v is None:
            v = [None] * n
        if kind == "float" and isinstance(v, np.ndarray) and v.dtype.kind == "f":
            cols[c] = v
        elif kind == "float":
            cols[c] = pd.to_numeric(pd.Series(v, dtype=object), errors="raise").astype("float64")
        elif kind == "bool":
            cols[c] = pd.Series(v).astype(bool)
        elif kind == "int":
            cols[c] = pd.array(v, dtype="Int64")
        elif isinstance(v, pa.Array):
            cols[c] = pd.array(v, dtype="str")
        else:
            s = pd.Series(v, dtype=object)
            cols[c] = s
    df = pd.DataFrame(
        {k: (v.to_numpy() if isinstance(v, pd.Series) else v) for k, v in cols.items()}
    )
    df["_file"] = pd.Categorical([file] * n) if isinstance(file, str) else pd.Categorical(file)
    df["_row"] = pd.array(row, dtype="Int64")
    return df


_EMPTY: dict[str, pd.DataFrame] = {}
"""The empty frame of each table (built once: an import of one table asks for all seven)."""


@dataclass
class Batch:
    """Checked records of one import call, by table, each with its origin."""

    frames: dict[str, list[pd.DataFrame]] = field(default_factory=lambda: {t: [] for t in TABLES})
    pending: dict[str, list[tuple[Record, Origin]]] = field(
        default_factory=lambda: {t: [] for t in TABLES}
    )
    warnings: list[RowWarning] = field(default_factory=list)
    deletions: dict[str, list[tuple[tuple[object, ...], Origin]]] = field(
        default_factory=lambda: {t: [] for t in TABLES}
    )
    """Per table, the keys of rows the import retires (a ``deleted`` column), with origins."""

    def add(self, record: Record, origin: Origin) -> None:
        """Add one checked record."""
        self.pending[record.table].append((record, origin))

    def extend(self, records: Iterable[Record], file: str = "<api>") -> None:
        """Add checked records, numbered from 1 as rows of ``file``."""
        for i, r in enumerate(records, start=1):
            self.add(r, Origin(file, i))

    def delete(self, table: str, key: tuple[object, ...], origin: Origin) -> None:
        """Retire the row of ``table`` with this key (in the table's key order)."""
        self.deletions[table].append((key, origin))

    def deleted(self) -> dict[str, int]:
        """Rows retired per table (tables with none left out)."""
        return {t: len(d) for t, d in self.deletions.items() if d}

    def add_frame(self, table: str, df: pd.DataFrame) -> None:
        """Add checked rows of ``table`` already in batch-frame form (see :func:`typed_frame`)."""
        if len(df):
            self._flush(table)
            self.frames[table].append(df)

    def _flush(self, table: str) -> None:
        todo = self.pending[table]
        if not todo:
            return
        cols = list(TABLES[table].columns)
        data = {c: [store_value(getattr(r, c)) for r, _ in todo] for c in cols}
        files = [o.file for _, o in todo]
        rows = [o.row for _, o in todo]
        self.frames[table].append(typed_frame(table, data, files, rows))
        self.pending[table] = []

    def frame(self, table: str) -> pd.DataFrame:
        """Every row of ``table`` in the order added, with ``_file`` and ``_row``."""
        self._flush(table)
        parts = self.frames[table]
        if not parts:
            if table not in _EMPTY:
                _EMPTY[table] = typed_frame(table, {}, [], [])
            return _EMPTY[table].copy()
        if len(parts) > 1:
            for p in parts:
                p["_file"] = p["_file"].astype(str)
            df = pd.concat(parts, ignore_index=True)
            df["_file"] = df["_file"].astype("category")
            self.frames[table] = [df]
        return self.frames[table][0]

    def __getitem__(self, table: str) -> pd.DataFrame:
        return self.frame(table)

    def count(self) -> dict[str, int]:
        """Rows per non-empty table."""
        return {t: n for t in TABLES if (n := self.rows(t))}

    def rows(self, table: str) -> int:
        """Rows of one table."""
        return sum(len(f) for f in self.frames[table]) + len(self.pending[table])

    def __len__(self) -> int:
        return sum(self.rows(t) for t in TABLES)
