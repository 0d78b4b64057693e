"""API keys and the write log of the server, in the store's DuckDB file.

A key is shown once when created; the store keeps only its SHA-256 hash, its name and its
role (``read``, ``write`` or ``admin``). The write log ``api_writes`` is append-only: every
write through the server (import, screen, review decision, key change) is recorded with the
key's name.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from typing import Any

import pandas as pd

from onshore.errors import InputError

ROLES = ("read", "write", "admin")
RANK = {r: i for i, r in enumerate(ROLES)}
PREFIX = "onk_"

KEYS_DDL = """CREATE TABLE IF NOT EXISTS api_keys (
  name VARCHAR PRIMARY KEY,
  role VARCHAR NOT NULL,
  hash VARCHAR NOT NULL UNIQUE,
  created_at VARCHAR NOT NULL,
  revoked_at VARCHAR
)"""
WRITES_DDL = """CREATE TABLE IF NOT EXISTS api_writes (
  seq BIGINT PRIMARY KEY,
  "at" VARCHAR NOT NULL,
  key_name VARCHAR NOT NULL,
  action VARCHAR NOT NULL,
  detail VARCHAR NOT NULL
)"""


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class ApiKeys:
    """The ``api_keys`` table of a store connection (``store.con``)."""

    def __init__(self, con: Any) -> None:
        self.con = con
        self.con.execute(KEYS_DDL)
        self.con.execute(WRITES_DDL)

    def create(self, name: str, role: str) -> str:
        """Create a key; returns the secret (shown once, stored only as a hash).

        Raises
        ------
        InputError
            An unknown role, an empty name or a name already in use.
        """
        name = name.strip()
        if role not in ROLES:
            raise InputError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        if not name or len(name) > 64 or not all(c.isalnum() or c in "-_." for c in name):
            raise InputError(f"a key name of 1-64 letters, digits, '-', '_' or '.', not {name!r}")
        if self.con.execute("SELECT 1 FROM api_keys WHERE name = ?", [name]).fetchall():
            raise InputError(f"a key named {name!r} exists already")
        secret = PREFIX + secrets.token_urlsafe(32)
        self.con.execute(
            "INSERT INTO api_keys VALUES (?, ?, ?, ?, NULL)", [name, role, _hash(secret), _now()]
        )
        return secret

    def revoke(self, name: str) -> bool:
        """Revoke a key by name; returns whether a live key was revoked."""
        n = self.con.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL "
            "RETURNING name",
            [_now(), name],
        ).fetchall()
        return bool(n)

    def lookup(self, secret: str) -> tuple[str, str] | None:
        """(name, role) of a live key, or None."""
        rows = self.con.execute(
            "SELECT name, role FROM api_keys WHERE hash = ? AND revoked_at IS NULL",
            [_hash(secret)],
        ).fetchall()
        return (str(rows[0][0]), str(rows[0][1])) if rows else None

    def rows(self) -> pd.DataFrame:
        """Every key without its hash."""
        df: pd.DataFrame = self.con.execute(
            "SELECT name, role, created_at, revoked_at FROM api_keys ORDER BY name"
        ).df()
        return df

    def __len__(self) -> int:
        return int(
            self.con.execute(
                "SELECT count(*) FROM api_keys WHERE revoked_at IS NULL"
            ).fetchall()[0][0]
        )

    # the write log --------------------------------------------------------------------
    def log_write(self, key_name: str, action: str, detail: dict[str, Any]) -> int:
        """Append one write to ``api_writes``; returns its sequence number."""
        last = self.con.execute("SELECT coalesce(max(seq), 0) FROM api_writes").fetchall()
        seq = int(last[0][0]) + 1
        self.con.execute(
            "INSERT INTO api_writes VALUES (?, ?, ?, ?, ?)",
            [seq, _now(), key_name, action, json.dumps(detail, default=str, sort_keys=True)],
        )
        return seq

    def writes(self, offset: int = 0, limit: int = 50) -> tuple[int, pd.DataFrame]:
        """(total, one page of the write log, newest first)."""
        total = int(self.con.execute("SELECT count(*) FROM api_writes").fetchall()[0][0])
        df: pd.DataFrame = self.con.execute(
            "SELECT * FROM api_writes ORDER BY seq DESC LIMIT ? OFFSET ?", [limit, offset]
        ).df()
        return total, df
