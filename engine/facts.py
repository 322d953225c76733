"""The facts a plan is evaluated on: one flat dict per plan element, as of a date.

Rules in ``rules/*.yaml`` match these facts, so `FACT_FIELDS` is the contract
between a plan and its rules: the rule compiler rejects a rule on a field that
no fact of its kind has. Dates are whole days since 1970-01-01 (epoch days)
because the rules engine compares numbers reliably and ISO strings only as
text. A field whose value is unknown is left out of the fact, never set to null.
"""

from __future__ import annotations

from datetime import date
from enum import Enum
from typing import Any

from .dates import to_epoch_day
from .model import ItemKind
from .plan import Plan, PlanItem


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


def plan_facts(plan: Plan, as_of: date) -> list[dict[str, Any]]:
    """Return the facts of one plan as of a date, in a stable order."""
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
            "registered": bool(person and person.get("registered")),
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
