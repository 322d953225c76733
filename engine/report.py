"""The report stage: lay out findings, problems and plans as text or JSON.

Functions here return strings; the CLI decides where they go.
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterable, Sequence

from .errors import Problem, Severity
from .evaluate import Evaluation
from .plan import Plan
from .store import Event, PlanSummary

_COLOURS = {"error": "\033[31m", "warning": "\033[33m", "info": "\033[36m"}
_RESET = "\033[0m"


def use_colour(stream: Any) -> bool:
    """Colour only a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    return not os.environ.get("NO_COLOR") and hasattr(stream, "isatty") and stream.isatty()


def _paint(text: str, severity: str, colour: bool) -> str:
    return f"{_COLOURS.get(severity, '')}{text}{_RESET}" if colour and severity in _COLOURS else text


def problems_text(problems: Sequence[Problem], *, colour: bool = False) -> str:
    lines = []
    for problem in problems:
        severity = problem.severity.value
        lines.append(f"{problem.location}: {_paint(severity, severity, colour)}: {problem.message} [{problem.code}]")
        if problem.hint:
            lines.append(f"  hint: {problem.hint}")
    return "\n".join(lines)


def problems_summary(problems: Sequence[Problem], files: int) -> str:
    errors = sum(1 for p in problems if p.severity is Severity.ERROR)
    warnings = len(problems) - errors
    return f"{files} file{'s' if files != 1 else ''} checked: {errors} error{'s' if errors != 1 else ''}, " \
           f"{warnings} warning{'s' if warnings != 1 else ''}"


def problems_json(problems: Sequence[Problem]) -> str:
    return json.dumps([
        {"file": p.location.file, "line": p.location.line, "column": p.location.column,
         "severity": p.severity.value, "code": p.code, "message": p.message, "hint": p.hint,
         "path": list(p.path), "value": p.value if isinstance(p.value, (str, int, float, bool, type(None))) else str(p.value)}
        for p in problems
    ], indent=2)


def evaluation_text(evaluation: Evaluation, plan: Plan, *, colour: bool = False) -> str:
    header = f"Plan {plan.id} ({plan.name}, case {plan.case.get('reference')}) as of {evaluation.as_of}"
    if not evaluation.findings:
        return f"{header}: nothing to flag"
    lines = [f"{header}: {len(evaluation.findings)} finding{'s' if len(evaluation.findings) != 1 else ''}"]
    for finding in evaluation.findings:
        severity = _paint(f"{finding.severity:<7}", finding.severity, colour)
        lines.append(f"  {severity} {finding.rule:<28} {finding.element_name}: {finding.message}")
    return "\n".join(lines)


def evaluation_json(evaluation: Evaluation) -> str:
    return json.dumps(evaluation.to_dict(), indent=2)


def plan_text(plan: Plan) -> str:
    lines = [
        f"Plan {plan.id if plan.id is not None else '(preview, not stored)'}: {plan.name} (template {plan.template_id} v{plan.template_version}), status {plan.status}",
        f"  case {plan.case.get('reference')}, starts {plan.start}, case worker {plan.person_name(plan.case_worker)}",
        f"  goal: {plan.goal_name}",
        "  members: " + ", ".join(f"{plan.person_name(m.person)} ({m.role})" for m in plan.members),
    ]
    for sub_goal in plan.sub_goals:
        lines.append(f"  sub-goal {sub_goal.id} [{sub_goal.category}]: {sub_goal.name}")
        for item in (i for i in plan.items if i.sub_goal == sub_goal.id):
            expected = f"{item.expected_start or '?'} to {item.expected_end or '?'}"
            actual = f"; actual {item.actual_start or '-'} to {item.actual_end or '-'}" if item.actual_start else ""
            units = ""
            if item.unit_type:
                delivered = sum(d.units for d in item.deliveries)
                total = item.authorised_total()
                units = f"; {delivered:g} of {round(total, 1):g} {item.unit_type}" if total is not None else ""
            lines.append(f"    item {item.id}: {item.name} ({item.status}) expected {expected}{actual}{units}")
            lines.append(f"      concerning {plan.person_name(item.concerning)}, owner {plan.person_name(item.owner)}, "
                         f"responsibility {plan.person_name(item.responsibility)}")
    for milestone in plan.milestones:
        lines.append(f"  milestone {milestone.id}: {milestone.name} ({milestone.status}) "
                     f"expected {milestone.expected_start or '?'} to {milestone.expected_end or '?'}")
    return "\n".join(lines)


def plans_text(plans: Iterable[PlanSummary]) -> str:
    rows = [f"{p.id:>5}  {p.status:<10} {p.case_reference:<18} {p.template_id} v{p.template_version}" for p in plans]
    return "\n".join(rows) if rows else "no plans yet"


def history_text(events: Sequence[Event]) -> str:
    lines = []
    for event in events:
        lines.append(f"{event.seq:>4}  {event.at:%Y-%m-%d %H:%M:%S}  {event.actor:<12} {event.action:<20} {event.target}")
        for key, after in (event.after or {}).items():
            before = (event.before or {}).get(key)
            lines.append(f"        {key}: {json.dumps(before)} -> {json.dumps(after)}")
    return "\n".join(lines) if lines else "no events"
