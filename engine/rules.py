"""The rules stage: read rules files, check their meaning and compile them twice.

A rules file (``kind: rules``) contains one ruleset. Each rule applies to one kind
of fact (see `FACT_FIELDS`) and fires for every fact of that kind that meets all
of its ``when`` conditions. `compile_rules` turns each file into a
`CompiledRuleset` that contains the same rules in two forms:

- the durable-rules JSON definition that `rulesengine.RulesEngine` runs;
- one plain-Python predicate per rule, which `evaluate_facts` runs. Tests use it
  as the reference for the engine, and benchmarks use it as the speed limit.

Semantics shared by both forms:

- A comparison that reads a field the fact lacks is false, except ``!=`` and
  ``not-in``: a fact without the field holds for them, so an item with no
  ``outcome`` is "not cancelled". When the field is present but a field read
  by the value is missing, they are false too.
- Numbers compare and compute as 64-bit floats and dates as whole epoch days,
  so ``{add: [{field: as_of}, 7]}`` is the date a week after ``as_of``.
- Booleans compare only with ``==`` and ``!=``; ``<`` and the like take dates or
  numbers.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import math
import operator
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping, Sequence

from .dates import from_epoch_day, parse_date, to_epoch_day
from .errors import Location, Problem, SvcplanError
from .facts import FACT_FIELDS, FieldType
from .load import DocPath, Document, load_document
from .validate import check_kind, check_schema

log = logging.getLogger(__name__)

MAX_RULES_PER_RULESET = 400
"""Maximum number of rules in one file, catch-all rule not counted.

NOTE: durable-rules 2.0.28 was reported to hang while registering 513 rules.
That was not reproduced on x86-64 Linux, where 1,000 rules in one ruleset
registered and ran, so this limit is a margin below the report, not a measurement."""

MAX_ALPHA_WIDTH = 48
"""Maximum number of condition nodes the engine may keep pending while it matches one fact.

durable-rules walks its condition tree depth first with a fixed stack of 64
nodes and fails with error 303 past that. The compiler bounds the stack by the
sum, along every path of the tree, of the number of branches at each node (the
estimate in `_alpha_width`). On durable-rules 2.0.28 (x86-64 Linux, 2 cores)
error 303 first appeared at an estimate of 67: 65 rules on one fact kind whose
second conditions all differ. 48 leaves a margin for the estimate being off.

NOTE: the estimate assumes that the engine expands each $or into separate
condition paths and shares identical leading conditions, which matches the
measurements but was not read in the engine's source.
"""

CATCH_ALL_RULE = "_catch_all"
"""Name of the rule added to every ruleset so that the engine handles every fact.
Rule ids cannot contain an underscore, so it never clashes with an author's rule."""

SEQUENCE_FIELD = "fact_seq"
"""Field that the engine adapter adds to every fact: its position in the batch."""

ENGINE_FIELD_NAMES: Mapping[str, str] = MappingProxyType({"id": "element_id"})
"""Fact fields that go into the engine under another name. durable-rules uses a
fact's ``id`` as its message id and rejects a second fact with the same one, so
the adapter sets ``id`` itself and moves the element's own id aside."""

_COMPARISONS: Mapping[str, tuple[str, Callable[[Any, Any], bool]]] = MappingProxyType({
    "<": ("$lt", operator.lt),
    "<=": ("$lte", operator.le),
    ">": ("$gt", operator.gt),
    ">=": ("$gte", operator.ge),
    "==": ("$eq", operator.eq),
    "!=": ("$neq", operator.ne),
})
_ORDERING = {"<", "<=", ">", ">="}
_RESERVED = {"sid", SEQUENCE_FIELD, *ENGINE_FIELD_NAMES.values()}

for _kind, _fields in FACT_FIELDS.items():
    if _RESERVED & set(_fields):
        raise RuntimeError(f"FACT_FIELDS[{_kind!r}] uses a name that the rules engine reserves: {_RESERVED & set(_fields)}")


class _Missing:
    """The value of a field that a fact lacks or sets to None."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()

Predicate = Callable[[Mapping[str, Any]], bool]
_Getter = Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True)
class CompiledRule:
    """One rule of a ruleset: what a finding shows, and its Python predicate."""

    id: str
    ruleset: str
    title: str
    severity: str
    applies_to: str
    message: str
    evidence: tuple[str, ...]
    location: Location
    predicate: Predicate = field(compare=False, repr=False)
    parameters: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    description: str = ""

    def matches(self, fact: Mapping[str, Any]) -> bool:
        """Return whether the rule fires for `fact`, computed in plain Python."""
        return self.predicate(fact)


@dataclass(frozen=True)
class CompiledRuleset:
    """One compiled rules file.

    `definition_json` is the durable-rules definition, catch-all rule included,
    as JSON text so that no caller can change it; `definition` parses a fresh copy.
    `content_hash` is the SHA-256 of that text, so two rulesets with the same
    hash compile to the same engine rules.
    """

    id: str
    content_hash: str
    definition_json: str
    rules: tuple[CompiledRule, ...]
    parameters: Mapping[str, Any]
    location: Location
    description: str = ""

    @property
    def definition(self) -> dict[str, Any]:
        """Return a new copy of the durable-rules definition (the engine consumes it)."""
        return json.loads(self.definition_json)

    @property
    def engine_name(self) -> str:
        """Name under which the ruleset is registered with the engine: id and content hash."""
        return f"{self.id}-{self.content_hash[:16]}"

    def rule(self, rule_id: str) -> CompiledRule:
        """Return the rule with id `rule_id`; raise KeyError when there is none."""
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)


# --- reading and checking ------------------------------------------------------


def load_rules(paths: Iterable[Path | str], params: Mapping[str, Any] | None = None) -> list[CompiledRuleset]:
    """Load and compile rules files; raise `SvcplanError` listing every problem."""
    documents: list[Document] = []
    problems: list[Problem] = []
    for path in paths:
        try:
            documents.append(load_document(path))
        except SvcplanError as error:
            problems.extend(error.problems)
    if problems:
        raise SvcplanError(problems)
    return compile_rules(documents, params=params)


def compile_rules(
    documents: Sequence[Document], params: Mapping[str, Any] | None = None
) -> list[CompiledRuleset]:
    """Check and compile loaded rules documents, in the order given.

    `params` overrides parameter defaults: ``NAME`` sets it in every ruleset
    that declares it, ``RULESET.NAME`` in that ruleset only. A name that no
    ruleset declares, or a value of another type than the default, is an error.
    Raise `SvcplanError` listing every problem of every file.
    """
    problems: list[Problem] = []
    overrides = _check_overrides(documents, dict(params or {}), problems)
    compiled: list[CompiledRuleset] = []
    rule_sources: dict[str, Location] = {}
    ruleset_sources: dict[str, Location] = {}
    for document in documents:
        file_problems = check_kind(document, ("rules",)) or check_schema(document, "rules")
        if file_problems:
            problems.extend(file_problems)
            continue
        ruleset = _RulesetCompiler(document, overrides, problems).compile()
        if ruleset is None:
            continue
        if ruleset.id in ruleset_sources:
            problems.append(Problem(
                document.location(("ruleset",)), "duplicate-ruleset",
                f"ruleset {ruleset.id!r} is also defined at {ruleset_sources[ruleset.id]}",
                path=("ruleset",), value=ruleset.id, hint="give each rules file its own ruleset id",
                related=(ruleset_sources[ruleset.id],),
            ))
            continue
        ruleset_sources[ruleset.id] = ruleset.location
        duplicate = False
        for rule in ruleset.rules:
            if rule.id in rule_sources:
                duplicate = True
                problems.append(Problem(
                    rule.location, "duplicate-rule-id",
                    f"rule id {rule.id!r} is also used at {rule_sources[rule.id]}",
                    value=rule.id, hint="rename one of the rules; rule ids are unique across all rules files",
                    related=(rule_sources[rule.id],),
                ))
            else:
                rule_sources[rule.id] = rule.location
        if not duplicate:
            compiled.append(ruleset)
    if problems:
        raise SvcplanError(problems)
    log.info("compiled %d rulesets with %d rules", len(compiled), sum(len(r.rules) for r in compiled))
    return compiled


def _check_overrides(
    documents: Sequence[Document], params: dict[str, Any], problems: list[Problem]
) -> dict[tuple[str, str], Any]:
    """Return overrides keyed by (ruleset id, parameter name), checked against the defaults."""
    declared: dict[tuple[str, str], Any] = {}
    for document in documents:
        data = document.data if isinstance(document.data, dict) else {}
        ruleset, parameters = data.get("ruleset"), data.get("parameters")
        if isinstance(ruleset, str) and isinstance(parameters, dict):
            for name, default in parameters.items():
                declared[(ruleset, name)] = default

    where = Location("rule parameters")
    result: dict[tuple[str, str], Any] = {}
    for key, value in params.items():
        ruleset, _, name = key.rpartition(".")
        targets = [k for k in declared if k[1] == name and (not ruleset or k[0] == ruleset)]
        if not targets:
            known = sorted({f"{r}.{n}" for r, n in declared} | {n for _, n in declared})
            close = difflib.get_close_matches(key, known, n=1)
            problems.append(Problem(
                where, "unknown-parameter",
                f"no ruleset declares the parameter {key!r}",
                value=key,
                hint=f"did you mean {close[0]!r}?" if close else
                f"declared parameters: {', '.join(known) or 'none'}",
            ))
            continue
        for target in targets:
            converted = _convert_override(value, declared[target])
            if converted is MISSING:
                problems.append(Problem(
                    where, "parameter-type",
                    f"parameter {key!r} is {_type_word(declared[target])} but was given {value!r}",
                    value=value, hint=f"give {_type_word(declared[target])}, like the default {declared[target]!r}",
                ))
                break
            result[target] = converted
    return result


def _type_word(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    return "a text"


def _convert_override(value: Any, default: Any) -> Any:
    """Return `value` as the type of `default`, accepting the text forms a command line gives."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        return MISSING
    if isinstance(default, (int, float)):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return float(value) if any(c in value for c in ".eE") else int(value)
            except ValueError:
                return MISSING
        return MISSING
    return value if isinstance(value, str) else MISSING


# --- compiling one file ----------------------------------------------------------


@dataclass(frozen=True)
class _Value:
    """A compiled value expression: its type, durable-rules form and Python getter."""

    type: FieldType
    engine: Any
    get: _Getter
    fields: frozenset[str]
    constant: bool
    reads_dates: bool = False


@dataclass(frozen=True)
class _Condition:
    """A compiled condition: the durable-rules tests that must all hold, and the predicate."""

    tests: tuple[Any, ...]
    guards: frozenset[str]
    test: Predicate


class _RuleError(Exception):
    """A problem already recorded; compiling the current rule stops."""


class _RulesetCompiler:
    def __init__(self, document: Document, overrides: Mapping[tuple[str, str], Any], problems: list[Problem]) -> None:
        self.document = document
        self.data: dict[str, Any] = document.data
        self.ruleset_id: str = self.data["ruleset"]
        self.problems = problems
        self.error_count = 0
        defaults: dict[str, Any] = dict(self.data.get("parameters") or {})
        for (ruleset, name), value in overrides.items():
            if ruleset == self.ruleset_id:
                defaults[name] = value
        self.parameters = {
            name: float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
            for name, value in defaults.items()
        }

    def fail(
        self, path: DocPath, code: str, message: str, value: object = None, hint: str = "", *, key: bool = False
    ) -> _RuleError:
        self.error_count += 1
        location = self.document.location(path, key=key)
        self.problems.append(Problem(location, code, message, path=path, value=value, hint=hint))
        return _RuleError()

    def compile(self) -> CompiledRuleset | None:
        rules_data: list[dict[str, Any]] = self.data["rules"]
        if len(rules_data) > MAX_RULES_PER_RULESET:
            self.fail(
                ("rules",), "too-many-rules",
                f"ruleset {self.ruleset_id!r} has {len(rules_data)} rules; the rules engine takes at most "
                f"{MAX_RULES_PER_RULESET} in one ruleset",
                len(rules_data), "split the rules into several files, for example one per concern", key=True,
            )
            return None

        rules: list[CompiledRule] = []
        engine_rules: dict[str, Any] = {}
        seen: dict[str, int] = {}
        for index, rule_data in enumerate(rules_data):
            path: DocPath = ("rules", index)
            rule_id = rule_data["id"]
            if rule_id in seen:
                self.fail(path + ("id",), "duplicate-rule-id",
                          f"rule id {rule_id!r} is also used by rules[{seen[rule_id]}] of this file",
                          rule_id, "rename one of the rules")
                continue
            seen[rule_id] = index
            try:
                rule, engine_rule = self._rule(rule_data, path)
            except _RuleError:
                continue
            rules.append(rule)
            engine_rules[rule_id] = engine_rule
        if self.error_count:
            return None

        engine_rules[CATCH_ALL_RULE] = {"all": [{"m": {"$ex": {SEQUENCE_FIELD: 1}}}], "run": CATCH_ALL_RULE}
        width = _alpha_width(engine_rules)
        if width > MAX_ALPHA_WIDTH:
            self.fail(
                ("rules",), "ruleset-too-wide",
                f"ruleset {self.ruleset_id!r} makes the rules engine hold up to {width} pending conditions "
                f"for one fact; it supports at most {MAX_ALPHA_WIDTH}",
                width,
                "split the rules into several files, or start rules on the same fact kind with the same "
                "conditions so that the engine can share them",
                key=True,
            )
            return None

        definition_json = json.dumps(engine_rules, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        content_hash = hashlib.sha256(definition_json.encode("utf-8")).hexdigest()
        return CompiledRuleset(
            id=self.ruleset_id,
            content_hash=content_hash,
            definition_json=definition_json,
            rules=tuple(rules),
            parameters=MappingProxyType(dict(self.parameters)),
            location=self.document.location(("ruleset",)),
            description=self.data.get("description", ""),
        )

    def _rule(self, data: dict[str, Any], path: DocPath) -> tuple[CompiledRule, dict[str, Any]]:
        kind: str = data["applies_to"]
        if kind not in FACT_FIELDS:
            raise self.fail(path + ("applies_to",), "unknown-fact-kind",
                            f"applies_to: {kind!r} is not a kind of fact",
                            kind, f"use one of {', '.join(FACT_FIELDS)}")
        fields = FACT_FIELDS[kind]
        conditions = [self._condition(c, kind, path + ("when", i)) for i, c in enumerate(data["when"])]
        self._check_message(data["message"], fields, path + ("message",))
        evidence = tuple(data.get("evidence", ()))
        for i, name in enumerate(evidence):
            self._field_type(name, kind, path + ("evidence", i))

        guards = sorted(set().union(*(c.guards for c in conditions)))
        tests: list[Any] = [{"kind": kind}]
        tests += [{"$ex": {_engine_field(name): 1}} for name in guards]
        for condition in conditions:
            tests.extend(condition.tests)
        engine_rule = {"all": [{"m": {"$and": tests}}], "run": data["id"]}

        checks = tuple(c.test for c in conditions)

        def predicate(fact: Mapping[str, Any]) -> bool:
            return fact.get("kind") == kind and all(check(fact) for check in checks)

        rule = CompiledRule(
            id=data["id"], ruleset=self.ruleset_id, title=data["title"], severity=data["severity"],
            applies_to=kind, message=data["message"], evidence=evidence,
            location=self.document.location(path + ("id",)), predicate=predicate,
            parameters=MappingProxyType(dict(self.parameters)), description=data.get("description", ""),
        )
        return rule, engine_rule

    def _field_type(self, name: str, kind: str, path: DocPath) -> FieldType:
        fields = FACT_FIELDS[kind]
        if name not in fields:
            close = difflib.get_close_matches(name, list(fields), n=1)
            raise self.fail(path, "unknown-field", f"{kind} facts have no field {name!r}", name,
                            f"did you mean {close[0]!r}?" if close else f"{kind} fields: {', '.join(fields)}")
        return fields[name]

    def _check_message(self, message: str, fields: Mapping[str, FieldType], path: DocPath) -> None:
        try:
            parsed = list(string.Formatter().parse(message))
        except ValueError as error:
            raise self.fail(path, "invalid-message", f"message: {error}", message,
                            "write {name} for a field and {{ or }} for a literal brace") from None
        for _, name, spec, conversion in parsed:
            if name is None:
                continue
            if spec or conversion or not name:
                raise self.fail(path, "invalid-message",
                                f"message placeholder {{{name}{'!' + conversion if conversion else ''}"
                                f"{':' + spec if spec else ''}}} is not a plain {{name}}", message,
                                "write {name} for a field or parameter; formats are not supported")
            if name not in fields and name not in self.parameters:
                close = difflib.get_close_matches(name, [*fields, *self.parameters], n=1)
                raise self.fail(path, "unknown-placeholder",
                                f"message placeholder {{{name}}} is neither a field of the fact nor a parameter",
                                name, f"did you mean {{{close[0]}}}?" if close else "use a field of the fact")

    # --- conditions

    def _condition(self, data: dict[str, Any], kind: str, path: DocPath) -> _Condition:
        if "any" in data:
            alternatives = [self._comparison(c, kind, path + ("any", i)) for i, c in enumerate(data["any"])]
            branches = []
            for alternative in alternatives:
                tests = [{"$ex": {_engine_field(name): 1}} for name in sorted(alternative.guards)]
                tests += list(alternative.tests)
                branches.append(tests[0] if len(tests) == 1 else {"$and": tests})
            checks = tuple(a.test for a in alternatives)

            def any_test(fact: Mapping[str, Any]) -> bool:
                return any(check(fact) for check in checks)

            return _Condition(({"$or": branches},), frozenset(), any_test)
        return self._comparison(data, kind, path)

    def _comparison(self, data: dict[str, Any], kind: str, path: DocPath) -> _Condition:
        name: str = data["field"]
        op: str = data["op"]
        field_type = self._field_type(name, kind, path + ("field",))
        engine_name = _engine_field(name)

        if op in ("exists", "missing"):
            present = op == "exists"

            def presence(fact: Mapping[str, Any]) -> bool:
                return (_get(fact, name) is not MISSING) == present

            return _Condition(({"$ex" if present else "$nex": {engine_name: 1}},), frozenset(), presence)

        if op in ("in", "not-in"):
            literals = [self._literal(v, field_type, path + ("value", i)) for i, v in enumerate(data["value"])]
            if op == "in":
                tests = [{"$eq": {engine_name: v}} for v in literals]
                engine = tests[0] if len(tests) == 1 else {"$or": tests}

                def member(fact: Mapping[str, Any]) -> bool:
                    value = _get(fact, name)
                    return value is not MISSING and any(value == v for v in literals)

                return _Condition((engine,), frozenset({name}), member)
            tests = [{"$neq": {engine_name: v}} for v in literals]
            present_test = tests[0] if len(tests) == 1 else {"$and": tests}

            def not_member(fact: Mapping[str, Any]) -> bool:
                value = _get(fact, name)
                return value is MISSING or all(value != v for v in literals)

            return _Condition(({"$or": [{"$nex": {engine_name: 1}}, present_test]},), frozenset(), not_member)

        value = self._value(data["value"], kind, path + ("value",))
        if field_type == FieldType.DATE and value.type == FieldType.TEXT and value.constant:
            value = self._date_literal(value, path + ("value",))
        if value.type != field_type:
            raise self.fail(path + ("value",), "type-mismatch",
                            f"{name!r} is {_article(field_type)} but is compared with {_article(value.type)}",
                            data["value"], _type_hint(field_type))
        if op in _ORDERING and field_type not in (FieldType.DATE, FieldType.NUMBER):
            raise self.fail(path + ("op",), "type-mismatch",
                            f"{op} compares dates or numbers, but {name!r} is {_article(field_type)}",
                            op, "use == or != for texts and true/false fields")

        engine_op, compare = _COMPARISONS[op]
        test = {engine_op: {engine_name: value.engine}}
        get_value = value.get
        if op == "!=":
            others = sorted(value.fields - {name})
            present = [{"$ex": {_engine_field(n): 1}} for n in others] + [test]
            engine = {"$or": [{"$nex": {engine_name: 1}}, present[0] if len(present) == 1 else {"$and": present}]}

            def differs(fact: Mapping[str, Any]) -> bool:
                left = _get(fact, name)
                if left is MISSING:
                    return True
                right = get_value(fact)
                return right is not MISSING and left != right

            return _Condition((engine,), frozenset(), differs)

        def compares(fact: Mapping[str, Any]) -> bool:
            left = _get(fact, name)
            right = get_value(fact)
            return left is not MISSING and right is not MISSING and compare(left, right)

        return _Condition((test,), frozenset({name}) | value.fields, compares)

    # --- values

    def _literal(self, raw: Any, expected: FieldType, path: DocPath) -> Any:
        value = self._value(raw, None, path)
        if expected == FieldType.DATE and value.type == FieldType.TEXT:
            value = self._date_literal(value, path)
        if value.type != expected:
            raise self.fail(path, "type-mismatch", f"the list contains {_article(value.type)} where "
                            f"{_article(expected)} is expected", raw, _type_hint(expected))
        return value.engine

    def _date_literal(self, value: _Value, path: DocPath) -> _Value:
        day = parse_date(value.engine)
        if day is None:
            raise self.fail(path, "type-mismatch", f"{value.engine!r} is not a date", value.engine,
                            "write a date as YYYY-MM-DD, for example 2027-01-31")
        number = to_epoch_day(day)
        return _Value(FieldType.DATE, number, lambda fact: number, frozenset(), True)

    def _value(self, raw: Any, kind: str | None, path: DocPath) -> _Value:
        if isinstance(raw, bool):
            return _constant(FieldType.BOOLEAN, raw)
        if isinstance(raw, (int, float)):
            if not math.isfinite(raw):
                raise self.fail(path, "invalid-number", f"{raw} is not a finite number", raw, "write a finite number")
            return _constant(FieldType.NUMBER, float(raw))
        if isinstance(raw, str):
            return _constant(FieldType.TEXT, raw)
        if isinstance(raw, list):
            raise self.fail(path, "type-mismatch", "a list is a value only for in and not-in", None,
                            "use op: in or op: not-in, or compare with a single value")
        if "param" in raw:
            name = raw["param"]
            if name not in self.parameters:
                close = difflib.get_close_matches(name, list(self.parameters), n=1)
                raise self.fail(path + ("param",), "unknown-parameter",
                                f"ruleset {self.ruleset_id!r} has no parameter {name!r}", name,
                                f"did you mean {close[0]!r}?" if close else "declare it under parameters:")
            return self._value(self.parameters[name], kind, path + ("param",))
        if "field" in raw:
            if kind is None:
                raise self.fail(path, "type-mismatch", "a list for in and not-in contains only literals", None,
                                "write the values themselves")
            name = raw["field"]
            field_type = self._field_type(name, kind, path + ("field",))
            return _Value(field_type, {"$m": _engine_field(name)}, lambda fact: _get(fact, name),
                          frozenset({name}), False, field_type == FieldType.DATE)
        (operation, operands), = raw.items()
        left = self._value(operands[0], kind, path + (operation, 0))
        right = self._value(operands[1], kind, path + (operation, 1))
        return self._arithmetic(operation, left, right, raw, path)

    def _arithmetic(self, operation: str, left: _Value, right: _Value, raw: Any, path: DocPath) -> _Value:
        result_type = _arithmetic_type(operation, left.type, right.type)
        if result_type is None:
            raise self.fail(path, "type-mismatch",
                            f"{operation} cannot combine {_article(left.type)} with {_article(right.type)}",
                            None, "add or subtract days to a date; multiply and divide numbers only")
        if operation == "div" and right.reads_dates:
            raise self.fail(path + (operation, 1), "invalid-division",
                            "the divisor must be a number field, parameter or literal, not a difference of dates",
                            None, "divide by a number")
        function = _ARITHMETIC_FUNCTIONS[operation]
        if left.constant and right.constant:
            folded = function(left.get({}), right.get({}))
            return _Value(result_type, folded, lambda fact: folded, frozenset(), True, left.reads_dates or right.reads_dates)
        get_left, get_right = left.get, right.get

        def compute(fact: Mapping[str, Any]) -> Any:
            a, b = get_left(fact), get_right(fact)
            if a is MISSING or b is MISSING:
                return MISSING
            return function(a, b)

        engine = {f"${operation}": {"$l": left.engine, "$r": right.engine}}
        reads_dates = left.reads_dates or right.reads_dates
        return _Value(result_type, engine, compute, left.fields | right.fields, False, reads_dates)


def _constant(field_type: FieldType, value: Any) -> _Value:
    return _Value(field_type, value, lambda fact: value, frozenset(), True)


def _arithmetic_type(operation: str, left: FieldType, right: FieldType) -> FieldType | None:
    number, date = FieldType.NUMBER, FieldType.DATE
    if operation == "add":
        return {(number, number): number, (date, number): date, (number, date): date}.get((left, right))
    if operation == "sub":
        return {(number, number): number, (date, number): date, (date, date): number}.get((left, right))
    return number if (left, right) == (number, number) else None


def _divide(a: float, b: float) -> float:
    """Divide as IEEE 754 doubles do: a zero divisor gives an infinity or NaN, never an error."""
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


_ARITHMETIC_FUNCTIONS: Mapping[str, Callable[[Any, Any], Any]] = MappingProxyType({
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": _divide,
})


def _article(field_type: FieldType) -> str:
    return {FieldType.DATE: "a date", FieldType.NUMBER: "a number", FieldType.TEXT: "a text",
            FieldType.BOOLEAN: "true or false"}[field_type]


def _type_hint(field_type: FieldType) -> str:
    return {
        FieldType.DATE: "compare with another date field, a date written YYYY-MM-DD, or a date plus days",
        FieldType.NUMBER: "compare with a number, a number field or a number parameter",
        FieldType.TEXT: "compare with a text or a text field",
        FieldType.BOOLEAN: "compare with true or false",
    }[field_type]


def _engine_field(name: str) -> str:
    return ENGINE_FIELD_NAMES.get(name, name)


def _get(fact: Mapping[str, Any], name: str) -> Any:
    value = fact.get(name)
    return MISSING if value is None else value


# --- engine limits ------------------------------------------------------------------


_MAX_PATHS = 4096


def _alpha_paths(test: Any) -> list[list[str]]:
    """Return the condition sequences that the engine builds for one test, expanding $or."""
    if isinstance(test, dict) and set(test) == {"$and"}:
        paths: list[list[str]] = [[]]
        for part in test["$and"]:
            paths = [p + q for p in paths for q in _alpha_paths(part)]
            if len(paths) > _MAX_PATHS:
                return paths
        return paths
    if isinstance(test, dict) and set(test) == {"$or"}:
        return [p for part in test["$or"] for p in _alpha_paths(part)]
    return [[json.dumps(test, sort_keys=True)]]


def _alpha_width(engine_rules: Mapping[str, Any]) -> int:
    """Return an upper bound on the condition nodes the engine keeps pending for one fact.

    The engine shares identical leading conditions between rules, so the rules
    form a tree. Summing the branches of every node along a path from the root
    bounds the depth-first stack from above.
    """
    tree: dict[str, Any] = {}
    for rule in engine_rules.values():
        paths = _alpha_paths(rule["all"][0]["m"])
        if len(paths) > _MAX_PATHS:
            return len(paths)
        for path in paths:
            node = tree
            for key in path:
                node = node.setdefault(key, {})

    def widest(node: Mapping[str, Any]) -> int:
        if not node:
            return 0
        return len(node) + max(widest(child) for child in node.values())

    return widest(tree)


# --- evaluating and formatting -------------------------------------------------------


def evaluate_facts(
    rulesets: CompiledRuleset | Sequence[CompiledRuleset], facts: Sequence[Mapping[str, Any]]
) -> list[tuple[CompiledRule, Mapping[str, Any]]]:
    """Return the (rule, fact) pairs that fire, computed with the Python predicates only.

    The order is the engine adapter's: by ruleset, then by fact position, then by
    rule position in its file.
    """
    if isinstance(rulesets, CompiledRuleset):
        rulesets = [rulesets]
    matches: list[tuple[CompiledRule, Mapping[str, Any]]] = []
    for ruleset in rulesets:
        for fact in facts:
            matches.extend((rule, fact) for rule in ruleset.rules if rule.predicate(fact))
    return matches


def _display(field_type: FieldType | None, value: Any) -> Any:
    if field_type == FieldType.DATE and isinstance(value, int) and not isinstance(value, bool):
        return from_epoch_day(value).isoformat()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def format_evidence(rule: CompiledRule, fact: Mapping[str, Any]) -> dict[str, Any]:
    """Return the rule's evidence fields of `fact`, dates as YYYY-MM-DD; absent fields are left out."""
    types = FACT_FIELDS.get(rule.applies_to, {})
    return {name: _display(types.get(name), fact[name]) for name in rule.evidence if fact.get(name) is not None}


def format_message(rule: CompiledRule, fact: Mapping[str, Any]) -> str:
    """Return the rule's message for `fact`: fields and parameters filled in, dates as YYYY-MM-DD.

    A field that the fact lacks shows as "unknown".
    """
    types = FACT_FIELDS.get(rule.applies_to, {})
    parameters = rule.parameters
    parts: list[str] = []
    for literal, name, _, _ in string.Formatter().parse(rule.message):
        parts.append(literal)
        if name is None:
            continue
        if name in types:
            value = fact.get(name)
        else:
            value = parameters.get(name)
        if value is None:
            parts.append("unknown")
        elif isinstance(value, bool):
            parts.append("true" if value else "false")
        else:
            parts.append(str(_display(types.get(name), value)))
    return "".join(parts)

