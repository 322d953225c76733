"""Tests of baselines, comparisons, clones and migration 2, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from svcplan.baseline import compare_plans
from svcplan.cli import main
from svcplan.errors import RejectedChange, SvcplanError
from svcplan.store import Store, open_store
from svcplan.workflow import take_baseline
from test_store import (
    LATEST, RECORDED_MIGRATIONS, change, create_schema_by_hand, execute, is_postgresql, new_plan, query,
)


def stored_with_progress(store: Store):  # type: ignore[no-untyped-def]
    """Store the Reyes plan and record the start of its assessment (version 2)."""
    created = store.create_plan(new_plan(), actor="U-spatel")
    changed, applied = change(created, "item.start", item="comprehensive-assessment", on="2027-02-03")
    return store.save_plan(changed, expected_version=1, actor="U-spatel", events=[applied])


def fail_events(target: str, action: str) -> None:
    """Make the database reject every event with this action, as a failure in the middle of a transaction."""
    if is_postgresql(target):
        execute(target,
                "CREATE FUNCTION test_fail_event() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                f" IF NEW.action = '{action}' THEN RAISE EXCEPTION 'test trigger rejected %', NEW.action; END IF;"
                " RETURN NEW; END $$",
                "CREATE TRIGGER test_fail_event BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION test_fail_event()")
    else:
        execute(target, f"CREATE TRIGGER test_fail_event BEFORE INSERT ON events WHEN NEW.action = '{action}'"
                        " BEGIN SELECT RAISE(ABORT, 'test trigger rejected the event'); END")


# --- baselines ---------------------------------------------------------------------------


def test_baseline_keeps_plan_as_taken(store: Store) -> None:
    plan = stored_with_progress(store)

    baseline = take_baseline(store, plan, "before-review", actor="U-kowens")
    changed, applied = change(plan, "item.complete", item="comprehensive-assessment", on="2027-02-10",
                              outcome="attained")
    store.save_plan(changed, expected_version=plan.version, actor="U-spatel", events=[applied])

    kept = store.baseline(plan.id, "before-review")
    assert kept == baseline
    assert kept.plan().to_dict() == plan.to_dict()
    assert (kept.plan_version, kept.automatic, kept.taken_by) == (2, False, "U-kowens")


def test_baseline_records_event_keeps_version(store: Store) -> None:
    plan = stored_with_progress(store)

    take_baseline(store, plan, "submitted", actor="U-spatel", automatic=True)

    event = store.history(plan.id)[-1]
    assert (event.action, event.target) == ("plan.baseline-taken", "baseline:submitted")
    assert event.after == {"name": "submitted", "plan_version": 2, "automatic": True}
    assert store.load_plan(plan.id).version == plan.version


def test_baseline_name_taken(store: Store) -> None:
    plan = stored_with_progress(store)
    take_baseline(store, plan, "submitted", actor="U-spatel", automatic=True)

    with pytest.raises(SvcplanError) as raised:
        take_baseline(store, plan, "submitted", actor="U-spatel")
    second = take_baseline(store, plan, "submitted", actor="U-spatel", automatic=True)
    third = take_baseline(store, plan, "submitted", actor="U-spatel", automatic=True)

    assert raised.value.problems[0].code == "baseline-exists"
    assert (second.name, third.name) == ("submitted-2", "submitted-3")
    assert [b.name for b in store.baselines(plan.id)] == ["submitted", "submitted-2", "submitted-3"]


def test_baseline_of_stale_plan_rejected(store: Store) -> None:
    plan = stored_with_progress(store)
    changed, applied = change(plan, "item.cost", item="comprehensive-assessment", actual=50)
    store.save_plan(changed, expected_version=plan.version, actor="U-spatel", events=[applied])

    with pytest.raises(RejectedChange) as raised:
        take_baseline(store, plan, "late", actor="U-spatel")

    assert raised.value.problems[0].code == "concurrent-change"
    assert store.baselines(plan.id) == []


def test_baseline_and_event_one_transaction(store: Store, store_target: str) -> None:
    import psycopg

    plan = stored_with_progress(store)
    fail_events(store_target, "plan.baseline-taken")

    with pytest.raises((sqlite3.IntegrityError, psycopg.Error), match="test trigger rejected"):
        take_baseline(store, plan, "first", actor="U-spatel")

    assert store.baselines(plan.id) == []
    assert query(store_target, "SELECT count(*) FROM baselines") == [(0,)]


@pytest.mark.parametrize("name", ["", "   "])
def test_baseline_needs_name(store: Store, name: str) -> None:
    plan = stored_with_progress(store)

    with pytest.raises(SvcplanError) as raised:
        take_baseline(store, plan, name, actor="U-spatel")

    assert raised.value.problems[0].code == "invalid-baseline-name"


def test_unknown_baseline(store: Store) -> None:
    plan = stored_with_progress(store)
    take_baseline(store, plan, "first", actor="U-spatel")

    with pytest.raises(SvcplanError) as raised:
        store.baseline(plan.id, "second")
    with pytest.raises(SvcplanError) as missing_plan:
        store.baselines(99)

    assert raised.value.problems[0].code == "unknown-baseline"
    assert "'first'" in raised.value.problems[0].hint
    assert missing_plan.value.problems[0].code == "unknown-plan"


def test_baselines_cannot_be_changed(store: Store, store_target: str) -> None:
    import psycopg

    plan = stored_with_progress(store)
    take_baseline(store, plan, "first", actor="U-spatel")

    for statement in ("UPDATE baselines SET name = 'other'", "DELETE FROM baselines"):
        with pytest.raises((sqlite3.IntegrityError, psycopg.Error), match="baselines"):
            execute(store_target, statement)
    assert [b.name for b in store.baselines(plan.id)] == ["first"]


# --- comparisons --------------------------------------------------------------------------


def test_compare_lists_field_changes(store: Store) -> None:
    plan = stored_with_progress(store)
    first = take_baseline(store, plan, "first", actor="U-spatel")
    changed, applied = change(plan, "item.complete", item="comprehensive-assessment", on="2027-02-10",
                              outcome="attained")
    later = store.save_plan(changed, expected_version=plan.version, actor="U-spatel", events=[applied])
    second = take_baseline(store, later, "second", actor="U-spatel")

    comparison = compare_plans(first.plan(), second.plan())

    assert [(c.change, c.kind, c.id) for c in comparison.changes] == [
        ("changed", "item", "comprehensive-assessment")]
    fields = {f.field: (f.before, f.after) for f in comparison.changes[0].fields}
    assert fields == {"actual_end": (None, "2027-02-10"), "outcome": (None, "attained")}


def test_compare_added_and_removed() -> None:
    before = new_plan()
    after = new_plan()
    removed = after.items.pop()
    after.items.append(before.items[0].__class__.from_dict({**before.items[0].to_dict(), "id": "extra"}))
    after.milestones.clear()

    comparison = compare_plans(before, after)

    found = {(c.change, c.kind, c.id) for c in comparison.changes}
    assert found == {("removed", "item", removed.id), ("added", "item", "extra"),
                     ("removed", "milestone", before.milestones[0].id)}
    added = comparison.of("added")[0]
    assert {f.field: f.after for f in added.fields}["id"] == "extra"
    assert all(f.before is None for f in added.fields)


def test_compare_identical_plans_empty() -> None:
    assert compare_plans(new_plan(), new_plan()).changes == ()


def cli(capsys: pytest.CaptureFixture[str], target: str, *args: str) -> tuple[int, str, str]:
    code = main(["--db", target, *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_baseline_commands(capsys: pytest.CaptureFixture[str], store: Store, store_target: str) -> None:
    plan = stored_with_progress(store)

    assert cli(capsys, store_target, "plan", "baseline", str(plan.id), "first", "--as", "U-kowens")[0] == 0
    changed, applied = change(plan, "item.cost", item="comprehensive-assessment", actual=75)
    store.save_plan(changed, expected_version=plan.version, actor="U-spatel", events=[applied])
    code, listed, _ = cli(capsys, store_target, "plan", "baselines", str(plan.id))
    code_text, text, _ = cli(capsys, store_target, "plan", "compare", str(plan.id), "first")
    code_json, as_json, _ = cli(capsys, store_target, "plan", "compare", str(plan.id), "first", "--format", "json")
    code_missing, _, missing = cli(capsys, store_target, "plan", "compare", str(plan.id), "nothing")
    code_taken, _, taken = cli(capsys, store_target, "plan", "baseline", str(plan.id), "first")

    assert code == 0
    assert "first" in listed
    assert "U-kowens (manual)" in listed
    assert code_text == 0
    assert "changed  item comprehensive-assessment" in text
    assert "actual_cost: null -> 75.0" in text
    assert code_json == 0
    assert json.loads(as_json)["changes"][0]["fields"] == [{"field": "actual_cost", "before": None, "after": 75.0}]
    assert (code_missing, code_taken) == (1, 1)
    assert "unknown-baseline" in missing
    assert "baseline-exists" in taken


# --- clones -------------------------------------------------------------------------------


def test_clone_copies_and_closes(store: Store) -> None:
    plan = stored_with_progress(store)

    closed, clone = store.clone_plan(plan.id, actor="U-kowens")

    assert clone.id != plan.id
    assert (clone.status, clone.version) == ("open", 1)
    assert {**clone.to_dict(), "id": plan.id, "version": plan.version} == plan.to_dict()
    assert clone.item("comprehensive-assessment").actual_start is not None
    assert store.load_plan(clone.id).to_dict() == clone.to_dict()
    assert store.load_plan(plan.id).status == "closed"
    assert closed.version == plan.version + 1
    summaries = {s.id: s for s in store.list_plans()}
    assert (summaries[plan.id].cloned_from, summaries[plan.id].series_version) == (None, 1)
    assert (summaries[clone.id].cloned_from, summaries[clone.id].series_version) == (plan.id, 2)


def test_clone_records_events_on_both(store: Store) -> None:
    plan = stored_with_progress(store)

    _, clone = store.clone_plan(plan.id, actor="U-kowens")

    old_event = store.history(plan.id)[-1]
    assert (old_event.action, old_event.actor) == ("plan.closed", "U-kowens")
    assert old_event.before == {"status": "open"}
    assert old_event.after == {"status": "closed", "cloned_to": clone.id}
    assert [(e.action, e.after.get("from_plan")) for e in store.history(clone.id)] == [
        ("plan.opened", None), ("plan.cloned", plan.id)]


def test_clone_of_clone_counts_series(store: Store) -> None:
    plan = stored_with_progress(store)
    _, second = store.clone_plan(plan.id, actor="U-spatel")

    _, third = store.clone_plan(second.id, actor="U-spatel")

    summaries = {s.id: s for s in store.list_plans()}
    assert (summaries[third.id].cloned_from, summaries[third.id].series_version) == (second.id, 3)


def test_clone_of_closed_plan_rejected(store: Store) -> None:
    plan = stored_with_progress(store)
    store.clone_plan(plan.id, actor="U-spatel")

    with pytest.raises(RejectedChange) as raised:
        store.clone_plan(plan.id, actor="U-spatel")

    assert raised.value.problems[0].code == "plan-closed"
    assert len(store.list_plans()) == 2


def test_clone_is_one_transaction(store: Store, store_target: str) -> None:
    import psycopg

    plan = stored_with_progress(store)
    before = (query(store_target, "SELECT id, version, status FROM plans ORDER BY id"),
              query(store_target, "SELECT plan_id, seq FROM events ORDER BY plan_id, seq"))
    # The closing event is the last write of a clone, after the new plan and its events.
    fail_events(store_target, "plan.closed")

    with pytest.raises((sqlite3.IntegrityError, psycopg.Error), match="test trigger rejected"):
        store.clone_plan(plan.id, actor="U-spatel")

    after = (query(store_target, "SELECT id, version, status FROM plans ORDER BY id"),
             query(store_target, "SELECT plan_id, seq FROM events ORDER BY plan_id, seq"))
    assert after == before


def test_clone_command(capsys: pytest.CaptureFixture[str], store: Store, store_target: str) -> None:
    plan = stored_with_progress(store)

    code, out, err = cli(capsys, store_target, "plan", "clone", str(plan.id), "--as", "U-kowens")
    code_again, _, again = cli(capsys, store_target, "plan", "clone", str(plan.id))

    assert (code, err) == (0, "")
    assert f"is a new version of plan {plan.id}, which is now closed" in out
    assert code_again == 1
    assert "plan-closed" in again


# --- migration 2 ------------------------------------------------------------------------------


def test_migration_2_keeps_version_1_store(store_target: str) -> None:
    create_schema_by_hand(store_target, up_to=1)
    plans = [new_plan(name) for name in ("employment-reyes", "home-care-nakamura")]
    documents = []
    for index, plan in enumerate(plans, start=1):
        document = plan.to_dict()
        del document["id"], document["version"]
        documents.append(json.dumps(document))
        # The rows a release with migration 1 only wrote, with the same columns and values.
        parameters = (plan.template_id, plan.template_version, plan.template_hash, plan.case["reference"],
                      documents[-1])
        placeholder = "%s" if is_postgresql(store_target) else "?"
        statement = ("INSERT INTO plans (template_id, template_version, template_hash, case_reference, status,"
                     " version, document, created_at, updated_at, updated_by) VALUES "
                     f"({', '.join([placeholder] * 4)}, 'open', 1, {placeholder},"
                     " '2027-01-02T03:04:05.000000+00:00', '2027-01-02T03:04:05.000000+00:00', 'U-old')")
        event = ('INSERT INTO events (plan_id, seq, at, actor, action, target, "before", "after") VALUES '
                 f"({index}, 1, '2027-01-02T03:04:05.000000+00:00', 'U-old', 'plan.opened', 'plan', '{{}}',"
                 " '{\"status\": \"open\"}')")
        if is_postgresql(store_target):
            import psycopg

            with psycopg.connect(store_target, autocommit=True) as connection:
                connection.execute(statement, parameters)
                connection.execute(event)
        else:
            connection = sqlite3.connect(store_target, isolation_level=None)
            try:
                connection.execute(statement, parameters)
                connection.execute(event)
            finally:
                connection.close()

    with open_store(store_target) as store:
        assert store.schema_version == LATEST
        for index, plan in enumerate(plans, start=1):
            assert store.load_plan(index).to_dict() == {**plan.to_dict(), "id": index, "version": 1}
            events = store.history(index)
            assert [(e.seq, e.actor, e.action, e.after) for e in events] == [
                (1, "U-old", "plan.opened", {"status": "open"})]
        summaries = store.list_plans()
        assert [(s.id, s.cloned_from, s.series_version, s.updated_by) for s in summaries] == [
            (1, None, 1, "U-old"), (2, None, 1, "U-old")]
        take_baseline(store, store.load_plan(1), "after-migration", actor="U-spatel")
        _, clone = store.clone_plan(1, actor="U-spatel")
        assert clone.id == 3

    assert [row[:2] for row in query(store_target, "SELECT version, name FROM schema_migrations ORDER BY version")] \
        == RECORDED_MIGRATIONS


def test_submission_and_approval_take_baselines(tmp_path, capsys):
    from svcplan.cli import main

    root = Path(__file__).resolve().parent.parent
    common = ["--db", str(tmp_path / "plans.db"), "--library", str(root / "templates"),
              "--library", str(root / "rules"), "--today", "2027-09-15"]
    assert main([*common, "plan", "new", "--template", "wioa-individual-employment-plan",
                 "--case", str(root / "examples" / "cases" / "employment-reyes.yaml"), "--as", "U-spatel"]) == 0
    assert main([*common, "plan", "submit", "1", "--as", "U-spatel"]) == 0
    assert main([*common, "plan", "approve", "1", "--as", "U-kowens"]) == 0
    capsys.readouterr()

    assert main([*common, "plan", "baselines", "1"]) == 0
    listed = capsys.readouterr().out

    assert "submitted" in listed
    assert "approved" in listed
