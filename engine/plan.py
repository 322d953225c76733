"""A client's service plan: the value that instantiation makes and progress changes.

A plan carries a snapshot of everything it needs to be evaluated on its own: the
case's people and users as they were when the plan was opened, the template's
id, version and content hash, and each element's timing (so expected dates can
be worked out again when an anchor such as "the day work started" is recorded).
`to_dict` and `from_dict` give the JSON form the store keeps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Mapping

from .errors import Location
from .model import ItemKind, Schedule, UnitAllowance


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


class MemberRole:
    PRIMARY = "primary-plan-participant"
    PARTICIPANT = "plan-participant"
    REPRESENTATIVE = "nominated-representative"
    CORRESPONDENT = "correspondent"

    ALL = (PRIMARY, PARTICIPANT, REPRESENTATIVE, CORRESPONDENT)
    PLAN_PARTICIPANTS = (PRIMARY, PARTICIPANT)


class Approval:
    """The approval states of a plan item; only an approved item can start."""

    UNAPPROVED = "unapproved"
    SUBMITTED = "submitted"
    APPROVED = "approved"

    ALL = (UNAPPROVED, SUBMITTED, APPROVED)
    AWAITING = (UNAPPROVED, SUBMITTED)


class Outcome:
    ATTAINED = "attained"
    NOT_ATTAINED = "not-attained"
    CANCELLED = "cancelled"

    ALL = (ATTAINED, NOT_ATTAINED, CANCELLED)


@dataclass
class Member:
    person: str
    role: str
    represents: str | None = None
    end: date | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"person": self.person, "role": self.role, "represents": self.represents, "end": _iso(self.end)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Member":
        return cls(data["person"], data["role"], data.get("represents"), _date(data.get("end")))


@dataclass
class Delivery:
    on: date
    units: float

    def to_dict(self) -> dict[str, Any]:
        return {"on": self.on.isoformat(), "units": self.units}


@dataclass
class UnitsAuthorisation:
    """One change of an item's authorised units: who made it, when, from what to what."""

    on: date
    actor: str
    previous: UnitAllowance | None
    units: UnitAllowance
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"on": self.on.isoformat(), "actor": self.actor,
                "previous": self.previous.to_dict() if self.previous else None,
                "units": self.units.to_dict(), "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "UnitsAuthorisation":
        return cls(date.fromisoformat(data["on"]), data["actor"],
                   UnitAllowance.from_dict(data["previous"]) if data.get("previous") else None,
                   UnitAllowance.from_dict(data["units"]), data.get("reason"))


@dataclass
class Extension:
    """One extension of a milestone's expected end, kept so that the original deadline stays known."""

    on: date
    actor: str
    previous_end: date | None
    new_end: date
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"on": self.on.isoformat(), "actor": self.actor, "previous_end": _iso(self.previous_end),
                "new_end": self.new_end.isoformat(), "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Extension":
        return cls(date.fromisoformat(data["on"]), data["actor"], _date(data.get("previous_end")),
                   date.fromisoformat(data["new_end"]), data.get("reason"))


class AgreementStatus:
    ISSUED = "issued"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


@dataclass
class Agreement:
    """The contract a client is asked to sign; `number` counts from 1 within the plan."""

    number: int
    status: str
    issued_on: date
    issued_by: str
    decided_on: date | None = None
    decided_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "status": self.status, "issued_on": self.issued_on.isoformat(),
                "issued_by": self.issued_by, "decided_on": _iso(self.decided_on), "decided_by": self.decided_by}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Agreement":
        return cls(data["number"], data["status"], date.fromisoformat(data["issued_on"]), data["issued_by"],
                   _date(data.get("decided_on")), data.get("decided_by"))


@dataclass
class SubGoal:
    id: str
    category: str
    name: str
    owner: str
    group: str | None = None
    description: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Group:
    id: str
    name: str
    parent: str | None = None
    description: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class PlanItem:
    id: str
    template_item: str | None
    sub_goal: str
    item_type: str
    kind: ItemKind
    name: str
    purpose: str | None
    expected_outcome: str | None
    concerning: str
    owner: str
    responsibility: str
    mandatory: bool
    sensitivity: int
    schedule: Schedule | None
    occurrence: int = 0
    expected_start: date | None = None
    expected_end: date | None = None
    actual_start: date | None = None
    actual_end: date | None = None
    outcome: str | None = None
    good_cause: bool = False
    estimated_cost: float | None = None
    actual_cost: float | None = None
    unit_type: str | None = None
    authorised_units: UnitAllowance | None = None
    maximum_units: float | None = None
    units_tolerance: float = 0.1
    deliveries: list[Delivery] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)
    attributes_schema: Mapping[str, Any] | None = None
    approval_required: bool = False
    guidance_url: str | None = None
    approval: str | None = None
    """One of `Approval.ALL`; when not given, unapproved if the item type requires approval, else approved."""
    authorisations: list[UnitsAuthorisation] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.approval is None:
            self.approval = Approval.UNAPPROVED if self.approval_required else Approval.APPROVED

    @property
    def status(self) -> str:
        """The item's lifecycle state: unapproved, submitted, not-started, in-progress or completed."""
        if self.actual_end:
            return "completed"
        if self.actual_start:
            return "in-progress"
        if self.approval != Approval.APPROVED:
            return str(self.approval)
        return "not-started"

    def authorised_total(self) -> float | None:
        """Return the units authorised over the whole expected period, when known."""
        if self.authorised_units is None:
            return None
        if self.authorised_units.per is None:
            return self.authorised_units.count
        if not (self.expected_start and self.expected_end):
            return None
        return self.authorised_units.total_for((self.expected_end - self.expected_start).days + 1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "template_item": self.template_item,
            "sub_goal": self.sub_goal,
            "item_type": self.item_type,
            "kind": self.kind.value,
            "name": self.name,
            "purpose": self.purpose,
            "expected_outcome": self.expected_outcome,
            "concerning": self.concerning,
            "owner": self.owner,
            "responsibility": self.responsibility,
            "mandatory": self.mandatory,
            "sensitivity": self.sensitivity,
            "schedule": self.schedule.to_dict() if self.schedule else None,
            "occurrence": self.occurrence,
            "expected_start": _iso(self.expected_start),
            "expected_end": _iso(self.expected_end),
            "actual_start": _iso(self.actual_start),
            "actual_end": _iso(self.actual_end),
            "outcome": self.outcome,
            "good_cause": self.good_cause,
            "estimated_cost": self.estimated_cost,
            "actual_cost": self.actual_cost,
            "unit_type": self.unit_type,
            "authorised_units": self.authorised_units.to_dict() if self.authorised_units else None,
            "maximum_units": self.maximum_units,
            "units_tolerance": self.units_tolerance,
            "deliveries": [delivery.to_dict() for delivery in self.deliveries],
            "attributes": dict(self.attributes),
            "attributes_schema": self.attributes_schema,
            "approval_required": self.approval_required,
            "guidance_url": self.guidance_url,
            "approval": self.approval,
            "authorisations": [authorisation.to_dict() for authorisation in self.authorisations],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "plan") -> "PlanItem":
        return cls(
            id=data["id"],
            template_item=data.get("template_item"),
            sub_goal=data["sub_goal"],
            item_type=data["item_type"],
            kind=ItemKind(data["kind"]),
            name=data["name"],
            purpose=data.get("purpose"),
            expected_outcome=data.get("expected_outcome"),
            concerning=data["concerning"],
            owner=data["owner"],
            responsibility=data["responsibility"],
            mandatory=data["mandatory"],
            sensitivity=data["sensitivity"],
            schedule=Schedule.from_dict(data["schedule"], Location(source)) if data.get("schedule") else None,
            occurrence=data.get("occurrence", 0),
            expected_start=_date(data.get("expected_start")),
            expected_end=_date(data.get("expected_end")),
            actual_start=_date(data.get("actual_start")),
            actual_end=_date(data.get("actual_end")),
            outcome=data.get("outcome"),
            good_cause=data.get("good_cause", False),
            estimated_cost=data.get("estimated_cost"),
            actual_cost=data.get("actual_cost"),
            unit_type=data.get("unit_type"),
            authorised_units=UnitAllowance.from_dict(data["authorised_units"]) if data.get("authorised_units") else None,
            maximum_units=data.get("maximum_units"),
            units_tolerance=data.get("units_tolerance", 0.1),
            deliveries=[Delivery(date.fromisoformat(d["on"]), d["units"]) for d in data.get("deliveries", [])],
            attributes=dict(data.get("attributes") or {}),
            attributes_schema=data.get("attributes_schema"),
            approval_required=data.get("approval_required", False),
            guidance_url=data.get("guidance_url"),
            # Documents written before item approval was modelled recorded progress
            # without it, so their items read as approved.
            approval=data.get("approval", Approval.APPROVED),
            authorisations=[UnitsAuthorisation.from_dict(a) for a in data.get("authorisations", [])],
        )


@dataclass
class Milestone:
    id: str
    template_milestone: str | None
    name: str
    citation: str | None
    review: bool
    schedule: Schedule | None
    occurrence: int = 0
    expected_start: date | None = None
    expected_end: date | None = None
    actual_start: date | None = None
    actual_end: date | None = None
    waived: bool = False
    extendable: bool = True
    waiver_needs_approval: bool = False
    extensions: list[Extension] = field(default_factory=list)
    """Every extension of the expected end, oldest first; the last one's new end is in force."""

    @property
    def status(self) -> str:
        if self.waived:
            return "waived"
        if self.actual_end:
            return "completed"
        if self.actual_start:
            return "in-progress"
        return "not-started"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "template_milestone": self.template_milestone,
            "name": self.name,
            "citation": self.citation,
            "review": self.review,
            "schedule": self.schedule.to_dict() if self.schedule else None,
            "occurrence": self.occurrence,
            "expected_start": _iso(self.expected_start),
            "expected_end": _iso(self.expected_end),
            "actual_start": _iso(self.actual_start),
            "actual_end": _iso(self.actual_end),
            "waived": self.waived,
            "extendable": self.extendable,
            "waiver_needs_approval": self.waiver_needs_approval,
            "extensions": [extension.to_dict() for extension in self.extensions],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "plan") -> "Milestone":
        return cls(
            id=data["id"],
            template_milestone=data.get("template_milestone"),
            name=data["name"],
            citation=data.get("citation"),
            review=data.get("review", False),
            schedule=Schedule.from_dict(data["schedule"], Location(source)) if data.get("schedule") else None,
            occurrence=data.get("occurrence", 0),
            expected_start=_date(data.get("expected_start")),
            expected_end=_date(data.get("expected_end")),
            actual_start=_date(data.get("actual_start")),
            actual_end=_date(data.get("actual_end")),
            waived=data.get("waived", False),
            extendable=data.get("extendable", True),
            waiver_needs_approval=data.get("waiver_needs_approval", False),
            extensions=[Extension.from_dict(e) for e in data.get("extensions", [])],
        )


@dataclass
class Plan:
    """A service plan for one case, made from one version of one template."""

    template_id: str
    template_version: int
    template_hash: str
    name: str
    service_plan_type: str
    currency: str
    day_counting: str
    case: dict[str, Any]
    start: date
    case_worker: str
    goal_name: str
    goal_description: str | None
    members: list[Member]
    groups: list[Group]
    sub_goals: list[SubGoal]
    items: list[PlanItem]
    milestones: list[Milestone]
    status: str = "open"
    id: int | None = None
    version: int = 0
    agreements: list[Agreement] = field(default_factory=list)
    """Every agreement issued for the plan, oldest first."""

    # --- look-ups ---------------------------------------------------------

    def item(self, item_id: str) -> PlanItem | None:
        return next((item for item in self.items if item.id == item_id), None)

    def milestone(self, milestone_id: str) -> Milestone | None:
        return next((milestone for milestone in self.milestones if milestone.id == milestone_id), None)

    def member_ids(self, roles: tuple[str, ...] = MemberRole.PLAN_PARTICIPANTS) -> list[str]:
        return [member.person for member in self.members if member.role in roles]

    @property
    def primary_plan_participant(self) -> str | None:
        return next((m.person for m in self.members if m.role == MemberRole.PRIMARY), None)

    def case_participant(self, person_id: str) -> Mapping[str, Any] | None:
        return next((p for p in self.case.get("participants", []) if p["id"] == person_id), None)

    def outstanding_agreement(self) -> Agreement | None:
        """Return the agreement issued and not yet accepted, rejected or cancelled, if any."""
        return next((a for a in self.agreements if a.status == AgreementStatus.ISSUED), None)

    def user(self, user_id: str) -> Mapping[str, Any] | None:
        return next((u for u in self.case.get("users", []) if u["id"] == user_id), None)

    def person_name(self, person_id: str) -> str:
        person = self.case_participant(person_id) or self.user(person_id)
        return person["name"] if person else person_id

    # --- JSON form --------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": 1,
            "id": self.id,
            "version": self.version,
            "status": self.status,
            "template": {
                "id": self.template_id,
                "version": self.template_version,
                "hash": self.template_hash,
                "name": self.name,
                "service_plan_type": self.service_plan_type,
                "currency": self.currency,
                "day_counting": self.day_counting,
            },
            "case": self.case,
            "start": self.start.isoformat(),
            "case_worker": self.case_worker,
            "goal": {"name": self.goal_name, "description": self.goal_description},
            "members": [member.to_dict() for member in self.members],
            "groups": [group.to_dict() for group in self.groups],
            "sub_goals": [sub_goal.to_dict() for sub_goal in self.sub_goals],
            "items": [item.to_dict() for item in self.items],
            "milestones": [milestone.to_dict() for milestone in self.milestones],
            "agreements": [agreement.to_dict() for agreement in self.agreements],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Plan":
        template = data["template"]
        source = f"plan {data.get('id')}"
        return cls(
            id=data.get("id"),
            version=data.get("version", 0),
            status=data.get("status", "open"),
            template_id=template["id"],
            template_version=template["version"],
            template_hash=template["hash"],
            name=template["name"],
            service_plan_type=template["service_plan_type"],
            currency=template["currency"],
            day_counting=template["day_counting"],
            case=data["case"],
            start=date.fromisoformat(data["start"]),
            case_worker=data["case_worker"],
            goal_name=data["goal"]["name"],
            goal_description=data["goal"].get("description"),
            members=[Member.from_dict(m) for m in data["members"]],
            groups=[Group(**g) for g in data.get("groups", [])],
            sub_goals=[SubGoal(**s) for s in data["sub_goals"]],
            items=[PlanItem.from_dict(i, source) for i in data["items"]],
            milestones=[Milestone.from_dict(m, source) for m in data["milestones"]],
            agreements=[Agreement.from_dict(a) for a in data.get("agreements", [])],
        )
