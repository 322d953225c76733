"""Tests of the rules stage: the rules language, its errors, and the shipped rules run through the engine."""

from __future__ import annotations

import json
import textwrap
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from svcplan.dates import to_epoch_day
from svcplan.errors import SvcplanError
from svcplan.facts import FACT_FIELDS, FieldType
from svcplan.load import parse_text
from svcplan.rules import (
    MAX_RULES_PER_RULESET,
    CompiledRuleset,
    compile_rules,
    evaluate_facts,
    format_evidence,
    format_message,
    load_rules,
)
from svcplan.rulesengine import RulesEngine

ROOT = Path(__file__).parents[1]
SHIPPED = sorted((ROOT / "rules").glob("*.yaml"))
BAD = Path(__file__).parent / "data" / "rules-bad"
AS_OF = to_epoch_day(date(2027, 3, 10))


@pytest.fixture(scope="module")
def shipped() -> dict[str, CompiledRuleset]:
    return {ruleset.id: ruleset for ruleset in load_rules(SHIPPED)}


def run(ruleset: CompiledRuleset, *facts: dict[str, Any]) -> list[str]:
    """Return the ids of the rules that fire, from the engine, after checking the Python predicates agree."""
    engine = [match.rule.id for match in RulesEngine.shared().run(ruleset, list(facts))]
    python = [rule.id for rule, _ in evaluate_facts(ruleset, list(facts))]
    assert engine == python
    return engine


def item(**fields: Any) -> dict[str, Any]:
    return {"kind": "item", "id": "i1", "name": "Intake", "element": "item:i1", "plan_id": "p1",
            "as_of": AS_OF, **fields}


def milestone(**fields: Any) -> dict[str, Any]:
    return {"kind": "milestone", "id": "m1", "name": "Review", "element": "milestone:m1", "as_of": AS_OF, **fields}


def compile_text(text: str, name: str = "test.yaml", params: dict[str, Any] | None = None) -> CompiledRuleset:
    (compiled,) = compile_rules([parse_text(textwrap.dedent(text), name)], params=params)
    return compiled


# --- the shipped rules


def test_shipped_files_compile(shipped: dict[str, CompiledRuleset]) -> None:
    assert sorted(shipped) == ["cost", "membership", "timeliness", "units"]
    assert {rule.severity for rule in shipped["membership"].rules} == {"error"}


def test_membership_rules_fire(shipped: dict[str, CompiledRuleset]) -> None:
    membership = shipped["membership"]
    plan = {"kind": "plan", "as_of": AS_OF, "primary_client": "c1"}
    assert run(membership, {**plan, "primary_client_is_member": False}) == ["primary-client-not-member"]
    assert run(membership, {**plan, "primary_client_is_member": True}) == []
    assert run(membership, plan) == []

    member = {"kind": "member", "as_of": AS_OF, "person": "p1", "role": "parent"}
    assert run(membership, {**member, "is_case_participant": False, "registered": True}) == [
        "member-not-case-participant"]
    assert run(membership, {**member, "is_case_participant": True, "registered": False}) == ["member-is-prospect"]
    assert run(membership, {**member, "is_case_participant": True, "registered": True}) == []


@pytest.mark.parametrize(("fields", "expected"), [
    ({"field": "owner", "person_is_user": False, "person_is_plan_participant": False}, ["assignee-not-allowed"]),
    ({"field": "responsibility", "person_is_user": False, "person_is_plan_participant": False},
     ["assignee-not-allowed"]),
    ({"field": "owner", "person_is_user": False, "person_is_plan_participant": True}, []),
    ({"field": "owner", "person_is_user": True, "person_is_plan_participant": False}, []),
    ({"field": "concerning", "person_is_user": False, "person_is_plan_participant": False},
     ["concerning-not-plan-participant"]),
    ({"field": "concerning", "person_is_user": True, "person_is_plan_participant": True}, []),
    ({"field": "owner", "person_is_user": True, "person_sensitivity": 1, "item_sensitivity": 2},
     ["assignee-lacks-clearance"]),
    ({"field": "owner", "person_is_user": True, "person_sensitivity": 2, "item_sensitivity": 2}, []),
    ({"field": "concerning", "person_is_user": True, "person_is_plan_participant": True,
      "person_sensitivity": 1, "item_sensitivity": 2}, []),
    ({"field": "owner", "person_is_user": False, "person_is_plan_participant": True,
      "person_sensitivity": 1, "item_sensitivity": 2}, []),
])
def test_assignment_rules(shipped: dict[str, CompiledRuleset], fields: dict[str, Any], expected: list[str]) -> None:
    fact = {"kind": "assignment", "as_of": AS_OF, "item": "i1", "person": "p1", **fields}
    assert run(shipped["membership"], fact) == expected


@pytest.mark.parametrize(("fields", "expected"), [
    ({"expected_start": AS_OF}, []),
    ({"expected_start": AS_OF - 1}, ["item-start-overdue"]),
    ({"expected_start": AS_OF - 1, "actual_start": AS_OF - 1}, []),
    ({"expected_start": AS_OF - 1, "outcome": "cancelled"}, []),
    ({"expected_start": AS_OF - 1, "outcome": "achieved"}, ["item-start-overdue"]),
    ({"expected_end": AS_OF - 1, "actual_start": AS_OF - 9}, ["item-end-overdue"]),
    ({"expected_end": AS_OF - 1, "actual_end": AS_OF - 1}, []),
    ({"expected_end": AS_OF - 1, "outcome": "cancelled"}, []),
    ({"expected_end": AS_OF - 3, "actual_end": AS_OF - 2}, ["item-completed-late"]),
    ({"expected_end": AS_OF - 3, "actual_end": AS_OF - 3}, []),
    ({"expected_end": AS_OF}, ["item-due-soon"]),
    ({"expected_end": AS_OF + 7}, ["item-due-soon"]),
    ({"expected_end": AS_OF + 8}, []),
    ({"expected_end": AS_OF + 3, "outcome": "cancelled"}, []),
    ({"expected_end": AS_OF + 3, "actual_end": AS_OF}, []),
    ({}, []),
])
def test_item_timeliness(shipped: dict[str, CompiledRuleset], fields: dict[str, Any], expected: list[str]) -> None:
    assert run(shipped["timeliness"], item(**fields)) == expected


@pytest.mark.parametrize(("fields", "expected"), [
    ({"expected_start": AS_OF}, []),
    ({"expected_start": AS_OF - 1}, ["milestone-start-missed"]),
    ({"expected_start": AS_OF - 1, "waived": True}, []),
    ({"expected_start": AS_OF - 1, "waived": False}, ["milestone-start-missed"]),
    ({"expected_end": AS_OF}, ["milestone-due-soon"]),
    ({"expected_end": AS_OF - 1}, ["milestone-end-missed"]),
    ({"expected_end": AS_OF - 1, "waived": True}, []),
    ({"expected_end": AS_OF - 1, "actual_end": AS_OF}, ["milestone-completed-late"]),
    ({"expected_end": AS_OF + 7}, ["milestone-due-soon"]),
    ({"expected_end": AS_OF + 8}, []),
    ({"expected_end": AS_OF + 1, "waived": True}, []),
])
def test_milestone_timeliness(
    shipped: dict[str, CompiledRuleset], fields: dict[str, Any], expected: list[str]
) -> None:
    assert run(shipped["timeliness"], milestone(**fields)) == expected


@pytest.mark.parametrize(("fields", "expected"), [
    ({"delivered_units": 7.9, "prorated_units": 10.0, "units_tolerance": 0.2}, ["units-behind-schedule"]),
    ({"delivered_units": 8.0, "prorated_units": 10.0, "units_tolerance": 0.2}, []),
    ({"delivered_units": 9, "prorated_units": 10, "units_tolerance": 0}, ["units-behind-schedule"]),
    ({"delivered_units": 10, "prorated_units": 10, "units_tolerance": 0}, []),
    ({"delivered_units": 1, "prorated_units": 10}, []),
])
def test_units_behind_schedule(
    shipped: dict[str, CompiledRuleset], fields: dict[str, Any], expected: list[str]
) -> None:
    assert run(shipped["units"], item(actual_start=AS_OF - 30, **fields)) == expected
    assert run(shipped["units"], item(**fields)) == []
    assert run(shipped["units"], item(actual_start=AS_OF - 30, actual_end=AS_OF, **fields)) == []


def test_cost_over_estimate(shipped: dict[str, CompiledRuleset]) -> None:
    cost = shipped["cost"]
    assert run(cost, item(estimated_cost=100, actual_cost=100.01)) == ["cost-over-estimate"]
    assert run(cost, item(estimated_cost=100, actual_cost=100)) == []
    assert run(cost, item(actual_cost=100)) == []


def test_message_and_evidence_show_iso_dates(shipped: dict[str, CompiledRuleset]) -> None:
    rule = shipped["timeliness"].rule("item-due-soon")
    fact = item(expected_end=AS_OF + 2)
    assert format_message(rule, fact) == "expected to end on 2027-03-12, within 7 days of 2027-03-10"
    assert format_evidence(rule, fact) == {"expected_end": "2027-03-12", "as_of": "2027-03-10"}
    units = shipped["units"].rule("units-behind-schedule")
    assert format_message(units, item(delivered_units=3.0, prorated_units=10.0)) == (
        "3 unknown delivered as of 2027-03-10; 10 were due by then")


# --- the engine and the Python predicates agree


def _value(field_type: FieldType) -> st.SearchStrategy[Any]:
    near = st.integers(min_value=AS_OF - 10, max_value=AS_OF + 10)
    return {
        FieldType.DATE: near,
        FieldType.NUMBER: st.one_of(st.integers(-3, 12), st.sampled_from([0.0, 0.1, 0.2, 7.9, 8.0, 9.5, 100.01])),
        FieldType.TEXT: st.sampled_from(["owner", "responsibility", "concerning", "cancelled", "achieved", "x"]),
        FieldType.BOOLEAN: st.booleans(),
    }[field_type]


@st.composite
def _fact(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(FACT_FIELDS)))
    fact: dict[str, Any] = {"kind": kind}
    for name, field_type in FACT_FIELDS[kind].items():
        if name == "kind":
            continue
        if name == "as_of":
            fact[name] = AS_OF
            continue
        choice = draw(st.sampled_from(["absent", "none", "value", "value", "value"]))
        if choice == "none":
            fact[name] = None
        elif choice == "value":
            fact[name] = draw(_value(field_type))
    return fact


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(facts=st.lists(_fact(), min_size=1, max_size=12))
def test_engine_matches_python_predicates(shipped: dict[str, CompiledRuleset], facts: list[dict[str, Any]]) -> None:
    engine = RulesEngine.shared()
    for ruleset in shipped.values():
        expected = [(rule.id, id(fact)) for rule, fact in evaluate_facts(ruleset, facts)]
        actual = [(match.rule.id, id(match.fact)) for match in engine.run(ruleset, facts)]
        assert actual == expected


# --- parameters


TWO_DAYS = """\
    svcplan: 1
    kind: rules
    ruleset: param-test
    parameters:
      window: 2
    rules:
      - id: within-window
        title: Within window
        applies_to: item
        severity: info
        when:
          - {field: expected_end, op: "<=", value: {add: [{field: as_of}, {param: window}]}}
        message: "within {window} days"
"""


def test_parameter_default_and_override() -> None:
    facts = [item(expected_end=AS_OF + 2), item(expected_end=AS_OF + 3)]
    default = compile_text(TWO_DAYS)
    assert len(RulesEngine.shared().run(default, facts)) == 1
    wider = compile_text(TWO_DAYS, params={"window": 3})
    assert len(RulesEngine.shared().run(wider, facts)) == 2
    assert format_message(wider.rules[0], facts[0]) == "within 3 days"
    assert compile_text(TWO_DAYS, params={"param-test.window": "3"}).parameters["window"] == 3.0
    assert wider.engine_name != default.engine_name


def test_shipped_due_soon_override(shipped: dict[str, CompiledRuleset]) -> None:
    rulesets = load_rules(SHIPPED, params={"due_soon_days": 14})
    timeliness = next(r for r in rulesets if r.id == "timeliness")
    assert run(timeliness, item(expected_end=AS_OF + 14)) == ["item-due-soon"]
    assert run(shipped["timeliness"], item(expected_end=AS_OF + 14)) == []


def test_unknown_parameter_override_raises() -> None:
    with pytest.raises(SvcplanError) as raised:
        compile_text(TWO_DAYS, params={"windw": 3})
    problem = raised.value.problems[0]
    assert problem.code == "unknown-parameter"
    assert problem.message == "no ruleset declares the parameter 'windw'"
    assert problem.hint == "did you mean 'window'?"


def test_parameter_override_of_wrong_type_raises() -> None:
    with pytest.raises(SvcplanError) as raised:
        compile_text(TWO_DAYS, params={"window": "soon"})
    assert raised.value.problems[0].message == "parameter 'window' is a number but was given 'soon'"


# --- the language


def test_date_literal_and_field_equality() -> None:
    compiled = compile_text("""\
        svcplan: 1
        kind: rules
        ruleset: literal-test
        rules:
          - id: before-date
            title: Before
            applies_to: item
            severity: info
            when:
              - {field: expected_end, op: "<", value: "2027-03-10"}
          - id: same-day
            title: Same day
            applies_to: item
            severity: info
            when:
              - {field: actual_end, op: "==", value: {field: expected_end}}
              - {field: item_type, op: in, value: [visit, call]}
            message: "same day"
    """.replace("            when:\n              - {field: expected_end, op: \"<\", value: \"2027-03-10\"}",
                "            when:\n              - {field: expected_end, op: \"<\", value: \"2027-03-10\"}\n"
                "            message: before"))
    assert run(compiled, item(expected_end=AS_OF - 1)) == ["before-date"]
    assert run(compiled, item(expected_end=AS_OF)) == []
    assert run(compiled, item(expected_end=AS_OF, actual_end=AS_OF, item_type="call")) == ["same-day"]
    assert run(compiled, item(expected_end=AS_OF, actual_end=AS_OF, item_type="mail")) == []


def test_any_and_division() -> None:
    compiled = compile_text("""\
        svcplan: 1
        kind: rules
        ruleset: any-test
        rules:
          - id: half-delivered-or-costly
            title: Half or costly
            applies_to: item
            severity: info
            when:
              - any:
                  - {field: delivered_units, op: "<", value: {div: [{field: authorised_units}, 2]}}
                  - {field: actual_cost, op: ">", value: {mul: [{field: estimated_cost}, 1.5]}}
            message: "x"
    """)
    assert run(compiled, item(delivered_units=3, authorised_units=7)) == ["half-delivered-or-costly"]
    assert run(compiled, item(delivered_units=4, authorised_units=7)) == []
    assert run(compiled, item(actual_cost=151, estimated_cost=100)) == ["half-delivered-or-costly"]
    assert run(compiled, item(actual_cost=150, estimated_cost=100)) == []
    assert run(compiled, item(delivered_units=3, authorised_units=0)) == []
    assert run(compiled, item(delivered_units=-3, authorised_units=0)) == ["half-delivered-or-costly"]


def test_schema_kinds_match_fact_fields() -> None:
    schema = json.loads((ROOT / "engine" / "schemas" / "rules.schema.json").read_text())
    assert schema["$defs"]["rule"]["properties"]["applies_to"]["enum"] == list(FACT_FIELDS)


# --- bad rules files, each with its located message


@pytest.mark.parametrize(("name", "where", "code", "message"), [
    ("bad-yaml.yaml", "11:5", "yaml-syntax",
     "invalid YAML: did not find expected ',' or '}' (while parsing a flow mapping)"),
    ("unknown-field.yaml", "10:17", "unknown-field", "item facts have no field 'expected_ned'"),
    ("unknown-kind.yaml", "7:17", "schema.enum", "rules[0].applies_to: the text 'task' is not allowed"),
    ("type-mismatch.yaml", "10:47", "type-mismatch", "'expected_end' is a date but is compared with a text"),
    ("ordering-on-text.yaml", "10:27", "type-mismatch", "> compares dates or numbers, but 'name' is a text"),
    ("not-a-date.yaml", "10:47", "type-mismatch", "'2027-02-30' is not a date"),
    ("duplicate-id.yaml", "12:9", "duplicate-rule-id", "rule id 'a' is also used by rules[0] of this file"),
    ("unknown-param.yaml", "12:78", "unknown-parameter", "ruleset 'bad' has no parameter 'due_son_days'"),
    ("unknown-placeholder.yaml", "11:14", "unknown-placeholder",
     "message placeholder {expected_edn} is neither a field of the fact nor a parameter"),
    ("unknown-key.yaml", "12:5", "schema.additionalProperties", "rules[0]: unknown key 'severity2'"),
])
def test_bad_rules_file(name: str, where: str, code: str, message: str) -> None:
    path = BAD / name
    with pytest.raises(SvcplanError) as raised:
        load_rules([path])
    problems = raised.value.problems
    assert len(problems) == 1
    assert str(problems[0].location) == f"{path}:{where}"
    assert problems[0].code == code
    assert problems[0].message == message


def test_duplicate_rule_id_across_files() -> None:
    path = BAD / "duplicate-across-files.yaml"
    with pytest.raises(SvcplanError) as raised:
        load_rules([*SHIPPED, path])
    (problem,) = raised.value.problems
    assert str(problem.location) == f"{path}:5:9"
    assert problem.message == (
        f"rule id 'member-is-prospect' is also used at {ROOT / 'rules' / 'membership.yaml'}:27:9")


def _many_rules(count: int, second_condition: str) -> str:
    rules = "".join(f"""
  - id: r{n}
    title: R
    applies_to: item
    severity: info
    when:
      - {{field: kind, op: "==", value: item}}
      - {second_condition.format(n=n)}
    message: x
""" for n in range(count))
    return f"svcplan: 1\nkind: rules\nruleset: many\nrules:{rules}"


def test_too_many_rules(tmp_path: Path) -> None:
    path = tmp_path / "many.yaml"
    path.write_text(_many_rules(MAX_RULES_PER_RULESET + 1, "{{field: actual_end, op: exists}}"))
    with pytest.raises(SvcplanError) as raised:
        load_rules([path])
    (problem,) = raised.value.problems
    assert str(problem.location) == f"{path}:4:1"
    assert problem.message == "ruleset 'many' has 401 rules; the rules engine takes at most 400 in one ruleset"


def test_too_wide_ruleset(tmp_path: Path) -> None:
    path = tmp_path / "wide.yaml"
    path.write_text(_many_rules(60, '{{field: actual_cost, op: ">", value: {n}}}'))
    with pytest.raises(SvcplanError) as raised:
        load_rules([path])
    (problem,) = raised.value.problems
    assert str(problem.location) == f"{path}:4:1"
    assert problem.code == "ruleset-too-wide"
    assert "hold up to 65 pending conditions for one fact; it supports at most 48" in problem.message
