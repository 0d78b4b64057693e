"""``entity_list``: the maker (or, with ``reach: upstream``, any plant in the supply chain)
must not be an entity on a restricted list (1260H, UFLPA Entity List, ...) or a company it
controls, on the date of the evaluation."""

from __future__ import annotations

import datetime as dt

import numpy as np

from onshore.compliance.context import REL, Products
from onshore.compliance.kinds.named_entity import review_line
from onshore.compliance.verdicts import Finding, Outcome
from onshore.rules import EntityList, Rule


def evaluate(ps: Products, rule: Rule, on: dt.date) -> list[Finding]:
    """The entity-list finding of every product.

    Parameters
    ----------
    ps : Products
    rule : Rule
        A rule whose test is :class:`~onshore.rules.EntityList`.
    on : datetime.date
        Entries are read as listed on this date.

    Returns
    -------
    list of Finding
        One per product, in order.
    """
    t = rule.test
    assert isinstance(t, EntityList)
    ctx = ps.ctx
    listed, notes = ctx.resolve(t.entities, on)
    review = ctx.review(t.entities, on)

    def keep(rel: str) -> bool:
        return rel in ("self", "subsidiary") or (
            t.affiliates == "controlled" and rel == "controller" and t.reach == "maker"
        )

    plants = np.zeros(ctx.n, dtype=bool)
    plants[ps.pidx] = True
    if t.reach != "maker":
        plants[:] = True
    mark, rels = ctx.relation_marks(listed, t, plants, keep)
    umark, urels = ctx.relation_marks(listed, t, plants, lambda r: r == "possible")
    hit = np.where(mark[ps.pidx], ps.pidx, -1) if t.reach == "maker" else ps.nearest(mark)
    maybe = np.where(umark[ps.pidx], ps.pidx, -1) if t.reach == "maker" else ps.nearest(umark)
    anon = (
        np.where(ctx.unidentified[ps.pidx], ps.pidx, -1)
        if t.reach == "maker"
        else ps.nearest(ctx.unidentified)
    )
    rmark, rrels = ctx.relation_marks(review, t, plants, lambda r: r in ("self", "subsidiary"))
    rhit = np.where(rmark[ps.pidx], ps.pidx, -1) if t.reach == "maker" else ps.nearest(rmark)

    def line(i: int) -> str:
        e, rel, chain = rels[ctx.company[i]][0]
        return f"{ctx.describe(i)}: {REL[rel]} {listed[e].name}, on the {t.name} ({chain})"

    listed_ids = sorted(listed)
    hit_l, maybe_l, anon_l, rhit_l = (a.tolist() for a in (hit, maybe, anon, rhit))
    no_supplier = (~ctx.has_supplier[ps.pidx] & (ctx.stage[ps.pidx] != "mine")).tolist()
    out: list[Finding] = []
    for k, p in enumerate(ps.ids):
        i = int(ps.pidx[k])
        inputs = {
            "plants": 1 if t.reach == "maker" else "the maker and its upstream",
            "listed_companies": list(listed_ids),
        }
        if hit_l[k] >= 0:
            hits = (
                [line(j) for j in ps.upstream_marked(k, mark)]
                if ps.full and t.reach != "maker"
                else [line(hit_l[k])]
            )
            out.append(
                Finding(
                    Outcome.PROHIBITED,
                    hits[0],
                    [*hits, *ps.capped("the nearest listed plant", k)],
                    inputs=inputs,
                )
            )
            continue
        settle, nts = [], list(notes)
        if anon_l[k] >= 0:
            nts.append(
                f"{ctx.describe(anon_l[k])} stands for producers that are not "
                f"identified, so entities on the {t.name} cannot be excluded"
            )
            settle.append("the actual suppliers in place of the market pool")
        if maybe_l[k] >= 0:
            e, rel, chain = urels[ctx.company[maybe_l[k]]][0]
            nts.append(
                f"{ctx.describe(maybe_l[k])}: {REL[rel]} {listed[e].name}, "
                f"on the {t.name} ({chain})"
            )
            settle.append("the missing stakes named above")
        if rhit_l[k] >= 0:
            j = rhit_l[k]
            nts.append(review_line(ctx, j, rrels, review))
            settle.append("a reviewer's judgement of the pair (`onshore review`)")
        if t.reach == "upstream" and no_supplier[k]:
            settle.append(f"record the supplier flows into {p}")
            nts.append(f"no supplier of {p} is recorded, so listed suppliers cannot be excluded")
        if nts:
            out.append(
                Finding(
                    Outcome.UNKNOWN,
                    "; ".join(nts),
                    nts,
                    settle or ["entity identities (ids, registry numbers)"],
                    inputs=inputs,
                )
            )
        else:
            shown = [int(j) for j in ctx.upstream(p)[:5]] if ps.full and t.reach != "maker" else [i]
            out.append(
                Finding(
                    Outcome.ALLOWED,
                    allowed_reason(t),
                    [*(ctx.describe(j) for j in shown), *ps.capped("the product's own plant", k)],
                    inputs=inputs,
                )
            )
    return out


def allowed_reason(t: EntityList) -> str:
    """The ALLOWED reason of an entity-list test."""
    checked = (
        "the maker"
        if t.reach == "maker"
        else "the maker and every plant upstream of it by recorded flows"
    )
    return (
        f"none of the plants checked ({checked}) belongs to an entity on the {t.name} "
        "or a company it controls"
    )
