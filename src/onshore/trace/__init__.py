"""Trace: where the minerals and the processing stages of every product come from.

With ``A`` the input coefficients (``A[p, u]`` = units of node ``u`` in one unit of node ``p``)
and ``B`` the tags each node adds, the tag content of every node solves

    X = A X + B,    X = L B,    L = (I - A)^-1  (the Leontief inverse),

exactly, cycles (recycling) included, without ever forming ``L``.

Modules, bottom up:

* :mod:`~onshore.trace.graph`: the node index (facility, material) and the sparse ``A``;
* :mod:`~onshore.trace.leontief`: the linear-algebra core (strong components, level sweep,
  direct or Anderson-accelerated cycle solves to a relative residual of 1e-10);
* :mod:`~onshore.trace.tags`: solve plans, raw content ``C = L E`` and tag values per node;
* :mod:`~onshore.trace.origin`: :func:`trace`, one product by tag; :func:`trace_products`,
  many, one backward solve per batch;
* :mod:`~onshore.trace.paths`: :func:`explain`, the heaviest upstream paths behind a number, and
  :func:`heaviest`, those of a product's largest tags;
* :mod:`~onshore.trace.allnodes`: :func:`solve_all`, every node, streamed to Parquet;
  :func:`write_products`, every cell, pack and device, the same solve kept to their rows;
* :mod:`~onshore.trace.conservation`: :func:`validate`, the mass-balance checks.
"""

from onshore.records.physical import Finding
from onshore.trace.allnodes import PRODUCT_STAGES, read_all, solve_all, write_products
from onshore.trace.conservation import material_content, validate
from onshore.trace.graph import Graph, find_product, graph, per_product, products
from onshore.trace.leontief import TOL, Plan, plan, solve
from onshore.trace.origin import trace, trace_products
from onshore.trace.paths import SupplyPath, TagPaths, explain, heaviest
from onshore.trace.tags import (
    backward_plan,
    content,
    direct_parent_country,
    forward_plan,
    leontief_row,
    raw_prices,
    ultimate_controller_country,
    upstream,
)

__all__ = [
    "PRODUCT_STAGES",
    "TOL",
    "Finding",
    "Graph",
    "Plan",
    "SupplyPath",
    "TagPaths",
    "backward_plan",
    "content",
    "direct_parent_country",
    "explain",
    "find_product",
    "forward_plan",
    "graph",
    "heaviest",
    "leontief_row",
    "material_content",
    "per_product",
    "plan",
    "products",
    "raw_prices",
    "read_all",
    "solve",
    "solve_all",
    "trace",
    "trace_products",
    "ultimate_controller_country",
    "upstream",
    "validate",
    "write_products",
]
