"""Who may change a plan, and which of its items a user may see.

The acting user of a change must be one of the users in the plan's case
snapshot. Approving or rejecting a plan or an item, changing authorised units,
and waiving a milestone whose configuration requires it need a user with
`may_approve`. A user sees and changes an item only with a sensitivity clearance
at least the item's sensitivity.

NOTE: these checks decide what svcplan does on a user's behalf. They are not an
access-control boundary, because anyone who can open the plan database reads
every plan. The commands that only read (`evaluate`, `plan history`,
`plan show`) hide items above a clearance only when a user is given, since
supervisors and CI use them without one as an overview.
"""

from __future__ import annotations

import copy
from typing import Any, Mapping

from .errors import Location, RejectedChange
from .plan import Plan, PlanItem

APPROVER_ACTIONS = frozenset({"plan.approve", "plan.reject", "item.approve", "item.reject", "item.authorise"})
"""Actions only a user with `may_approve` may take, whatever they change."""

ACTOR_HINT = "give --as USER or set SVCPLAN_USER; in a progress file, set actor: or as: on the change"


def _users_hint(plan: Plan) -> str:
    ids = ", ".join(str(user["id"]) for user in plan.case.get("users", []))
    return f"users of case {plan.case.get('reference')}: {ids}"


def acting_user(plan: Plan, actor: str | None, action: str, location: Location) -> Mapping[str, Any]:
    """Return the case user `actor` names; raise `RejectedChange` when none is given or it is unknown."""
    if not actor:
        raise RejectedChange.single(location, "no-actor", f"{action}: no acting user was given",
                                    hint=f"{ACTOR_HINT} ({_users_hint(plan)})")
    user = plan.user(actor)
    if user is None:
        raise RejectedChange.single(location, "unknown-user",
                                    f"{action}: {actor!r} is not a user of case {plan.case.get('reference')}",
                                    value=actor, hint=_users_hint(plan))
    return user


def clearance(user: Mapping[str, Any]) -> int:
    """Return the user's sensitivity clearance, 1 (lowest) to 5."""
    return int(user.get("sensitivity", 1))


def require_approver(plan: Plan, user: Mapping[str, Any], action: str, location: Location, what: str = "") -> None:
    """Raise `RejectedChange` unless `user` may approve; `what` names the change when it is not `action` itself."""
    if user.get("may_approve"):
        return
    approvers = [str(u["id"]) for u in plan.case.get("users", []) if u.get("may_approve")]
    raise RejectedChange.single(
        location, "not-an-approver",
        f"{action}: {user['id']} may not approve{' ' + what if what else ''}; it needs a user who may approve",
        value=user["id"],
        hint=f"ask {' or '.join(approvers)} to do it" if approvers else "no user of this case may approve")


def require_clearance(user: Mapping[str, Any], item: PlanItem, action: str, location: Location) -> None:
    """Raise `RejectedChange` when the item's sensitivity is above the user's clearance."""
    if item.sensitivity > clearance(user):
        raise RejectedChange.single(
            location, "above-clearance",
            f"{action}: item {item.id!r} has sensitivity {item.sensitivity}, above the clearance "
            f"{clearance(user)} of {user['id']}",
            value=item.id, hint=f"ask a user with a clearance of {item.sensitivity} or more")


def check_change(plan: Plan, action: str, values: Mapping[str, Any], actor: str | None, location: Location) -> None:
    """Check that `actor` may make the change `action` with `values` to `plan`.

    Without an actor only changes that need no approval pass, and no clearance is
    checked: library callers may work on plans without users, but the workflow
    passes an acting user to every change.
    """
    milestone = plan.milestone(str(values["milestone"])) if "milestone" in values else None
    needs_approver = action in APPROVER_ACTIONS or (
        action == "milestone.waive" and milestone is not None and milestone.waiver_needs_approval)
    if actor is None and not needs_approver:
        return
    user = acting_user(plan, actor, action, location)
    if needs_approver:
        what = f"the waiver of milestone {milestone.id!r}" if action == "milestone.waive" and milestone else ""
        require_approver(plan, user, action, location, what)
    item = plan.item(str(values["item"])) if "item" in values and action != "item.add" else None
    if item is not None:
        require_clearance(user, item, action, location)


def visible_plan(plan: Plan, actor: str, location: Location) -> tuple[Plan, int]:
    """Return a copy of `plan` without the items above the clearance of `actor`, and how many were left out."""
    user = acting_user(plan, actor, "plan.show", location)
    visible = copy.deepcopy(plan)
    visible.items = [item for item in plan.items if item.sensitivity <= clearance(user)]
    return visible, len(plan.items) - len(visible.items)


def hidden_item_ids(plan: Plan, actor: str, location: Location) -> set[str]:
    """Return the ids of the items of `plan` above the clearance of `actor`."""
    user = acting_user(plan, actor, "plan.show", location)
    return {item.id for item in plan.items if item.sensitivity > clearance(user)}


def concerns_hidden_item(target: str, hidden: set[str]) -> bool:
    """Tell whether a finding's element or an event's target (``item:ID`` or ``item:ID:field``) is a hidden item."""
    kind, _, rest = target.partition(":")
    return kind == "item" and rest.split(":", 1)[0] in hidden
