"""Moving a stored plan to another version of its template, keeping what was recorded.

A plan never changes when its template does: it keeps the version and content
hash it was made from. `prepare_upgrade` makes, in memory, the plan that the
requested template version gives for the same case and request, and carries over
the progress recorded on every item and milestone that both plans have (matched
by id). What stays from the old plan is listed in `ITEM_PROGRESS` and
`MILESTONE_PROGRESS`, together with the plan's members, status and identity.
Edits a case worker made to a surviving item stay too (see `_keep_edits`):
people assigned by hand, expected dates set by hand and a sensitivity raised by
hand. Everything else (names, timing, units, costs estimated by the template)
comes from the new version.

An upgrade obeys the rules every other change obeys. `check_upgrade` rejects one
that adds a sub-goal after an agreement was issued, or a plan group after one was
accepted. `check_clearance` rejects one that touches an item above the acting
user's clearance. The caller checks the membership rules on the result.

The request is rebuilt from the plan itself: its start, case worker and current
plan participants, the optional elements that the plan contains (included) and
the items of its own template version that it lacks (left out). The case is the
snapshot the plan took when it was opened, so an upgrade never reads the case file.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Mapping

from .baseline import Comparison, compare_plans
from .errors import Location, Problem, RejectedChange, Severity, SvcplanError
from .instantiate import PlanOptions, instantiate
from .model import Case, Participant, PlanRequest, PlanTemplate, User
from .permissions import clearance
from .plan import AgreementStatus, MemberRole, Milestone, Plan, PlanItem
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
ITEM_ASSIGNMENTS = ("owner", "responsibility", "concerning")
"""Item fields a case worker sets with `item assign`, which an upgrade keeps while their person is on the case."""

SHOWN_FIELDS = {
    "plan": ("status", "template.name", "template.version", "start", "case_worker", "goal.name",
             "goal.description", "currency"),
    "member": ("person", "role", "represents", "end"),
    "group": ("name", "parent", "description"),
    "sub-goal": ("name", "category", "owner", "group", "description"),
    "item": ("name", "purpose", "expected_outcome", "sub_goal", "concerning", "owner", "responsibility",
             "mandatory", "sensitivity", "expected_start", "expected_end", "estimated_cost", "unit_type",
             "authorised_units", "maximum_units"),
    "milestone": ("name", "citation", "review", "expected_start", "expected_end", "extendable"),
}
"""The fields of each kind of element that the comparison of an upgrade shows, as dotted paths or their prefixes.

The rest (timing rules, schemas of attributes, template references, the case
snapshot) is how svcplan works the shown values out, not what a case worker reads.
"""


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
    """The changes in the fields `SHOWN_FIELDS` lists, without elements where only other fields change."""
    dropped: tuple[DroppedProgress, ...]
    """Removed elements that carry progress: an upgrade that drops them needs `drop_progress`."""
    complete: Comparison | None = None
    """Every difference, internal fields included, whose elements the `plan.upgraded` event lists."""

    def event(self) -> Applied:
        """Return the `plan.upgraded` event, listing what changed and any progress dropped with it."""
        old, new = self.plan, self.upgraded
        complete = self.complete or self.comparison
        return Applied(
            "plan.upgraded", "plan",
            {"template_version": old.template_version, "template_hash": old.template_hash,
             "dropped_progress": [{"kind": d.kind, "id": d.id, "name": d.name, **d.progress} for d in self.dropped]},
            {"template_version": new.template_version, "template_hash": new.template_hash,
             "added": [f"{c.kind}:{c.id}" for c in complete.of("added")],
             "removed": [f"{c.kind}:{c.id}" for c in complete.of("removed")],
             "changed": [f"{c.kind}:{c.id}" for c in complete.of("changed")]},
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
    still has it with the same content hash. Only with it can an item be recognised
    as left out, and an assignment as the template's rather than a case worker's.

    Raises `RejectedChange` when the plan is closed, or when `template` is another
    template or the version the plan already has. Raises it too when the upgrade
    adds what the plan's lifecycle no longer allows (see `check_upgrade`), and
    (`upgrade-drops-progress`) when an item or milestone with recorded progress
    would go and `drop_progress` is false. Raises `SvcplanError` when the new
    version cannot be instantiated for the plan's case.
    """
    where = Location(f"plan {plan.id}")
    if plan.status == "closed":
        raise RejectedChange.single(where, "plan-closed", f"plan {plan.id} is closed and changes no more",
                                    value=plan.id, hint="an upgrade changes only a plan that is not closed")
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
    upgraded = _carry_over(plan, fresh, _plan_from(plan, previous))

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
    complete = compare_plans(plan, upgraded, before_label=f"plan {plan.id} with {plan.template_id} "
                             f"version {plan.template_version}",
                             after_label=f"plan {plan.id} with {template.id} version {template.version}")
    upgrade = Upgrade(plan, upgraded, shown_comparison(complete), dropped, complete)
    check_upgrade(upgrade)
    return upgrade


def _target(upgrade: Upgrade) -> str:
    return f"version {upgrade.upgraded.template_version} of template {upgrade.upgraded.template_id!r}"


def check_upgrade(upgrade: Upgrade) -> None:
    """Raise `RejectedChange` when the upgrade adds what the plan's lifecycle no longer allows.

    The reasons are those of `subgoal add` and `group add`. No sub-goal may be
    added once the plan has issued an agreement, because the client was shown the
    sub-goals. No plan group may be added once the client accepted an agreement.
    """
    plan, complete = upgrade.plan, upgrade.complete or upgrade.comparison
    where = Location(f"plan {plan.id}")
    problems = []
    sub_goals = [c.id for c in complete.of("added") if c.kind == "sub-goal"]
    if sub_goals and plan.agreements:
        problems.append(Problem(
            where, "agreement-issued",
            f"plan.upgrade: plan {plan.id} has issued an agreement, so no sub-goal may be added, and "
            f"{_target(upgrade)} adds sub-goals {', '.join(sub_goals)}", Severity.ERROR, (), sub_goals,
            "keep the plan on its version, or run `svcplan plan clone` and upgrade the new plan before it "
            "issues an agreement"))
    accepted = [a.number for a in plan.agreements if a.status == AgreementStatus.ACCEPTED]
    groups = [c.id for c in complete.of("added") if c.kind == "group"]
    if groups and accepted:
        problems.append(Problem(
            where, "agreement-accepted",
            f"plan.upgrade: the client accepted agreement {accepted[-1]} of plan {plan.id}, so no plan group "
            f"may be added, and {_target(upgrade)} adds plan groups {', '.join(groups)}", Severity.ERROR, (), groups,
            "keep the plan on its version, or run `svcplan plan clone` and upgrade the new plan before its "
            "agreement is accepted"))
    if problems:
        raise RejectedChange(problems)


def check_clearance(upgrade: Upgrade, user: Mapping[str, Any]) -> None:
    """Raise `RejectedChange` when the upgrade adds, removes or changes an item above the clearance of `user`.

    `item add`, `item remove` and `item change` reject the same items. An item
    counts at the higher of its sensitivity before and after.
    """
    plan, complete = upgrade.plan, upgrade.complete or upgrade.comparison
    allowed = clearance(user)
    problems = []
    for change in complete.changes:
        if change.kind != "item":
            continue
        before, after = plan.item(change.id), upgrade.upgraded.item(change.id)
        sensitivity = max(element.sensitivity for element in (before, after) if element is not None)
        if sensitivity > allowed:
            verb = {"added": "add", "removed": "remove"}.get(change.change, "change")
            problems.append(Problem(
                Location(f"plan {plan.id}"), "above-clearance",
                f"plan.upgrade: {_target(upgrade)} would {verb} item {change.id!r}, which has sensitivity "
                f"{sensitivity}, above the clearance {allowed} of {user['id']}", Severity.ERROR, (), change.id,
                f"ask a user with a clearance of {sensitivity} or more to upgrade the plan"))
    if problems:
        raise RejectedChange(problems)


def _shown(kind: str, path: str) -> bool:
    return any(path == name or path.startswith(f"{name}.") for name in SHOWN_FIELDS.get(kind, ()))


def shown_comparison(comparison: Comparison) -> Comparison:
    """Return `comparison` with only the fields `SHOWN_FIELDS` lists, and without elements left with none."""
    changes = []
    for change in comparison.changes:
        fields = tuple(f for f in change.fields if _shown(change.kind, f.field))
        if fields or change.change != "changed":
            changes.append(replace(change, fields=fields))
    return replace(comparison, changes=tuple(changes))


def _plan_from(plan: Plan, previous: PlanTemplate | None) -> Plan | None:
    """Return the plan `previous` makes for the plan's case and choices, with the template's values before any edit."""
    if previous is None:
        return None
    request, options = rebuild_request(plan, previous, None)
    try:
        return instantiate(previous, case_from_snapshot(plan.case, request), options).plan
    except SvcplanError:
        return None


def _on_case(plan: Plan, person: str) -> bool:
    return person in plan.member_ids(MemberRole.ALL) or plan.user(person) is not None


def _keep_edits(item: PlanItem, old_item: PlanItem, original: PlanItem | None, plan: Plan) -> None:
    """Keep on `item` what a case worker changed on `old_item` by hand.

    `original` is the item as the old template version made it, and a field counts
    as edited when its value differs from it. Without `original` (the old version
    is gone from the library), every value that differs from the new version's
    counts as edited. So an upgrade does not reassign an item the worker assigned.
    """
    for name in ITEM_ASSIGNMENTS:
        person = getattr(old_item, name)
        edited = original is None or getattr(original, name) != person
        if edited and person != getattr(item, name) and _on_case(plan, person):
            setattr(item, name, person)
    if old_item.schedule is None and item.schedule is not None:
        # `item change` set the expected dates and dropped the template's timing.
        item.schedule = None
        item.expected_start, item.expected_end = old_item.expected_start, old_item.expected_end
    raised = original is None or old_item.sensitivity > original.sensitivity
    if raised and old_item.sensitivity > item.sensitivity:
        item.sensitivity = old_item.sensitivity


def _carry_over(plan: Plan, fresh: Plan, original: Plan | None = None) -> Plan:
    """Return `fresh` with the identity, status, members, recorded progress and hand edits of `plan`.

    `original` is the plan the old template version makes, against which hand edits are recognised.
    """
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
        _keep_edits(item, old_item, original.item(item.id) if original else None, upgraded)
    for milestone in upgraded.milestones:
        old_milestone = plan.milestone(milestone.id)
        if old_milestone is not None:
            # Extensions are progress, and `resolve_dates` takes the expected end from the last one.
            _copy_fields(milestone, old_milestone, MILESTONE_PROGRESS)
    _keep_added_by_hand(plan, upgraded, original)
    resolve_dates(upgraded)
    return upgraded


def _keep_added_by_hand(plan: Plan, upgraded: Plan, original: Plan | None) -> None:
    """Copy into `upgraded` the items, milestones, sub-goals and groups a worker added to `plan`.

    Items and milestones added by hand have no template element; sub-goals and
    groups count as added by hand when the old template version does not make
    them, or when a kept item needs them.
    """
    template_sub_goals = {s.id for s in original.sub_goals} if original else None
    template_groups = {g.id for g in original.groups} if original else None
    kept_items = [item for item in plan.items if item.template_item is None and upgraded.item(item.id) is None]
    needed = {item.sub_goal for item in kept_items}
    present_sub_goals = {s.id for s in upgraded.sub_goals}
    for sub_goal in plan.sub_goals:
        by_hand = template_sub_goals is not None and sub_goal.id not in template_sub_goals
        if sub_goal.id not in present_sub_goals and (by_hand or sub_goal.id in needed):
            upgraded.sub_goals.append(copy.deepcopy(sub_goal))
    needed_groups = {s.group for s in upgraded.sub_goals if s.group}
    present_groups = {g.id for g in upgraded.groups}
    for group in plan.groups:
        by_hand = template_groups is not None and group.id not in template_groups
        if group.id not in present_groups and (by_hand or group.id in needed_groups):
            upgraded.groups.append(copy.deepcopy(group))
    upgraded.items.extend(copy.deepcopy(item) for item in kept_items)
    upgraded.milestones.extend(
        copy.deepcopy(milestone) for milestone in plan.milestones
        if milestone.template_milestone is None and upgraded.milestone(milestone.id) is None
    )
