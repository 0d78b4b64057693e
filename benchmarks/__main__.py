"""Run every benchmark: `python -m benchmarks [NAME ...]` (or `make bench`).

Each module ``benchmarks/bench_*.py`` defines ``run(quick: bool) -> list[dict]``; every dict is
one measured case with at least ``benchmark``, ``case`` and ``seconds`` (and, where the issue
names a target, ``target`` and ``met``; where a case has a bound, ``bound_s``: the seconds its
bytes take at the measured memory bandwidth). Results print as one table, each figure next to
the one of the previous run (``previous``, read from ``benchmarks/results/<name>.json`` before it
is overwritten). ``--quick`` runs the small sizes only.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).parent


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    wanted = [a for a in argv if not a.startswith("-")]
    names = sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if m.name.startswith("bench_"))
    if wanted:
        names = [n for n in names if any(w in n for w in wanted)]
    console = Console(width=None if sys.stdout.isatty() else 220)
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    all_rows = []
    for name in names:
        console.print(f"[bold]{name}[/bold] ...")
        mod = importlib.import_module(f"benchmarks.{name}")
        t0 = time.perf_counter()
        rows = mod.run(quick=quick)
        res = out_dir / f"{name}.json"
        before = {r["case"]: r for r in json.loads(res.read_text())} if res.exists() else {}
        for r in rows:  # the figure of the previous run of the same case, side by side
            if r["case"] in before:
                r["previous"] = before[r["case"]].get("seconds")
        res.write_text(json.dumps(rows, indent=2, default=str))
        console.print(f"  done in {time.perf_counter() - t0:.1f} s")
        all_rows += rows
    table = Table(title="onshore benchmarks")
    cols = [
        "benchmark",
        "case",
        "seconds",
        "previous",
        "bound_s",
        "peak_gib",
        "ratio",
        "target",
        "met",
        "detail",
    ]
    for c in cols:
        table.add_column(
            c,
            max_width=60 if c == "detail" else None,
            overflow="ellipsis" if c == "detail" else "fold",
        )
    for r in all_rows:

        def fmt(v: object) -> str:
            if isinstance(v, float):
                return f"{v:.4g}"
            return "" if v is None else str(v)

        table.add_row(*[fmt(r.get(c)) for c in cols])
    console.print(table)
    (out_dir / "all.json").write_text(json.dumps(all_rows, indent=2, default=str))
    missed = [r for r in all_rows if r.get("met") is False]
    met = [r for r in all_rows if r.get("met") is True]
    console.print(f"targets met: {len(met)}; missed: {len(missed)}")
    for r in missed:
        console.print(
            f"  missed: {r['benchmark']} / {r['case']}: {r.get('seconds', 0):.3g} s against {r.get('target')}"
        )
    return 0 if not missed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
