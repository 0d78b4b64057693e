"""Start and stop a real uvicorn server on 127.0.0.1 and a free port, in a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def running(store: Path, settings: Any = None, timeout: float = 30) -> Iterator[str]:
    """A server on the store; yields its base URL and stops it on exit."""
    import uvicorn

    from onshore.api import create_app

    port = free_port()
    config = uvicorn.Config(create_app(store, settings), host="127.0.0.1", port=port,
                            log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    t = time.time()
    while not server.started:
        if time.time() - t > timeout or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
