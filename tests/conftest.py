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


@pytest.fixture
def two_period_db(tiny_dir: Path, tmp_path: Path) -> Path:
    """A store of the tiny network imported through the CLI, plus a Chilean mine (Old Mining
    Co) that supplied the refiner only in 2024: the latest period, 2025, has none of it."""
    from typer.testing import CliRunner

    import onshore.cli.check  # noqa: F401  (registers the commands)
    from onshore.cli.app import app

    with (tiny_dir / "companies.csv").open("a") as f:
        f.write("oldco,Old Mining Co,,CL,CL,company,test,true,\n")
    with (tiny_dir / "facilities.csv").open("a") as f:
        f.write("mine2,oldco,Old Mine Two,CL,,,mine,spodumene,100,kt,operating,2010,,test,true,\n")
    with (tiny_dir / "flows.csv").open("a") as f:
        f.write("mine2,ref1,spodumene,50,kt,2024,test,true,\n"
                "ref1,cell1,lioh,3,kt,2024,test,true,\n")
    db = tmp_path / "s.duckdb"
    r = CliRunner().invoke(app, ["import", *map(str, tiny_files(tiny_dir)), "--db", str(db)])
    assert r.exit_code == 0, r.output
    return db
