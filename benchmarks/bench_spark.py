"""The local and the Spark engine (local mode) side by side, at 1 M and 10 M flows (quick:
100 k), on :func:`onshore.synthetic.network` with 10 flows per facility, seed 1, ownership on.

Cases per size: the trace of every node written to the compact Parquet directory of
:func:`onshore.trace.solve_all`, effective ownership (Spark: with its doublings and Spark
jobs) and the concentration table (Spark: also from the tables written to partitioned
Parquet), each on both engines; then screening of ``benchmarks/data/screening_pairs.csv``
against the reference network on both engines. The Spark timings include moving the graph
and the right-hand sides into Spark, not starting the session.

Bounds (the machine is shared): Spark runs ``local[2]`` with ``ONSHORE_SPARK_DRIVER_MEMORY``
(default 6g); a Spark trace still running after ``ONSHORE_BENCH_SPARK_CAP`` seconds (default
2700) is cancelled and recorded as not finished, with the time it ran. ``ONSHORE_BENCH_FLOWS``
(e.g. ``1000000,10000000``) chooses the sizes, ``ONSHORE_BENCH_CASES`` the cases (default
``trace,owners,concentration,screen``) and ``ONSHORE_BENCH_REPEAT`` how many times the
ownership and concentration cases run, the engines alternating. Each row is also appended
as it is measured to ``benchmarks/results/bench_spark.jsonl``, so a long run that is stopped
keeps what it measured. ``docs/scale.md`` reads these figures for its estimate at 1 B flows.

Run one size alone: ``python -m benchmarks.bench_spark 1000000``.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from onshore import synthetic
from onshore.engines import concentration_table, effective_ownership, trace_all
from onshore.engines.tables import write_tables

HERE = Path(__file__).parent
LOG = HERE / "results" / "bench_spark.jsonl"
CASES = ("trace", "owners", "concentration", "screen")


def _peak_gib() -> float:
    """Peak resident memory of this process (the driver; in local mode the JVM is another)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _emit(rows: list[dict[str, Any]], row: dict[str, Any]) -> None:
    load = os.getloadavg()[0]  # the machine is shared: the figures are read with this
    row = {"benchmark": "spark", **row, "peak_gib": round(_peak_gib(), 2), "load1": load}
    rows.append(row)
    LOG.parent.mkdir(exist_ok=True)
    with LOG.open("a") as f:
        f.write(json.dumps(row, default=str) + "\n")
    print(json.dumps(row, default=str), flush=True)


class _Canceller(threading.Thread):
    """After ``cap`` seconds, cancel the Spark jobs every few seconds until stopped (work on
    the driver between jobs is not a job: the next job is cancelled when it starts)."""

    def __init__(self, sc: Any, cap: float) -> None:
        super().__init__(daemon=True)
        self.sc, self.cap, self.done = sc, cap, threading.Event()
        self.fired = False

    def run(self) -> None:
        if self.done.wait(self.cap):
            return
        self.fired = True
        while not self.done.wait(2.0):
            self.sc.cancelAllJobs()

    def cancel(self) -> None:
        self.done.set()


def _sizes(quick: bool, argv: list[str] | None = None) -> list[int]:
    if argv:
        return [int(a) for a in argv]
    env = os.environ.get("ONSHORE_BENCH_FLOWS")
    if env:
        return [int(x) for x in env.split(",") if x.strip()]
    return [100_000] if quick else [1_000_000, 10_000_000]


def run(quick: bool, flows: list[int] | None = None) -> list[dict[str, Any]]:
    from onshore.engines import spark as spark_engine

    why = spark_engine.available()
    if why:
        return [{"benchmark": "spark", "case": "skipped", "seconds": 0.0, "detail": why}]
    os.environ.setdefault("ONSHORE_SPARK_DRIVER_MEMORY", "6g")
    master = os.environ.get("ONSHORE_SPARK_MASTER", "local[2]")
    cap = float(os.environ.get("ONSHORE_BENCH_SPARK_CAP", "2700"))
    parts = int(os.environ.get("ONSHORE_SPARK_PARTITIONS", "4"))
    cases = set(os.environ.get("ONSHORE_BENCH_CASES", ",".join(CASES)).split(","))
    repeat = int(os.environ.get("ONSHORE_BENCH_REPEAT", "1"))
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    s = spark_engine.session(master=master, partitions=parts)
    eng = spark_engine.SparkEngine(s)
    _emit(rows, {"case": f"session start ({master})", "seconds": time.perf_counter() - t0})
    try:
        for target in flows or _sizes(quick):
            n = target // 10
            t0 = time.perf_counter()
            net = synthetic.network(n, n_flows=target, seed=1, ownership=True)
            size = f"{len(net.facilities):,} facilities / {len(net.flows):,} flows"
            _emit(rows, {"case": f"synthetic network, {size}", "seconds": time.perf_counter() - t0})
            with tempfile.TemporaryDirectory(dir=os.environ.get("ONSHORE_BENCH_TMP")) as tmp:
                for name, e in (("local", "local"), ("spark", eng)) if "trace" in cases else ():
                    net._cache.clear()
                    st: dict[str, float] = {}
                    timer = None
                    if name == "spark":
                        timer = _Canceller(s.sparkContext, cap)
                        timer.start()
                    t0 = time.perf_counter()
                    try:
                        trace_all(net, out=Path(tmp) / name, engine=e, stats=st)
                        detail = ", ".join(f"{k} {v:.3g}" for k, v in st.items())
                        done = True
                    except Exception as exc:  # a Spark job cancelled at the cap
                        if timer is None or not timer.fired:
                            raise
                        detail = f"not finished: cancelled at the {cap:.0f} s cap "
                        detail += f"({type(exc).__name__})"
                        done = False
                    finally:
                        if timer is not None:
                            timer.cancel()
                    dt = time.perf_counter() - t0
                    files = (Path(tmp) / name).rglob("*")
                    disk = sum(p.stat().st_size for p in files if p.is_file())
                    _emit(rows, {"case": f"trace every node, {name}, {size}", "seconds": dt,
                                 "finished": done, "parquet_gib": round(disk / 2**30, 2),
                                 "detail": detail})
                    if name == "local":
                        import shutil

                        shutil.rmtree(Path(tmp) / name, ignore_errors=True)
            with tempfile.TemporaryDirectory(dir=os.environ.get("ONSHORE_BENCH_TMP")) as tmp:
                t0 = time.perf_counter()
                write_tables(net, Path(tmp) / "tables")
                _emit(rows, {"case": f"tables written to Parquet, {size}",
                             "seconds": time.perf_counter() - t0})
                for _ in range(repeat):  # the engines alternate: the load is shared
                    for what, name, e, kw in (
                        ("effective ownership", "local", "local", {}),
                        ("effective ownership", "spark", eng, {}),
                        ("concentration table", "local", "local", {}),
                        ("concentration table", "spark", eng, {}),
                        ("concentration table from the Parquet tables", "spark", eng,
                         {"tables": Path(tmp) / "tables"}),
                    ):
                        if ("owners" if "ownership" in what else "concentration") not in cases:
                            continue
                        net._cache.clear()
                        st: dict[str, float] = {}
                        if name == "spark" and "ownership" in what:
                            kw = {"stats": st}
                        t0 = time.perf_counter()
                        if name == "spark":
                            meth = "effective_ownership" if "ownership" in what else (
                                "concentration_table")
                            res = getattr(eng, meth)(net, **kw)
                        else:
                            fn = effective_ownership if "ownership" in what else (
                                concentration_table)
                            res = fn(net, engine=e)  # type: ignore[operator]
                        detail = ", ".join([f"{len(res):,} rows",
                                            *(f"{k} {v:g}" for k, v in st.items())])
                        _emit(rows, {"case": f"{what}, {name}, {size}",
                                     "seconds": time.perf_counter() - t0, "detail": detail})
            del net
        if flows is not None or "screen" not in cases:  # one size alone: no screening
            return rows
        import pandas as pd

        from onshore.engines import screen
        from onshore.network import Network

        pairs = pd.read_csv(HERE / "data" / "screening_pairs.csv", dtype=str, keep_default_na=False)
        q = [{"name": r["input"], "country": r["country"]} for r in pairs.to_dict("records")]
        for name, e in (("local", "local"), ("spark", eng)):
            ref = Network.reference()
            t0 = time.perf_counter()
            out = screen(ref, q, engine=e)
            _emit(rows, {"case": f"screen {len(q):,} names against the reference network, {name}",
                         "seconds": time.perf_counter() - t0, "detail": f"{len(out):,} rows"})
    finally:
        s.stop()
    return rows


if __name__ == "__main__":
    run(quick=False, flows=_sizes(False, sys.argv[1:]))
