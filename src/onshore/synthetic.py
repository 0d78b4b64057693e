"""Synthetic supply networks for tests and benchmarks: seeded, vectorised, memory-lean.

A layered lithium-ion chain mine -> refine -> precursor -> cathode / anode -> cell -> pack
with recyclers taking cell scrap back to refiners (about 5 % of the flows are recycling
flows), 60 countries with stage-specific concentration, heavy-tailed supplier sizes
(preferential fan-in) and, optionally, a company / ownership graph with cross-holdings
and a few state owners. Id columns are pandas categoricals, so 1 M facilities and 10 M
flows fit in about a gigabyte.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from onshore.network import Network

COUNTRIES: tuple[str, ...] = (
    "CN",
    "AU",
    "CL",
    "AR",
    "CD",
    "ID",
    "PH",
    "ZA",
    "GA",
    "BR",
    "MZ",
    "MG",
    "KR",
    "JP",
    "US",
    "CA",
    "MX",
    "DE",
    "PL",
    "HU",
    "FI",
    "SE",
    "NO",
    "FR",
    "ES",
    "PT",
    "IT",
    "GB",
    "CZ",
    "SK",
    "AT",
    "NL",
    "BE",
    "TR",
    "IN",
    "VN",
    "TH",
    "MY",
    "TW",
    "SG",
    "MA",
    "RU",
    "KZ",
    "ZW",
    "ZM",
    "TZ",
    "NA",
    "BO",
    "PE",
    "CU",
    "NC",
    "GN",
    "GH",
    "UA",
    "RS",
    "RO",
    "SA",
    "AE",
    "NZ",
    "IE",
)
"""Sixty ISO 3166 country codes."""

# (stage, share of facilities) and the favourite countries of each stage with their weights
_STAGES = [
    ("mine", 0.12),
    ("refine", 0.10),
    ("precursor", 0.06),
    ("cathode", 0.08),
    ("anode", 0.05),
    ("cell", 0.14),
    ("pack", 0.40),
    ("recycle", 0.05),
]
_FAVOURITES: dict[str, dict[str, float]] = {
    "mine": {
        "AU": 0.15,
        "CL": 0.08,
        "CD": 0.1,
        "ID": 0.12,
        "CN": 0.1,
        "AR": 0.05,
        "PH": 0.04,
        "ZA": 0.05,
        "BR": 0.03,
        "MZ": 0.03,
    },
    "refine": {"CN": 0.6, "ID": 0.08, "FI": 0.03, "CL": 0.04, "KR": 0.03, "JP": 0.03},
    "precursor": {"CN": 0.7, "KR": 0.12, "JP": 0.05, "FI": 0.02},
    "cathode": {"CN": 0.65, "KR": 0.15, "JP": 0.07, "PL": 0.02, "US": 0.02},
    "anode": {"CN": 0.85, "JP": 0.04, "KR": 0.04},
    "cell": {"CN": 0.6, "KR": 0.1, "JP": 0.05, "US": 0.06, "DE": 0.03, "HU": 0.03, "PL": 0.03},
    "pack": {"CN": 0.35, "US": 0.1, "DE": 0.08, "KR": 0.06, "JP": 0.05, "MX": 0.03, "FR": 0.03},
    "recycle": {"CN": 0.5, "KR": 0.1, "US": 0.08, "DE": 0.06},
}
RAWS = ("lithium", "cobalt", "nickel", "manganese", "graphite")
_ORE = {
    "lithium": ("li_ore", 0.03, 0.30),
    "cobalt": ("co_ore", 0.10, 0.15),
    "nickel": ("ni_ore", 0.02, 0.25),
    "manganese": ("mn_ore", 0.30, 0.10),
    "graphite": ("gr_ore", 0.90, 0.20),
}
_CHEM = {
    "lithium": ("li_chem", 5.5),
    "cobalt": ("co_sulf", 2.1),
    "nickel": ("ni_sulf", 11.0),
    "manganese": ("mn_sulf", 1.1),
    "graphite": ("sph_graphite", 1.05),
}


# black mass per kg of refined product replacing 20 % of the metal (loop gain about 0.2)
_BM_PER_KG = {"li_chem": 1.4, "ni_sulf": 0.21, "co_sulf": 1.0, "mn_sulf": 1.04}


def _materials() -> pd.DataFrame:
    rows: list[tuple[str, str, str, str, float | None]] = [(r, r, "raw", "kg", None) for r in RAWS]
    rows += [(o, o, "intermediate", "kg", 1.0 + 10 * c) for o, c, _ in _ORE.values()]
    rows += [(c, c, "intermediate", "kg", 5.0 + 3 * q) for c, q in _CHEM.values()]
    rows += [
        ("pcam", "pcam", "intermediate", "kg", 15.0),
        ("cam", "cam", "intermediate", "kg", 25.0),
        ("anode", "anode", "intermediate", "kg", 8.0),
    ]
    rows += [
        ("cell", "cell", "cell", "kWh", 80.0),
        ("pack", "pack", "pack", "packs", 9000.0),
        ("bm", "black mass", "intermediate", "kg", 4.0),
    ]
    df = pd.DataFrame(rows, columns=["id", "name", "kind", "unit", "price"])
    df["currency"] = np.where(df["price"].notna(), "USD", np.array(None, dtype=object))
    df["price_year"] = None
    return df


def _boms(
    recyclers_feed: np.ndarray, refiner_ids: np.ndarray, refiner_mat: np.ndarray
) -> pd.DataFrame:
    rows: list[tuple[str, str, float, str | None]] = []
    for r, (ore, c, _) in _ORE.items():
        rows.append((ore, r, c, None))
    for r, (chem, q) in _CHEM.items():
        rows.append((chem, _ORE[r][0], q, None))
    rows += [
        ("pcam", "ni_sulf", 3.0, None),
        ("pcam", "co_sulf", 0.6, None),
        ("pcam", "mn_sulf", 0.6, None),
    ]
    rows += [
        ("cam", "pcam", 1.0, None),
        ("cam", "li_chem", 0.45, None),
        ("anode", "sph_graphite", 1.1, None),
    ]
    rows += [
        ("cell", "cam", 1.6, None),
        ("cell", "anode", 1.1, None),
        ("pack", "cell", 60.0, None),
        ("bm", "cell", 0.2, None),
    ]
    df = pd.DataFrame(rows, columns=["output", "input", "quantity", "facility"])
    # recycle-fed refiners: 80 % of the ore, plus black mass
    fed = refiner_ids[recyclers_feed]
    mat = refiner_mat[recyclers_feed]
    ore_of = {chem: (_ORE[r][0], q) for r, (chem, q) in _CHEM.items()}
    ore_in = np.array([ore_of[m][0] for m in mat], dtype=object)
    q_ore = np.array([ore_of[m][1] for m in mat], dtype=float)
    spec = pd.DataFrame(
        {
            "output": np.concatenate([mat, mat]),
            "input": np.concatenate([ore_in, np.full(len(mat), "bm", dtype=object)]),
            "quantity": np.concatenate(
                [0.8 * q_ore, np.array([_BM_PER_KG[m] for m in mat], dtype=float)]
            ),
            "facility": np.concatenate([fed, fed]),
        }
    )
    return pd.concat([df, spec], ignore_index=True)


def _cat(codes: np.ndarray, categories: np.ndarray) -> pd.Categorical:
    return pd.Categorical.from_codes(codes.astype(np.int32), categories=pd.Index(categories))


def _const(value: object, n: int) -> pd.Categorical:
    return pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=[value])


def network(
    n_facilities: int = 10_000,
    n_flows: int | None = None,
    seed: int = 0,
    n_companies: int | None = None,
    ownership: bool = False,
    period: str = "2025",
    recycling: float = 0.3,
) -> Network:
    """A seeded synthetic network.

    Parameters
    ----------
    n_facilities : int
        Facilities over all stages (about 12 % mines, 10 % refiners, 40 % pack plants,
        5 % recyclers).
    n_flows : int, optional
        Target number of flows (default 10 per facility); set by the mean fan-in per input.
    seed : int
        Seed of the ``numpy.random.Generator``: one seed gives one network.
    n_companies : int, optional
        Companies owning the facilities (default n_facilities / 5, at most 50 000).
    ownership : bool
        Also make an ownership graph: parents, cross-holdings (cycles) and state owners.
    period : str
        The period of every flow.
    recycling : float
        Share of the (non-graphite) refiners fed black mass by recyclers; 0 gives an acyclic
        network.

    Returns
    -------
    Network
        Companies, materials, facilities, BOMs and flows of ``period`` (and the ownership
        graph when asked for); the same for the same arguments.
    """
    rng = np.random.default_rng(seed)
    n = int(n_facilities)
    n_flows = 10 * n if n_flows is None else int(n_flows)
    shares = np.array([s for _, s in _STAGES])
    counts = np.maximum(np.floor(shares * n).astype(int), 2)
    counts[-2] += n - counts.sum()  # the rest are pack plants
    stage = np.repeat(np.arange(len(_STAGES)), counts)
    names = [s for s, _ in _STAGES]
    start = np.concatenate([[0], np.cumsum(counts)])
    first = {s: int(start[k]) for k, s in enumerate(names)}
    cnt = {s: int(counts[k]) for k, s in enumerate(names)}

    # countries by stage
    cidx = {c: k for k, c in enumerate(COUNTRIES)}
    country = np.empty(n, dtype=np.int32)
    for k, s in enumerate(names):
        w = np.full(len(COUNTRIES), 0.0)
        fav = _FAVOURITES[s]
        rest = max(1.0 - sum(fav.values()), 0.02)
        w[:] = rest / (len(COUNTRIES) - len(fav))
        for c, v in fav.items():
            w[cidx[c]] = v
        country[start[k] : start[k + 1]] = rng.choice(len(COUNTRIES), size=counts[k], p=w / w.sum())

    # materials made
    material = np.empty(n, dtype=object)
    raw_pick = {}
    for s in ("mine", "refine"):
        probs = np.array([_ORE[r][2] for r in RAWS])
        pick = rng.choice(len(RAWS), size=cnt[s], p=probs / probs.sum())
        raw_pick[s] = pick
        mats = np.array([_ORE[r][0] if s == "mine" else _CHEM[r][0] for r in RAWS], dtype=object)
        material[first[s] : first[s] + cnt[s]] = mats[pick]
    for s, m in (
        ("precursor", "pcam"),
        ("cathode", "cam"),
        ("anode", "anode"),
        ("cell", "cell"),
        ("pack", "pack"),
        ("recycle", "bm"),
    ):
        material[first[s] : first[s] + cnt[s]] = m
    size = rng.lognormal(0.0, 1.2, n)  # heavy-tailed plant sizes: preferential suppliers

    fac_ids = np.array([f"F{k:07d}" for k in range(n)], dtype=object)
    mat_ids = _materials()["id"].to_numpy()
    mat_code = pd.Index(mat_ids).get_indexer(material)

    # who supplies whom: (customer group, input material, supplier pool)
    groups: list[tuple[np.ndarray, str, np.ndarray]] = []
    for r in RAWS:
        refs = first["refine"] + np.flatnonzero(raw_pick["refine"] == RAWS.index(r))
        mines = first["mine"] + np.flatnonzero(raw_pick["mine"] == RAWS.index(r))
        groups.append((refs, _ORE[r][0], mines))
    chem_pool = {
        r: first["refine"] + np.flatnonzero(raw_pick["refine"] == RAWS.index(r)) for r in RAWS
    }

    def rng_s(s: str) -> np.ndarray:
        """Positions of the facilities of stage ``s``."""
        return np.arange(first[s], first[s] + cnt[s])

    for m in ("ni_sulf", "co_sulf", "mn_sulf"):
        groups.append(
            (
                rng_s("precursor"),
                m,
                chem_pool[{"ni_sulf": "nickel", "co_sulf": "cobalt", "mn_sulf": "manganese"}[m]],
            )
        )
    groups.append((rng_s("cathode"), "pcam", rng_s("precursor")))
    groups.append((rng_s("cathode"), "li_chem", chem_pool["lithium"]))
    groups.append((rng_s("anode"), "sph_graphite", chem_pool["graphite"]))
    groups.append((rng_s("cell"), "cam", rng_s("cathode")))
    groups.append((rng_s("cell"), "anode", rng_s("anode")))
    groups.append((rng_s("pack"), "cell", rng_s("cell")))
    groups.append((rng_s("recycle"), "cell", rng_s("cell")))
    # recycle-fed refiners (non-graphite): black mass from recyclers
    refiners = rng_s("refine")
    ref_mat = material[refiners]
    fed = (ref_mat != "sph_graphite") & (rng.random(len(refiners)) < recycling)
    groups.append((refiners[fed], "bm", rng_s("recycle")))

    slots = sum(len(c) for c, _, p in groups if len(p))
    lam = max(n_flows / max(slots, 1) - 1.0, 0.0)
    sup_l, cus_l, mat_l = [], [], []
    for cust, m, pool in groups:
        if len(cust) == 0 or len(pool) == 0:
            continue
        reps = 1 + rng.poisson(lam, len(cust))
        cus_rep = np.repeat(cust, reps)
        cdf = np.cumsum(size[pool])
        s = pool[
            np.minimum(np.searchsorted(cdf, rng.random(len(cus_rep)) * cdf[-1]), len(pool) - 1)
        ]
        sup_l.append(s)
        cus_l.append(cus_rep)
        mat_l.append(np.full(len(cus_rep), pd.Index(mat_ids).get_loc(m), dtype=np.int32))
    sup = np.concatenate(sup_l)
    cus = np.concatenate(cus_l)
    fm = np.concatenate(mat_l)
    # one record per (supplier, customer, material, period): the table's key
    key = (sup.astype(np.int64) * n + cus) * len(mat_ids) + fm
    _, keep = np.unique(key, return_index=True)
    sup, cus, fm = sup[keep], cus[keep], fm[keep]
    mats_df = _materials()
    mat_unit = mats_df["unit"].to_numpy()
    nfl = len(sup)
    flows = pd.DataFrame(
        {
            "supplier": _cat(sup, fac_ids),
            "customer": _cat(cus, fac_ids),
            "material": _cat(fm, mat_ids),
            "quantity": rng.lognormal(3.0, 1.0, nfl) * size[sup],
            "unit": pd.Categorical(mat_unit[fm]),
            "period": _const(period, nfl),
            "source": _const("onshore synthetic", nfl),
            "estimate": np.ones(nfl, dtype=bool),
            "note": _const("", nfl),
        }
    )

    n_comp = n_companies or max(min(n // 5, 50_000), 10)
    comp_ids, companies, own = _companies(rng, n_comp, ownership)
    csize = rng.lognormal(0, 1.5, n_comp)
    cdf = np.cumsum(csize)
    fac_company = np.minimum(np.searchsorted(cdf, rng.random(n) * cdf[-1]), n_comp - 1)
    facilities = pd.DataFrame(
        {
            "id": fac_ids,
            "company": _cat(fac_company, comp_ids),
            "name": fac_ids,
            "country": _cat(country, np.array(COUNTRIES, dtype=object)),
            "lat": np.full(n, np.nan),
            "lon": np.full(n, np.nan),
            "stage": pd.Categorical.from_codes(stage.astype(np.int8), categories=names),
            "material": _cat(mat_code, mat_ids),
            "capacity": size * 1000,
            "unit": pd.Categorical(mat_unit[mat_code]),
            "status": _const("operating", n),
            "since": None,
            "until": None,
            "source": _const("onshore synthetic", n),
            "estimate": np.ones(n, dtype=bool),
            "note": None,
        }
    )
    boms = _boms(fed, fac_ids[refiners], ref_mat)
    boms["unit"] = None
    net = Network.from_frames(
        companies=companies, materials=mats_df, facilities=facilities, ownership=own, boms=boms
    )
    net.flows = flows.reindex(columns=list(net.flows.columns))
    return net


def _companies(
    rng: np.random.Generator, n: int, ownership: bool
) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame | None]:
    """Companies (a few of them states) and, optionally, holdings with cross-holding cycles."""
    states = np.array(["state_cn", "state_ru", "state_sa", "state_no", "state_kr"], dtype=object)
    state_country = ["CN", "RU", "SA", "NO", "KR"]
    ids = np.concatenate([np.array([f"C{k:06d}" for k in range(n)], dtype=object), states])
    w = np.array([0.4] + [0.6 / (len(COUNTRIES) - 1)] * (len(COUNTRIES) - 1))
    country = np.concatenate(
        [np.array(COUNTRIES, dtype=object)[rng.choice(len(COUNTRIES), n, p=w)], state_country]
    )
    companies = pd.DataFrame(
        {
            "id": ids,
            "name": ids,
            "country": country,
            "kind": ["company"] * n + ["state"] * len(states),
        }
    )
    if not ownership:
        return ids, companies, None
    # parents: a company owned by an earlier one (a forest), 10..70 %
    has = rng.random(n) < 0.6
    owned = np.flatnonzero(has & (np.arange(n) > 0))
    parent = (rng.random(len(owned)) * owned).astype(np.int64)
    eq_p = rng.uniform(0.1, 0.7, len(owned))
    # cross-holdings: small stakes in any direction (cycles), <= 10 %
    m = max(n // 50, 1)
    a, b = rng.integers(0, n, m), rng.integers(0, n, m)
    ok = a != b
    a, b = a[ok], b[ok]
    eq_x = rng.uniform(0.01, 0.1, len(a))
    # state owners: stakes of 5..15 % in 3 % of companies (Chinese state most often)
    k = max(n * 3 // 100, 1)
    tgt = rng.choice(n, k, replace=False)
    st = n + rng.choice(len(states), k, p=[0.6, 0.1, 0.1, 0.1, 0.1])
    eq_s = rng.uniform(0.05, 0.15, k)
    own = pd.DataFrame(
        {
            "owner": ids[np.concatenate([parent, a, st])],
            "owned": ids[np.concatenate([owned, b, tgt])],
            "equity": np.concatenate([eq_p, eq_x, eq_s]),
        }
    )
    own = own.groupby(["owner", "owned"], as_index=False, sort=False)["equity"].sum()
    own["voting"] = own["equity"]
    return ids, companies, own
