"""``named_entity``: the product must not be produced by a named company or its affiliates
(FY2024 NDAA section 154: batteries produced by six named makers).

The plants of the ``produced_by`` stages in the product's supply chain (its own plant and
every plant upstream by recorded flows) are checked against the named companies and the
companies they control, are controlled by or share a controller with; a relation the
rule's wording leaves open (``uncertain``) gives UNKNOWN, and so does a plant whose company
may be a named entity by name only (a pair for review): for the products it is in, only."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from onshore.compliance.context import REL, Products
from onshore.compliance.verdicts import Finding, Outcome
from onshore.records.model import STAGE_RANK
from onshore.rules import NamedEntity, Rule


def evaluate(ps: Products, rule: Rule, on: dt.date) -> list[Finding]:
    """The named-entity finding of every product.

    Parameters
    ----------
    ps : Products
    rule : Rule
        A rule whose test is :class:`~onshore.rules.NamedEntity`.
    on : datetime.date

    Returns
    -------
    list of Finding
        One per product, in order.
    """
    t = rule.test
    assert isinstance(t, NamedEntity)
    ctx = ps.ctx
    plants = np.isin(ctx.stage, t.produced_by)
    near = ps.nearest(plants)
    named, notes = ctx.resolve(t.entities)
    review = ctx.review(t.entities)
    rmark, rrels = ctx.relation_marks(review, t, plants, lambda r: r in ("self", "subsidiary"))
    nr = ps.nearest(rmark)
    prohibit = {"self", "subsidiary"} | (
        {"controller", "sister"} if t.affiliates == "common_control" else set()
    )
    pmark, prels = ctx.relation_marks(named, t, plants, lambda r: r in prohibit)
    umark, urels = ctx.relation_marks(
        named, t, plants, lambda r: r not in prohibit and (r in t.uncertain or r == "possible")
    )
    np_, nu = ps.nearest(pmark), ps.nearest(umark)
    anon = ps.nearest(plants & ctx.unidentified)
    first = min(t.produced_by, key=lambda s: STAGE_RANK.get(s, 99))
    has_first = ps.nearest(ctx.stage == first) >= 0
    stages = "/".join(t.produced_by)

    def line(i: int, rels: dict[str, list[tuple[str, str, str]]]) -> str:
        e, rel, chain = rels[ctx.company[i]][0]
        return f"{ctx.describe(i)}: {REL[rel]} the named entity {named[e].name} ({chain})"

    def lines(
        k: int, nearest: int, mark: np.ndarray, rels: dict[str, list[tuple[str, str, str]]]
    ) -> list[str]:
        if nearest < 0:
            return []
        return (
            [line(i, rels) for i in ps.upstream_marked(k, mark)]
            if ps.full
            else [line(nearest, rels)]
        )

    # the maker cannot be checked when the product comes after the first produced_by stage
    # (a pack after its cells) and no plant of that stage is recorded upstream
    rank_first = STAGE_RANK.get(first, 99)
    ranks = {st: STAGE_RANK.get(st, 99) for st in set(ctx.stage[ps.pidx].tolist())}
    gapped = [
        ranks[st] > rank_first and not hf
        for st, hf in zip(ctx.stage[ps.pidx].tolist(), has_first.tolist(), strict=True)
    ]
    named_ids = sorted(named)

    def chain_line(c: str) -> str:
        return f"control chain of {c}: {ctx.control_text(c)}"

    near_l, nu_l, anon_l, nr_l, np_l = (a.tolist() for a in (near, nu, anon, nr, np_))
    out: list[Finding] = []
    for k, p in enumerate(ps.ids):
        if near_l[k] < 0:
            out.append(
                Finding(
                    Outcome.UNKNOWN,
                    f"no {stages} plant is recorded for {p}",
                    settle=[f"record the flows from the {stages} plants into {p}"],
                )
            )
            continue
        inputs = {"nearest_plant": ctx.ids[near_l[k]], "named_companies": list(named_ids)}
        unsure = lines(k, nu_l[k], umark, urels)
        if anon_l[k] >= 0:
            unsure.append(
                f"{ctx.describe(anon_l[k])} stands for producers that are not "
                "identified: a named entity among them cannot be excluded"
            )
        if nr_l[k] >= 0:
            shown_r = ps.upstream_marked(k, rmark) if ps.full else [nr_l[k]]
            unsure += [review_line(ctx, i, rrels, review) for i in shown_r]
        if np_l[k] >= 0:
            ev = lines(k, np_l[k], pmark, prels)
            out.append(
                Finding(
                    Outcome.PROHIBITED,
                    f"produced by a named entity: {ev[0]}; in force from {rule.effective_from}",
                    [*ev, *unsure, *ps.capped("the nearest plant related to a named entity", k)],
                    inputs=inputs,
                )
            )
        elif gapped[k]:
            gap = (
                f"no {first} plant is recorded upstream of {p}, "
                f"so its {first} maker cannot be checked"
            )
            out.append(
                Finding(
                    Outcome.UNKNOWN,
                    gap,
                    [gap, *unsure, *notes, *ps.capped("the nearest related plant", k)],
                    settle=[f"record the flows from the {first} plants into {p}"],
                    inputs=inputs,
                )
            )
        elif unsure or notes:
            out.append(
                Finding(
                    Outcome.UNKNOWN,
                    unknown_reason(unsure[:1] + notes),
                    unsure + notes + ps.capped("the nearest related plant", k),
                    settle=(
                        ["the stakes not recorded (equity, voting rights, board seats)"]
                        if any(BLANK in u for u in unsure)
                        else []
                    )
                    + [
                        "the exact affiliate/successor wording of the rule (see 'reading')",
                        "ownership records linking the companies named",
                    ],
                    inputs=inputs,
                )
            )
        else:
            m = ctx.company[near_l[k]]
            shown = ps.upstream_marked(k, plants) if ps.full else [near_l[k]]
            makers = sorted({ctx.company[i] for i in shown})
            ev = [ctx.describe(i) for i in shown] + [chain_line(c) for c in makers]
            out.append(
                Finding(
                    Outcome.ALLOWED,
                    allowed_reason(m, t),
                    ev + ps.capped(f"the nearest {stages} plant", k),
                    inputs=inputs,
                )
            )
    return out


def review_line(
    ctx: Any,
    i: int,
    rels: dict[str, list[tuple[str, str, str]]],
    review: dict[str, tuple[Any, str]],
) -> str:
    """A plant whose company is, or is controlled by, a company awaiting review, in words."""
    c, rel, chain = rels[ctx.company[i]][0]
    who = "its company" if rel == "self" else f"controlled by {c} ({chain}), which"
    return f"{ctx.describe(i)}: {who} {review[c][1]}"


BLANK = "(a stake is not recorded)"


def unknown_reason(lines: list[str]) -> str:
    """The UNKNOWN reason of a named-entity test: the nearest related plant and the screening
    notes."""
    if lines and BLANK in lines[0]:
        return "may be produced by a named entity (a stake is not recorded): " + "; ".join(lines)
    return (
        "related to a named entity in a way the rule's unread wording would settle: "
        + "; ".join(lines)
    )


def allowed_reason(maker: str, t: NamedEntity) -> str:
    """The ALLOWED reason of a named-entity test (``maker``: the company of the nearest such
    plant)."""
    return (
        f"made by {maker}; no {'/'.join(t.produced_by)} plant in its recorded supply chain is, or "
        "is controlled by, "
        "a named entity on the recorded ownership"
    )
