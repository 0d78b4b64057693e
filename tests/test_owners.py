"""Ownership chains, control, affiliates and the foreign-entity tests, checked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from onshore.errors import DataError
from onshore.network import Network
from onshore.owners import (
    affiliates,
    controlling_country,
    effective_ownership,
    feoc,
    leontief,
    owners,
    ownership_paths,
    prohibited_foreign_entity,
    ultimate_controller,
    upstream_owners,
)


def net(companies: list[tuple[str, str, str]], holdings: list[dict[str, object]]) -> Network:
    """companies: (id, country, kind); holdings: dicts with owner, owned and shares."""
    c = pd.DataFrame([{"id": i, "name": i.upper(), "country": k, "kind": t} for i, k, t in companies])
    return Network.from_frames(companies=c, ownership=pd.DataFrame(holdings))


def share(n: Network, owner: str, owned: str) -> float:
    e = effective_ownership(n)
    row = e[(e["owner"] == owner) & (e["owned"] == owned)]
    return float(row["share"].sum())


def test_indirect_25_through_two_50_links() -> None:
    n = net([("a", "US", "company"), ("b", "US", "company"), ("c", "US", "company")],
            [{"owner": "a", "owned": "b", "equity": 0.5}, {"owner": "b", "owned": "c", "equity": 0.5}])
    assert share(n, "a", "c") == pytest.approx(0.25)
    assert share(n, "a", "b") == pytest.approx(0.5)
    assert share(n, "c", "a") == 0.0
    # 50 % is not a majority: nobody controls b or c
    assert ultimate_controller(n) == {"a": "a", "b": "b", "c": "c"}


def test_two_paths_add() -> None:
    # a -> b 60 %, a -> c 40 %, b -> d 50 %, c -> d 50 %: 0.3 + 0.2 = 0.5
    n = net([(x, "US", "company") for x in "abcd"],
            [{"owner": "a", "owned": "b", "equity": .6}, {"owner": "a", "owned": "c", "equity": .4},
             {"owner": "b", "owned": "d", "equity": .5}, {"owner": "c", "owned": "d", "equity": .5}])
    assert share(n, "a", "d") == pytest.approx(0.5)


def test_cross_holding_cycle_solved_exactly() -> None:
    # a holds 50 % of b, b holds 20 % of a, b holds 40 % of c.
    # a in b: 0.5 * (1 + 0.1 + 0.01 + ...) = 0.5 / 0.9; a in c: that times 0.4.
    n = net([(x, "US", "company") for x in "abc"],
            [{"owner": "a", "owned": "b", "equity": .5}, {"owner": "b", "owned": "a", "equity": .2},
             {"owner": "b", "owned": "c", "equity": .4}])
    assert share(n, "a", "b") == pytest.approx(0.5 / 0.9, rel=1e-12)
    assert share(n, "b", "a") == pytest.approx(0.2 / 0.9, rel=1e-12)
    assert share(n, "a", "c") == pytest.approx(0.4 * 0.5 / 0.9, rel=1e-12)
    assert share(n, "b", "c") == pytest.approx(0.4 / 0.9, rel=1e-12)


def test_leontief_matches_dense_inverse_on_random_cyclic_graph() -> None:
    rng = np.random.default_rng(1)
    n = 60
    S = sp.random(n, n, density=0.05, random_state=rng, format="csr") * 0.3
    S.setdiag(0)
    dense = np.linalg.inv(np.eye(n) - S.toarray())
    assert np.allclose(leontief(S).toarray(), dense, atol=1e-12)


def test_impossible_cycle_is_a_data_error() -> None:
    n = net([("a", "US", "company"), ("b", "US", "company")],
            [{"owner": "a", "owned": "b", "equity": 1.0}, {"owner": "b", "owned": "a", "equity": 1.0}])
    with pytest.raises(DataError):
        owners(n)


def test_state_two_levels_up_controls_and_is_feoc() -> None:
    n = net([("prc", "CN", "state"), ("hold", "CN", "company"), ("kr", "KR", "company"),
             ("us", "US", "company")],
            [{"owner": "prc", "owned": "hold", "equity": .8}, {"owner": "hold", "owned": "kr", "equity": .3},
             {"owner": "hold", "owned": "us", "equity": .1, "voting": .6}])
    assert share(n, "prc", "kr") == pytest.approx(0.24)
    assert ultimate_controller(n)["us"] == "prc"
    assert controlling_country(n) == {"prc": "CN", "hold": "CN", "kr": "KR", "us": "CN"}
    f = feoc(n)
    # 24 % equity < 25 %, but the state controls 'hold', which votes 30 % of kr
    assert f.loc["kr", "feoc"]
    assert f.loc["kr", "gov_voting"] == pytest.approx(0.3)
    assert f.loc["us", "feoc"]
    assert f.loc["hold", "feoc"]  # incorporated in CN, and 80 % state-held


def test_feoc_threshold_edges() -> None:
    comps = [("ru", "RU", "state"), ("x", "DE", "company"), ("y", "DE", "company"), ("z", "FR", "company")]
    n = net(comps, [{"owner": "ru", "owned": "x", "equity": .25}, {"owner": "ru", "owned": "y", "equity": .2499},
                    {"owner": "ru", "owned": "z", "equity": .05, "board": .3}])
    f = feoc(n)
    assert f.loc["x", "feoc"] and not f.loc["y", "feoc"] and f.loc["z", "feoc"]
    assert "board" in f.loc["z", "reason"]


def test_feoc_headquarters_limb() -> None:
    c = pd.DataFrame([{"id": "a", "name": "A", "country": "SG", "hq_country": "CN", "kind": "company"},
                      {"id": "b", "name": "B", "country": "SG", "kind": "company"}])
    f = feoc(Network.from_frames(companies=c))
    assert f.loc["a", "feoc"] and not f.loc["b", "feoc"]


def test_majority_by_controlled_group() -> None:
    # p controls s1 (60 %); p 30 % + s1 30 % of t = 60 % -> p controls t
    n = net([(x, "US", "company") for x in ("p", "s1", "t")],
            [{"owner": "p", "owned": "s1", "equity": .6}, {"owner": "p", "owned": "t", "equity": .3},
             {"owner": "s1", "owned": "t", "equity": .3}])
    assert ultimate_controller(n)["t"] == "p"


def test_affiliates() -> None:
    n = net([("zeng", "CN", "person"), ("catl", "CN", "company"), ("sub", "HU", "company"),
             ("sister", "CN", "company"), ("minor", "US", "company"), ("prc", "CN", "state"),
             ("soe", "CN", "company")],
            [{"owner": "zeng", "owned": "catl", "equity": .6}, {"owner": "catl", "owned": "sub", "equity": 1.0},
             {"owner": "zeng", "owned": "sister", "equity": .9}, {"owner": "catl", "owned": "minor", "equity": .2},
             {"owner": "prc", "owned": "soe", "equity": 1.0}])
    a = affiliates(n, "catl")
    assert a == {"catl": "self", "sub": "subsidiary", "zeng": "controller", "sister": "sister"}
    assert affiliates(n, "catl", common_control=False) == {"catl": "self", "sub": "subsidiary"}
    # common control through a state does not make SOEs affiliates of each other
    n2 = net([("prc", "CN", "state"), ("s1", "CN", "company"), ("s2", "CN", "company")],
             [{"owner": "prc", "owned": "s1", "equity": 1.0}, {"owner": "prc", "owned": "s2", "equity": 1.0}])
    assert affiliates(n2, "s1") == {"s1": "self"}


def test_upstream_owners_and_paths() -> None:
    n = net([("a", "US", "company"), ("b", "US", "company"), ("c", "KR", "company")],
            [{"owner": "a", "owned": "b", "equity": .7}, {"owner": "b", "owned": "c", "equity": 1.0, "debt": .1}])
    u = upstream_owners(n, "c").set_index("owner")
    assert u.loc["a", "equity"] == pytest.approx(0.7)
    assert u.loc["a", "ultimate"] and u.loc["a", "controls"] and u.loc["b", "controls"]
    assert not u.loc["b", "ultimate"]
    assert u.loc["b", "debt"] == pytest.approx(0.1)
    paths = ownership_paths(n, "a", "c")
    assert paths[0][0] == ["a", "b", "c"] and paths[0][1] == pytest.approx(0.7)


def test_pfe_tests() -> None:
    comps = [("catl", "CN", "company"), ("cn2", "CN", "company"), ("t1", "US", "company"),
             ("t2", "US", "company"), ("t3", "US", "company"), ("t4", "US", "company"), ("lux", "LU", "company")]
    hold = [{"owner": "catl", "owned": "t1", "equity": .25},
            {"owner": "catl", "owned": "t2", "equity": .2}, {"owner": "cn2", "owned": "t2", "equity": .2},
            {"owner": "catl", "owned": "t3", "debt": .15, "equity": 0.0},
            {"owner": "catl", "owned": "t4", "equity": .24},
            {"owner": "catl", "owned": "lux", "equity": .51}]
    p = prohibited_foreign_entity(net(comps, hold), listed=["catl"])
    assert p.loc["t1", "fie"] and p.loc["t2", "fie"] and p.loc["t3", "fie"]
    assert not p.loc["t4", "pfe"]
    assert p.loc["lux", "sfe"]  # controlled by an SFE
    assert "40%" in p.loc["t2", "reason"] and "debt" in p.loc["t3", "reason"]


def test_an_id_held_twice_is_read_as_its_last_row_and_a_missing_holder_is_named() -> None:
    """Unique ids are looked up by Arrow, repeated ones by the last row of an id (as the
    index holds it): the same stakes either way; a holder outside the companies is an error
    that names the row."""
    companies = [("a", "US", "company"), ("b", "CN", "company"), ("c", "US", "company")]
    holdings = [{"owner": "a", "owned": "b", "equity": 0.6}, {"owner": "b", "owned": "c", "equity": 0.3}]
    unique = owners(net(companies, holdings))
    twice = owners(net([("c", "JP", "company"), *companies], holdings))  # c first as JP
    assert len(twice.ids) == 4 and twice.index["c"] == 3  # the last row of c
    assert share(net(companies, holdings), "a", "c") == pytest.approx(0.18)
    e = twice.equity.tocoo()
    got = {(twice.ids[i], twice.ids[j]): v for i, j, v in zip(e.row, e.col, e.data, strict=True)}
    u = unique.equity.tocoo()
    want = {(unique.ids[i], unique.ids[j]): v for i, j, v in zip(u.row, u.col, u.data, strict=True)}
    assert got == pytest.approx(want)
    with pytest.raises(DataError, match="x->c"):
        owners(net(companies, [*holdings, {"owner": "x", "owned": "c", "equity": 0.1}]))


@pytest.mark.parametrize("blank", [False, True])
def test_possible_feoc_reads_the_recorded_test_only_without_blank_stakes(blank: bool) -> None:
    """Without a blank stake the possible bound is the recorded one (computed once); with one,
    the blank holder may hold what is left and make the company a possible FEOC."""
    companies = [("gov", "CN", "state"), ("h", "US", "company"), ("t", "US", "company")]
    holdings = [{"owner": "h", "owned": "t", "equity": 0.6},
                {"owner": "gov", "owned": "t", "equity": None if blank else 0.1}]
    f = feoc(net(companies, holdings))
    assert not bool(f.loc["t", "feoc"])
    assert bool(f.loc["t", "possible"]) is blank
    assert (f.loc["t", "possible_reason"] != "") is blank
