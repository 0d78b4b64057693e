"""Input-output tables as onshore records: an IO system in the shape pymrio uses, traced.

An IO system (``Z`` inter-industry flows, ``Y`` final demand, ``x`` gross output, ``F``
factor inputs such as value added), with rows and columns indexed by (region, sector),
becomes:

* one company per region (kind ``unidentified``: a region's producers are not named);
* one material per sector (intermediate, unit ``USD``) and one per factor row (raw, ``USD``);
* one facility per region-sector, ``REGION/SECTOR``, stage ``market``, making its sector's
  material, and one facility per region and factor, ``REGION/FACTOR``, stage ``mine``,
  where the factor (value added) originates;
* per region-sector ``p`` a recipe of its own: ``sum_s Z[(s, i), p] / x[p]`` of each sector
  ``i`` and ``F[f, p] / x[p]`` of each factor ``f`` per unit of output;
* a flow for every positive entry of ``Z`` (the diagonal is own use, see
  :class:`~onshore.records.model.Flow`) and of ``F``.

The trace's ``A`` is then exactly ``(Z / x)^T`` (supplier shares times recipe quantities),
its Leontief inverse pymrio's ``L`` transposed, and the content of raw ``f`` in one USD of a
region-sector's output, at stage ``mine`` by company, its value added by region of origin
(pymrio's ``M = S L`` split by region).
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from onshore.errors import DataError, RowError
from onshore.records.countries import OTHER, is_country

if TYPE_CHECKING:
    from onshore.io.load import ImportResult

SECTOR_STAGE = "market"
"""The stage of an IO region-sector (a pool of the sector's output in the region)."""
FACTOR_STAGE = "mine"
"""The stage where a factor input (value added) originates."""
_BAD = re.compile(r"[:,;]")


def _id(v: Any) -> str:
    return _BAD.sub("_", str(v).strip())


def _refuse(table: str, msg: str) -> DataError:
    return DataError([RowError(table, None, None, None, msg)])


def tables(
    Z: pd.DataFrame,
    Y: pd.DataFrame | None = None,
    x: pd.Series | pd.DataFrame | None = None,
    F: pd.DataFrame | None = None,
    period: str = "2020",
    countries: Mapping[str, str] | None = None,
    source: str | None = None,
) -> dict[str, pd.DataFrame]:
    """The onshore tables of an IO system (see the module docstring).

    Parameters
    ----------
    Z : DataFrame (n, n)
        Inter-industry flows in USD, rows the supplying and columns the using (region,
        sector) (a two-level index, as pymrio's ``Z``).
    Y : DataFrame (n, k), optional
        Final demand by (region, category); used for ``x`` when ``x`` is not given.
    x : Series or one-column DataFrame (n,), optional
        Gross output; default ``Z`` row sums plus ``Y`` row sums.
    F : DataFrame (f, n), optional
        Factor inputs (value added) by factor row and (region, sector).
    period : str
        The period of every flow (``YYYY``).
    countries : mapping, optional
        Region -> ISO 3166-1 alpha-2 code; default the region itself when it is one (any
        case), else ``XX`` (other or unspecified).
    source : str, optional
        Written to every record's ``source``.

    Returns
    -------
    dict of str to DataFrame
        ``companies``, ``materials``, ``facilities``, ``boms`` and ``flows``.

    Raises
    ------
    DataError
        When ``Z`` is not square with matching (region, sector) index and columns, an entry
        of ``Z``, ``F`` or ``x`` is negative, or a factor and a sector share a name.
    """
    if Z.shape[0] != Z.shape[1] or not Z.index.equals(Z.columns):
        raise _refuse("flows", "Z square, its columns the same (region, sector) as its rows")
    if Z.index.nlevels != 2:
        raise _refuse("flows", "Z indexed by two levels, (region, sector)")
    z = Z.to_numpy(dtype=float)
    if x is None:
        if Y is None:
            raise _refuse("flows", "x (gross output) or Y (final demand) to compute it")
        xv = z.sum(axis=1) + Y.reindex(Z.index).to_numpy(dtype=float).sum(axis=1)
    else:
        xs = x.iloc[:, 0] if isinstance(x, pd.DataFrame) else x
        xv = xs.reindex(Z.index).to_numpy(dtype=float)
    f = (
        np.zeros((0, len(xv)))
        if F is None
        else F.reindex(columns=Z.index).fillna(0.0).to_numpy(dtype=float)
    )
    factors = (
        []
        if F is None
        else [_id("_".join(map(str, r)) if isinstance(r, tuple) else r) for r in F.index]
    )
    for name, arr in (("Z", z), ("x", xv), ("F", f)):
        if not np.isfinite(arr).all() or (arr < 0).any():
            raise _refuse(
                "flows", f"{name} finite and nonnegative (the trace follows nonnegative flows)"
            )
    regions = [_id(r) for r in Z.index.get_level_values(0)]
    sectors = [_id(s) for s in Z.index.get_level_values(1)]
    fac = [f"{r}/{s}" for r, s in zip(regions, sectors, strict=True)]
    if len(set(fac)) != len(fac):
        raise _refuse("facilities", "one row of Z per (region, sector)")
    clash = set(factors) & set(sectors)
    if clash:
        raise _refuse("materials", f"factor names other than sector names: {sorted(clash)}")
    uniq_regions = list(dict.fromkeys(regions))
    uniq_sectors = list(dict.fromkeys(sectors))
    cmap = dict(countries or {})

    def country(r: str) -> str:
        c = cmap.get(r, r).upper()
        return c if is_country(c) else OTHER

    companies = pd.DataFrame(
        {
            "id": uniq_regions,
            "name": uniq_regions,
            "country": [country(r) for r in uniq_regions],
            "kind": "unidentified",
        }
    )
    materials = pd.DataFrame(
        {
            "id": uniq_sectors + factors,
            "name": uniq_sectors + factors,
            "kind": ["intermediate"] * len(uniq_sectors) + ["raw"] * len(factors),
            "unit": "USD",
        }
    )
    fac_rows = pd.DataFrame(
        {
            "id": fac,
            "company": regions,
            "name": fac,
            "country": [country(r) for r in regions],
            "stage": SECTOR_STAGE,
            "material": sectors,
        }
    )
    va = pd.DataFrame(
        [
            {
                "id": f"{r}/{k}",
                "company": r,
                "name": f"{r}/{k}",
                "country": country(r),
                "stage": FACTOR_STAGE,
                "material": k,
            }
            for r in uniq_regions
            for k in factors
        ],
        columns=fac_rows.columns,
    )
    facilities = pd.concat([fac_rows, va], ignore_index=True)

    # recipes: per using column p, the input of each sector (summed over supplying regions)
    # and factor per unit of output; columns without output get none
    sec_code = pd.factorize(pd.Index(sectors))[0]
    use = np.zeros((len(uniq_sectors), len(fac)))
    np.add.at(use, sec_code, z)
    ok = xv > 0
    coef = np.where(ok, use / np.where(ok, xv, 1.0), 0.0)
    fcoef = np.where(ok, f / np.where(ok, xv, 1.0), 0.0)
    bi, bp = np.nonzero(coef > 0)
    fi, fp = np.nonzero(fcoef > 0)
    fac_arr = np.array(fac, dtype=object)
    boms = pd.DataFrame(
        {
            "output": np.array(sectors, dtype=object)[np.concatenate([bp, fp])],
            "input": np.concatenate(
                [np.array(uniq_sectors, dtype=object)[bi], np.array(factors, dtype=object)[fi]]
            ),
            "quantity": np.concatenate([coef[bi, bp], fcoef[fi, fp]]),
            "unit": "USD/USD",
            "facility": fac_arr[np.concatenate([bp, fp])],
        }
    )
    si, cj = np.nonzero(z > 0)
    vi, vj = np.nonzero(f > 0)
    reg_arr = np.array(regions, dtype=object)
    flows = pd.DataFrame(
        {
            "supplier": np.concatenate(
                [
                    fac_arr[si],
                    np.array(
                        [f"{r}/{factors[k]}" for r, k in zip(reg_arr[vj], vi, strict=True)],
                        dtype=object,
                    ),
                ]
            ),
            "customer": np.concatenate([fac_arr[cj], fac_arr[vj]]),
            "material": np.concatenate(
                [np.array(sectors, dtype=object)[si], np.array(factors, dtype=object)[vi]]
            ),
            "quantity": np.concatenate([z[si, cj], f[vi, vj]]),
            "unit": "USD",
            "period": str(period),
        }
    )
    out = {
        "companies": companies,
        "materials": materials,
        "facilities": facilities,
        "boms": boms,
        "flows": flows,
    }
    if source is not None:
        for df in out.values():
            df["source"] = source
    return out


def import_io(
    store: Any,
    Z: pd.DataFrame,
    Y: pd.DataFrame | None = None,
    x: pd.Series | pd.DataFrame | None = None,
    F: pd.DataFrame | None = None,
    period: str = "2020",
    countries: Mapping[str, str] | None = None,
    source: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> ImportResult:
    """Import an IO system into a store, all-or-nothing, through the ordinary import checks.

    Parameters
    ----------
    store : Store
    Z, Y, x, F, period, countries, source
        As :func:`tables`.
    progress : callable, optional
        Told what is being done.

    Returns
    -------
    ImportResult
        Rows written per table, with the snapshot the import leaves.

    Raises
    ------
    DataError
        As :func:`tables`, or any error of the import checks.
    """
    from onshore.io.load import import_files

    t = tables(Z, Y, x, F, period=period, countries=countries, source=source)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for name, df in t.items():
            p = Path(tmp) / f"{name}.csv"
            df.to_csv(p, index=False)
            paths.append(p)
        return import_files(store, paths, progress=progress, physical="off")


def _read(path: Path) -> pd.DataFrame:
    """One table of a folder saved by pymrio (``save_all``): its header and index depths
    from ``file_parameters.json`` when present."""
    folder = path.parent
    nidx, nhdr = 2, 2
    params = folder / "file_parameters.json"
    if params.exists():
        files = json.loads(params.read_text(encoding="utf-8")).get("files", {})
        for spec in files.values():
            if spec.get("name") == path.name:
                nidx, nhdr = int(spec["nr_index_col"]), int(spec["nr_header"])
    sep = "," if path.suffix == ".csv" else "\t"
    df = pd.read_csv(path, sep=sep, index_col=list(range(nidx)), header=list(range(nhdr)))
    return df


def _find(folder: Path, stem: str) -> Path | None:
    for ext in (".txt", ".csv", ".tsv"):
        p = folder / f"{stem}{ext}"
        if p.exists():
            return p
    return None


def read_folder(
    folder: str | Path, factors: str = "factor_inputs"
) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.Series | None, pd.DataFrame | None]:
    """``Z``, ``Y``, ``x`` and ``F`` of an IO system saved by pymrio (``IOSystem.save_all``).

    Parameters
    ----------
    folder : str or Path
        Holds ``Z.txt`` (or ``.csv``), optionally ``Y``, ``x`` and the extension folder.
    factors : str
        The extension folder whose ``F`` are the factor inputs (pymrio: ``factor_inputs``).

    Returns
    -------
    tuple
        ``(Z, Y, x, F)``, the absent ones None.

    Raises
    ------
    DataError
        When the folder holds no ``Z``.
    """
    folder = Path(folder)
    zp = _find(folder, "Z")
    if zp is None:
        raise _refuse("flows", f"an IO system folder with Z.txt or Z.csv: {folder}")
    Z = _read(zp)
    Z.columns = pd.MultiIndex.from_tuples([tuple(map(str, c)) for c in Z.columns])
    Z.index = pd.MultiIndex.from_tuples([tuple(map(str, i)) for i in Z.index])
    yp, xp = _find(folder, "Y"), _find(folder, "x")
    Y = _read(yp) if yp else None
    if Y is not None:
        Y.index = pd.MultiIndex.from_tuples([tuple(map(str, i)) for i in Y.index])
    x = None
    if xp is not None:
        xd = _read(xp)
        xd.index = pd.MultiIndex.from_tuples([tuple(map(str, i)) for i in xd.index])
        x = xd.iloc[:, 0]
    fp = _find(folder / factors, "F")
    F = _read(fp) if fp else None
    if F is not None:
        F.columns = pd.MultiIndex.from_tuples([tuple(map(str, c)) for c in F.columns])
    return Z, Y, x, F
