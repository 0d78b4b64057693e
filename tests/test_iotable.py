"""Input-output tables: pymrio's test system imported and traced against pymrio's L and M."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pymrio = pytest.importorskip("pymrio")

from onshore import trace as T  # noqa: E402
from onshore.errors import DataError  # noqa: E402
from onshore.io import iotable  # noqa: E402
from onshore.network import Network  # noqa: E402


@pytest.fixture(scope="module")
def mrio():  # type: ignore[no-untyped-def]
    io = pymrio.load_test()
    io.calc_all()
    return io


@pytest.fixture(scope="module")
def net(mrio) -> Network:  # type: ignore[no-untyped-def]
    return Network.from_frames(**iotable.tables(mrio.Z, mrio.Y, mrio.x, mrio.factor_inputs.F))


def _nodes(mrio, g) -> list[int]:  # type: ignore[no-untyped-def]
    return [g.node(f"{r}/{s}") for r, s in mrio.Z.index]


def test_a_is_pymrio_a_transposed_with_its_diagonal(mrio, net) -> None:  # type: ignore[no-untyped-def]
    g = T.graph(net)
    idx = _nodes(mrio, g)
    A = g.A.toarray()[np.ix_(idx, idx)]
    assert np.abs(A - mrio.A.to_numpy().T).max() <= 1e-12
    assert (np.diag(A) > 0).all()  # own use on every region-sector


def test_leontief_inverse_matches_pymrio_l(mrio, net) -> None:  # type: ignore[no-untyped-def]
    g = T.graph(net)
    idx = _nodes(mrio, g)
    L = mrio.L.to_numpy()
    for j in range(len(idx)):
        y = T.leontief_row(g, idx[j])
        assert np.abs(y[idx] - L[:, j]).max() <= 1e-8


def test_value_added_by_region_matches_pymrio_m(mrio, net) -> None:  # type: ignore[no-untyped-def]
    """Mine rows by company: the value added of each region in one USD of output, summing to
    pymrio's multiplier M; per region, S of that region times L."""
    M = mrio.factor_inputs.M.to_numpy()[0]
    S = mrio.factor_inputs.S.to_numpy()[0]
    L = mrio.L.to_numpy()
    regions = mrio.Z.index.get_level_values(0).to_numpy()
    for j, (r, s) in enumerate(mrio.Z.index):
        t = T.trace(net, f"{r}/{s}", by=("raw", "stage", "company"))
        mine = t[t["stage"] == "mine"].set_index("company")["quantity"]
        assert mine.sum() == pytest.approx(M[j], abs=1e-8)
        for reg in np.unique(regions):
            want = float(S[regions == reg] @ L[regions == reg, j])
            assert mine.get(reg, 0.0) == pytest.approx(want, abs=1e-8)


def test_negative_entries_are_refused(mrio) -> None:  # type: ignore[no-untyped-def]
    Z = mrio.Z.copy()
    Z.iloc[0, 1] = -1.0
    with pytest.raises(DataError, match="nonnegative"):
        iotable.tables(Z, mrio.Y)


def test_cli_import_io_and_trace(mrio, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import json

    from typer.testing import CliRunner

    import onshore.cli  # noqa: F401
    from onshore.cli.app import app

    folder = tmp_path / "mrio"
    pymrio.load_test().save_all(str(folder))
    db = tmp_path / "io.duckdb"
    r = CliRunner().invoke(app, ["import-io", str(folder), "--db", str(db), "--country", "reg1=US"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(
        app, ["trace", "reg2/mining", "--by", "raw,stage,company,country", "--format", "json", "--db", str(db)]
    )
    assert r.exit_code == 0, r.output
    rows = pd.DataFrame(json.loads(r.stdout))
    mine = rows[rows["stage"] == "mine"]
    j = list(mrio.Z.index).index(("reg2", "mining"))
    assert mine["quantity"].sum() == pytest.approx(mrio.factor_inputs.M.to_numpy()[0, j], abs=1e-8)
    assert set(mine.loc[mine["company"] == "reg1", "country"]) == {"US"}
    assert set(mine.loc[mine["company"] == "reg3", "country"]) == {"XX"}


def test_trace_products_of_every_sector_in_one_batch(mrio, net) -> None:  # type: ignore[no-untyped-def]
    prods = [f"{r}/{s}" for r, s in mrio.Z.index]
    t = T.trace_products(net, prods, by=("raw", "stage", "company"))
    got = t[t["stage"] == "mine"].groupby("product", sort=False)["quantity"].sum().reindex(prods)
    assert np.abs(got.to_numpy() - mrio.factor_inputs.M.to_numpy()[0]).max() <= 1e-8
    one = T.trace(net, prods[5], by=("raw", "stage", "company"))
    assert np.allclose(t[t["product"] == prods[5]]["quantity"], one["quantity"], rtol=1e-12, atol=0)
