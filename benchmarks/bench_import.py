"""The import at scale: a ~50 MB supplier flows CSV into a fresh store, then one `check`.

Targets (issue 10): the 50 MB flows CSV that took about 24 s and 1.8 GB imports in <= 10 s
and <= 1 GB, and a later single-product `check` takes at most twice its time on the
reference network. The companies, materials and facilities the flows refer to are imported
first (not timed), then the flows file alone is imported in its own subprocess, whose peak
RSS is sampled with psutil (and cross-checked with the child's own ``ru_maxrss``); the CPU
seconds of the child are given too (wall time on shared cores depends on the neighbours).

The check case does what `onshore check PRODUCT` does, each in a fresh subprocess: open the
store, load the network, pick the period (the latest year the product's plant was
supplied), check one cell product for the DoD (audited) and say the data basis; once on the
store of the 50 MB import and once on a store holding the reference network (``ses_chungju``,
the README's product).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 10.0
TARGET_GIB = 1.0
TARGET_CHECK_RATIO = 2.0
REFERENCE_PRODUCT = "ses_chungju"
BUYER, ON = "dod", "2027-10-01"


def _row(case: str, seconds: float, **kw: Any) -> dict[str, Any]:
    return {"benchmark": "import", "case": case, "seconds": seconds, **kw}


def make_files(folder: Path, n_facilities: int, n_flows: int) -> dict[str, Path]:
    """Write the synthetic network's tables as CSV files in ``folder``; returns them by table."""
    from onshore import synthetic

    net = synthetic.network(n_facilities, n_flows=n_flows, seed=7, ownership=False)
    out = {}
    for name in ("companies", "materials", "facilities", "flows"):
        df = getattr(net, name)
        path = folder / f"{name}.csv"
        df.to_csv(path, index=False)
        out[name] = path
    return out


def setup_store(db: str, files: list[str]) -> None:
    """Create the store and import what the flows refer to (run in a subprocess)."""
    from onshore.io.load import import_files
    from onshore.store.duckdb import DuckDBStore

    with DuckDBStore(db) as store:
        import_files(store, files)


def import_run(db: str, flows: str) -> dict[str, Any]:
    """Import the flows file into the store; what the parent measures (run in a subprocess)."""
    import resource

    from onshore.io.load import import_files
    from onshore.store.duckdb import DuckDBStore

    t = time.perf_counter()
    c = _cpu()
    with DuckDBStore(db) as store:
        written = import_files(store, [flows])
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return {
        "seconds": seconds,
        "cpu_s": _cpu() - c,
        "rows": sum(written.values()),
        "maxrss_gib": peak,
    }


def _cpu() -> float:
    import os

    t = os.times()
    return t.user + t.system


def reference_store(db: str) -> None:
    """A store holding the bundled reference network (run in a subprocess)."""
    from onshore.io.load import import_files, reference_files
    from onshore.store.duckdb import DuckDBStore

    with DuckDBStore(db) as store:
        import_files(store, reference_files())


def check_run(db: str, product: str | None = None) -> dict[str, Any]:
    """What `onshore check PRODUCT` does, timed by step (run in a fresh subprocess); without
    a product, the first cell plant of the store."""
    t0, c0 = time.perf_counter(), _cpu()
    from onshore.compliance import check, data_basis
    from onshore.compliance.context import latest_year
    from onshore.network import Network
    from onshore.store.audit import AuditLog
    from onshore.store.duckdb import DuckDBStore

    with DuckDBStore(db, create=False) as store:
        if product is None:
            row = store.con.execute(
                "SELECT id FROM facilities WHERE stage = 'cell' ORDER BY id LIMIT 1"
            ).fetchall()
            product = str(row[0][0])
        t1, c1 = time.perf_counter(), _cpu()
        net, log = Network.from_store(store), AuditLog(store.con)
        t2, c2 = time.perf_counter(), _cpu()
        period = latest_year(net, product)
        vs = check(net, product, BUYER, ON, audit=log, period=period)
        basis = data_basis(net, product, period)["text"]
        t3, c3 = time.perf_counter(), _cpu()
    return {
        "seconds": time.perf_counter() - t0,
        "cpu_s": _cpu() - c0,
        "imports_s": t1 - t0,
        "load_s": t2 - t1,
        "check_s": t3 - t2,
        "cpu_steps": [c1 - c0, c2 - c1, c3 - c2],
        "product": product,
        "period": period,
        "verdicts": len(vs),
        "basis": basis,
        "flows": len(net.flows),
    }


def _check_rows(db: str, ref_db: str, big: bool) -> list[dict[str, Any]]:
    """The check after the import against the check on the reference network."""
    call = "import json; from benchmarks.bench_import import check_run; print(json.dumps({}))"
    ref, _ = _measured(call.format(f"check_run({ref_db!r}, {REFERENCE_PRODUCT!r})"))
    got, peak = _measured(call.format(f"check_run({db!r})"))
    ratio = got["seconds"] / ref["seconds"]

    def steps(r: dict[str, Any]) -> str:
        return (
            f"modules {r['imports_s']:.1f} s, load {r['load_s']:.1f} s, check and data basis "
            f"{r['check_s']:.1f} s; CPU {r['cpu_s']:.1f} s (modules, load, check: "
            + ", ".join(f"{x:.1f}" for x in r["cpu_steps"])
            + ")"
        )

    return [
        _row(
            f"check {REFERENCE_PRODUCT} on the reference network",
            ref["seconds"],
            detail=f"{ref['flows']:,} flows, period {ref['period']}; {steps(ref)}",
        ),
        _row(
            f"check {got['product']} after the import ({got['flows']:,} flows)",
            got["seconds"],
            peak_gib=peak,
            ratio=ratio,
            target=f"<= {TARGET_CHECK_RATIO:g} x the reference network's" if big else None,
            met=ratio <= TARGET_CHECK_RATIO if big else None,
            detail=(
                f"{ratio:.2f} x the reference network's {ref['seconds']:.1f} s (CPU "
                f"{got['cpu_s'] / ref['cpu_s']:.2f} x); period "
                f"{got['period']}; {steps(got)}; {got['basis']}"
            ),
        ),
    ]


def _measured(code: str, timeout: float = 900) -> tuple[dict[str, Any], float]:
    """Run ``code`` in a fresh interpreter; its JSON result and its peak RSS in GiB (psutil)."""
    import psutil

    p = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc = psutil.Process(p.pid)
    peak = 0
    t0 = time.perf_counter()
    while p.poll() is None:
        try:
            peak = max(peak, proc.memory_info().rss)
        except psutil.Error:
            break
        if time.perf_counter() - t0 > timeout:
            p.kill()
            break
        time.sleep(0.01)
    out, err = p.communicate()
    if p.returncode != 0:
        raise RuntimeError(err[-500:])
    return json.loads(out.strip().splitlines()[-1]), peak / 2**30


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Import a ~50 MB flows CSV (about 5 MB with ``quick``) into a fresh store."""
    n_fac, n_flows = (6_000, 60_000) if quick else (60_000, 680_000)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        files = make_files(folder, n_fac, n_flows)
        generate = time.perf_counter() - t
        db = str(folder / "bench.duckdb")
        setup = [str(files[t]) for t in ("companies", "materials", "facilities")]
        t = time.perf_counter()
        _measured(
            f"from benchmarks.bench_import import setup_store; setup_store({db!r}, {setup!r});"
            "print('{}')"
        )
        setup_s = time.perf_counter() - t
        mb = files["flows"].stat().st_size / 1e6
        code = (
            "import json; from benchmarks.bench_import import import_run; "
            f"print(json.dumps(import_run({db!r}, {str(files['flows'])!r})))"
        )
        try:
            r, peak = _measured(code)
        except RuntimeError as e:
            return [_row(f"flows CSV {mb:.0f} MB", float("nan"), met=False, detail=f"failed: {e}")]
        peak = max(peak, r["maxrss_gib"])
        big = not quick
        ref_db = str(folder / "reference.duckdb")
        _measured(
            f"from benchmarks.bench_import import reference_store; reference_store({ref_db!r});"
            "print('{}')"
        )
        rows.append(
            _row(
                f"import flows CSV {mb:.0f} MB ({r['rows']:,} rows)",
                r["seconds"],
                peak_gib=peak,
                target=f"<= {TARGET_S:g} s, <= {TARGET_GIB:g} GiB" if big else None,
                met=(r["seconds"] <= TARGET_S and peak <= TARGET_GIB) if big else None,
                detail=(
                    f"fresh store holding {n_fac:,} facilities (setup {setup_s:.1f} s, "
                    f"generate {generate:.1f} s); CPU {r['cpu_s']:.1f} s; peak RSS of the "
                    f"importing process (psutil {peak:.2f} GiB, ru_maxrss "
                    f"{r['maxrss_gib']:.2f} GiB)"
                ),
            )
        )
        rows += _check_rows(db, ref_db, big)
    return rows


if __name__ == "__main__":
    for r in run("--quick" in sys.argv):
        print(r)
