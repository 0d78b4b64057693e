"""`onshore serve` and `onshore keys` on the command line: local mode said on start, the
reference network into an empty store, keys created hashed, the exact install line when the
server extra is missing."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from onshore.cli import app
from onshore.store.duckdb import open_store
from onshore.store.keys import ApiKeys

runner = CliRunner()


def test_missing_extra_prints_the_install_line(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    r = runner.invoke(app, ["serve", "--db", str(tmp_path / "s.duckdb")])
    assert r.exit_code == 1
    assert "pip install 'onshore[server]'" in r.output


def test_serve_local_mode_on_an_empty_store(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    pytest.importorskip("uvicorn")
    import uvicorn

    seen: dict[str, Any] = {}

    def fake_run(app_: Any, **kw: Any) -> None:
        seen.update(kw, app=app_)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    db = tmp_path / "s.duckdb"
    r = runner.invoke(app, ["serve", "--db", str(db), "--port", "8123"])
    assert r.exit_code == 0, r.output
    assert "local single-user mode" in r.output
    assert "importing the reference network" in r.output
    assert seen["host"] == "127.0.0.1" and seen["port"] == 8123
    assert seen["app"].state.onshore.settings.local
    seen["app"].state.onshore.close()
    with open_store(db) as s:
        assert s.counts()["facilities"] > 300


def test_keys_create_list_revoke_and_keys_turn_local_mode_off(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    db = tmp_path / "k.duckdb"
    r = runner.invoke(app, ["keys", "create", "ana", "--role", "write", "--db", str(db)])
    assert r.exit_code == 0, r.output
    secret = r.output.strip().splitlines()[-1]
    assert secret.startswith("onk_")
    with open_store(db) as s:
        assert ApiKeys(s.con).lookup(secret) == ("ana", "write")
        stored = s.con.execute("SELECT hash FROM api_keys").fetchall()[0][0]
        assert secret not in stored
    assert "ana" in runner.invoke(app, ["keys", "list", "--db", str(db)]).output
    bad = runner.invoke(app, ["keys", "create", "bob", "--role", "root", "--db", str(db)])
    assert bad.exit_code == 2 and "role must be one of" in bad.output  # bad input
    pytest.importorskip("uvicorn")
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda a, **kw: seen.update(app=a))
    r = runner.invoke(app, ["serve", "--db", str(db)])
    assert r.exit_code == 0 and "local single-user mode" not in r.output
    assert not seen["app"].state.onshore.settings.local
    seen["app"].state.onshore.close()
    assert runner.invoke(app, ["keys", "revoke", "ana", "--db", str(db)]).exit_code == 0
    assert runner.invoke(app, ["keys", "revoke", "ana", "--db", str(db)]).exit_code == 2  # no such key
