"""Tests of the plan store on real databases: an SQLite file and a fresh PostgreSQL database.

Plans come from the repository's templates and example cases through the real
pipeline, and changes through `apply_change`, so what is stored is what the CLI
stores.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

import svcplan.store as store_module
from svcplan.case import load_case
from svcplan.compile import Library, load_library
from svcplan.errors import RejectedChange, SvcplanError
from svcplan.instantiate import instantiate
from svcplan.plan import Plan
from svcplan.progress import Applied, Change, apply_change
from svcplan.store import (
    MIGRATIONS, Event, Migration, PlanSummary, PostgresStore, SqliteStore, Store, default_target, open_store, redact,
)

REPOSITORY = Path(__file__).resolve().parent.parent
TODAY = date(2027, 9, 15)
TEMPLATE_FOR_CASE = {
    "employment-reyes": "wioa-individual-employment-plan",
    "foster-care-whitlock": "foster-care-case-plan",
    "home-care-nakamura": "hcbs-person-centred-plan",
}


# --- helpers -------------------------------------------------------------------


@lru_cache(maxsize=1)
def library() -> Library:
    loaded = load_library([REPOSITORY / "templates"])
    assert not loaded.errors, loaded.errors
    return loaded


def new_plan(case_name: str = "employment-reyes") -> Plan:
    """Instantiate the example case's template, as `svcplan plan new` does."""
    case = load_case(REPOSITORY / "examples" / "cases" / f"{case_name}.yaml")
    return instantiate(library().template(TEMPLATE_FOR_CASE[case_name]), case).plan


def change(plan: Plan, action: str, **values: Any) -> tuple[Plan, Applied]:
    return apply_change(plan, Change(action, values), today=TODAY)


def is_postgresql(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


@contextmanager
def raw_connection(target: str) -> Iterator[Any]:
    """Yield a plain autocommit connection to the store's database, for checks the store API cannot make."""
    if is_postgresql(target):
        import psycopg

        with psycopg.connect(target, autocommit=True) as connection:
            yield connection
    else:
        connection = sqlite3.connect(target, isolation_level=None)
        try:
            yield connection
        finally:
            connection.close()


def query(target: str, statement: str) -> list[tuple[Any, ...]]:
    with raw_connection(target) as connection:
        return [tuple(row) for row in connection.execute(statement).fetchall()]


def execute(target: str, *statements: str) -> None:
    with raw_connection(target) as connection:
        for statement in statements:
            connection.execute(statement)


def table_names(target: str) -> set[str]:
    if is_postgresql(target):
        rows = query(target, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
    else:
        rows = query(target, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    return {row[0] for row in rows}


def database_state(target: str) -> dict[str, Any]:
    """Return what a rejected open must leave unchanged: tables, recorded migrations, plans and events."""
    tables = table_names(target)
    state: dict[str, Any] = {"tables": tables}
    if "schema_migrations" in tables:
        state["migrations"] = query(target, "SELECT * FROM schema_migrations ORDER BY 1")
    if "plans" in tables:
        state["plans"] = query(target, "SELECT * FROM plans ORDER BY 1")
    if "events" in tables:
        state["events"] = query(target, "SELECT * FROM events ORDER BY 1, 2")
    if not is_postgresql(target):
        state["journal_mode"] = query(target, "PRAGMA journal_mode")[0][0]
        state["sha256"] = hashlib.sha256(Path(target).read_bytes()).hexdigest()
    return state


def schema_migrations_ddl(target: str) -> str:
    time_type = "timestamptz" if is_postgresql(target) else "TEXT"
    return (f"CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
            f" applied_at {time_type} NOT NULL)")


def only_problem(error: SvcplanError) -> Any:
    assert len(error.problems) == 1, error.problems
    return error.problems[0]


# --- create and load -----------------------------------------------------------------


@pytest.mark.parametrize("case_name", sorted(TEMPLATE_FOR_CASE))
def test_create_load_round_trip(store: Store, case_name: str) -> None:
    plan = new_plan(case_name)
    original = plan.to_dict()

    created = store.create_plan(plan, actor="U-test")
    loaded = store.load_plan(created.id)

    assert created.id == 1
    assert created.version == 1
    assert created.to_dict() == {**original, "id": 1, "version": 1}
    assert loaded.to_dict() == created.to_dict()
    assert plan.to_dict() == original, "create_plan changed its argument"
    assert created is not plan


def test_create_assigns_sequential_ids(store: Store) -> None:
    ids = [store.create_plan(new_plan(name), actor="U-test").id for name in sorted(TEMPLATE_FOR_CASE)]

    assert ids == [1, 2, 3]
    assert [store.load_plan(plan_id).id for plan_id in ids] == ids


def test_create_rejects_stored_plan(store: Store) -> None:
    created = store.create_plan(new_plan(), actor="U-test")

    with pytest.raises(ValueError, match="already stored"):
        store.create_plan(created, actor="U-test")
    assert [summary.id for summary in store.list_plans()] == [1]


def test_create_rejects_empty_actor(store: Store) -> None:
    with pytest.raises(ValueError, match="actor"):
        store.create_plan(new_plan(), actor=" ")
    assert store.list_plans() == []


def test_create_records_opened_event(store: Store) -> None:
    plan = new_plan()
    started = datetime.now(timezone.utc)

    created = store.create_plan(plan, actor="U-spatel")
    events = store.history(created.id)

    assert len(events) == 1
    opened = events[0]
    assert opened.seq == 1
    assert opened.actor == "U-spatel"
    assert opened.action == "plan.opened"
    assert opened.target == "plan"
    assert opened.before == {}
    assert opened.after["template"] == plan.template_id
    assert opened.after["template_version"] == plan.template_version
    assert opened.after["case_reference"] == "WIOA-2027-1177"
    assert opened.at.tzinfo is not None
    assert opened.at.utcoffset() == timedelta(0)
    assert started - timedelta(seconds=1) <= opened.at <= datetime.now(timezone.utc) + timedelta(seconds=1)


def test_create_records_applied_after_opened(store: Store) -> None:
    applied = Applied("plan.cloned", "plan", {"from_plan": None}, {"from_plan": 7})

    created = store.create_plan(new_plan(), actor="U-spatel", applied=applied)
    events = store.history(created.id)

    assert [(event.seq, event.action) for event in events] == [(1, "plan.opened"), (2, "plan.cloned")]
    assert events[1].before == {"from_plan": None}
    assert events[1].after == {"from_plan": 7}
    assert store.load_plan(created.id).version == 1


def test_load_unknown_plan(store: Store) -> None:
    with pytest.raises(SvcplanError) as raised:
        store.load_plan(42)

    problem = only_problem(raised.value)
    assert problem.code == "unknown-plan"
    assert "42" in problem.message
    assert store.label in problem.message
    assert "svcplan plan list" in problem.hint


def test_history_unknown_plan(store: Store) -> None:
    with pytest.raises(SvcplanError) as raised:
        store.history(42)

    assert only_problem(raised.value).code == "unknown-plan"


# --- save and history --------------------------------------------------------------


def test_save_increments_version_and_records_events(store: Store) -> None:
    created = store.create_plan(new_plan(), actor="U-spatel")
    first_item, second_item = created.items[0].id, created.items[1].id
    changed, started = change(created, "item.start", item=first_item, on="2027-02-03")
    changed, costed = change(changed, "item.cost", item=second_item, estimated=120)

    saved = store.save_plan(changed, expected_version=1, actor="U-kowens", events=[started, costed])
    loaded = store.load_plan(created.id)
    events = store.history(created.id)

    assert saved.version == 2
    assert loaded.to_dict() == saved.to_dict()
    assert loaded.item(first_item).actual_start == date(2027, 2, 3)
    assert loaded.item(second_item).estimated_cost == 120.0
    assert [(event.seq, event.action, event.actor) for event in events] == [
        (1, "plan.opened", "U-spatel"), (2, "item.start", "U-kowens"), (3, "item.cost", "U-kowens")]
    assert (events[1].target, events[1].before, events[1].after) == (
        f"item:{first_item}", {"actual_start": None}, {"actual_start": "2027-02-03"})
    assert (events[2].target, events[2].before, events[2].after) == (
        f"item:{second_item}", {"estimated_cost": None}, {"estimated_cost": 120.0})
    assert events[1].at == events[2].at, "events of one save share its time"


def test_history_in_order_across_saves(store: Store) -> None:
    plan = store.create_plan(new_plan(), actor="U-spatel")
    actors = ["U-a", "U-b", "U-c", "U-a", "U-b"]
    for index, actor in enumerate(actors):
        plan, applied = change(plan, "item.cost", item=plan.items[0].id, estimated=100 + index)
        plan = store.save_plan(plan, expected_version=plan.version, actor=actor, events=[applied])

    events = store.history(plan.id)

    assert [event.seq for event in events] == list(range(1, len(actors) + 2))
    assert [event.actor for event in events] == ["U-spatel", *actors]
    assert [event.after.get("estimated_cost") for event in events[1:]] == [100.0, 101.0, 102.0, 103.0, 104.0]
    assert all(earlier.at <= later.at for earlier, later in zip(events, events[1:]))
    assert store.load_plan(plan.id).version == len(actors) + 1


def test_concurrent_save_rejected(store_target: str) -> None:
    with open_store(store_target) as first, open_store(store_target) as second:
        created = first.create_plan(new_plan(), actor="U-spatel")
        item_id = created.items[0].id
        mine = first.load_plan(created.id)
        theirs = second.load_plan(created.id)

        mine, started = change(mine, "item.start", item=item_id, on="2027-02-03")
        first.save_plan(mine, expected_version=1, actor="U-spatel", events=[started])
        theirs, costed = change(theirs, "item.cost", item=item_id, estimated=75)
        with pytest.raises(RejectedChange) as raised:
            second.save_plan(theirs, expected_version=1, actor="U-kowens", events=[costed])

        problem = only_problem(raised.value)
        newer = first.history(created.id)[-1]
        assert problem.code == "concurrent-change"
        assert "U-spatel" in problem.message
        assert "item.start" in problem.message
        assert f"{newer.at:%Y-%m-%d %H:%M:%S}" in problem.message
        assert "version 1" in problem.message
        assert "load plan" in problem.hint

        stored = second.load_plan(created.id)
        assert stored.version == 2
        assert stored.item(item_id).actual_start == date(2027, 2, 3)
        assert stored.item(item_id).estimated_cost is None
        assert [event.action for event in second.history(created.id)] == ["plan.opened", "item.start"]

        retried, costed = change(stored, "item.cost", item=item_id, estimated=75)
        second.save_plan(retried, expected_version=2, actor="U-kowens", events=[costed])
        final = first.load_plan(created.id)
        assert final.version == 3
        assert final.item(item_id).actual_start == date(2027, 2, 3)
        assert final.item(item_id).estimated_cost == 75.0


def test_save_with_version_ahead_rejected(store: Store) -> None:
    created = store.create_plan(new_plan(), actor="U-spatel")
    changed, applied = change(created, "item.cost", item=created.items[0].id, estimated=5)

    with pytest.raises(RejectedChange) as raised:
        store.save_plan(changed, expected_version=3, actor="U-kowens", events=[applied])

    problem = only_problem(raised.value)
    assert problem.code == "concurrent-change"
    assert "is at version 1, not version 3" in problem.message
    assert store.load_plan(created.id).version == 1


def test_save_unknown_plan(store: Store) -> None:
    plan = Plan.from_dict({**new_plan().to_dict(), "id": 42, "version": 1})
    _, applied = change(plan, "item.cost", item=plan.items[0].id, estimated=5)

    with pytest.raises(SvcplanError) as raised:
        store.save_plan(plan, expected_version=1, actor="U-test", events=[applied])

    assert only_problem(raised.value).code == "unknown-plan"
    assert store.list_plans() == []


def test_save_requires_events(store: Store) -> None:
    created = store.create_plan(new_plan(), actor="U-spatel")

    with pytest.raises(ValueError, match="at least one event"):
        store.save_plan(created, expected_version=1, actor="U-spatel", events=[])
    assert store.load_plan(created.id).version == 1


def test_save_rejects_plan_without_id(store: Store) -> None:
    with pytest.raises(ValueError, match="no id"):
        store.save_plan(new_plan(), expected_version=1, actor="U-spatel",
                        events=[Applied("item.cost", "item:x", {}, {})])


def test_invalid_event_writes_nothing(store: Store) -> None:
    created = store.create_plan(new_plan(), actor="U-spatel")
    changed, started = change(created, "item.start", item=created.items[0].id, on="2027-02-03")
    not_json = Applied("item.cost", "item:x", {}, {"estimated_cost": object()})

    with pytest.raises(TypeError):
        store.save_plan(changed, expected_version=1, actor="U-spatel", events=[started, not_json])

    assert store.load_plan(created.id).to_dict() == created.to_dict()
    assert len(store.history(created.id)) == 1


def _install_failing_event_trigger(target: str) -> None:
    """Make the database reject any event whose action is `test.fail`, as a failure in mid-transaction."""
    if is_postgresql(target):
        execute(target,
                "CREATE FUNCTION test_fail_event() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                " IF NEW.action = 'test.fail' THEN RAISE EXCEPTION 'test trigger rejected the event'; END IF;"
                " RETURN NEW; END $$",
                "CREATE TRIGGER test_fail_event BEFORE INSERT ON events"
                " FOR EACH ROW EXECUTE FUNCTION test_fail_event()")
    else:
        execute(target,
                "CREATE TRIGGER test_fail_event BEFORE INSERT ON events WHEN NEW.action = 'test.fail'"
                " BEGIN SELECT RAISE(ABORT, 'test trigger rejected the event'); END")


def test_failure_mid_transaction_rolls_back(store_target: str) -> None:
    import psycopg

    with open_store(store_target) as store:
        created = store.create_plan(new_plan(), actor="U-spatel")
        _install_failing_event_trigger(store_target)
        changed, started = change(created, "item.start", item=created.items[0].id, on="2027-02-03")
        failing = Applied("test.fail", "plan", {}, {})

        # The UPDATE of the plan and the first event are written before the second event fails.
        with pytest.raises((sqlite3.IntegrityError, psycopg.Error), match="test trigger rejected the event"):
            store.save_plan(changed, expected_version=1, actor="U-spatel", events=[started, failing])

        assert store.load_plan(created.id).to_dict() == created.to_dict()
        assert [event.action for event in store.history(created.id)] == ["plan.opened"]
        assert query(store_target, "SELECT version, updated_by FROM plans") == [(1, "U-spatel")]

        saved = store.save_plan(changed, expected_version=1, actor="U-kowens", events=[started])
        assert saved.version == 2
        assert [event.action for event in store.history(created.id)] == ["plan.opened", "item.start"]


def test_failure_in_create_rolls_back(store_target: str) -> None:
    import psycopg

    with open_store(store_target) as store:
        _install_failing_event_trigger(store_target)

        with pytest.raises((sqlite3.IntegrityError, psycopg.Error), match="test trigger rejected the event"):
            store.create_plan(new_plan(), actor="U-spatel", applied=Applied("test.fail", "plan", {}, {}))

        assert store.list_plans() == []
        assert query(store_target, "SELECT count(*) FROM events") == [(0,)]


def test_events_and_plans_are_kept(store: Store, store_target: str) -> None:
    import psycopg

    created = store.create_plan(new_plan(), actor="U-spatel")
    database_errors = (sqlite3.IntegrityError, psycopg.Error)

    with pytest.raises(database_errors):
        execute(store_target, "UPDATE events SET actor = 'someone-else'")
    with pytest.raises(database_errors):
        execute(store_target, "DELETE FROM events")
    with pytest.raises(database_errors):
        execute(store_target, "DELETE FROM plans")

    assert [event.actor for event in store.history(created.id)] == ["U-spatel"]
    assert store.load_plan(created.id).to_dict() == created.to_dict()


def test_list_plans(store: Store) -> None:
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    first = store.create_plan(new_plan("employment-reyes"), actor="U-spatel")
    second = store.create_plan(new_plan("home-care-nakamura"), actor="U-agarcia")
    changed, applied = change(first, "item.cost", item=first.items[0].id, estimated=10)
    store.save_plan(changed, expected_version=1, actor="U-kowens", events=[applied])

    summaries = store.list_plans()

    assert [summary.id for summary in summaries] == [first.id, second.id]
    reyes, nakamura = summaries
    assert isinstance(reyes, PlanSummary)
    assert (reyes.template_id, reyes.template_version) == (first.template_id, first.template_version)
    assert reyes.case_reference == "WIOA-2027-1177"
    assert nakamura.case_reference == "HCBS-2027-0092"
    assert (reyes.version, nakamura.version) == (2, 1)
    assert (reyes.updated_by, nakamura.updated_by) == ("U-kowens", "U-agarcia")
    assert (reyes.status, nakamura.status) == ("open", "open")
    assert reyes.updated_at.utcoffset() == timedelta(0)
    assert before <= nakamura.updated_at <= reyes.updated_at


def test_list_plans_empty(store: Store) -> None:
    assert store.list_plans() == []


def test_values_are_frozen(store: Store) -> None:
    created = store.create_plan(new_plan(), actor="U-spatel")
    event = store.history(created.id)[0]
    summary = store.list_plans()[0]

    assert isinstance(event, Event)
    with pytest.raises(AttributeError):
        event.actor = "someone-else"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        summary.version = 9  # type: ignore[misc]


def test_reopen_keeps_plans(store_target: str) -> None:
    with open_store(store_target) as store:
        created = store.create_plan(new_plan("foster-care-whitlock"), actor="U-jmoreno")

    with open_store(store_target) as reopened:
        assert reopened.load_plan(created.id).to_dict() == created.to_dict()
        assert [event.action for event in reopened.history(created.id)] == ["plan.opened"]


def test_closed_store_rejects_use(store_target: str) -> None:
    store = open_store(store_target)
    store.close()
    store.close()

    with pytest.raises(RuntimeError, match="closed"):
        store.list_plans()


def test_write_waits_then_reports_busy(store_target: str) -> None:
    with open_store(store_target, timeout=0.3) as store:
        created = store.create_plan(new_plan(), actor="U-spatel")
        changed, applied = change(created, "item.cost", item=created.items[0].id, estimated=5)
        with raw_connection(store_target) as blocker:
            if is_postgresql(store_target):
                blocker.autocommit = False
                blocker.execute("SELECT id FROM plans WHERE id = 1 FOR UPDATE")
            else:
                blocker.execute("BEGIN IMMEDIATE")
            started = time.monotonic()

            with pytest.raises(SvcplanError) as raised:
                store.save_plan(changed, expected_version=1, actor="U-spatel", events=[applied])

            waited = time.monotonic() - started
            blocker.rollback()

        assert only_problem(raised.value).code == "store-busy"
        assert waited >= 0.25
        assert store.save_plan(changed, expected_version=1, actor="U-spatel", events=[applied]).version == 2


# --- two processes ------------------------------------------------------------------


def _append_repeatedly(target: str, plan_id: int, worker: str, updates: int, start: Any, results: Any) -> None:
    """Append `updates` entries to the first item's log attribute, retrying each after a conflict."""
    successes = conflicts = 0
    with open_store(target, timeout=30) as store:
        start.wait()
        while successes < updates:
            plan = store.load_plan(plan_id)
            item = plan.items[0]
            before = list(item.attributes.get("log", []))
            item.attributes["log"] = [*before, f"{worker}-{successes}"]
            applied = Applied("item.attribute", f"item:{item.id}", {"log": before}, {"log": item.attributes["log"]})
            try:
                store.save_plan(plan, expected_version=plan.version, actor=worker, events=[applied])
            except RejectedChange as rejected:
                if rejected.problems[0].code != "concurrent-change":
                    raise
                conflicts += 1
                if conflicts > 100 * updates:
                    raise RuntimeError(f"{worker} gave up after {conflicts} conflicts") from rejected
                continue
            successes += 1
    results.put((worker, successes, conflicts))


def test_two_processes_lose_no_update(store: Store, store_target: str) -> None:
    updates = 40
    workers = ["U-one", "U-two"]
    created = store.create_plan(new_plan(), actor="U-spatel")
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(len(workers))
    results = context.Queue()
    processes = [context.Process(target=_append_repeatedly, args=(store_target, created.id, worker, updates,
                                                                   start, results))
                 for worker in workers]

    for process in processes:
        process.start()
    outcomes = {}
    try:
        for _ in workers:
            worker, successes, conflicts = results.get(timeout=180)
            outcomes[worker] = (successes, conflicts)
    finally:
        for process in processes:
            process.join(timeout=30)

    assert [process.exitcode for process in processes] == [0, 0]
    assert {worker: successes for worker, (successes, _) in outcomes.items()} == {"U-one": updates, "U-two": updates}
    total = len(workers) * updates
    final = store.load_plan(created.id)
    entries = final.items[0].attributes["log"]
    assert sorted(entries) == sorted(f"{worker}-{index}" for worker in workers for index in range(updates))
    assert final.version == 1 + total
    events = store.history(created.id)
    assert len(events) == 1 + total
    assert [event.seq for event in events] == list(range(1, total + 2))
    assert [event.after["log"] for event in events[1:]] == [entries[:count] for count in range(1, total + 1)]
    # NOTE: two processes on one plan conflict in practice, but the scheduler could serialize them.
    assert sum(conflicts for _, conflicts in outcomes.values()) > 0, "the processes never overlapped"


# --- migrations ------------------------------------------------------------------


LATEST = len(MIGRATIONS)
RECORDED_MIGRATIONS = [(1, "initial"), (2, "baselines_and_clones")]


def test_packaged_migrations_complete() -> None:
    assert [(migration.version, migration.name) for migration in MIGRATIONS] == RECORDED_MIGRATIONS
    for migration in MIGRATIONS:
        assert set(migration.scripts) == {"sqlite", "postgresql"}


def test_new_store_records_migrations(store: Store, store_target: str) -> None:
    assert store.schema_version == LATEST
    assert [row[:2] for row in query(store_target, "SELECT version, name FROM schema_migrations ORDER BY version")] \
        == RECORDED_MIGRATIONS
    assert {"plans", "events", "baselines", "schema_migrations"} <= table_names(store_target)


def create_schema_by_hand(target: str, up_to: int = LATEST) -> None:
    """Create the schema as a release with migrations 1 to `up_to` would have left it."""
    with raw_connection(target) as connection:
        for migration in MIGRATIONS[:up_to]:
            script = migration.scripts["postgresql" if is_postgresql(target) else "sqlite"]
            if is_postgresql(target):
                connection.execute(script)
            else:
                connection.executescript(script)
        connection.execute(schema_migrations_ddl(target))
        for migration in MIGRATIONS[:up_to]:
            connection.execute(f"INSERT INTO schema_migrations VALUES ({migration.version}, '{migration.name}',"
                               " '2027-01-02T03:04:05+00:00')")


def test_open_current_schema_changes_nothing(store_target: str) -> None:
    create_schema_by_hand(store_target)
    with open_store(store_target) as store:
        store.create_plan(new_plan(), actor="U-spatel")
    before = database_state(store_target)

    with open_store(store_target) as store:
        assert store.schema_version == LATEST

    after = database_state(store_target)
    if not is_postgresql(store_target):
        # Opening switches an SQLite file to WAL once; the content stays the same.
        assert after["journal_mode"] == "wal"
        before.pop("sha256"), after.pop("sha256"), before.pop("journal_mode"), after.pop("journal_mode")
    assert after == before
    assert len(after["migrations"]) == LATEST
    assert str(after["migrations"][0][2]).startswith("2027-01-02")


def test_future_schema_rejected_untouched(store_target: str) -> None:
    with open_store(store_target) as store:
        store.create_plan(new_plan(), actor="U-spatel")
    execute(store_target, f"INSERT INTO schema_migrations VALUES ({LATEST + 1}, 'from_a_newer_release',"
                          " '2030-01-01T00:00:00+00:00')")
    before = database_state(store_target)

    with pytest.raises(SvcplanError) as raised:
        open_store(store_target)

    problem = only_problem(raised.value)
    assert problem.code == "schema-too-new"
    assert f"schema version {LATEST + 1}" in problem.message
    assert f"up to {LATEST}" in problem.message
    assert redact(store_target) in problem.message
    assert database_state(store_target) == before


def test_future_sqlite_file_stays_byte_identical(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    create_schema_by_hand(str(path))
    execute(str(path), "INSERT INTO schema_migrations VALUES (7, 'future', '2030-01-01T00:00:00+00:00')")
    content = path.read_bytes()

    with pytest.raises(SvcplanError) as raised:
        open_store(path)

    assert only_problem(raised.value).code == "schema-too-new"
    assert path.read_bytes() == content
    assert query(str(path), "PRAGMA journal_mode") == [("delete",)]


def _extra_migration(sql: str) -> Migration:
    return Migration(LATEST + 1, "test_extra", {"sqlite": sql, "postgresql": sql})


def test_new_migration_upgrades_store(store_target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_store(store_target) as store:
        created = store.create_plan(new_plan(), actor="U-spatel")
    monkeypatch.setattr(store_module, "MIGRATIONS", (*MIGRATIONS, _extra_migration(
        "CREATE TABLE test_notes (plan_id integer NOT NULL, note text NOT NULL);\n"
        "CREATE INDEX test_notes_plan ON test_notes (plan_id);\n")))

    with open_store(store_target) as upgraded:
        assert upgraded.schema_version == LATEST + 1
        assert upgraded.load_plan(created.id).to_dict() == created.to_dict()

    assert [row[:2] for row in query(store_target, "SELECT version, name FROM schema_migrations ORDER BY version")] \
        == [*RECORDED_MIGRATIONS, (LATEST + 1, "test_extra")]
    assert "test_notes" in table_names(store_target)
    with open_store(store_target) as again:
        assert again.schema_version == LATEST + 1
    assert len(query(store_target, "SELECT version FROM schema_migrations")) == LATEST + 1


def test_failing_migration_rolls_back(store_target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import psycopg

    with open_store(store_target) as store:
        store.create_plan(new_plan(), actor="U-spatel")
    monkeypatch.setattr(store_module, "MIGRATIONS", (*MIGRATIONS, _extra_migration(
        "CREATE TABLE test_partial (x integer);\nSELECT no_such_function();\n")))

    with pytest.raises((sqlite3.Error, psycopg.Error), match="no_such_function"):
        open_store(store_target)

    assert "test_partial" not in table_names(store_target)
    assert sorted(row[0] for row in query(store_target, "SELECT version FROM schema_migrations")) \
        == list(range(1, LATEST + 1))
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS)
    with open_store(store_target) as store:
        assert [summary.id for summary in store.list_plans()] == [1]


def test_incomplete_migrations_rejected(store_target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "MIGRATIONS", (*MIGRATIONS, Migration(LATEST + 1, "sqlite_only", {"sqlite": ""})))

    with pytest.raises(RuntimeError, match=f"incomplete at version {LATEST + 1}"):
        open_store(store_target)


def test_foreign_schema_migrations_rejected(store_target: str) -> None:
    # The shape another framework gives its schema_migrations table.
    execute(store_target, "CREATE TABLE schema_migrations (version varchar(255) PRIMARY KEY)",
            "INSERT INTO schema_migrations VALUES ('20240101120000')")
    before = database_state(store_target)

    with pytest.raises(SvcplanError) as raised:
        open_store(store_target)

    assert only_problem(raised.value).code == "not-a-store"
    assert database_state(store_target) == before


def test_foreign_plans_table_rejected(store_target: str) -> None:
    execute(store_target, "CREATE TABLE plans (name text)")
    before = database_state(store_target)

    with pytest.raises(SvcplanError) as raised:
        open_store(store_target)

    problem = only_problem(raised.value)
    assert problem.code == "not-a-store"
    assert "plans" in problem.message
    assert database_state(store_target) == before


def test_other_sqlite_database_rejected(tmp_path: Path) -> None:
    path = tmp_path / "accounts.db"
    execute(str(path), "CREATE TABLE customers (id integer)")
    content = path.read_bytes()

    with pytest.raises(SvcplanError) as raised:
        open_store(path)

    problem = only_problem(raised.value)
    assert problem.code == "not-a-store"
    assert "customers" in problem.message
    assert path.read_bytes() == content


@pytest.mark.postgresql
def test_postgresql_store_beside_other_tables(postgresql_url: str) -> None:
    execute(postgresql_url, "CREATE TABLE customers (id integer)")

    with open_store(postgresql_url) as store:
        assert store.create_plan(new_plan(), actor="U-spatel").id == 1


# --- targets ------------------------------------------------------------------------


def test_default_target_prefers_explicit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SVCPLAN_DB", "postgresql://db.example/svcplan")

    assert default_target("mine.db") == "mine.db"
    assert default_target(None) == "postgresql://db.example/svcplan"
    monkeypatch.setenv("SVCPLAN_DB", "")
    assert default_target(None) == "./svcplan.db"
    monkeypatch.delenv("SVCPLAN_DB")
    assert default_target(None) == "./svcplan.db"


def test_open_store_chooses_backend(tmp_path: Path) -> None:
    with open_store(tmp_path / "path.db") as by_path:
        assert isinstance(by_path, SqliteStore)
    with open_store(str(tmp_path / "text.db")) as by_text:
        assert isinstance(by_text, SqliteStore)
    with open_store(f"sqlite:///{tmp_path / 'url.db'}") as by_url:
        assert isinstance(by_url, SqliteStore)
        assert by_url.label == str(tmp_path / "url.db")

    assert {path.name for path in tmp_path.glob("*.db")} == {"path.db", "text.db", "url.db"}


def test_open_store_relative_sqlite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    with open_store("sqlite:///relative.db"):
        pass

    assert (tmp_path / "relative.db").is_file()


@pytest.mark.postgresql
def test_open_store_accepts_postgres_scheme(postgresql_url: str) -> None:
    with open_store(postgresql_url.replace("postgresql://", "postgres://", 1)) as store:
        assert isinstance(store, PostgresStore)


def test_sqlite_store_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "svcplan.db"

    with open_store(path):
        assert query(str(path), "PRAGMA journal_mode") == [("wal",)]


@pytest.mark.parametrize("target", ["mysql://localhost/svcplan", "sqlite://", "sqlite:///"])
def test_unsupported_target_rejected(target: str) -> None:
    with pytest.raises(SvcplanError) as raised:
        open_store(target)

    problem = only_problem(raised.value)
    assert problem.code == "unsupported-store"
    assert "postgresql://" in problem.hint


def test_folder_target_rejected(tmp_path: Path) -> None:
    with pytest.raises(SvcplanError) as raised:
        open_store(tmp_path)

    problem = only_problem(raised.value)
    assert problem.code == "store-unavailable"
    assert str(tmp_path) in problem.message
    assert "folder" in problem.message
    assert "svcplan.db" in problem.hint


def test_missing_folder_rejected(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "svcplan.db"

    with pytest.raises(SvcplanError) as raised:
        open_store(target)

    problem = only_problem(raised.value)
    assert problem.code == "store-unavailable"
    assert "does not exist" in problem.message
    assert not (tmp_path / "missing").exists()


def test_file_as_folder_rejected(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a folder")

    with pytest.raises(SvcplanError) as raised:
        open_store(tmp_path / "notes.txt" / "svcplan.db")

    assert only_problem(raised.value).code == "store-unavailable"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file_rejected(tmp_path: Path) -> None:
    path = tmp_path / "svcplan.db"
    with open_store(path):
        pass
    path.chmod(0)

    try:
        with pytest.raises(SvcplanError) as raised:
            open_store(path)
    finally:
        path.chmod(0o600)

    problem = only_problem(raised.value)
    assert problem.code == "store-unavailable"
    assert "cannot be read" in problem.message


@pytest.mark.parametrize("content", [b"case,worker\nFC-1,U-1\n", b"SQLite format 2\x00" + bytes(200), bytes(range(256))])
def test_non_sqlite_file_rejected(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "svcplan.db"
    path.write_bytes(content)

    with pytest.raises(SvcplanError) as raised:
        open_store(path)

    problem = only_problem(raised.value)
    assert problem.code == "not-a-store"
    assert str(path) in problem.message
    assert "not an SQLite database" in problem.message
    assert path.read_bytes() == content


def test_corrupt_sqlite_file_rejected(tmp_path: Path) -> None:
    path = tmp_path / "svcplan.db"
    path.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 16)

    with pytest.raises(SvcplanError) as raised:
        open_store(path)

    assert only_problem(raised.value).code == "not-a-store"


def test_empty_file_becomes_store(tmp_path: Path) -> None:
    path = tmp_path / "svcplan.db"
    path.touch()

    with open_store(path) as store:
        assert store.schema_version == LATEST


def test_redact_hides_passwords() -> None:
    assert redact("postgresql://svc:s3cret@db.example:5432/plans") == "postgresql://svc:***@db.example:5432/plans"
    assert redact("postgresql://db.example/plans?password=s3cret&sslmode=require") \
        == "postgresql://db.example/plans?password=***&sslmode=require"
    assert redact("postgresql://svc@db.example/plans") == "postgresql://svc@db.example/plans"
    assert redact("/var/lib/svcplan.db") == "/var/lib/svcplan.db"


def test_unreachable_postgresql_rejected() -> None:
    # Port 1 on the loopback interface has no server, so the connection is refused at once.
    target = "postgresql://svcplan:s3cret@127.0.0.1:1/svcplan"

    with pytest.raises(SvcplanError) as raised:
        open_store(target, timeout=2)

    problem = only_problem(raised.value)
    assert problem.code == "store-unavailable"
    assert "postgresql://svcplan:***@127.0.0.1:1/svcplan" in problem.message
    assert "s3cret" not in str(raised.value)
    assert "server runs" in problem.hint


@pytest.mark.postgresql
def test_missing_postgresql_database_rejected(postgresql_server: str) -> None:
    target = urlunsplit(urlsplit(postgresql_server)._replace(path="/svcplan_test_no_such_database"))

    with pytest.raises(SvcplanError) as raised:
        open_store(target)

    problem = only_problem(raised.value)
    assert problem.code == "store-unavailable"
    assert "does not exist" in problem.message
    assert "createdb" in problem.hint


# --- opening without creating ------------------------------------------------------


def test_no_create_rejects_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.db"

    with pytest.raises(SvcplanError) as raised:
        open_store(path, create=False)

    problem = only_problem(raised.value)
    assert problem.code == "store-not-found"
    assert str(path) in str(raised.value)
    assert "svcplan plan new" in problem.hint
    assert sorted(tmp_path.iterdir()) == []


def test_no_create_rejects_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()

    with pytest.raises(SvcplanError) as raised:
        open_store(path, create=False)

    assert only_problem(raised.value).code == "store-not-found"
    assert path.read_bytes() == b""
    assert sorted(tmp_path.iterdir()) == [path]


def test_no_create_rejects_empty_database(store_target: str) -> None:
    # An SQLite target starts as a missing file, a PostgreSQL one as an empty database.
    with pytest.raises(SvcplanError) as raised:
        open_store(store_target, create=False)

    problem = only_problem(raised.value)
    assert problem.code == "store-not-found"
    assert redact(store_target) in str(raised.value)
    assert "svcplan plan new" in problem.hint
    if is_postgresql(store_target):
        assert table_names(store_target) == set()
    else:
        assert not Path(store_target).exists()


@pytest.mark.postgresql
def test_no_create_keeps_other_tables(postgresql_url: str) -> None:
    execute(postgresql_url, "CREATE TABLE customers (id integer)", "INSERT INTO customers VALUES (7)")
    before = database_state(postgresql_url)

    with pytest.raises(SvcplanError) as raised:
        open_store(postgresql_url, create=False)

    assert only_problem(raised.value).code == "store-not-found"
    assert database_state(postgresql_url) == before


@pytest.mark.postgresql
def test_no_create_hides_password(postgresql_url: str) -> None:
    # The test server trusts loopback connections, so it ignores the password.
    parts = urlsplit(postgresql_url)
    target = urlunsplit(parts._replace(netloc=f"{parts.username or 'postgres'}:s3cret@{parts.hostname}:{parts.port}"))

    with pytest.raises(SvcplanError) as raised:
        open_store(target, create=False)

    assert only_problem(raised.value).code == "store-not-found"
    assert ":***@" in str(raised.value)
    assert "s3cret" not in str(raised.value)


def test_no_create_opens_existing_store(store_target: str) -> None:
    with open_store(store_target) as created:
        created.create_plan(new_plan(), actor="U-spatel")
    before = database_state(store_target)

    with open_store(store_target, create=False) as reopened:
        assert [summary.id for summary in reopened.list_plans()] == [1]
    assert database_state(store_target) == before


@pytest.mark.parametrize("target", [
    "postgresql://", "postgresql://127.0.0.1", "postgresql://postgres:s3cret@127.0.0.1:5432/", "postgres://127.0.0.1/",
])
@pytest.mark.parametrize("create", [True, False])
def test_url_without_database_rejected(target: str, create: bool) -> None:
    with pytest.raises(SvcplanError) as raised:
        open_store(target, create=create)

    problem = only_problem(raised.value)
    assert problem.code == "unsupported-store"
    assert "names no database" in problem.message
    assert "/DATABASE" in problem.hint
    assert "s3cret" not in str(raised.value)


# --- plan ids beyond 64 bits ----------------------------------------------------------


@pytest.mark.parametrize("plan_id", [2**63, 99999999999999999999999, -(2**63) - 1])
def test_huge_plan_id_unknown(store: Store, plan_id: int) -> None:
    stored = store.create_plan(new_plan(), actor="U-spatel")
    huge = Plan.from_dict({**stored.to_dict(), "id": plan_id})
    calls = {
        "load_plan": lambda: store.load_plan(plan_id),
        "history": lambda: store.history(plan_id),
        "baselines": lambda: store.baselines(plan_id),
        "baseline": lambda: store.baseline(plan_id, "submitted"),
        "clone_plan": lambda: store.clone_plan(plan_id, actor="U-spatel"),
        "plan_record": lambda: store.plan_record(plan_id),
        "save_plan": lambda: store.save_plan(huge, expected_version=1, actor="U-spatel",
                                             events=[Applied("plan.note", "plan", {}, {})]),
        "add_baseline": lambda: store.add_baseline(huge, "before", actor="U-spatel"),
    }
    for name, call in calls.items():
        with pytest.raises(SvcplanError) as raised:
            call()
        problem = only_problem(raised.value)
        assert problem.code == "unknown-plan", name
        assert str(plan_id) in problem.message, name
    assert store.load_plan(1) == stored
    assert [event.seq for event in store.history(1)] == [1]


def test_largest_plan_id_unknown(store: Store) -> None:
    with pytest.raises(SvcplanError) as raised:
        store.load_plan(2**63 - 1)

    assert only_problem(raised.value).code == "unknown-plan"


# --- the command line on a target without a store ----------------------------------


@pytest.mark.parametrize("command", [["plan", "list"], ["plan", "show", "1"], ["evaluate", "1"],
                                     ["plan", "history", "1"], ["plan", "export", "1"]])
def test_cli_rejects_target_without_store(capsys: pytest.CaptureFixture[str], store_target: str,
                                                command: list[str]) -> None:
    from svcplan.cli import main

    code = main(["--db", store_target, "--today", "2027-04-02", *command])

    error = capsys.readouterr().err
    assert code == 2
    assert "store-not-found" in error
    assert "svcplan plan new" in error
    assert "Traceback" not in error
    if is_postgresql(store_target):
        assert table_names(store_target) == set()
    else:
        assert not Path(store_target).exists()


def test_cli_rejects_url_without_database(capsys: pytest.CaptureFixture[str]) -> None:
    from svcplan.cli import main

    code = main(["--db", "postgresql://", "plan", "list"])

    error = capsys.readouterr().err
    assert code == 2
    assert "names no database" in error
    assert "postgresql://USER@HOST:PORT/DATABASE" in error


def test_plan_new_creates_store(capsys: pytest.CaptureFixture[str], store_target: str) -> None:
    from svcplan.cli import main

    code = main(["--db", store_target, "--today", "2027-04-02", "plan", "new", "--as", "U-spatel",
                 "--template", "wioa-individual-employment-plan",
                 "--case", str(REPOSITORY / "examples" / "cases" / "employment-reyes.yaml")])

    assert code == 0, capsys.readouterr().err
    assert {"plans", "events", "schema_migrations"} <= table_names(store_target)
    assert main(["--db", store_target, "plan", "list"]) == 0


@pytest.mark.parametrize("command", [["plan", "show", "99999999999999999999999"],
                                     ["plan", "history", "99999999999999999999999"],
                                     ["plan", "export", "9223372036854775808"],
                                     ["evaluate", "99999999999999999999999"]])
def test_cli_huge_plan_id_unknown(capsys: pytest.CaptureFixture[str], store: Store,
                                                   store_target: str, command: list[str]) -> None:
    from svcplan.cli import main

    store.create_plan(new_plan(), actor="U-spatel")

    code = main(["--db", store_target, "--today", "2027-04-02", *command])

    error = capsys.readouterr().err
    assert code == 1, error
    assert "unknown-plan" in error
    assert "internal error" not in error
