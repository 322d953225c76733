"""The typed values the pipeline stages exchange.

Templates, item types and cases are frozen: once compiled they never change.
A `Plan` is the one value that changes over its life; each change is made by
`progress` or `lifecycle` functions and recorded as an event by the store.
Every template element keeps the `Location` it was written at, so that a later
stage can still report a mistake at the author's line and column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from typing import Any, Mapping

from .dates import DayCounting, Offset
from .errors import Location


class ItemKind(str, Enum):
    BASIC = "basic"
    CUSTOM = "custom"
    UNIT_DELIVERY = "service-unit-delivery"


class RatePeriod(str, Enum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


RATE_PERIOD_DAYS = {
    RatePeriod.DAY: 1.0,
    RatePeriod.WEEK: 7.0,
    RatePeriod.MONTH: 365.25 / 12,
    RatePeriod.YEAR: 365.25,
}
"""Days in one rate period; months and years are Gregorian averages."""


@dataclass(frozen=True)
class UnitAllowance:
    """Units authorised: a fixed total, or `count` units per `per` period."""

    count: float
    per: RatePeriod | None = None

    def total_for(self, period_days: int) -> float:
        """Return the units authorised over an item period of `period_days` days."""
        if self.per is None:
            return self.count
        return round(self.count * period_days / RATE_PERIOD_DAYS[self.per], 4)

    def describe(self) -> str:
        return f"{self.count:g}" if self.per is None else f"{self.count:g} per {self.per.value}"

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "per": self.per.value if self.per else None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "UnitAllowance":
        return cls(data["count"], RatePeriod(data["per"]) if data.get("per") else None)


@dataclass(frozen=True)
class ItemType:
    id: str
    kind: ItemKind
    name: str | None
    purpose: str | None
    unit_type: str | None
    authorised_units: UnitAllowance | None
    maximum_units: float | None
    units_tolerance: float
    approval_required: bool
    sensitivity: int
    guidance_url: str | None
    attributes_schema: Mapping[str, Any] | None
    location: Location


@dataclass(frozen=True)
class Timing:
    """A date in a template: an anchor (``plan.start``, ``case.<date>``,
    ``item.<id>.<field>`` or ``milestone.<id>.<field>``) moved by an offset."""

    anchor: str
    offset: Offset
    counting: DayCounting
    location: Location

    def to_dict(self) -> dict[str, Any]:
        return {
            "anchor": self.anchor,
            "offset": [self.offset.years, self.offset.months, self.offset.weeks, self.offset.days],
            "counting": self.counting.value,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], location: Location) -> "Timing":
        return cls(data["anchor"], Offset(*data["offset"]), DayCounting(data["counting"]), location)


@dataclass(frozen=True)
class Schedule:
    """When an element is expected: a start, and either an end date or a length."""

    start: Timing
    end: Timing | None
    length: Offset | None
    shift: Offset | None = None
    """For the k-th occurrence of a repeated element: k times the repeat interval,
    added to every anchor date before the timing's own offset."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "shift": [self.shift.years, self.shift.months, self.shift.weeks, self.shift.days] if self.shift else None,
            "start": self.start.to_dict(),
            "end": self.end.to_dict() if self.end else None,
            "length": [self.length.years, self.length.months, self.length.weeks, self.length.days]
            if self.length
            else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], location: Location) -> "Schedule":
        return cls(
            Timing.from_dict(data["start"], location),
            Timing.from_dict(data["end"], location) if data.get("end") else None,
            Offset(*data["length"]) if data.get("length") else None,
            Offset(*data["shift"]) if data.get("shift") else None,
        )


@dataclass(frozen=True)
class Repeat:
    every: Offset
    count: int


@dataclass(frozen=True)
class ItemTemplate:
    id: str
    item_type: ItemType
    name: str | None
    purpose: str | None
    expected_outcome: str | None
    concerning: str
    owner: str
    responsibility: str
    mandatory: bool
    optional: bool
    schedule: Schedule
    repeat: Repeat | None
    authorised_units: UnitAllowance | None
    units_tolerance: float
    estimated_cost: float | None
    sensitivity: int
    attributes: Mapping[str, Any]
    location: Location


@dataclass(frozen=True)
class SubGoalTemplate:
    id: str
    category: str
    name: str
    description: str | None
    owner: str
    optional: bool
    items: tuple[ItemTemplate, ...]
    group: str | None
    location: Location


@dataclass(frozen=True)
class GroupTemplate:
    id: str
    name: str
    description: str | None
    parent: str | None
    optional: bool
    location: Location


@dataclass(frozen=True)
class MilestoneTemplate:
    id: str
    name: str
    description: str | None
    citation: str | None
    review: bool
    schedule: Schedule
    repeat: Repeat | None
    extendable: bool
    waiver_needs_approval: bool
    location: Location


@dataclass(frozen=True)
class PlanTemplate:
    id: str
    version: int
    name: str
    service_plan_type: str
    description: str | None
    metadata: Mapping[str, Any]
    day_counting: DayCounting
    currency: str
    case_dates: tuple[str, ...]
    goal_name: str
    goal_description: str | None
    sub_goals: tuple[SubGoalTemplate, ...]
    groups: tuple[GroupTemplate, ...]
    milestones: tuple[MilestoneTemplate, ...]
    content_hash: str
    location: Location

    def all_items(self) -> list[ItemTemplate]:
        return [item for sub_goal in self.sub_goals for item in sub_goal.items]


# --- the case, as a case management system hands it over -------------------


@dataclass(frozen=True)
class Participant:
    id: str
    name: str
    registered: bool
    relationship: str | None = None
    date_of_birth: date | None = None
    nominated_representative_for: str | None = None


@dataclass(frozen=True)
class User:
    id: str
    name: str
    role: str | None = None
    sensitivity: int = 1
    may_approve: bool = False


@dataclass(frozen=True)
class PlanRequest:
    """The plan section of a case file: who works the plan, from when, and who is on it."""

    case_worker: str
    starts: date
    primary_plan_participant: str
    plan_participants: tuple[str, ...]


@dataclass(frozen=True)
class Case:
    reference: str
    program: str
    organisation_unit: str | None
    opened: date
    primary_client: str
    key_dates: Mapping[str, date]
    participants: tuple[Participant, ...]
    users: tuple[User, ...]
    plan_request: PlanRequest | None
    as_of: date | None
    story: str | None
    source: str
    positions: Mapping[tuple[str | int, ...], Location] = field(default_factory=dict, compare=False)

    def participant(self, person_id: str) -> Participant | None:
        return next((person for person in self.participants if person.id == person_id), None)

    def user(self, user_id: str) -> User | None:
        return next((user for user in self.users if user.id == user_id), None)

    def location(self, path: tuple[str | int, ...]) -> Location:
        while path and path not in self.positions:
            path = path[:-1]
        return self.positions.get(path, Location(self.source))
