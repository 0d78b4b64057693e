"""Real spreadsheets: what is unambiguous is read and said, the rest refused with a reason."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from conftest import tiny_files
from onshore.errors import DataError
from onshore.io.load import import_files
from onshore.store.duckdb import DuckDBStore

FLOWS = "supplier,customer,material,quantity,unit,period"


@pytest.fixture
def loaded(store: DuckDBStore, tiny_dir: Path) -> DuckDBStore:
    import_files(store, tiny_files(tiny_dir))
    return store


def _refused(store: DuckDBStore, files: list[Path], **kw: bool) -> list[str]:
    before = store.snapshot_hash()
    with pytest.raises(DataError) as exc:
        import_files(store, files, **kw)
    assert store.snapshot_hash() == before, "a refused import changed the store"
    return [str(e) for e in exc.value.errors]


def _warned(store: DuckDBStore, files: list[Path]) -> list[str]:
    return [str(w) for w in import_files(store, files).warnings]


def _book(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
    wb.save(path)
    return path


def _flows(store: DuckDBStore) -> list[dict[str, object]]:
    return store.read("flows").to_dict("records")


# Excel cells ------------------------------------------------------------------------------

def test_excel_date_and_year_cells(loaded: DuckDBStore, tmp_path: Path) -> None:
    book = _book(tmp_path / "book.xlsx", {
        "facilities": [["id", "company", "name", "country", "stage", "since", "until"],
                       ["mine2", "minerco", "Mine Two", "AU", "mine", dt.datetime(2021, 3, 1), 2030]],
        "flows": [FLOWS.split(","), ["mine1", "ref1", "spodumene", 5, "t", 2024],
                  ["mine1", "ref1", "spodumene", 6, "t", 2023.0]],
    })
    import_files(loaded, [book])
    fac = loaded.read("facilities").set_index("id").loc["mine2"]
    assert (fac["since"], fac["until"]) == ("2021-03-01", "2030")
    assert {"2023", "2024"} <= {r["period"] for r in _flows(loaded)}


def test_a_date_cell_as_period_is_refused_with_a_reason(loaded: DuckDBStore, tmp_path: Path) -> None:
    book = _book(tmp_path / "flows.xlsx", {
        "flows": [FLOWS.split(","), ["mine1", "ref1", "spodumene", 5, "t", dt.datetime(2025, 3, 1)]]})
    errs = _refused(loaded, [book])
    assert len(errs) == 1 and "column 'period'" in errs[0] and "this cell is a date, 2025-03-01" in errs[0]


# what is not a table ----------------------------------------------------------------------

def test_notes_sheet_and_extra_columns_are_ignored_with_warnings(loaded: DuckDBStore, tmp_path: Path) -> None:
    book = _book(tmp_path / "book.xlsx", {
        "Notes": [["These figures are from our 2025 supplier survey"]],
        "flows": [[*FLOWS.split(","), "comments"], ["mine1", "ref1", "spodumene", 5, "t", 2024, "late"]],
    })
    warnings = _warned(loaded, [book])
    assert any(f"{book}[Notes]" in w and "ignored: a sheet not named after a table" in w for w in warnings), warnings
    assert any(f"{book}[flows], row 1, column 'comments'" in w and "ignored" in w for w in warnings), warnings
    assert any(r["period"] == "2024" for r in _flows(loaded))


def test_strict_refuses_what_would_be_ignored(loaded: DuckDBStore, tmp_path: Path) -> None:
    book = _book(tmp_path / "book.xlsx", {
        "Notes": [["survey notes"]],
        "flows": [[*FLOWS.split(","), "comments"], ["mine1", "ref1", "spodumene", 5, "t", 2024, "late"]],
    })
    errs = _refused(loaded, [book], strict=True)
    assert any(e.startswith(f"{book}[Notes]: got a sheet that is not a table") for e in errs), errs
    assert any(e.startswith(f"{book}[flows], row 1, column 'comments': got an extra column") for e in errs), errs


def test_cli_prints_warnings_and_takes_strict(tmp_path: Path, tiny_dir: Path) -> None:
    from onshore.cli import app

    db = tmp_path / "s.duckdb"
    runner = CliRunner()
    assert runner.invoke(app, ["import", *map(str, tiny_files(tiny_dir)), "--db", str(db)]).exit_code == 0
    f = tmp_path / "flows.csv"
    f.write_text(f"{FLOWS},colour\nmine1,ref1,spodumene,5,t,2024,red\n", encoding="utf-8")
    r = runner.invoke(app, ["import", str(f), "--db", str(db)])
    assert r.exit_code == 0 and "column 'colour'" in r.output and "1 warning" in r.output, r.output
    r = runner.invoke(app, ["import", str(f), "--strict", "--db", str(db)])
    assert r.exit_code == 2 and "got an extra column" in r.output, r.output


# headers ----------------------------------------------------------------------------------

def test_title_rows_above_the_header_and_header_case(loaded: DuckDBStore, tmp_path: Path) -> None:
    f = tmp_path / "flows.csv"
    f.write_text("Supplier deliveries 2024,,,,,\n,,,,,\nSupplier ,Customer,MATERIAL,Quantity,unit , Period\n"
                 "mine1,ref1,spodumene,5,t,2024\n", encoding="utf-8")
    warnings = _warned(loaded, [f])
    assert any("header found at row 3; rows 1-2 above it skipped" in w for w in warnings), warnings
    assert any("'Supplier ' as supplier" in w for w in warnings), warnings
    book = _book(tmp_path / "book.xlsx", {"flows": [["Deliveries"], FLOWS.upper().split(","),
                                                    ["mine1", "ref1", "spodumene", "7", "t", "2023"]]})
    assert any("header found at row 2; row 1 above it skipped" in w for w in _warned(loaded, [book]))
    assert {"2023", "2024"} <= {r["period"] for r in _flows(loaded)}


def test_errors_keep_spreadsheet_rows_below_a_title(loaded: DuckDBStore, tmp_path: Path) -> None:
    f = tmp_path / "flows.csv"
    f.write_text(f"Deliveries\n{FLOWS}\nmine1,ref1,spodumene,lots,t,2024\n", encoding="utf-8")
    assert _refused(loaded, [f]) == [f"{f}, row 3, column 'quantity': got 'lots'; expected a number"]


# encodings and delimiters -----------------------------------------------------------------

@pytest.mark.parametrize(
    ("encoding", "bom", "said"),
    [("cp1252", b"", "Windows-1252"), ("latin-1", b"", "Windows-1252"), ("utf-16-le", b"\xff\xfe", "UTF-16"),
     ("utf-16-le", b"", "UTF-16 LE (no byte order mark)"), ("utf-16-be", b"", "UTF-16 BE"),
     ("utf-8", b"\xef\xbb\xbf", None)],
)
def test_encodings(loaded: DuckDBStore, tmp_path: Path, encoding: str, bom: bytes, said: str | None) -> None:
    f = tmp_path / "companies.csv"
    f.write_bytes(bom + "id,name,country\nnestle,Nestlé Société,CH\n".encode(encoding))
    warnings = _warned(loaded, [f])
    names = loaded.read("companies").set_index("id")["name"]
    assert names["nestle"] == "Nestlé Société"
    enc = [w for w in warnings if "encoding assumed" in w]
    assert (said in enc[0]) if said else not enc, warnings


def test_semicolon_csv_with_decimal_commas(loaded: DuckDBStore, tmp_path: Path) -> None:
    f = tmp_path / "flows.csv"
    f.write_text(f"{FLOWS.replace(',', ';')}\nmine1;ref1;spodumene;1,5;t;2024\nref1;cell1;lioh;2.000,25;kt;2024\n",
                 encoding="utf-8")
    warnings = _warned(loaded, [f])
    assert any("semicolon-delimited" in w for w in warnings)
    assert any("row 2, column 'quantity': '1,5' read as 1.5 (decimal comma)" in w for w in warnings), warnings
    q = {r["material"]: r["quantity"] for r in _flows(loaded) if r["period"] == "2024"}
    assert q == {"spodumene": 1.5, "lioh": 2000.25}


def test_semicolon_csv_whose_decimal_mark_is_unclear_is_refused(loaded: DuckDBStore, tmp_path: Path) -> None:
    f = tmp_path / "flows.csv"
    f.write_text(f"{FLOWS.replace(',', ';')}\nmine1;ref1;spodumene;1,500;t;2024\n", encoding="utf-8")
    errs = _refused(loaded, [f])
    assert len(errs) == 1 and errs[0].startswith(f"{f}, row 2, column 'quantity': got '1,500'; expected a number")
    assert "1500 or 1.5" in errs[0]


# numbers ----------------------------------------------------------------------------------

def test_percentages_in_fraction_columns(loaded: DuckDBStore, tmp_path: Path) -> None:
    f = tmp_path / "ownership.csv"
    f.write_text("owner,owned,equity,voting\ncellco,minerco,51%,51\n", encoding="utf-8")
    warnings = _warned(loaded, [f])
    row = loaded.read("ownership").set_index(["owner", "owned"]).loc[("cellco", "minerco")]
    assert (row["equity"], row["voting"]) == (0.51, 0.51)
    assert any("column 'equity': '51%' read as 0.51" in w for w in warnings), warnings
    assert any("column 'voting': '51' read as 0.51: 51 is over 1 in a fraction column" in w for w in warnings)


def test_thousands_separators_in_quantities(loaded: DuckDBStore, tmp_path: Path) -> None:
    f = tmp_path / "flows.csv"
    f.write_text(f'{FLOWS}\nmine1,ref1,spodumene,"1,000",t,2024\nref1,cell1,lioh,1 000.5,kg,2024\n',
                 encoding="utf-8")
    warnings = _warned(loaded, [f])
    q = {r["material"]: r["quantity"] for r in _flows(loaded) if r["period"] == "2024"}
    assert q == {"spodumene": 1000.0, "lioh": 1000.5}
    assert any("row 2, column 'quantity': '1,000' read as 1000 (',' as thousands separator)" in w for w in warnings)


def test_a_decimal_comma_in_a_comma_file_is_refused(loaded: DuckDBStore, tmp_path: Path) -> None:
    f = tmp_path / "flows.csv"
    f.write_text(f'{FLOWS}\nmine1,ref1,spodumene,"1,5",t,2024\n', encoding="utf-8")
    errs = _refused(loaded, [f])
    assert errs[0].startswith(f"{f}, row 2, column 'quantity': got '1,5'; expected a number with a decimal point")


# messages ---------------------------------------------------------------------------------

def test_no_message_says_empty_about_a_value_that_is_not(loaded: DuckDBStore, tmp_path: Path) -> None:
    f = tmp_path / "flows.csv"
    f.write_text(f"{FLOWS}\nmine1,ref1,spodumene,5,t,20245\n", encoding="utf-8")
    assert _refused(loaded, [f]) == [
        f"{f}, row 2, column 'period': got '20245'; expected a period as YYYY, YYYY-Qn or YYYY-MM"]
    o = tmp_path / "ownership.csv"
    o.write_text("owner,owned,equity\nrefco,refco,0.1\n", encoding="utf-8")
    assert "column 'owner': got 'refco'" in _refused(loaded, [o])[0]
    c = tmp_path / "facilities.csv"
    c.write_text("id,company,name,country,stage,capacity\nx,minerco,X,AU,mine,5\n", encoding="utf-8")
    assert "column 'unit': got empty; expected a unit for the capacity" in _refused(loaded, [c])[0]
    folder = tmp_path / "flows_dir.csv"
    folder.mkdir()
    bad_csv = tmp_path / "companies.csv"
    bad_csv.write_text('id,name,country\nx,"unclosed,CN\ny,Y,CN\n', encoding="utf-8")
    fake = tmp_path / "book.xlsx"
    fake.write_text("not a workbook", encoding="utf-8")
    for p in (tmp_path / "nothing.csv", folder, bad_csv, fake):
        errs = _refused(loaded, [p])
        assert errs and not any("got empty" in e for e in errs), errs


def test_did_you_mean(loaded: DuckDBStore, tmp_path: Path) -> None:
    c = tmp_path / "companies.csv"
    c.write_text("id,name,country\na,A,Germany\nb,B,KOR\nc,C,UK\n", encoding="utf-8")
    errs = _refused(loaded, [c])
    assert "did you mean 'DE'" in errs[0] and "did you mean 'KR'" in errs[1] and "did you mean 'GB'" in errs[2], errs
    f = tmp_path / "flows.csv"
    f.write_text(f"{FLOWS}\nmine_1,ref1,spodumene,5,tonnes,2024\n", encoding="utf-8")
    errs = _refused(loaded, [f])
    assert any("column 'unit'" in e and "did you mean 't'?" in e for e in errs), errs
    f.write_text(f"{FLOWS}\nmine_1,ref1,spodumene,5,t,2024\n", encoding="utf-8")
    errs = _refused(loaded, [f])
    assert errs == [f"{f}, row 2, column 'supplier': got 'mine_1'; expected the id of one of the facilities "
                    "(there is no facility 'mine_1'); did you mean 'mine1'?"]
    m = tmp_path / "flows_2.csv"
    m.write_text("supplier,customer,material,quantity,unit,periode\nmine1,ref1,spodumene,5,t,2024\n", encoding="utf-8")
    assert "(required in flows); is the column 'periode' meant to be it?" in _refused(loaded, [m])[0]


def test_the_error_count_is_the_true_count(loaded: DuckDBStore, tmp_path: Path) -> None:
    f = tmp_path / "companies.csv"
    f.write_text("id,name,country\n" + "".join(f"c{i},C,ZZ\n" for i in range(250)), encoding="utf-8")
    with pytest.raises(DataError) as exc:
        import_files(loaded, [f])
    assert exc.value.total == 250 and len(exc.value.errors) == 100
    assert str(exc.value).startswith("250 errors, first 100 shown in the input")


# the column-wise path says exactly what the row-by-row path says ---------------------------

BAD_FLOWS = [
    "mine1,ref1,spodumene,5,t,2024",
    "mine1,ref1,spodumene,-5,t,2023",
    "mine1,ref1,spodumene,lots,t,2022",
    "mine1,mine1,spodumene,5,t,2021",
    " mine1 ,ref1,spodumene, 7 ,T,2020",
    "mine1,ref1,spodumene,5,tonnes,2019",
    "mine1,ref1,spodumene,5,t,2019-13",
    "mine1,ref1,spodumene,5,t,",
    "mine1,nowhere,spodumene,5,t,2018",
    "mine1,ref1,spodumene,5,GWh,2017",
    "mine1,ref1,spodumene,\"1,000\",t,2016",
    "mine1,ref1,spodumene,nan,t,2015",
    "mine1,ref1,spodumene,1e3,kg,2014",
    "mine1,ref1,spodumene,5,t,2024",
]


@pytest.mark.parametrize("good_only", [False, True])
def test_column_wise_checks_agree_with_the_record_model(
    tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, good_only: bool
) -> None:
    from onshore.io import cells, readers

    lines = [line for line in BAD_FLOWS if not good_only or line.endswith(("2020", "2016", "2014"))]
    f = tmp_path / "flows.csv"
    f.write_text(FLOWS + ",source,estimate\n" + "".join(f"{line},s,true\n" for line in lines), encoding="utf-8")
    results = []
    for fast in (False, True):
        monkeypatch.setattr(cells, "FAST_ROWS", 1 if fast else 10**9)
        monkeypatch.setattr(readers, "FAST_CSV_BYTES", 1 if fast else 10**12)
        with DuckDBStore(":memory:") as s:
            import_files(s, tiny_files(tiny_dir))
            try:
                got = import_files(s, [f])
                results.append((s.snapshot_hash(), [str(w) for w in got.warnings]))
            except DataError as e:
                results.append(([str(x) for x in e.errors], e.total))
    assert results[0] == results[1]
