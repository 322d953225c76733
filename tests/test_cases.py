"""The main job on the example cases: open, record the story, evaluate as of its date.

Each test drives the real command line on the shipped templates and rules, a
real SQLite file and the real rules engine, and checks the findings the case's
story calls for. Where the story reports nothing else, the test checks that nothing else is flagged.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from svcplan.cli import main

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ["--library", str(ROOT / "templates"), "--library", str(ROOT / "rules")]
CASES = ROOT / "examples" / "cases"
PROGRESS = ROOT / "examples" / "progress"
CASE_WORKER = {"foster-care-whitlock": "U-jmoreno", "employment-reyes": "U-spatel", "home-care-nakamura": "U-agarcia"}


def svcplan(capsys, db: Path, *args: str) -> tuple[int, str, str]:
    code = main(["--db", str(db), *LIBRARY, *args])
    out, err = capsys.readouterr()
    return code, out, err


def open_with_story(capsys, db: Path, case: str, template: str, as_of: str) -> int:
    code, out, err = svcplan(capsys, db, "--today", as_of, "plan", "new", "--template", template,
                             "--case", str(CASES / f"{case}.yaml"), "--as", CASE_WORKER[case])
    assert code == 0, err
    plan_id = int(out.split()[2].rstrip(":"))
    code, out, err = svcplan(capsys, db, "--today", as_of, "plan", "apply", str(plan_id),
                             str(PROGRESS / f"{case}.yaml"))
    assert code == 0, err
    return plan_id


def findings(capsys, db: Path, plan_id: int, as_of: str, *extra: str) -> set[tuple[str, str]]:
    code, out, err = svcplan(capsys, db, "evaluate", str(plan_id), "--as-of", as_of, "--format", "json", *extra)
    assert code == 0, err
    [evaluation] = json.loads(out)
    assert evaluation["as_of"] == as_of
    return {(f["rule"], f["element"]) for f in evaluation["findings"]}


def test_whitlock_findings_match_story(capsys, tmp_path):
    db = tmp_path / "plans.db"
    plan_id = open_with_story(capsys, db, "foster-care-whitlock", "foster-care-case-plan", "2027-04-02")

    found = findings(capsys, db, plan_id, "2027-04-02")

    assert ("item-start-overdue", "item:substance-use-assessment") in found
    assert ("item-end-overdue", "item:substance-use-assessment") in found
    assert ("item-start-overdue", "item:parenting-classes-father") in found
    assert ("item-end-overdue", "item:parenting-classes-mother") in found
    assert ("units-behind-schedule", "item:parenting-classes-mother") in found
    assert ("milestone-completed-late", "milestone:case-plan-developed") in found
    quiet = {"item:supervised-visits", "item:caseworker-visits", "item:medical-exam"}
    assert not [f for f in found if f[1] in quiet]
    assert not [f for f in found if f[0].startswith("milestone-") and f[1] != "milestone:case-plan-developed"]


def test_whitlock_membership_rules(capsys, tmp_path):
    db = tmp_path / "plans.db"
    plan_id = open_with_story(capsys, db, "foster-care-whitlock", "foster-care-case-plan", "2027-04-02")
    _, before, _ = svcplan(capsys, db, "plan", "show", str(plan_id), "--format", "json")

    code, _, err = svcplan(capsys, db, "--today", "2027-04-02", "participant", "add", str(plan_id), "P-5",
                           "--as", "U-jmoreno")

    assert code == 1
    assert "member-is-prospect" in err
    assert "Evelyn Whitlock" in err
    assert "Traceback" not in err
    _, after, _ = svcplan(capsys, db, "plan", "show", str(plan_id), "--format", "json")
    assert after == before

    code, _, err = svcplan(capsys, db, "--today", "2027-04-02", "item", "assign", str(plan_id), "school-enrolment",
                           "--responsibility", "U-hlin", "--as", "U-tbaker")
    assert code == 0, err
    _, shown, _ = svcplan(capsys, db, "plan", "show", str(plan_id), "--format", "json")
    [item] = [i for i in json.loads(shown)["items"] if i["id"] == "school-enrolment"]
    assert item["responsibility"] == "U-hlin"


def test_whitlock_unknown_owner_rejected(capsys, tmp_path):
    db = tmp_path / "plans.db"
    plan_id = open_with_story(capsys, db, "foster-care-whitlock", "foster-care-case-plan", "2027-04-02")

    code, _, err = svcplan(capsys, db, "--today", "2027-04-02", "item", "assign", str(plan_id), "medical-exam",
                           "--owner", "P-5", "--as", "U-jmoreno")

    assert code == 1
    assert "assignee-not-allowed" in err


def test_reyes_flags_only_follow_up_and_cost(capsys, tmp_path):
    db = tmp_path / "plans.db"
    plan_id = open_with_story(capsys, db, "employment-reyes", "wioa-individual-employment-plan", "2027-09-15")

    found = findings(capsys, db, plan_id, "2027-09-15")

    assert found == {
        ("item-start-overdue", "item:follow-up-90"),
        ("item-end-overdue", "item:follow-up-90"),
        ("cost-over-estimate", "item:occupational-training"),
    }


def test_reyes_cost_evidence(capsys, tmp_path):
    db = tmp_path / "plans.db"
    plan_id = open_with_story(capsys, db, "employment-reyes", "wioa-individual-employment-plan", "2027-09-15")
    code, out, _ = svcplan(capsys, db, "evaluate", str(plan_id), "--as-of", "2027-09-15", "--format", "json")
    [cost] = [f for f in json.loads(out)[0]["findings"] if f["rule"] == "cost-over-estimate"]
    assert cost["evidence"] == {"estimated_cost": 4800, "actual_cost": 5150}


def test_nakamura_personal_care_behind(capsys, tmp_path):
    db = tmp_path / "plans.db"
    plan_id = open_with_story(capsys, db, "home-care-nakamura", "hcbs-person-centred-plan", "2027-04-26")

    code, out, _ = svcplan(capsys, db, "evaluate", str(plan_id), "--as-of", "2027-04-26", "--format", "json")
    evaluation = json.loads(out)[0]
    found = {(f["rule"], f["element"]) for f in evaluation["findings"]}

    assert found == {
        ("units-behind-schedule", "item:personal-care"),
        ("item-start-overdue", "item:adult-day-services"),
    }
    [behind] = [f for f in evaluation["findings"] if f["rule"] == "units-behind-schedule"]
    assert behind["evidence"]["delivered_units"] == 112
    assert behind["evidence"]["prorated_units"] == pytest.approx(160)


def test_evaluation_as_of_any_date_never_writes(capsys, tmp_path):
    db = tmp_path / "plans.db"
    plan_id = open_with_story(capsys, db, "employment-reyes", "wioa-individual-employment-plan", "2027-09-15")
    _, before, _ = svcplan(capsys, db, "plan", "history", str(plan_id), "--format", "json")

    early = findings(capsys, db, plan_id, "2027-08-15")
    late = findings(capsys, db, plan_id, "2028-06-01")

    assert ("item-start-overdue", "item:follow-up-90") not in early
    assert ("item-due-soon", "item:follow-up-90") in early
    assert ("item-start-overdue", "item:follow-up-365") in late
    _, after, _ = svcplan(capsys, db, "plan", "history", str(plan_id), "--format", "json")
    assert after == before


def test_due_soon_window_is_configurable(capsys, tmp_path):
    db = tmp_path / "plans.db"
    plan_id = open_with_story(capsys, db, "employment-reyes", "wioa-individual-employment-plan", "2027-09-15")

    default = findings(capsys, db, plan_id, "2027-11-01")
    wide = findings(capsys, db, plan_id, "2027-11-01", "--due-soon-days", "14")

    assert ("item-due-soon", "item:follow-up-180") not in default
    assert ("item-due-soon", "item:follow-up-180") in wide


def test_history_records_every_change(capsys, tmp_path):
    db = tmp_path / "plans.db"
    plan_id = open_with_story(capsys, db, "employment-reyes", "wioa-individual-employment-plan", "2027-09-15")

    code, out, _ = svcplan(capsys, db, "plan", "history", str(plan_id), "--format", "json")
    events = json.loads(out)

    assert events[0]["action"] == "plan.opened"
    assert len(events) == 22
    baselines = [e for e in events if e["action"] == "plan.baseline-taken"]
    assert [e["target"] for e in baselines] == ["baseline:submitted", "baseline:approved"]
    approvals = {"plan.approve", "plan.baseline-taken"}
    assert {e["actor"] for e in events if e["action"] == "plan.approve"} == {"U-kowens"}
    assert [e["actor"] for e in baselines] == ["U-spatel", "U-kowens"]
    assert {e["actor"] for e in events if e["action"] not in approvals} == {"U-spatel"}
    [cost] = [e for e in events if e["action"] == "item.cost" and "actual_cost" in e["after"]]
    assert cost["before"] == {"actual_cost": None}
    assert cost["after"] == {"actual_cost": 5150.0}


def test_past_as_of_ignores_later_records(capsys, tmp_path):
    db = tmp_path / "plans.db"
    plan_id = open_with_story(capsys, db, "foster-care-whitlock", "foster-care-case-plan", "2027-04-02")

    early = findings(capsys, db, plan_id, "2027-01-15")

    assert ("milestone-completed-late", "milestone:case-plan-developed") not in early
    assert ("units-behind-schedule", "item:caseworker-visits") not in early
    assert ("item-start-overdue", "item:caseworker-visits") in early


def test_past_as_of_unknown_anchor(capsys, tmp_path):
    db = tmp_path / "plans.db"
    plan_id = open_with_story(capsys, db, "employment-reyes", "wioa-individual-employment-plan", "2027-09-15")

    before_work = findings(capsys, db, plan_id, "2027-05-10")

    assert not [f for f in before_work if f[1].startswith("item:follow-up")]
    assert ("cost-over-estimate", "item:occupational-training") in before_work
    assert not [f for f in findings(capsys, db, plan_id, "2027-02-10") if f[0] == "cost-over-estimate"]


def test_existing_breach_blocks_only_new_ones(capsys, tmp_path):
    db = tmp_path / "plans.db"
    plan_id = open_with_story(capsys, db, "employment-reyes", "wioa-individual-employment-plan", "2027-09-15")
    extra = tmp_path / "extra-rules"
    extra.mkdir()
    (extra / "strict.yaml").write_text("""\
svcplan: 1
kind: rules
ruleset: strict
rules:
  - id: no-cost-overrun
    title: No cost overrun
    applies_to: item
    severity: error
    when:
      - {field: actual_cost, op: ">", value: {field: estimated_cost}}
    message: "actual cost {actual_cost} exceeds the estimate {estimated_cost}"
    evidence: [actual_cost, estimated_cost]
""")
    strict = ["--library", str(extra)]

    unrelated = main(["--db", str(db), *LIBRARY, *strict, "--today", "2027-09-15", "item", "start",
                      str(plan_id), "follow-up-90", "--on", "2027-09-14", "--as", "U-spatel"])
    capsys.readouterr()
    assert unrelated == 0

    new_breach = main(["--db", str(db), *LIBRARY, *strict, "--today", "2027-09-15", "item", "cost",
                       str(plan_id), "comprehensive-assessment", "--estimated", "10", "--actual", "20",
                       "--as", "U-spatel"])
    _, err = capsys.readouterr()
    assert new_breach == 1
    assert "rule.no-cost-overrun" in err
    assert "Comprehensive assessment" in err


def test_recording_the_same_start_twice_changes_nothing(capsys, tmp_path):
    db = tmp_path / "plans.db"
    plan_id = open_with_story(capsys, db, "employment-reyes", "wioa-individual-employment-plan", "2027-09-15")
    _, before, _ = svcplan(capsys, db, "plan", "history", str(plan_id), "--format", "json")

    code, out, err = svcplan(capsys, db, "--today", "2027-09-15", "item", "start", str(plan_id),
                             "employment-start", "--on", "2027-05-17", "--as", "U-spatel")

    assert code == 0, err
    assert "nothing changed" in out
    _, after, _ = svcplan(capsys, db, "plan", "history", str(plan_id), "--format", "json")
    assert after == before


def test_viewer_sees_only_cleared_findings_and_history(capsys, tmp_path):
    db = tmp_path / "plans.db"
    plan_id = open_with_story(capsys, db, "foster-care-whitlock", "foster-care-case-plan", "2027-04-02")

    everything = findings(capsys, db, plan_id, "2027-04-02")
    cleared = findings(capsys, db, plan_id, "2027-04-02", "--as", "U-hlin")

    # Hao Lin's clearance is 2; the substance-use assessment has sensitivity 3.
    assert ("item-start-overdue", "item:substance-use-assessment") in everything
    assert not [f for f in cleared if f[1] == "item:substance-use-assessment"]
    assert ("item-start-overdue", "item:parenting-classes-father") in cleared

    code, out, _ = svcplan(capsys, db, "plan", "history", str(plan_id), "--format", "json", "--as", "U-hlin")
    assert code == 0
    targets = {event["target"] for event in json.loads(out)}
    assert "item:medical-exam" not in targets
    assert "item:parenting-classes-mother" in targets
