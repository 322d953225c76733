"""Time svcplan on a generated caseload: validation, instantiation into SQLite, evaluation.

The script generates a template of about 30 items and, by default, 10,000 case
files with progress files (see caseload.py), then runs each stage in a fresh
process so that its maximum resident set size (max RSS) is its own:

1. validation: load and compile the template library and the shipped rules,
   then read and check every case file and progress file;
2. instantiation: make a plan for every case and store it with `create_plan`
   in a new SQLite file. The baseline inserts the same JSON documents into a
   plain table of another new SQLite file with one `executemany`;
3. evaluation: load every stored plan, record its progress, build its facts,
   and run them through the durable-rules engine (every shipped ruleset) and
   through `evaluate_facts`, the plain-Python evaluation of the same compiled
   rules. The two must return the same findings for every plan, or the run fails.

    python benchmarks/bench_caseload.py [--plans 10000] [--seed 1] [--work DIR] [--profile]

Besides wall time, the table shows each stage's CPU time and the machine's
1-minute load average when the stage ended. On a machine shared with other
work, a load above 1 a core can make the wall times include waiting for a CPU.

`SVCPLAN_BENCH_PLANS` sets the default of --plans, for this script and for the
pytest-benchmark tests at the end of this file (`make bench`).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from importlib import metadata
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Sequence

from caseload import TEMPLATE_ID, Caseload, generate

from svcplan.case import load_case
from svcplan.compile import load_library
from svcplan.errors import SvcplanError
from svcplan.facts import plan_facts
from svcplan.instantiate import instantiate
from svcplan import editing, lifecycle, permissions, progress
from svcplan.plan import Plan
from svcplan.progress import Change, ChangeContext, apply_change
from svcplan.rules import CompiledRuleset, compile_rules, evaluate_facts
from svcplan.rulesengine import RulesEngine
from svcplan.schedule import resolve_dates
from svcplan.store import open_store
from svcplan.workflow import load_progress

PLANS_ENVIRONMENT_VARIABLE = "SVCPLAN_BENCH_PLANS"
DEFAULT_PLANS = 10_000
DEFAULT_VERIFIED_PLANS = 20


@dataclass
class Step:
    """One timed step of a stage: how many things it handled and the seconds it took."""

    name: str
    count: int
    unit: str
    seconds: float = 0.0


@dataclass
class StageResult:
    """Measurements of one stage: wall time, its steps, max RSS and stage-specific figures."""

    name: str
    wall_seconds: float
    steps: list[Step]
    max_rss_mb: float
    figures: dict[str, Any] = field(default_factory=dict)
    profile: str = ""
    cpu_seconds: float = 0.0
    load_average: float = 0.0
    """The 1-minute load average of the machine when the stage ended."""


def _max_rss_mb() -> float:
    """Return the peak resident set size of this process's memory, in MB.

    VmHWM is read first because ru_maxrss survives execve: a spawned child
    reports at least the size of the parent that started it.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _compiled_rules(rules_folder: Path) -> list[CompiledRuleset]:
    library = load_library([rules_folder])
    if library.errors:
        raise SvcplanError(library.errors)
    return compile_rules(library.rule_documents)


# --- stage 1: validation ---------------------------------------------------------------


def validate_stage(caseload: Caseload) -> StageResult:
    """Load and compile the library, then read and check every case and progress file."""
    started = time.perf_counter()
    manifest = caseload.manifest()

    library_step = Step("load and compile library", 0, "files")
    clock = time.perf_counter()
    library = load_library([caseload.templates, caseload.rules])
    if library.errors:
        raise SvcplanError(library.errors)
    rulesets = compile_rules(library.rule_documents)
    library_step.seconds = time.perf_counter() - clock
    library_step.count = len(library.files)

    cases_step = Step("read and check case files", len(manifest), "files")
    clock = time.perf_counter()
    for entry in manifest:
        load_case(entry["case"])
    cases_step.seconds = time.perf_counter() - clock

    progress_step = Step("read and check progress files", len(manifest), "files")
    changes = 0
    clock = time.perf_counter()
    for entry in manifest:
        changes += len(load_progress(Path(entry["progress"]))[1])
    progress_step.seconds = time.perf_counter() - clock

    figures = {"templates": sum(len(v) for v in library.templates.values()), "rulesets": len(rulesets),
               "rules": sum(len(r.rules) for r in rulesets), "changes": changes}
    return StageResult("validation", time.perf_counter() - started, [library_step, cases_step, progress_step],
                       _max_rss_mb(), figures)


# --- stage 2: instantiation into SQLite ---------------------------------------------------


def instantiate_stage(caseload: Caseload, database: Path) -> StageResult:
    """Make a plan for every case and store each with `create_plan` in a new SQLite file."""
    started = time.perf_counter()
    manifest = caseload.manifest()
    library = load_library([caseload.templates])
    if library.errors:
        raise SvcplanError(library.errors)
    template = library.template(TEMPLATE_ID)
    database.unlink(missing_ok=True)

    read_step = Step("read case files", len(manifest), "plans")
    instantiate_step = Step("instantiate", len(manifest), "plans")
    store_step = Step("create_plan (SQLite)", len(manifest), "plans")
    serialize_step = Step("to_dict + json.dumps only", len(manifest), "plans")
    items = 0
    notices = 0
    with open_store(database) as store:
        for entry in manifest:
            clock = time.perf_counter()
            case = load_case(entry["case"])
            read_step.seconds += time.perf_counter() - clock

            clock = time.perf_counter()
            made = instantiate(template, case)
            instantiate_step.seconds += time.perf_counter() - clock

            clock = time.perf_counter()
            store.create_plan(made.plan, actor=made.plan.case_worker)
            store_step.seconds += time.perf_counter() - clock

            # The serialization that create_plan does, timed on its own for comparison.
            clock = time.perf_counter()
            json.dumps(made.plan.to_dict(), ensure_ascii=False)
            serialize_step.seconds += time.perf_counter() - clock

            items += len(made.plan.items)
            notices += len(made.notices)
    figures = {"items": items, "notices": notices, "database_mb": database.stat().st_size / 2**20}
    return StageResult("instantiation", time.perf_counter() - started,
                       [read_step, instantiate_step, store_step, serialize_step], _max_rss_mb(), figures)


def baseline_stage(source: Path, target: Path) -> StageResult:
    """Insert the plan documents stored in `source` into a plain table of a new SQLite file.

    One `executemany` in one transaction, with SQLite's default settings
    (rollback journal, synchronous FULL), no events, no indexes and no JSON check.
    """
    started = time.perf_counter()
    target.unlink(missing_ok=True)
    read_step = Step("read documents from the store", 0, "plans")
    clock = time.perf_counter()
    with sqlite3.connect(source) as connection:
        documents = connection.execute("SELECT id, document FROM plans ORDER BY id").fetchall()
    connection.close()
    read_step.seconds = time.perf_counter() - clock
    read_step.count = len(documents)

    insert_step = Step("baseline: executemany", len(documents), "plans")
    connection = sqlite3.connect(target, isolation_level=None)
    try:
        connection.execute("CREATE TABLE plan_documents (id INTEGER PRIMARY KEY, document TEXT NOT NULL)")
        clock = time.perf_counter()
        connection.execute("BEGIN")
        connection.executemany("INSERT INTO plan_documents (id, document) VALUES (?, ?)", documents)
        connection.execute("COMMIT")
        insert_step.seconds = time.perf_counter() - clock
    finally:
        connection.close()
    figures = {"document_kb": sum(len(d) for _, d in documents) / len(documents) / 1024 if documents else 0.0,
               "database_mb": target.stat().st_size / 2**20}
    return StageResult("instantiation baseline", time.perf_counter() - started, [read_step, insert_step],
                       _max_rss_mb(), figures)


# --- stage 3: evaluation ---------------------------------------------------------------------


STATUS_ONLY_ACTIONS = frozenset({
    "plan.submit", "plan.approve", "plan.reject", "plan.activate", "plan.close",
    "item.submit", "item.approve", "item.reject",
    "agreement.issue", "agreement.accept", "agreement.reject", "agreement.cancel",
})
"""Lifecycle actions that change statuses, approvals or agreements but no date an element's timing reads."""

ACTUAL_DATE_ACTIONS = frozenset({"item.start", "item.complete", "milestone.start", "milestone.complete"})


def _actual_date_anchors(plan: Plan) -> set[str]:
    """Return the ids of the elements whose actual dates other elements' timing is anchored on."""
    anchors = set()
    for element in (*plan.items, *plan.milestones):
        schedule = element.schedule
        if schedule is None:
            continue
        for timing in (schedule.start, schedule.end):
            if timing is not None and ".actual_" in timing.anchor:
                anchors.add(timing.anchor.split(".")[1])
    return anchors


def record_progress(plan: Plan, changes: Sequence[Change], *, today: date, actor: str | None) -> None:
    """Apply progress changes to `plan` in place, working out expected dates only when they can change.

    Each change goes through the same permission check, lifecycle guard and
    handler as in `svcplan.progress.apply_change`, which also copies the whole
    plan and works out all its dates after every change. Here the dates are
    worked out again after a change that sets an actual date other elements are
    anchored on, after any action not known to leave dates alone, and at the
    end. `evaluate_stage` checks on the first plans that both give the same plan.
    """
    if plan.status == "closed":
        raise ValueError(f"plan {plan.id} is closed")
    anchors = _actual_date_anchors(plan)
    for change in changes:
        # NOTE: this follows the dispatch of apply_change, including its private
        # handler table; the check against apply_change catches any drift.
        handler = progress._HANDLERS.get(change.action)
        other = lifecycle.HANDLERS.get(change.action) or editing.HANDLERS.get(change.action)
        if handler is None and other is None:
            raise ValueError(f"{change.location}: unknown change {change.action!r}")
        context = ChangeContext(today, change.actor or actor)
        permissions.check_change(plan, change.action, change.values, context.actor, change.location)
        lifecycle.check_guarded(plan, change)
        if other is not None:
            other(plan, change, context)
            if change.action not in STATUS_ONLY_ACTIONS:
                resolve_dates(plan)
            continue
        assert handler is not None
        handler(plan, change, today)
        if change.action in ACTUAL_DATE_ACTIONS:
            target = str(change.values.get("item") or change.values.get("milestone"))
            if target in anchors or target.removesuffix("-1") in anchors:
                resolve_dates(plan)
    resolve_dates(plan)


def _kinds(ruleset: CompiledRuleset) -> frozenset[str]:
    return frozenset(rule.applies_to for rule in ruleset.rules)


def evaluate_stage(caseload: Caseload, database: Path, verified_plans: int = DEFAULT_VERIFIED_PLANS) -> StageResult:
    """Evaluate every stored plan as of its case's date, with the engine and in plain Python.

    Raises AssertionError when the engine and `evaluate_facts` return different
    findings for a plan, or when recording progress directly and through
    `apply_change` give different plans.
    """
    started = time.perf_counter()
    entries = {entry["reference"]: entry for entry in caseload.manifest()}
    rulesets = _compiled_rules(caseload.rules)
    kinds = [_kinds(ruleset) for ruleset in rulesets]
    engine = RulesEngine.shared()

    load_step = Step("load_plan", 0, "plans")
    read_step = Step("read progress files", 0, "plans")
    record_step = Step("record progress", 0, "plans")
    facts_step = Step("plan_facts", 0, "facts")
    engine_step = Step("durable-rules engine", 0, "facts")
    python_step = Step("evaluate_facts (Python)", 0, "facts")
    filtered_step = Step("engine, only facts of matched kinds", 0, "facts")
    apply_changes = 0
    apply_seconds = 0.0
    findings: Counter[str] = Counter()
    asserted_full = 0
    asserted_filtered = 0

    with open_store(database) as store:
        summaries = store.list_plans()
        for position, summary in enumerate(summaries):
            entry = entries[summary.case_reference or ""]
            as_of = date.fromisoformat(entry["as_of"])

            clock = time.perf_counter()
            plan = store.load_plan(summary.id)
            load_step.seconds += time.perf_counter() - clock

            clock = time.perf_counter()
            actor, changes = load_progress(Path(entry["progress"]))
            read_step.seconds += time.perf_counter() - clock

            if position < verified_plans:
                reference = plan
                clock = time.perf_counter()
                for change in changes:
                    reference, _ = apply_change(reference, change, today=as_of, actor=actor)
                apply_seconds += time.perf_counter() - clock
                apply_changes += len(changes)

            clock = time.perf_counter()
            record_progress(plan, changes, today=as_of, actor=actor)
            record_step.seconds += time.perf_counter() - clock

            if position < verified_plans:
                assert plan.to_dict() == reference.to_dict(), (
                    f"plan {plan.id}: record_progress and apply_change recorded different progress")

            clock = time.perf_counter()
            facts = plan_facts(plan, as_of)
            facts_step.seconds += time.perf_counter() - clock

            clock = time.perf_counter()
            engine_matches = [(m.rule.id, m.fact["element"]) for ruleset in rulesets
                              for m in engine.run(ruleset, facts)]
            engine_step.seconds += time.perf_counter() - clock

            clock = time.perf_counter()
            python_matches = [(rule.id, fact["element"]) for rule, fact in evaluate_facts(rulesets, facts)]
            python_step.seconds += time.perf_counter() - clock

            # Experiment: give each ruleset only the facts of the kinds its rules apply to.
            clock = time.perf_counter()
            filtered_matches = []
            for ruleset, ruleset_kinds in zip(rulesets, kinds):
                relevant = [fact for fact in facts if fact["kind"] in ruleset_kinds]
                asserted_filtered += len(relevant)
                filtered_matches.extend((m.rule.id, m.fact["element"]) for m in engine.run(ruleset, relevant))
            filtered_step.seconds += time.perf_counter() - clock

            assert len(engine_matches) == len(python_matches), (
                f"plan {plan.id}: the engine found {len(engine_matches)} findings, "
                f"evaluate_facts {len(python_matches)}")
            assert engine_matches == python_matches, (
                f"plan {plan.id}: the engine and evaluate_facts found different findings: "
                f"{sorted(set(engine_matches) ^ set(python_matches))[:10]}")
            assert filtered_matches == engine_matches, (
                f"plan {plan.id}: the engine found other findings when given only facts of matched kinds")

            count = len(facts)
            asserted_full += count * len(rulesets)
            for step in (facts_step, engine_step, python_step, filtered_step):
                step.count += count
            for step in (load_step, read_step, record_step):
                step.count += 1
            findings.update(rule_id for rule_id, _ in engine_matches)

    figures = {
        "plans": load_step.count,
        "rulesets": len(rulesets),
        "findings": sum(findings.values()),
        "findings_by_rule": dict(findings.most_common()),
        "asserted_full": asserted_full,
        "asserted_filtered": asserted_filtered,
        "verified_plans": min(verified_plans, load_step.count),
        "apply_change_ms": 1000 * apply_seconds / apply_changes if apply_changes else 0.0,
    }
    steps = [load_step, read_step, record_step, facts_step, engine_step, python_step, filtered_step]
    return StageResult("evaluation", time.perf_counter() - started, steps, _max_rss_mb(), figures)


def startup_stage() -> StageResult:
    """Measure a process that has imported svcplan and durable-rules and done nothing else."""
    RulesEngine.shared()
    return StageResult("idle process", 0.0, [], _max_rss_mb())


# --- running the stages and reporting ---------------------------------------------------------


def _measured(function: Callable[..., StageResult], args: tuple[Any, ...], profile: bool) -> StageResult:
    """Run one stage, adding its CPU time, the load average and, when asked, its profile."""
    cpu_started = time.process_time()
    if profile:
        profiler = cProfile.Profile()
        result = profiler.runcall(function, *args)
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(15)
        result.profile = text.getvalue()
    else:
        result = function(*args)
    result.cpu_seconds = time.process_time() - cpu_started
    result.load_average = os.getloadavg()[0]
    return result


def run_in_fresh_process(function: Callable[..., StageResult], *args: Any, profile: bool = False) -> StageResult:
    """Run one stage in a new interpreter, so that its max RSS is its own."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_measured, function, args, profile).result()


def machine_description() -> list[str]:
    """Return lines naming the CPU, cores, memory and software versions."""
    cpu = platform.processor() or "unknown CPU"
    memory = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 2**20:.1f} GiB"
                break
    except OSError:
        pass
    return [
        f"CPU: {cpu}, {os.cpu_count()} cores, {memory} memory",
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"durable-rules {metadata.version('durable_rules')}, SQLite {sqlite3.sqlite_version}, "
        f"{platform.system()} {platform.release()}",
    ]


def format_table(results: Sequence[StageResult]) -> str:
    """Return the results as a text table: one line a step, and a total line a stage."""
    header = (f"{'stage':<24} {'step':<38} {'count':>10} {'seconds':>9} {'per second':>12} {'max RSS MB':>11}"
              f" {'CPU s':>7} {'load':>5}")
    lines = [header, "-" * len(header)]
    for result in results:
        for step in result.steps:
            rate = f"{step.count / step.seconds:,.0f}" if step.seconds > 0 else "-"
            lines.append(f"{result.name:<24} {step.name:<38} {step.count:>10,} {step.seconds:>9.2f} "
                         f"{rate + ' ' + step.unit:>12}")
        lines.append(f"{result.name:<24} {'whole stage (wall)':<38} {'':>10} {result.wall_seconds:>9.2f} "
                     f"{'':>12} {result.max_rss_mb:>11.0f} {result.cpu_seconds:>7.1f} {result.load_average:>5.2f}")
    return "\n".join(lines)


def _step(result: StageResult, name: str) -> Step:
    return next(step for step in result.steps if step.name == name)


def summary_lines(evaluation: StageResult) -> list[str]:
    """Return the findings per rule and the engine-to-Python comparison."""
    figures = evaluation.figures
    engine = _step(evaluation, "durable-rules engine")
    python = _step(evaluation, "evaluate_facts (Python)")
    filtered = _step(evaluation, "engine, only facts of matched kinds")
    lines = [
        f"findings: {figures['findings']:,} in {figures['plans']:,} plans, the same from the engine and "
        f"from evaluate_facts; by rule: "
        + ", ".join(f"{rule} {count:,}" for rule, count in figures["findings_by_rule"].items()),
        f"engine: {engine.count / engine.seconds:,.0f} facts a second through {figures['rulesets']} rulesets "
        f"({figures['asserted_full'] / engine.seconds:,.0f} fact assertions a second); "
        f"evaluate_facts: {python.count / python.seconds:,.0f} facts a second; "
        f"the engine takes {engine.seconds / python.seconds:.0f} times as long",
        f"engine with only the facts of kinds that a ruleset's rules apply to: "
        f"{figures['asserted_filtered']:,} of {figures['asserted_full']:,} assertions, "
        f"{filtered.seconds:.2f} s instead of {engine.seconds:.2f} s, same findings",
        f"recording progress through apply_change: {figures['apply_change_ms']:.2f} ms a change "
        f"(measured on the first {figures['verified_plans']} plans, which gave the same plans as record_progress)",
    ]
    return lines


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Generate the caseload, run the three stages and print the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--plans", type=_positive,
                        default=int(os.environ.get(PLANS_ENVIRONMENT_VARIABLE, DEFAULT_PLANS)),
                        help=f"number of cases and plans (default ${PLANS_ENVIRONMENT_VARIABLE} or {DEFAULT_PLANS})")
    parser.add_argument("--seed", type=int, default=1, help="seed of the case generator (default 1)")
    parser.add_argument("--work", type=Path, metavar="DIR",
                        help="generate into DIR, which must not exist, and keep it (default: a temporary folder)")
    parser.add_argument("--verify-progress", type=int, default=DEFAULT_VERIFIED_PLANS, metavar="N",
                        help="check record_progress against apply_change on the first N plans "
                             f"(default {DEFAULT_VERIFIED_PLANS})")
    parser.add_argument("--profile", action="store_true",
                        help="run each stage under cProfile and print its 15 most expensive functions")
    args = parser.parse_args(argv)

    if args.work is not None and args.work.exists():
        parser.error(f"--work {args.work} already exists; give a new folder")
    work = args.work or Path(tempfile.mkdtemp(prefix="svcplan-caseload-"))
    try:
        print(f"svcplan caseload benchmark, {date.today().isoformat()}")
        for line in machine_description():
            print(line)
        clock = time.perf_counter()
        caseload = generate(work / "caseload", args.plans, args.seed)
        print(f"generated {args.plans:,} cases and progress files in {work} "
              f"in {time.perf_counter() - clock:.1f} s\n")

        database = work / "plans.db"
        results = [run_in_fresh_process(startup_stage)]
        results.append(run_in_fresh_process(validate_stage, caseload, profile=args.profile))
        results.append(run_in_fresh_process(instantiate_stage, caseload, database, profile=args.profile))
        results.append(run_in_fresh_process(baseline_stage, database, work / "baseline.db", profile=args.profile))
        results.append(run_in_fresh_process(evaluate_stage, caseload, database, args.verify_progress,
                                            profile=args.profile))
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)

    print(format_table(results))
    instantiation, baseline, evaluation = results[2], results[3], results[4]
    print()
    print(f"plans: {evaluation.figures['plans']:,} with {instantiation.figures['items']:,} items; "
          f"SQLite store {instantiation.figures['database_mb']:.0f} MB, plan documents "
          f"{baseline.figures['document_kb']:.1f} KB on average; "
          f"progress files: {results[1].figures['changes']:,} changes")
    for line in summary_lines(evaluation):
        print(line)
    if args.profile:
        for result in results[1:]:
            print(f"\n--- profile of {result.name} ---\n{result.profile}")
    return 0


# --- pytest-benchmark tests (`make bench`); fixtures are in conftest.py ---------------------------


def _record(benchmark: Any, result: StageResult) -> None:
    benchmark.extra_info["max_rss_mb"] = round(result.max_rss_mb)
    for step in result.steps:
        benchmark.extra_info[step.name] = {"count": step.count, "seconds": round(step.seconds, 3)}
    benchmark.extra_info.update({k: v for k, v in result.figures.items() if not isinstance(v, dict)})


def test_caseload_validation(benchmark: Any, caseload: Caseload) -> None:
    result = benchmark.pedantic(validate_stage, args=(caseload,), rounds=1, iterations=1)
    _record(benchmark, result)
    assert _step(result, "read and check case files").count == caseload.plans


def test_caseload_instantiation(benchmark: Any, caseload: Caseload) -> None:
    database = caseload.root / "plans.db"
    result = benchmark.pedantic(instantiate_stage, args=(caseload, database), rounds=1, iterations=1)
    _record(benchmark, result)
    assert _step(result, "create_plan (SQLite)").count == caseload.plans


def test_caseload_store_baseline(benchmark: Any, caseload: Caseload, plan_database: Path) -> None:
    target = caseload.root / "baseline.db"
    result = benchmark.pedantic(baseline_stage, args=(plan_database, target), rounds=1, iterations=1)
    _record(benchmark, result)
    assert _step(result, "baseline: executemany").count == caseload.plans


def test_caseload_evaluation(benchmark: Any, caseload: Caseload, plan_database: Path) -> None:
    # evaluate_stage asserts that the engine and evaluate_facts agree on every plan.
    result = benchmark.pedantic(evaluate_stage, args=(caseload, plan_database), rounds=1, iterations=1)
    _record(benchmark, result)
    assert result.figures["plans"] == caseload.plans
    assert result.figures["findings"] > 0


if __name__ == "__main__":
    sys.exit(main())
