"""Golden outputs: what the analyses answer on the reference network and on a 10 k synthetic
network, recorded so that a change of layout can be shown not to change a single figure.

``python tests/golden/harness.py`` rewrites the fixtures;
``tests/test_golden.py`` recomputes them and compares (floats to 1e-12).
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
CHECKS = [("dod", dt.date(2027, 9, 30)), ("dod", dt.date(2027, 10, 1)), ("dod_new_program", dt.date(2028, 1, 1))]


def _clean(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, (np.floating, float)):
        return None if np.isnan(v) else float(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if isinstance(v, (dt.date, pd.Timestamp)):
        return v.isoformat()
    if v is pd.NA or v is None:
        return None
    return v


def _frame(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [_clean(r) for r in df.to_dict(orient="records")]


def networks() -> dict[str, Any]:
    from onshore import synthetic
    from onshore.network import Network

    return {"reference": Network.reference(),
            "synthetic10k": synthetic.network(10_000, seed=7, ownership=True)}


def outputs(name: str, net: Any) -> dict[str, Any]:
    """Every golden output of one network, as JSON-ready data."""
    from onshore.compliance import check_all, products
    from onshore.owners import controlling_country, feoc, upstream_owners
    from onshore.risk import concentration_table
    from onshore.trace import trace

    out: dict[str, Any] = {}
    prods = products(net)
    if name == "synthetic10k":
        prods = prods[:: max(1, len(prods) // 150)]
    main = dict(zip(net.facilities["id"].astype(str), net.facilities["material"].astype(str), strict=True))

    def node(p: str) -> str:
        g = net.flows
        made = set(g.loc[g["supplier"].astype(str) == p, "material"].astype(str)) | {main[p]}
        return p if len(made) == 1 else f"{p}:{main[p]}"

    out["trace"] = {p: _frame(trace(net, node(p), by=("raw", "stage", "country"))) for p in prods}
    for buyer, on in CHECKS:
        res = check_all(net, buyer, on)
        out[f"check_all:{buyer}:{on}"] = {
            p: [{"id": v.rule_id, "verdict": v.verdict.value, "reason": v.reason, "evidence": v.evidence,
                 "settle": v.settle, "inputs": _clean(v.inputs)} for v in vs] for p, vs in res.items()}
    companies = net.companies["id"].astype(str).tolist()
    if name == "synthetic10k":
        companies = companies[:: max(1, len(companies) // 200)]
    cc = controlling_country(net)
    f = feoc(net)
    out["owners"] = {c: {"rows": _frame(upstream_owners(net, c)), "controlling_country": cc.get(c),
                         "feoc": bool(f.loc[c, "feoc"]), "reason": str(f.loc[c, "reason"])} for c in companies}
    out["risk"] = _frame(concentration_table(net, control=cc))
    if name == "reference":
        from onshore.risk.cutoff import Simulator
        from onshore.risk.montecarlo import monte_carlo
        from onshore.risk.scenario import bundled, load_scenario

        sc = load_scenario(bundled("graphite_cutoff"), network=net)
        sim = Simulator(net, sc)
        res = sim.result(sim.run())
        mc = monte_carlo(net, sc, draws=50, seed=11, simulator=sim)
        out["cutoff"] = {"monthly": _frame(res.monthly), "recovery": _frame(res.recovery),
                         "montecarlo": _frame(mc.summary()), "total": _clean(mc.total())}
        from onshore import plan as planner
        from onshore.plan.scenario import bundled as plan_bundled

        pr = planner.plan(plan_bundled("ses_korea"), net)
        out["plan"] = _clean(pr.summary())
    return out


def compare(a: Any, b: Any, path: str = "", tol: float = 1e-12) -> list[str]:
    """Where two golden documents differ (floats within ``tol`` relative or absolute)."""
    if isinstance(a, dict) and isinstance(b, dict):
        diffs = [f"{path}: keys {sorted(set(a) ^ set(b))[:5]}"] if set(a) != set(b) else []
        for k in a.keys() & b.keys():
            diffs += compare(a[k], b[k], f"{path}/{k}", tol)
        return diffs
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in compare(x, y, f"{path}[{i}]", tol)]
    if isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return [] if abs(a - b) <= tol * max(1.0, abs(a), abs(b)) else [f"{path}: {a!r} != {b!r}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def read(name: str) -> Any:
    with gzip.open(HERE / f"{name}.json.gz", "rt", encoding="utf-8") as fh:
        return json.load(fh)


def write() -> None:
    for name, net in networks().items():
        doc = outputs(name, net)
        text = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        with gzip.open(HERE / f"{name}.json.gz", "wt", encoding="utf-8", compresslevel=9) as fh:
            fh.write(text)
        print(f"{name}: {', '.join(doc)}")


if __name__ == "__main__":
    sys.exit(write())
