"""Screening: map entity names in rules (with aliases and native-script names) to company ids.

An exact match compares normalised names (case, width, punctuation and legal-form words
such as "Co., Ltd." removed) of the entity and its aliases with each company's name,
aliases and id. A *possible* match is a near spelling (rapidfuzz ratio >= ``cutoff``); the
checks turn possible matches into UNKNOWN, never into a verdict.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from onshore.network import Network

_LEGAL = re.compile(
    r"\b(co|company|ltd|limited|inc|incorporated|corp|corporation|plc|llc|gmbh|ag|sa|ab|nv|bv|kk|"
    r"group|holdings?|joint stock|jsc)\b"
)
_CJK_LEGAL = re.compile(r"(股份有限公司|有限责任公司|有限公司|集团)$")


def normalize(name: str) -> str:
    """A comparable form of a company name: 'Gotion High-tech Co., Ltd.' -> 'gotion high tech'."""
    s = unicodedata.normalize("NFKC", name).lower().strip()
    s = _CJK_LEGAL.sub("", s)
    s = re.sub(r"[^\w\s]", " ", s)
    s = _LEGAL.sub(" ", s)
    return re.sub(r"\s+", " ", s).strip()


@dataclass(frozen=True)
class Match:
    """The companies an entity name resolves to."""

    exact: tuple[str, ...]
    possible: tuple[tuple[str, str, float], ...]
    """(company id, the name that matched, score) for near spellings."""


def _index(network: Network) -> dict[str, set[str]]:
    return network.cached(("compliance.names.index",), lambda: _build_index(network))


def _build_index(network: Network) -> dict[str, set[str]]:
    idx: dict[str, set[str]] = {}
    c = network.companies
    for cid, name, aliases in zip(
        c["id"].astype(str), c["name"].astype(str), c["aliases"], strict=True
    ):
        names = [cid, name]
        if isinstance(aliases, str):
            names += aliases.split(";")
        elif aliases is not None and not isinstance(aliases, float):
            names += list(aliases)
        for n in names:
            k = normalize(str(n))
            if k:
                idx.setdefault(k, set()).add(cid)
    return idx


def match(
    network: Network, names: Iterable[str], company: str | None = None, cutoff: float = 90.0
) -> Match:
    """Resolve an entity (its names, and its company id when known) to company ids.

    Parameters
    ----------
    names : iterable of str
        The entity's name and aliases.
    company : str, optional
        A company id given by the rule; used when it is in the store.
    cutoff : float
        Minimum rapidfuzz ratio (0-100) for a possible match.
    """
    idx = _index(network)
    exact: set[str] = set()
    if company is not None and company in set(network.companies["id"].astype(str)):
        exact.add(company)
    keys = [k for k in (normalize(n) for n in names) if k]
    for k in keys:
        exact |= idx.get(k, set())
    possible: dict[str, tuple[str, str, float]] = {}
    choices = list(idx)
    for k in keys:
        if len(k) < 4:
            continue
        for name, score, _ in process.extract(
            k, choices, scorer=fuzz.ratio, score_cutoff=cutoff, limit=5
        ):
            for cid in idx[name]:
                if cid not in exact and cid not in possible:
                    possible[cid] = (cid, name, float(score))
    return Match(tuple(sorted(exact)), tuple(possible.values()))


__all__ = ["Match", "match", "normalize"]
