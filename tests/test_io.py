"""Bad input gives a clear error naming file, row, column and value, and writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import tiny_files
from onshore.errors import DataError
from onshore.io.load import import_files
from onshore.store.duckdb import DuckDBStore


@pytest.fixture
def loaded(store: DuckDBStore, tiny_dir: Path) -> DuckDBStore:
    import_files(store, tiny_files(tiny_dir))
    return store


def _refused(store: DuckDBStore, files: list[Path], strict: bool = False) -> list[str]:
    before = store.snapshot_hash()
    with pytest.raises(DataError) as exc:
        import_files(store, files, strict=strict)
    assert store.snapshot_hash() == before, "a refused import changed the store"
    return [str(e) for e in exc.value.errors]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_the_tiny_network_imports(loaded: DuckDBStore) -> None:
    assert loaded.counts() == {"companies": 4, "materials": 4, "facilities": 3, "ownership": 2,
                               "boms": 3, "flows": 2, "licences": 0}


def test_malformed_csv(loaded: DuckDBStore, tmp_path: Path) -> None:
    f = _write(tmp_path / "companies.csv", 'id,name,country\nx,"unclosed quote,CN\ny,Y,CN\n')
    errs = _refused(loaded, [f])
    assert any("companies.csv" in e and "well-formed CSV" in e for e in errs), errs


def test_row_with_too_many_fields(loaded: DuckDBStore, tmp_path: Path) -> None:
    f = _write(tmp_path / "companies.csv", "id,name,country\nx,X,CN\ny,Y,CN,extra\n")
    errs = _refused(loaded, [f])
    assert errs == [f"{f}, row 3: got '4 fields'; expected 3 fields as in the header"]


def test_missing_column(loaded: DuckDBStore, tmp_path: Path) -> None:
    f = _write(tmp_path / "flows.csv", "supplier,customer,material,quantity,unit\nmine1,ref1,spodumene,5,t\n")
    errs = _refused(loaded, [f])
    assert errs == [f"{f}, row 1, column 'period': got no such column; expected a column named 'period' (required in flows)"]


def test_unknown_column(loaded: DuckDBStore, tmp_path: Path) -> None:
    # an extra column is ignored with a warning (refused with strict)
    f = _write(tmp_path / "companies.csv", "id,name,country,colour\nx,X,CN,red\n")
    warnings = [str(w) for w in import_files(loaded, [f]).warnings]
    assert any("column 'colour'" in w and "ignored" in w for w in warnings), warnings
    assert "column 'colour'" in _refused(loaded, [f], strict=True)[0]


def test_wrong_type(loaded: DuckDBStore, tmp_path: Path) -> None:
    f = _write(tmp_path / "flows.csv", "supplier,customer,material,quantity,unit,period\nmine1,ref1,spodumene,lots,t,2025\n")
    assert _refused(loaded, [f]) == [f"{f}, row 2, column 'quantity': got 'lots'; expected a number"]


def test_negative_quantity(loaded: DuckDBStore, tmp_path: Path) -> None:
    f = _write(tmp_path / "flows.csv", "supplier,customer,material,quantity,unit,period\nmine1,ref1,spodumene,-5,t,2025\n")
    assert _refused(loaded, [f]) == [f"{f}, row 2, column 'quantity': got '-5'; expected a number > 0.0"]


def test_unknown_country(loaded: DuckDBStore, tmp_path: Path) -> None:
    f = _write(tmp_path / "companies.csv", "id,name,country\nx,X,ZZ\n")
    errs = _refused(loaded, [f])
    assert errs[0].startswith(f"{f}, row 2, column 'country': got 'ZZ'; expected an ISO 3166-1 alpha-2")


def test_flow_to_unknown_facility(loaded: DuckDBStore, tmp_path: Path) -> None:
    f = _write(tmp_path / "flows.csv", "supplier,customer,material,quantity,unit,period\nmine1,nowhere,spodumene,5,t,2025\n")
    errs = _refused(loaded, [f])
    assert errs == [f"{f}, row 2, column 'customer': got 'nowhere'; expected the id of one of the facilities (there is no facility 'nowhere')"]


def test_duplicate_id(loaded: DuckDBStore, tmp_path: Path) -> None:
    f = _write(tmp_path / "companies.csv", "id,name,country\nx,X,CN\ny,Y,KR\nx,X again,US\n")
    errs = _refused(loaded, [f])
    assert len(errs) == 1 and "row 4" in errs[0] and "already given at" in errs[0] and "row 2" in errs[0]


def test_owners_over_one_hundred_percent(loaded: DuckDBStore, tmp_path: Path) -> None:
    # refco already has 30 % + 20 % recorded; another 60 % makes 110 %
    f = _write(tmp_path / "ownership.csv", "owner,owned,equity\ncellco,refco,0.6\n")
    errs = _refused(loaded, [f])
    assert len(errs) == 1 and "column 'equity'" in errs[0] and "110.0%" in errs[0]


def test_ownership_cycle_of_one_hundred_percent_is_refused(loaded: DuckDBStore, tmp_path: Path) -> None:
    # minerco owns all of cellco and cellco all of minerco: no one outside owns either
    f = _write(tmp_path / "ownership.csv",
               "owner,owned,equity\nminerco,cellco,1.0\ncellco,minerco,1.0\n")
    errs = _refused(loaded, [f])
    assert len(errs) == 2
    assert all("minerco owns 100% of cellco" in e and "cellco owns 100% of minerco" in e
               for e in errs)
    # half and half is a cross-holding with outside owners, accepted
    g = _write(tmp_path / "ownership.csv",
               "owner,owned,equity\nminerco,cellco,0.5\ncellco,minerco,0.5\n")
    import_files(loaded, [g])


def test_unknown_unit(loaded: DuckDBStore, tmp_path: Path) -> None:
    f = _write(tmp_path / "flows.csv", "supplier,customer,material,quantity,unit,period\nmine1,ref1,spodumene,5,tonnes,2025\n")
    errs = _refused(loaded, [f])
    assert errs[0].startswith(f"{f}, row 2, column 'unit': got 'tonnes'; expected a known unit")


def test_unit_of_the_wrong_dimension(loaded: DuckDBStore, tmp_path: Path) -> None:
    f = _write(tmp_path / "flows.csv", "supplier,customer,material,quantity,unit,period\nmine1,ref1,spodumene,5,GWh,2025\n")
    errs = _refused(loaded, [f])
    assert "a unit of mass" in errs[0]


def test_header_only_file(loaded: DuckDBStore, tmp_path: Path) -> None:
    f = _write(tmp_path / "companies.csv", "id,name,country\n")
    assert _refused(loaded, [f]) == [f"{f}: got empty; expected at least one data row under the header"]


def test_zero_byte_file(loaded: DuckDBStore, tmp_path: Path) -> None:
    f = _write(tmp_path / "companies.csv", "")
    assert "0 bytes" in _refused(loaded, [f])[0]


def test_file_of_the_wrong_format(loaded: DuckDBStore, tmp_path: Path) -> None:
    png = tmp_path / "companies.csv"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert "binary data" in _refused(loaded, [png])[0]
    fake_xlsx = _write(tmp_path / "book.xlsx", "id,name\n")
    assert "an XLSX workbook" in _refused(loaded, [fake_xlsx])[0]
    txt = _write(tmp_path / "companies.txt", "id,name,country\nx,X,CN\n")
    assert "a file ending in" in _refused(loaded, [txt])[0]
    unnamed = _write(tmp_path / "stuff.csv", "id,name,country\nx,X,CN\n")
    assert "named after a table" in _refused(loaded, [unnamed])[0]


def test_one_good_file_and_one_bad_file(loaded: DuckDBStore, tmp_path: Path) -> None:
    good = _write(tmp_path / "companies.csv", "id,name,country\nnewco,New Co,US\n")
    bad = _write(tmp_path / "flows.csv", "supplier,customer,material,quantity,unit,period\nmine1,ref1,spodumene,-1,t,2025\n")
    _refused(loaded, [good, bad])
    assert "newco" not in set(loaded.read("companies")["id"])


def test_errors_are_collected_and_capped(loaded: DuckDBStore, tmp_path: Path) -> None:
    rows = "\n".join(f"c{i},C,ZZ" for i in range(250))
    f = _write(tmp_path / "companies.csv", "id,name,country\n" + rows + "\n")
    with pytest.raises(DataError) as exc:
        import_files(loaded, [f])
    assert len(exc.value.errors) == 100 and exc.value.truncated


def test_xlsx_parquet_and_json_read_the_same(store: DuckDBStore, tiny_dir: Path, tmp_path: Path) -> None:
    import csv

    tables = {p.stem: list(csv.DictReader(p.open())) for p in tiny_files(tiny_dir)}
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name in ("companies", "materials", "facilities"):
        ws = wb.create_sheet(name)
        cols = list(tables[name][0])
        ws.append(cols)
        for r in tables[name]:
            ws.append([r[c] for c in cols])
    wb.save(tmp_path / "network.xlsx")
    pq.write_table(pa.Table.from_pylist(tables["ownership"]), tmp_path / "ownership.parquet")
    (tmp_path / "rest.json").write_text(json.dumps({"boms": tables["boms"], "flows": tables["flows"]}))
    import_files(store, [tmp_path / "network.xlsx", tmp_path / "ownership.parquet", tmp_path / "rest.json"])
    other = DuckDBStore(":memory:")
    import_files(other, tiny_files(tiny_dir))
    assert store.snapshot_hash() == other.snapshot_hash()


def test_xlsx_errors_name_sheet_and_row(store: DuckDBStore, tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "companies"
    ws.append(["id", "name", "country"])
    ws.append(["a", "A", "CN"])
    ws.append(["b", "B", "Narnia"])
    wb.save(tmp_path / "book.xlsx")
    with pytest.raises(DataError) as exc:
        import_files(store, [tmp_path / "book.xlsx"])
    assert str(exc.value.errors[0]).startswith(f"{tmp_path / 'book.xlsx'}[companies], row 3, column 'country'")


# a `deleted` column retires rows in the same all-or-nothing, audited import -----------------


def _audited(store: DuckDBStore) -> list[str]:
    from onshore.store.audit import AuditLog

    return AuditLog(store.con).rows(rule_id="store.delete")["product"].tolist()


def test_a_deleted_column_retires_rows_with_the_rest_of_the_import(loaded: DuckDBStore, tmp_path: Path) -> None:
    # the facility, the flows that refer to it and an ownership stake go in one import, which
    # also writes a new row; every deleted row is audited
    flows = _write(tmp_path / "flows.csv", "supplier,customer,material,quantity,unit,period,deleted\n"
                   "mine1,ref1,spodumene,,,2025,yes\n"
                   "ref1,cell1,lioh,4,kt,2025,\n")
    facilities = _write(tmp_path / "facilities.csv", "id,company,name,country,stage,Deleted\n"
                        "mine1,,,,,X\n")
    ownership = _write(tmp_path / "ownership.csv", "owner,owned,equity,deleted\nstate_a,refco,,TRUE\n"
                       "minerco,refco,0.25,false\n")
    result = import_files(loaded, [flows, facilities, ownership])
    assert result.deleted == {"facilities": 1, "ownership": 1, "flows": 1}
    assert set(loaded.read("facilities")["id"]) == {"ref1", "cell1"}
    assert loaded.read("flows")[["supplier", "quantity"]].values.tolist() == [["ref1", 4.0]]
    assert loaded.read("ownership")[["owner", "equity"]].values.tolist() == [["minerco", 0.25]]
    assert _audited(loaded) == ["flows:mine1:ref1:spodumene:2025", "ownership:state_a:refco",
                                "facilities:mine1"]
    # the audit rows carry the snapshot the import left
    snap = loaded.con.execute("SELECT DISTINCT snapshot FROM audit").fetchall()
    assert snap == [(loaded.snapshot_hash(),)]


def test_deleting_a_row_that_does_not_exist_names_the_row(loaded: DuckDBStore, tmp_path: Path) -> None:
    f = _write(tmp_path / "flows.csv", "supplier,customer,material,period,deleted\n"
               "mine1,ref1,spodumene,2025,1\nmine1,ref1,spodumene,2019,1\n")
    errors = _refused(loaded, [f])
    assert errors == [f"{f}, row 3, column 'supplier:customer:material:period': got "
                      "'mine1:ref1:spodumene:2019'; expected the key of a flows row in the store to "
                      "delete (there is none with supplier:customer:material:period)"]
    assert _audited(loaded) == []


def test_a_bad_deleted_value_is_refused_naming_file_row_column_and_value(loaded: DuckDBStore, tmp_path: Path) -> None:
    f = _write(tmp_path / "companies.csv", "id,name,country,deleted\ncellco,Cellco,KR,maybe\n"
               "refco,Refco,CN,no\n")
    assert _refused(loaded, [f]) == [f"{f}, row 2, column 'deleted': got 'maybe'; expected true, yes, "
                                     "1 or x to delete the row; blank (or false, no, 0) to keep it"]


def test_a_retired_row_still_referred_to_refuses_the_whole_import(loaded: DuckDBStore, tmp_path: Path) -> None:
    # mine1 still ships to ref1 (that flow is not deleted): nothing is written, not even the
    # new company of the same import
    comp = _write(tmp_path / "companies.csv", "id,name,country\nnewco,New Co,US\n")
    fac = _write(tmp_path / "facilities.csv", "id,deleted\nmine1,true\n")
    before = loaded.snapshot_hash()
    with pytest.raises(DataError) as exc:
        import_files(loaded, [comp, fac])
    (err,) = exc.value.errors
    assert str(err).startswith(f"{fac}, row 2, column 'id': got 'mine1'; expected a facilities row "
                               "nothing else refers to (flows (supplier=mine1, customer=ref1, "
                               "material=spodumene, period=2025) refers to it by supplier)")
    assert loaded.snapshot_hash() == before and _audited(loaded) == []


def test_a_row_both_written_and_deleted_is_refused(loaded: DuckDBStore, tmp_path: Path) -> None:
    f = _write(tmp_path / "companies.csv", "id,name,country,deleted\ncellco,Cellco,KR,\ncellco,,,x\n")
    (err,) = _refused(loaded, [f])
    assert err == (f"{f}, row 3, column 'id': got 'cellco'; expected a companies row either deleted "
                   f"or written, not both ({f}, row 2 writes it)")


def test_a_deletion_needs_the_key_columns_only(loaded: DuckDBStore, tmp_path: Path) -> None:
    f = _write(tmp_path / "ownership.csv", "owned,deleted\nrefco,x\n")
    (err,) = _refused(loaded, [f])
    assert err.startswith(f"{f}, row 1, column 'owner': got no such column; expected a column named "
                          "'owner': the ownership key")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "flows"
    ws.append(["Supplier", "Customer", "Material", "Period", "Deleted"])
    ws.append(["ref1", "cell1", "lioh", 2025, True])
    wb.save(tmp_path / "gone.xlsx")
    assert import_files(loaded, [tmp_path / "gone.xlsx"]).deleted == {"flows": 1}
    assert _audited(loaded) == ["flows:ref1:cell1:lioh:2025"]
