"""The import at scale: a ~50 MB supplier flows CSV into a fresh store.

Target (issue 10): the 50 MB flows CSV that took about 24 s and 1.8 GB imports in <= 10 s
and <= 1 GB. The companies, materials and facilities the flows refer to are imported first
(not timed), then the flows file alone is imported in its own subprocess, whose peak RSS is
sampled with psutil (and cross-checked with the child's own ``ru_maxrss``).
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
    with DuckDBStore(db) as store:
        written = import_files(store, [flows])
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return {"seconds": seconds, "rows": sum(written.values()), "maxrss_gib": peak}


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
        rows.append(
            _row(
                f"import flows CSV {mb:.0f} MB ({r['rows']:,} rows)",
                r["seconds"],
                peak_gib=peak,
                target=f"<= {TARGET_S:g} s, <= {TARGET_GIB:g} GiB" if big else None,
                met=(r["seconds"] <= TARGET_S and peak <= TARGET_GIB) if big else None,
                detail=(
                    f"fresh store holding {n_fac:,} facilities (setup {setup_s:.1f} s, "
                    f"generate {generate:.1f} s); peak RSS of the importing process "
                    f"(psutil {peak:.2f} GiB, ru_maxrss {r['maxrss_gib']:.2f} GiB)"
                ),
            )
        )
    return rows


if __name__ == "__main__":
    for r in run("--quick" in sys.argv):
        print(r)
