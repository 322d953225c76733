"""Tests of plan export and import, on SQLite and PostgreSQL.

Round trips go both ways between the store under test and a second store on a
fresh SQLite file. The kill test stops a real `svcplan plan import` process
with SIGKILL while its transaction is open.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from svcplan.baseline import take_baseline
from svcplan.cli import main
from svcplan.export import export_text, read_exports
from svcplan.errors import SvcplanError
from svcplan.store import Store, open_store
from svcplan.versions import IMPORT_PAUSE_VARIABLE
from test_store import change, database_state, new_plan

REPOSITORY = Path(__file__).resolve().parent.parent


def plan_with_history(store: Store) -> int:
    """Store a plan with progress, a baseline and a clone, and return the clone's id."""
    created = store.create_plan(new_plan(), actor="U-spatel")
    changed, applied = change(created, "item.start", item="comprehensive-assessment", on="2027-02-03")
    saved = store.save_plan(changed, expected_version=1, actor="U-spatel", events=[applied])
    take_baseline(store, saved, "ünïcode name", actor="U-kowens")
    _, clone = store.clone_plan(saved.id, actor="U-kowens")
    take_baseline(store, clone, "submitted", actor="U-kowens", automatic=True)
    return clone.id  # type: ignore[return-value]


def test_export_import_round_trip(store: Store, tmp_path: Path) -> None:
    clone_id = plan_with_history(store)
    texts = {plan_id: export_text(store.plan_record(plan_id)) for plan_id in (1, clone_id)}
    files = []
    for plan_id, text in texts.items():
        files.append(tmp_path / f"plan-{plan_id}.json")
        files[-1].write_text(text, "utf-8")

    with open_store(tmp_path / "other.db") as other:
        stored = [other.import_records(read_exports(file))[0] for file in files]
        again = {plan_id: export_text(other.plan_record(plan_id)) for plan_id in stored}

    assert stored == [1, clone_id]
    assert again == texts


def test_import_into_store_round_trip(store: Store, tmp_path: Path) -> None:
    with open_store(tmp_path / "source.db") as source:
        clone_id = plan_with_history(source)
        text = export_text(source.plan_record(clone_id))
    (tmp_path / "plan.json").write_text(text, "utf-8")

    assert store.import_records(read_exports(tmp_path / "plan.json")) == [clone_id]

    assert export_text(store.plan_record(clone_id)) == text
    document = json.loads(text)
    assert document["stored"]["cloned_from"] == 1
    assert document["stored"]["series_version"] == 2
    assert [b["name"] for b in document["baselines"]] == ["submitted"]
    assert [e["action"] for e in document["events"]] == ["plan.opened", "plan.cloned", "plan.baseline-taken"]


def test_import_advances_ids(store: Store, tmp_path: Path) -> None:
    with open_store(tmp_path / "source.db") as source:
        plan_with_history(source)
        (tmp_path / "plan.json").write_text(export_text(source.plan_record(2)), "utf-8")

    store.import_records(read_exports(tmp_path / "plan.json"))
    created = store.create_plan(new_plan(), actor="U-spatel")

    assert created.id == 3


def test_import_taken_id_rejected(store: Store, tmp_path: Path) -> None:
    plan_with_history(store)
    path = tmp_path / "plan.json"
    path.write_text(export_text(store.plan_record(1)), "utf-8")

    with pytest.raises(SvcplanError) as raised:
        store.import_records(read_exports(path))

    assert raised.value.problems[0].code == "plan-exists"
    assert "--new-id" in raised.value.problems[0].hint
    assert [s.id for s in store.list_plans()] == [1, 2]


def test_import_new_id(store: Store, tmp_path: Path) -> None:
    plan_with_history(store)
    path = tmp_path / "plans.json"
    path.write_text("[" + export_text(store.plan_record(1)) + "," + export_text(store.plan_record(2)) + "]", "utf-8")

    stored = store.import_records(read_exports(path), new_ids=True)

    assert stored == [3, 4]
    summaries = {s.id: s for s in store.list_plans()}
    assert summaries[4].cloned_from == 3, "the clone follows its original's new id"
    assert store.load_plan(3).to_dict() == {**store.load_plan(1).to_dict(), "id": 3}
    assert [b.name for b in store.baselines(3)] == ["ünïcode name"]
    assert [e.action for e in store.history(4)] == [e.action for e in store.history(2)]


def test_batch_rejected_whole(store: Store, tmp_path: Path) -> None:
    with open_store(tmp_path / "source.db") as source:
        plan_with_history(source)
        for plan_id in (1, 2):
            (tmp_path / "batch" / f"{plan_id}.json").parent.mkdir(exist_ok=True)
            (tmp_path / "batch" / f"{plan_id}.json").write_text(export_text(source.plan_record(plan_id)), "utf-8")
    store.create_plan(new_plan(), actor="U-spatel")
    store.create_plan(new_plan(), actor="U-spatel")

    with pytest.raises(SvcplanError):
        store.import_records(read_exports(tmp_path / "batch"))

    assert [s.id for s in store.list_plans()] == [1, 2]
    assert store.baselines(1) == []


@pytest.mark.parametrize(("content", "reason"), [
    ("{", "not valid JSON"),
    ('{"kind": "plan-template"}', "plan-export"),
    ('{"kind": "plan-export", "svcplan": 1, "plan": {}}', "KeyError"),
])
def test_invalid_export_rejected(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, "utf-8")

    with pytest.raises(SvcplanError) as raised:
        read_exports(path)

    assert raised.value.problems[0].code == "invalid-export"
    assert reason in raised.value.problems[0].message
    assert str(path) in raised.value.problems[0].message


def test_export_import_commands(capsys: pytest.CaptureFixture[str], store: Store, store_target: str,
                                tmp_path: Path) -> None:
    plan_with_history(store)

    code = main(["--db", store_target, "plan", "export", "2"])
    exported = capsys.readouterr().out
    (tmp_path / "plan.json").write_text(exported, "utf-8")
    other = str(tmp_path / "other.db")
    code_import = main(["--db", other, "plan", "import", str(tmp_path / "plan.json")])
    imported = capsys.readouterr().out
    code_again = main(["--db", other, "plan", "export", "2"])
    again = capsys.readouterr().out
    code_taken = main(["--db", other, "plan", "import", str(tmp_path / "plan.json")])
    taken = capsys.readouterr().err
    code_missing = main(["--db", other, "plan", "import", str(tmp_path / "missing.json")])

    assert (code, code_import, code_again) == (0, 0, 0)
    assert imported.strip() == "imported 1 plan: 2"
    assert again == exported
    assert code_taken == 1
    assert "plan-exists" in taken
    assert code_missing == 2


# --- an import stopped midway --------------------------------------------------------------


def test_killed_import_leaves_store_unchanged(store: Store, store_target: str, tmp_path: Path) -> None:
    with open_store(tmp_path / "source.db") as source:
        for _ in range(6):
            source.create_plan(new_plan(), actor="U-spatel")
        documents = [json.loads(export_text(source.plan_record(plan_id))) for plan_id in range(1, 7)]
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps(documents), "utf-8")
    # Plans 1 and 2 are in the store already, so the import gives the six plans new ids 3 to 8.
    store.create_plan(new_plan(), actor="U-spatel")
    store.create_plan(new_plan("home-care-nakamura"), actor="U-spatel")
    before = database_state(store_target)

    environment = {**os.environ, IMPORT_PAUSE_VARIABLE: "0.5"}
    process = subprocess.Popen(
        [sys.executable, "-m", "svcplan.cli", "-vv", "--db", store_target, "plan", "import", str(batch), "--new-id"],
        stderr=subprocess.PIPE, text=True, env=environment, cwd=REPOSITORY)
    assert process.stderr is not None
    inserted = 0
    deadline = time.monotonic() + 60
    try:
        for line in process.stderr:
            if "not yet committed" in line:
                inserted += 1
                if inserted == 3:
                    break
            assert time.monotonic() < deadline, "the import did not report three inserted plans in time"
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=30)

    assert inserted == 3
    assert process.returncode == -signal.SIGKILL
    after = database_state(store_target)
    if "sha256" in before:
        # SQLite keeps the uncommitted pages of a killed writer in the WAL file, not the database file.
        assert after.pop("sha256") == before.pop("sha256")
    assert after == before
    with open_store(store_target) as reopened:
        assert [s.id for s in reopened.list_plans()] == [1, 2]
        next_id = reopened.create_plan(new_plan(), actor="U-spatel").id
    # PostgreSQL does not roll back identity values, so there the killed import leaves a gap.
    assert next_id == 3 if store.backend == "sqlite" else next_id > 2


# --- what an import checks before it writes ------------------------------------------------


def exported_document(store: Store) -> dict:
    """Return the export document of a stored plan with progress, a baseline and an agreement."""
    plan_with_history(store)
    document = json.loads(export_text(store.plan_record(1)))
    document["plan"]["agreements"] = [{"number": 1, "status": "issued", "issued_on": "2027-02-01",
                                       "issued_by": "U-spatel", "decided_on": None, "decided_by": None}]
    assert document["baselines"], "the plan needs a baseline for the baseline cases"
    return document


def _set(document: dict, path: str, value: object) -> None:
    *parents, last = path.split(".")
    target: object = document
    for part in parents:
        name, _, index = part.partition("[")
        target = target[name]  # type: ignore[index]
        if index:
            target = target[int(index.rstrip("]"))]  # type: ignore[index]
    name, _, index = last.partition("[")
    if index:
        target[name][int(index.rstrip("]"))] = value  # type: ignore[index]
    else:
        target[name] = value  # type: ignore[index]


BAD_VALUES = [
    ("plan.status", "bogus"),
    ("plan.status", None),
    ("plan.id", 0),
    ("plan.id", 99999999999999999999999),
    ("plan.id", "1"),
    ("plan.version", -1),
    ("plan.version", True),
    ("plan.template.version", 0),
    ("plan.items[0].approval", "bogus"),
    ("plan.items[0].outcome", "bogus"),
    ("plan.milestones[0].waived", "yes"),
    ("plan.agreements[0].status", "bogus"),
    ("plan.agreements[0].number", 0),
    ("stored.series_version", 0),
    ("stored.cloned_from", 2**63),
    ("stored.updated_by", ""),
    ("events[0].seq", 2),
    ("events[0].seq", "1"),
    ("events[0].action", ""),
    ("events[0].target", None),
    ("baselines[0].plan_version", 0),
    ("baselines[0].automatic", "no"),
    ("baselines[0].plan.status", "bogus"),
    ("baselines[0].plan.items[0].approval", "maybe"),
]


@pytest.mark.parametrize(("field", "value"), BAD_VALUES, ids=[f"{f}={v!r}" for f, v in BAD_VALUES])
def test_invalid_value_rejected(store: Store, tmp_path: Path, field: str, value: object) -> None:
    document = exported_document(store)
    _set(document, field, value)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(document), "utf-8")

    with pytest.raises(SvcplanError) as raised:
        read_exports(path)

    problem = raised.value.problems[0]
    assert problem.code == "invalid-export"
    assert problem.location.file == str(path)
    assert field in problem.message
    assert repr(value) in problem.message
    assert f"plan {document['plan']['id']!r}:" in problem.message
    assert problem.value == value


def test_events_out_of_order_rejected(store: Store, tmp_path: Path) -> None:
    document = exported_document(store)
    document["events"][0], document["events"][1] = document["events"][1], document["events"][0]
    path = tmp_path / "swapped.json"
    path.write_text(json.dumps(document), "utf-8")

    with pytest.raises(SvcplanError) as raised:
        read_exports(path)

    problem = raised.value.problems[0]
    assert "invalid events[0].seq 2" in problem.message
    assert "expected 1" in problem.message


def test_unknown_item_kind_rejected(store: Store, tmp_path: Path) -> None:
    document = exported_document(store)
    document["plan"]["items"][0]["kind"] = "bogus"
    path = tmp_path / "kind.json"
    path.write_text(json.dumps(document), "utf-8")

    with pytest.raises(SvcplanError) as raised:
        read_exports(path)

    problem = raised.value.problems[0]
    assert problem.code == "invalid-export"
    assert problem.location.file == str(path)
    assert "plan 1: invalid plan.items[0].kind 'bogus'" in problem.message
    assert "basic, custom, service-unit-delivery" in problem.message


def test_bogus_status_import_writes_nothing(capsys: pytest.CaptureFixture[str], store: Store, store_target: str,
                                            tmp_path: Path) -> None:
    with open_store(tmp_path / "source.db") as source:
        document = exported_document(source)
    good = dict(document, plan={**document["plan"], "id": 5})
    document["plan"]["status"] = "bogus"
    path = tmp_path / "batch.json"
    path.write_text(json.dumps([good, document]), "utf-8")
    before = database_state(store_target)

    code = main(["--db", store_target, "plan", "import", str(path)])

    error = capsys.readouterr().err
    assert code == 1
    assert f"{path} [1]" in error
    assert "invalid plan.status 'bogus'" in error
    assert "open, submitted, approved, active, closed" in error
    assert "Traceback" not in error
    assert database_state(store_target) == before
    assert store.list_plans() == []


@pytest.mark.parametrize("content", ["[]", "folder"])
def test_empty_import_rejected(capsys: pytest.CaptureFixture[str], store: Store, store_target: str, tmp_path: Path,
                              content: str) -> None:
    if content == "folder":
        path = tmp_path / "exports"
        path.mkdir()
        (path / "a.json").write_text("[]", "utf-8")
        (path / "b.json").write_text("[]", "utf-8")
    else:
        path = tmp_path / "empty.json"
        path.write_text(content, "utf-8")

    code = main(["--db", store_target, "plan", "import", str(path)])

    error = capsys.readouterr().err
    assert code == 1
    assert "nothing to import" in error
    assert "nothing-to-import" in error
    assert "imported" not in capsys.readouterr().out
    assert store.list_plans() == []
    with pytest.raises(SvcplanError) as raised:
        read_exports(path)
    assert raised.value.problems[0].code == "nothing-to-import"


def test_bad_import_creates_no_database(tmp_path, capsys):
    from svcplan.cli import main

    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    db = tmp_path / "new.db"

    status = main(["--db", str(db), "plan", "import", str(bad)])

    assert status == 1
    assert "nothing" in capsys.readouterr().err
    assert not db.exists()
