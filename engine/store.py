"""Plans and their change history in a database: an SQLite file by default, or PostgreSQL.

A store keeps each plan as one JSON document with a version number, and every
change to it as an event. Saving uses optimistic concurrency: a save names the
version it was based on and is rejected with `concurrent-change` when someone
saved a newer one, so no change is silently overwritten. A plan document and its
events are written in one transaction.

The schema comes from numbered migrations, `migrations/NNNN_name.BACKEND.sql`,
applied in one transaction when a store opens and recorded in `schema_migrations`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, ClassVar, Protocol
from urllib.parse import urlsplit, urlunsplit

from . import __version__
from .errors import Location, RejectedChange, SvcplanError
from .plan import Plan
from .progress import Applied

log = logging.getLogger(__name__)

DEFAULT_TARGET = "./svcplan.db"
TARGET_ENVIRONMENT_VARIABLE = "SVCPLAN_DB"
BACKENDS = ("sqlite", "postgresql")

_SQLITE_HEADER = b"SQLite format 3\x00"
# Any fixed key works; it only has to be the same in every svcplan process.
_MIGRATION_LOCK_KEY = 0x5356_4350_4C41_4E01
_LIST_PLANS_HINT = "`svcplan plan list` lists the stored plans and their ids"
# Plan ids are SQLite INTEGER and PostgreSQL bigint values: signed 64-bit integers.
_LARGEST_ID = 2**63 - 1


# --- values -----------------------------------------------------------------


@dataclass(frozen=True)
class PlanSummary:
    """One stored plan as `Store.list_plans` returns it: identity, state and last change."""

    id: int
    template_id: str
    template_version: int
    case_reference: str | None
    status: str
    version: int
    updated_at: datetime
    updated_by: str
    cloned_from: int | None = None
    """The id of the plan this one was cloned from, or None for the first plan of a series."""
    series_version: int = 1
    """The plan's place in its series: 1 for an original plan, one more for each clone."""


@dataclass(frozen=True)
class Event:
    """One recorded change to a plan; `seq` counts from 1 within the plan and `at` is in UTC."""

    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    before: Mapping[str, Any]
    after: Mapping[str, Any]


@dataclass(frozen=True)
class Baseline:
    """A named snapshot of a plan as it was at one version; `taken_at` is in UTC.

    `automatic` is true for a baseline that svcplan took itself (on submission or
    approval), false for one a user asked for.
    """

    plan_id: int
    name: str
    plan_version: int
    automatic: bool
    taken_at: datetime
    taken_by: str
    document: Mapping[str, Any]

    def plan(self) -> Plan:
        """Return the plan as the baseline recorded it."""
        return Plan.from_dict({**self.document, "id": self.plan_id, "version": self.plan_version})


@dataclass(frozen=True)
class PlanRecord:
    """Everything a store keeps about one plan: the plan, its row's metadata, its events and baselines.

    `plan` is the JSON form of `Plan` with its id and version. This is what an
    export carries and what an import writes back unchanged.
    """

    plan: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime
    updated_by: str
    cloned_from: int | None
    series_version: int
    events: tuple[Event, ...]
    baselines: tuple[Baseline, ...]

    @property
    def plan_id(self) -> int:
        return int(self.plan["id"])


@dataclass(frozen=True)
class Migration:
    """One schema step: its version, its name, and its SQL script for each backend."""

    version: int
    name: str
    scripts: Mapping[str, str]


_MIGRATION_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.(sqlite|postgresql)\.sql$")


def load_migrations() -> tuple[Migration, ...]:
    """Read the migration scripts shipped in the package folder `migrations/`, by version.

    Returns an empty tuple when the folder is missing. `Store` checks the result
    on open, so a broken installation fails there and not on import.
    """
    folder = resources.files(__package__).joinpath("migrations")
    if not folder.is_dir():
        return ()
    found: dict[int, tuple[str, dict[str, str]]] = {}
    for entry in folder.iterdir():
        match = _MIGRATION_FILE.match(entry.name)
        if match is None:
            continue
        version, name, backend = int(match[1]), match[2], match[3]
        known_name, scripts = found.setdefault(version, (name, {}))
        if known_name != name:
            raise RuntimeError(f"migration {version} has two names: {known_name!r} and {name!r}")
        scripts[backend] = entry.read_text("utf-8")
    return tuple(Migration(version, name, MappingProxyType(scripts))
                 for version, (name, scripts) in sorted(found.items()))


MIGRATIONS: tuple[Migration, ...] = load_migrations()


def _check_migrations(migrations: Sequence[Migration]) -> None:
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected or set(migration.scripts) != set(BACKENDS):
            raise RuntimeError(
                f"svcplan's migration scripts are incomplete at version {expected}: each version from 1 on "
                f"needs a script for each of {', '.join(BACKENDS)}; reinstall svcplan")
    if not migrations:
        raise RuntimeError("svcplan was installed without its migration scripts (svcplan/migrations/*.sql); "
                           "reinstall svcplan")


# --- choosing a target ------------------------------------------------------


def default_target(explicit: str | None) -> str:
    """Return the store target to use: `explicit` (the --db option), else $SVCPLAN_DB, else ./svcplan.db."""
    return explicit or os.environ.get(TARGET_ENVIRONMENT_VARIABLE) or DEFAULT_TARGET


def redact(target: str) -> str:
    """Return `target` with any password in it replaced by `***`, for messages and logs."""
    parts = urlsplit(target)
    if not parts.scheme or not parts.netloc:
        return target
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, hostinfo = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}:***@{hostinfo}"
    query = re.sub(r"(?i)(password=)[^&]*", r"\1***", parts.query)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def open_store(target: str | Path, *, timeout: float = 10.0, create: bool = True) -> Store:
    """Open the store at `target`, creating or upgrading its schema, and return it.

    A `postgresql://` or `postgres://` URL opens PostgreSQL, and a file path or
    `sqlite:///PATH` opens SQLite (four slashes for an absolute path). `timeout`
    is how many seconds a write waits for another writer's lock before failing
    with `store-busy`. With `create` false, a target that contains no svcplan schema
    yet (a missing SQLite file, or a database without svcplan's tables) is refused
    with `store-not-found` and left as it was: no file or table is created. An
    existing store of an older schema version is still upgraded. Raises
    `SvcplanError` when the target cannot be used.
    """
    if isinstance(target, Path):
        return SqliteStore(target, timeout=timeout, create=create)
    scheme, separator, rest = target.partition("://")
    if not separator:
        return SqliteStore(Path(target), timeout=timeout, create=create)
    scheme = scheme.lower()
    if scheme in ("postgresql", "postgres"):
        return PostgresStore(target, timeout=timeout, create=create)
    if scheme == "sqlite" and rest.startswith("/") and len(rest) > 1:
        return SqliteStore(Path(rest[1:]), timeout=timeout, create=create)
    raise SvcplanError.single(
        Location(redact(target)), "unsupported-store",
        f"cannot open the store {redact(target)!r}: it is neither a file path nor a postgresql:// URL",
        value=redact(target),
        hint="give a file path such as ./svcplan.db, sqlite:///svcplan.db, or postgresql://USER@HOST:PORT/DATABASE")


# --- the store ---------------------------------------------------------------


class _Cursor(Protocol):
    """The part of a DB-API cursor the store uses; sqlite3 and psycopg cursors both have it."""

    @property
    def rowcount(self) -> int: ...

    def execute(self, statement: Any, parameters: Any = ..., /) -> Any: ...

    def executemany(self, statement: Any, parameters: Any, /) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


def _now() -> datetime:
    # NOTE: event times come from the clock of the process that writes them, so with
    # several machines on one PostgreSQL database they follow `seq` only as far as
    # those clocks agree. `seq` is the authoritative order.
    return datetime.now(timezone.utc)


def _check_actor(actor: str) -> None:
    if not isinstance(actor, str) or not actor.strip():
        raise ValueError(f"actor must be a non-empty string naming who makes the change, not {actor!r}")


def _document_json(plan: Plan) -> str:
    # The id and version live in their own columns only, so they cannot disagree with the document.
    document = plan.to_dict()
    del document["id"], document["version"]
    return json.dumps(document, ensure_ascii=False)


def _event_rows(events: Sequence[Applied]) -> list[tuple[str, str, str, str]]:
    """Serialize events before any write, so an invalid event fails with nothing written."""
    rows = []
    for event in events:
        if not event.action or not event.target:
            raise ValueError(f"an event needs an action and a target, got {event!r}")
        rows.append((event.action, event.target,
                     json.dumps(dict(event.before), ensure_ascii=False),
                     json.dumps(dict(event.after), ensure_ascii=False)))
    return rows


def _opened_event(plan: Plan) -> Applied:
    return Applied("plan.opened", "plan", {}, {
        "template": plan.template_id,
        "template_version": plan.template_version,
        "template_hash": plan.template_hash,
        "case_reference": plan.case.get("reference"),
        "case_worker": plan.case_worker,
        "status": plan.status,
    })


def _with_identity(plan: Plan, plan_id: int, version: int) -> Plan:
    return Plan.from_dict({**plan.to_dict(), "id": plan_id, "version": version})


class Store(ABC):
    """A database of plans and their events; `open_store` returns one of its backends.

    One store has one connection and is for one thread. Separate stores, in the
    same process or in others, may work on the same database at the same time.
    """

    backend: ClassVar[str]

    def __init__(self, label: str, *, create: bool = True) -> None:
        self.label = label
        """The target as shown in messages and logs, without any password."""
        self._create = create
        self._schema_version = 0
        self._closed = False
        _check_migrations(MIGRATIONS)

    # --- public interface -------------------------------------------------

    @property
    def schema_version(self) -> int:
        """The schema version of the open database, after migrations."""
        return self._schema_version

    def create_plan(self, plan: Plan, *, actor: str, applied: Applied | None = None) -> Plan:
        """Store `plan` as a new plan with the next id and version 1, and return the stored value.

        Writes the event `plan.opened` (seq 1) and then `applied`, when given, as
        seq 2, for a caller that wants to record how the plan was made (a clone,
        for example). `plan` itself is not changed; it must not have an id yet.
        """
        if plan.id is not None:
            raise ValueError(f"plan {plan.id} is already stored; change it with save_plan, "
                             "or set its id to None to store a copy as a new plan")
        _check_actor(actor)
        opened = _opened_event(plan)
        rows = _event_rows([opened] if applied is None else [opened, applied])
        now = _now()
        with self._write() as cursor:
            plan_id = self._insert_plan(cursor, plan, actor, now)
            self._insert_events(cursor, plan_id, 1, rows, actor, now)
        log.info("%s created plan %d from template %s v%d in %s", actor, plan_id, plan.template_id,
                 plan.template_version, self.label)
        return _with_identity(plan, plan_id, 1)

    def load_plan(self, plan_id: int) -> Plan:
        """Return the stored plan with this id; raise `SvcplanError` (`unknown-plan`) when there is none."""
        self._check_plan_id(plan_id)
        with self._read() as cursor:
            cursor.execute(self._sql("SELECT version, document FROM plans WHERE id = ?"), (plan_id,))
            row = cursor.fetchone()
        if row is None:
            raise self._unknown_plan(plan_id)
        data = dict(self._json_value(row[1]))
        data["id"] = plan_id
        data["version"] = int(row[0])
        return Plan.from_dict(data)

    def save_plan(
        self, plan: Plan, *, expected_version: int, actor: str, events: Sequence[Applied],
        actors: Sequence[str] | None = None,
    ) -> Plan:
        """Store `plan` as the next version of a stored plan, with `events` saying what changed.

        `actor` is recorded as the plan's last updater and as every event's author,
        unless `actors` names each event's author in order (a progress file whose
        changes were made by several users).

        The write succeeds only while the stored version is still `expected_version`.
        Otherwise it raises `RejectedChange` (`concurrent-change`) that names who
        saved the newer version, when and with which action, and writes nothing.
        The plan and its events are written in one transaction. Returns the stored
        plan at version `expected_version + 1`. Every save needs at least one event,
        so that each version has a cause in the history.
        """
        if plan.id is None:
            raise ValueError("the plan has no id yet; store a new plan with create_plan")
        self._check_plan_id(plan.id)
        if not events:
            raise ValueError(f"save_plan needs at least one event describing the change to plan {plan.id}")
        _check_actor(actor)
        authors = list(actors) if actors is not None else [actor] * len(events)
        if len(authors) != len(events):
            raise ValueError(f"save_plan got {len(events)} events but {len(authors)} actors")
        for author in authors:
            _check_actor(author)
        rows = _event_rows(events)
        document = _document_json(plan)
        now = _now()
        with self._write() as cursor:
            cursor.execute(self._sql(
                "UPDATE plans SET template_id = ?, template_version = ?, template_hash = ?, case_reference = ?,"
                " status = ?, version = ?, document = ?, updated_at = ?, updated_by = ?"
                " WHERE id = ? AND version = ?"),
                (plan.template_id, plan.template_version, plan.template_hash, plan.case.get("reference"),
                 plan.status, expected_version + 1, document, self._time_parameter(now), actor,
                 plan.id, expected_version))
            if cursor.rowcount != 1:
                raise self._conflict(cursor, plan.id, expected_version)
            # The UPDATE holds the plan's row lock (SQLite: the database write lock) until
            # commit, so no other writer can take the same seq numbers meanwhile.
            cursor.execute(self._sql("SELECT COALESCE(MAX(seq), 0) FROM events WHERE plan_id = ?"), (plan.id,))
            last_seq = int(cursor.fetchone()[0])
            self._insert_events(cursor, plan.id, last_seq + 1, rows, authors, now)
        log.info("%s saved plan %d version %d with %d events in %s", actor, plan.id, expected_version + 1,
                 len(rows), self.label)
        return _with_identity(plan, plan.id, expected_version + 1)

    def list_plans(self) -> list[PlanSummary]:
        """Return a summary of every stored plan, by id."""
        with self._read() as cursor:
            cursor.execute("SELECT id, template_id, template_version, case_reference, status, version,"
                           " updated_at, updated_by, cloned_from, series_version FROM plans ORDER BY id")
            rows = cursor.fetchall()
        return [PlanSummary(int(row[0]), row[1], int(row[2]), row[3], row[4], int(row[5]),
                            self._time_value(row[6]), row[7], None if row[8] is None else int(row[8]), int(row[9]))
                for row in rows]

    def history(self, plan_id: int) -> list[Event]:
        """Return every event of a plan in the order it was recorded; raise `unknown-plan` when absent."""
        self._check_plan_id(plan_id)
        with self._read() as cursor:
            cursor.execute(self._sql('SELECT seq, at, actor, action, target, "before", "after" FROM events'
                                     " WHERE plan_id = ? ORDER BY seq"), (plan_id,))
            rows = cursor.fetchall()
            if not rows:
                cursor.execute(self._sql("SELECT 1 FROM plans WHERE id = ?"), (plan_id,))
                if cursor.fetchone() is None:
                    raise self._unknown_plan(plan_id)
        return [Event(int(row[0]), self._time_value(row[1]), row[2], row[3], row[4],
                      self._json_value(row[5]), self._json_value(row[6])) for row in rows]

    # --- baselines, clones, export and import -------------------------------

    def add_baseline(self, plan: Plan, name: str, *, actor: str, automatic: bool = False) -> Baseline:
        """Store a baseline of `plan` under `name`, with the event `plan.baseline-taken`.

        `plan` must be the stored plan at its current version, so that the baseline
        shows a state the store really had; otherwise this raises `concurrent-change`.
        A name is unique within a plan: a second manual baseline with a taken name is
        rejected (`baseline-exists`), while an automatic one gets the first free name
        of `NAME-2`, `NAME-3`, ... so that a plan submitted twice keeps both snapshots.
        Taking a baseline does not change the plan's version.
        """
        if plan.id is None:
            raise ValueError("the plan has no id yet; store it with create_plan before taking a baseline")
        self._check_plan_id(plan.id)
        _check_actor(actor)
        name = name.strip() if isinstance(name, str) else ""
        if not name:
            raise SvcplanError.single(Location(f"plan {plan.id}"), "invalid-baseline-name",
                                      "a baseline needs a name", hint="give a name such as 'before-review'")
        document = _document_json(plan)
        now = _now()
        with self._write() as cursor:
            version = self._lock_plan(cursor, plan.id)
            if version != plan.version:
                raise self._conflict(cursor, plan.id, plan.version)
            cursor.execute(self._sql("SELECT name FROM baselines WHERE plan_id = ?"), (plan.id,))
            taken = {row[0] for row in cursor.fetchall()}
            chosen = name
            if chosen in taken:
                if not automatic:
                    raise SvcplanError.single(
                        Location(f"plan {plan.id}"), "baseline-exists",
                        f"plan {plan.id} already has a baseline named {name!r}", value=name,
                        hint=f"choose another name; `svcplan plan baselines {plan.id}` lists the names taken")
                chosen = next(f"{name}-{n}" for n in range(2, len(taken) + 3) if f"{name}-{n}" not in taken)
            cursor.execute(self._sql(
                "INSERT INTO baselines (plan_id, name, plan_version, automatic, taken_at, taken_by, document)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)"),
                (plan.id, chosen, version, automatic, self._time_parameter(now), actor, document))
            event = Applied("plan.baseline-taken", f"baseline:{chosen}", {},
                            {"name": chosen, "plan_version": version, "automatic": automatic})
            self._append_events(cursor, plan.id, _event_rows([event]), actor, now)
        log.info("%s took baseline %r of plan %d version %d in %s", actor, chosen, plan.id, version, self.label)
        return Baseline(plan.id, chosen, version, automatic, now, actor, json.loads(document))

    def baselines(self, plan_id: int) -> list[Baseline]:
        """Return every baseline of a plan, oldest first; raise `unknown-plan` when the plan is absent."""
        self._check_plan_id(plan_id)
        with self._read() as cursor:
            baselines = self._select_baselines(cursor, plan_id)
            if not baselines:
                cursor.execute(self._sql("SELECT 1 FROM plans WHERE id = ?"), (plan_id,))
                if cursor.fetchone() is None:
                    raise self._unknown_plan(plan_id)
        return baselines

    def baseline(self, plan_id: int, name: str) -> Baseline:
        """Return one baseline of a plan by name; raise `unknown-baseline` (or `unknown-plan`) when absent."""
        found = self.baselines(plan_id)
        for baseline in found:
            if baseline.name == name:
                return baseline
        names = ", ".join(repr(b.name) for b in found) or "none yet"
        raise SvcplanError.single(Location(self.label), "unknown-baseline",
                                  f"plan {plan_id} has no baseline named {name!r}", value=name,
                                  hint=f"baselines of plan {plan_id}: {names}")

    def clone_plan(self, plan_id: int, *, actor: str, expected_version: int | None = None) -> tuple[Plan, Plan]:
        """Copy a plan, with its progress, into a new plan of the same series, and close the old one.

        Everything happens in one transaction: the new plan gets the next id, status
        `open`, `cloned_from` = `plan_id` and the next series version, and the events
        `plan.opened` and `plan.cloned`; the old plan gets status `closed` and the
        event `plan.closed` naming the new plan. A closed plan cannot be cloned
        (`plan-closed`). With `expected_version`, the clone is rejected with
        `concurrent-change` unless the stored plan is still at that version.
        Returns the closed old plan and the new plan.
        """
        self._check_plan_id(plan_id)
        _check_actor(actor)
        now = _now()
        with self._write() as cursor:
            version = self._lock_plan(cursor, plan_id)
            if expected_version is not None and version != expected_version:
                raise self._conflict(cursor, plan_id, expected_version)
            old = self._load_in(cursor, plan_id)
            cursor.execute(self._sql("SELECT series_version FROM plans WHERE id = ?"), (plan_id,))
            series_version = int(cursor.fetchone()[0]) + 1
            if old.status == "closed":
                raise RejectedChange.single(
                    Location(f"plan {plan_id}"), "plan-closed", f"plan {plan_id} is closed, so it cannot be cloned",
                    value=plan_id, hint="clone the newest plan of the series; `svcplan plan list` shows which are open")
            # NOTE: the copy keeps the whole document and only resets the status to open.
            # Lifecycle state in the document, such as agreements, is copied as it is.
            copy = Plan.from_dict({**old.to_dict(), "id": None, "version": 0, "status": "open"})
            new_id = self._insert_plan(cursor, copy, actor, now, cloned_from=plan_id, series_version=series_version)
            cloned = Applied("plan.cloned", "plan", {}, {"from_plan": plan_id, "series_version": series_version})
            self._insert_events(cursor, new_id, 1, _event_rows([_opened_event(copy), cloned]), actor, now)

            closed = Plan.from_dict({**old.to_dict(), "status": "closed"})
            cursor.execute(self._sql(
                "UPDATE plans SET status = ?, version = ?, document = ?, updated_at = ?, updated_by = ?"
                " WHERE id = ? AND version = ?"),
                ("closed", version + 1, _document_json(closed), self._time_parameter(now), actor, plan_id, version))
            event = Applied("plan.closed", "plan", {"status": old.status},
                            {"status": "closed", "cloned_to": new_id})
            self._append_events(cursor, plan_id, _event_rows([event]), actor, now)
        log.info("%s cloned plan %d into plan %d (series version %d) and closed plan %d in %s",
                 actor, plan_id, new_id, series_version, plan_id, self.label)
        return _with_identity(closed, plan_id, version + 1), _with_identity(copy, new_id, 1)

    def plan_record(self, plan_id: int) -> PlanRecord:
        """Return a consistent copy of everything stored about a plan, for an export.

        The plan's row is locked while it is read, so no event or baseline of that
        plan can be written between the reads.
        """
        self._check_plan_id(plan_id)
        with self._write() as cursor:
            self._lock_plan(cursor, plan_id, share=True)
            plan = self._load_in(cursor, plan_id)
            cursor.execute(self._sql("SELECT created_at, updated_at, updated_by, cloned_from, series_version"
                                     " FROM plans WHERE id = ?"), (plan_id,))
            row = cursor.fetchone()
            cursor.execute(self._sql('SELECT seq, at, actor, action, target, "before", "after" FROM events'
                                     " WHERE plan_id = ? ORDER BY seq"), (plan_id,))
            events = tuple(Event(int(e[0]), self._time_value(e[1]), e[2], e[3], e[4],
                                 self._json_value(e[5]), self._json_value(e[6])) for e in cursor.fetchall())
            baselines = tuple(self._select_baselines(cursor, plan_id))
        return PlanRecord(plan.to_dict(), self._time_value(row[0]), self._time_value(row[1]), row[2],
                          None if row[3] is None else int(row[3]), int(row[4]), events, baselines)

    def import_records(self, records: Sequence[PlanRecord], *, new_ids: bool = False,
                       pause_seconds: float = 0.0) -> list[int]:
        """Write plans with their events and baselines exactly as recorded, all in one transaction.

        Each plan keeps its id when no stored plan has it. A taken id is rejected
        (`plan-exists`) unless `new_ids` is true, and then the plan gets the next
        free id. A `cloned_from` naming a plan of the same batch follows that plan's new id.
        Nothing else changes, so exporting an imported plan gives the same record.
        `pause_seconds` waits after each plan, inside the transaction; tests use it
        to stop a process while an import is under way. Returns the stored ids, in order.
        """
        renumbered: dict[int, int] = {}
        stored: list[int] = []
        with self._write() as cursor:
            for record in records:
                wanted = record.plan_id
                cursor.execute(self._sql("SELECT 1 FROM plans WHERE id = ?"), (wanted,))
                taken = cursor.fetchone() is not None
                if taken and not new_ids:
                    raise SvcplanError.single(
                        Location(self.label), "plan-exists",
                        f"cannot import plan {wanted}: {self.label} already has a plan with id {wanted}; "
                        "nothing was imported", value=wanted,
                        hint="import with --new-id to give the plan the next free id, or import into another store")
                plan_id = self._insert_record(cursor, record, None if taken else wanted, renumbered)
                renumbered[wanted] = plan_id
                stored.append(plan_id)
                log.debug("inserted plan %d (%d of %d) into %s, not yet committed", plan_id, len(stored),
                          len(records), self.label)
                if pause_seconds > 0:
                    time.sleep(pause_seconds)
            self._advance_plan_ids(cursor)
        log.info("imported %d plans into %s: %s", len(stored), self.label, ", ".join(map(str, stored)))
        return stored

    def close(self) -> None:
        """Close the connection; closing twice is harmless."""
        if not self._closed:
            self._closed = True
            self._close_connection()
            log.debug("closed store %s", self.label)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label}>"

    # --- shared steps -----------------------------------------------------

    def _insert_plan(self, cursor: _Cursor, plan: Plan, actor: str, now: datetime, *,
                     cloned_from: int | None = None, series_version: int = 1) -> int:
        cursor.execute(self._sql(
            "INSERT INTO plans (template_id, template_version, template_hash, case_reference, status, version,"
            " document, created_at, updated_at, updated_by, cloned_from, series_version)"
            " VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?) RETURNING id"),
            (plan.template_id, plan.template_version, plan.template_hash, plan.case.get("reference"),
             plan.status, _document_json(plan), self._time_parameter(now), self._time_parameter(now), actor,
             cloned_from, series_version))
        # NOTE: on PostgreSQL a rolled-back create still uses up its identity value, so
        # ids increase but may have gaps there. SQLite rolls its counter back too.
        return int(cursor.fetchone()[0])

    def _insert_record(self, cursor: _Cursor, record: PlanRecord, plan_id: int | None,
                       renumbered: Mapping[int, int]) -> int:
        """Insert one imported plan with `plan_id`, or the next free id when it is None, and return the id."""
        plan = Plan.from_dict(record.plan)
        cloned_from = renumbered.get(record.cloned_from, record.cloned_from) if record.cloned_from else None
        columns = ("template_id, template_version, template_hash, case_reference, status, version, document,"
                   " created_at, updated_at, updated_by, cloned_from, series_version")
        values: tuple[Any, ...] = (
            plan.template_id, plan.template_version, plan.template_hash, plan.case.get("reference"), plan.status,
            plan.version, _document_json(plan), self._time_parameter(record.created_at),
            self._time_parameter(record.updated_at), record.updated_by, cloned_from, record.series_version)
        if plan_id is None:
            cursor.execute(self._sql(f"INSERT INTO plans ({columns}) VALUES ({', '.join('?' * 12)}) RETURNING id"),
                           values)
        else:
            cursor.execute(self._sql(f"INSERT INTO plans (id, {columns}) {self._explicit_identity()}"
                                     f"VALUES ({', '.join('?' * 13)}) RETURNING id"), (plan_id, *values))
        new_id = int(cursor.fetchone()[0])
        statement = self._sql('INSERT INTO events (plan_id, seq, at, actor, action, target, "before", "after")'
                              " VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        for event in record.events:
            cursor.execute(statement, (new_id, event.seq, self._time_parameter(event.at), event.actor, event.action,
                                       event.target, json.dumps(dict(event.before), ensure_ascii=False),
                                       json.dumps(dict(event.after), ensure_ascii=False)))
        statement = self._sql("INSERT INTO baselines (plan_id, name, plan_version, automatic, taken_at, taken_by,"
                              " document) VALUES (?, ?, ?, ?, ?, ?, ?)")
        for baseline in record.baselines:
            cursor.execute(statement, (new_id, baseline.name, baseline.plan_version, baseline.automatic,
                                       self._time_parameter(baseline.taken_at), baseline.taken_by,
                                       json.dumps(dict(baseline.document), ensure_ascii=False)))
        return new_id

    def _lock_plan(self, cursor: _Cursor, plan_id: int, *, share: bool = False) -> int:
        """Lock a plan's row until the transaction ends and return its version; raise `unknown-plan`."""
        cursor.execute(self._sql(f"SELECT version FROM plans WHERE id = ?{self._row_lock(share)}"), (plan_id,))
        row = cursor.fetchone()
        if row is None:
            raise self._unknown_plan(plan_id)
        return int(row[0])

    def _load_in(self, cursor: _Cursor, plan_id: int) -> Plan:
        cursor.execute(self._sql("SELECT version, document FROM plans WHERE id = ?"), (plan_id,))
        row = cursor.fetchone()
        if row is None:
            raise self._unknown_plan(plan_id)
        return Plan.from_dict({**self._json_value(row[1]), "id": plan_id, "version": int(row[0])})

    def _select_baselines(self, cursor: _Cursor, plan_id: int) -> list[Baseline]:
        cursor.execute(self._sql("SELECT name, plan_version, automatic, taken_at, taken_by, document FROM baselines"
                                 " WHERE plan_id = ? ORDER BY taken_at, name"), (plan_id,))
        return [Baseline(plan_id, row[0], int(row[1]), bool(row[2]), self._time_value(row[3]), row[4],
                         self._json_value(row[5])) for row in cursor.fetchall()]

    def _append_events(self, cursor: _Cursor, plan_id: int, rows: Sequence[tuple[str, str, str, str]],
                       actor: str, at: datetime) -> None:
        """Insert events after the plan's last one; the caller holds the plan's row lock."""
        cursor.execute(self._sql("SELECT COALESCE(MAX(seq), 0) FROM events WHERE plan_id = ?"), (plan_id,))
        self._insert_events(cursor, plan_id, int(cursor.fetchone()[0]) + 1, rows, actor, at)

    def _insert_events(self, cursor: _Cursor, plan_id: int, first_seq: int,
                       rows: Sequence[tuple[str, str, str, str]], actors: str | Sequence[str], at: datetime) -> None:
        """Insert events from `first_seq` on; `actors` is one author for all, or one for each row."""
        statement = self._sql('INSERT INTO events (plan_id, seq, at, actor, action, target, "before", "after")'
                              " VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        authors = [actors] * len(rows) if isinstance(actors, str) else list(actors)
        for offset, (row, author) in enumerate(zip(rows, authors)):
            cursor.execute(statement, (plan_id, first_seq + offset, self._time_parameter(at), author, *row))

    def _check_plan_id(self, plan_id: int) -> None:
        """Raise `unknown-plan` for an id outside the 64-bit id column, which SQLite's driver cannot even send."""
        if isinstance(plan_id, int) and not -_LARGEST_ID - 1 <= plan_id <= _LARGEST_ID:
            raise self._unknown_plan(plan_id)

    def _unknown_plan(self, plan_id: int) -> SvcplanError:
        return SvcplanError.single(Location(self.label), "unknown-plan", f"no plan has the id {plan_id} in {self.label}",
                                   value=plan_id, hint=_LIST_PLANS_HINT)

    def _conflict(self, cursor: _Cursor, plan_id: int, expected_version: int) -> SvcplanError:
        cursor.execute(self._sql("SELECT version FROM plans WHERE id = ?"), (plan_id,))
        row = cursor.fetchone()
        if row is None:
            return self._unknown_plan(plan_id)
        current = int(row[0])
        cursor.execute(self._sql("SELECT actor, at, action, target FROM events WHERE plan_id = ?"
                                 " ORDER BY seq DESC LIMIT 1"), (plan_id,))
        latest = cursor.fetchone()
        if latest is None:
            newer = "an unrecorded change"
        else:
            at = self._time_value(latest[1])
            newer = f"{latest[0]} at {at:%Y-%m-%d %H:%M:%S} UTC ({latest[2]} on {latest[3]})"
        if expected_version < current:
            message = (f"plan {plan_id} was changed after you loaded version {expected_version}: "
                       f"version {current} was saved by {newer}, so your change was not saved")
        else:
            message = (f"plan {plan_id} is at version {current}, not version {expected_version}; "
                       f"its latest change was by {newer}, so your change was not saved")
        log.info("rejected a save of plan %d based on version %d: the stored version is %d",
                 plan_id, expected_version, current)
        return RejectedChange.single(Location(f"plan {plan_id}"), "concurrent-change", message,
                                     value=expected_version,
                                     hint=f"load plan {plan_id} again, check the newer change, then make yours again")

    def _migrate(self) -> None:
        """Bring the schema to the newest version this code supports, in one transaction.

        Raises `SvcplanError` without changing anything when the database belongs to
        another program or has a schema newer than this code supports.
        """
        migrations = MIGRATIONS
        with self._write() as cursor:
            self._lock_schema(cursor)
            current = self._schema_state(cursor, migrations)
            if current == 0 and not self._create:
                raise self._store_not_found()
            if current == 0:
                cursor.execute(self._schema_migrations_table())
            for migration in migrations[current:]:
                self._run_script(cursor, migration.scripts[self.backend])
                cursor.execute(self._sql("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"),
                               (migration.version, migration.name, self._time_parameter(_now())))
                log.info("applied migration %d (%s) to %s", migration.version, migration.name, self.label)
        self._schema_version = len(migrations)

    def _schema_state(self, cursor: _Cursor, migrations: Sequence[Migration]) -> int:
        """Return the schema version recorded in the database, 0 for a new one; raise if it is not usable."""
        tables = self._tables(cursor)
        if "schema_migrations" not in tables:
            # A PostgreSQL database may be shared with other programs, so only
            # svcplan's own table names count there. An SQLite file has one owner.
            foreign = tables if self.backend == "sqlite" else tables & {"plans", "events"}
            if foreign:
                raise self._not_a_store(f"it has tables ({', '.join(sorted(foreign))}) but no svcplan schema")
            return 0
        if not {"version", "name"} <= self._columns(cursor, "schema_migrations"):
            raise self._not_a_store("its table schema_migrations was made by another program")
        cursor.execute("SELECT version, name FROM schema_migrations ORDER BY version")
        recorded = [(int(row[0]), row[1]) for row in cursor.fetchall()]
        latest = recorded[-1][0] if recorded else 0
        if latest > len(migrations):
            raise SvcplanError.single(
                Location(self.label), "schema-too-new",
                f"{self.label} has schema version {latest}, but this svcplan ({__version__}) supports versions up to "
                f"{len(migrations)}; the database was left unchanged",
                value=latest, hint="use the newer svcplan release that wrote this database")
        if recorded != [(migration.version, migration.name) for migration in migrations[:latest]]:
            raise self._not_a_store(f"its schema_migrations records {recorded}, which are not svcplan's migrations")
        return latest

    def _store_not_found(self, message: str = "") -> SvcplanError:
        message = message or (f"{self.label} contains no svcplan store (no svcplan tables), and this command does not "
                              "create one; the database was left unchanged")
        return SvcplanError.single(
            Location(self.label), "store-not-found", message, value=self.label,
            hint="check --db or $SVCPLAN_DB; `svcplan plan new` creates the store with its first plan")

    def _not_a_store(self, reason: str) -> SvcplanError:
        return SvcplanError.single(Location(self.label), "not-a-store",
                                   f"{self.label} is not a svcplan database: {reason}; it was left unchanged",
                                   hint="give the path or URL of a svcplan database, or of a new one to create")

    # --- backend hooks ----------------------------------------------------

    @abstractmethod
    def _read(self) -> Any:
        """Return a context manager yielding a cursor for reads."""

    @abstractmethod
    def _write(self) -> Any:
        """Return a context manager yielding a cursor inside a write transaction.

        The transaction commits when the block ends and rolls back when it raises.
        """

    @abstractmethod
    def _sql(self, statement: str) -> str:
        """Return `statement`, written with `?` placeholders, in the driver's placeholder style."""

    @abstractmethod
    def _time_parameter(self, moment: datetime) -> object: ...

    @abstractmethod
    def _time_value(self, raw: Any) -> datetime: ...

    @abstractmethod
    def _json_value(self, raw: Any) -> Any: ...

    @abstractmethod
    def _tables(self, cursor: _Cursor) -> set[str]: ...

    @abstractmethod
    def _columns(self, cursor: _Cursor, table: str) -> set[str]: ...

    @abstractmethod
    def _lock_schema(self, cursor: _Cursor) -> None:
        """Serialize migrations between processes until the transaction ends."""

    @abstractmethod
    def _schema_migrations_table(self) -> str: ...

    @abstractmethod
    def _row_lock(self, share: bool) -> str:
        """Return the clause that locks the selected rows until the transaction ends."""

    @abstractmethod
    def _explicit_identity(self) -> str:
        """Return the clause an INSERT needs to set the plans' id column itself."""

    @abstractmethod
    def _advance_plan_ids(self, cursor: _Cursor) -> None:
        """Make the next generated plan id larger than every stored one, after ids were set explicitly."""

    @abstractmethod
    def _run_script(self, cursor: _Cursor, script: str) -> None: ...

    @abstractmethod
    def _close_connection(self) -> None: ...


# --- SQLite ------------------------------------------------------------------

# SQLite primary result codes of failures that a user or the machine can cause.
_SQLITE_BUSY_CODES = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
_SQLITE_NOT_A_DATABASE_CODES = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}
_SQLITE_ENVIRONMENT_CODES = {sqlite3.SQLITE_PERM, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL,
                             sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_AUTH}


class SqliteStore(Store):
    """A store in one SQLite file, in WAL mode so that readers and one writer work at once."""

    backend = "sqlite"

    def __init__(self, path: Path, *, timeout: float = 10.0, create: bool = True) -> None:
        super().__init__(str(path), create=create)
        self.path = path
        if not create and not path.is_dir() and not path.exists():
            raise self._store_not_found("no plan database exists at this path, and this command does not create one")
        self._check_path()
        try:
            # isolation_level=None leaves transactions to the explicit BEGIN in _write. Without
            # `create`, mode=rw makes SQLite fail rather than create a file removed meanwhile.
            database: str | Path = path if create else f"{path.absolute().as_uri()}?mode=rw"
            self._connection = sqlite3.connect(database, timeout=timeout, isolation_level=None, uri=not create)
        except sqlite3.Error as error:
            raise self._open_failed(str(error)) from error
        try:
            self._connection.execute("PRAGMA foreign_keys = ON")
            # Check before switching to WAL, because the journal mode is stored in the file.
            with self._read() as cursor:
                current = self._schema_state(cursor, MIGRATIONS)
            if current == 0 and not create:
                raise self._store_not_found()
            with self._translated():
                self._use_wal()
            self._migrate()
        except BaseException:
            self._connection.close()
            raise
        log.info("opened SQLite store %s at schema version %d", self.label, self.schema_version)

    def _check_path(self) -> None:
        """Reject a folder, an unreadable file or a file that is not SQLite before SQLite opens it."""
        path = self.path
        if path.is_dir():
            raise self._open_failed("it is a folder, not a file", f"give a file path such as {path / 'svcplan.db'}")
        if not path.exists():
            if not path.parent.is_dir():
                raise self._open_failed(f"the folder {path.parent} does not exist",
                                        "create the folder first, or give another path")
            return
        try:
            with path.open("rb") as file:
                header = file.read(len(_SQLITE_HEADER))
        except OSError as error:
            raise self._open_failed(f"the file cannot be read ({error.strerror})",
                                    "check the file's permissions, or give another path") from error
        if not os.access(path, os.W_OK):
            raise self._open_failed("the file is not writable", "check the file's permissions, or give another path")
        # SQLite treats an empty file as an empty database.
        if header and header != _SQLITE_HEADER:
            raise SvcplanError.single(Location(self.label), "not-a-store",
                                      f"{self.label} is not an SQLite database, so not a svcplan store; "
                                      "it was left unchanged",
                                      hint="give the path of a svcplan database, or of a new file to create")

    def _open_failed(self, reason: str, hint: str = "check the path and its permissions") -> SvcplanError:
        return SvcplanError.single(Location(self.label), "store-unavailable",
                                   f"cannot open the store {self.label}: {reason}", value=self.label, hint=hint)

    def _use_wal(self) -> None:
        mode = self._connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            # NOTE: WAL needs shared memory between processes, so SQLite cannot use it on
            # some network file systems. The store then works, but writers block readers.
            log.warning("SQLite kept journal mode %s for %s instead of WAL", mode, self.label)

    def _translate(self, error: sqlite3.Error) -> SvcplanError | None:
        code = getattr(error, "sqlite_errorcode", 0) & 0xFF
        if code in _SQLITE_BUSY_CODES:
            return SvcplanError.single(
                Location(self.label), "store-busy",
                f"{self.label} stayed locked by another writer past the timeout: {error}",
                hint="try again; if it persists, look for a svcplan process that is stuck or give a longer timeout")
        if code in _SQLITE_NOT_A_DATABASE_CODES:
            return SvcplanError.single(Location(self.label), "not-a-store",
                                       f"{self.label} is not a usable SQLite database: {error}",
                                       hint="restore the file from a backup, or give another path")
        if code in _SQLITE_ENVIRONMENT_CODES:
            return SvcplanError.single(Location(self.label), "store-failed", f"{self.label} failed: {error}",
                                       hint="check the file, its folder, its permissions and the free disk space")
        return None

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as error:
            translated = self._translate(error)
            if translated is None:
                raise
            raise translated from error

    def _cursor(self) -> sqlite3.Cursor:
        if self._closed:
            raise RuntimeError(f"the store {self.label} is closed")
        return self._connection.cursor()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Cursor]:
        with self._translated():
            cursor = self._cursor()
            try:
                yield cursor
            finally:
                cursor.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Cursor]:
        with self._translated():
            cursor = self._cursor()
            # IMMEDIATE takes the write lock at once, waiting up to the busy timeout. A deferred
            # transaction that read first fails at its first write with SQLITE_BUSY, without
            # waiting, when another connection wrote in between.
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
                cursor.execute("COMMIT")
            except BaseException:
                if self._connection.in_transaction:
                    self._connection.execute("ROLLBACK")
                raise
            finally:
                cursor.close()

    def _sql(self, statement: str) -> str:
        return statement

    def _time_parameter(self, moment: datetime) -> object:
        return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")

    def _time_value(self, raw: Any) -> datetime:
        return datetime.fromisoformat(raw).astimezone(timezone.utc)

    def _json_value(self, raw: Any) -> Any:
        return json.loads(raw)

    def _tables(self, cursor: _Cursor) -> set[str]:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        return {row[0] for row in cursor.fetchall()}

    def _columns(self, cursor: _Cursor, table: str) -> set[str]:
        cursor.execute("SELECT name FROM pragma_table_info(?)", (table,))
        return {row[0] for row in cursor.fetchall()}

    def _lock_schema(self, cursor: _Cursor) -> None:
        pass  # BEGIN IMMEDIATE already took the database's only write lock.

    def _schema_migrations_table(self) -> str:
        return ("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                " applied_at TEXT NOT NULL)")

    def _row_lock(self, share: bool) -> str:
        return ""  # BEGIN IMMEDIATE holds the database's only write lock.

    def _explicit_identity(self) -> str:
        return ""

    def _advance_plan_ids(self, cursor: _Cursor) -> None:
        pass  # AUTOINCREMENT raises its counter itself when a larger id is inserted.

    def _run_script(self, cursor: _Cursor, script: str) -> None:
        # executescript() would commit the open transaction first, so run one statement at a time.
        statement = ""
        for line in script.splitlines(keepends=True):
            statement += line
            if sqlite3.complete_statement(statement):
                cursor.execute(statement)
                statement = ""
        leftover = [line.strip() for line in statement.splitlines()
                    if line.strip() and not line.lstrip().startswith("--")]
        if leftover:
            raise RuntimeError(f"a migration script ends in an incomplete statement: {' '.join(leftover)[:80]!r}")

    def _close_connection(self) -> None:
        self._connection.close()


# --- PostgreSQL --------------------------------------------------------------


def _require_database_name(url: str, label: str) -> None:
    """Refuse a URL without a database name, which libpq would send to a default database."""
    parts = urlsplit(url)
    named = parts.path.strip("/") or re.search(r"(?:^|&)dbname=[^&]", parts.query)
    if not named:
        raise SvcplanError.single(
            Location(label), "unsupported-store",
            f"the PostgreSQL URL {label} names no database, so the server would pick a default one",
            value=label, hint="add the database name, as in postgresql://USER@HOST:PORT/DATABASE")


class PostgresStore(Store):
    """A store in a PostgreSQL database, reached through psycopg 3."""

    backend = "postgresql"

    def __init__(self, url: str, *, timeout: float = 10.0, create: bool = True) -> None:
        super().__init__(redact(url), create=create)
        _require_database_name(url, self.label)
        try:
            import psycopg
        except ImportError as error:
            raise SvcplanError.single(Location(self.label), "store-unavailable",
                                      f"cannot open the store {self.label}: the PostgreSQL driver psycopg is missing",
                                      hint="install svcplan with PostgreSQL support: pip install 'svcplan[postgresql]'",
                                      ) from error
        self._psycopg = psycopg
        password = urlsplit(url).password
        try:
            self._connection = psycopg.connect(url, autocommit=True, connect_timeout=max(1, round(timeout)),
                                               application_name="svcplan")
        except psycopg.Error as error:
            reason = " ".join(str(error).split())
            if password:
                reason = reason.replace(password, "***")
            raise SvcplanError.single(
                Location(self.label), "store-unavailable", f"cannot connect to the PostgreSQL store {self.label}: {reason}",
                value=self.label,
                hint="check that the server runs and the URL is right (postgresql://USER@HOST:PORT/DATABASE); "
                     "create the database first if it does not exist (createdb DATABASE)") from error
        try:
            with self._read() as cursor:
                # Waiting for another writer's row lock is bounded the way SQLite's busy timeout is.
                cursor.execute(f"SET lock_timeout = {max(1, round(timeout * 1000))}")
                cursor.execute("SET TIME ZONE 'UTC'")
            self._migrate()
        except BaseException:
            self._connection.close()
            raise
        log.info("opened PostgreSQL store %s at schema version %d", self.label, self.schema_version)

    def _translate(self, error: Exception) -> SvcplanError | None:
        errors = self._psycopg.errors
        if isinstance(error, errors.LockNotAvailable):
            return SvcplanError.single(
                Location(self.label), "store-busy",
                f"a plan in {self.label} stayed locked by another writer past the timeout",
                hint="try again; if it persists, look for a stuck session (pg_stat_activity) or give a longer timeout")
        if isinstance(error, self._psycopg.OperationalError):
            reason = " ".join(str(error).split())
            return SvcplanError.single(Location(self.label), "store-failed", f"{self.label} failed: {reason}",
                                       hint="check that the server runs and can be reached, then try again")
        return None

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except self._psycopg.Error as error:
            translated = self._translate(error)
            if translated is None:
                raise
            raise translated from error

    @contextmanager
    def _read(self) -> Iterator[Any]:
        if self._closed:
            raise RuntimeError(f"the store {self.label} is closed")
        with self._translated(), self._connection.cursor() as cursor:
            yield cursor

    @contextmanager
    def _write(self) -> Iterator[Any]:
        if self._closed:
            raise RuntimeError(f"the store {self.label} is closed")
        with self._translated(), self._connection.transaction(), self._connection.cursor() as cursor:
            yield cursor

    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s")

    def _time_parameter(self, moment: datetime) -> object:
        return moment

    def _time_value(self, raw: Any) -> datetime:
        return raw.astimezone(timezone.utc)

    def _json_value(self, raw: Any) -> Any:
        return raw  # psycopg decodes jsonb itself.

    def _tables(self, cursor: _Cursor) -> set[str]:
        cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
        return {row[0] for row in cursor.fetchall()}

    def _columns(self, cursor: _Cursor, table: str) -> set[str]:
        cursor.execute("SELECT column_name FROM information_schema.columns"
                       " WHERE table_schema = current_schema() AND table_name = %s", (table,))
        return {row[0] for row in cursor.fetchall()}

    def _lock_schema(self, cursor: _Cursor) -> None:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK_KEY,))

    def _schema_migrations_table(self) -> str:
        return ("CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL)")

    def _row_lock(self, share: bool) -> str:
        return " FOR SHARE" if share else " FOR UPDATE"

    def _explicit_identity(self) -> str:
        return "OVERRIDING SYSTEM VALUE "

    def _advance_plan_ids(self, cursor: _Cursor) -> None:
        # GREATEST keeps the sequence from moving back, so ids that rolled-back
        # transactions used up are not handed out again.
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('plans', 'id'), GREATEST("
            "(SELECT COALESCE(MAX(id), 1) FROM plans),"
            " COALESCE(pg_sequence_last_value(pg_get_serial_sequence('plans', 'id')::regclass), 1)))")

    def _run_script(self, cursor: _Cursor, script: str) -> None:
        # Without parameters psycopg sends the script as one simple query, which may contain several statements.
        cursor.execute(script)

    def _close_connection(self) -> None:
        self._connection.close()
