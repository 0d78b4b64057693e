"""The exceptions onshore raises.

    OnshoreError
     +-- DataError          bad input rows; carries a list of RowError
     +-- UnitError          an unknown unit or a conversion across dimensions
     +-- NotFound           an id (company, facility, product, rule) that is not in the store
     +-- StoreError         the store file is missing, locked or of another schema
     +-- TraceError         a trace that cannot be solved (e.g. a cycle that creates mass)
     +-- RuleError          a rule file that does not fit the rule schema
     +-- ScenarioError      a risk or plan scenario that does not fit its schema
     +-- InfeasiblePlan     a plan whose demand cannot be met, with the reasons
     +-- EngineUnavailable  an optional engine or extra that is not installed

Views (CLI, API) turn these into clear messages and exit codes; nothing else catches broadly.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_ERRORS = 100


class OnshoreError(Exception):
    """Base of every error onshore raises on purpose."""


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem in one input row: where it is, what was there, what was expected."""

    file: str
    row: int | None
    column: str | None
    value: object
    expected: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column '{self.column}'"
        if self.value is None or self.value == "":
            got = "empty"
        else:
            got = repr(self.value)
            if len(got) > 60:
                got = got[:57] + "..."
        return f"{where}: got {got}; expected {self.expected}"


class DataError(OnshoreError):
    """Input rows that do not fit the model; nothing was written."""

    def __init__(self, errors: list[RowError], truncated: bool = False) -> None:
        self.errors = errors[:MAX_ERRORS]
        self.truncated = truncated or len(errors) > MAX_ERRORS
        more = " (and more; only the first 100 are listed)" if self.truncated else ""
        super().__init__(f"{len(self.errors)} error(s) in the input{more}")

    def __str__(self) -> str:
        lines = [super().__str__()] + [f"  {e}" for e in self.errors]
        return "\n".join(lines)


class InputError(OnshoreError, ValueError):
    """A parameter given to the library or a command is not valid (a date, a name, a path)."""


class UnitError(OnshoreError, ValueError):
    """An unknown unit, or a conversion between units of different dimensions."""


class NotFound(OnshoreError, KeyError):
    """An id that is not in the store."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not found"


class StoreError(OnshoreError):
    """The store cannot be opened or is not an onshore store."""


class TraceError(OnshoreError):
    """A trace that cannot be solved."""


class RuleError(OnshoreError):
    """A rule file that does not fit the rule schema."""


class ScenarioError(OnshoreError):
    """A scenario file that does not fit its schema; names the key path."""


class InfeasiblePlan(OnshoreError):
    """A plan whose demand cannot be met; carries the reasons in words."""

    def __init__(self, message: str, reasons: list[str] | None = None) -> None:
        self.reasons = reasons or []
        super().__init__(message)


class EngineUnavailable(OnshoreError):
    """An optional engine or extra is not installed; says what to install."""
