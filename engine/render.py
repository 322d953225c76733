"""Template texts: names, purposes and outcomes written as jinja2 expressions.

Texts render in jinja2's sandbox, so a template cannot reach Python internals,
and with `StrictUndefined`, so a misspelt name is an error instead of an empty
string in a client's plan.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Mapping

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .errors import Location, Problem, SvcplanError

PLAN_NAMES = frozenset(
    {"case", "plan", "primary_client", "primary_plan_participant", "case_worker", "participants", "users"}
)
"""Names every plan text may use."""

ITEM_NAMES = PLAN_NAMES | {"concerning"}
"""Names an item's texts may use besides the plan's: `concerning` is the person the item is about."""

_PERSON = frozenset({"id", "name", "relationship", "date_of_birth", "registered", "role"})
ATTRIBUTES: dict[str, frozenset[str]] = {
    "case": frozenset({"reference", "program", "organisation_unit", "key_dates", "opened"}),
    "plan": frozenset({"start", "name", "service_plan_type"}),
    "primary_client": _PERSON,
    "primary_plan_participant": _PERSON,
    "case_worker": _PERSON,
    "concerning": _PERSON,
}
"""Attributes of each name a text may read; a person is a participant or a user."""

MAX_TEXT_LENGTH = 2000
"""Longest rendered text; the schema allows template texts of the same length."""

_environment = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


@lru_cache(maxsize=4096)
def _compiled(text: str):  # type: ignore[no-untyped-def]
    return _environment.from_string(text)


def check_text(text: str, allowed: frozenset[str], location: Location, field: str) -> list[Problem]:
    """Return problems with a template text: bad syntax, or a name the plan will not have."""
    if "{" not in text:
        return []
    try:
        tree = _environment.parse(text)
    except TemplateSyntaxError as error:
        return [
            Problem(location, "text-syntax", f"{field}: the expression cannot be read: {error.message}",
                    value=text, hint="check the {{ }} brackets and the expression inside them")
        ]
    unknown = sorted(meta.find_undeclared_variables(tree) - allowed)
    problems = [
        Problem(location, "text-unknown-name", f"{field}: the name {name!r} is not available here",
                value=text, hint=f"use one of: {', '.join(sorted(allowed))}")
        for name in unknown
    ]
    for node in tree.find_all(nodes.Getattr):
        target = node.node
        if isinstance(target, nodes.Name) and target.name in ATTRIBUTES and node.attr not in ATTRIBUTES[target.name]:
            known = ATTRIBUTES[target.name]
            problems.append(Problem(
                location, "text-unknown-attribute", f"{field}: {target.name} has no attribute {node.attr!r}",
                value=text, hint=f"{target.name} has: {', '.join(sorted(known))}"))
    return problems


def render_text(text: str, context: Mapping[str, Any], location: Location, field: str) -> str:
    """Render one text for a plan; raise `SvcplanError` at the text's location if it fails."""
    if "{" not in text:
        return text
    try:
        rendered = _compiled(text).render(**context).strip()
        if len(rendered) > MAX_TEXT_LENGTH:
            raise SvcplanError.single(location, "text-too-long",
                                      f"{field}: the text renders to {len(rendered):,} characters, "
                                      f"more than the {MAX_TEXT_LENGTH:,} allowed", value=text[:200],
                                      hint="shorten the expression's result")
        return rendered
    except TemplateSyntaxError as error:
        message = f"{field}: the expression cannot be read: {error.message}"
        code = "text-syntax"
    except UndefinedError as error:
        message = f"{field}: {error.message}"
        code = "text-undefined"
    except SecurityError as error:
        message = f"{field}: the expression is not allowed: {error}"
        code = "text-unsafe"
    except (TypeError, ValueError, ArithmeticError) as error:
        message = f"{field}: the expression failed: {error}"
        code = "text-failed"
    raise SvcplanError.single(location, code, message, value=text,
                              hint="fix the expression in the template, or give the case the value it needs")
