"""The DuckDB store: keys, idempotent re-import, exact export/import round trips."""

from __future__ import annotations

import string
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import tiny_files
from onshore.io.load import Batch, import_files
from onshore.records.model import Company, Facility, Flow, Material, Ownership
from onshore.store.duckdb import DuckDBStore, open_store
from onshore.errors import StoreError


def test_reimport_changes_nothing(store: DuckDBStore, tiny_dir: Path) -> None:
    import_files(store, tiny_files(tiny_dir))
    first = store.snapshot_hash()
    import_files(store, tiny_files(tiny_dir))
    assert store.snapshot_hash() == first
    assert store.counts()["companies"] == 4


def test_upsert_by_id_updates_a_row(store: DuckDBStore, tiny_dir: Path, tmp_path: Path) -> None:
    import_files(store, tiny_files(tiny_dir))
    f = tmp_path / "facilities.csv"
    f.write_text("id,company,name,country,stage\nmine1,refco,Mine One (sold),AU,mine\n")
    import_files(store, [f])
    row = store.read("facilities").set_index("id").loc["mine1"]
    assert (row["company"], row["name"]) == ("refco", "Mine One (sold)")
    assert store.counts()["flows"] == 2  # flows that refer to the facility are kept


def test_duckdb_enforces_keys(store: DuckDBStore, tiny_dir: Path) -> None:
    import_files(store, tiny_files(tiny_dir))
    with pytest.raises(duckdb.ConstraintException):
        store.con.execute("INSERT INTO flows (supplier, customer, material, quantity, unit, period) "
                          "VALUES ('ghost', 'ref1', 'lioh', 1, 't', '2025')")
    with pytest.raises(duckdb.ConstraintException):
        store.con.execute("INSERT INTO companies (id, name, country) VALUES ('refco', 'dup', 'CN')")


def test_opening_a_missing_store_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="onshore init"):
        open_store(tmp_path / "missing.duckdb")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_import_round_trips_the_tiny_network(store: DuckDBStore, tiny_dir: Path, tmp_path: Path, fmt: str) -> None:
    import_files(store, tiny_files(tiny_dir))
    files = store.export(tmp_path / "out", fmt)
    with DuckDBStore(":memory:") as other:
        import_files(other, files)
        for t in ("companies", "facilities", "flows", "ownership", "boms", "materials"):
            assert other.arrow(t).equals(store.arrow(t)), t
        assert other.snapshot_hash() == store.snapshot_hash()


ids = st.text(string.ascii_lowercase + string.digits + "_-", min_size=1, max_size=8)
names = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20).filter(lambda s: s.strip() == s and s.strip())
floats = st.floats(min_value=1e-9, max_value=1e12, allow_nan=False, allow_infinity=False)
fractions = st.one_of(st.none(), st.floats(min_value=0, max_value=0.49, allow_nan=False))


@st.composite
def networks(draw: st.DrawFn) -> Batch:
    company_ids = draw(st.lists(ids, min_size=2, max_size=6, unique=True))
    batch = Batch()
    countries = st.sampled_from(["CN", "KR", "US", "JP", "AU", "CL", "CD", "ID"])
    for c in company_ids:
        aliases = draw(st.lists(names.filter(lambda s: ";" not in s), max_size=3))
        batch.extend([Company(id=c, name=draw(names), country=draw(countries), aliases=tuple(aliases),
                              estimate=draw(st.booleans()), source=draw(st.one_of(st.none(), names)))])
    batch.extend([Material(id="m", name="M", kind="raw", unit="kg", price=draw(st.one_of(st.none(), floats)), currency="USD")])
    fac_ids = draw(st.lists(ids, min_size=2, max_size=6, unique=True))
    for f in fac_ids:
        batch.extend([Facility(id=f, company=draw(st.sampled_from(company_ids)), name=draw(names), country=draw(countries),
                               stage=draw(st.sampled_from(["mine", "refine", "cell"])), capacity=draw(st.one_of(st.none(), floats)),
                               unit="t", lat=draw(st.one_of(st.none(), st.floats(-90, 90))))])
    owned = company_ids[0]
    for o in company_ids[1:3]:
        batch.extend([Ownership(owner=o, owned=owned, equity=draw(fractions), voting=draw(fractions), debt=draw(fractions))])
    for a, b in zip(fac_ids, fac_ids[1:]):
        batch.extend([Flow(supplier=a, customer=b, material="m", quantity=draw(floats), unit=draw(st.sampled_from(["kg", "t", "kt"])),
                           period=draw(st.sampled_from(["2024", "2025-Q1", "2025-03"])))])
    return batch


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=networks(), fmt=st.sampled_from(["csv", "parquet"]))
def test_export_import_round_trip_property(batch: Batch, fmt: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    out = tmp_path_factory.mktemp("rt")
    with DuckDBStore(":memory:") as a, DuckDBStore(":memory:") as b:
        a.write(batch)
        import_files(b, a.export(out, fmt))
        for t in ("companies", "facilities", "flows", "ownership", "materials"):
            assert b.arrow(t).equals(a.arrow(t)), t
        assert a.snapshot_hash() == b.snapshot_hash()


def test_a_bulk_load_keeps_every_key(store: DuckDBStore, tiny_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a large first import of a table fills it and then builds its primary key: the table
    # ends up with the same keys as one created with it
    import onshore.store.duckdb as ddb

    monkeypatch.setattr(ddb, "BULK_ROWS", 1)
    import_files(store, tiny_files(tiny_dir))
    kinds = {(t, k) for t, k in store.con.execute(
        "SELECT table_name, constraint_type FROM duckdb_constraints() WHERE table_name = 'flows'"
    ).fetchall()}
    assert {("flows", "PRIMARY KEY"), ("flows", "FOREIGN KEY")} <= kinds
    with pytest.raises(duckdb.ConstraintException):
        store.con.execute("INSERT INTO flows (supplier, customer, material, quantity, unit, period) "
                          "VALUES ('ghost', 'ref1', 'lioh', 1, 't', '2025')")
    with pytest.raises(duckdb.ConstraintException):
        store.con.execute("INSERT INTO flows (supplier, customer, material, quantity, unit, period) "
                          "VALUES ('mine1', 'ref1', 'spodumene', 1, 't', '2025')")
    first = store.snapshot_hash()
    import_files(store, tiny_files(tiny_dir))  # an update by key of every row
    assert store.snapshot_hash() == first and store.counts()["flows"] == 2


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(
    st.one_of(st.none(), st.text()),
    st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    st.one_of(st.none(), st.booleans()),
    st.one_of(st.none(), st.integers(min_value=-2**63, max_value=2**63 - 1)),
), min_size=1, max_size=30))
def test_snapshot_rows_are_the_python_reprs_of_the_rows(rows: list[tuple[object, ...]]) -> None:
    # the snapshot hash of a store made before the column-wise hashing stays the same
    import pyarrow as pa

    from onshore.store.duckdb import rows_text

    t = pa.table({
        "zeta": pa.array([r[0] for r in rows], type=pa.string()),
        "alpha": pa.array([r[1] for r in rows], type=pa.float64()),
        "flag": pa.array([r[2] for r in rows], type=pa.bool_()),
        "count": pa.array([r[3] for r in rows], type=pa.int64()),
    })
    expected = b"".join(repr(sorted(r.items())).encode() for r in t.to_pylist())
    assert rows_text(t) == expected


def _fresh_hash(store: DuckDBStore) -> str:
    """The snapshot hash computed from the rows, the kept one forgotten first."""
    store.con.execute("DELETE FROM onshore_meta WHERE key = 'snapshot'")
    return store.snapshot_hash()


def test_the_kept_snapshot_hash_follows_every_change(store: DuckDBStore, tiny_dir: Path) -> None:
    import_files(store, tiny_files(tiny_dir))
    first = store.snapshot_hash()
    kept = store.con.execute("SELECT value FROM onshore_meta WHERE key = 'snapshot'").fetchall()
    assert kept and kept[0][0].endswith(first)
    assert store.snapshot_hash() == first == _fresh_hash(store)
    # an edit from outside onshore that keeps every count and every column's values (two
    # flows swap their quantities): the fingerprint sees the rows change
    q = store.con.execute("SELECT supplier, customer, quantity FROM flows ORDER BY supplier").fetchall()
    assert len(q) == 2 and q[0][2] != q[1][2]
    for (s_, c_, _), (_, _, x) in zip(q, reversed(q), strict=True):
        store.con.execute("UPDATE flows SET quantity = ? WHERE supplier = ? AND customer = ?", [x, s_, c_])
    swapped = store.snapshot_hash()
    assert swapped != first and swapped == _fresh_hash(store)
    # a delete through onshore
    store.delete("flows", [tuple(store.read("flows").iloc[0][["supplier", "customer", "material", "period"]])])
    gone = store.snapshot_hash()
    assert gone not in (first, swapped) and gone == _fresh_hash(store)
    # a write through onshore that restores the first content gives the first hash again
    import_files(store, tiny_files(tiny_dir))
    assert store.snapshot_hash() == first == _fresh_hash(store)


def test_a_stale_kept_snapshot_hash_is_not_used(store: DuckDBStore, tiny_dir: Path) -> None:
    import_files(store, tiny_files(tiny_dir))
    from onshore.store.duckdb import HASH_RULE

    want = store.snapshot_hash()
    fp = store.fingerprint()
    kept = store.con.execute("SELECT value FROM onshore_meta WHERE key = 'snapshot'").fetchall()[0][0]
    assert kept == f"{HASH_RULE}:{fp} {want}"
    fake = "0" * 64
    for stale in (f"{HASH_RULE}:{fp[::-1]} {fake}",  # another fingerprint
                  f"{HASH_RULE + 1}:{fp} {fake}",  # another version of the hashing rule
                  f"{HASH_RULE}:{fp} garbage"):  # not a hash
        store.con.execute("UPDATE onshore_meta SET value = ? WHERE key = 'snapshot'", [stale])
        assert store.snapshot_hash() == want, stale
    store.con.execute("UPDATE onshore_meta SET value = ? WHERE key = 'snapshot'", [f"{HASH_RULE}:{fp} {fake}"])
    assert store.snapshot_hash() == fake  # the kept value is what is used when it is current
    assert store.snapshot_hash(fresh=True) == want  # unless asked for the rows' own hash


@settings(max_examples=25, deadline=None)
@given(batch=networks())
def test_read_gives_the_frames_duckdb_gives(batch: Batch) -> None:
    import pandas as pd

    from onshore.records.model import TABLES

    with DuckDBStore(":memory:") as s:
        for _ in range(2):  # empty, then filled
            for t, spec in TABLES.items():
                order = ", ".join(f'"{k}" NULLS FIRST' for k in spec.key)
                want = s.con.execute(f"SELECT * FROM {t} ORDER BY {order}").df()
                pd.testing.assert_frame_equal(s.read(t), want, check_exact=True)
            s.write(batch)


def test_the_snapshot_hash_does_not_depend_on_how_rows_are_sliced(
    store: DuckDBStore, tiny_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import onshore.store.duckdb as ddb

    import_files(store, tiny_files(tiny_dir))
    whole = _fresh_hash(store)
    monkeypatch.setattr(ddb, "HASH_ROWS", 1)
    assert _fresh_hash(store) == whole


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True), min_size=1, max_size=50),
       st.lists(st.text(), min_size=1, max_size=20))
def test_column_reprs_are_pythons(xs: list[float], texts: list[str]) -> None:
    import numpy as np
    import pyarrow as pa

    from onshore.store.duckdb import _float_reprs, _text_reprs

    assert _float_reprs(np.array(xs, dtype=np.float64)).to_pylist() == [repr(x) for x in xs]
    assert _text_reprs(pa.array(texts, type=pa.large_string())).to_pylist() == [repr(t) for t in texts]
