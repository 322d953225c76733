"""Recording progress: each change, and each change that must be refused."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from svcplan.case import load_case
from svcplan.compile import load_library
from svcplan.errors import RejectedChange
from svcplan.instantiate import instantiate
from svcplan.progress import Change, apply_change

ROOT = Path(__file__).resolve().parent.parent
TODAY = date(2027, 9, 15)


@pytest.fixture(scope="module")
def reyes():
    library = load_library([ROOT / "templates"])
    case = load_case(ROOT / "examples" / "cases" / "employment-reyes.yaml")
    return instantiate(library.template("wioa-individual-employment-plan"), case).plan


@pytest.fixture(scope="module")
def nakamura():
    library = load_library([ROOT / "templates"])
    case = load_case(ROOT / "examples" / "cases" / "home-care-nakamura.yaml")
    return instantiate(library.template("hcbs-person-centred-plan"), case).plan


def apply(plan, action, **values):
    return apply_change(plan, Change(action, values), today=TODAY)


def rejected(plan, action, **values) -> str:
    with pytest.raises(RejectedChange) as raised:
        apply(plan, action, **values)
    return raised.value.problems[0].code


def test_recording_the_anchor_fills_dependent_dates(reyes):
    started, applied = apply(reyes, "item.start", item="employment-start", on="2027-05-17")
    assert started.item("follow-up-90").expected_start == date(2027, 8, 15)
    assert started.item("follow-up-30").expected_start == date(2027, 6, 16)
    assert started.milestone("follow-up-period").expected_end == date(2028, 5, 16)
    assert applied.before == {"actual_start": None}
    assert applied.after == {"actual_start": "2027-05-17"}
    assert reyes.item("employment-start").actual_start is None


def test_complete_sets_end_and_outcome(reyes):
    started, _ = apply(reyes, "item.start", item="comprehensive-assessment", on="2027-02-03")
    done, _ = apply(started, "item.complete", item="comprehensive-assessment", on="2027-02-03", outcome="attained")
    item = done.item("comprehensive-assessment")
    assert (item.actual_end, item.outcome, item.status) == (date(2027, 2, 3), "attained", "completed")


def test_costs_are_recorded(reyes):
    costed, applied = apply(reyes, "item.cost", item="occupational-training", estimated=4800, actual=5150.004)
    assert costed.item("occupational-training").estimated_cost == 4800.0
    assert costed.item("occupational-training").actual_cost == 5150.0
    assert applied.after == {"estimated_cost": 4800.0, "actual_cost": 5150.0}


def test_attribute_checked_against_item_type(reyes):
    set_, _ = apply(reyes, "item.attribute", item="occupational-training", name="hours", value=240)
    assert set_.item("occupational-training").attributes == {"hours": 240}
    assert rejected(reyes, "item.attribute", item="occupational-training", name="hours", value=-3) == "invalid-attribute"
    assert rejected(reyes, "item.attribute", item="occupational-training", name="colour", value="red") == "invalid-attribute"
    assert rejected(reyes, "item.attribute", item="follow-up-30", name="x", value=1) == "attributes-not-declared"


def test_deliveries_need_unit_type_and_start(reyes, nakamura):
    assert rejected(reyes, "item.deliver", item="comprehensive-assessment", units=1, on="2027-02-03") == "no-unit-type"
    assert rejected(nakamura, "item.deliver", item="personal-care", units=4, on="2027-03-02") == "delivery-before-start"
    started, _ = apply(nakamura, "item.start", item="personal-care", on="2027-03-01")
    delivered, _ = apply(started, "item.deliver", item="personal-care", units=4, on="2027-03-02")
    assert [d.units for d in delivered.item("personal-care").deliveries] == [4.0]
    assert rejected(started, "item.deliver", item="personal-care", units=0, on="2027-03-02") == "invalid-number"


@pytest.mark.parametrize(
    ("action", "values", "code"),
    [
        ("item.start", {"item": "nothing", "on": "2027-02-03"}, "unknown-item"),
        ("item.start", {"item": "comprehensive-assessment", "on": "2027-02-30"}, "invalid-date"),
        ("item.start", {"item": "comprehensive-assessment", "on": "2027-09-16"}, "date-in-future"),
        ("item.start", {"item": "comprehensive-assessment"}, "missing-value"),
        ("item.complete", {"item": "comprehensive-assessment", "on": "2027-02-03"}, "item-not-started"),
        ("item.outcome", {"item": "comprehensive-assessment", "outcome": "done"}, "invalid-outcome"),
        ("item.outcome", {"item": "comprehensive-assessment", "outcome": "attained", "good_cause": True},
         "good-cause-without-not-attained"),
        ("item.cost", {"item": "occupational-training", "actual": -1}, "invalid-number"),
        ("item.cost", {"item": "occupational-training", "actual": "lots"}, "invalid-number"),
        ("item.cost", {"item": "occupational-training"}, "missing-value"),
        ("milestone.complete", {"milestone": "follow-up-period", "on": "2027-06-01"}, "milestone-not-started"),
        ("milestone.start", {"milestone": "no-such", "on": "2027-06-01"}, "unknown-milestone"),
        ("participant.remove", {"person": "P-1"}, "primary-participant"),
        ("participant.add", {"person": "P-1"}, "already-member"),
        ("item.teleport", {"item": "x"}, "unknown-action"),
    ],
)
def test_refused_changes(reyes, action, values, code):
    assert rejected(reyes, action, **values) == code


def test_end_before_start_is_refused(reyes):
    started, _ = apply(reyes, "item.start", item="comprehensive-assessment", on="2027-02-03")
    assert rejected(started, "item.complete", item="comprehensive-assessment", on="2027-02-02") == "end-before-start"


def test_closed_plan_changes_no_more(reyes):
    from copy import deepcopy

    closed = deepcopy(reyes)
    closed.status = "closed"
    assert rejected(closed, "item.start", item="comprehensive-assessment", on="2027-02-03") == "plan-closed"


def test_waived_milestone_cannot_complete(nakamura):
    started, _ = apply(nakamura, "milestone.start", milestone="plan-consent", on="2027-03-01")
    waived, _ = apply(started, "milestone.waive", milestone="plan-consent")
    assert rejected(waived, "milestone.complete", milestone="plan-consent", on="2027-03-03") == "milestone-waived"


def test_delivery_event_records_only_added(nakamura):
    plan, _ = apply(nakamura, "item.start", item="personal-care", on="2027-03-01")
    for day in ("2027-03-02", "2027-03-03"):
        plan, applied = apply(plan, "item.deliver", item="personal-care", units=4, on=day)
    assert applied.before == {"deliveries": {"count": 1}}
    assert applied.after == {"deliveries": {"count": 2, "added": [{"on": "2027-03-03", "units": 4.0}]}}


def test_delivery_above_authorised_is_refused(reyes):
    from svcplan.case import load_case as load
    from svcplan.instantiate import instantiate as make

    library = load_library([ROOT / "templates"])
    whitlock = make(library.template("foster-care-case-plan"),
                    load(ROOT / "examples" / "cases" / "foster-care-whitlock.yaml")).plan
    plan, _ = apply(whitlock, "item.start", item="parenting-classes-mother", on="2027-01-25")
    plan, _ = apply(plan, "item.deliver", item="parenting-classes-mother", units=10, on="2027-01-25")
    assert rejected(plan, "item.deliver", item="parenting-classes-mother", units=1, on="2027-01-26") == \
        "units-above-authorised"


@pytest.mark.parametrize(
    ("value", "code"),
    [(1e16, "number-too-large"), (0.00000001, "invalid-number"), (True, "invalid-number"), ("nan", "invalid-number")],
)
def test_implausible_numbers_are_refused(nakamura, value, code):
    plan, _ = apply(nakamura, "item.start", item="personal-care", on="2027-03-01")
    assert rejected(plan, "item.deliver", item="personal-care", units=value, on="2027-03-02") == code
    if value != 0.00000001:  # a cost that rounds to zero is a cost of zero
        assert rejected(plan, "item.cost", item="personal-care", actual=value) == code
