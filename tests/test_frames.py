"""records.frames.positions against a plain dictionary lookup."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from onshore.records.frames import positions

ids = st.lists(st.text("abc1", min_size=1, max_size=3), min_size=0, max_size=12, unique=True)
values = st.lists(st.one_of(st.none(), st.text("abc1", min_size=1, max_size=3)), max_size=30)


def _want(vals: list[str | None], index: list[str]) -> np.ndarray:
    at = {v: k for k, v in reversed(list(enumerate(index)))}  # the first position of each id
    return np.array([-1 if v is None else at.get(v, -1) for v in vals], dtype=np.int64)


@settings(max_examples=200, deadline=None)
@given(index=ids, vals=values, kind=st.sampled_from(["str", "object", "category"]))
def test_positions_are_a_dictionary_lookup(index: list[str], vals: list[str | None], kind: str) -> None:
    col = pd.Series(vals, dtype=object)
    if kind == "str":
        col = col.astype("str").where(col.notna(), np.nan)
    elif kind == "category":
        col = col.astype("category")
    for idx in (pd.Index(index, dtype=object), pd.Index(index, dtype="str"), index):
        got = positions(col, idx)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, _want(vals, list(index)))


repeated = st.lists(st.text("abc1", min_size=1, max_size=2), min_size=0, max_size=12)


@settings(max_examples=200, deadline=None)
@given(index=repeated, vals=values, kind=st.sampled_from(["str", "object", "category"]))
def test_last_positions_are_a_dictionary_built_in_order(index: list[str], vals: list[str | None], kind: str) -> None:
    """With ``last``, an id held several times is found at its last place, as
    ``{id: k for k, id in enumerate(ids)}`` holds it."""
    col = pd.Series(vals, dtype=object)
    if kind == "category":
        col = col.astype("category")
    at = {v: k for k, v in enumerate(index)}
    want = np.array([-1 if v is None else at.get(v, -1) for v in vals], dtype=np.int64)
    for idx in (pd.Index(index, dtype=object), pd.Index(index, dtype="str"), index):
        got = positions(col, idx, last=True)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, want)


def test_numbers_are_found_by_their_text_and_a_repeated_id_by_its_first_place() -> None:
    np.testing.assert_array_equal(positions(pd.Series([1, 2, 7]), ["2", "1", "2"]), [1, 0, -1])
    np.testing.assert_array_equal(positions(pd.Series(["a", 3, None], dtype=object), ["3", "a"]), [1, 0, -1])


def test_a_missing_value_is_not_found_even_where_the_index_holds_a_missing_id() -> None:
    got = positions(pd.Series(["x", None, "a"], dtype=object), pd.Index(["a", None, "x"], dtype=object))
    np.testing.assert_array_equal(got, [2, -1, 0])


def test_flows_of_a_period_column_with_no_category() -> None:
    from onshore.network import Network

    net = Network.reference()
    net.flows = net.flows.assign(period=pd.Categorical([None] * len(net.flows), categories=[]))
    assert len(net.flows_of("2024")) == 0 and len(net.flows_of(None)) == len(net.flows)


def test_truthy_reads_booleans_and_yes_no_text() -> None:
    from onshore.records.frames import truthy

    assert truthy(pd.Series([True, False, True])).tolist() == [True, False, True]
    assert truthy(pd.Series([True, None, False], dtype="boolean")).tolist() == [True, False, False]
    text = pd.Series([" Yes", "TRUE", "1", "no", "false", "0", None, np.nan, "", "y"], dtype=object)
    assert truthy(text).tolist() == [True, True, True] + [False] * 7
    assert truthy(pd.Series(["true", None], dtype="string[pyarrow]")).tolist() == [True, False]
