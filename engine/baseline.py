"""Baselines: named snapshots of a plan, and comparisons between two states of a plan.

A baseline keeps the whole plan document as it was at one version. svcplan takes
one automatically when a plan is submitted and when it is approved, and a case
worker may take one by hand. `compare_plans` lists what differs between two
plans element by element (the plan itself, members, groups, sub-goals, items
and milestones, matched by id) with each changed field's value before and after.
The upgrade to a new template version shows its effect with the same comparison.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from .plan import Plan
from .store import Baseline, Store

_ELEMENT_LISTS = (
    ("member", "members", "person"),
    ("group", "groups", "id"),
    ("sub-goal", "sub_goals", "id"),
    ("item", "items", "id"),
    ("milestone", "milestones", "id"),
)
# The id and version are the store's bookkeeping and the format number is the
# document's, so none of them is a difference in the plan's content.
_IGNORED_PLAN_FIELDS = frozenset({"id", "version", "format"})


@dataclass(frozen=True)
class FieldChange:
    """One field of an element whose value differs; `field` is a dotted path such as `schedule.start.offset`."""

    field: str
    before: Any
    after: Any


@dataclass(frozen=True)
class ElementChange:
    """An element that was added, removed or changed, with the fields that differ.

    For an added element `fields` contains every field with `before` None, and for a
    removed one every field with `after` None.
    """

    kind: str
    """`plan`, `member`, `group`, `sub-goal`, `item` or `milestone`."""
    id: str
    change: str
    """`added`, `removed` or `changed`."""
    name: str
    fields: tuple[FieldChange, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "change": self.change, "name": self.name,
                "fields": [{"field": f.field, "before": f.before, "after": f.after} for f in self.fields]}


@dataclass(frozen=True)
class Comparison:
    """The differences between two states of a plan, with a label for each state (`baseline 'x'`, `live plan`)."""

    before: str
    after: str
    changes: tuple[ElementChange, ...]

    def of(self, change: str) -> tuple[ElementChange, ...]:
        """Return the element changes of one kind: `added`, `removed` or `changed`."""
        return tuple(element for element in self.changes if element.change == change)

    def to_dict(self) -> dict[str, Any]:
        return {"before": self.before, "after": self.after, "changes": [c.to_dict() for c in self.changes]}


def _flatten(value: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Yield (dotted path, value) for every leaf of nested mappings; lists are leaves."""
    for key, inner in value.items():
        path = f"{prefix}{key}"
        if isinstance(inner, Mapping) and inner:
            yield from _flatten(inner, f"{path}.")
        else:
            yield path, inner


def _field_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[FieldChange, ...]:
    old, new = dict(_flatten(before)), dict(_flatten(after))
    return tuple(FieldChange(path, old.get(path), new.get(path)) for path in [*old, *(p for p in new if p not in old)]
                 if old.get(path) != new.get(path))


def _element_name(element: Mapping[str, Any]) -> str:
    return str(element.get("name") or element.get("role") or "")


def compare_plans(before: Plan, after: Plan, *, before_label: str = "before",
                  after_label: str = "after") -> Comparison:
    """Return every difference between two plans: plan fields first, then elements by kind, in plan order."""
    old, new = before.to_dict(), after.to_dict()
    changes: list[ElementChange] = []
    plan_fields = _field_changes(
        {key: value for key, value in old.items() if key not in _IGNORED_PLAN_FIELDS and not _is_element_list(key)},
        {key: value for key, value in new.items() if key not in _IGNORED_PLAN_FIELDS and not _is_element_list(key)})
    if plan_fields:
        changes.append(ElementChange("plan", str(after.id or before.id or ""), "changed", after.name, plan_fields))
    for kind, key, id_field in _ELEMENT_LISTS:
        old_elements = {str(element[id_field]): element for element in old[key]}
        new_elements = {str(element[id_field]): element for element in new[key]}
        for element_id, element in old_elements.items():
            if element_id not in new_elements:
                fields = tuple(FieldChange(path, value, None) for path, value in _flatten(element))
                changes.append(ElementChange(kind, element_id, "removed", _element_name(element), fields))
            else:
                fields = _field_changes(element, new_elements[element_id])
                if fields:
                    changes.append(ElementChange(kind, element_id, "changed",
                                                 _element_name(new_elements[element_id]), fields))
        for element_id, element in new_elements.items():
            if element_id not in old_elements:
                fields = tuple(FieldChange(path, None, value) for path, value in _flatten(element))
                changes.append(ElementChange(kind, element_id, "added", _element_name(element), fields))
    return Comparison(before_label, after_label, tuple(changes))


def _is_element_list(key: str) -> bool:
    return any(key == list_key for _, list_key, _ in _ELEMENT_LISTS)


# --- baselines in a store ----------------------------------------------------------


def take_baseline(store: Store, plan: Plan, name: str, *, actor: str, automatic: bool = False) -> Baseline:
    """Store a named snapshot of `plan`, which must be the stored plan at its current version.

    The lifecycle calls this with `automatic=True` on submission and approval; an
    automatic baseline whose name is taken is stored as `NAME-2`, `NAME-3`, ...
    A manual one with a taken name is rejected (`baseline-exists`). The plan's
    history gets the event `plan.baseline-taken`; the plan's version stays the same.
    """
    return store.add_baseline(plan, name, actor=actor, automatic=automatic)


def baseline_label(baseline: Baseline) -> str:
    return f"baseline {baseline.name!r} (version {baseline.plan_version}, {baseline.taken_at:%Y-%m-%d %H:%M} UTC)"


def compare_stored(store: Store, plan_id: int, first: str, second: str | None = None) -> Comparison:
    """Compare baseline `first` of a plan with baseline `second`, or with the live plan when `second` is None."""
    before = store.baseline(plan_id, first)
    if second is None:
        live = store.load_plan(plan_id)
        return compare_plans(before.plan(), live, before_label=baseline_label(before),
                             after_label=f"live plan (version {live.version})")
    after = store.baseline(plan_id, second)
    return compare_plans(before.plan(), after.plan(), before_label=baseline_label(before),
                         after_label=baseline_label(after))


# --- text ----------------------------------------------------------------------------


def _shown(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def comparison_text(comparison: Comparison, *, show_fields_of_added: bool = False) -> str:
    """Lay out a comparison for a terminal: one line per element, one indented line per changed field.

    Added and removed elements are listed by name only, unless `show_fields_of_added`
    is true; `--format json` always has every field.
    """
    lines = [f"from {comparison.before}", f"  to {comparison.after}"]
    if not comparison.changes:
        lines.append("no differences")
        return "\n".join(lines)
    counts = {change: len(comparison.of(change)) for change in ("added", "removed", "changed")}
    lines.append(", ".join(f"{count} {change}" for change, count in counts.items()))
    for element in comparison.changes:
        title = f"{element.change:<8} {element.kind} {element.id}"
        lines.append(f"{title}: {element.name}" if element.name else title)
        if element.change == "changed" or show_fields_of_added:
            for field in element.fields:
                lines.append(f"           {field.field}: {_shown(field.before)} -> {_shown(field.after)}")
    return "\n".join(lines)
