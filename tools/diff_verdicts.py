"""Worst verdict per product, before and after: compares two golden fixtures.

    python tools/diff_verdicts.py OLD.json.gz tests/golden/reference.json.gz
"""

from __future__ import annotations

import gzip
import json
import sys
from collections import Counter

ORDER = {"PROHIBITED": 4, "UNKNOWN": 3, "ALLOWED": 2, "INFO": 1, "N/A": 0}


def worst(rows: list[dict]) -> str:
    vs = [str(r.get("outcome") or r.get("verdict") or "N/A") for r in rows]
    return max(vs, key=lambda v: ORDER.get(v, -1)) if vs else "N/A"


def main(old_path: str, new_path: str) -> None:
    old = json.load(gzip.open(old_path))
    new = json.load(gzip.open(new_path))
    for key in sorted(k for k in new if k.startswith("check_all:")):
        a, b = old.get(key, {}), new[key]
        moves: Counter[tuple[str, str]] = Counter()
        for p in sorted(set(a) | set(b)):
            wa = worst(a[p]) if p in a else "(absent)"
            wb = worst(b[p]) if p in b else "(absent)"
            moves[(wa, wb)] += 1
        print(key)
        for (wa, wb), n in sorted(moves.items()):
            mark = "" if wa == wb else "  <- changed"
            print(f"  {wa:>10} -> {wb:<10} {n:4d}{mark}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
