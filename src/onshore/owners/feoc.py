"""Foreign-entity tests on the ownership graph, one row per company.

The FEOC test (DOE 89 FR 37079, as in the reference notes) and the 45X
prohibited-foreign-entity tests (specified / foreign-influenced entity), built on the
effective ownership and control of :mod:`onshore.owners.control`.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import scipy.sparse as sp

from onshore.network import Network
from onshore.owners.control import Owners, owners

COVERED_NATIONS: tuple[str, ...] = ("CN", "RU", "KP", "IR")
"""Covered nations of 15 U.S.C. 4651(8) / 10 U.S.C. 4872: China, Russia, North Korea, Iran."""


def feoc(
    network: Network, threshold: float = 0.25, covered: Iterable[str] = COVERED_NATIONS
) -> pd.DataFrame:
    """The foreign-entity-of-concern test of every company (government and jurisdiction limbs).

    A company is a FEOC when the government of a covered nation (its ``state`` companies),
    directly or indirectly and aggregated, holds at least ``threshold`` of its board seats,
    voting rights or equity; or when it is incorporated or headquartered in a covered
    nation. Indirect votes and board seats are those of holders the government controls;
    indirect equity is the effective (walk-sum) share. Operating a *facility* in a covered
    nation is tested per facility by :func:`feoc_facilities`.

    Parameters
    ----------
    network : Network
    threshold : float
        The government holding (fraction, 0 to 1) of board seats, votes or equity that makes
        a FEOC.
    covered : iterable of str
        Country codes of the covered nations.

    Returns
    -------
    DataFrame
        Indexed by company id: ``feoc, nation, gov_equity, gov_voting, gov_board,
        jurisdiction, reason`` on the recorded stakes. ``gov_*`` are the fractions held by
        the covered government with the largest holding (named in ``nation``),
        ``jurisdiction`` whether the company is incorporated or headquartered in a covered
        nation, ``reason`` a readable explanation (empty when not a FEOC). ``possible``:
        a FEOC when a blank stake counts as the most it could be (see
        :func:`~onshore.owners.owners`), with ``possible_reason``.
    """
    out = _feoc(owners(network), threshold, tuple(covered))
    possible = owners(network, "possible")
    # with no blank stake the possible holdings are the recorded ones: the same test
    maybe = out if possible.blank.empty else _feoc(possible, threshold, tuple(covered))
    out["possible"] = maybe["feoc"] | out["feoc"]
    out["possible_reason"] = np.where(out["possible"] & ~out["feoc"], maybe["reason"], "")
    return out


def _feoc(o: Owners, threshold: float, covered: tuple[str, ...]) -> pd.DataFrame:
    n = len(o.ids)
    best = {k: np.zeros(n) for k in ("eq", "vote", "brd")}
    nation = np.full(n, None, dtype=object)
    for c in covered:
        state = (o.kind == "state") & (o.country == c)
        if not state.any():
            continue
        eq = np.asarray(o.equity.T @ state.astype(float)).ravel()
        vt_eff = np.asarray(o.voting.T @ state.astype(float)).ravel()
        ctl = state[o.ultimate] | state
        d = o.direct[ctl[o.direct["i"].to_numpy()]]
        vt_ctl = np.bincount(d["j"], weights=d["vote"], minlength=n)
        brd = np.bincount(d["j"], weights=d["brd"], minlength=n)
        vt = np.maximum(vt_eff, vt_ctl)
        score = np.maximum.reduce([eq, vt, brd])
        better = score > np.maximum.reduce([best["eq"], best["vote"], best["brd"]])
        nation[better] = c
        for key, v in (("eq", eq), ("vote", vt), ("brd", brd)):
            best[key] = np.where(better, v, best[key])
        nation[state] = c
    juris = (
        pd.Series(o.country, dtype=object).isin(covered).to_numpy()
        | pd.Series(o.hq, dtype=object).isin(covered).to_numpy()
    )
    is_gov = (o.kind == "state") & np.isin(o.country.astype(str), covered)
    gov = np.maximum.reduce([best["eq"], best["vote"], best["brd"]]) >= threshold - 1e-12
    reasons = np.full(n, "", dtype=object)
    for k in np.flatnonzero(is_gov | gov | juris).tolist():  # the rest have no reason
        r = []
        if is_gov[k]:
            r.append(f"is the government of {o.country[k]}")
        elif gov[k]:
            r.append(
                f"the government of {nation[k]} holds {best['eq'][k]:.0%} equity, "
                f"{best['vote'][k]:.0%} votes, "
                f"{best['brd'][k]:.0%} board seats (>= {threshold:.0%})"
            )
        if juris[k] and not is_gov[k]:
            where = o.country[k] if o.country[k] in covered else o.hq[k]
            r.append(f"incorporated or headquartered in {where}")
        reasons[k] = "; ".join(r)
    return pd.DataFrame(
        {
            "feoc": gov | juris | is_gov,
            "nation": nation,
            "gov_equity": best["eq"],
            "gov_voting": best["vote"],
            "gov_board": best["brd"],
            "jurisdiction": juris,
            "reason": reasons,
        },
        index=pd.Index(o.ids, name="company"),
    )


def feoc_facilities(network: Network, covered: Iterable[str] = COVERED_NATIONS) -> pd.Series:
    """Facility id -> True when it is run by a FEOC or operates in a covered nation.

    Parameters
    ----------
    network : Network
    covered : iterable of str
        Country codes of the covered nations.

    Returns
    -------
    Series of bool
        Indexed by facility id; the company test is :func:`feoc` at its default threshold.
    """
    covered = tuple(covered)
    f = feoc(network, covered=covered)["feoc"]
    fac = network.facilities
    by_company = fac["company"].astype(str).map(f).fillna(False).astype(bool)
    return pd.Series(
        (by_company | fac["country"].isin(covered)).to_numpy(), index=fac["id"].astype(str)
    )


def prohibited_foreign_entity(
    network: Network,
    listed: Iterable[str] = (),
    single: float = 0.25,
    together: float = 0.40,
    debt: float = 0.15,
    covered: Iterable[str] = COVERED_NATIONS,
) -> pd.DataFrame:
    """The 45X prohibited-foreign-entity tests (26 U.S.C. 7701(a)(51), as summarised).

    A *specified foreign entity* (SFE) is a listed entity (``listed``: 1260H, UFLPA, ...)
    or a foreign-controlled entity: a covered government, a person of a covered nation, a
    company incorporated or headquartered in one, or one controlled (> 50 %) by these.
    A *foreign-influenced entity* (FIE) has one SFE holding >= ``single``, SFEs together
    >= ``together`` (effective equity), or SFEs holding >= ``debt`` of its debt (direct).
    A licence from an SFE is reported (the effective-control test needs contract terms).

    Parameters
    ----------
    network : Network
    listed : iterable of str
        Company ids on a list (1260H, UFLPA, ...).
    single : float
        The effective equity (fraction) one SFE must hold to make an FIE.
    together : float
        The effective equity (fraction) all SFEs together must hold to make an FIE.
    debt : float
        The fraction of the company's debt held directly by SFEs that makes an FIE.
    covered : iterable of str
        Country codes of the covered nations.

    Returns
    -------
    DataFrame
        Indexed by company id: ``sfe, fie, pfe, max_single, together, debt, sfe_licence,
        reason``. ``fie`` excludes SFEs; ``pfe`` is ``sfe or fie``; ``max_single``,
        ``together`` and ``debt`` are the fractions held by SFEs.
    """
    o = owners(network)
    covered = tuple(covered)
    n = len(o.ids)
    listed_m = np.isin(o.ids, list(listed))
    fce = np.isin(o.country.astype(str), covered) | np.isin(o.hq.astype(str), covered)
    sfe = listed_m | fce
    sfe = sfe | sfe[o.ultimate]
    S = sp.diags(sfe.astype(float))
    held = (S @ o.equity).tocsc()
    max_single = np.asarray(held.max(axis=0).todense()).ravel() if held.nnz else np.zeros(n)
    tog = np.asarray(held.sum(axis=0)).ravel()
    d = o.direct[sfe[o.direct["i"].to_numpy()]]
    dbt = np.bincount(d["j"], weights=d["dbt"], minlength=n)
    lic = network.licences
    lic_m = np.isin(
        o.ids, lic.loc[lic["licensor"].astype(str).isin(o.ids[sfe]), "licensee"].astype(str)
    )
    fie = (max_single >= single - 1e-12) | (tog >= together - 1e-12) | (dbt >= debt - 1e-12)
    reasons = []
    for k in range(n):
        r = []
        if listed_m[k]:
            r.append("listed entity")
        elif fce[k]:
            r.append("incorporated or headquartered in a covered nation")
        elif sfe[k]:
            r.append(f"controlled by the specified foreign entity {o.ids[o.ultimate[k]]}")
        if max_single[k] >= single - 1e-12:
            r.append(f"one SFE holds {max_single[k]:.0%} (>= {single:.0%})")
        if tog[k] >= together - 1e-12:
            r.append(f"SFEs together hold {tog[k]:.0%} (>= {together:.0%})")
        if dbt[k] >= debt - 1e-12:
            r.append(f"SFEs hold {dbt[k]:.0%} of its debt (>= {debt:.0%})")
        if lic_m[k]:
            r.append(
                "licenses technology from an SFE (effective-control test: contract terms needed)"
            )
        reasons.append("; ".join(r))
    return pd.DataFrame(
        {
            "sfe": sfe,
            "fie": fie & ~sfe,
            "pfe": sfe | fie,
            "max_single": max_single,
            "together": tog,
            "debt": dbt,
            "sfe_licence": lic_m,
            "reason": reasons,
        },
        index=pd.Index(o.ids, name="company"),
    )


__all__ = ["COVERED_NATIONS", "feoc", "feoc_facilities", "prohibited_foreign_entity"]
