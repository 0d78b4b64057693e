"""Lookups over the model's table columns shared by every layer above the records."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def positions(
    values: pd.Series, index: pd.Index | Sequence[str], last: bool = False
) -> np.ndarray:
    """The position of each value in ``index`` (-1 where the value is missing or absent).

    Values are compared as text (a number ``1`` finds the id ``"1"``); a categorical column
    is looked up through its categories, once each. Where ``index`` holds a value twice,
    its first position is given, or with ``last`` its last (as a dictionary built from the
    ids in order holds it).

    Parameters
    ----------
    values : Series
        The values to look up (ids of suppliers, customers, materials, ...).
    index : Index or sequence of str
        The ids to find them in.
    last : bool
        Give the last position of an id held more than once.

    Returns
    -------
    ndarray of int64, shape (len(values),)
    """
    ids = pd.Series(index) if isinstance(index, pd.Index) else pd.Series(list(index), dtype=object)
    keys = _text(ids)
    if last:  # the first position in the reversed ids is the last in the ids
        keys = keys[::-1]
    if isinstance(values.dtype, pd.CategoricalDtype):
        at = _index_in(_text(pd.Series(values.cat.categories)), keys)
        codes = values.cat.codes.to_numpy()
        out: np.ndarray = np.where(codes >= 0, at[np.maximum(codes, 0)] if len(at) else -1, -1)
        out = out.astype(np.int64)
    else:
        out = _index_in(_text(values), keys)
    if last:
        out = np.where(out >= 0, len(keys) - 1 - out, -1)
    return out


TRUE_TEXT = ("true", "1", "yes")
"""Text read as true in a yes/no column (compared trimmed and in lower case)."""


def truthy(col: pd.Series) -> np.ndarray:
    """A yes/no column as booleans: a boolean column as it is, other values true when their
    text is one of :data:`TRUE_TEXT`; missing values are false.

    Parameters
    ----------
    col : Series

    Returns
    -------
    ndarray of bool
    """
    if pd.api.types.is_bool_dtype(col.dtype):
        out: np.ndarray = col.to_numpy(dtype=bool, na_value=False)
        return out
    text = col.astype(str).str.strip().str.lower()
    flags: np.ndarray = (text.isin(TRUE_TEXT) & col.notna()).to_numpy(dtype=bool)
    return flags


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
