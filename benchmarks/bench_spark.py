"""The trace of every node on the local and the Spark engine (local mode), at 1 M flows
(quick: 100 k), on :func:`onshore.synthetic.network` with 10 flows per facility, seed 1.

Both write the compact Parquet directory of :func:`onshore.trace.solve_all`; the Spark timing
includes moving the graph and the right-hand sides into Spark, not starting the session.
Also timed on Spark: effective ownership and the concentration table of the same network.
``docs/scale.md`` reads these figures for its estimate at 1 B flows.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from onshore import synthetic
from onshore.engines import concentration_table, effective_ownership, trace_all


def run(quick: bool) -> list[dict[str, Any]]:
    from onshore.engines import spark as spark_engine

    why = spark_engine.available()
    if why:
        return [{"benchmark": "spark", "case": "skipped", "seconds": 0.0, "detail": why}]
    master = os.environ.get("ONSHORE_SPARK_MASTER", "local[2]")
    t0 = time.perf_counter()
    s = spark_engine.session(master=master, partitions=int(os.environ.get("ONSHORE_SPARK_PARTITIONS", "4")))
    eng = spark_engine.SparkEngine(s)
    rows: list[dict[str, Any]] = [
        {"benchmark": "spark", "case": f"session start ({master})", "seconds": time.perf_counter() - t0}
    ]
    sizes = [10_000] if quick else [10_000, 100_000]
    try:
        for n in sizes:
            net = synthetic.network(n, n_flows=10 * n, seed=1, ownership=True)
            size = f"{len(net.facilities):,} facilities / {len(net.flows):,} flows"
            with tempfile.TemporaryDirectory() as tmp:
                for name, e in (("local", "local"), ("spark", eng)):
                    net._cache.clear()
                    st: dict[str, float] = {}
                    t0 = time.perf_counter()
                    trace_all(net, out=Path(tmp) / name, engine=e, stats=st)
                    dt = time.perf_counter() - t0
                    rows.append({"benchmark": "spark", "case": f"trace every node, {name}, {size}",
                                 "seconds": dt, "detail": ", ".join(f"{k} {v:.3g}" for k, v in st.items())})
            for what, fn in (("effective ownership", effective_ownership),
                             ("concentration table", concentration_table)):
                for name, e in (("local", "local"), ("spark", eng)):
                    net._cache.clear()
                    t0 = time.perf_counter()
                    fn(net, engine=e)  # type: ignore[operator]
                    rows.append({"benchmark": "spark", "case": f"{what}, {name}, {size}",
                                 "seconds": time.perf_counter() - t0})
    finally:
        s.stop()
    return rows
