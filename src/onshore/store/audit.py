"""The audit log: an append-only, hash-chained table ``audit`` in the store's DuckDB file.

Every verdict is appended with the rule id and version, the data snapshot hash, the
evaluation date and the inputs. Nothing in onshore updates or deletes a row: the API has
no way to, and :meth:`AuditLog.update` / :meth:`AuditLog.delete` refuse. DuckDB has no
triggers, so an edit made behind onshore's back with SQL cannot be blocked; it is
*detected*: each row stores ``hash = sha256(prev_hash + canonical row)``, and
:meth:`AuditLog.verify` recomputes the chain and names the first row that does not fit
(an edited, deleted or reordered row breaks it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
import pyarrow as pa

from onshore.errors import OnshoreError

GENESIS = "0" * 64
COLUMNS = (
    "seq",
    "recorded_at",
    "rule_id",
    "rule_version",
    "snapshot",
    "evaluated_on",
    "buyer",
    "product",
    "verdict",
    "reason",
    "inputs",
    "prev_hash",
    "hash",
)
DDL = """CREATE TABLE IF NOT EXISTS audit (
  seq BIGINT PRIMARY KEY,
  recorded_at VARCHAR NOT NULL,
  rule_id VARCHAR NOT NULL,
  rule_version BIGINT NOT NULL,
  snapshot VARCHAR NOT NULL,
  evaluated_on VARCHAR NOT NULL,
  buyer VARCHAR NOT NULL,
  product VARCHAR NOT NULL,
  verdict VARCHAR NOT NULL,
  reason VARCHAR NOT NULL,
  inputs VARCHAR NOT NULL,
  prev_hash VARCHAR NOT NULL,
  hash VARCHAR NOT NULL UNIQUE
)"""


class AuditError(OnshoreError):
    """An attempt to change the audit log, or a log whose hash chain is broken."""


_encode = json.JSONEncoder(ensure_ascii=False, sort_keys=True, default=str).encode


def _link(prev: str, values: str) -> str:
    """The chain hash of a row after ``prev``: SHA-256 of ``prev`` and the JSON list of the
    row's values, given as their JSON texts joined by ", " (``json.dumps`` of the list)."""
    return hashlib.sha256(f"{prev}[{values}]".encode()).hexdigest()


def _digest(prev: str, row: Mapping[str, Any]) -> str:
    return _link(prev, ", ".join(_encode(row[c]) for c in COLUMNS[:-2]))


class AuditLog:
    """Append-only audit rows in a DuckDB connection (``store.con``)."""

    def __init__(self, con: Any) -> None:
        self.con = con
        self.con.execute(DDL)

    def append(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Append verdict rows (keys: rule_id, rule_version, snapshot, evaluated_on, buyer,
        product, verdict, reason, inputs) in their own transaction; returns how many were
        written."""
        rows = list(rows)
        if not rows:
            return 0
        self.con.execute("BEGIN TRANSACTION")
        try:
            n = self.insert(rows)
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        return n

    def insert(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Append verdict rows inside the caller's open transaction (a store write that
        records what it did in the same transaction); returns how many were written."""
        rows = list(rows)
        if not rows:
            return 0
        # The same verdict rows are often appended again and again (a server answering the
        # same check from its cache): each distinct source row is encoded once per call, and
        # only seq, time and chain are added per row.
        enc = _encode
        static: dict[int, tuple[list[Any], str]] = {}
        for r in rows:
            if id(r) not in static:
                values = [
                    str(r["rule_id"]),
                    int(r["rule_version"]),
                    str(r.get("snapshot") or ""),
                    str(r["evaluated_on"]),
                    str(r["buyer"]),
                    str(r["product"]),
                    str(r["verdict"]),
                    str(r["reason"]),
                    enc(r.get("inputs", {})),
                ]
                static[id(r)] = values, ", ".join(enc(v) for v in values)
        last = self.con.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchall()
        seq, prev = (int(last[0][0]), str(last[0][1])) if last else (0, GENESIS)
        now = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
        now_json = enc(now)
        cols: list[list[Any]] = [[] for _ in COLUMNS]
        for r in rows:
            seq += 1
            values, tail = static[id(r)]
            digest = _link(prev, f"{seq}, {now_json}, {tail}")
            for col, v in zip(cols, [seq, now, *values, prev, digest], strict=True):
                col.append(v)
            prev = digest
        table = pa.table(
            dict(zip(COLUMNS, cols, strict=True)),
            schema=pa.schema(
                [(c, pa.int64() if c in ("seq", "rule_version") else pa.string())
                 for c in COLUMNS]
            ),
        )
        self.con.register("_audit_in", table)
        self.con.execute(f"INSERT INTO audit SELECT {', '.join(COLUMNS)} FROM _audit_in")
        self.con.unregister("_audit_in")
        return len(rows)

    def rows(self, rule_id: str | None = None, product: str | None = None) -> pd.DataFrame:
        """The log in order, optionally for one rule or product."""
        sql = "SELECT * FROM audit WHERE 1=1"
        args: list[str] = []
        if rule_id is not None:
            sql, args = sql + " AND rule_id = ?", [*args, rule_id]
        if product is not None:
            sql, args = sql + " AND product = ?", [*args, product]
        df: pd.DataFrame = self.con.execute(sql + " ORDER BY seq", args).df()
        return df

    def last(self, n: int = 1) -> dict[str, Any] | None:
        """The last ``n`` entries as one reference: ``first`` and ``last`` seq, ``count`` and
        the last entry's ``hash`` (what a report of the verdicts just appended cites), or None
        when the log is empty."""
        rows = self.con.execute(
            "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT ?", [max(1, int(n))]
        ).fetchall()
        if not rows:
            return None
        return {
            "first": int(rows[-1][0]),
            "last": int(rows[0][0]),
            "count": len(rows),
            "hash": str(rows[0][1]),
        }

    def __len__(self) -> int:
        return int(self.con.execute("SELECT count(*) FROM audit").fetchall()[0][0])

    def head(self) -> str:
        """The chain's head as ``SEQ:HASH`` (``0:000...`` for an empty log): kept outside the
        store, it lets :meth:`verify` detect the newest rows cut off, which the chain alone
        cannot (a log truncated at any row is still a valid chain)."""
        row = self.con.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchall()
        return f"{int(row[0][0])}:{row[0][1]}" if row else f"0:{GENESIS}"

    def verify(self, head: str | None = None) -> list[str]:
        """Recompute the hash chain; return the problems found (empty when intact).

        Parameters
        ----------
        head : str, optional
            A head printed earlier by :meth:`head` (``SEQ:HASH``, or the hash alone): the row
            it names must still be in the log with that hash.
        """
        problems = self._chain()
        if head is None:
            return problems
        seq_s, _, want = head.strip().rpartition(":")
        if not seq_s:
            hit = self.con.execute("SELECT seq FROM audit WHERE hash = ?", [want]).fetchall()
            if not hit and want != GENESIS:
                problems.append(
                    f"the anchored head {want[:12]}... is not in the log (its last row is "
                    f"{self.head().split(':')[0]}):"
                    " rows were removed or the log was replaced"
                )
            return problems
        try:
            seq = int(seq_s)
        except ValueError:
            raise AuditError(f"a head as SEQ:HASH (from 'onshore audit head'), not {head!r}")
        row = self.con.execute("SELECT hash FROM audit WHERE seq = ?", [seq]).fetchall()
        last = int(self.head().split(":")[0])
        if seq and not row:
            problems.append(
                f"row {seq}: the anchored head is missing; the log ends at row {last} "
                f"(the newest {seq - last} row(s) were removed)"
            )
        elif seq and row[0][0] != want:
            problems.append(
                f"row {seq}: its hash differs from the anchored head (the row or an "
                "earlier one was replaced)"
            )
        return problems

    def _chain(self) -> list[str]:
        problems: list[str] = []
        prev, expect = GENESIS, 1
        for r in self.con.execute(
            f"SELECT {', '.join(COLUMNS)} FROM audit ORDER BY seq"
        ).fetchall():
            row = dict(zip(COLUMNS, r, strict=True))
            if row["seq"] != expect:
                problems.append(f"row {expect}: missing (deleted); next row is {row['seq']}")
            if row["prev_hash"] != prev:
                problems.append(
                    f"row {row['seq']}: does not follow the previous row (a row was deleted or "
                    "edited)"
                )
            if _digest(row["prev_hash"], row) != row["hash"]:
                problems.append(f"row {row['seq']}: its content does not match its hash (edited)")
            prev, expect = row["hash"], int(row["seq"]) + 1
        return problems

    def update(self, *args: object, **kwargs: object) -> None:
        """Refused: the audit log is append-only."""
        raise AuditError("the audit log is append-only: rows are never updated")

    def delete(self, *args: object, **kwargs: object) -> None:
        """Refused: the audit log is append-only."""
        raise AuditError("the audit log is append-only: rows are never deleted")


__all__ = ["AuditError", "AuditLog"]
