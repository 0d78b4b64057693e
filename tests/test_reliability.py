"""Proof that nothing is lost, the small campaign the test suite runs: every importer and
every user-supplied YAML on generated input (accepted, or refused with an OnshoreError naming
the file; never a traceback, never a changed store after a refusal). ``make fuzz`` runs the
same properties with many more examples (``tools/reliability.py``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings

sys.path.insert(0, str(Path(__file__).parent))
import reliability as R

settings.load_profile(os.environ.get("ONSHORE_HYPOTHESIS", "ci"))
# slower cases (openpyxl writes a workbook; a rule set loads the restricted lists)
FEWER = {"xlsx": 10, "rules": 8, "plan": 10}


@pytest.fixture(scope="module")
def sut(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    s = R.StoreUnderTest(tmp_path_factory.mktemp("fuzz"))
    yield s
    s.close()


def _limit(kind: str):  # type: ignore[no-untyped-def]
    n = FEWER.get(kind)
    if n is None or os.environ.get("ONSHORE_HYPOTHESIS", "ci") != "ci":
        return settings()
    return settings(max_examples=n)


@pytest.mark.parametrize("kind", R.IMPORT_KINDS)
def test_importers_refuse_clearly_and_write_nothing(sut, kind: str) -> None:  # type: ignore[no-untyped-def]
    @_limit(kind)
    @given(R.IMPORT_STRATEGIES[kind])
    def run(case: tuple[str, bytes]) -> None:
        outcome = R.import_case(sut, kind, case)
        assert outcome in ("accepted", "refused"), (outcome, case[0], case[1][:200])

    run()


@pytest.mark.parametrize("kind", R.YAML_KINDS)
def test_yaml_loaders_refuse_clearly(kind: str) -> None:
    @_limit(kind)
    @given(R.yaml_strategy(kind))
    def run(case: tuple[str, bytes]) -> None:
        outcome = R.yaml_run(kind, case)
        assert outcome in ("accepted", "refused"), (outcome, case[0], case[1][:200])

    run()


@pytest.mark.parametrize(
    "name, data",
    [
        ("flows.csv", b"\x00\x01\x02\xff" * 100),
        ("flows.csv", b"\xef\xbb\xbf"),
        ("flows.csv", b""),
        ("companies.csv", "id,name,country\nä,Ä,DE\n".encode("utf-16")),
        ("companies.csv", "id,name,country\nz\xe9,Z\xe9,FR\n".encode("latin-1")),
        ("companies.json", b'{"companies": 1}'),
        ("companies.parquet", b"PAR1garbagePAR1"),
        ("network.xlsx", b"PK\x03\x04 not a zip"),
    ],
)
def test_known_bad_files(sut, name: str, data: bytes) -> None:  # type: ignore[no-untyped-def]
    assert R.import_case(sut, "csv", (name, data)) in ("accepted", "refused")


def test_a_huge_file_with_one_bad_row_writes_nothing(sut) -> None:  # type: ignore[no-untyped-def]
    """A 200 000-row CSV (read column-wise) whose last row is bad: refused, store unchanged."""
    rows = [f"c{i},Company {i},AU" for i in range(200_000)] + ["bad,Bad,Atlantis"]
    data = ("id,name,country\n" + "\n".join(rows) + "\n").encode()
    assert len(data) > 1_000_000
    assert R.import_case(sut, "csv", ("companies.csv", data)) == "refused"


def test_a_second_process_is_refused_while_one_writes(tmp_path: Path) -> None:
    """Two processes on one store: the second is refused with a message naming the holder's
    pid, and the store is intact afterwards."""
    import subprocess

    from onshore.errors import StoreError
    from onshore.store.duckdb import DuckDBStore

    path = tmp_path / "s.duckdb"
    DuckDBStore(path).close()
    code = (
        "import sys, time; from onshore.store.duckdb import DuckDBStore; "
        f"s = DuckDBStore({str(path)!r}); print('open', flush=True); time.sleep(30)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"open"
        with pytest.raises(StoreError) as e:
            DuckDBStore(path)
        msg = str(e.value)
        assert "is in use by another process" in msg and f"pid {holder.pid}" in msg, msg
        assert "try again when it has finished" in msg
    finally:
        holder.kill()
        holder.wait()
    with DuckDBStore(path) as s:
        assert s.counts()["companies"] == 0


# backup and restore, audit export and verify ----------------------------------------------


def _audited_store(path: Path):  # type: ignore[no-untyped-def]
    """A store with the tiny network, a few audit rows and a review decision."""
    from onshore.io.load import import_files
    from onshore.store.audit import AuditLog
    from onshore.store.duckdb import DuckDBStore
    from onshore.store.reviews import ReviewQueue

    s = DuckDBStore(path)
    import_files(s, sorted(R.TINY.glob("*.csv")))
    AuditLog(s.con).append(
        {
            "rule_id": f"r{i}",
            "rule_version": 2,
            "snapshot": s.snapshot_hash(),
            "evaluated_on": "2027-01-01",
            "buyer": "dod",
            "product": "cell1",
            "verdict": "pass",
            "reason": "because",
            "inputs": {"share": 0.1 * i},
        }
        for i in range(5)
    )
    q = ReviewQueue(s.con)
    q.add([{"key": "k", "input": "Minerco Ltd", "candidate": "minerco", "name": "Minerco",
            "score": 0.9}])
    q.decide("k", "minerco", "same", by="ana")
    return s


def _everything(s) -> tuple:  # type: ignore[no-untyped-def,type-arg]
    from onshore.records.model import TABLES

    tables = tuple(
        tuple(s.con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall())
        for t in (*TABLES, "audit", "reviews")
    )
    return (s.snapshot_hash(), tables)


def test_backup_restore_round_trips_every_table_and_the_chain(tmp_path: Path) -> None:
    from onshore.errors import StoreError
    from onshore.store.audit import AuditLog
    from onshore.store.backup import backup, restore
    from onshore.store.duckdb import DuckDBStore

    s = _audited_store(tmp_path / "a.duckdb")
    before = _everything(s)
    m = backup(s, tmp_path / "bk")
    s.close()
    assert m["audit_head"]["seq"] == 6
    restore(tmp_path / "bk", tmp_path / "b.duckdb")
    with DuckDBStore(tmp_path / "b.duckdb", create=False) as b:
        assert _everything(b) == before
        assert AuditLog(b.con).verify() == []
    # over an older store (the same one): fine; over a newer one: refused without --force
    restore(tmp_path / "bk", tmp_path / "a.duckdb")
    with DuckDBStore(tmp_path / "a.duckdb") as a:
        AuditLog(a.con).append([{"rule_id": "x", "rule_version": 1, "evaluated_on": "2027",
                                 "buyer": "b", "product": "p", "verdict": "v", "reason": "r"}])
        newer = _everything(a)
    with pytest.raises(StoreError, match="newer than the backup.*--force"):
        restore(tmp_path / "bk", tmp_path / "a.duckdb")
    with DuckDBStore(tmp_path / "a.duckdb") as a:
        assert _everything(a) == newer
    restore(tmp_path / "bk", tmp_path / "a.duckdb", force=True)
    with DuckDBStore(tmp_path / "a.duckdb") as a:
        assert _everything(a) == before
    # a changed file is caught by its checksum
    f = tmp_path / "bk" / "companies.parquet"
    f.write_bytes(f.read_bytes()[:-10] + b"0" * 10)
    with pytest.raises(StoreError, match="checksum"):
        restore(tmp_path / "bk", tmp_path / "c.duckdb")
    assert not (tmp_path / "c.duckdb").exists()


def test_audit_verify_names_the_row_and_the_head_catches_truncation(tmp_path: Path) -> None:
    from onshore.store.audit import AuditLog

    s = _audited_store(tmp_path / "a.duckdb")
    log = AuditLog(s.con)
    head = log.head()
    assert head.startswith("6:") and log.verify(head) == []
    s.con.execute("DELETE FROM audit WHERE seq >= 5")
    assert log.verify() == []  # a cut-off tail is still a valid chain ...
    problems = log.verify(head)  # ... which the anchored head catches
    assert problems and "row 6" in problems[0] and "ends at row 4" in problems[0]
    s.con.execute("UPDATE audit SET reason = 'edited' WHERE seq = 2")
    assert any(p.startswith("row 2:") for p in log.verify())
    s.close()


def test_cli_backup_restore_and_audit(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from onshore.cli import app

    _audited_store(tmp_path / "a.duckdb").close()
    db = ["--db", str(tmp_path / "a.duckdb")]
    run = CliRunner().invoke
    head = run(app, ["audit", "head", *db])
    assert head.exit_code == 0 and head.stdout.startswith("6:")
    out = run(app, ["audit", "verify", "--head", head.stdout.strip(), *db])
    assert out.exit_code == 0 and "intact: 6 rows" in out.stdout
    js = run(app, ["audit", "export", "--format", "json", *db])
    doc = json.loads(js.stdout)
    kinds = {r["kind"] for r in doc["rows"]}
    assert kinds == {"verdict", "review", "review_queue"} and doc["chain_intact"]
    review = next(r for r in doc["rows"] if r["kind"] == "review")
    assert review["decided_by"] == "ana" and review["verdict"] == "same"
    verdict = next(r for r in doc["rows"] if r["kind"] == "verdict")
    assert verdict["rule_version"] == 2 and verdict["snapshot"] and verdict["evidence"]
    csv_ = run(app, ["audit", "export", "--format", "csv", *db])
    assert csv_.stdout.splitlines()[0].startswith("kind,seq,recorded_at,rule_id,rule_version")
    pdf = tmp_path / "audit.pdf"
    assert run(app, ["audit", "export", "--format", "pdf", "-o", str(pdf), *db]).exit_code == 0
    assert pdf.read_bytes().startswith(b"%PDF-1.4") and b"%%EOF" in pdf.read_bytes()[-10:]
    assert run(app, ["backup", str(tmp_path / "bk"), *db]).exit_code == 0
    r = run(app, ["restore", str(tmp_path / "bk"), "--db", str(tmp_path / "new.duckdb")])
    assert r.exit_code == 0, r.output
    assert run(app, ["audit", "verify", "--db", str(tmp_path / "new.duckdb")]).exit_code == 0


def test_killed_import_and_check_leave_the_store_whole(tmp_path: Path) -> None:
    """A handful of SIGKILLs at random moments of `onshore import` (a 2 000-facility network,
    ~20 000 flows) and `onshore check --all` (the long campaign: 50+ runs, 10 000 facilities)."""
    import random

    c = R.CrashCampaign(tmp_path, n_facilities=2_000)
    rnd = random.Random(14)
    outcomes = []
    for what in ("import", "check"):
        for _ in range(3):
            t = rnd.uniform(0.3, 1.1 * c.seconds[what])
            outcomes.append(c.run(what, t))
    assert "partial_write" not in outcomes, R.FAILURES


def test_two_imports_at_once_one_is_refused_nothing_corrupted(tmp_path: Path) -> None:
    """Two `onshore import` processes into one store at the same moment: each either writes
    everything or is refused in words; the store ends as one import leaves it."""
    import subprocess

    from onshore.io.load import import_files
    from onshore.store.duckdb import DuckDBStore

    with DuckDBStore(tmp_path / "ref.duckdb") as ref:
        import_files(ref, sorted(R.TINY.glob("*.csv")))
        want = ref.snapshot_hash()
    db = tmp_path / "s.duckdb"
    DuckDBStore(db).close()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    argv = [sys.executable, "-m", "onshore", "import", *map(str, sorted(R.TINY.glob("*.csv"))),
            "--db", str(db)]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
             for _ in range(2)]
    results = [(p.wait(), p.stderr.read().decode() if p.stderr else "") for p in procs]
    assert any(rc == 0 for rc, _ in results), results
    for rc, err in results:
        assert rc == 0 or ("in use by another process (pid" in err and rc == 1), (rc, err)
    with DuckDBStore(db, create=False) as s:
        assert s.snapshot_hash() == want
