"""The HTTP API in process (FastAPI's TestClient): every endpoint, the auth matrix (each role on
each endpoint), problem+json errors with row-level details, all-or-nothing imports, limits,
jobs with progress, result and cancel, the write log, CORS off by default."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")

from fastapi.testclient import TestClient  # noqa: E402

from onshore.api import create_app  # noqa: E402
from onshore.api.app import ServerSettings  # noqa: E402
from onshore.io.load import import_files, reference_files  # noqa: E402
from onshore.store.duckdb import open_store  # noqa: E402
from onshore.store.keys import ApiKeys  # noqa: E402

PRODUCT = "ses_chungju"


@pytest.fixture(scope="session")
def reference_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with the reference network, built once; tests use copies."""
    p = tmp_path_factory.mktemp("ref") / "reference.duckdb"
    with open_store(p, create=True) as s:
        import_files(s, reference_files(), physical="error")
    return p


@pytest.fixture(scope="module")
def keyed(reference_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A keyed app (no local mode) and one key per role."""
    p = tmp_path_factory.mktemp("keyed") / "store.duckdb"
    shutil.copy(reference_store, p)
    with open_store(p) as s:
        k = ApiKeys(s.con)
        keys = {r: k.create(f"{r}-key", r) for r in ("read", "write", "admin")}
    with TestClient(create_app(p, ServerSettings(max_upload_bytes=200_000))) as c:
        yield c, keys


@pytest.fixture(scope="module")
def local(reference_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    p = tmp_path_factory.mktemp("local") / "store.duckdb"
    shutil.copy(reference_store, p)
    with TestClient(create_app(p, ServerSettings(local=True))) as c:
        yield c


def wait(c: TestClient, job: dict[str, Any], headers: dict[str, str] | None = None,
         timeout: float = 120) -> dict[str, Any]:
    t = time.time()
    while job["status"] in ("queued", "running"):
        assert time.time() - t < timeout, job
        time.sleep(0.1)
        job = c.get(f"/api/jobs/{job['id']}", headers=headers).json()
    return job


SUPPLIERS = b"name,country\nCATL,CN\nContemporary Amperex Technology,CN\nAcme Widgets,US\n"

# (method, path, least role, request keywords); each is a call the role may make
ENDPOINTS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("GET", "/api/whoami", "read", {}),
    ("GET", "/api/info", "read", {}),
    ("GET", "/api/overview", "read", {}),
    ("GET", "/api/map?stage=cell", "read", {}),
    ("GET", "/api/tables", "read", {}),
    ("GET", "/api/tables/facilities?limit=2", "read", {}),
    ("POST", "/api/import", "write",
     {"files": [("files", ("companies.csv", b"id,name,country\nnewco,New Co,US\n"))]}),
    ("POST", "/api/tables/facilities/delete", "write", {"json": {"keys": ["no_such_plant"]}}),
    ("GET", f"/api/trace/{PRODUCT}", "read", {}),
    ("GET", f"/api/trace/{PRODUCT}/explain?stage=mine", "read", {}),
    ("GET", "/api/owners/gotion", "read", {}),
    ("GET", "/api/rules", "read", {}),
    ("GET", "/api/rules/US-NDAA24-154", "read", {}),
    ("GET", f"/api/check/{PRODUCT}?buyer=dod&on=2027-10-01", "read", {}),
    ("POST", "/api/check", "read", {"json": {"products": [PRODUCT], "buyer": "dod"}}),
    ("GET", f"/api/product/{PRODUCT}?buyer=dod&on=2027-10-01", "read", {}),
    ("GET", "/api/products", "read", {}),
    ("GET", f"/api/report/{PRODUCT}?buyer=dod", "read", {}),
    ("POST", "/api/screen", "write", {"files": {"file": ("s.csv", SUPPLIERS)}}),
    ("POST", "/api/screen/rows", "write", {"json": {"rows": [{"name": "CATL"}], "queue": False}}),
    ("GET", "/api/reviews", "read", {}),
    ("POST", "/api/reviews/999999", "write", {"json": {"decision": "same"}}),
    ("GET", "/api/risk?stage=anode", "read", {}),
    ("GET", "/api/audit?limit=5", "read", {}),
    ("GET", "/api/audit/verify", "read", {}),
    ("GET", "/api/audit/writes", "read", {}),
    ("GET", "/api/keys", "admin", {}),
    ("POST", "/api/keys", "admin", {"json": {"name": "made-by-api", "role": "read"}}),
    ("DELETE", "/api/keys/no-such-key", "admin", {}),
    ("POST", "/api/jobs/simulate", "read", {"json": {"scenario": "graphite_cutoff"}}),
    ("POST", "/api/jobs/plan", "read", {"json": {"scenario": "no_such_scenario"}}),
    ("POST", "/api/jobs/check-all", "read", {"json": {"buyer": "dod"}}),
    ("GET", "/api/jobs", "read", {}),
    ("GET", "/api/jobs/0123456789abcdef", "read", {}),
    ("DELETE", "/api/jobs/0123456789abcdef", "read", {}),
]
RANK = {"none": -1, "read": 0, "write": 1, "admin": 2}


def test_every_api_route_is_in_the_matrix(keyed: Any) -> None:
    c, _ = keyed
    paths = {(m, r.path) for r in c.app.routes if getattr(r, "path", "").startswith("/api/")
             for m in getattr(r, "methods", ()) if r.path != "/api/health"}
    import re

    covered = set()
    for method, path, _, _ in ENDPOINTS:
        for m, p in paths:
            pat = "^" + re.sub(r"\{[^}]+\}", "[^/]+", p) + "$"
            if m == method and re.match(pat, path.split("?")[0]):
                covered.add((m, p))
    assert paths - covered == set()


@pytest.mark.parametrize("role", ["none", "bad", "read", "write", "admin"])
@pytest.mark.parametrize(("method", "path", "least", "kw"), ENDPOINTS,
                         ids=[f"{m} {p.split('?')[0]}" for m, p, _, _ in ENDPOINTS])
def test_auth_matrix(keyed: Any, role: str, method: str, path: str, least: str,
                     kw: dict[str, Any]) -> None:
    c, keys = keyed
    headers = {} if role == "none" else {"X-API-Key": keys.get(role, "onk_not_a_key")}
    if method == "POST" and path == "/api/keys":
        kw = {"json": {"name": f"made-by-{role}", "role": "read"}}
    r = c.request(method, path, headers=headers, **kw)
    if role in ("none", "bad"):
        assert r.status_code == 401, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.headers.get("www-authenticate") == "Bearer"
    elif RANK[role] < RANK[least]:
        assert r.status_code == 403, r.text
        assert r.json()["title"] == "Forbidden"
    else:
        assert r.status_code not in (401, 403, 500), r.text


def test_bearer_header_works_and_revoked_keys_do_not(keyed: Any) -> None:
    c, keys = keyed
    r = c.get("/api/whoami", headers={"Authorization": f"Bearer {keys['read']}"})
    assert r.json() == {"name": "read-key", "role": "read"}
    admin = {"X-API-Key": keys["admin"]}
    new = c.post("/api/keys", json={"name": "short-lived", "role": "write"}, headers=admin)
    assert new.status_code == 201
    secret = new.json()["key"]
    assert c.get("/api/whoami", headers={"X-API-Key": secret}).status_code == 200
    listed = c.get("/api/keys", headers=admin).json()
    assert all("hash" not in k and "key" not in k for k in listed)
    assert c.delete("/api/keys/short-lived", headers=admin).status_code == 200
    assert c.get("/api/whoami", headers={"X-API-Key": secret}).status_code == 401


def test_writes_are_logged_with_the_key_name(keyed: Any) -> None:
    c, keys = keyed
    h = {"X-API-Key": keys["write"]}
    r = c.post("/api/import", headers=h,
               files=[("files", ("companies.csv", b"id,name,country\nlogged_co,Logged,US\n"))])
    assert r.status_code == 200, r.text
    log = c.get("/api/audit/writes", headers=h).json()["rows"]
    assert log[0]["key_name"] == "write-key" and log[0]["action"] == "import"


def test_cors_is_off_by_default(keyed: Any) -> None:
    c, keys = keyed
    r = c.get("/api/info", headers={"Origin": "https://evil.example", "X-API-Key": keys["read"]})
    assert "access-control-allow-origin" not in r.headers


def test_cors_when_asked(reference_store: Path, tmp_path: Path) -> None:
    p = tmp_path / "s.duckdb"
    shutil.copy(reference_store, p)
    cfg = ServerSettings(local=True, cors_origins=["https://ok.example"])
    with TestClient(create_app(p, cfg)) as c:
        r = c.get("/api/health", headers={"Origin": "https://ok.example"})
        assert r.headers["access-control-allow-origin"] == "https://ok.example"


# --- the endpoints -------------------------------------------------------------------------
def test_docs_and_schema_are_local(local: TestClient) -> None:
    html = local.get("/docs").text
    assert "/static/vendor/swagger-ui-bundle.js" in html and "cdn" not in html.lower()
    assert local.get("/static/vendor/swagger-ui-bundle.js").status_code == 200
    assert local.get("/static/vendor/plotly.min.js").status_code == 200
    schema = local.get("/openapi.json").json()
    assert f"/api/check/{{product}}" in schema["paths"]


def test_info_tables_and_filters(local: TestClient) -> None:
    info = local.get("/api/info").json()
    assert info["counts"]["facilities"] > 300
    page = local.get("/api/tables/facilities", params={"where": "stage=cell", "limit": 5}).json()
    assert page["total"] > 50 and len(page["rows"]) == 5
    assert {r["stage"] for r in page["rows"]} == {"cell"}
    nxt = local.get("/api/tables/facilities",
                    params={"where": "stage=cell", "limit": 5, "offset": 5}).json()
    assert {r["id"] for r in nxt["rows"]}.isdisjoint(r["id"] for r in page["rows"])
    q = local.get("/api/tables/companies", params={"q": "gotion"}).json()
    assert any(r["id"] == "gotion" for r in q["rows"])
    bad = local.get("/api/tables/facilities", params={"where": "nope=1"})
    assert bad.status_code == 422 and "nope" in bad.json()["detail"]
    assert local.get("/api/tables/secrets").status_code == 422
    assert local.get("/api/tables/facilities", params={"limit": 100000}).status_code == 422
    assert local.get("/api/tables/facilities", params={"order": "1; DROP"}).status_code == 422


def test_map(local: TestClient) -> None:
    every = local.get("/api/map").json()
    assert every["plants"] == every["shown"] > every["located"] == len(every["points"]) > 100
    p = every["points"][0]
    assert {"lat", "lon", "stage", "status", "country", "control"} <= set(p)
    assert "market" not in {o["value"] for o in every["options"]["stage"]}
    # the controlling country is the library's, not the plant's country
    from onshore.network import Network
    from onshore.owners import controlling_country

    ctrl = controlling_country(Network.reference())
    assert all(x["control"] == ctrl[x["company"]] for x in every["points"])
    assert any(x["control"] != x["country"] for x in every["points"])
    cn = local.get("/api/map", params={"stage": "cell", "control": "CN"}).json()
    assert 0 < cn["shown"] < every["shown"]
    assert {(x["stage"], x["control"]) for x in cn["points"]} == {("cell", "CN")}
    shares = {}
    for r in cn["capacity_by_control"]["rows"]:
        shares[(r["stage"], r["unit"])] = shares.get((r["stage"], r["unit"]), 0) + r["share"]
    assert shares and all(abs(v - 1) < 1e-9 for v in shares.values())
    assert {r["country"] for r in cn["capacity_by_control"]["rows"]} == {"CN"}
    assert cn["capacity_by_control"]["countries"] == ["CN"]
    by_place = every["capacity_by_country"]
    assert set(by_place["countries"]) == {r["country"] for r in by_place["rows"]}
    assert local.get("/api/map", params={"control": "china"}).status_code == 422
    none = local.get("/api/map", params={"status": "closed"}).json()
    assert none["shown"] == 0 and none["points"] == [] and none["capacity_by_country"]["rows"] == []


def test_trace_explain_owners(local: TestClient) -> None:
    t = local.get(f"/api/trace/{PRODUCT}", params={"by": "raw,country"}).json()
    assert t["by"] == ["raw", "country"] and t["rows"]
    assert local.get(f"/api/trace/{PRODUCT}", params={"by": "colour"}).status_code == 422
    e = local.get(f"/api/trace/{PRODUCT}/explain", params={"stage": "mine", "top": 3}).json()
    assert e["paths"]
    assert local.get(f"/api/trace/{PRODUCT}/explain").status_code == 422
    o = local.get("/api/owners/gotion").json()
    assert o["controlling_country"] and o["owners"]
    assert local.get("/api/owners/no_such_company").status_code == 404


def test_check_one_batch_and_audit(local: TestClient) -> None:
    before = local.get("/api/audit", params={"limit": 1}).json()["total"]
    r = local.get(f"/api/check/{PRODUCT}", params={"buyer": "dod", "on": "2027-10-01"}).json()
    assert r["on"] == "2027-10-01" and r["verdicts"]
    assert {"verdict", "reason", "evidence", "settle"} <= set(r["verdicts"][0])
    after = local.get("/api/audit", params={"limit": 1, "product": PRODUCT}).json()
    assert local.get("/api/audit").json()["total"] == before + len(r["verdicts"])
    assert after["rows"][0]["product"] == PRODUCT
    b = local.post("/api/check", json={"products": [PRODUCT, "catl_erfurt"],
                                       "buyer": "dod_new_program", "on": "2028-01-01"}).json()
    assert [p["product"] for p in b["products"]] == [PRODUCT, "catl_erfurt"]
    assert local.get(f"/api/check/{PRODUCT}", params={"buyer": "nobody"}).status_code == 404
    assert local.get(f"/api/check/{PRODUCT}", params={"on": "2027-13-01"}).status_code == 422
    assert local.get("/api/check/no_such_plant").status_code == 404
    assert local.post("/api/check", json={"products": []}).status_code == 422
    assert local.get("/api/audit/verify").json()["intact"]


def test_product_page_data(local: TestClient) -> None:
    d = local.get(f"/api/product/{PRODUCT}", params={"buyer": "dod", "on": "2027-10-01"}).json()
    assert d["facility"]["id"] == PRODUCT and d["trace"] and d["sankey"]["labels"]
    assert d["timeline"] and any(t["date"] == "2027-10-01" for t in d["timeline"])
    # the heaviest paths of the largest origins: each tag's paths sum to its traced quantity
    assert d["paths"] and all(t["paths"][-1]["residual"] for t in d["paths"])
    for t in d["paths"]:
        row = [r for r in d["trace"] if all(str(r[k]) == v for k, v in t["tag"].items())]
        assert len(row) == 1 and t["quantity"] == pytest.approx(row[0]["quantity"], rel=1e-9)
        assert sum(p["weight"] for p in t["paths"]) == pytest.approx(t["quantity"], rel=1e-9)
        assert all(len(p["names"]) == len(p["nodes"]) for p in t["paths"])


def test_rules_and_report(local: TestClient) -> None:
    rules = local.get("/api/rules").json()
    assert "dod" in rules["buyers"] and rules["rules"]
    one = local.get(f"/api/rules/{rules['rules'][0]['id']}").json()
    assert one["citation"]
    assert local.get("/api/rules/NOPE").status_code == 404
    rep = local.get(f"/api/report/{PRODUCT}", params={"buyer": "dod"})
    assert rep.status_code == 200 and rep.headers["content-type"].startswith("text/html")


def test_risk(local: TestClient) -> None:
    r = local.get("/api/risk", params={"stage": "anode"}).json()
    assert r["concentration"] and {x["stage"] for x in r["concentration"]} == {"anode"}
    p = local.get("/api/risk", params={"product": PRODUCT}).json()
    assert "single_points_of_failure" in p and "dependency" in p
    assert local.get("/api/risk", params={"threshold": 2}).status_code == 422


def test_import_is_all_or_nothing_with_row_errors(local: TestClient) -> None:
    before = local.get("/api/info").json()["counts"]
    files = [
        ("files", ("companies.csv", b"id,name,country\ngood_co,Good,US\n")),
        ("files", ("facilities.csv",
                   b"id,company,name,country,stage\nf1,good_co,F1,ZZ,cell\nf2,ghost,F2,US,cell\n")),
    ]
    r = local.post("/api/import", files=files)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    errors = r.json()["errors"]
    assert {(e["file"], e["row"], e["column"]) for e in errors} >= {
        ("facilities.csv", 2, "country")}
    assert all("/tmp" not in e["file"] for e in errors)
    assert local.get("/api/info").json()["counts"] == before
    ok = local.post("/api/import", files=[files[0]])
    assert ok.status_code == 200 and ok.json()["written"] == {"companies": 1}


@pytest.mark.parametrize("name", ["../../etc/passwd.csv", "notes.txt", ".hidden.csv", "x.csv"])
def test_import_refuses_names_that_are_not_tables(local: TestClient, name: str) -> None:
    r = local.post("/api/import", files=[("files", (name, b"id,name,country\na,A,US\n"))])
    assert r.status_code == 422
    assert r.json()["errors"][0]["expected"].startswith("a file named after a table")


def test_upload_size_limit(keyed: Any) -> None:
    c, keys = keyed
    big = b"id,name,country\n" + b"a,A,US\n" * 40_000
    r = c.post("/api/import", headers={"X-API-Key": keys["write"]},
               files=[("files", ("companies.csv", big))])
    assert r.status_code == 413 and r.json()["title"] == "Upload too large"


def test_screen_and_review(local: TestClient) -> None:
    r = local.post("/api/screen", files={"file": ("list.csv", SUPPLIERS)}).json()
    assert r["counts"]["match"] >= 1 and len(r["results"]) == 3
    assert local.post("/api/screen", files={"file": ("list.csv", b"who\nx\n")}).status_code == 422
    assert local.post("/api/screen", files={"file": ("list.pdf", b"x")}).status_code == 422
    rows = local.post("/api/screen/rows", json={"rows": [{"name": "Envision AESC", "country": "JP"}
                                                         ]}).json()
    assert rows["results"][0]["input"] == "Envision AESC"
    pending = local.get("/api/reviews").json()["rows"]
    if pending:
        seq = pending[0]["seq"]
        d = local.post(f"/api/reviews/{seq}", json={"decision": "different"})
        assert d.status_code == 200 and d.json()["by"] == "local"
        assert all(p["seq"] != seq for p in local.get("/api/reviews").json()["rows"])
    assert local.post("/api/reviews/1", json={"decision": "maybe"}).status_code == 422


def test_jobs_check_all_simulate_plan_and_cancel(local: TestClient) -> None:
    j = wait(local, local.post("/api/jobs/check-all", json={"buyer": "dod",
                                                           "on": "2027-10-01"}).json())
    assert j["status"] == "done" and len(j["result"]["products"]) > 100
    s = wait(local, local.post("/api/jobs/simulate", json={"scenario": "graphite_cutoff",
                                                          "draws": 20}).json())
    assert s["status"] == "done" and "montecarlo" in s["result"]
    assert local.post("/api/jobs/simulate", json={"draws": 10**6}).status_code == 422
    bad = local.post("/api/jobs/simulate", json={"definition": {"name": "x"}})
    assert bad.status_code == 422
    p = local.post("/api/jobs/plan", json={"scenario": "ses_korea", "rule_costs": False}).json()
    c = local.delete(f"/api/jobs/{p['id']}").json()
    assert c["status"] in ("cancelled", "running")
    p = wait(local, local.get(f"/api/jobs/{p['id']}").json())
    assert p["status"] == "cancelled"
    done = wait(local, local.post("/api/jobs/plan", json={"scenario": "ses_korea",
                                                          "rule_costs": False}).json())
    assert done["status"] == "done" and done["result"]["objective"] > 0
    assert any(x["id"] == done["id"] for x in local.get("/api/jobs").json())
    assert local.get("/api/jobs/ffffffffffffffff").status_code == 404


def test_dashboard_pages_are_served(local: TestClient) -> None:
    for page in ("network", "product", "compliance", "screening", "risk", "audit"):
        r = local.get(f"/{page}")
        assert r.status_code == 200 and f'data-page="{page}"' in r.text
        assert "http://" not in r.text and "https://" not in r.text
    assert local.get(f"/product/{PRODUCT}").status_code == 200
    assert local.get("/", follow_redirects=False).headers["location"] == "/network"


def test_the_page_shells_sent_before_routing_are_the_routers(local: TestClient) -> None:
    # AnswerCache sends a page's shell without routing; the pages router alone must answer
    # the same paths with the same bytes, and no other path
    from fastapi import FastAPI

    from onshore.web import page_of, pages

    bare = FastAPI()
    bare.include_router(pages())
    with TestClient(bare) as router:
        paths = ["/network", "/risk", "/product", f"/product/{PRODUCT}", "/product/a/b",
                 "/product/", "/nope", "/risk/x", "/audit"]
        for path in paths:
            want = router.get(path, follow_redirects=False)
            got = local.get(path, follow_redirects=False)
            is_page = want.status_code == 200 and want.headers["content-type"].startswith("text/html")
            assert (page_of(path) is not None) == is_page, path
            if is_page:
                assert got.status_code == 200 and got.content == want.content, path


def test_cached_answers_follow_every_write(reference_store: Path, tmp_path: Path) -> None:
    """check and the product page are answered from a cache of the current data; an import, a
    review decision and a delete each change the answer, and the next request shows it (a
    cache keyed by anything less than every write would serve the old verdict)."""
    p = tmp_path / "store.duckdb"
    shutil.copy(reference_store, p)
    q = {"buyer": "dod", "on": "2027-10-01"}
    paths = ("/api/check/look_cell", "/api/product/look_cell")
    with TestClient(create_app(p, ServerSettings(local=True))) as c:

        def s154(path: str) -> dict[str, Any]:
            r = c.get(path, params=q)
            assert r.status_code == 200, r.text
            (v,) = [v for v in r.json()["verdicts"] if v["rule_id"] == "US-NDAA24-154"]
            return v  # type: ignore[no-any-return]

        def imported(*files: tuple[str, bytes]) -> None:
            r = c.post("/api/import", files=[("files", f) for f in files])
            assert r.status_code == 200, r.text

        imported(("companies.csv", b"id,name,country\nlook_co,Hanseong Cell Works Ltd,KR\n"),
                 ("facilities.csv", (b"id,company,name,country,stage,material\n"
                                     b"look_cell,look_co,Look Cell,KR,cell,cell_nmc622\n")))
        for path in paths * 2:  # the second round is answered from the cache
            assert s154(path)["verdict"] == "ALLOWED", path
        # an import renames the maker like CATL: its identity is for a reviewer to settle
        imported(("companies.csv",
                  b"id,name,country\nlook_co,Contemporary Amperex Technologies Ltd,KR\n"))
        for path in paths:
            v = s154(path)
            assert v["verdict"] == "UNKNOWN" and "resembles" in v["reason"], (path, v)
        # the pair is queued (as `onshore screen` or an import with screening would queue it)
        # and a reviewer judges it 'different': the maker is not CATL
        import re

        from onshore.compliance.screen import query_key
        from onshore.store.reviews import ReviewQueue

        listed = re.search(r"review the pair '(.+)' / look_co", " ".join(v["settle"] +
                                                                          [v["reason"]]))
        assert listed, v
        state = c.app.state.onshore  # type: ignore[attr-defined]
        with state.db() as store:
            ReviewQueue(store.con).add([{"key": query_key(listed[1]), "input": listed[1],
                                         "candidate": "look_co", "name": "look", "score": 0.9}])
        (pair,) = [x for x in c.get("/api/reviews").json()["rows"] if x["candidate"] == "look_co"]
        r = c.post(f"/api/reviews/{pair['seq']}", json={"decision": "different"})
        assert r.status_code == 200, r.text
        for path in paths:
            assert s154(path)["verdict"] == "ALLOWED", path
        # a delete removes the plant: neither answer outlives it
        r = c.post("/api/tables/facilities/delete", json={"keys": ["look_cell"]})
        assert r.status_code == 200 and r.json()["removed"] == 1, r.text
        for path in paths:
            assert c.get(path, params=q).status_code == 404, path
        refused = c.post("/api/tables/companies/delete", json={"keys": ["catl"]})
        assert refused.status_code == 422 and "refer" in refused.json()["detail"]


def test_answers_from_the_cache_still_ask_for_a_live_key(keyed: Any) -> None:
    """The same check asked again is answered from the app's answer cache, but only to a
    caller with a live key: none, a bad one or a revoked one is refused as on a first call."""
    c, keys = keyed
    admin = {"X-API-Key": keys["admin"]}
    secret = c.post("/api/keys", headers=admin, json={"name": "soon-gone", "role": "read"})
    secret = secret.json()["key"]
    path = f"/api/check/{PRODUCT}?buyer=dod&on=2027-10-01&period=2026"
    first = c.get(path, headers={"X-API-Key": secret})
    assert first.status_code == 200 and first.json()["period"] == "2026"
    again = c.get(path, headers={"Authorization": f"Bearer {secret}"})
    assert again.status_code == 200 and again.content == first.content
    for headers in ({}, {"X-API-Key": "onk_not_a_key"}):
        assert c.get(path, headers=headers).status_code == 401
    assert c.delete("/api/keys/soon-gone", headers=admin).status_code == 200
    assert c.get(path, headers={"X-API-Key": secret}).status_code == 401
    before = c.get("/api/audit", headers=admin, params={"limit": 1}).json()["total"]
    assert c.get(path, headers=admin).status_code == 200
    after = c.get("/api/audit", headers=admin, params={"limit": 1}).json()["total"]
    assert after == before + len(first.json()["verdicts"])  # audited from the cache too


def test_a_missing_period_is_the_latest_as_on_the_command_line(two_period_db: Path) -> None:
    """Without ``period`` the API decides from the latest year with flows in the product's
    supply chain, as ``onshore check`` does, and says so; the product page's trace and Sankey
    are of the same flows: a supplier used only in 2024 is not in the 2025 answer."""
    import datetime as dt
    import json

    from typer.testing import CliRunner

    import onshore.cli.check  # noqa: F401  (registers the commands)
    from onshore.cli.app import app
    from onshore.compliance import check
    from onshore.network import Network

    db = two_period_db
    runner = CliRunner()
    r = runner.invoke(app, ["check", "cell1", "--on", "2026-01-01", "--db", str(db),
                            "--format", "json"])
    assert r.exit_code == 0, r.output
    cli = [(x["id"], x["verdict"], x["reason"]) for x in json.loads(r.stdout)]
    lib = check(Network.load(db), "cell1", "dod", dt.date(2026, 1, 1), period="2025")
    assert cli == [(v.rule_id, v.verdict.value, v.reason) for v in lib]
    q = {"buyer": "dod", "on": "2026-01-01"}
    with TestClient(create_app(db, ServerSettings(local=True))) as c:
        one = c.get("/api/check/cell1", params=q)
        assert one.status_code == 200, one.text
        got = one.json()
        assert got["period"] == "2025"
        assert got["period_basis"].startswith(
            "flows of 2025 (the latest year with flows in the product's supply chain")
        assert [(v["rule_id"], v["verdict"], v["reason"]) for v in got["verdicts"]] == cli
        assert not any("mine2" in e for v in got["verdicts"] for e in v["evidence"])
        asked = c.get("/api/check/cell1", params={**q, "period": "2025"}).json()
        assert asked["verdicts"] == got["verdicts"] and asked["period_basis"] == "flows of 2025"
        batch = c.post("/api/check", json={"products": ["cell1"], **q})
        assert batch.status_code == 200, batch.text
        row = batch.json()["products"][0]
        assert row["period"] == "2025" and row["period_basis"] == got["period_basis"]
        pages = {}
        for period in (None, "2024"):
            r = c.get("/api/product/cell1", params={**q, **({"period": period} if period else {})})
            assert r.status_code == 200, r.text
            pages[period] = r.json()
        late, early = pages[None], pages["2024"]
        assert late["period"] == "2025" and early["period"] == "2024"
        assert late["period_basis"] == got["period_basis"] and late["verdicts"] == got["verdicts"]
        assert late["timeline"] and late["data_basis"].startswith("2 upstream plant(s)")
        assert not any(row["country"] == "CL" for row in late["trace"])
        assert any(row["country"] == "CL" for row in early["trace"])
        assert not any("CL" in lab for lab in late["sankey"]["labels"])
        assert any("CL" in lab for lab in early["sankey"]["labels"])
        none = c.get("/api/check/cell1", params={**q, "period": "2023"})
        assert none.status_code == 422 and "no flows in period '2023'" in none.text
