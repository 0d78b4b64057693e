"""The name index kept beside the store: read back, it is the index built afresh (every
attribute, the same candidates for the same queries); a stale key, a corrupted file or arrays
that do not fit are never used; `check` gives the same verdicts with and without it."""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onshore.compliance import check
from onshore.compliance import names as N
from onshore.compliance.names import Entry, Matcher
from onshore.compliance.screen import _build_index, _company_entries
from onshore.io.load import import_files, reference_files
from onshore.network import Network
from onshore.store.duckdb import DuckDBStore
from onshore.store.plans import PlanCache

ATTRS = ("by_id", "minor", "foreign", "by_ident", "by_token", "by_compact", "by_native",
         "by_sound", "idf", "max_idf", "vocab", "stop", "places", "struct")


@pytest.fixture(scope="module")
def ref() -> Network:
    return Network.reference()


def _entries(ref: Network) -> list[Entry]:
    """The entries of the screening index: the reference companies and the restricted lists
    (names in Chinese, Hangul and Japanese, tickers, subsidiaries' names, list-only entries)."""
    net = Network.from_frames(companies=ref.companies)
    m = _build_index(net, None)  # no plan cache: built
    return [
        Entry(e.id, e.label, e.country, list(e.names), set(), list(e.lists), e.store,
              set(e.secondary))
        for e in m.entries
    ]


def _assert_same_index(a: Matcher, b: Matcher) -> None:
    assert list(a.names) == list(b.names)
    for attr in ATTRS:
        x, y = getattr(a, attr), getattr(b, attr)
        assert x == y, attr
        if isinstance(x, dict):
            assert list(x) == list(y), attr  # the same order (the vocabulary's is the keys')
    assert [asdict(e) for e in a.entries] == [asdict(e) for e in b.entries]
    assert a.postings() == b.postings()


def _queries(m: Matcher) -> list[tuple[str, str | None]]:
    """Every indexed name (with and without the entry's country), and each cut short and
    with a letter changed: near names that go to review or fail."""
    out: list[tuple[str, str | None]] = []
    for e in m.entries:
        for n in e.names:
            out += [(n, e.country), (n, None), (n[: max(len(n) - 3, 1)], e.country)]
            if len(n) > 4:
                out.append((n[:2] + ("x" if n[2] != "x" else "y") + n[3:], None))
    return out


def test_kept_index_is_the_built_index(ref: Network, tmp_path: Path) -> None:
    built = Matcher(_entries(ref))
    cache = PlanCache(tmp_path / "plans", "snap")
    first = Matcher.kept(_entries(ref), cache)  # built and written
    assert [p.name.split("-")[0] for p in cache.entries()] == ["names"]
    read = Matcher.kept(_entries(ref), cache)
    assert isinstance(read.names, N._KeptNames)  # read from the file, not built
    _assert_same_index(built, first)
    _assert_same_index(built, read)
    assert len(built.names) > 1000 and any(n.native for _, n in built.names)
    assert built.by_sound and built.minor and built.foreign and built.by_ident
    for q, country in _queries(built):
        assert read.candidates(q, country, limit=5) == built.candidates(q, country, limit=5), q


@settings(max_examples=60, deadline=None)
@given(
    names=st.lists(
        st.lists(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=24),
                 min_size=1, max_size=3),
        min_size=1, max_size=6,
    ),
    countries=st.lists(st.sampled_from([None, "CN", "JP", "KR", "US"]), min_size=6, max_size=6),
    query=st.text(max_size=24),
)
def test_any_names_round_trip(names: list[list[str]], countries: list[str | None],
                              query: str) -> None:
    def entries() -> list[Entry]:
        return [Entry(f"e{k}", ns[0], countries[k], list(ns)) for k, ns in enumerate(names)]

    built = Matcher(entries())
    arrays = built.arrays()
    if arrays is None:  # a name with a NUL character is not kept
        assert any("\x00" in n for ns in names for n in ns)
        return
    read = Matcher.from_arrays(entries(), arrays)
    _assert_same_index(built, read)
    for q in [query, *(n for ns in names for n in ns)]:
        for c in (None, "JP"):
            assert read.candidates(q, c, limit=5) == built.candidates(q, c, limit=5)


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = Matcher.__init__

    def counted(self: Matcher, entries: list[Entry]) -> None:
        calls.append(1)
        real(self, entries)

    monkeypatch.setattr(Matcher, "__init__", counted)
    return calls


def test_stale_key_is_not_read(ref: Network, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    cache = PlanCache(tmp_path / "plans", "snap")
    base = _entries(ref)
    Matcher.kept(copy.deepcopy(base), cache)
    calls = _counting(monkeypatch)
    Matcher.kept(copy.deepcopy(base), cache)
    assert calls == []
    # another name of one company: another key, built
    other = copy.deepcopy(base)
    other[0].names.append("Quite Another Name Holdings")
    m = Matcher.kept(other, cache)
    assert calls == [1]
    assert m.candidates("Quite Another Name Holdings")[0].id == base[0].id
    # other normalising code or word tables: another key, built
    monkeypatch.setattr(N, "_code_digest", lambda: "another version of the code")
    Matcher.kept(copy.deepcopy(base), cache)
    assert calls == [1, 1]
    # another snapshot of the store with the same entries: the same index, read
    Matcher.kept(copy.deepcopy(base), PlanCache(tmp_path / "plans", "another-snapshot"))
    assert calls == [1, 1]


def test_corrupted_or_misfit_file_is_not_used(ref: Network, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    cache = PlanCache(tmp_path / "plans", "snap")
    base = _entries(ref)
    built = Matcher.kept(copy.deepcopy(base), cache)
    (path,) = cache.entries()
    raw = bytearray(path.read_bytes())
    raw[-100] ^= 0xFF  # a byte of the data: the checksum differs
    path.write_bytes(bytes(raw))
    calls = _counting(monkeypatch)
    m = Matcher.kept(copy.deepcopy(base), cache)
    assert calls == [1]
    _assert_same_index(built, m)
    key = path.name.split(".")[0]
    good = cache.load(key)  # rewritten by that call
    assert good is not None
    # intact files (right checksum) whose arrays do not fit: each is refused and rebuilt
    for name, bad in [
        ("format", np.array([N.INDEX_FORMAT + 1])),
        ("name_tok", np.full_like(good["name_tok"], 10**9)),
        ("name_cols", good["name_cols"] + len(built.entries)),
        ("token_ptr", good["token_ptr"][:-1]),
        ("n_strings", good["n_strings"] + 1),
        ("strings", np.full(7, 0xFF, dtype=np.uint8)),  # not UTF-8
    ]:
        arrays = {k: np.array(v) for k, v in good.items()}
        arrays[name] = bad
        cache.save(key, arrays)
        calls.clear()
        m = Matcher.kept(copy.deepcopy(base), cache)
        assert calls == [1], name
        _assert_same_index(built, m)
        again = cache.load(key)
        assert again is not None and int(again["n_strings"][0]) == int(good["n_strings"][0])


def _store(tmp_path: Path) -> Path:
    db = tmp_path / "ref.duckdb"
    with DuckDBStore(db) as store:
        import_files(store, reference_files(), physical="error")
    return db


CASES = [
    ("ses_chungju", "dod", dt.date(2027, 10, 1)),
    ("ses_chungju", "dod_new_program", dt.date(2028, 1, 1)),
    ("catl_ningde", "us_tax_30d", dt.date(2025, 6, 1)),
    ("lges_holland", "us_tax_30d", dt.date(2026, 6, 1)),
]


def _verdicts(net: Network) -> list[list[dict[str, object]]]:
    return [[asdict(v) for v in check(net, p, b, on)] for p, b, on in CASES]


def test_check_verdicts_equal_with_and_without_the_kept_index(tmp_path: Path) -> None:
    db = _store(tmp_path)
    none = Network.load(db)
    none.plans = None  # nothing kept: everything computed
    want = _verdicts(none)
    assert any(v["rule_id"] for vs in want for v in vs)
    first = Network.load(db)  # computes and keeps
    assert _verdicts(first) == want
    assert first.plans is not None
    kept = [p for p in first.plans.entries() if p.name.startswith("names-")]
    assert len(kept) == 1
    second = Network.load(db)  # reads
    assert _verdicts(second) == want
    assert isinstance(second.cached(("compliance.screen.companies",), lambda: None).names,
                      N._KeptNames)
    raw = bytearray(kept[0].read_bytes())
    raw[len(raw) // 2] ^= 0x55  # tampered: ignored, built again
    kept[0].write_bytes(bytes(raw))
    assert _verdicts(Network.load(db)) == want


# ------------------------------------------------------ forms of a ruleset's names, kept
FORM_NAMES = ["宁德时代新能源科技股份有限公司", "寧德時代", "比亚迪股份有限公司", "LGエナジーソリューション",
              "삼성SDI", "Gotion High-tech Co., Ltd.", "PT Aneka Tambang Tbk (Antam)",
              "A.B.C. GmbH & Co. KG", "x"]


def _counting_normalize(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = N._normalize

    def counted(name: str, japanese: bool = False) -> N.Name:
        calls.append(name)
        return real(name, japanese)

    counted.cache_clear = real.cache_clear  # type: ignore[attr-defined]
    monkeypatch.setattr(N, "_normalize", counted)
    return calls


def _forms() -> list[N.Name]:
    return [N.normalize(n) for n in FORM_NAMES] + [N.normalize(FORM_NAMES[3], japanese=True)]


def test_kept_forms_are_the_forms_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = PlanCache(tmp_path / "p", "s")
    N.clear_forms()
    try:
        with N.forms_kept(cache, FORM_NAMES):
            made = _forms()
        assert [p.name.split("-")[0] for p in cache.entries()] == ["forms"]
        N.clear_forms()
        calls = _counting_normalize(monkeypatch)
        with N.forms_kept(cache, FORM_NAMES):
            read = _forms()
        assert read == made and calls == []  # read, none made
        with N.forms_kept(cache, FORM_NAMES[:2]):  # other names asked: another entry
            N.normalize("Hithium Energy Storage")
        assert calls == ["Hithium Energy Storage"] and len(cache.entries()) == 2
        with N.forms_kept(None, FORM_NAMES):  # no plan folder: made as usual
            N.normalize("Envision AESC")
        assert calls[-1] == "Envision AESC" and len(cache.entries()) == 2
    finally:
        N.clear_forms()


@pytest.mark.parametrize("damage", ["flip", "layout"])
def test_damaged_kept_forms_are_made_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           damage: str) -> None:
    cache = PlanCache(tmp_path / "p", "s")
    N.clear_forms()
    try:
        with N.forms_kept(cache, FORM_NAMES):
            made = _forms()
        (path,) = cache.entries()
        if damage == "flip":  # caught by the checksum
            raw = bytearray(path.read_bytes())
            raw[-3] ^= 0x20
            path.write_bytes(bytes(raw))
        else:  # an intact file whose token pointers run past the tokens
            key = path.stem
            arrays = {k: np.array(v) for k, v in (cache.load(key) or {}).items()}
            arrays["tok_ptr"] = arrays["tok_ptr"] + 1
            cache.save(key, arrays)
        N.clear_forms()
        calls = _counting_normalize(monkeypatch)
        with N.forms_kept(cache, FORM_NAMES):
            again = _forms()
        assert again == made and len(calls) == len(made)
        N.clear_forms()
        calls.clear()
        with N.forms_kept(cache, FORM_NAMES):  # written again, intact
            assert _forms() == made
        assert calls == []
    finally:
        N.clear_forms()


@settings(max_examples=80, deadline=None)
@given(st.dictionaries(st.tuples(st.text(max_size=12), st.booleans()),
                       st.tuples(st.text(max_size=8), st.lists(st.text(max_size=5), max_size=4),
                                 st.text(max_size=6), st.text(max_size=4),
                                 st.lists(st.text(max_size=5), max_size=4)),
                       max_size=6))
def test_any_forms_round_trip(forms: dict[tuple[str, bool], tuple]) -> None:  # type: ignore[type-arg]
    made = {k: N.Name(t, tuple(tok), c, nat, tuple(order)) for k, (t, tok, c, nat, order) in forms.items()}
    arrays = N._forms_arrays(made)
    texts = [k[0] for k in made] + [s for f in made.values()
                                    for s in (f.text, f.compact, f.native, *f.tokens, *f.tokens_in_order)]
    if any("\x00" in s for s in texts):
        assert arrays is None
        return
    assert arrays is not None and N._forms_from_arrays(arrays) == made


def test_fresh_process_reads_the_forms_and_loads_no_chinese_tables(tmp_path: Path) -> None:
    """`check` of a DoD buyer resolves the rules' named makers (Chinese names among them): a
    second process reads the forms and the company index (with its word tables), imports
    neither OpenCC, pypinyin nor rigour's territories, and gives the same verdicts."""
    import json
    import subprocess
    import sys

    db = _store(tmp_path)
    code = (
        "import json, sys, datetime as dt\n"
        "from dataclasses import asdict\n"
        "from onshore.compliance import check\n"
        "from onshore.network import Network\n"
        f"net = Network.load({str(db)!r})\n"
        "vs = check(net, 'ses_chungju', 'dod_new_program', dt.date(2028, 1, 1))\n"
        "print(json.dumps([[v.rule_id, v.verdict.value, v.reason] for v in vs]))\n"
        "print(json.dumps(['pypinyin' in sys.modules, 'opencc' in sys.modules,\n"
        "                  'rigour.territories' in sys.modules]))\n"
    )
    runs = []
    for _ in range(2):
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=600, check=True)
        runs.append([json.loads(line) for line in p.stdout.strip().splitlines()[-2:]])
    (first, loaded_first), (second, loaded_second) = runs
    assert second == first and any(r[0] == "US-NDAA24-154-components" for r in first)
    assert loaded_first == [True, True, True]  # made: the Chinese names normalised, places read
    assert loaded_second == [False, False, False]  # the index holds its word tables
    kinds = sorted({p.name.split("-")[0] for p in Path(str(db) + ".plans").iterdir()})
    assert "forms" in kinds and "names" in kinds
    # only the rules' names: the companies' names are the index's, normalised outside the block
    cache = PlanCache(Path(str(db) + ".plans"))
    kept = [cache.load(p.stem) for p in cache.entries() if p.name.startswith("forms-")]
    forms = [N._forms_from_arrays(a) for a in kept if a is not None]
    companies = set(Network.load(db).companies["name"].astype(str))
    assert forms and all(len(f) < 0.5 * len(companies) for f in forms)


def test_errors_inside_a_forms_block_pass_through_and_blocks_end(tmp_path: Path) -> None:
    """An error raised inside the block (read or recorded) reaches the caller as it is, and
    after blocks overlapping in two threads nothing is recorded any more."""
    import threading

    cache = PlanCache(tmp_path / "p", "s")
    N.clear_forms()
    try:
        for _ in range(2):  # recorded, then read
            with pytest.raises(KeyError, match="raised inside"):
                with N.forms_kept(cache, FORM_NAMES):
                    _forms()
                    raise KeyError("raised inside")
        with N.forms_kept(cache, ["another"]):
            _forms()
        entered, leave = threading.Event(), threading.Event()

        def other() -> None:
            with N.forms_kept(cache, ["a third list"]):
                entered.set()
                leave.wait(30)
                N.normalize("third")

        t = threading.Thread(target=other)
        with N.forms_kept(cache, ["a fourth list"]):
            t.start()
            entered.wait(30)
            N.normalize("fourth")
        leave.set()
        t.join(30)
        assert N._recording.get() is None
        kept = [N._forms_from_arrays(cache.load(p.stem) or {}) for p in cache.entries()]
        names = [{n for n, _ in f} for f in kept]
        assert {"third"} in names and {"fourth"} in names  # each block its own forms
    finally:
        N.clear_forms()
