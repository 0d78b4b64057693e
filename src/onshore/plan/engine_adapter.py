"""The seam to the rules engine: verdicts, rule dates and dated tariffs for the planner.

Everything here goes through :mod:`onshore.compliance` and the rule files; the planner itself
never names a country or a company.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, cast

from onshore.compliance import check as engine_check
from onshore.network import Network
from onshore.plan.eligibility import PlantFacts, SegmentFacts
from onshore.plan.scenario import TariffRate
from onshore.rules import Tariff, bundled, tariff_table


def verdicts(
    network: Any,
    plant: PlantFacts,
    product: str,
    segment: SegmentFacts,
    on: dt.date,
    check: Callable[..., list[Any]] | None = None,
) -> list[Any]:
    """The rules engine's verdicts on a plant's output for a segment's buyer on a date.

    ``check`` is called as ``check(network, facility_id, buyer, on)``: the product is named
    by the plant that makes it. A plant that is not in the network is judged as a
    hypothetical facility added by :func:`with_plants`.

    Parameters
    ----------
    network : Network
        The network the plant is judged against (with hypothetical plants added).
    plant : PlantFacts
    product : str
        The scenario product (unused by the engine: the facility names the product).
    segment : SegmentFacts
        Its ``buyer`` is the engine's buyer scope.
    on : datetime.date
        The evaluation date.
    check : callable, optional
        Default :func:`onshore.compliance.check`.

    Returns
    -------
    list
        The engine's verdicts (:class:`~onshore.compliance.Verdict` by default).

    Raises
    ------
    NotFound
        When the facility standing for the plant is not in ``network``.
    """
    if check is None:
        # called as any ``check`` is, with the segment's buyer as it is (the callers skip a
        # segment without a buyer)
        check = cast("Callable[..., list[Any]]", engine_check)
    return list(check(network, facility_id(network, plant), segment.buyer, on))


def facility_id(network: Any, plant: PlantFacts) -> str:
    """The facility that stands for a plant: its own, or the hypothetical one added for it.

    Parameters
    ----------
    network : Network, optional
    plant : PlantFacts

    Returns
    -------
    str
        ``plant.facility`` when the network has it, else ``plant.id`` when the network has
        that, else ``plan-<plant.id>`` (the id :func:`with_plants` gives it); without a
        network, ``plant.facility`` or ``plant.id``.
    """
    if network is None:
        return plant.facility or plant.id
    ids = set(network.facilities["id"].astype(str))
    if plant.facility and plant.facility in ids:
        return plant.facility
    return plant.id if plant.id in ids else f"plan-{plant.id}"


def with_plants(network: Any, plants: list[PlantFacts]) -> Any:
    """A copy of ``network`` with a cell facility for every plant it does not hold.

    A hypothetical plant's company is its ``company`` when the network knows it, else a
    new company headquartered in the plant's owner country. Without flows or owners the
    engine can only judge what the facts decide (country, owner country, named company).

    Parameters
    ----------
    network : Network, optional
        Default an empty network.
    plants : list of PlantFacts

    Returns
    -------
    Network
        ``network`` itself when it holds every plant, else a new network with facilities
        ``plan-<id>`` (stage ``cell``, status ``operating``, marked as estimates) and any new
        owner companies ``plan-<id>-owner``.
    """
    import pandas as pd

    net = network if network is not None else Network()
    have_f = set(net.facilities["id"].astype(str))
    have_c = set(net.companies["id"].astype(str))
    comps, facs = [], []
    for p in plants:
        if (p.facility and p.facility in have_f) or p.id in have_f:
            continue
        company = p.company if p.company in have_c else f"plan-{p.id}-owner"
        if company not in have_c:
            owner = p.owner_country or p.country
            comps.append(
                {
                    "id": company,
                    "name": f"owner of {p.id} (scenario)",
                    "country": owner,
                    "hq_country": owner,
                    "kind": "company",
                    "source": "plan scenario",
                    "estimate": True,
                }
            )
            have_c.add(company)
        facs.append(
            {
                "id": f"plan-{p.id}",
                "company": company,
                "name": f"{p.id} (scenario)",
                "country": p.country,
                "stage": "cell",
                "status": "operating",
                "source": "plan scenario",
                "estimate": True,
            }
        )
    if not facs:
        return net
    tables = {
        t: getattr(net, t)
        for t in ("companies", "materials", "facilities", "ownership", "boms", "flows", "licences")
    }
    if comps:
        tables["companies"] = pd.concat(
            [tables["companies"], pd.DataFrame(comps)], ignore_index=True
        )
    tables["facilities"] = pd.concat([tables["facilities"], pd.DataFrame(facs)], ignore_index=True)
    out = Network.from_frames(**tables)
    out.snapshot = getattr(net, "snapshot", "")
    return out


def _ruleset() -> Any:
    return bundled()


def rule_ids(network: Any) -> list[str]:
    """Ids of the rules the engine knows (tariff rules excluded: they price, not prohibit).

    Parameters
    ----------
    network : Network
        Unused: the bundled rule files are read.

    Returns
    -------
    list of str
        Rule ids in the order of the rule set.
    """
    return [r.id for r in _ruleset().rules.values() if not isinstance(r.test, Tariff)]


def rule_dates(network: Any) -> list[dt.date]:
    """Every date on which a rule starts or stops applying.

    Parameters
    ----------
    network : Network
        Unused: the bundled rule files are read.

    Returns
    -------
    list of datetime.date
        Sorted ``effective_from`` dates and the days after ``effective_until`` dates.
    """
    out: set[dt.date] = set()
    for r in _ruleset().rules.values():
        out.add(r.effective_from)
        if r.effective_until is not None:
            out.add(r.effective_until + dt.timedelta(days=1))
    return sorted(out)


def tariff_rates() -> list[TariffRate]:
    """Dated tariff rates from the rule files (``onshore.rules.tariff_table``).

    Returns
    -------
    list of TariffRate
        One per row of the bundled tariff table; empty without tariff rules.
    """
    return [
        TariffRate(
            id=row["id"],
            origin=row["origin"],
            destination=row["destination"],
            tariff_class=row["tariff_class"],
            rate=row["rate"],
            effective_from=row["effective_from"],
            effective_until=row["effective_until"],
            source=row["source"],
        )
        for row in tariff_table(_ruleset())
    ]
