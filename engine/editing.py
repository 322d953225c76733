"""Editing a plan after it was made: sub-goals, plan groups, items, milestones, units and assignments.

Each function carries out one `Change` action on a copy of the plan that
`progress.apply_change` hands it, and returns what changed. The workflow checks
the membership rules after every change, so an edit that would leave an owner
outside the plan, or an item concerning someone who is not a plan participant,
is rejected there.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Callable

from .dates import parse_date
from .model import ItemKind, ItemType, RatePeriod, UnitAllowance
from .permissions import acting_user, clearance, require_clearance
from .plan import AgreementStatus, Group, Milestone, Plan, PlanItem, SubGoal, UnitsAuthorisation
from .progress import Applied, Change, ChangeContext, _changed, _item, _milestone, _number, _reject, _snapshot

ELEMENT_ID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
CATEGORIES = ("achieve-an-objective", "meet-a-need", "overcome-a-barrier")
CUSTOM_ITEM_TYPE = "custom"
"""The item type of a custom item added without an item type of the library."""
REASSIGNABLE_FIELDS = ("owner", "responsibility")


def _text(change: Change, key: str, *, required: bool = False) -> str | None:
    raw = change.values.get(key)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            raise _reject(change, "missing-value", f"{change.action}: {key} is missing", hint=f"give {key}")
        return None
    return str(raw)


def _new_id(change: Change, key: str, existing_ids: list[str]) -> str:
    element_id = _text(change, key, required=True)
    assert element_id is not None
    if not ELEMENT_ID.match(element_id) or len(element_id) > 64:
        raise _reject(change, "invalid-id", f"{change.action}: {key} {element_id!r} is not a valid id", element_id,
                      "use lower-case letters, digits and single hyphens, starting with a letter (e.g. housing-search)")
    if element_id in existing_ids:
        raise _reject(change, "duplicate-id", f"{change.action}: the plan already has a {key.replace('_', '-')} "
                      f"{element_id!r}", element_id, "choose another id")
    return element_id


def _planned_date(change: Change, key: str, *, required: bool) -> date | None:
    """Return a planned date of the change; planned dates may lie in the future."""
    raw = change.values.get(key)
    if raw is None:
        if required:
            raise _reject(change, "missing-value", f"{change.action}: {key} is missing", hint=f"give {key} as YYYY-MM-DD")
        return None
    day = parse_date(raw)
    if day is None:
        raise _reject(change, "invalid-date", f"{change.action}: {key} {raw!r} is not a real date", raw,
                      "write the date as YYYY-MM-DD, with a day that exists in that month")
    return day


def _check_period(change: Change, start: date | None, end: date | None) -> None:
    if start and end and end < start:
        raise _reject(change, "end-before-start", f"{change.action}: the expected end {end} is before the expected "
                      f"start {start}", end.isoformat(), "give an end on or after the start")


def _sensitivity(change: Change, default: int, context: ChangeContext, plan: Plan) -> int:
    raw = change.values.get("sensitivity", default)
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= 5:
        raise _reject(change, "invalid-sensitivity", f"{change.action}: sensitivity {raw!r} is not a whole number "
                      "from 1 to 5", raw, "1 is the lowest sensitivity, 5 the highest")
    if raw < default:
        raise _reject(change, "sensitivity-below-type", f"{change.action}: sensitivity {raw} is below {default}, "
                      "the sensitivity its item type sets", raw, f"give {default} or more")
    if context.actor:
        user = acting_user(plan, context.actor, change.action, change.location)
        if raw > clearance(user):
            raise _reject(change, "above-clearance", f"{change.action}: sensitivity {raw} is above the clearance "
                          f"{clearance(user)} of {context.actor}, who could then not see the item", raw,
                          f"give {clearance(user)} or less, or ask a user with a higher clearance")
    return raw


def _sub_goal(plan: Plan, change: Change, key: str = "sub_goal") -> SubGoal:
    sub_goal_id = change.values.get(key)
    found = next((s for s in plan.sub_goals if s.id == sub_goal_id), None)
    if found is None:
        raise _reject(change, "unknown-sub-goal", f"{change.action}: plan {plan.id} has no sub-goal {sub_goal_id!r}",
                      sub_goal_id,
                      f"sub-goals of this plan: {', '.join(s.id for s in plan.sub_goals)}")
    return found


def _group(plan: Plan, change: Change, key: str = "group") -> Group:
    group_id = change.values.get(key)
    found = next((g for g in plan.groups if g.id == group_id), None)
    if found is None:
        raise _reject(change, "unknown-group", f"{change.action}: plan {plan.id} has no plan group {group_id!r}",
                      group_id,
                      f"plan groups of this plan: {', '.join(g.id for g in plan.groups) or 'none'}")
    return found


def _anchored_on(plan: Plan, kind: str, element: PlanItem | Milestone, template_id: str | None) -> list[str]:
    """Return the ids of elements whose timing is anchored on `element`."""
    # A template's anchor on a repeated element names its template id and means the first occurrence.
    names = {element.id} | ({template_id} if template_id and element.occurrence <= 1 else set())
    found = []
    for other in [*plan.items, *plan.milestones]:
        if other is element or other.schedule is None:
            continue
        timings = [other.schedule.start, *([other.schedule.end] if other.schedule.end else [])]
        if any(t.anchor.startswith(f"{kind}.") and t.anchor.split(".")[1] in names for t in timings):
            found.append(other.id)
    return found


# --- sub-goals and plan groups ----------------------------------------------------


def subgoal_add(plan: Plan, change: Change, context: ChangeContext) -> Applied:
    """Add a sub-goal; none may be added once an agreement was issued, since the client was shown the sub-goals."""
    if plan.agreements:
        raise _reject(change, "agreement-issued",
                      f"{change.action}: plan {plan.id} has issued an agreement, so no sub-goal may be added", plan.id,
                      "add the items to an existing sub-goal instead")
    sub_goal_id = _new_id(change, "sub_goal", [s.id for s in plan.sub_goals])
    category = _text(change, "category", required=True)
    if category not in CATEGORIES:
        raise _reject(change, "invalid-category", f"{change.action}: category {category!r} is not allowed", category,
                      f"use one of: {', '.join(CATEGORIES)}")
    group = _group(plan, change).id if change.values.get("group") else None
    sub_goal = SubGoal(sub_goal_id, category, _text(change, "name", required=True) or "",
                       _text(change, "owner") or plan.case_worker, group, _text(change, "description"))
    plan.sub_goals.append(sub_goal)
    return Applied(change.action, f"sub_goal:{sub_goal.id}", {}, sub_goal.to_dict())


def subgoal_change(plan: Plan, change: Change, context: ChangeContext) -> Applied:
    """Change a sub-goal's name, category, owner, plan group or description."""
    sub_goal = _sub_goal(plan, change)
    before = sub_goal.to_dict()
    fields = [key for key in ("name", "category", "owner", "group", "description") if change.values.get(key)]
    if not fields:
        raise _reject(change, "missing-value", f"{change.action}: give a name, category, owner, group or description")
    if "category" in fields and change.values["category"] not in CATEGORIES:
        raise _reject(change, "invalid-category", f"{change.action}: category {change.values['category']!r} is not "
                      "allowed", change.values["category"], f"use one of: {', '.join(CATEGORIES)}")
    if "group" in fields:
        _group(plan, change)
    for key in fields:
        setattr(sub_goal, key, str(change.values[key]))
    old, new = _changed(before, sub_goal.to_dict())
    return Applied(change.action, f"sub_goal:{sub_goal.id}", old, new)


def subgoal_remove(plan: Plan, change: Change, context: ChangeContext) -> Applied:
    """Remove a sub-goal that has no items; a plan keeps at least one sub-goal."""
    sub_goal = _sub_goal(plan, change)
    items = [item.id for item in plan.items if item.sub_goal == sub_goal.id]
    if items:
        raise _reject(change, "sub-goal-has-items", f"{change.action}: sub-goal {sub_goal.id!r} still has items "
                      f"{', '.join(items)}", sub_goal.id, "remove those items or move them to another sub-goal first")
    if len(plan.sub_goals) == 1:
        raise _reject(change, "last-sub-goal", f"{change.action}: sub-goal {sub_goal.id!r} is the plan's only one, and "
                      "a plan has at least one sub-goal", sub_goal.id, "add another sub-goal first")
    plan.sub_goals.remove(sub_goal)
    return Applied(change.action, f"sub_goal:{sub_goal.id}", sub_goal.to_dict(), {})


def group_add(plan: Plan, change: Change, context: ChangeContext) -> Applied:
    """Add a plan group, nested in `parent` when given; none may be added once an agreement was accepted."""
    accepted = [a.number for a in plan.agreements if a.status == AgreementStatus.ACCEPTED]
    if accepted:
        raise _reject(change, "agreement-accepted",
                      f"{change.action}: the client accepted agreement {accepted[-1]} of plan {plan.id}, so no plan "
                      "group may be added", plan.id, "put the sub-goals in an existing plan group instead")
    group_id = _new_id(change, "group", [g.id for g in plan.groups])
    parent = _group(plan, change, "parent").id if change.values.get("parent") else None
    group = Group(group_id, _text(change, "name", required=True) or "", parent, _text(change, "description"))
    plan.groups.append(group)
    return Applied(change.action, f"group:{group.id}", {}, group.to_dict())


def group_remove(plan: Plan, change: Change, context: ChangeContext) -> Applied:
    """Remove a plan group that no sub-goal and no other group belongs to."""
    group = _group(plan, change)
    members = [f"sub-goal {s.id}" for s in plan.sub_goals if s.group == group.id]
    members += [f"group {g.id}" for g in plan.groups if g.parent == group.id]
    if members:
        raise _reject(change, "group-not-empty", f"{change.action}: plan group {group.id!r} still contains "
                      f"{', '.join(members)}", group.id, "move or remove them first")
    plan.groups.remove(group)
    return Applied(change.action, f"group:{group.id}", group.to_dict(), {})


# --- items ------------------------------------------------------------------------


def _item_type(change: Change, context: ChangeContext) -> ItemType | None:
    type_id = _text(change, "type")
    if type_id is None:
        return None
    if context.item_types is None:
        raise _reject(change, "no-item-types", f"{change.action}: the library's item types were not given, so item "
                      f"type {type_id!r} cannot be looked up", type_id, "pass item_types to apply_change")
    item_type = context.item_types.get(type_id)
    if item_type is None:
        raise _reject(change, "unknown-item-type", f"{change.action}: the library has no item type {type_id!r}",
                      type_id, f"item types: {', '.join(sorted(context.item_types))}")
    return item_type


def item_add(plan: Plan, change: Change, context: ChangeContext) -> Applied:
    """Add an item to a sub-goal: from an item type of the library, or a custom item with its own name.

    A custom item (no type, or a type of kind custom) needs a name, an expected
    start, an expected end and an expected outcome. An item of a basic or unit
    delivery type takes its name and purpose from the type. Added items have
    their dates set by hand, are never mandatory, and need approval when their
    type does.
    """
    item_id = _new_id(change, "item", [i.id for i in plan.items])
    sub_goal = _sub_goal(plan, change)
    item_type = _item_type(change, context)
    kind = item_type.kind if item_type else ItemKind.CUSTOM
    custom = kind is ItemKind.CUSTOM
    if custom:
        name = _text(change, "name", required=True)
        purpose = _text(change, "purpose")
    else:
        assert item_type is not None
        for key in ("name", "purpose"):
            if change.values.get(key):
                raise _reject(change, "fixed-by-item-type", f"{change.action}: item type {item_type.id!r} fixes the "
                              f"{key}, so it cannot be given", change.values[key],
                              f"leave out {key}, or add a custom item to name it yourself")
        name, purpose = item_type.name or item_type.id, item_type.purpose
    start = _planned_date(change, "expected_start", required=custom)
    end = _planned_date(change, "expected_end", required=custom)
    _check_period(change, start, end)
    outcome = _text(change, "expected_outcome", required=custom)
    sensitivity = _sensitivity(change, item_type.sensitivity if item_type else 1, context, plan)
    estimated = _number(change, "estimated_cost", positive=False)
    item = PlanItem(
        id=item_id, template_item=None, sub_goal=sub_goal.id,
        item_type=item_type.id if item_type else CUSTOM_ITEM_TYPE, kind=kind, name=name or item_id,
        purpose=purpose, expected_outcome=outcome,
        concerning=_text(change, "concerning") or plan.primary_plan_participant or "",
        owner=_text(change, "owner") or plan.case_worker,
        responsibility=_text(change, "responsibility") or plan.case_worker,
        mandatory=False, sensitivity=sensitivity, schedule=None, expected_start=start, expected_end=end,
        estimated_cost=round(estimated, 2) if estimated is not None else None,
        unit_type=item_type.unit_type if item_type else None,
        authorised_units=item_type.authorised_units if item_type else None,
        maximum_units=item_type.maximum_units if item_type else None,
        units_tolerance=item_type.units_tolerance if item_type else 0.1,
        attributes_schema=item_type.attributes_schema if item_type else None,
        approval_required=item_type.approval_required if item_type else False,
        guidance_url=item_type.guidance_url if item_type else None,
    )
    plan.items.append(item)
    return Applied(change.action, f"item:{item.id}", {}, _snapshot(item))


def item_change(plan: Plan, change: Change, context: ChangeContext) -> Applied:
    """Change an item's texts, expected dates, sub-goal or sensitivity.

    Name and purpose can change only on custom items. Expected dates given here
    replace the template's timing for this item from now on.
    """
    item = _item(plan, change)
    before = _snapshot(item)
    keys = ("name", "purpose", "expected_outcome", "expected_start", "expected_end", "sub_goal", "sensitivity")
    if not any(change.values.get(key) is not None for key in keys):
        raise _reject(change, "missing-value", f"{change.action}: give at least one of: {', '.join(keys)}")
    for key in ("name", "purpose"):
        if change.values.get(key) is not None:
            if item.kind is not ItemKind.CUSTOM:
                raise _reject(change, "fixed-by-item-type", f"{change.action}: item type {item.item_type!r} fixes the "
                              f"{key} of item {item.id!r}", change.values[key], "only custom items can be renamed")
            setattr(item, key, _text(change, key, required=True))
    if change.values.get("expected_outcome") is not None:
        item.expected_outcome = _text(change, "expected_outcome", required=True)
    if change.values.get("sub_goal") is not None:
        item.sub_goal = _sub_goal(plan, change).id
    if change.values.get("sensitivity") is not None:
        floor = context.item_types[item.item_type].sensitivity if (
            context.item_types and item.item_type in context.item_types) else 1
        item.sensitivity = _sensitivity(change, floor, context, plan)
    start = _planned_date(change, "expected_start", required=False)
    end = _planned_date(change, "expected_end", required=False)
    if start or end:
        start, end = start or item.expected_start, end or item.expected_end
        _check_period(change, start, end)
        item.expected_start, item.expected_end = start, end
        item.schedule = None
    old, new = _changed(before, _snapshot(item))
    return Applied(change.action, f"item:{item.id}", old, new)


def item_remove(plan: Plan, change: Change, context: ChangeContext) -> Applied:
    """Remove an item that is not mandatory, has not started, and anchors no other element's dates."""
    item = _item(plan, change)
    if item.mandatory:
        raise _reject(change, "mandatory-item", f"{change.action}: item {item.id!r} is mandatory in template "
                      f"{plan.template_id!r} and cannot be removed", item.id,
                      "record the outcome cancelled if it will not happen")
    if item.actual_start:
        raise _reject(change, "item-started", f"{change.action}: item {item.id!r} started on {item.actual_start}, so "
                      "its record stays on the plan", item.id, "record the outcome cancelled instead")
    anchored = _anchored_on(plan, "item", item, item.template_item)
    if anchored:
        raise _reject(change, "item-is-anchor", f"{change.action}: the dates of {', '.join(anchored)} are worked out "
                      f"from item {item.id!r}", item.id, "remove those first, or record the outcome cancelled")
    plan.items.remove(item)
    return Applied(change.action, f"item:{item.id}", _snapshot(item), {})


def item_authorise(plan: Plan, change: Change, context: ChangeContext) -> Applied:
    """Change the units authorised on a service unit delivery item, never above the item type's maximum.

    Each change is appended to the item's `authorisations` as well as recorded as an event.
    """
    item = _item(plan, change)
    if item.kind is not ItemKind.UNIT_DELIVERY or not item.unit_type:
        raise _reject(change, "no-unit-type", f"{change.action}: item {item.id!r} has no unit type, so no units can "
                      "be authorised on it", item.id, "authorise units only on service unit delivery items")
    units = _number(change, "units", positive=True)
    if units is None:
        raise _reject(change, "missing-value", f"{change.action}: the number of {item.unit_type} is missing")
    per_text = change.values.get("per")
    if per_text is None:
        per = item.authorised_units.per if item.authorised_units else None
    elif per_text == "total":
        per = None
    else:
        try:
            per = RatePeriod(per_text)
        except ValueError:
            raise _reject(change, "invalid-period", f"{change.action}: per {per_text!r} is not a period", per_text,
                          "use day, week, month, year, or total for a fixed number of units") from None
    allowance = UnitAllowance(units, per)
    total = units
    if per is not None:
        # NOTE: a rate cannot be compared with the maximum while the item's expected
        # period is unknown, so it is then accepted unchecked.
        total = (allowance.total_for((item.expected_end - item.expected_start).days + 1)
                 if item.expected_start and item.expected_end else None)
    if item.maximum_units is not None and total is not None and total > item.maximum_units:
        raise _reject(change, "units-above-maximum",
                      f"{change.action}: {allowance.describe()} {item.unit_type} make {total:g} over the item's "
                      f"period, above the maximum of {item.maximum_units:g} set by item type {item.item_type!r}",
                      units, f"authorise at most {item.maximum_units:g} {item.unit_type} in all")
    before = {"authorised_units": item.authorised_units.to_dict() if item.authorised_units else None}
    raw_on = change.values.get("on")
    on = parse_date(raw_on) if raw_on is not None else context.today
    if on is None or on > context.today:
        raise _reject(change, "invalid-date", f"{change.action}: on {raw_on!r} is not a real date up to today",
                      raw_on, "write the date as YYYY-MM-DD")
    item.authorisations.append(UnitsAuthorisation(on, context.actor or "", item.authorised_units, allowance,
                                                  _text(change, "reason")))
    item.authorised_units = allowance
    after: dict[str, Any] = {"authorised_units": allowance.to_dict()}
    if change.values.get("reason"):
        after["reason"] = str(change.values["reason"])
    return Applied(change.action, f"item:{item.id}", before, after)


def item_reassign_all(plan: Plan, change: Change, context: ChangeContext) -> Applied:
    """Give all of one person's open items to another: owner and responsibility, or the one `field` given.

    Completed and cancelled items keep who did them. Every affected item must be
    within the acting user's clearance, or nothing is reassigned.
    """
    source = _text(change, "from", required=True)
    target = _text(change, "to", required=True)
    if source == target:
        raise _reject(change, "same-person", f"{change.action}: from and to are both {source!r}", source)
    field = change.values.get("field")
    if field is not None and field not in REASSIGNABLE_FIELDS:
        raise _reject(change, "invalid-field", f"{change.action}: field {field!r} cannot be reassigned", field,
                      f"use {' or '.join(REASSIGNABLE_FIELDS)}, or leave field out for both")
    fields = (field,) if field else REASSIGNABLE_FIELDS
    open_items = [i for i in plan.items if not i.actual_end and i.outcome != "cancelled"]
    affected = [i for i in open_items if any(getattr(i, f) == source for f in fields)]
    if not affected:
        raise _reject(change, "nothing-to-reassign", f"{change.action}: no open item of plan {plan.id} names "
                      f"{source!r} as {' or '.join(fields)}", source)
    if context.actor:
        user = acting_user(plan, context.actor, change.action, change.location)
        hidden = [i.id for i in affected if i.sensitivity > clearance(user)]
        if hidden:
            require_clearance(user, plan.item(hidden[0]) or affected[0], change.action, change.location)
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for item in affected:
        changed = [f for f in fields if getattr(item, f) == source]
        before[item.id] = {f: source for f in changed}
        after[item.id] = {f: target for f in changed}
        for f in changed:
            setattr(item, f, target)
    return Applied(change.action, "plan", {"items": before}, {"items": after})


# --- milestones ---------------------------------------------------------------------


def milestone_add(plan: Plan, change: Change, context: ChangeContext) -> Applied:
    """Add a milestone with expected dates set by hand."""
    milestone_id = _new_id(change, "milestone", [m.id for m in plan.milestones])
    start = _planned_date(change, "expected_start", required=True)
    end = _planned_date(change, "expected_end", required=True)
    _check_period(change, start, end)
    flags: dict[str, bool] = {}
    for key, default in (("review", False), ("extendable", True), ("waiver_needs_approval", False)):
        value = change.values.get(key, default)
        if not isinstance(value, bool):
            raise _reject(change, "invalid-flag", f"{change.action}: {key} {value!r} is not true or false", value)
        flags[key] = value
    milestone = Milestone(milestone_id, None, _text(change, "name", required=True) or milestone_id,
                          _text(change, "citation"), flags["review"], None, expected_start=start, expected_end=end,
                          extendable=flags["extendable"], waiver_needs_approval=flags["waiver_needs_approval"])
    plan.milestones.append(milestone)
    return Applied(change.action, f"milestone:{milestone.id}", {}, _snapshot(milestone))


def milestone_remove(plan: Plan, change: Change, context: ChangeContext) -> Applied:
    """Remove a milestone added by hand that has not started and anchors no other element's dates.

    A milestone from the template is a checkpoint its program requires, so it is waived, never removed.
    """
    milestone = _milestone(plan, change)
    if milestone.template_milestone is not None:
        raise _reject(change, "template-milestone", f"{change.action}: milestone {milestone.id!r} comes from template "
                      f"{plan.template_id!r} and cannot be removed", milestone.id, "waive it instead")
    if milestone.actual_start:
        raise _reject(change, "milestone-started", f"{change.action}: milestone {milestone.id!r} started on "
                      f"{milestone.actual_start}, so its record stays on the plan", milestone.id, "waive it instead")
    anchored = _anchored_on(plan, "milestone", milestone, None)
    if anchored:
        raise _reject(change, "milestone-is-anchor", f"{change.action}: the dates of {', '.join(anchored)} are worked "
                      f"out from milestone {milestone.id!r}", milestone.id, "remove those first")
    plan.milestones.remove(milestone)
    return Applied(change.action, f"milestone:{milestone.id}", _snapshot(milestone), {})


HANDLERS: dict[str, Callable[[Plan, Change, ChangeContext], Applied]] = {
    "subgoal.add": subgoal_add,
    "subgoal.change": subgoal_change,
    "subgoal.remove": subgoal_remove,
    "group.add": group_add,
    "group.remove": group_remove,
    "item.add": item_add,
    "item.change": item_change,
    "item.remove": item_remove,
    "item.authorise": item_authorise,
    "item.reassign-all": item_reassign_all,
    "milestone.add": milestone_add,
    "milestone.remove": milestone_remove,
}

