"""From raw tables to checked records, collecting every error before any write."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from onshore.errors import DataError, RowError, RowWarning
from onshore.io import cells
from onshore.io.readers import DELETED, RawTable, ReadFailure, column_name, read_file
from onshore.records.batch import Batch, Origin
from onshore.records.model import TABLES, FieldProblem
from onshore.records.physical import Finding, check_physical

PHYSICAL_TABLES = ("facilities", "flows", "boms", "materials")


def _expected(err: Any) -> str:
    kind, msg = err["type"], err["msg"]
    if kind == "value_error":
        return str(msg).removeprefix("Value error, ")
    if kind == "missing":
        return "a value (the field is required)"
    if kind in ("float_parsing", "float_type"):
        return "a number"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "a whole number"
    if kind in ("bool_parsing", "bool_type"):
        return "true or false"
    if kind == "greater_than":
        return f"a number > {err['ctx']['gt']}"
    if kind == "greater_than_equal":
        return f"a number >= {err['ctx']['ge']}"
    if kind == "less_than_equal":
        return f"a number <= {err['ctx']['le']}"
    if kind == "enum":
        return f"one of {err['ctx']['expected']}"
    if kind == "extra_forbidden":
        return "no such column"
    if kind == "string_type":
        return "text"
    return str(msg)


def _row_errors(
    rt: RawTable, row: int, values: dict[str, Any], e: ValidationError, skip: set[str]
) -> list[RowError]:
    """RowErrors for one row the model refused; ``values`` as written in the file."""
    out = []
    for err in e.errors():
        col = str(err["loc"][0]) if err["loc"] else None
        problem = (err.get("ctx") or {}).get("error")
        if col is None and isinstance(problem, FieldProblem):
            col = problem.column
        if col in skip:
            continue
        value = values.get(col) if col else None
        expected = _expected(err)
        if col in ("country", "hq_country", "unit") and value not in (None, ""):
            expected += _hint(col, value)
        out.append(RowError(rt.file, row, col, value, expected))
    return out


def _hint(col: str, value: object) -> str:
    from onshore.records import units
    from onshore.records.integrity import did_you_mean

    if col == "unit":
        hit = _UNIT_WORDS.get(str(value).strip().lower())
        if hit:
            return f"; did you mean {hit!r}?"
        return did_you_mean(str(value).split("/")[0], list(units.UNITS), cutoff=70)
    return _country_hint(str(value))


_UNIT_WORDS = {
    "tonne": "t",
    "tonnes": "t",
    "ton": "t",
    "tons": "t",
    "mt": "t",
    "metric tons": "t",
    "kilogram": "kg",
    "kilograms": "kg",
    "kgs": "kg",
    "gram": "g",
    "grams": "g",
    "cell": "cells",
    "pack": "packs",
    "sqm": "m2",
    "m²": "m2",
}


def _country_hint(value: str) -> str:
    import pycountry

    from onshore.records.integrity import suggest

    v = value.strip()
    if v.upper() == "UK":
        return "; did you mean 'GB'?"
    c = pycountry.countries.get(alpha_3=v.upper()) if len(v) == 3 else None
    if c is not None:
        return f"; did you mean {c.alpha_2!r} ({c.name})?"
    names = {c.name: c.alpha_2 for c in pycountry.countries}
    names.update({getattr(c, "common_name", c.name): c.alpha_2 for c in pycountry.countries})
    hit = suggest(v, list(names), cutoff=85) if len(v) > 3 else None
    return "" if hit is None else f"; did you mean {names[hit]!r} ({hit})?"


def _strict_errors(warnings: list[RowWarning]) -> list[RowError]:
    out = []
    for w in warnings:
        if w.kind != "ignored":
            continue
        got = "an extra column" if w.column else "a sheet that is not a table"
        why = w.read_as.removeprefix("ignored: ")
        out.append(
            RowError(
                w.file,
                w.row,
                w.column,
                None,
                f"only the tables and their columns (--strict: {why})",
                got=got,
            )
        )
    return out


def parse_tables(
    raw: Sequence[RawTable], batch: Batch | None = None
) -> tuple[Batch, list[RowError]]:
    """Turn raw tables into checked records.

    Parameters
    ----------
    raw : sequence of RawTable
        What the readers read.
    batch : Batch, optional
        The batch to add to (a new one by default).

    Returns
    -------
    tuple of Batch and list of RowError
        The batch (with ``warnings`` saying what was interpreted or ignored) and every row
        error found.
    """
    batch = batch if batch is not None else Batch()
    errors: list[RowError] = []
    for rt in raw:
        batch.warnings.extend(rt.warnings)
        spec = TABLES[rt.table]
        if DELETED in rt.columns:
            rt = _retired(rt, batch, errors)
            if not len(rt):
                continue
        missing = [c for c in spec.required if c not in rt.columns]
        for c in missing:
            from onshore.records.integrity import suggest

            near = {column_name(i): i for i in rt.ignored}
            hit = suggest(c, list(near))
            hint = "" if hit is None else f"; is the column {near[hit]!r} meant to be it?"
            errors.append(
                RowError(
                    rt.file,
                    rt.header_row,
                    c,
                    None,
                    f"a column named {c!r} (required in {rt.table}){hint}",
                    got="no such column",
                )
            )
        if missing:
            continue
        checked = cells.check_table(rt)
        batch.warnings.extend(checked.warnings)
        errors.extend(checked.errors)
        if checked.frame is not None:
            batch.add_frame(rt.table, checked.frame)
        for i in checked.slow:
            row = int(rt.row_numbers[i])
            values = checked.row_values(i)
            try:
                batch.add(spec.record.model_validate(values), Origin(rt.file, row))
            except ValidationError as e:
                skip = checked.cell_errors.get(i, set())
                errors.extend(_row_errors(rt, row, checked.row_cells(i), e, skip))
    return batch, errors


DELETE_WORDS = {"true": True, "yes": True, "1": True, "x": True}
KEEP_WORDS = {"": False, "false": False, "no": False, "0": False}
_DELETED_EXPECTED = "true, yes, 1 or x to delete the row; blank (or false, no, 0) to keep it"


def deleted_flag(v: Any) -> bool | None:
    """A ``deleted`` cell: True (true, yes, 1, x, in any case), False (blank, false, no,
    0), or None when it is neither."""
    if v is None or (isinstance(v, float) and v != v):  # noqa: PLR0124  (NaN: a blank cell)
        return False
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return True if v == 1 else False if v == 0 else None
    text = str(v).strip().lower()
    return DELETE_WORDS.get(text, KEEP_WORDS.get(text))


def _take(rt: RawTable, rows: Any, columns: list[str]) -> RawTable:
    """The rows at positions ``rows`` of ``rt``, with ``columns`` only."""
    import numpy as np
    import pyarrow as pa

    idx = np.asarray(rows, dtype=np.int64)
    data: dict[str, Any] = {}
    for c in columns:
        v = rt.data[c]
        data[c] = v.take(pa.array(idx)) if isinstance(v, pa.Array) else [v[i] for i in idx]
    return RawTable(
        rt.file,
        rt.table,
        columns,
        data,
        np.asarray(rt.row_numbers)[idx],
        ignored=rt.ignored,
        delimiter=rt.delimiter,
        header_row=rt.header_row,
    )


def _retired(rt: RawTable, batch: Batch, errors: list[RowError]) -> RawTable:
    """Split off the rows of ``rt`` whose ``deleted`` cell is true: their keys go to
    ``batch.deletions`` (the rest of such a row is not read), the other rows are returned
    without the column. A cell that is neither true nor blank/false is an error."""
    import numpy as np
    import pyarrow as pa

    spec = TABLES[rt.table]
    values = rt.data[DELETED]
    vals = values.to_pylist() if not isinstance(values, list) else values
    codes, uniq = cells._factorize(vals)
    flags = [deleted_flag(u) for u in uniq]
    rows = np.asarray(rt.row_numbers)
    for k, f in enumerate(flags):
        if f is None:
            for i in np.flatnonzero(codes == k):
                errors.append(RowError(rt.file, int(rows[i]), DELETED, uniq[k], _DELETED_EXPECTED))
    gone = np.asarray([f is True for f in flags], dtype=bool)[codes] if len(uniq) else codes > 0
    keep = [c for c in rt.columns if c != DELETED]
    if gone.any():
        required = [c for c in spec.key if spec.record.model_fields[c].is_required()]
        absent = [c for c in required if c not in rt.columns]
        for c in absent:
            errors.append(
                RowError(
                    rt.file,
                    rt.header_row,
                    c,
                    None,
                    f"a column named {c!r}: the {rt.table} key "
                    f"({', '.join(spec.key)}) says which row to delete",
                    got="no such column",
                )
            )
        if not absent:
            from onshore.records import model as M

            for i in np.flatnonzero(gone):
                key = []
                for c in spec.key:
                    col = rt.data.get(c)
                    v: Any = None if col is None else col[int(i)]
                    if isinstance(v, pa.Scalar):
                        v = v.as_py()
                    t = M._to_str(v)
                    t = t.strip() if isinstance(t, str) else t
                    if t in (None, "") and c in required:
                        errors.append(
                            RowError(
                                rt.file,
                                int(rows[i]),
                                c,
                                v,
                                f"the {c} of the {rt.table} row to delete",
                            )
                        )
                    key.append(None if t in (None, "") else str(t))
                batch.delete(rt.table, tuple(key), Origin(rt.file, int(rows[i])))
    if not gone.any():  # nothing retired: the same rows without the column, not copied
        return dataclasses.replace(
            rt, columns=keep, data={c: rt.data[c] for c in keep}, warnings=[]
        )
    return _take(rt, np.flatnonzero(~gone), keep)


def read_files(
    paths: Sequence[str | Path],
    progress: Callable[[str], None] | None = None,
    strict: bool = False,
) -> tuple[Batch, list[RowError]]:
    """Read and parse every file; errors from all files are collected together.

    Parameters
    ----------
    paths : sequence of str or Path
        The files.
    progress : callable, optional
        Told what is being done.
    strict : bool
        Refuse what would be ignored (extra columns, sheets that are not tables).

    Returns
    -------
    tuple of Batch and list of RowError
        The checked records (with the warnings in ``batch.warnings``) and every error.
    """
    raw: list[RawTable] = []
    errors: list[RowError] = []
    for p in paths:
        if progress:
            progress(f"reading {p}")
        try:
            raw.extend(read_file(p))
        except ReadFailure as f:
            errors.extend(f.errors)
    if progress:
        progress("checking values")
    batch, parse_errors = parse_tables(raw)
    errors += parse_errors
    if strict:
        errors = _strict_errors(batch.warnings) + errors
    return batch, errors


class ImportResult(dict[str, int]):
    """Rows written per table, with the ``warnings`` of what was interpreted or ignored, the
    physical ``findings`` (capacity, producing periods, recipes) of the import, the rows
    ``deleted`` per table (a ``deleted`` column) and the ``snapshot`` hash of the store the
    import leaves (the one verdicts on it cite)."""

    def __init__(
        self,
        written: dict[str, int],
        warnings: list[RowWarning],
        findings: list[Finding] | None = None,
        deleted: dict[str, int] | None = None,
        snapshot: str = "",
    ) -> None:
        super().__init__(written)
        self.warnings = warnings
        self.findings = findings or []
        self.deleted = deleted or {}
        self.snapshot = snapshot


def load_files(paths: Sequence[str | Path], strict: bool = False) -> Batch:
    """Read, parse and check files on their own (no store); raises DataError on any error.

    Parameters
    ----------
    paths : sequence of str or Path
        The files.
    strict : bool
        Refuse extra columns and sheets that are not tables instead of ignoring them.

    Returns
    -------
    Batch
        The checked records; ``batch.warnings`` says what was interpreted or ignored.
    """
    from onshore.records.integrity import check_batch

    batch, errors = read_files(paths, strict=strict)
    errors += check_batch(batch, existing=None)
    if errors:
        raise DataError(errors, warnings=batch.warnings)
    return batch


def physical_findings(store: Any, batch: Batch) -> list[Finding]:
    """The physical checks (:mod:`onshore.records.physical`) of what the store will hold once
    ``batch`` is written: the store's tables with the batch's rows replacing theirs by key."""
    frames = {}
    for t in PHYSICAL_TABLES:
        spec = TABLES[t]
        cols = spec.columns
        new = batch.frame(t)[list(cols)]
        old = store.read(t) if store is not None else new.iloc[0:0]
        both = pd.concat([old[cols], new], ignore_index=True) if len(old) else new
        both = both.drop_duplicates(subset=list(spec.key), keep="last")
        if batch.deletions[t]:
            key = both[list(spec.key)].astype(object).where(both[list(spec.key)].notna(), None)
            gone = {k for k, _ in batch.deletions[t]}
            both = both[[tuple(r) not in gone for r in key.itertuples(index=False)]]
        frames[t] = both
    return check_physical(
        frames["facilities"], frames["flows"], frames["boms"], frames["materials"]
    )


def _as_row_error(f: Finding) -> RowError:
    return RowError(
        "flows", None, f.check, f.node, f"flows that are physically possible: {f.message}"
    )


def import_files(
    store: Any,
    paths: Sequence[str | Path],
    progress: Callable[[str], None] | None = None,
    physical: str = "warn",
    link: Callable[[Batch], Batch] | None = None,
    strict: bool = False,
) -> ImportResult:
    """Import files into a store all-or-nothing.

    Every error is reported and nothing is written unless every row of every file is good.

    Parameters
    ----------
    store : Store
        The store to write into.
    paths : sequence of str or Path
        The files, one table each (a workbook: one sheet per table).
    progress : callable, optional
        Told what is being done (for a status line on long imports).
    physical : {"warn", "error", "off"}
        What the physical checks (capacity, producing periods, recipes) do: their errors
        are returned as findings (``warn``, the default for a user's own data), stop the
        import (``error``, used for the bundled reference network), or are not run.
    link : callable, optional
        May rewrite the batch before it is checked (``import --screen`` links incoming
        companies to those already in the store).
    strict : bool
        Refuse extra columns and sheets that are not tables instead of ignoring them.

    Returns
    -------
    ImportResult
        Rows written per table (a dict), with ``warnings``: what was interpreted (``51%``
        read as 0.51, an encoding assumed) or ignored (an extra column, a notes sheet), and
        ``findings``: the physical findings.

    Raises
    ------
    DataError
        Every error found (the first 100 listed, ``total`` counting them all).
    """
    from onshore.records.integrity import check_batch

    batch, errors = read_files(paths, progress, strict=strict)
    if link is not None and not errors:
        batch = link(batch)
    if progress:
        progress(f"checking {len(batch):,} rows against the store")
    errors += check_batch(batch, store.existing())
    for t, todo in batch.deletions.items():
        if todo:
            errors += store.missing_errors(t, [k for k, _ in todo], [o for _, o in todo])
    if errors:
        raise DataError(errors, warnings=batch.warnings)
    findings: list[Finding] = []
    if physical != "off" and any(batch.rows(t) or batch.deletions[t] for t in PHYSICAL_TABLES):
        if progress:
            progress("checking capacities, producing periods and recipes")
        findings = physical_findings(store, batch)
        if physical == "error":
            bad = [_as_row_error(f) for f in findings if f.level == "error"]
            if bad:
                raise DataError(bad)
    if progress:
        progress(f"writing {len(batch):,} rows")
    written: dict[str, int] = store.write(batch)
    if progress:
        progress("naming the new snapshot")
    # hashed once here, where the content changed, and kept by the store: later commands
    # name the snapshot their verdicts rest on without reading every row again
    return ImportResult(written, batch.warnings, findings, batch.deleted(), store.snapshot_hash())


def reference_files() -> list[Path]:
    """The CSV files of the bundled reference network, in table order."""
    from importlib import resources

    folder = Path(str(resources.files("onshore") / "data" / "reference"))
    return [folder / f"{t}.csv" for t in TABLES if (folder / f"{t}.csv").exists()]
