"""Checking a template repository as `svcplan validate` does, for people and for CI.

`validate_paths` runs every stage that `library_problems` runs (load, schema,
compile, checks across files, rules) and returns a `ValidationResult` that the
reporters in `reporters` lay out. With `library_paths` it checks the given
files as part of the whole library, so that a file can use item types defined
in a file that was not given. It then reports only on the given files, which
is how the pre-commit hook checks one batch of changed files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .compile import discover_files
from .errors import Problem, Severity
from .workflow import library_problems


@dataclass(frozen=True)
class ValidationResult:
    """The files checked and every problem found in them, ordered by file, line and column."""

    files: tuple[str, ...]
    problems: tuple[Problem, ...]
    strict: bool = False

    @property
    def errors(self) -> list[Problem]:
        return [problem for problem in self.problems if problem.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [problem for problem in self.problems if problem.severity is Severity.WARNING]

    @property
    def failing(self) -> list[Problem]:
        """The problems that make the check fail: errors, and warnings too when strict."""
        return list(self.problems) if self.strict else self.errors

    @property
    def failed(self) -> bool:
        return bool(self.failing)

    def problems_of(self, file: str) -> list[Problem]:
        return [problem for problem in self.problems if problem.location.file == file]


def _resolved(name: str) -> Path | None:
    path = Path(name)
    return path.resolve() if path.exists() else None


def validate_paths(
    paths: Sequence[Path], *, library_paths: Sequence[Path] = (), strict: bool = False
) -> ValidationResult:
    """Check the files under `paths`; with `library_paths`, as part of that library.

    In the second form the library folders are loaded too, and problems are
    reported only when they are located in one of the files under `paths`, or
    involve one of them (a duplicate whose other definition is in a given file).
    """
    files = discover_files(paths)
    if library_paths:
        given = {path.resolve() for path in files}
        found = library_problems([*paths, *library_paths])
        problems = [
            problem for problem in found
            if any(_resolved(place.file) in given for place in (problem.location, *problem.related))
        ]
    else:
        problems = library_problems(list(paths))
    ordered = sorted(problems, key=lambda problem: problem.location)
    return ValidationResult(tuple(str(path) for path in files), tuple(ordered), strict)
