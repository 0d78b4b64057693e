"""List every miss of the screening benchmark with the features that drove its score.

    PYTHONPATH=src python tools/screen_misses.py [--lists-only] [--kind KIND] [--csv FILE]

A miss is a true pair not linked to its expected id (a false negative: no_match, review or
the wrong id), a hard negative linked to anything (a false positive), or any row left in
review. Each is printed with the decision, the score, the features of the best candidate, the
runners-up with their features and, for a true pair, how the expected id itself scored.
``--lists-only`` screens against the restricted-list entries alone (no store companies), a
cheap check that the matcher does not lean on the size of the reference network.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_screen import pairs, predicted, scores


def _feats(f: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in f.items())


def misses(lists_only: bool = False) -> list[dict[str, Any]]:
    """One dict per missed or reviewed row of the labelled pairs (and the row count)."""
    from onshore.compliance.names import Matcher
    from onshore.compliance.screen import build_index, screen
    from onshore.network import Network

    net = Network.reference()
    df = pairs()
    idx = build_index(net)
    if lists_only:
        idx = Matcher([e for e in idx.entries if e.lists])
        df = df[df["expected"].isin(set(idx.by_id) | {""})].reset_index(drop=True)
        res = []
        for a, b in zip(df["input"], df["country"], strict=True):
            c = idx.candidates(a, b or None, limit=1)
            best = c[0] if c else None
            res.append({"input": a, "country": b or None,
                        "decision": best.decision if best else "no_match",
                        "score": best.score if best else 0.0,
                        "match": best.id if best and best.decision != "no_match" else None,
                        "lists": []})
    else:
        rows = [{"name": a, "country": b} for a, b in zip(df["input"], df["country"],
                                                          strict=True)]
        res = screen(net, rows)
    pred = predicted(res)
    out: list[dict[str, Any]] = []
    sc = scores(df["expected"], pred, [r["decision"] for r in res])
    print(f"{len(df)} rows: precision {sc['precision']:.4f}, recall {sc['recall']:.4f}, "
          f"review share {sc['review_share']:.4f}, {sc['wrong']} wrong links")
    for i, (exp, p, r) in enumerate(zip(df["expected"], pred, res, strict=True)):
        if exp == p and r["decision"] != "review":
            continue
        what = ("review" if r["decision"] == "review" else
                "false positive" if not exp else
                "wrong id" if p else "false negative")
        cands = idx.candidates(r["input"], r["country"], limit=4)
        own = next((c for c in idx.candidates(r["input"], r["country"], limit=50)
                    if c.id == exp), None) if exp else None
        out.append({
            "what": what,
            "kind": df["kind"].iloc[i],
            "input": r["input"],
            "country": r["country"] or "",
            "expected": exp,
            "got": r["match"] or (r["lists"][0]["entry"] if r["lists"] else ""),
            "decision": r["decision"],
            "score": r["score"],
            "candidates": [(c.id, c.score, c.name, _feats(c.features)) for c in cands],
            "expected_scored": (own.score, own.name, _feats(own.features)) if own else None,
        })
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lists-only", action="store_true")
    ap.add_argument("--kind")
    ap.add_argument("--csv")
    a = ap.parse_args(argv)
    rows = misses(a.lists_only)
    if a.kind:
        rows = [r for r in rows if r["kind"] == a.kind]
    for r in rows:
        print(f"[{r['what']}] {r['kind']}: {r['input']!r} ({r['country']}) expected "
              f"{r['expected'] or '-'} got {r['got'] or '-'} {r['decision']} {r['score']}")
        for cid, s, nm, f in r["candidates"]:
            print(f"    {cid:<22} {s:.3f} via {nm!r}: {f}")
        if r["expected"] and not any(c[0] == r["expected"] for c in r["candidates"]):
            e = r["expected_scored"]
            print(f"    expected {r['expected']}: " +
                  (f"{e[0]:.3f} via {e[1]!r}: {e[2]}" if e else "not a candidate"))
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["what"]] = counts.get(r["what"], 0) + 1
    print(f"{len(rows)} rows: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if a.csv:
        import pandas as pd

        pd.DataFrame(rows).to_csv(a.csv, index=False)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # the output piped into head
        sys.exit(0)
