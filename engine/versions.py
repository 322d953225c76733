"""Workflows for a plan's versions: template upgrades, baselines, clones, export and import.

These run the stages for the `svcplan plan upgrade|baseline|baselines|compare|
clone|export|import` commands against a `Workspace`, as `workflow` does for the
others; `workflow` re-exports them.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from .baseline import Comparison, compare_stored as _compare_stored, take_baseline
from .errors import Location, SvcplanError
from .evaluate import check_new_constraints
from .export import export_text, read_exports
from .permissions import acting_user
from .plan import Plan
from .store import Baseline, PlanRecord
from .upgrade import Upgrade, check_clearance, prepare_upgrade

if TYPE_CHECKING:
    from .workflow import Workspace

log = logging.getLogger(__name__)

IMPORT_PAUSE_VARIABLE = "SVCPLAN_IMPORT_PAUSE_SECONDS"
"""Seconds an import waits after each plan, inside its transaction; for tests that stop an import midway."""

__all__ = ["IMPORT_PAUSE_VARIABLE", "baseline_stored", "clone_stored", "compare_stored", "export_stored",
           "import_exports", "take_baseline", "upgrade_stored"]


def upgrade_stored(workspace: Workspace, plan_id: int, to_version: int, *, apply: bool, drop_progress: bool,
                   actor: str | None) -> tuple[Upgrade, Plan | None]:
    """Work out what moving a stored plan to template version `to_version` changes, and store it when `apply`.

    Storing needs an acting user of the case whose clearance covers every item the
    upgrade adds, removes or changes. A dry run checks the same when given `actor`,
    and checks the membership rules either way, so it shows a rejection too. As
    for any change, only broken rules the plan did not have before block the
    upgrade. Returns the upgrade and, when applied, the stored plan.
    """
    store = workspace.require_store()
    plan = store.load_plan(plan_id)
    where = Location(f"plan {plan_id}")
    library = workspace.library
    template = library.template(plan.template_id, to_version)
    try:
        previous = library.template(plan.template_id, plan.template_version)
    except SvcplanError:
        previous = None
    upgrade = prepare_upgrade(plan, template, previous, drop_progress=drop_progress)
    user = acting_user(plan, actor, "plan.upgrade", where) if apply or actor else None
    if user is not None:
        check_clearance(upgrade, user)
    check_new_constraints(plan, upgrade.upgraded, workspace.today, workspace.rulesets, where)
    if not apply:
        return upgrade, None
    assert user is not None
    saved = store.save_plan(upgrade.upgraded, expected_version=plan.version, actor=str(user["id"]),
                            events=[upgrade.event()])
    log.info("upgraded plan %d from template %s v%d to v%d, dropping progress of %d elements", plan_id,
             plan.template_id, plan.template_version, to_version, len(upgrade.dropped))
    return upgrade, saved


def baseline_stored(workspace: Workspace, plan_id: int, name: str, *, actor: str | None) -> Baseline:
    """Take a manual baseline of a stored plan as it is now."""
    store = workspace.require_store()
    plan = store.load_plan(plan_id)
    return take_baseline(store, plan, name, actor=actor or plan.case_worker)


def compare_stored(workspace: Workspace, plan_id: int, first: str, second: str | None = None) -> Comparison:
    """Compare baseline `first` of a stored plan with baseline `second`, or with the live plan."""
    return _compare_stored(workspace.require_store(), plan_id, first, second)


def clone_stored(workspace: Workspace, plan_id: int, *, actor: str | None) -> tuple[Plan, Plan]:
    """Clone a stored plan into a new plan of its series and close it; return the old and the new plan."""
    store = workspace.require_store()
    plan = store.load_plan(plan_id)
    return store.clone_plan(plan_id, actor=actor or plan.case_worker, expected_version=plan.version)


def export_stored(workspace: Workspace, plan_id: int) -> str:
    """Return the export document of a stored plan, with its events and baselines, as JSON text."""
    return export_text(workspace.require_store().plan_record(plan_id))


def import_exports(
    workspace: Workspace, path: Path, *, new_ids: bool, records: Sequence[PlanRecord] | None = None
) -> list[int]:
    """Import every plan in an export file, a JSON array of exports or a folder of them, in one transaction.

    A plan keeps its id when it is free. A taken id rejects the whole import unless
    `new_ids` is true, and then that plan gets the next free id. Returns the ids stored.
    `records` are the exports already read from `path`, when the caller read them
    first (so that a bad file is reported before any store is opened).
    """
    records = list(records) if records is not None else read_exports(path)
    raw_pause = os.environ.get(IMPORT_PAUSE_VARIABLE, "")
    try:
        pause = float(raw_pause) if raw_pause else 0.0
    except ValueError:
        raise SvcplanError.single(Location(IMPORT_PAUSE_VARIABLE), "invalid-setting",
                                  f"{IMPORT_PAUSE_VARIABLE}={raw_pause!r} is not a number of seconds",
                                  hint=f"unset {IMPORT_PAUSE_VARIABLE}; only tests set it") from None
    return workspace.require_store().import_records(records, new_ids=new_ids, pause_seconds=pause)
