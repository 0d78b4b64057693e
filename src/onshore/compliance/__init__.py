"""Compliance: may this buyer buy this product on this date?

* :mod:`~onshore.compliance.verdicts`: Outcome, Finding, Verdict (the types, at the bottom);
* :mod:`~onshore.compliance.names`: entity names in rules matched to company ids;
* :mod:`~onshore.compliance.context`: the facts every rule kind reads, once per network;
* :mod:`~onshore.compliance.kinds`: one module per kind of rule test, one implementation
  serving one product and all products;
* :mod:`~onshore.compliance.evaluate`: :func:`check`, :func:`check_all`, the data basis.
"""

from onshore.compliance.evaluate import (
    check,
    check_all,
    data_basis,
    evaluate,
    findings,
    products,
    summary,
)
from onshore.compliance.verdicts import SEVERITY, Finding, Outcome, Verdict, worst

__all__ = [
    "SEVERITY",
    "Finding",
    "Outcome",
    "Verdict",
    "check",
    "check_all",
    "data_basis",
    "evaluate",
    "findings",
    "products",
    "summary",
    "worst",
]
