"""The adapter to durable-rules: the only module of svcplan that imports it.

`RulesEngine.run` evaluates one compiled ruleset over one plan's facts and
returns the matches in a fixed order. The adapter works around these properties
of durable-rules 2.0.28, each covered by tests/test_rulesengine.py:

- A host starts two timer threads (dispatching queued actions and timers).
  svcplan runs every action inside the call that asserts the facts and uses no
  timers, so `_Host` starts no threads: nothing runs in the background, and a
  process that used the engine exits like any other.
- A ruleset takes at most 1,024 live session ids (sids). Each call uses a new
  sid and deletes its state before returning.
- The engine identifies a fact by its ``id``, and a fact without one by a hash
  of its content. Two facts with the same id (the same element id, or identical
  content) or with ids of equal 32-bit FNV-1a hash are taken for one, and the
  batch fails with `MessageObservedException`. Each fact gets its position in
  the batch as its ``id`` (the element's own id moves to ``element_id``), and a
  fact rejected anyway is found in the stored facts and asserted again under
  another id.
- A batch that fails part way leaves actions pending, and deleting that state
  then crashed the process. The adapter runs the pending actions first by
  asserting one more fact that only the catch-all rule matches.
- An exception inside an action is stored as text in the session state. The
  adapter checks the state after each call and raises `RulesEngineError`.
- A fact that no rule matches makes the engine raise for the whole batch. The
  compiler adds a catch-all rule to every ruleset.
- Ruleset names cannot be registered twice or removed. Each ruleset is
  registered once per process under its id and content hash.
- Failures come as numeric codes; the ones that a rules author can cause get a
  plain message.
- The engine's JSON parser reads an exponent only after a fraction: ``1.0e+16``
  is 1e16, but ``1e+16`` (how Python's json writes 1e16, like ``1e-07`` for
  1e-7) ends the number at ``1`` and the parser stops there. The batch then
  returns normally without the rest of its facts, and when the first fact is the
  one cut short, the engine returns an invalid state handle and the process
  crashes. durable.engine serialises through the module-level name ``json``, so
  the adapter gives it `_ENGINE_JSON`, which writes every exponent after a
  fraction. The engine reads an integer into a C ``long`` (a larger one was
  misread) and compares it with a double as a double, so 2**53 + 1 equals
  2.0**53 there. The adapter rejects integers that a double cannot hold exactly.
- Every fact fires the catch-all rule, so a fact that the engine did not read is
  found by its missing catch-all match and the call raises `RulesEngineError`.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import re
import threading
from types import SimpleNamespace
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import durable.engine
import durable_rules_engine

from .errors import RulesEngineError, SvcplanError
from .facts import FACT_FIELDS, FieldType
from .rules import (
    CATCH_ALL_RULE,
    ENGINE_FIELD_NAMES,
    MAX_ALPHA_WIDTH,
    SEQUENCE_FIELD,
    CompiledRule,
    CompiledRuleset,
)

log = logging.getLogger(__name__)

MAX_FACT_FIELDS = 200
"""Maximum number of fields in one fact. durable-rules 2.0.28 ran facts of 200
fields and crashed the process on one of 300."""

MAX_REASSERTS = 4
"""How many other ids a rejected fact is tried under before the call fails."""

_DRAIN_SEQUENCE = -1
"""`SEQUENCE_FIELD` value of the fact that flushes pending actions; no rule but
the catch-all matches it, because it has no ``kind``."""

MAX_EXACT_INTEGER = 2**53
"""Largest magnitude of an integer fact value. The engine compares integers as
64-bit floats, which represent every integer only up to this magnitude."""

_ERROR_CODE = re.compile(r"error code: (\d+)")

_EXPONENT = re.compile(r"e(?<=\de)[-+]\d")
"""An exponent after a digit, as `float.__repr__` writes it (``e+16``, ``e-07``).
Every number that needs a fraction contains one; few texts do. Starting the
pattern with a plain ``e`` lets the search skip ahead quickly."""

_EXPONENT_WITHOUT_FRACTION = re.compile(r'"(?:[^"\\]|\\.)*"|(?<![\d.])(-?\d+)([eE][-+]?\d+)')
"""A JSON string (matched so that its content is skipped), or a number written
with an exponent but no fraction, such as ``1e+16``."""

_ENGINE_ERRORS: Mapping[int, str] = {
    101: "the rules engine ran out of memory",
    103: "a rule or field name is longer than the rules engine supports",
    106: "the ruleset has more rules than the rules engine supports",
    107: "a rule has more conditions than the rules engine supports",
    108: "a rule joins more facts than the rules engine supports",
    113: "a rule has more expressions than the rules engine supports",
    201: "a fact value could not be read by the rules engine",
    202: "a text value could not be read by the rules engine",
    203: "a number could not be read by the rules engine",
    302: "a fact has more fields than the rules engine supports",
    303: (
        "one fact passes more rule conditions at once than the rules engine supports "
        f"(it keeps at most 64 pending; the compiler allows an estimated {MAX_ALPHA_WIDTH})"
    ),
    309: "the rules engine has no session with that id",
}
"""Plain meanings of the durable-rules error codes (src/rules/rules.h of durable-rules)."""

_AUTHOR_ERRORS = frozenset({103, 106, 107, 108, 113, 303})
"""Codes a rules author can cause: reported as a problem of the rules file."""


def engine_json(value: Any, **options: Any) -> str:
    """Serialise `value` like `json.dumps`, with each exponent written after a fraction.

    ``1e+16`` becomes ``1.0e+16``, which durable-rules 2.0.28 reads as the
    same double; every other character of the text is unchanged.
    """
    text = json.dumps(value, **options)
    if not _EXPONENT.search(text):
        # The usual case; the full pattern below visits every string and is much slower.
        return text
    return _EXPONENT_WITHOUT_FRACTION.sub(_add_fraction, text)


def _add_fraction(found: re.Match[str]) -> str:
    if found[1] is None:
        return found[0]
    return f"{found[1]}.0{found[2]}"


_ENGINE_JSON = SimpleNamespace(dumps=engine_json, loads=json.loads)
"""Stand-in for the json module inside durable.engine, which serialises every
ruleset, fact and state with ``json.dumps`` and parses results with ``json.loads``."""

if not hasattr(durable.engine, "json"):
    raise ImportError("durable.engine has no module-level json; check how this durable-rules version "
                      "serialises facts before using svcplan with it")
# NOTE: this replaces the name for the whole process. The adapter is the only
# module of svcplan that imports durable-rules, and the text it writes differs
# from json.dumps only in numbers that the engine would otherwise misread.
durable.engine.json = _ENGINE_JSON


class Match(NamedTuple):
    """A rule that fires for a fact; `fact` is the mapping the caller passed."""

    rule: CompiledRule
    fact: Mapping[str, Any]

    @property
    def rule_id(self) -> str:
        return self.rule.id


class _Host(durable.engine.Host):
    """A durable-rules host that starts no threads and records which rule fired for which fact.

    While a call runs, `matches` collects (rule name, fact sequence number) pairs
    and `handled` the sequence numbers of the facts that fired the catch-all rule.
    """

    def __init__(self) -> None:
        self.matches: list[tuple[str, int]] | None = None
        self.handled: set[int] | None = None
        super().__init__()

    def _run(self) -> None:
        # The base class starts the dispatch and timer threads here.
        return None

    def get_action(self, action_name: str) -> Callable[[Any], None]:
        if action_name == CATCH_ALL_RULE:
            return self._record_handled

        def record(closure: Any) -> None:
            if self.matches is None:
                raise RulesEngineError(f"rule {action_name!r} fired outside an evaluation")
            self.matches.append((action_name, closure.m[SEQUENCE_FIELD]))

        return record

    def _record_handled(self, closure: Any) -> None:
        if self.handled is not None:
            self.handled.add(closure.m[SEQUENCE_FIELD])


_lock = threading.RLock()
_host: _Host | None = None
_registered: set[str] = set()
_sids = itertools.count(1)


def _shared_host() -> _Host:
    global _host
    with _lock:
        if _host is None:
            _host = _Host()
            log.debug("created the durable-rules host")
        return _host


class RulesEngine:
    """Runs compiled rulesets over facts on the one durable-rules host of the process.

    Instances are cheap and share the host and its registered rulesets; calls
    from several threads run one at a time.
    """

    _shared: RulesEngine | None = None

    def __init__(self) -> None:
        self._host = _shared_host()

    @classmethod
    def shared(cls) -> RulesEngine:
        """Return the process-wide engine."""
        with _lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def run(self, ruleset: CompiledRuleset, facts: Sequence[Mapping[str, Any]]) -> list[Match]:
        """Return the rules of `ruleset` that fire for `facts`, ordered by fact, then by rule.

        `facts` are the flat dicts of one plan (see `FACT_FIELDS`); None values
        count as absent. Raise `SvcplanError` for a ruleset that the engine
        rejects in a way its author can fix, and `RulesEngineError` for any other
        failure of the engine.
        """
        if not facts:
            return []
        with _lock:
            self._register(ruleset)
            sid = f"s{next(_sids)}"
            prepared = [_prepare(fact, sid, index, self._fact_id(index)) for index, fact in enumerate(facts)]
            self._host.matches = []
            self._host.handled = set()
            try:
                self._assert_all(ruleset, sid, prepared)
                fired = self._host.matches
                handled = self._host.handled
            finally:
                self._host.matches = None
                self._host.handled = None
                self._delete(ruleset, sid)

        _check_all_handled(ruleset, facts, handled)
        order = {rule.id: position for position, rule in enumerate(ruleset.rules)}
        fired.sort(key=lambda pair: (pair[1], order.get(pair[0], len(order))))
        return [Match(ruleset.rules[order[name]], facts[index]) for name, index in fired if name in order]

    def run_all(self, rulesets: Sequence[CompiledRuleset], facts: Sequence[Mapping[str, Any]]) -> list[Match]:
        """Return the matches of every ruleset in turn, in the order of `run`."""
        return [match for ruleset in rulesets for match in self.run(ruleset, facts)]

    def _fact_id(self, index: int) -> str:
        """Return the engine id of the fact at `index` of a batch."""
        return str(index)

    # --- engine calls, each made while holding _lock

    def _register(self, ruleset: CompiledRuleset) -> None:
        name = ruleset.engine_name
        if name in _registered:
            return
        try:
            self._host.set_rulesets({name: ruleset.definition})
        except durable_rules_engine.error as error:
            raise _translate(error, ruleset, "register the ruleset") from None
        _registered.add(name)
        log.info("registered ruleset %s (%d rules) with the rules engine", name, len(ruleset.rules))

    def _assert_all(self, ruleset: CompiledRuleset, sid: str, prepared: list[dict[str, Any]]) -> None:
        name = ruleset.engine_name
        try:
            try:
                state = self._host.assert_facts(name, prepared)
            except durable.engine.MessageObservedException:
                state = self._reassert_rejected(ruleset, sid, prepared)
        except durable.engine.MessageNotHandledException:
            self._drain(name, sid)
            raise RulesEngineError(
                f"ruleset {ruleset.id!r}: a fact matched no rule although every ruleset has a catch-all rule"
            ) from None
        except durable_rules_engine.error as error:
            self._drain(name, sid)
            raise _translate(error, ruleset, "evaluate the facts") from None
        _check_state(ruleset, state)

    def _reassert_rejected(
        self, ruleset: CompiledRuleset, sid: str, prepared: list[dict[str, Any]]
    ) -> Mapping[str, Any] | None:
        """Assert again, under other ids, the facts that the engine took for ones it had stored."""
        name = ruleset.engine_name
        stored = {fact.get(SEQUENCE_FIELD) for fact in self._host.get_facts(name, sid)}
        rejected = [fact for fact in prepared if fact[SEQUENCE_FIELD] not in stored]
        log.warning("ruleset %s, session %s: the engine rejected %d of %d facts as already stored; "
                    "asserting them again under other ids", name, sid, len(rejected), len(prepared))
        state: Mapping[str, Any] | None = None
        for fact in rejected:
            for attempt in range(1, MAX_REASSERTS + 1):
                retry = dict(fact, id=f"{fact[SEQUENCE_FIELD]}.{attempt}")
                try:
                    state = self._host.assert_fact(name, retry)
                    break
                except durable.engine.MessageObservedException:
                    continue
            else:
                self._drain(name, sid)
                raise RulesEngineError(
                    f"ruleset {ruleset.id!r}: the rules engine rejected fact {fact[SEQUENCE_FIELD]} "
                    f"({fact.get('kind')} {fact.get('element', '')}) under {MAX_REASSERTS + 1} different ids"
                )
        if not rejected:
            # Every fact is stored, yet the batch failed: its actions still wait.
            state = self._drain(name, sid)
        return state

    def _drain(self, name: str, sid: str) -> Mapping[str, Any] | None:
        """Run the actions a failed batch left pending, so that the state can be deleted safely."""
        try:
            return self._host.assert_fact(name, {"sid": sid, "id": "drain", SEQUENCE_FIELD: _DRAIN_SEQUENCE})
        except Exception:  # noqa: BLE001 - the caller is already handling an engine failure
            log.exception("ruleset %s, session %s: running the pending actions failed", name, sid)
            return None

    def _delete(self, ruleset: CompiledRuleset, sid: str) -> None:
        try:
            self._host.delete_state(ruleset.engine_name, sid)
        except durable_rules_engine.error as error:
            # NOTE: a state that cannot be deleted stays live; after 1,024 of them the
            # ruleset refuses new sessions until the process restarts.
            log.error("ruleset %s: deleting session %s failed: %s", ruleset.engine_name, sid, error)


def _check_all_handled(ruleset: CompiledRuleset, facts: Sequence[Mapping[str, Any]], handled: set[int]) -> None:
    """Raise `RulesEngineError` unless every fact fired the catch-all rule, that is, was read by the engine."""
    missing = [index for index in range(len(facts)) if index not in handled]
    if missing:
        first = missing[0]
        raise RulesEngineError(
            f"ruleset {ruleset.id!r}: the rules engine did not read {len(missing)} of {len(facts)} facts, "
            f"the first being {_describe(facts[first], first)}; no findings were computed for them"
        )


def _check_state(ruleset: CompiledRuleset, state: Mapping[str, Any] | None) -> None:
    if state and "exception" in state:
        raise RulesEngineError(f"ruleset {ruleset.id!r}: an action failed inside the rules engine: {state['exception']}")


def _translate(error: Exception, ruleset: CompiledRuleset, action: str) -> Exception:
    """Return the svcplan error for a durable-rules error that carries a numeric code."""
    text = str(error)
    found = _ERROR_CODE.search(text)
    code = int(found[1]) if found else 0
    meaning = _ENGINE_ERRORS.get(code, f"the rules engine failed ({text})")
    if code in _AUTHOR_ERRORS:
        return SvcplanError.single(
            ruleset.location, f"engine-error-{code}",
            f"ruleset {ruleset.id!r} cannot run: {meaning} (durable-rules error {code})",
            value=ruleset.id, hint="split the ruleset into smaller files, or give its rules fewer conditions",
        )
    return RulesEngineError(f"ruleset {ruleset.id!r}: could not {action}: {meaning} (durable-rules error {code})")


def _describe(fact: Mapping[str, Any], index: int) -> str:
    """Return the words that name a fact in an error: its plan, its element and its position."""
    plan_id, element = fact.get("plan_id"), fact.get("element") or fact.get("kind")
    parts = [f"plan {plan_id}" if plan_id is not None else "", str(element) if element else "", f"fact {index}"]
    return ", ".join(part for part in parts if part)


def _prepare(fact: Mapping[str, Any], sid: str, index: int, fact_id: str) -> dict[str, Any]:
    """Return the engine's copy of `fact`: None values dropped, numbers as floats, ids set."""
    types = FACT_FIELDS.get(fact.get("kind"), {})  # type: ignore[arg-type]
    prepared: dict[str, Any] = {}
    for key, value in fact.items():
        if value is None:
            continue
        if key in ("sid", SEQUENCE_FIELD) or key in ENGINE_FIELD_NAMES.values():
            raise RulesEngineError(f"{_describe(fact, index)} uses the field {key!r}, which the rules engine reserves")
        try:
            prepared[ENGINE_FIELD_NAMES.get(key, key)] = _engine_value(key, value, types.get(key))
        except ValueError as error:
            raise RulesEngineError(f"{_describe(fact, index)}: {error}") from None
    if len(prepared) > MAX_FACT_FIELDS:
        raise RulesEngineError(
            f"{_describe(fact, index)} has {len(prepared)} fields; the rules engine takes {MAX_FACT_FIELDS}")
    prepared["sid"] = sid
    prepared["id"] = fact_id
    prepared[SEQUENCE_FIELD] = index
    return prepared


def _engine_value(key: str, value: Any, field_type: FieldType | None) -> Any:
    """Return one fact value as the engine receives it: numbers of `FieldType.NUMBER` become floats.

    Raise ValueError for a value of another type than FACT_FIELDS declares.
    Raise it too for a number that the engine would not represent exactly: an
    infinity, NaN, an integer beyond `MAX_EXACT_INTEGER` in a date or an
    undeclared field, or an integer in a number field that no double equals.
    durable-rules divides two integers as integers and compares false equal to
    0, so the fact builder's types are enforced here rather than trusted.
    """
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"field {key!r} is {value}; the rules engine takes finite numbers")
    expected = {
        FieldType.DATE: isinstance(value, int) and not isinstance(value, bool),
        FieldType.NUMBER: is_number,
        FieldType.TEXT: isinstance(value, str),
        FieldType.BOOLEAN: isinstance(value, bool),
    }
    if field_type is not None and not expected[field_type]:
        raise ValueError(
            f"field {key!r} is {type(value).__name__} {_shown(value)} but FACT_FIELDS declares it {field_type.value}")
    if not (is_number or isinstance(value, (str, bool))):
        raise ValueError(f"field {key!r} is {type(value).__name__}; facts hold only scalars")
    if field_type == FieldType.NUMBER:
        return _exact_float(key, value)
    if is_number and isinstance(value, int) and abs(value) > MAX_EXACT_INTEGER:
        raise ValueError(f"field {key!r} is {_shown(value)}; the rules engine takes integers of at most "
                         f"{MAX_EXACT_INTEGER:,} in magnitude")
    return value


def _exact_float(key: str, value: int | float) -> float:
    """Return `value` as a float; raise ValueError when the float would differ from it."""
    try:
        number = float(value)
    except OverflowError:
        raise ValueError(f"field {key!r} is {_shown(value)}, beyond the largest 64-bit float") from None
    if number != value:
        raise ValueError(f"field {key!r} is {_shown(value)}, which the rules engine's 64-bit floats "
                         f"cannot represent exactly; the nearest is {number!r}")
    return number


def _shown(value: Any) -> str:
    """Return `value` as text for an error; an integer too long to read is shown by its size."""
    if isinstance(value, int) and value.bit_length() > 200:
        return f"an integer of {value.bit_length()} bits"
    return repr(value)
