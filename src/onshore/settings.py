"""Settings, read from ONSHORE_* environment variables when asked for (never at import)."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DB = "onshore.duckdb"


def db_path(explicit: str | Path | None = None) -> Path:
    """The store file: the explicit path, else $ONSHORE_DB, else ./onshore.duckdb."""
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("ONSHORE_DB") or DEFAULT_DB)
