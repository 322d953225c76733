"""Tests of the durable-rules adapter: each known hazard of the engine, provoked for real.

All tests share the process's one durable-rules host, as svcplan does.
"""

from __future__ import annotations

import json
import logging
import math
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from svcplan.errors import RulesEngineError, SvcplanError
from svcplan.facts import FACT_FIELDS, FieldType
from svcplan.load import parse_text
from svcplan.rules import (
    CATCH_ALL_RULE,
    MAX_ALPHA_WIDTH,
    CompiledRuleset,
    compile_rules,
    evaluate_facts,
    load_rules,
)
from svcplan.rulesengine import MAX_EXACT_INTEGER, Match, RulesEngine, _Host, engine_json

DATA = Path(__file__).parent / "data"
SHIPPED_RULES = sorted((Path(__file__).parents[1] / "rules").glob("*.yaml"))
AS_OF = 20_000


def ruleset(text: str, name: str = "test.yaml", params: dict[str, Any] | None = None) -> CompiledRuleset:
    (compiled,) = compile_rules([parse_text(textwrap.dedent(text), name)], params=params)
    return compiled


OVERDUE = """\
    svcplan: 1
    kind: rules
    ruleset: engine-test
    rules:
      - id: overdue
        title: Overdue
        applies_to: item
        severity: warning
        when:
          - {field: expected_end, op: "<", value: {field: as_of}}
          - {field: actual_end, op: missing}
        message: "due {expected_end}"
"""


def item(number: int, **fields: Any) -> dict[str, Any]:
    return {"kind": "item", "id": f"i{number}", "element": f"item:i{number}", "as_of": AS_OF, **fields}


def fired(matches: list[Match]) -> list[tuple[str, str]]:
    return [(match.rule.id, match.fact["id"]) for match in matches]


@pytest.fixture(scope="module")
def overdue() -> CompiledRuleset:
    return ruleset(OVERDUE)


def test_run_returns_rule_and_original_fact(overdue: CompiledRuleset) -> None:
    facts = [item(1, expected_end=AS_OF - 1), item(2, expected_end=AS_OF)]
    matches = RulesEngine.shared().run(overdue, facts)
    assert fired(matches) == [("overdue", "i1")]
    assert matches[0].fact is facts[0]
    assert matches[0].rule_id == "overdue"


def test_run_order_is_by_fact_then_rule() -> None:
    compiled = ruleset(OVERDUE.replace("rules:\n", """rules:
      - id: first-in-file
        title: Any item
        applies_to: item
        severity: info
        when:
          - {field: kind, op: "==", value: item}
        message: "item"
"""))
    facts = [item(n, expected_end=AS_OF - 1) for n in range(5)]
    matches = RulesEngine.shared().run(compiled, facts)
    expected = [(rule, f"i{n}") for n in range(5) for rule in ("first-in-file", "overdue")]
    assert fired(matches) == expected
    assert fired(matches) == [(rule.id, fact["id"]) for rule, fact in evaluate_facts(compiled, facts)]


def test_empty_fact_list_returns_nothing(overdue: CompiledRuleset) -> None:
    assert RulesEngine.shared().run(overdue, []) == []


# --- at most 1,024 live sids per ruleset


def test_many_plans_in_a_row_reuse_no_sid(overdue: CompiledRuleset) -> None:
    engine = RulesEngine.shared()
    for plan in range(1_100):
        facts = [item(plan, expected_end=AS_OF - 1), item(plan + 1, expected_end=AS_OF + 1)]
        assert fired(engine.run(overdue, facts)) == [("overdue", f"i{plan}")]


# --- facts the engine takes for one another


def test_identical_facts_are_all_matched(overdue: CompiledRuleset) -> None:
    same = item(1, expected_end=AS_OF - 1)
    matches = RulesEngine.shared().run(overdue, [dict(same), dict(same), dict(same)])
    assert len(matches) == 3


def test_item_and_milestone_with_same_id_both_match() -> None:
    compiled = ruleset(OVERDUE.replace("applies_to: item", "applies_to: milestone").replace(
        "ruleset: engine-test", "ruleset: engine-test-milestone").replace("id: overdue", "id: milestone-overdue"))
    facts = [
        {"kind": "milestone", "id": "m", "as_of": AS_OF, "expected_end": AS_OF - 1},
        {"kind": "milestone", "id": "m", "as_of": AS_OF, "expected_end": AS_OF - 2},
    ]
    assert len(RulesEngine.shared().run(compiled, facts)) == 2


class _CollidingIds(RulesEngine):
    """Gives the first two facts of a batch ids whose 32-bit FNV-1a hashes are equal."""

    def __init__(self, ids: list[str]) -> None:
        super().__init__()
        self.ids = ids

    def _fact_id(self, index: int) -> str:
        return self.ids[index] if index < len(self.ids) else str(index)


def test_hash_collision_is_reasserted(overdue: CompiledRuleset, caplog: pytest.LogCaptureFixture) -> None:
    collision = json.loads((DATA / "fnv1a32-collision.json").read_text())
    engine = _CollidingIds(collision["ids"])
    facts = [item(n, expected_end=AS_OF - 1) for n in range(4)]
    with caplog.at_level(logging.WARNING, logger="svcplan.rulesengine"):
        matches = engine.run(overdue, facts)
    assert "rejected 1 of 4 facts as already stored" in caplog.text
    assert fired(matches) == [("overdue", f"i{n}") for n in range(4)]


def test_same_id_twice_is_reasserted(overdue: CompiledRuleset, caplog: pytest.LogCaptureFixture) -> None:
    engine = _CollidingIds(["x", "x", "x"])
    facts = [item(n, expected_end=AS_OF - 1) for n in range(3)]
    with caplog.at_level(logging.WARNING, logger="svcplan.rulesengine"):
        matches = engine.run(overdue, facts)
    assert "rejected 2 of 3 facts" in caplog.text
    assert fired(matches) == [("overdue", f"i{n}") for n in range(3)]
    # The next plan runs on a clean session.
    assert fired(RulesEngine.shared().run(overdue, facts[:1])) == [("overdue", "i0")]


# --- an exception inside an action


def test_action_exception_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = ruleset(OVERDUE.replace("ruleset: engine-test", "ruleset: engine-test-failing-action"))

    def failing_action(self: _Host, name: str) -> Any:
        def action(closure: Any) -> None:
            raise ValueError("provoked failure")

        return action

    # The host looks actions up once, when it registers a ruleset.
    monkeypatch.setattr(_Host, "get_action", failing_action)
    with pytest.raises(RulesEngineError, match="an action failed inside the rules engine: .*provoked failure"):
        RulesEngine.shared().run(compiled, [item(1, expected_end=AS_OF - 1)])
    monkeypatch.undo()
    overdue = ruleset(OVERDUE)
    assert fired(RulesEngine.shared().run(overdue, [item(1, expected_end=AS_OF - 1)])) == [("overdue", "i1")]


# --- facts that no rule matches


def test_unmatched_fact_is_handled(overdue: CompiledRuleset) -> None:
    facts = [{"kind": "member", "person": "p1", "as_of": AS_OF}, item(1, expected_end=AS_OF + 5)]
    assert RulesEngine.shared().run(overdue, facts) == []
    assert CATCH_ALL_RULE in overdue.definition


# --- nulls and missing fields


def test_none_and_missing_fields_do_not_compare(overdue: CompiledRuleset) -> None:
    facts = [
        item(1, expected_end=None),
        item(2),
        {"kind": "item", "id": "i3", "expected_end": AS_OF - 100},
        item(4, expected_end=AS_OF - 1, actual_end=None),
    ]
    assert fired(RulesEngine.shared().run(overdue, facts)) == [("overdue", "i4")]


def test_not_equal_holds_on_missing_field() -> None:
    compiled = ruleset("""\
        svcplan: 1
        kind: rules
        ruleset: engine-test-neq
        rules:
          - id: not-cancelled
            title: Not cancelled
            applies_to: item
            severity: info
            when:
              - {field: outcome, op: "!=", value: cancelled}
            message: "x"
          - id: not-done-or-cancelled
            title: Open
            applies_to: item
            severity: info
            when:
              - {field: outcome, op: not-in, value: [done, cancelled]}
            message: "x"
    """)
    facts = [item(1), item(2, outcome="cancelled"), item(3, outcome="done"), item(4, outcome=None)]
    assert fired(RulesEngine.shared().run(compiled, facts)) == [
        ("not-cancelled", "i1"), ("not-done-or-cancelled", "i1"),
        ("not-cancelled", "i3"),
        ("not-cancelled", "i4"), ("not-done-or-cancelled", "i4"),
    ]


def test_wrongly_typed_fact_raises(overdue: CompiledRuleset) -> None:
    with pytest.raises(RulesEngineError, match="'expected_end' is str"):
        RulesEngine.shared().run(overdue, [item(1, expected_end="2024-01-01")])
    with pytest.raises(RulesEngineError, match="reserves"):
        RulesEngine.shared().run(overdue, [item(1, sid="x")])


# --- rulesets too big for the engine


def _wide_rules(count: int) -> str:
    rules = "".join(f"""
      - id: due-{n}
        title: Due
        applies_to: item
        severity: info
        when:
          - {{field: expected_end, op: "<", value: {{add: [{{field: as_of}}, {n}]}}}}
        message: "x"
""" for n in range(count))
    return f"svcplan: 1\nkind: rules\nruleset: wide-{count}\nrules:{rules}"


def test_widest_accepted_ruleset_runs() -> None:
    # kind and catch-all (2), $ex as_of (1), $ex expected_end (1), then one branch a rule.
    count = MAX_ALPHA_WIDTH - 4
    compiled = compile_rules([parse_text(_wide_rules(count), "wide.yaml")])[0]
    matches = RulesEngine.shared().run(compiled, [item(1, expected_end=AS_OF)])
    assert len(matches) == count - 1


def test_ruleset_past_engine_stack_raises_located_error() -> None:
    accepted = compile_rules([parse_text(_wide_rules(5), "wide.yaml")])[0]
    definition = accepted.definition
    template = definition.pop("due-0")
    for n in range(70):
        rule = json.loads(json.dumps(template).replace('"$r": 0.0', f'"$r": {float(n)}'))
        rule["run"] = f"due-{n}"
        definition[f"due-{n}"] = rule
    text = json.dumps(definition, sort_keys=True)
    too_wide = CompiledRuleset("too-wide", "f" * 64, text, accepted.rules, accepted.parameters, accepted.location)
    with pytest.raises(SvcplanError) as raised:
        RulesEngine.shared().run(too_wide, [item(1, expected_end=AS_OF)])
    problem = raised.value.problems[0]
    assert problem.code == "engine-error-303"
    assert str(problem.location) == "wide.yaml:3:10"
    assert "passes more rule conditions at once" in problem.message
    # The failed batch left no pending actions behind, so the engine still works.
    assert len(RulesEngine.shared().run(accepted, [item(1, expected_end=AS_OF)])) == 4


# --- ruleset names


def test_same_ruleset_compiled_twice_registers_once(overdue: CompiledRuleset) -> None:
    again = ruleset(OVERDUE)
    assert again.engine_name == overdue.engine_name
    changed = ruleset(OVERDUE.replace('op: "<"', 'op: "<="'))
    assert changed.engine_name != overdue.engine_name
    assert changed.engine_name.startswith("engine-test-")
    facts = [item(1, expected_end=AS_OF)]
    assert RulesEngine.shared().run(again, facts) == []
    assert fired(RulesEngine().run(changed, facts)) == [("overdue", "i1")]


# --- threads and process exit


def test_engine_starts_no_threads(overdue: CompiledRuleset) -> None:
    before = threading.active_count()
    RulesEngine().run(overdue, [item(1, expected_end=AS_OF - 1)])
    assert threading.active_count() == before


def test_process_using_engine_exits() -> None:
    script = textwrap.dedent(f"""
        import textwrap
        from svcplan.load import parse_text
        from svcplan.rules import compile_rules
        from svcplan.rulesengine import RulesEngine
        text = {OVERDUE!r}
        (compiled,) = compile_rules([parse_text(textwrap.dedent(text), "t.yaml")])
        facts = [{{"kind": "item", "as_of": 10, "expected_end": 9}}]
        print(len(RulesEngine.shared().run(compiled, facts)))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"


# --- numbers: the engine's JSON parser reads an exponent only after a fraction


def run_in_child(function: str, timeout: float = 300) -> str:
    """Call `function` of this module in a new Python process and return its standard output.

    Fail, without taking pytest down, when the call raises or the process dies:
    a number the engine misreads at the start of a batch crashed the process.
    """
    script = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
              f"import test_rulesengine; test_rulesengine.{function}()")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout)
    if result.returncode < 0:
        pytest.fail(f"{function} killed the process with {signal.Signals(-result.returncode).name}:\n"
                    f"{result.stderr[-4000:]}")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result.stdout


EXPONENT_FORM = [1e16, -1e16, 2e16, 1e22, 1e308, -1e308, 1e-7, -1e-7, 1e-5, 5e-324, -5e-324]
"""Floats that Python's json writes with an exponent and no fraction, such as ``1e+16``."""

EDGE_NUMBERS = [*EXPONENT_FORM, 0.0, -0.0, 1.5e16, 10**20, -(10**20), MAX_EXACT_INTEGER, 2.0**63]

NUMBER_RULES = """\
    svcplan: 1
    kind: rules
    ruleset: engine-test-numbers
    rules:
      - id: every-item
        title: Every item
        applies_to: item
        severity: info
        when:
          - {field: kind, op: "==", value: item}
        message: "x"
      - id: above-1e16
        title: Above
        applies_to: item
        severity: info
        when:
          - {field: delivered_units, op: ">", value: 1e16}
        message: "x"
      - id: below-1e-7
        title: Below
        applies_to: item
        severity: info
        when:
          - {field: delivered_units, op: "<", value: 1e-7}
        message: "x"
      - id: equals-1e308
        title: Equals
        applies_to: item
        severity: info
        when:
          - {field: delivered_units, op: "==", value: 1e308}
        message: "x"
      - id: is-not-zero
        title: Not zero
        applies_to: item
        severity: info
        when:
          - {field: delivered_units, op: "!=", value: 0}
        message: "x"
      - id: equals-authorised
        title: Same as authorised
        applies_to: item
        severity: info
        when:
          - {field: delivered_units, op: "==", value: {field: authorised_units}}
        message: "x"
      - id: within-tiny-share
        title: Tiny share
        applies_to: item
        severity: info
        when:
          - {field: delivered_units, op: "<=", value: {mul: [{field: authorised_units}, 1e-7]}}
        message: "x"
      - id: cost-far-over
        title: Far over
        applies_to: item
        severity: info
        when:
          - {field: actual_cost, op: ">", value: {add: [{field: estimated_cost}, 1e16]}}
        message: "x"
      - id: share-below-tolerance
        title: Share
        applies_to: item
        severity: info
        when:
          - {field: units_tolerance, op: ">", value: {div: [{field: delivered_units}, {field: authorised_units}]}}
        message: "x"
"""

NUMBER_FIELDS = ("delivered_units", "authorised_units", "units_tolerance", "estimated_cost", "actual_cost")


def _number_rules() -> CompiledRuleset:
    return ruleset(NUMBER_RULES, "numbers.yaml")


def _edge_number_results() -> None:
    """Print, for each edge number, the engine's and the predicates' matches when it leads and when it follows."""
    compiled = _number_rules()
    results = {}
    for value in EDGE_NUMBERS:
        leading = [item(0, delivered_units=value, authorised_units=value, actual_cost=value, estimated_cost=1.0),
                   item(1, delivered_units=2.0, authorised_units=4.0)]
        following = [item(1, delivered_units=2.0, authorised_units=4.0), *leading, item(2, delivered_units=3.0)]
        results[repr(value)] = {
            name: {"engine": fired(RulesEngine.shared().run(compiled, facts)),
                   "python": [(rule.id, fact["id"]) for rule, fact in evaluate_facts(compiled, facts)]}
            for name, facts in (("leading", leading), ("following", following))
        }
    print(json.dumps(results))


@pytest.fixture(scope="module")
def edge_number_results() -> dict[str, Any]:
    return json.loads(run_in_child("_edge_number_results"))


@pytest.mark.parametrize("value", EDGE_NUMBERS, ids=repr)
@pytest.mark.parametrize("position", ["leading", "following"])
def test_edge_number_matches_python(edge_number_results: dict[str, Any], value: float, position: str) -> None:
    result = edge_number_results[repr(value)][position]
    engine = [tuple(pair) for pair in result["engine"]]
    python = [tuple(pair) for pair in result["python"]]
    assert engine == python
    every_item = [fact for rule, fact in engine if rule == "every-item"]
    assert len(every_item) == (2 if position == "leading" else 4)


def test_edge_numbers_fire_expected_rules(edge_number_results: dict[str, Any]) -> None:
    leading = {value: [rule for rule, fact in result["leading"]["engine"] if fact == "i0"]
               for value, result in edge_number_results.items()}
    assert "above-1e16" in leading["2e+16"]
    assert "above-1e16" not in leading["1e+16"]
    assert "below-1e-7" in leading["5e-324"]
    assert "below-1e-7" not in leading["1e-07"]
    assert "equals-1e308" in leading["1e+308"]
    assert "is-not-zero" not in leading["-0.0"]
    assert "cost-far-over" in leading["1e+22"]


def test_engine_json_adds_fraction_to_exponent() -> None:
    fact = {"a": 1e16, "b": -1e-07, "c": 1.5e16, "d": 5e-324, "e": 12, "f": -0.0}
    text = engine_json(fact)
    assert text == '{"a": 1.0e+16, "b": -1.0e-07, "c": 1.5e+16, "d": 5.0e-324, "e": 12, "f": -0.0}'
    assert json.loads(text) == fact


def test_engine_json_leaves_text_alone() -> None:
    value = {"1e+16": ['1e+16 and "2e-07"', "back\\slash 3e5"]}
    assert engine_json(value, ensure_ascii=False) == json.dumps(value, ensure_ascii=False)


def _unread_fact_result() -> None:
    """Print what `run` does when the engine cannot read one fact, with the number encoding undone."""
    import durable.engine

    durable.engine.json = json
    facts = [
        {"kind": "item", "plan_id": "7", "element": "item:a", "as_of": AS_OF, "delivered_units": 1.0},
        {"kind": "item", "plan_id": "7", "element": "item:b", "as_of": AS_OF, "delivered_units": 1e16},
        {"kind": "item", "plan_id": "7", "element": "item:c", "as_of": AS_OF, "delivered_units": 3.0},
    ]
    try:
        RulesEngine.shared().run(ruleset(OVERDUE), facts)
    except RulesEngineError as error:
        print(error)


def test_fact_engine_cannot_read_raises() -> None:
    message = run_in_child("_unread_fact_result").strip()
    assert "the rules engine did not read 2 of 3 facts" in message
    assert "the first being plan 7, item:b, fact 1" in message


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("delivered_units", 2**53 + 1, "'delivered_units' is 9007199254740993, which the rules engine's 64-bit floats"),
    ("delivered_units", -(2**63) - 1, "cannot represent exactly; the nearest is -9.223372036854776e+18"),
    ("actual_cost", 10**400, "'actual_cost' is an integer of 1329 bits, beyond the largest 64-bit float"),
    ("expected_end", MAX_EXACT_INTEGER + 1, "takes integers of at most 9,007,199,254,740,992 in magnitude"),
    ("expected_end", -MAX_EXACT_INTEGER - 1, "'expected_end' is -9007199254740993"),
    ("unknown_field", 10**30, "'unknown_field' is 1000000000000000000000000000000;"),
    ("delivered_units", math.inf, "'delivered_units' is inf; the rules engine takes finite numbers"),
    ("delivered_units", math.nan, "'delivered_units' is nan; the rules engine takes finite numbers"),
])
def test_inexact_number_raises_naming_element(
    overdue: CompiledRuleset, field: str, value: float, expected: str
) -> None:
    fact = {"kind": "item", "plan_id": "3", "element": "item:home-visits", "as_of": AS_OF, field: value}
    with pytest.raises(RulesEngineError) as raised:
        RulesEngine.shared().run(overdue, [item(1), fact])
    message = str(raised.value)
    assert message.startswith("plan 3, item:home-visits, fact 1: field ")
    assert expected in message


def test_exact_large_integers_are_accepted(overdue: CompiledRuleset) -> None:
    facts = [item(1, delivered_units=10**20, expected_end=AS_OF - 1), item(2, expected_end=-MAX_EXACT_INTEGER)]
    assert fired(RulesEngine.shared().run(overdue, facts)) == [("overdue", "i1"), ("overdue", "i2")]


# Property: with numbers of every form, the engine fires what the Python predicates fire.

_exponent_floats = st.builds(lambda mantissa, exponent: float(f"{mantissa}e{exponent}"),
                             st.integers(-9, 9), st.integers(-330, 308)).filter(math.isfinite)
_numbers = st.one_of(
    st.sampled_from(EDGE_NUMBERS),
    _exponent_floats,
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-MAX_EXACT_INTEGER, MAX_EXACT_INTEGER),
    st.integers(-3, 12),
)
_dates = st.one_of(st.integers(AS_OF - 10, AS_OF + 10), st.integers(-MAX_EXACT_INTEGER, MAX_EXACT_INTEGER))


_values = {
    FieldType.NUMBER: _numbers,
    FieldType.DATE: _dates,
    FieldType.TEXT: st.sampled_from(["owner", "cancelled", "achieved", "1e+16", "x"]),
    FieldType.BOOLEAN: st.booleans(),
}


@st.composite
def _number_fact(draw: st.DrawFn) -> dict[str, Any]:
    """Draw a fact of any kind, mostly items, whose fields are absent or drawn from `_values`."""
    kind = draw(st.sampled_from(["item", "item", *sorted(FACT_FIELDS)]))
    fact: dict[str, Any] = {"kind": kind, "as_of": draw(_dates)}
    for name, field_type in FACT_FIELDS[kind].items():
        if name not in fact and draw(st.booleans()):
            fact[name] = draw(_values[field_type])
    return fact


def _property_engine_matches_predicates() -> None:
    rulesets = [_number_rules(), *load_rules(SHIPPED_RULES)]

    @settings(max_examples=300, deadline=None, database=None)
    @given(facts=st.lists(_number_fact(), min_size=1, max_size=8))
    def check(facts: list[dict[str, Any]]) -> None:
        position = {id(fact): index for index, fact in enumerate(facts)}
        for compiled in rulesets:
            expected = [(rule.id, position[id(fact)]) for rule, fact in evaluate_facts(compiled, facts)]
            actual = [(match.rule.id, position[id(match.fact)]) for match in RulesEngine.shared().run(compiled, facts)]
            assert actual == expected, compiled.id

    check()


def test_engine_matches_predicates_on_any_number() -> None:
    run_in_child("_property_engine_matches_predicates", timeout=600)
