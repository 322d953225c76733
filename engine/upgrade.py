"""Moving a stored plan to another version of its template, keeping what was recorded.

A plan never changes when its template does: it keeps the version and content
hash it was made from. `prepare_upgrade` makes, in memory, the plan that the
requested template version gives for the same case and request, and carries over
the progress recorded on every item and milestone that both plans have (matched
by id). What stays from the old plan is listed in `ITEM_PROGRESS` and
`MILESTONE_PROGRESS`, together with the plan's members, status and identity.
Everything else (names, timing, units, owners, costs estimated by the template)
comes from the new version.

The request is rebuilt from the plan itself: its start, case worker and current
plan participants, the optional elements that the plan contains (included) and
the items of its own template version that it lacks (left out). The case is the
snapshot the plan took when it was opened, so an upgrade never reads the case file.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import date
from typing import Any, Mapping

from .baseline import Comparison, compare_plans
from .errors import Location, Problem, RejectedChange, Severity
from .instantiate import PlanOptions, instantiate
from .model import Case, Participant, PlanRequest, PlanTemplate, User
from .plan import MemberRole, Milestone, Plan, PlanItem
from .progress import Applied
from .schedule import resolve_dates

ITEM_PROGRESS = ("actual_start", "actual_end", "outcome", "good_cause", "actual_cost", "deliveries", "attributes",
                 "authorisations")
"""Item fields recorded by case workers and supervisors, which an upgrade keeps."""
MILESTONE_PROGRESS = ("actual_start", "actual_end", "waived", "extensions")
"""Milestone fields recorded by case workers, which an upgrade keeps."""
ITEM_STATE = ("approval",)
"""Item fields an upgrade keeps that are not progress: an item losing them needs no --drop-progress."""
PLAN_STATE = ("status", "agreements")
"""Plan fields an upgrade keeps besides the id, version and members."""


@dataclass(frozen=True)
class DroppedProgress:
    """An element that the new template version does not have, and the progress recorded on it."""

    kind: str
    """`item` or `milestone`."""
    id: str
    name: str
    progress: Mapping[str, Any]


@dataclass(frozen=True)
class Upgrade:
    """The result of moving a plan to another template version, before it is stored."""

    plan: Plan
    """The plan as it is stored now."""
    upgraded: Plan
    """The plan the new version gives, with the old plan's progress, id and version."""
    comparison: Comparison
    dropped: tuple[DroppedProgress, ...]
    """Removed elements that carry progress: an upgrade that drops them needs `drop_progress`."""

    def event(self) -> Applied:
        """Return the `plan.upgraded` event, listing what changed and any progress dropped with it."""
        old, new = self.plan, self.upgraded
        return Applied(
            "plan.upgraded", "plan",
            {"template_version": old.template_version, "template_hash": old.template_hash,
             "dropped_progress": [{"kind": d.kind, "id": d.id, "name": d.name, **d.progress} for d in self.dropped]},
            {"template_version": new.template_version, "template_hash": new.template_hash,
             "added": [f"{c.kind}:{c.id}" for c in self.comparison.of("added")],
             "removed": [f"{c.kind}:{c.id}" for c in self.comparison.of("removed")],
             "changed": [f"{c.kind}:{c.id}" for c in self.comparison.of("changed")]},
        )


def case_from_snapshot(snapshot: Mapping[str, Any], request: PlanRequest) -> Case:
    """Rebuild the `Case` a plan was opened for from the snapshot it keeps (`case_snapshot`)."""
    return Case(
        reference=snapshot["reference"],
        program=snapshot["program"],
        organisation_unit=snapshot.get("organisation_unit"),
        opened=date.fromisoformat(snapshot["opened"]),
        primary_client=snapshot["primary_client"],
        key_dates={name: date.fromisoformat(day) for name, day in snapshot.get("key_dates", {}).items()},
        participants=tuple(
            Participant(id=p["id"], name=p["name"], registered=p["registered"], relationship=p.get("relationship"),
                        date_of_birth=date.fromisoformat(p["date_of_birth"]) if p.get("date_of_birth") else None,
                        nominated_representative_for=p.get("nominated_representative_for"))
            for p in snapshot.get("participants", [])),
        users=tuple(User(id=u["id"], name=u["name"], role=u.get("role"), sensitivity=u.get("sensitivity", 1),
                         may_approve=u.get("may_approve", False)) for u in snapshot.get("users", [])),
        plan_request=request,
        as_of=None,
        story=None,
        source=snapshot.get("source") or f"case {snapshot['reference']}",
    )


def rebuild_request(plan: Plan, template: PlanTemplate,
                    previous: PlanTemplate | None) -> tuple[PlanRequest, PlanOptions]:
    """Return the request and options that make `template` give a plan with the same choices as `plan`.

    Optional groups, sub-goals and items of `template` that the plan has are
    included. An item that `previous` (the version the plan was made from) would
    have made but the plan lacks was left out, and stays out unless `template`
    makes it mandatory. Elements new in `template` follow its defaults.
    """
    primary = plan.primary_plan_participant or ""
    participants = tuple(m.person for m in plan.members if m.role == MemberRole.PARTICIPANT)
    request = PlanRequest(plan.case_worker, plan.start, primary, participants)
    present = ({item.template_item or item.id for item in plan.items} | {s.id for s in plan.sub_goals}
               | {g.id for g in plan.groups})
    optional = ({g.id for g in template.groups if g.optional} | {s.id for s in template.sub_goals if s.optional}
                | {i.id for i in template.all_items() if i.optional})
    # NOTE: without the previous version (its file removed, or edited since the plan
    # was made) nothing counts as left out, so items the case worker left out come back.
    # The comparison lists them as added before anything is stored.
    made_before = {i.id for i in previous.all_items() if not i.optional} if previous else set()
    left_out = {i.id for i in template.all_items()
                if not i.optional and not i.mandatory and i.id in made_before and i.id not in present}
    return request, PlanOptions(include=frozenset(optional & present), exclude=frozenset(left_out), request=request)


def _progress(element: PlanItem | Milestone) -> dict[str, Any]:
    """Return the progress recorded on an element, in its JSON form; empty when there is none."""
    fields = ITEM_PROGRESS if isinstance(element, PlanItem) else MILESTONE_PROGRESS
    data = element.to_dict()
    return {name: data[name] for name in fields if data.get(name) not in (None, False, [], {})}


def _copy_fields(target: object, source: object, names: tuple[str, ...]) -> None:
    # getattr/hasattr: fields of the plan lifecycle (approval, authorisations,
    # extensions, agreements) are copied only where this Plan version has them.
    for name in names:
        if hasattr(source, name):
            setattr(target, name, copy.deepcopy(getattr(source, name)))


def prepare_upgrade(plan: Plan, template: PlanTemplate, previous: PlanTemplate | None = None, *,
                    drop_progress: bool = False) -> Upgrade:
    """Return `plan` moved to `template` (another version of its template), storing nothing.

    `previous` is the template version the plan was made from, when the library
    still has it with the same content hash. Only with it can an item be recognised as left out.

    Raises `RejectedChange` when the plan is closed, when `template` is another
    template or the version the plan already has, or (`upgrade-drops-progress`)
    when an item or milestone with recorded progress would go and `drop_progress`
    is false. Raises `SvcplanError` when the new version cannot be instantiated
    for the plan's case.
    """
    where = Location(f"plan {plan.id}")
    if plan.status == "closed":
        raise RejectedChange.single(where, "plan-closed", f"plan {plan.id} is closed and changes no more",
                                    value=plan.id)
    if template.id != plan.template_id:
        raise RejectedChange.single(where, "other-template",
                                    f"plan {plan.id} was made from template {plan.template_id!r}, "
                                    f"not {template.id!r}", value=template.id,
                                    hint="an upgrade moves a plan to another version of its own template")
    if template.version == plan.template_version:
        raise RejectedChange.single(where, "same-template-version",
                                    f"plan {plan.id} already has version {template.version} of template "
                                    f"{template.id!r}", value=template.version,
                                    hint="give --to with another version; `svcplan template list` lists them")

    if previous is not None and previous.content_hash != plan.template_hash:
        previous = None
    request, options = rebuild_request(plan, template, previous)
    fresh = instantiate(template, case_from_snapshot(plan.case, request), options).plan
    upgraded = _carry_over(plan, fresh)

    survivors = {item.id for item in upgraded.items} | {milestone.id for milestone in upgraded.milestones}
    dropped = tuple(
        DroppedProgress("item" if isinstance(element, PlanItem) else "milestone", element.id, element.name, progress)
        for element in (*plan.items, *plan.milestones)
        if element.id not in survivors and (progress := _progress(element)))
    if dropped and not drop_progress:
        listed = "; ".join(f"{d.kind} {d.id} ({', '.join(d.progress)})" for d in dropped)
        raise RejectedChange([Problem(
            where, "upgrade-drops-progress",
            f"template {template.id!r} version {template.version} has no place for recorded progress: {listed}",
            Severity.ERROR, (), [d.id for d in dropped],
            "check the elements listed, then run again with --drop-progress to remove them; "
            "the plan's history keeps what they recorded")])
    comparison = compare_plans(plan, upgraded, before_label=f"plan {plan.id} with {plan.template_id} "
                               f"version {plan.template_version}",
                               after_label=f"plan {plan.id} with {template.id} version {template.version}")
    return Upgrade(plan, upgraded, comparison, dropped)


def _carry_over(plan: Plan, fresh: Plan) -> Plan:
    """Return `fresh` with the identity, status, members and recorded progress of `plan`."""
    upgraded = copy.deepcopy(fresh)
    upgraded.id, upgraded.version = plan.id, plan.version
    _copy_fields(upgraded, plan, PLAN_STATE)
    # Members are not template content: people added or removed since the plan was
    # opened stay as they are.
    upgraded.members = copy.deepcopy(plan.members)
    for item in upgraded.items:
        old_item = plan.item(item.id)
        if old_item is None:
            continue
        _copy_fields(item, old_item, (*ITEM_PROGRESS, *ITEM_STATE))
        if getattr(old_item, "authorisations", None):
            # A supervisor changed the units authorised; the change outranks the template's default.
            item.authorised_units = old_item.authorised_units
        # NOTE: owner, responsibility and concerning come from the new version, so a
        # reassignment made with `item assign` is undone; the comparison shows it first.
    for milestone in upgraded.milestones:
        old_milestone = plan.milestone(milestone.id)
        if old_milestone is not None:
            _copy_fields(milestone, old_milestone, MILESTONE_PROGRESS)
    resolve_dates(upgraded)
    return upgraded
