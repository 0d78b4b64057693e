"""The README's tour and docs stay true to the CLI: every command is documented."""

from __future__ import annotations

from pathlib import Path

from onshore.cli import app

ROOT = Path(__file__).resolve().parents[1]


def _commands() -> list[str]:
    names = [c.name or c.callback.__name__ for c in app.registered_commands]  # type: ignore[union-attr]
    names += [g.name for g in app.registered_groups if g.name]
    return [n.rstrip("_") for n in names]


def test_every_command_is_in_the_readme_tour() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [n for n in _commands() if f"onshore {n}" not in readme]
    assert not missing, f"commands missing from README.md: {missing}"


def test_readme_has_the_two_setup_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme


def test_architecture_doc_matches_the_tree() -> None:
    """Every module of the package is named in docs/architecture.md by its path, and every
    module path the page names exists."""
    import re

    doc = (ROOT / "docs" / "architecture.md").read_text()
    pkg = ROOT / "src" / "onshore"
    modules = {p.relative_to(pkg).as_posix() for p in pkg.rglob("*.py")
               if p.name not in ("__init__.py", "__main__.py")}
    missing = sorted(m for m in modules if f"`{m}`" not in doc)
    assert not missing, f"modules missing from docs/architecture.md: {missing}"
    named = {m for m in re.findall(r"`([a-z_/]+\.py)`", doc) if not m.startswith(("tests/", "tools/"))}
    gone = sorted(m for m in named if m not in modules)
    assert not gone, f"docs/architecture.md names modules that do not exist: {gone}"
