"""The store: where a supply network lives between runs (one DuckDB file by default)."""

from onshore.store.base import Store
from onshore.store.duckdb import DuckDBStore, open_store

__all__ = ["DuckDBStore", "Store", "open_store"]
