"""Instantiation of the shipped templates for the example cases."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from svcplan.case import load_case
from svcplan.compile import load_library
from svcplan.errors import SvcplanError
from svcplan.instantiate import PlanOptions, instantiate
from svcplan.model import PlanRequest

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "examples" / "cases"


@pytest.fixture(scope="module")
def library():
    return load_library([ROOT / "templates"])


def make(library, template: str, case: str, **options):
    return instantiate(library.template(template), load_case(CASES / f"{case}.yaml"), PlanOptions(**options))


def test_foster_care_dates_follow_the_law(library):
    plan = make(library, "foster-care-case-plan", "foster-care-whitlock").plan
    milestone = plan.milestone("case-plan-developed")
    assert milestone.expected_end == date(2027, 3, 9)
    assert plan.milestone("periodic-review-1").expected_end == date(2027, 7, 8)
    assert plan.milestone("periodic-review-2").expected_end == date(2028, 1, 8)
    assert plan.milestone("permanency-hearing-1").expected_end == date(2028, 1, 8)
    assert plan.item("parenting-classes-mother").expected_start == date(2027, 1, 25)
    assert plan.item("parenting-classes-mother").expected_end == date(2027, 3, 29)
    assert plan.item("substance-use-assessment").expected_end == date(2027, 2, 8)


def test_roles_become_people(library):
    plan = make(library, "foster-care-case-plan", "foster-care-whitlock").plan
    assert plan.item("parenting-classes-mother").concerning == "P-1"
    assert plan.item("parenting-classes-father").concerning == "P-2"
    assert plan.item("supervised-visits").owner == "P-4"
    assert plan.item("medical-exam").concerning == "P-3"
    assert plan.primary_plan_participant == "P-1"
    assert plan.goal_name == "Lily Whitlock lives safely in a permanent home"


def test_anchor_not_yet_recorded_leaves_dates_unknown(library):
    plan = make(library, "wioa-individual-employment-plan", "employment-reyes").plan
    follow_up = plan.item("follow-up-90")
    assert follow_up.expected_start is None
    assert follow_up.expected_end is None
    assert plan.item("substance-use-treatment") is None


def test_optional_items_only_on_request(library):
    plain = make(library, "hcbs-person-centred-plan", "home-care-nakamura").plan
    assert plain.item("respite") is None
    asked = make(library, "hcbs-person-centred-plan", "home-care-nakamura", include=frozenset({"respite"})).plan
    assert asked.item("respite") is not None


def test_rate_allowance_totals_over_period(library):
    plan = make(library, "hcbs-person-centred-plan", "home-care-nakamura").plan
    personal_care = plan.item("personal-care")
    assert personal_care.expected_end == date(2028, 2, 29)
    assert personal_care.authorised_total() == pytest.approx(20 * 366 / 7, abs=0.01)


def test_mandatory_item_cannot_be_left_out(library):
    with pytest.raises(SvcplanError) as raised:
        make(library, "foster-care-case-plan", "foster-care-whitlock", exclude=frozenset({"medical-exam"}))
    assert raised.value.problems[0].code == "mandatory-item"


def test_unknown_include_is_rejected(library):
    with pytest.raises(SvcplanError) as raised:
        make(library, "foster-care-case-plan", "foster-care-whitlock", include=frozenset({"no-such-item"}))
    assert raised.value.problems[0].code == "unknown-element"


def test_missing_case_date_is_located(library, tmp_path):
    text = (CASES / "foster-care-whitlock.yaml").read_text().replace("    removal_from_home: 2027-01-08\n", "")
    case_file = tmp_path / "case.yaml"
    case_file.write_text(text)
    with pytest.raises(SvcplanError) as raised:
        instantiate(library.template("foster-care-case-plan"), load_case(case_file))
    problem = raised.value.problems[0]
    assert problem.code == "missing-case-date"
    assert problem.location.file == str(case_file)
    assert problem.location.line == 8


def test_optional_person_missing_leaves_item_out(library):
    case = load_case(CASES / "foster-care-whitlock.yaml")
    request = replace(case.plan_request, plan_participants=("P-3", "P-4"))
    made = instantiate(library.template("foster-care-case-plan"), case, PlanOptions(request=request))
    assert made.plan.item("parenting-classes-father") is None
    assert [n.code for n in made.notices] == ["item-left-out"]


def test_unknown_case_worker_is_rejected(library):
    case = load_case(CASES / "employment-reyes.yaml")
    request = PlanRequest("U-nobody", date(2027, 2, 1), "P-1", ())
    with pytest.raises(SvcplanError) as raised:
        instantiate(library.template("wioa-individual-employment-plan"), case, PlanOptions(request=request))
    assert raised.value.problems[0].code == "unknown-user"


def test_impossible_case_date_is_located(tmp_path):
    text = (CASES / "employment-reyes.yaml").read_text().replace("opened: 2027-02-01", "opened: 2027-02-30")
    case_file = tmp_path / "case.yaml"
    case_file.write_text(text)
    with pytest.raises(SvcplanError) as raised:
        load_case(case_file)
    problem = raised.value.problems[0]
    assert (problem.code, problem.location.line, problem.value) == ("invalid-date", 5, "2027-02-30")


def test_plan_round_trips_through_json(library):
    plan = make(library, "foster-care-case-plan", "foster-care-whitlock").plan
    from svcplan.plan import Plan

    assert Plan.from_dict(plan.to_dict()).to_dict() == plan.to_dict()


EVERY = Path(__file__).parent / "data" / "cases" / "every-template.yaml"


def test_every_shipped_template_instantiates(library):
    case = load_case(EVERY)
    for template_id, versions in library.templates.items():
        for template in versions.values():
            optional = frozenset(i.id for i in template.all_items() if i.optional)
            made = instantiate(template, case, PlanOptions(include=optional))
            assert made.plan.items, template_id
            assert made.plan.template_hash == template.content_hash
            for item in made.plan.items:
                if item.expected_start and item.expected_end:
                    assert item.expected_start <= item.expected_end, (template_id, item.id)


def test_unicode_names_render(library):
    plan = instantiate(library.template("foster-care-case-plan"), load_case(EVERY)).plan
    assert plan.item("parenting-classes-mother").name == "Parenting classes for Mónica Ñúñez-Łukasiewicz"


def write_template(tmp_path: Path, body: str) -> Path:
    folder = tmp_path / "library"
    folder.mkdir()
    (folder / "plan.yaml").write_text(
        "svcplan: 1\nkind: plan-template\nid: t\nversion: 1\nname: T\nservice_plan_type: Test\n"
        "goal: {name: Goal}\n" + body
    )
    return folder


def test_repeated_items_and_business_days(tmp_path):
    folder = write_template(tmp_path, """\
day_counting: business
sub_goals:
  - id: s
    category: meet-a-need
    name: S
    items:
      - id: visit
        type: medical-exam
        start: {days: 5}
        duration: {days: 3}
        repeat: {every: {months: 1}, count: 3}
""")
    library = load_library([ROOT / "templates" / "item-types", folder])
    assert [str(p) for p in library.errors] == []
    case = load_case(EVERY)

    plan = instantiate(library.template("t"), case).plan

    # The plan starts on Friday 2027-01-29; five business days later is Friday 2027-02-05.
    assert [i.id for i in plan.items] == ["visit-1", "visit-2", "visit-3"]
    assert plan.item("visit-1").expected_start == date(2027, 2, 5)
    assert plan.item("visit-1").expected_end == date(2027, 2, 9)
    # One month on, the anchor is Sunday 2027-02-28: five business days later is Friday 2027-03-05.
    assert plan.item("visit-2").expected_start == date(2027, 3, 5)
    assert plan.item("visit-3").expected_start == date(2027, 4, 5)
    assert plan.item("visit-2").name == "Medical examination (2 of 3)"


def test_text_rendering_too_long_is_refused(tmp_path):
    folder = write_template(tmp_path, """\
sub_goals:
  - id: s
    category: meet-a-need
    name: "{{ primary_client.name * 500 }}"
    items: []
""")
    library = load_library([ROOT / "templates" / "item-types", folder])
    assert [str(p) for p in library.errors] == []

    with pytest.raises(SvcplanError) as raised:
        instantiate(library.template("t"), load_case(EVERY))

    assert raised.value.problems[0].code == "text-too-long"
