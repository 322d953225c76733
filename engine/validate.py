"""The validate stage: check a loaded document against its JSON Schema.

Each schema is compiled once per process. Every violation becomes a `Problem`
at the line and column of the offending value (or key, for an unknown key).
Its code is the schema keyword (``schema.required``, ``schema.enum``...), and
its message and hint give the value found and what would be valid, in words
for a template author rather than a dump of the schema. A failed ``oneOf`` or
``anyOf`` is reported as the alternative the author most likely meant.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Iterable, Mapping

from jsonschema import Draft202012Validator, ValidationError
from jsonschema.exceptions import best_match, relevance

from .errors import Location, Problem, Severity, format_path
from .load import DocPath, Document

SCHEMA_NAMES = ("plan-template", "item-types", "rules", "case", "progress", "published")
"""The schemas shipped in engine/schemas, by the document kind they check."""

_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "nothing (null)",
}


_YAML11_TRUE = {"y", "yes", "on"}
_YAML11_FALSE = {"n", "no", "off"}


def schema_text(name: str) -> str:
    """Return the JSON text of the schema `name` exactly as shipped."""
    if name not in SCHEMA_NAMES:
        raise KeyError(name)
    return resources.files(__package__).joinpath("schemas", f"{name}.schema.json").read_text("utf-8")


@dataclass(frozen=True)
class _CompiledSchema:
    validator: Draft202012Validator
    conditions: Mapping[int, Mapping[str, Any]]
    """The ``if`` schema of each ``then`` schema, by the ``id()`` of the ``then`` dict."""


@lru_cache(maxsize=None)
def _compiled(name: str) -> _CompiledSchema:
    schema = json.loads(schema_text(name))
    conditions: dict[int, Mapping[str, Any]] = {}

    def index(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("if"), dict) and isinstance(node.get("then"), dict):
                conditions[id(node["then"])] = node["if"]
            for child in node.values():
                index(child)
        elif isinstance(node, list):
            for child in node:
                index(child)

    schema = _inline_references(schema)
    index(schema)
    # NOTE: jsonschema checks "format": "uri" only when the rfc3987 package is
    # installed, so without it guidance_url is checked by its pattern alone.
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return _CompiledSchema(validator, conditions)


def _inline_references(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace each ``{"$ref": "#/$defs/name"}`` by the definition itself, except where it recurses.

    Following a reference is the largest single cost of jsonschema's validation,
    and the shipped schemas use them for every item, timing and duration. A
    definition that refers to itself (a group holds groups) keeps its reference,
    so `$defs` stays in the schema for those.
    """
    definitions = schema.get("$defs", {})
    inlined: dict[str, Any] = {}

    def resolve(node: Any, active: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [resolve(child, active) for child in node]
        if not isinstance(node, dict):
            return node
        reference = node.get("$ref")
        name = reference.removeprefix("#/$defs/") if isinstance(reference, str) else None
        siblings = set(node) - {"$ref", "description", "title"}
        if name in definitions and name not in active and not siblings:
            if name not in inlined:
                inlined[name] = resolve(definitions[name], active + (name,))
            target = inlined[name]
            return {**target, "description": node["description"]} if "description" in node else target
        return {key: resolve(value, active) if key != "$defs" else value for key, value in node.items()}

    return resolve(schema, ())


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nothing (null)"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return repr(value)


def _type_words(expected: str | list[str]) -> str:
    names = [expected] if isinstance(expected, str) else list(expected)
    return " or ".join(_TYPE_WORDS.get(name, name) for name in names)


def _plain_value(value: Any) -> object:
    """Return a scalar value as it is, and None for a list or mapping."""
    return None if isinstance(value, (dict, list)) else value


def _instance_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _accepts_type(schema: Any, value: Any) -> bool:
    """Tell whether a oneOf/anyOf alternative is meant for values of this JSON type."""
    if not isinstance(schema, dict) or "type" not in schema:
        return not (isinstance(schema, dict) and "enum" in schema and value not in schema["enum"])
    expected = schema["type"]
    names = {expected} if isinstance(expected, str) else set(expected)
    found = _instance_type(value)
    return found in names or (found == "integer" and "number" in names)


@dataclass
class _Wording:
    """Turns one `ValidationError` into located, worded problems for one document."""

    document: Document
    conditions: Mapping[int, Mapping[str, Any]]

    def problems(self, error: ValidationError) -> list[Problem]:
        if error.validator in ("oneOf", "anyOf"):
            return self.alternatives(error)
        handler = getattr(self, f"keyword_{error.validator}", None)
        if handler is None:
            path = tuple(error.absolute_path)
            return [self.problem(error, path, f"{format_path(path)}: {error.message}")]
        return handler(error)

    # --- helpers ---------------------------------------------------------------

    def problem(
        self, error: ValidationError, path: DocPath, message: str, hint: str = "",
        *, location: Location | None = None, value: object = ..., code: str | None = None,
    ) -> Problem:
        return Problem(
            location or self.document.location(path),
            code or f"schema.{error.validator}",
            message, Severity.ERROR, path,
            _plain_value(error.instance) if value is ... else value,
            hint,
        )

    def condition(self, error: ValidationError) -> str:
        """Return ' when kind is basic' for an error under a ``then``, else ''."""
        condition = self.conditions.get(id(error.schema))
        if not condition:
            return ""
        parts = []
        for key, rule in condition.get("properties", {}).items():
            if isinstance(rule, dict) and "const" in rule:
                parts.append(f"{key} is {rule['const']}")
            elif isinstance(rule, dict) and "enum" in rule:
                parts.append(f"{key} is one of {', '.join(map(str, rule['enum']))}")
        return f" when {' and '.join(parts)}" if parts else ""

    # --- keywords --------------------------------------------------------------

    def keyword_required(self, error: ValidationError) -> list[Problem]:
        path = tuple(error.absolute_path)
        missing = [key for key in error.validator_value if isinstance(error.instance, dict) and key not in error.instance]
        key = missing[0] if missing else error.message.split("'")[1]
        return [self.problem(
            error, path, f"{format_path(path)}: the required key {key!r} is missing{self.condition(error)}",
            f"add {key}: to this mapping", value=None,
        )]

    def keyword_additionalProperties(self, error: ValidationError) -> list[Problem]:
        path = tuple(error.absolute_path)
        known = sorted(error.schema.get("properties", {}))
        extra = [key for key in error.instance if key not in known] if isinstance(error.instance, dict) else []
        problems = []
        for key in extra:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"the keys allowed here are: {', '.join(known)}"
            problems.append(self.problem(
                error, path + (key,), f"{format_path(path)}: unknown key {key!r}", hint,
                location=self.document.location(path + (key,), key=True), value=key,
            ))
        return problems

    def keyword_enum(self, error: ValidationError) -> list[Problem]:
        path = tuple(error.absolute_path)
        allowed = [str(option) for option in error.validator_value]
        close = difflib.get_close_matches(str(error.instance), allowed, n=1) if isinstance(error.instance, str) else []
        hint = f"did you mean {close[0]!r}? The values allowed are: {', '.join(allowed)}" if close else \
            f"use one of: {', '.join(allowed)}"
        return [self.problem(error, path, f"{format_path(path)}: {_describe(error.instance)} is not allowed", hint)]

    def keyword_const(self, error: ValidationError) -> list[Problem]:
        path = tuple(error.absolute_path)
        return [self.problem(
            error, path, f"{format_path(path)}: {_describe(error.instance)} is not allowed; "
            f"the only value allowed is {json.dumps(error.validator_value)}",
            f"write {path[-1] if path else 'the value'}: {json.dumps(error.validator_value)}",
        )]

    def keyword_type(self, error: ValidationError) -> list[Problem]:
        path = tuple(error.absolute_path)
        expected = error.validator_value
        hint = ""
        if isinstance(error.instance, str) and expected == "boolean" and error.instance.lower() in _YAML11_TRUE | _YAML11_FALSE:
            meant = "true" if error.instance.lower() in _YAML11_TRUE else "false"
            hint = f"svcplan reads YAML 1.2, where only true and false are booleans: write {meant}"
        elif isinstance(error.instance, str) and expected == "boolean":
            hint = "write true or false without quotes"
        elif isinstance(error.instance, str) and expected in ("integer", "number"):
            hint = "write the number without quotes"
        elif isinstance(error.instance, float) and expected == "integer":
            hint = "write a whole number, without a decimal point"
        elif error.instance is None:
            hint = "write a value after the colon, or remove the key"
        elif isinstance(error.instance, str) and expected == "object" and ":" not in error.instance:
            hint = "write the keys of the mapping on indented lines below, or as {key: value}"
        return [self.problem(
            error, path, f"{format_path(path)}: expected {_type_words(expected)}, found {_describe(error.instance)}", hint,
        )]

    def keyword_pattern(self, error: ValidationError) -> list[Problem]:
        path = tuple(error.absolute_path)
        described = error.schema.get("description", "")
        return [self.problem(
            error, path, f"{format_path(path)}: {_describe(error.instance)} is not in the expected form",
            described or f"it must match the regular expression {error.validator_value}",
        )]

    def keyword_format(self, error: ValidationError) -> list[Problem]:
        path = tuple(error.absolute_path)
        form = error.validator_value
        example = {"uri": "https://example.org/guidance", "date": "2027-01-08", "email": "name@example.org"}.get(form)
        hint = f"write a valid {form}, e.g. {example}" if example else f"write a valid {form}"
        return [self.problem(error, path, f"{format_path(path)}: {_describe(error.instance)} is not a valid {form}", hint)]

    def _bound(self, error: ValidationError, words: str) -> list[Problem]:
        path = tuple(error.absolute_path)
        return [self.problem(
            error, path, f"{format_path(path)}: {_describe(error.instance)} is out of range; it must be "
            f"{words} {error.validator_value}",
            f"write a number {words} {error.validator_value}",
        )]

    def keyword_minimum(self, error: ValidationError) -> list[Problem]:
        return self._bound(error, "at least")

    def keyword_maximum(self, error: ValidationError) -> list[Problem]:
        return self._bound(error, "at most")

    def keyword_exclusiveMinimum(self, error: ValidationError) -> list[Problem]:
        return self._bound(error, "more than")

    def keyword_exclusiveMaximum(self, error: ValidationError) -> list[Problem]:
        return self._bound(error, "less than")

    def keyword_multipleOf(self, error: ValidationError) -> list[Problem]:
        path = tuple(error.absolute_path)
        return [self.problem(
            error, path, f"{format_path(path)}: {_describe(error.instance)} is not a multiple of {error.validator_value}",
            f"write a multiple of {error.validator_value}",
        )]

    def keyword_minLength(self, error: ValidationError) -> list[Problem]:
        path = tuple(error.absolute_path)
        minimum = error.validator_value
        if error.instance == "":
            message = f"{format_path(path)}: the text is empty"
        else:
            message = f"{format_path(path)}: the text {error.instance!r} is {len(error.instance)} characters long"
        return [self.problem(error, path, message, f"write at least {minimum} character{'s' if minimum != 1 else ''}")]

    def keyword_maxLength(self, error: ValidationError) -> list[Problem]:
        path = tuple(error.absolute_path)
        return [self.problem(
            error, path, f"{format_path(path)}: the text is {len(error.instance)} characters long; "
            f"at most {error.validator_value} are allowed",
            "shorten it; put longer explanations in description", value=error.instance[:40] + "…",
        )]

    def keyword_minItems(self, error: ValidationError) -> list[Problem]:
        path = tuple(error.absolute_path)
        count = len(error.instance)
        found = "the list is empty" if not count else f"the list has {count} entr{'y' if count == 1 else 'ies'}"
        return [self.problem(
            error, path, f"{format_path(path)}: {found}; at least {error.validator_value} are needed",
            f"add {'entries' if error.validator_value - count > 1 else 'an entry'} to the list",
        )]

    def keyword_maxItems(self, error: ValidationError) -> list[Problem]:
        path = tuple(error.absolute_path)
        return [self.problem(
            error, path, f"{format_path(path)}: the list has {len(error.instance)} entries; "
            f"at most {error.validator_value} are allowed", "remove entries from the list",
        )]

    def keyword_minProperties(self, error: ValidationError) -> list[Problem]:
        path = tuple(error.absolute_path)
        options = sorted(error.schema.get("properties", {}))
        return [self.problem(
            error, path, f"{format_path(path)}: the mapping is empty",
            f"give at least one of: {', '.join(options)}" if options else "give at least one key",
        )]

    def keyword_uniqueItems(self, error: ValidationError) -> list[Problem]:
        path = tuple(error.absolute_path)
        seen: list[Any] = []
        for index, value in enumerate(error.instance):
            if value in seen:
                first = seen.index(value)
                return [self.problem(
                    error, path + (index,),
                    f"{format_path(path)}: {_describe(value)} is listed twice, at positions {first + 1} and {index + 1}",
                    "remove the second entry", value=_plain_value(value),
                )]
            seen.append(value)
        return [self.problem(error, path, f"{format_path(path)}: the list repeats a value", "remove the repeated entry")]

    def keyword_not(self, error: ValidationError) -> list[Problem]:
        path = tuple(error.absolute_path)
        forbidden = error.validator_value if isinstance(error.validator_value, dict) else {}
        instance = error.instance if isinstance(error.instance, dict) else {}
        # {not: {anyOf: [{required: [a]}, {required: [b]}]}}: none of these keys may be given.
        keys = [key for branch in forbidden.get("anyOf", []) for key in branch.get("required", []) if key in instance]
        if keys:
            return [self.problem(
                error, path + (key,), f"{format_path(path)}: {key} is not allowed{self.condition(error)}",
                f"remove {key}", location=self.document.location(path + (key,), key=True), value=key,
            ) for key in keys]
        together = [key for key in forbidden.get("required", []) if key in instance]
        if together and len(together) == len(forbidden.get("required", [])):
            values = ", ".join(f"{key}: {json.dumps(instance[key])}" for key in together)
            last = together[-1]
            return [self.problem(
                error, path + (last,), f"{format_path(path)}: {values} cannot be given together",
                error.schema.get("description") or f"remove one of {' and '.join(together)}",
                location=self.document.location(path + (last,), key=True), value=None,
            )]
        return [self.problem(
            error, path, f"{format_path(path)}: this value matches a form that is not allowed here",
            error.schema.get("description", ""),
        )]

    def keyword_dependentRequired(self, error: ValidationError) -> list[Problem]:
        path = tuple(error.absolute_path)
        return [self.problem(error, path, f"{format_path(path)}: {error.message}", "add the key it needs")]

    # --- alternatives ------------------------------------------------------------

    def alternatives(self, error: ValidationError) -> list[Problem]:
        """Word a failed oneOf or anyOf as the alternative the author most likely meant."""
        path = tuple(error.absolute_path)
        branches = error.validator_value
        instance = error.instance
        required_keys = [branch["required"] for branch in branches if isinstance(branch, dict) and set(branch) == {"required"}]
        if isinstance(instance, dict) and len(required_keys) == len(branches):
            # {oneOf: [{required: [end]}, {required: [duration]}]}: exactly one of these keys.
            options = [keys[0] for keys in required_keys]
            given = [key for key in options if key in instance]
            if given and error.validator == "oneOf":
                last = given[-1]
                return [self.problem(
                    error, path + (last,), f"{format_path(path)}: give either {' or '.join(options)}, "
                    f"not {' and '.join(given)}", f"remove {last} or {given[0]}",
                    location=self.document.location(path + (last,), key=True), value=None,
                )]
            return [self.problem(
                error, path, f"{format_path(path)}: give {' or '.join(options)}; none of them is given",
                f"add {options[0]}: (or {', '.join(options[1:])}) to this mapping", value=None,
            )]

        meant = [index for index, branch in enumerate(branches) if _accepts_type(branch, instance)]
        if len(meant) == 1 and error.context:
            # One alternative takes values of this type: report why the value breaks it.
            inside = [sub for sub in error.context if sub.relative_schema_path and sub.relative_schema_path[0] == meant[0]]
            if inside:
                return self.problems(best_match(inside, key=relevance))
        if not meant:
            kinds = [_type_words(branch["type"]) for branch in branches if isinstance(branch, dict) and "type" in branch]
            described = error.schema.get("description", "")
            return [self.problem(
                error, path, f"{format_path(path)}: expected {' or '.join(kinds) or 'another value'}, "
                f"found {_describe(instance)}", described,
            )]
        if error.validator == "oneOf" and not error.context:
            return [self.problem(
                error, path, f"{format_path(path)}: the value fits more than one of the allowed forms",
                error.schema.get("description", "make the value fit exactly one form"),
            )]
        return self.problems(best_match(error.context, key=relevance)) if error.context else [
            self.problem(error, path, f"{format_path(path)}: {error.message}")
        ]


def check_schema(document: Document, schema_name: str) -> list[Problem]:
    """Return every schema violation of `document`, ordered by position."""
    compiled = _compiled(schema_name)
    wording = _Wording(document, compiled.conditions)
    problems = [problem for error in compiled.validator.iter_errors(document.data) for problem in wording.problems(error)]
    return sorted(problems, key=lambda problem: problem.location)


def document_kind(document: Document) -> str | None:
    """Return the document's declared `kind`, or None where it declares none."""
    if isinstance(document.data, dict):
        kind = document.data.get("kind")
        return kind if isinstance(kind, str) else None
    return None


def check_kind(document: Document, expected: Iterable[str]) -> list[Problem]:
    """Check that a document is a mapping with `svcplan: 1` and one of the expected kinds."""
    expected = tuple(expected)
    listed = ", ".join(expected[:-1]) + f" or {expected[-1]}" if len(expected) > 1 else expected[0]
    if not isinstance(document.data, dict):
        return [Problem(document.location(()), "not-a-mapping",
                        f"the document is {_describe(document.data)}; svcplan expects a mapping with the keys "
                        f"svcplan and kind",
                        value=_plain_value(document.data),
                        hint=f"start the file with 'svcplan: 1' and 'kind: {expected[0]}'")]
    if "kind" not in document.data:
        return [Problem(document.location(()), "unknown-kind",
                        f"the required key 'kind' is missing; expected kind: {listed}",
                        hint=f"add kind: {expected[0]} (or the kind of document this file is)")]
    kind = document.data["kind"]
    if kind not in expected:
        close = difflib.get_close_matches(str(kind), expected, n=1)
        return [Problem(document.location(("kind",)), "unknown-kind",
                        f"kind: {_describe(kind)} is not a kind of document svcplan reads here; expected {listed}",
                        path=("kind",), value=_plain_value(kind),
                        hint=f"did you mean kind: {close[0]}?" if close else f"write kind: {expected[0]}")]
    return []
