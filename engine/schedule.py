"""Expected dates of a plan's items and milestones, worked out from their timing.

A date anchored on something that has not happened yet (the day work started,
before it is recorded) stays unknown, and so does every date anchored on it;
the rules engine raises nothing for an element whose expected dates are unknown.
`resolve_dates` runs again after every change, so recording the anchor fills in
the dates that depend on it.
"""

from __future__ import annotations

from datetime import date

from .dates import end_of_span, parse_date, shift
from .errors import Location, Problem, SvcplanError
from .model import Schedule, Timing
from .plan import Milestone, Plan, PlanItem

_FIELDS = ("expected_start", "expected_end", "actual_start", "actual_end")


def _anchor_date(plan: Plan, anchor: str) -> date | None:
    if anchor == "plan.start":
        return plan.start
    if anchor.startswith("case."):
        return parse_date(plan.case.get("key_dates", {}).get(anchor.removeprefix("case.")))
    kind, element_id, field_name = anchor.split(".")
    if field_name not in _FIELDS:
        return None
    element: PlanItem | Milestone | None
    element = plan.item(element_id) if kind == "item" else plan.milestone(element_id)
    if element is None:
        # Repeated elements are stored as <id>-1, <id>-2, ...; an anchor on the
        # template id means the first occurrence.
        element = plan.item(f"{element_id}-1") if kind == "item" else plan.milestone(f"{element_id}-1")
    return getattr(element, field_name) if element is not None else None


def _date_of(plan: Plan, timing: Timing, schedule: Schedule) -> date | None:
    anchor = _anchor_date(plan, timing.anchor)
    if anchor is None:
        return None
    if schedule.shift is not None:
        anchor = shift(anchor, schedule.shift)
    return shift(anchor, timing.offset, timing.counting)


def expected_dates(plan: Plan, schedule: Schedule) -> tuple[date | None, date | None]:
    """Return the expected start and end of one element, None where an anchor is unknown."""
    start = _date_of(plan, schedule.start, schedule)
    if schedule.end is not None:
        end = _date_of(plan, schedule.end, schedule)
    elif start is not None and schedule.length is not None:
        end = end_of_span(start, schedule.length, schedule.start.counting)
    else:
        end = None
    return start, end


def resolve_dates(plan: Plan) -> None:
    """Set every element's expected dates from its timing, in place.

    Elements anchored on other elements are resolved by repeating the pass until
    nothing changes; the compile stage rejects circular timing, so this ends.
    An element whose dates a worker set by hand has no schedule and is left alone.
    """
    elements: list[PlanItem | Milestone] = [*plan.items, *plan.milestones]
    for _ in range(len(elements) + 1):
        changed = False
        for element in elements:
            if element.schedule is None:
                continue
            start, end = expected_dates(plan, element.schedule)
            if isinstance(element, Milestone) and element.extensions:
                # An extension replaces the scheduled end; its history is in `extensions`.
                end = element.extensions[-1].new_end
            if (start, end) != (element.expected_start, element.expected_end):
                element.expected_start, element.expected_end = start, end
                changed = True
        if not changed:
            break

    problems = []
    for element in elements:
        if element.expected_start and element.expected_end and element.expected_end < element.expected_start:
            location = element.schedule.start.location if element.schedule else Location(f"plan {plan.id}")
            kind = "item" if isinstance(element, PlanItem) else "milestone"
            problems.append(Problem(
                location, "end-before-start",
                f"{kind} {element.id!r}: the expected end {element.expected_end} falls before "
                f"the expected start {element.expected_start}",
                value=element.expected_end.isoformat(),
                hint="correct the timing in the template: the end must not come before the start",
            ))
    if problems:
        raise SvcplanError(problems)
