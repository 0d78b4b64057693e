"""Risk: concentration, single points of failure, and what an export cut-off does.

- :mod:`~onshore.risk.concentration`: HHI per (material, stage) over countries and
  controlling countries; a product's traced dependency per (raw material, stage).
- :mod:`~onshore.risk.spof`: plants and companies whose loss alone cuts a product.
- :mod:`~onshore.risk.scenario`: the cut-off scenario YAML schema.
- :mod:`~onshore.risk.cutoff`: re-allocation of the remaining supply by linear programming.
- :mod:`~onshore.risk.pool`: the same LP over market pools of like plants, for large networks.
- :mod:`~onshore.risk.montecarlo`: sampled cut-offs and shortfall distributions.
- :mod:`~onshore.views.charts.risk`: shortfall over time and concentration bars (HTML, PNG).
"""

from __future__ import annotations

from onshore.risk.concentration import (
    capacity_concentration,
    concentration_table,
    flow_concentration,
    hhi,
)
from onshore.risk.spof import single_points_of_failure

__all__ = [
    "capacity_concentration",
    "concentration_table",
    "flow_concentration",
    "hhi",
    "single_points_of_failure",
]
