"""The svcplan command line: parses arguments, calls the engine, prints what it returns.

Exit status: 0 on success, and 1 when input has problems or a change is rejected.
2 means svcplan could not run: a bad option, or a file or database it cannot read.
3 is an internal error, which is a bug in svcplan, and 130 an interrupted command.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any, Callable, Sequence


from svcplan import __version__
from svcplan.dates import parse_date
from svcplan.errors import Location, RejectedChange, SvcplanError
from svcplan.permissions import concerns_hidden_item, hidden_item_ids, visible_plan
from svcplan.export import read_exports
from svcplan.instantiate import PlanOptions
from svcplan.load import parse_text
from svcplan.progress import Change
from svcplan import report
from svcplan.store import default_target, open_store
from svcplan.validate import SCHEMA_NAMES, schema_text
from svcplan.workflow import (
    Workspace,
    change_plan,
    default_library_paths,
    evaluate_stored,
    library_problems,
    load_progress,
    open_plan,
    preview_plan,
)
from svcplan.compile import load_library
from svcplan.lint import validate_paths
from svcplan.publish import LOCK_NAME, publish
from svcplan import reporters
from svcplan.baseline import comparison_text
from svcplan.workflow import (
    baseline_stored, clone_stored, compare_stored, export_stored, import_exports, upgrade_stored,
)

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_BUG = 0, 1, 2, 3

log = logging.getLogger("svcplan.cli")


class UsageError(Exception):
    """A command line that cannot be carried out as given."""


def _date_argument(text: str) -> date:
    day = parse_date(text)
    if day is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a real date; write YYYY-MM-DD")
    return day


def _plan_id(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a plan id; plan ids are whole numbers (see 'svcplan plan list')")
    return int(text)


def _param(text: str) -> tuple[str, Any]:
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"{text!r}: write a rule parameter as NAME=VALUE, e.g. due_soon_days=14")
    try:
        return name, parse_text(value, "command line (--param)").data
    except SvcplanError:
        raise argparse.ArgumentTypeError(f"{text!r}: the value after = is missing or not a plain value") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="svcplan",
        description="Service plans for social-services agencies: YAML templates, client plans, and rules that flag "
                    "what is overdue.",
    )
    parser.add_argument("--version", action="version", version=f"svcplan {__version__}")
    parser.add_argument("--db", metavar="TARGET",
                        help="plan database: a SQLite file path or a postgresql:// URL "
                             "(default: $SVCPLAN_DB, else ./svcplan.db)")
    parser.add_argument("--library", metavar="DIR", action="append", type=Path,
                        help="template library folder, repeatable (default: ./templates and ./rules)")
    parser.add_argument("--today", metavar="DATE", type=_date_argument,
                        help="the date taken as today: actual dates after it are rejected "
                             "(default: $SVCPLAN_TODAY, else the system date)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log progress to standard error")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    validate = commands.add_parser(
        "validate", help="check templates, item types and rules files",
        description="Check templates, item types and rules files: YAML, schema, meaning across files and "
                    "published versions. Exit status: 0 when clean, 1 when a problem was found, 2 when the "
                    "check could not run.")
    validate.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                          help="files or folders to check (default: the --library folders, else ./templates and ./rules)")
    validate.add_argument("--format", choices=sorted(reporters.REPORTERS), default=None,
                          help="output format (default: github when GITHUB_ACTIONS=true, else text)")
    validate.add_argument("--strict", action="store_true", help="fail on warnings too")
    validate.add_argument("--in-library", action="store_true",
                          help="load the whole library (the --library folders, by default ./templates and ./rules) "
                               "with the PATHs, so that they can use item types defined elsewhere, and report only "
                               "on the PATHs; the pre-commit hook uses this")
    validate.add_argument("--no-source", dest="source", action="store_false",
                          help="in the text report, do not show the source line under each problem")
    validate.set_defaults(handler=cmd_validate)

    schema = commands.add_parser("schema", help="print a JSON Schema of the template language")
    schema.add_argument("name", nargs="?", choices=SCHEMA_NAMES, default="plan-template")
    schema.set_defaults(handler=cmd_schema)

    template = commands.add_parser("template", help="list and preview templates").add_subparsers(
        dest="template_command", metavar="ACTION", required=True)
    listing = template.add_parser("list", help="list the library's templates")
    listing.set_defaults(handler=cmd_template_list)
    publish = template.add_parser(
        "publish", help="record the library's template versions and their content hashes in published.lock",
        description="Record each template version with the SHA-256 of its content, so that validate reports a "
                    "published version whose content changes. Nothing is written when the library has errors.")
    publish.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                         help="library files or folders (default: the --library folders, else ./templates and ./rules)")
    publish.add_argument("--lock", type=Path, metavar="FILE",
                         help="the lock file to write (default: published.lock in the first PATH folder)")
    publish.set_defaults(handler=cmd_template_publish)
    preview = template.add_parser("preview", help="show the plan a template makes for a case, storing nothing")
    preview.add_argument("template", metavar="TEMPLATE[@VERSION]")
    _plan_options(preview)
    preview.add_argument("--format", choices=("text", "json"), default="text")
    preview.set_defaults(handler=cmd_template_preview)

    plan = commands.add_parser("plan", help="open, show and change plans").add_subparsers(
        dest="plan_command", metavar="ACTION", required=True)
    new = plan.add_parser("new", help="open a plan for a case from a template")
    new.add_argument("--template", required=True, metavar="TEMPLATE[@VERSION]",
                     help="template id, with @VERSION for a version other than the latest")
    _plan_options(new)
    _actor(new)
    new.set_defaults(handler=cmd_plan_new)
    plan.add_parser("list", help="list stored plans").set_defaults(handler=cmd_plan_list)
    show = plan.add_parser("show", help="show a plan")
    show.add_argument("plan", type=_plan_id)
    show.add_argument("--format", choices=("text", "json"), default="text")
    show.add_argument("--as", dest="actor", metavar="USER",
                      help="show only the items this user's sensitivity clearance allows (default: $SVCPLAN_USER, "
                           "else every item)")
    show.set_defaults(handler=cmd_plan_show)
    history = plan.add_parser("history", help="show every recorded change of a plan")
    history.add_argument("plan", type=_plan_id)
    history.add_argument("--format", choices=("text", "json"), default="text")
    _viewer(history)
    history.set_defaults(handler=cmd_plan_history)
    apply = plan.add_parser("apply", help="record the changes of a progress file, all or none")
    apply.add_argument("plan", type=_plan_id)
    apply.add_argument("file", type=Path)
    _actor(apply)
    apply.set_defaults(handler=cmd_plan_apply)
    _plan_version_commands(plan)

    item = commands.add_parser("item", help="record progress on a plan item").add_subparsers(
        dest="item_command", metavar="ACTION", required=True)
    _change(item, "start", "record the actual start", dated=True)
    complete = _change(item, "complete", "record the actual end", dated=True)
    complete.add_argument("--outcome", choices=("attained", "not-attained", "cancelled"))
    complete.add_argument("--good-cause", action="store_true", help="with not-attained: there was good cause")
    outcome = _change(item, "outcome", "record the outcome")
    outcome.add_argument("outcome", choices=("attained", "not-attained", "cancelled"))
    outcome.add_argument("--good-cause", action="store_true")
    cost = _change(item, "cost", "record the actual or estimated cost")
    cost.add_argument("--actual", type=float, metavar="AMOUNT", help="actual cost, in the plan's currency")
    cost.add_argument("--estimated", type=float, metavar="AMOUNT", help="estimated cost, in the plan's currency")
    deliver = _change(item, "deliver", "record units delivered", dated=True)
    deliver.add_argument("--units", type=float, required=True, help="number of units (hours, sessions...) delivered")
    attribute = _change(item, "attribute", "set an extra attribute the item type declares")
    attribute.add_argument("name")
    attribute.add_argument("value", help="the value, read as YAML (so 12 is a number and \"12\" a text)")
    assign = _change(item, "assign", "change who owns, is responsible for or is concerned by an item")
    assign.add_argument("--owner", metavar="PERSON")
    assign.add_argument("--responsibility", metavar="PERSON")
    assign.add_argument("--concerning", metavar="PERSON")

    milestone = commands.add_parser("milestone", help="record progress on a milestone").add_subparsers(
        dest="milestone_command", metavar="ACTION", required=True)
    for action, text in (("start", "record the actual start"), ("complete", "record the actual end")):
        _change(milestone, action, text, dated=True, target="milestone")
    _change(milestone, "waive", "waive the milestone", target="milestone")

    participant = commands.add_parser("participant", help="add or remove plan participants").add_subparsers(
        dest="participant_command", metavar="ACTION", required=True)
    add = _change(participant, "add", "add a case participant to the plan", target="person")
    add.add_argument("--role", choices=("plan-participant", "nominated-representative", "correspondent"),
                     default="plan-participant")
    add.add_argument("--represents", metavar="PERSON", help="with nominated-representative: whom they act for")
    _change(participant, "remove", "remove a participant from the plan", target="person")
    _lifecycle_commands(commands, plan, item, milestone)

    evaluate = commands.add_parser("evaluate", help="run the rules on a plan as of a date; never writes")
    evaluate.add_argument("plans", nargs="*", type=_plan_id, metavar="PLAN", help="plan ids (default: every plan)")
    evaluate.add_argument("--as-of", type=_date_argument, metavar="DATE", help="evaluation date (default: today)")
    evaluate.add_argument("--format", choices=("text", "json"), default="text")
    _viewer(evaluate)
    evaluate.add_argument("--param", type=_param, action="append", default=[], metavar="NAME=VALUE",
                          help="override a rule parameter, e.g. due_soon_days=14")
    evaluate.add_argument("--due-soon-days", type=int, metavar="DAYS",
                          help="window of the due-soon rules, in days (the same as --param due_soon_days=DAYS)")
    evaluate.set_defaults(handler=cmd_evaluate)
    return parser


def _plan_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--case", required=True, type=Path, metavar="FILE", help="the case file")
    parser.add_argument("--include", action="append", default=[], metavar="ID",
                        help="add an optional item, sub-goal or group of the template (repeatable)")
    parser.add_argument("--exclude", action="append", default=[], metavar="ID",
                        help="leave out an item that is not mandatory (repeatable)")
    parser.add_argument("--participant", action="append", default=[], metavar="PERSON",
                        help="add a case participant to the plan beyond the case file's list (repeatable)")


def _viewer(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--as", dest="actor", metavar="USER",
                        help="show only what this user's sensitivity clearance allows "
                             "(default: $SVCPLAN_USER, else everything)")


def _actor(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--as", dest="actor", metavar="USER",
                        help="the user making the change: one of the case's users, recorded in the plan's history "
                             "(default: $SVCPLAN_USER; one of the two is required)")


def _change(
    subparsers: Any, action: str, help_text: str, *, dated: bool = False, target: str = "item"
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(action, help=help_text)
    parser.add_argument("plan", type=_plan_id)
    parser.add_argument(target, metavar=target.upper())
    if dated:
        parser.add_argument("--on", required=True, metavar="DATE", help="the date it happened, YYYY-MM-DD")
    _actor(parser)
    parser.set_defaults(handler=cmd_change, change_target=target)
    return parser


# --- handlers -------------------------------------------------------------------


def _library_paths(args: argparse.Namespace) -> list[Path]:
    return list(args.library) if args.library else default_library_paths()


def _today(args: argparse.Namespace) -> date:
    if args.today:
        return args.today
    text = os.environ.get("SVCPLAN_TODAY")
    if not text:
        return date.today()
    day = parse_date(text)
    if day is None:
        raise UsageError(f"SVCPLAN_TODAY={text!r} is not a real date; write YYYY-MM-DD or unset it")
    return day


def _workspace(
    args: argparse.Namespace, *, store: bool, params: dict[str, Any] | None = None, create: bool = False
) -> Workspace:
    """Return the workspace of a command; only commands that add plans may create a new store.

    Every other command rejects a target without a svcplan store (`store-not-found`),
    an SQLite file or a PostgreSQL database alike, and leaves it unchanged.
    """
    workspace = Workspace(_library_paths(args), today=_today(args), rule_params=params or {})
    if store:
        workspace.store = open_store(default_target(args.db), create=create)
    return workspace


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _actor_of(args: argparse.Namespace) -> str | None:
    return args.actor or os.environ.get("SVCPLAN_USER") or None


def _existing_paths(paths: Sequence[Path]) -> list[Path]:
    for path in paths:
        if not path.exists():
            raise UsageError(f"{path}: no such file or folder; give a template file or a folder of them")
        if not os.access(path, os.R_OK | (os.X_OK if path.is_dir() else 0)):
            raise UsageError(f"{path}: permission denied; svcplan needs to read it")
    return list(paths)


def cmd_validate(args: argparse.Namespace) -> int:
    if args.in_library and not args.paths:
        raise UsageError("--in-library checks the files given: name at least one PATH")
    paths = _existing_paths(args.paths or _library_paths(args))
    library = _existing_paths(_library_paths(args)) if args.in_library else []
    result = validate_paths(paths, library_paths=library, strict=args.strict)
    options = reporters.ReportOptions(colour=reporters.use_colour(sys.stdout), source=args.source)
    _out(reporters.render(args.format or reporters.default_format(), result, options))
    return EXIT_PROBLEMS if result.failed else EXIT_OK


def cmd_template_publish(args: argparse.Namespace) -> int:
    paths = _existing_paths(args.paths or _library_paths(args))
    lock = args.lock or (paths[0] if paths[0].is_dir() else paths[0].parent) / LOCK_NAME
    library = load_library(paths)
    if library.errors:
        sys.stderr.write(report.problems_text(library.errors) + "\nnothing was published: fix the errors first\n")
        return EXIT_PROBLEMS
    result = publish(library, lock)
    if result.problems:
        sys.stderr.write(report.problems_text(result.problems) + f"\nnothing was published; {lock} is unchanged\n")
        return EXIT_PROBLEMS
    for entry in result.added:
        _out(f"published {entry.template_id}@{entry.version} (sha256 {entry.sha256[:12]})")
    _out(f"{lock}: {len(result.added)} version{'s' if len(result.added) != 1 else ''} added, "
         f"{len(result.unchanged)} already published")
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    _out(schema_text(args.name).rstrip("\n"))
    return EXIT_OK


def cmd_template_list(args: argparse.Namespace) -> int:
    library = _workspace(args, store=False).library
    for template_id in sorted(library.templates):
        for version, template in sorted(library.templates[template_id].items()):
            _out(f"{template_id}@{version}  {template.name} ({template.service_plan_type})  {template.location.file}")
    return EXIT_OK


def _options(args: argparse.Namespace) -> PlanOptions:
    return PlanOptions(include=frozenset(args.include), exclude=frozenset(args.exclude),
                       extra_participants=tuple(args.participant))


def _notices(notices: Sequence[Any]) -> None:
    if notices:
        sys.stderr.write(report.problems_text(list(notices)) + "\n")


def cmd_template_preview(args: argparse.Namespace) -> int:
    made = preview_plan(_workspace(args, store=False), args.template, args.case, _options(args))
    _notices(made.notices)
    _out(json.dumps(made.plan.to_dict(), indent=2) if args.format == "json" else report.plan_text(made.plan))
    return EXIT_OK


def cmd_plan_new(args: argparse.Namespace) -> int:
    workspace = _workspace(args, store=True, create=True)
    made = open_plan(workspace, args.template, args.case, _options(args), actor=_actor_of(args))
    _notices(made.notices)
    _out(f"opened plan {made.plan.id}: {made.plan.name} for case {made.plan.case.get('reference')} "
         f"({len(made.plan.items)} items, {len(made.plan.milestones)} milestones)")
    return EXIT_OK


def cmd_plan_list(args: argparse.Namespace) -> int:
    _out(report.plans_text(_workspace(args, store=True).require_store().list_plans()))
    return EXIT_OK


def cmd_plan_show(args: argparse.Namespace) -> int:
    plan = _workspace(args, store=True).require_store().load_plan(args.plan)
    viewer = _actor_of(args)
    hidden = 0
    if viewer is not None:
        plan, hidden = visible_plan(plan, viewer, Location("command line (--as)"))
    if args.format == "json":
        _out(json.dumps({**plan.to_dict(), **({"hidden_items": hidden} if viewer else {})}, indent=2))
        return EXIT_OK
    _out(report.plan_text(plan))
    for agreement in plan.agreements:
        _out(f"  agreement {agreement.number}: {agreement.status}, issued {agreement.issued_on}"
             + (f", {agreement.status} {agreement.decided_on}" if agreement.decided_on else ""))
    if hidden:
        _out(f"  {hidden} item{'s are' if hidden != 1 else ' is'} hidden: above the sensitivity clearance of {viewer}")
    return EXIT_OK


def cmd_plan_history(args: argparse.Namespace) -> int:
    store = _workspace(args, store=True).require_store()
    events = store.history(args.plan)
    viewer = _actor_of(args)
    if viewer is not None:
        hidden = hidden_item_ids(store.load_plan(args.plan), viewer, Location("command line (--as)"))
        events = [event for event in events if not concerns_hidden_item(event.target, hidden)]
    if args.format == "json":
        _out(json.dumps([{"seq": e.seq, "at": e.at.isoformat(), "actor": e.actor, "action": e.action,
                          "target": e.target, "before": e.before, "after": e.after} for e in events], indent=2))
    else:
        _out(report.history_text(events))
    return EXIT_OK


def cmd_plan_apply(args: argparse.Namespace) -> int:
    actor, changes = load_progress(args.file)
    workspace = _workspace(args, store=True)
    plan, applied = change_plan(workspace, args.plan, changes, actor=_actor_of(args) or actor)
    _out(f"plan {plan.id}: recorded {len(applied)} changes from {args.file} (version {plan.version})")
    return EXIT_OK


def cmd_change(args: argparse.Namespace) -> int:
    group = args.command
    action = getattr(args, f"{group}_command")
    values: dict[str, Any] = {args.change_target: getattr(args, args.change_target)}
    for key in ("on", "outcome", "actual", "estimated", "units", "name", "owner", "responsibility", "concerning",
                "role", "represents"):
        if getattr(args, key, None) is not None:
            values[key] = getattr(args, key)
    if getattr(args, "good_cause", False):
        values["good_cause"] = True
    if action == "attribute":
        try:
            values["value"] = parse_text(args.value, "command line (VALUE)").data
        except SvcplanError:
            values["value"] = args.value
    change = Change(f"{group}.{action}", values)
    workspace = _workspace(args, store=True)
    plan, applied = change_plan(workspace, args.plan, [change], actor=_actor_of(args))
    if not applied:
        _out(f"plan {plan.id}: {change.action} {change.target} is already recorded; nothing changed "
             f"(version {plan.version})")
        return EXIT_OK
    _out(f"plan {plan.id}: {change.action} {change.target} recorded (version {plan.version})")
    return EXIT_OK


def cmd_evaluate(args: argparse.Namespace) -> int:
    params = dict(args.param)
    if args.due_soon_days is not None:
        params["due_soon_days"] = args.due_soon_days
    workspace = _workspace(args, store=True, params=params)
    store = workspace.require_store()
    as_of = args.as_of or workspace.today
    plan_ids = args.plans or [summary.id for summary in store.list_plans()]
    results = []
    viewer = _actor_of(args)
    for plan_id in plan_ids:
        evaluation = evaluate_stored(workspace, plan_id, as_of)
        plan = store.load_plan(plan_id)
        hidden_count = 0
        if viewer is not None:
            hidden = hidden_item_ids(plan, viewer, Location("command line (--as)"))
            shown = tuple(f for f in evaluation.findings if not concerns_hidden_item(f.element, hidden))
            hidden_count = len(evaluation.findings) - len(shown)
            evaluation = replace(evaluation, findings=shown)
        results.append(evaluation)
        if args.format == "text":
            _out(report.evaluation_text(evaluation, plan, colour=report.use_colour(sys.stdout)))
            if hidden_count:
                _out(f"  {hidden_count} finding{'s are' if hidden_count != 1 else ' is'} hidden: "
                     f"about items above the sensitivity clearance of {viewer}")
    if args.format == "json":
        _out(json.dumps([evaluation.to_dict() for evaluation in results], indent=2))
    return EXIT_OK


# --- template upgrades, baselines, clones, export and import ----------------------


def _plan_version_commands(plan: Any) -> None:
    upgrade = plan.add_parser(
        "upgrade", help="move a plan to another version of its template, keeping recorded progress",
        description="Show what the template version would add, remove or change in the plan; store it only with "
                    "--yes. Progress recorded on items and milestones that stay is kept.")
    upgrade.add_argument("plan", type=_plan_id)
    upgrade.add_argument("--to", dest="to_version", type=int, required=True, metavar="VERSION",
                         help="the template version to move to")
    upgrade.add_argument("--yes", action="store_true", help="store the upgrade (without it, only show the changes)")
    upgrade.add_argument("--drop-progress", action="store_true",
                         help="allow removing items and milestones that have recorded progress")
    upgrade.add_argument("--format", choices=("text", "json"), default="text")
    _actor(upgrade)
    upgrade.set_defaults(handler=cmd_plan_upgrade)

    baseline = plan.add_parser("baseline", help="take a named snapshot (baseline) of a plan")
    baseline.add_argument("plan", type=_plan_id)
    baseline.add_argument("name", help="the baseline's name, unique within the plan")
    _actor(baseline)
    baseline.set_defaults(handler=cmd_plan_baseline)

    baselines = plan.add_parser("baselines", help="list a plan's baselines")
    baselines.add_argument("plan", type=_plan_id)
    baselines.set_defaults(handler=cmd_plan_baselines)

    compare = plan.add_parser("compare", help="compare a baseline with another baseline or with the live plan")
    compare.add_argument("plan", type=_plan_id)
    compare.add_argument("baseline", metavar="BASELINE")
    compare.add_argument("other", nargs="?", metavar="BASELINE2", help="(default: the live plan)")
    compare.add_argument("--format", choices=("text", "json"), default="text")
    compare.set_defaults(handler=cmd_plan_compare)

    clone = plan.add_parser("clone", help="copy a plan into a new version of it and close the old one")
    clone.add_argument("plan", type=_plan_id)
    _actor(clone)
    clone.set_defaults(handler=cmd_plan_clone)

    export = plan.add_parser("export", help="print a plan with its history and baselines as JSON")
    export.add_argument("plan", type=_plan_id)
    export.set_defaults(handler=cmd_plan_export)

    load = plan.add_parser(
        "import", help="store plans from export files, all in one transaction",
        description="Read one export, a JSON array of exports or a folder of *.json exports, and store them all or "
                    "none. A plan keeps its id when it is free; a taken id fails the import unless --new-id.")
    load.add_argument("file", type=Path, metavar="FILE|FOLDER")
    load.add_argument("--new-id", action="store_true", help="give a plan whose id is taken the next free id")
    load.set_defaults(handler=cmd_plan_import)


def cmd_plan_upgrade(args: argparse.Namespace) -> int:
    workspace = _workspace(args, store=True)
    upgrade, saved = upgrade_stored(workspace, args.plan, args.to_version, apply=args.yes,
                                    drop_progress=args.drop_progress, actor=_actor_of(args))
    if args.format == "json":
        _out(json.dumps({**upgrade.comparison.to_dict(), "stored": saved is not None,
                         "dropped_progress": [d.__dict__ for d in upgrade.dropped]}, indent=2))
        return EXIT_OK
    _out(comparison_text(upgrade.comparison))
    for dropped in upgrade.dropped:
        _out(f"drops progress of {dropped.kind} {dropped.id}: {json.dumps(dict(dropped.progress))}")
    if saved is None:
        _out("nothing was stored; run again with --yes to upgrade the plan")
    else:
        _out(f"plan {saved.id}: now template {saved.template_id} version {saved.template_version} "
             f"(plan version {saved.version})")
    return EXIT_OK


def cmd_plan_baseline(args: argparse.Namespace) -> int:
    taken = baseline_stored(_workspace(args, store=True), args.plan, args.name, actor=_actor_of(args))
    _out(f"plan {taken.plan_id}: baseline {taken.name!r} taken of version {taken.plan_version}")
    return EXIT_OK


def cmd_plan_baselines(args: argparse.Namespace) -> int:
    found = _workspace(args, store=True).require_store().baselines(args.plan)
    for baseline in found:
        kind = "automatic" if baseline.automatic else "manual"
        _out(f"{baseline.name:<24} version {baseline.plan_version:<4} {baseline.taken_at:%Y-%m-%d %H:%M:%S} UTC  "
             f"{baseline.taken_by} ({kind})")
    if not found:
        _out(f"plan {args.plan} has no baselines")
    return EXIT_OK


def cmd_plan_compare(args: argparse.Namespace) -> int:
    comparison = compare_stored(_workspace(args, store=True), args.plan, args.baseline, args.other)
    _out(json.dumps(comparison.to_dict(), indent=2) if args.format == "json" else comparison_text(comparison))
    return EXIT_OK


def cmd_plan_clone(args: argparse.Namespace) -> int:
    old, new = clone_stored(_workspace(args, store=True), args.plan, actor=_actor_of(args))
    _out(f"plan {new.id} is a new version of plan {old.id}, which is now closed")
    return EXIT_OK


def cmd_plan_export(args: argparse.Namespace) -> int:
    sys.stdout.write(export_stored(_workspace(args, store=True), args.plan))
    return EXIT_OK


def cmd_plan_import(args: argparse.Namespace) -> int:
    records = read_exports(args.file)  # before the store opens, so a bad file creates no database
    stored = import_exports(_workspace(args, store=True, create=True), args.file, new_ids=args.new_id,
                            records=records)
    _out(f"imported {len(stored)} plan{'s' if len(stored) != 1 else ''}: {', '.join(map(str, stored))}")
    return EXIT_OK


# --- lifecycles and editing ------------------------------------------------------------


def _action(subparsers: Any, name: str, action: str, help_text: str, target: str | None = None,
            target_help: str | None = None) -> argparse.ArgumentParser:
    """Add a command that makes the `Change` `action`; `cmd_action` passes every option whose dest is set."""
    parser = subparsers.add_parser(name, help=help_text)
    parser.add_argument("plan", type=_plan_id)
    if target is not None:
        parser.add_argument(target, metavar=target.upper(), help=target_help)
    _actor(parser)
    parser.set_defaults(handler=cmd_action, change_action=action, change_target=target)
    return parser


def _dated(parser: argparse.ArgumentParser, what: str = "it happened") -> None:
    parser.add_argument("--on", metavar="DATE", help=f"the date {what}, YYYY-MM-DD (default: today)")


def _reason(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", help="why, recorded in the plan's history")


def _lifecycle_commands(commands: Any, plan: Any, item: Any, milestone: Any) -> None:
    for name, text in (("submit", "submit an open plan for approval (a user who may approve approves it at once)"),
                       ("approve", "approve a submitted plan and its items awaiting approval"),
                       ("reject", "return a submitted plan to open"),
                       ("activate", "record the client's acceptance of the outstanding agreement"),
                       ("close", "close the plan; it stays readable and changes no more")):
        parser = _action(plan, name, f"plan.{name}", text)
        _reason(parser)
        if name in ("activate", "close"):
            _dated(parser)

    for name, text in (("submit", "submit an unapproved item for approval"),
                       ("approve", "approve a submitted item"), ("reject", "return a submitted item to unapproved")):
        _reason(_action(item, name, f"item.{name}", text, "item"))
    add = _action(item, "add", "item.add", "add an item: of an item type, or a custom item with its own name", "item",
                  "the new item's id")
    add.add_argument("--sub-goal", dest="sub_goal", required=True, metavar="SUB_GOAL")
    add.add_argument("--type", metavar="ITEM_TYPE", help="an item type of the library (default: a custom item)")
    _item_texts(add)
    add.add_argument("--concerning", metavar="PERSON", help="default: the primary plan participant")
    add.add_argument("--owner", metavar="PERSON", help="default: the case worker")
    add.add_argument("--responsibility", metavar="PERSON", help="default: the case worker")
    add.add_argument("--estimated-cost", dest="estimated_cost", type=float, metavar="AMOUNT")
    _action(item, "remove", "item.remove", "remove an item that is not mandatory and has not started", "item")
    change = _action(item, "change", "item.change", "change an item's texts, expected dates, sub-goal or sensitivity",
                     "item")
    change.add_argument("--sub-goal", dest="sub_goal", metavar="SUB_GOAL")
    _item_texts(change)
    authorise = _action(item, "authorise", "item.authorise", "change the units authorised (needs a user who may "
                        "approve)", "item")
    authorise.add_argument("--units", type=float, required=True, help="the units authorised")
    authorise.add_argument("--per", choices=("day", "week", "month", "year", "total"),
                           help="the period the units are for (default: the item's current one)")
    _dated(authorise, "it was authorised")
    _reason(authorise)
    reassign = _action(item, "reassign-all", "item.reassign-all", "give all of one person's open items to another")
    reassign.add_argument("--from", dest="from", required=True, metavar="PERSON")
    reassign.add_argument("--to", dest="to", required=True, metavar="PERSON")
    reassign.add_argument("--field", choices=("owner", "responsibility"), help="only this field (default: both)")

    subgoal = commands.add_parser("subgoal", help="add, change or remove sub-goals").add_subparsers(
        dest="subgoal_command", metavar="ACTION", required=True)
    for name, text in (("add", "add a sub-goal (not after an agreement was issued)"),
                       ("change", "change a sub-goal")):
        parser = _action(subgoal, name, f"subgoal.{name}", text, "sub_goal")
        parser.add_argument("--name", required=name == "add")
        parser.add_argument("--category", required=name == "add",
                            choices=("achieve-an-objective", "meet-a-need", "overcome-a-barrier"))
        parser.add_argument("--owner", metavar="PERSON", help="default: the case worker")
        parser.add_argument("--group", metavar="GROUP", help="the plan group it belongs to")
        parser.add_argument("--description")
    _action(subgoal, "remove", "subgoal.remove", "remove a sub-goal that has no items", "sub_goal")

    group = commands.add_parser("group", help="add or remove plan groups").add_subparsers(
        dest="group_command", metavar="ACTION", required=True)
    group_add = _action(group, "add", "group.add", "add a plan group (not after an agreement was accepted)", "group")
    group_add.add_argument("--name", required=True)
    group_add.add_argument("--parent", metavar="GROUP", help="the plan group it is nested in")
    group_add.add_argument("--description")
    _action(group, "remove", "group.remove", "remove an empty plan group", "group")

    milestone_add = _action(milestone, "add", "milestone.add", "add a milestone", "milestone")
    milestone_add.add_argument("--name", required=True)
    milestone_add.add_argument("--expected-start", dest="expected_start", required=True, metavar="DATE")
    milestone_add.add_argument("--expected-end", dest="expected_end", required=True, metavar="DATE")
    milestone_add.add_argument("--citation")
    milestone_add.add_argument("--review", action="store_const", const=True, help="a review milestone")
    milestone_add.add_argument("--not-extendable", dest="extendable", action="store_const", const=False)
    milestone_add.add_argument("--waiver-needs-approval", dest="waiver_needs_approval", action="store_const",
                               const=True)
    _action(milestone, "remove", "milestone.remove", "remove a milestone added to the plan by hand", "milestone")
    extend = _action(milestone, "extend", "milestone.extend", "move the expected end later, if the milestone allows",
                     "milestone")
    extend.add_argument("--end", required=True, metavar="DATE", help="the new expected end, YYYY-MM-DD")
    _dated(extend, "it was extended")
    _reason(extend)

    agreement = commands.add_parser("agreement", help="issue agreements and record the client's decision").add_subparsers(
        dest="agreement_command", metavar="ACTION", required=True)
    _dated(_action(agreement, "issue", "agreement.issue", "issue an agreement for the client to sign"), "it was issued")
    for name, text in (("accept", "record that the client accepted the agreement; the plan becomes active"),
                       ("reject", "record that the client rejected the agreement"),
                       ("cancel", "cancel the outstanding agreement")):
        parser = _action(agreement, name, f"agreement.{name}", text)
        parser.add_argument("--agreement", type=int, metavar="NUMBER", help="default: the outstanding agreement")
        _dated(parser)
        _reason(parser)


def _item_texts(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", help="custom items only")
    parser.add_argument("--purpose", help="custom items only")
    parser.add_argument("--expected-start", dest="expected_start", metavar="DATE")
    parser.add_argument("--expected-end", dest="expected_end", metavar="DATE")
    parser.add_argument("--expected-outcome", dest="expected_outcome")
    parser.add_argument("--sensitivity", type=int, choices=range(1, 6), metavar="1-5")


_NOT_VALUES = {"handler", "change_action", "change_target", "plan", "actor", "command", "db", "library", "today",
               "verbose"}


def cmd_action(args: argparse.Namespace) -> int:
    values = {key: value for key, value in vars(args).items()
              if value is not None and key not in _NOT_VALUES and not key.endswith("_command")}
    change = Change(args.change_action, values)
    plan, applied = change_plan(_workspace(args, store=True), args.plan, [change], actor=_actor_of(args))
    if not applied:
        _out(f"plan {plan.id}: {change.action} {change.target} is already recorded; nothing changed "
             f"(version {plan.version}, status {plan.status})")
        return EXIT_OK
    _out(f"plan {plan.id}: {change.action} {change.target} recorded (version {plan.version}, status {plan.status})")
    return EXIT_OK


# --- entry point ----------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run one svcplan command and return its exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2), stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except RejectedChange as error:
        sys.stderr.write("rejected, nothing was changed:\n" + report.problems_text(error.problems) + "\n")
        return EXIT_PROBLEMS
    except SvcplanError as error:
        sys.stderr.write(report.problems_text(error.problems) + "\n")
        usage_codes = {"file-not-found", "not-a-file", "unreadable", "unwritable", "no-store", "store-unavailable",
                       "store-not-found", "not-a-store", "unsupported-store", "store-busy", "schema-too-new"}
        return EXIT_USAGE if all(p.code in usage_codes for p in error.problems) else EXIT_PROBLEMS
    except UsageError as error:
        sys.stderr.write(f"svcplan: {error}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("svcplan: interrupted; the last change was not stored\n")
        return 130
    except Exception as error:  # noqa: BLE001 - the one place that turns a bug into a message
        sys.stderr.write(f"svcplan: internal error ({type(error).__name__}: {error}); this is a bug in svcplan. "
                         "Nothing was changed by the failed command. Please report it with the command you ran.\n")
        sys.stderr.write(traceback.format_exc() if os.environ.get("SVCPLAN_DEBUG") else
                         "Set SVCPLAN_DEBUG=1 to print the details.\n")
        return EXIT_BUG


def run() -> None:
    """Console entry point: run `main` and exit with its status."""
    sys.exit(main())


if __name__ == "__main__":
    run()
