"""Derived arrays kept next to the store (the trace graph and its solve plans, the name index),
so a fresh process reuses them.

A :class:`PlanCache` is a folder beside the DuckDB file (``<store>.plans/``) holding one file per
entry: named arrays (numbers only) behind a small JSON header, each array at a 64-byte aligned
offset. Files are mapped into memory (``mmap``, copy-on-write), so loading copies nothing: the
arrays are views of the page cache, shared by every process that maps the same file. That is
why a file and not a DuckDB blob table: a blob comes back as a Python ``bytes`` copy (about
300 MB for the two plans of a million-node network) and needs a connection to the store, which
one process may hold for writing while others trace.

Each entry is named by a key the caller derives from everything the arrays depend on (the
trace: a digest of ``A``, the stage rank and the solver's constants; the company name index: a
digest of its entries and of the code and tables that normalise names,
:func:`onshore.compliance.names.index_digest`; the trace graph: a digest of the values of
the tables it is made from, :func:`onshore.trace.graph.kept_key`), not by the snapshot of
the store: an import that leaves ``A`` as it was (new companies, a changed ownership stake)
keeps using the plans, and two processes on different snapshots of the same folder share what
they have in common instead of removing each other's entries. The snapshot that wrote an entry
is recorded in its header, for information only. A CRC-32 of the data is checked on every
load; a file that is missing, cut short, of another format or key, or whose checksum differs
is not used (``load`` returns ``None`` and the caller computes afresh). A file is written
under a temporary name and renamed into place (``os.replace``, atomic on POSIX), so a crash
mid-write leaves no partial file under an entry's name (and one torn by a power cut fails its
checksum). Writing an entry bounds the folder, least recently used first (a load marks an
entry used): at most ``keep`` entries and ``keep_bytes`` bytes, the entry just written kept.
"""

from __future__ import annotations

import json
import mmap
import os
import re
import secrets
import time
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

import numpy as np

MAGIC = b"ONSHARR\x00"
"""The first eight bytes of an entry file."""
FORMAT = 1
"""The file layout's version; files of another version are not read."""
ALIGN = 64
"""Every array starts at a multiple of this many bytes."""
KEEP = 16
"""Entries kept (plans of several periods and graphs, and of recent snapshots)."""
KEEP_BYTES = 4 << 30
"""Bytes of entries kept (4 GiB: the plans and raw content of a 1 M-facility network are
about 0.4 GiB a version)."""
TEMP_AGE = 3600.0
"""Seconds after which a leftover temporary file (a writer that crashed) is removed."""
_DTYPES = frozenset({"<f8", "<f4", "<i8", "<i4", "<i2", "|i1", "|u1", "|b1"})
_KEY = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


class PlanCache:
    """Named numeric arrays kept in files under ``folder``, one file per key.

    Parameters
    ----------
    folder : Path
        Where the entry files live (created on the first save).
    snapshot : str
        The snapshot hash of the store the cache is opened for
        (:meth:`~onshore.store.duckdb.DuckDBStore.snapshot_hash`); recorded in the entries
        this cache writes, not part of their names.
    keep : int
        Entries kept; the least recently used beyond it are removed on save.
    keep_bytes : int
        Bytes of entries kept, likewise.
    """

    def __init__(
        self, folder: str | Path, snapshot: str = "", keep: int = KEEP, keep_bytes: int = KEEP_BYTES
    ) -> None:
        self.folder = Path(folder)
        self.snapshot = str(snapshot)
        self.keep = int(keep)
        self.keep_bytes = int(keep_bytes)

    def path(self, key: str) -> Path:
        """The file of an entry.

        Parameters
        ----------
        key : str
            Letters, digits, ``-`` and ``_`` (at most 128).

        Returns
        -------
        Path
            ``folder / "<key>.plan"``.

        Raises
        ------
        ValueError
            When the key has other characters.
        """
        if not _KEY.match(key):
            raise ValueError(f"a cache key is letters, digits, - and _: {key!r}")
        return self.folder / f"{key}.plan"

    # reading -------------------------------------------------------------------------
    def load(self, key: str) -> dict[str, np.ndarray] | None:
        """The arrays of an entry, mapped read-only; ``None`` when missing or not intact.

        Parameters
        ----------
        key : str

        Returns
        -------
        dict of str to ndarray, or None
            Arrays backed by the mapped file (copy-on-write, flagged read-only); ``None``
            when there is no such file, it is of another format or key, cut short, or its
            checksum differs.
        """
        path = self.path(key)
        try:
            with path.open("rb") as f:
                # copy-on-write: pages are shared with the page cache until written; a
                # library that writes into an input in place (LAPACK's getrs shifts its
                # pivots and back) gets a private page, never a fault, and the file is kept
                mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
        except (OSError, ValueError):  # missing, unreadable, or empty (mmap of 0 bytes)
            return None
        try:
            out = self._parse(mm, key)
        except (ValueError, KeyError, TypeError, IndexError, json.JSONDecodeError):
            out = None
        if out is None:
            mm.close()
            return None
        try:  # last use, for the bound on entries kept
            os.utime(path)
        except OSError:
            pass
        return out

    def _parse(self, mm: mmap.mmap, key: str) -> dict[str, np.ndarray] | None:
        size = len(mm)
        if size < 16 or mm[:8] != MAGIC:
            return None
        hlen = int.from_bytes(mm[8:16], "little")
        if hlen <= 0 or 16 + hlen > size:
            return None
        head = json.loads(bytes(mm[16 : 16 + hlen]).decode("utf-8"))
        if head.get("format") != FORMAT or head.get("key") != key:
            return None
        start, length = int(head["data_start"]), int(head["data_len"])
        if start < 16 + hlen or start + length != size:
            return None
        view = memoryview(mm)
        try:
            crc = zlib.crc32(view[start : start + length])
        finally:
            view.release()
        if crc != int(head["crc32"]):
            return None
        out: dict[str, np.ndarray] = {}
        for name, dt, shape, offset in head["arrays"]:
            if dt not in _DTYPES:
                return None
            dtype = np.dtype(dt)
            shape = tuple(int(s) for s in shape)
            count = int(np.prod(shape, dtype=np.int64))
            at = start + int(offset)
            if at < start or at + count * dtype.itemsize > size:
                return None
            arr = np.frombuffer(mm, dtype=dtype, count=count, offset=at).reshape(shape)
            arr.flags.writeable = False  # kept data: numpy code may not change it
            out[str(name)] = arr
        return out

    # writing -------------------------------------------------------------------------
    def save(self, key: str, arrays: Mapping[str, np.ndarray]) -> Path | None:
        """Write an entry atomically; the arrays are numbers (no objects).

        The file is written under a temporary name and renamed into place, then the folder is
        bounded by ``keep`` entries and ``keep_bytes`` bytes, least recently used first. It is not
        forced to disk (``fsync``): a process killed mid-write never renames its file, and a
        file torn by a power cut fails its size or checksum test and is computed again. A
        cache that cannot be written (read-only folder, disk full) is skipped.

        Parameters
        ----------
        key : str
        arrays : mapping of str to ndarray
            Numeric or boolean arrays of any shape.

        Returns
        -------
        Path or None
            The entry's file, or ``None`` when it could not be written.

        Raises
        ------
        ValueError
            When an array is not numeric or boolean.
        """
        path = self.path(key)
        parts: list[tuple[str, np.ndarray]] = []
        specs: list[list[object]] = []
        offset = 0
        crc = 0
        for name, a in arrays.items():
            arr = np.ascontiguousarray(a)
            if arr.dtype.byteorder == ">":
                arr = arr.astype(arr.dtype.newbyteorder("<"))
            if arr.dtype.str not in _DTYPES:
                raise ValueError(f"array {name!r} of {arr.dtype} cannot be kept (numbers only)")
            pad = -offset % ALIGN
            if pad:
                crc = zlib.crc32(bytes(pad), crc)
                offset += pad
            specs.append([str(name), arr.dtype.str, list(arr.shape), offset])
            parts.append((str(name), arr))
            crc = zlib.crc32(_bytes(arr).data, crc)
            offset += arr.nbytes
        head = {
            "format": FORMAT,
            "snapshot": self.snapshot,
            "key": key,
            "arrays": specs,
            "data_len": offset,
            "crc32": crc,
        }
        # data_start depends on the header's length, which depends on data_start: fix a width
        head["data_start"] = 0
        probe = len(json.dumps(head).encode()) + 32
        start = 16 + probe + (-(16 + probe) % ALIGN)
        head["data_start"] = start
        text = json.dumps(head).encode().ljust(start - 16, b" ")
        tmp = self.folder / f".tmp-{key}-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with tmp.open("wb") as f:
                f.write(MAGIC + len(text).to_bytes(8, "little") + text)
                at = 0
                for (_, arr), spec in zip(parts, specs, strict=True):
                    off = int(spec[3])  # type: ignore[call-overload]
                    if off > at:
                        f.write(bytes(off - at))
                    _write(f, arr)
                    at = off + arr.nbytes
            os.replace(tmp, path)  # no fsync: a file torn by a power cut fails its checksum
        except OSError:
            tmp.unlink(missing_ok=True)
            return None
        self._evict(path)
        return path

    def _evict(self, written: Path) -> None:
        """Bound the entries by count and bytes (least recently used first, ``written`` kept);
        remove old temporary files."""
        try:
            files = list(self.folder.iterdir())
        except OSError:
            return
        now = time.time()
        others: list[tuple[float, int, Path]] = []
        total = 0
        for p in files:
            try:
                if p.name.startswith(".tmp-"):
                    if now - p.stat().st_mtime > TEMP_AGE:
                        p.unlink(missing_ok=True)
                elif p.suffix == ".plan":
                    st = p.stat()
                    total += st.st_size
                    if p != written:
                        others.append((st.st_mtime, st.st_size, p))
            except OSError:
                continue
        others.sort(key=lambda e: (e[0], e[2].name), reverse=True)  # most recent first
        count = 1 + len(others)
        while others and (count > self.keep or total > self.keep_bytes):
            _, size, p = others.pop()
            try:
                p.unlink(missing_ok=True)
            except OSError:
                continue
            count -= 1
            total -= size

    def entries(self) -> list[Path]:
        """The entry files in the folder, sorted by name.

        Returns
        -------
        list of Path
        """
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if p.suffix == ".plan")


def _bytes(arr: np.ndarray) -> np.ndarray:
    """The bytes of a C-contiguous array, as a flat ``uint8`` view (no copy)."""
    return arr.reshape(-1).view(np.uint8)


def _write(f: BinaryIO, arr: np.ndarray) -> None:
    """Write a C-contiguous array's bytes in pieces of at most 256 MiB (no whole copy)."""
    flat = _bytes(arr)
    step = 1 << 28
    f.writelines(flat[a : a + step].data for a in range(0, len(flat), step))
