"""Published template versions: the lock file that stops a published version from changing.

A plan keeps the template version it was made from, so once a version is
published its content must never change: a change needs a new version number.
`svcplan template publish` records each published (template id, version) with
the SHA-256 of its content in a lock file named ``published.lock``. `svcplan
validate` then reports a template whose content no longer matches the recorded
hash of its version, and a version lower than a published one.

The lock file is JSON, so it is YAML too and loads with positions like any other
file (see engine/schemas/published.schema.json)::

    {
      "svcplan": 1,
      "kind": "published-templates",
      "templates": [
        {"id": "foster-care-case-plan", "version": 1, "sha256": "9f2c...",
         "file": "foster-care-case-plan.yaml", "published": "2027-01-08"}
      ]
    }

A lock file covers the templates in its folder and in every folder below it: a
template uses the nearest ``published.lock`` found by going up from its folder,
stopping at the root of the git repository (the folder that contains ``.git``).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from .errors import Location, Problem, Severity, SvcplanError
from .load import load_document
from .validate import check_kind, check_schema

if TYPE_CHECKING:
    from .compile import Library

LOCK_NAME = "published.lock"
"""File name of the lock file."""


@dataclass(frozen=True)
class PublishedCandidate:
    """A compiled template version to compare with the lock file: where its `version` is written."""

    template_id: str
    version: int
    content_hash: str
    location: Location


@dataclass(frozen=True)
class PublishedEntry:
    """One published template version as the lock file records it."""

    template_id: str
    version: int
    sha256: str
    location: Location
    file: str | None = None
    published: str | None = None

    def to_dict(self) -> dict[str, object]:
        entry: dict[str, object] = {"id": self.template_id, "version": self.version, "sha256": self.sha256}
        if self.file:
            entry["file"] = self.file
        if self.published:
            entry["published"] = self.published
        return entry


@dataclass
class PublishResult:
    """The outcome of `publish`: versions newly recorded, versions already recorded, and problems."""

    lock: Path
    added: list[PublishedEntry] = field(default_factory=list)
    unchanged: list[PublishedEntry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def find_lock(folder: Path) -> Path | None:
    """Return the nearest ``published.lock`` in `folder` or above it, up to the git repository root."""
    folder = folder.resolve()
    for candidate in (folder, *folder.parents):
        lock = candidate / LOCK_NAME
        if lock.is_file():
            return _shortest(lock)
        if (candidate / ".git").exists():
            return None
    return None


def _shortest(path: Path) -> Path:
    """Return `path` relative to the working folder when it is inside it, so messages stay short."""
    try:
        return path.relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def read_lock(path: Path) -> tuple[list[PublishedEntry], list[Problem]]:
    """Read a lock file into its entries; problems with the file itself come back, not raised."""
    try:
        document = load_document(path)
    except SvcplanError as error:
        return [], list(error.problems)
    problems = check_kind(document, ("published-templates",)) or check_schema(document, "published")
    if problems:
        return [], problems
    entries: list[PublishedEntry] = []
    seen: dict[tuple[str, int], Location] = {}
    for index, data in enumerate(document.data["templates"]):
        location = document.location(("templates", index))
        key = (data["id"], data["version"])
        if key in seen:
            problems.append(Problem(
                location, "duplicate-published-version",
                f"template {data['id']!r} version {data['version']} is recorded twice; the first is at {seen[key]}",
                Severity.ERROR, ("templates", index), data["version"],
                "delete one of the two entries, keeping the one whose sha256 matches the published content",
            ))
            continue
        seen[key] = location
        entries.append(PublishedEntry(data["id"], data["version"], data["sha256"], location,
                                      data.get("file"), data.get("published")))
    return entries, problems


def _compare(candidate: PublishedCandidate, entries: list[PublishedEntry], lock: Path) -> Problem | None:
    """Return the problem of one template version against the entries of its lock file, if any."""
    same_id = [entry for entry in entries if entry.template_id == candidate.template_id]
    recorded = next((entry for entry in same_id if entry.version == candidate.version), None)
    highest = max((entry.version for entry in same_id), default=0)
    if recorded is not None:
        if recorded.sha256 == candidate.content_hash:
            return None
        return Problem(
            candidate.location, "published-version-changed",
            f"template {candidate.template_id!r} version {candidate.version} was published with other content "
            f"(sha256 {recorded.sha256[:12]}… at {recorded.location}); its content is now "
            f"sha256 {candidate.content_hash[:12]}…",
            Severity.ERROR, ("version",), candidate.version,
            f"plans made from version {candidate.version} keep the published content: set version: {highest + 1} "
            f"and run 'svcplan template publish', or undo the change (the template or an item type it uses)",
        )
    if candidate.version < highest:
        return Problem(
            candidate.location, "version-below-published",
            f"template {candidate.template_id!r} version {candidate.version} is lower than its published "
            f"version {highest} ({lock}), and version {candidate.version} was never published",
            Severity.ERROR, ("version",), candidate.version,
            f"set version: {highest + 1}; a new version must be higher than every published one",
        )
    return None


def check_published(candidates: Iterable[PublishedCandidate]) -> list[Problem]:
    """Compare template versions with the lock files that cover them (see the module documentation)."""
    problems: list[Problem] = []
    locks: dict[Path, list[PublishedEntry]] = {}
    lock_of_folder: dict[Path, Path | None] = {}
    for candidate in candidates:
        folder = Path(candidate.location.file).parent
        if folder not in lock_of_folder:
            lock_of_folder[folder] = find_lock(folder)
        lock = lock_of_folder[folder]
        if lock is None:
            continue
        if lock not in locks:
            entries, lock_problems = read_lock(lock)
            locks[lock] = entries
            problems.extend(lock_problems)
        problem = _compare(candidate, locks[lock], lock)
        if problem is not None:
            problems.append(problem)
    return problems


def publish(library: "Library", lock: Path, *, today: date | None = None) -> PublishResult:
    """Record every template version of `library` in the lock file `lock`, writing it only if all is well.

    A version already recorded with the same content is left as it is. A version
    recorded with other content, or lower than a published version, is a problem,
    and then nothing is written.
    """
    result = PublishResult(lock)
    entries: list[PublishedEntry] = []
    if lock.exists():
        entries, result.problems = read_lock(lock)
        if result.problems:
            return result
    published_on = (today or date.today()).isoformat()
    for template_id in sorted(library.templates):
        for version, template in sorted(library.templates[template_id].items()):
            candidate = PublishedCandidate(template_id, version, template.content_hash, template.location)
            problem = _compare(candidate, entries, lock)
            if problem is not None:
                result.problems.append(problem)
                continue
            recorded = next((e for e in entries if (e.template_id, e.version) == (template_id, version)), None)
            if recorded is not None:
                result.unchanged.append(recorded)
                continue
            file = os.path.relpath(Path(template.location.file).resolve(), lock.resolve().parent)
            result.added.append(PublishedEntry(template_id, version, template.content_hash, Location(str(lock)),
                                               Path(file).as_posix(), published_on))
    if result.problems or not result.added:
        return result
    write_lock(lock, [*entries, *result.added])
    return result


def write_lock(path: Path, entries: Iterable[PublishedEntry]) -> None:
    """Write the lock file, sorted by template id and version, replacing it in one step."""
    ordered = sorted(entries, key=lambda entry: (entry.template_id, entry.version))
    document = {"svcplan": 1, "kind": "published-templates", "templates": [entry.to_dict() for entry in ordered]}
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if not path.parent.is_dir():
        raise SvcplanError.single(Location(str(path)), "unwritable", "the lock file's folder does not exist",
                                  hint="create the folder first, or give --lock a path in an existing folder")
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as error:
        raise SvcplanError.single(Location(str(path)), "unwritable",
                                  f"the lock file cannot be written: {error.strerror}",
                                  hint="give --lock a path in a folder svcplan may write to") from None
    try:
        # mkstemp creates the file readable by its owner only; the lock file is
        # committed and shared, so it gets the permissions the umask allows.
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(handle, 0o666 & ~umask)
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise SvcplanError.single(Location(str(path)), "unwritable",
                                  f"the lock file cannot be written: {error.strerror}",
                                  hint="give --lock a path in a folder svcplan may write to") from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
