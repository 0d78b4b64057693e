"""The CLI's store commands, run in process as a user would type them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import tiny_files
from onshore.cli import app

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cli.duckdb"
    monkeypatch.setenv("ONSHORE_DB", str(path))
    return path


def test_init_import_info_export(db: Path, tiny_dir: Path, tmp_path: Path) -> None:
    assert runner.invoke(app, ["init"]).exit_code == 0
    assert db.exists()
    r = runner.invoke(app, ["import", *map(str, tiny_files(tiny_dir))])
    assert r.exit_code == 0, r.output
    assert "imported 18 rows" in r.output
    r = runner.invoke(app, ["info"])
    assert r.exit_code == 0 and "facilities" in r.output
    r = runner.invoke(app, ["export", str(tmp_path / "out"), "--format", "csv"])
    assert r.exit_code == 0
    with (tmp_path / "out" / "facilities.csv").open() as f:
        assert {row["id"] for row in csv.DictReader(f)} == {"mine1", "ref1", "cell1"}


def test_db_option_beats_the_environment(db: Path, tiny_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.duckdb"
    r = runner.invoke(app, ["import", "--db", str(other), str(tiny_dir / "companies.csv")])
    assert r.exit_code == 0 and other.exists() and not db.exists()


def test_bad_import_exits_non_zero_without_traceback(db: Path, tiny_dir: Path, tmp_path: Path) -> None:
    runner.invoke(app, ["import", *map(str, tiny_files(tiny_dir))])
    bad = tmp_path / "flows.csv"
    bad.write_text("supplier,customer,material,quantity,unit,period\nno-such-facility-a,ref1,lioh,5,t,2025\n")
    r = runner.invoke(app, ["import", str(bad)])
    assert r.exit_code == 2
    assert "no-such-facility-a" in r.output and "nothing was written" in r.output
    assert "Traceback" not in r.output


def test_commands_on_a_missing_store_say_what_to_do(db: Path) -> None:
    r = runner.invoke(app, ["info"])
    assert r.exit_code == 1 and "onshore init" in r.output


def test_every_command_has_help() -> None:
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0
    for cmd in app.registered_commands:
        name = cmd.name or cmd.callback.__name__  # type: ignore[union-attr]
        sub = runner.invoke(app, [name, "--help"])
        assert sub.exit_code == 0, name
        assert (cmd.callback.__doc__ or "").strip(), f"{name} has no help text"  # type: ignore[union-attr]


def test_paths_to_write_are_checked_before_any_work(db: Path, tiny_dir: Path, tmp_path: Path) -> None:
    runner.invoke(app, ["import", *map(str, tiny_files(tiny_dir))])
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    out = tmp_path / "out"
    assert runner.invoke(app, ["export", str(out), "--format", "csv"]).exit_code == 0
    cases = [
        (["export", str(out), "--format", "csv"], "already holds"),
        (["export", str(a_file)], "is a file"),
        (["report", "cell1", "-o", str(tmp_path)], "is a folder"),
        (["simulate", "graphite_cutoff", "-o", str(a_file)], "is a file"),
        (["plan", "ses_korea", "-o", str(a_file)], "is a file"),
        (["plan", "no_such_scenario"], "graphite_cutoff, ses_korea"),
        (["trace", "nope"], "no product"),
    ]
    for args, said in cases:
        r = runner.invoke(app, args)
        assert r.exit_code == 2, (args, r.output)
        assert said in r.output and "Traceback" not in r.output, (args, r.output)
    r = runner.invoke(app, ["export", str(out), "--format", "csv", "--overwrite"])
    assert r.exit_code == 0, r.output


def test_scenario_names_resolve_to_the_bundled_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from onshore.cli.app import scenario_path

    monkeypatch.chdir(tmp_path)
    assert scenario_path(Path("graphite_cutoff")).name == "graphite_cutoff.yaml"
    assert scenario_path(Path("ses_korea.yaml")).is_file()
    (tmp_path / "ses_korea.yaml").write_text("name: mine\n")
    assert scenario_path(Path("ses_korea.yaml")) == Path("ses_korea.yaml")  # a user's file wins



def test_products_lists_the_ids_every_command_takes(db: Path, tiny_dir: Path) -> None:
    (tiny_dir / "facilities.csv").write_text(
        (tiny_dir / "facilities.csv").read_text()
        + "ref2,refco,Refinery Two,CN,,,refine,lioh,20,kt,operating,2019,,x,true,\n"
    )
    (tiny_dir / "flows.csv").write_text(
        (tiny_dir / "flows.csv").read_text() + "ref2,ref1,spodumene,1,kt,2025,x,true,\n"
    )
    r = runner.invoke(app, ["import", *map(str, tiny_files(tiny_dir))])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["products", "--format", "json"])
    assert r.exit_code == 0, r.output
    rows = {x["product"]: x for x in json.loads(r.output)}
    # ref2 makes lioh and sells spodumene: two products, named FACILITY:MATERIAL
    assert {"mine1", "ref1", "cell1", "ref2:lioh", "ref2:spodumene"} <= set(rows)
    from onshore.cli.app import open_network
    from onshore.trace import graph
    from onshore.trace.allnodes import product_ids

    g = graph(open_network(db))
    assert sorted(product_ids(g)[~g.nodes["virtual"].to_numpy()]) == sorted(rows)  # written ids
    # the products of one period are those of that period's graph, as trace --all writes them
    from onshore.trace import products

    net = open_network(db)
    for period in (None, "2025", "1999"):
        gp = graph(net, period)
        want = sorted(product_ids(gp)[~gp.nodes["virtual"].to_numpy()])
        assert sorted(products(net, period=period)["product"]) == want, period
    assert "ref2:spodumene" not in set(products(net, period="1999")["product"])
    assert rows["cell1"] == {"product": "cell1", "facility": "cell1", "material": "cell",
                             "stage": "cell", "company": "cellco", "country": "KR",
                             "per": "per kWh of cell"}
    r = runner.invoke(app, ["products", "--stage", "cell", "--stage", "pack", "--format", "json"])
    assert [x["product"] for x in json.loads(r.output)] == ["cell1"]
    r = runner.invoke(app, ["products", "--company", "refco", "--format", "csv"])
    assert "ref1" in r.output and "cell1" not in r.output
    assert runner.invoke(app, ["products", "--stage", "cel"]).exit_code == 2
    for args in (["trace", "ref2:lioh"], ["check", "ref2:lioh", "--on", "2027-10-01"],
                 ["risk", "--product", "ref2:lioh"], ["trace", "cell1"], ["check", "cell1"]):
        r = runner.invoke(app, args)
        assert r.exit_code == 0, (args, r.output)
    assert "per kWh of cell" in runner.invoke(app, ["trace", "cell1"]).output
    assert "per kWh of cell" in runner.invoke(app, ["check", "cell1"]).output
    r = runner.invoke(app, ["check", "ref2:cell"])
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_delete_is_all_or_nothing_audited_and_refused_while_referred_to(db: Path, tiny_dir: Path) -> None:
    import duckdb

    runner.invoke(app, ["import", *map(str, tiny_files(tiny_dir))])
    r = runner.invoke(app, ["delete", "facilities", "mine1"])
    assert r.exit_code == 2 and "flows (supplier=mine1" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["delete", "ownership", "state_a:refco", "nobody:refco"])
    assert r.exit_code == 2 and "nobody:refco" in r.output
    r = runner.invoke(app, ["delete", "ownership", "state_a:refco"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["delete", "flows", "mine1:ref1:spodumene:2025"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["delete", "facilities", "mine1"])
    assert r.exit_code == 0, r.output
    con = duckdb.connect(str(db))
    assert con.execute("SELECT count(*) FROM facilities").fetchone() == (2,)
    assert con.execute("SELECT count(*) FROM ownership").fetchone() == (1,)
    audited = [p for (p,) in con.execute(
        "SELECT product FROM audit WHERE rule_id = 'store.delete' ORDER BY seq").fetchall()]
    assert audited == ["ownership:state_a:refco", "flows:mine1:ref1:spodumene:2025",
                       "facilities:mine1"]
    assert runner.invoke(app, ["delete", "nosuch", "x"]).exit_code == 2


def test_import_with_a_deleted_column_says_what_it_removed(db: Path, tiny_dir: Path) -> None:
    runner.invoke(app, ["import", *map(str, tiny_files(tiny_dir))])
    f = tiny_dir / "flows_gone.csv"
    f.write_text("supplier,customer,material,period,deleted\nref1,cell1,lioh,2025,yes\n")
    r = runner.invoke(app, ["import", str(f)])
    assert r.exit_code == 0, r.output
    assert "deleted 1 rows" in r.output and "flows" in r.output
    r = runner.invoke(app, ["import", str(f)])
    assert r.exit_code == 2 and "row 2" in r.output and "Traceback" not in r.output


def test_check_decides_per_period_and_says_which(db: Path, tiny_dir: Path) -> None:
    from onshore.compliance import check
    from onshore.compliance.context import context
    from onshore.network import Network
    from onshore.trace import graph

    # the refinery supplied the cell plant in 2024 only; 2025 has a mine-to-refinery flow
    flows = (tiny_dir / "flows.csv").read_text().replace("ref1,cell1,lioh,3.5,kt,2025",
                                                          "ref1,cell1,lioh,3.5,kt,2024")
    (tiny_dir / "flows.csv").write_text(flows)
    assert runner.invoke(app, ["import", *map(str, tiny_files(tiny_dir))]).exit_code == 0
    net = Network.load(db)
    ids = lambda ctx: set(ctx.ids[ctx.upstream("cell1")])  # noqa: E731
    assert ids(context(net)) == {"cell1", "ref1", "mine1"}  # the library pools by default
    assert ids(context(net, "2024")) == {"cell1", "ref1"}
    assert ids(context(net, "2025")) == {"cell1"}
    assert context(net, "2024").graph() is graph(net, "2024")
    assert context(net, "2025") is context(net, "2025") and context(net) is not context(net, "2025")
    pooled = check(net, "cell1", "dod", "2028-01-01")
    assert [v.rule_id for v in check(net, "cell1", "dod", "2028-01-01", period="2024")] == [
        v.rule_id for v in pooled]
    # the CLI decides from the latest year of the product's supply chain, and says so
    r = runner.invoke(app, ["check", "cell1", "--on", "2028-01-01"])
    assert r.exit_code == 0, r.output
    assert "flows of 2024 (the latest year with flows in the product's supply chain" in r.output
    r = runner.invoke(app, ["check", "--all", "--on", "2028-01-01"])
    assert r.exit_code == 0 and "flows of 2025" in r.output
    r = runner.invoke(app, ["check", "cell1", "--period", "2025", "--on", "2028-01-01"])
    assert r.exit_code == 0 and "flows of 2025" in r.output
    assert runner.invoke(app, ["check", "cell1", "--period", "2019"]).exit_code == 2


def test_trace_all_is_every_product_and_all_nodes_every_node(db: Path, tiny_dir: Path, tmp_path: Path) -> None:
    from onshore.trace import read_all

    assert runner.invoke(app, ["import", *map(str, tiny_files(tiny_dir))]).exit_code == 0
    r = runner.invoke(app, ["trace", "--all", "--format", "json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    one = json.loads(runner.invoke(app, ["trace", "cell1", "--format", "json"]).output)
    assert {x["product"] for x in rows} == {"cell1"}  # cells, packs and devices only
    assert [(x["raw"], x["stage"], x["country"]) for x in rows] == [(x["raw"], x["stage"], x["country"]) for x in one]
    assert [x["quantity"] for x in rows] == pytest.approx([x["quantity"] for x in one], rel=1e-12)
    r = runner.invoke(app, ["trace", "--all", "--out", str(tmp_path / "products")])
    assert r.exit_code == 0, r.output
    prod = read_all(tmp_path / "products")
    assert set(prod["product"]) == {"cell1"}  # the product id, as trace takes it
    assert prod.attrs["precision"] == "float32"  # the default of --out, as for --all-nodes
    assert prod["quantity"].tolist() == pytest.approx([x["quantity"] for x in one], rel=2**-24)
    r = runner.invoke(app, ["trace", "--all", "--out", str(tmp_path / "p64"), "--precision", "float64"])
    assert r.exit_code == 0, r.output
    p64 = read_all(tmp_path / "p64")
    assert p64.attrs["precision"] == "float64"
    assert p64["quantity"].tolist() == pytest.approx([x["quantity"] for x in one], rel=1e-12)
    assert np.array_equal(prod["quantity"], p64["quantity"].astype(np.float32).astype(float))
    r = runner.invoke(app, ["trace", "--all-nodes", "--out", str(tmp_path / "nodes")])
    assert r.exit_code == 0, r.output
    nodes = read_all(tmp_path / "nodes")
    assert {"mine1:spodumene", "ref1:lioh", "cell1:cell"} <= set(nodes["product"])
    assert nodes.attrs["precision"] == "float32"  # the default: storage rounded to 2^-24
    r = runner.invoke(app, ["trace", "--all-nodes", "--out", str(tmp_path / "n64"), "--precision", "float64"])
    assert r.exit_code == 0, r.output
    exact = read_all(tmp_path / "n64")
    assert exact.attrs["precision"] == "float64"
    cell = exact[exact["product"] == "cell1:cell"]
    assert cell["quantity"].tolist() == pytest.approx([x["quantity"] for x in one], rel=1e-12)
    key = ["node", "raw", "stage", "country"]
    a, b = (x.sort_values(key).reset_index(drop=True) for x in (nodes, exact))
    assert a[key].equals(b[key]) and np.array_equal(a["quantity"], b["quantity"].astype(np.float32).astype(float))
    r = runner.invoke(app, ["trace", "cell1", "--precision", "float32"])
    assert r.exit_code == 2 and "--all-nodes --out" in r.output
    r = runner.invoke(app, ["trace", "--all", "--precision", "float32"])  # no --out: rows printed
    assert r.exit_code == 2 and "--all --out" in r.output
    r = runner.invoke(app, ["trace", "--all-nodes", "--engine", "spark", "--out", str(tmp_path / "s"), "--precision", "float32"])
    assert r.exit_code == 2 and "writes float64" in r.output
    r = runner.invoke(app, ["trace", "--all", "--engine", "spark"])
    assert r.exit_code == 2 and "--all-nodes" in r.output and "Traceback" not in r.output


def test_check_of_one_product_makes_the_graph_of_its_period_only(
    db: Path, tiny_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The table's 'quantities per ...' line reads the graph the check made (one graph for the
    decided period, not a second one of every period pooled)."""
    import importlib

    G = importlib.import_module("onshore.trace.graph")
    made: list[str | None] = []
    real = G._kept_or_built
    monkeypatch.setattr(G, "_kept_or_built", lambda net, period: made.append(period) or real(net, period))
    assert runner.invoke(app, ["import", *map(str, tiny_files(tiny_dir))]).exit_code == 0
    r = runner.invoke(app, ["check", "cell1", "--on", "2028-01-01"])
    assert r.exit_code == 0, r.output
    assert "quantities per" in r.output and "flows of 2025" in r.output
    assert made == ["2025"]


def test_the_command_line_leaves_the_collector_as_it_found_it() -> None:
    """Loading the command modules pauses the cyclic collector and restores its state."""
    import subprocess
    import sys

    code = ("import gc; gc.{}(); import onshore.cli; print(gc.isenabled())")
    for how, want in (("enable", "True"), ("disable", "False")):
        out = subprocess.run([sys.executable, "-c", code.format(how)], capture_output=True,
                             text=True, check=True).stdout.strip()
        assert out == want
