"""onshore: where a lithium-ion battery really comes from, whether a buyer may buy it on a
date, how exposed it is to an export cut-off, and what to build where to fix that.

The core is a small set of typed records (:mod:`onshore.records.model`) kept in a DuckDB store
(:mod:`onshore.store`) and loaded into a :class:`Network` of arrays that the analyses read.
"""

from onshore.errors import (
    DataError,
    EngineUnavailable,
    InfeasiblePlan,
    InputError,
    NotFound,
    OnshoreError,
    RowError,
    RuleError,
    ScenarioError,
    StoreError,
    TraceError,
    UnitError,
)
from onshore.io.load import import_files, load_files, reference_files
from onshore.network import Network
from onshore.records.model import Bom, Company, Facility, Flow, Licence, Material, Ownership, Stage
from onshore.store.duckdb import DuckDBStore, open_store

__version__ = "0.1.0"

__all__ = [
    "Bom",
    "Company",
    "DataError",
    "DuckDBStore",
    "EngineUnavailable",
    "Facility",
    "Flow",
    "InfeasiblePlan",
    "InputError",
    "Licence",
    "Material",
    "Network",
    "NotFound",
    "OnshoreError",
    "Ownership",
    "RowError",
    "RuleError",
    "ScenarioError",
    "Stage",
    "StoreError",
    "TraceError",
    "UnitError",
    "import_files",
    "load_files",
    "open_store",
    "reference_files",
]
