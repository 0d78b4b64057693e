"""Rebuild the flows of the bundled reference network from its facility, relation and prior
tables.

Run from the repository root::

    PYTHONPATH=src python tools/build_flows.py

Reads ``src/onshore/data/reference/``: ``facilities.csv``, ``companies.csv``, ``boms.csv``,
``materials.csv``, ``relations.csv`` (public supply relations, cited) and
``trade_priors.csv`` (origin shares of country market pools, cited). Writes ``flows.csv``
and the market-pool rows of ``facilities.csv``, ``companies.csv`` and ``boms.csv`` (ids
``pool_*``, ``market_*``, ``unidentified_*``), replacing the ones a previous run wrote.

Method (every generated row's note states its basis):

1. Periods 2024 and 2026 (prospective). A plant produces in a period as
   :func:`onshore.records.physical.producing_months` says (status, since, until).
2. Output of a producing plant = capacity x producing months / 12 x utilisation 1/3 (IEA
   2024: >1,000 GWh demand vs ~3,000 GWh capacity), at least what it ships to recorded
   customers; plants without a public capacity are assumed to make 1 GWh or 1,000 t.
3. Its need of each recipe input = BOM quantity x output. Public relations supply it first,
   each at most what the supplier has left of its capacity for the period (relations of
   a plant that is not producing are not used).
4. The rest of the need comes from the market pool of the plant's country and material
   (``pool_<cc>_<material>``): shares from the importer's trade statistics, else the EU's
   (EU-27 members), else world production shares; the nearest year at or before the
   period, else the earliest after. A pool passes its material through and receives it
   from one node per origin country (``market_<cc>_<material>``, owned by "Producers in
   <country> (not identified)"), whose own inputs are not recorded (the trace shows them
   unknown). ``OTHER`` is the country ``XX``. Where no prior covers an input, it is left
   without a supplier (unknown origin) rather than given an invented one.
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from pathlib import Path

from onshore.errors import UnitError
from onshore.records import units
from onshore.records.countries import OTHER, country_name
from onshore.records.model import STAGE_RANK
from onshore.records.physical import period_months, producing_months

REF = Path(__file__).resolve().parent.parent / "src" / "onshore" / "data" / "reference"
PERIODS = ("2024", "2026")
UTILISATION = 1 / 3
UTIL_NOTE = (
    "utilisation 1/3 (IEA 2024: >1,000 GWh demand vs ~3,000 GWh capacity; "
    "https://www.ess-news.com/2024/04/25/iea-global-battery-demand-exceeded-1-twh-in-2023/)"
)
EU27 = set(  # noqa: SIM905
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE".split()
)
GENERATED = ("pool_", "market_")
GENERATED_COMPANIES = ("pool_", "unidentified_")
# trade codes are not split by chemistry: which prior rows stand for which material
ALIASES = {
    "cell_nmc811": ("cell_nmc811", "cell_lfp"),
    "cell_nmc622": ("cell_nmc811", "cell_lfp"),
    "cell_nca": ("cell_nmc811", "cell_lfp"),
    "cell_si_anode": ("cell_nmc811", "cell_lfp"),
    "cell_li_metal": ("cell_nmc811", "cell_lfp"),
    "pcam_nmc622": ("pcam_nmc811",),
}
ALIAS_NOTE = {
    "cell_lfp": "HS 8507.60 all Li-ion batteries (stored under cell_lfp)",
    "cell_nmc811": "EV Li-ion batteries HTS 8507.60.0010 (stored under cell_nmc811)",
    "pcam_nmc811": "NMC precursor figures (stored under pcam_nmc811)",
}


def read(name: str) -> tuple[list[str], list[dict[str, str]]]:
    with (REF / name).open(newline="", encoding="utf-8") as fh:
        r = csv.DictReader(fh)
        return list(r.fieldnames or []), list(r)


def write(name: str, cols: list[str], rows: list[dict[str, str]]) -> None:
    with (REF / name).open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, cols, lineterminator="\r\n")
        w.writeheader()
        w.writerows(rows)


def num(x: float) -> str:
    return f"{x:.6g}" if abs(x) < 1e15 else str(x)


class Builder:
    def __init__(self) -> None:
        self.fcols, fac = read("facilities.csv")
        self.ccols, comp = read("companies.csv")
        self.bcols, boms = read("boms.csv")
        _, mats = read("materials.csv")
        _, self.relations = read("relations.csv")
        _, self.priors = read("trade_priors.csv")
        self.fac = [r for r in fac if not r["id"].startswith(GENERATED)]
        self.comp = [r for r in comp if not r["id"].startswith(GENERATED_COMPANIES)]
        self.boms = [r for r in boms if not r["facility"].startswith(GENERATED)]
        self.mat = {m["id"]: m for m in mats}
        self.by_id = {f["id"]: f for f in self.fac}
        self.recipes: dict[tuple[str | None, str], dict[str, float]] = defaultdict(dict)
        for b in self.boms:
            q = float(b["quantity"])
            if b["unit"]:
                n, d = units.split_ratio(b["unit"])
                q *= units.factor(n, self.mat[b["input"]]["unit"])
                q /= units.factor(d, self.mat[b["output"]]["unit"])
            self.recipes[(b["facility"] or None, b["output"])][b["input"]] = q
        stage_count: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for f in self.fac:
            if f["material"]:
                stage_count[f["material"]][f["stage"]] += 1
        self.stage_of = {m: max(c, key=lambda s: c[s]) for m, c in stage_count.items()}
        for m in self.mat.values():
            if m["kind"] == "raw":
                self.stage_of[m["id"]] = "mine"
        self.prior_sets: dict[tuple[str, str], dict[str, list[dict[str, str]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for p in self.priors:
            self.prior_sets[(p["importer"], p["material"])][p["year"]].append(p)

    # ----------------------------------------------------------------- facilities
    def window(self, f: dict[str, str]) -> tuple[float, float] | None:
        return producing_months(f["status"] or "operating", f["since"], f["until"])

    def active(self, f: dict[str, str], period: str) -> int:
        w = self.window(f)
        if w is None:
            return 0
        a, b = period_months(period)
        lo, hi = max(w[0], a), min(w[1], b)
        return int(hi - lo + 1) if hi >= lo else 0

    def capacity(self, f: dict[str, str]) -> float | None:
        """Yearly capacity in the material's own unit (None: not public or not convertible)."""
        if not f["capacity"] or not f["material"]:
            return None
        try:
            return float(f["capacity"]) * units.factor(f["unit"], self.mat[f["material"]]["unit"])
        except (UnitError, KeyError, ValueError):
            return None

    def recipe(self, f: dict[str, str]) -> dict[str, float]:
        return self.recipes.get((f["id"], f["material"])) or self.recipes.get(
            (None, f["material"]), {}
        )

    # --------------------------------------------------------------------- priors
    def prior(self, country: str, material: str, period: str) -> tuple[str, str, list] | None:
        """(importer used, material used, rows) of the pool shares for a plant."""
        importers = [country] + (["EU"] if country in EU27 else []) + ["WORLD"]
        for imp in importers:
            for m in ALIASES.get(material, (material,)):
                sets = self.prior_sets.get((imp, m))
                if not sets:
                    continue
                years = sorted(sets)
                before = [y for y in years if y <= period]
                year = before[-1] if before else years[0]
                return imp, m, sets[year]
        return None

    # ---------------------------------------------------------------------- build
    def build(self) -> None:
        self.flows: list[dict[str, str]] = []
        self.pool_need: dict[tuple[str, str, str], float] = defaultdict(float)
        self.pool_basis: dict[tuple[str, str], tuple[str, str]] = {}
        for period in PERIODS:
            self.build_period(period)
        self.add_pools()

    def build_period(self, period: str) -> None:
        producing = {f["id"]: self.active(f, period) for f in self.fac}
        customers = [
            f
            for f in self.fac
            if producing[f["id"]] and f["material"] and f["stage"] != "mine" and self.recipe(f)
        ]
        customers.sort(key=lambda f: (-STAGE_RANK.get(f["stage"], 8), f["id"]))
        rel_by_customer: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
        for r in self.relations:
            rel_by_customer[(r["customer"], r["material"])].append(r)
        shipped: dict[str, float] = {}
        for _ in range(50):
            out, new_shipped, pools = self.allocate(
                period, customers, producing, rel_by_customer, shipped
            )
            if new_shipped == shipped:
                break
            shipped = new_shipped
        else:
            raise SystemExit("allocation did not converge")
        self.flows += out
        for k, v in pools.items():
            self.pool_need[k] += v

    def allocate(  # type: ignore[no-untyped-def]
        self, period, customers, producing, rel_by_customer, shipped
    ):
        out: list[dict[str, str]] = []
        new_shipped: dict[str, float] = defaultdict(float)
        left: dict[str, float] = {}
        pools: dict[tuple[str, str, str], float] = defaultdict(float)
        for f in self.fac:
            c = self.capacity(f)
            if c is not None and producing[f["id"]]:
                left[f["id"]] = c * producing[f["id"]] / 12
        for c in customers:
            cid, mu = c["id"], self.mat[c["material"]]["unit"]
            months = producing[cid]
            cap = self.capacity(c)
            if cap is not None:
                base = cap * months / 12 * UTILISATION
                basis = (
                    f"{cid} output = capacity {num(cap)} {mu}/yr x {months}/12 months producing "
                    f"x {UTIL_NOTE}"
                )
            else:
                what = "1 GWh" if units.dimension(mu) == "energy" else "1,000 t"
                base = 1e6 * months / 12  # 1 GWh = 1e6 kWh, 1,000 t = 1e6 kg
                basis = (
                    f"{cid} output assumed {what}"
                    f" a year (no public capacity in {mu}) x {months}/12 months producing"
                )
            if shipped.get(cid, 0.0) > base:
                base = shipped[cid]
                basis = f"{cid} output = what it ships to recorded customers ({num(base)} {mu})"
            for inp, q in sorted(self.recipe(c).items()):
                need = q * base
                iu = self.mat[inp]["unit"]
                got = 0.0
                rels = [
                    r
                    for r in rel_by_customer.get((cid, inp), [])
                    if producing.get(r["supplier"]) and r["supplier"] in self.by_id
                ]
                for r in rels:
                    s = self.by_id[r["supplier"]]
                    if r["volume"] == "fixed":
                        v = float(r["quantity"]) * units.factor(r["unit"], iu)
                        note = f"Relation: {r['note']} {r['volume_note']}".strip()
                    else:
                        want = need / len(rels)
                        v = want
                        main = s["material"] == inp
                        if main and s["id"] in left:
                            v = min(want, max(left[s["id"]], 0.0))
                            left[s["id"]] -= v
                        note = (
                            f"Relation: {r['note']} Volume estimated: {num(q)} {iu} per {mu} x "
                            f"{basis}"
                            + (f", split over {len(rels)} relations" if len(rels) > 1 else "")
                            + (
                                f"; cut to the supplier's capacity left for {period}"
                                f" ({num(v)} of {num(want)} {iu})"
                                if v < want * (1 - 1e-9)
                                else ""
                            )
                            + "."
                        )
                    if s["material"] == inp:
                        new_shipped[s["id"]] += v
                    got += v if r["volume"] != "fixed" else 0.0
                    if v > 0:
                        out.append(self.flow(s["id"], cid, inp, v, period, r["source"], note))
                rest = need - got
                if rest <= need * 1e-9 or self.mat[inp]["kind"] == "raw" and c["stage"] == "mine":
                    continue
                pr = self.prior(c["country"], inp, period)
                if pr is None:
                    continue  # no supplier and no prior: unknown origin in the trace
                pool = self.pool_id(c["country"], inp)
                self.pool_basis[(c["country"], inp)] = (pr[0], pr[1])
                pools[(c["country"], inp, period)] += rest
                out.append(
                    self.flow(
                        pool,
                        cid,
                        inp,
                        rest,
                        period,
                        pr[2][0]["source"],
                        "No public supply relation"
                        + (" covers all of it" if got else "")
                        + f": from the {country_name(c['country'])} market pool. Volume "
                        f"estimated: {num(q)} {iu} per {mu} x {basis}"
                        + (f", less {num(got)} {iu} from relations" if got else "")
                        + f". Pool shares: {self.basis_text(pr)}.",
                    )
                )
        return out, dict(new_shipped), pools

    def basis_text(self, pr: tuple[str, str, list]) -> str:
        imp, m, rows = pr
        what = "world production" if imp == "WORLD" else f"{imp} imports"
        alias = f" ({ALIAS_NOTE[m]})" if m in ALIAS_NOTE else (f" (figures for {m})" if m else "")
        return f"{what}{alias}, {rows[0]['year']}, HS {rows[0]['hs_code']}, {rows[0]['basis']}"

    def flow(self, s: str, c: str, m: str, q: float, period: str, src: str, note: str) -> dict:
        mu = self.mat[m]["unit"]
        unit, f = {"kg": ("t", 1e-3), "kWh": ("MWh", 1e-3)}.get(mu, (mu, 1.0))
        return {
            "supplier": s,
            "customer": c,
            "material": m,
            "quantity": f"{q * f:.6f}".rstrip("0").rstrip("."),
            "unit": unit,
            "period": period,
            "source": src,
            "estimate": "true",
            "note": note,
        }

    # ---------------------------------------------------------------------- pools
    @staticmethod
    def pool_id(country: str, material: str) -> str:
        return f"pool_{country.lower()}_{material}"

    def add_pools(self) -> None:
        new_fac, new_comp, new_bom = [], [], []
        origins_made: set[tuple[str, str]] = set()
        for (country, m), (imp, pm) in sorted(self.pool_basis.items()):
            pid = self.pool_id(country, m)
            mname = self.mat[m]["name"]
            kind = "world production shares" if imp == "WORLD" else f"{imp} import shares"
            if imp == country:
                cname = f"{country} imports of {mname} (market pool)"
            else:
                cname = f"Supply of {mname} in {country_name(country)} at {kind} (market pool)"
            rows = next(iter(self.prior_sets[(imp, pm)].values()))
            new_comp.append(
                {
                    "id": pid,
                    "name": cname,
                    "aliases": "",
                    "country": country,
                    "hq_country": "",
                    "kind": "company",
                    "source": rows[0]["source"],
                    "estimate": "true",
                    "note": "A market pool, not a company: stands for the unidentified suppliers "
                    f"of {m} to plants in {country}; origin shares from {kind}"
                    + (" (no import statistics for this country)" if imp != country else "")
                    + ". See trade_priors.csv.",
                }
            )
            new_fac.append(
                {
                    **{k: "" for k in self.fcols},
                    "id": pid,
                    "company": pid,
                    "name": cname,
                    "country": country,
                    "stage": "market",
                    "material": m,
                    "status": "operating",
                    "source": rows[0]["source"],
                    "estimate": "true",
                    "note": f"Market pool: passes {m} through from origin-country nodes by "
                    f"{kind}; volumes are the needs of the plants it supplies (estimates).",
                }
            )
            new_bom.append(
                {
                    "output": m,
                    "input": m,
                    "quantity": "1",
                    "unit": "",
                    "facility": pid,
                    "source": rows[0]["source"],
                    "estimate": "false",
                    "note": "A market pool passes its material through (one unit per unit).",
                }
            )
        for (country, m, period), need in sorted(self.pool_need.items()):
            imp, pm = self.pool_basis[(country, m)]
            pr = self.prior(country, m, period)
            assert pr is not None
            for row in pr[2]:
                share = float(row["share"])
                if share <= 0:
                    continue
                o = OTHER if row["origin"] == "OTHER" else row["origin"]
                oid = f"market_{o.lower()}_{m}"
                if (o, m) not in origins_made:
                    origins_made.add((o, m))
                    new_fac.append(self.origin_row(o, m, row))
                    new_comp.append(self.unidentified(o, row))
                note = (
                    f"Origin share {share:g} of the {self.basis_text(pr)}"
                    f" (estimate from trade/production statistics; prior row estimate="
                    f"{row['estimate']}). {row['note']}"
                )
                self.flows.append(
                    self.flow(
                        oid, self.pool_id(country, m), m, need * share, period, row["source"], note
                    )
                )
        seen = set()
        comp = []
        for c in self.comp + new_comp:
            if c["id"] not in seen:
                seen.add(c["id"])
                comp.append(c)
        comp.sort(key=lambda c: c["id"])
        write("companies.csv", self.ccols, comp)
        write("facilities.csv", self.fcols, self.fac + new_fac)
        write("boms.csv", self.bcols, self.boms + new_bom)
        fcols = [
            "supplier",
            "customer",
            "material",
            "quantity",
            "unit",
            "period",
            "source",
            "estimate",
            "note",
        ]
        agg: dict[tuple, dict] = {}
        for fl in self.flows:
            k = (fl["supplier"], fl["customer"], fl["material"], fl["period"])
            assert k not in agg, k
            agg[k] = fl
        write("flows.csv", fcols, list(agg.values()))
        print(
            f"{len(agg)} flows, {len(new_fac)} pool/origin facilities, "
            f"{len(new_comp)} pool/origin companies",
            file=sys.stderr,
        )

    def origin_row(self, o: str, m: str, row: dict[str, str]) -> dict[str, str]:
        where = "other or unspecified countries" if o == OTHER else country_name(o)
        return {
            **{k: "" for k in self.fcols},
            "id": f"market_{o.lower()}_{m}",
            "company": f"unidentified_{o.lower()}",
            "name": f"Production of {self.mat[m]['name']} in {where} (not identified)",
            "country": o,
            "stage": self.stage_of.get(m, "refine"),
            "material": m,
            "status": "operating",
            "source": row["source"],
            "estimate": "true",
            "note": "Country-production node of the market pools: the producers are not "
            "identified and their inputs are not recorded (the trace shows them unknown).",
        }

    def unidentified(self, o: str, row: dict[str, str]) -> dict[str, str]:
        where = "other or unspecified countries" if o == OTHER else country_name(o)
        return {
            "id": f"unidentified_{o.lower()}",
            "name": f"Producers in {where} (not identified)",
            "aliases": "",
            "country": o,
            "hq_country": "",
            "kind": "unidentified",
            "source": row["source"],
            "estimate": "true",
            "note": "Stands for the unidentified producers of one country in the market pools; "
            "its country is known, its owners are not.",
        }


if __name__ == "__main__":
    b = Builder()
    b.build()
