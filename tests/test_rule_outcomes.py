"""Every bundled rule against hand-built networks: a case it allows, one it prohibits, one it
cannot decide; the rules that never give a firm verdict say so; and the date edges of every
rule (the day before it takes effect, the day it does, its last day and the day after).

One network, ``net()``, holds many small disjoint supply chains; each product (a facility)
is built for one outcome, and the comment next to each case says why, from the numbers
below. Prices (USD): lithium 10/kg, cathode active material (cam) 20/kg, anode 5/kg,
cell 80/kWh, pack 120/kWh. Recipes: 1 kWh of cell = 1.5 kg cam + 1.0 kg anode;
1 kg cam = 0.1 kg lithium; 1 kWh pack = 1 kWh cell; 1 kg actuator = 2 kg tungsten powder
= 2 kg tungsten; 1 kg capacitor = 0.5 kg tantalum powder = 0.5 kg tantalum.

So, per kWh of a cell with one supplier per input, the cost-weighted trace holds the cell
itself (80), its cam (1.5 x 20 = 30), its anode (1.0 x 5 = 5) and its lithium
(0.15 kg x 10 = 1.5): the "components" (cathode/anode/electrolyte/separator) are worth 35,
the battery components of 30D (cathode .. pack) 115, and the 45X MACR tiers (cathode ..
separator, a pack's cells; the product's own plant left out) 35.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

import pandas as pd
import pytest

from onshore.compliance import Outcome, Verdict, check
from onshore.network import Network
from onshore.rules import bundled

D = dt.date.fromisoformat
DAY = dt.timedelta(days=1)
P, A, U, NA, INFO = Outcome.PROHIBITED, Outcome.ALLOWED, Outcome.UNKNOWN, Outcome.NOT_APPLICABLE, Outcome.INFO

# -------------------------------------------------------------------------------- network
COMPANIES = [
    ("prc", "PRC (SASAC)", "CN", "state"),
    ("zeng", "Zeng Yuqun", "CN", "person"),
    ("catl", "Contemporary Amperex Technology Co., Limited", "CN", "company"),  # named (s154), 1260H, 45X SFE
    ("catl_hu", "CATL Hungary Kft.", "HU", "company"),  # 100 % CATL: controlled subsidiary
    ("sister", "Danube Sister Materials Kft.", "HU", "company"),  # 90 % Zeng, who controls CATL: sister
    ("minor", "Tisza Cells Kft.", "HU", "company"),  # 30 % CATL, 70 % Tisza Holdings: minority holding
    ("minor_hold", "Tisza Holdings", "HU", "company"),
    ("hanul", "Hanul Cells Co., Ltd.", "KR", "company"),
    ("hanul_hold", "Hanul Holdings", "KR", "company"),
    ("seoul", "Seoul Cells Co., Ltd.", "KR", "company"),  # licenses LFP technology from CATL
    ("liberty", "Liberty Cells Inc.", "US", "company"),
    ("liberty_hold", "Liberty Holdings", "US", "company"),
    ("prairie", "Prairie Cells LLC", "US", "company"),  # 30 % CATL equity: 45X foreign-influenced
    ("mesa", "Mesa Cells LLC", "US", "company"),  # CATL holds 20 % of its debt: 45X foreign-influenced
    ("lone", "Lone Star Cells LLC", "US", "company"),  # no holder recorded
    ("outback", "Outback Lithium Ltd", "AU", "company"),
    ("pampa", "Pampa Lithium SA", "AR", "company"),
    ("sclr", "Sichuan Lithium Refining Co., Ltd.", "CN", "company"),
    ("hgr", "Hunan Graphite Co., Ltd.", "CN", "company"),
    ("xnm", "Xinjiang Nonferrous Metals Industry Group Co., Ltd.", "CN", "company"),  # UFLPA from 2024-11-25
    ("nuiphao", "Nui Phao Mining", "VN", "company"),
    ("hunanw", "Hunan Tungsten Co., Ltd.", "CN", "company"),
    ("penn", "Penn Powder Inc.", "US", "company"),
    ("patriot", "Patriot Actuators Inc.", "US", "company"),
    ("kigali", "Kigali Tantalum Mining", "RW", "company"),
]
OWNERSHIP = [
    {"owner": "zeng", "owned": "catl", "equity": .6}, {"owner": "catl", "owned": "catl_hu", "equity": 1.0},
    {"owner": "zeng", "owned": "sister", "equity": .9},
    {"owner": "catl", "owned": "minor", "equity": .3}, {"owner": "minor_hold", "owned": "minor", "equity": .7},
    {"owner": "hanul_hold", "owned": "hanul", "equity": 1.0}, {"owner": "hanul_hold", "owned": "seoul", "equity": 1.0},
    {"owner": "liberty_hold", "owned": "liberty", "equity": 1.0},
    {"owner": "catl", "owned": "prairie", "equity": .3}, {"owner": "liberty_hold", "owned": "prairie", "equity": .7},
    {"owner": "liberty_hold", "owned": "mesa", "equity": 1.0}, {"owner": "catl", "owned": "mesa", "equity": 0.0, "debt": .2},
    {"owner": "prc", "owned": "xnm", "equity": 1.0},
]
MATERIALS = [
    ("li", "Lithium", "raw", "kg", 10.0), ("cam", "Cathode active material", "intermediate", "kg", 20.0),
    ("an", "Anode graphite", "intermediate", "kg", 5.0), ("cell", "Li-ion cell", "cell", "kWh", 80.0),
    ("pack", "Li-ion pack", "pack", "kWh", 120.0),
    ("w", "Tungsten", "raw", "kg", 30.0), ("wpow", "Tungsten metal powder", "intermediate", "kg", 50.0),
    ("act", "Guidance actuator", "device", "kg", 400.0),
    ("ta", "Tantalum", "raw", "kg", 100.0), ("tapow", "Tantalum metal powder", "intermediate", "kg", 300.0),
    ("cap", "Capacitor bank", "device", "kg", 500.0),
]
BOMS = [("cell", "cam", 1.5, "kg/kWh"), ("cell", "an", 1.0, "kg/kWh"), ("cam", "li", 0.1, "kg/kg"),
        ("pack", "cell", 1.0, "kWh/kWh"), ("wpow", "w", 1.0, "kg/kg"), ("act", "wpow", 2.0, "kg/kg"),
        ("tapow", "ta", 1.0, "kg/kg"), ("cap", "tapow", 0.5, "kg/kg")]
# (facility, company, country, stage, material, [(supplier, quantity in t or kWh), ...])
FACILITIES = [
    # lithium: mines and refineries
    ("au_li", "outback", "AU", "mine", "li", []),
    ("ar_li", "pampa", "AR", "mine", "li", []),
    ("kr_li_ref", "hanul", "KR", "refine", "li", [("au_li", 1)]),
    ("cn_li_ref", "sclr", "CN", "refine", "li", [("ar_li", 1)]),
    ("xnm_ref", "xnm", "CN", "refine", "li", []),
    # cathode and anode plants
    ("kr_cam", "hanul", "KR", "cathode", "cam", [("au_li", 1)]),  # mine straight to cathode: no refine stage
    ("kr_cam_r", "hanul", "KR", "cathode", "cam", [("kr_li_ref", 1)]),
    ("kr_cam_cnr", "hanul", "KR", "cathode", "cam", [("cn_li_ref", 1)]),
    ("kr_cam_xnm", "hanul", "KR", "cathode", "cam", [("xnm_ref", 1)]),
    ("kr_cam_nolith", "hanul", "KR", "cathode", "cam", []),
    ("catl_cam", "catl", "CN", "cathode", "cam", [("au_li", 1)]),
    ("kr_an", "hanul", "KR", "anode", "an", []),
    ("cn_an", "hgr", "CN", "anode", "an", []),
    # cells
    ("kr_cell", "hanul", "KR", "cell", "cell", [("kr_cam", 1), ("kr_an", 1)]),
    ("kr_cell_bare", "hanul", "KR", "cell", "cell", []),
    ("kr_cell_catlcam", "hanul", "KR", "cell", "cell", [("catl_cam", 1), ("kr_an", 1)]),
    ("kr_cell_cnan", "hanul", "KR", "cell", "cell", [("kr_cam", 1), ("cn_an", 1)]),
    ("kr_cell_an5", "hanul", "KR", "cell", "cell", [("kr_cam", 1), ("kr_an", 65), ("cn_an", 35)]),
    ("kr_cell_an4", "hanul", "KR", "cell", "cell", [("kr_cam", 1), ("kr_an", 72), ("cn_an", 28)]),
    ("kr_cell_camgap", "hanul", "KR", "cell", "cell", [("kr_an", 1)]),
    ("kr_cell_r", "hanul", "KR", "cell", "cell", [("kr_cam_r", 1), ("kr_an", 1)]),
    ("kr_cell_cnr", "hanul", "KR", "cell", "cell", [("kr_cam_cnr", 1), ("kr_an", 1)]),
    ("kr_cell_xnm", "hanul", "KR", "cell", "cell", [("kr_cam_xnm", 1), ("kr_an", 1)]),
    ("kr_cell_nolith", "hanul", "KR", "cell", "cell", [("kr_cam_nolith", 1), ("kr_an", 1)]),
    ("seoul_cell", "seoul", "KR", "cell", "cell", [("kr_cam", 1), ("kr_an", 1)]),
    ("catl_ningde", "catl", "CN", "cell", "cell", [("catl_cam", 1), ("cn_an", 1)]),
    ("catl_hu_cell", "catl_hu", "HU", "cell", "cell", [("kr_cam", 1), ("kr_an", 1)]),
    ("sister_cell", "sister", "HU", "cell", "cell", [("kr_cam", 1), ("kr_an", 1)]),
    ("minor_cell", "minor", "HU", "cell", "cell", [("kr_cam", 1), ("kr_an", 1)]),
    ("us_cell", "liberty", "US", "cell", "cell", [("kr_cam", 1), ("kr_an", 1)]),
    ("us_cell_catlcam", "liberty", "US", "cell", "cell", [("catl_cam", 1), ("kr_an", 1)]),
    ("us_cell_camgap", "liberty", "US", "cell", "cell", [("kr_an", 1)]),
    ("prairie_cell", "prairie", "US", "cell", "cell", [("kr_cam", 1), ("kr_an", 1)]),
    ("mesa_cell", "mesa", "US", "cell", "cell", [("kr_cam", 1), ("kr_an", 1)]),
    ("lone_cell", "lone", "US", "cell", "cell", [("kr_cam", 1), ("kr_an", 1)]),
    # packs
    ("us_pack_kr", "liberty", "US", "pack", "pack", [("kr_cell", 1)]),
    ("us_pack_catl", "liberty", "US", "pack", "pack", [("catl_ningde", 1)]),
    ("us_pack_bare", "liberty", "US", "pack", "pack", []),
    # tungsten: mine -> powder -> actuator
    ("vn_w", "nuiphao", "VN", "mine", "w", []),
    ("cn_w", "hunanw", "CN", "mine", "w", []),
    ("us_wpow", "penn", "US", "refine", "wpow", [("vn_w", 1)]),
    ("us_wpow_cnmine", "penn", "US", "refine", "wpow", [("cn_w", 1)]),
    ("cn_wpow", "hunanw", "CN", "refine", "wpow", [("vn_w", 1)]),
    ("act_ok", "patriot", "US", "device", "act", [("us_wpow", 1)]),
    ("act_cnref", "patriot", "US", "device", "act", [("cn_wpow", 1)]),
    ("act_cnmine", "patriot", "US", "device", "act", [("us_wpow_cnmine", 1)]),
    ("act_gap", "patriot", "US", "device", "act", []),
    # tantalum: mine -> powder -> capacitor
    ("rw_ta", "kigali", "RW", "mine", "ta", []),
    ("cn_ta", "hunanw", "CN", "mine", "ta", []),
    ("us_tapow", "penn", "US", "refine", "tapow", [("rw_ta", 1)]),
    ("us_tapow_cnmine", "penn", "US", "refine", "tapow", [("cn_ta", 1)]),
    ("cn_tapow", "hunanw", "CN", "refine", "tapow", [("rw_ta", 1)]),
    ("cap_ok", "patriot", "US", "device", "cap", [("us_tapow", 1)]),
    ("cap_cnref", "patriot", "US", "device", "cap", [("cn_tapow", 1)]),
    ("cap_cnmine", "patriot", "US", "device", "cap", [("us_tapow_cnmine", 1)]),
    ("cap_gap", "patriot", "US", "device", "cap", []),
]


@cache
def net(unpriced: tuple[str, ...] = (), extra_company: tuple[str, str] | None = None) -> Network:
    """The network; ``unpriced``: materials whose price is removed; ``extra_company``: (id, name) of
    one more company, given the cell plant ``extra_cell`` (fed like ``kr_cell``)."""
    companies = pd.DataFrame(COMPANIES, columns=["id", "name", "country", "kind"])
    fac = list(FACILITIES)
    if extra_company:
        companies.loc[len(companies)] = [extra_company[0], extra_company[1], "HU", "company"]
        fac.append(("extra_cell", extra_company[0], "HU", "cell", "cell", [("kr_cam", 1), ("kr_an", 1)]))
    mats = pd.DataFrame(MATERIALS, columns=["id", "name", "kind", "unit", "price"])
    mats["price"] = [None if m in unpriced else p for m, p in zip(mats["id"], mats["price"], strict=True)]
    mats["currency"] = ["USD" if p is not None else None for p in mats["price"]]
    unit = {m[0]: m[3] for m in MATERIALS}
    facilities = pd.DataFrame([(f, c, f"plant {f}", k, s, m) for f, c, k, s, m, _ in fac],
                              columns=["id", "company", "name", "country", "stage", "material"])
    mat_of = {f[0]: f[4] for f in fac}
    flows = pd.DataFrame([(s, f, mat_of[s], float(q), "kWh" if unit[mat_of[s]] == "kWh" else "t", "2024")
                          for f, *_, sups in fac for s, q in sups],
                         columns=["supplier", "customer", "material", "quantity", "unit", "period"])
    licences = pd.DataFrame([{"licensor": "catl", "licensee": "seoul", "technology": "LFP cell design",
                              "facility": "seoul_cell", "since": "2023", "source": "hand-made"}])
    return Network.from_frames(
        companies=companies, ownership=pd.DataFrame(OWNERSHIP), materials=mats, facilities=facilities, flows=flows,
        boms=pd.DataFrame(BOMS, columns=["output", "input", "quantity", "unit"]), licences=licences)


RULES = bundled()
BUYER = {rid: r.buyers[0] for rid, r in RULES.rules.items()}


def verdict(rule_id: str, product: str, on: dt.date, network: Network | None = None) -> Verdict:
    """The verdict of one rule in ``check`` for the rule's own buyer scope."""
    (v,) = [v for v in check(network or net(), product, BUYER[rule_id], on) if v.rule_id == rule_id]
    return v


# ---------------------------------------------------------------------------- firm rules
# (rule, product, date, network variant, expected, a word the reason must hold) -- why, by hand.
S154, NEW, STD, EXIST = "US-NDAA24-154", "US-10USC4865-new", "US-10USC4865-std", "US-10USC4865-exist"
DIRECT, INDIRECT = "US-NDAA24-805-direct", "US-NDAA24-805-indirect"
LOOKALIKE = ("lookalike", "Contemporary Amperex Technologies Ltd")  # a near spelling of CATL, not linked to it
NOPRICE = ("cam",)

FIRM = [
    # --- FY2024 NDAA s154 (cell maker or pack assembler is, or is controlled by, a named maker)
    (S154, "kr_cell", "2027-10-01", {}, A, "made by hanul"),  # Hanul <- Hanul Holdings: no named entity
    (S154, "catl_ningde", "2027-10-01", {}, P, "Contemporary Amperex"),  # CATL's own cell plant
    (S154, "catl_hu_cell", "2027-10-01", {}, P, "controlled by"),  # CATL holds 100 % of CATL Hungary
    (S154, "us_pack_catl", "2027-10-01", {}, P, "catl_ningde"),  # a US pack of CATL Ningde cells
    (S154, "sister_cell", "2027-10-01", {}, U, "under common control"),  # Zeng controls CATL (60 %) and it (90 %)
    (S154, "minor_cell", "2027-10-01", {}, U, "held >= 25 %"),  # CATL holds 30 %, no control
    (S154, "extra_cell", "2027-10-01", {"extra_company": LOOKALIKE}, U, "resembles"),  # name near CATL's
    (S154, "us_pack_bare", "2027-10-01", {}, U, "cell"),  # a pack whose cell maker is not recorded
    # --- 10 U.S.C. 4865 (three scopes, one test): final assembly, licences, > 95 % non-FEOC component cost
    *[(r, p, d, kw, o, why) for r, d in ((NEW, "2028-01-01"), (STD, "2029-01-01"), (EXIST, "2031-01-30")) for p, kw, o, why in [
        ("kr_cell", {}, A, "non-FEOC"),  # KR cell, KR cam (30) and KR anode (5): 0 % FEOC
        ("kr_cell_an4", {}, A, "non-FEOC"),  # 28 % of the anode from China: 0.28 x 5 / 35 = 4 % < 5 %
        ("catl_ningde", {}, P, "final assembly"),  # cells assembled by CATL (incorporated in CN)
        ("us_pack_catl", {}, P, "final assembly"),  # the pack's cells assembled by CATL
        ("seoul_cell", {}, P, "licensed"),  # LFP technology licensed from CATL
        ("kr_cell_cnan", {}, P, "FEOC sources"),  # Chinese anode: 5 / 35 = 14.3 % > 5 %
        ("kr_cell_an5", {}, P, "FEOC sources"),  # 35 % of the anode from China: 1.75 / 35 = 5 %: not > 95 % non-FEOC
        ("kr_cell_camgap", {}, U, "unknown origin"),  # cam supplier not recorded: 30 / 35 of unknown origin
        # cam has no price, but it is Korean like the anode: 0 % FEOC whatever its price
        ("kr_cell", {"unpriced": NOPRICE}, A, "non-FEOC"),
        # the Chinese anode is 100 % of the priced cost, but an expensive enough (Korean) cam
        # brings it under 5 %: the bounds do not decide
        ("kr_cell_cnan", {"unpriced": NOPRICE}, U, "prices"),
    ]],
    # --- FY2024 NDAA s805, 1260H list (CATL)
    (DIRECT, "kr_cell", "2026-06-30", {}, A, "none of the plants"),
    (DIRECT, "catl_ningde", "2026-06-30", {}, P, "1260H"),  # CATL is the maker
    (DIRECT, "catl_hu_cell", "2026-06-30", {}, P, "controlled by"),  # a company CATL controls is the maker
    (DIRECT, "extra_cell", "2026-06-30", {"extra_company": LOOKALIKE}, U, "resembles"),  # identity unsettled
    (INDIRECT, "kr_cell", "2027-06-30", {}, A, "upstream"),  # suppliers: Hanul (KR), Outback (AU)
    (INDIRECT, "kr_cell_catlcam", "2027-06-30", {}, P, "catl_cam"),  # cam from CATL's cathode plant
    (INDIRECT, "kr_cell_bare", "2027-06-30", {}, U, "no supplier"),  # no supplier recorded
    # --- DFARS 252.225-7052 (mass of covered raw at tested stages in CN/RU/KP/IR must be 0)
    # act: 2 kg tungsten per kg passes the powder plant (refine) and the actuator plant (device)
    ("US-DFARS-7052-a", "act_ok", "2026-12-31", {}, A, "0.0%"),  # VN mine, US powder, US actuator
    ("US-DFARS-7052-a", "kr_cell", "2026-12-31", {}, A, "no ndfeb"),  # no covered material at all
    ("US-DFARS-7052-a", "act_cnmine", "2026-12-31", {}, A, "0.0%"),  # mined in CN: mining not covered before 2027
    ("US-DFARS-7052-a", "act_cnref", "2026-12-31", {}, P, "50.0%"),  # powder made in CN: 2 of 2 + 2 kg
    ("US-DFARS-7052-a", "act_gap", "2026-12-31", {}, U, "untraced 50.0%"),  # powder maker not recorded
    ("US-DFARS-7052-ta", "cap_ok", "2026-12-31", {}, A, "0.0%"),  # RW mine, US powder, US capacitor
    ("US-DFARS-7052-ta", "act_cnref", "2026-12-31", {}, A, "no tantalum"),  # tungsten is not this rule's
    ("US-DFARS-7052-ta", "cap_cnref", "2026-12-31", {}, P, "50.0%"),  # tantalum powder made in CN
    ("US-DFARS-7052-ta", "cap_gap", "2026-12-31", {}, U, "untraced 50.0%"),  # powder maker not recorded
    ("US-DFARS-7052-b", "act_ok", "2027-01-01", {}, A, "0.0%"),
    ("US-DFARS-7052-b", "act_cnmine", "2027-01-01", {}, P, "33.3%"),  # from 2027 mining counts: 2 of 6 kg in CN
    ("US-DFARS-7052-b", "cap_cnmine", "2027-01-01", {}, P, "33.3%"),  # tantalum is covered by -b too
    ("US-DFARS-7052-b", "act_gap", "2027-01-01", {}, U, "untraced 66.7%"),  # unknown powder plant and mine
    # --- 30D battery components: cost share made in US/CA/MX, at cathode .. pack (2024: >= 60 %)
    ("US-30D-BC", "us_cell", "2024-06-01", {}, A, "69.6%"),  # US cell 80 of 80 + 30 + 5
    ("US-30D-BC", "kr_cell", "2024-06-01", {}, P, "0.0%"),  # all Korean
    ("US-30D-BC", "us_pack_kr", "2024-06-01", {}, P, "51.1%"),  # US pack 120 of 120 + 115 < 60 %
    ("US-30D-BC", "us_pack_kr", "2023-06-01", {}, A, "51.1%"),  # ... but >= the 2023 threshold of 50 %
    ("US-30D-BC", "us_pack_bare", "2024-06-01", {}, U, "straddles"),  # 51.1 % to 100 %: cells of unknown origin
    ("US-30D-BC", "us_cell", "2024-06-01", {"unpriced": NOPRICE}, U, "prices"),
    # --- 30D FEOC: any FEOC share of component cost (cathode .. pack) fails; licences are not tested
    ("US-30D-FEOC-comp", "kr_cell", "2024-06-01", {}, A, "non-FEOC"),
    ("US-30D-FEOC-comp", "seoul_cell", "2024-06-01", {}, A, "non-FEOC"),  # a CATL licence does not matter here
    ("US-30D-FEOC-comp", "kr_cell_cnan", "2024-06-01", {}, P, "4.3%"),  # Chinese anode: 5 / 115
    ("US-30D-FEOC-comp", "catl_ningde", "2024-06-01", {}, P, "final assembly"),
    ("US-30D-FEOC-comp", "kr_cell_camgap", "2024-06-01", {}, U, "unknown origin"),  # 30 / 115 unknown
    # no FEOC component at any price of the (Korean) cam; with the Chinese anode, one at any
    ("US-30D-FEOC-comp", "kr_cell", "2024-06-01", {"unpriced": NOPRICE}, A, "non-FEOC"),
    ("US-30D-FEOC-comp", "kr_cell_cnan", "2024-06-01", {"unpriced": NOPRICE}, P, "FEOC sources"),
    # --- 30D FEOC: any FEOC share of the mine / refine / recycle cost fails
    ("US-30D-FEOC-min", "kr_cell", "2025-06-01", {}, A, "non-FEOC"),  # lithium mined by Outback (AU)
    ("US-30D-FEOC-min", "kr_cell_cnr", "2025-06-01", {}, P, "50.0%"),  # refined in CN: 1.5 of 1.5 + 1.5
    ("US-30D-FEOC-min", "kr_cell_nolith", "2025-06-01", {}, U, "unknown origin"),  # lithium supplier unknown
    # --- UFLPA Entity List (any recorded upstream plant)
    ("US-UFLPA-battery", "kr_cell", "2025-01-15", {}, A, "upstream"),
    ("US-UFLPA-battery", "kr_cell_xnm", "2025-01-15", {}, P, "Xinjiang Nonferrous"),  # XNM refined the lithium
    ("US-UFLPA-battery", "kr_cell_xnm", "2024-11-24", {}, A, "upstream"),  # the day before XNM was listed
    ("US-UFLPA-battery", "kr_cell_bare", "2025-01-15", {}, U, "no supplier"),
    # --- 45X specified foreign entity (listed on ndaa_154 / dod_1260h / uflpa, or CN/RU/KP/IR, or > 50 %)
    ("US-45X-SFE", "catl_ningde", "2026-06-01", {}, P, "prohibited foreign entity"),  # CATL: sec. 154(b), in CN
    ("US-45X-SFE", "catl_hu_cell", "2026-06-01", {}, P, "prohibited foreign entity"),  # 100 % CATL
    ("US-45X-SFE", "us_cell", "2026-06-01", {}, A, "passes"),  # Liberty <- Liberty Holdings (US)
    ("US-45X-SFE", "prairie_cell", "2026-06-01", {}, A, "passes"),  # CATL 30 %: an FIE question, not SFE
    ("US-45X-SFE", "lone_cell", "2026-06-01", {}, U, "no shareholder"),  # nobody recorded as holder
]


@pytest.mark.parametrize(("rule", "product", "on", "variant", "want", "word"), FIRM,
                         ids=[f"{r}-{p}-{d}-{o.value}" for r, p, d, _, o, _ in FIRM])
def test_firm_rule_outcome(rule: str, product: str, on: str, variant: dict, want: Outcome, word: str) -> None:
    v = verdict(rule, product, D(on), net(**variant))
    assert (v.verdict, word.lower() in v.reason.lower()) == (want, True), v.reason
    if want == U:
        assert v.settle, "an UNKNOWN says what data would settle it"
    if want == P and RULES.get(rule).verdict == "not_eligible":
        assert v.reason.startswith("not eligible")


# --------------------------------------------------------------- rules that are never firm
NEVER_FIRM = [
    # 30D critical minerals (unconfirmed FTA list): a unit qualifies when mined OR refined in an FTA country
    ("US-30D-CM", "kr_cell_r", "2023-06-01", {}, "would be ALLOWED"),  # AU mine, KR refinery: 100 % >= 40 %
    ("US-30D-CM", "kr_cell_cnr", "2023-06-01", {}, "would be PROHIBITED"),  # AR mine, CN refinery: 0 %
    ("US-30D-CM", "kr_cell", "2023-06-01", {}, "nothing traced at stage refine"),  # no refinery recorded
    ("US-30D-CM", "kr_cell_xnm", "2023-06-01", {}, "straddles"),  # unknown mine: 0 % to 100 %
    # 45X prohibited foreign entity (unconfirmed thresholds): the maker's company
    ("US-45X-PFE", "catl_ningde", "2026-06-01", {}, "would be PROHIBITED"),  # CATL: listed, in CN
    ("US-45X-PFE", "prairie_cell", "2026-06-01", {}, "would be PROHIBITED"),  # CATL holds 30 % >= 25 %
    ("US-45X-PFE", "mesa_cell", "2026-06-01", {}, "would be PROHIBITED"),  # CATL holds 20 % of debt >= 15 %
    ("US-45X-PFE", "us_cell", "2026-06-01", {}, "would be ALLOWED"),  # Liberty <- Liberty Holdings (US)
    ("US-45X-PFE", "lone_cell", "2026-06-01", {}, "no shareholder"),  # nobody recorded as holder
    # 45X MACR (unconfirmed thresholds; 2026: 60 %): trace-based non-PFE share of the cost of the
    # tiers feeding a cell (cathode, anode, electrolyte, separator; a pack's cells), own plant left out
    ("US-45X-MACR", "us_cell", "2026-06-01", {}, "would be ALLOWED"),  # 35 of 35 non-PFE
    ("US-45X-MACR", "us_cell_catlcam", "2026-06-01", {}, "would be PROHIBITED"),  # CATL cam: 5 / 35 = 14.3 %
    ("US-45X-MACR", "us_cell_camgap", "2026-06-01", {}, "14.3% to 100.0%"),  # cam supplier unknown: straddles
    ("US-45X-MACR", "us_cell", "2026-06-01", {"unpriced": NOPRICE}, "prices"),
]


@pytest.mark.parametrize(("rule", "product", "on", "variant", "word"), NEVER_FIRM,
                         ids=[f"{r}-{p}-{w.split()[-1]}" for r, p, _, _, w in NEVER_FIRM])
def test_unconfirmed_rules_stay_unknown(rule: str, product: str, on: str, variant: dict, word: str) -> None:
    assert RULES.get(rule).confirmation == "unconfirmed"
    v = verdict(rule, product, D(on), net(**variant))
    assert v.verdict == U and word in v.reason, v.reason
    assert v.settle
    if word.startswith("would be"):
        assert "unconfirmed" in v.reason and any("unconfirmed" in s for s in v.settle)


def test_30d_end_prohibits_whatever_the_product() -> None:
    # an "always" rule: no product can pass it, so ALLOWED and UNKNOWN cannot occur
    for p in ("us_cell", "kr_cell_bare", "catl_ningde"):
        v = verdict("US-30D-END", p, D("2025-10-01"))
        assert v.verdict == P and v.reason.startswith("not eligible") and "2025-09-30" in v.reason


@pytest.mark.parametrize(("rule", "product", "on", "word"), [
    ("EU-BR-passport", "kr_cell", "2027-02-18", "battery passport"),
    ("EU-BR-passport", "catl_ningde", "2030-01-01", "battery passport"),  # informational whoever made it
    ("EU-BR-DD", "kr_cell", "2027-08-18", "due-diligence"),
    ("EU-BR-CF", "kr_cell", "2026-02-18", "carbon footprint"),
    ("EU-BR-label", "kr_cell", "2026-08-18", "label"),
    ("EU-BR-QR", "kr_cell", "2027-02-18", "QR code"),
    # the store cannot tell EV from non-EV batteries: both headings are shown, by date
    ("US-301-batteries", "catl_ningde", "2025-12-31", "as li_ion_non_ev_battery: 7.5%"),
    ("US-301-batteries", "catl_ningde", "2026-01-01", "as li_ion_non_ev_battery: 25.0%"),
    ("US-IEEPA-CN-fentanyl", "catl_ningde", "2025-11-10", "10.0% on cn_ieepa_fentanyl from CN"),
    ("US-IEEPA-CN-reciprocal", "catl_ningde", "2025-04-10", "125.0% on cn_ieepa_reciprocal"),
    ("US-IEEPA-CN-reciprocal", "catl_ningde", "2025-05-14", "10.0% on cn_ieepa_reciprocal"),
    ("US-S122-surcharge", "kr_cell", "2026-02-24", "10.0% on us_s122_surcharge from KR"),
    # sec. 154 on the bills' majority-of-components reading: a CATL cathode plant upstream is INFO only
    ("US-NDAA24-154-components", "kr_cell_catlcam", "2027-10-01", "catl_cam"),
    ("US-301-batteries", "catl_ningde", "2024-09-27", "25.0% on li_ion_ev_battery from CN"),  # a CN cell
    ("US-301-batteries", "catl_ningde", "2024-09-27", "was 7.5%"),
    ("US-301-batteries", "us_pack_catl", "2025-01-01", "no Section 301 rate on li_ion_ev_battery from US"),
    ("US-301-batteries", "kr_cam", "2025-01-01", "no tariff category"),  # cathode material: no category set
])
def test_informational_rules_give_info(rule: str, product: str, on: str, word: str) -> None:
    v = verdict(rule, product, D(on))
    assert v.verdict == INFO and word in v.reason, v.reason


def test_every_rule_is_covered() -> None:
    firm = {r for r, *_ in FIRM}
    info = {"EU-BR-passport", "EU-BR-DD", "EU-BR-CF", "EU-BR-label", "EU-BR-QR", "US-301-batteries",
            "US-IEEPA-CN-fentanyl", "US-IEEPA-CN-reciprocal", "US-S122-surcharge"}
    never = {r for r, *_ in NEVER_FIRM} | {"US-30D-END", "US-NDAA24-154-components"} | info
    assert firm | never == set(RULES.rules) and not firm & never
    for rid in firm:
        got = {o for r, *_, o, _ in FIRM if r == rid}
        assert got == {A, P, U}, rid
    assert {RULES.get(r).test.kind for r in info | {"US-30D-END"}} == {"always", "informational", "tariff"}
    assert RULES.get("US-NDAA24-154-components").verdict == "informational"


# ------------------------------------------------------------------------------ date edges
# The key dates, typed from shared/reference/rules_and_data.md (not read from the YAML):
# a wrong date in a rule file fails here.
KEY_DATES = {
    "US-NDAA24-154": ("2027-10-01", None),
    "US-NDAA24-154-components": ("2027-10-01", None),
    "US-10USC4865-new": ("2028-01-01", None),
    "US-10USC4865-std": ("2029-01-01", None),
    "US-10USC4865-exist": ("2031-01-30", None),
    "US-NDAA24-805-direct": ("2026-06-30", None),
    "US-NDAA24-805-indirect": ("2027-06-30", None),
    "US-DFARS-7052-a": ("2019-04-30", "2026-12-31"),
    "US-DFARS-7052-ta": ("2020-09-29", "2026-12-31"),
    "US-DFARS-7052-b": ("2027-01-01", None),
    "US-30D-CM": ("2023-04-18", "2025-09-30"),
    "US-30D-BC": ("2023-04-18", "2025-09-30"),
    "US-30D-FEOC-comp": ("2024-01-01", "2025-09-30"),
    "US-30D-FEOC-min": ("2025-01-01", "2025-09-30"),
    "US-30D-END": ("2025-10-01", None),  # no credit for vehicles acquired after 2025-09-30
    "US-45X-SFE": ("2026-01-01", None),  # taxable years beginning after 2025-07-04 (calendar year)
    "US-45X-PFE": ("2026-01-01", None),
    "US-45X-MACR": ("2026-01-01", None),
    "US-UFLPA-battery": ("2022-06-21", None),
    "US-301-batteries": ("2024-09-27", None),
    "EU-BR-passport": ("2027-02-18", None),
    "EU-BR-DD": ("2027-08-18", None),
    "EU-BR-CF": ("2026-02-18", None),  # earliest date a source claims (unconfirmed)
    "EU-BR-label": ("2026-08-18", None),  # earliest possible date (Art. 13: or 18 months after the act)
    "EU-BR-QR": ("2027-02-18", None),
    "US-IEEPA-CN-fentanyl": ("2025-11-10", "2026-02-23"),  # collection stopped 2026-02-24
    "US-IEEPA-CN-reciprocal": ("2025-04-10", "2026-02-23"),
    "US-S122-surcharge": ("2026-02-24", "2026-07-23"),  # 150 days, through 12:01 a.m. 2026-07-24
}


@pytest.mark.parametrize("rule", sorted(KEY_DATES))
def test_key_dates_match_the_reference(rule: str) -> None:
    r = RULES.get(rule)
    start, end = KEY_DATES[rule]
    assert (r.effective_from, r.effective_until) == (D(start), D(end) if end else None)


def test_key_dates_cover_every_rule() -> None:
    assert set(KEY_DATES) == set(RULES.rules)
    # the 30D credit: the last day of every 30D limb is the day before the END rule starts
    end = RULES.get("US-30D-END").effective_from
    for rid in ("US-30D-CM", "US-30D-BC", "US-30D-FEOC-comp", "US-30D-FEOC-min"):
        assert RULES.get(rid).effective_until == end - DAY
    # DFARS: the -a and -ta limbs end the day before the -b extension starts
    assert RULES.get("US-DFARS-7052-a").effective_until == RULES.get("US-DFARS-7052-b").effective_from - DAY


# The product and its verdict while the rule is in force (by the cases above).
IN_FORCE = {
    "US-NDAA24-154": ("catl_ningde", P), "US-NDAA24-154-components": ("kr_cell_catlcam", INFO),
    "US-10USC4865-new": ("catl_ningde", P),
    "US-10USC4865-std": ("catl_ningde", P), "US-10USC4865-exist": ("catl_ningde", P),
    "US-NDAA24-805-direct": ("catl_ningde", P), "US-NDAA24-805-indirect": ("kr_cell_catlcam", P),
    "US-DFARS-7052-a": ("act_cnref", P), "US-DFARS-7052-ta": ("cap_cnref", P), "US-DFARS-7052-b": ("act_cnmine", P),
    "US-30D-CM": ("kr_cell_cnr", U),  # would be PROHIBITED (thresholds 40 % in 2023, 60 % in 2025)
    "US-30D-BC": ("kr_cell", P),  # 0 % made in North America
    "US-30D-FEOC-comp": ("kr_cell_cnan", P), "US-30D-FEOC-min": ("kr_cell_cnr", P),
    "US-30D-END": ("kr_cell", P), "US-45X-PFE": ("catl_ningde", U),
    "US-45X-SFE": ("catl_ningde", P), "US-45X-MACR": ("us_cell_catlcam", U),
    "US-UFLPA-battery": ("kr_cell", A),  # nothing listed upstream: in force, allowed
    "US-301-batteries": ("catl_ningde", INFO), "EU-BR-passport": ("kr_cell", INFO), "EU-BR-DD": ("kr_cell", INFO),
    "EU-BR-CF": ("kr_cell", INFO), "EU-BR-label": ("kr_cell", INFO), "EU-BR-QR": ("kr_cell", INFO),
    "US-IEEPA-CN-fentanyl": ("catl_ningde", INFO), "US-IEEPA-CN-reciprocal": ("catl_ningde", INFO),
    "US-S122-surcharge": ("kr_cell", INFO),
}
EDGES = [(rid, which) for rid in sorted(RULES.rules) for which in ("before", "from", "until", "after")
         if which in ("before", "from") or RULES.get(rid).effective_until is not None]


@pytest.mark.parametrize(("rule", "which"), EDGES, ids=[f"{r}-{w}" for r, w in EDGES])
def test_date_edges(rule: str, which: str) -> None:
    r = RULES.get(rule)
    product, in_force = IN_FORCE[rule]
    on = {"before": r.effective_from - DAY, "from": r.effective_from, "until": r.effective_until,
          "after": (r.effective_until or r.effective_from) + DAY}[which]
    v = verdict(rule, product, on)
    if which in ("before", "after"):
        assert v.verdict == NA and str(r.effective_from if which == "before" else r.effective_until) in v.reason
    else:
        assert v.verdict == in_force, v.reason


def test_edges_cover_every_rule() -> None:
    assert set(IN_FORCE) == set(RULES.rules)
    assert {r for r, w in EDGES if w == "until"} == {r for r, (_, e) in KEY_DATES.items() if e}


# ------------------------------------------------------------------- check --all agrees
def test_check_all_gives_the_same_verdicts_on_these_networks() -> None:
    # check --all (every product at once, capped evidence) must reach the verdicts and reasons
    # above too:
    # e.g. the 5 % boundary (kr_cell_an5) and the pack without recorded cells (us_pack_bare)
    from test_check import _same_as_per_product

    screens = [("dod", "2027-10-01"), ("dod_new_program", "2028-01-01"), ("us_tax_30d", "2024-06-01"),
               ("us_45x", "2026-06-01"), ("us_import", "2025-01-15")]
    assert _same_as_per_product(net(), screens) > 0
    assert _same_as_per_product(net(extra_company=LOOKALIKE), screens[:1]) > 0
