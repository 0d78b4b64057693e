"""Shared fixtures: the tiny example network and fresh stores."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import pytest

from onshore.store.duckdb import DuckDBStore

TINY = Path(str(resources.files("onshore") / "data" / "examples" / "tiny"))


@pytest.fixture
def tiny_dir(tmp_path: Path) -> Path:
    """A writable copy of the tiny example network's CSV files."""
    d = tmp_path / "tiny"
    shutil.copytree(TINY, d)
    return d


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = DuckDBStore(tmp_path / "test.duckdb")
    yield s
    s.close()


def tiny_files(d: Path) -> list[Path]:
    order = ["companies", "materials", "facilities", "ownership", "boms", "flows"]
    return [d / f"{t}.csv" for t in order]
