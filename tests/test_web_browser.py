"""The dashboard in the system Chromium (headless, through Playwright): the main flows of each
page against a real server on 127.0.0.1, screenshots in tmp/test-artefacts/. Skipped when
Chromium or Playwright is missing (`make pdf-engine` installs Chromium)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no system Chromium (make pdf-engine)"),
]
pytest.importorskip("fastapi")
sync_api = pytest.importorskip("playwright.sync_api")

from onshore.api.app import ServerSettings  # noqa: E402
from onshore.io.load import import_files, reference_files  # noqa: E402
from onshore.network import Network  # noqa: E402
from onshore.store.duckdb import open_store  # noqa: E402
from serverutil import running  # noqa: E402

ARTEFACTS = Path(__file__).resolve().parents[1] / "tmp" / "test-artefacts"
SUPPLIERS = "name,country\nCATL,CN\nEnvision AESC,JP\nAcme Widgets,US\nGotion High Tech,CN\n"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    p = tmp_path_factory.mktemp("web") / "store.duckdb"
    with open_store(p, create=True) as s:
        import_files(s, reference_files(), physical="error")
    with running(p, ServerSettings(local=True)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1366, "height": 768})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
    pg.errors = errors
    yield pg
    ctx.close()
    assert not errors, errors


def shot(page: Any, name: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)


def test_network_page(page: Any, base: str) -> None:
    page.goto(f"{base}/network")
    page.wait_for_selector(".kpi b")
    assert "local single-user mode" in page.inner_text("#who")
    page.wait_for_selector("#ft table")
    page.wait_for_selector("#c1 .main-svg")
    page.select_option("#ff [name=stage]", "cell")
    page.click("#ff button")
    cells = int((Network.reference().facilities["stage"] == "cell").sum())  # every cell row
    page.wait_for_function(
        f"document.querySelector('#fp span')?.textContent.includes('of {cells}')")
    shot(page, "network")
    page.click("#ft a >> nth=0")
    page.wait_for_url("**/product/**")


def test_network_map(page: Any, base: str) -> None:
    """The world map draws every located plant on the shapes the package ships (a fetch from
    the web would fail the page fixture), and a filter redraws it with fewer plants."""
    page.goto(f"{base}/network")
    page.wait_for_selector("#map path.point")
    assert page.locator("#map .countries path").count() > 0
    every = page.locator("#map path.point").count()
    assert every > 100
    assert page.inner_text("#mapcount").startswith(f"{every} plants on the map")
    page.wait_for_selector("#capmap .main-svg")
    page.select_option("#mf [name=control]", "KR")
    page.wait_for_selector("#map[data-query='control=KR'] .main-svg")
    korea = page.locator("#map path.point").count()
    assert 0 < korea < every
    assert page.inner_text("#mapcount").startswith(f"{korea} plants on the map")
    page.select_option("#mf [name=stage]", "cell")
    page.wait_for_selector("#map[data-query='stage=cell&control=KR'] .main-svg")
    assert 0 < page.locator("#map path.point").count() < korea
    page.wait_for_selector("#capmap .main-svg")
    shot(page, "network-map")
    page.select_option("#mf [name=status]", "cancelled")
    page.wait_for_selector("#map[data-query='stage=cell&status=cancelled&control=KR'] .state")
    assert "No located plant" in page.inner_text("#map")
    assert "No plant with a recorded capacity" in page.inner_text("#capmap")


def test_product_page(page: Any, base: str) -> None:
    page.goto(f"{base}/product/ses_chungju?buyer=dod&on=2027-10-01")
    page.wait_for_selector("#verdicts table")
    page.wait_for_selector("#sankey .main-svg")
    page.wait_for_selector("#tl .main-svg")
    text = page.inner_text("#verdicts")
    assert "US-NDAA24-154" in text and "ALLOWED" in text
    page.click("#verdicts details summary >> nth=0")
    assert page.inner_text("#trace").count("cobalt") > 0
    assert "the latest year with flows in the product's supply chain" in page.inner_text("#period")
    paths = page.inner_text("#paths")
    assert "Chungju" in paths and "→" in paths and "(the other paths)" in paths
    shot(page, "product")


def test_product_page_empty_and_error_states(page: Any, base: str) -> None:
    page.goto(f"{base}/product")
    page.wait_for_selector("#pbody .state")
    assert "Choose a product" in page.inner_text("#pbody")
    page.goto(f"{base}/product/no_such_plant")
    page.wait_for_selector("#pbody .state.error")
    assert "no facility" in page.inner_text("#pbody")
    shot(page, "product-error")


def test_compliance_page(page: Any, base: str) -> None:
    page.goto(f"{base}/compliance")
    page.click("#cf button:has-text('Check every product')")
    page.wait_for_selector("#ct table", timeout=60_000)
    total = page.locator("#ct tbody tr").count()
    assert total > 100
    page.select_option("#cf [name=verdict]", "PROHIBITED")
    assert 0 < page.locator("#ct tbody tr").count() < total
    with page.expect_download() as d:
        page.click("#csv")
    assert d.value.suggested_filename.startswith("compliance_dod_")
    shot(page, "compliance")
    page.click("#ct tbody a >> nth=0")
    page.wait_for_selector("#verdicts table")


def test_screening_page(page: Any, base: str, tmp_path: Path) -> None:
    f = tmp_path / "suppliers.csv"
    f.write_text(SUPPLIERS, encoding="utf-8")
    page.goto(f"{base}/screening")
    page.wait_for_selector("#rq .state, #rq table")
    page.set_input_files("#sf [name=file]", str(f))
    page.click("#sf button")
    page.wait_for_selector("#sr table")
    assert "CATL" in page.inner_text("#sr")
    page.wait_for_selector("#rq table, #rq .state")
    if page.locator("#rq button[data-decide=same]").count():
        n = page.locator("#rq tbody tr").count()
        page.click("#rq button[data-decide=different] >> nth=0")
        page.wait_for_function(
            f"document.querySelectorAll('#rq tbody tr').length < {n}"
            " || document.querySelector('#rq .state')")
    shot(page, "screening")


def test_risk_page(page: Any, base: str) -> None:
    page.goto(f"{base}/risk")
    page.wait_for_selector("#hhi table")
    page.select_option("#rf [name=stage]", "anode")
    page.wait_for_function("document.querySelector('#hhi table')?.innerText.includes('anode')")
    page.fill("#sim [name=draws]", "50")
    page.click("#sim button")
    page.wait_for_selector("#simr h2", timeout=60_000)
    shot(page, "risk")


def test_audit_page(page: Any, base: str) -> None:
    page.goto(f"{base}/product/ses_chungju?buyer=dod")
    page.wait_for_selector("#verdicts table")
    page.goto(f"{base}/audit")
    page.wait_for_selector("#at table")
    page.wait_for_function("document.querySelector('#chain')?.textContent.includes('intact')")
    page.fill("#af [name=product]", "ses_chungju")
    page.click("#af button")
    page.wait_for_selector("#at table")
    assert "ses_chungju" in page.inner_text("#at")
    shot(page, "audit")


def test_api_docs_render_offline(page: Any, base: str) -> None:
    page.goto(f"{base}/docs")
    page.wait_for_selector(".opblock", timeout=30_000)
    shot(page, "docs")
