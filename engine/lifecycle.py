"""The lifecycles of plans, plan items, milestones and agreements, as state machines.

Each `Lifecycle` is a table: for every verb, the states it may start from and
the state it leads to. A change that the table does not allow is rejected with a
message naming the state and what would allow the change, such as
"plan.approve: plan 3 is open; submit it first". The functions at the end
carry out the lifecycle actions (`plan.submit`, `agreement.accept`, ...) that
`progress.apply_change` dispatches to.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import date
from typing import Any, Callable, Mapping

from .dates import parse_date
from .errors import Location, Problem, RejectedChange
from .permissions import acting_user, require_clearance
from .plan import Agreement, AgreementStatus, Approval, Extension, Milestone, Plan, PlanItem
from .progress import Applied, Change, ChangeContext, _item, _reject

_PAST_TENSE = {
    "submit": "submitted", "approve": "approved", "reject": "rejected", "activate": "activated", "close": "closed",
    "start": "started", "complete": "completed", "waive": "waived", "extend": "extended", "accept": "accepted",
    "cancel": "cancelled",
}


# The state a verb leads to, where it is not the verb's past tense.
_STATE_AFTER = {"activate": "active"}


def _article(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


@dataclass(frozen=True)
class Lifecycle:
    """A state machine: `transitions[verb][state]` is the state that `verb` leads to from `state`."""

    kind: str
    transitions: Mapping[str, Mapping[str, str]]

    def allowed_from(self, verb: str) -> tuple[str, ...]:
        return tuple(self.transitions[verb])

    def path(self, state: str, goals: tuple[str, ...]) -> list[str] | None:
        """Return the shortest list of verbs that leads from `state` to one of `goals`, or None."""
        queue: deque[tuple[str, list[str]]] = deque([(state, [])])
        seen = {state}
        while queue:
            current, verbs = queue.popleft()
            if current in goals:
                return verbs
            for verb, moves in self.transitions.items():
                following = moves.get(current)
                if following is not None and following not in seen:
                    seen.add(following)
                    queue.append((following, [*verbs, verb]))
        return None

    def remedy(self, state: str, goals: tuple[str, ...]) -> str | None:
        """Return what to do first to reach one of `goals` from `state`, such as "submit it first"."""
        verbs = self.path(state, goals)
        if not verbs:
            return None
        steps = [f"{verb} it" for verb in verbs]
        return f"{steps[0]} first" if len(steps) == 1 else f"first {', then '.join(steps)}"

    def next_state(self, verb: str, state: str, label: str, location: Location, action: str) -> str:
        """Return the state `verb` leads to from `state`; raise `RejectedChange` when the table forbids it.

        `label` names the element in messages ("plan 3", "item 'medical-exam'").
        """
        moves = self.transitions[verb]
        if state in moves:
            return moves[state]
        allowed = self.allowed_from(verb)
        allowed_text = " or ".join(allowed)
        rule = f"only {_article(allowed_text)} {self.kind} can be {_PAST_TENSE[verb]}"
        if state == _STATE_AFTER.get(verb, _PAST_TENSE[verb]):
            message = f"{action}: {label} is already {state}"
        else:
            remedy = self.remedy(state, allowed)
            if remedy is None:
                remedy = f"{_article(state)} {self.kind} cannot become {allowed_text} again"
            message = f"{action}: {label} is {state}; {remedy}"
        raise RejectedChange([Problem(location, f"{self.kind}-{state}", message, value=state, hint=rule)])


PLAN = Lifecycle("plan", {
    "submit":   {"open": "submitted"},
    "approve":  {"submitted": "approved"},
    "reject":   {"submitted": "open"},
    "activate": {"approved": "active"},
    "close":    {"open": "closed", "submitted": "closed", "approved": "closed", "active": "closed"},
})
"""A plan submitted by a user who may approve goes from open to approved at once (see `plan_submit`)."""

ITEM = Lifecycle("item", {
    "submit":   {"unapproved": "submitted"},
    "approve":  {"submitted": "not-started"},
    "reject":   {"submitted": "unapproved"},
    # Recording a start or an end again corrects the recorded date.
    "start":    {"not-started": "in-progress", "in-progress": "in-progress", "completed": "completed"},
    "complete": {"in-progress": "completed", "completed": "completed"},
})
"""Items whose type needs no approval begin as not-started; approving the plan approves the others."""

MILESTONE = Lifecycle("milestone", {
    "start":    {"not-started": "in-progress", "in-progress": "in-progress"},
    "complete": {"in-progress": "completed", "completed": "completed"},
    "waive":    {"not-started": "waived", "in-progress": "waived"},
    "extend":   {"not-started": "not-started", "in-progress": "in-progress"},
})

AGREEMENT = Lifecycle("agreement", {
    "accept": {"issued": "accepted"},
    "reject": {"issued": "rejected"},
    "cancel": {"issued": "cancelled"},
})
"""Issuing makes a new agreement in state issued; `agreement_issue` lists when a plan may issue one."""

ISSUING_PLAN_STATES = ("approved", "active")

GUARDED_ACTIONS: dict[str, tuple[Lifecycle, str]] = {
    "item.start": (ITEM, "start"),
    "item.complete": (ITEM, "complete"),
    "milestone.start": (MILESTONE, "start"),
    "milestone.complete": (MILESTONE, "complete"),
    "milestone.waive": (MILESTONE, "waive"),
}
"""Progress actions of `progress.py` that must also be allowed by their element's lifecycle."""


def check_guarded(plan: Plan, change: Change) -> None:
    """Reject a progress action that its item's or milestone's lifecycle forbids.

    An unknown item or milestone is left to the action itself, which names the known ones.
    """
    guard = GUARDED_ACTIONS.get(change.action)
    if guard is None:
        return
    lifecycle, verb = guard
    element: PlanItem | Milestone | None
    if lifecycle is ITEM:
        element = plan.item(str(change.values.get("item")))
    else:
        element = plan.milestone(str(change.values.get("milestone")))
    if element is not None:
        lifecycle.next_state(verb, element.status, f"{lifecycle.kind} {element.id!r}", change.location, change.action)


# --- helpers ------------------------------------------------------------------


def _day(change: Change, context: ChangeContext, key: str = "on") -> date:
    """Return the date `key` of the change, today when it is not given; it may not be in the future."""
    raw = change.values.get(key)
    if raw is None:
        return context.today
    day = parse_date(raw)
    if day is None:
        raise _reject(change, "invalid-date", f"{change.action}: {key} {raw!r} is not a real date", raw,
                      "write the date as YYYY-MM-DD, with a day that exists in that month")
    if day > context.today:
        raise _reject(change, "date-in-future", f"{change.action}: {key} {day} is in the future "
                      f"(today is {context.today})", raw, "record what happened only once it has happened")
    return day


def _user(plan: Plan, change: Change, context: ChangeContext) -> Mapping[str, Any] | None:
    return acting_user(plan, context.actor, change.action, change.location) if context.actor else None


def _approve_items(plan: Plan, change: Change, context: ChangeContext) -> tuple[dict[str, str], dict[str, str]]:
    """Approve every item awaiting approval; return their approval before and after."""
    waiting = [item for item in plan.items if item.approval in Approval.AWAITING]
    user = _user(plan, change, context)
    if user is not None:
        for item in waiting:
            require_clearance(user, item, change.action, change.location)
    before = {item.id: str(item.approval) for item in waiting}
    for item in waiting:
        item.approval = Approval.APPROVED
    return before, {item_id: Approval.APPROVED for item_id in before}


def _plan_transition(plan: Plan, change: Change, verb: str) -> str:
    return PLAN.next_state(verb, plan.status, f"plan {plan.id}", change.location, change.action)


def _with_reason(change: Change, after: dict[str, Any]) -> dict[str, Any]:
    reason = change.values.get("reason")
    return {**after, "reason": str(reason)} if reason else after


# --- plan actions -------------------------------------------------------------


def plan_submit(plan: Plan, change: Change, context: ChangeContext) -> Applied:
    """Submit an open plan for approval; a plan submitted by a user who may approve is approved at once."""
    before_status = plan.status
    plan.status = _plan_transition(plan, change, "submit")
    user = _user(plan, change, context)
    before: dict[str, Any] = {"status": before_status}
    after: dict[str, Any] = {"status": plan.status}
    if user is not None and user.get("may_approve"):
        plan.status = _plan_transition(plan, change, "approve")
        approvals_before, approvals_after = _approve_items(plan, change, context)
        after["status"] = plan.status
        if approvals_before:
            before["item_approval"], after["item_approval"] = approvals_before, approvals_after
    return Applied(change.action, "plan", before, _with_reason(change, after))


def plan_approve(plan: Plan, change: Change, context: ChangeContext) -> Applied:
    """Approve a submitted plan and every item of it awaiting approval."""
    before: dict[str, Any] = {"status": plan.status}
    plan.status = _plan_transition(plan, change, "approve")
    after: dict[str, Any] = {"status": plan.status}
    approvals_before, approvals_after = _approve_items(plan, change, context)
    if approvals_before:
        before["item_approval"], after["item_approval"] = approvals_before, approvals_after
    return Applied(change.action, "plan", before, _with_reason(change, after))


def plan_reject(plan: Plan, change: Change, context: ChangeContext) -> Applied:
    """Return a submitted plan to open; its items keep their approval."""
    before = {"status": plan.status}
    plan.status = _plan_transition(plan, change, "reject")
    return Applied(change.action, "plan", before, _with_reason(change, {"status": plan.status}))


def plan_activate(plan: Plan, change: Change, context: ChangeContext) -> Applied:
    """Record the client's acceptance of the outstanding agreement, which makes the plan active.

    A plan becomes active only through an accepted agreement, so this is
    `agreement.accept` of the outstanding agreement under the plan's name.
    """
    if plan.outstanding_agreement() is None and plan.status == "approved":
        raise _reject(change, "no-outstanding-agreement",
                      f"{change.action}: plan {plan.id} is approved but has no outstanding agreement, and only the "
                      "client's acceptance of one makes it active; issue an agreement first", plan.status,
                      "run 'svcplan agreement issue', then record the acceptance")
    _plan_transition(plan, change, "activate")
    return agreement_decide(plan, change, context, "accept")


def plan_close(plan: Plan, change: Change, context: ChangeContext) -> Applied:
    """Close a plan from any state; an outstanding agreement is cancelled with it."""
    before: dict[str, Any] = {"status": plan.status}
    plan.status = _plan_transition(plan, change, "close")
    after: dict[str, Any] = {"status": plan.status}
    outstanding = plan.outstanding_agreement()
    if outstanding is not None:
        before["agreement"] = outstanding.to_dict()
        outstanding.status = AgreementStatus.CANCELLED
        outstanding.decided_on = _day(change, context)
        outstanding.decided_by = context.actor
        after["agreement"] = outstanding.to_dict()
    return Applied(change.action, "plan", before, _with_reason(change, after))


# --- item approval -------------------------------------------------------------


def _item_approval(plan: Plan, change: Change, verb: str) -> Applied:
    item = _item(plan, change)
    state = ITEM.next_state(verb, item.status, f"item {item.id!r}", change.location, change.action)
    before = {"approval": item.approval}
    item.approval = {"submitted": Approval.SUBMITTED, "unapproved": Approval.UNAPPROVED}.get(state, Approval.APPROVED)
    return Applied(change.action, f"item:{item.id}", before, _with_reason(change, {"approval": item.approval}))


def item_submit(plan: Plan, change: Change, context: ChangeContext) -> Applied:
    """Submit an unapproved item for approval."""
    return _item_approval(plan, change, "submit")


def item_approve(plan: Plan, change: Change, context: ChangeContext) -> Applied:
    """Approve a submitted item, so that it can start."""
    return _item_approval(plan, change, "approve")


def item_reject(plan: Plan, change: Change, context: ChangeContext) -> Applied:
    """Return a submitted item to unapproved: its approval failed."""
    return _item_approval(plan, change, "reject")


# --- milestones -----------------------------------------------------------------


def milestone_extend(plan: Plan, change: Change, context: ChangeContext) -> Applied:
    """Move a milestone's expected end later, when its configuration allows, keeping the old end in `extensions`."""
    milestone = plan.milestone(str(change.values.get("milestone")))
    if milestone is None:
        raise _reject(change, "unknown-milestone", f"{change.action}: plan {plan.id} has no milestone "
                      f"{change.values.get('milestone')!r}", change.values.get("milestone"),
                      f"milestones of this plan: {', '.join(m.id for m in plan.milestones)}")
    MILESTONE.next_state("extend", milestone.status, f"milestone {milestone.id!r}", change.location, change.action)

    if not milestone.extendable:
        raise _reject(change, "not-extendable",
                      f"{change.action}: the expected dates of milestone {milestone.id!r} may not be extended; "
                      "its template sets extendable: false", milestone.id,
                      "record the milestone as it happens; it will be flagged if late")
    raw = change.values.get("end")
    new_end = parse_date(raw) if raw is not None else None
    if new_end is None:
        raise _reject(change, "missing-value" if raw is None else "invalid-date",
                      f"{change.action}: the new expected end {raw!r} is missing or not a real date", raw,
                      "give end as YYYY-MM-DD")

    if milestone.expected_end is None:
        raise _reject(change, "end-unknown",
                      f"{change.action}: milestone {milestone.id!r} has no expected end yet, so it cannot be extended",
                      milestone.id, "record the date its timing depends on first")
    if new_end <= milestone.expected_end:
        raise _reject(change, "not-an-extension",
                      f"{change.action}: the new end {new_end} is not after the current expected end "
                      f"{milestone.expected_end}", str(new_end), "give a later date")

    before = {"expected_end": milestone.expected_end.isoformat()}
    milestone.extensions.append(Extension(_day(change, context, "on"), context.actor or "", milestone.expected_end,
                                          new_end, change.values.get("reason")))
    milestone.expected_end = new_end
    return Applied(change.action, f"milestone:{milestone.id}", before,
                   _with_reason(change, {"expected_end": new_end.isoformat()}))


# --- agreements -----------------------------------------------------------------


def agreement_issue(plan: Plan, change: Change, context: ChangeContext) -> Applied:
    """Issue an agreement for the client to sign.

    Only an approved or active plan can issue one, with no item awaiting
    approval and no other agreement outstanding. A closed plan is rejected before this runs.
    """
    if plan.status not in ISSUING_PLAN_STATES:
        remedy = PLAN.remedy(plan.status, ISSUING_PLAN_STATES) or "open a new plan"
        raise _reject(change, f"plan-{plan.status}",
                      f"{change.action}: plan {plan.id} is {plan.status}; {remedy}", plan.status,
                      "only an approved or active plan can issue an agreement")
    waiting = [item.id for item in plan.items if item.approval in Approval.AWAITING]
    if waiting:
        raise _reject(change, "items-await-approval",
                      f"{change.action}: items {', '.join(waiting)} of plan {plan.id} await approval; "
                      "approve them first", waiting,
                      "submit each with 'svcplan item submit' and have a user who may approve approve it")
    outstanding = plan.outstanding_agreement()
    if outstanding is not None:
        raise _reject(change, "agreement-outstanding",
                      f"{change.action}: agreement {outstanding.number} of plan {plan.id} is still outstanding; "
                      "record its acceptance or rejection, or cancel it, first", outstanding.number,
                      "only one agreement may be outstanding at a time")
    agreement = Agreement(len(plan.agreements) + 1, AgreementStatus.ISSUED, _day(change, context), context.actor)
    plan.agreements.append(agreement)
    return Applied(change.action, f"agreement:{agreement.number}", {}, agreement.to_dict())


def _agreement(plan: Plan, change: Change) -> Agreement:
    number = change.values.get("agreement")
    if number is None:
        outstanding = plan.outstanding_agreement()
        if outstanding is None:
            raise _reject(change, "no-outstanding-agreement",
                          f"{change.action}: plan {plan.id} has no outstanding agreement; issue one first",
                          hint="run 'svcplan agreement issue PLAN'")
        return outstanding
    found = next((a for a in plan.agreements if str(a.number) == str(number)), None)
    if found is None:
        raise _reject(change, "unknown-agreement", f"{change.action}: plan {plan.id} has no agreement {number!r}",
                      number, f"agreements of this plan: {', '.join(str(a.number) for a in plan.agreements) or 'none'}")
    return found


def agreement_decide(plan: Plan, change: Change, context: ChangeContext, verb: str) -> Applied:
    """Record that an issued agreement was accepted, rejected or cancelled; acceptance makes the plan active."""
    agreement = _agreement(plan, change)
    status = AGREEMENT.next_state(verb, agreement.status, f"agreement {agreement.number} of plan {plan.id}",
                                  change.location, change.action)
    on = _day(change, context)
    if on < agreement.issued_on:
        raise _reject(change, "decided-before-issued",
                      f"{change.action}: {on} is before agreement {agreement.number} was issued on "
                      f"{agreement.issued_on}", str(on), "give a date on or after the issue date")
    before: dict[str, Any] = {"status": agreement.status, "plan_status": plan.status}
    agreement.status, agreement.decided_on, agreement.decided_by = status, on, context.actor
    if status == AgreementStatus.ACCEPTED and plan.status != "active":
        plan.status = _plan_transition(plan, change, "activate")
    after = {"status": agreement.status, "plan_status": plan.status, "decided_on": on.isoformat()}
    return Applied(change.action, f"agreement:{agreement.number}", before, _with_reason(change, after))


HANDLERS: dict[str, Callable[[Plan, Change, ChangeContext], Applied]] = {
    "plan.submit": plan_submit,
    "plan.approve": plan_approve,
    "plan.reject": plan_reject,
    "plan.activate": plan_activate,
    "plan.close": plan_close,
    "item.submit": item_submit,
    "item.approve": item_approve,
    "item.reject": item_reject,
    "milestone.extend": milestone_extend,
    "agreement.issue": agreement_issue,
    "agreement.accept": lambda plan, change, context: agreement_decide(plan, change, context, "accept"),
    "agreement.reject": lambda plan, change, context: agreement_decide(plan, change, context, "reject"),
    "agreement.cancel": lambda plan, change, context: agreement_decide(plan, change, context, "cancel"),
}
