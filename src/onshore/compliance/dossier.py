"""The facts behind a verdict, gathered for a report: the plant and its maker, the ownership
chain and flags, the origin links for a Sankey, every data source the verdicts rest on, and
how much of it is estimated. Views render a :class:`Dossier`; they compute nothing."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd

from onshore.compliance.context import context, facility_of
from onshore.compliance.evaluate import data_basis
from onshore.compliance.verdicts import Verdict, worst
from onshore.errors import OnshoreError
from onshore.network import Network
from onshore.owners import controlling_country, feoc, owners, upstream_owners
from onshore.trace import trace


@dataclass
class Dossier:
    """Everything a report of one product's verdicts shows."""

    product: str
    buyer: str
    on: dt.date | str
    plant: str
    snapshot: str
    overall: str
    verdicts: list[Verdict]
    maker: str
    chain: list[str]
    controlling_country: str
    feoc: str
    owners: list[dict[str, Any]]
    data_sources: list[dict[str, Any]]
    data_basis: str
    links: dict[str, Any]
    """Sankey: ``labels`` and ``source``, ``target``, ``value`` lists."""
    links_note: str


def origin_links(network: Network, product: str) -> tuple[dict[str, Any], str]:
    """Links for an origin Sankey of ``product`` and a note on what they show: traced mass by
    stage and country into the product, or (when the trace returns nothing) the recorded
    supply links upstream grouped by stage and country."""
    ctx = context(network)
    try:
        df: pd.DataFrame | str = trace(network, product, by=("stage", "country"), weight="mass")
    except OnshoreError as e:
        df = f"the trace could not be computed: {e}"
    if not isinstance(df, str) and len(df):
        g = df.groupby(["stage", "country"], dropna=False)["quantity"].sum().reset_index()
        src = [
            f"{s} · {c}"
            for s, c in zip(g["stage"].astype(str), g["country"].astype(str), strict=True)
        ]
        labels = [*dict.fromkeys(src), product]
        links = {
            "labels": labels,
            "source": [labels.index(s) for s in src],
            "target": [len(labels) - 1] * len(src),
            "value": g["quantity"].astype(float).tolist(),
        }
        return (
            links,
            (
                "Traced origin of the product by stage and country (mass-weighted), from the "
                "trace engine."
            ),
        )
    up = [str(ctx.ids[i]) for i in ctx.upstream(product)]
    f = network.flows
    f = f[f["supplier"].astype(str).isin(up) & f["customer"].astype(str).isin(up)]
    node = {p: f"{ctx.fac.loc[p, 'stage']} · {ctx.fac.loc[p, 'country']}" for p in up}
    node[product] = product
    pairs = pd.DataFrame(
        {"s": f["supplier"].astype(str).map(node), "t": f["customer"].astype(str).map(node)}
    )
    pairs = pairs[pairs["s"] != pairs["t"]].value_counts().reset_index(name="n")
    labels = list(dict.fromkeys([*pairs["s"], *pairs["t"], product]))
    links = {
        "labels": labels,
        "source": [labels.index(s) for s in pairs["s"]],
        "target": [labels.index(t) for t in pairs["t"]],
        "value": pairs["n"].astype(float).tolist(),
    }
    return links, (
        "Recorded supply links upstream of the product, grouped by stage and country (link width "
        "= number "
        f"of recorded flows); {df if isinstance(df, str) else 'the trace returned nothing'}."
    )


def dossier(network: Network, product: str, verdicts: list[Verdict]) -> Dossier:
    """Gather the facts a report of ``verdicts`` on ``product`` shows.

    Parameters
    ----------
    network : Network
    product : str
    verdicts : list of Verdict
        From :func:`~onshore.compliance.check`.

    Returns
    -------
    Dossier
    """
    ctx = context(network)
    i = ctx.fidx[facility_of(product)]
    maker = str(ctx.company[i])
    f = feoc(network).loc[maker]
    data_sources = [
        {
            "what": ctx.describe(int(p)),
            "source": ctx.fac.iloc[int(p)]["source"] or "(no source recorded)",
        }
        for p in ctx.upstream(product)
    ]
    comp = network.companies.set_index(network.companies["id"].astype(str))
    chain = owners(network).control_chain(maker)
    data_sources += [
        {"what": f"company {c}", "source": comp.loc[c, "source"] or "(no source recorded)"}
        for c in chain
    ]
    own = network.ownership
    for _, r in own[own["owned"].astype(str).isin(chain)].iterrows():
        data_sources.append(
            {
                "what": f"holding {r['owner']} -> {r['owned']}",
                "source": r.get("source") or "(no source recorded)",
            }
        )
    links, note = origin_links(network, product)
    first = verdicts[0] if verdicts else None
    return Dossier(
        product=product,
        buyer=first.buyer if first else "",
        on=first.on if first else "",
        plant=ctx.describe(i),
        snapshot=network.snapshot,
        overall=worst(verdicts).value,
        verdicts=verdicts,
        maker=maker,
        chain=chain,
        controlling_country=controlling_country(network)[maker],
        feoc=("yes: " + str(f["reason"])) if f["feoc"] else "no",
        owners=upstream_owners(network, maker).to_dict("records"),
        data_sources=data_sources,
        data_basis=data_basis(network, product)["text"],
        links=links,
        links_note=note,
    )
