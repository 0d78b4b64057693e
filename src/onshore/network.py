"""Network: a supply network loaded from a store, the one container analyses start from.

Its tables are pandas DataFrames with the model's columns (see :mod:`onshore.records.model`),
ordered by key. Analyses read them and never the store or files.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

from onshore.records import units
from onshore.records.model import TABLES

if TYPE_CHECKING:
    from onshore.store.duckdb import DuckDBStore


T = TypeVar("T")


def _empty(table: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in TABLES[table].columns})


@dataclass
class Network:
    """The tables of one supply network, with derived columns computed once on demand."""

    companies: pd.DataFrame = field(default_factory=lambda: _empty("companies"))
    materials: pd.DataFrame = field(default_factory=lambda: _empty("materials"))
    facilities: pd.DataFrame = field(default_factory=lambda: _empty("facilities"))
    ownership: pd.DataFrame = field(default_factory=lambda: _empty("ownership"))
    boms: pd.DataFrame = field(default_factory=lambda: _empty("boms"))
    flows: pd.DataFrame = field(default_factory=lambda: _empty("flows"))
    licences: pd.DataFrame = field(default_factory=lambda: _empty("licences"))
    snapshot: str = ""
    reviews: pd.DataFrame | None = None
    """Reviewers' latest judgements of name pairs (see :mod:`onshore.store.reviews`)."""
    _cache: dict[Hashable, Any] = field(default_factory=dict, repr=False, compare=False)

    def cached(self, key: Hashable, make: Callable[[], T]) -> T:
        """The value under ``key``, made by ``make()`` on first use and kept with the network.

        Analyses keep what they derive from the tables here (the trace graph, owners, the
        compliance context, ...), under keys that begin with their module's name, e.g.
        ``("trace.graph", period)``. The tables are not meant to change after loading; a
        network whose tables are replaced should be built anew."""
        if key not in self._cache:
            self._cache[key] = make()
        value: T = self._cache[key]
        return value

    # construction -------------------------------------------------------------------
    @classmethod
    def from_store(cls, store: DuckDBStore) -> Network:
        """Load every table of a store."""
        from onshore.store.reviews import ReviewQueue

        tables = {t: store.read(t) for t in TABLES}
        reviews = ReviewQueue(store.con).latest()
        return cls(**tables, snapshot=store.snapshot_hash(), reviews=reviews)

    @classmethod
    def load(cls, path: str | Path) -> Network:
        """Load the network in a store file."""
        from onshore.store.duckdb import open_store

        with open_store(path) as store:
            return cls.from_store(store)

    @classmethod
    def reference(cls) -> Network:
        """The bundled, cited reference network of the lithium-ion chain."""
        from onshore.io.load import import_files, reference_files
        from onshore.store.duckdb import DuckDBStore

        with DuckDBStore(":memory:") as store:
            import_files(store, reference_files())
            return cls.from_store(store)

    @classmethod
    def from_frames(cls, **tables: pd.DataFrame) -> Network:
        """Build from DataFrames (missing tables are empty, missing optional columns None)."""
        out: dict[str, pd.DataFrame] = {}
        for t in TABLES:
            df = tables.get(t)
            if df is None:
                out[t] = _empty(t)
                continue
            df = df.copy()
            for c in TABLES[t].columns:
                if c not in df.columns:
                    df[c] = None
            out[t] = df[TABLES[t].columns].reset_index(drop=True)
        return cls(**out)

    # derived views ------------------------------------------------------------------
    def flows_in_material_units(self, period: str | None = None) -> pd.DataFrame:
        """Flows (of one period: ``"2025"`` matches 2025, 2025-Q1, 2025-03) with ``qty``, the
        quantity in its material's own unit. One conversion factor per distinct (unit,
        material) pair, so ten million flows take seconds."""
        key = ("network.flows", period)
        if key not in self._cache:
            f = self.flows
            if period is not None:
                f = f[f["period"].astype(str).str.startswith(str(period)).to_numpy()]
            mat_unit = pd.Series(
                self.materials["unit"].to_numpy(), index=self.materials["id"].astype(str)
            )
            pairs = pd.DataFrame(
                {
                    "unit": f["unit"].astype(str).to_numpy(),
                    "material": f["material"].astype(str).to_numpy(),
                }
            )
            codes, uniq = (
                pd.factorize(pd.MultiIndex.from_frame(pairs))
                if len(f)
                else (np.zeros(0, dtype=int), [])
            )
            factors = np.array(
                [units.factor(u, mat_unit[m]) if m in mat_unit.index else np.nan for u, m in uniq],
                dtype=float,
            )
            out = f.copy()
            out["qty"] = (
                f["quantity"].to_numpy(dtype=float) * factors[codes] if len(f) else np.zeros(0)
            )
            self._cache[key] = out
        result: pd.DataFrame = self._cache[key]
        return result

    def boms_in_material_units(self) -> pd.DataFrame:
        """BOM rows with ``qty``: input per unit of output in the materials' own units."""
        if ("network.boms",) not in self._cache:
            mat_unit = dict(zip(self.materials["id"], self.materials["unit"], strict=True))
            qty = []
            for q, u, i, o in zip(
                self.boms["quantity"],
                self.boms["unit"],
                self.boms["input"],
                self.boms["output"],
                strict=True,
            ):
                if u is None or (isinstance(u, float) and np.isnan(u)):
                    qty.append(float(q))
                    continue
                num, den = units.split_ratio(u)
                qty.append(
                    float(q) * units.factor(num, mat_unit[i]) / units.factor(den, mat_unit[o])
                )
            out = self.boms.copy()
            out["qty"] = np.array(qty, dtype=float)
            self._cache[("network.boms",)] = out
        result: pd.DataFrame = self._cache[("network.boms",)]
        return result

    def company_of(self) -> dict[str, str]:
        """Facility id -> company id."""
        return dict(zip(self.facilities["id"], self.facilities["company"], strict=True))

    def summary(self) -> dict[str, int]:
        """Rows per table."""
        return {t: len(getattr(self, t)) for t in TABLES}

    # accessors: one call for the common thing; the modules keep the steps -------------
    def trace(self, product: str, **kw: Any) -> pd.DataFrame:
        """Origin of one product by tags (see :func:`onshore.trace.trace`)."""
        from onshore.trace import trace

        return trace(self, product, **kw)

    def explain(self, product: str, tag: dict[str, str], top: int = 5, **kw: Any) -> list[Any]:
        """The heaviest upstream paths behind one traced tag (see :func:`onshore.trace.explain`)."""
        from onshore.trace import explain

        return explain(self, product, tag, top=top, **kw)

    def check(self, product: str, buyer: str, on: Any, **kw: Any) -> list[Any]:
        """Verdicts of every rule for a buyer on a date (see :func:`onshore.compliance.evaluate.check`)."""
        from onshore.compliance import check

        return check(self, product, buyer, on, **kw)

    def owners(self) -> Any:
        """Effective ownership, control and controlling countries (see :mod:`onshore.owners.control`)."""
        from onshore.owners import owners

        return owners(self)
