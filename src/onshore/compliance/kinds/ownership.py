"""``ownership_threshold``: the maker must not be a FEOC (a covered government holds the
threshold of its votes, board or equity) or a prohibited foreign entity (45X: specified or
foreign-influenced entity), on its recorded holders."""

from __future__ import annotations

import datetime as dt

from onshore.compliance.context import Products
from onshore.compliance.verdicts import Finding, Outcome
from onshore.rules import OwnershipThreshold, Rule


def evaluate(ps: Products, rule: Rule, on: dt.date) -> list[Finding]:
    """The ownership finding of every product's maker.

    Parameters
    ----------
    ps : Products
    rule : Rule
        A rule whose test is :class:`~onshore.rules.OwnershipThreshold`.
    on : datetime.date

    Returns
    -------
    list of Finding
        One per product, in order.
    """
    t = rule.test
    assert isinstance(t, OwnershipThreshold)
    ctx = ps.ctx
    o = ctx.owners
    if t.holder == "covered_government":
        table = ctx.feoc()
        flag_col = "feoc"
    else:
        ids, _ = ctx.resolve(t.listed)
        table = ctx.pfe(list(ids), t.single, t.together, t.debt)
        flag_col = "pfe"
    what = "FEOC" if t.holder == "covered_government" else "prohibited foreign entity"
    out = []
    for i in ps.pidx:
        c = str(ctx.company[i])
        row = table.loc[c]
        ev = [ctx.describe(int(i)), f"owner chain: {ctx.control_text(c)}"]
        if bool(row[flag_col]):
            out.append(
                Finding(
                    Outcome.PROHIBITED,
                    f"{c} is a {what}: {row['reason']}",
                    ev,
                    inputs={"company": c},
                )
            )
            continue
        has_owners = bool((o.direct["j"] == o.idx(c)).any()) or o.kind[o.idx(c)] != "company"
        if not has_owners:
            out.append(
                Finding(
                    Outcome.UNKNOWN,
                    f"no shareholder or debt holder of {c} is recorded",
                    ev,
                    settle=[
                        f"the shareholders, voting rights, board seats and debt holders of {c}"
                    ],
                    inputs={"company": c},
                )
            )
        else:
            out.append(
                Finding(
                    Outcome.ALLOWED,
                    f"{c} passes the ownership tests on its recorded holders",
                    ev,
                    inputs={"company": c},
                )
            )
    return out
