"""A report an officer can sign: a PROHIBITED, an ALLOWED and an UNKNOWN verdict on the
reference network rendered to HTML and PDF, with every section present, UNKNOWN verdicts
saying what would settle them, the evidence chains, the audit entry, size and page limits."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_check import small
from test_report import write_small

from onshore.compliance import Outcome, check, worst
from onshore.compliance.dossier import SETTLE_DEFAULT, dossier
from onshore.network import Network
from onshore.store.audit import AuditLog
from onshore.views.report import find_browser, render, write_report

CASES = {
    # product, buyer, date, overall verdict
    "prohibited": ("gotion_goettingen", "dod_new_program", "2028-06-01", Outcome.PROHIBITED),
    "allowed": ("aesc_smyrna", "dod", "2026-01-01", Outcome.ALLOWED),
    "unknown": ("ses_chungju", "dod", "2027-10-01", Outcome.UNKNOWN),
}
SECTIONS = (
    "title", "overall", "verdicts", "rules", "sankey", "owners", "estimates", "cuts", "scope",
    "sources", "signoff", "audit-entry", "data-basis",
)
MAX_HTML = 1_500_000


class Ids(HTMLParser):
    """Element ids, the rule blocks and their settle lists, and scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.scripts = 0
        self.rule: str | None = None
        self.settle: dict[str, int] = {}
        self.in_settle = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag == "script":
            self.scripts += 1
        if tag == "div" and "rule" in (a.get("class") or "").split():
            self.rule = a.get("data-rule")
        if tag == "ul" and a.get("class") == "settle-list":
            self.in_settle = True
        if tag == "li" and self.in_settle and self.rule:
            self.settle[self.rule] = self.settle.get(self.rule, 0) + 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "ul":
            self.in_settle = False


@pytest.fixture(scope="module")
def ref() -> Network:
    return Network.reference()


def pages(pdf: Path) -> int:
    """The page count: pypdf when installed, else poppler's pdfinfo, else the page objects."""
    try:
        import pypdf  # type: ignore[import-not-found]

        return len(pypdf.PdfReader(str(pdf)).pages)
    except ImportError:
        pass
    if shutil.which("pdfinfo"):
        out = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
        return int(re.search(r"Pages:\s+(\d+)", out.stdout).group(1))  # type: ignore[union-attr]
    return len(re.findall(rb"/Type\s*/Page\b", pdf.read_bytes()))


def text_of(pdf: Path) -> str | None:
    if not shutil.which("pdftotext"):
        return None
    return subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.parametrize("case", list(CASES))
def test_html_report_has_every_section(case: str, ref: Network, tmp_path: Path) -> None:
    product, buyer, on, overall = CASES[case]
    vs = check(ref, product, buyer, on)
    assert worst(vs) == overall
    (out,) = write_report(ref, product, vs, tmp_path / "r.html", prepared_by="A. Officer")
    html = out.read_text(encoding="utf-8")
    assert out.stat().st_size < MAX_HTML
    p = Ids()
    p.feed(html)
    assert set(SECTIONS) <= p.ids, set(SECTIONS) - p.ids
    assert p.scripts == 0  # static SVG: nothing to load, no toolbar to print
    assert "<svg" in html and "this product" in html
    # names, not raw ids, in the title
    title = re.search(r"<h1>(.*?)</h1>", html, re.S).group(1)  # type: ignore[union-attr]
    assert product not in title and buyer not in title.split("(")[0]
    assert re.search(r"\d{1,2} (January|February|March|April|May|June|July|August|September|"
                     r"October|November|December) \d{4}", title)
    assert "store snapshot" in html or "not from a store" in html
    for v in vs:  # every rule shows its citation, status and reading
        assert f'id="rule-{v.rule_id}"' in html and v.citation.split(",")[0] in html
        if v.verdict == Outcome.UNKNOWN:
            assert p.settle.get(v.rule_id, 0) >= 1, v.rule_id
    assert "Status:" in html and "A. Officer" in html


def test_unknown_always_says_what_would_settle_it(ref: Network) -> None:
    product, buyer, on, _ = CASES["unknown"]
    vs = check(ref, product, buyer, on)
    for v in vs:
        v.settle = []  # even when a test gives no step
    d = dossier(ref, product, vs)
    unknown = [r for r in d.rules if r.verdict.verdict == Outcome.UNKNOWN]
    assert unknown and all(r.settle == [SETTLE_DEFAULT] for r in unknown)


def test_ownership_chain_and_sankey_in_stage_order(ref: Network) -> None:
    product, buyer, on, _ = CASES["prohibited"]
    d = dossier(ref, product, check(ref, product, buyer, on))
    (r,) = [r for r in d.rules if r.verdict.rule_id == "US-NDAA24-154"]
    assert r.chains and r.chains[0]["links"]
    link = r.chains[0]["links"][0]
    assert "Gotion" in link["owner"] and link["stake"].startswith("equity")
    labels, x = d.links["labels"], d.links["x"]
    assert len(labels) == len(x) and d.links["source"]
    col = dict(zip(labels, x, strict=True))
    mines = [col[lab] for lab in labels if lab.startswith("mine")]
    assert mines and min(mines) < col[next(lab for lab in labels if "this product" in lab)]
    for s, t in zip(d.links["source"], d.links["target"], strict=True):
        assert col[labels[s]] < col[labels[t]]  # every link runs downstream


def test_content_test_shows_the_cost_table() -> None:
    net = small()
    d = dossier(net, "kr_cell_cn_cam", check(net, "kr_cell_cn_cam", "dod_new_program",
                                              "2028-06-01"))
    (r,) = [r for r in d.rules if r.verdict.rule_id == "US-10USC4865-new"]
    assert r.verdict.verdict == Outcome.PROHIBITED and r.cost is not None
    rows = r.cost["rows"]
    assert {x["stage"] for x in rows} == {"cathode", "anode"}
    assert any(x["feoc"] == "FEOC" and "Contemporary" in x["company"] for x in rows)
    assert r.cost["feoc_share"] == pytest.approx(r.verdict.inputs["feoc_share"], abs=1e-6)
    assert sum(x["share"] for x in rows) == pytest.approx(1.0)
    html = render(net, "kr_cell_cn_cam", [x.verdict for x in d.rules])
    assert "Component cost by plant and supplier" in html and "FEOC share 85.7%" in html


def test_estimates_and_cuts_are_listed(ref: Network) -> None:
    product, buyer, on, _ = CASES["prohibited"]
    vs = check(ref, product, buyer, on)
    vs[0].evidence = [f"line {k}" for k in range(30)]
    d = dossier(ref, product, vs)
    assert d.rules[0].evidence_cut == 18 and any("18 evidence line" in c for c in d.cuts)
    assert d.estimates["stakes"]  # the Gotion Germany holding is an estimate
    html = render(ref, product, vs)
    assert "18 more evidence line(s) not shown" in html


def test_cli_report_cites_the_audit_entry(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    import onshore.cli.check  # noqa: F401
    from onshore.cli.app import app
    from onshore.store.duckdb import DuckDBStore

    db = tmp_path / "s.duckdb"
    write_small(db)
    out = tmp_path / "k.html"
    r = CliRunner().invoke(app, ["report", "kr_cell", "--on", "2027-10-01", "--db", str(db),
                                 "-o", str(out), "--prepared-by", "A. Officer"])
    assert r.exit_code == 0, r.output
    with DuckDBStore(db) as s:
        log = AuditLog(s.con)
        last = log.last()
        assert last is not None and len(log) == last["last"]
    html = out.read_text(encoding="utf-8")
    assert last["hash"] in html and f"#{last['last']}" in html and "A. Officer" in html


@pytest.mark.skipif(find_browser() is None,
                    reason="no Chromium: 'make pdf-engine' installs it (CI does)")
@pytest.mark.parametrize("case", list(CASES))
def test_pdf_report(case: str, ref: Network, tmp_path: Path) -> None:
    product, buyer, on, overall = CASES[case]
    vs = check(ref, product, buyer, on)
    html, pdf = write_report(ref, product, vs, tmp_path / "r.html", pdf=True)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and 20_000 < len(data) < 3_000_000
    n = pages(pdf)
    assert 2 <= n <= 15, n
    text = text_of(pdf)
    if text is not None:
        assert f"Page 1 of {n}" in text and f"Page {n} of {n}" in text
        for heading in ("Verdicts", "Rule by rule", "Origin: flows between stages",
                        "Estimates", "What was cut", "Scope and limitations", "Sign-off"):
            assert heading in text, heading
        assert overall.value in text
        if overall == Outcome.UNKNOWN:
            assert "What would settle it" in text
        assert "Download plot" not in text  # no chart toolbar in print
