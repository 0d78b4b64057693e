"""The app factory: state (one store connection, the network loaded once), security (API keys
with roles), errors as application/problem+json, and the routes (:mod:`onshore.api.routes`).
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from onshore.errors import (
    DataError,
    EngineUnavailable,
    InfeasiblePlan,
    InputError,
    NotFound,
    OnshoreError,
    ScenarioError,
    StoreError,
)

PROBLEM = "application/problem+json"
CACHE_MAX = 20_000  # cached results (per data version) before the oldest half goes


@dataclass
class ServerSettings:
    """How the server behaves.

    local : no keys asked for: one local user with every role (only on 127.0.0.1).
    cors_origins : origins allowed by CORS (none by default: CORS off).
    max_upload_bytes : the largest upload accepted by import and screen.
    max_batch : the most products one batch check takes.
    job_threshold : a check of every product on a store with more products runs as a job.
    """

    local: bool = False
    cors_origins: list[str] = field(default_factory=list)
    max_upload_bytes: int = 20 * 1024 * 1024
    max_batch: int = 200
    max_draws: int = 5000
    docs: bool = True


@dataclass
class Caller:
    """Who calls: the key's name and role."""

    name: str
    role: str


class State:
    """The store connection, the network and the caches of one app.

    DuckDB connections are not shared across threads safely, so every use of the store goes
    through ``db()`` (one lock); the network is loaded once and again after each import.
    """

    def __init__(self, store_path: Path, settings: ServerSettings) -> None:
        from onshore.api.jobs import Jobs
        from onshore.store.duckdb import open_store
        from onshore.store.keys import ApiKeys

        self.path = store_path
        self.settings = settings
        self.lock = threading.RLock()
        self._store: Any = open_store(store_path, create=False)
        self._keys: Any = ApiKeys(self._store.con)
        self.jobs = Jobs()
        self.cache: dict[Any, Any] = {}
        self._net: Any = None
        # what the cache is keyed by: (snapshot hash, write generation) of the loaded network;
        # None while no network is loaded (after a write), so nothing cached is found
        self._version: tuple[str, int] | None = None
        self.generation = 0
        # (version, path, query string) -> (JSON bytes, audit rows) of a GET answered before
        self.answers: dict[tuple[Any, str, bytes], tuple[bytes, list[dict[str, Any]]]] = {}
        # verdict audit rows, appended in batches by one writer (each commit syncs the file)
        self._pending: list[dict[str, Any]] = []
        self._plock = threading.Lock()
        self.key_cache: dict[str, tuple[str, str] | None] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._writer = threading.Thread(target=self._write_audit, daemon=True,
                                        name="onshore-audit")
        self._writer.start()

    def audit(self, rows: list[dict[str, Any]]) -> None:
        """Queue verdict rows for the audit log (written within ~0.1 s, in order)."""
        with self._plock:
            self._pending.extend(rows)
        self._wake.set()

    def flush_audit(self) -> None:
        """Write every queued audit row now (before the log is read, and on shutdown)."""
        from onshore.store.audit import AuditLog

        with self.lock:
            with self._plock:
                rows, self._pending = self._pending, []
            if rows:
                try:
                    AuditLog(self.store.con).append(rows)
                except BaseException:
                    with self._plock:
                        self._pending = rows + self._pending  # kept for the next attempt
                    raise

    def _write_audit(self) -> None:
        import logging

        while not self._stop.is_set():
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            time.sleep(0.1)
            try:
                self.flush_audit()
            except Exception:
                logging.getLogger("onshore.api").exception("audit write failed")

    @property
    def store(self) -> Any:
        """The open store (opened again after the app's shutdown closed it)."""
        with self.lock:
            if self._store is None:
                from onshore.store.duckdb import open_store
                from onshore.store.keys import ApiKeys

                self._store = open_store(self.path, create=False)
                self._keys = ApiKeys(self._store.con)
            return self._store

    @property
    def keys(self) -> Any:
        """The store's API keys and write log."""
        with self.lock:
            _ = self.store
            return self._keys

    @contextmanager
    def db(self) -> Iterator[Any]:
        with self.lock:
            yield self.store

    def network(self) -> Any:
        """The network of the store (loaded once, again after a write)."""
        with self.lock:
            if self._net is None:
                from onshore.network import Network

                self._net = Network.from_store(self.store)
                self.cache.clear()
                self._version = (self._net.snapshot, self.generation)
                _settle(collect=True)
            return self._net

    def reload(self) -> None:
        """Forget the network and every cached result: called by every write (import,
        delete, review decision), before it answers, so no later request is served a result
        of the data before the write."""
        with self.lock:
            self._net = None
            self._version = None
            self.generation += 1
            self.cache.clear()
            self.answers.clear()
            gc.unfreeze()  # what was kept may now be garbage: let the collector see it again

    def lookup(self, key: Any) -> tuple[tuple[str, int] | None, Any]:
        """The current data version and the value cached for ``key`` in it (or None); takes
        no lock, and the pair is consistent: the value was computed from that version."""
        version = self._version
        return version, None if version is None else self.cache.get((version, key))

    def versioned(self, make: Callable[..., Any], *args: Any) -> tuple[tuple[str, int], Any]:
        """``make(*args)`` under the lock, with the data version it was computed from."""
        with self.lock:
            value = make(*args)
            self.network()
            assert self._version is not None
            return self._version, value

    def remember(self, version: tuple[str, int] | None, path: str, query: bytes,
                 answer: tuple[bytes, list[dict[str, Any]]]) -> None:
        """Keep the answer (JSON bytes and its audit rows) a GET of ``path`` and ``query``
        received from the data of ``version``, for :class:`AnswerCache`."""
        if version is None:
            return
        if len(self.answers) >= CACHE_MAX:
            self.answers.clear()
        self.answers[(version, path, query)] = answer

    def cached(self, key: Any, make: Callable[[], Any]) -> Any:
        """The value of ``key`` for the current data: computed once (under the lock) and
        kept until the next write. The oldest half is dropped when the cache is full."""
        with self.lock:
            self.network()
            k = (self._version, key)
            if k not in self.cache:
                value = make()
                if len(self.cache) >= CACHE_MAX:
                    for old in list(self.cache)[: CACHE_MAX // 2]:
                        del self.cache[old]
                    gc.unfreeze()
                self.cache[k] = value
                _settle()
            return self.cache[k]

    def close(self) -> None:
        self.jobs.shutdown()
        with self.lock:
            if self._store is not None:
                self.flush_audit()
                self._store.close()
            self._store = None
            self._net, self._version = None, None
            self.cache.clear()
            self.answers.clear()
            gc.unfreeze()


class AnswerCache:
    """In front of the app: a GET whose exact path and query string the API answered before
    from the current data (see :meth:`State.remember`: the check of one product and the
    product page's data) is answered with the same bytes, its verdicts audited again, without
    routing, parameter parsing or a handler; and the dashboard's page shells, the same for
    every request, are sent as they are. Anything else, a caller without a known key
    (outside local mode), and every answer after a write go through the app as usual.

    Parameters
    ----------
    app : ASGI app
    state : State
    """

    def __init__(self, app: Any, state: State) -> None:
        from onshore.web import PAGES, page_of, shell

        self.app, self.state = app, state
        self.page_of = page_of
        self.pages = {p: shell(p).encode("utf-8") for p in PAGES}
        self.json = [(b"content-type", b"application/json")]
        self.html = [(b"content-type", b"text/html; charset=utf-8")]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path: str = scope["path"]
            if path.startswith("/api/"):
                state = self.state
                version = state._version
                hit = None if version is None else \
                    state.answers.get((version, path, scope["query_string"]))
                if hit is not None and self._known(scope):
                    state.audit(hit[1])
                    return await self._send(send, hit[0], self.json)
            elif (name := self.page_of(path)) is not None:
                return await self._send(send, self.pages[name], self.html)
        await self.app(scope, receive, send)

    def _known(self, scope: Any) -> bool:
        """Local mode, or a key the app has already found live (every key reads)."""
        if self.state.settings.local:
            return True
        secret = ""
        for k, v in scope["headers"]:
            if k == b"x-api-key":
                secret = v.decode("latin-1")
            elif k == b"authorization" and not secret and v[:7].lower() == b"bearer ":
                secret = v[7:].decode("latin-1").strip()
        return bool(secret) and self.state.key_cache.get(secret) is not None

    @staticmethod
    async def _send(send: Any, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode()), *headers]})
        await send({"type": "http.response.body", "body": body})


def _settle(collect: bool = False) -> None:
    """Take what the process holds now (the network, cached results) out of the cyclic
    garbage collector's view: they live until the next write, and a full collection
    traversing them stalls every request for a good part of a second under load. Objects
    freed by reference counting are still freed; the next write unfreezes (``reload``), as
    does closing the app. ``collect``: collect the garbage first (when a network is loaded)."""
    if collect:
        gc.collect()
    gc.freeze()


def problem(
    status: int, title: str, detail: str = "", errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None, **extra: Any,
) -> JSONResponse:
    """An RFC 9457 problem document."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def row_errors(e: DataError) -> list[dict[str, Any]]:
    return [
        {
            "file": r.file,
            "row": r.row,
            "column": r.column,
            "value": None if r.value is None else str(r.value),
            "expected": r.expected,
            "message": str(r),
        }
        for r in e.errors
    ]


def error_response(e: BaseException) -> JSONResponse:
    """onshore's own errors as problems: bad data 422 with rows, a bad parameter 422,
    not found 404, an engine missing 501, anything else of onshore's 400."""
    if isinstance(e, DataError):
        return problem(
            422, "Invalid input data; nothing was written", str(e).splitlines()[0],
            row_errors(e), truncated=e.truncated,
        )
    if isinstance(e, NotFound):
        return problem(404, "Not found", str(e))
    if isinstance(e, InfeasiblePlan):
        return problem(422, "Infeasible plan", str(e), reasons=e.reasons)
    if isinstance(e, InputError | ScenarioError):
        return problem(422, "Invalid parameter", str(e))
    if isinstance(e, EngineUnavailable):
        return problem(501, "Not available on this server", str(e))
    if isinstance(e, StoreError):
        return problem(503, "Store unavailable", str(e))
    if isinstance(e, OnshoreError):
        return problem(400, "Request failed", str(e))
    return problem(500, "Internal error", "the server failed; see its log")


def job_error(e: BaseException) -> dict[str, Any]:
    """A job's failure as the body of the problem it would have been."""
    import json

    if not isinstance(e, OnshoreError):
        import logging

        logging.getLogger("onshore.api").exception("job failed", exc_info=e)
    body: dict[str, Any] = json.loads(bytes(error_response(e).body))
    return body


def create_app(store_path: str | Path | None = None, settings: ServerSettings | None = None) -> Any:
    """The FastAPI app over one store.

    Parameters
    ----------
    store_path : str or Path, optional
        The DuckDB store (default: $ONSHORE_DB or ./onshore.duckdb); it must exist.
    settings : ServerSettings, optional
        Local mode, CORS, limits (default: keys required, CORS off, 20 MB uploads).

    Returns
    -------
    fastapi.FastAPI
    """
    from onshore import settings as env

    cfg = settings or ServerSettings()
    path = env.db_path(store_path)
    state = State(path, cfg)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        yield
        state.close()

    app = FastAPI(
        title="onshore",
        version=_version(),
        description=(
            "Where a lithium-ion battery really comes from, who may buy it, how exposed it is, "
            "and what to build where. Send an API key as `X-API-Key` (or `Authorization: "
            "Bearer KEY`); roles read < write < admin."
        ),
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.onshore = state

    app.add_middleware(AnswerCache, state=state)
    if cfg.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=cfg.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["X-API-Key", "Authorization", "Content-Type"],
        )

    @app.exception_handler(OnshoreError)
    async def _onshore(request: Request, e: OnshoreError) -> JSONResponse:
        return error_response(e)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, e: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "location": ".".join(str(p) for p in err.get("loc", ())),
                "message": str(err.get("msg", "")),
                "value": None if err.get("input") is None else str(err.get("input"))[:200],
            }
            for err in e.errors()
        ]
        return problem(422, "Invalid parameter", "the request does not fit the schema", errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, e: StarletteHTTPException) -> JSONResponse:
        headers = dict(e.headers or {})
        titles = {401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Not allowed",
                  413: "Upload too large"}
        return problem(e.status_code, titles.get(e.status_code, "Error"), str(e.detail),
                       headers=headers or None)

    @app.exception_handler(Exception)
    async def _any(request: Request, e: Exception) -> JSONResponse:
        import logging

        logging.getLogger("onshore.api").exception("request failed", exc_info=e)
        return error_response(e)

    from onshore.api.routes import router

    app.include_router(router)

    from onshore.web import STATIC, VENDOR, pages

    app.include_router(pages())
    from fastapi.staticfiles import StaticFiles

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    if cfg.docs:

        @app.get("/docs", include_in_schema=False)
        def docs() -> HTMLResponse:
            return get_swagger_ui_html(
                openapi_url="/openapi.json",
                title="onshore API",
                swagger_js_url="/static/vendor/swagger-ui-bundle.js",
                swagger_css_url="/static/vendor/swagger-ui.css",
                swagger_favicon_url="/static/favicon.svg",
            )

    _ = VENDOR
    return app


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("onshore")
    except metadata.PackageNotFoundError:
        return "0"


async def caller_of(request: Request) -> Caller:
    """The caller named by the request's key; 401 without a valid key (local mode: the
    local user). Keys are looked up once and remembered until a key changes (only this
    server can change them: the store file is its own while it runs)."""
    state: State = request.app.state.onshore
    if state.settings.local:
        return Caller("local", "admin")
    secret = request.headers.get("x-api-key", "")
    auth = request.headers.get("authorization", "")
    if not secret and auth.lower().startswith("bearer "):
        secret = auth[7:].strip()
    if not secret:
        raise HTTPException(
            401, "an API key is required (header X-API-Key); create one with "
            "`onshore keys create NAME --role read`", headers={"WWW-Authenticate": "Bearer"},
        )
    if secret in state.key_cache:
        found = state.key_cache[secret]
    else:
        from starlette.concurrency import run_in_threadpool

        def look() -> tuple[str, str] | None:
            with state.db():
                return state.keys.lookup(secret)  # type: ignore[no-any-return]

        found = await run_in_threadpool(look)
        if len(state.key_cache) > 10_000:
            state.key_cache.clear()
        state.key_cache[secret] = found
    if found is None:
        raise HTTPException(401, "unknown or revoked API key",
                            headers={"WWW-Authenticate": "Bearer"})
    return Caller(*found)


def need(role: str) -> Callable[[Request], Awaitable[Caller]]:
    """A dependency: the caller, who must hold ``role`` or a higher one (else 403)."""
    from onshore.store.keys import RANK

    async def dep(request: Request) -> Caller:
        c = await caller_of(request)
        if RANK[c.role] < RANK[role]:
            raise HTTPException(403, f"this needs the {role} role; key {c.name!r} is {c.role}")
        return c

    return dep


def html(text: str) -> Response:
    return HTMLResponse(text)
