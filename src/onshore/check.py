"""Check: may this buyer buy this product on this date? Rule by rule, with evidence.

``check(network, product, buyer, on)`` evaluates every rule that binds ``buyer`` on the
product (a facility id: the plant whose output is bought) and returns one
:class:`Verdict` per rule: PROHIBITED, ALLOWED, UNKNOWN, NOT_APPLICABLE (not in force on
the date) or INFO (informational rules and tariffs). Each verdict says why in words,
carries its evidence (ownership chains, plants, the heaviest traced paths) and, when
UNKNOWN, what data would settle it. Missing data is never ALLOWED. Rules whose
confirmation is ``unconfirmed`` never give a firm verdict: a computed pass or fail is
reported as UNKNOWN with the figure. Every verdict is appended to the audit log when one
is given. How each kind of test is evaluated lives in :mod:`onshore.rules.kinds`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from onshore.audit import AuditLog
from onshore.errors import NotFound
from onshore.network import Network
from onshore.rules import Rule, RuleSet, bundled


class Outcome(StrEnum):
    """A rule's verdict on a product for a buyer on a date."""

    PROHIBITED = "PROHIBITED"
    UNKNOWN = "UNKNOWN"
    ALLOWED = "ALLOWED"
    INFO = "INFO"
    NOT_APPLICABLE = "NOT_APPLICABLE"


SEVERITY = {Outcome.PROHIBITED: 4, Outcome.UNKNOWN: 3, Outcome.ALLOWED: 2, Outcome.INFO: 1, Outcome.NOT_APPLICABLE: 0}


@dataclass
class Finding:
    """What a rule's test found, before dates, scope and confirmation are applied."""

    outcome: Outcome
    reason: str
    evidence: list[str] = field(default_factory=list)
    settle: list[str] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Verdict:
    """One rule's verdict, with its reason, evidence and provenance."""

    rule_id: str
    version: int
    title: str
    verdict: Outcome
    reason: str
    evidence: list[str]
    settle: list[str]
    citation: str
    sources: list[str]
    confirmation: str
    reading: str | None
    product: str
    buyer: str
    on: dt.date
    snapshot: str
    inputs: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``id``, ``verdict``, ``reason``, ``evidence``, ...)."""
        d = asdict(self)
        d["id"] = d.pop("rule_id")
        d["verdict"] = self.verdict.value
        d["on"] = self.on.isoformat()
        return d


def worst(verdicts: list[Verdict]) -> Outcome:
    """The most severe outcome of a list (PROHIBITED > UNKNOWN > ALLOWED > INFO > N/A)."""
    return max((v.verdict for v in verdicts), key=SEVERITY.__getitem__, default=Outcome.NOT_APPLICABLE)


def _not_in_force(rule: Rule, on: dt.date) -> Finding:
    if on < rule.effective_from:
        return Finding(Outcome.NOT_APPLICABLE, f"not in force on {on}: applies from {rule.effective_from}")
    return Finding(Outcome.NOT_APPLICABLE, f"not in force on {on}: applied until {rule.effective_until}")


def _firm(rule: Rule, f: Finding) -> Finding:
    """Apply the rule's verdict wording and its confirmation to a test's finding."""
    if f.outcome == Outcome.PROHIBITED and rule.verdict == "not_eligible":
        f.reason = "not eligible: " + f.reason
    if f.outcome == Outcome.PROHIBITED and rule.verdict == "informational":
        f.outcome = Outcome.INFO
    if rule.confirmation == "unconfirmed" and f.outcome in (Outcome.PROHIBITED, Outcome.ALLOWED):
        f.reason = (f"would be {f.outcome.value} on the unconfirmed reading, so UNKNOWN: {f.reason}")
        f.settle.append("confirm the rule's unconfirmed text or thresholds against the primary source (see 'reading')")
        f.outcome = Outcome.UNKNOWN
    return f


def evaluate(network: Network, rule: Rule, product: str, on: dt.date) -> Finding:
    """The finding of one rule's test on a product on a date (ignores buyer scope)."""
    from onshore.rules import kinds

    if not rule.in_force(on):
        return _not_in_force(rule, on)
    return _firm(rule, kinds.TESTS[rule.test.kind](kinds.context(network), rule, product, on))


def check(
    network: Network,
    product: str,
    buyer: str,
    on: dt.date,
    rules: RuleSet | None = None,
    audit: AuditLog | None = None,
) -> list[Verdict]:
    """Evaluate every rule binding ``buyer`` on ``product`` on date ``on``.

    Parameters
    ----------
    network : Network
    product : str
        A facility id: its output is the product bought.
    buyer : str
        A buyer scope from ``rules/buyers.yaml`` (e.g. ``dod``, ``dod_new_program``).
    on : datetime.date
        The evaluation date (for tax credits: the acquisition or sale date).
    rules : RuleSet, optional
        Defaults to the bundled rule files.
    audit : AuditLog, optional
        When given, every verdict is appended to it.

    Returns
    -------
    list of Verdict
        One per rule binding the buyer, most severe first.

    Examples
    --------
    >>> check(Network.reference(), "ses_chungju", "dod", dt.date(2027, 10, 1))  # doctest: +SKIP
    """
    rules = rules or bundled()
    if product not in set(network.facilities["id"].astype(str)):
        raise NotFound(f"no facility {product!r} in the store (a product is named by the plant that makes it)")
    out = []
    for rule in rules.for_buyer(buyer):
        f = evaluate(network, rule, product, on)
        out.append(Verdict(
            rule.id, rule.version, rule.title, f.outcome, f.reason, f.evidence, f.settle, rule.citation,
            rule.urls, rule.confirmation, rule.reading, product, buyer, on, network.snapshot, f.inputs,
        ))
    out.sort(key=lambda v: (-SEVERITY[v.verdict], v.rule_id))
    if audit is not None:
        audit.append([_audit_row(v) for v in out])
    return out


def _audit_row(v: Verdict) -> dict[str, Any]:
    inputs = {"product": v.product, "buyer": v.buyer, "evidence": v.evidence[:10], **v.inputs}
    return {"rule_id": v.rule_id, "rule_version": v.version, "snapshot": v.snapshot, "evaluated_on": v.on,
            "buyer": v.buyer, "product": v.product, "verdict": v.verdict.value, "reason": v.reason, "inputs": inputs}


def data_basis(network: Network, product: str) -> dict[str, Any]:
    """How much of the data behind a product's verdicts is estimated: the upstream plants
    (by recorded flows), the flows among them, and how many of those flows are estimates.

    A firm verdict that rests on estimated flows is only as good as the estimates; reports and
    the CLI show this next to the verdicts so that a signer knows what to confirm first.
    """
    from onshore.rules.kinds import context

    plants = {product, *context(network).upstream(product)}
    f = network.flows
    inside = f["customer"].astype(str).isin(plants) & f["supplier"].astype(str).isin(plants)
    est = f.loc[inside, "estimate"].fillna(False).astype(bool)
    n, k = int(inside.sum()), int(est.sum())
    text = (f"{len(plants) - 1} upstream plant(s) by recorded flows; {k} of {n} flows among them are estimates"
            + (" (confirm them before relying on a firm verdict)" if k else "")) if n else "no recorded supplier flows"
    return {"upstream_plants": len(plants) - 1, "flows": n, "estimated_flows": k, "text": text}


def products(network: Network, stages: tuple[str, ...] = ("cell", "pack")) -> list[str]:
    """Facility ids of every cell and pack plant: the products a compliance screen covers."""
    f = network.facilities
    ids: list[str] = f.loc[f["stage"].astype(str).isin(stages), "id"].astype(str).tolist()
    return ids


def check_all(
    network: Network,
    buyer: str,
    on: dt.date,
    rules: RuleSet | None = None,
    audit: AuditLog | None = None,
    stages: tuple[str, ...] = ("cell", "pack"),
) -> dict[str, list[Verdict]]:
    """:func:`check` over every cell and pack product; product id -> its verdicts.

    Evaluated for all products at once (:mod:`onshore.batch`: one reachability search per
    rule and one trace solve with a few columns over all nodes), with the same verdicts
    and reasons as :func:`check` per product; evidence is capped to the plant or path that
    decides, and each capped verdict says so.
    """
    from onshore.batch import findings

    rules = rules or bundled()
    ps = products(network, stages)
    binding = rules.for_buyer(buyer)
    found = findings(network, binding, ps, on)
    urls = {r.id: r.urls for r in binding}
    out: dict[str, list[Verdict]] = {}
    for k, p in enumerate(ps):
        vs = []
        for rule in binding:
            f = found[rule.id][k]
            vs.append(Verdict(
                rule.id, rule.version, rule.title, f.outcome, f.reason, f.evidence, f.settle, rule.citation,
                list(urls[rule.id]), rule.confirmation, rule.reading, p, buyer, on, network.snapshot, f.inputs,
            ))
        vs.sort(key=lambda v: (-SEVERITY[v.verdict], v.rule_id))
        out[p] = vs
    if audit is not None:
        audit.append([_audit_row(v) for vs in out.values() for v in vs])
    return out


def summary(results: dict[str, list[Verdict]]) -> list[dict[str, Any]]:
    """One row per product: the worst verdict and the rules behind it."""
    rows = []
    for p, vs in results.items():
        w = worst(vs)
        rows.append({"product": p, "verdict": w.value,
                     "rules": ", ".join(v.rule_id for v in vs if v.verdict == w and w != Outcome.NOT_APPLICABLE),
                     "reason": next((v.reason for v in vs if v.verdict == w), "")})
    return rows


__all__ = ["Finding", "Outcome", "Verdict", "check", "check_all", "evaluate", "products", "summary", "worst"]
