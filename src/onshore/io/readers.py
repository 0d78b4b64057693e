"""Readers: one file in, raw tables out, each row with the number a user would look for.

Row numbers are spreadsheet-style for CSV and XLSX (the header is row 1, the first
data row is row 2) and 1-based record positions for Parquet and JSON.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from onshore.errors import RowError, RowWarning
from onshore.records.model import TABLES

FORMATS = {".csv": "csv", ".xlsx": "xlsx", ".parquet": "parquet", ".pq": "parquet", ".json": "json"}
HEADER_SCAN = 20
"""How many rows from the top of a CSV file or sheet are searched for the header row."""
FAST_CSV_BYTES = 1_000_000
"""CSV files from this size on are parsed with pyarrow (columns, not rows of dicts)."""
DELIMITERS = (",", ";", "\t", "|")
DELETED = "deleted"
"""A column every table may have in a file: true retires the row with that key (see
:func:`onshore.io.load.parse_tables`); it is not stored."""
_DELIM_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}

Column: TypeAlias = list[Any] | pa.Array


@dataclass
class RawTable:
    """The rows of one table as read from one file (or one sheet), values not yet checked.

    ``data`` holds one sequence per kept column (a list of cell values, or for a large CSV a
    pyarrow string array), aligned with ``row_numbers``; ``columns`` are the model's names
    of those columns (headers matched without regard to case and spaces). ``ignored`` maps
    header cells that are not columns of the table to their position (1-based).
    ``delimiter`` is the CSV delimiter (None for other formats).
    """

    file: str
    table: str
    columns: list[str]
    data: dict[str, Column] = field(default_factory=dict)
    row_numbers: list[int] | np.ndarray = field(default_factory=list)
    warnings: list[RowWarning] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    delimiter: str | None = None
    header_row: int = 1

    def __len__(self) -> int:
        return len(self.row_numbers)

    @property
    def rows(self) -> list[tuple[int, dict[str, Any]]]:
        """Row by row: (row number, {column: value})."""
        cols = {c: (v.to_pylist() if isinstance(v, pa.Array) else v) for c, v in self.data.items()}
        return [
            (int(n), {c: cols[c][i] for c in self.columns}) for i, n in enumerate(self.row_numbers)
        ]


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


def column_name(header: object) -> str:
    """A header cell as a column name: 'Supplier ' -> 'supplier', 'As of' -> 'as_of'."""
    if header is None:
        return ""
    return re.sub(r"[\s\-]+", "_", str(header).strip().lower())


def _fail(
    file: str, expected: str, value: object = None, row: int | None = None, got: str | None = None
) -> ReadFailure:
    return ReadFailure([RowError(file, row, None, value, expected, got=got)])


def _need_table(file: str, stem: str) -> str:
    t = table_for(stem)
    if t is None:
        raise _fail(file, f"a file named after a table ({', '.join(TABLES)})", stem)
    return t


def read_file(path: str | Path) -> list[RawTable]:
    """Read one file into raw tables; raises ReadFailure when the file cannot be read.

    Parameters
    ----------
    path : str or Path
        A CSV, XLSX, Parquet or JSON file named after its table (a workbook: sheets named
        after their tables).

    Returns
    -------
    list of RawTable
        One per table in the file, each with the warnings of what was interpreted or
        ignored while reading it.
    """
    p = Path(path)
    file = str(path)
    if not p.exists():
        raise _fail(file, "an existing file", got="no such file")
    if p.is_dir():
        raise _fail(file, "a file, not a folder", got="a folder")
    fmt = FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise _fail(file, f"a file ending in {', '.join(FORMATS)}", p.suffix or p.name)
    if p.stat().st_size == 0:
        raise _fail(file, "a non-empty file (this one has 0 bytes)")
    reader = {"csv": _read_csv, "xlsx": _read_xlsx, "parquet": _read_parquet, "json": _read_json}
    tables = reader[fmt](p, file)
    for t in tables:
        if not len(t):
            raise _fail(f"{t.file}", "at least one data row under the header")
    return tables


def file_columns(table: str) -> list[str]:
    """The columns a file of ``table`` may have: the table's, and ``deleted``."""
    return [*TABLES[table].columns, DELETED]


def _header_match(values: Sequence[object], table: str) -> int:
    known = set(file_columns(table))
    return sum(1 for v in values if column_name(v) in known)


def find_header(rows: Sequence[Sequence[object]], table: str) -> int:
    """The index of the header among the first rows: the first whose cells name at least two
    of the table's columns (or every non-blank cell does); 0 when none does."""
    for i, values in enumerate(rows[:HEADER_SCAN]):
        cells = [v for v in values if v is not None and str(v).strip() != ""]
        m = _header_match(cells, table)
        if m >= 2 or (m >= 1 and m == len(cells)):
            return i
    for i, values in enumerate(rows[:HEADER_SCAN]):
        if any(v is not None and str(v).strip() != "" for v in values):
            return i
    return 0


def _columns(
    file: str,
    table: str,
    header: Sequence[object],
    header_row: int,
    first_row: int,
    warnings: list[RowWarning],
) -> tuple[list[tuple[int, str]], list[str]]:
    """Which positions of the header are kept and under which column name, and which header
    cells are ignored; warns about title rows, renamed headers and ignored columns."""
    if header_row > first_row:
        above = (
            f"row {first_row}"
            if header_row - first_row == 1
            else f"rows {first_row}-{header_row - 1}"
        )
        warnings.append(
            RowWarning(
                file,
                None,
                None,
                None,
                f"header found at row {header_row}; {above} above it skipped (a title?)",
            )
        )
    known = file_columns(table)
    keep: list[tuple[int, str]] = []
    ignored: list[str] = []
    renamed = []
    seen: set[str] = set()
    for i, h in enumerate(header):
        name = column_name(h)
        if not name:
            continue
        if name in known and name not in seen:
            seen.add(name)
            keep.append((i, name))
            if str(h) != name:
                renamed.append(f"{str(h)!r} as {name}")
        else:
            ignored.append(str(h).strip())
    if renamed:
        warnings.append(
            RowWarning(file, header_row, None, None, f"header read as: {', '.join(renamed)}")
        )
    return keep, ignored


def _ignored_warnings(
    file: str, table: str, header_row: int | None, ignored: list[str]
) -> list[RowWarning]:
    from onshore.records.integrity import did_you_mean

    cols = TABLES[table].columns
    out = []
    for name in ignored:
        hint = did_you_mean(column_name(name), file_columns(table))
        out.append(
            RowWarning(
                file,
                header_row,
                name,
                None,
                f"ignored: not a column of {table} ({', '.join(cols)}){hint}",
                kind="ignored",
            )
        )
    return out


# CSV -----------------------------------------------------------------------------------


def decode(data: bytes, file: str) -> tuple[str, str | None]:
    """The text of a CSV file and a note naming the encoding when it was not UTF-8.

    UTF-8 (with or without BOM), UTF-16 (with BOM, or without one when every other byte of
    ASCII text is zero), otherwise Windows-1252 (Latin-1 for the bytes it leaves undefined).
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "UTF-16 (byte order mark)"
        except UnicodeDecodeError:
            raise _fail(file, "UTF-16 text after its byte order mark", got="undecodable bytes")
    if len(data) >= 4 and len(data) % 2 == 0:
        head = data[:4000]
        even, odd = head[0::2].count(0), head[1::2].count(0)
        half = len(head) // 2
        for zeros, enc in ((odd, "utf-16-le"), (even, "utf-16-be")):
            if zeros >= 0.9 * half and (even if enc == "utf-16-le" else odd) == 0:
                try:
                    return data.decode(enc), f"UTF-16 {enc[-2:].upper()} (no byte order mark)"
                except UnicodeDecodeError:
                    pass
    if b"\x00" in data:
        raise _fail(file, "a text CSV file (UTF-8, UTF-16 or Windows-1252)", got="binary data")
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as e:
        first = e.start
    try:
        return data.decode(
            "cp1252"
        ), f"Windows-1252 (not UTF-8: byte 0x{data[first]:02x} at offset {first})"
    except UnicodeDecodeError:
        return data.decode(
            "latin-1"
        ), f"Latin-1 (not UTF-8: byte 0x{data[first]:02x} at offset {first})"


def _sniff(text: str, table: str) -> tuple[str, list[list[str]], list[int]]:
    """The delimiter whose split of the first lines shows the most column names in a header
    row (comma on a tie), with those first rows and their line numbers."""
    head = text[:200_000]
    cut = head.rfind("\n") if len(text) > len(head) else len(head)
    head = head[: max(cut, 0)] if cut > 0 else head
    best: tuple[int, str, list[list[str]], list[int]] | None = None
    for d in DELIMITERS:
        reader = csv.reader(io.StringIO(head, newline=""), delimiter=d)
        rows, nums = [], []
        try:
            for values in reader:
                rows.append(values)
                nums.append(reader.line_num)
                if len(rows) >= HEADER_SCAN:
                    break
        except csv.Error:
            continue
        i = find_header(rows, table)
        score = _header_match(rows[i], table) if rows else 0
        if best is None or score > best[0]:
            best = (score, d, rows, nums)
    assert best is not None
    return best[1], best[2], best[3]


def _read_csv(p: Path, file: str) -> list[RawTable]:
    table = _need_table(file, p.stem)
    text, encoding = decode(p.read_bytes(), file)
    if "\x00" in text:
        raise _fail(file, "a text CSV file", got="binary data")
    warnings: list[RowWarning] = []
    if encoding:
        warnings.append(RowWarning(file, None, None, None, f"encoding assumed: {encoding}"))
    delimiter, head, head_lines = _sniff(text, table)
    if delimiter != ",":
        warnings.append(
            RowWarning(file, None, None, None, f"read as {_DELIM_NAMES[delimiter]}-delimited")
        )
    if not head or not any(h.strip() for h in head[find_header(head, table)]):
        raise _fail(file, "a header row naming the columns", row=1, got="no header")
    h = find_header(head, table)
    header_row = head_lines[h]
    keep, ignored = _columns(file, table, head[h], header_row, 1, warnings)
    out = None
    if len(text) >= FAST_CSV_BYTES:
        out = _read_csv_fast(text, file, table, delimiter, header_row, len(head[h]), keep)
    if out is None:
        out = _read_csv_rows(text, file, table, delimiter, header_row, head[h], keep)
    out.ignored = ignored
    out.delimiter = delimiter
    out.header_row = header_row
    out.warnings = warnings + _ignored_warnings(file, table, header_row, ignored)
    return [out]


def _read_csv_rows(
    text: str,
    file: str,
    table: str,
    delimiter: str,
    header_row: int,
    header: list[str],
    keep: list[tuple[int, str]],
) -> RawTable:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True, delimiter=delimiter)
    columns = [name for _, name in keep]
    data: dict[str, list[Any]] = {c: [] for c in columns}
    nums: list[int] = []
    errors: list[RowError] = []
    try:
        for values in reader:
            n = reader.line_num
            if n <= header_row:
                continue
            if not values or all(v.strip() == "" for v in values):
                continue
            if len(values) != len(header):
                errors.append(
                    RowError(
                        file,
                        n,
                        None,
                        f"{len(values)} fields",
                        f"{len(header)} fields as in the header",
                    )
                )
                continue
            nums.append(n)
            for i, name in keep:
                data[name].append(values[i])
    except csv.Error as e:
        raise _fail(
            file, f"well-formed CSV ({e})", row=reader.line_num, got="malformed CSV"
        ) from None
    if errors:
        raise ReadFailure(errors)
    return RawTable(file, table, columns, dict(data), nums)


def _read_csv_fast(
    text: str,
    file: str,
    table: str,
    delimiter: str,
    header_row: int,
    width: int,
    keep: list[tuple[int, str]],
) -> RawTable | None:
    """Columns of a large, regular CSV via pyarrow; None when the file is irregular (rows of
    other widths, quoted line breaks, bare carriage returns), for the row reader to report."""
    import pyarrow.csv as pcsv

    if "\r" in text and text.count("\r") != text.count("\r\n"):
        return None
    body = text.rstrip("\r\n")
    names = [f"c{i}" for i in range(width)]
    try:
        t = pcsv.read_csv(
            io.BytesIO(body.encode("utf-8")),
            read_options=pcsv.ReadOptions(
                skip_rows=header_row, column_names=names, block_size=1 << 24
            ),
            parse_options=pcsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=False, ignore_empty_lines=False
            ),
            convert_options=pcsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                include_columns=[names[i] for i, _ in keep],
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowKeyError):
        return None
    lines = body.count("\n") + 1 - header_row
    if t.num_rows != lines:
        return None
    nums = np.arange(header_row + 1, header_row + 1 + t.num_rows, dtype=np.int64)
    cols = {name: t.column(names[i]).combine_chunks() for i, name in keep}
    blank = None
    for arr in cols.values():
        b = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(arr)), 0)
        blank = b if blank is None else pc.and_(blank, b)
    if blank is not None and pc.any(blank).as_py():
        keep_mask = pc.invert(blank)
        cols = {c: pc.filter(a, keep_mask) for c, a in cols.items()}
        nums = nums[np.asarray(keep_mask)]
    return RawTable(file, table, [name for _, name in keep], dict(cols), nums)


def _read_xlsx(p: Path, file: str) -> list[RawTable]:
    try:
        import openpyxl
    except ImportError:  # pragma: no cover - openpyxl is a dependency
        from onshore.errors import EngineUnavailable

        raise EngineUnavailable("reading XLSX needs openpyxl: pip install openpyxl") from None
    try:
        wb = openpyxl.load_workbook(p, read_only=True, data_only=True)
    # openpyxl raises many kinds of exception for a file that is not a workbook
    except Exception as e:  # noqa: BLE001
        raise _fail(
            file, f"an XLSX workbook ({type(e).__name__})", got="a file that is not a workbook"
        ) from None
    out: list[RawTable] = []
    skipped: list[RowWarning] = []
    try:
        for ws in wb.worksheets:
            sheet_file = f"{file}[{ws.title}]"
            rows = list(ws.iter_rows(values_only=True))
            if not any(any(_filled(v) for v in r) for r in rows):
                continue
            table = table_for(ws.title)
            if table is None:
                skipped.append(
                    RowWarning(
                        sheet_file,
                        None,
                        None,
                        None,
                        f"ignored: a sheet not named after a table ({', '.join(TABLES)})",
                        kind="ignored",
                    )
                )
                continue
            h = find_header(rows, table)
            warnings: list[RowWarning] = []
            keep, ignored = _columns(sheet_file, table, rows[h], h + 1, 1, warnings)
            columns = [name for _, name in keep]
            data: dict[str, list[Any]] = {c: [] for c in columns}
            nums: list[int] = []
            for i, values in enumerate(rows[h + 1 :], start=h + 2):
                if values is None or not any(_filled(v) for v in values):
                    continue
                nums.append(i)
                for j, name in keep:
                    data[name].append(values[j] if j < len(values) else None)
            t = RawTable(sheet_file, table, columns, dict(data), nums, ignored=ignored)
            t.header_row = h + 1
            t.warnings = warnings + _ignored_warnings(sheet_file, table, h + 1, ignored)
            out.append(t)
    finally:
        wb.close()
    if not out:
        raise ReadFailure(
            [
                RowError(
                    file,
                    None,
                    None,
                    None,
                    f"at least one sheet named after a table ({', '.join(TABLES)}) "
                    "with a header row",
                    got="no such sheet",
                )
            ]
        )
    out[0].warnings = skipped + out[0].warnings
    return out


def _filled(v: object) -> bool:
    return v is not None and str(v).strip() != ""


def _from_records(file: str, table: str, rows: list[dict[str, Any]]) -> RawTable:
    """A raw table from row objects (JSON, Parquet): keys matched to columns like headers."""
    header = list(dict.fromkeys(k for r in rows for k in r))
    warnings: list[RowWarning] = []
    keep, ignored = _columns(file, table, header, 1, 1, warnings)
    # row objects have no header row: name no row in what is said about their keys
    warnings = [RowWarning(w.file, None, w.column, w.value, w.read_as, w.kind) for w in warnings]
    data = {name: [r.get(header[i]) for r in rows] for i, name in keep}
    t = RawTable(file, table, [n for _, n in keep], data, list(range(1, len(rows) + 1)))
    t.ignored = ignored
    t.warnings = warnings + _ignored_warnings(file, table, None, ignored)
    return t


def _read_parquet(p: Path, file: str) -> list[RawTable]:
    import pyarrow.parquet as pq

    table = _need_table(file, p.stem)
    try:
        arrow = pq.read_table(p)
    except Exception as e:  # noqa: BLE001 - pyarrow raises ArrowInvalid and OSError variants
        raise _fail(
            file, f"a Parquet file ({type(e).__name__})", got="a file that is not Parquet"
        ) from None
    warnings: list[RowWarning] = []
    keep, ignored = _columns(file, table, arrow.column_names, 1, 1, warnings)
    warnings = [RowWarning(w.file, None, w.column, w.value, w.read_as, w.kind) for w in warnings]
    data = {name: arrow.column(i).to_pylist() for i, name in keep}
    t = RawTable(file, table, [n for _, n in keep], data, list(range(1, arrow.num_rows + 1)))
    t.ignored = ignored
    t.warnings = warnings + _ignored_warnings(file, table, None, ignored)
    return [t]


def _read_json(p: Path, file: str) -> list[RawTable]:
    try:
        doc = json.loads(p.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _fail(file, f"JSON text ({e})", got="malformed JSON") from None
    if isinstance(doc, list):
        groups = {_need_table(file, p.stem): doc}
    elif isinstance(doc, dict):
        groups = {}
        for k, v in doc.items():
            groups[_need_table(f"{file}[{k}]", k)] = v
    else:
        raise _fail(
            file,
            "a JSON list of row objects, or an object of table name -> list of rows",
            got=f"a JSON {type(doc).__name__}",
        )
    out = []
    for table, rows in groups.items():
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise _fail(file, f"a list of row objects for table {table!r}", got="something else")
        out.append(_from_records(file, table, rows))
    return out
