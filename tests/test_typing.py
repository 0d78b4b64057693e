"""mypy over src/onshore, with the strict settings of pyproject.toml ([tool.mypy])."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.typing


def mypy_command() -> list[str]:
    return [sys.executable, "-m", "mypy", "src/onshore", "--ignore-missing-imports"]


@pytest.mark.skipif(
    importlib.util.find_spec("mypy") is None,
    reason="mypy is not installed (it is in the dev extra: pip install -e '.[dev]')",
)
def test_mypy_is_clean() -> None:
    r = subprocess.run(
        mypy_command(), cwd=ROOT, capture_output=True, text=True, timeout=900, check=False
    )
    assert r.returncode == 0, f"mypy found errors:\n{r.stdout}{r.stderr}"
