"""What a case worker does, end to end: open a plan, record progress, evaluate.

Each function runs the pipeline stages in order against a `Workspace` (the
template library, the compiled rules and the store) and returns typed values;
the CLI only parses arguments and prints what these return.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .case import load_case
from .compile import Library, load_library
from .dates import add_months, parse_date
from .errors import Location, Problem, SvcplanError
from .evaluate import Evaluation, check_constraints, check_new_constraints, evaluate_plan
from .instantiate import Instantiation, PlanOptions, instantiate
from .load import load_document
from .plan import Plan
from .permissions import acting_user
from .progress import Applied, Change, apply_change
from .rules import CompiledRuleset, compile_rules
from .store import Store
from .validate import check_kind, check_schema
from .versions import (  # noqa: F401 - the lifecycle and the CLI use these through workflow
    IMPORT_PAUSE_VARIABLE, baseline_stored, clone_stored, compare_stored, export_stored, import_exports,
    take_baseline, upgrade_stored,
)

log = logging.getLogger(__name__)

AUTOMATIC_BASELINES = {"plan.submit": "submitted", "plan.approve": "approved"}
"""The baseline each lifecycle action takes, by action name."""

MAX_EXPANDED_DELIVERIES = 1000
"""Most deliveries one repeated progress entry may expand to."""


def default_library_paths() -> list[Path]:
    """Return the library folders used when none are given.

    The current folder's templates/ and rules/ when it has them (an
    administrator's template repository), else the library shipped with svcplan.
    """
    here = Path.cwd()
    if (here / "templates").is_dir() or (here / "rules").is_dir():
        return [p for p in (here / "templates", here / "rules") if p.is_dir()]
    shipped = Path(__file__).resolve().parent / "library"
    return [p for p in (shipped / "templates", shipped / "rules") if p.is_dir()]


@dataclass
class Workspace:
    """The library, rules and store that one command works with."""

    library_paths: Sequence[Path]
    store: Store | None = None
    today: date = field(default_factory=date.today)
    rule_params: Mapping[str, Any] = field(default_factory=dict)

    @cached_property
    def library(self) -> Library:
        library = load_library(self.library_paths)
        if library.errors:
            raise SvcplanError(library.errors)
        return library

    @cached_property
    def rulesets(self) -> list[CompiledRuleset]:
        rulesets = compile_rules(self.library.rule_documents, params=self.rule_params)
        if not rulesets:
            raise SvcplanError.single(
                Location(", ".join(str(p) for p in self.library_paths)), "no-rules",
                "the library has no rules files, so nothing could be evaluated",
                hint="add the rules/ folder to --library",
            )
        return rulesets

    def require_store(self) -> Store:
        if self.store is None:
            raise SvcplanError.single(Location("command line"), "no-store", "this command needs a plan database",
                                      hint="give --db PATH or set SVCPLAN_DB")
        return self.store


def template_reference(text: str) -> tuple[str, int | None]:
    """Split ``id`` or ``id@version`` into its parts."""
    template_id, _, version = text.partition("@")
    if not version:
        return template_id, None
    if not version.isdigit():
        raise SvcplanError.single(Location("command line (--template)"), "invalid-template-version",
                                  f"{text!r}: the version after @ must be a whole number", value=text,
                                  hint="write the template as ID or ID@VERSION, e.g. foster-care-case-plan@1")
    return template_id, int(version)


def preview_plan(workspace: Workspace, template: str, case_path: Path, options: PlanOptions) -> Instantiation:
    """Make a plan in memory and check its constraints, storing nothing."""
    template_id, version = template_reference(template)
    case = load_case(case_path)
    made = instantiate(workspace.library.template(template_id, version), case, options)
    check_constraints(made.plan, workspace.today, workspace.rulesets, Location(str(case_path)))
    return made


def open_plan(
    workspace: Workspace, template: str, case_path: Path, options: PlanOptions, *, actor: str | None
) -> Instantiation:
    """Make a plan for a case, check it against the rules and store it; `actor` must be a user of the case."""
    made = preview_plan(workspace, template, case_path, options)
    user = acting_user(made.plan, actor, "plan.new", Location("command line (--as)"))
    stored = workspace.require_store().create_plan(made.plan, actor=str(user["id"]))
    return Instantiation(stored, made.notices)


def change_plan(workspace: Workspace, plan_id: int, changes: Sequence[Change], *, actor: str | None) -> tuple[Plan, list[Applied]]:
    """Apply changes to a stored plan, all or none, and store the result with its events.

    Every change is checked on its own and the plan is checked against the rules
    after each one, so the rejection names the change that broke a rule. Each
    change needs an acting user: its own (`Change.actor`) or `actor`. Changes
    that change nothing are left out; when none is left, nothing is stored and
    the returned list is empty.
    """
    store = workspace.require_store()
    plan = store.load_plan(plan_id)
    version = plan.version
    if not changes:
        return plan, []
    applied: list[Applied] = []
    actors: list[str] = []
    for change in changes:
        acting = str(acting_user(plan, change.actor or actor, change.action, change.location)["id"])
        before = plan
        plan, done = apply_change(plan, change, today=workspace.today, actor=acting,
                                  item_types=workspace.library.item_types)
        check_new_constraints(before, plan, workspace.today, workspace.rulesets, change.location)
        if not (done.before or done.after):
            # Recording what is already recorded changes nothing and leaves no event.
            continue
        applied.append(done)
        actors.append(acting)
    if not applied:
        return plan, []
    # One save for all the changes, so a progress file is stored whole or not at
    # all, each event with its own author.
    saved = store.save_plan(plan, expected_version=version, actor=actors[-1] if actors else (actor or ""),
                            events=applied, actors=actors)
    # Submission and approval take a baseline automatically.
    # NOTE: the baseline shows the plan after the whole save, so when a progress
    # file goes on changing the plan after submitting or approving it, the
    # baseline includes those later changes too.
    for done, acting in zip(applied, actors):
        name = AUTOMATIC_BASELINES.get(done.action)
        if name is not None:
            take_baseline(store, saved, name, actor=acting, automatic=True)
        if done.action == "plan.submit" and done.after.get("status") == "approved":
            take_baseline(store, saved, AUTOMATIC_BASELINES["plan.approve"], actor=acting, automatic=True)
    return saved, applied


def evaluate_stored(workspace: Workspace, plan_id: int, as_of: date) -> Evaluation:
    plan = workspace.require_store().load_plan(plan_id)
    return evaluate_plan(plan, as_of, workspace.rulesets)


# --- progress files ------------------------------------------------------------


def _repeat_dates(first: date, until: date, every: str) -> list[date]:
    days: list[date] = []
    step = 0
    while True:
        if every == "month":
            day = add_months(first, step)
        else:
            day = first + timedelta(days=step * (7 if every == "week" else 1))
        if day > until or len(days) > MAX_EXPANDED_DELIVERIES:
            return days
        days.append(day)
        step += 1


def load_progress(path: Path) -> tuple[str | None, list[Change]]:
    """Read a progress file into its actor and its changes, in order.

    A delivery with ``every`` and ``until`` stands for one delivery on each
    interval from ``on`` to ``until``, both included. A change with ``as``
    names the user who makes it (`Change.actor`), in place of the file's actor.
    """
    document = load_document(path)
    problems: list[Problem] = list(check_kind(document, ("progress",))) or check_schema(document, "progress")
    if problems:
        raise SvcplanError(problems)
    changes: list[Change] = []
    for index, entry in enumerate(document.data["changes"]):
        location = document.location(("changes", index))
        values = {key: value for key, value in entry.items() if key not in ("do", "every", "until", "as")}
        entry_actor = entry.get("as")
        if "every" in entry or "until" in entry:
            first, until = parse_date(entry.get("on")), parse_date(entry.get("until"))
            if entry["do"] != "item.deliver" or first is None or until is None or "every" not in entry:
                raise SvcplanError.single(location, "invalid-repeat",
                                          "every and until go together, on item.deliver, with a real on date",
                                          hint="write do: item.deliver, on: FIRST, every: week, until: LAST")
            if until < first:
                raise SvcplanError.single(document.location(("changes", index, "until")), "until-before-on",
                                          f"until {until} is before on {first}, so the entry records nothing",
                                          value=entry.get("until"), hint="give an until date on or after on")
            dates = _repeat_dates(first, until, entry["every"])
            if len(dates) > MAX_EXPANDED_DELIVERIES:
                raise SvcplanError.single(location, "too-many-deliveries",
                                          f"the entry expands to {len(dates)} deliveries; at most {MAX_EXPANDED_DELIVERIES}",
                                          hint="record the deliveries in larger counts or shorter spans")
            changes.extend(Change("item.deliver", {**values, "on": day.isoformat()}, location, entry_actor)
                           for day in dates)
            continue
        changes.append(Change(entry["do"], values, location, entry_actor))
    return document.data.get("actor"), changes


def library_problems(paths: Iterable[Path], params: Mapping[str, Any] | None = None) -> list[Problem]:
    """Return every problem of a template repository: files, schemas, meaning and rules."""
    library = load_library(list(paths))
    problems = list(library.problems)
    try:
        compile_rules(library.rule_documents, params=params or {})
    except SvcplanError as error:
        problems.extend(error.problems)
    return problems

