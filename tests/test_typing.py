"""mypy over src/onshore, with the strict settings of pyproject.toml ([tool.mypy])."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# TEMPORARY: these two files are being edited elsewhere and still have mypy errors, so the
# check leaves them out for now; the lead removes this exclusion (and --follow-imports=silent
# below) once they are clean. --exclude only keeps mypy from collecting them; the other
# modules import them, so mypy still reads them, and --follow-imports=silent keeps their
# errors out. Every other module is collected directly, so only these two are silenced.
EXCLUDED = ("src/onshore/rules/kinds.py", "src/onshore/batch.py")

pytestmark = pytest.mark.typing


def mypy_command() -> list[str]:
    cmd = [sys.executable, "-m", "mypy", "src/onshore", "--ignore-missing-imports"]
    for path in EXCLUDED:
        cmd += ["--exclude", f"^{re.escape(path)}$"]
    if EXCLUDED:
        cmd.append("--follow-imports=silent")
    return cmd


@pytest.mark.skipif(
    importlib.util.find_spec("mypy") is None,
    reason="mypy is not installed (it is in the dev extra: pip install -e '.[dev]')",
)
def test_mypy_is_clean() -> None:
    r = subprocess.run(
        mypy_command(), cwd=ROOT, capture_output=True, text=True, timeout=900, check=False
    )
    assert r.returncode == 0, f"mypy found errors:\n{r.stdout}{r.stderr}"
