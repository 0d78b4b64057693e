"""Verdict types: what a rule's test found (:class:`Finding`) and the dated, cited verdict a
buyer reads (:class:`Verdict`), with the wording and confirmation rules applied to both."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from onshore.rules import Rule


class Outcome(StrEnum):
    """A rule's verdict on a product for a buyer on a date."""

    PROHIBITED = "PROHIBITED"
    UNKNOWN = "UNKNOWN"
    ALLOWED = "ALLOWED"
    INFO = "INFO"
    NOT_APPLICABLE = "NOT_APPLICABLE"


SEVERITY = {
    Outcome.PROHIBITED: 4,
    Outcome.UNKNOWN: 3,
    Outcome.ALLOWED: 2,
    Outcome.INFO: 1,
    Outcome.NOT_APPLICABLE: 0,
}


INDICATIVE_MAX = 0.5
"""The largest share of a content-based test's value that may rest on estimates or priors for
an ALLOWED to stand, as ALLOWED (indicative); above it the verdict is UNKNOWN.

A content test compares a share with a limit; its pass is only as good as the volumes behind it.
Up to half, most of the tested value comes through recorded, non-estimated supply, so the pass
is reported with the share that is guessed; above half, the guesses are most of what decides,
and a pass would say more than the data (see docs/architecture.md, "What a verdict rests on").
"""


@dataclass
class Finding:
    """What a rule's test found, before dates, scope and confirmation are applied."""

    outcome: Outcome
    reason: str
    evidence: list[str] = field(default_factory=list)
    settle: list[str] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)
    indicative: bool = False
    """An ALLOWED that rests in part on estimated or prior-based inputs (``inputs['basis']``)."""


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
    indicative: bool = False
    """ALLOWED (indicative): the pass rests in part on estimates or priors (``inputs['basis']``)."""

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``id``, ``verdict``, ``reason``, ``evidence``, ...)."""
        d = asdict(self)
        d["id"] = d.pop("rule_id")
        d["verdict"] = self.verdict.value
        d["on"] = self.on.isoformat()
        return d


def worst(verdicts: list[Verdict]) -> Outcome:
    """The most severe outcome of a list (PROHIBITED > UNKNOWN > ALLOWED > INFO > N/A).

    Parameters
    ----------
    verdicts : list of Verdict

    Returns
    -------
    Outcome
        NOT_APPLICABLE for an empty list.
    """
    return max(
        (v.verdict for v in verdicts), key=SEVERITY.__getitem__, default=Outcome.NOT_APPLICABLE
    )


def not_in_force(rule: Rule, on: dt.date) -> Finding:
    """The finding of a rule on a date outside its effective period."""
    if on < rule.effective_from:
        return Finding(
            Outcome.NOT_APPLICABLE, f"not in force on {on}: applies from {rule.effective_from}"
        )
    return Finding(
        Outcome.NOT_APPLICABLE, f"not in force on {on}: applied until {rule.effective_until}"
    )


def on_estimates(f: Finding, share: float, what: str) -> Finding:
    """Say what a content-based finding rests on: a pass that rests in part on estimated or
    prior-based inputs is ALLOWED (indicative), or UNKNOWN above :data:`INDICATIVE_MAX`.

    Parameters
    ----------
    f : Finding
        Changed in place; only an ALLOWED changes outcome.
    share : float
        The share of the tested value (0..1) that comes through estimated or pool flows.
    what : str
        The tested value in words, e.g. "cost of the components".

    Returns
    -------
    Finding
        ``f``, with ``inputs['estimated_share']`` and ``inputs['basis']`` set.
    """
    share = float(min(max(share, 0.0), 1.0))
    f.inputs["estimated_share"] = share
    if share <= 1e-9:
        f.inputs["basis"] = f"the {what} rests on recorded, non-estimated supply"
        return f
    basis = f"{share:.1%} of the {what} rests on estimates/priors"
    f.inputs["basis"] = basis + " (estimated flow volumes or market-pool shares)"
    if f.outcome != Outcome.ALLOWED:
        return f
    settle = (
        "recorded (not estimated) volumes from the suppliers that share an input, and identified "
        "producers in place of market pools"
    )
    if share > INDICATIVE_MAX:
        f.outcome = Outcome.UNKNOWN
        f.reason = (
            f"would be ALLOWED, but {basis} (more than {INDICATIVE_MAX:.0%}), so UNKNOWN: "
            f"{f.reason}"
        )
        f.settle.append(settle)
    else:
        f.indicative = True
        f.reason = f"ALLOWED (indicative): {f.reason}; {basis}"
        f.settle.append(settle)
    f.evidence.append(f.inputs["basis"])
    return f


def firm(rule: Rule, f: Finding) -> Finding:
    """Apply the rule's verdict wording and its confirmation to a test's finding.

    Parameters
    ----------
    rule : Rule
    f : Finding
        Changed in place: ``not_eligible`` rules say so, ``informational`` rules never
        prohibit nor give UNKNOWN (INFO, saying what they would have found), and
        ``unconfirmed`` rules never give a firm verdict (UNKNOWN, with the figure in the
        reason).

    Returns
    -------
    Finding
        ``f``.
    """
    if f.outcome == Outcome.PROHIBITED and rule.verdict == "not_eligible":
        f.reason = "not eligible: " + f.reason
    if f.outcome in (Outcome.PROHIBITED, Outcome.UNKNOWN) and rule.verdict == "informational":
        # an informational rule (e.g. a sensitivity reading) neither prohibits nor holds a
        # verdict open; it says what it would have found
        f.reason = f"would be {f.outcome.value} on this reading (information only): {f.reason}"
        f.outcome = Outcome.INFO
    if rule.confirmation == "unconfirmed" and f.outcome in (Outcome.PROHIBITED, Outcome.ALLOWED):
        f.reason = f"would be {f.outcome.value} on the unconfirmed reading, so UNKNOWN: {f.reason}"
        f.settle.append(
            "confirm the rule's unconfirmed text or thresholds against the primary source (see "
            "'reading')"
        )
        f.outcome = Outcome.UNKNOWN
    if f.outcome != Outcome.ALLOWED:
        f.indicative = False
    return f


def no_trace(msg: str) -> Finding:
    """UNKNOWN because the product could not be traced (``msg`` says why)."""
    return Finding(
        Outcome.UNKNOWN, msg, settle=["a traceable supply network for the product (flows and BOMs)"]
    )
