"""Schemathesis against the app's own OpenAPI schema: generated requests for every operation
never get a 5xx, and every response has a documented status and content type and fits its
schema (few examples per operation, bounded).

Not checked: that every schema-valid request is accepted (a valid-looking id that is not in
the store is a 404, a filter naming no column a 422: checks beyond the schema), and the Allow
header of a 405 on a path that shares its prefix with another route."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from onshore.api import create_app  # noqa: E402
from onshore.api.app import ServerSettings  # noqa: E402
from onshore.io.load import import_files, reference_files  # noqa: E402
from onshore.store.duckdb import open_store  # noqa: E402


def _app() -> object:
    d = Path(tempfile.mkdtemp(prefix="onshore-schema-"))
    p = d / "store.duckdb"
    with open_store(p, create=True) as s:
        import_files(s, reference_files(), physical="error")
    shutil.copy(p, d / "pristine.duckdb")
    return create_app(p, ServerSettings(local=True, max_upload_bytes=100_000, max_draws=50))


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@schema.parametrize()
@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_responses_fit_the_schema(case: object) -> None:
    case.call_and_validate(  # type: ignore[attr-defined]
        checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                response_schema_conformance]
    )
