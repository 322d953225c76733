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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from .dates import DayCounting, Offset
from .errors import Location, Problem, Severity, SvcplanError
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
from .render import ITEM_NAMES, PLAN_NAMES, check_text
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


def load_library(paths: Sequence[Path | str]) -> Library:
    """Load, validate and compile every template, item type and rules file under `paths`.

    Problems are collected, not raised, so that a checker can report all of them;
    callers that need a usable library raise when `Library.errors` is not empty.
    """
    files = discover_files(Path(p) for p in paths)
    problems: list[Problem] = []
    item_type_documents: list[Document] = []
    template_documents: list[Document] = []
    rule_documents: list[Document] = []

    for path in files:
        try:
            document = load_document(path)
        except SvcplanError as error:
            problems.extend(error.problems)
            continue
        problems.extend(document.warnings)
        kind_problems = check_kind(document, ("plan-template", "item-types", "rules"))
        if kind_problems:
            problems.extend(kind_problems)
            continue
        kind = document.data["kind"]
        schema_problems = check_schema(document, kind if kind != "item-types" else "item-types")
        if schema_problems:
            problems.extend(schema_problems)
            continue
        {"item-types": item_type_documents, "plan-template": template_documents, "rules": rule_documents}[kind].append(
            document
        )

    item_types, type_sources = _compile_item_types(item_type_documents, problems)
    templates: dict[str, dict[int, PlanTemplate]] = {}
    first_seen: dict[tuple[str, int], Location] = {}
    for document in template_documents:
        template = _TemplateCompiler(document, item_types, type_sources, problems).compile()
        if template is None:
            continue
        key = (template.id, template.version)
        if key in first_seen:
            problems.append(Problem(
                document.location(("version",)), "duplicate-template-version",
                f"template {template.id!r} version {template.version} is also defined at {first_seen[key]}",
                value=template.version, hint="give each published change a new version number",
            ))
            continue
        first_seen[key] = template.location
        templates.setdefault(template.id, {})[template.version] = template

    log.info("loaded %d files: %d item types, %d templates, %d rules files, %d problems",
             len(files), len(item_types), sum(len(v) for v in templates.values()), len(rule_documents), len(problems))
    return Library(item_types, templates, tuple(rule_documents), tuple(problems), tuple(str(f) for f in files))


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
            if isinstance(text, str):
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
