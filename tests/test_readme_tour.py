"""The README's tour runs as written: each of its commands, from a fresh temporary folder,
against a store built there, exits 0 (the PDF one is skipped when Chromium is missing)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


def tour_commands() -> list[list[str]]:
    """The ``onshore ...`` lines of the README's tour code block, comments dropped."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## A short tour\s+```sh\n(.*?)```", readme, re.S)
    assert block, "README.md has no tour code block"
    out = []
    for line in block.group(1).splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("onshore "):
            out.append(shlex.split(line))
    return out


def _user_files(tmp: Path) -> None:
    """The files the tour imports and screens, as a user would have them: tables exported from
    the reference network (facilities as CSV, flows as a workbook, ownership as Parquet), a
    supplier list and a companies file."""
    from onshore.io.load import import_files, reference_files
    from onshore.store.duckdb import DuckDBStore

    ref = tmp / "_ref"
    with DuckDBStore(tmp / "_ref.duckdb") as s:
        import_files(s, reference_files(), physical="error")
        s.export(ref / "csv", "csv")
        s.export(ref / "parquet", "parquet")
    shutil.copy(ref / "csv" / "facilities.csv", tmp / "facilities.csv")
    shutil.copy(ref / "parquet" / "ownership.parquet", tmp / "ownership.parquet")
    flows = pd.read_csv(ref / "csv" / "flows.csv", dtype=str, keep_default_na=False)
    flows.to_excel(tmp / "flows.xlsx", sheet_name="flows", index=False)
    (tmp / "suppliers.csv").write_text(
        "name,country\nContemporary Amperex Technology Co., Limited,CN\nAcme Cells Inc.,US\n",
        encoding="utf-8",
    )
    import pymrio  # the input-output example of the tour: pymrio's own test system

    pymrio.load_test().save_all(str(tmp / "mrio"))
    (tmp / "suppliers").mkdir()
    (tmp / "suppliers" / "companies.csv").write_text(
        "id,name,country\nacme_cells,Acme Cells Inc.,US\n", encoding="utf-8"
    )


def test_every_tour_command_exits_0(tmp_path: Path) -> None:
    commands = tour_commands()
    assert len(commands) > 10
    _user_files(tmp_path)
    exe = Path(sys.executable).parent / "onshore"
    env = {
        **os.environ,
        "ONSHORE_DB": str(tmp_path / "onshore.duckdb"),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
        "COLUMNS": "200",
    }
    has_pdf = any(shutil.which(c) for c in ("chromium", "chromium-browser", "google-chrome"))
    failed = []
    for argv in commands:
        if "--pdf" in argv and not has_pdf:
            continue
        if argv[1] == "serve":  # runs until stopped: tests/test_serve_cli.py starts and stops it
            continue
        cmd = [str(exe), *argv[1:]] if exe.exists() else [sys.executable, "-c",
               "from onshore.cli import main; main()", *argv[1:]]
        r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=600)
        if r.returncode != 0:
            failed.append(f"{shlex.join(argv)} -> {r.returncode}\n{r.stderr[-2000:]}")
    assert not failed, "\n\n".join(failed)


def test_the_tour_parser_sees_the_commands() -> None:
    names = {c[1] for c in tour_commands()}
    assert {"demo", "init", "import", "trace", "check", "simulate", "plan"} <= names
    if not shutil.which("onshore") and not (Path(sys.executable).parent / "onshore").exists():
        pytest.skip("no onshore script")
