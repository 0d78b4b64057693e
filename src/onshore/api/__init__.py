"""The HTTP face of onshore: a FastAPI app over the library (views never compute).

``create_app(store_path, settings)`` builds the app; ``onshore serve`` runs it with uvicorn.
Needs the ``server`` extra: ``pip install 'onshore[server]'``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from onshore.errors import EngineUnavailable

INSTALL = "pip install 'onshore[server]'"

if TYPE_CHECKING:
    from onshore.api.app import ServerSettings


def require_server() -> None:
    """Raise EngineUnavailable naming the install line when the server extra is missing."""
    try:
        import fastapi  # noqa: F401
        import python_multipart  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise EngineUnavailable(
            f"the server needs the 'server' extra ({e.name} is missing): {INSTALL}"
        ) from None


def create_app(store_path: Any, settings: ServerSettings | None = None) -> Any:
    """The FastAPI app over the store at ``store_path`` (see :mod:`onshore.api.app`)."""
    require_server()
    from onshore.api.app import create_app as make

    return make(store_path, settings)


__all__ = ["INSTALL", "create_app", "require_server"]
