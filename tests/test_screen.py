"""Screening: hand-checked names, the decoy that must not change verdicts, restricted lists
as data, and the review queue surviving a re-import."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from onshore.compliance import check
from onshore.compliance.names import Entry, Matcher, normalize
from onshore.compliance.screen import pending_pairs, query_key, screen
from onshore.errors import RuleError
from onshore.io.load import import_files, reference_files
from onshore.network import Network
from onshore.rules.lists import load_lists
from onshore.store.duckdb import DuckDBStore
from onshore.store.reviews import ReviewQueue


def _outcomes():  # type: ignore[no-untyped-def]
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "_rule_outcomes", Path(__file__).parent / "test_rule_outcomes.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def ref() -> Network:
    return Network.reference()


@pytest.mark.parametrize(
    ("name", "country", "want"),
    [
        ("CONTEMPORARY AMPEREX TECH CO LTD", "CN", "catl"),
        ("Ningde Shidai", "CN", "catl"),
        ("宁德时代", "CN", "catl"),
        ("寧德時代新能源科技股份有限公司", "CN", "catl"),  # traditional script, legal form
        ("Gotion Inc", "US", "gotion_inc"),
        ("GUOXUAN HI-TECH", "CN", "gotion"),
        ("LG ENERGY SOLUTION MICHIGAN INC", "US", "lges"),
        ("BYD COMP", "CN", "byd"),  # 'COMP' for company
        ("TIMES NEW ENERGY TECHNOLOGY (SICHUAN)", "CN", "sichuan_times"),  # word order
        ("002594.SZ", None, "byd"),  # a ticker is an exact key
    ],
)
def test_hand_checked_matches(ref: Network, name: str, country: str | None, want: str) -> None:
    (r,) = screen(ref, [{"name": name, "country": country}])
    assert (r["match"], r["decision"]) == (want, "match"), r["reasons"]


@pytest.mark.parametrize(
    "name",
    ["EVE Holdings Inc", "BYD Logistics Inc", "A-B-C Company", "NEW ENERGY HOLDINGS LTD",
     "CAT LTD", "Eversource Energy", "Acme Widgets"],
)
def test_look_alikes_are_not_matches(ref: Network, name: str) -> None:
    (r,) = screen(ref, [{"name": name, "country": "US"}])
    assert r["decision"] != "match", r


def test_a_short_listed_name_with_business_words_at_home_goes_to_review(ref: Network) -> None:
    """'BYD Auto Industry' may be a BYD subsidiary: a person decides, it is not dropped unseen."""
    (r,) = screen(ref, [{"name": "BYD Auto Industry Co Ltd", "country": "CN"}])
    assert r["decision"] == "review" and r["match"] == "byd"


def test_company_ids_are_not_names(ref: Network) -> None:
    # 'eve' is EVE Energy's id in the store; a supplier called 'Eve' (US) is not screened as it
    (r,) = screen(ref, [{"name": "Eve Sleep PLC", "country": "GB"}])
    assert r["decision"] != "match"


def test_word_order_chinese_abbreviations_and_initialisms() -> None:
    m = Matcher([Entry("haige", "Guangzhou Haige Communications Group Inc.", "CN",
                       ["Guangzhou Haige Communications Group Inc."]),
                 Entry("abc", "ABC Battery Ltd", "CN", ["ABC Battery Ltd"]),
                 Entry("acme", "Acme Company", "US", ["Acme Company"])])
    for q in ("GUANGZHOU HAIGE COMM GRP", "HAIGE COMMUNICATIONS GUANGZHOU"):
        assert m.candidates(q, "CN")[0].id == "haige", q
    assert normalize("A-B-C Company").tokens == ("abc",)
    # the initialism is one token, 'Company' is a legal form: it matches no other company
    assert all(c.id != "acme" for c in m.candidates("A-B-C Company", "US"))
    assert normalize("Samsung SDI 주식회사").tokens == normalize("Samsung SDI Co., Ltd.").tokens


def test_decoy_does_not_turn_verdicts_unknown() -> None:
    """A US company named like a section 154 maker (its first word is EVE's alias) is neither
    PROHIBITED as EVE nor makes any product UNKNOWN."""
    net = _outcomes().net
    on = dt.date(2027, 10, 1)
    plain, decoy = net(), net(extra_company=("eve_holdings", "EVE Holdings Inc"))
    v = [x for x in check(decoy, "extra_cell", "dod", on) if x.rule_id == "US-NDAA24-154"][0]
    assert v.verdict.value == "ALLOWED", v.reason
    for p in ("kr_cell", "catl_ningde", "catl_hu_cell", "us_pack_catl"):
        a = {x.rule_id: x.verdict for x in check(plain, p, "dod", on)}
        b = {x.rule_id: x.verdict for x in check(decoy, p, "dod", on)}
        assert a == b, p


def test_lookalike_is_unknown_for_its_own_product_only() -> None:
    mod = _outcomes()
    LOOKALIKE, net = mod.LOOKALIKE, mod.net
    on = dt.date(2027, 10, 1)
    v = [x for x in check(net(extra_company=LOOKALIKE), "extra_cell", "dod", on)
         if x.rule_id == "US-NDAA24-154"][0]
    assert v.verdict.value == "UNKNOWN" and "onshore review" in " ".join(v.evidence)
    other = [x for x in check(net(extra_company=LOOKALIKE), "kr_cell", "dod", on)
             if x.rule_id == "US-NDAA24-154"][0]
    assert other.verdict.value == "ALLOWED", other.reason


def test_lists_are_dated_data(ref: Network) -> None:
    lists = load_lists()
    assert {"ndaa_154", "dod_1260h", "uflpa", "bis_entity"} <= set(lists)
    byd = [e for e in lists["dod_1260h"].entries if e.id == "byd"]
    assert [e.state for e in byd] == ["withdrawn", "listed"]
    assert not byd[0].listed_on(dt.date(2026, 2, 13))  # withdrawn within the hour
    assert not byd[1].listed_on(dt.date(2026, 6, 7)) and byd[1].listed_on(dt.date(2026, 6, 8))
    (r,) = screen(ref, [{"name": "BYD Company Limited", "country": "CN"}])
    hits = {h["list"]: h["rules"] for h in r["lists"]}
    assert "US-NDAA24-154" in hits["ndaa_154"] and "US-NDAA24-805-direct" in hits["dod_1260h"]


def test_bad_list_names_file_and_key(tmp_path: Path) -> None:
    f = tmp_path / "mine.yaml"
    f.write_text("id: mine\ntitle: t\ncitation: c\nsource: https://x.org\nas_of: 2026-01-01\n"
                 "entries:\n  - id: a\n    names: [Acme]\n    source: https://x.org\n"
                 "    listed_from: someday\n", encoding="utf-8")
    with pytest.raises(RuleError, match=r"mine.yaml: entries\[0\].*listed_from"):
        load_lists([f], package=False)
    f.write_text(f.read_text().replace("names: [Acme]", "names: [Acme Co., Ltd.]")
                 .replace("someday", "2025-01-01"), encoding="utf-8")
    with pytest.raises(RuleError, match="no name"):
        load_lists([f], package=False)


def test_review_queue_survives_a_reimport(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    # a name only like CATL's (Ningde Amperex Technology is ATL's mainland name: a match to
    # atl since the reference network holds ATL)
    rows = [{"name": "NINGDE CONTEMPORARY TECH LTD", "country": "CN"},
            {"name": "INOBAT", "country": "SK"}]
    with DuckDBStore(db) as store:
        import_files(store, reference_files())
        res = screen(Network.from_store(store), rows)
        assert [r["decision"] for r in res] == ["review", "review"]
        q = ReviewQueue(store.con)
        assert q.add(pending_pairs(res)) == 2
        assert q.add(pending_pairs(res)) == 0  # nobody sees the same pair twice
        q.decide(query_key(rows[0]["name"]), "catl", "different", by="officer")
        q.decide(query_key(rows[1]["name"]), "inobat", "same", by="officer")
    with DuckDBStore(db) as store:
        import_files(store, reference_files())  # a re-import leaves the judgements alone
        res = screen(Network.from_store(store), rows)
        assert len(ReviewQueue(store.con).pending()) == 0
        from onshore.store.audit import AuditLog

        assert (AuditLog(store.con).rows()["rule_id"] == "screen-review").sum() == 2
    assert (res[0]["match"], res[0]["decision"]) == (None, "no_match")
    assert any("different by officer" in x for x in res[0]["reasons"])
    assert (res[1]["match"], res[1]["decision"]) == ("inobat", "match")


def test_import_screen_links_instead_of_duplicating(tmp_path: Path) -> None:
    from onshore.compliance.screen import link_batch

    (tmp_path / "companies.csv").write_text(
        "id,name,country\nmy_catl,CONTEMPORARY AMPEREX TECH CO LTD,CN\nnewco,Acme Widgets,US\n",
        encoding="utf-8")
    (tmp_path / "ownership.csv").write_text("owner,owned,equity\nmy_catl,newco,0.6\n",
                                            encoding="utf-8")
    with DuckDBStore(":memory:") as store:
        import_files(store, reference_files())
        net = Network.from_store(store)
        import_files(store, [tmp_path / "companies.csv", tmp_path / "ownership.csv"],
                     link=lambda b: link_batch(net, b)[0])
        ids = set(store.read("companies")["id"])
        own = store.read("ownership")
    assert "my_catl" not in ids and "newco" in ids
    assert ((own["owner"] == "catl") & (own["owned"] == "newco")).any()


@pytest.mark.parametrize(
    ("native", "erp"),
    [("中伟股份", "ZHONGWEI GUFEN"), ("天赐材料", "TIANCI CAILIAO"),
     ("宁德时代新能源科技股份有限公司", "NINGDE SHIDAI XINNENGYUAN KEJI GUFEN YOUXIAN GONGSI")],
)
def test_pinyin_sets_business_words_and_legal_forms_apart(native: str, erp: str) -> None:
    """A Chinese name in pinyin meets the name an ERP writes in pinyin word by word: the
    business words and legal forms the word table knows ('cailiao', 'gufen') are words of
    their own on both sides, not letters run into the name."""
    assert normalize(native).compact == normalize(erp).compact
    m = Matcher([Entry("x", native, "CN", [native]),
                 Entry("y", "Tianqi Lithium", "CN", ["Tianqi Lithium"])])
    (best, *_) = m.candidates(erp, "CN")
    assert (best.id, best.decision) == ("x", "match"), best


def test_siblings_the_name_that_adds_fewest_words_of_its_own_wins() -> None:
    """A parent and its subsidiary share the words of the input: 'Ganfeng Lithium' is the
    parent 'Ganfeng Lithium Group' (a word about the group's shape left over), not the
    subsidiary whose alias 'Ganfeng Lithium Battery' names a line of business of its own."""
    m = Matcher([
        Entry("parent", "Ganfeng Lithium Group Co., Ltd.", "CN",
              ["Ganfeng Lithium Group Co., Ltd.", "赣锋锂业"]),
        Entry("sub", "Ganfeng LiEnergy Technology Co., Ltd.", "CN",
              ["Ganfeng LiEnergy Technology Co., Ltd.", "Ganfeng Lithium Battery"]),
        Entry("other", "Tianqi Lithium Corporation", "CN", ["Tianqi Lithium Corporation"]),
    ])
    for q in ("GANFENG LITHIUM CO., LTD.", "JIANGXI GANFENG LITHIUM CO LTD"):
        best, second = m.candidates(q, "CN")[:2]
        assert (best.id, second.id) == ("parent", "sub"), (q, best)
        assert second.features["sibling_of"] == "parent" and best.decision != "no_match"
    assert m.candidates("GANFENG LITHIUM BATTERY", "CN")[0].id == "sub"


def test_an_alias_that_is_another_entitys_name_is_that_entity() -> None:
    """The parent's list entry carries its Shanshan unit's name; the unit has its own entry
    under that name and wins it. The same letters with another legal form ('Gotion' and
    'Gotion Inc.') are not another entity's name."""
    unit = "Hoshine Silicon Industry (Shanshan) Co., Ltd."
    m = Matcher([
        Entry("hoshine", "Hoshine Silicon Industry Co., Ltd.", "CN",
              ["Hoshine Silicon Industry Co., Ltd.", unit], store=False),
        Entry("hoshine_shanshan", unit, "CN", [unit], store=False),
        Entry("gotion", "Gotion High-tech Co., Ltd.", "CN",
              ["Gotion High-tech Co., Ltd.", "Gotion"]),
        Entry("gotion_inc", "Gotion Inc.", "US", ["Gotion Inc."]),
    ])
    for q in ("HOSHINE SILICON INDUSTRY (SHANSHAN) CO LTD", "HOSHINE SILICON SHANSHAN"):
        assert m.candidates(q, "CN")[0].id == "hoshine_shanshan", q
    assert m.candidates("HOSHINE SILICON INDUSTRY CO LTD", "CN")[0].id == "hoshine"
    assert m.candidates("GOTION", "CN")[0].id == "gotion"
    assert m.candidates("GOTION INC", "US")[0].id == "gotion_inc"


def test_siblings_in_the_reference_network(ref: Network) -> None:
    res = screen(ref, [{"name": "GANFENG LITHIUM CO., LTD.", "country": "CN"},
                       {"name": "HOSHINE SILICON SHANSHAN", "country": "CN"}])
    assert [r["match"] for r in res] == ["ganfeng", None]
    assert [r["decision"] for r in res] == ["match", "match"]
    assert res[1]["lists"][0]["entry"] == "hoshine_shanshan"


def test_hangul_letter_names_are_the_letters() -> None:
    """Initialisms written in Hangul by the names of their letters ('에스디아이' SDI) are the
    letters; a name in Hangul with other letters than an indexed one is not that name."""
    assert normalize("삼성에스디아이").tokens == normalize("삼성SDI").tokens
    assert normalize("에스케이이노베이션").compact == normalize("SK이노베이션").compact
    m = Matcher([Entry("ecopro", "EcoPro Co., Ltd.", "KR", ["EcoPro Co., Ltd.", "에코프로"]),
                 Entry("ecopro_bm", "EcoPro BM Co., Ltd.", "KR",
                       ["EcoPro BM Co., Ltd.", "에코프로비엠"])])
    assert m.candidates("에코프로비엠", "KR")[0].id == "ecopro_bm"
    assert m.candidates("에코프로BM", "KR")[0].id == "ecopro_bm"


def test_hangul_renderings_of_foreign_names_by_sound() -> None:
    """A Chinese or English name written in Hangul after its sound ('닝더스다이' for Ningde
    Shidai, '포스코케미칼' for POSCO Chemical) links to the one name that sounds so; a short
    sound ('궈쉬안', Guoxuan) or one that several entries share links nothing."""
    m = Matcher([
        Entry("catl", "Contemporary Amperex Technology Co., Limited", "CN",
              ["Contemporary Amperex Technology Co., Limited", "Ningde Shidai"]),
        Entry("posco_fm", "POSCO Future M Co., Ltd.", "KR",
              ["POSCO Future M Co., Ltd.", "POSCO Chemical"]),
        Entry("gotion", "Gotion High-tech Co., Ltd.", "CN", ["Guoxuan"]),
        Entry("a", "Tianqi Lithium", "CN", ["Tianqi Lithium"]),
        Entry("b", "Tianqi Lithium Energy Australia", "AU", ["Tianqi Lithium"]),
    ])
    for q, want in (("닝더스다이", "catl"), ("포스코케미칼", "posco_fm")):
        best = m.candidates(q, "KR")[0]
        assert (best.id, best.decision) == (want, "match"), (q, best)
    assert all(c.decision == "no_match" for c in m.candidates("궈쉬안", "KR"))
    assert all(c.decision == "no_match" for c in m.candidates("톈치리튬", "KR"))
    assert all(c.decision == "no_match" for c in m.candidates("롯데케미칼", "KR"))


def test_japanese_is_read_as_japanese() -> None:
    """Kana, and Chinese characters of a Japanese company, are read in Japanese (cutlet):
    loanwords in their own spelling ('エナジー' energy), long vowels once ('kogyo'), as an ERP
    writes them; without cutlet the name keeps its own script and nothing breaks."""
    pytest.importorskip("cutlet")
    assert normalize("LGエナジーソリューション").tokens == normalize("LG Energy Solution").tokens
    assert normalize("本田技研工業", japanese=True).tokens == normalize("HONDA GIKEN KOGYO").tokens
    m = Matcher([Entry("honda", "Honda Motor Co., Ltd.", "JP",
                       ["Honda Motor Co., Ltd.", "本田技研工業"]),
                 Entry("hitachi", "Hitachi, Ltd.", "JP", ["Hitachi, Ltd.", "日立製作所"])])
    best = m.candidates("HONDA GIKEN KOGYO KK", "JP")[0]
    assert (best.id, best.decision) == ("honda", "match"), best
    assert m.candidates("本田技研工業", "JP")[0].id == "honda"


def test_japanese_without_cutlet(monkeypatch: pytest.MonkeyPatch) -> None:
    from onshore.compliance import names

    monkeypatch.setattr(names, "_cutlet", lambda: None)
    names.clear_forms()
    try:
        n = names.normalize("LGエナジーソリューション")
        assert n.native == "エナジーソリューション" and n.tokens  # as before: its own script
        m = names.Matcher([names.Entry("lges", "LG Energy Solution", "KR",
                                       ["LG Energy Solution", "LGエナジーソリューション"])])
        assert m.candidates("LGエナジーソリューション", "KR")[0].decision == "match"
    finally:
        names.clear_forms()
