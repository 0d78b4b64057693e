"""The review queue of name pairs: table ``reviews`` in the store's DuckDB file.

A screen adds the pairs it could not decide (``pending``); a reviewer judges a pair
``same``, ``different`` or ``unsure``, with who and when. Rows are only appended, never
changed: the latest judgement of a (key, candidate) pair is the one that applies, on every
later screen, import and check. Each judgement is also written to the audit log
(:mod:`onshore.store.audit`, rule id ``screen-review``). Re-importing tables leaves the
queue alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from onshore.errors import OnshoreError
from onshore.store.audit import AuditLog

DECISIONS = ("same", "different", "unsure")
COLUMNS = ("seq", "key", "input", "candidate", "name", "score", "decision", "by", "at")
DDL = """CREATE TABLE IF NOT EXISTS reviews (
  seq BIGINT PRIMARY KEY,
  key VARCHAR NOT NULL,
  input VARCHAR NOT NULL,
  candidate VARCHAR NOT NULL,
  name VARCHAR,
  score DOUBLE,
  decision VARCHAR NOT NULL,
  "by" VARCHAR NOT NULL,
  "at" VARCHAR NOT NULL
)"""


class ReviewQueue:
    """Pairs to review and the judgements made, in a DuckDB connection (``store.con``)."""

    def __init__(self, con: Any) -> None:
        self.con = con
        self.con.execute(DDL)

    def rows(self) -> pd.DataFrame:
        """Every row, in order."""
        df: pd.DataFrame = self.con.execute("SELECT * FROM reviews ORDER BY seq").df()
        return df

    def latest(self) -> pd.DataFrame:
        """The latest row of every (key, candidate) pair."""
        df = self.rows()
        if not len(df):
            return df
        return df.sort_values("seq").groupby(["key", "candidate"]).tail(1).sort_values("seq")

    def pending(self) -> pd.DataFrame:
        """Pairs whose latest row is ``pending`` or ``unsure``."""
        df = self.latest()
        return df[df["decision"].isin(["pending", "unsure"])] if len(df) else df

    def _append(self, rows: list[dict[str, Any]]) -> None:
        last = self.con.execute("SELECT coalesce(max(seq), 0) FROM reviews").fetchall()[0][0]
        cols = ", ".join(f'"{c}"' for c in COLUMNS)
        for k, r in enumerate(rows, start=int(last) + 1):
            self.con.execute(
                f"INSERT INTO reviews ({cols}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [k, *(r.get(c) for c in COLUMNS[1:])],
            )

    def add(self, pairs: Iterable[Mapping[str, Any]]) -> int:
        """Queue pairs (key, input, candidate, name, score) not yet in the queue.

        Parameters
        ----------
        pairs : iterable of mappings
            From :func:`onshore.compliance.screen.pending_pairs`.

        Returns
        -------
        int
            How many were new.
        """
        have = self.latest()
        known = set(zip(have["key"], have["candidate"], strict=True)) if len(have) else set()
        now = _now()
        new = []
        for p in pairs:
            if (p["key"], p["candidate"]) in known:
                continue
            known.add((p["key"], p["candidate"]))
            new.append({**p, "decision": "pending", "by": "screen", "at": now})
        self._append(new)
        return len(new)

    def decide(
        self, key: str, candidate: str, decision: str, by: str, at: dt.datetime | None = None
    ) -> dict[str, Any]:
        """Record a judgement of one pair (and audit it).

        Parameters
        ----------
        key : str
            The pair's input key (:func:`onshore.compliance.screen.query_key`).
        candidate : str
            The company or list-entry id.
        decision : {'same', 'different', 'unsure'}
        by : str
            Who decided.
        at : datetime, optional
            When (default: now, UTC).

        Returns
        -------
        dict
            The row written.
        """
        if decision not in DECISIONS:
            raise OnshoreError(f"decision must be one of {', '.join(DECISIONS)}, not {decision!r}")
        if not by.strip():
            raise OnshoreError("say who decides (--by NAME)")
        have = self.latest()
        prev = have[(have["key"] == key) & (have["candidate"] == candidate)] if len(have) else have
        base = prev.iloc[-1].to_dict() if len(prev) else {"input": key, "name": None, "score": None}
        when = (at or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
        row = {
            "key": key,
            "input": base["input"],
            "candidate": candidate,
            "name": base.get("name"),
            "score": base.get("score"),
            "decision": decision,
            "by": by,
            "at": when,
        }
        self._append([row])
        AuditLog(self.con).append(
            [
                {
                    "rule_id": "screen-review",
                    "rule_version": 1,
                    "snapshot": "",
                    "evaluated_on": when[:10],
                    "buyer": by,
                    "product": f"{row['input']} -> {candidate}",
                    "verdict": decision,
                    "reason": f"reviewer judged '{row['input']}' and {candidate} {decision}",
                    "inputs": {"key": key, "score": row["score"]},
                }
            ]
        )
        return row


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


__all__ = ["DECISIONS", "ReviewQueue"]
