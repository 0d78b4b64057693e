"""Rule kinds that read no supply chain: ``informational`` (a note), ``always`` (a fixed
PROHIBITED, e.g. a ban of a product class) and ``tariff`` (the rate on the product's
category and origin on the date)."""

from __future__ import annotations

import datetime as dt

from onshore.compliance.context import Products
from onshore.compliance.verdicts import Finding, Outcome
from onshore.rules.loader import Always, Informational, Rate, Rule, Tariff


def informational(ps: Products, rule: Rule, on: dt.date) -> list[Finding]:
    """The rule's message as INFO for every product."""
    assert isinstance(rule.test, Informational)
    return [Finding(Outcome.INFO, rule.test.message.strip()) for _ in ps.ids]


def always(ps: Products, rule: Rule, on: dt.date) -> list[Finding]:
    """The rule's message as PROHIBITED for every product."""
    assert isinstance(rule.test, Always)
    return [Finding(Outcome.PROHIBITED, rule.test.message.strip()) for _ in ps.ids]


def tariff(ps: Products, rule: Rule, on: dt.date) -> list[Finding]:
    """The tariff rate that applies to each product (by its material's kind and its plant's
    country) on ``on``, as INFO.

    Parameters
    ----------
    ps : Products
    rule : Rule
        A rule whose test is :class:`~onshore.rules.Tariff`.
    on : datetime.date

    Returns
    -------
    list of Finding
        One per product, in order.
    """
    t = rule.test
    assert isinstance(t, Tariff)
    ctx = ps.ctx
    m = ctx.network.materials
    kinds = dict(zip(m["id"].astype(str), m["kind"].astype(str), strict=True))
    out = []
    for i in ps.pidx:
        kind = kinds.get(str(ctx.material[i]), "unknown")
        cat = t.product_categories.get(kind)
        origin = str(ctx.country[i])
        if cat is None:
            out.append(
                Finding(Outcome.INFO, f"no tariff category is set for products of kind {kind}")
            )
            continue
        hit = _live(t, cat, origin, on)
        alt = t.alternatives.get(kind)
        also = ""
        if alt is not None:
            ah = _live(t, alt, origin, on)
            also = f"; as {alt}: " + (f"{ah[0].rate:.1%}" if ah else "no rate")
        if not hit:
            out.append(
                Finding(
                    Outcome.INFO,
                    f"no {rule.citation.split(',')[0]} rate on {cat} from {origin} on {on}"
                    + also,
                    inputs={"category": cat, "origin": origin},
                )
            )
            continue
        r = hit[0]
        was = f" (was {r.previous:.1%})" if r.previous is not None else ""
        out.append(
            Finding(
                Outcome.INFO,
                f"{r.rate:.1%} on {cat} from {origin} on {on}{was}{also}; other duties may stack",
                inputs={"category": cat, "origin": origin, "rate": r.rate},
            )
        )
    return out


def _live(t: Tariff, cat: str, origin: str, on: dt.date) -> list[Rate]:
    """The rates of a category from an origin in force on ``on``."""
    return [
        r
        for r in t.rates
        if r.category == cat
        and origin in r.origins
        and r.effective_from <= on
        and (r.effective_until is None or on <= r.effective_until)
    ]
