"""Check: may this buyer buy this product on this date? Rule by rule, with evidence.

``check(network, product, buyer, on)`` evaluates every rule that binds ``buyer`` on the
product (a facility id: the plant whose output is bought) and returns one
:class:`~onshore.compliance.verdicts.Verdict` per rule: PROHIBITED, ALLOWED, UNKNOWN,
NOT_APPLICABLE (not in force on the date) or INFO (informational rules and tariffs). Each
verdict says why in words, carries its evidence (ownership chains, plants, the heaviest
traced paths) and, when UNKNOWN, what data would settle it. Missing data is never ALLOWED.
Rules whose confirmation is ``unconfirmed`` never give a firm verdict. Every verdict is
appended to the audit log when one is given.

``check_all`` is the same evaluation over every cell and pack product: each rule kind is
one function over a list of products (:mod:`onshore.compliance.kinds`), so the two can
never disagree; ``check --all`` only caps the evidence to what decides.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
from collections.abc import Iterator
from typing import Any

import numpy as np

from onshore.compliance.context import Products, context, facility_of
from onshore.compliance.kinds import KINDS
from onshore.compliance.verdicts import (
    SEVERITY,
    Finding,
    Outcome,
    Verdict,
    firm,
    not_in_force,
    worst,
)
from onshore.errors import InputError, NotFound
from onshore.network import Network
from onshore.rules import Rule, RuleSet, bundled
from onshore.store.audit import AuditLog


def findings(
    network: Network,
    rules: list[Rule],
    products: list[str],
    on: dt.date,
    full: bool = False,
    period: str | None = None,
) -> dict[str, list[Finding]]:
    """Rule id -> the finding (dates and confirmation applied) for each product, in order.

    Parameters
    ----------
    network : Network
    rules : list of Rule
    products : list of str
        Facility ids.
    on : datetime.date
    full : bool
        Complete evidence (else capped to what decides, saying so).
    period : str, optional
        Decide from the flows of this period (e.g. ``2025``); default every period pooled.

    Returns
    -------
    dict
        Rule id -> one :class:`Finding` per product.
    """
    with collector_paused():
        ps = Products(context(network, period), products, full=full)
        out: dict[str, list[Finding]] = {}
        for rule in rules:
            if not rule.in_force(on):
                why = not_in_force(rule, on)
                out[rule.id] = [Finding(why.outcome, why.reason) for _ in products]
            else:
                out[rule.id] = [firm(rule, f) for f in KINDS[rule.test.kind](ps, rule, on)]
    return out


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while an evaluation makes its many long-lived
    objects (findings and verdicts of every product, per-plant texts).

    Each full collection walks every tracked object of the loaded network and its caches, and
    a ``check --all`` would trigger a dozen of them; what the evaluation leaves as cyclic
    garbage is collected as usual once the collector runs again.

    Yields
    ------
    None
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def evaluate(network: Network, rule: Rule, product: str, on: dt.date) -> Finding:
    """The finding of one rule's test on a product on a date (ignores buyer scope)."""
    return findings(network, [rule], [product], on, full=True)[rule.id][0]


def _verdicts(
    network: Network,
    binding: list[Rule],
    found: dict[str, list[Finding]],
    k: int,
    product: str,
    buyer: str,
    on: dt.date,
    urls: dict[str, list[str]],
    orders: dict[tuple[Outcome, ...], list[int]] | None = None,
) -> list[Verdict]:
    """The verdicts of product ``k``, most severe first (then by rule id); ``orders`` keeps
    that order per combination of outcomes, which many products share."""
    row = [found[rule.id][k] for rule in binding]
    sig = tuple(f.outcome for f in row)
    order = None if orders is None else orders.get(sig)
    if order is None:
        order = sorted(range(len(binding)), key=lambda j: (-SEVERITY[sig[j]], binding[j].id))
        if orders is not None:
            orders[sig] = order
    vs = []
    for j in order:
        rule, f = binding[j], row[j]
        vs.append(
            Verdict(
                rule.id,
                rule.version,
                rule.title,
                f.outcome,
                f.reason,
                f.evidence,
                f.settle,
                rule.citation,
                list(urls[rule.id]),
                rule.confirmation,
                rule.reading,
                product,
                buyer,
                on,
                network.snapshot,
                f.inputs,
                f.indicative,
            )
        )
    return vs


def check(
    network: Network,
    product: str,
    buyer: str,
    on: dt.date | str,
    rules: RuleSet | None = None,
    audit: AuditLog | None = None,
    period: str | None = None,
) -> list[Verdict]:
    """Evaluate every rule binding ``buyer`` on ``product`` on date ``on``.

    Parameters
    ----------
    network : Network
    product : str
        A facility id: its output is the product bought.
    buyer : str
        A buyer scope from ``rules/buyers.yaml`` (e.g. ``dod``, ``dod_new_program``).
    on : datetime.date or str
        The evaluation date (``YYYY-MM-DD``; for tax credits: the acquisition or sale date).
    rules : RuleSet, optional
        Defaults to the bundled rule files.
    audit : AuditLog, optional
    period : str, optional
        Decide from the flows of this period (e.g. ``2025``: the supplier graph and the
        trace of that year); default every period pooled.
        When given, every verdict is appended to it.

    Returns
    -------
    list of Verdict
        One per rule binding the buyer, most severe first.

    Examples
    --------
    >>> check(Network.reference(), "ses_chungju", "dod", dt.date(2027, 10, 1))  # doctest: +SKIP
    """
    on = _date(on)
    with collector_paused():
        rules = rules or bundled()
        if facility_of(product) not in context(network, period).fidx:  # every plant
            raise NotFound(
                f"no facility {facility_of(product)!r} in the store (a product is named by the "
                "plant that makes it, FACILITY or FACILITY:MATERIAL; `onshore products` lists "
                "them)"
            )
        if ":" in product:
            context(network).graph().node(product)  # a material the plant makes, or NotFound
        binding = rules.for_buyer(buyer)
        out = _verdicts(
            network,
            binding,
            findings(network, binding, [product], on, full=True, period=period),
            0,
            product,
            buyer,
            on,
            {r.id: r.urls for r in binding},
        )
    if audit is not None:
        audit.append([_audit_row(v) for v in out])
    return out


def check_all(
    network: Network,
    buyer: str,
    on: dt.date | str,
    rules: RuleSet | None = None,
    audit: AuditLog | None = None,
    stages: tuple[str, ...] = ("cell", "pack"),
    period: str | None = None,
) -> dict[str, list[Verdict]]:
    """:func:`check` over every cell and pack product; product id -> its verdicts.

    Every rule is evaluated for all products at once (one reachability search per rule and
    one trace solve with a few columns over all nodes); evidence is capped to the plant or
    path that decides, and each capped verdict says so.

    Parameters
    ----------
    network : Network
    buyer : str
    on : datetime.date or str
    rules : RuleSet, optional
    audit : AuditLog, optional
    stages : tuple of str
        The stages whose plants are the products screened.
    period : str, optional
        Decide from the flows of this period; default every period pooled.

    Returns
    -------
    dict
        Product id -> its verdicts, most severe first.
    """
    on = _date(on)
    with collector_paused():
        rules = rules or bundled()
        ps = products(network, stages)
        binding = rules.for_buyer(buyer)
        found = findings(network, binding, ps, on, period=period)
        urls = {r.id: r.urls for r in binding}
        orders: dict[tuple[Outcome, ...], list[int]] = {}
        out = {
            p: _verdicts(network, binding, found, k, p, buyer, on, urls, orders)
            for k, p in enumerate(ps)
        }
    if audit is not None:
        audit.append([_audit_row(v) for vs in out.values() for v in vs])
    return out


def _date(on: dt.date | str) -> dt.date:
    if isinstance(on, dt.date):
        return on
    try:
        return dt.date.fromisoformat(str(on))
    except ValueError:
        raise InputError(f"the date must be YYYY-MM-DD, not {on!r}") from None


def _audit_row(v: Verdict) -> dict[str, Any]:
    inputs = {"product": v.product, "buyer": v.buyer, "evidence": v.evidence[:10], **v.inputs}
    return {
        "rule_id": v.rule_id,
        "rule_version": v.version,
        "snapshot": v.snapshot,
        "evaluated_on": v.on,
        "buyer": v.buyer,
        "product": v.product,
        "verdict": v.verdict.value,
        "reason": v.reason,
        "inputs": inputs,
    }


def data_basis(network: Network, product: str, period: str | None = None) -> dict[str, Any]:
    """How much of the data behind a product's verdicts is estimated: the upstream plants
    (by recorded flows), the flows among them, and how many of those flows are estimates.

    A firm verdict that rests on estimated flows is only as good as the estimates; reports and
    the CLI show this next to the verdicts so that a signer knows what to confirm first.

    Parameters
    ----------
    network : Network
    product : str

    Returns
    -------
    dict
        ``upstream_plants``, ``flows``, ``estimated_flows`` and ``text`` (in words).
    """
    ctx = context(network, period)
    up = ctx.upstream(product)
    among = np.zeros(ctx.n + 1, dtype=bool)  # the last entry: "not a facility" (-1)
    among[up] = True
    sup, cus = ctx.flow_ends
    inside = among[sup] & among[cus]
    n, k = int(inside.sum()), int(ctx.flow_estimate[inside].sum())
    plants = len(np.unique(ctx.ids[up]))
    text = (
        (
            f"{plants - 1} upstream plant(s) by recorded flows; {k} of {n} flows among them "
            "are estimates" + (" (confirm them before relying on a firm verdict)" if k else "")
        )
        if n
        else "no recorded supplier flows"
    )
    return {"upstream_plants": plants - 1, "flows": n, "estimated_flows": k, "text": text}


def products(network: Network, stages: tuple[str, ...] = ("cell", "pack")) -> list[str]:
    """Facility ids of every cell and pack plant: the products a compliance screen covers."""
    f = network.facilities
    ids: list[str] = f.loc[f["stage"].astype(str).isin(stages), "id"].astype(str).tolist()
    return ids


def summary(results: dict[str, list[Verdict]]) -> list[dict[str, Any]]:
    """One row per product: the worst verdict and the rules behind it."""
    rows = []
    for p, vs in results.items():
        w = worst(vs)
        rows.append(
            {
                "product": p,
                "verdict": w.value,
                "rules": ", ".join(
                    v.rule_id for v in vs if v.verdict == w and w != Outcome.NOT_APPLICABLE
                ),
                "reason": next((v.reason for v in vs if v.verdict == w), ""),
            }
        )
    return rows
