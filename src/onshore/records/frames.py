"""Lookups over the model's table columns shared by every layer above the records."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def positions(values: pd.Series, index: pd.Index | Sequence[str]) -> np.ndarray:
    """The position of each value in ``index`` (-1 where the value is missing or absent).

    Values are compared as text (a number ``1`` finds the id ``"1"``); a categorical column
    is looked up through its categories, once each. Where ``index`` holds a value twice,
    its first position is given.

    Parameters
    ----------
    values : Series
        The values to look up (ids of suppliers, customers, materials, ...).
    index : Index or sequence of str
        The ids to find them in.

    Returns
    -------
    ndarray of int64, shape (len(values),)
    """
    ids = pd.Series(index) if isinstance(index, pd.Index) else pd.Series(list(index), dtype=object)
    keys = _text(ids)
    if isinstance(values.dtype, pd.CategoricalDtype):
        at = _index_in(_text(pd.Series(values.cat.categories)), keys)
        codes = values.cat.codes.to_numpy()
        out: np.ndarray = np.where(codes >= 0, at[np.maximum(codes, 0)] if len(at) else -1, -1)
        return out.astype(np.int64)
    return _index_in(_text(values), keys)


def codes(*cols: pd.Series) -> tuple[np.ndarray, int]:
    """Integer codes of the values of several columns, compared as text and shared across
    them, and how many distinct values there are (at least 1).

    Each missing value is one value of its own. Text held by Arrow (the store's) is encoded
    by Arrow's dictionary encoding, with no Python string per row.

    Parameters
    ----------
    *cols : Series
        The columns, in order; their codes are concatenated.

    Returns
    -------
    tuple of (ndarray of int64, int)
    """
    parts: list[pa.Array] = []
    for c in cols:
        t = _text(c)
        parts.extend(t.chunks if isinstance(t, pa.ChunkedArray) else [t])
    if not parts:
        return np.zeros(0, dtype=np.int64), 1
    enc = pc.dictionary_encode(pa.concat_arrays(parts), null_encoding="encode")
    out: np.ndarray = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return out, max(len(enc.dictionary), 1)


def _text(values: pd.Series) -> pa.Array:
    """The values as an Arrow text array, missing values null."""
    try:
        arr = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed kinds in one object column
        arr = pa.array([None if pd.isna(v) else str(v) for v in values], type=pa.string())
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = arr.cast(pa.string())
    return arr.cast(pa.large_string())


def _index_in(arr: pa.Array, keys: pa.Array) -> np.ndarray:
    at = pc.index_in(arr, value_set=keys, skip_nulls=True).fill_null(-1)
    return np.asarray(at.to_numpy(zero_copy_only=False), dtype=np.int64)
