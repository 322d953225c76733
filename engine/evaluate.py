"""The evaluate stage: run the compiled rulesets over one plan as of a date.

Evaluation reads the plan and writes nothing. Findings of severity ``error``
are broken constraints (membership rules); `check_constraints` turns them into
a rejected change, so the same rules guard a new plan and every later change.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any, Mapping, Sequence

from .errors import Location, Problem, RejectedChange
from .facts import plan_facts
from .plan import Plan
from .rules import CompiledRuleset, format_evidence, format_message
from .rulesengine import RulesEngine

log = logging.getLogger(__name__)

SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Finding:
    """One rule that a plan element breaks or triggers, with the figures that did it."""

    rule: str
    ruleset: str
    severity: str
    title: str
    element: str
    element_name: str
    message: str
    evidence: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule, "ruleset": self.ruleset, "severity": self.severity, "title": self.title,
            "element": self.element, "element_name": self.element_name, "message": self.message,
            "evidence": dict(self.evidence),
        }


@dataclass(frozen=True)
class Evaluation:
    plan_id: int | None
    as_of: date
    findings: tuple[Finding, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"plan": self.plan_id, "as_of": self.as_of.isoformat(),
                "findings": [finding.to_dict() for finding in self.findings]}


def _element_name(plan: Plan, fact: Mapping[str, Any]) -> str:
    kind = fact.get("kind")
    if kind in ("item", "milestone"):
        return str(fact.get("name", fact.get("id", "")))
    if kind == "member":
        return plan.person_name(str(fact.get("person")))
    if kind == "assignment":
        item = plan.item(str(fact.get("item")))
        person = plan.person_name(str(fact.get("person")))
        return f"{item.name if item else fact.get('item')}: {fact.get('field')} {person}"
    return plan.name


def evaluate_plan(
    plan: Plan, as_of: date, rulesets: Sequence[CompiledRuleset], engine: RulesEngine | None = None
) -> Evaluation:
    """Return the findings of every ruleset on `plan` as of `as_of`, most severe first."""
    engine = engine or RulesEngine.shared()
    facts = plan_facts(plan, as_of)
    findings: list[Finding] = []
    for ruleset in rulesets:
        # A fact of a kind that no rule of the ruleset applies to can only reach
        # the catch-all rule, so it is left out (most facts are membership facts).
        kinds = {rule.applies_to for rule in ruleset.rules}
        relevant = [fact for fact in facts if fact["kind"] in kinds]
        for rule, fact in engine.run(ruleset, relevant):
            findings.append(Finding(
                rule=rule.id, ruleset=ruleset.id, severity=rule.severity, title=rule.title,
                element=str(fact.get("element")), element_name=_element_name(plan, fact),
                message=format_message(rule, fact), evidence=format_evidence(rule, fact),
            ))
    findings.sort(key=lambda f: (SEVERITY_ORDER.get(f.severity, 9), f.element, f.rule))
    log.info("evaluated plan %s as of %s: %d findings", plan.id, as_of, len(findings))
    return Evaluation(plan.id, as_of, tuple(findings))


def _errors(plan: Plan, today: date, rulesets: Sequence[CompiledRuleset], engine: RulesEngine | None) -> list[Finding]:
    return [f for f in evaluate_plan(plan, today, rulesets, engine).findings if f.severity == "error"]


def _rejection(errors: Sequence[Finding], location: Location) -> RejectedChange:
    return RejectedChange([
        Problem(location, f"rule.{finding.rule}", f"{finding.element_name}: {finding.message}",
                value=finding.evidence.get("person"), hint=_CONSTRAINT_HINTS.get(finding.rule, ""))
        for finding in errors
    ])


def check_constraints(
    plan: Plan, today: date, rulesets: Sequence[CompiledRuleset], location: Location,
    engine: RulesEngine | None = None,
) -> None:
    """Raise `RejectedChange` listing every error finding (a broken membership rule) of `plan`."""
    errors = _errors(plan, today, rulesets, engine)
    if errors:
        raise _rejection(errors, location)


def check_new_constraints(
    before: Plan, after: Plan, today: date, rulesets: Sequence[CompiledRuleset], location: Location,
    engine: RulesEngine | None = None,
) -> None:
    """Raise `RejectedChange` for error findings of `after` that `before` did not have.

    A rule added after a plan was made may find the plan already in breach; that
    breach is reported by evaluation, and blocks only the changes that add to it.
    """
    known = {(f.rule, f.element) for f in _errors(before, today, rulesets, engine)}
    new = [f for f in _errors(after, today, rulesets, engine) if (f.rule, f.element) not in known]
    if new:
        raise _rejection(new, location)


_CONSTRAINT_HINTS = {
    "member-is-prospect": "register the person with the case first; a prospect cannot be a plan participant",
    "member-not-case-participant": "add the person to the case first; plan participants come from the case",
    "primary-client-not-member": "add the case's primary client as a plan participant",
    "assignee-not-allowed": "name a user of the organisation or a plan participant",
    "concerning-not-plan-participant": "an item can concern only a plan participant",
    "assignee-lacks-clearance": "choose a user whose sensitivity clearance is at least the item's sensitivity",
}
