"""Rule files: the bundled ones load, and a malformed one names its file and key."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from onshore.errors import NotFound, RuleError
from onshore.rules import FeocContent, NamedEntity, bundled, load_rules, tariff_table

GOOD = """
rules:
  - id: X-1
    version: 1
    title: A test rule
    jurisdiction: US
    citation: none
    sources: [{url: "https://example.org/x"}]
    status: enacted
    confirmation: verified
    effective_from: 2027-10-01
    buyers: [dod]
    test: {kind: always, message: ended}
"""


def write(tmp_path: Path, text: str, name: str = "extra.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_bundled_rules_load_with_the_issue_rules() -> None:
    rs = bundled()
    for rid in ["US-NDAA24-154", "US-10USC4865-new", "US-10USC4865-std", "US-10USC4865-exist",
                "US-NDAA24-805-direct", "US-NDAA24-805-indirect", "US-DFARS-7052-a", "US-DFARS-7052-b",
                "US-30D-CM", "US-30D-BC", "US-30D-FEOC-comp", "US-30D-FEOC-min", "US-30D-END",
                "US-45X-PFE", "US-45X-MACR", "US-UFLPA-battery", "EU-BR-passport", "EU-BR-DD",
                "US-301-batteries"]:
        assert rid in rs.rules, rid
    r154 = rs.get("US-NDAA24-154")
    assert r154.effective_from == dt.date(2027, 10, 1)
    assert isinstance(r154.test, NamedEntity) and len(r154.test.entities) == 6
    assert r154.reading and "successor" in r154.reading
    t = rs.get("US-10USC4865-new").test
    assert isinstance(t, FeocContent) and t.max_feoc_share == 0.05 and t.basis == "cost"
    assert rs.get("US-10USC4865-exist").effective_from == dt.date(2031, 1, 30)
    assert rs.get("US-45X-MACR").confirmation == "unconfirmed"
    assert all(r.sources for r in rs.rules.values())


def test_buyer_scopes_inherit() -> None:
    rs = bundled()
    assert rs.scopes("dod_new_program") == ["dod_new_program", "dod"]
    ids = {r.id for r in rs.for_buyer("dod_new_program")}
    assert "US-NDAA24-154" in ids and "US-10USC4865-new" in ids and "US-10USC4865-std" not in ids
    assert "US-10USC4865-new" not in {r.id for r in rs.for_buyer("dod")}
    with pytest.raises(NotFound):
        rs.scopes("navy")


def test_in_force_edges() -> None:
    r = bundled().get("US-30D-FEOC-comp")
    assert not r.in_force(dt.date(2023, 12, 31))
    assert r.in_force(dt.date(2024, 1, 1)) and r.in_force(dt.date(2025, 9, 30))
    assert not r.in_force(dt.date(2025, 10, 1))


def test_tariff_rates_are_dated() -> None:
    rs = bundled()
    assert rs.tariff_rate("natural_graphite", "CN", dt.date(2025, 12, 31)) == 0.0
    assert rs.tariff_rate("natural_graphite", "CN", dt.date(2026, 1, 1)) == 0.25
    assert rs.tariff_rate("li_ion_ev_battery", "CN", dt.date(2024, 9, 27)) == 0.25
    assert rs.tariff_rate("li_ion_ev_battery", "CN", dt.date(2024, 9, 26)) is None
    assert rs.tariff_rate("li_ion_ev_battery", "KR", dt.date(2026, 1, 1)) is None
    rows = tariff_table(rs)
    assert {"origin", "tariff_class", "rate", "effective_from"} <= set(rows[0])


def test_adding_a_rule_is_a_yaml_file(tmp_path: Path) -> None:
    rs = load_rules([write(tmp_path, GOOD)])
    assert rs.get("X-1").buyers == ("dod",)


def test_malformed_rule_names_file_and_key(tmp_path: Path) -> None:
    bad = GOOD.replace("effective_from: 2027-10-01", "effective_from: someday")
    with pytest.raises(RuleError) as e:
        load_rules([write(tmp_path, bad, "broken.yaml")])
    msg = str(e.value)
    assert "broken.yaml" in msg and "rules[0] (X-1).effective_from" in msg


def test_malformed_test_parameter(tmp_path: Path) -> None:
    bad = GOOD.replace("test: {kind: always, message: ended}",
                       "test: {kind: feoc_content, component_stages: [cathode], max_feoc_share: 5}")
    with pytest.raises(RuleError, match=r"broken.yaml: rules\[0\] \(X-1\)\.test\.feoc_content\.max_feoc_share"):
        load_rules([write(tmp_path, bad, "broken.yaml")])
    with pytest.raises(RuleError, match="test"):
        load_rules([write(tmp_path, GOOD.replace("kind: always", "kind: vibes"), "broken.yaml")])


def test_unknown_key_bad_yaml_duplicate_id_and_unknown_buyer(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match=r"rules\[0\] \(X-1\)\.colour"):
        load_rules([write(tmp_path, GOOD + "    colour: red\n", "a.yaml")])
    with pytest.raises(RuleError, match="b.yaml: line"):
        load_rules([write(tmp_path, "rules: [\n  - id: : :", "b.yaml")])
    with pytest.raises(RuleError, match="already used"):
        load_rules([write(tmp_path, GOOD, "c.yaml"), write(tmp_path, GOOD, "d.yaml")])
    with pytest.raises(RuleError, match="unknown scope"):
        load_rules([write(tmp_path, GOOD.replace("[dod]", "[navy]"), "e.yaml")])


def test_a_date_that_does_not_exist_names_file_and_key(tmp_path: Path) -> None:
    bad = GOOD.replace("effective_from: 2027-10-01", "effective_from: 2027-02-30")
    with pytest.raises(RuleError) as e:
        load_rules([write(tmp_path, bad, "broken.yaml")])
    assert "broken.yaml" in str(e.value) and "rules[0] (X-1).effective_from" in str(e.value)
    with pytest.raises(RuleError, match="no such rule file"):
        load_rules([tmp_path / "missing.yaml"])


def test_rule_files_read_by_libyaml_as_by_pure_python(tmp_path: Path) -> None:
    """The loader's C scanner (libyaml, when PyYAML has it) reads every bundled rule and list
    file, and the date edge cases, into the same data as PyYAML's pure-Python safe loader."""
    from importlib import resources

    import yaml

    from onshore.rules import loader

    class Pure(yaml.SafeLoader):  # type: ignore[misc]
        pass

    Pure.add_constructor("tag:yaml.org,2002:timestamp", loader._timestamp)
    files = [p for p in resources.files("onshore.rules").iterdir() if p.name.endswith(".yaml")]
    files += [p for p in (resources.files("onshore") / "data" / "lists").iterdir()
              if p.name.endswith(".yaml")]
    texts = [f.read_text(encoding="utf-8") for f in files]
    texts.append("a: 2027-02-30\nb: 2027-02-28\nc: [1, 2.5, no, ~, '2027-01-01']\nd: 日本\n")
    assert len(files) >= 9
    for text in texts:
        assert yaml.load(text, Loader=loader._Loader) == yaml.load(text, Loader=Pure)
    assert yaml.load(texts[-1], Loader=loader._Loader)["a"] == "2027-02-30"
    assert yaml.load(texts[-1], Loader=loader._Loader)["b"] == dt.date(2027, 2, 28)
    if yaml.__with_libyaml__:
        assert issubclass(loader._Loader, yaml.CSafeLoader)


def test_cli_rules_list_show_and_user_rule_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml
    from typer.testing import CliRunner

    from conftest import TINY, tiny_files
    from onshore.cli import app
    from onshore.io.load import import_files
    from onshore.store.duckdb import DuckDBStore

    runner = CliRunner()
    r = runner.invoke(app, ["rules", "list", "--all-columns"])
    assert r.exit_code == 0
    for rule_id in bundled().rules:
        assert rule_id in r.output  # never cut
    r = runner.invoke(app, ["rules", "show", "US-NDAA24-805-indirect"])
    assert r.exit_code == 0 and "{'" not in r.output
    shown = yaml.safe_load(r.output)
    assert shown["id"] == "US-NDAA24-805-indirect" and isinstance(shown["test"], dict)

    db = tmp_path / "t.duckdb"
    with DuckDBStore(db) as s:
        import_files(s, tiny_files(TINY))
    monkeypatch.setenv("ONSHORE_DB", str(db))
    mine = write(tmp_path / "rules", GOOD.replace("X-1", "MY-1"), "mine.yaml") if (
        (tmp_path / "rules").mkdir() or True) else None
    for opt in (["--rules", str(mine)], ["--rules-dir", str(tmp_path / "rules")]):
        r = runner.invoke(app, ["check", "cell1", "--on", "2028-01-01", *opt, "--format", "json"])
        assert r.exit_code == 0, r.output
        assert "MY-1" in r.output
    bad = write(tmp_path, GOOD.replace("effective_from: 2027-10-01", "effective_from: 2027-13-01"),
                "bad.yaml")
    r = runner.invoke(app, ["check", "cell1", "--rules", str(bad)])
    assert r.exit_code == 2 and "bad.yaml" in r.output and "effective_from" in r.output
    assert "Traceback" not in r.output
