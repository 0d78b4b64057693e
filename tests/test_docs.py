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


def test_architecture_doc_names_every_module() -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text()
    pkg = ROOT / "src" / "onshore"
    modules = {p.stem for p in pkg.glob("*.py") if not p.stem.startswith("_")}
    modules |= {p.name for p in pkg.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    missing = sorted(m for m in modules if m not in doc)
    assert not missing, f"modules missing from docs/architecture.md: {missing}"
