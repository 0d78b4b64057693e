"""Records: the typed tables of a supply network, their units and countries, and the checks
that span several records (unique keys, references, owners at most 100 %, units that fit).

* :mod:`~onshore.records.model`: Company, Ownership, Facility, Material, Bom, Flow, Licence,
  the :class:`Stage` order, ``TABLES`` (keys and references as data);
* :mod:`~onshore.records.units`, :mod:`~onshore.records.countries`: units and ISO codes;
* :mod:`~onshore.records.batch`: the checked records of one import, with their origins;
* :mod:`~onshore.records.integrity`: the checks across records.
"""

from onshore.records.model import (
    TABLES,
    Bom,
    Company,
    Facility,
    Flow,
    Licence,
    Material,
    Ownership,
    Record,
    Stage,
)

__all__ = [
    "TABLES",
    "Bom",
    "Company",
    "Facility",
    "Flow",
    "Licence",
    "Material",
    "Ownership",
    "Record",
    "Stage",
]
