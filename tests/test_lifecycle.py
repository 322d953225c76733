"""Lifecycles, editing and permissions, on stored plans through the real workflow.

Every change goes through `workflow.change_plan`: the real store, the real
rules engine checking the membership rules after each change, and the plan
loaded again afterwards to prove what was (or was not) stored.
"""

from __future__ import annotations

import json
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from svcplan.cli import main
from svcplan.compile import Library, load_library
from svcplan.errors import RejectedChange
from svcplan.instantiate import PlanOptions
from svcplan.lifecycle import AGREEMENT, ITEM, MILESTONE, PLAN, Lifecycle
from svcplan.plan import Plan
from svcplan.progress import Change
from svcplan.rules import CompiledRuleset, compile_rules
from svcplan.store import Store, open_store
from svcplan.workflow import Workspace, change_plan, evaluate_stored, load_progress, open_plan

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "examples" / "cases"
PROGRESS = ROOT / "examples" / "progress"
LIBRARY_PATHS = [ROOT / "templates", ROOT / "rules"]

# case: (template, case date, case worker, supervisor, findings on the case date)
EXAMPLES = {
    "foster-care-whitlock": ("foster-care-case-plan", date(2027, 4, 2), "U-jmoreno", "U-tbaker", 7),
    "employment-reyes": ("wioa-individual-employment-plan", date(2027, 9, 15), "U-spatel", "U-kowens", 3),
    "home-care-nakamura": ("hcbs-person-centred-plan", date(2027, 4, 26), "U-agarcia", "U-mfischer", 2),
}

Step = tuple[str, dict[str, Any], str | None]
"""One change: its action, its values and the acting user (None: the case worker)."""


@lru_cache(maxsize=1)
def compiled() -> tuple[Library, list[CompiledRuleset]]:
    library = load_library(LIBRARY_PATHS)
    assert not library.errors, library.errors
    return library, compile_rules(library.rule_documents)


def workspace(store: Store, today: date) -> Workspace:
    """Return a workspace on `store`, with the library and rules compiled once for the whole module."""
    created = Workspace(LIBRARY_PATHS, store=store, today=today)
    vars(created)["library"], vars(created)["rulesets"] = compiled()
    return created


def open_example(work: Workspace, case: str) -> int:
    template, _, worker, _, _ = EXAMPLES[case]
    return open_plan(work, template, CASES / f"{case}.yaml", PlanOptions(), actor=worker).plan.id or 0


def run(work: Workspace, plan_id: int, case: str, *steps: Step) -> Plan:
    """Apply `steps` one request each, as the CLI does, and return the stored plan."""
    worker = EXAMPLES[case][2]
    plan = work.require_store().load_plan(plan_id)
    for action, values, actor in steps:
        plan, _ = change_plan(work, plan_id, [Change(action, values)], actor=actor or worker)
    return plan


def rejection(work: Workspace, plan_id: int, case: str, step: Step) -> tuple[str, str]:
    """Try `step`, check that it is rejected and that the stored plan is unchanged; return the code and message."""
    store = work.require_store()
    before = store.load_plan(plan_id).to_dict()
    with pytest.raises(RejectedChange) as raised:
        run(work, plan_id, case, step)
    assert store.load_plan(plan_id).to_dict() == before
    # A broken membership rule is reported once for each element that breaks it.
    codes = {problem.code for problem in raised.value.problems}
    assert len(codes) == 1, codes
    return raised.value.problems[0].code, raised.value.problems[0].message


@pytest.fixture
def sqlite_store(tmp_path: Path):
    with open_store(tmp_path / "plans.db") as opened:
        yield opened


# --- every forbidden transition ---------------------------------------------------------

SUBMIT: Step = ("plan.submit", {}, None)
APPROVE: Step = ("plan.approve", {}, "U-kowens")
ISSUE: Step = ("agreement.issue", {"on": "2027-02-01"}, None)
TRAINING = "occupational-training"

# Steps that bring a new Reyes plan (or the Whitlock plan, for milestones) to each state.
REACH: dict[tuple[str, str], list[Step]] = {
    ("plan", "open"): [],
    ("plan", "submitted"): [SUBMIT],
    ("plan", "approved"): [SUBMIT, APPROVE],
    ("plan", "active"): [SUBMIT, APPROVE, ISSUE, ("agreement.accept", {"on": "2027-02-02"}, None)],
    ("plan", "closed"): [("plan.close", {}, None)],
    ("item", "unapproved"): [],
    ("item", "submitted"): [("item.submit", {"item": TRAINING}, None)],
    ("item", "not-started"): [("item.submit", {"item": TRAINING}, None),
                              ("item.approve", {"item": TRAINING}, "U-kowens")],
    ("item", "in-progress"): [("item.submit", {"item": TRAINING}, None),
                              ("item.approve", {"item": TRAINING}, "U-kowens"),
                              ("item.start", {"item": TRAINING, "on": "2027-02-15"}, None)],
    ("item", "completed"): [("item.submit", {"item": TRAINING}, None),
                            ("item.approve", {"item": TRAINING}, "U-kowens"),
                            ("item.start", {"item": TRAINING, "on": "2027-02-15"}, None),
                            ("item.complete", {"item": TRAINING, "on": "2027-04-30"}, None)],
    ("milestone", "not-started"): [],
    ("milestone", "in-progress"): [("milestone.start", {"milestone": "case-plan-developed", "on": "2027-01-11"}, None)],
    ("milestone", "completed"): [("milestone.start", {"milestone": "case-plan-developed", "on": "2027-01-11"}, None),
                                 ("milestone.complete", {"milestone": "case-plan-developed", "on": "2027-03-12"}, None)],
    ("milestone", "waived"): [("milestone.waive", {"milestone": "case-plan-developed"}, None)],
    ("agreement", "accepted"): [SUBMIT, APPROVE, ISSUE, ("agreement.accept", {"on": "2027-02-02"}, None)],
    ("agreement", "rejected"): [SUBMIT, APPROVE, ISSUE, ("agreement.reject", {"on": "2027-02-02"}, None)],
    ("agreement", "cancelled"): [SUBMIT, APPROVE, ISSUE, ("agreement.cancel", {}, None)],
}

# The change each verb makes, per lifecycle.
ATTEMPT: dict[tuple[str, str], Step] = {
    ("plan", "submit"): SUBMIT,
    ("plan", "approve"): APPROVE,
    ("plan", "reject"): ("plan.reject", {}, "U-kowens"),
    ("plan", "activate"): ("plan.activate", {}, None),
    ("plan", "close"): ("plan.close", {}, None),
    ("item", "submit"): ("item.submit", {"item": TRAINING}, None),
    ("item", "approve"): ("item.approve", {"item": TRAINING}, "U-kowens"),
    ("item", "reject"): ("item.reject", {"item": TRAINING}, "U-kowens"),
    ("item", "start"): ("item.start", {"item": TRAINING, "on": "2027-02-15"}, None),
    ("item", "complete"): ("item.complete", {"item": TRAINING, "on": "2027-04-30"}, None),
    ("milestone", "start"): ("milestone.start", {"milestone": "case-plan-developed", "on": "2027-01-11"}, None),
    ("milestone", "complete"): ("milestone.complete", {"milestone": "case-plan-developed", "on": "2027-03-12"}, None),
    ("milestone", "waive"): ("milestone.waive", {"milestone": "case-plan-developed"}, None),
    ("milestone", "extend"): ("milestone.extend", {"milestone": "case-plan-developed", "end": "2027-04-30"}, None),
    ("agreement", "accept"): ("agreement.accept", {"agreement": 1}, None),
    ("agreement", "reject"): ("agreement.reject", {"agreement": 1}, None),
    ("agreement", "cancel"): ("agreement.cancel", {"agreement": 1}, None),
}

ITEM_LABEL = f"item {TRAINING!r}"
MILESTONE_LABEL = "milestone 'case-plan-developed'"
CLOSED = "plan 1 is closed and changes no more"

# lifecycle, verb, state: the message that rejects the verb in that state.
FORBIDDEN = [
    ("plan", "submit", "submitted", "plan 1 is already submitted"),
    ("plan", "submit", "approved", "plan 1 is approved; an approved plan cannot become open again"),
    ("plan", "submit", "active", "plan 1 is active; an active plan cannot become open again"),
    ("plan", "submit", "closed", CLOSED),
    ("plan", "approve", "open", "plan 1 is open; submit it first"),
    ("plan", "approve", "approved", "plan 1 is already approved"),
    ("plan", "approve", "active", "plan 1 is active; an active plan cannot become submitted again"),
    ("plan", "approve", "closed", CLOSED),
    ("plan", "reject", "open", "plan 1 is open; submit it first"),
    ("plan", "reject", "approved", "plan 1 is approved; an approved plan cannot become submitted again"),
    ("plan", "reject", "active", "plan 1 is active; an active plan cannot become submitted again"),
    ("plan", "reject", "closed", CLOSED),
    ("plan", "activate", "open", "plan 1 is open; first submit it, then approve it"),
    ("plan", "activate", "submitted", "plan 1 is submitted; approve it first"),
    ("plan", "activate", "active", "plan 1 is already active"),
    ("plan", "activate", "closed", CLOSED),
    ("plan", "close", "closed", CLOSED),
    ("item", "submit", "submitted", f"{ITEM_LABEL} is already submitted"),
    ("item", "submit", "not-started", f"{ITEM_LABEL} is not-started; a not-started item cannot become unapproved again"),
    ("item", "submit", "in-progress", f"{ITEM_LABEL} is in-progress; an in-progress item cannot become unapproved again"),
    ("item", "submit", "completed", f"{ITEM_LABEL} is completed; a completed item cannot become unapproved again"),
    ("item", "approve", "unapproved", f"{ITEM_LABEL} is unapproved; submit it first"),
    ("item", "approve", "not-started", f"{ITEM_LABEL} is not-started; a not-started item cannot become submitted again"),
    ("item", "approve", "in-progress", f"{ITEM_LABEL} is in-progress; an in-progress item cannot become submitted again"),
    ("item", "approve", "completed", f"{ITEM_LABEL} is completed; a completed item cannot become submitted again"),
    ("item", "reject", "unapproved", f"{ITEM_LABEL} is unapproved; submit it first"),
    ("item", "reject", "not-started", f"{ITEM_LABEL} is not-started; a not-started item cannot become submitted again"),
    ("item", "reject", "in-progress", f"{ITEM_LABEL} is in-progress; an in-progress item cannot become submitted again"),
    ("item", "reject", "completed", f"{ITEM_LABEL} is completed; a completed item cannot become submitted again"),
    ("item", "start", "unapproved", f"{ITEM_LABEL} is unapproved; first submit it, then approve it"),
    ("item", "start", "submitted", f"{ITEM_LABEL} is submitted; approve it first"),
    ("item", "complete", "unapproved", f"{ITEM_LABEL} is unapproved; first submit it, then approve it, then start it"),
    ("item", "complete", "submitted", f"{ITEM_LABEL} is submitted; first approve it, then start it"),
    ("item", "complete", "not-started", f"{ITEM_LABEL} is not-started; start it first"),
    ("milestone", "start", "completed",
     f"{MILESTONE_LABEL} is completed; a completed milestone cannot become not-started or in-progress again"),
    ("milestone", "start", "waived",
     f"{MILESTONE_LABEL} is waived; a waived milestone cannot become not-started or in-progress again"),
    ("milestone", "complete", "not-started", f"{MILESTONE_LABEL} is not-started; start it first"),
    ("milestone", "complete", "waived", f"{MILESTONE_LABEL} is waived; a waived milestone cannot become in-progress "
                                        "or completed again"),
    ("milestone", "waive", "completed",
     f"{MILESTONE_LABEL} is completed; a completed milestone cannot become not-started or in-progress again"),
    ("milestone", "waive", "waived", f"{MILESTONE_LABEL} is already waived"),
    ("milestone", "extend", "completed",
     f"{MILESTONE_LABEL} is completed; a completed milestone cannot become not-started or in-progress again"),
    ("milestone", "extend", "waived",
     f"{MILESTONE_LABEL} is waived; a waived milestone cannot become not-started or in-progress again"),
    ("agreement", "accept", "accepted", "agreement 1 of plan 1 is already accepted"),
    ("agreement", "accept", "rejected", "agreement 1 of plan 1 is rejected; a rejected agreement cannot become issued again"),
    ("agreement", "accept", "cancelled",
     "agreement 1 of plan 1 is cancelled; a cancelled agreement cannot become issued again"),
    ("agreement", "reject", "accepted", "agreement 1 of plan 1 is accepted; an accepted agreement cannot become issued again"),
    ("agreement", "reject", "rejected", "agreement 1 of plan 1 is already rejected"),
    ("agreement", "reject", "cancelled",
     "agreement 1 of plan 1 is cancelled; a cancelled agreement cannot become issued again"),
    ("agreement", "cancel", "accepted", "agreement 1 of plan 1 is accepted; an accepted agreement cannot become issued again"),
    ("agreement", "cancel", "rejected", "agreement 1 of plan 1 is rejected; a rejected agreement cannot become issued again"),
    ("agreement", "cancel", "cancelled", "agreement 1 of plan 1 is already cancelled"),
]

LIFECYCLES: dict[str, Lifecycle] = {"plan": PLAN, "item": ITEM, "milestone": MILESTONE, "agreement": AGREEMENT}
# States no verb of the table starts from: a new agreement is issued, and a plan is closed by apply_change's check.
EXTRA_STATES = {"agreement": {"issued"}, "plan": {"closed"}}


def test_table_covers_every_forbidden_transition():
    expected = set()
    for kind, lifecycle in LIFECYCLES.items():
        states = {s for moves in lifecycle.transitions.values() for pair in moves.items() for s in pair}
        states |= EXTRA_STATES.get(kind, set())
        for verb, moves in lifecycle.transitions.items():
            # An agreement is issued, never reached by a verb, so "issued" is only a starting state.
            expected |= {(kind, verb, state) for state in states - set(moves) if (kind, state) in REACH}
    assert {(kind, verb, state) for kind, verb, state, _ in FORBIDDEN} == expected


@pytest.mark.parametrize(("kind", "verb", "state", "message"), FORBIDDEN,
                         ids=[f"{k}-{v}-from-{s}" for k, v, s, _ in FORBIDDEN])
def test_forbidden_transition_rejected(sqlite_store, kind, verb, state, message):
    case = "foster-care-whitlock" if kind == "milestone" else "employment-reyes"
    work = workspace(sqlite_store, EXAMPLES[case][1])
    plan_id = open_example(work, case)
    run(work, plan_id, case, *REACH[(kind, state)])
    step = ATTEMPT[(kind, verb)]

    code, text = rejection(work, plan_id, case, step)

    assert text == f"{step[0]}: {message}"
    assert code == f"{'plan' if message == CLOSED else kind}-{state}"


# --- conditions beyond the tables ----------------------------------------------------------


def test_issue_needs_approved_plan(sqlite_store):
    work = workspace(sqlite_store, date(2027, 9, 15))
    plan_id = open_example(work, "employment-reyes")
    code, message = rejection(work, plan_id, "employment-reyes", ISSUE)
    assert (code, message) == ("plan-open", "agreement.issue: plan 1 is open; first submit it, then approve it")
    run(work, plan_id, "employment-reyes", SUBMIT)
    code, message = rejection(work, plan_id, "employment-reyes", ISSUE)
    assert (code, message) == ("plan-submitted", "agreement.issue: plan 1 is submitted; approve it first")


def test_issue_blocked_by_item_awaiting_approval(sqlite_store):
    work = workspace(sqlite_store, date(2027, 9, 15))
    plan_id = open_example(work, "employment-reyes")
    run(work, plan_id, "employment-reyes", SUBMIT, APPROVE,
        ("item.add", {"item": "second-training", "sub_goal": "skills", "type": "occupational-skills-training",
                      "expected_start": "2027-10-01", "expected_end": "2027-12-01"}, None))

    code, message = rejection(work, plan_id, "employment-reyes", ISSUE)

    assert code == "items-await-approval"
    assert "items second-training of plan 1 await approval" in message


def test_only_one_agreement_outstanding(sqlite_store):
    work = workspace(sqlite_store, date(2027, 9, 15))
    plan_id = open_example(work, "employment-reyes")
    run(work, plan_id, "employment-reyes", SUBMIT, APPROVE, ISSUE)

    code, message = rejection(work, plan_id, "employment-reyes", ISSUE)

    assert code == "agreement-outstanding"
    assert "agreement 1 of plan 1 is still outstanding" in message


def test_activate_needs_an_agreement(sqlite_store):
    work = workspace(sqlite_store, date(2027, 9, 15))
    plan_id = open_example(work, "employment-reyes")
    run(work, plan_id, "employment-reyes", SUBMIT, APPROVE)

    code, _ = rejection(work, plan_id, "employment-reyes", ("plan.activate", {}, None))
    assert code == "no-outstanding-agreement"

    plan = run(work, plan_id, "employment-reyes", ISSUE, ("plan.activate", {"on": "2027-02-02"}, None))
    assert plan.status == "active"
    assert plan.agreements[0].status == "accepted"


def test_structure_frozen_by_agreements(sqlite_store):
    work = workspace(sqlite_store, date(2027, 9, 15))
    plan_id = open_example(work, "employment-reyes")
    add_sub_goal: Step = ("subgoal.add", {"sub_goal": "housing", "name": "Stable housing", "category": "meet-a-need"},
                          None)
    add_group: Step = ("group.add", {"group": "phase-two", "name": "Phase two"}, None)
    run(work, plan_id, "employment-reyes", SUBMIT, APPROVE, ISSUE, add_group)

    code, message = rejection(work, plan_id, "employment-reyes", add_sub_goal)
    assert code == "agreement-issued"
    assert message == "subgoal.add: plan 1 has issued an agreement, so no sub-goal may be added"

    run(work, plan_id, "employment-reyes", ("agreement.accept", {"on": "2027-02-02"}, None))
    code, message = rejection(work, plan_id, "employment-reyes", ("group.add", {"group": "late", "name": "Late"}, None))
    assert code == "agreement-accepted"


def test_approver_submission_approves_at_once(sqlite_store):
    work = workspace(sqlite_store, date(2027, 9, 15))
    plan_id = open_example(work, "employment-reyes")

    plan = run(work, plan_id, "employment-reyes", ("plan.submit", {}, "U-kowens"))

    assert plan.status == "approved"
    assert plan.item(TRAINING).approval == "approved"
    [event] = [e for e in sqlite_store.history(plan_id) if e.action == "plan.submit"]
    assert (event.actor, event.after["status"]) == ("U-kowens", "approved")


def test_plan_approval_approves_waiting_items(sqlite_store):
    work = workspace(sqlite_store, date(2027, 9, 15))
    plan_id = open_example(work, "employment-reyes")
    before = sqlite_store.load_plan(plan_id)
    assert before.item(TRAINING).status == "unapproved"

    plan = run(work, plan_id, "employment-reyes", SUBMIT, APPROVE)

    assert plan.item(TRAINING).status == "not-started"


def test_close_cancels_outstanding_agreement(sqlite_store):
    work = workspace(sqlite_store, date(2027, 9, 15))
    plan_id = open_example(work, "employment-reyes")

    plan = run(work, plan_id, "employment-reyes", SUBMIT, APPROVE, ISSUE, ("plan.close", {"reason": "moved away"}, None))

    assert plan.status == "closed"
    assert plan.agreements[0].status == "cancelled"


# --- permissions ------------------------------------------------------------------------


def test_approve_without_may_approve_rejected(sqlite_store):
    work = workspace(sqlite_store, date(2027, 9, 15))
    plan_id = open_example(work, "employment-reyes")
    run(work, plan_id, "employment-reyes", SUBMIT)

    code, message = rejection(work, plan_id, "employment-reyes", ("plan.approve", {}, "U-spatel"))

    assert code == "not-an-approver"
    assert message == "plan.approve: U-spatel may not approve; it needs a user who may approve"


def test_change_above_clearance_rejected(sqlite_store):
    work = workspace(sqlite_store, date(2027, 4, 2))
    plan_id = open_example(work, "foster-care-whitlock")

    code, message = rejection(work, plan_id, "foster-care-whitlock",
                              ("item.start", {"item": "medical-exam", "on": "2027-01-29"}, "U-hlin"))

    assert code == "above-clearance"
    assert message == ("item.start: item 'medical-exam' has sensitivity 3, above the clearance 2 of U-hlin")


def test_no_acting_user_rejected(sqlite_store):
    work = workspace(sqlite_store, date(2027, 4, 2))
    plan_id = open_example(work, "foster-care-whitlock")
    before = sqlite_store.load_plan(plan_id).to_dict()

    with pytest.raises(RejectedChange) as raised:
        change_plan(work, plan_id, [Change("plan.submit", {})], actor=None)

    assert raised.value.problems[0].code == "no-actor"
    assert "give --as USER or set SVCPLAN_USER" in raised.value.problems[0].hint
    assert sqlite_store.load_plan(plan_id).to_dict() == before


def test_opening_needs_a_case_user(sqlite_store):
    work = workspace(sqlite_store, date(2027, 4, 2))
    for actor, code in ((None, "no-actor"), ("U-nobody", "unknown-user")):
        with pytest.raises(RejectedChange) as raised:
            open_plan(work, "foster-care-case-plan", CASES / "foster-care-whitlock.yaml", PlanOptions(), actor=actor)
        assert raised.value.problems[0].code == code
    assert sqlite_store.list_plans() == []


def test_waiver_needing_approval(sqlite_store):
    work = workspace(sqlite_store, date(2027, 4, 2))
    plan_id = open_example(work, "foster-care-whitlock")
    run(work, plan_id, "foster-care-whitlock",
        ("milestone.add", {"milestone": "court-report", "name": "Report to the court", "expected_start": "2027-05-01",
                           "expected_end": "2027-05-15", "waiver_needs_approval": True}, None))

    code, _ = rejection(work, plan_id, "foster-care-whitlock", ("milestone.waive", {"milestone": "court-report"}, None))
    assert code == "not-an-approver"

    plan = run(work, plan_id, "foster-care-whitlock", ("milestone.waive", {"milestone": "court-report"}, "U-tbaker"))
    assert plan.milestone("court-report").status == "waived"


def test_authorise_units_rules_and_history(sqlite_store):
    work = workspace(sqlite_store, date(2027, 4, 2))
    plan_id = open_example(work, "foster-care-whitlock")
    raise_to_12: Step = ("item.authorise", {"item": "parenting-classes-mother", "units": 12, "reason": "missed"}, None)

    code, _ = rejection(work, plan_id, "foster-care-whitlock", raise_to_12)
    assert code == "not-an-approver"
    code, message = rejection(work, plan_id, "foster-care-whitlock",
                              ("item.authorise", {"item": "parenting-classes-mother", "units": 17}, "U-tbaker"))
    assert code == "units-above-maximum"
    assert "above the maximum of 16" in message

    plan = run(work, plan_id, "foster-care-whitlock", (*raise_to_12[:2], "U-tbaker"))
    item = plan.item("parenting-classes-mother")
    assert item.authorised_units is not None and item.authorised_units.count == 12
    [entry] = item.authorisations
    assert (entry.actor, entry.previous.count if entry.previous else None, entry.units.count) == ("U-tbaker", 10, 12)
    [event] = [e for e in sqlite_store.history(plan_id) if e.action == "item.authorise"]
    assert (event.actor, event.before, event.after) == (
        "U-tbaker", {"authorised_units": {"count": 10, "per": None}},
        {"authorised_units": {"count": 12.0, "per": None}, "reason": "missed"})


def test_plan_show_hides_items_above_clearance(tmp_path, capsys):
    db = tmp_path / "plans.db"
    base = ["--db", str(db), "--library", str(LIBRARY_PATHS[0]), "--library", str(LIBRARY_PATHS[1])]
    assert main([*base, "plan", "new", "--template", "foster-care-case-plan", "--case",
                 str(CASES / "foster-care-whitlock.yaml"), "--as", "U-jmoreno"]) == 0
    capsys.readouterr()

    assert main([*base, "plan", "show", "1", "--as", "U-hlin", "--format", "json"]) == 0
    visible = json.loads(capsys.readouterr().out)
    assert main([*base, "plan", "show", "1", "--as", "U-hlin"]) == 0
    text = capsys.readouterr().out

    assert visible["hidden_items"] == 3
    assert all(item["sensitivity"] <= 2 for item in visible["items"])
    assert "3 items are hidden: above the sensitivity clearance of U-hlin" in text
    assert "medical-exam" not in text


def test_cli_change_without_actor_fails(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SVCPLAN_USER", raising=False)
    db = tmp_path / "plans.db"
    base = ["--db", str(db), "--library", str(LIBRARY_PATHS[0]), "--library", str(LIBRARY_PATHS[1])]
    assert main([*base, "plan", "new", "--template", "foster-care-case-plan", "--case",
                 str(CASES / "foster-care-whitlock.yaml"), "--as", "U-jmoreno"]) == 0
    capsys.readouterr()

    code = main([*base, "plan", "submit", "1"])

    assert code == 1
    err = capsys.readouterr().err
    assert "plan.submit: no acting user was given [no-actor]" in err
    assert "U-jmoreno, U-tbaker, U-hlin" in err


# --- editing ------------------------------------------------------------------------------


def test_custom_item_needs_name_dates_outcome(sqlite_store):
    work = workspace(sqlite_store, date(2027, 4, 2))
    plan_id = open_example(work, "foster-care-whitlock")
    values = {"item": "family-therapy", "sub_goal": "parents-can-care", "name": "Family therapy",
              "expected_start": "2027-05-01", "expected_end": "2027-08-31", "expected_outcome": "Better bond"}
    for missing in ("name", "expected_start", "expected_end", "expected_outcome"):
        partial = {key: value for key, value in values.items() if key != missing}
        code, message = rejection(work, plan_id, "foster-care-whitlock", ("item.add", partial, None))
        assert code == "missing-value"
        assert missing in message

    plan = run(work, plan_id, "foster-care-whitlock", ("item.add", values, None))

    item = plan.item("family-therapy")
    assert (item.kind.value, item.name, item.owner, item.concerning, item.mandatory) == (
        "custom", "Family therapy", "U-jmoreno", "P-1", False)


def test_item_edits_keep_membership_rules(sqlite_store):
    work = workspace(sqlite_store, date(2027, 4, 2))
    plan_id = open_example(work, "foster-care-whitlock")

    code, _ = rejection(work, plan_id, "foster-care-whitlock",
                        ("item.add", {"item": "dental", "sub_goal": "child-safe-and-well", "type": "dental-exam",
                                      "concerning": "P-3", "owner": "P-5"}, None))

    assert code == "rule.assignee-not-allowed"


def test_mandatory_item_cannot_be_removed(sqlite_store):
    work = workspace(sqlite_store, date(2027, 4, 2))
    plan_id = open_example(work, "foster-care-whitlock")

    code, _ = rejection(work, plan_id, "foster-care-whitlock", ("item.remove", {"item": "medical-exam"}, None))
    assert code == "mandatory-item"
    code, _ = rejection(work, plan_id, "foster-care-whitlock",
                        ("item.remove", {"item": "substance-use-assessment"}, None))
    assert code == "mandatory-item"

    plan = run(work, plan_id, "foster-care-whitlock", ("item.remove", {"item": "school-enrolment"}, None))
    assert plan.item("school-enrolment") is None


def test_reassign_all_moves_open_items(sqlite_store):
    work = workspace(sqlite_store, date(2027, 4, 2))
    plan_id = open_example(work, "foster-care-whitlock")
    run(work, plan_id, "foster-care-whitlock",
        ("item.start", {"item": "medical-exam", "on": "2027-01-29"}, None),
        ("item.complete", {"item": "medical-exam", "on": "2027-01-29", "outcome": "attained"}, None))

    plan = run(work, plan_id, "foster-care-whitlock",
               ("item.reassign-all", {"from": "U-jmoreno", "to": "U-tbaker"}, "U-tbaker"))

    assert plan.item("medical-exam").owner == "U-jmoreno"
    assert plan.item("caseworker-visits").owner == "U-tbaker"
    assert plan.item("caseworker-visits").responsibility == "U-tbaker"
    assert not [i.id for i in plan.items if not i.actual_end and "U-jmoreno" in (i.owner, i.responsibility)]
    code, _ = rejection(work, plan_id, "foster-care-whitlock",
                        ("item.reassign-all", {"from": "U-tbaker", "to": "U-hlin"}, "U-tbaker"))
    assert code == "rule.assignee-lacks-clearance"


def test_milestone_extension_kept_in_history(sqlite_store):
    work = workspace(sqlite_store, date(2027, 4, 2))
    plan_id = open_example(work, "foster-care-whitlock")

    plan = run(work, plan_id, "foster-care-whitlock",
               ("milestone.extend", {"milestone": "case-plan-developed", "end": "2027-03-31", "reason": "court"}, None),
               ("milestone.start", {"milestone": "case-plan-developed", "on": "2027-01-11"}, None))

    milestone = plan.milestone("case-plan-developed")
    assert milestone.expected_end == date(2027, 3, 31)
    [extension] = milestone.extensions
    assert (extension.previous_end, extension.new_end, extension.actor) == (
        date(2027, 3, 9), date(2027, 3, 31), "U-jmoreno")
    code, _ = rejection(work, plan_id, "foster-care-whitlock",
                        ("milestone.extend", {"milestone": "permanency-hearing-1", "end": "2028-03-01"}, None))
    assert code == "not-extendable"


def test_sub_goal_and_group_edits(sqlite_store):
    work = workspace(sqlite_store, date(2027, 9, 15))
    plan_id = open_example(work, "employment-reyes")

    plan = run(work, plan_id, "employment-reyes",
               ("group.add", {"group": "phase-one", "name": "Phase one"}, None),
               ("subgoal.add", {"sub_goal": "housing", "name": "Stable housing", "category": "meet-a-need",
                                "group": "phase-one"}, None),
               ("subgoal.change", {"sub_goal": "housing", "name": "Stable housing near work"}, None))

    assert [s.name for s in plan.sub_goals if s.id == "housing"] == ["Stable housing near work"]
    code, _ = rejection(work, plan_id, "employment-reyes", ("group.remove", {"group": "phase-one"}, None))
    assert code == "group-not-empty"
    code, _ = rejection(work, plan_id, "employment-reyes", ("subgoal.remove", {"sub_goal": "skills"}, None))
    assert code == "sub-goal-has-items"
    plan = run(work, plan_id, "employment-reyes", ("subgoal.remove", {"sub_goal": "housing"}, None),
               ("group.remove", {"group": "phase-one"}, None))
    assert [g.id for g in plan.groups] == []


def test_old_documents_read_with_defaults(sqlite_store):
    work = workspace(sqlite_store, date(2027, 9, 15))
    document = sqlite_store.load_plan(open_example(work, "employment-reyes")).to_dict()
    # A document as written before lifecycles: without the keys they added.
    del document["agreements"]
    for item in document["items"]:
        del item["approval"], item["authorisations"]
    for milestone in document["milestones"]:
        del milestone["extensions"]

    plan = Plan.from_dict(document)

    assert plan.agreements == []
    assert plan.item(TRAINING).approval_required
    assert plan.item(TRAINING).approval == "approved"
    assert all(m.extensions == [] for m in plan.milestones)


# --- whole life, on SQLite and PostgreSQL ----------------------------------------------------


@pytest.mark.parametrize("case", sorted(EXAMPLES))
def test_example_case_whole_life(store, case):
    template, as_of, worker, supervisor, finding_count = EXAMPLES[case]
    work = workspace(store, as_of)
    plan_id = open_example(work, case)
    assert store.load_plan(plan_id).status == "open"

    file_actor, changes = load_progress(PROGRESS / f"{case}.yaml")
    assert file_actor == worker
    plan, _ = change_plan(work, plan_id, changes, actor=file_actor)

    assert plan.status == "active"
    assert [a.status for a in plan.agreements] == ["accepted"]
    assert not [i.id for i in plan.items if i.approval != "approved"]
    assert len(evaluate_stored(work, plan_id, as_of).findings) == finding_count
    events = store.history(plan_id)
    assert [e.actor for e in events if e.action == "plan.approve"] == [supervisor]
    assert [e.action for e in events[:5]] == [
        "plan.opened", "plan.submit", "plan.approve", "agreement.issue", "agreement.accept"]

    closed, _ = change_plan(work, plan_id, [Change("plan.close", {"reason": "goal reached"})], actor=supervisor)
    assert closed.status == "closed"
    assert store.load_plan(plan_id).status == "closed"
    assert [p.status for p in store.list_plans()] == ["closed"]
    with pytest.raises(RejectedChange) as raised:
        change_plan(work, plan_id, [Change("item.cost", {"item": plan.items[0].id, "estimated": 1})], actor=worker)
    assert raised.value.problems[0].code == "plan-closed"
    assert store.load_plan(plan_id).version == closed.version


def test_progress_schema_lists_every_action():
    from svcplan.progress import all_actions

    schema = json.loads((ROOT / "engine" / "schemas" / "progress.schema.json").read_text())
    listed = schema["properties"]["changes"]["items"]["properties"]["do"]["enum"]

    assert sorted(listed) == sorted(all_actions())
