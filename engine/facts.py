"""The facts a plan is evaluated on: one flat dict per plan element, as of a date.

Rules in ``rules/*.yaml`` match these facts, so `FACT_FIELDS` is the contract
between a plan and its rules: the rule compiler rejects a rule on a field that
no fact of its kind has. Dates are whole days since 1970-01-01 (epoch days)
because the rules engine compares numbers reliably and ISO strings only as
text. A field whose value is unknown is left out of the fact, never set to null.
"""

from __future__ import annotations

import copy
from datetime import date
from enum import Enum
from typing import Any

from .dates import to_epoch_day
from .model import ItemKind
from .plan import Plan, PlanItem
from .schedule import resolve_dates


class FieldType(str, Enum):
    DATE = "date"
    NUMBER = "number"
    TEXT = "text"
    BOOLEAN = "boolean"


_COMMON = {
    "kind": FieldType.TEXT,
    "plan_id": FieldType.TEXT,
    "element": FieldType.TEXT,
    "as_of": FieldType.DATE,
}

_DATED = {
    "id": FieldType.TEXT,
    "name": FieldType.TEXT,
    "status": FieldType.TEXT,
    "expected_start": FieldType.DATE,
    "expected_end": FieldType.DATE,
    "actual_start": FieldType.DATE,
    "actual_end": FieldType.DATE,
}

FACT_FIELDS: dict[str, dict[str, FieldType]] = {
    # The plan as a whole.
    "plan": {
        **_COMMON,
        "status": FieldType.TEXT,
        "start": FieldType.DATE,
        "case_reference": FieldType.TEXT,
        "primary_client": FieldType.TEXT,
        "primary_client_is_member": FieldType.BOOLEAN,
        "primary_plan_participant": FieldType.TEXT,
        "estimated_cost": FieldType.NUMBER,
        "actual_cost": FieldType.NUMBER,
    },
    # A plan item. Unit fields are present only for service unit delivery items.
    "item": {
        **_COMMON,
        **_DATED,
        "item_type": FieldType.TEXT,
        "item_kind": FieldType.TEXT,
        "sub_goal": FieldType.TEXT,
        "mandatory": FieldType.BOOLEAN,
        "sensitivity": FieldType.NUMBER,
        "outcome": FieldType.TEXT,
        "good_cause": FieldType.BOOLEAN,
        "estimated_cost": FieldType.NUMBER,
        "actual_cost": FieldType.NUMBER,
        "unit_type": FieldType.TEXT,
        "authorised_units": FieldType.NUMBER,
        "delivered_units": FieldType.NUMBER,
        "prorated_units": FieldType.NUMBER,
        "units_tolerance": FieldType.NUMBER,
    },
    "milestone": {
        **_COMMON,
        **_DATED,
        "waived": FieldType.BOOLEAN,
    },
    # One person's membership of the plan.
    "member": {
        **_COMMON,
        "person": FieldType.TEXT,
        "role": FieldType.TEXT,
        "is_case_participant": FieldType.BOOLEAN,
        "registered": FieldType.BOOLEAN,
    },
    # One person named on an item as owner, responsibility or concerning.
    "assignment": {
        **_COMMON,
        "item": FieldType.TEXT,
        "field": FieldType.TEXT,
        "person": FieldType.TEXT,
        "person_is_user": FieldType.BOOLEAN,
        "person_is_plan_participant": FieldType.BOOLEAN,
        "person_sensitivity": FieldType.NUMBER,
        "item_sensitivity": FieldType.NUMBER,
    },
}


def _epoch(day: date | None) -> int | None:
    return to_epoch_day(day) if day else None


def _without_none(fact: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fact.items() if value is not None}


def _units(item: PlanItem, as_of: date) -> dict[str, Any]:
    """Return the unit fields of a service unit delivery item as of a date.

    The pro-rated figure is the authorised total times the share of the expected
    period that lies before `as_of`; deliveries count when dated on or before it.
    """
    if item.kind is not ItemKind.UNIT_DELIVERY:
        return {}
    total = item.authorised_total()
    delivered = sum(delivery.units for delivery in item.deliveries if delivery.on <= as_of)
    prorated = None
    if total is not None and item.expected_start and item.expected_end:
        period = (item.expected_end - item.expected_start).days + 1
        elapsed = min(max((as_of - item.expected_start).days, 0), period)
        prorated = round(total * elapsed / period, 4)
    return {
        "unit_type": item.unit_type,
        "authorised_units": total,
        "delivered_units": delivered,
        "prorated_units": prorated,
        "units_tolerance": item.units_tolerance,
    }


def known_on(plan: Plan, as_of: date) -> Plan:
    """Return the plan as it was known on `as_of`: nothing recorded for a later day.

    Actual dates after `as_of` are dropped, and with an actual end its outcome;
    a cost is dropped with the start of its item, because costs carry no date of
    their own. Expected dates anchored on dropped actual dates become unknown.
    The plan itself is returned when nothing lies after `as_of`.
    """
    elements = [*plan.items, *plan.milestones]
    if not any(
        (element.actual_start and element.actual_start > as_of) or (element.actual_end and element.actual_end > as_of)
        for element in elements
    ):
        return plan
    view = copy.deepcopy(plan)
    for item in view.items:
        if item.actual_end and item.actual_end > as_of:
            item.actual_end, item.outcome, item.good_cause = None, None, False
        if item.actual_start and item.actual_start > as_of:
            item.actual_start, item.actual_cost = None, None
    for milestone in view.milestones:
        if milestone.actual_end and milestone.actual_end > as_of:
            milestone.actual_end = None
        if milestone.actual_start and milestone.actual_start > as_of:
            milestone.actual_start = None
    resolve_dates(view)
    return view


def plan_facts(plan: Plan, as_of: date) -> list[dict[str, Any]]:
    """Return the facts of one plan as known on a date, in a stable order."""
    plan = known_on(plan, as_of)
    plan_id = str(plan.id) if plan.id is not None else "new"
    day = to_epoch_day(as_of)
    common = {"plan_id": plan_id, "as_of": day}
    members = set(plan.member_ids())
    case_people = {p["id"]: p for p in plan.case.get("participants", [])}
    users = {u["id"]: u for u in plan.case.get("users", [])}
    primary_client = plan.case.get("primary_client")

    estimated = [i.estimated_cost for i in plan.items if i.estimated_cost is not None]
    actual = [i.actual_cost for i in plan.items if i.actual_cost is not None]
    facts = [_without_none({
        **common, "kind": "plan", "element": "plan", "status": plan.status, "start": _epoch(plan.start),
        "case_reference": plan.case.get("reference"), "primary_client": primary_client,
        "primary_client_is_member": primary_client in members,
        "primary_plan_participant": plan.primary_plan_participant,
        "estimated_cost": round(sum(estimated), 2) if estimated else None,
        "actual_cost": round(sum(actual), 2) if actual else None,
    })]

    for member in plan.members:
        person = case_people.get(member.person)
        facts.append(_without_none({
            **common, "kind": "member", "element": f"member:{member.person}", "person": member.person,
            "role": member.role, "is_case_participant": person is not None,
            # A person who is not on the case at all has no registration to report.
            "registered": bool(person.get("registered")) if person else None,
        }))

    for item in plan.items:
        facts.append(_without_none({
            **common, "kind": "item", "element": f"item:{item.id}", "id": item.id, "name": item.name,
            "status": item.status, "item_type": item.item_type, "item_kind": item.kind.value,
            "sub_goal": item.sub_goal, "mandatory": item.mandatory, "sensitivity": item.sensitivity,
            "expected_start": _epoch(item.expected_start), "expected_end": _epoch(item.expected_end),
            "actual_start": _epoch(item.actual_start), "actual_end": _epoch(item.actual_end),
            "outcome": item.outcome, "good_cause": item.good_cause if item.outcome == "not-attained" else None,
            "estimated_cost": item.estimated_cost, "actual_cost": item.actual_cost,
            **_units(item, as_of),
        }))
        for field_name in ("owner", "responsibility", "concerning"):
            person_id = getattr(item, field_name)
            user = users.get(person_id)
            facts.append(_without_none({
                **common, "kind": "assignment", "element": f"item:{item.id}:{field_name}", "item": item.id,
                "field": field_name, "person": person_id, "person_is_user": user is not None,
                "person_is_plan_participant": person_id in members,
                "person_sensitivity": user.get("sensitivity", 1) if user else None,
                "item_sensitivity": item.sensitivity,
            }))

    for milestone in plan.milestones:
        facts.append(_without_none({
            **common, "kind": "milestone", "element": f"milestone:{milestone.id}", "id": milestone.id,
            "name": milestone.name, "status": milestone.status,
            "expected_start": _epoch(milestone.expected_start), "expected_end": _epoch(milestone.expected_end),
            "actual_start": _epoch(milestone.actual_start), "actual_end": _epoch(milestone.actual_end),
            "waived": milestone.waived,
        }))
    return facts
