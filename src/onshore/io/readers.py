"""Readers: one file in, raw tables out, each row with the number a user would look for.

Row numbers are spreadsheet-style for CSV and XLSX (the header is row 1, the first
data row is row 2) and 1-based record positions for Parquet and JSON.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onshore.errors import RowError
from onshore.records.model import TABLES

FORMATS = {".csv": "csv", ".xlsx": "xlsx", ".parquet": "parquet", ".pq": "parquet", ".json": "json"}


@dataclass
class RawTable:
    """The rows of one table as read from one file (or one sheet), values not yet checked."""

    file: str
    table: str
    columns: list[str]
    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)


class ReadFailure(Exception):
    """A file that could not be read at all; carries its RowErrors."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        super().__init__("; ".join(map(str, errors)))


def table_for(name: str) -> str | None:
    """The table a file or sheet stem names: 'flows', 'flows_2025' and 'Flows' -> 'flows'."""
    stem = name.strip().lower()
    for t in TABLES:
        if stem == t or (stem.startswith(t) and stem[len(t)] in "_-. "):
            return t
    return None


def _fail(file: str, expected: str, value: object = None, row: int | None = None) -> ReadFailure:
    return ReadFailure([RowError(file, row, None, value, expected)])


def _need_table(file: str, stem: str) -> str:
    t = table_for(stem)
    if t is None:
        raise _fail(file, f"a file named after a table ({', '.join(TABLES)})", stem)
    return t


def read_file(path: str | Path) -> list[RawTable]:
    """Read one file into raw tables; raises ReadFailure when the file cannot be read."""
    p = Path(path)
    file = str(path)
    if not p.exists():
        raise _fail(file, "an existing file")
    if p.is_dir():
        raise _fail(file, "a file, not a folder")
    fmt = FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise _fail(file, f"a file ending in {', '.join(FORMATS)}", p.suffix or p.name)
    if p.stat().st_size == 0:
        raise _fail(file, "a non-empty file (this one has 0 bytes)")
    reader = {"csv": _read_csv, "xlsx": _read_xlsx, "parquet": _read_parquet, "json": _read_json}
    tables = reader[fmt](p, file)
    for t in tables:
        if not t.rows:
            raise _fail(f"{t.file}", "at least one data row under the header")
    return tables


def _read_csv(p: Path, file: str) -> list[RawTable]:
    table = _need_table(file, p.stem)
    data = p.read_bytes()
    if b"\x00" in data:
        raise _fail(file, "a UTF-8 text CSV file (this one holds binary data)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise _fail(file, f"UTF-8 text (undecodable byte at offset {e.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise _fail(file, "a header row naming the columns", row=1)
        columns = [h.strip() for h in header]
        out = RawTable(file, table, columns)
        errors: list[RowError] = []
        for values in reader:
            n = reader.line_num
            if not values or all(v.strip() == "" for v in values):
                continue
            if len(values) != len(columns):
                errors.append(
                    RowError(
                        file,
                        n,
                        None,
                        f"{len(values)} fields",
                        f"{len(columns)} fields as in the header",
                    )
                )
                continue
            out.rows.append((n, dict(zip(columns, values, strict=True))))
    except csv.Error as e:
        raise _fail(file, f"well-formed CSV ({e})", row=reader.line_num) from None
    if errors:
        raise ReadFailure(errors)
    return [out]


def _read_xlsx(p: Path, file: str) -> list[RawTable]:
    try:
        import openpyxl
    except ImportError:  # pragma: no cover - openpyxl is a dependency
        from onshore.errors import EngineUnavailable

        raise EngineUnavailable("reading XLSX needs openpyxl: pip install openpyxl") from None
    try:
        wb = openpyxl.load_workbook(p, read_only=True, data_only=True)
    except Exception as e:  # noqa: BLE001 - openpyxl raises many kinds for a file that is not a workbook
        raise _fail(file, f"an XLSX workbook ({type(e).__name__})") from None
    out: list[RawTable] = []
    try:
        for ws in wb.worksheets:
            sheet_file = f"{file}[{ws.title}]"
            rows = ws.iter_rows(values_only=True)
            header = next(rows, None)
            if header is None or all(h is None for h in header):
                continue
            table = _need_table(sheet_file, ws.title)
            columns = [str(h).strip() if h is not None else "" for h in header]
            t = RawTable(sheet_file, table, columns)
            for i, values in enumerate(rows, start=2):
                if values is None or all(v is None or str(v).strip() == "" for v in values):
                    continue
                vals = list(values) + [None] * (len(columns) - len(values))
                t.rows.append((i, {c: v for c, v in zip(columns, vals) if c}))
            out.append(t)
    finally:
        wb.close()
    if not out:
        raise _fail(file, "at least one sheet with a header row")
    return out


def _read_parquet(p: Path, file: str) -> list[RawTable]:
    import pyarrow.parquet as pq

    table = _need_table(file, p.stem)
    try:
        arrow = pq.read_table(p)
    except Exception as e:  # noqa: BLE001 - pyarrow raises ArrowInvalid and OSError variants
        raise _fail(file, f"a Parquet file ({type(e).__name__})") from None
    rows = arrow.to_pylist()
    return [RawTable(file, table, list(arrow.column_names), list(enumerate(rows, start=1)))]


def _read_json(p: Path, file: str) -> list[RawTable]:
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _fail(file, f"JSON text ({e})") from None
    if isinstance(doc, list):
        groups = {_need_table(file, p.stem): doc}
    elif isinstance(doc, dict):
        groups = {}
        for k, v in doc.items():
            groups[_need_table(f"{file}[{k}]", k)] = v
    else:
        raise _fail(file, "a JSON list of row objects, or an object of table name -> list of rows")
    out = []
    for table, rows in groups.items():
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise _fail(file, f"a list of row objects for table {table!r}")
        columns = list(dict.fromkeys(k for r in rows for k in r))
        out.append(RawTable(file, table, columns, list(enumerate(rows, start=1))))
    return out
