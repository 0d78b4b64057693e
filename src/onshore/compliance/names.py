"""Company-name matching: normalisation, candidate blocking and scoring.

A name is normalised once (:func:`normalize`): Unicode NFKC and case folding; traditional
Chinese to simplified (OpenCC); legal forms removed (rigour's organisation-type tables,
plus the Chinese, Korean and Japanese forms and the ERP abbreviations in
``data/screening/words.csv``); Chinese written in pinyin (pypinyin) and Hangul romanised
(hangul-romanize), so '宁德时代', '寧德時代' and 'Ningde Shidai' meet; runs of single
letters joined into one initialism ('A-B-C' -> 'abc'); abbreviations expanded ('TECH',
'GRP', 'COMM', 'HI-TECH'). Tokens are compared as a set, so word order does not matter.
Tickers and registry numbers are exact keys, never names.

:class:`Matcher` indexes many names (companies, list entries) and scores a query against
the candidates that share a distinctive token, its letters without spaces, or a near
spelling of a token. Each candidate gets a score in 0..1, the features behind it, and a
decision: ``match`` at or above ``MATCH``, ``review`` down to ``REVIEW``, else ``no_match``.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import math
import re
import typing
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from onshore.store.plans import PlanCache

MATCH = 0.86
"""Scores at or above this are a match."""
REVIEW = 0.70
"""Scores at or above this (and below MATCH) go to a reviewer."""
SOUND_SCORE = 0.95
"""The score of a Hangul name that sounds like one indexed name only (see ``_sound``)."""

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_HANGUL = re.compile(r"[\uac00-\ud7a3]+")
_KANA = re.compile(r"[\u3040-\u30ff]+")
_CJK_LEGAL = re.compile(
    r"(股份有限公司|有限责任公司|集团有限公司|有限公司|控股集团|集团|公司|"
    r"株式会社|\(株\)|（株）|"
    r"주식회사|\(주\)|（주）|유한회사|그룹)"
)
_TICKER = re.compile(
    r"^(?:(?:nyse|nasdaq|sse|szse|hkex|tse|krx|asx|lse|six)\s*:\s*[a-z0-9.]+|"
    r"\d{4,6}\.(?:sz|ss|sh|hk|ks|kq|t)|[a-z]{1,5}\.(?:ax|l|to|pa|de|sw|hk))$"
)
_USCC = re.compile(r"^[0-9a-hj-npqrtuwxy]{2}\d{6}[0-9a-hj-npqrtuwxy]{10}$")
_LEI = re.compile(r"^[0-9a-z]{18}\d{2}$")


@functools.cache
def _words() -> tuple[
    frozenset[str], dict[str, str], frozenset[str], frozenset[str], frozenset[str]
]:
    root = resources.files("onshore") / "data" / "screening"
    legal: set[str] = set()
    abbr: dict[str, str] = {}
    stop: set[str] = set()
    struct: set[str] = set()
    for line in (root / "words.csv").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        word, kind, exp = (line.split(",") + ["", ""])[:3]
        if kind == "legal":
            legal.add(word)
        elif kind == "abbr":
            abbr[word] = exp
        elif kind == "struct":
            struct.add(word)
            stop.add(word)
        else:
            stop.add(word)
    places: set[str] = set()
    for line in (root / "places.txt").read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            places.update(line.split())
    from rigour.territories import get_territories

    for t in get_territories():
        for n in (t.name, t.full_name or ""):
            places.update(w for w in re.split(r"\W+", n.casefold()) if len(w) > 3)
    return frozenset(legal), abbr, frozenset(stop), frozenset(places - stop), frozenset(struct)


@functools.cache
def _t2s() -> object:
    import opencc

    return opencc.OpenCC("t2s")


@functools.cache
def _table_words() -> frozenset[str]:
    """Every word of ``words.csv`` (legal forms, abbreviations, business words)."""
    legal, abbr, stop, _, struct = _words()
    return legal | set(abbr) | stop | struct


def _pinyin(s: str) -> str:
    """Chinese letters in pinyin, one word per run of letters, with the business words and
    legal forms the word table knows in pinyin ('cailiao', 'keji', 'gufen') set apart:
    '天赐材料' -> 'tianci cailiao', as an ERP writes it, so both meet in the same tokens."""
    from pypinyin import lazy_pinyin

    return _runs(lazy_pinyin(s))


def _runs(pieces: Sequence[str], apart: Sequence[bool] = (), least: int = 2) -> str:
    """Pieces (syllables, words) joined into words: ``least`` or more pieces that together
    spell a word of the word table, and the pieces marked ``apart``, stand alone; the rest
    run together (one pinyin syllable is too short to be a word of its own)."""
    known = _table_words()
    out: list[str] = []
    run: list[str] = []
    i = 0
    while i < len(pieces):
        if i < len(apart) and apart[i]:
            j = i + 1
        else:
            j = next(
                (
                    j
                    for j in range(min(len(pieces), i + 5), i + least - 1, -1)
                    if "".join(pieces[i:j]) in known
                ),
                0,
            )
        if j:
            if run:
                out.append("".join(run))
                run = []
            out.append("".join(pieces[i:j]))
            i = j
        else:
            run.append(pieces[i])
            i += 1
    if run:
        out.append("".join(run))
    return " ".join(out)


def _hangul(s: str) -> str:
    from hangul_romanize import Transliter
    from hangul_romanize.rule import academic

    return str(Transliter(academic).translit(s))


# The Korean names of the Latin letters, as initialisms are written in Hangul ('에스케이' SK,
# '에스디아이' SDI, '엘지' LG). 이 (E), 오 (O) and 유 (U) are left out: they are everyday
# syllables ('이노베이션', innovation) far more often than letters.
_LETTER_NAMES = {
    "에이": "a",
    "비": "b",
    "씨": "c",
    "디": "d",
    "에프": "f",
    "지": "g",
    "에이치": "h",
    "아이": "i",
    "제이": "j",
    "케이": "k",
    "엘": "l",
    "엠": "m",
    "엔": "n",
    "피": "p",
    "큐": "q",
    "알": "r",
    "에스": "s",
    "티": "t",
    "브이": "v",
    "더블유": "w",
    "엑스": "x",
    "와이": "y",
    "제트": "z",
}


def _letter_names(word: str) -> str:
    """A Hangul word with its runs of two or more letter names in Latin letters:
    '삼성에스디아이' -> '삼성 sdi ', '에스케이이노베이션' -> ' sk 이노베이션'."""
    out: list[str] = []
    run: list[str] = []
    i = 0
    while i <= len(word):
        for n in (3, 2, 1):
            if i + n <= len(word) and word[i : i + n] in _LETTER_NAMES:
                run.append(word[i : i + n])
                i += n
                break
        else:
            if len(run) >= 2:
                out.append(" " + "".join(_LETTER_NAMES[x] for x in run) + " ")
            else:
                out.extend(run)
            run = []
            if i < len(word):
                out.append(word[i])
            i += 1
    return "".join(out)


def _sound(letters: str) -> str:
    """A coarse key of how a romanised name sounds, for names written in Hangul after their
    pinyin or English sound ('닝더스다이' for Ningde Shidai, '포스코케미칼' for POSCO
    Chemical): vowels, h, w and y dropped; consonants in the classes that Korean writing of
    foreign words merges (k g c q; s x j z; t d; p b f v; l r); runs of one class once."""
    s = re.sub(r"[^a-z]", "", letters)
    for a, b in (("ph", "p"), ("sh", "s"), ("zh", "s"), ("ch", "k"), ("ck", "k"), ("th", "t")):
        s = s.replace(a, b)
    out: list[str] = []
    for ch in s:
        c = _SOUND.get(ch, "")
        if c and (not out or out[-1] != c):
            out.append(c)
    return "".join(out)


_SOUND = {
    **dict.fromkeys("kgcq", "K"),
    **dict.fromkeys("sxjz", "S"),
    **dict.fromkeys("td", "T"),
    **dict.fromkeys("pbfv", "P"),
    **dict.fromkeys("lr", "L"),
    "m": "M",
    "n": "N",
}
SOUND_MIN = 5
"""Sound keys shorter than this are too common to link anything."""


_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]+")


@functools.cache
def _cutlet() -> Any:
    """cutlet's romaji converter with loanwords in their own spelling, or None when the
    ``ja`` extra (cutlet, unidic-lite) is not installed."""
    try:
        import cutlet

        return cutlet.Cutlet(use_foreign_spelling=True)
    except (ImportError, RuntimeError):  # not installed, or no dictionary for fugashi
        return None


def _romaji(s: str) -> str | None:
    """Japanese in romaji as an ERP writes it: loanwords in their own spelling ('エナジー' ->
    'energy'), long vowels written once ('工業' -> 'kogyo', not 'kougyou'); None without
    cutlet."""
    k = _cutlet()
    if k is None:
        return None
    from cutlet.cutlet import has_foreign_lemma

    pieces, apart = [], []
    for w in k.tagger(s):
        r = str(k.romaji_word(w)).casefold()
        foreign = bool(has_foreign_lemma(w))
        if not foreign:
            r = re.sub(r"o[ou]|uu", lambda m: m.group(0)[0], r)  # Hepburn without macrons
        pieces.append(r)
        apart.append(foreign)
    return _runs(pieces, apart, least=1)


def identifier(text: str) -> str | None:
    """The exact key of a ticker or registry number ('002594.SZ', 'NYSE: ALB', a USCC or
    an LEI), or None when ``text`` is a name.

    Parameters
    ----------
    text : str

    Returns
    -------
    str or None
        Upper case, spaces removed.
    """
    s = unicodedata.normalize("NFKC", str(text)).strip().casefold()
    if _TICKER.match(s) or _USCC.match(s) or (_LEI.match(s) and re.search(r"\d", s[:18])):
        return re.sub(r"\s+", "", s).upper()
    return None


@dataclass(frozen=True)
class Name:
    """A normalised name: its tokens (legal forms removed, abbreviations expanded, sorted)
    and the same letters without spaces (``compact``)."""

    text: str
    tokens: tuple[str, ...]
    compact: str
    native: str = ""
    """The CJK/Hangul/kana letters of the name without legal forms ('' when none)."""
    tokens_in_order: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """Tokens in sorted order, space-joined: the word-order-insensitive form."""
        return " ".join(sorted(self.tokens))


_kept_forms: dict[tuple[str, bool], Name] = {}
"""Forms read by :func:`forms_kept` (the same as :func:`normalize` makes, by the same code)."""
_recording: contextvars.ContextVar[dict[tuple[str, bool], Name] | None] = contextvars.ContextVar(
    "onshore_forms_recording", default=None
)
"""The forms asked for inside a :func:`forms_kept` block that had nothing to read (per thread
and task: blocks of other threads do not see or end it)."""


def normalize(name: str, japanese: bool = False) -> Name:
    """A comparable form of a company name (made once per name and process, or read from the
    plan folder inside :func:`forms_kept`).

    Parameters
    ----------
    name : str
        As written anywhere: 'GUOXUAN HI-TECH', '寧德時代', 'Samsung SDI Co., Ltd.'.
    japanese : bool
        Read Chinese characters as Japanese ('本田技研工業' -> 'honda giken kogyo'), as a
        name with kana always is (with cutlet installed; else as Chinese).

    Returns
    -------
    Name
        'Gotion High-tech Co., Ltd.' -> tokens ('gotion', 'high', 'technology').
    """
    key = (name, japanese)
    form = _kept_forms.get(key)
    if form is None:
        form = _normalize(name, japanese)
    seen = _recording.get()
    if seen is not None:
        seen[key] = form
    return form


def clear_forms() -> None:
    """Forget every form made or read in this process (after a change of what shapes them,
    e.g. a test that takes cutlet away)."""
    _normalize.cache_clear()
    _kept_forms.clear()


FORMS_FORMAT = 1
"""The layout of kept forms; entries of another layout are not read."""


@contextlib.contextmanager
def forms_kept(cache: PlanCache | None, asked: Sequence[str]) -> Iterator[None]:
    """Inside the block, the forms of names are read from ``cache`` when it holds those a
    block with the same ``asked`` made with this code; else they are made and, at the end of
    the block, saved there.

    Normalising a Chinese name loads OpenCC and pypinyin (0.2-0.3 s in a new process): a
    ruleset's named entities, resolved in every ``check``, are normalised once per content of
    the rules, not once per process. A read form is the one :func:`normalize` makes (the key
    holds :func:`_code_digest`: this module's source, the word tables and the versions of the
    libraries that normalise); a name the entry does not hold is normalised as usual.

    Parameters
    ----------
    cache : PlanCache or None
        The network's plan folder (None: forms are made as usual).
    asked : sequence of str
        What the block normalises from (the entities' names, aliases and identifiers): the
        entry's key.

    Yields
    ------
    None
    """
    if cache is None:
        yield
        return
    h = hashlib.sha256(_code_digest().encode())
    h.update(repr((FORMS_FORMAT, list(asked))).encode("utf-8", "surrogatepass"))
    key = f"forms-{h.hexdigest()[:40]}"
    arrays = cache.load(key)
    read = None
    if arrays is not None:
        try:
            read = _forms_from_arrays(arrays)
        except (ValueError, KeyError, IndexError, TypeError, UnicodeDecodeError):
            read = None  # not what this code writes: make the forms and replace it
    if read is not None:
        _kept_forms.update(read)
        yield
        return
    outer = _recording.get()
    seen: dict[tuple[str, bool], Name] = {}
    token = _recording.set(seen)
    try:
        yield
    finally:
        _recording.reset(token)
        if outer is not None:
            outer.update(seen)
    kept = _forms_arrays(seen)
    if kept is not None and seen:
        cache.save(key, kept)


class _Strings(dict[str, int]):
    """The string table of a kept entry: each text once, referred to by its position."""

    def id(self, s: str) -> int:
        """The position of ``s``, added at the end when new."""
        return self.setdefault(s, len(self))

    def arrays(self) -> dict[str, np.ndarray] | None:
        """The texts NUL-joined as UTF-8 bytes, with their count; None when a text holds a NUL
        (the separator)."""
        if any("\x00" in s for s in self):
            return None
        return {
            "strings": np.frombuffer("\x00".join(self).encode("utf-8"), dtype=np.uint8),
            "n_strings": np.array([len(self)], dtype=np.int64),
        }


def _read_strings(arrays: Mapping[str, np.ndarray]) -> list[str]:
    """The texts of a string table kept by :meth:`_Strings.arrays`.

    Raises
    ------
    ValueError
        When the bytes do not hold as many texts as the count says.
    UnicodeDecodeError
        When they are not UTF-8.
    """
    count = int(arrays["n_strings"][0])
    texts = arrays["strings"].tobytes().decode("utf-8").split("\x00") if count else []
    if len(texts) != count:
        raise ValueError("a string table with another number of strings")
    return texts


def _forms_arrays(forms: Mapping[tuple[str, bool], Name]) -> dict[str, np.ndarray] | None:
    """Forms as numeric arrays (:func:`_forms_from_arrays` reads them); None when a text holds
    a NUL character (the separator of the kept strings)."""
    strings = _Strings()
    sid = strings.id
    cols, tok, order = [], [0], [0]
    toks: list[int] = []
    ords: list[int] = []
    for (name, ja), f in forms.items():
        cols.append((sid(name), int(ja), sid(f.text), sid(f.compact), sid(f.native)))
        toks += [sid(t) for t in f.tokens]
        ords += [sid(t) for t in f.tokens_in_order]
        tok.append(len(toks))
        order.append(len(ords))
    table = strings.arrays()
    if table is None:
        return None
    return {
        "format": np.array([FORMS_FORMAT], dtype=np.int64),
        "cols": np.array(cols, dtype=np.int64).reshape(-1, 5),
        "tok_ptr": np.array(tok, dtype=np.int64),
        "tok": np.array(toks, dtype=np.int64),
        "order_ptr": np.array(order, dtype=np.int64),
        "order": np.array(ords, dtype=np.int64),
        **table,
    }


def _forms_from_arrays(a: Mapping[str, np.ndarray]) -> dict[tuple[str, bool], Name]:
    """The forms kept by :func:`_forms_arrays`.

    Raises
    ------
    ValueError
        When the arrays are of another layout or do not fit together.
    """
    if int(a["format"][0]) != FORMS_FORMAT:
        raise ValueError("kept forms of another layout")
    S = _read_strings(a)
    cols, tp, op = a["cols"], a["tok_ptr"].tolist(), a["order_ptr"].tolist()
    tok, order = a["tok"].tolist(), a["order"].tolist()
    if cols.ndim != 2 or cols.shape[1] != 5:
        raise ValueError("kept forms that do not fit together")
    if len(tp) != len(cols) + 1 or len(op) != len(cols) + 1:
        raise ValueError("kept forms that do not fit together")
    if tp[-1] != len(tok) or op[-1] != len(order) or min([0, *tok, *order]) < 0:
        raise ValueError("kept forms that do not fit together")
    out = {}
    for k, (name, ja, text, compact, native) in enumerate(cols.tolist()):
        out[(S[name], bool(ja))] = Name(
            S[text],
            tuple(S[i] for i in tok[tp[k] : tp[k + 1]]),
            S[compact],
            S[native],
            tuple(S[i] for i in order[op[k] : op[k + 1]]),
        )
    return out


@functools.lru_cache(maxsize=200_000)
def _normalize(name: str, japanese: bool = False) -> Name:
    """:func:`normalize`, made here (parameters and result as documented there)."""
    import rigour.names as rn

    legal, abbr = _words()[:2]
    s = unicodedata.normalize("NFKC", str(name)).casefold().strip()
    ja = (japanese or bool(_KANA.search(s))) and _cutlet() is not None
    if _CJK.search(s) and not ja:
        s = _t2s().convert(s)  # type: ignore[attr-defined]
    s = _CJK_LEGAL.sub(" ", s)
    s = _HANGUL.sub(lambda m: _letter_names(m.group(0)), s)
    native = "".join(
        m.group(0) for m in re.finditer(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7a3]+", s)
    )
    if ja:
        s = _JAPANESE.sub(lambda m: f" {_romaji(m.group(0))} ", s)
    s = _CJK.sub(lambda m: f" {_pinyin(m.group(0))} ", s)
    s = _HANGUL.sub(lambda m: f" {_hangul(m.group(0))} ", s)
    s = s.replace("&", " and ")
    s = re.sub(r"\bhi[\s-]*tech\b", "high tech", s)
    s = re.sub(r"[^\w\s]", " ", s)
    s = rn.remove_org_types(re.sub(r"\s+", " ", s).strip()) or ""
    raw = s.split()
    toks: list[str] = []
    run: list[str] = []
    for w in [*raw, ""]:
        if len(w) == 1 and w.isalnum():
            run.append(w)
            continue
        if run:
            toks.append("".join(run))  # 'a b c' -> 'abc' (an initialism is one token)
            run = []
        if w:
            toks.append(w)
    out = [x for w in toks if w not in legal for x in abbr.get(w, w).split()]
    if not out and toks:
        # a name made only of legal words keeps them
        out = [x for w in toks for x in abbr.get(w, w).split()]
    compact = "".join(out)
    return Name(str(name), tuple(out), compact, native, tuple(out))


def _spelled(name: str) -> str:
    """A name as spelled, legal form included; case, spacing and punctuation aside."""
    return re.sub(r"\W+", "", unicodedata.normalize("NFKC", name).casefold())


def _subseq(short: str, long: str) -> bool:
    it = iter(long)
    return all(ch in it for ch in short)


def _variants(name: str, split: bool) -> list[str]:
    """The name, and (when ``split``) the name without a bracketed part and the bracketed
    part itself: 'PT Aneka Tambang Tbk (Antam)' -> also 'PT Aneka Tambang Tbk', 'Antam'."""
    out = [name]
    m = re.search(r"\(([^)]*)\)", name)
    if split and m:
        out.append((name[: m.start()] + name[m.end() :]).strip())
        inner = m.group(1).strip()
        if inner and normalize(inner).tokens:
            out.append(inner)
    return out


@dataclass
class Entry:
    """One thing the index can return (a company, or a list entry): its names and facts."""

    id: str
    label: str
    country: str | None = None
    names: list[str] = field(default_factory=list)
    identifiers: set[str] = field(default_factory=set)
    lists: list[tuple[str, str]] = field(default_factory=list)
    """(list id, entry id) of the restricted-list entries this is."""
    store: bool = True
    """True for a company in the store; False for a list entry not linked to one."""
    secondary: set[str] = field(default_factory=set)
    """Names that are the entry's subsidiaries rather than its own (they score a bit lower,
    so that a subsidiary indexed on its own wins)."""


@dataclass(frozen=True)
class Candidate:
    """A scored candidate for one query."""

    id: str
    name: str
    """The name of the candidate that scored best."""
    score: float
    decision: str
    features: dict[str, float | str]
    reasons: tuple[str, ...]


def decide(score: float) -> str:
    """'match', 'review' or 'no_match' for a score (see ``MATCH`` and ``REVIEW``)."""
    return "match" if score >= MATCH else "review" if score >= REVIEW else "no_match"


class _KeptNames(Sequence[tuple[int, Name]]):
    """The indexed names of a kept index, as ``Matcher.names`` holds them: ``(entry, Name)``
    at each position, each made when first asked for (a query reads a few of them)."""

    def __init__(self, cols: np.ndarray, ptr: np.ndarray, tok: np.ndarray, S: list[str]) -> None:
        if cols.ndim != 2 or cols.shape[1] != 4 or len(ptr) != len(cols) + 1:
            raise ValueError("a name index whose names do not fit")
        if len(ptr) and (int(ptr[0]) != 0 or int(ptr[-1]) != len(tok) or (np.diff(ptr) < 0).any()):
            raise ValueError("a name index whose tokens do not fit")
        if (len(cols) and (cols[:, 1:].min() < 0 or cols[:, 1:].max() >= len(S))) or (
            len(tok) and (tok.min() < 0 or tok.max() >= len(S))
        ):
            raise ValueError("a name index with strings it does not hold")
        self._cols, self._ptr, self._tok, self._S = cols, ptr, tok, S
        self._made: dict[int, tuple[int, Name]] = {}

    def __len__(self) -> int:
        return len(self._cols)

    @typing.overload
    def __getitem__(self, j: int) -> tuple[int, Name]: ...

    @typing.overload
    def __getitem__(self, j: slice) -> list[tuple[int, Name]]: ...

    def __getitem__(self, j: int | slice) -> tuple[int, Name] | list[tuple[int, Name]]:
        if isinstance(j, slice):
            return [self[i] for i in range(*j.indices(len(self)))]
        j = int(j)
        if j < 0:
            j += len(self)
        if not 0 <= j < len(self):
            raise IndexError(j)
        got = self._made.get(j)
        if got is None:
            k, text, compact, native = self._cols[j].tolist()
            S = self._S
            t = tuple(S[i] for i in self._tok[self._ptr[j] : self._ptr[j + 1]].tolist())
            got = self._made[j] = (k, Name(S[text], t, S[compact], S[native], t))
        return got


class _KeptPostings(Mapping[str, set[int]]):
    """One kind of postings of a kept index (key -> positions in ``Matcher.names``), as the
    constructor's dicts hold them (the same keys in the same order), each set made when
    asked for."""

    def __init__(self, keys: np.ndarray, ptr: np.ndarray, vals: np.ndarray, S: list[str]) -> None:
        if len(ptr) != len(keys) + 1 or int(ptr[-1]) != len(vals) or (np.diff(ptr) < 0).any():
            raise ValueError("a name index whose postings do not fit")
        if len(keys) and (keys.min() < 0 or keys.max() >= len(S)):
            raise ValueError("a name index with strings it does not hold")
        self._at = dict(zip([S[k] for k in keys.tolist()], range(len(keys)), strict=True))
        if len(self._at) != len(keys):
            raise ValueError("a name index with a key twice")
        self._ptr, self._vals = ptr, vals

    def __getitem__(self, key: str) -> set[int]:
        i = self._at[key]
        return set(self._vals[self._ptr[i] : self._ptr[i + 1]].tolist())

    def __iter__(self) -> Iterator[str]:
        return iter(self._at)

    def __len__(self) -> int:
        return len(self._at)

    def __contains__(self, key: object) -> bool:
        return key in self._at


INDEX_FORMAT = 2
"""The layout of a kept name index (:meth:`Matcher.arrays`); indexes of another are rebuilt."""

_SHAPERS = ("rigour", "opencc", "pypinyin", "hangul-romanize", "cutlet", "unidic-lite", "fugashi")
"""The libraries whose data and code shape :func:`normalize` (their versions key a kept index)."""


@functools.cache
def _code_digest() -> str:
    """What shapes an index besides its entries: this module's source (normalisation,
    variants, the index itself), the word tables, the Unicode version and the versions of the
    libraries that normalise (:data:`_SHAPERS`)."""
    from importlib import metadata

    h = hashlib.sha256(repr((INDEX_FORMAT, unicodedata.unidata_version)).encode())
    h.update(Path(__file__).read_bytes())
    root = resources.files("onshore") / "data" / "screening"
    for f in ("words.csv", "places.txt"):
        h.update((root / f).read_bytes())
    for lib in _SHAPERS:
        try:
            version: str | None = metadata.version(lib)
        except metadata.PackageNotFoundError:
            version = None
        h.update(f"{lib}={version};".encode())
    return h.hexdigest()


def index_digest(entries: Sequence[Entry]) -> str:
    """What a name index of ``entries`` depends on, as 40 hex digits: SHA-256 of
    :func:`_code_digest` and of every entry's id, label, country, names, identifiers, kind
    (store or list) and secondary names, in order.

    Parameters
    ----------
    entries : sequence of Entry

    Returns
    -------
    str
    """
    h = hashlib.sha256(_code_digest().encode())
    h.update(
        repr(
            [
                (
                    e.id,
                    e.label,
                    e.country,
                    e.names,
                    sorted(e.identifiers) if e.identifiers else [],
                    e.store,
                    sorted(e.secondary) if e.secondary else [],
                )
                for e in entries
            ]
        ).encode("utf-8", "surrogatepass")
    )
    return h.hexdigest()[:40]


class Matcher:
    """An index of names of many entries; :meth:`candidates` scores a query against them.

    Parameters
    ----------
    entries : sequence of Entry
    """

    def __init__(self, entries: Sequence[Entry]) -> None:
        self.entries = list(entries)
        self.by_id = {e.id: e for e in self.entries}
        names: list[tuple[int, Name]] = []
        self.names: Sequence[tuple[int, Name]] = names
        self.minor: set[int] = set()
        self.by_ident: dict[str, set[int]] = {}
        again = 0
        for k, e in enumerate(self.entries):
            for n in e.names:
                ident = identifier(n)
                if ident:
                    e.identifiers.add(ident)
                    continue
                for v in _variants(n, e.store):
                    forms = [normalize(v)]
                    if e.country == "JP" and _CJK.search(v):
                        forms.append(normalize(v, japanese=True))  # read as Japanese too
                        again += len(set(forms)) - 1  # one name, not two, for word weights
                    for nm in dict.fromkeys(forms):
                        if nm.tokens or nm.native:
                            if n in e.secondary:
                                self.minor.add(len(self.names))
                            names.append((k, nm))
            for ident in sorted(e.identifiers):  # a set: sorted, so the order is the same
                self.by_ident.setdefault(ident, set()).add(k)  # in every process
        self.stop, self.places, self.struct = _words()[2:]
        # names that are another entry's own name, legal form and all: 'Hoshine Silicon
        # Industry (Shanshan) Co., Ltd.' among the parent's names is the name of the Shanshan
        # unit, a legal entity of its own ('Gotion' is not 'Gotion Inc.')
        own: dict[str, set[int]] = {}
        for k, e in enumerate(self.entries):
            own.setdefault(_spelled(e.label), set()).add(k)
        self.foreign = {
            j
            for j, (k, nm) in enumerate(self.names)
            if own.get(_spelled(nm.text), set()) - {k}
            and k not in own.get(_spelled(nm.text), set())
        }
        df: dict[str, int] = {}
        by_token: dict[str, set[int]] = {}
        by_compact: dict[str, set[int]] = {}
        by_native: dict[str, set[int]] = {}
        self.by_token: Mapping[str, set[int]] = by_token
        self.by_compact: Mapping[str, set[int]] = by_compact
        self.by_native: Mapping[str, set[int]] = by_native
        for j, (_k, nm) in enumerate(self.names):
            generic = all(t in self.stop or t in self.places for t in nm.tokens)
            for t in set(nm.tokens):
                if not nm.native:
                    # how common a word is, counted over names written in Latin letters: a
                    # name in its own script is another spelling of a name the entry has,
                    # and its words in pinyin would count twice
                    df[t] = df.get(t, 0) + 1
                if generic or (t not in self.stop and t not in self.places):
                    by_token.setdefault(t, set()).add(j)
            by_compact.setdefault(nm.compact, set()).add(j)
            if nm.native:
                by_native.setdefault(nm.native, set()).add(j)
        # names in Latin letters by how they sound, for queries written in Hangul; a key
        # that several entries share links none of them
        sound: dict[str, set[int]] = {}
        for j, (k, nm) in enumerate(self.names):
            if not nm.native:
                key = _sound(nm.compact)
                if len(key) >= SOUND_MIN:
                    sound.setdefault(key, set()).add(j)
        self.by_sound: Mapping[str, set[int]] = {
            key: js for key, js in sound.items() if len({self.names[j][0] for j in js}) == 1
        }
        size = max(len(self.names) - again, 1)
        self.idf = {t: math.log(1 + size / c) for t, c in df.items()}
        self.max_idf = math.log(1 + size)
        self.vocab = [t for t in self.by_token if len(t) >= 5]
        self._near: dict[str, list[tuple[str, float]]] = {}
        self._weights: dict[str, float] = {}

    # ------------------------------------------------------------------ kept index
    @classmethod
    def kept(cls, entries: Sequence[Entry], cache: PlanCache | None) -> Matcher:
        """``Matcher(entries)``, read from ``cache`` when it holds an intact index of exactly
        these entries built by this code (:func:`index_digest`), else built and saved there.

        Parameters
        ----------
        entries : sequence of Entry
            As for the constructor (their ``identifiers`` gain the tickers among the names).
        cache : PlanCache or None
            Where indexes are kept beside the store (the network's ``plans``); None builds.

        Returns
        -------
        Matcher
            Equal, attribute for attribute, to ``Matcher(entries)``.
        """
        if cache is None:
            return cls(entries)
        key = f"names-{index_digest(entries)}"
        arrays = cache.load(key)
        if arrays is not None:
            try:
                return cls.from_arrays(entries, arrays)
            except (ValueError, KeyError, IndexError, TypeError, UnicodeDecodeError):
                pass  # not what this code writes: build and replace it
        m = cls(entries)
        kept = m.arrays()
        if kept is not None:
            cache.save(key, kept)
        return m

    def arrays(self) -> dict[str, np.ndarray] | None:
        """The index as numeric arrays (:meth:`from_arrays` reads them back); None when a
        name holds a NUL character (the separator of the kept strings)."""
        strings = _Strings()
        sid = strings.id

        out: dict[str, np.ndarray] = {"format": np.array([INDEX_FORMAT], dtype=np.int64)}
        ptr, toks, cols = [0], [], []
        for k, nm in self.names:
            if nm.tokens_in_order != nm.tokens:
                return None  # not a form normalize makes
            cols.append((k, sid(nm.text), sid(nm.compact), sid(nm.native)))
            toks += [sid(t) for t in nm.tokens]
            ptr.append(len(toks))
        out["name_cols"] = np.array(cols, dtype=np.int64).reshape(-1, 4)
        out["name_ptr"] = np.array(ptr, dtype=np.int64)
        out["name_tok"] = np.array(toks, dtype=np.int64)
        out["minor"] = np.array(sorted(self.minor), dtype=np.int64)
        out["foreign"] = np.array(sorted(self.foreign), dtype=np.int64)
        idents = [(k, sid(i)) for k, e in enumerate(self.entries) for i in sorted(e.identifiers)]
        out["idents"] = np.array(idents, dtype=np.int64).reshape(-1, 2)
        for kind, post in (
            ("token", self.by_token),
            ("compact", self.by_compact),
            ("native", self.by_native),
            ("sound", self.by_sound),
        ):
            keys = [sid(key) for key in post]
            vals = [sorted(js) for js in post.values()]
            out[f"{kind}_keys"] = np.array(keys, dtype=np.int64)
            out[f"{kind}_ptr"] = np.cumsum([0, *map(len, vals)], dtype=np.int64)
            out[f"{kind}_vals"] = np.array([j for js in vals for j in js], dtype=np.int64)
        out["idf_keys"] = np.array([sid(t) for t in self.idf], dtype=np.int64)
        out["idf_vals"] = np.array(list(self.idf.values()), dtype=np.float64)
        out["max_idf"] = np.array([self.max_idf], dtype=np.float64)
        for kind, words in (("stop", self.stop), ("places", self.places), ("struct", self.struct)):
            out[f"words_{kind}"] = np.array(sorted(sid(w) for w in words), dtype=np.int64)
        table = strings.arrays()
        if table is None:
            return None
        return {**out, **table}

    @classmethod
    def from_arrays(cls, entries: Sequence[Entry], arrays: Mapping[str, np.ndarray]) -> Matcher:
        """The index kept by :meth:`arrays` for these entries (whose ``identifiers`` gain the
        tickers among their names, as the constructor adds them).

        Raises
        ------
        ValueError
            When the arrays are of another layout or do not fit the entries.
        """
        if int(arrays["format"][0]) != INDEX_FORMAT:
            raise ValueError("a name index of another layout")
        S = _read_strings(arrays)
        self = cls.__new__(cls)
        self.entries = list(entries)
        names = _KeptNames(arrays["name_cols"], arrays["name_ptr"], arrays["name_tok"], S)
        owner = arrays["name_cols"][:, 0]
        if len(owner) and (owner.min() < 0 or owner.max() >= len(self.entries)):
            raise ValueError("a name index of other entries")
        self.names = names
        self.by_id = {e.id: e for e in self.entries}
        self.minor = set(arrays["minor"].tolist())
        self.foreign = set(arrays["foreign"].tolist())
        for k, i in arrays["idents"].tolist():
            self.entries[k].identifiers.add(S[i])
        self.by_ident = {}
        for k, e in enumerate(self.entries):
            if not e.identifiers:
                continue
            for ident in sorted(e.identifiers):  # as built
                self.by_ident.setdefault(ident, set()).add(k)
        # the word tables as the index was built with them (its key holds their sources and
        # rigour's version), so that reading it needs no territory data
        self.stop, self.places, self.struct = (
            frozenset(S[i] for i in arrays[f"words_{kind}"].tolist())
            for kind in ("stop", "places", "struct")
        )
        self.by_token, self.by_compact, self.by_native, self.by_sound = (
            _KeptPostings(arrays[f"{kind}_keys"], arrays[f"{kind}_ptr"], arrays[f"{kind}_vals"], S)
            for kind in ("token", "compact", "native", "sound")
        )
        vals = arrays["idf_vals"].tolist()
        self.idf = dict(zip([S[t] for t in arrays["idf_keys"].tolist()], vals, strict=True))
        self.max_idf = float(arrays["max_idf"][0])
        self.vocab = [t for t in self.by_token if len(t) >= 5]
        self._near = {}
        self._weights = {}
        return self

    # ------------------------------------------------------------------ weights
    def weight(self, t: str) -> float:
        """How much a token says: rarer says more; shared business words and places little."""
        w = self._weights.get(t)
        if w is None:
            w = self.idf.get(t, self.max_idf)
            if t in self.stop:
                w *= 0.25 if t not in ("group", "holding") else 0.4
            elif t in self.places:
                w *= 0.15
            elif len(t) <= 2:
                w *= 0.6
            self._weights[t] = w
        return w

    def near(self, t: str) -> list[tuple[str, float]]:
        """Index tokens spelled like ``t`` (rapidfuzz ratio >= 85; tokens of 5+ letters)."""
        if t not in self._near:
            from rapidfuzz import fuzz, process  # loaded when a name is first compared

            found = []
            if len(t) >= 5 and t not in self.stop and t not in self.places:
                for v, s, _ in process.extract(
                    t, self.vocab, scorer=fuzz.ratio, score_cutoff=85, limit=5
                ):
                    if v != t and v[0] == t[0]:
                        found.append((v, s / 100.0))
            self._near[t] = found
        return self._near[t]

    # ------------------------------------------------------------------ scoring
    @staticmethod
    def keys(q: Name) -> list[tuple[str, str]]:
        """The blocking keys of a query, as ``(kind, key)``: its compact letters (``"c"``),
        its native letters (``"n"``, when it has them) and each distinct token (``"t"``; a
        token also finds the tokens :meth:`near` it). :meth:`postings` holds what each key
        finds."""
        ks = [("c", q.compact)]
        if q.native:
            ks.append(("n", q.native))
        return ks + [("t", t) for t in dict.fromkeys(q.tokens)]

    def postings(self) -> dict[str, Mapping[str, set[int]]]:
        """Per key kind (see :meth:`keys`), the positions in ``self.names`` of each key."""
        return {"c": self.by_compact, "n": self.by_native, "t": self.by_token}

    def block(self, q: Name) -> set[int]:
        """Positions in ``self.names`` that share a distinctive token, the compact letters,
        the native letters or a near token with the query."""
        post = self.postings()
        out: set[int] = set()
        for kind, key in self.keys(q):
            out |= post[kind].get(key, set())
            if kind == "t":
                for v, _ in self.near(key):
                    out |= post[kind].get(v, set())
        return out

    def pair(self, q: Name, n: Name) -> tuple[float, dict[str, float | str]]:
        """Score one query name against one indexed name."""
        from rapidfuzz import fuzz  # loaded when a name is first compared

        feats: dict[str, float | str] = {}
        if q.native and q.native == n.native and len(q.native) >= 2 and q.compact == n.compact:
            feats["exact"] = "native"
            return 1.0, feats
        if q.compact and q.compact == n.compact:
            feats["exact"] = "letters"
            if len(q.compact) <= 3:
                feats["short"] = 1.0
                return 0.9, feats
            return 1.0, feats
        qt, nt = list(dict.fromkeys(q.tokens)), list(dict.fromkeys(n.tokens))
        qset = set(qt)
        matched_n: dict[str, float] = {}
        used_q: dict[str, float] = {}
        for t in nt:
            if t in qset:
                matched_n[t], used_q[t] = 1.0, 1.0
                continue
            best, via = 0.0, ""
            for u in qt:
                if u in used_q or u[0] != t[0] or min(len(u), len(t)) < 5:
                    continue
                r = fuzz.ratio(u, t) / 100.0
                if r >= 0.85 and r > best and u[0] == t[0]:
                    best, via = r, u
            if via:
                credit = max(0.0, 1.0 - 3.0 * (1.0 - best))  # a near spelling is weaker
                matched_n[t], used_q[via] = credit, credit
                continue
            if t in self.stop:
                # an abbreviation of a business word ('MNG' mining, 'RES' resources)
                for u in qt:
                    if u not in used_q and len(u) >= 3 and u[0] == t[0] and _subseq(u, t):
                        matched_n[t], used_q[u] = 0.9, 0.9
                        break
        # a name cut off by a short ERP field ('SHERRITT INTERNATIONAL CORPORA')
        last = q.tokens_in_order[-1] if q.tokens_in_order else ""
        if last and last not in used_q and len(q.text) >= 25:
            for t in nt:
                if t not in matched_n and t.startswith(last):
                    matched_n[t], used_q[last] = 0.9, 0.9
                    break
        # words run together on one side ('blueoval' / 'blue oval', pinyin syllables)
        qrest = "".join(u for u in qt if u not in used_q)
        for t in nt:
            if t not in matched_n and len(t) >= 4 and t in qrest:
                matched_n[t] = 0.95
        nrest = "".join(t for t in nt if t not in matched_n)
        for u in qt:
            if u not in used_q and len(u) >= 4 and u in nrest:
                used_q[u] = 0.95
        wn = sum(self.weight(t) for t in nt) or 1.0
        wq = sum(self.weight(u) for u in qt) or 1.0
        cover_n = sum(self.weight(t) * c for t, c in matched_n.items()) / wn
        cover_q = sum(self.weight(u) * c for u, c in used_q.items()) / wq
        generic = all(t in self.stop or t in self.places for t in nt)
        distinct = [
            t for t in matched_n if generic or (t not in self.stop and t not in self.places)
        ]
        if generic and cover_n < 0.99:
            distinct = []  # a name of business words and places needs every word
        evidence = sum(self.weight(t) * matched_n[t] for t in distinct)
        extra = [u for u in qt if u not in used_q]
        extra_distinct = [u for u in extra if u not in self.stop and u not in self.places]
        extra_trade = [u for u in extra if u in self.stop and u not in self.struct]
        left = [
            t for t in nt if t not in matched_n and t not in self.struct and t not in self.places
        ]
        feats.update(
            cover_name=round(cover_n, 3),
            cover_query=round(cover_q, 3),
            evidence=round(evidence, 2),
            explained=" ".join(sorted(used_q)),
        )
        if left:
            feats["left"] = " ".join(left)
        if extra:
            feats["extra"] = " ".join(extra)
        if not distinct:
            return 0.0, feats  # only shared business words or places
        score = 0.6 * cover_n + 0.4 * cover_q
        if extra_trade:
            # another line of business ('Nissan Chemical'); more so after a one-word name
            score -= (0.07 if len(distinct) > 1 else 0.12) * len(extra_trade)
        if extra_distinct:
            # the query names something more than the candidate: a different company unless
            # the candidate's own evidence is strong
            score -= 0.08 * len(extra_distinct)
            if max(len(t) for t in distinct) <= 3 or evidence < 0.5 * self.max_idf:
                score -= 0.15
                feats["weak"] = 1.0
        elif max(len(t) for t in distinct) <= 3:
            # a short name plus business words on either side ('EVE Holdings', 'BYD Logistics')
            rest = extra + [t for t in nt if t not in matched_n]
            if any(u not in self.places for u in rest) and not generic:
                score -= 0.2
                feats["short"] = 1.0
        r = fuzz.token_sort_ratio(q.key, n.key) / 100.0 if len(q.compact) >= 8 else 0.0
        if r >= 0.92 and r > score:
            feats["spelling"] = round(r, 3)
            score = r * 0.97
        return max(0.0, min(score, 1.0)), feats

    def candidates(
        self,
        name: str,
        country: str | None = None,
        ids: Iterable[str] = (),
        limit: int = 3,
        block: Iterable[int] | None = None,
    ) -> list[Candidate]:
        """Scored candidates for one query, best first.

        Parameters
        ----------
        name : str
            The name as written.
        country : str, optional
            ISO 3166-1 alpha-2 code of the query; agreement raises a score, a conflict
            lowers it.
        ids : iterable of str
            Tickers or registry numbers of the query: an identical identifier is a match.
        limit : int
            How many candidates to return.
        block : iterable of int, optional
            The positions in ``names`` to score when the blocking was done elsewhere (the
            Spark engine joins the query's keys with the index); default :meth:`block`.
            They are scored in position order, so the result does not depend on how the
            block was gathered.

        Returns
        -------
        list of Candidate
        """
        best: dict[int, tuple[float, str, dict[str, float | str]]] = {}
        for raw in ids:
            ident = identifier(raw) or str(raw).strip().upper()
            for k in self.by_ident.get(ident, set()):
                best[k] = (1.0, ident, {"exact": "identifier"})
        own = identifier(name)
        if own:
            for k in self.by_ident.get(own, set()):
                best[k] = (1.0, own, {"exact": "identifier"})
        else:
            q = normalize(name)
            forms = [q]
            if (country or "").strip().upper() == "JP" and _CJK.search(name):
                forms.append(normalize(name, japanese=True))  # read as Japanese too
            for i, qf in enumerate(dict.fromkeys(forms)):
                # a block found elsewhere (the Spark engine's) is that of the name as written;
                # the Japanese reading of a JP name is blocked here
                for j in sorted(set(block) if block is not None and i == 0 else self.block(qf)):
                    k, n = self.names[j]
                    s, f = self.pair(qf, n)
                    if j in self.minor:
                        f = {**f, "subsidiary": 1.0}
                    if j in self.foreign:
                        f = {**f, "other_entity": 1.0}
                    if k not in best or s > best[k][0]:
                        best[k] = (s, n.text, f)
            if _HANGUL.search(q.native) and max((b[0] for b in best.values()), default=0) < MATCH:
                for j in self.by_sound.get(_sound(q.compact), ()):
                    k, n = self.names[j]
                    if k not in best or best[k][0] < SOUND_SCORE:
                        best[k] = (SOUND_SCORE, n.text, {"exact": "sound"})
        cc = (country or "").strip().upper() or None
        out = []
        for k, (s, nm, f) in best.items():
            e = self.entries[k]
            if f.get("exact") != "identifier" and cc and e.country:
                if cc == e.country:
                    s = min(1.0, s + 0.04)
                    f = {**f, "country": "same"}
                else:
                    s -= 0.15 if f.get("short") or f.get("weak") else 0.05
                    f = {**f, "country": f"{cc} vs {e.country}"}
            s = max(0.0, min(1.0, s))
            if f.get("subsidiary"):
                s *= 0.98
            if f.get("short") and f.get("country") == "same" and s < REVIEW:
                # a short name ('BYD') with business words in its own country may be a
                # subsidiary: a person decides, it is never dropped unseen
                s = REVIEW
            if s <= 0.0:
                continue
            out.append(Candidate(e.id, nm, round(s, 3), decide(s), f, _reasons(nm, s, f)))
        out.sort(key=lambda c: (-c.score, c.id))
        return _siblings(out)[:limit]


SIBLING_GAP = 0.1
"""Candidates this close to the best that explain the same words of the input are siblings
(a parent and its subsidiary, two units of one group): the order among them is decided by
what else their names say, not by a few hundredths of score."""


def _sibling_key(c: Candidate) -> tuple[int, int]:
    """Among siblings, first the entry whose own name it is, then the name that adds fewest
    words of its own beyond the input's (business words and distinctive words; words about
    the shape of a group, places and legal forms aside): 'Ganfeng Lithium Co., Ltd.' is
    'Ganfeng Lithium Group' rather than 'Ganfeng Lithium Battery'. The country is in the
    score already."""
    left = str(c.features.get("left", ""))
    return (1 if c.features.get("other_entity") else 0, len(left.split()))


def _siblings(out: list[Candidate]) -> list[Candidate]:
    """``out`` (best first) with the best of the top candidate's siblings put first."""
    if not out or out[0].score < REVIEW:
        return out
    top = out[0]
    sig = (top.features.get("exact"), top.features.get("explained"))
    group = [
        c
        for c in out
        if c.score >= top.score - SIBLING_GAP
        and (c.features.get("exact"), c.features.get("explained")) == sig
    ]
    win = min(group, key=_sibling_key)  # min keeps the best score among equals
    if win is top:
        return out
    demoted = Candidate(
        top.id,
        top.name,
        top.score,
        top.decision,
        {**top.features, "sibling_of": win.id},
        (*top.reasons, f"'{win.name}' ({win.id}) says the same with fewer words of its own"),
    )
    return [win, demoted, *(c for c in out[1:] if c is not win)]


def _reasons(name: str, score: float, f: dict[str, float | str]) -> tuple[str, ...]:
    out = []
    ex = f.get("exact")
    if ex == "identifier":
        out.append(f"same identifier {name}")
    elif ex == "native":
        out.append(f"same name in its own script as '{name}'")
    elif ex == "sound":
        out.append(f"written in Hangul as '{name}' sounds")
    elif ex == "letters":
        out.append(f"same name as '{name}' once legal forms, case and spacing are set aside")
    else:
        out.append(
            f"'{name}': {float(f.get('cover_name', 0)):.0%} of its words found, "
            f"{float(f.get('cover_query', 0)):.0%} of the input's words explained"
        )
    if "extra" in f:
        out.append(f"words not in the candidate: {f['extra']}")
    if "short" in f:
        out.append("short name or initialism: needs more than its letters")
    if "weak" in f:
        out.append("little distinctive evidence")
    if "spelling" in f:
        out.append(f"near spelling ({float(f['spelling']):.0%})")
    if "country" in f:
        c = f["country"]
        out.append("same country" if c == "same" else f"country differs ({c})")
    return tuple(out)


__all__ = [
    "MATCH",
    "REVIEW",
    "Candidate",
    "Entry",
    "Matcher",
    "Name",
    "decide",
    "identifier",
    "normalize",
]
