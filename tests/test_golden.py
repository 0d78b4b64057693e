"""The analyses answer exactly what they answered when the golden outputs were recorded:
traces, ``check --all`` verdicts, owners, concentration, the graphite cut-off (fixed seed)
and the ``ses_korea`` plan, on the reference network and a 10 k synthetic one."""

from __future__ import annotations

import json

import pytest

from golden import harness


@pytest.fixture(scope="module")
def nets():  # type: ignore[no-untyped-def]
    return harness.networks()


@pytest.mark.parametrize("name", ["reference", "synthetic10k"])
def test_golden_outputs_unchanged(nets, name: str) -> None:  # type: ignore[no-untyped-def]
    got = json.loads(json.dumps(harness.outputs(name, nets[name]), sort_keys=True, ensure_ascii=False))
    want = harness.read(name)
    diffs = harness.compare(want, got)
    assert not diffs, f"{len(diffs)} differences, first: {diffs[:10]}"


def test_compare_sees_a_change() -> None:
    a = {"x": [1.0, {"v": "ALLOWED"}]}
    assert harness.compare(a, {"x": [1.0 + 1e-9, {"v": "ALLOWED"}]})
    assert harness.compare(a, {"x": [1.0, {"v": "PROHIBITED"}]})
    assert not harness.compare(a, {"x": [1.0 + 1e-14, {"v": "ALLOWED"}]})
