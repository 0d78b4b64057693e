"""Sec. 154 "produced by": which products of the bundled reference network change verdict
when the bills' "majority of the components" limb is read in (US-NDAA24-154-components).

The verdict rule US-NDAA24-154 reads "produced by" as the cell maker or pack assembler (its
reading cites the source: the statute's words as reported; sec. 154's own text was not read).
The sensitivity rule tests every cathode, anode, electrolyte, separator, cell and pack plant
upstream; it is informational, so it never changes a worst verdict. The products whose verdict
would change are recorded in ``golden/s154_components.json``; run this file as a script to
record them again after a deliberate change of the network or the rules.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from pathlib import Path

from onshore.compliance import Outcome, Verdict, check_all, worst
from onshore.network import Network

ON = dt.date(2027, 10, 1)
RECORD = Path(__file__).parent / "golden" / "s154_components.json"


def _would(v: Verdict) -> str:
    """The outcome the informational rule would have given (its reason says so)."""
    for o in (Outcome.PROHIBITED, Outcome.UNKNOWN):
        if v.reason.startswith(f"would be {o.value}"):
            return o.value
    return v.verdict.value


@cache
def _verdicts() -> dict[str, list[Verdict]]:
    return check_all(Network.reference(), "dod", ON)


def changes() -> dict[str, dict[str, str]]:
    """Product -> {main, components} for every product whose verdict differs by reading."""
    out = {}
    for p, vs in sorted(_verdicts().items()):
        m = {v.rule_id: v for v in vs}
        main, alt = m["US-NDAA24-154"].verdict.value, _would(m["US-NDAA24-154-components"])
        if main != alt:
            out[p] = {"main": main, "components": alt}
    return out


def test_the_products_that_change_verdict_under_the_components_reading() -> None:
    got = changes()
    assert got == json.loads(RECORD.read_text()), "re-record with: python tests/test_s154_reading.py"
    assert got, "the components reading changes some verdicts on the reference network"
    # the wider reading can only be stricter: no product is better off under it
    order = {"ALLOWED": 0, "UNKNOWN": 1, "PROHIBITED": 2}
    assert all(order[c["components"]] > order[c["main"]] for c in got.values())


def test_the_sensitivity_rule_does_not_weaken_or_change_the_main_rule() -> None:
    for vs in _verdicts().values():
        m = {v.rule_id: v for v in vs}
        alt = m["US-NDAA24-154-components"]
        assert alt.verdict in (Outcome.INFO, Outcome.ALLOWED, Outcome.NOT_APPLICABLE)
        # the worst verdict is the same with and without the sensitivity rule
        rest = [v for v in vs if v.rule_id != "US-NDAA24-154-components"]
        assert worst(vs) == worst(rest)
        # where the main rule prohibits, the wider reading prohibits too
        if m["US-NDAA24-154"].verdict == Outcome.PROHIBITED:
            assert _would(alt) == "PROHIBITED"


if __name__ == "__main__":
    RECORD.write_text(json.dumps(changes(), indent=1, sort_keys=True) + "\n")
    print(f"recorded {RECORD}")
