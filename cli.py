"""The svcplan command line: parses arguments, calls the engine, prints what it returns.

Exit status: 0 on success; 1 when input has problems or a change is rejected;
2 when svcplan could not run (a bad option, a file or database it cannot read);
3 on an internal error, which is a bug in svcplan.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
from datetime import date
from pathlib import Path
from typing import Any, Callable, Sequence

import yaml

from svcplan import __version__
from svcplan.dates import parse_date
from svcplan.errors import RejectedChange, SvcplanError
from svcplan.instantiate import PlanOptions
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
from svcplan.compile import discover_files

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
    return name, yaml.safe_load(value)


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
                        help="the date taken as today: actual dates after it are rejected (default: the system date)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log progress to standard error")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    validate = commands.add_parser("validate", help="check templates, item types and rules files")
    validate.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                          help="files or folders to check (default: ./templates and ./rules)")
    validate.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    validate.add_argument("--strict", action="store_true", help="fail on warnings too")
    validate.set_defaults(handler=cmd_validate)

    schema = commands.add_parser("schema", help="print a JSON Schema of the template language")
    schema.add_argument("name", nargs="?", choices=SCHEMA_NAMES, default="plan-template")
    schema.set_defaults(handler=cmd_schema)

    template = commands.add_parser("template", help="list and preview templates").add_subparsers(
        dest="template_command", metavar="ACTION", required=True)
    listing = template.add_parser("list", help="list the library's templates")
    listing.set_defaults(handler=cmd_template_list)
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
    show.set_defaults(handler=cmd_plan_show)
    history = plan.add_parser("history", help="show every recorded change of a plan")
    history.add_argument("plan", type=_plan_id)
    history.add_argument("--format", choices=("text", "json"), default="text")
    history.set_defaults(handler=cmd_plan_history)
    apply = plan.add_parser("apply", help="record the changes of a progress file, all or none")
    apply.add_argument("plan", type=_plan_id)
    apply.add_argument("file", type=Path)
    _actor(apply)
    apply.set_defaults(handler=cmd_plan_apply)

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

    evaluate = commands.add_parser("evaluate", help="run the rules on a plan as of a date; never writes")
    evaluate.add_argument("plans", nargs="*", type=_plan_id, metavar="PLAN", help="plan ids (default: every plan)")
    evaluate.add_argument("--as-of", type=_date_argument, metavar="DATE", help="evaluation date (default: today)")
    evaluate.add_argument("--format", choices=("text", "json"), default="text")
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


def _actor(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--as", dest="actor", metavar="USER",
                        help="the user making the change, recorded in the plan's history "
                             "(default: $SVCPLAN_USER, else the plan's case worker)")


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


def _workspace(args: argparse.Namespace, *, store: bool, params: dict[str, Any] | None = None) -> Workspace:
    workspace = Workspace(_library_paths(args), today=args.today or date.today(), rule_params=params or {})
    if store:
        workspace.store = open_store(default_target(args.db))
    return workspace


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _actor_of(args: argparse.Namespace) -> str | None:
    return args.actor or os.environ.get("SVCPLAN_USER") or None


def cmd_validate(args: argparse.Namespace) -> int:
    paths = args.paths or _library_paths(args)
    for path in paths:
        if not path.exists():
            raise UsageError(f"{path}: no such file or folder")
    problems = library_problems(paths)
    if args.format == "json":
        _out(report.problems_json(problems))
    else:
        if problems:
            _out(report.problems_text(problems, colour=report.use_colour(sys.stdout)))
        _out(report.problems_summary(problems, len(discover_files(paths))))
    failing = [p for p in problems if args.strict or p.severity.value == "error"]
    return EXIT_PROBLEMS if failing else EXIT_OK


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
    workspace = _workspace(args, store=True)
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
    _out(json.dumps(plan.to_dict(), indent=2) if args.format == "json" else report.plan_text(plan))
    return EXIT_OK


def cmd_plan_history(args: argparse.Namespace) -> int:
    events = _workspace(args, store=True).require_store().history(args.plan)
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
            values["value"] = yaml.safe_load(args.value)
        except yaml.YAMLError:
            values["value"] = args.value
    change = Change(f"{group}.{action}", values)
    workspace = _workspace(args, store=True)
    plan, _ = change_plan(workspace, args.plan, [change], actor=_actor_of(args))
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
    for plan_id in plan_ids:
        evaluation = evaluate_stored(workspace, plan_id, as_of)
        results.append(evaluation)
        if args.format == "text":
            _out(report.evaluation_text(evaluation, store.load_plan(plan_id), colour=report.use_colour(sys.stdout)))
    if args.format == "json":
        _out(json.dumps([evaluation.to_dict() for evaluation in results], indent=2))
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
        usage_codes = {"file-not-found", "not-a-file", "unreadable", "no-store", "store-unavailable"}
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
