"""The compile stage: turn validated YAML documents into typed templates.

`load_library` reads a template repository (item types, plan templates and
rules), checks each file against its schema, and compiles what passes. It checks
meaning across files too: item types that do not exist, duplicate ids, timing
that refers to an unknown element or case date or that goes round in a circle,
and texts that use names a plan will not have. Every problem keeps the author's
file, line and column.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import math
import multiprocessing
import multiprocessing.context
import os
import re
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from .dates import DayCounting, Offset, end_of_span, shift
from .errors import Location, Problem, Severity, SvcplanError, format_path
from .load import Document, DocPath, load_document
from .model import (
    GroupTemplate,
    ItemKind,
    ItemTemplate,
    ItemType,
    MilestoneTemplate,
    PlanTemplate,
    RatePeriod,
    Repeat,
    Schedule,
    SubGoalTemplate,
    Timing,
    UnitAllowance,
)
from .render import ATTRIBUTES, ITEM_NAMES, PLAN_NAMES, check_text
from .publish import PublishedCandidate, check_published
from .validate import check_kind, check_schema

log = logging.getLogger(__name__)

YAML_SUFFIXES = (".yaml", ".yml")
DEFAULT_UNITS_TOLERANCE = 0.1
DEFAULT_SENSITIVITY = 1


@dataclass(frozen=True)
class Library:
    """A compiled template repository: item types, templates by id and version, rules files."""

    item_types: Mapping[str, ItemType]
    templates: Mapping[str, Mapping[int, PlanTemplate]]
    rule_documents: tuple[Document, ...]
    problems: tuple[Problem, ...]
    files: tuple[str, ...] = ()

    @property
    def errors(self) -> list[Problem]:
        return [problem for problem in self.problems if problem.severity is Severity.ERROR]

    def template(self, template_id: str, version: int | None = None) -> PlanTemplate:
        """Return a template by id, the latest version unless `version` is given."""
        versions = self.templates.get(template_id)
        if not versions:
            close = difflib.get_close_matches(template_id, list(self.templates), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known templates: {', '.join(sorted(self.templates)) or 'none'}"
            raise SvcplanError.single(Location("command line"), "unknown-template",
                                      f"no template has the id {template_id!r}", value=template_id, hint=hint)
        if version is None:
            return versions[max(versions)]
        if version not in versions:
            raise SvcplanError.single(
                Location("command line"), "unknown-template-version",
                f"template {template_id!r} has no version {version}", value=version,
                hint=f"versions available: {', '.join(str(v) for v in sorted(versions))}",
            )
        return versions[version]


def discover_files(paths: Iterable[Path]) -> list[Path]:
    """Return the YAML files named by `paths`, searching folders recursively, in a stable order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix in YAML_SUFFIXES and p.is_file()))
        else:
            found.append(path)
    seen: set[Path] = set()
    unique = []
    for path in found:
        resolved = path.resolve()
        if resolved not in seen:
            seen.add(resolved)
            unique.append(path)
    return unique


def load_library(paths: Sequence[Path | str], *, workers: int | None = None) -> Library:
    """Load, validate and compile every template, item type and rules file under `paths`.

    Problems are collected, not raised, so that a checker can report all of them.
    Callers that need a usable library raise when `Library.errors` is not empty.
    Item-types files are read first, in this process. Every other file is read,
    checked and compiled by `workers` processes. By default that is one process
    a CPU once there are `PARALLEL_MIN_FILES` files, and the environment
    variable SVCPLAN_JOBS overrides the default.
    """
    files = discover_files(Path(p) for p in paths)
    problems: list[Problem] = []
    item_type_files = [path for path in files if _declares_item_types(path)]
    first_results = [_check_file(path, None) for path in item_type_files]
    item_type_documents = [r.document for r in first_results if r.kind == "item-types" and r.document]
    item_types, type_sources = _compile_item_types(item_type_documents, problems)
    first_results = [_check_file(r.path, _CompileContext(item_types, type_sources)) if r.kind == "plan-template" else r
                     for r in first_results]

    chosen = set(item_type_files)
    rest = [path for path in files if path not in chosen]
    rest_results = _check_files(rest, _CompileContext(item_types, type_sources), workers)
    missed = [r.document for r in rest_results if r.kind == "item-types" and r.document]
    if missed:
        # An item-types file that the quick scan of its text did not recognise:
        # compile the item types again with it, and the templates against them.
        problems.clear()
        item_type_documents += missed
        item_types, type_sources = _compile_item_types(item_type_documents, problems)
        context = _CompileContext(item_types, type_sources)
        rest_results = [_check_file(r.path, context) if r.kind == "plan-template" else r for r in rest_results]

    by_path = {r.path: r for r in (*first_results, *rest_results)}
    results = [by_path[path] for path in files]
    rule_documents: list[Document] = []
    templates: dict[str, dict[int, PlanTemplate]] = {}
    first_seen: dict[tuple[str, int], Location] = {}
    compiled: list[_FileResult] = []
    for result in results:
        problems.extend(result.problems)
        if result.kind == "rules" and result.document:
            rule_documents.append(result.document)
        template = result.template
        if template is None:
            continue
        key = (template.id, template.version)
        if key in first_seen:
            problems.append(Problem(
                result.version_location, "duplicate-template-version",
                f"template {template.id!r} version {template.version} is also defined at {first_seen[key]}",
                value=template.version, hint="give each published change a new version number",
                related=(first_seen[key],),
            ))
            continue
        first_seen[key] = template.location
        templates.setdefault(template.id, {})[template.version] = template
        compiled.append(result)
    problems.extend(check_published([
        PublishedCandidate(r.template.id, r.template.version, r.template.content_hash, r.version_location)
        for r in compiled if r.template
    ]))

    log.info("loaded %d files: %d item types, %d templates, %d rules files, %d problems",
             len(files), len(item_types), sum(len(v) for v in templates.values()), len(rule_documents), len(problems))
    return Library(item_types, templates, tuple(rule_documents), tuple(problems), tuple(str(f) for f in files))


# --- reading files, in parallel when there are many ---------------------------

PARALLEL_MIN_FILES = 64
"""Minimum number of files for which `load_library` starts worker processes,
because for fewer files starting the pool costs more than it saves."""

_ITEM_TYPES_KIND = re.compile(rb"""^kind:[ \t]*(["']?)item-types\1[ \t]*(#.*)?\r?$""", re.MULTILINE)


@dataclass(frozen=True)
class _CompileContext:
    """The item types that templates are compiled against."""

    item_types: Mapping[str, ItemType]
    type_sources: Mapping[str, Any]


@dataclass
class _FileResult:
    """The result of reading one file: its problems and, where it passed, its content.

    `document` is kept for item-types and rules files, and `template` for a plan
    template that compiled. A template's document stays in the process that read
    it, because sending it back would cost more than checking it there.
    """

    path: Path
    kind: str | None = None
    problems: list[Problem] = field(default_factory=list)
    document: Document | None = None
    template: PlanTemplate | None = None
    version_location: Location = Location("")


def _declares_item_types(path: Path) -> bool:
    """Tell from the start of the raw text whether a file declares `kind: item-types`."""
    try:
        with path.open("rb") as stream:
            head = stream.read(65536)
    except OSError:
        return False
    return _ITEM_TYPES_KIND.search(head) is not None


def _check_file(path: Path, context: _CompileContext | None) -> _FileResult:
    """Load one file, check its kind and schema, and compile it if it is a template.

    Without a `context` a template is returned as its document, not compiled.
    """
    try:
        document = load_document(path)
    except SvcplanError as error:
        return _FileResult(path, problems=list(error.problems))
    result = _FileResult(path, problems=list(document.warnings))
    kind_problems = check_kind(document, ("plan-template", "item-types", "rules"))
    if kind_problems:
        result.problems.extend(kind_problems)
        return result
    kind = document.data["kind"]
    schema_problems = check_schema(document, kind)
    if schema_problems:
        result.problems.extend(schema_problems)
        return result
    result.kind = kind
    if kind in ("plan-template", "item-types"):
        result.problems.extend(unquoted_date_warnings(document))
    if kind != "plan-template" or context is None:
        result.document = document
        return result

    template_problems: list[Problem] = []
    template = _TemplateCompiler(document, context.item_types, context.type_sources, template_problems).compile()
    result.problems.extend(template_problems)
    if template is not None:
        result.problems.extend(plan_duration_problems(document, template))
        result.template = template
        result.version_location = document.location(("version",))
    return result


_worker_context: _CompileContext | None = None


def _start_worker(context: _CompileContext) -> None:
    global _worker_context
    _worker_context = context


def _check_in_worker(path: Path) -> _FileResult:
    return _check_file(path, _worker_context)


def _worker_count(files: int, requested: int | None) -> int:
    if requested is None:
        setting = os.environ.get("SVCPLAN_JOBS", "")
        if setting.isdigit() and int(setting) > 0:
            requested = int(setting)
    if requested is not None:
        return max(1, min(requested, files))
    if files < PARALLEL_MIN_FILES:
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cpus, files // (PARALLEL_MIN_FILES // 2)))


def _check_files(files: list[Path], context: _CompileContext, workers: int | None) -> list[_FileResult]:
    """Check `files` in order, in a process pool when there are enough of them."""
    count = _worker_count(len(files), workers)
    if count <= 1:
        return [_check_file(path, context) for path in files]
    chunk = max(1, math.ceil(len(files) / (count * 4)))
    log.info("checking %d files in %d processes", len(files), count)
    with ProcessPoolExecutor(count, mp_context=_process_context(), initializer=_start_worker,
                             initargs=(context,)) as pool:
        return list(pool.map(_check_in_worker, files, chunksize=chunk))


def _process_context() -> multiprocessing.context.BaseContext:
    """Return the fork context when forking is safe, because a forked worker starts at once.

    A process that runs other threads (the rules engine's, a test runner's) can
    deadlock a forked child that inherits a held lock, so it spawns instead.
    """
    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


# --- item types -------------------------------------------------------------


def _allowance(value: Any) -> UnitAllowance | None:
    if value is None:
        return None
    if isinstance(value, dict):
        return UnitAllowance(float(value["count"]), RatePeriod(value["per"]))
    return UnitAllowance(float(value))


def _compile_item_types(
    documents: list[Document], problems: list[Problem]
) -> tuple[dict[str, ItemType], dict[str, Any]]:
    item_types: dict[str, ItemType] = {}
    sources: dict[str, Any] = {}
    for document in documents:
        for index, data in enumerate(document.data["item_types"]):
            path: DocPath = ("item_types", index)
            location = document.location(path)
            type_id = data["id"]
            if type_id in item_types:
                problems.append(Problem(
                    document.location(path + ("id",)), "duplicate-item-type",
                    f"the item type {type_id!r} is already defined at {item_types[type_id].location}",
                    path=path + ("id",), value=type_id, hint="rename one of them or delete the copy",
                    related=(item_types[type_id].location,),
                ))
                continue
            schema = data.get("attributes")
            if schema is not None:
                try:
                    Draft202012Validator.check_schema(schema)
                except SchemaError as error:
                    problems.append(Problem(
                        document.location(path + ("attributes",) + tuple(error.absolute_path)),
                        "invalid-attributes-schema",
                        f"item type {type_id!r}: attributes is not a valid JSON Schema: {error.message}",
                        path=path + ("attributes",), hint="fix the schema of the extra attributes",
                    ))
                    continue
            allowance = _allowance(data.get("authorised_units"))
            maximum = data.get("maximum_units")
            if allowance and allowance.per is None and maximum is not None and allowance.count > maximum:
                problems.append(Problem(
                    document.location(path + ("authorised_units",)), "units-above-maximum",
                    f"item type {type_id!r}: {allowance.count:g} units authorised exceed the maximum of {maximum:g}",
                    path=path + ("authorised_units",), value=allowance.count,
                    hint="lower authorised_units or raise maximum_units",
                ))
            item_types[type_id] = ItemType(
                id=type_id,
                kind=ItemKind(data["kind"]),
                name=data.get("name"),
                purpose=data.get("purpose"),
                unit_type=data.get("unit_type"),
                authorised_units=allowance,
                maximum_units=maximum,
                units_tolerance=data.get("units_tolerance", DEFAULT_UNITS_TOLERANCE),
                approval_required=data.get("approval_required", False),
                sensitivity=data.get("sensitivity", DEFAULT_SENSITIVITY),
                guidance_url=data.get("guidance_url"),
                attributes_schema=schema,
                location=location,
            )
            sources[type_id] = data
    return item_types, sources


# --- plan templates ---------------------------------------------------------


def _offset(data: Mapping[str, Any]) -> Offset:
    return Offset(data.get("years", 0), data.get("months", 0), data.get("weeks", 0), data.get("days", 0))


@dataclass
class _TemplateCompiler:
    document: Document
    item_types: Mapping[str, ItemType]
    type_sources: Mapping[str, Any]
    problems: list[Problem]
    counting: DayCounting = DayCounting.CALENDAR
    failed: bool = False
    used_types: set[str] = field(default_factory=set)
    # Each dated element's id and the element ids its timing depends on.
    dependencies: dict[str, list[tuple[str, DocPath]]] = field(default_factory=dict)

    def problem(self, path: DocPath, code: str, message: str, value: object = None, hint: str = "") -> None:
        self.failed = True
        self.problems.append(Problem(self.document.location(path), code, message, Severity.ERROR, path, value, hint))

    def compile(self) -> PlanTemplate | None:
        data = self.document.data
        self.counting = DayCounting(data.get("day_counting", "calendar"))
        self.case_dates = tuple(data.get("case_dates", ()))
        self.item_ids = self._collect_ids()
        self.milestone_ids = {m["id"] for m in data.get("milestones", [])}

        self.check_texts((("goal", "name"),), PLAN_NAMES)
        sub_goals: list[SubGoalTemplate] = []
        groups: list[GroupTemplate] = []
        for index, sub_goal in enumerate(data.get("sub_goals", [])):
            sub_goals.append(self.sub_goal(sub_goal, ("sub_goals", index), None))
        for index, group in enumerate(data.get("groups", [])):
            self.group(group, ("groups", index), None, sub_goals, groups)
        milestones = [self.milestone(m, ("milestones", i)) for i, m in enumerate(data.get("milestones", []))]
        self.check_cycles()
        if self.failed:
            return None

        used = {type_id: self.type_sources[type_id] for type_id in sorted(self.used_types)}
        canonical = json.dumps({"template": data, "item_types": used}, sort_keys=True, separators=(",", ":"))
        return PlanTemplate(
            id=data["id"],
            version=data["version"],
            name=data["name"],
            service_plan_type=data["service_plan_type"],
            description=data.get("description"),
            metadata=data.get("metadata", {}),
            day_counting=self.counting,
            currency=data.get("currency", "USD"),
            case_dates=self.case_dates,
            goal_name=data["goal"]["name"],
            goal_description=data["goal"].get("description"),
            sub_goals=tuple(sub_goals),
            groups=tuple(groups),
            milestones=tuple(milestones),
            content_hash=hashlib.sha256(canonical.encode()).hexdigest(),
            location=self.document.location(()),
        )

    def _collect_ids(self) -> set[str]:
        """Collect item, sub-goal and group ids, reporting duplicates at the second use."""
        seen: dict[tuple[str, str], DocPath] = {}
        items: set[str] = set()

        def visit_sub_goals(sub_goals: list[Any], path: DocPath) -> None:
            for index, sub_goal in enumerate(sub_goals):
                sub_path = path + (index,)
                remember("sub-goal", sub_goal["id"], sub_path + ("id",))
                for item_index, item in enumerate(sub_goal["items"]):
                    remember("item", item["id"], sub_path + ("items", item_index, "id"))
                    items.add(item["id"])

        def visit_groups(groups: list[Any], path: DocPath) -> None:
            for index, group in enumerate(groups):
                group_path = path + (index,)
                remember("group", group["id"], group_path + ("id",))
                visit_sub_goals(group.get("sub_goals", []), group_path + ("sub_goals",))
                visit_groups(group.get("groups", []), group_path + ("groups",))

        def remember(kind: str, element_id: str, path: DocPath) -> None:
            if (kind, element_id) in seen:
                first = self.document.location(seen[(kind, element_id)])
                self.problem(path, f"duplicate-{kind}-id", f"the {kind} id {element_id!r} is already used at {first}",
                             element_id, f"give each {kind} its own id")
            else:
                seen[(kind, element_id)] = path

        data = self.document.data
        visit_sub_goals(data.get("sub_goals", []), ("sub_goals",))
        visit_groups(data.get("groups", []), ("groups",))
        for index, milestone in enumerate(data.get("milestones", [])):
            remember("milestone", milestone["id"], ("milestones", index, "id"))
        return items

    def check_texts(self, paths: Iterable[DocPath], allowed: frozenset[str]) -> None:
        for path in paths:
            text = self.document.get(path)
            if isinstance(text, str) and not _plainly_valid_text(text, allowed):
                for problem in check_text(text, allowed, self.document.location(path), path[-1] if path else "text"):
                    self.failed = True
                    self.problems.append(Problem(problem.location, problem.code, problem.message,
                                                 problem.severity, path, problem.value, problem.hint))

    def group(
        self, data: Mapping[str, Any], path: DocPath, parent: str | None,
        sub_goals: list[SubGoalTemplate], groups: list[GroupTemplate],
    ) -> None:
        optional = data.get("optional", False)
        groups.append(GroupTemplate(data["id"], data["name"], data.get("description"), parent, optional,
                                    self.document.location(path)))
        for index, sub_goal in enumerate(data.get("sub_goals", [])):
            compiled = self.sub_goal(sub_goal, path + ("sub_goals", index), data["id"])
            if optional:
                self._reject_mandatory_in_optional(compiled, path + ("sub_goals", index), data["id"])
            sub_goals.append(compiled)
        for index, child in enumerate(data.get("groups", [])):
            self.group(child, path + ("groups", index), data["id"], sub_goals, groups)

    def _reject_mandatory_in_optional(self, sub_goal: SubGoalTemplate, path: DocPath, group_id: str) -> None:
        for index, item in enumerate(sub_goal.items):
            if item.mandatory:
                self.problem(path + ("items", index, "mandatory"), "mandatory-in-optional",
                             f"item {item.id!r} is mandatory but its group {group_id!r} is optional",
                             True, "make the group required or the item not mandatory")

    def sub_goal(self, data: Mapping[str, Any], path: DocPath, group: str | None) -> SubGoalTemplate:
        self.check_texts((path + ("name",), path + ("description",)), PLAN_NAMES)
        items = tuple(
            compiled
            for index, item in enumerate(data["items"])
            if (compiled := self.item(item, path + ("items", index))) is not None
        )
        sub_goal = SubGoalTemplate(
            id=data["id"], category=data["category"], name=data["name"], description=data.get("description"),
            owner=data.get("owner", "case_worker"), optional=data.get("optional", False), items=items,
            group=group, location=self.document.location(path),
        )
        if sub_goal.optional:
            self._reject_mandatory_in_optional(sub_goal, path, sub_goal.id)
        return sub_goal

    def item(self, data: Mapping[str, Any], path: DocPath) -> ItemTemplate | None:
        type_id = data["type"]
        item_type = self.item_types.get(type_id)
        if item_type is None:
            close = difflib.get_close_matches(type_id, list(self.item_types), n=1)
            self.problem(path + ("type",), "unknown-item-type", f"item {data['id']!r}: no item type has the id {type_id!r}",
                         type_id, f"did you mean {close[0]!r}?" if close else "define the item type in an item-types file")
            return None
        self.used_types.add(type_id)

        if item_type.kind is ItemKind.CUSTOM:
            for required in ("name", "purpose", "expected_outcome"):
                if required not in data:
                    self.problem(path, "custom-item-incomplete",
                                 f"item {data['id']!r} is of the custom type {type_id!r}, so it needs {required}",
                                 None, f"add {required}: to the item")
        if item_type.kind is not ItemKind.UNIT_DELIVERY:
            for unit_key in ("authorised_units", "units_tolerance"):
                if unit_key in data:
                    self.problem(path + (unit_key,), "units-on-basic-item",
                                 f"item {data['id']!r}: {unit_key} applies only to service unit delivery items, "
                                 f"and {type_id!r} is {item_type.kind.value}",
                                 data[unit_key], f"remove {unit_key}, or use a service-unit-delivery item type")

        allowance = _allowance(data.get("authorised_units")) or item_type.authorised_units
        if (allowance and allowance.per is None and item_type.maximum_units is not None
                and allowance.count > item_type.maximum_units):
            self.problem(path + ("authorised_units",), "units-above-maximum",
                         f"item {data['id']!r}: {allowance.count:g} units exceed the maximum of "
                         f"{item_type.maximum_units:g} set by item type {type_id!r}",
                         allowance.count, "authorise fewer units or raise the item type's maximum_units")

        attributes = data.get("attributes", {})
        if attributes and item_type.attributes_schema is None:
            self.problem(path + ("attributes",), "attributes-not-declared",
                         f"item {data['id']!r}: item type {type_id!r} declares no extra attributes",
                         None, "declare them under attributes: in the item type, or remove them here")
        elif attributes:
            for error in Draft202012Validator(item_type.attributes_schema).iter_errors(attributes):
                where = path + ("attributes",) + tuple(error.absolute_path)
                self.problem(where, "invalid-attribute", f"item {data['id']!r}: attribute {error.message}",
                             error.instance if not isinstance(error.instance, (dict, list)) else None,
                             f"the item type {type_id!r} defines which attributes are valid")

        for person_key in ("concerning", "owner", "responsibility"):
            if data.get(person_key) == "concerning" and person_key == "concerning":
                self.problem(path + (person_key,), "concerning-self", "concerning: cannot refer to itself",
                             "concerning", "name a person, e.g. primary_plan_participant")
        self.check_texts((path + ("name",), path + ("purpose",), path + ("expected_outcome",)), ITEM_NAMES)

        schedule = self.schedule(data, path, f"item.{data['id']}")
        return ItemTemplate(
            id=data["id"],
            item_type=item_type,
            name=data.get("name"),
            purpose=data.get("purpose"),
            expected_outcome=data.get("expected_outcome"),
            concerning=data.get("concerning", "primary_plan_participant"),
            owner=data.get("owner", "case_worker"),
            responsibility=data.get("responsibility", "case_worker"),
            mandatory=data.get("mandatory", False),
            optional=data.get("optional", False),
            schedule=schedule,
            repeat=self.repeat(data.get("repeat")),
            authorised_units=allowance,
            units_tolerance=data.get("units_tolerance", item_type.units_tolerance),
            estimated_cost=data.get("estimated_cost"),
            sensitivity=data.get("sensitivity", item_type.sensitivity),
            attributes=attributes,
            location=self.document.location(path),
        )

    def milestone(self, data: Mapping[str, Any], path: DocPath) -> MilestoneTemplate:
        self.check_texts((path + ("name",), path + ("description",)), PLAN_NAMES)
        return MilestoneTemplate(
            id=data["id"],
            name=data["name"],
            description=data.get("description"),
            citation=data.get("citation"),
            review=data.get("review", False),
            schedule=self.schedule(data, path, f"milestone.{data['id']}"),
            repeat=self.repeat(data.get("repeat")),
            extendable=data.get("extendable", True),
            waiver_needs_approval=data.get("waiver_needs_approval", False),
            location=self.document.location(path),
        )

    def repeat(self, data: Mapping[str, Any] | None) -> Repeat | None:
        return Repeat(_offset(data["every"]), data["count"]) if data else None

    def schedule(self, data: Mapping[str, Any], path: DocPath, element: str) -> Schedule:
        start = self.timing(data["start"], path + ("start",), element)
        end = self.timing(data["end"], path + ("end",), element) if "end" in data else None
        length = _offset(data["duration"]) if "duration" in data else None
        return Schedule(start, end, length)

    def timing(self, data: Mapping[str, Any], path: DocPath, element: str) -> Timing:
        anchor = data.get("from", "plan.start")
        location = self.document.location(path + ("from",) if "from" in data else path)
        if anchor.startswith("case."):
            name = anchor.removeprefix("case.")
            if name not in self.case_dates:
                self.problem(path + ("from",), "unknown-case-date",
                             f"{anchor} is not one of the template's case_dates",
                             anchor, f"add {name} to case_dates, so every case must supply it")
        elif anchor.startswith(("item.", "milestone.")):
            kind, target, _ = anchor.split(".")
            known = self.item_ids if kind == "item" else self.milestone_ids
            if target not in known:
                close = difflib.get_close_matches(target, list(known), n=1)
                self.problem(path + ("from",), f"unknown-{kind}", f"{anchor} refers to no {kind} of this template",
                             anchor, f"did you mean {kind}.{close[0]}?" if close else f"use the id of a {kind} of this template")
            else:
                self.dependencies.setdefault(element, []).append((f"{kind}.{target}", path + ("from",)))
        counting = DayCounting(data.get("counting", self.counting.value))
        return Timing(anchor, _offset(data), counting, location)

    def check_cycles(self) -> None:
        """Report timing that depends, through other elements, on itself."""
        state: dict[str, int] = {}

        def visit(node: str, trail: list[str]) -> None:
            state[node] = 1
            for target, path in self.dependencies.get(node, []):
                if state.get(target) == 1:
                    cycle = trail[trail.index(target):] + [node, target] if target in trail else [node, target]
                    self.problem(path, "timing-cycle", f"timing goes round in a circle: {' -> '.join(cycle)}",
                                 None, "anchor one of these dates on the plan start or a case date")
                elif state.get(target) is None:
                    visit(target, trail + [node])
            state[node] = 2

        for element in list(self.dependencies):
            if state.get(element) is None:
                visit(element, [])


# --- texts, dates written as text, and the plan's length ----------------------

_SIMPLE_EXPRESSION = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}")


def _plainly_valid_text(text: str, allowed: frozenset[str]) -> bool:
    """Tell, without parsing the text as jinja2, that it is valid and uses only `allowed` names.

    Only texts whose expressions are all of the form ``{{ name.attribute }}``
    qualify; any other use of braces returns False, and the caller then runs
    the full check, which also words the problem.
    """
    if "{" not in text:
        return True
    names: set[str] = set()
    known_attributes = True

    def remember(match: re.Match[str]) -> str:
        nonlocal known_attributes
        names.add(match[1])
        attribute = match[2].split(".")[1] if match[2] else None
        if attribute is not None and attribute not in ATTRIBUTES.get(match[1], {attribute}):
            known_attributes = False
        return ""

    rest = _SIMPLE_EXPRESSION.sub(remember, text)
    return "{" not in rest and "}" not in rest and names <= allowed and known_attributes


# The YAML 1.1 timestamp forms (https://yaml.org/type/timestamp.html).
_YAML11_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z"
    r"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?"
    r"(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?\Z"
)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def unquoted_date_warnings(document: Document) -> list[Problem]:
    """Warn about text values written as unquoted dates, such as ``name: 2027-01-08``.

    svcplan reads them as text, but YAML 1.1 tools (PyYAML's ``yaml.safe_load``,
    many editors) read a date, so the same file means different things to
    different tools. Every text field of plan templates and item types is a
    plain text, never a date. Values under ``attributes`` are skipped because an
    item type's attribute schema may ask for a date there.
    """
    candidates: list[tuple[DocPath, str]] = []

    def visit(value: Any, path: DocPath) -> None:
        if isinstance(value, dict):
            for key, child in value.items():
                if key != "attributes":
                    visit(child, path + (key,))
        elif isinstance(value, list):
            for index, child in enumerate(value):
                visit(child, path + (index,))
        elif isinstance(value, str) and _YAML11_TIMESTAMP.match(value):
            candidates.append((path, value))

    visit(document.data, ())
    if not candidates:
        return []
    try:
        source = Path(document.file).read_text(encoding="utf-8-sig", errors="replace")
    except OSError:
        return []
    lines = _LINE_BREAK.split(source)
    warnings = []
    for path, value in candidates:
        location = document.location(path)
        line = lines[location.line - 1] if 0 < location.line <= len(lines) else ""
        if not line[location.column - 1 : location.column].isdigit():
            continue  # quoted, or a block scalar: text to every YAML reader
        warnings.append(Problem(
            location, "unquoted-date",
            f"{format_path(path)}: {value} is written without quotes, so YAML 1.1 tools such as PyYAML's "
            f"yaml.safe_load read it as a date, while svcplan reads it as text",
            Severity.WARNING, path, value, f'quote the text: "{value}"',
        ))
    return warnings


_WEEK_STARTS = tuple(date(2024, 6, 3) + timedelta(days=day) for day in range(7))
"""Monday 3 June 2024 to the Sunday after: with offsets in days and weeks only,
business-day counting repeats every week, so these seven starts cover every case."""

_MONTH_END_STARTS = (date(2024, 1, 31), date(2023, 1, 31), date(2024, 2, 29), date(2024, 3, 31))
"""Month ends before a leap day, before a February of 28 days, on a leap day and
before a month of 30 days: where adding months clamps the day of the month."""


def _plan_start_samples(offsets: Iterable[Offset], business: bool) -> tuple[date, ...]:
    """Return the plan start dates on which expected dates must be compared with the plan's end.

    With calendar days and weeks only, every date is the start plus a fixed
    number of days, so one start decides. Business days depend on the weekday,
    and months on the month's length.
    """
    # NOTE: with months or years the month-end starts are a sample, not a proof:
    # an element that ends late only on another start date is not reported.
    starts = _WEEK_STARTS if business else _WEEK_STARTS[:1]
    if any(offset.months or offset.years for offset in offsets):
        starts += _MONTH_END_STARTS
    return starts


def plan_duration_problems(document: Document, template: PlanTemplate) -> list[Problem]:
    """Report items and milestones expected to end after the plan's end.

    A template that declares ``plan_duration`` ends each plan on its start plus
    that length, less one day. Every element whose dates follow from plan.start
    alone (directly, or through the expected dates of other such elements) is
    worked out for the sample starts of `_plan_start_samples`, each repetition
    included. An element that ends late for a plan starting on an ordinary
    Monday in mid-month is an error; one that ends late only for other start
    dates (a month end, another weekday) is a warning that names one.

    Elements anchored on a case date or an actual date cannot be worked out
    from the template, so they are not checked.
    """
    length = document.data.get("plan_duration")
    if not isinstance(length, dict):
        return []
    plan_length = _offset(length)
    elements = _scheduled_elements(document, template)
    schedules = [schedule for schedule, _, _ in elements.values()]
    timings = [t for s in schedules for t in (s.start, s.end) if t is not None]
    offsets = [plan_length, *(t.offset for t in timings), *(s.length for s in schedules if s.length),
               *(repeat.every for _, _, repeat in elements.values() if repeat)]
    samples = _plan_start_samples(offsets, any(t.counting is DayCounting.BUSINESS for t in timings))
    late: dict[DocPath, list[tuple[date, date, date, int]]] = {}
    for start in samples:
        plan_end = end_of_span(start, plan_length)
        dates = _ExpectedDates(start, {key: schedule for key, (schedule, _, _) in elements.items()})
        for key, (schedule, path, repeat) in elements.items():
            for occurrence in range(repeat.count if repeat else 1):
                end = dates.end(key, occurrence, repeat)
                if end is not None and end > plan_end:
                    late.setdefault(path, []).append((start, end, plan_end, occurrence))

    problems = []
    for path, cases in late.items():
        start, end, plan_end, occurrence = max(cases, key=lambda case: (case[1] - case[2], case[0]))
        kind = "milestone" if path[0] == "milestones" else "item"
        element_id = document.get(path + ("id",))
        repeat = document.get(path + ("repeat",))
        which = f" (occurrence {occurrence + 1} of {repeat['count']})" if isinstance(repeat, dict) else ""
        usual = any(case[0] == _WEEK_STARTS[0] for case in cases)
        end_path = path + (("end",) if document.get(path + ("end",)) is not None else ("duration",))
        problems.append(Problem(
            document.location(end_path),
            "after-plan-end",
            f"{kind} {element_id!r}{which} is expected to end on {end}, {_days(end - plan_end)} after the plan "
            f"ends on {plan_end}, for a plan starting on {start} (plan_duration: {plan_length.describe()})",
            Severity.ERROR if usual else Severity.WARNING,
            end_path, end.isoformat(),
            "end it earlier or lengthen plan_duration" if usual else
            "it ends late only for some start dates, because months differ in length and weekends move; "
            "end it a few days earlier or lengthen plan_duration",
        ))
    return problems


def _days(span: timedelta) -> str:
    return f"{span.days} day{'s' if span.days != 1 else ''}"


def _scheduled_elements(document: Document, template: PlanTemplate) -> dict[str, tuple[Schedule, DocPath, Repeat | None]]:
    """Map ``item.<id>`` and ``milestone.<id>`` to each element's schedule, document path and repeat."""
    item_paths: dict[str, DocPath] = {}

    def visit_sub_goals(sub_goals: list[Any], path: DocPath) -> None:
        for index, sub_goal in enumerate(sub_goals):
            for item_index, item in enumerate(sub_goal["items"]):
                item_paths[item["id"]] = path + (index, "items", item_index)

    def visit_groups(groups: list[Any], path: DocPath) -> None:
        for index, group in enumerate(groups):
            visit_sub_goals(group.get("sub_goals", []), path + (index, "sub_goals"))
            visit_groups(group.get("groups", []), path + (index, "groups"))

    visit_sub_goals(document.data.get("sub_goals", []), ("sub_goals",))
    visit_groups(document.data.get("groups", []), ("groups",))
    elements: dict[str, tuple[Schedule, DocPath, Repeat | None]] = {}
    for item in template.all_items():
        elements[f"item.{item.id}"] = (item.schedule, item_paths[item.id], item.repeat)
    for index, milestone in enumerate(template.milestones):
        elements[f"milestone.{milestone.id}"] = (milestone.schedule, ("milestones", index), milestone.repeat)
    return elements


@dataclass
class _ExpectedDates:
    """Expected dates of a template's elements for one plan start, known only from plan.start.

    Follows `schedule.expected_dates`: a repetition shifts every anchor date by
    its multiple of the repeat interval, and an anchor on an element means its
    first occurrence. The compile stage has rejected circular timing already.
    """

    plan_start: date
    schedules: Mapping[str, Schedule]
    memo: dict[tuple[str, int], tuple[date | None, date | None]] = field(default_factory=dict)

    def end(self, key: str, occurrence: int, repeat: Repeat | None) -> date | None:
        return self.dates(key, occurrence, repeat)[1]

    def dates(self, key: str, occurrence: int, repeat: Repeat | None) -> tuple[date | None, date | None]:
        if (key, occurrence) in self.memo:
            return self.memo[(key, occurrence)]
        schedule = self.schedules[key]
        offset = repeat.every.times(occurrence) if repeat and occurrence else None
        start = self.timing(schedule.start, offset)
        if schedule.end is not None:
            end = self.timing(schedule.end, offset)
        elif start is not None and schedule.length is not None:
            end = end_of_span(start, schedule.length, schedule.start.counting)
        else:
            end = None
        self.memo[(key, occurrence)] = (start, end)
        return start, end

    def timing(self, timing: Timing, offset: Offset | None) -> date | None:
        anchor = self.anchor(timing.anchor)
        if anchor is None:
            return None
        if offset is not None:
            anchor = shift(anchor, offset)
        return shift(anchor, timing.offset, timing.counting)

    def anchor(self, anchor: str) -> date | None:
        if anchor == "plan.start":
            return self.plan_start
        kind, _, rest = anchor.partition(".")
        element_id, _, field_name = rest.partition(".")
        key = f"{kind}.{element_id}"
        if kind not in ("item", "milestone") or key not in self.schedules:
            return None
        if field_name == "expected_start":
            return self.dates(key, 0, None)[0]
        if field_name == "expected_end":
            return self.dates(key, 0, None)[1]
        return None  # actual dates and case dates are not known from the template
