"""Rules that span records: unique keys, references that resolve, owners at most 100 %,
and units that fit the materials they count. Checked over the store plus the new batch."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from onshore.errors import MAX_ERRORS, RowError, UnitError
from onshore.records import units
from onshore.records.batch import Origin
from onshore.records.model import TABLES, Ownership, Record

if TYPE_CHECKING:
    from onshore.records.batch import Batch

TOLERANCE = 1e-9
SINGULAR = {"companies": "company", "materials": "material", "facilities": "facility"}


@dataclass
class Existing:
    """What the store already holds that the checks need."""

    keys: dict[str, set[tuple[object, ...]]] = field(default_factory=lambda: defaultdict(set))
    material_units: dict[str, str] = field(default_factory=dict)
    ownership: list[Ownership] = field(default_factory=list)


def key_of(record: Record, key: tuple[str, ...]) -> tuple[object, ...]:
    return tuple(getattr(record, k) for k in key)


def _none(v: object) -> object:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def suggest(value: object, choices: Iterable[str], cutoff: float = 80.0) -> str | None:
    """The choice closest to ``value`` when it is close enough to be a likely misspelling."""
    from rapidfuzz import fuzz, process, utils

    if not isinstance(value, str) or not value.strip():
        return None
    hit = process.extractOne(
        value, choices, scorer=fuzz.WRatio, processor=utils.default_process, score_cutoff=cutoff
    )
    return None if hit is None else str(hit[0])


def did_you_mean(value: object, choices: Iterable[str], cutoff: float = 80.0) -> str:
    """``"; did you mean 'x'?"`` for a likely misspelling, else ``""``."""
    hit = suggest(value, choices, cutoff)
    return "" if hit is None or hit == value else f"; did you mean {hit!r}?"


def check_batch(batch: Batch, existing: Existing | None) -> list[RowError]:
    """Every cross-record error in ``batch`` given what the store holds (all of them are
    returned; the first ``MAX_ERRORS`` reference errors carry a "did you mean")."""
    ex = existing or Existing()
    errors: list[RowError] = []
    ids: dict[str, set[object]] = {}
    for name, spec in TABLES.items():
        df = batch.frame(name)
        keycols = list(spec.key)
        new_ids: set[object] = set()
        if len(df):
            group = _key_groups(df, keycols)
            keys, first_at = np.unique(group, return_index=True)
            dup = np.ones(len(df), dtype=bool)
            dup[first_at] = False
            if dup.any():
                files, rows = df["_file"].astype(str).to_numpy(), df["_row"].to_numpy()
                for i in np.flatnonzero(dup):
                    j = first_at[np.searchsorted(keys, group[i])]
                    k = tuple(_none(df[c].iloc[i]) for c in keycols)
                    shown = ", ".join(
                        f"{c}={v}" for c, v in zip(spec.key, k, strict=True) if v is not None
                    )
                    errors.append(
                        RowError(
                            str(files[i]),
                            int(rows[i]),
                            spec.key[0],
                            shown,
                            f"a unique {name} key; it is already given at {files[j]}, "
                            f"row {rows[j]}",
                        )
                    )
            if len(keycols) == 1:
                new_ids = set(df[keycols[0]].dropna().tolist())
        if len(spec.key) == 1:
            ids[name] = {k[0] for k in ex.keys.get(name, set())} | new_ids

    for name, spec in TABLES.items():
        df = batch.frame(name)
        if not len(df):
            continue
        for col, target in spec.refs.items():
            values = df[col]
            bad = values.notna().to_numpy() & ~_isin(values, ids[target])
            if not bad.any():
                continue
            files, rows = df["_file"].astype(str).to_numpy(), df["_row"].to_numpy()
            choices = sorted(str(i) for i in ids[target])
            for i in np.flatnonzero(bad):
                v = values.iloc[i]
                hint = did_you_mean(v, choices) if len(errors) < MAX_ERRORS else ""
                errors.append(
                    RowError(
                        str(files[i]),
                        int(rows[i]),
                        col,
                        v,
                        f"the id of one of the {target} (there is no {SINGULAR[target]} {v!r})"
                        + hint,
                    )
                )

    errors += _check_deletions(batch)
    errors += _check_owners(batch, ex)
    errors += _check_units(batch, ex)
    return errors


def _check_deletions(batch: Batch) -> list[RowError]:
    """A row an import retires is retired once and not also written by the same import."""
    errors: list[RowError] = []
    for name, todo in batch.deletions.items():
        if not todo:
            continue
        spec = TABLES[name]
        df = batch.frame(name)
        written: dict[tuple[object, ...], tuple[str, int]] = {}
        if len(df):
            kdf = df[list(spec.key)].astype(object).where(df[list(spec.key)].notna(), None)
            at = zip(df["_file"].astype(str), df["_row"], strict=True)
            written = dict(zip(kdf.itertuples(index=False, name=None), at, strict=True))
        seen: dict[tuple[object, ...], Origin] = {}
        for key, origin in todo:
            shown = ":".join("" if v is None else str(v) for v in key)
            other = written.get(key)
            first = seen.setdefault(key, origin)
            if other is not None:
                where = f"{other[0]}, row {other[1]}"
                why = f"a {name} row either deleted or written, not both ({where} writes it)"
            elif first is not origin:
                why = f"a {name} row deleted once (also at {first.file}, row {first.row})"
            else:
                continue
            errors.append(RowError(origin.file, origin.row, ":".join(spec.key), shown, why))
    return errors


def _key_groups(df: pd.DataFrame, keycols: list[str]) -> np.ndarray:
    """Each row's key as one integer, equal for equal keys (blanks equal to blanks)."""
    group = np.zeros(len(df), dtype=np.int64)
    size = 1
    for c in keycols:
        codes, uniq = pd.factorize(df[c], use_na_sentinel=False)
        if size * (len(uniq) + 1) >= 2**62:
            group = pd.factorize(group)[0]
            size = int(group.max()) + 1
        group = group * (len(uniq) + 1) + codes
        size *= len(uniq) + 1
    return group


def _isin(values: pd.Series, ids: set[object]) -> np.ndarray:
    """``values.isin(ids)`` as a boolean array, by Arrow for text (pandas' ``isin`` of Arrow
    strings makes a scalar of every id)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        arr = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = None
    if arr is not None and (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        known = pa.array([i for i in ids if isinstance(i, str)], type=arr.type)
        hit = pc.is_in(arr, value_set=known)
        return np.asarray(hit.to_numpy(zero_copy_only=False), dtype=bool)
    return np.asarray(values.isin(list(ids)).to_numpy(), dtype=bool)


def _check_owners(batch: Batch, ex: Existing) -> list[RowError]:
    df = batch.frame("ownership")
    cols = ["owner", "owned", "equity", "voting", "board", "debt"]
    new: dict[tuple[str, str], tuple[dict[str, object], Origin]] = {}
    for *values, file, row in df[[*cols, "_file", "_row"]].itertuples(index=False, name=None):
        d = {c: _none(v) for c, v in zip(cols, values, strict=True)}
        new[(str(d["owner"]), str(d["owned"]))] = (d, Origin(str(file), int(row)))
    merged: dict[tuple[str, str], dict[str, object]] = {
        (o.owner, o.owned): {f: getattr(o, f) for f in cols} for o in ex.ownership
    }
    merged.update({k: v[0] for k, v in new.items()})
    for key, _ in batch.deletions["ownership"]:
        merged.pop((str(key[0]), str(key[1])), None)
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for (_, owned), o in merged.items():
        for f in ("equity", "voting", "board"):
            v = _none(o[f])
            if v is not None:
                totals[owned][f] += float(v)  # type: ignore[arg-type]
    errors = _closed_cycles(merged, new)
    for (_owner, owned), (o, org) in new.items():
        for f, total in totals[owned].items():
            if total > 1 + TOLERANCE and o[f] is not None:
                errors.append(
                    RowError(
                        org.file,
                        org.row,
                        f,
                        o[f],
                        f"owners of {owned!r} holding at most 100 % {f} in total "
                        f"(recorded owners add up to {total:.1%})",
                    )
                )
    return errors


def _closed_cycles(
    merged: dict[tuple[str, str], dict[str, object]],
    new: dict[tuple[str, str], tuple[dict[str, object], Origin]],
) -> list[RowError]:
    """Cross-holdings that own each other entirely (A holds all of B, B all of A): the
    companies of a cycle whose shares from inside the cycle add up to 100 % each have no
    outside owner at all, and effective ownership ``(I - S)^-1`` has no value. Each new row of
    such a cycle is an error naming the cycle's rows."""
    if not new:
        return []
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    errors: list[RowError] = []
    for f in ("equity", "voting"):
        edges = [
            (a, b, float(v))  # type: ignore[arg-type]
            for (a, b), o in merged.items()
            if (v := _none(o[f])) is not None and float(v) > 0  # type: ignore[arg-type]
        ]
        if not edges:
            continue
        names = sorted({x for a, b, _ in edges for x in (a, b)})
        pos = {c: i for i, c in enumerate(names)}
        r = [pos[a] for a, _, _ in edges]
        c = [pos[b] for _, b, _ in edges]
        g = sp.csr_matrix((np.ones(len(edges)), (r, c)), shape=(len(names), len(names)))
        _, label = connected_components(g, directed=True, connection="strong")
        inside: dict[str, float] = defaultdict(float)
        for a, b, v in edges:
            if label[pos[a]] == label[pos[b]]:
                inside[b] += v
        comps: dict[int, list[str]] = defaultdict(list)
        for n in names:
            comps[int(label[pos[n]])].append(n)
        for members in comps.values():
            cyclic = len(members) > 1 or any(a == b == members[0] for a, b, _ in edges)
            if not cyclic or any(inside[m] < 1 - 1e-9 for m in members):
                continue
            ring = set(members)
            rows = sorted((a, b) for a, b, _ in edges if a in ring and b in ring)
            share = {(a, b): v for a, b, v in edges}
            shown = "; ".join(f"{a} owns {share[(a, b)]:.0%} of {b}" for a, b in rows)
            for k in rows:
                if k in new:
                    org = new[k][1]
                    errors.append(
                        RowError(
                            org.file,
                            org.row,
                            f,
                            merged[k][f],
                            f"owners outside a cycle: {', '.join(sorted(ring))} hold 100 % "
                            f"{f} of each other ({shown}), so none of them has an owner "
                            "and effective ownership has no value; record the outside owners",
                        )
                    )
    return errors


def _check_units(batch: Batch, ex: Existing) -> list[RowError]:
    mat_units = dict(ex.material_units)
    mats = batch.frame("materials")
    mat_units.update(dict(zip(mats["id"], mats["unit"], strict=True)))
    mat_dim = {m: units.dimension(u) for m, u in mat_units.items()}
    errors = []
    flows = batch.frame("flows")
    if len(flows):
        # per distinct material and unit (a code of -1, a blank, picks the trailing None)
        mc, mu = pd.factorize(flows["material"])
        uc, uu = pd.factorize(flows["unit"])
        want = np.array([*(mat_dim.get(m) for m in mu), None], dtype=object)[mc]
        got = np.array([*(units.dimension(u) for u in uu), None], dtype=object)[uc]
        bad = np.array([w is not None for w in want], dtype=bool) & (want != got)
        if bad.any():
            files, rows = flows["_file"].to_numpy(), flows["_row"].to_numpy()
        for i in np.flatnonzero(bad):
            m, u = flows["material"].iloc[i], flows["unit"].iloc[i]
            mu = mat_units[m]
            errors.append(
                RowError(
                    str(files[i]),
                    int(rows[i]),
                    "unit",
                    u,
                    f"a unit of {units.dimension(mu)} like the material {m!r} ({mu})",
                )
            )
    boms = batch.frame("boms")
    for inp, out, unit, file, row in boms[["input", "output", "unit", "_file", "_row"]].itertuples(
        index=False, name=None
    ):
        if _none(unit) is None:
            continue
        num, den = units.split_ratio(str(unit))
        for u, mat, what in ((num, inp, "input"), (den, out, "output")):
            bom_mu = mat_units.get(str(mat))
            if bom_mu is None:
                continue
            try:
                units.factor(u, bom_mu)
            except UnitError:
                errors.append(
                    RowError(
                        str(file),
                        int(row),
                        "unit",
                        unit,
                        f"the {what} part in a unit of {units.dimension(bom_mu)} like {mat!r} "
                        f"({bom_mu})",
                    )
                )
    return errors
