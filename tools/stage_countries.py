"""Countries of the bundled reference network per stage, against the world's leading countries.

Run from the repository root::

    PYTHONPATH=src python tools/stage_countries.py

For each stage (and, for mines and refineries, each mineral) it lists the countries that
have at least one plant row in ``facilities.csv`` (market-pool and country-production
nodes and cancelled plants left out) and compares them with the leading countries of that
stage named by a cited statistic (``RANKINGS`` below: source, year and basis of each). A
ranking lists only as many countries as its source names, so some have fewer than five;
stages without a cited ranking are reported as such. It also prints the coverage figure
of SOURCES.md: the cell rows with a capacity in GWh that produce in some month of 2024 as
their status and dates say (``onshore.records.physical.producing_months``, the rule the
flows and the physical checks use: operating from ``since``; paused or closed between a
stated ``since`` and ``until``; planned or under construction only from a stated start),
against the ~3,000 GWh world cell capacity of 2024 (IEA).
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from pathlib import Path

from onshore.records.physical import period_months, producing_months

REF = Path(__file__).resolve().parents[1] / "src" / "onshore" / "data" / "reference"

WORLD_CELL_CAPACITY_2024_GWH = 3000.0  # IEA (secondary), see SOURCES.md

# Minerals of the mine and refine stages, by the material ids of facilities.csv.
MINERALS = {
    "lithium": {"spodumene_concentrate", "lepidolite_concentrate", "lithium", "lithium_carbonate",
                "lithium_hydroxide", "lithium_metal_foil"},
    "nickel": {"nickel", "nickel_intermediate", "nickel_sulfate"},
    "cobalt": {"cobalt_hydroxide", "cobalt_sulfate"},
    "natural_graphite": {"natural_graphite"},
    "manganese": {"manganese", "manganese_sulfate"},
}

# (stage, mineral or None): leading countries in rank order, with what the ranking measures.
RANKINGS: dict[tuple[str, str | None], dict[str, object]] = {
    ("mine", "lithium"): {
        "countries": ["AU", "CL", "CN", "AR", "BR"], "year": 2023,
        "basis": "mine production, t Li (USGS MCS 2024)",
        "source": "https://wikimili.com/en/List_of_countries_by_lithium_production"},
    ("mine", "nickel"): {
        "countries": ["ID", "PH", "RU", "NC", "CA"], "year": 2023,
        "basis": "mine production, kt Ni contained (2,030 / 387 / 256.3 / 231.2 / 158.7; "
                 "British Geological Survey via StatRanker)",
        "source": "https://statranker.org/?p=5881"},
    ("mine", "cobalt"): {
        "countries": ["CD", "ID", "RU", "AU", "CA"], "year": 2022,
        "basis": "mine production, t Co (130,000 / 10,000 / 8,900 / 5,900 / 3,900; USGS MCS 2023 "
                 "via Databoks). Cobalt is mined as a by-product: nickel rows that recover it count "
                 "(COBALT_BY_PRODUCT)",
        "source": "https://databoks.katadata.co.id/en/mining/statistics/bdd199e938f7372/"
                  "indonesia-entered-the-list-of-the-worlds-largest-cobalt-producers-in-2022-what-was-its-ranking"},
    ("mine", "natural_graphite"): {
        "countries": ["CN", "MZ", "MG", "BR", "IN"], "year": 2023,
        "basis": "natural graphite production, kt (865 / 128.2 / 105.6 / 90.7 / 52.9; ReportLinker)",
        "source": "https://www.reportlinker.com/dataset/82e169acde56221b5600772c233549a1a02ad611"},
    ("mine", "manganese"): {
        "countries": ["ZA", "GA", "AU"], "year": 2023,
        "basis": "manganese mine production, Mt (7.2 / 4.6 / 3.3; USGS MCS 2024 figures, 'top 10' "
                 "list of which only the first three were read)",
        "source": "https://worldunfolds.com/largest-producer-of-manganese-in-the-world"},
    ("refine", "lithium"): {
        "countries": ["CN", "CL"], "year": 2023,
        "basis": "refined lithium chemicals share (65 / 29 %)",
        "source": "https://evmarketsreports.com/the-countries-that-dominate-the-critical-material-supply-chains/"},
    ("refine", "cobalt"): {
        "countries": ["CN", "FI", "ZM", "CA", "RU"], "year": 2023,
        "basis": "cobalt refinery capacity, t Co (170,910 / 18,210 / 9,850 / 8,740 / 7,700; ReportLinker)",
        "source": "https://www.reportlinker.com/dataset/53e5788b75f32384bc106fd9a5aee1dcbb8df9b4"},
    ("refine", "nickel"): {
        "countries": ["ID", "CN"], "year": 2023,
        "basis": "refined nickel share (37 / 28 %, IEA Global Critical Minerals Outlook 2024)",
        "source": "bjnickel.com report of the IEA outlook (see SOURCES.md, trade_priors)"},
    ("refine", "manganese"): {
        "countries": ["CN", "JP"], "year": 2023,
        "basis": "share of global high-purity manganese sulphate (HPMSM) supply (~84 / 11 %, report of Feb 2023; "
                 "Stratas Advisors; the source names two countries)",
        "source": "https://stratasadvisors.com/insights/2023/02242023-midstream-manganese-market-assessment"},
    ("precursor", None): {
        "countries": ["CN"], "year": 2023,
        "basis": "~95 % of the world's cathode precursor (pCAM) made in China (Mangrove/Posmat "
                 "product page; only China named)",
        "source": "https://posmat.ca/products"},
    ("cathode", None): {
        "countries": ["CN", "KR", "JP"], "year": 2020,
        "basis": "cathode manufacturing capacity share (74.3 / 18.9 / 5.5 %; Europe 0.3 %, "
                 "North America 1 % as regions; Rystad Energy)",
        "source": "https://www.ajot.com/news/the-electric-vehicle-market-is-getting-increasingly-reliant-on-chinas-battery-components"},
    ("anode", None): {
        "countries": ["CN", "JP", "KR"], "year": 2022,
        "basis": "98 % of anode production by Chinese, Japanese and Korean companies "
                 "(maker nationality, not plant location; Fraunhofer ISI)",
        "source": "https://isi.fraunhofer.de/en/blog/themen/batterie-update/batterien-ausgangs-materialien-asiatsische-dominanz-bei-batteriekomponenten.html"},
    ("separator", None): {
        "countries": ["CN", "JP", "KR"], "year": 2022,
        "basis": "98 % of separator production by Chinese, Japanese and Korean companies "
                 "(maker nationality; Fraunhofer ISI)",
        "source": "https://isi.fraunhofer.de/en/blog/themen/batterie-update/batterien-ausgangs-materialien-asiatsische-dominanz-bei-batteriekomponenten.html"},
    ("electrolyte", None): {
        "countries": ["CN", "JP", "KR"], "year": 2022,
        "basis": "100 % of electrolyte production by Chinese, Japanese and Korean companies "
                 "(maker nationality; Fraunhofer ISI)",
        "source": "https://isi.fraunhofer.de/en/blog/themen/batterie-update/batterien-ausgangs-materialien-asiatsische-dominanz-bei-batteriekomponenten.html"},
    ("cell", None): {
        "countries": ["CN", "PL", "US", "HU", "DE"], "year": 2022,
        "basis": "cell manufacturing capacity, GWh (BloombergNEF, via a reproduction of Visual Capitalist)",
        "source": "https://www.zombietsunamihacks.com/where-are-clean-energy-technologies-manufactured.html"},
    ("pack", None): {
        "countries": ["CN", "US", "DE", "KR"], "year": 2024,
        "basis": "battery capacity deployed in EVs by country of vehicle manufacture, GWh "
                 "(557.8 / 94.0 / 83.2 / 4th not given; Adamas Intelligence): a proxy for pack "
                 "assembly, which is done at or near the vehicle plants; the fifth country was not read",
        "source": "https://www.adamasintel.com/top-10-ev-producing-countries-by-battery-capacity-deployed/"},
    ("recycle", None): {
        "countries": ["CN"], "year": 2025,
        "basis": "China ~90 % of global Li-ion recycling capacity by 2025 (Rystad Energy projection "
                 "via Kallanish; South Korea, Japan and Singapore named as developing, no shares)",
        "source": "https://www.kallanish.com/en/news/power-materials/market-reports/article-details/"
                  "global-lithium-ion-battery-recycling-capacity-to-reach-7m-t-by-2026-rystad-0923/"},
}

# Cobalt is mined as a by-product of nickel (and copper): these rows of other materials also
# count for mine/cobalt, each because its cited source states a cobalt output. USGS counts
# Indonesia's mined cobalt as the cobalt in its HPAL intermediates (MHP), which the network
# models as refine-stage rows; they are counted here for that reason.
COBALT_BY_PRODUCT = {
    "murrin_murrin",      # AU: 5 kt/yr Co (note)
    "vale_voiseys_bay",   # CA: ~2,600 t/yr Co by-product (note)
    "nornickel_polar",    # RU: Nornickel is Russia's top cobalt producer (gaiageld.com/global-slice-cobalt)
    "moa_jv",             # CU: 3,376 t Co in 2019 (note)
    "huafei_hpal",        # ID: MHP with 15 kt/yr Co (note)
    "huayue_hpal",        # ID: MHP with 7.8 kt/yr Co (note)
}

STAGES = ["mine", "refine", "precursor", "cathode", "anode", "electrolyte", "separator", "cell",
          "pack", "recycle"]


def _plants(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r for r in rows if not r["id"].startswith(("market_", "pool_")) and r["status"] != "cancelled"]


def mineral(material: str) -> str | None:
    for name, ids in MINERALS.items():
        if material in ids:
            return name
    return None


def countries_by_key(plants: list[dict[str, str]]) -> dict[tuple[str, str | None], set[str]]:
    out: dict[tuple[str, str | None], set[str]] = defaultdict(set)
    for r in plants:
        key = (r["stage"], mineral(r["material"]) if r["stage"] in ("mine", "refine") else None)
        out[key].add(r["country"])
        if r["id"] in COBALT_BY_PRODUCT:
            out[("mine", "cobalt")].add(r["country"])
    return out


def produces_in(row: dict[str, str], period: str) -> bool:
    """Whether a facility row produces in some month of ``period`` (status and dates)."""
    window = producing_months(row["status"], row["since"], row["until"])
    if window is None:
        return False
    first, last = period_months(period)
    return max(window[0], first) <= min(window[1], last)


def cell_coverage(path: Path, period: str = "2024") -> tuple[float, int, list[str]]:
    """GWh of the cell rows with a capacity in GWh that produce in ``period``."""
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    total, n, blank = 0.0, 0, []
    for r in rows:
        if r["stage"] != "cell" or r["id"].startswith("market_") or not produces_in(r, period):
            continue
        if not r["capacity"] or r["unit"] != "GWh":
            blank.append(r["id"])
            continue
        total += float(r["capacity"])
        n += 1
    return total, n, blank


def main() -> int:
    plants = _plants(REF / "facilities.csv")
    present = countries_by_key(plants)
    print(f"{len(plants)} plant rows (not cancelled; market and country nodes left out)\n")
    missing_any = False
    keys = sorted(present, key=lambda k: (STAGES.index(k[0]) if k[0] in STAGES else 99, k[1] or ""))
    for key in keys + [k for k in RANKINGS if k not in present]:
        stage, mineral_ = key
        label = stage + (f"/{mineral_}" if mineral_ else "")
        have = sorted(present.get(key, set()))
        rank = RANKINGS.get(key)
        if rank is None:
            print(f"{label:24s} present {','.join(have) or '-'}; no cited country ranking")
            continue
        top = list(rank["countries"])  # type: ignore[arg-type]
        miss = [c for c in top if c not in have]
        missing_any |= bool(miss)
        print(f"{label:24s} leading {','.join(top)} ({rank['year']}): "
              f"{'all present' if not miss else 'missing ' + ','.join(miss)}; present {','.join(have)}")
    total, n, blank = cell_coverage(REF / "facilities.csv")
    world = WORLD_CELL_CAPACITY_2024_GWH
    print(f"\ncell coverage: {total:,.1f} GWh in {n} cell rows with a capacity that produce in "
          f"2024 = {100 * total / world:.1f} % of {world:,.0f} GWh; "
          f"{len(blank)} such rows without a capacity in GWh: {', '.join(blank)}")
    return 1 if missing_any else 0


if __name__ == "__main__":
    sys.exit(main())
