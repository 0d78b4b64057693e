"""The synthetic generator: seeded, layered, recycling, 60 countries, ownership; traceable."""

from __future__ import annotations

import numpy as np
import pandas as pd

from onshore import synthetic
from onshore import trace as T
from onshore.trace.graph import build


def test_seeded_and_shaped() -> None:
    a = synthetic.network(2_000, seed=7)
    b = synthetic.network(2_000, seed=7)
    c = synthetic.network(2_000, seed=8)
    assert a.flows["quantity"].equals(b.flows["quantity"])
    assert not a.flows["quantity"].equals(c.flows["quantity"]) if len(a.flows) == len(c.flows) else True
    assert len(a.facilities) == 2_000
    assert 0.8 * 20_000 <= len(a.flows) <= 1.2 * 20_000
    assert set(a.facilities["stage"].astype(str)) == {"mine", "refine", "precursor", "cathode", "anode", "cell", "pack", "recycle"}
    assert a.facilities["country"].nunique() >= 40
    assert not a.flows.duplicated(["supplier", "customer", "material", "period"]).any()
    stage = dict(zip(a.facilities["id"], a.facilities["stage"].astype(str), strict=True))
    kinds = pd.Series([stage[s] + ">" + stage[t] for s, t in zip(a.flows["supplier"].astype(str), a.flows["customer"].astype(str), strict=True)])
    recyc = kinds.isin(["cell>recycle", "recycle>refine"]).mean()
    assert 0.01 < recyc < 0.12  # about 5 % recycling flows
    assert (kinds == "recycle>refine").any()


def test_synthetic_is_cyclic_and_traceable() -> None:
    net = synthetic.network(3_000, seed=1)
    g = build(net)
    p = T.forward_plan(g)
    assert any(lv.cyc is not None and len(lv.cyc.idx) > 100 for lv in p.levels)  # recycling loops
    C = T.content(g)
    packs = np.flatnonzero((g.nodes["stage"] == "pack").to_numpy() & ~g.nodes["virtual"].to_numpy())
    assert (C[packs] > 0).all(axis=1).any()
    t = T.trace(net, g.labels(packs[:1])[0])
    assert np.allclose(t.groupby(["raw", "stage"])["share"].sum(), 1.0)
    # the generator does not size flows to capacities: the conservation checks only
    assert [f for f in T.validate(net, sample=3, physical=False) if f.level == "error"] == []


def test_acyclic_option_and_ownership() -> None:
    net = synthetic.network(1_000, seed=2, recycling=0.0, ownership=True, n_companies=500)
    g = build(net)
    assert all(lv.cyc is None for lv in T.forward_plan(g).levels)
    own = net.ownership
    assert len(own) > 200
    assert own.groupby("owned")["equity"].sum().max() <= 1.0
    assert (net.companies["kind"] == "state").sum() == 5
    assert own["owner"].str.startswith("state_").any()
    cc = T.direct_parent_country(net)
    assert set(cc) == set(net.companies["id"])
