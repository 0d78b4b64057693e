"""The reliability harness: generated inputs for every importer and every YAML a user
supplies, and the invariant each must keep.

Every generated case is either accepted or refused with an :class:`OnshoreError` whose
message names the file; any other exception is a traceback, and a refusal that changed the
store is a partial write. ``tests/test_reliability.py`` runs a small campaign in the test
suite; ``tools/reliability.py`` (``make fuzz``, ``make reliability``) a longer one and
writes the figures to ``docs/reliability.md``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
import tempfile
import traceback
from collections import Counter
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from onshore.errors import OnshoreError
from onshore.records.model import TABLES

TINY = Path(str(resources.files("onshore") / "data" / "examples" / "tiny"))
RULES = Path(str(resources.files("onshore") / "rules"))
SCENARIOS = Path(str(resources.files("onshore") / "data" / "scenarios"))
IMPORT_KINDS = ("csv", "xlsx", "parquet", "json")
YAML_KINDS = ("rules", "cutoff", "plan")

settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    database=None,
)
settings.register_profile(
    "fuzz",
    max_examples=2000,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)

# what the campaign saw: per input kind, cases tried, accepted, refused, tracebacks,
# refusals whose message did not name the file, partial writes
STATS: dict[str, Counter[str]] = {k: Counter() for k in (*IMPORT_KINDS, *YAML_KINDS)}
FAILURES: dict[str, str] = {}
"""One example per distinct failure (the place it was raised and the exception)."""


def record(kind: str, what: str, detail: str = "") -> None:
    STATS[kind][what] += 1
    if what in ("traceback", "partial_write", "unclear"):
        sig = f"{kind}: {what}: " + (
            " | ".join(traceback.format_exc().strip().splitlines()[-3:])
            if what == "traceback"
            else detail[:120]
        )
        FAILURES.setdefault(sig, detail)


# cell values ----------------------------------------------------------------------------

TINY_IDS = ["state_a", "minerco", "refco", "mine1", "ref1", "cell1", "lithium", "spodumene",
            "lioh", "cell"]
_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12
)
cell_text = st.one_of(
    st.sampled_from(
        TINY_IDS
        + ["AU", "CN", "KR", "XX", "UK", "kt", "kg", "t/yr", "kg/kWh", "GWh", "bananas", "2025",
           "2025-Q1", "2025-13", "2025-02-30", "51%", "150%", "1,000", "1,5", "-1", "1e308",
           "nan", "inf", "-inf", "true", "yes", "mine", "cell", "raw", "operating", "=1+1",
           "=A1*2", "=HYPERLINK(\"x\")", "", " ", "\u00e9\u00e8", "\u4e2d\u56fd", "NULL"]
    ),
    _text,
)
cell_number = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
)
cell_value = st.one_of(cell_text, cell_number, st.booleans(), st.none())


@st.composite
def table_rows(draw: Any) -> tuple[str, list[str], list[list[Any]]]:
    """A table name, a header (some of its columns, maybe missing required ones, maybe extra
    or repeated ones) and rows of mixed-type values (wrong types, ragged widths)."""
    table = draw(st.sampled_from(list(TABLES)))
    cols = list(TABLES[table].columns)
    header = draw(st.lists(st.sampled_from(cols), min_size=0, max_size=len(cols) + 2))
    if draw(st.booleans()):
        header = [c for c in cols if c in TABLES[table].required] + header
    extra = draw(st.lists(st.one_of(_text, st.sampled_from(["Supplier ", "QUANTITY", "As of",
                                                              "countryy", "notes"])),
                          max_size=2))
    header = header + extra
    header = draw(st.permutations(header)) if header else header
    n = draw(st.integers(min_value=0, max_value=6))
    rows = []
    for _ in range(n):
        width = len(header) + draw(st.sampled_from([0, 0, 0, 0, -1, 1]))
        rows.append(draw(st.lists(cell_value, min_size=max(width, 0), max_size=max(width, 0))))
    return table, header, rows


def _csv_cell(v: Any) -> str:
    return "" if v is None else str(v)


@st.composite
def csv_case(draw: Any) -> tuple[str, bytes]:
    """A file name and the bytes of a CSV: generated rows in one of the encodings and
    delimiters users have, or garbage, empty, truncated or huge."""
    mode = draw(st.sampled_from(["rows"] * 6 + ["garbage", "empty", "bom_only", "tiny_edit"]))
    table = draw(st.sampled_from(list(TABLES)))
    name = f"{table}.csv"
    if mode == "garbage":
        return name, draw(st.binary(max_size=2000))
    if mode == "empty":
        return name, b""
    if mode == "bom_only":
        return name, draw(st.sampled_from([b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\n\n"]))
    if mode == "tiny_edit":
        # a real file with a few bytes changed, cut or inserted
        src = draw(st.sampled_from(sorted(TINY.glob("*.csv"))))
        data = bytearray(src.read_bytes())
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(data) - 1))
            op = draw(st.sampled_from(["set", "cut", "insert"]))
            b = draw(st.integers(0, 255))
            if op == "set":
                data[i] = b
            elif op == "cut":
                del data[i:]
                if not data:
                    break
            else:
                data.insert(i, b)
        return src.name, bytes(data)
    table, header, rows = draw(table_rows())
    delim = draw(st.sampled_from([",", ";", "\t", "|"]))
    import csv

    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delim)
    w.writerow(header)
    for r in rows:
        w.writerow([_csv_cell(v) for v in r])
    text = buf.getvalue()
    enc = draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "cp1252", "utf-16",
                                "utf-16-le", "utf-16-be"]))
    data = text.encode(enc, errors="replace")
    return f"{table}.csv", data


def _xl(v: Any) -> Any:
    """A value as a workbook can hold it: openpyxl refuses control characters and integers
    beyond 64 bits, which no user's workbook holds."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(v, str):
        return ILLEGAL_CHARACTERS_RE.sub("", v)
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 2**63:
        return str(v)
    return v


@st.composite
def xlsx_case(draw: Any) -> tuple[str, bytes]:
    """A workbook: sheets named after tables (or not), cells of every Excel type: numbers,
    text, dates and datetimes, booleans, formulas; title rows; or bytes that are no workbook."""
    mode = draw(st.sampled_from(["book"] * 8 + ["garbage", "csv_as_xlsx"]))
    if mode == "garbage":
        return "network.xlsx", draw(st.binary(max_size=1000))
    if mode == "csv_as_xlsx":
        return "flows.xlsx", (TINY / "flows.csv").read_bytes()
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    xcell = st.one_of(
        cell_value.filter(lambda v: not (isinstance(v, int) and abs(v) > 2**53)),
        st.dates(min_value=dt.date(1900, 3, 1), max_value=dt.date(2100, 1, 1)),
        st.datetimes(min_value=dt.datetime(1900, 3, 1), max_value=dt.datetime(2100, 1, 1)),
        st.sampled_from(["=1+1", "=A2", "=SUM(A1:A3)", "=1/0", "=NOW()", "=\"kt\""]),
    )
    for _ in range(draw(st.integers(1, 3))):
        table, header, rows = draw(table_rows())
        title = draw(st.sampled_from([table, table.title(), f"{table}_2025", "Notes", "Sheet"]))
        if title in wb.sheetnames:
            continue
        ws = wb.create_sheet(title)
        lines = [[draw(_text)]] if draw(st.booleans()) else []
        lines.append(header)
        lines += [[draw(xcell) if draw(st.booleans()) else v for v in r] for r in rows]
        for line in lines:
            ws.append([_xl(v) for v in line])
    if not wb.sheetnames:
        wb.create_sheet("Sheet")
    buf = io.BytesIO()
    try:
        wb.save(buf)
    except (ValueError, TypeError):
        # openpyxl itself refuses some values (control characters, huge ints): not a file
        # a user can have
        return "network.xlsx", b""
    return "network.xlsx", buf.getvalue()


@st.composite
def parquet_case(draw: Any) -> tuple[str, bytes]:
    """A Parquet file of typed columns (strings, ints, floats, bools, timestamps, lists,
    binary, nulls) under a table's name, or bytes that are not Parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table, header, rows = draw(table_rows())
    if draw(st.integers(0, 9)) == 0:
        return f"{table}.parquet", draw(st.binary(max_size=1000))
    n = draw(st.integers(0, 5))
    kinds = {
        "string": (st.one_of(cell_text, st.none()), pa.string()),
        "int": (st.one_of(st.integers(-(2**63), 2**63 - 1), st.none()), pa.int64()),
        "float": (st.one_of(st.floats(), st.none()), pa.float64()),
        "bool": (st.one_of(st.booleans(), st.none()), pa.bool_()),
        "ts": (st.one_of(st.datetimes(min_value=dt.datetime(1, 1, 2)), st.none()),
               pa.timestamp("us")),
        "date": (st.one_of(st.dates(), st.none()), pa.date32()),
        "list": (st.one_of(st.lists(cell_text, max_size=3), st.none()), pa.list_(pa.string())),
        "binary": (st.one_of(st.binary(max_size=8), st.none()), pa.binary()),
        "null": (st.none(), pa.null()),
    }
    cols: dict[str, Any] = {}
    for h in dict.fromkeys(header):
        strat, typ = kinds[draw(st.sampled_from(list(kinds)))]
        cols[str(h)] = pa.array([draw(strat) for _ in range(n)], type=typ)
    t = pa.table(cols) if cols else pa.table({"x": pa.array([], pa.string())})
    buf = io.BytesIO()
    pq.write_table(t, buf)
    return f"{table}.parquet", buf.getvalue()


json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), cell_text),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(cell_text, inner, max_size=4)),
    max_leaves=12,
)


@st.composite
def json_case(draw: Any) -> tuple[str, bytes]:
    """JSON rows (a list under a table's name, or an object of tables), any JSON value, or
    malformed text, in UTF-8 with or without BOM or another encoding."""
    mode = draw(st.sampled_from(["rows", "rows", "object", "any", "text"]))
    table, header, rows = draw(table_rows())
    objs = [dict(zip(header, r, strict=False)) for r in rows]
    if mode == "rows":
        doc: Any = objs
        name = f"{table}.json"
    elif mode == "object":
        doc = {draw(st.sampled_from([table, "notes", table.upper()])): objs,
               **draw(st.dictionaries(cell_text, json_value, max_size=2))}
        name = "network.json"
    elif mode == "any":
        doc, name = draw(json_value), f"{table}.json"
    else:
        return f"{table}.json", draw(st.binary(max_size=500))
    text = json.dumps(doc, default=str, allow_nan=True)
    enc = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]))
    return name, text.encode(enc, errors="replace")


IMPORT_STRATEGIES: dict[str, Any] = {
    "csv": csv_case(),
    "xlsx": xlsx_case(),
    "parquet": parquet_case(),
    "json": json_case(),
}


# the store under test -------------------------------------------------------------------


class StoreUnderTest:
    """A store holding the tiny network; a copy of it is restored after an accepted import
    so that every case starts from the same content."""

    def __init__(self, folder: Path) -> None:
        from onshore.io.load import import_files
        from onshore.store.duckdb import DuckDBStore

        self.folder = folder
        self.base = folder / "base.duckdb"
        s = DuckDBStore(self.base)
        import_files(s, sorted(TINY.glob("*.csv")))
        s.close()
        self.path = folder / "store.duckdb"
        self._reset()

    def _reset(self) -> None:
        from onshore.store.duckdb import DuckDBStore

        shutil.copy(self.base, self.path)
        self.store = DuckDBStore(self.path)
        self.state = state_of(self.store)

    def reset(self) -> None:
        self.store.close()
        self._reset()

    def close(self) -> None:
        self.store.close()


def state_of(store: Any) -> tuple[str, tuple[Any, ...], tuple[Any, ...]]:
    """The snapshot hash, the audit chain and the review queue: what a refusal must not
    change."""
    from onshore.store.audit import AuditLog
    from onshore.store.reviews import ReviewQueue

    AuditLog(store.con), ReviewQueue(store.con)  # the tables, when the store has none yet
    audit = tuple(store.con.execute("SELECT * FROM audit ORDER BY seq").fetchall())
    reviews = tuple(store.con.execute("SELECT * FROM reviews ORDER BY seq").fetchall())
    return store.snapshot_hash(), audit, reviews


def import_case(sut: StoreUnderTest, kind: str, case: tuple[str, bytes]) -> str:
    """Import one generated file; returns the outcome and records it in STATS."""
    from onshore.io.load import import_files

    name, data = case
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / name
        path.write_bytes(data)
        STATS[kind]["tried"] += 1
        try:
            import_files(sut.store, [path])
        except OnshoreError as e:
            msg = str(e)
            if state_of(sut.store) != sut.state:
                record(kind, "partial_write", f"{name}: {msg[:200]}")
                sut.reset()
                return "partial_write"
            if name not in msg:
                record(kind, "unclear", f"{name}: {msg[:200]}")
                return "unclear"
            record(kind, "refused")
            return "refused"
        except Exception:  # noqa: BLE001 - what the campaign looks for
            record(kind, "traceback", f"{name} {data[:80]!r}: {traceback.format_exc()[-600:]}")
            sut.reset()
            return "traceback"
        record(kind, "accepted")
        sut.reset()
        return "accepted"


# YAML the user supplies -------------------------------------------------------------------


def _mutate(draw: Any, node: Any, depth: int = 0) -> Any:
    """A copy of a parsed YAML document with a few keys dropped, values replaced by values of
    other types, extra keys added, lists emptied."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            op = draw(st.sampled_from(["keep"] * 8 + ["drop", "retype", "extra"]))
            if op == "drop":
                continue
            if op == "retype":
                out[k] = draw(json_value)
            else:
                out[k] = _mutate(draw, v, depth + 1)
            if op == "extra":
                out[draw(cell_text) or "x"] = draw(json_value)
        return out
    if isinstance(node, list):
        if draw(st.integers(0, 9)) == 0:
            return []
        return [_mutate(draw, v, depth + 1) for v in node[:4]]
    if draw(st.integers(0, 6)) == 0:
        return draw(st.one_of(json_value, st.dates(), st.sampled_from(["", "2025-13-01",
                                                                         "-1", "1e9"])))
    return node


@st.composite
def yaml_case(draw: Any, source: Path) -> bytes:
    """The bytes of a YAML file: the bundled one mutated, re-encoded, cut, or garbage."""
    mode = draw(st.sampled_from(["mutate"] * 6 + ["cut", "garbage", "encoding", "scalar"]))
    text = source.read_text(encoding="utf-8")
    if mode == "garbage":
        return bytes(draw(st.binary(max_size=500)))
    if mode == "cut":
        return text.encode()[: draw(st.integers(0, len(text)))]
    if mode == "encoding":
        return text.encode(draw(st.sampled_from(["utf-16", "latin-1", "utf-8-sig"])),
                           errors="replace")
    if mode == "scalar":
        return yaml.safe_dump(draw(json_value)).encode()
    doc = _mutate(draw, yaml.safe_load(text))
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False).encode()


def _load_rules(path: Path) -> Any:
    from onshore.rules import load_rules

    return load_rules(extra=[path.parent], package=False)


def _load_cutoff(path: Path) -> Any:
    from onshore.risk.scenario import load_scenario

    return load_scenario(path)


def _load_plan(path: Path) -> Any:
    from onshore.plan import load_scenario

    return load_scenario(path)


YAML_LOADERS: dict[str, tuple[Callable[[Path], Any], list[Path]]] = {
    "rules": (_load_rules, sorted(p for p in RULES.glob("*.yaml") if p.name != "buyers.yaml")),
    "cutoff": (_load_cutoff, [SCENARIOS / "graphite_cutoff.yaml"]),
    "plan": (_load_plan, [SCENARIOS / "ses_korea.yaml"]),
}


def yaml_strategy(kind: str) -> Any:
    _, sources = YAML_LOADERS[kind]
    return st.sampled_from(sources).flatmap(
        lambda src: st.tuples(st.just(src.name), yaml_case(src))
    )


def yaml_run(kind: str, case: tuple[str, bytes]) -> str:
    """Load one generated YAML file; returns the outcome and records it."""
    name, data = case
    loader, _ = YAML_LOADERS[kind]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / name
        path.write_bytes(data)
        if kind == "rules":
            shutil.copy(RULES / "buyers.yaml", Path(d) / "buyers.yaml")
        STATS[kind]["tried"] += 1
        try:
            loader(path)
        except OnshoreError as e:
            if name not in str(e):
                record(kind, "unclear", f"{name}: {str(e)[:200]}")
                return "unclear"
            record(kind, "refused")
            return "refused"
        except Exception:  # noqa: BLE001 - what the campaign looks for
            record(kind, "traceback", f"{name} {data[:80]!r}: {traceback.format_exc()[-600:]}")
            return "traceback"
    record(kind, "accepted")
    return "accepted"




# crash safety -------------------------------------------------------------------------------


def big_files(folder: Path, n_facilities: int = 10_000) -> list[Path]:
    """CSV files of a seeded synthetic network (10 000 facilities: ~100 000 flows, 8 MB)."""
    from onshore import synthetic

    net = synthetic.network(n_facilities, seed=3)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for t in ("companies", "materials", "facilities", "boms", "flows"):
        df = getattr(net, t)
        path = folder / f"{t}.csv"
        df[[c for c in TABLES[t].columns if c in df.columns]].to_csv(path, index=False)
        out.append(path)
    return out


def audited_base(path: Path) -> None:
    """A store file with the tiny network, audit rows and a review decision."""
    from onshore.io.load import import_files
    from onshore.store.audit import AuditLog
    from onshore.store.duckdb import DuckDBStore
    from onshore.store.reviews import ReviewQueue

    s = DuckDBStore(path)
    import_files(s, sorted(TINY.glob("*.csv")))
    AuditLog(s.con).append(
        {"rule_id": f"r{i}", "rule_version": 2, "snapshot": s.snapshot_hash(),
         "evaluated_on": "2027-01-01", "buyer": "dod", "product": "cell1", "verdict": "pass",
         "reason": "because", "inputs": {"share": 0.1 * i}}
        for i in range(5)
    )
    q = ReviewQueue(s.con)
    q.add([{"key": "k", "input": "Minerco Ltd", "candidate": "minerco", "name": "Minerco",
            "score": 0.9}])
    q.decide("k", "minerco", "same", by="ana")
    s.close()


def _state_at(path: Path) -> tuple[Any, list[str]]:
    from onshore.store.audit import AuditLog
    from onshore.store.duckdb import DuckDBStore

    with DuckDBStore(path, create=False) as s:
        return state_of(s), AuditLog(s.con).verify()


class CrashCampaign:
    """Kill ``onshore import`` (of a large file) and ``onshore check --all`` with SIGKILL at
    random moments; the store must then hold its state from before the command, or (when the
    command got past its commit) the state a full run gives: never anything in between."""

    def __init__(self, folder: Path, n_facilities: int = 10_000) -> None:
        import sys

        self.folder = folder
        self.python = sys.executable
        self.base = folder / "base.duckdb"
        audited_base(self.base)
        self.files = big_files(folder / "big", n_facilities)
        self.before, _ = _state_at(self.base)
        self.after: dict[str, Any] = {}
        self.seconds: dict[str, float] = {}
        for what in ("import", "check"):
            rc, path, took = self._run(what, None)
            assert rc == 0, f"onshore {what} failed without a kill"
            self.after[what], problems = _state_at(path)
            assert not problems
            self.seconds[what] = took

    def _argv(self, what: str, db: Path) -> list[str]:
        if what == "import":
            return [self.python, "-m", "onshore", "import", *map(str, self.files), "--db", str(db)]
        return [self.python, "-m", "onshore", "check", "--all", "--buyer", "dod", "--on",
                "2028-01-01", "--db", str(db)]

    def _run(self, what: str, kill_after: float | None) -> tuple[int, Path, float]:
        import os
        import subprocess
        import sys
        import time

        db = self.folder / f"run_{what}.duckdb"
        for p in (db, Path(f"{db}.wal")):
            p.unlink(missing_ok=True)
        shutil.copy(self.base, db)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        t0 = time.monotonic()
        proc = subprocess.Popen(
            self._argv(what, db), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )
        if kill_after is None:
            rc = proc.wait()
        else:
            try:
                rc = proc.wait(timeout=kill_after)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait()
        return rc, db, time.monotonic() - t0

    def run(self, what: str, kill_after: float) -> str:
        """One killed run: ``before`` (nothing written), ``after`` (all written) or
        ``partial_write`` (anything else, or a broken audit chain)."""
        kind = f"crash_{what}"
        STATS.setdefault(kind, Counter())
        STATS[kind]["tried"] += 1
        rc, db, _ = self._run(what, kill_after)
        state, problems = _state_at(db)
        if problems:
            outcome = "partial_write"
        elif state == self.before:
            outcome = "before"
        elif state[0] == self.after[what][0] and what == "check" and (
            state[1][: len(self.before[1])] == self.before[1]
            and len(state[1]) == len(self.after[what][1])
            and state[2] == self.after[what][2]
        ):
            outcome = "after"  # the same rows, recorded at another moment
        elif state == self.after[what]:
            outcome = "after"
        else:
            outcome = "partial_write"
        STATS[kind][outcome] += 1
        STATS[kind]["killed" if rc < 0 else "finished"] += 1
        if outcome == "partial_write":
            FAILURES.setdefault(f"{kind}: partial write after {kill_after:.2f}s",
                                f"rc {rc}, problems {problems[:2]}")
        return outcome
