"""The long reliability campaign (``make fuzz``, ``make reliability``).

Generated input for every importer and every user-supplied YAML (until a number of cases or
a time per kind is reached), SIGKILLed imports and checks, backup round-trips; prints the
figures and, with ``--doc``, writes them to ``docs/reliability.md``.

    python tools/reliability.py [--examples 2000] [--seconds 120] [--crash-runs 50] [--doc]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import reliability as R
from hypothesis import HealthCheck, given, settings

CHUNK = 50


def fuzz(kind: str, examples: int, seconds: float, sut: R.StoreUnderTest) -> float:
    """Run one input kind until ``examples`` cases or ``seconds``; returns the time taken."""
    t0 = time.monotonic()
    while R.STATS[kind]["tried"] < examples and time.monotonic() - t0 < seconds:
        n = min(CHUNK, examples - R.STATS[kind]["tried"])
        opts = settings(max_examples=n, deadline=None, database=None,
                        suppress_health_check=list(HealthCheck))
        if kind in R.IMPORT_KINDS:
            @opts
            @given(R.IMPORT_STRATEGIES[kind])
            def run(case: tuple[str, bytes]) -> None:
                R.import_case(sut, kind, case)
        else:
            @opts
            @given(R.yaml_strategy(kind))
            def run(case: tuple[str, bytes]) -> None:
                R.yaml_run(kind, case)
        run()
    return time.monotonic() - t0


def round_trips(folder: Path, n: int) -> tuple[int, int]:
    """Backup and restore of stores with random audit rows: (round-trips, identical)."""
    from onshore.records.model import TABLES
    from onshore.store.audit import AuditLog
    from onshore.store.backup import backup, restore
    from onshore.store.duckdb import DuckDBStore

    def everything(s: DuckDBStore) -> tuple[object, ...]:
        return (s.snapshot_hash(), *(
            tuple(s.con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall())
            for t in (*TABLES, "audit", "reviews")
        ))

    rnd = random.Random(4)
    ok = 0
    for i in range(n):
        path = folder / f"rt{i}.duckdb"
        R.audited_base(path)
        with DuckDBStore(path) as s:
            AuditLog(s.con).append(
                {"rule_id": f"r{k}", "rule_version": rnd.randint(1, 9), "evaluated_on": "2027",
                 "buyer": "b", "product": "p", "verdict": rnd.choice(["pass", "fail"]),
                 "reason": "x" * rnd.randint(0, 50), "inputs": {"k": rnd.random()}}
                for k in range(rnd.randint(0, 30))
            )
            want = everything(s)
            backup(s, folder / f"bk{i}")
        restore(folder / f"bk{i}", folder / f"back{i}.duckdb")
        with DuckDBStore(folder / f"back{i}.duckdb", create=False) as b:
            ok += everything(b) == want and not AuditLog(b.con).verify()
    return n, ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--examples", type=int, default=2000, help="cases per input kind at most")
    ap.add_argument("--seconds", type=float, default=90, help="seconds per input kind at most")
    ap.add_argument("--crash-runs", type=int, default=50, help="SIGKILLed runs per command")
    ap.add_argument("--round-trips", type=int, default=20)
    ap.add_argument("--doc", action="store_true", help="write docs/reliability.md")
    a = ap.parse_args()
    started = dt.datetime.now(dt.UTC)
    took: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        (folder / "fuzz").mkdir()
        sut = R.StoreUnderTest(folder / "fuzz")
        for kind in (*R.IMPORT_KINDS, *R.YAML_KINDS):
            took[kind] = fuzz(kind, a.examples, a.seconds, sut)
            print(f"{kind:8} {dict(R.STATS[kind])} in {took[kind]:.0f} s", flush=True)
        sut.close()
        crash_dir = folder / "crash"
        crash_dir.mkdir()
        c = R.CrashCampaign(crash_dir)
        rnd = random.Random(14)
        for what in ("import", "check"):
            for _ in range(a.crash_runs):
                c.run(what, rnd.uniform(0.2, 1.1 * c.seconds[what]))
            print(f"crash {what}: {dict(R.STATS['crash_' + what])}", flush=True)
        rt, rt_ok = round_trips(folder, a.round_trips)
        print(f"backup round-trips: {rt_ok} of {rt} identical", flush=True)
    bad = sum(R.STATS[k][w] for k in R.STATS for w in ("traceback", "partial_write", "unclear"))
    for sig, detail in R.FAILURES.items():
        print(f"FAILURE {sig}\n    {detail[:300]}")
    if a.doc:
        write_doc(started, a, took, c.seconds, rt, rt_ok)
    return 1 if bad or rt_ok != rt else 0


def write_doc(started: dt.datetime, a: argparse.Namespace, took: dict[str, float],
              crash_seconds: dict[str, float], rt: int, rt_ok: int) -> None:
    s = R.STATS
    lines = [
        "# Reliability: proof that nothing is lost",
        "",
        f"Written by `make reliability` (`tools/reliability.py`) on {started:%Y-%m-%d %H:%M} UTC:"
        f" at most {a.examples} cases or {a.seconds:.0f} s per input kind, "
        f"{a.crash_runs} SIGKILLed runs per command, {a.round_trips} backup round-trips. "
        "The test suite runs the same properties on a smaller campaign "
        "(`tests/test_reliability.py`, hypothesis profile `ci`).",
        "",
        "## Generated input",
        "",
        "Every case must be accepted, or refused with an `OnshoreError` whose message names the "
        "file; after a refusal the store (snapshot hash of every table, the audit chain, the "
        "review queue) must be as before. *Unclear* counts refusals that did not name the file.",
        "",
        "| input kind | cases | accepted | refused | tracebacks | unclear | partial writes "
        "| seconds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for k in (*R.IMPORT_KINDS, *R.YAML_KINDS):
        c = s[k]
        lines.append(
            f"| {k} | {c['tried']} | {c['accepted']} | {c['refused']} | {c['traceback']} | "
            f"{c['unclear']} | {c['partial_write']} | {took[k]:.0f} |"
        )
    lines += [
        "",
        "Import cases: CSV (every table, missing, extra and repeated columns, wrong types, "
        "ragged rows, comma / semicolon / tab / pipe, UTF-8 with and without BOM, Latin-1, "
        "Windows-1252, UTF-16 with and without BOM, empty files, BOM-only files, binary "
        "garbage, the tiny network's files with bytes changed, cut or inserted), XLSX "
        "(formulas, dates and datetimes, booleans, title rows, notes sheets, non-workbooks), "
        "Parquet (strings, ints, floats, bools, timestamps, dates, lists, binary, nulls, "
        "non-Parquet bytes), JSON (rows, table objects, any JSON value, malformed text, other "
        "encodings). YAML cases: the bundled rule files and cut-off and plan scenarios with "
        "keys dropped, values of other types, extra keys, emptied lists, cut at any byte, "
        "re-encoded, or garbage. The test suite also imports a 200 000-row CSV with one bad "
        "last row (refused, nothing written).",
        "",
        "## Killed mid-write",
        "",
        "`onshore import` of a 10 000-facility synthetic network (~100 000 flows, 8 MB of CSV) "
        "into a store holding the tiny network, audit rows and a review decision, and "
        "`onshore check --all` on that store (before the import), each SIGKILLed at a random moment between 0.2 s and "
        "1.1 times a full run. After each kill the store is opened and compared with its state"
        " before (every table's snapshot hash, the audit rows, the review queue) and with a "
        "full run's; the audit chain is verified.",
        "",
        "| command | runs | killed | finished | store as before | store as after a full run "
        "| partial writes | full run (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for what in ("import", "check"):
        c = s.get(f"crash_{what}", {})
        lines.append(
            f"| {what} | {c.get('tried', 0)} | {c.get('killed', 0)} | {c.get('finished', 0)} | "
            f"{c.get('before', 0)} | {c.get('after', 0)} | {c.get('partial_write', 0)} | "
            f"{crash_seconds[what]:.1f} |"
        )
    lines += [
        "",
        "## Backups",
        "",
        f"{rt} backup/restore round-trips of stores with random audit rows: {rt_ok} restored "
        "every table, the audit log and the review queue identically, with an intact chain.",
        "",
        "## Concurrency",
        "",
        "A second process opening a store another holds is refused with `StoreError` \"the "
        "store X is in use by another process (pid N); try again when it has finished\" "
        "(`tests/test_reliability.py`), and the store is intact afterwards.",
        "",
    ]
    if R.FAILURES:
        lines += ["## Failures", ""] + [f"- `{sig}`" for sig in R.FAILURES] + [""]
    (ROOT / "docs" / "reliability.md").write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
