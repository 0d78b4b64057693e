"""The layers are enforced: the import contract in pyproject.toml holds, and it would catch an
upward import or a cycle (checked on a copy of the package with one bad import added)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="import-linter is a dev dependency")


def _lint(src: Path, config: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run([str(LINT), "--config", str(config), "--no-cache"], cwd=src.parent,
                          capture_output=True, text=True, env=env, timeout=300, check=False)


def test_import_contract_holds() -> None:
    done = _lint(ROOT / "src", ROOT / "pyproject.toml")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "3 kept, 0 broken" in done.stdout


@pytest.mark.parametrize(("module", "bad"), [
    ("records/units.py", "from onshore.trace import trace"),  # a record importing an analysis
    ("trace/origin.py", "import onshore.compliance"),  # trace importing the layer above it
    ("owners/control.py", "from onshore.io import load"),  # an analysis reading files
])
def test_contract_fails_on_an_upward_import(tmp_path: Path, module: str, bad: str) -> None:
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "onshore", src / "onshore", ignore=shutil.ignore_patterns("data", "__pycache__"))
    path = src / "onshore" / module
    path.write_text(path.read_text() + f"\n{bad}  # deliberate\n")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    done = _lint(src, tmp_path / "pyproject.toml")
    assert done.returncode != 0
    assert "BROKEN" in done.stdout
