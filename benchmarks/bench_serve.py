"""Benchmark: the server under load. uvicorn serves a copy of the reference network on
127.0.0.1 in its own process; 50 concurrent httpx clients in one asyncio loop send, for 60 s
(quick: 5 s), a mix of the check of one product (``GET /api/check/{product}``, audited) and the
product page (the HTML page and the ``/api/product/{product}`` data it loads). Targets: zero
errors, p95 of check <= 200 ms, p95 of the product page <= 500 ms; throughput reported.

Two cases: a closed loop (each client sends its next request as soon as the last is
answered: the most the server can take) and users with a think time of 1 s between requests
(50 people at dashboards); and one client alone, for the service time of each request.
Before measuring, every product page is loaded once (a warm
server: verdicts and traces are computed once per store snapshot).
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

CLIENTS = 50
ON = "2027-10-01"

SERVER = """
import sys, uvicorn
from onshore.api import create_app
from onshore.api.app import ServerSettings
uvicorn.run(create_app(sys.argv[1], ServerSettings(local=True)), host="127.0.0.1",
            port=int(sys.argv[2]), log_level="error", access_log=False)
"""


def _store(folder: Path) -> Path:
    from onshore.io.load import import_files, reference_files
    from onshore.store.duckdb import open_store

    p = folder / "bench.duckdb"
    with open_store(p, create=True) as s:
        import_files(s, reference_files(), physical="error")
    return p


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _start(store: Path, port: int) -> subprocess.Popen[bytes]:
    import httpx

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(store), str(port)], env=env)
    t = time.time()
    while time.time() - t < 60:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the server did not start")


class _Connection:
    """One keep-alive HTTP/1.1 connection of one client: a request, then its whole answer
    (status and a body of Content-Length bytes). Lighter than a general client, so that on a
    small machine the load generator takes as little CPU from the server as it can."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                          "Accept: */*\r\n\r\n".encode("ascii"))
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = next((int(x.split(b":", 1)[1]) for x in lines[1:]
                       if x.lower().startswith(b"content-length:")), None)
        if length is None:
            raise ValueError("an answer without Content-Length")
        body = await self.reader.readexactly(length)
        if any(x.lower() == b"connection: close" for x in lines[1:]):
            self.close()
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _load(base: str, products: list[str], seconds: float, think: float,
                seed: int = 0, clients: int = CLIENTS) -> dict[str, Any]:
    from urllib.parse import quote, urlsplit

    url = urlsplit(base)
    host, port = url.hostname or "127.0.0.1", int(url.port or 80)
    lat: dict[str, list[float]] = {"check": [], "product": []}
    errors: list[str] = []
    stop = time.perf_counter() + seconds
    query = f"?buyer=dod&on={ON}"

    async def client(k: int) -> None:
        rng = random.Random(seed * 1000 + k)
        conn = _Connection(host, port)
        await asyncio.sleep(rng.random() * min(think, 1.0))
        while time.perf_counter() < stop:
            p = quote(rng.choice(products), safe="")
            kind = "check" if rng.random() < 0.5 else "product"
            t0 = time.perf_counter()
            try:
                if kind == "check":
                    status, body = await conn.get(f"/api/check/{p}{query}")
                    ok = status == 200 and body.startswith(b"{")
                else:
                    s1, page = await conn.get(f"/product/{p}")
                    status, body = await conn.get(f"/api/product/{p}{query}")
                    ok = s1 == 200 and page.startswith(b"<!doctype") and status == 200 \
                        and body.startswith(b"{")
                if not ok:
                    errors.append(f"{kind} {p}: HTTP {status}")
            except (OSError, ValueError, asyncio.IncompleteReadError) as e:
                errors.append(f"{kind} {p}: {type(e).__name__}")
                conn.close()
            else:
                lat[kind].append(time.perf_counter() - t0)
            if think:
                await asyncio.sleep(think)
        conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(clients)))
    wall = time.perf_counter() - t0
    n = sum(len(v) for v in lat.values())
    return {
        "wall": wall,
        "requests": n,
        "throughput": n / wall,
        "errors": errors,
        "p50": {k: float(np.percentile(v, 50)) if v else float("nan") for k, v in lat.items()},
        "p95": {k: float(np.percentile(v, 95)) if v else float("nan") for k, v in lat.items()},
        "count": {k: len(v) for k, v in lat.items()},
    }


def run(quick: bool = False) -> list[dict[str, Any]]:
    import httpx

    seconds = 5.0 if quick else 60.0
    folder = Path(tempfile.mkdtemp(prefix="onshore-bench-serve-"))
    rows: list[dict[str, Any]] = []
    proc = None
    try:
        store = _store(folder)
        port = _free_port()
        proc = _start(store, port)
        base = f"http://127.0.0.1:{port}"
        products = [p["id"] for p in httpx.get(f"{base}/api/products", timeout=30).json()]
        t0 = time.perf_counter()
        with httpx.Client(base_url=base, timeout=120) as c:
            for p in products:
                c.get(f"/api/product/{p}", params={"buyer": "dod", "on": ON}).raise_for_status()
        warm = time.perf_counter() - t0
        cases = (("1 client (service time)", 0.0, 1), ("closed loop", 0.0, CLIENTS),
                 ("think time 1 s", 1.0, CLIENTS))
        for case, think, n in cases:
            before = os.getloadavg()[0]
            res = asyncio.run(_load(base, products, seconds if n > 1 else min(seconds, 5.0),
                                    think, clients=n))
            detail = (
                f"{n} clients, load average {before:.1f} before, {os.getloadavg()[0]:.1f} after "
                f"(1 min) on {os.cpu_count()} cores, "
                f"{res['wall']:.0f} s, {res['requests']} requests "
                f"({res['throughput']:.0f}/s), {len(res['errors'])} errors; p50 check "
                f"{res['p50']['check'] * 1e3:.0f} ms, page {res['p50']['product'] * 1e3:.0f} ms"
                f"; warm-up of {len(products)} product pages {warm:.1f} s"
            )
            common = {"benchmark": "serve", "requests": res["requests"],
                      "throughput": res["throughput"], "errors": len(res["errors"]),
                      "first_errors": res["errors"][:5], "detail": detail}
            rows.append({**common, "case": f"{case}: errors", "seconds": res["wall"],
                         "target": "0 errors", "met": not res["errors"]})
            rows.append({**common, "case": f"{case}: check p95", "seconds": res["p95"]["check"],
                         "target": "<= 0.2 s", "met": res["p95"]["check"] <= 0.2})
            rows.append({**common, "case": f"{case}: product page p95",
                         "seconds": res["p95"]["product"], "target": "<= 0.5 s",
                         "met": res["p95"]["product"] <= 0.5})
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(folder, ignore_errors=True)
    return rows


if __name__ == "__main__":
    for r in run(quick="--quick" in sys.argv):
        print(r["case"], f"{r['seconds']:.3f}", r["target"], r["met"], r["detail"])
