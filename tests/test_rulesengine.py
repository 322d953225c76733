"""Tests of the durable-rules adapter: each known hazard of the engine, provoked for real.

All tests share the process's one durable-rules host, as svcplan does.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from svcplan.errors import RulesEngineError, SvcplanError
from svcplan.load import parse_text
from svcplan.rules import (
    CATCH_ALL_RULE,
    MAX_ALPHA_WIDTH,
    CompiledRuleset,
    compile_rules,
    evaluate_facts,
)
from svcplan.rulesengine import Match, RulesEngine, _Host

DATA = Path(__file__).parent / "data"
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
