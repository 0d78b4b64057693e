"""Rules that span records: unique keys, references that resolve, owners at most 100 %,
and units that fit the materials they count. Checked over the store plus the new batch."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from onshore.errors import RowError, UnitError
from onshore.records import units
from onshore.records.model import TABLES, Bom, Flow, Material, Ownership, Record

if TYPE_CHECKING:
    from onshore.records.batch import Batch, Origin

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


def check_batch(batch: Batch, existing: Existing | None) -> list[RowError]:
    """Every cross-record error in ``batch`` given what the store holds."""
    ex = existing or Existing()
    errors: list[RowError] = []
    ids: dict[str, set[object]] = {}
    for name, spec in TABLES.items():
        seen: dict[tuple[object, ...], int] = {}
        for i, r in enumerate(batch.records[name]):
            k = key_of(r, spec.key)
            if k in seen:
                first = batch.origins[name][seen[k]]
                o = batch.origins[name][i]
                shown = ", ".join(
                    f"{c}={v}" for c, v in zip(spec.key, k, strict=True) if v is not None
                )
                errors.append(
                    RowError(
                        o.file,
                        o.row,
                        spec.key[0],
                        shown,
                        f"a unique {name} key; it is already given at {first.file}, row "
                        f"{first.row}",
                    )
                )
            else:
                seen[k] = i
        if len(spec.key) == 1:
            ids[name] = {k[0] for k in ex.keys.get(name, set())} | {k[0] for k in seen}

    for name, spec in TABLES.items():
        for col, target in spec.refs.items():
            for r, o in zip(batch.records[name], batch.origins[name], strict=True):
                v = getattr(r, col)
                if v is not None and v not in ids[target]:
                    errors.append(
                        RowError(
                            o.file,
                            o.row,
                            col,
                            v,
                            f"the id of one of the {target} (there is no {SINGULAR[target]} {v!r})",
                        )
                    )

    errors += _check_owners(batch, ex)
    errors += _check_units(batch, ex)
    return errors


def _check_owners(batch: Batch, ex: Existing) -> list[RowError]:
    new: dict[tuple[str, str], tuple[Ownership, Origin]] = {}
    for o, org in zip(batch.records["ownership"], batch.origins["ownership"], strict=True):
        assert isinstance(o, Ownership)
        new[(o.owner, o.owned)] = (o, org)
    merged: dict[tuple[str, str], Ownership] = {(o.owner, o.owned): o for o in ex.ownership}
    merged.update({k: v[0] for k, v in new.items()})
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for (_, owned), o in merged.items():
        for f in ("equity", "voting", "board"):
            v = getattr(o, f)
            if v is not None:
                totals[owned][f] += v
    errors = []
    for (owner, owned), (o, org) in new.items():
        for f, total in totals[owned].items():
            if total > 1 + TOLERANCE and getattr(o, f) is not None:
                errors.append(
                    RowError(
                        org.file,
                        org.row,
                        f,
                        getattr(o, f),
                        f"owners of {owned!r} holding at most 100 % {f} in total (recorded owners "
                        f"add up to {total:.1%})",
                    )
                )
    return errors


def _check_units(batch: Batch, ex: Existing) -> list[RowError]:
    mat_units = dict(ex.material_units)
    mat_units.update({m.id: m.unit for m in batch.records["materials"] if isinstance(m, Material)})
    errors = []
    for r, o in zip(batch.records["flows"], batch.origins["flows"], strict=True):
        assert isinstance(r, Flow)
        mu = mat_units.get(r.material)
        if mu is not None and units.dimension(r.unit) != units.dimension(mu):
            errors.append(
                RowError(
                    o.file,
                    o.row,
                    "unit",
                    r.unit,
                    f"a unit of {units.dimension(mu)} like the material {r.material!r} ({mu})",
                )
            )
    for r, o in zip(batch.records["boms"], batch.origins["boms"], strict=True):
        assert isinstance(r, Bom)
        if r.unit is None:
            continue
        num, den = units.split_ratio(r.unit)
        for u, mat, what in ((num, r.input, "input"), (den, r.output, "output")):
            mu = mat_units.get(mat)
            if mu is None:
                continue
            try:
                units.factor(u, mu)
            except UnitError:
                errors.append(
                    RowError(
                        o.file,
                        o.row,
                        "unit",
                        r.unit,
                        f"the {what} part in a unit of {units.dimension(mu)} like {mat!r} ({mu})",
                    )
                )
    return errors
