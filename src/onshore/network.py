"""Network: a supply network loaded from a store, the one container analyses start from.

Its tables are pandas DataFrames with the model's columns (see :mod:`onshore.records.model`),
ordered by key. Analyses read them and never the store or files.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

from onshore.records import units
from onshore.records.model import TABLES

if TYPE_CHECKING:
    from onshore.store.duckdb import DuckDBStore
    from onshore.store.plans import PlanCache


T = TypeVar("T")


def _empty(table: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in TABLES[table].columns})


def unit_factors(pairs: Iterable[tuple[str, str]], mat_unit: pd.Series) -> np.ndarray:
    """The factor from a flow's unit to its material's own unit, per ``(unit, material)``
    pair (NaN for a material not in ``mat_unit``): what :meth:`Network.flows_in_material_units`
    multiplies each flow's quantity by.

    Parameters
    ----------
    pairs : iterable of (unit, material id)
    mat_unit : Series
        Material id -> its unit.

    Returns
    -------
    ndarray of float
        One factor per pair, in their order.

    Raises
    ------
    UnitError
        When a unit cannot be converted to its material's unit.
    """
    return np.array(
        [units.factor(u, mat_unit[m]) if m in mat_unit.index else np.nan for u, m in pairs],
        dtype=float,
    )


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
    plans: PlanCache | None = field(default=None, repr=False, compare=False)
    """Where the trace keeps its solve plans between processes, beside the store file, each
    named by a digest of what it depends on (:mod:`onshore.store.plans`); None for a network
    not loaded from a store file."""
    _cache: dict[Hashable, Any] = field(default_factory=dict, repr=False, compare=False)

    def cached(self, key: Hashable, make: Callable[[], T]) -> T:
        """The value under ``key``, made by ``make()`` on first use and kept with the network.

        Analyses keep what they derive from the tables here (the trace graph, owners, the
        compliance context, ...), under keys that begin with their module's name, e.g.
        ``("trace.graph", period)``. The tables are not meant to change after loading; a
        network whose tables are replaced should be built anew.

        Parameters
        ----------
        key : hashable
            The cache key.
        make : callable
            Called with no arguments when ``key`` is not cached yet.

        Returns
        -------
        object
            The cached value (the same object on every call with ``key``).
        """
        if key not in self._cache:
            self._cache[key] = make()
        value: T = self._cache[key]
        return value

    # construction -------------------------------------------------------------------
    @classmethod
    def from_store(cls, store: DuckDBStore) -> Network:
        """Load every table of a store.

        Parameters
        ----------
        store : DuckDBStore
            An open store.

        Returns
        -------
        Network
            Its tables, with ``snapshot`` the store's snapshot hash and ``plans`` the store's
            plan cache for that snapshot (None for a store in memory).
        """
        from onshore.store.reviews import ReviewQueue

        tables = {t: store.read(t) for t in TABLES}
        reviews = ReviewQueue(store.con).latest()
        snapshot = store.snapshot_hash()
        return cls(**tables, snapshot=snapshot, reviews=reviews, plans=store.plan_cache(snapshot))

    @classmethod
    def load(cls, path: str | Path) -> Network:
        """Load the network in a store file.

        Parameters
        ----------
        path : str or Path
            The DuckDB store file.

        Returns
        -------
        Network

        Raises
        ------
        StoreError
            When the file is missing, locked or of another schema.
        """
        from onshore.store.duckdb import open_store

        with open_store(path) as store:
            return cls.from_store(store)

    @classmethod
    def reference(cls) -> Network:
        """The bundled, cited reference network of the lithium-ion chain.

        Returns
        -------
        Network
            Imported from the bundled reference files into an in-memory store.
        """
        from onshore.io.load import import_files, reference_files
        from onshore.store.duckdb import DuckDBStore

        with DuckDBStore(":memory:") as store:
            import_files(store, reference_files(), physical="error")
            return cls.from_store(store)

    @classmethod
    def from_frames(cls, **tables: pd.DataFrame) -> Network:
        """Build from DataFrames (missing tables are empty, missing optional columns None).

        Parameters
        ----------
        **tables : DataFrame
            Tables by name (``companies``, ``materials``, ``facilities``, ``ownership``,
            ``boms``, ``flows``, ``licences``); other names are ignored.

        Returns
        -------
        Network
            Each table copied, reduced to the model's columns in their order, with a fresh
            index; ``snapshot`` empty.
        """
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
    def flows_of(self, period: str | None = None) -> pd.DataFrame:
        """The flows whose period starts with ``period`` (``"2025"`` keeps 2025, 2025-Q1 and
        2025-03); every flow when None. Cached per period; do not modify the frame.

        Parameters
        ----------
        period : str, optional

        Returns
        -------
        DataFrame
            Rows of :attr:`flows`, in their order, with their index.
        """
        if period is None:
            return self.flows
        return self.cached(("network.flows_of", str(period)), lambda: self._flows_of(str(period)))

    def _flows_of(self, prefix: str) -> pd.DataFrame:
        col = self.flows["period"]
        if isinstance(col.dtype, pd.CategoricalDtype):  # each distinct period tested once
            ok = np.asarray(col.cat.categories.astype(str).str.startswith(prefix))
            codes = col.cat.codes.to_numpy()
            keep = (codes >= 0) & (ok[np.maximum(codes, 0)] if len(ok) else False)
        else:
            keep = col.astype(str).str.startswith(prefix).to_numpy(dtype=bool)
        return self.flows[keep]

    def flows_in_material_units(self, period: str | None = None) -> pd.DataFrame:
        """Flows with ``qty``, the quantity in its material's own unit.

        One conversion factor per distinct (unit, material) pair, so ten million flows take
        seconds. Cached per period.

        Parameters
        ----------
        period : str, optional
            Keep flows whose period starts with this (``"2025"`` matches 2025, 2025-Q1,
            2025-03); default every flow.

        Returns
        -------
        DataFrame
            The flow rows kept, with ``qty`` added (NaN for a material not in ``materials``).

        Raises
        ------
        UnitError
            When a flow's unit cannot be converted to its material's unit.
        """
        key = ("network.flows", period)
        if key not in self._cache:
            f = self.flows_of(period)
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
            factors = unit_factors(uniq, mat_unit)
            out = f.copy()
            out["qty"] = (
                f["quantity"].to_numpy(dtype=float) * factors[codes] if len(f) else np.zeros(0)
            )
            self._cache[key] = out
        result: pd.DataFrame = self._cache[key]
        return result

    def boms_in_material_units(self) -> pd.DataFrame:
        """BOM rows with ``qty``: input per unit of output in the materials' own units.

        Returns
        -------
        DataFrame
            The ``boms`` table with ``qty`` added: ``quantity`` converted from its ratio unit
            (e.g. ``kg/kWh``) to input-material unit per output-material unit; ``quantity`` as
            is where no unit is given. Cached.

        Raises
        ------
        UnitError
            When a BOM unit cannot be converted to its materials' units.
        """
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
        """Facility id -> company id.

        Returns
        -------
        dict
            Every facility's company, from the ``facilities`` table.
        """
        return dict(zip(self.facilities["id"], self.facilities["company"], strict=True))

    def summary(self) -> dict[str, int]:
        """Rows per table.

        Returns
        -------
        dict of str to int
            Table name -> number of rows, for every table of the model.
        """
        return {t: len(getattr(self, t)) for t in TABLES}

    # accessors: one call for the common thing; the modules keep the steps -------------
    def trace(self, product: str, **kw: Any) -> pd.DataFrame:
        """Origin of one product by tags (see :func:`onshore.trace.trace`).

        Parameters
        ----------
        product : str
            ``FACILITY`` (when it makes one material) or ``FACILITY:MATERIAL``.
        **kw
            ``by``, ``weight``, ``period``, ``controller``, as :func:`onshore.trace.trace`.

        Returns
        -------
        DataFrame
            The tag fields, ``quantity`` per unit of the product and ``share``.

        Raises
        ------
        NotFound
            When the product is not in the network.
        """
        from onshore.trace import trace

        return trace(self, product, **kw)

    def explain(self, product: str, tag: dict[str, str], top: int = 5, **kw: Any) -> list[Any]:
        """The heaviest upstream paths behind one traced tag (see :func:`onshore.trace.explain`).

        Parameters
        ----------
        product : str
            ``FACILITY`` or ``FACILITY:MATERIAL``.
        tag : dict of str to str
            Tag field -> value, e.g. ``{"raw": "lithium", "stage": "refine", "country": "CN"}``.
        top : int
            The most paths listed.
        **kw
            ``weight``, ``period``, ``controller``, ``max_expand``.

        Returns
        -------
        list of SupplyPath
            The heaviest paths first, then one residual entry.

        Raises
        ------
        NotFound
            When the product is not in the network.
        """
        from onshore.trace import explain

        return explain(self, product, tag, top=top, **kw)

    def check(self, product: str, buyer: str, on: Any, **kw: Any) -> list[Any]:
        """Verdicts of every rule for a buyer on a date.

        See :func:`onshore.compliance.evaluate.check`.

        Parameters
        ----------
        product : str
            A facility id: its output is the product bought.
        buyer : str
            A buyer scope from ``rules/buyers.yaml`` (e.g. ``dod``).
        on : datetime.date or str
            The evaluation date (``YYYY-MM-DD``).
        **kw
            ``rules``, ``audit``.

        Returns
        -------
        list of Verdict
            One per rule binding the buyer, most severe first.

        Raises
        ------
        NotFound
            When the product is not a facility in the network.
        """
        from onshore.compliance import check

        return check(self, product, buyer, on, **kw)

    def owners(self) -> Any:
        """Effective ownership, control and controlling countries.

        See :mod:`onshore.owners.control`.

        Returns
        -------
        Owners
            Computed once and cached on the network.

        Raises
        ------
        DataError
            When ownership rows name unknown companies or cross-holdings reach 100 %.
        """
        from onshore.owners import owners

        return owners(self)
