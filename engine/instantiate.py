"""The instantiate stage: make a client's plan from one template version and a case.

People in a template are roles (``case_worker``, ``relationship:father``); here
they become the ids of the case's participants and users, texts are rendered,
repeated elements are expanded, and expected dates are worked out. The caller
then checks the plan against the membership rules before storing it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .case import case_snapshot, command_line
from .errors import Location, Problem, Severity, SvcplanError
from .model import Case, ItemTemplate, MilestoneTemplate, PlanRequest, PlanTemplate, Schedule
from .plan import Group, Member, MemberRole, Milestone, Plan, PlanItem, SubGoal
from .render import render_text
from .schedule import resolve_dates

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Instantiation:
    """A new plan and the notices about what instantiation left out or chose."""

    plan: Plan
    notices: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class PlanOptions:
    """The choices a case worker makes beyond the template's defaults."""

    include: frozenset[str] = frozenset()
    """Ids of optional items, sub-goals or groups to add."""
    exclude: frozenset[str] = frozenset()
    """Ids of items (not mandatory) to leave out."""
    extra_participants: tuple[str, ...] = ()
    """Case participants to add as plan participants beyond the case file's list."""
    request: PlanRequest | None = None
    """Overrides the case file's plan section."""


def _person_context(case: Case, person_id: str | None) -> dict[str, Any] | None:
    if person_id is None:
        return None
    person = case.participant(person_id)
    if person is not None:
        return {"id": person.id, "name": person.name, "relationship": person.relationship,
                "date_of_birth": person.date_of_birth, "registered": person.registered}
    user = case.user(person_id)
    if user is not None:
        return {"id": user.id, "name": user.name, "role": user.role}
    return {"id": person_id, "name": person_id}


@dataclass
class _Instantiator:
    template: PlanTemplate
    case: Case
    request: PlanRequest
    options: PlanOptions
    problems: list[Problem] = field(default_factory=list)
    notices: list[Problem] = field(default_factory=list)

    def fail(self, location: Location, code: str, message: str, value: object = None, hint: str = "") -> None:
        self.problems.append(Problem(location, code, message, Severity.ERROR, (), value, hint))

    def notice(self, location: Location, code: str, message: str, value: object = None) -> None:
        self.notices.append(Problem(location, code, message, Severity.WARNING, (), value))

    # --- people -------------------------------------------------------------

    def members(self) -> list[Member]:
        members = [Member(self.request.primary_plan_participant, MemberRole.PRIMARY)]
        for person_id in (*self.request.plan_participants, *self.options.extra_participants):
            if person_id == self.request.primary_plan_participant or any(m.person == person_id for m in members):
                continue
            members.append(Member(person_id, MemberRole.PARTICIPANT))
        for member in members:
            person = self.case.participant(member.person)
            if person is not None and person.nominated_representative_for:
                member.represents = person.nominated_representative_for
        return members

    def resolve_person(
        self, reference: str, location: Location, *, concerning: str | None = None, sub_goal_owner: str | None = None,
        members: list[Member],
    ) -> str | None:
        """Return the person id a template role stands for, or None when no one fits."""
        if reference == "case_worker":
            return self.request.case_worker
        if reference == "primary_plan_participant":
            return self.request.primary_plan_participant
        if reference == "primary_client":
            return self.case.primary_client
        if reference == "concerning":
            return concerning
        if reference == "sub_goal_owner":
            return sub_goal_owner
        kind, _, value = reference.partition(":")
        if kind == "relationship":
            plan_people = [m.person for m in members if m.role in MemberRole.PLAN_PARTICIPANTS]
            matches = [p for p in plan_people if (self.case.participant(p) or _NO_ONE).relationship == value]
            if len(matches) > 1:
                self.notice(location, "several-people-match",
                            f"{reference}: {len(matches)} plan participants match ({', '.join(matches)}); "
                            f"{matches[0]} was chosen", reference)
            return matches[0] if matches else None
        if kind == "role":
            users = [u.id for u in self.case.users if u.role == value]
            return users[0] if users else None
        if kind in ("user", "participant"):
            return value
        return None

    # --- texts --------------------------------------------------------------

    def context(self, concerning: str | None = None) -> dict[str, Any]:
        case = self.case
        return {
            "case": {"reference": case.reference, "program": case.program,
                     "organisation_unit": case.organisation_unit, "key_dates": dict(case.key_dates),
                     "opened": case.opened},
            "plan": {"start": self.request.starts, "name": self.template.name,
                     "service_plan_type": self.template.service_plan_type},
            "primary_client": _person_context(case, case.primary_client),
            "primary_plan_participant": _person_context(case, self.request.primary_plan_participant),
            "case_worker": _person_context(case, self.request.case_worker),
            "participants": [_person_context(case, p.id) for p in case.participants],
            "users": [_person_context(case, u.id) for u in case.users],
            "concerning": _person_context(case, concerning),
        }

    def render(self, text: str | None, location: Location, field_name: str, concerning: str | None = None) -> str | None:
        if text is None:
            return None
        try:
            return render_text(text, self.context(concerning), location, field_name)
        except SvcplanError as error:
            self.problems.extend(error.problems)
            return text

    # --- elements -----------------------------------------------------------

    def wanted(self, element_id: str, optional: bool, mandatory: bool, location: Location) -> bool:
        if element_id in self.options.exclude:
            if mandatory:
                self.fail(command_line("exclude"), "mandatory-item",
                          f"item {element_id!r} is mandatory in template {self.template.id!r} and cannot be left out",
                          element_id, "keep the item; record an outcome of cancelled if it will not happen")
                return True
            return False
        return not optional or element_id in self.options.include

    def items(self, item: ItemTemplate, sub_goal: SubGoal, members: list[Member]) -> list[PlanItem]:
        location = item.location
        concerning = self.resolve_person(item.concerning, location, members=members)
        if concerning is None:
            message = f"item {item.id!r}: no plan participant fits concerning: {item.concerning}"
            if item.mandatory:
                self.fail(location, "no-one-concerned", message, item.concerning,
                          "add a participant with that relationship to the plan")
            else:
                self.notice(location, "item-left-out", message + "; the item is left out", item.concerning)
            return []
        owner = self.resolve_person(item.owner, location, concerning=concerning, sub_goal_owner=sub_goal.owner,
                                    members=members)
        responsibility = self.resolve_person(item.responsibility, location, concerning=concerning,
                                             sub_goal_owner=sub_goal.owner, members=members)
        for role, value, reference in (("owner", owner, item.owner), ("responsibility", responsibility, item.responsibility)):
            if value is None:
                self.fail(location, "no-one-assigned", f"item {item.id!r}: no one on the case fits {role}: {reference}",
                          reference, "add that person to the plan or change the template's default")
        item_type = item.item_type
        name = self.render(item.name or item_type.name or item.id, location, "name", concerning)
        purpose = self.render(item.purpose or item_type.purpose, location, "purpose", concerning)
        outcome = self.render(item.expected_outcome, location, "expected_outcome", concerning)
        occurrences = item.repeat.count if item.repeat else 1
        made = []
        for index in range(occurrences):
            schedule = item.schedule
            item_id = item.id
            item_name = name
            if item.repeat:
                schedule = Schedule(schedule.start, schedule.end, schedule.length, item.repeat.every.times(index))
                item_id = f"{item.id}-{index + 1}"
                item_name = f"{name} ({index + 1} of {occurrences})"
            made.append(PlanItem(
                id=item_id, template_item=item.id, sub_goal=sub_goal.id, item_type=item_type.id,
                kind=item_type.kind, name=item_name or item.id, purpose=purpose, expected_outcome=outcome,
                concerning=concerning, owner=owner or "", responsibility=responsibility or "",
                mandatory=item.mandatory, sensitivity=item.sensitivity, schedule=schedule, occurrence=index + 1 if item.repeat else 0,
                estimated_cost=item.estimated_cost, unit_type=item_type.unit_type,
                authorised_units=item.authorised_units, maximum_units=item_type.maximum_units,
                units_tolerance=item.units_tolerance, attributes=dict(item.attributes),
                attributes_schema=item_type.attributes_schema, approval_required=item_type.approval_required,
                guidance_url=item_type.guidance_url,
            ))
        return made

    def milestones(self, milestone: MilestoneTemplate) -> list[Milestone]:
        occurrences = milestone.repeat.count if milestone.repeat else 1
        name = self.render(milestone.name, milestone.location, "name") or milestone.id
        made = []
        for index in range(occurrences):
            schedule = milestone.schedule
            milestone_id, milestone_name = milestone.id, name
            if milestone.repeat:
                schedule = Schedule(schedule.start, schedule.end, schedule.length, milestone.repeat.every.times(index))
                milestone_id = f"{milestone.id}-{index + 1}"
                milestone_name = f"{name} ({index + 1} of {occurrences})"
            made.append(Milestone(
                id=milestone_id, template_milestone=milestone.id, name=milestone_name, citation=milestone.citation,
                review=milestone.review, schedule=schedule, occurrence=index + 1 if milestone.repeat else 0,
                extendable=milestone.extendable, waiver_needs_approval=milestone.waiver_needs_approval,
            ))
        return made

    def check_request(self) -> None:
        for name in self.template.case_dates:
            if name not in self.case.key_dates:
                self.fail(self.case.location(("case", "key_dates")), "missing-case-date",
                          f"template {self.template.id!r} needs the case date {name!r}, and the case has none",
                          name, f"add {name}: YYYY-MM-DD under case.key_dates")
        if self.case.user(self.request.case_worker) is None:
            self.fail(self.case.location(("plan", "case_worker")), "unknown-user",
                      f"case_worker: {self.request.case_worker!r} is not one of the case's users",
                      self.request.case_worker, "use the id of a user listed under users")
        known = {p.id for p in self.case.participants}
        for path, person in ((("plan", "primary_plan_participant"), self.request.primary_plan_participant),
                             *((("plan", "plan_participants"), p) for p in self.request.plan_participants),
                             *(((), p) for p in self.options.extra_participants)):
            if person not in known:
                location = self.case.location(path) if path else command_line("participant")
                self.fail(location, "unknown-participant",
                          f"{person!r} is not a participant of case {self.case.reference}", person,
                          "a plan participant must first be a participant of the case")
        all_ids = {i.id for i in self.template.all_items()} | {s.id for s in self.template.sub_goals} | {
            g.id for g in self.template.groups}
        for element_id in sorted(self.options.include | self.options.exclude):
            if element_id not in all_ids:
                self.fail(command_line("include/exclude"), "unknown-element",
                          f"template {self.template.id!r} has no item, sub-goal or group {element_id!r}", element_id,
                          "run 'svcplan template preview' to see the template's items, sub-goals and groups")

    def build(self) -> Plan:
        self.check_request()
        members = self.members()
        groups_wanted = {g.id for g in self.template.groups
                         if self.wanted(g.id, g.optional, False, g.location)}
        groups = [Group(g.id, self.render(g.name, g.location, "name") or g.id, g.parent, g.description)
                  for g in self.template.groups if g.id in groups_wanted]
        sub_goals: list[SubGoal] = []
        items: list[PlanItem] = []
        for template_sub_goal in self.template.sub_goals:
            if template_sub_goal.group is not None and template_sub_goal.group not in groups_wanted:
                continue
            if not self.wanted(template_sub_goal.id, template_sub_goal.optional, False, template_sub_goal.location):
                continue
            owner = self.resolve_person(template_sub_goal.owner, template_sub_goal.location, members=members)
            sub_goal = SubGoal(
                id=template_sub_goal.id, category=template_sub_goal.category,
                name=self.render(template_sub_goal.name, template_sub_goal.location, "name") or template_sub_goal.id,
                owner=owner or self.request.case_worker, group=template_sub_goal.group,
                description=self.render(template_sub_goal.description, template_sub_goal.location, "description"),
            )
            sub_goals.append(sub_goal)
            for item in template_sub_goal.items:
                if self.wanted(item.id, item.optional, item.mandatory, item.location):
                    items.extend(self.items(item, sub_goal, members))
        milestones = [m for template_milestone in self.template.milestones for m in self.milestones(template_milestone)]
        goal = self.render(self.template.goal_name, self.template.location, "goal.name") or self.template.name
        if self.problems:
            raise SvcplanError(self.problems)

        plan = Plan(
            template_id=self.template.id, template_version=self.template.version,
            template_hash=self.template.content_hash, name=self.template.name,
            service_plan_type=self.template.service_plan_type, currency=self.template.currency,
            day_counting=self.template.day_counting.value, case=case_snapshot(self.case),
            start=self.request.starts, case_worker=self.request.case_worker, goal_name=goal,
            goal_description=self.template.goal_description, members=members, groups=groups,
            sub_goals=sub_goals, items=items, milestones=milestones,
        )
        resolve_dates(plan)
        return plan


class _NoOne:
    relationship = None


_NO_ONE = _NoOne()


def instantiate(template: PlanTemplate, case: Case, options: PlanOptions | None = None) -> Instantiation:
    """Make a plan for `case` from `template`; raise `SvcplanError` listing every problem.

    The plan is not yet checked against the membership rules: `evaluate.check_membership`
    does that, so the same rules guard every later change too.
    """
    options = options or PlanOptions()
    request = options.request or case.plan_request
    if request is None:
        raise SvcplanError.single(Location(case.source), "missing-plan-section",
                                  "the case file has no plan section", hint="add plan: with case_worker, starts and primary_plan_participant")
    builder = _Instantiator(template, case, request, options)
    plan = builder.build()
    log.info("instantiated template %s v%d for case %s: %d items, %d milestones",
             template.id, template.version, case.reference, len(plan.items), len(plan.milestones))
    return Instantiation(plan, tuple(builder.notices))

