"""Tests of moving stored plans to another template version, on SQLite and PostgreSQL.

Each test copies the shipped library into a temporary folder and writes further
versions of the employment template there, so that the repository stays as it is.
Version 2 renames, retimes, reassigns, adds and removes elements that carry no
progress; version 3 also removes an item that has recorded progress.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from svcplan.cli import main
from svcplan.errors import RejectedChange, SvcplanError
from svcplan.instantiate import PlanOptions
from svcplan.plan import Plan
from svcplan.store import Store, open_store
from svcplan.upgrade import ITEM_PROGRESS, MILESTONE_PROGRESS
from svcplan.progress import Change
from svcplan.workflow import Workspace, change_plan, open_plan, upgrade_stored

REPOSITORY = Path(__file__).resolve().parent.parent
CASE = REPOSITORY / "examples" / "cases" / "employment-reyes.yaml"
STORY = [
    Change("item.start", {"item": "comprehensive-assessment", "on": "2027-02-03"}),
    Change("item.complete", {"item": "comprehensive-assessment", "on": "2027-02-03", "outcome": "attained"}),
    Change("item.cost", {"item": "comprehensive-assessment", "actual": 120.0}),
    Change("item.attribute", {"item": "employment-start", "name": "occupation", "value": "truck driver"}),
    Change("item.start", {"item": "employment-start", "on": "2027-05-17"}),
    Change("item.complete", {"item": "employment-start", "on": "2027-05-17", "outcome": "attained"}),
    Change("milestone.start", {"milestone": "follow-up-period", "on": "2027-05-17"}),
    Change("item.start", {"item": "follow-up-30", "on": "2027-06-16"}),
    Change("item.complete", {"item": "follow-up-30", "on": "2027-06-16", "outcome": "attained"}),
]
"""Progress on the Reyes plan, on items that need no approval."""
TEMPLATE = "wioa-individual-employment-plan"
TODAY = date(2027, 9, 15)

FOLLOW_UP_365 = '''
      - id: follow-up-365
        type: follow-up-contact
        name: 12-month follow-up contact
        concerning: primary_plan_participant
        owner: case_worker
        responsibility: case_worker
        mandatory: true
        start: {from: item.employment-start.actual_start, days: 365}
        duration: {days: 1}
        expected_outcome: Any problem at work is known and addressed.
'''
FOLLOW_UP_60 = '''
      - id: follow-up-60
        type: follow-up-contact
        name: 60-day follow-up contact
        concerning: primary_plan_participant
        owner: case_worker
        responsibility: case_worker
        start: {from: item.employment-start.actual_start, days: 60}
        duration: {days: 1}
        expected_outcome: Any problem at work is known and addressed.
'''
FOLLOW_UP_30 = '''
      - id: follow-up-30
        type: follow-up-contact
        name: 30-day follow-up contact
        concerning: primary_plan_participant
        owner: case_worker
        responsibility: case_worker
        mandatory: true
        start: {from: item.employment-start.actual_start, days: 30}
        duration: {days: 1}
        expected_outcome: Any problem at work is known and addressed.
'''
ANNUAL_REVIEW = '''
  - id: annual-review
    name: Annual review of the plan
    review: true
    start: {months: 12}
    duration: {days: 14}
'''


def replaced(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"the template no longer contains {old!r}"
    return text.replace(old, new)


def version_2(text: str) -> str:
    text = replaced(text, "\nversion: 1\n", "\nversion: 2\n")
    text = replaced(text, "name: 90-day follow-up contact", "name: Three-month follow-up contact")
    text = replaced(text, "        duration: {days: 14}\n        expected_outcome: The employment goal",
                    "        duration: {days: 21}\n        expected_outcome: The employment goal")
    text = replaced(text, FOLLOW_UP_365, FOLLOW_UP_60)
    text = replaced(text, "days: 180}\n        duration: {days: 1}", "days: 183}\n        duration: {days: 1}")
    return text.rstrip("\n") + "\n" + ANNUAL_REVIEW


def version_3(text: str) -> str:
    return replaced(replaced(version_2(text), "\nversion: 2\n", "\nversion: 3\n"), FOLLOW_UP_30, "")


@pytest.fixture
def library(tmp_path: Path) -> list[Path]:
    """Copy the shipped templates and rules, and add versions 2 and 3 of the employment template."""
    templates = tmp_path / "library" / "templates"
    shutil.copytree(REPOSITORY / "templates", templates)
    shutil.copytree(REPOSITORY / "rules", tmp_path / "library" / "rules")
    original = (templates / f"{TEMPLATE}.yaml").read_text("utf-8")
    (templates / f"{TEMPLATE}-v2.yaml").write_text(version_2(original), "utf-8")
    (templates / f"{TEMPLATE}-v3.yaml").write_text(version_3(original), "utf-8")
    return [templates, tmp_path / "library" / "rules"]


def workspace(library: list[Path], store: Store) -> Workspace:
    return Workspace(library, store=store, today=TODAY)


def plan_with_story(space: Workspace, options: PlanOptions = PlanOptions()) -> Plan:
    """Open the Reyes plan from version 1 and record `STORY`."""
    made = open_plan(space, f"{TEMPLATE}@1", CASE, options, actor="U-spatel")
    plan, _ = change_plan(space, made.plan.id, STORY, actor="U-spatel")
    return plan


def progress_of(plan: Plan) -> dict[str, dict[str, Any]]:
    found = {}
    for item in plan.items:
        data = item.to_dict()
        found[f"item:{item.id}"] = {name: data.get(name) for name in ITEM_PROGRESS}
    for milestone in plan.milestones:
        data = milestone.to_dict()
        found[f"milestone:{milestone.id}"] = {name: data.get(name) for name in MILESTONE_PROGRESS}
    return found


def changes_of(comparison: Any) -> set[tuple[str, str, str]]:
    return {(c.change, c.kind, c.id) for c in comparison.changes}


# --- upgrades ----------------------------------------------------------------------------


def test_upgrade_keeps_progress(store: Store, library: list[Path]) -> None:
    space = workspace(library, store)
    plan = plan_with_story(space)

    upgrade, saved = upgrade_stored(space, plan.id, 2, apply=True, drop_progress=False, actor="U-kowens")

    assert saved is not None
    stored = store.load_plan(plan.id)
    assert stored.to_dict() == saved.to_dict()
    assert (stored.template_version, stored.version) == (2, plan.version + 1)
    assert stored.template_hash == space.library.template(TEMPLATE, 2).content_hash
    assert stored.template_hash != plan.template_hash
    before, after = progress_of(plan), progress_of(stored)
    for key, recorded in before.items():
        if key != "item:follow-up-365":
            assert after[key] == recorded, key
    assert after["item:follow-up-30"]["actual_end"] == "2027-06-16"
    assert stored.item("employment-start").attributes["occupation"] == "truck driver"
    assert stored.item("comprehensive-assessment").actual_cost == 120.0
    assert [m.person for m in stored.members] == [m.person for m in plan.members]
    assert stored.status == plan.status


def test_upgrade_lists_what_changes(store: Store, library: list[Path]) -> None:
    space = workspace(library, store)
    plan = plan_with_story(space)

    upgrade, _ = upgrade_stored(space, plan.id, 2, apply=False, drop_progress=False, actor=None)

    found = changes_of(upgrade.comparison)
    assert ("added", "item", "follow-up-60") in found
    assert ("removed", "item", "follow-up-365") in found
    assert ("added", "milestone", "annual-review") in found
    assert ("changed", "plan", str(plan.id)) in found
    changed = {c.id: {f.field: (f.before, f.after) for f in c.fields} for c in upgrade.comparison.of("changed")}
    assert changed["follow-up-90"]["name"] == ("90-day follow-up contact", "Three-month follow-up contact")
    assert changed["comprehensive-assessment"]["expected_end"] == ("2027-02-14", "2027-02-21")
    assert changed["follow-up-180"]["expected_start"] == ("2027-11-13", "2027-11-16")
    assert changed[str(plan.id)]["template.version"] == (1, 2)
    assert upgrade.dropped == ()


def test_upgrade_dry_run_stores_nothing(store: Store, library: list[Path]) -> None:
    space = workspace(library, store)
    plan = plan_with_story(space)
    history = store.history(plan.id)

    upgrade, saved = upgrade_stored(space, plan.id, 2, apply=False, drop_progress=False, actor=None)

    assert saved is None
    assert upgrade.upgraded.template_version == 2
    assert store.load_plan(plan.id).to_dict() == plan.to_dict()
    assert store.history(plan.id) == history


def test_upgrade_records_event(store: Store, library: list[Path]) -> None:
    space = workspace(library, store)
    plan = plan_with_story(space)

    upgrade_stored(space, plan.id, 2, apply=True, drop_progress=False, actor="U-kowens")

    event = store.history(plan.id)[-1]
    assert (event.action, event.target, event.actor) == ("plan.upgraded", "plan", "U-kowens")
    assert event.before["template_version"] == 1
    assert event.before["template_hash"] == plan.template_hash
    assert event.after["template_version"] == 2
    assert "item:follow-up-60" in event.after["added"]
    assert "item:follow-up-365" in event.after["removed"]
    assert "item:follow-up-90" in event.after["changed"]
    assert event.before["dropped_progress"] == []


def test_upgrade_rejects_dropping_progress(store: Store, library: list[Path]) -> None:
    space = workspace(library, store)
    plan = plan_with_story(space)

    with pytest.raises(RejectedChange) as raised:
        upgrade_stored(space, plan.id, 3, apply=True, drop_progress=False, actor="U-spatel")

    problem = raised.value.problems[0]
    assert problem.code == "upgrade-drops-progress"
    assert "follow-up-30" in problem.message
    assert "--drop-progress" in problem.hint
    assert store.load_plan(plan.id).to_dict() == plan.to_dict()


def test_upgrade_drops_progress_when_allowed(store: Store, library: list[Path]) -> None:
    space = workspace(library, store)
    plan = plan_with_story(space)

    upgrade, saved = upgrade_stored(space, plan.id, 3, apply=True, drop_progress=True, actor="U-kowens")

    assert saved is not None
    assert saved.item("follow-up-30") is None
    assert [(d.kind, d.id) for d in upgrade.dropped] == [("item", "follow-up-30")]
    dropped = store.history(plan.id)[-1].before["dropped_progress"]
    assert dropped[0]["id"] == "follow-up-30"
    assert dropped[0]["actual_start"] == "2027-06-16"
    assert dropped[0]["outcome"] == "attained"


def test_upgrade_keeps_choices(store: Store, library: list[Path]) -> None:
    space = workspace(library, store)
    options = PlanOptions(include=frozenset({"career-counselling"}), exclude=frozenset({"occupational-training"}))
    plan = open_plan(space, f"{TEMPLATE}@1", CASE, options, actor="U-spatel").plan

    _, saved = upgrade_stored(space, plan.id, 2, apply=True, drop_progress=False, actor="U-spatel")

    assert saved is not None
    item_ids = {item.id for item in saved.items}
    assert "career-counselling" in item_ids
    assert "occupational-training" not in item_ids
    assert "job-search" not in item_ids
    assert "follow-up-60" in item_ids


@pytest.mark.parametrize(("version", "code"), [(1, "same-template-version"), (9, "unknown-template-version")])
def test_upgrade_rejects_bad_version(store: Store, library: list[Path], version: int, code: str) -> None:
    space = workspace(library, store)
    plan = plan_with_story(space)

    with pytest.raises(SvcplanError) as raised:
        upgrade_stored(space, plan.id, version, apply=True, drop_progress=False, actor="U-spatel")

    assert raised.value.problems[0].code == code
    assert store.load_plan(plan.id).to_dict() == plan.to_dict()


def test_upgrade_rejects_closed_plan(store: Store, library: list[Path]) -> None:
    space = workspace(library, store)
    plan = plan_with_story(space)
    closed, _ = store.clone_plan(plan.id, actor="U-spatel")

    with pytest.raises(RejectedChange) as raised:
        upgrade_stored(space, closed.id, 2, apply=True, drop_progress=False, actor="U-kowens")

    assert raised.value.problems[0].code == "plan-closed"
    assert store.load_plan(closed.id).template_version == 1


def test_edited_template_leaves_plan_unchanged(store: Store, library: list[Path]) -> None:
    plan = plan_with_story(workspace(library, store))
    template_file = library[0] / f"{TEMPLATE}.yaml"
    template_file.write_text(replaced(template_file.read_text("utf-8"), "name: 90-day follow-up contact",
                                      "name: Edited follow-up contact"), "utf-8")
    edited = workspace(library, store)

    assert edited.library.template(TEMPLATE, 1).content_hash != plan.template_hash
    assert store.load_plan(plan.id).to_dict() == plan.to_dict()
    assert store.load_plan(plan.id).item("follow-up-90").name == "90-day follow-up contact"


# --- through the command line ------------------------------------------------------------


def cli(capsys: pytest.CaptureFixture[str], target: str, library: list[Path], *args: str) -> tuple[int, str, str]:
    library_options = [option for path in library for option in ("--library", str(path))]
    code = main(["--db", target, *library_options, "--today", TODAY.isoformat(), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_upgrade_command(capsys: pytest.CaptureFixture[str], store_target: str, library: list[Path],
                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SVCPLAN_USER", raising=False)
    with open_store(store_target) as store:
        plan = plan_with_story(workspace(library, store))

    code, out, err = cli(capsys, store_target, library, "plan", "upgrade", str(plan.id), "--to", "2")
    assert (code, err) == (0, "")
    assert "added    item follow-up-60" in out
    assert "removed  item follow-up-365" in out
    assert 'name: "90-day follow-up contact" -> "Three-month follow-up contact"' in out
    assert "nothing was stored" in out

    code, out, err = cli(capsys, store_target, library, "plan", "upgrade", str(plan.id), "--to", "2", "--yes")
    assert code == 1
    assert "plan.upgrade: no acting user was given" in err
    assert "Traceback" not in err

    code, out, err = cli(capsys, store_target, library, "plan", "upgrade", str(plan.id), "--to", "3", "--yes",
                         "--as", "U-spatel")
    assert code == 1
    assert "upgrade-drops-progress" in err

    code, out, err = cli(capsys, store_target, library, "plan", "upgrade", str(plan.id), "--to", "3", "--yes",
                         "--drop-progress", "--as", "U-spatel")
    assert (code, err) == (0, "")
    assert "drops progress of item follow-up-30" in out
    with open_store(store_target) as store:
        assert store.load_plan(plan.id).template_version == 3


# --- the rules every change obeys ----------------------------------------------------------

NEW_SUB_GOAL = '''
  - id: housing
    category: meet-a-need
    name: "{{ primary_client.name }} keeps stable housing"
    owner: case_worker
    items:
      - id: housing-search
        type: job-search-assistance
        name: Housing search
        concerning: primary_plan_participant
        owner: case_worker
        responsibility: case_worker
        start: {days: 0}
        duration: {days: 30}
        expected_outcome: A lease is signed.

milestones:'''
NEW_GROUP = '''
groups:
  - id: partner-services
    name: Services of partner agencies
'''


def add_version(library: list[Path], version: int, edit: Any) -> None:
    """Write version `version` of the employment template: version 2 changed by `edit`."""
    original = (library[0] / f"{TEMPLATE}.yaml").read_text("utf-8")
    text = replaced(version_2(original), "\nversion: 2\n", f"\nversion: {version}\n")
    (library[0] / f"{TEMPLATE}-v{version}.yaml").write_text(edit(text), "utf-8")


def with_sub_goal(text: str) -> str:
    return replaced(text, "\nmilestones:", NEW_SUB_GOAL)


def with_group(text: str) -> str:
    return text.rstrip("\n") + "\n" + NEW_GROUP


def agreed_plan(space: Workspace, *, accept: bool) -> Plan:
    """Open the Reyes plan, record `STORY`, have the supervisor approve it and issue (and maybe accept) an agreement."""
    plan = plan_with_story(space)
    changes = [Change("plan.submit", {}), Change("agreement.issue", {"on": "2027-02-05"})]
    if accept:
        changes.append(Change("agreement.accept", {"on": "2027-02-06"}))
    plan, _ = change_plan(space, plan.id, changes, actor="U-kowens")
    return plan


def rejection(space: Workspace, plan: Plan, version: int, actor: str | None, **options: Any) -> RejectedChange:
    """Upgrade `plan` to `version`, expect a rejection, and check that the stored plan stayed as it was."""
    with pytest.raises(RejectedChange) as raised:
        upgrade_stored(space, plan.id, version, apply=True, drop_progress=options.get("drop_progress", False),
                       actor=actor)
    assert space.require_store().load_plan(plan.id).to_dict() == plan.to_dict()
    return raised.value


@pytest.mark.parametrize(("actor", "code"), [(None, "no-actor"), ("U-nobody", "unknown-user")])
def test_upgrade_needs_case_user(store: Store, library: list[Path], actor: str | None, code: str) -> None:
    space = workspace(library, store)
    plan = plan_with_story(space)

    problem = rejection(space, plan, 2, actor).problems[0]

    assert problem.code == code
    assert "plan.upgrade" in problem.message
    assert "U-spatel, U-kowens" in problem.hint


def test_upgrade_rejects_item_above_clearance(store: Store, library: list[Path]) -> None:
    space = workspace(library, store)
    plan = plan_with_story(space)
    plan, _ = change_plan(space, plan.id, [
        Change("item.assign", {"item": "comprehensive-assessment", "owner": "U-kowens", "responsibility": "U-kowens"}),
        Change("item.change", {"item": "comprehensive-assessment", "sensitivity": 4}),
    ], actor="U-kowens")

    problems = rejection(space, plan, 2, "U-spatel").problems

    assert [(p.code, p.value) for p in problems] == [("above-clearance", "comprehensive-assessment")]
    assert "would change item 'comprehensive-assessment', which has sensitivity 4" in problems[0].message
    assert "clearance 3 of U-spatel" in problems[0].message
    assert "clearance of 4 or more" in problems[0].hint
    with pytest.raises(RejectedChange):
        upgrade_stored(space, plan.id, 2, apply=False, drop_progress=False, actor="U-spatel")

    _, saved = upgrade_stored(space, plan.id, 2, apply=True, drop_progress=False, actor="U-kowens")
    assert saved is not None
    item = saved.item("comprehensive-assessment")
    assert (item.sensitivity, item.owner, item.responsibility) == (4, "U-kowens", "U-kowens")
    assert item.expected_end == date(2027, 2, 21)


def test_upgrade_rejects_removal_above_clearance(store: Store, library: list[Path]) -> None:
    space = workspace(library, store)
    plan = plan_with_story(space)
    plan, _ = change_plan(space, plan.id, [
        Change("item.assign", {"item": "follow-up-365", "owner": "U-kowens", "responsibility": "U-kowens"}),
        Change("item.change", {"item": "follow-up-365", "sensitivity": 5}),
    ], actor="U-kowens")

    problems = rejection(space, plan, 2, "U-spatel").problems

    assert [(p.code, p.value) for p in problems] == [("above-clearance", "follow-up-365")]
    assert "would remove item 'follow-up-365'" in problems[0].message


def test_upgrade_rejects_sub_goal_after_agreement(store: Store, library: list[Path]) -> None:
    add_version(library, 4, with_sub_goal)
    space = workspace(library, store)
    plan = agreed_plan(space, accept=False)
    with pytest.raises(RejectedChange) as by_hand:
        change_plan(space, plan.id, [Change("subgoal.add", {"sub_goal": "housing", "category": "meet-a-need",
                                                            "name": "Housing"})], actor="U-kowens")

    problems = rejection(space, plan, 4, "U-kowens").problems

    assert [(p.code, p.value) for p in problems] == [("agreement-issued", ["housing"])]
    assert problems[0].code == by_hand.value.problems[0].code
    assert f"plan {plan.id} has issued an agreement, so no sub-goal may be added" in problems[0].message
    assert "adds sub-goals housing" in problems[0].message
    assert "svcplan plan clone" in problems[0].hint


def test_upgrade_adds_sub_goal_before_agreement(store: Store, library: list[Path]) -> None:
    add_version(library, 4, with_sub_goal)
    space = workspace(library, store)
    plan = plan_with_story(space)

    _, saved = upgrade_stored(space, plan.id, 4, apply=True, drop_progress=False, actor="U-spatel")

    assert saved is not None
    assert "housing" in {s.id for s in saved.sub_goals}


def test_upgrade_rejects_group_after_acceptance(store: Store, library: list[Path]) -> None:
    add_version(library, 4, with_group)
    space = workspace(library, store)
    issued = agreed_plan(space, accept=False)
    upgrade, _ = upgrade_stored(space, issued.id, 4, apply=False, drop_progress=False, actor="U-kowens")
    assert ("added", "group", "partner-services") in changes_of(upgrade.comparison)
    plan, _ = change_plan(space, issued.id, [Change("agreement.accept", {"on": "2027-02-06"})], actor="U-kowens")
    with pytest.raises(RejectedChange) as by_hand:
        change_plan(space, plan.id, [Change("group.add", {"group": "partners", "name": "Partners"})],
                    actor="U-kowens")

    problems = rejection(space, plan, 4, "U-kowens").problems

    assert [(p.code, p.value) for p in problems] == [("agreement-accepted", ["partner-services"])]
    assert problems[0].code == by_hand.value.problems[0].code
    assert f"the client accepted agreement 1 of plan {plan.id}, so no plan group may be added" in problems[0].message


def test_upgrade_rejects_broken_membership_rule(store: Store, library: list[Path]) -> None:
    timing = "days: 183}\n        duration: {days: 1}"
    add_version(library, 4, lambda text: replaced(text, timing, f"{timing}\n        sensitivity: 4"))
    space = workspace(library, store)
    plan = plan_with_story(space)

    problems = rejection(space, plan, 4, "U-kowens").problems

    assert [p.code for p in problems] == ["rule.assignee-lacks-clearance", "rule.assignee-lacks-clearance"]
    for problem in problems:
        assert "follow-up-180" in problem.message
    with pytest.raises(RejectedChange):
        upgrade_stored(space, plan.id, 4, apply=False, drop_progress=False, actor=None)


def test_upgrade_keeps_hand_edits(store: Store, library: list[Path]) -> None:
    space = workspace(library, store)
    plan = plan_with_story(space)
    plan, _ = change_plan(space, plan.id, [
        Change("item.assign", {"item": "follow-up-90", "responsibility": "U-kowens"}),
        Change("item.change", {"item": "follow-up-180", "expected_start": "2027-11-20", "expected_end": "2027-11-22"}),
        Change("milestone.extend", {"milestone": "follow-up-period", "end": "2028-06-30", "reason": "job change"}),
    ], actor="U-kowens")

    upgrade, saved = upgrade_stored(space, plan.id, 2, apply=True, drop_progress=False, actor="U-spatel")

    assert saved is not None
    assert (saved.item("follow-up-90").owner, saved.item("follow-up-90").responsibility) == ("U-spatel", "U-kowens")
    retimed = saved.item("follow-up-180")
    assert (retimed.schedule, retimed.expected_start, retimed.expected_end) == (
        None, date(2027, 11, 20), date(2027, 11, 22))
    milestone = saved.milestone("follow-up-period")
    assert milestone.expected_end == date(2028, 6, 30)
    assert [e.reason for e in milestone.extensions] == ["job change"]
    changed = {c.id: {f.field for f in c.fields} for c in upgrade.comparison.of("changed")}
    assert changed["follow-up-90"] == {"name"}
    assert "follow-up-180" not in changed
    assert "follow-up-period" not in changed
    assert saved.item("comprehensive-assessment").expected_end == date(2027, 2, 21)


def test_upgrade_keeps_assignments_without_previous(store: Store, library: list[Path]) -> None:
    plan = plan_with_story(workspace(library, store))
    template_file = library[0] / f"{TEMPLATE}.yaml"
    template_file.write_text(replaced(template_file.read_text("utf-8"), "name: 90-day follow-up contact",
                                      "name: Edited follow-up contact"), "utf-8")
    space = workspace(library, store)
    plan, _ = change_plan(space, plan.id, [Change("item.assign", {"item": "follow-up-90", "owner": "U-kowens"})],
                          actor="U-kowens")

    _, saved = upgrade_stored(space, plan.id, 2, apply=True, drop_progress=False, actor="U-spatel")

    assert saved is not None
    assert saved.item("follow-up-90").owner == "U-kowens"
    assert saved.item("follow-up-30").owner == "U-spatel"


def test_upgrade_hides_internal_fields(capsys: pytest.CaptureFixture[str], store_target: str,
                                          library: list[Path]) -> None:
    with open_store(store_target) as store:
        space = workspace(library, store)
        plan = plan_with_story(space)
        upgrade, _ = upgrade_stored(space, plan.id, 2, apply=False, drop_progress=False, actor=None)

    top_fields = {f.field.split(".")[0] for c in upgrade.comparison.changes for f in c.fields}
    assert not top_fields & {"schedule", "attributes_schema", "template_item", "occurrence", "case", "kind",
                        "guidance_url", "approval_required"}
    assert {"name", "expected_start", "expected_end", "owner"} <= top_fields
    assert "item:follow-up-90" in upgrade.event().after["changed"]

    code, out, err = cli(capsys, store_target, library, "plan", "upgrade", str(plan.id), "--to", "2")
    assert (code, err) == (0, "")
    for internal in ("schedule.", "attributes_schema", "template_item", "template.hash", "occurrence"):
        assert internal not in out
    assert 'expected_end: "2027-02-14" -> "2027-02-21"' in out
    assert 'expected_start: "2027-11-13" -> "2027-11-16"' in out


def test_upgrade_keeps_elements_added_by_hand(store: Store, library: list[Path]) -> None:
    space = workspace(library, store)
    plan = plan_with_story(space)
    plan, _ = change_plan(space, plan.id, [
        Change("item.add", {"item": "driving-test-fees", "sub_goal": "skills", "name": "Driving test fees",
                            "expected_start": "2027-04-01", "expected_end": "2027-04-30",
                            "expected_outcome": "The fees are paid"}),
        Change("milestone.add", {"milestone": "licence-issued", "name": "Licence issued",
                                 "expected_start": "2027-05-01", "expected_end": "2027-05-15"}),
    ], actor="U-spatel")

    upgrade, saved = upgrade_stored(space, plan.id, 2, apply=True, drop_progress=False, actor="U-spatel")

    assert saved is not None
    assert saved.item("driving-test-fees").name == "Driving test fees"
    assert saved.milestone("licence-issued").expected_end == date(2027, 5, 15)
    removed = {c.id for c in upgrade.comparison.of("removed")}
    assert "driving-test-fees" not in removed
    assert "licence-issued" not in removed
