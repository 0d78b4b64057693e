"""The Spark engine in local mode: parity with the local engine (trace of every node, effective
ownership, concentration, screening) on random networks, cyclic ones included, and on the
reference network, to 1e-9 relative; the CLI's ``--engine spark`` against the local engine's
output. Marked ``spark`` (``-m 'not spark'`` skips them); skipped when PySpark or Java is
missing. One SparkSession (local[2], 2 shuffle partitions) for the session."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from onshore import synthetic
from onshore.engines import concentration_table, effective_ownership, get, screen, trace_all
from onshore.errors import EngineUnavailable, InputError
from onshore.network import Network
from onshore.records.model import TABLES

pytestmark = pytest.mark.spark
REL = 1e-9
PAIRS = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "screening_pairs.csv"


@pytest.fixture(scope="session")
def engine() -> Iterator[Any]:
    from onshore.engines import spark as spark_engine

    why = spark_engine.available()
    if why:
        pytest.skip(why)
    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
    s = spark_engine.session(master="local[2]", partitions=2)
    yield spark_engine.SparkEngine(s)
    s.stop()


@pytest.fixture(scope="module")
def reference() -> Network:
    return Network.reference()


def _close(a: pd.Series, b: pd.Series) -> float:
    """The largest relative difference (0 where both are 0)."""
    den = np.maximum(a.abs(), b.abs()).to_numpy()
    d = (a - b).abs().to_numpy()
    return float(np.max(np.where(den > 0, d / np.where(den > 0, den, 1), 0), initial=0.0))


def _trace_parity(net: Network, engine: Any, **kw: Any) -> float:
    loc = trace_all(net)
    spk = trace_all(net, engine=engine, **kw)
    assert list(loc.columns) == list(spk.columns)
    keys = [c for c in loc.columns if c not in ("quantity", "share")]
    m = loc.merge(spk, on=keys, how="outer", suffixes=("_l", "_s"), indicator=True)
    # a value only one side keeps is one at the 1e-15 share cut: it must be that small
    one = m[m["_merge"] != "both"]
    assert float(one[["share_l", "share_s"]].fillna(0).to_numpy().max(initial=0.0)) < 1e-12
    both = m[m["_merge"] == "both"]
    err = max(
        _close(both["quantity_l"], both["quantity_s"]), _close(both["share_l"], both["share_s"])
    )
    assert err <= REL, err
    return err


def _owners_parity(net: Network, engine: Any) -> float:
    loc = effective_ownership(net)
    spk = effective_ownership(net, engine=engine)
    m = loc.merge(spk, on=["owner", "owned"], how="outer", suffixes=("_l", "_s")).fillna(0.0)
    assert len(m) == len(loc) == len(spk)
    err = _close(m["share_l"], m["share_s"])
    assert err <= REL, err
    return err


def _concentration_parity(net: Network, engine: Any, **kw: Any) -> None:
    loc = concentration_table(net)
    spk = engine.concentration_table(net, **kw)
    assert list(loc.columns) == list(spk.columns)
    key = ["material", "stage", "basis"]
    m = loc.merge(spk, on=key, suffixes=("_l", "_s"))
    assert len(m) == len(loc) == len(spk) > 0
    for c in ("total", "hhi_country", "top_share", "hhi_control"):
        assert _close(m[f"{c}_l"].astype(float), m[f"{c}_s"].astype(float)) <= REL, c
    for c in ("top_country", "leaders_country", "leaders_control"):
        assert m[f"{c}_l"].tolist() == m[f"{c}_s"].tolist(), c


@settings(
    max_examples=2,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
@given(
    seed=st.integers(0, 10_000),
    recycling=st.sampled_from([0.0, 0.3]),
)
def test_trace_parity_random(engine: Any, seed: int, recycling: float) -> None:
    net = synthetic.network(40, n_flows=250, seed=seed, recycling=recycling)
    _trace_parity(net, engine)


def test_trace_parity_cyclic_split(engine: Any) -> None:
    """A recycling loop of 301 nodes (iterated by Gauss-Seidel in the tasks, not factored)
    and blocks split into tasks of a few columns, each with the block's total for the share
    cut: the local engine's table all the same."""
    from onshore.engines.spark import tasks
    from onshore.trace.allnodes import prepare

    net = synthetic.network(1500, n_flows=7500, seed=5, recycling=0.3)
    g, _, blocks, _ = prepare(net, ("raw", "stage", "country"), "mass", None, None)
    cells = g.n * 6
    split = tasks(blocks, g.n, cells)
    assert len(split) > 2 * len(blocks) and max(hi - lo for _, lo, hi in split) == 5
    stats: dict[str, float] = {}
    _trace_parity(net, engine, cells=cells, stats=stats)
    assert stats["sweeps"] > 0 and stats["tasks"] == len(split)
    assert stats["rows"] > 400_000


def test_trace_parity_reference(engine: Any, reference: Network) -> None:
    _trace_parity(reference, engine)


def test_trace_parquet_round_trip(engine: Any, tmp_path: Path) -> None:
    from onshore.trace import read_all

    net = synthetic.network(40, n_flows=200, seed=2)
    a = read_all(trace_all(net, out=tmp_path / "local", workers=1))  # type: ignore[arg-type]
    keys = ["node", "product", "raw", "stage", "country"]
    a = a.sort_values(keys).reset_index(drop=True)
    uri = (tmp_path / "uri").as_uri()  # written by Spark's writer, as to s3a:// or hdfs://
    st: dict[str, float] = {}
    assert trace_all(net, out=uri, engine=engine, stats=st) == uri
    assert list((tmp_path / "uri" / "values").glob("part-*.parquet"))
    assert st["rows"] == len(a)
    for out in (tmp_path / "spark", tmp_path / "uri"):
        if out.name == "spark":
            assert trace_all(net, out=out, engine=engine) == out
        b = read_all(out).sort_values(keys).reset_index(drop=True)
        assert a[keys].equals(b[keys])
        assert _close(a["quantity"], b["quantity"]) <= REL
        assert _close(a["share"], b["share"]) <= REL


def test_local_engine_refuses_a_trace_uri_it_cannot_write(tmp_path: Path) -> None:
    net = synthetic.network(20, n_flows=60, seed=1)
    with pytest.raises(InputError, match="local directory"):
        trace_all(net, out="s3a://bucket/traced")
    assert trace_all(net, out=(tmp_path / "t").as_uri(), workers=1) == tmp_path / "t"


def test_owners_and_concentration_parity(engine: Any, reference: Network) -> None:
    _owners_parity(reference, engine)
    net = synthetic.network(200, n_flows=1000, seed=4, ownership=True)  # cross-holding cycles
    _owners_parity(net, engine)
    _concentration_parity(reference, engine)
    _concentration_parity(net, engine)


def _chain_and_cycle(length: int = 300) -> Network:
    """A chain of ``length`` companies, each holding 90 % of the next, the last holding half of
    a three-company cross-holding cycle (60 % each way round) and a 40 % stake back up the
    chain from the cycle."""
    ids = [f"c{k}" for k in range(length)] + ["x", "y", "z"]
    comp = pd.DataFrame({"id": ids, "name": ids, "country": "US", "kind": "company"})
    own = [(f"c{k}", f"c{k + 1}", 0.9) for k in range(length - 1)]
    own += [(f"c{length - 1}", "x", 0.5), ("x", "y", 0.6), ("y", "z", 0.6), ("z", "x", 0.6)]
    own += [("z", f"c{length // 2}", 0.4)]
    df = pd.DataFrame(own, columns=["owner", "owned", "equity"])
    return Network.from_frames(companies=comp, ownership=df)


def test_owners_deep_chain_and_cycle_in_log_rounds(engine: Any) -> None:
    """A 300-step chain into a cross-holding cycle that feeds back into the chain: the local
    engine's holdings to 1e-9, summed in 9 doublings (walks of up to 512 holdings), not 300
    steps, in a few Spark jobs a doubling."""
    net = _chain_and_cycle()
    st: dict[str, float] = {}
    loc = effective_ownership(net)
    spk = engine.effective_ownership(net, stats=st)
    m = loc.merge(spk, on=["owner", "owned"], how="outer", suffixes=("_l", "_s")).fillna(0.0)
    assert len(m) == len(loc) == len(spk) > 300 * 299 // 2
    assert _close(m["share_l"], m["share_s"]) <= REL
    assert st["rounds"] == 9 and st["steps"] == 512
    assert st["jobs"] <= 2 * st["rounds"] + 4, st
    assert engine.spark.conf.get("spark.sql.adaptive.enabled") == "true"  # restored


def test_owners_written_to_a_uri(engine: Any, tmp_path: Path) -> None:
    net = _chain_and_cycle(20)
    uri = (tmp_path / "held").as_uri()
    res = engine.effective_ownership(net, out=uri)
    back = pd.read_parquet(tmp_path / "held").sort_values(["owner", "owned"])
    assert back.reset_index(drop=True).equals(res)


def test_concentration_from_parquet_tables(engine: Any, tmp_path: Path, reference: Network) -> None:
    """The concentration rows built in Spark from the partitioned Parquet tables (a local
    folder, a file:// URI) and from a network's frames through Arrow: the local table, on the
    reference network and a synthetic one with blank facility materials; a period too."""
    from onshore.engines.tables import write_tables

    net = synthetic.network(300, n_flows=2000, seed=7, ownership=True)
    fac = net.facilities.copy()
    fac.loc[fac.index[::7], "material"] = None  # their output material from their flows
    net = Network.from_frames(**{**{t: getattr(net, t) for t in TABLES}, "facilities": fac})
    for n, name in ((reference, "ref"), (net, "syn")):
        write_tables(n, tmp_path / name)
        _concentration_parity(n, engine)
        _concentration_parity(n, engine, tables=tmp_path / name)
        _concentration_parity(n, engine, tables=(tmp_path / name).as_uri())
    period = str(net.flows["period"].astype(str).iloc[0])[:4]
    loc = concentration_table(net, period=period)
    spk = engine.concentration_table(net, period=period, tables=tmp_path / "syn")
    assert loc[["material", "stage", "basis", "total"]].equals(
        spk[["material", "stage", "basis", "total"]]
    ) or _close(loc["total"], spk["total"]) <= REL
    assert len(loc) == len(spk)
    out = (tmp_path / "conc").as_uri()
    got = engine.concentration_table(reference, out=out)
    assert len(pd.read_parquet(tmp_path / "conc")) == len(got)


def test_tables_through_parquet(engine: Any, tmp_path: Path, reference: Network) -> None:
    from onshore.engines.tables import read_network, spark_tables, write_tables

    write_tables(reference, tmp_path / "tables")
    assert (tmp_path / "tables" / "flows").is_dir()
    back = read_network(tmp_path / "tables")
    assert len(back.flows) == len(reference.flows)
    t = spark_tables(engine.spark, tmp_path / "tables")
    assert t["flows"].count() == len(reference.flows)


def test_unknown_engine_and_unsupported() -> None:
    from onshore.engines.base import ANALYSES, Engine

    with pytest.raises(InputError):
        get("dask")

    class ScreenOnly(Engine):
        name = "screen-only"

        def screen(self, *a: Any, **k: Any) -> list[dict[str, Any]]:
            return []

    assert ScreenOnly.supports == {"screen"}
    assert get("local").supports == get("spark").supports == set(ANALYSES)
    with pytest.raises(InputError, match=r"does not run trace_all \(it runs: screen\)"):
        ScreenOnly().trace_all(Network.reference())
    with pytest.raises(InputError, match="does not run owners"):
        ScreenOnly().require("owners")


def test_missing_extra_names_the_install_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real = builtins.__import__

    def fake(name: str, *a: Any, **k: Any) -> Any:
        if name == "pyspark" or name.startswith("pyspark."):
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(EngineUnavailable, match=r"pip install 'onshore\[spark\]'"):
        get("spark")


def _screen_rows(reference: Network, n: int = 300) -> list[dict[str, str]]:
    """A seeded sample of the screening pairs, every company and list entry of the reference
    index under its own label, and rows that take the identifier paths."""
    from onshore.compliance.screen import build_index

    pairs = pd.read_csv(PAIRS, dtype=str, keep_default_na=False).sample(n=n, random_state=16)
    rows = [{"name": r["input"], "country": r["country"]} for r in pairs.to_dict("records")]
    rows += [{"name": e.label, "country": e.country or ""} for e in build_index(reference).entries]
    rows += [
        {"name": "NYSE: ALB", "country": ""},  # a ticker as the name: an exact key
        {"name": "Some Trading House", "country": "CN", "id": "catl"},  # the company id
        {"name": "Zzyzx Quux Widgets", "country": "US"},  # no candidate at all
        {"name": "", "country": ""},
    ]
    return rows


def test_screen_blocks_and_candidates_equal_the_local_matcher(
    engine: Any, reference: Network
) -> None:
    """The join-based blocking finds the local block of every name; the candidates scored
    over partitions are the local scorer's, score for score."""
    from onshore.compliance.names import identifier, normalize
    from onshore.compliance.screen import build_index, row_key

    idx = build_index(reference)
    rows = _screen_rows(reference)
    names = [r["name"] for r in rows if not identifier(r["name"])]
    assert engine.blocks(idx, names) == [idx.block(normalize(n)) for n in names]
    keys = list(dict.fromkeys(row_key(r) for r in rows))
    spk = engine.candidates(idx, keys)
    loc = [idx.candidates(n, c, [i] if i else []) for n, c, i in keys]
    assert len(spk) == len(loc) == len(keys)
    assert spk == loc


def test_screen_parity_on_the_screening_pairs(engine: Any, reference: Network) -> None:
    """Per row: the same decision, company id, list hits, runners-up and reasons; the same
    score (to 1e-9, in fact identical: one scorer)."""
    rows = _screen_rows(reference)
    loc = screen(reference, rows)
    spk = screen(reference, rows, engine=engine)
    assert len(loc) == len(spk) == len(rows)
    for a, b in zip(loc, spk, strict=True):
        assert (a["input"], a["decision"], a["match"]) == (b["input"], b["decision"], b["match"])
        assert abs(a["score"] - b["score"]) <= REL
        assert a == b
    decisions = {r["decision"] for r in loc}
    assert decisions == {"match", "review", "no_match"}  # the sample exercises all three


# ------------------------------------------------------------------------------------ CLI
@pytest.fixture(scope="module")
def reference_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from onshore.io.load import import_files, reference_files
    from onshore.store.duckdb import open_store

    p = tmp_path_factory.mktemp("ref") / "reference.duckdb"
    with open_store(p, create=True) as s:
        import_files(s, reference_files(), physical="error")
    return p


def _cli(*args: str) -> str:
    from typer.testing import CliRunner

    from onshore.cli import app

    r = CliRunner().invoke(app, list(args))
    assert r.exit_code == 0, r.output
    return str(r.stdout)


def _rows_close(a: list[dict[str, Any]], b: list[dict[str, Any]], key: list[str]) -> None:
    """Equal rows (matched on ``key``): numbers to 1e-9 relative, everything else exactly."""
    assert len(a) == len(b)
    ib = {tuple(r[k] for k in key): r for r in b}
    assert len(ib) == len(b)
    for ra in a:
        rb = ib[tuple(ra[k] for k in key)]
        assert ra.keys() == rb.keys()
        for c, v in ra.items():
            w = rb[c]
            if isinstance(v, float) and isinstance(w, float | int):
                assert abs(v - w) <= REL * max(abs(v), abs(w), 1e-300), (c, v, w)
            else:
                assert v == w, (c, v, w)


def test_cli_engine_spark_equals_local(
    engine: Any, reference: Network, reference_db: Path, tmp_path: Path
) -> None:
    """trace --all-nodes, owners, risk and screen with --engine spark print (or write) what the
    local engine does on the reference network."""
    from onshore.trace import read_all

    db = ["--db", str(reference_db)]
    for e in ("local", "spark"):
        _cli("trace", "--all-nodes", "--engine", e, "--out", str(tmp_path / f"trace_{e}"),
             "--precision", "float64", *db)
    a, b = (read_all(tmp_path / f"trace_{e}") for e in ("local", "spark"))
    keys = ["node", "product", "raw", "stage", "country"]
    a, b = a.sort_values(keys).reset_index(drop=True), b.sort_values(keys).reset_index(drop=True)
    assert len(a) > 1000 and a[keys].equals(b[keys])
    assert _close(a["quantity"], b["quantity"]) <= REL

    out = {e: tmp_path / f"owners_{e}.parquet" for e in ("local", "spark")}
    shown = {e: json.loads(_cli("owners", "--engine", e, "-f", "json", *db)) for e in out}
    for e, p in out.items():
        assert f"wrote {p}" in _cli("owners", "--engine", e, "--out", str(p), *db)
    _rows_close(shown["local"], shown["spark"], ["owner", "owned"])
    held = {e: pd.read_parquet(p).to_dict("records") for e, p in out.items()}
    assert len(held["local"]) > 10
    _rows_close(held["local"], held["spark"], ["owner", "owned"])

    risk = {
        e: json.loads(_cli("risk", "--engine", e, "-f", "json", *db)) for e in ("local", "spark")
    }
    assert len(risk["local"]) > 10
    _rows_close(risk["local"], risk["spark"], ["material", "stage", "basis"])

    sup = tmp_path / "suppliers.csv"
    pd.DataFrame(_screen_rows(reference, n=100)).to_csv(sup, index=False)
    got = {
        e: json.loads(_cli("screen", str(sup), "--engine", e, "--no-queue", "-f", "json", *db))
        for e in ("local", "spark")
    }
    assert len(got["local"]) > 100
    assert got["local"] == got["spark"]


def test_cli_out_to_uris(engine: Any, reference: Network, reference_db: Path, tmp_path: Path) -> None:
    """owners, risk, screen and trace --all-nodes with --out a file:// URI on Spark (Spark's
    writer, as for s3a:// or gs://) write what the local engine writes to a local path."""
    from onshore.trace import read_all

    db = ["--db", str(reference_db)]
    sup = tmp_path / "suppliers.csv"
    pd.DataFrame(_screen_rows(reference, n=50)).to_csv(sup, index=False)
    runs = {
        "owners": ["owners"],
        "risk": ["risk"],
        "screen": ["screen", str(sup), "--no-queue"],
        "trace": ["trace", "--all-nodes"],
    }
    got: dict[str, dict[str, Any]] = {}
    for e in ("local", "spark"):
        for name, cmd in runs.items():
            p = tmp_path / e / name
            p.parent.mkdir(exist_ok=True)
            out = p.as_uri() if e == "spark" else str(p)
            exact = ["--precision", "float64"] if name == "trace" and e == "local" else []
            _cli(*cmd, "--engine", e, "--out", out, *exact, "-f", "json", *db)
            got.setdefault(name, {})[e] = read_all(p) if name == "trace" else pd.read_parquet(p)
    keys = {
        "owners": ["owner", "owned"],
        "risk": ["material", "stage", "basis"],
        "screen": ["input", "country"],
        "trace": ["node", "product", "raw", "stage", "country"],
    }
    for name, k in keys.items():
        a, b = (got[name][e] for e in ("local", "spark"))
        a, b = (x.astype(object).where(x.notna(), None) for x in (a, b))  # nulls alike
        assert len(a) == len(b) > 10, name
        assert list(a.columns) == list(b.columns), name
        _rows_close(a.to_dict("records"), b.to_dict("records"), k)
