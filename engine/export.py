"""Plan export documents: one plan with its history and baselines, as JSON.

An export carries everything the store keeps about a plan, so that importing it
into another store and exporting it again gives the same document, byte for byte::

    {
      "svcplan": 1,
      "kind": "plan-export",
      "plan": {... the plan as `svcplan plan show --format json` prints it ...},
      "stored": {"created_at": "...", "updated_at": "...", "updated_by": "U-spatel",
                 "cloned_from": null, "series_version": 1},
      "events": [{"seq": 1, "at": "...", "actor": "...", "action": "plan.opened",
                  "target": "plan", "before": {}, "after": {...}}, ...],
      "baselines": [{"name": "...", "plan_version": 3, "automatic": false,
                     "taken_at": "...", "taken_by": "...", "plan": {...}}, ...]
    }

Times are ISO 8601 in UTC with microseconds. Keys are sorted, so the text does not
depend on the database a plan came from. `svcplan plan import` reads one such
document, a JSON array of them, or a folder of `*.json` files.

An import checks every document before it writes anything. Each plan document,
the live one and each baseline's, must load as a `Plan` with states that the
lifecycles define. Events must be numbered 1, 2, 3, ... and have an action and a
target. Ids and versions must be whole numbers from 1 that fit a 64-bit column.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from .errors import Location, SvcplanError
from .lifecycle import AGREEMENT, ITEM, MILESTONE, PLAN, Lifecycle
from .model import ItemKind
from .plan import Approval, Outcome, Plan
from .store import Baseline, Event, PlanRecord

EXPORT_KIND = "plan-export"
EXPORT_FORMAT = 1

_LARGEST_ID = 2**63 - 1
"""The maximum id or version that a store column can contain (a signed 64-bit integer)."""


def _states(lifecycle: Lifecycle) -> tuple[str, ...]:
    """Return every state of a lifecycle, in the order its table first names them."""
    found: dict[str, None] = {}
    for moves in lifecycle.transitions.values():
        for before, after in moves.items():
            found.setdefault(before)
            found.setdefault(after)
    return tuple(found)


PLAN_STATES = _states(PLAN)
ITEM_STATES = _states(ITEM)
MILESTONE_STATES = _states(MILESTONE)
AGREEMENT_STATES = _states(AGREEMENT)
_ITEM_KINDS = tuple(kind.value for kind in ItemKind)


def _positive(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= _LARGEST_ID


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


class _Checker:
    """A validator of one export document's values, whose errors name the file, the plan and the field."""

    def __init__(self, source: str, plan_id: Any) -> None:
        self.source = source
        self.plan_id = plan_id

    def fail(self, field: str, value: Any, expected: str) -> SvcplanError:
        return SvcplanError.single(
            Location(self.source), "invalid-export",
            f"plan {self.plan_id!r}: invalid {field} {value!r}, expected {expected}. Nothing was imported",
            value=value, hint="correct the value in the file, or export the plan again with `svcplan plan export`")

    def positive(self, field: str, value: Any) -> None:
        if not _positive(value):
            raise self.fail(field, value, f"a whole number from 1 to {_LARGEST_ID}")

    def one_of(self, field: str, value: Any, allowed: tuple[str, ...]) -> None:
        if value not in allowed:
            raise self.fail(field, value, f"one of {', '.join(allowed)}")

    def flag(self, field: str, value: Any) -> None:
        if not isinstance(value, bool):
            raise self.fail(field, value, "true or false")

    def text(self, field: str, value: Any) -> None:
        if not _text(value):
            raise self.fail(field, value, "non-empty text")

    def load(self, data: Any, prefix: str) -> Plan:
        """Return the plan of a plan document, after checking item kinds that `Plan.from_dict` would not name."""
        if not isinstance(data, Mapping):
            raise self.fail(prefix, data, "a plan document (an object)")
        items = data.get("items")
        for index, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, Mapping):
                self.one_of(f"{prefix}.items[{index}].kind", item.get("kind"), _ITEM_KINDS)
        return Plan.from_dict(data)

    def plan_document(self, data: Mapping[str, Any], prefix: str, plan: Plan, *, identity: bool) -> None:
        """Check the values of a plan document that `Plan.from_dict` has read as `plan`."""
        if identity:
            self.positive(f"{prefix}.id", data.get("id"))
            self.positive(f"{prefix}.version", data.get("version"))
        self.one_of(f"{prefix}.status", data.get("status"), PLAN_STATES)
        self.positive(f"{prefix}.template.version", plan.template_version)
        for index, (raw, item) in enumerate(zip(data["items"], plan.items)):
            field = f"{prefix}.items[{index}]"
            if "approval" in raw:
                self.one_of(f"{field}.approval", raw["approval"], Approval.ALL)
            if raw.get("outcome") is not None:
                self.one_of(f"{field}.outcome", raw["outcome"], Outcome.ALL)
            self.one_of(f"{field} (item {item.id!r}) status", item.status, ITEM_STATES)
        for index, (raw, milestone) in enumerate(zip(data["milestones"], plan.milestones)):
            field = f"{prefix}.milestones[{index}]"
            if "waived" in raw:
                self.flag(f"{field}.waived", raw["waived"])
            self.one_of(f"{field} (milestone {milestone.id!r}) status", milestone.status, MILESTONE_STATES)
        for index, raw in enumerate(data.get("agreements", [])):
            field = f"{prefix}.agreements[{index}]"
            self.positive(f"{field}.number", raw.get("number"))
            self.one_of(f"{field}.status", raw.get("status"), AGREEMENT_STATES)

    def events(self, events: Any) -> None:
        if not isinstance(events, list):
            raise self.fail("events", events, "a list of events")
        for index, event in enumerate(events):
            field = f"events[{index}]"
            if not isinstance(event, Mapping):
                raise self.fail(field, event, "an object")
            if event.get("seq") != index + 1 or isinstance(event.get("seq"), bool):
                raise self.fail(f"{field}.seq", event.get("seq"),
                                f"{index + 1}, because events are numbered 1, 2, 3, ... in order")
            self.text(f"{field}.action", event.get("action"))
            self.text(f"{field}.target", event.get("target"))
            self.text(f"{field}.actor", event.get("actor"))
            for side in ("before", "after"):
                if not isinstance(event.get(side), Mapping):
                    raise self.fail(f"{field}.{side}", event.get(side), "an object")

    def stored(self, stored: Any) -> None:
        if not isinstance(stored, Mapping):
            raise self.fail("stored", stored, "an object")
        self.positive("stored.series_version", stored.get("series_version"))
        if stored.get("cloned_from") is not None:
            self.positive("stored.cloned_from", stored.get("cloned_from"))
        self.text("stored.updated_by", stored.get("updated_by"))

    def baseline(self, index: int, baseline: Any) -> None:
        field = f"baselines[{index}]"
        if not isinstance(baseline, Mapping):
            raise self.fail(field, baseline, "an object")
        self.text(f"{field}.name", baseline.get("name"))
        self.positive(f"{field}.plan_version", baseline.get("plan_version"))
        self.flag(f"{field}.automatic", baseline.get("automatic"))
        self.text(f"{field}.taken_by", baseline.get("taken_by"))


def _time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def record_to_document(record: PlanRecord) -> dict[str, Any]:
    """Return the export document of a stored plan."""
    return {
        "svcplan": EXPORT_FORMAT,
        "kind": EXPORT_KIND,
        "plan": dict(record.plan),
        "stored": {"created_at": _time(record.created_at), "updated_at": _time(record.updated_at),
                   "updated_by": record.updated_by, "cloned_from": record.cloned_from,
                   "series_version": record.series_version},
        "events": [{"seq": e.seq, "at": _time(e.at), "actor": e.actor, "action": e.action, "target": e.target,
                    "before": dict(e.before), "after": dict(e.after)} for e in record.events],
        "baselines": [{"name": b.name, "plan_version": b.plan_version, "automatic": b.automatic,
                       "taken_at": _time(b.taken_at), "taken_by": b.taken_by, "plan": dict(b.document)}
                      for b in record.baselines],
    }


def export_text(record: PlanRecord) -> str:
    """Return the export document of a stored plan as JSON text, keys sorted, ending in a newline."""
    return json.dumps(record_to_document(record), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def document_to_record(data: Any, source: str) -> PlanRecord:
    """Check one export document and return the record it describes.

    Raises `SvcplanError` (`invalid-export`) naming `source` and what is wrong.
    """
    where = Location(source)

    def invalid(reason: str) -> SvcplanError:
        return SvcplanError.single(where, "invalid-export", f"{source} is not a svcplan plan export: {reason}",
                                   hint="give a file written by `svcplan plan export`")

    if not isinstance(data, Mapping) or data.get("kind") != EXPORT_KIND:
        raise invalid(f'it has no "kind": "{EXPORT_KIND}"')
    if data.get("svcplan") != EXPORT_FORMAT:
        raise invalid(f"its format {data.get('svcplan')!r} is not {EXPORT_FORMAT}, the one this svcplan reads")
    raw_plan = data.get("plan")
    check = _Checker(source, raw_plan.get("id") if isinstance(raw_plan, Mapping) else None)
    try:
        plan = check.load(raw_plan, "plan")
        check.plan_document(raw_plan, "plan", plan, identity=True)
        check.stored(data.get("stored"))
        check.events(data.get("events"))
        if not isinstance(data.get("baselines"), list):
            raise check.fail("baselines", data.get("baselines"), "a list of baselines")
        for index, baseline in enumerate(data["baselines"]):
            check.baseline(index, baseline)
            document = baseline.get("plan")
            plan_of_baseline = check.load(document, f"baselines[{index}].plan")
            check.plan_document(document, f"baselines[{index}].plan", plan_of_baseline, identity=False)
        stored = data["stored"]
        events = tuple(Event(int(e["seq"]), _parse_time(e["at"]), str(e["actor"]), str(e["action"]),
                             str(e["target"]), dict(e["before"]), dict(e["after"])) for e in data["events"])
        baselines = tuple(Baseline(plan.id, str(b["name"]), int(b["plan_version"]), bool(b["automatic"]),
                                   _parse_time(b["taken_at"]), str(b["taken_by"]), _baseline_document(b["plan"]))
                          for b in data["baselines"])
        record = PlanRecord(plan.to_dict(), _parse_time(stored["created_at"]), _parse_time(stored["updated_at"]),
                            str(stored["updated_by"]), stored.get("cloned_from"), int(stored["series_version"]),
                            events, baselines)
    except SvcplanError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise invalid(f"plan {check.plan_id!r}: {type(error).__name__}: {error}") from error
    return record


def _baseline_document(data: Mapping[str, Any]) -> dict[str, Any]:
    # A baseline keeps the plan document without the id and version, as a plan row does.
    document = Plan.from_dict(data).to_dict()
    del document["id"], document["version"]
    return document


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"the time {text!r} has no time zone")
    return moment.astimezone(timezone.utc)


def read_exports(path: Path) -> list[PlanRecord]:
    """Read the plans to import from a file (one export or a JSON array of them) or a folder of `*.json` files.

    Raises `SvcplanError` naming the file and the problem; nothing is read into a store here.
    """
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix == ".json" and p.is_file())
        if not files:
            raise SvcplanError.single(Location(str(path)), "file-not-found", f"{path} has no *.json files to import",
                                      hint="give a folder of files written by `svcplan plan export`")
        records = [record for file in files for record in _read_file(file)]
    else:
        records = _read_file(path)
    if not records:
        raise SvcplanError.single(Location(str(path)), "nothing-to-import",
                                  f"{path} contains no plan exports, so there is nothing to import. Nothing was written",
                                  hint="give a file written by `svcplan plan export`, or a JSON array of them")
    return records


def _read_file(path: Path) -> list[PlanRecord]:
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise SvcplanError.single(Location(str(path)), "file-not-found", f"{path}: no such file or folder",
                                  hint="check the path") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SvcplanError.single(Location(str(path)), "unreadable", f"{path} cannot be read: {error}",
                                  hint="check the file and its permissions") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise SvcplanError.single(Location(str(path), error.lineno, error.colno), "invalid-export",
                                  f"{path} is not valid JSON: {error.msg}",
                                  hint="give a file written by `svcplan plan export`") from None
    if isinstance(data, list):
        return [document_to_record(item, f"{path} [{index}]") for index, item in enumerate(data)]
    return [document_to_record(data, str(path))]
