"""`onshore serve` (the API and the dashboard) and `onshore keys` (API keys in the store)."""

from __future__ import annotations

from typing import Annotated

import typer

from onshore import settings
from onshore.cli.app import (
    DbOption,
    Format,
    FormatOption,
    app,
    console,
    emit,
    handle_errors,
    open_db,
    records,
)

keys_app = typer.Typer(help="API keys of the server: create, list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@app.command()
@handle_errors
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port.", min=1, max=65535)] = 8000,
    keys: Annotated[
        bool,
        typer.Option(
            "--keys/--no-keys",
            help="Ask for API keys (default: only when not on 127.0.0.1 or when keys exist).",
        ),
    ] = False,
    cors: Annotated[
        list[str] | None,
        typer.Option("--cors", help="An origin allowed by CORS (repeatable; default: none)."),
    ] = None,
    db: DbOption = None,
) -> None:
    """Serve the API (/docs) and the dashboard (/) on the store; an empty or missing store
    gets the bundled reference network first."""
    from onshore.api import require_server

    require_server()
    import uvicorn

    from onshore.api.app import ServerSettings, create_app
    from onshore.io.load import import_files, reference_files
    from onshore.store.keys import ApiKeys

    path = settings.db_path(db)
    with open_db(db, create=True) as store:
        if not any(store.counts().values()):
            console.print(f"the store {path} is empty: importing the reference network")
            import_files(store, reference_files(), physical="error")
        n_keys = len(ApiKeys(store.con))
    local = host in ("127.0.0.1", "localhost", "::1") and not keys and n_keys == 0
    if not local and n_keys == 0:
        console.print(
            "[yellow]keys are required but none exist[/]: create one with "
            "`onshore keys create NAME --role admin`"
        )
    if local:
        console.print(
            "[bold]local single-user mode[/]: no API keys asked for, every action allowed, "
            "only on this machine (127.0.0.1). Create a key with `onshore keys create` to "
            "require keys."
        )
    cfg = ServerSettings(local=local, cors_origins=list(cors or []))
    console.print(f"onshore on http://{host}:{port}/  (API docs: http://{host}:{port}/docs)")
    uvicorn.run(create_app(path, cfg), host=host, port=port, log_level="warning")


@keys_app.command("create")
@handle_errors
def keys_create(
    name: Annotated[str, typer.Argument(help="A name for the key (recorded in the write log).")],
    role: Annotated[str, typer.Option("--role", help="read, write or admin.")] = "read",
    db: DbOption = None,
) -> None:
    """Create an API key; the secret is printed once and stored only as a hash."""
    from onshore.store.keys import ApiKeys

    with open_db(db, create=True) as store:
        secret = ApiKeys(store.con).create(name, role)
    console.print(f"created key {name!r} ({role}); keep it, it is not shown again:")
    typer.echo(secret)


@keys_app.command("list")
@handle_errors
def keys_list(db: DbOption = None, fmt: FormatOption = Format.table) -> None:
    """The keys: name, role, created, revoked (never the secrets)."""
    from onshore.store.keys import ApiKeys

    with open_db(db) as store:
        emit(records(ApiKeys(store.con).rows()), fmt, title="API keys")


@keys_app.command("revoke")
@handle_errors
def keys_revoke(name: str, db: DbOption = None) -> None:
    """Revoke a key by name."""
    from onshore.errors import NotFound
    from onshore.store.keys import ApiKeys

    with open_db(db) as store:
        if not ApiKeys(store.con).revoke(name):
            raise NotFound(f"no live key {name!r}")
    console.print(f"revoked {name!r}")
