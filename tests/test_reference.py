"""The bundled reference network loads cleanly and meets its counts, every row with a source."""

from __future__ import annotations

import csv
from functools import cache

import pytest

from onshore.io.load import reference_files
from onshore.records.model import Stage
from onshore.network import Network

STAGES = {"mine", "refine", "precursor", "cathode", "anode", "electrolyte", "separator", "cell", "pack"}


@cache
def ref() -> Network:
    return Network.reference()


def test_reference_counts() -> None:
    net = ref()
    f = net.facilities
    assert len(f) >= 150
    assert f["country"].nunique() >= 15
    assert STAGES <= set(f["stage"])
    for stage in STAGES:
        assert (f["stage"] == stage).sum() >= 3, stage
    assert len(net.companies) >= 60


@pytest.mark.parametrize("path", reference_files(), ids=lambda p: p.name)
def test_every_row_has_a_source_and_an_estimate_flag(path) -> None:  # type: ignore[no-untyped-def]
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    no_source = [i for i, r in enumerate(rows, start=2) if not (r.get("source") or "").strip()]
    no_flag = [i for i, r in enumerate(rows, start=2) if (r.get("estimate") or "").strip().lower() not in ("true", "false")]
    assert not no_source, f"{path.name}: rows without source: {no_source[:10]}"
    assert not no_flag, f"{path.name}: rows without estimate true/false: {no_flag[:10]}"


def _company_ids(*needles: str) -> set[str]:
    c = ref().companies
    text = (c["id"] + " " + c["name"] + " " + c["aliases"].fillna("")).str.lower()
    return set(c["id"][text.str.contains("|".join(needles))])


@pytest.mark.parametrize("maker", ["catl", "byd", "envision", "eve energy", "gotion", "hithium",
                                   "lg energy", "samsung sdi", "sk on", "panasonic", "ses ai", "amprius"])
def test_named_makers_have_plants(maker: str) -> None:
    ids = _company_ids(maker)
    assert ids, f"no company matching {maker!r}"
    f = ref().facilities
    owned = ref().ownership
    children = set(owned["owned"][owned["owner"].isin(ids)])
    assert f["company"].isin(ids | children).any(), f"{maker} has no facility"


@pytest.mark.parametrize("group", ["albemarle", "sqm", "tianqi", "ganfeng", "pilbara", "cmoc", "huayou",
                                   "tsingshan", "posco", "ecopro", "btr", "syrah"])
def test_mining_and_refining_groups(group: str) -> None:
    assert _company_ids(group), group


def test_overseas_plants_of_the_section_154_makers() -> None:
    f = ref().facilities
    for maker in ("catl", "gotion", "envision"):
        ids = _company_ids(maker)
        o = ref().ownership
        ids |= set(o["owned"][o["owner"].isin(ids)])
        countries = set(f["country"][f["company"].isin(ids)])
        assert countries - {"CN"}, f"{maker} has no plant outside China"


def test_ses_ai_has_its_shanghai_and_chungju_plants() -> None:
    f = ref().facilities
    ses = f[f["company"].isin(_company_ids("ses ai", "ses_ai"))]
    assert {"CN", "KR"} <= set(ses["country"])


def test_boms_cover_the_common_chemistries() -> None:
    outputs = " ".join(ref().boms["output"].str.lower())
    for chem in ("nmc811", "nmc622", "lfp", "nca"):
        assert chem in outputs, chem
    assert "si" in outputs and "li_metal" in outputs


def test_stage_values_are_the_enum() -> None:
    assert set(ref().facilities["stage"]) <= {s.value for s in Stage}
