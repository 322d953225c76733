"""The validate stage: check a loaded document against its JSON Schema.

Each schema is compiled once per process. Every violation becomes a `Problem`
at the line and column of the offending value (or key, for an unknown key),
worded for a template author rather than as a dump of the schema.
"""

from __future__ import annotations

import difflib
import json
from functools import lru_cache
from importlib import resources
from typing import Any, Iterable

from jsonschema import Draft202012Validator, ValidationError
from jsonschema.exceptions import best_match, relevance

from .errors import Problem, Severity, format_path
from .load import Document

SCHEMA_NAMES = ("plan-template", "item-types", "rules", "case", "progress")
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


def schema_text(name: str) -> str:
    """Return the JSON text of the schema `name` exactly as shipped."""
    if name not in SCHEMA_NAMES:
        raise KeyError(name)
    return resources.files(__package__).joinpath("schemas", f"{name}.schema.json").read_text("utf-8")


@lru_cache(maxsize=None)
def _validator(name: str) -> Draft202012Validator:
    schema = json.loads(schema_text(name))
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


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


def _branch(error: ValidationError) -> ValidationError:
    """Pick the sub-error of a oneOf/anyOf failure that an author most likely meant."""
    if error.validator in ("oneOf", "anyOf") and error.context:
        return best_match(error.context, key=relevance)
    return error


def _problem(document: Document, error: ValidationError) -> Problem:
    error = _branch(error)
    path = tuple(error.absolute_path)
    where = format_path(path)
    validator = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    described = schema.get("description", "")
    location = document.location(path)
    hint = ""

    if validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        message = f"{where}: the required key {missing!r} is missing"
        hint = f"add {missing}: to this mapping"
    elif validator == "additionalProperties":
        known = sorted(schema.get("properties", {}))
        extra = [key for key in error.instance if key not in known] if isinstance(error.instance, dict) else []
        key = extra[0] if extra else "?"
        location = document.location(path + (key,), key=True)
        path = path + (key,)
        message = f"{where}: unknown key {key!r}"
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"the keys allowed here are: {', '.join(known)}"
    elif validator == "enum":
        allowed = ", ".join(str(option) for option in error.validator_value)
        message = f"{where}: {_describe(error.instance)} is not allowed"
        hint = f"use one of: {allowed}"
    elif validator == "const":
        message = f"{where}: {_describe(error.instance)} is not allowed"
        hint = f"write {json.dumps(error.validator_value)}"
    elif validator == "type":
        expected = error.validator_value
        words = " or ".join(_TYPE_WORDS.get(name, name) for name in ([expected] if isinstance(expected, str) else expected))
        message = f"{where}: expected {words}, found {_describe(error.instance)}"
        if isinstance(error.instance, str) and expected == "boolean":
            hint = "write true or false without quotes"
        elif isinstance(error.instance, str) and expected in ("integer", "number"):
            hint = "write the number without quotes"
    elif validator == "pattern":
        message = f"{where}: {_describe(error.instance)} is not in the expected form"
        hint = described or f"it must match the pattern {error.validator_value}"
    elif validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        bound = {"minimum": "at least", "maximum": "at most",
                 "exclusiveMinimum": "more than", "exclusiveMaximum": "less than"}[validator]
        message = f"{where}: {error.instance} is out of range; it must be {bound} {error.validator_value}"
    elif validator in ("minLength", "minItems", "minProperties"):
        message = f"{where}: must not be empty"
    elif validator in ("maxLength", "maxItems"):
        message = f"{where}: is longer than the {error.validator_value} allowed"
    elif validator == "uniqueItems":
        message = f"{where}: lists the same value twice"
    elif validator == "oneOf" and isinstance(error.instance, dict):
        options = [
            sub.get("required", [None])[0] for sub in error.validator_value if isinstance(sub, dict) and "required" in sub
        ]
        message = f"{where}: give exactly one of {', '.join(filter(None, options)) or 'the alternatives'}"
    elif validator == "not":
        message = f"{where}: this combination of keys is not allowed"
        hint = described or "see the schema for which keys exclude each other"
    else:
        message = f"{where}: {error.message}"

    return Problem(location, f"schema.{validator}", message, Severity.ERROR, path, error.instance if not isinstance(error.instance, (dict, list)) else None, hint)


def check_schema(document: Document, schema_name: str) -> list[Problem]:
    """Return every schema violation of `document`, ordered by position."""
    validator = _validator(schema_name)
    problems = [_problem(document, error) for error in validator.iter_errors(document.data)]
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
    if not isinstance(document.data, dict):
        return [Problem(document.location(()), "not-a-mapping",
                        "the document must be a mapping with the keys svcplan and kind",
                        hint="start the file with 'svcplan: 1' and 'kind: ...'")]
    kind = document.data.get("kind")
    if kind not in expected:
        return [Problem(document.location(("kind",)), "unknown-kind",
                        f"kind: {_describe(kind) if kind is not None else 'is missing'}; expected {' or '.join(expected)}",
                        path=("kind",), value=kind, hint=f"write kind: {expected[0]}")]
    return []
