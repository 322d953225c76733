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
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from .errors import Location, SvcplanError
from .plan import Plan
from .store import Baseline, Event, PlanRecord

EXPORT_KIND = "plan-export"
EXPORT_FORMAT = 1


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
    try:
        plan = Plan.from_dict(data["plan"])
        if not isinstance(plan.id, int) or plan.id < 1 or plan.version < 1:
            raise invalid(f"the plan's id {plan.id!r} and version {plan.version!r} must be whole numbers from 1")
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
        raise invalid(f"{type(error).__name__}: {error}") from error
    if [event.seq for event in events] != list(range(1, len(events) + 1)):
        raise invalid("its events must be numbered 1, 2, 3, ... in order")
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
        return [record for file in files for record in _read_file(file)]
    return _read_file(path)


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
