"""Errors and problems that a user can cause, each located in the author's file.

Every stage of the pipeline reports bad input as a `Problem` with a `Location`.
A stage that cannot go on raises `SvcplanError` carrying one or more problems.
Anything else that escapes is a bug in svcplan, and the CLI reports it as one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Iterable


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Location:
    """A position in a source file; line and column count from 1, 0 when unknown."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column}"
        return self.file


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, with where it is and how to fix it.

    `code` is a stable identifier (a schema keyword such as ``required`` or a
    check name such as ``unknown-item-type``) that reporters and tests key on.
    `path` is the position inside the document, as keys and list indexes.
    `related` are other places the problem involves, such as the first of two
    duplicate definitions.
    """

    location: Location
    code: str
    message: str
    severity: Severity = Severity.ERROR
    path: tuple[str | int, ...] = ()
    value: object = None
    hint: str = ""
    related: tuple[Location, ...] = ()

    def __str__(self) -> str:
        text = f"{self.location}: {self.severity.value}: {self.message} [{self.code}]"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


def format_path(path: Iterable[str | int]) -> str:
    """Render a document path as `sub_goals[0].items[2].type`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif text:
            text += f".{part}"
        else:
            text = str(part)
    return text or "(document root)"


@dataclass
class SvcplanError(Exception):
    """Bad input or a rejected request: the caller shows the problems and stops."""

    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.problems)

    @classmethod
    def single(
        cls,
        location: Location,
        code: str,
        message: str,
        *,
        path: tuple[str | int, ...] = (),
        value: object = None,
        hint: str = "",
    ) -> "SvcplanError":
        return cls([Problem(location, code, message, Severity.ERROR, path, value, hint)])

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)


class RejectedChange(SvcplanError):
    """A change to a plan that a membership rule, a lifecycle or a permission forbids."""


class RulesEngineError(Exception):
    """The rules engine failed in a way that no user input explains: a bug to report."""
