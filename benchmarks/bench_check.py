"""Benchmark: effective ownership of 50k companies (<= 10 s) and `check --all` for one buyer
and date over the synthetic network with a 50k-company ownership graph (<= 60 s)."""

from __future__ import annotations

import datetime as dt
import time
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
    return rows


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
