"""Benchmark: effective ownership of 50k companies (<= 10 s) and `check --all` for one buyer
and date over the synthetic network with a 50k-company ownership graph (<= 60 s); with
``--fresh``, `check` of one product in a fresh process on a store of 100k facilities and 50k
companies (<= 2 s, issue 15), with and without what is kept beside the store.

``python -m benchmarks.bench_check --fresh [--quick] [--store PATH]``: the store is built in
a temporary folder (the synthetic network with ownership, seed 1, imported from CSV files;
minutes at 100k) unless ``--store`` names one built before (``build_store``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from onshore.network import Network


def synthetic_ownership(n: int = 50_000, seed: int = 0, ids: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Corporate groups of ~40 (trees of majority and minority stakes), 10 % cross-group
    minorities, states holding 30 % of group roots, 1 % small cross-holding cycles, 2 % debt."""
    rng = np.random.default_rng(seed)
    names = np.array(ids if ids is not None else [f"co{k}" for k in range(n)], dtype=object)
    n = len(names)
    kind = np.array(["company"] * n, dtype=object)
    kind[:4] = "state"
    country = rng.choice(["CN", "US", "KR", "JP", "DE", "AU", "CL", "ID"], n).astype(object)
    country[:4] = ["CN", "RU", "US", "KR"]
    k = np.arange(4, n)
    start = 4 + ((k - 4) // 40) * 40
    root = k == start
    parent = np.where(root, -1, start + ((k - start) * rng.uniform(0, 1, len(k))).astype(int))
    m = ~root
    parts = [pd.DataFrame({"owner": names[parent[m]], "owned": names[k[m]], "equity": rng.uniform(0.3, 1.0, m.sum())})]
    sel = rng.uniform(size=len(k)) < 0.1
    parts.append(pd.DataFrame({"owner": names[rng.integers(4, n, sel.sum())], "owned": names[k[sel]],
                               "equity": rng.uniform(0.01, 0.2, sel.sum())}))
    rs = k[root][rng.uniform(size=root.sum()) < 0.3]
    parts.append(pd.DataFrame({"owner": names[rng.integers(0, 4, len(rs))], "owned": names[rs], "equity": rng.uniform(0.05, 0.6, len(rs))}))
    cyc = (rng.uniform(size=len(k)) < 0.01) & m
    parts.append(pd.DataFrame({"owner": names[k[cyc]], "owned": names[parent[cyc]], "equity": 0.05}))
    own = pd.concat(parts).drop_duplicates(["owner", "owned"])
    own = own[own["owner"] != own["owned"]]
    tot = own.groupby("owned")["equity"].transform("sum")
    own["equity"] = np.where(tot > 1, own["equity"] / tot * 0.99, own["equity"])
    own["debt"] = np.where(rng.uniform(size=len(own)) < 0.02, 0.2, np.nan)
    comp = pd.DataFrame({"id": names, "name": names, "country": country, "kind": kind})
    return comp, own.reset_index(drop=True)


def _synthetic_network(quick: bool) -> Network | None:
    """The trace benchmark's synthetic network (100k facilities; 2k quick), its facilities owned by
    the companies of a 50k-company synthetic ownership graph (5k quick)."""
    try:
        from onshore.synthetic import network
    except ImportError:
        return None
    net = network(n_facilities=2_000 if quick else 100_000, n_companies=5_000 if quick else 50_000)
    comp, own = synthetic_ownership(ids=net.companies["id"].astype(str).tolist())
    net.ownership = Network.from_frames(ownership=own).ownership
    net.companies = net.companies.assign(kind=comp["kind"].to_numpy(), country=comp["country"].to_numpy())
    net._cache.clear()
    return net


def _peak_gib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def run(quick: bool) -> list[dict[str, Any]]:
    from collections import Counter

    from onshore.compliance import check_all, worst
    from onshore.owners import feoc, owners

    rows: list[dict[str, Any]] = []
    n = 5_000 if quick else 50_000
    comp, own = synthetic_ownership(n)
    net = Network.from_frames(companies=comp, ownership=own)
    t0 = time.perf_counter()
    o = owners(net)
    feoc(net)
    s = time.perf_counter() - t0
    rows.append({"benchmark": "check", "case": f"effective ownership + control + FEOC, {n} companies, {len(own)} holdings",
                 "seconds": s, "target": 10.0, "met": s <= 10.0, "detail": f"{o.equity.nnz} effective holdings"})

    ref = Network.reference()
    t0 = time.perf_counter()
    res = check_all(ref, "dod_new_program", dt.date(2028, 1, 1))
    rows.append({"benchmark": "check", "case": f"check --all, reference network ({len(res)} cell/pack plants)",
                 "seconds": time.perf_counter() - t0})
    rows.append(_one(ref, "reference network"))

    big = _synthetic_network(quick)
    if big is None:
        rows.append({"benchmark": "check", "case": "check --all, 100k-facility synthetic network", "seconds": None,
                     "detail": "skipped: onshore.synthetic is not available yet"})
        return rows
    size = f"synthetic {len(big.facilities)} facilities, {len(big.flows)} flows, {len(big.companies)} companies"
    for buyer, on, target in (("dod_new_program", dt.date(2028, 1, 1), 60.0), ("us_tax_30d", dt.date(2025, 6, 1), None)):
        t0 = time.perf_counter()
        res = check_all(big, buyer, on)
        s = time.perf_counter() - t0
        worst_of = Counter(worst(vs).value for vs in res.values())
        tgt = None if quick or target is None else target
        rows.append({"benchmark": "check", "case": f"check --all --buyer {buyer} --on {on}, {size}, {len(res)} products",
                     "seconds": s, "peak_gib": _peak_gib(), "target": tgt, "met": None if tgt is None else s <= tgt,
                     "detail": "worst verdicts " + ", ".join(f"{k} {v}" for k, v in sorted(worst_of.items()))
                     + ("; first screen on this network (includes owners and FEOC flags)" if buyer == "dod_new_program"
                        else "; includes building the trace graph; traced shares by one solve per rule")})
    rows.append(_one(big, size))
    return rows + _fresh(quick)


def _one(net: Network, size: str) -> dict[str, Any]:
    """``check`` of one cell product (full evidence), with the network's caches warm."""
    from onshore.compliance import check, products

    product = products(net, ("cell",))[0]
    check(net, product, "dod_new_program", dt.date(2028, 1, 1))  # warm: graph, owners, context
    t0 = time.perf_counter()
    vs = check(net, product, "dod_new_program", dt.date(2028, 1, 1))
    s = time.perf_counter() - t0
    return {"benchmark": "check", "case": f"check of one product (warm), {size}", "seconds": s,
            "detail": f"{product}: {len(vs)} verdicts"}


# ------------------------------------------------------------------ one product, fresh process
ROOT = Path(__file__).resolve().parent.parent
FRESH = (("us_tax_30d", "2025-06-01"), ("dod_new_program", "2028-01-01"))
"""The buyers and dates of the fresh-process case (those of the earlier measurement)."""


def build_store(db: str, n: int = 100_000, companies: int = 50_000) -> None:
    """A store of the synthetic network with ownership (seed 1), imported from CSV files."""
    from onshore import synthetic
    from onshore.io.load import import_files
    from onshore.store.duckdb import DuckDBStore

    net = synthetic.network(n, seed=1, n_companies=companies, ownership=True)
    folder = Path(db).parent / "csv"
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for name in ("companies", "materials", "facilities", "ownership", "boms", "flows"):
        df = getattr(net, name)
        if len(df):
            files.append(folder / f"{name}.csv")
            df.to_csv(files[-1], index=False)
    with DuckDBStore(db) as store:
        import_files(store, files)


def fresh_run(db: str, buyer: str, on: str) -> dict[str, Any]:
    """What `onshore check PRODUCT` does, in this (fresh) process, timed by phase: modules,
    open the store and load the network, the period, the rules, the compliance context (with
    owners), the company name index, then the check (the rule kinds, the trace's plans).
    Each phase is cached on the network, so ``check`` reuses it: the phases add up to one
    fresh call. The product is the first cell plant of the store."""
    t0, c0 = time.perf_counter(), time.process_time()
    from onshore.compliance import check
    from onshore.compliance.context import context, latest_year
    from onshore.compliance.evaluate import collector_paused
    from onshore.compliance.screen import company_index
    from onshore.network import Network
    from onshore.rules import bundled
    from onshore.store.audit import AuditLog
    from onshore.store.duckdb import DuckDBStore

    at = {"modules": time.perf_counter() - t0}
    with DuckDBStore(db, create=False) as store:
        product = str(store.con.execute(
            "SELECT id FROM facilities WHERE stage = 'cell' ORDER BY id LIMIT 1").fetchall()[0][0])
        t = time.perf_counter()
        net, log = Network.from_store(store), AuditLog(store.con)
        at["load"] = time.perf_counter() - t
        kept = sorted(p.name.split("-")[0] for p in net.plans.entries()) if net.plans else []
        c1 = time.process_time()
        t1 = t = time.perf_counter()
        with collector_paused():  # as check runs them
            period = latest_year(net, product)
            at["period"] = time.perf_counter() - t
            t = time.perf_counter()
            bundled()
            at["rules"] = time.perf_counter() - t
            t = time.perf_counter()
            context(net, period)
            at["context"] = time.perf_counter() - t
            t = time.perf_counter()
            company_index(net)
            at["names"] = time.perf_counter() - t
        t = time.perf_counter()
        vs = check(net, product, buyer, on, audit=log, period=period)
        at["rest"] = time.perf_counter() - t
        check_s, check_cpu = time.perf_counter() - t1, time.process_time() - c1
    return {"product": product, "kept": kept, "phases": at, "check": check_s, "check_cpu": check_cpu,
            "total": time.perf_counter() - t0, "cpu": time.process_time() - c0,
            "verdicts": [[v.rule_id, v.verdict.value, v.reason, json.dumps(v.evidence, default=str)]
                         for v in vs]}


def _user_env() -> dict[str, str]:
    """The environment of a user's shell: modules read from their cached bytecode, as an
    installed package's are (a shell that sets PYTHONDONTWRITEBYTECODE compiles every module
    of the package from source in each process, about 0.13 s here)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _fresh_call(db: str, buyer: str, on: str) -> dict[str, Any]:
    code = ("import json; from benchmarks.bench_check import fresh_run; "
            f"print(json.dumps(fresh_run({db!r}, {buyer!r}, {on!r})))")
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=1200, check=False, env=_user_env())
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-500:])
    out: dict[str, Any] = json.loads(p.stdout.strip().splitlines()[-1])
    out["process"] = wall  # interpreter start to exit
    return out


def _drop(db: str, kinds: tuple[str, ...]) -> None:
    """Remove the kept files of these kinds (``names``, ``fwd``, ...) beside the store."""
    folder = Path(db + ".plans")
    for p in folder.glob("*.plan") if folder.is_dir() else ():
        if p.name.split("-")[0] in kinds:
            p.unlink()


def _fresh(quick: bool, store: str | None = None, repeat: int = 3) -> list[dict[str, Any]]:
    """`check` of one product in a fresh process, side by side in the same minutes: nothing
    kept beside the store (everything computed, then written), the trace's plans kept but not
    the name index, everything kept (read). ``repeat`` rounds, each case once per round; the
    best and the median of each are given (the machine is shared)."""
    with tempfile.TemporaryDirectory() as tmp:
        db = store
        if db is None:
            db = str(Path(tmp) / "fresh.duckdb")
            n, m = (2_000, 1_000) if quick else (100_000, 50_000)
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", f"from benchmarks.bench_check import build_store; "
                            f"build_store({db!r}, {n}, {m})"], cwd=ROOT, check=True, timeout=3600)
            built = time.perf_counter() - t
        else:
            built = 0.0
        rows: list[dict[str, Any]] = []
        for buyer, on in FRESH:
            got: dict[str, list[dict[str, Any]]] = {"none": [], "plans": [], "all": []}
            load = [os.getloadavg()[0]]
            for _ in range(repeat):
                _drop(db, ("names", "graph", "fwd", "bwd", "content"))
                got["none"].append(_fresh_call(db, buyer, on))  # computes and writes all
                _drop(db, ("names",))
                got["plans"].append(_fresh_call(db, buyer, on))  # plans read, index built
                got["all"].append(_fresh_call(db, buyer, on))  # everything read
            cli = _cli_runs(db, got["all"][0]["product"], buyer, on, repeat)
            load.append(os.getloadavg()[0])
            verdicts = {k: [r["verdicts"] for r in v] for k, v in got.items()}
            same = all(v == verdicts["none"][0] for vs in verdicts.values() for v in vs)
            r0 = got["all"][0]
            tag = f"{buyer} {on}, {r0['product']}, store of {'2k' if quick else '100k'} facilities"
            med = {k: sorted(r["check"] for r in v)[len(v) // 2] for k, v in got.items()}
            best = {k: min(v, key=lambda r: r["check"]) for k, v in got.items()}
            for k, what in (("none", "nothing kept (all computed)"),
                            ("plans", "trace graph and plans kept, name index built"),
                            ("all", "name index, trace graph and plans read")):
                b = best[k]
                ph = ", ".join(f"{p} {s:.2f}" for p, s in b["phases"].items())
                rows.append({
                    "benchmark": "check",
                    "case": f"check one product in a fresh process, {what}, {tag}",
                    "seconds": b["check"],
                    "ratio": med["plans"] / med[k] if k == "all" else None,
                    "target": None if quick or k != "all" else 2.0,
                    "met": None if quick or k != "all" else b["check"] <= 2.0,
                    "detail": (f"best of {repeat} (median {med[k]:.2f} s; CPU {b['check_cpu']:.2f} s); "
                               f"process start to exit {b['process']:.2f} s; phases (s): {ph}; kept at start: "
                               f"{'/'.join(b['kept']) or 'none'}; verdicts equal across cases: {same}; "
                               f"load {load[0]:.1f} -> {load[1]:.1f}"
                               + (f"; store built in {built:.0f} s" if built else "")
                               + ("; ratio: median with the index built / read" if k == "all" else "")),
                })
            if not same:
                rows[-1]["met"] = False
            walls = sorted(cli)
            rows.append({
                "benchmark": "check",
                "case": f"`onshore check` command, start to exit, everything kept, {tag}",
                "seconds": walls[0],
                "ratio": None,
                "target": None if quick else 2.0,
                "met": None if quick else walls[0] <= 2.0,
                "detail": (f"best of {repeat} (median {walls[len(walls) // 2]:.2f} s): the "
                           "interpreter, the modules (from cached bytecode), the store, the check, "
                           "the table printed and the audit entry written"),
            })
        return rows


def _cli_runs(db: str, product: str, buyer: str, on: str, repeat: int) -> list[float]:
    """Wall seconds of ``onshore check PRODUCT`` in a new process, ``repeat`` times."""
    out = []
    cmd = [sys.executable, "-m", "onshore", "check", product, "--buyer", buyer, "--on", on,
           "--db", db]
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, capture_output=True, timeout=1200, check=True,
                       env=_user_env())
        out.append(time.perf_counter() - t)
    return out


if __name__ == "__main__":
    args = sys.argv[1:]
    quick = "--quick" in args
    if "--fresh" in args:
        where = args[args.index("--store") + 1] if "--store" in args else None
        out = _fresh(quick, where)
    else:
        out = run(quick)
    for r in out:
        print(r)
