"""Recording progress: actual dates, outcomes, costs, unit deliveries, assignments.

Every change is a `Change` value: an action name, its target and its values, so a
command typed by a case worker and a step of a progress file take one path. The
`apply_change` function checks the change against the plan and applies it, or
raises `RejectedChange` and leaves the plan as it was. It returns what changed,
before and after, for the audit trail.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Callable, Mapping

from jsonschema import Draft202012Validator

from .dates import parse_date
from .errors import Location, Problem, RejectedChange
from .model import ItemKind, ItemType
from .plan import Delivery, Member, MemberRole, Milestone, Outcome, Plan, PlanItem
from .schedule import resolve_dates

MAX_AMOUNT = 1_000_000_000.0
"""Largest cost or unit count accepted, far above any real plan item's."""

DECIMALS = 4
"""Numbers are kept to this many decimal places; costs to cents."""

ACTIONS = (
    "item.start", "item.complete", "item.outcome", "item.cost", "item.deliver", "item.attribute", "item.assign",
    "milestone.start", "milestone.complete", "milestone.waive",
    "participant.add", "participant.remove",
)


@dataclass(frozen=True)
class Change:
    """One change a user asks for, with where the request was written."""

    action: str
    values: Mapping[str, Any]
    location: Location = field(default_factory=lambda: Location("command line"))
    actor: str | None = None
    """The user making this change when it is not the one making the whole request (a progress file's `as:`)."""

    @property
    def target(self) -> str:
        for key in ("item", "milestone", "person", "sub_goal", "group", "agreement"):
            if key in self.values:
                return f"{key}:{self.values[key]}"
        return "plan"


@dataclass(frozen=True)
class Applied:
    """The effect of one change: its target, and the target's changed fields before and after."""

    action: str
    target: str
    before: Mapping[str, Any]
    after: Mapping[str, Any]


@dataclass(frozen=True)
class ChangeContext:
    """The inputs a change is checked against besides the plan: today's date, the acting user, the item types."""

    today: date
    actor: str | None = None
    item_types: Mapping[str, ItemType] | None = None


def all_actions() -> tuple[str, ...]:
    """Return every action `apply_change` carries out: progress, lifecycle and editing actions."""
    from . import editing, lifecycle

    return (*ACTIONS, *lifecycle.HANDLERS, *editing.HANDLERS)


def _reject(change: Change, code: str, message: str, value: object = None, hint: str = "") -> RejectedChange:
    return RejectedChange([Problem(change.location, code, message, value=value, hint=hint)])


def _date_value(change: Change, key: str, today: date, *, required: bool = True) -> date | None:
    raw = change.values.get(key)
    if raw is None:
        if required:
            raise _reject(change, "missing-value", f"{change.action}: the date {key!r} is missing",
                          hint=f"give {key} as YYYY-MM-DD")
        return None
    day = parse_date(raw)
    if day is None:
        raise _reject(change, "invalid-date", f"{change.action}: {key} {raw!r} is not a real date", raw,
                      "write the date as YYYY-MM-DD, with a day that exists in that month")
    if day > today:
        raise _reject(change, "date-in-future", f"{change.action}: {key} {day} is in the future (today is {today})",
                      raw, "record what happened only once it has happened")
    return day


def _number(change: Change, key: str, *, positive: bool, decimals: int = DECIMALS) -> float | None:
    """Return the number given as `key`, rounded to `decimals`, or None when it is absent.

    Reject text, NaN, infinities, negatives, zero where `positive`, values that
    round to zero, and values above `MAX_AMOUNT`.
    """
    raw = change.values.get(key)
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise _reject(change, "invalid-number", f"{change.action}: {key} {raw!r} is not a number", raw,
                      "write a number such as 5150.00")
    try:
        number = float(raw)
    except (TypeError, ValueError):
        raise _reject(change, "invalid-number", f"{change.action}: {key} {raw!r} is not a number", raw,
                      "write a number such as 5150.00") from None
    if math.isnan(number) or math.isinf(number):
        raise _reject(change, "invalid-number", f"{change.action}: {key} {raw!r} is not a finite number", raw,
                      "write a number such as 5150.00")
    if number < 0 or (positive and number == 0):
        bound = "more than zero" if positive else "zero or more"
        raise _reject(change, "invalid-number", f"{change.action}: {key} {raw!r} must be {bound}", raw,
                      f"write a number that is {bound}")
    if number > MAX_AMOUNT:
        raise _reject(change, "number-too-large",
                      f"{change.action}: {key} {raw!r} is larger than {MAX_AMOUNT:,.0f}", raw,
                      "check the value; it is far above what any plan item records")
    rounded = round(number, decimals) + 0.0  # adding 0.0 turns -0.0 into 0.0
    if positive and rounded == 0:
        raise _reject(change, "invalid-number",
                      f"{change.action}: {key} {raw!r} rounds to zero at {decimals} decimal places", raw,
                      "record at least one unit, or a fraction that shows at this precision")
    return rounded


def _item(plan: Plan, change: Change) -> PlanItem:
    item_id = change.values.get("item")
    item = plan.item(str(item_id)) if item_id is not None else None
    if item is None:
        ids = ", ".join(i.id for i in plan.items)
        raise _reject(change, "unknown-item", f"{change.action}: plan {plan.id} has no item {item_id!r}", item_id,
                      f"items of this plan: {ids}")
    return item


def _milestone(plan: Plan, change: Change) -> Milestone:
    milestone_id = change.values.get("milestone")
    milestone = plan.milestone(str(milestone_id)) if milestone_id is not None else None
    if milestone is None:
        ids = ", ".join(m.id for m in plan.milestones)
        raise _reject(change, "unknown-milestone", f"{change.action}: plan {plan.id} has no milestone {milestone_id!r}",
                      milestone_id, f"milestones of this plan: {ids}")
    return milestone


def _check_end(change: Change, start: date | None, end: date) -> None:
    if start is None:
        raise _reject(change, "not-started", f"{change.action}: the actual start is not recorded",
                      hint="record the start first (with the same date if it began and ended that day)")
    if end < start:
        raise _reject(change, "end-before-start", f"{change.action}: the end {end} is before the actual start {start}",
                      end.isoformat(), "give an end on or after the start")


def _outcome(change: Change, item: PlanItem) -> None:
    outcome = change.values.get("outcome")
    if outcome is None:
        return
    if outcome not in Outcome.ALL:
        raise _reject(change, "invalid-outcome", f"{change.action}: outcome {outcome!r} is not allowed", outcome,
                      f"use one of: {', '.join(Outcome.ALL)}")
    good_cause = bool(change.values.get("good_cause", False))
    if good_cause and outcome != Outcome.NOT_ATTAINED:
        raise _reject(change, "good-cause-without-not-attained",
                      f"{change.action}: good cause applies only to the outcome {Outcome.NOT_ATTAINED!r}", outcome)
    item.outcome = outcome
    item.good_cause = good_cause


def _snapshot(target: PlanItem | Milestone | Plan) -> dict[str, Any]:
    if isinstance(target, Plan):
        return {"members": [m.to_dict() for m in target.members]}
    data = target.to_dict()
    data.pop("schedule", None)
    data.pop("attributes_schema", None)
    return data


def _changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the fields that differ, before and after.

    A list that only grew (deliveries, authorisations) is recorded as its
    length before and the entries added, so that each event stays small however
    long the list gets.
    """
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    for key in after:
        previous, current = before.get(key), after.get(key)
        if previous == current:
            continue
        if isinstance(previous, list) and isinstance(current, list) and current[: len(previous)] == previous:
            old[key] = {"count": len(previous)}
            new[key] = {"count": len(current), "added": current[len(previous):]}
        else:
            old[key], new[key] = previous, current
    return old, new


def _item_start(plan: Plan, change: Change, today: date) -> PlanItem:
    item = _item(plan, change)
    on = _date_value(change, "on", today)
    if item.actual_end and on and on > item.actual_end:
        raise _reject(change, "start-after-end", f"item.start: {on} is after the recorded end {item.actual_end}",
                      str(on))
    item.actual_start = on
    return item


def _item_complete(plan: Plan, change: Change, today: date) -> PlanItem:
    item = _item(plan, change)
    on = _date_value(change, "on", today)
    assert on is not None
    _check_end(change, item.actual_start, on)
    item.actual_end = on
    _outcome(change, item)
    return item


def _item_outcome(plan: Plan, change: Change, today: date) -> PlanItem:
    item = _item(plan, change)
    if change.values.get("outcome") is None:
        raise _reject(change, "missing-value", "item.outcome: the outcome is missing",
                      hint=f"give one of: {', '.join(Outcome.ALL)}")
    _outcome(change, item)
    return item


def _item_cost(plan: Plan, change: Change, today: date) -> PlanItem:
    item = _item(plan, change)
    actual = _number(change, "actual", positive=False, decimals=2)
    estimated = _number(change, "estimated", positive=False, decimals=2)
    if actual is None and estimated is None:
        raise _reject(change, "missing-value", "item.cost: give an actual or an estimated cost, or both")
    if actual is not None:
        item.actual_cost = round(actual, 2)
    if estimated is not None:
        item.estimated_cost = round(estimated, 2)
    return item


def _item_deliver(plan: Plan, change: Change, today: date) -> PlanItem:
    item = _item(plan, change)
    if item.kind is not ItemKind.UNIT_DELIVERY or not item.unit_type:
        raise _reject(change, "no-unit-type",
                      f"item.deliver: item {item.id!r} has no unit type, so no delivery can be recorded for it",
                      item.id, "record deliveries only on service unit delivery items")
    units = _number(change, "units", positive=True)
    if units is None:
        raise _reject(change, "missing-value", f"item.deliver: the number of {item.unit_type} is missing")
    on = _date_value(change, "on", today)
    assert on is not None
    if item.actual_start is None or on < item.actual_start:
        raise _reject(change, "delivery-before-start",
                      f"item.deliver: {on} is before the item's actual start ({item.actual_start or 'not recorded'})",
                      str(on), "record the item's start first, on or before the first delivery")
    if item.actual_end and on > item.actual_end:
        raise _reject(change, "delivery-after-end", f"item.deliver: {on} is after the item ended on {item.actual_end}",
                      str(on))
    total = item.authorised_total()
    delivered = sum(delivery.units for delivery in item.deliveries)
    if total is not None and delivered + units > total + 1e-9:
        raise _reject(change, "units-above-authorised",
                      f"item.deliver: {units:g} more {item.unit_type} would make {delivered + units:g}, "
                      f"above the {total:g} authorised for item {item.id!r}",
                      units, "a supervisor can authorise more units first (svcplan item authorise)")
    item.deliveries.append(Delivery(on, units))
    return item


def _item_attribute(plan: Plan, change: Change, today: date) -> PlanItem:
    item = _item(plan, change)
    name = change.values.get("name")
    if not isinstance(name, str) or not name:
        raise _reject(change, "missing-value", "item.attribute: the attribute name is missing")
    if item.attributes_schema is None:
        raise _reject(change, "attributes-not-declared",
                      f"item.attribute: item type {item.item_type!r} declares no extra attributes", name)
    attributes = {**item.attributes, name: change.values.get("value")}
    # Attributes are set one at a time, so a required one may still be missing.
    partial = {key: value for key, value in item.attributes_schema.items() if key != "required"}
    errors = sorted(Draft202012Validator(partial).iter_errors(attributes), key=str)
    if errors:
        raise _reject(change, "invalid-attribute", f"item.attribute: {errors[0].message}", change.values.get("value"),
                      f"item type {item.item_type!r} defines which attributes and values are valid")
    item.attributes = attributes
    return item


def _item_assign(plan: Plan, change: Change, today: date) -> PlanItem:
    item = _item(plan, change)
    given = {key: change.values[key] for key in ("owner", "responsibility", "concerning") if change.values.get(key)}
    if not given:
        raise _reject(change, "missing-value", "item.assign: give an owner, a responsibility or concerning")
    for key, person in given.items():
        setattr(item, key, str(person))
    return item


def _milestone_start(plan: Plan, change: Change, today: date) -> Milestone:
    milestone = _milestone(plan, change)
    milestone.actual_start = _date_value(change, "on", today)
    return milestone


def _milestone_complete(plan: Plan, change: Change, today: date) -> Milestone:
    milestone = _milestone(plan, change)
    on = _date_value(change, "on", today)
    assert on is not None
    if milestone.waived:
        raise _reject(change, "milestone-waived", f"milestone.complete: milestone {milestone.id!r} was waived")
    _check_end(change, milestone.actual_start, on)
    milestone.actual_end = on
    return milestone


def _milestone_waive(plan: Plan, change: Change, today: date) -> Milestone:
    milestone = _milestone(plan, change)
    if milestone.actual_end:
        raise _reject(change, "milestone-completed", f"milestone.waive: milestone {milestone.id!r} is already completed")
    milestone.waived = True
    return milestone


def _participant_add(plan: Plan, change: Change, today: date) -> Plan:
    person = change.values.get("person")
    if not person:
        raise _reject(change, "missing-value", "participant.add: the person is missing")
    if person in plan.member_ids(MemberRole.ALL):
        raise _reject(change, "already-member", f"participant.add: {person!r} is already on the plan", person)
    role = change.values.get("role", MemberRole.PARTICIPANT)
    if role not in (MemberRole.PARTICIPANT, MemberRole.REPRESENTATIVE, MemberRole.CORRESPONDENT):
        raise _reject(change, "invalid-role", f"participant.add: role {role!r} is not allowed", role,
                      f"use {MemberRole.PARTICIPANT}, {MemberRole.REPRESENTATIVE} or {MemberRole.CORRESPONDENT}")
    plan.members.append(Member(str(person), role, change.values.get("represents")))
    return plan


def _participant_remove(plan: Plan, change: Change, today: date) -> Plan:
    person = change.values.get("person")
    member = next((m for m in plan.members if m.person == person), None)
    if member is None:
        raise _reject(change, "not-a-member", f"participant.remove: {person!r} is not on the plan", person)
    if member.role == MemberRole.PRIMARY:
        raise _reject(change, "primary-participant", "participant.remove: the primary plan participant cannot be removed",
                      person, "clone the plan with another primary plan participant instead")
    named = [i.id for i in plan.items if person in (i.owner, i.responsibility, i.concerning)]
    if named:
        raise _reject(change, "participant-assigned",
                      f"participant.remove: {person!r} is still named on items {', '.join(named)}", person,
                      "assign those items to someone else first")
    plan.members.remove(member)
    return plan


_HANDLERS: dict[str, Callable[[Plan, Change, date], PlanItem | Milestone | Plan]] = {
    "item.start": _item_start,
    "item.complete": _item_complete,
    "item.outcome": _item_outcome,
    "item.cost": _item_cost,
    "item.deliver": _item_deliver,
    "item.attribute": _item_attribute,
    "item.assign": _item_assign,
    "milestone.start": _milestone_start,
    "milestone.complete": _milestone_complete,
    "milestone.waive": _milestone_waive,
    "participant.add": _participant_add,
    "participant.remove": _participant_remove,
}


def apply_change(
    plan: Plan, change: Change, *, today: date | None = None, actor: str | None = None,
    item_types: Mapping[str, ItemType] | None = None,
) -> tuple[Plan, Applied]:
    """Return a copy of `plan` with `change` applied, and what changed.

    The given plan is never modified, so a rejected change leaves nothing behind.
    `today` bounds actual dates, which may not lie in the future. The acting user
    is `change.actor`, else `actor`, and `permissions.check_change` decides what
    it may do. `item_types` (the library's) are needed to add an item of a library type.
    """
    # Imported here because these modules build on the definitions above.
    from . import editing, lifecycle, permissions

    if plan.status == "closed":
        raise _reject(change, "plan-closed", f"{change.action}: plan {plan.id} is closed and changes no more")
    handler = _HANDLERS.get(change.action)
    other = lifecycle.HANDLERS.get(change.action) or editing.HANDLERS.get(change.action)
    if handler is None and other is None:
        raise _reject(change, "unknown-action", f"unknown change {change.action!r}", change.action,
                      f"use one of: {', '.join(all_actions())}")
    today = today or date.today()
    context = ChangeContext(today, change.actor or actor, item_types)
    permissions.check_change(plan, change.action, change.values, context.actor, change.location)
    lifecycle.check_guarded(plan, change)
    changed = copy.deepcopy(plan)
    if other is not None:
        applied = other(changed, change, context)
        resolve_dates(changed)
        return changed, applied
    assert handler is not None
    target = handler(changed, change, today)
    before_target = plan if isinstance(target, Plan) else (
        plan.item(target.id) if isinstance(target, PlanItem) else plan.milestone(target.id))
    before, after = _changed(_snapshot(before_target), _snapshot(target))  # type: ignore[arg-type]
    resolve_dates(changed)
    return changed, Applied(change.action, change.target, before, after)
