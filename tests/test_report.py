"""The report opens, holds the verdicts, embeds plotly (no CDN) and cites sources; the CLI answers."""

from __future__ import annotations

import datetime as dt
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_check import small
from typer.testing import CliRunner

from onshore.compliance import check
from onshore.errors import EngineUnavailable
from onshore.views.report import find_browser, write_report


class Verdicts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, str] = {}
        self.scripts: list[dict[str, str | None]] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr" and a.get("class") == "verdict":
            self.rows[str(a["data-rule"])] = str(a["data-verdict"])
        if tag == "script":
            self.scripts.append(a)
        if tag == "a" and a.get("href"):
            self.links.append(str(a["href"]))


def test_report_holds_the_verdicts(tmp_path: Path) -> None:
    net = small()
    vs = check(net, "catl_ningde", "dod", dt.date(2027, 10, 1))
    (out,) = write_report(net, "catl_ningde", vs, tmp_path / "r.html")
    html = out.read_text(encoding="utf-8")
    p = Verdicts()
    p.feed(html)
    assert p.rows["US-NDAA24-154"] == "PROHIBITED"
    assert set(p.rows) == {v.rule_id for v in vs}
    assert not any((s.get("src") or "").startswith("http") for s in p.scripts)  # no CDN
    assert "<svg" in html and "zeng" in html  # the Sankey inline; the owner chain shown
    assert len(html) < 1_500_000
    assert any("arnoldporter.com" in h for h in p.links)


def test_pdf_without_engine_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no browser anywhere
    monkeypatch.delenv("ONSHORE_BROWSER", raising=False)
    net = small()
    vs = check(net, "kr_cell", "dod", dt.date(2027, 10, 1))
    with pytest.raises(EngineUnavailable, match="make pdf-engine"):
        write_report(net, "kr_cell", vs, tmp_path / "r.html", pdf=True)
    assert (tmp_path / "r.html").exists()


@pytest.mark.skipif(find_browser() is None, reason="no Chromium: 'make pdf-engine' installs it (CI does)")
def test_pdf_is_printed_with_the_verdicts(tmp_path: Path) -> None:
    net = small()
    vs = check(net, "kr_cell", "dod", dt.date(2027, 10, 1))
    html, pdf = write_report(net, "kr_cell", vs, tmp_path / "r.html", pdf=True)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and len(data) > 10_000
    assert b"/Type /Page" in data or b"/Type/Page" in data


def write_small(db: Path) -> None:
    """The small network written to a store file through its tables."""
    import pyarrow as pa

    from onshore.records.model import TABLES
    from onshore.store.duckdb import DuckDBStore

    net = small()
    with DuckDBStore(db) as s:
        for t in TABLES:
            df = getattr(net, t)
            if len(df):
                cols = [c for c in TABLES[t].columns if c in df]
                s.con.register("_x", pa.Table.from_pandas(df[cols].astype(object).where(df[cols].notna(), None), preserve_index=False))
                s.con.execute(f"INSERT INTO {t} ({', '.join(chr(34) + c + chr(34) for c in cols)}) SELECT * FROM _x")
                s.con.unregister("_x")


def test_cli_check_rules_owners(tmp_path: Path) -> None:
    import onshore.cli.check  # noqa: F401  (registers the commands)
    from onshore.cli.app import app

    net = small()
    db = tmp_path / "s.duckdb"
    write_small(db)
    r = CliRunner().invoke(app, ["check", "catl_ningde", "--buyer", "dod", "--on", "2027-10-01", "--db", str(db), "--format", "json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert {"id", "verdict", "reason", "evidence"} <= set(rows[0])
    assert any(x["id"] == "US-NDAA24-154" and x["verdict"] == "PROHIBITED" for x in rows)
    r = CliRunner().invoke(app, ["check", "--all", "--buyer", "dod", "--on", "2027-10-01", "--db", str(db), "--format", "json"])
    assert r.exit_code == 0, r.output
    assert {x["product"] for x in json.loads(r.output)} >= {"catl_ningde", "kr_cell"}
    r = CliRunner().invoke(app, ["owners", "catl_hu", "--db", str(db), "--format", "json"])
    assert r.exit_code == 0, r.output
    o = {x["owner"]: x for x in json.loads(r.output)}
    assert o["zeng"]["ultimate"] and o["catl"]["controls"] and o["zeng"]["equity"] == pytest.approx(0.6)
    r = CliRunner().invoke(app, ["rules", "show", "US-NDAA24-154", "--format", "json"])
    assert r.exit_code == 0 and "2027-10-01" in r.output
    r = CliRunner().invoke(app, ["rules", "list"])
    assert r.exit_code == 0 and "US-10USC4865-new" in r.output
    r = CliRunner().invoke(app, ["report", "kr_cell", "--on", "2027-10-01", "--db", str(db), "-o", str(tmp_path / "k.html")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "k.html").exists()


def test_report_content_is_of_the_period_it_decides_from(
    tmp_path: Path, two_period_db: Path
) -> None:
    """A supplier used only in an earlier period is not in the later period's report: not
    in the upstream plants, the Sankey, the estimated flows or the data basis."""
    from onshore.cli.app import app
    from onshore.compliance.dossier import dossier
    from onshore.network import Network

    db = two_period_db
    runner = CliRunner()
    html = {}
    for period in (None, "2024"):
        out = tmp_path / f"r{period}.html"
        r = runner.invoke(app, ["report", "cell1", "--on", "2026-01-01", "--db", str(db), "-o", str(out),
                                *(["--period", period] if period else [])])
        assert r.exit_code == 0, r.output
        html[period] = out.read_text(encoding="utf-8")
    # the default is the latest period with flows, and the report says so
    assert re.search(r'id="period">flows of 2025 \(the latest year', html[None])
    assert 'id="period">flows of 2024' in html["2024"]
    for later in ("mine2", "Old Mine Two", "mine · CL"):
        assert later not in html[None], later
        assert later in html["2024"], later
    net = Network.load(db)
    vs = check(net, "cell1", "dod", "2026-01-01", period="2025")
    late, early = dossier(net, "cell1", vs, period="2025"), dossier(net, "cell1", vs, period="2024")
    assert late.period == "2025" and late.title["period"] == "flows of 2025"
    assert not any("mine2" in s["what"] or "Old Mine" in s["what"] for s in late.data_sources)
    assert any("Old Mine" in s["what"] for s in early.data_sources)
    assert not any("CL" in lab for lab in late.links["labels"])
    assert any("CL" in lab for lab in early.links["labels"])
    assert not any("mine2" in f for f in late.estimates["flows"])
    pooled = dossier(net, "cell1", vs)
    assert late.data_basis.startswith("2 upstream plant(s)")  # ref1, mine1
    assert pooled.data_basis.startswith("3 upstream plant(s)")  # and mine2
    assert pooled.title["period"] == "flows of every period pooled"
    assert any("Old Mine" in s["what"] for s in pooled.data_sources)
