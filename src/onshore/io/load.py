"""From raw tables to checked records, collecting every error (up to 100) before any write."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from onshore.errors import MAX_ERRORS, DataError, RowError
from onshore.io.readers import RawTable, ReadFailure, read_file
from onshore.records.batch import Batch, Origin
from onshore.records.model import TABLES
from onshore.records.physical import Finding, check_physical

PHYSICAL_TABLES = ("facilities", "flows", "boms", "materials")


class Written(dict[str, int]):
    """Rows written per table, with the physical findings of the import (``findings``)."""

    findings: list[Finding]

    def __init__(self, counts: dict[str, int], findings: list[Finding]) -> None:
        super().__init__(counts)
        self.findings = findings


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
    return str(msg)


def parse_tables(raw: Sequence[RawTable]) -> tuple[Batch, list[RowError]]:
    """Turn raw rows into records; returns the batch and the row errors found."""
    batch = Batch()
    errors: list[RowError] = []
    for rt in raw:
        spec = TABLES[rt.table]
        known = set(spec.columns)
        unknown = [c for c in rt.columns if c and c not in known]
        missing = [c for c in spec.required if c not in rt.columns]
        for c in unknown:
            errors.append(
                RowError(rt.file, 1, c, c, f"a column of {rt.table}: {', '.join(spec.columns)}")
            )
        for c in missing:
            errors.append(
                RowError(rt.file, 1, c, None, f"a column named {c!r} (required in {rt.table})")
            )
        if unknown or missing:
            continue
        for row, values in rt.rows:
            try:
                batch.add(spec.record.model_validate(values), Origin(rt.file, row))
            except ValidationError as e:
                for err in e.errors():
                    col = str(err["loc"][0]) if err["loc"] else None
                    value = values.get(col) if col else None
                    errors.append(RowError(rt.file, row, col, value, _expected(err)))
            if len(errors) > MAX_ERRORS:
                return batch, errors
    return batch, errors


def read_files(
    paths: Sequence[str | Path], progress: Callable[[str], None] | None = None
) -> tuple[Batch, list[RowError]]:
    """Read and parse every file; errors from all files are collected together."""
    raw: list[RawTable] = []
    errors: list[RowError] = []
    for p in paths:
        if progress:
            progress(f"reading {p}")
        try:
            raw.extend(read_file(p))
        except ReadFailure as f:
            errors.extend(f.errors)
    batch, parse_errors = parse_tables(raw)
    return batch, errors + parse_errors


def load_files(paths: Sequence[str | Path]) -> Batch:
    """Read, parse and check files on their own (no store); raises DataError on any error."""
    from onshore.records.integrity import check_batch

    batch, errors = read_files(paths)
    errors += check_batch(batch, existing=None)
    if errors:
        raise DataError(errors)
    return batch


def physical_findings(store: Any, batch: Batch) -> list[Finding]:
    """The physical checks (:mod:`onshore.records.physical`) of what the store will hold once
    ``batch`` is written: the store's tables with the batch's rows replacing theirs by key."""
    frames = {}
    for t in PHYSICAL_TABLES:
        spec = TABLES[t]
        cols = spec.columns
        new = pd.DataFrame(
            [r.model_dump(include=set(cols)) for r in batch.records[t]], columns=cols
        )
        old = store.read(t) if store is not None else new.iloc[0:0]
        both = pd.concat([old[cols], new], ignore_index=True) if len(old) else new
        frames[t] = both.drop_duplicates(subset=list(spec.key), keep="last")
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
) -> Written:
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

    Returns
    -------
    Written
        Rows written per table; ``findings`` holds the physical findings.
    """
    from onshore.records.integrity import check_batch

    batch, errors = read_files(paths, progress)
    if link is not None and not errors:
        batch = link(batch)
    if progress:
        progress(f"checking {len(batch):,} rows against the store")
    errors += check_batch(batch, store.existing())
    if errors:
        raise DataError(errors)
    findings: list[Finding] = []
    if physical != "off" and any(batch.records[t] for t in PHYSICAL_TABLES):
        if progress:
            progress("checking capacities, producing periods and recipes")
        findings = physical_findings(store, batch)
        if physical == "error":
            bad = [_as_row_error(f) for f in findings if f.level == "error"]
            if bad:
                raise DataError(bad)
    if progress:
        progress(f"writing {len(batch):,} rows")
    return Written(store.write(batch), findings)


def reference_files() -> list[Path]:
    """The CSV files of the bundled reference network, in table order."""
    from importlib import resources

    folder = Path(str(resources.files("onshore") / "data" / "reference"))
    return [folder / f"{t}.csv" for t in TABLES if (folder / f"{t}.csv").exists()]
