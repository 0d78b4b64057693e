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
    got: str | None = None
    """What was found, in words, when it is not a cell value (``no such file``, ``a folder``);
    without it the value is shown (``empty`` only when the value is blank)."""

    def where(self) -> str:
        """File, row and column, as far as they are known."""
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column '{self.column}'"
        return where

    def __str__(self) -> str:
        return f"{self.where()}: got {self.shown()}; expected {self.expected}"

    def shown(self) -> str:
        """The value as the message shows it."""
        if self.got is not None:
            return self.got
        if self.value is None or self.value == "":
            return "empty"
        got = repr(self.value)
        return got if len(got) <= 60 else got[:57] + "..."


@dataclass(frozen=True, slots=True)
class RowWarning:
    """Something in the input that was read in a way worth saying: a value interpreted
    (``51%`` read as 0.51), or content ignored (an extra column, a notes sheet).

    ``kind`` is ``interpreted`` or ``ignored``; ``--strict`` refuses what would be ignored.
    """

    file: str
    row: int | None
    column: str | None
    value: object
    read_as: str
    kind: str = "interpreted"

    def __str__(self) -> str:
        where = RowError(self.file, self.row, self.column, None, "").where()
        got = (
            ""
            if self.value is None
            else f"{RowError(self.file, None, None, self.value, '').shown()} "
        )
        return f"{where}: {got}{self.read_as}"


def counted(n: int, what: str, shown: int = MAX_ERRORS) -> str:
    """'3 errors' or '250 errors, first 100 shown'."""
    s = f"{n} {what}{'' if n == 1 else 's'}"
    return s if n <= shown else f"{s}, first {shown} shown"


class DataError(OnshoreError):
    """Input rows that do not fit the model; nothing was written.

    ``errors`` lists the first 100, ``total`` counts them all, ``warnings`` are what was
    interpreted or ignored on the way (for the same message).
    """

    def __init__(
        self,
        errors: list[RowError] | str,
        truncated: bool = False,
        warnings: list[RowWarning] | None = None,
    ) -> None:
        if isinstance(errors, str):
            errors = [RowError("input", None, None, None, errors, got="a value it cannot read")]
        self.total = len(errors)
        self.errors = errors[:MAX_ERRORS]
        self.truncated = truncated or len(errors) > MAX_ERRORS
        self.warnings = list(warnings or [])
        super().__init__(f"{counted(self.total, 'error')} in the input")

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
