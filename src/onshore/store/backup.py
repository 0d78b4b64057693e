"""Backup and restore of a store: every table, the review queue and the audit log, with a
manifest of checksums.

A backup is a folder: one Parquet file per table (the network's tables, ``audit``,
``reviews``) and ``manifest.json`` holding the sha256 of each file, the rows of each table,
the snapshot hash of the network's tables, the audit log's head (last row and its hash) and
when the backup was taken. :func:`restore` checks every checksum and the audit chain of the
backup, builds the restored store in a new file beside the target, checks that it holds
what the manifest says, and only then puts it in the target's place (one rename): a
restore that fails or is killed leaves the target as it was.

A store is *newer* than a backup when its audit log has rows the backup has not (or
another chain), its review queue has more rows, or its network was changed after the backup
was taken; :func:`restore` refuses to replace a newer store unless ``force``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from onshore.errors import StoreError
from onshore.records.model import TABLES
from onshore.store.audit import GENESIS, AuditLog
from onshore.store.duckdb import SCHEMA_VERSION, DuckDBStore
from onshore.store.reviews import ReviewQueue

MANIFEST = "manifest.json"
LOGS = ("audit", "reviews")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def head(store: DuckDBStore) -> dict[str, Any]:
    """The audit log's head: the last row's ``seq`` and ``hash`` (0 and the genesis hash for
    an empty log)."""
    AuditLog(store.con)
    row = store.con.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchall()
    return {"seq": int(row[0][0]), "hash": str(row[0][1])} if row else {"seq": 0, "hash": GENESIS}


def changed_at(store: DuckDBStore) -> str | None:
    """When the store's network was last written (UTC, ISO), if it says."""
    row = store.con.execute("SELECT value FROM onshore_meta WHERE key = 'changed_at'").fetchall()
    return str(row[0][0]) if row else None


def _order(table: str) -> str:
    if table in LOGS:
        return "seq"
    return ", ".join(f'"{k}" NULLS FIRST' for k in TABLES[table].key)


def backup(store: DuckDBStore, folder: str | Path) -> dict[str, Any]:
    """Write a backup of ``store`` into ``folder`` (created; must be empty or absent).

    Returns
    -------
    dict
        The manifest written.
    """
    out = Path(folder)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise StoreError(f"{out}: a backup goes into a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    AuditLog(store.con), ReviewQueue(store.con)
    files: dict[str, dict[str, Any]] = {}
    for table in (*TABLES, *LOGS):
        path = out / f"{table}.parquet"
        arrow = store.con.sql(f"SELECT * FROM {table} ORDER BY {_order(table)}").to_arrow_table()
        pq.write_table(arrow, path)
        files[table] = {"file": path.name, "rows": arrow.num_rows, "sha256": sha256(path)}
    manifest = {
        "onshore_backup": 1,
        "schema_version": SCHEMA_VERSION,
        "taken_at": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
        "store": store.path,
        "changed_at": changed_at(store),
        "snapshot": store.snapshot_hash(fresh=True),  # from the rows the backup copies
        "audit_head": head(store),
        "tables": files,
    }
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out / MANIFEST)
    return manifest


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The manifest of a backup, every file checked against its checksum."""
    src = Path(folder)
    path = src / MANIFEST
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError(f"{src}: not a backup (no {MANIFEST})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise StoreError(f"{path}: cannot read the manifest ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("onshore_backup") != 1:
        raise StoreError(f"{path}: not an onshore backup manifest")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise StoreError(
            f"{path}: a backup of store schema {manifest.get('schema_version')}; this onshore "
            f"reads {SCHEMA_VERSION}"
        )
    for table in (*TABLES, *LOGS):
        entry = manifest.get("tables", {}).get(table)
        if entry is None:
            raise StoreError(f"{path}: tables.{table}: missing")
        f = src / entry["file"]
        if not f.exists():
            raise StoreError(f"{f}: missing from the backup")
        if sha256(f) != entry["sha256"]:
            raise StoreError(
                f"{f}: its checksum does not match the manifest (the file was changed or "
                "damaged)"
            )
    return manifest


def is_newer(store: DuckDBStore, manifest: dict[str, Any]) -> str | None:
    """Why ``store`` is newer than the backup, or None when it is not."""
    mine, theirs = head(store), manifest["audit_head"]
    if mine["seq"] > theirs["seq"]:
        return f"its audit log has {mine['seq']} rows, the backup's {theirs['seq']}"
    if mine["seq"] == theirs["seq"] and mine["hash"] != theirs["hash"]:
        return "its audit log is another chain than the backup's"
    reviews = int(store.con.execute("SELECT count(*) FROM reviews").fetchall()[0][0])
    if reviews > manifest["tables"]["reviews"]["rows"]:
        theirs_n = manifest["tables"]["reviews"]["rows"]
        return f"its review queue has {reviews} rows, the backup's {theirs_n}"
    changed, taken = changed_at(store), manifest.get("changed_at")
    later = changed is not None and (taken is None or changed > taken)
    if later and store.snapshot_hash() != manifest["snapshot"]:
        return f"its tables were changed at {changed}, after the backup's state ({taken})"
    return None


def restore(folder: str | Path, target: str | Path, force: bool = False) -> dict[str, Any]:
    """Restore the backup in ``folder`` into the store file ``target``.

    Raises
    ------
    StoreError
        A checksum that does not match, a broken audit chain in the backup, a target that is
        newer than the backup (without ``force``) or in use by another process.
    """
    src, dst = Path(folder), Path(target)
    manifest = read_manifest(src)
    if dst.exists():
        with DuckDBStore(dst, create=False) as current:
            AuditLog(current.con), ReviewQueue(current.con)
            why = is_newer(current, manifest)
        if why and not force:
            raise StoreError(
                f"the store {dst} is newer than the backup ({why}); give --force to replace it"
            )
    tmp = dst.with_name(dst.name + ".restoring")
    for p in (tmp, Path(str(tmp) + ".wal")):
        p.unlink(missing_ok=True)
    try:
        with DuckDBStore(tmp) as new:
            AuditLog(new.con), ReviewQueue(new.con)
            new.con.execute("BEGIN TRANSACTION")
            for table in (*TABLES, *LOGS):
                f = src / manifest["tables"][table]["file"]
                new.con.execute(f"INSERT INTO {table} SELECT * FROM read_parquet(?)", [str(f)])
            if manifest.get("changed_at"):
                new.con.execute(
                    "INSERT OR REPLACE INTO onshore_meta VALUES ('changed_at', ?)",
                    [manifest["changed_at"]],
                )
            new.con.execute("COMMIT")
            problems = AuditLog(new.con).verify()
            if problems:
                raise StoreError(f"{src}: the backup's audit log is broken: {problems[0]}")
            if new.snapshot_hash() != manifest["snapshot"] or head(new) != manifest["audit_head"]:
                raise StoreError(f"{src}: the restored store does not match the manifest")
            new.con.execute("CHECKPOINT")
        os.replace(tmp, dst)
        Path(str(dst) + ".wal").unlink(missing_ok=True)
    finally:
        for p in (tmp, Path(str(tmp) + ".wal")):
            p.unlink(missing_ok=True)
    return manifest


__all__ = ["backup", "head", "read_manifest", "restore"]
