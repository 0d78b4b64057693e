"""Cells as spreadsheets write them, read column by column.

Two jobs, both on each distinct value of a column once (then spread to its rows):

* interpret what is unambiguous and say so: a date cell in a date column is its day,
  ``51%`` in a fraction column is 0.51 and a bare 51 there is 51 % too, ``1,000`` or
  ``1 000`` in a quantity is a thousand, ``1,5`` in a semicolon file whose numbers use a
  decimal comma is 1.5; refuse what is not (``1,500`` in a semicolon file that does not show
  its decimal mark), naming the value and what was expected;
* check large tables without a model object per row: every column's values are checked the
  way the record checks them, and only rows that fail some check (or hold a value the fast
  check does not know) go through the record model, which words the errors. A row is never
  accepted here that the model would refuse.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from onshore.errors import RowError, RowWarning
from onshore.io.readers import RawTable
from onshore.records import model as M
from onshore.records.batch import column_kinds, typed_frame
from onshore.records.countries import normalize_country

FAST_ROWS = 1_000
"""Tables of at least this many rows are checked column-wise (smaller ones row by row)."""
NOTES_PER_COLUMN = 10
"""Interpretation warnings listed per file and column before one line counts the rest."""

OK, SLOW, ERR = 0, 1, 2

FRACTIONS = ("equity", "voting", "board", "debt")
THOUSANDS = ("quantity", "capacity", "price")
DATES = ("since", "until", "as_of")

_PLAIN = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_SPACED = re.compile(r"^[+-]?\d{1,3}([ \u00a0\u202f]\d{3})+([.,]\d+)?$")
_COMMA_GROUPS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_DOT_GROUPS = re.compile(r"^[+-]?\d{1,3}(\.\d{3})+(,\d+)?$")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d*,\d+$")
_SHOWS_COMMA = re.compile(r"^[+-]?(\d+,(\d{1,2}|\d{4,})|0,\d+|\d{1,3}(\.\d{3})+,\d+|,\d+)$")
_SHOWS_POINT = re.compile(r"^[+-]?(\d+\.(\d{1,2}|\d{4,})|0\.\d+|\d{1,3}(,\d{3})+\.\d+|\.\d+)$")


class Refused(ValueError):
    """A cell that cannot be read unambiguously; the message says what was expected."""


def decimal_mark(values: list[str]) -> str | None:
    """',' or '.' when the numbers of a file show which decimal mark they use, else None."""
    comma = any(_SHOWS_COMMA.match(v.strip()) for v in values)
    point = any(_SHOWS_POINT.match(v.strip()) for v in values)
    if comma != point:
        return "," if comma else "."
    return None


def read_number(
    text: str, column: str, delimiter: str | None, decimal: str | None
) -> tuple[float, str | None] | None:
    """A number written with separators, and what was interpreted; None when ``text`` does
    not look like a number at all (the model's check then says so); Refused when ambiguous."""
    s = text.strip()
    semicolon = delimiter == ";"
    if _PLAIN.match(s):
        if semicolon and _DOT_GROUPS.match(s) and "," not in s and "e" not in s.lower():
            if decimal == ",":
                return float(s.replace(".", "")), "'.' as thousands separator (decimal comma file)"
            if decimal is None:
                raise Refused(
                    f"a number whose decimal mark is clear: {s!r} could be "
                    f"{float(s.replace('.', '')):g} or {float(s):g}, and this semicolon file "
                    "does not show whether it writes decimals with ',' or '.'"
                )
        return float(s), None
    grouped = column in THOUSANDS
    if _SPACED.match(s) and grouped:
        body = re.sub(r"[ \u00a0\u202f]", "", s)
        if "," in body:
            if decimal == ".":
                raise Refused(f"a number ({s!r} has a decimal comma in a file using '.')")
            return float(body.replace(",", ".")), "spaces as thousands separators, decimal comma"
        return float(body), "spaces as thousands separators"
    if _COMMA_GROUPS.match(s):
        if semicolon and "." not in s:
            if decimal == ",":
                return float(s.replace(",", ".")), "decimal comma"
            if decimal is None or not grouped:
                raise Refused(
                    f"a number whose decimal mark is clear: {s!r} could be "
                    f"{float(s.replace(',', '')):g} or {float(s.replace(',', '.')):g}, and this "
                    "semicolon file does not show whether ',' is a decimal comma"
                )
        if grouped:
            return float(s.replace(",", "")), "',' as thousands separator"
        raise Refused(f"a number without thousands separators (not {s!r})")
    if _DOT_GROUPS.match(s) and semicolon and decimal == ",":
        return float(s.replace(".", "").replace(",", ".")), "decimal comma, '.' as thousands"
    if _DECIMAL_COMMA.match(s):
        if semicolon and decimal == ",":
            return float(s.replace(",", ".")), "decimal comma"
        raise Refused(
            f"a number with a decimal point: {s!r} looks like a decimal comma, which "
            + (
                "this file's other numbers contradict"
                if semicolon
                else "only a semicolon file may use"
            )
        )
    return None


def _fmt(x: float) -> str:
    return repr(round(x, 12)) if not float(x).is_integer() else str(int(x))


def interpret(
    v: Any, column: str, delimiter: str | None, decimal: str | None
) -> tuple[Any, str | None]:
    """A cell as the model should see it, and a note of what was interpreted (or None).

    Raises Refused for a cell that is ambiguous or cannot be what the column holds.
    """
    if column in DATES and isinstance(v, dt.datetime):
        note = None if v.time() == dt.time(0) else f"read as {v.date().isoformat()} (time dropped)"
        return v.date().isoformat(), note
    if column in DATES and isinstance(v, dt.date):
        return v.isoformat(), None
    if column == "period" and isinstance(v, dt.date):
        raise Refused(
            "a period as YYYY, YYYY-Qn or YYYY-MM written as text or a number (this cell is a "
            f"date, {v:%Y-%m-%d}: which period it means is not clear)"
        )
    kind = _KINDS.get(column)
    if kind != "float":
        return v, None
    x: float | None = None
    why: str | None = None
    if isinstance(v, str):
        s = v.strip()
        if column in FRACTIONS and s.endswith("%"):
            got = read_number(s[:-1], column, delimiter, decimal)
            if got is None:
                raise Refused("a fraction 0..1 or a percentage such as 51%")
            return got[0] / 100, f"read as {_fmt(got[0] / 100)} ({s})"
        if s == "":
            return v, None
        got = read_number(s, column, delimiter, decimal)
        if got is None:
            return v, None
        x, why = got
    elif isinstance(v, int | float) and not isinstance(v, bool):
        x = float(v)
    else:
        return v, None
    if column in FRACTIONS and 1 < x <= 100:
        return x / 100, (
            f"read as {_fmt(x / 100)}: {_fmt(x)} is over 1 in a fraction column, so taken as "
            f"{_fmt(x)} %"
        )
    if why is not None:
        return x, f"read as {_fmt(x)} ({why})"
    return v, None


_KINDS: dict[str, str] = {}
for _t in M.TABLES:
    _KINDS.update(column_kinds(_t))


# the fast checks: value -> normalised value, or raise ValueError (the row then goes to the
# model, which says what is wrong) -------------------------------------------------------


class Slow(ValueError):
    """This value is for the record model to judge."""


def _text(v: Any) -> str | None:
    v = M._to_str(v)
    if v is None:
        return None
    if not isinstance(v, str):
        raise Slow
    return v.strip()


def _req(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        out = fn(v)
        if out is None or out == "":
            raise Slow
        return out

    return check


def _opt(fn: Callable[[str], Any]) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        t = _text(v)
        return None if t is None else fn(t)

    return check


def _number(
    optional: bool, gt: float | None = None, ge: float | None = None, le: float | None = None
) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        v = M._blank_to_none(v)
        if v is None:
            if optional:
                return math.nan
            raise Slow
        if isinstance(v, bool):
            raise Slow
        if isinstance(v, str):
            if not _PLAIN.match(v.strip()):
                raise Slow
            v = float(v)
        if not isinstance(v, int | float):
            raise Slow
        x = float(v)
        if (
            not math.isfinite(x)
            or (gt is not None and not x > gt)
            or (ge is not None and not x >= ge)
            or (le is not None and not x <= le)
        ):
            raise Slow
        return x

    return check


def _enum(e: type[Enum], default: Enum | None = None) -> Callable[[Any], Any]:
    values = {m.value for m in e}

    def check(v: Any) -> Any:
        v = M._blank_to_none(v)
        if v is None and default is not None:
            return default.value
        if not isinstance(v, str) or v not in values:
            raise Slow
        return v

    return check


_BOOLS = {"true": True, "false": False, "1": True, "0": False}


def _flag(v: Any) -> bool:
    v = M._blank_to_none(v)
    if v is None:
        return False
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in _BOOLS:
        return _BOOLS[v.strip().lower()]
    raise Slow


def _aliases(v: Any) -> str | None:
    a = M._to_aliases(v)
    if not all(isinstance(x, str) for x in a):
        raise Slow
    return ";".join(a) or None


def _period(v: str) -> str:
    if not M._PERIOD.match(v):
        raise Slow
    return v


def _date(v: str) -> str:
    return M.check_date(v)  # type: ignore[return-value]


_TEXT = _req(_text)
_OPT = _opt(lambda t: t)
_ID = _req(_opt(M.check_id))
_PROVENANCE = {"source": _OPT, "estimate": _flag, "note": _OPT}
_FRACTION = _number(True, ge=0.0, le=1.0)
_DATE = _opt(_date)

FAST: dict[str, dict[str, Callable[[Any], Any]]] = {
    "companies": {
        "id": _ID,
        "name": _TEXT,
        "aliases": _aliases,
        "country": _req(_opt(normalize_country)),
        "hq_country": _opt(normalize_country),
        "kind": _enum(M.CompanyKind, M.CompanyKind.COMPANY),
    },
    "ownership": {
        "owner": _TEXT,
        "owned": _TEXT,
        **{f: _FRACTION for f in FRACTIONS},
        "as_of": _DATE,
    },
    "facilities": {
        "id": _ID,
        "company": _TEXT,
        "name": _TEXT,
        "country": _req(_opt(normalize_country)),
        "lat": _number(True, ge=-90, le=90),
        "lon": _number(True, ge=-180, le=180),
        "stage": _enum(M.Stage),
        "material": _OPT,
        "capacity": _number(True, ge=0.0),
        "unit": _opt(M.known_unit),
        "status": _enum(M.Status, M.Status.OPERATING),
        "since": _DATE,
        "until": _DATE,
    },
    "flows": {
        "supplier": _TEXT,
        "customer": _TEXT,
        "material": _TEXT,
        "quantity": _number(False, gt=0.0),
        "unit": _req(_opt(M.known_unit)),
        "period": _req(_opt(_period)),
    },
    "licences": {
        "licensor": _TEXT,
        "licensee": _TEXT,
        "technology": _TEXT,
        "facility": _OPT,
        "since": _DATE,
        "until": _DATE,
    },
}
"""Per table, each column's fast check (materials and boms, small tables, go row by row)."""


def _row_checks(table: str, norm: dict[str, np.ndarray]) -> np.ndarray | None:
    """Rows that fail a record-level check (for the model to word), as a boolean mask."""
    if table == "ownership":
        return np.asarray(norm["owner"] == norm["owned"])
    if table == "facilities":
        cap = pd.Series(norm["capacity"], dtype=float).notna().to_numpy()
        no_unit = pd.isna(pd.Series(norm["unit"], dtype=object)).to_numpy()
        since = pd.Series(norm["since"], dtype=object)
        until = pd.Series(norm["until"], dtype=object)
        both = (since.notna() & until.notna()).to_numpy()
        order = np.zeros(len(since), dtype=bool)
        if both.any():
            order[both] = (until[both].astype(str) < since[both].astype(str)).to_numpy()
        return np.asarray((cap & no_unit) | order)
    return None


# ------------------------------------------------------------------------------------------


@dataclass
class Checked:
    """What checking one raw table found."""

    rt: RawTable
    frame: pd.DataFrame | None = None
    slow: list[int] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowWarning] = field(default_factory=list)
    cell_errors: dict[int, set[str]] = field(default_factory=dict)
    interpreted: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    original: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def row_values(self, i: int) -> dict[str, Any]:
        """Row ``i`` (a position) as the model should see it: cells interpreted."""
        return {c: u[k[i]] for c, (k, u) in self.interpreted.items()}

    def row_cells(self, i: int) -> dict[str, Any]:
        """Row ``i`` as written in the file."""
        return {c: u[k[i]] for c, (k, u) in self.original.items()}


def _factorize(values: list[Any] | pa.Array) -> tuple[np.ndarray, list[Any]]:
    if isinstance(values, pa.Array):
        d = values.dictionary_encode()
        return d.indices.to_numpy(zero_copy_only=False).astype(np.int64), d.dictionary.to_pylist()
    index: dict[Any, int] = {}
    uniq: list[Any] = []
    codes = np.empty(len(values), dtype=np.int64)
    for i, v in enumerate(values):
        try:
            key = (type(v), v)
            k = index.get(key)
            if k is None:
                k = index[key] = len(uniq)
                uniq.append(v)
        except TypeError:  # unhashable (a JSON list)
            k = len(uniq)
            uniq.append(v)
        codes[i] = k
    return codes, uniq


def _fast_floats(arr: pa.Array, check: Callable[[Any], Any]) -> np.ndarray | None:
    """A whole string column cast to numbers at once, when every value is a plain number the
    fast check accepts; None otherwise (then value by value)."""
    try:
        f = pc.cast(arr, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    x = f.to_numpy(zero_copy_only=False)
    if not np.isfinite(x).all():
        return None
    for probe in (float(x.min()), float(x.max())):
        try:
            check(probe)
        except ValueError:
            return None
    lengths = pc.utf8_length(arr)
    if pc.min(lengths).as_py() == 0:
        return None
    return np.asarray(x, dtype=np.float64)


def check_table(rt: RawTable) -> Checked:
    """Interpret and check every cell of one raw table.

    Parameters
    ----------
    rt : RawTable
        One table from one file.

    Returns
    -------
    Checked
        The rows accepted column-wise (``frame``), the positions of rows for the record
        model (``slow``), cell errors, and warnings of what was interpreted.
    """
    out = Checked(rt)
    n = len(rt)
    fast = {**FAST[rt.table], **_PROVENANCE} if n >= FAST_ROWS and rt.table in FAST else None
    status = np.zeros(n, dtype=np.uint8)
    norm: dict[str, Any] = {}
    decimal = None
    if rt.delimiter == ";":
        sample: list[str] = []
        for c in rt.columns:
            if _KINDS.get(c) == "float":
                vals = rt.data[c]
                uniq = pc.unique(vals).to_pylist() if isinstance(vals, pa.Array) else set(vals)
                sample += [u for u in uniq if isinstance(u, str) and ("," in u or "." in u)]
        decimal = decimal_mark(sample)
    rows = np.asarray(rt.row_numbers)
    texts: dict[str, tuple[np.ndarray, pa.Array]] = {}
    for c in rt.columns:
        check = fast.get(c) if fast else None
        values = rt.data[c]
        if check is not None and isinstance(values, pa.Array) and _KINDS.get(c) == "float":
            x = _fast_floats(values, check)
            if x is not None:
                norm[c] = x
                out.interpreted[c] = out.original[c] = (_Identity(), _LazyList(values))
                continue
        codes, uniq = _factorize(values)
        m = len(uniq)
        u_status = np.zeros(m, dtype=np.uint8)
        u_raw: list[Any] = [None] * m
        u_norm = np.empty(m, dtype=object)
        u_note: list[str | None] = [None] * m
        u_err: list[str | None] = [None] * m
        for k, v in enumerate(uniq):
            try:
                raw, note = interpret(v, c, rt.delimiter, decimal)
            except Refused as e:
                u_status[k], u_raw[k], u_err[k] = ERR, v, str(e)
                continue
            u_raw[k], u_note[k] = raw, note
            if check is None:
                u_status[k] = SLOW
                continue
            try:
                u_norm[k] = check(raw)
            except ValueError:
                u_status[k] = SLOW
        out.interpreted[c] = (codes, u_raw)
        out.original[c] = (codes, uniq)
        row_status = u_status[codes]
        status = np.maximum(status, row_status)
        if any(u_err):
            for i in np.flatnonzero(row_status == ERR):
                k = codes[i]
                out.errors.append(RowError(rt.file, int(rows[i]), c, uniq[k], str(u_err[k])))
                out.cell_errors.setdefault(int(i), set()).add(c)
        if any(u_note):
            has = np.array([x is not None for x in u_note])[codes]
            where = np.flatnonzero(has)
            for i in where[:NOTES_PER_COLUMN]:
                k = codes[i]
                out.warnings.append(RowWarning(rt.file, int(rows[i]), c, uniq[k], str(u_note[k])))
            if len(where) > NOTES_PER_COLUMN:
                out.warnings.append(
                    RowWarning(
                        rt.file,
                        None,
                        c,
                        None,
                        f"... and {len(where) - NOTES_PER_COLUMN:,} more cells of this column "
                        "interpreted the same ways",
                    )
                )
        if fast:
            norm[c] = u_norm[codes]
            if _KINDS.get(c) == "text" and m:
                strings = [u if isinstance(u, str) else None for u in u_norm]
                if any(u is not None for u in strings) and all(
                    u is None or isinstance(u, str) for u in u_norm
                ):
                    # the column's distinct values once, spread to the rows by Arrow
                    texts[c] = (codes, pa.array(strings, type=pa.string()))
    if fast:
        missing = [c for c in fast if c not in norm and c not in rt.columns]
        for c in missing:
            try:
                v = fast[c](None)
            except ValueError:  # pragma: no cover - required columns are never missing here
                v = None
            norm[c] = np.full(n, v, dtype=object) if not isinstance(v, float) else np.full(n, v)
        for c, check in _PROVENANCE.items():
            if c not in norm:
                norm[c] = np.full(n, check(None), dtype=object)
        bad = _row_checks(rt.table, norm)
        if bad is not None:
            status = np.where((status == OK) & bad, SLOW, status)
        good = status == OK
        data = {c: (v[good] if len(v) == n else v) for c, v in norm.items()}
        for c, (codes, uniq_text) in texts.items():
            data[c] = uniq_text.take(pa.array(codes[good]))
        file = rt.file
        out.frame = typed_frame(rt.table, data, file, rows[good])
        out.slow = [int(i) for i in np.flatnonzero(~good)]
    else:
        out.slow = list(range(n))
    return out


class _LazyList:
    """Index into a pyarrow string array as if it were a list (for the few slow rows)."""

    def __init__(self, arr: pa.Array) -> None:
        self.arr = arr

    def __getitem__(self, i: int) -> Any:
        return self.arr[int(i)].as_py()


class _Identity:
    def __getitem__(self, i: int) -> int:
        return i
