"""Generate a caseload for the benchmarks: one plan template, case files and progress files.

The template has 28 items in five sub-goals, one of them repeated three times,
so a plan has 30 items (28 when the case has no child), and 6 milestones. It
uses unit-delivery items, cost estimates, items anchored on other items' expected
ends and on the actual start of employment, a case date, and repeated elements.
The item types are the shipped ones (templates/item-types).

Each case gets a case file and a progress file. Cases differ in their people
(children, a partner, a nominated representative, a prospect who is not on the
plan), their case worker, their plan start and their evaluation date
(``as_of``). Each progress file submits and approves the plan and issues an
agreement, which most clients accept. The rest is drawn per element from a
seeded random generator:
items not started or started late, completed on time or late, not completed,
cancelled, units delivered on track or behind, costs over or under the estimate,
milestones reached, reached late, waived or missed. Every date in a progress
file lies on or before the case's ``as_of``, and the generator computes expected
dates the way svcplan does, so every change applies.
"""

from __future__ import annotations

import json
import math
import random
import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from svcplan.dates import add_months

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_ITEM_TYPES = ROOT / "templates" / "item-types"
SHIPPED_RULES = ROOT / "rules"

TEMPLATE_ID = "generated-family-plan"
FIRST_PLAN_START = date(2025, 1, 6)
PLAN_START_SPREAD_DAYS = 730
MIN_PLAN_AGE_DAYS = 20
MAX_PLAN_AGE_DAYS = 480

RATE_PERIOD_DAYS = {"week": 7.0, "month": 365.25 / 12, "year": 365.25}
"""Days in a rate period, as svcplan counts them (svcplan.model.RATE_PERIOD_DAYS)."""


@dataclass(frozen=True)
class ItemSpec:
    """One template item, and what the progress generator needs to know about it."""

    id: str
    item_type: str
    sub_goal: str
    duration_days: int
    start_days: int = 0
    anchor: str | None = None
    """``ITEM.expected_end`` or ``ITEM.actual_start``; the start is that date plus `start_days`."""
    mandatory: bool = False
    concerning: str = "primary_plan_participant"
    owner: str = "case_worker"
    responsibility: str = "case_worker"
    units: tuple[float, str | None] | None = None
    """Authorised units: a count and a rate period (None for a total over the item)."""
    estimated_cost: float | None = None
    extra: str = ""
    """More YAML lines of the item, each indented by 8 spaces."""
    repeat_months: int = 0
    repeat_count: int = 0


SUB_GOALS = (
    ("assessment", "meet-a-need", "{{ primary_client.name }} has every need assessed"),
    ("daily-living", "meet-a-need", "{{ primary_client.name }} gets the daily care needed to stay at home"),
    ("family", "overcome-a-barrier", "{{ primary_client.name }} and the family live safely together"),
    ("employment", "achieve-an-objective", "{{ primary_client.name }} finds work that pays a living wage"),
    ("retention", "achieve-an-objective", "{{ primary_client.name }} keeps the job"),
)

ITEMS = (
    ItemSpec("intake-assessment", "comprehensive-assessment", "assessment", 14, mandatory=True),
    ItemSpec("substance-use-assessment", "substance-use-assessment", "assessment", 21, start_days=7),
    ItemSpec("medical-exam", "medical-exam", "assessment", 30),
    ItemSpec("dental-exam", "dental-exam", "assessment", 60),
    ItemSpec("vocational-evaluation", "vocational-evaluation", "assessment", 28, start_days=1,
             anchor="intake-assessment.expected_end"),
    ItemSpec("housing-search", "housing-search", "assessment", 90, start_days=14, responsibility="concerning"),
    ItemSpec("personal-care", "personal-care", "daily-living", 182, units=(20, "week")),
    ItemSpec("adult-day-services", "adult-day-services", "daily-living", 182, start_days=14, units=(2, "week")),
    ItemSpec("meals", "home-delivered-meals", "daily-living", 364, units=(5, "week")),
    ItemSpec("respite-care", "respite-care", "daily-living", 365, start_days=30, units=(240, "year"),
             estimated_cost=3600.0),
    ItemSpec("back-up-plan", "back-up-plan", "daily-living", 30),
    ItemSpec("substance-use-treatment", "substance-use-treatment", "daily-living", 168, start_days=1,
             anchor="substance-use-assessment.expected_end", units=(1, "week"), responsibility="concerning"),
    ItemSpec("parenting-classes", "parenting-classes", "family", 84, start_days=21, units=(10, None),
             responsibility="concerning"),
    ItemSpec("family-visits", "supervised-family-visits", "family", 182, concerning="relationship:child",
             owner="role:supervisor", units=(2, "week")),
    ItemSpec("caseworker-visits", "caseworker-visit", "family", 365, units=(1, "month")),
    ItemSpec("school-enrolment", "school-enrolment", "family", 30, concerning="relationship:child"),
    ItemSpec("family-meeting", "custom-activity", "family", 14, start_days=1, anchor="parenting-classes.expected_end",
             extra=("        name: Family group meeting\n"
                    "        purpose: Agree with the family how the children are cared for after the classes.\n")),
    ItemSpec("supportive-services", "supportive-services", "family", 182, estimated_cost=1200.0),
    ItemSpec("career-counselling", "career-counselling", "employment", 56, start_days=7, units=(6, None)),
    ItemSpec("occupational-training", "occupational-skills-training", "employment", 75, start_days=1,
             anchor="career-counselling.expected_end", estimated_cost=4800.0, responsibility="concerning",
             extra="        attributes: {provider: Community College of the Valley, hours: 240}\n"),
    ItemSpec("job-search", "job-search-assistance", "employment", 60, start_days=1,
             anchor="occupational-training.expected_end", responsibility="concerning"),
    ItemSpec("employment-start", "employment-start", "employment", 60, start_days=1,
             anchor="occupational-training.expected_end", mandatory=True, responsibility="concerning"),
    ItemSpec("work-activities", "work-activity-hours", "employment", 182, anchor="employment-start.actual_start",
             units=(30, "week"), responsibility="concerning"),
    ItemSpec("transport-support", "supportive-services", "employment", 120, estimated_cost=900.0),
    ItemSpec("follow-up-30", "follow-up-contact", "retention", 1, start_days=30,
             anchor="employment-start.actual_start", mandatory=True),
    ItemSpec("follow-up-90", "follow-up-contact", "retention", 1, start_days=90,
             anchor="employment-start.actual_start", mandatory=True),
    ItemSpec("follow-up-180", "follow-up-contact", "retention", 1, start_days=180,
             anchor="employment-start.actual_start", mandatory=True),
    ItemSpec("quarterly-contact", "follow-up-contact", "retention", 14, repeat_months=3, repeat_count=3),
)

CHILD_ITEMS = frozenset(spec.id for spec in ITEMS if spec.concerning == "relationship:child")

FIRST_NAMES = ("Alex", "Maria", "Sam", "Priya", "Jordan", "Chen", "Fatima", "Luis", "Anna", "Kofi", "Ines", "Tomas")
LAST_NAMES = ("Rivera", "Okafor", "Nguyen", "Schmidt", "Haddad", "Kowalski", "Moreau", "Tanaka", "Silva", "Byrne")
CASE_WORKERS = 40


# --- the template -------------------------------------------------------------


def _item_yaml(spec: ItemSpec) -> str:
    if spec.anchor:
        start = f"{{from: item.{spec.anchor}, days: {spec.start_days}}}"
    elif spec.repeat_count:
        start = f"{{months: {spec.repeat_months}}}"
    else:
        start = f"{{days: {spec.start_days}}}"
    lines = [
        f"      - id: {spec.id}\n",
        f"        type: {spec.item_type}\n",
        f"        concerning: {spec.concerning}\n",
        f"        owner: {spec.owner}\n",
        f"        responsibility: {spec.responsibility}\n",
        f"        mandatory: {'true' if spec.mandatory else 'false'}\n",
        f"        start: {start}\n",
        f"        duration: {{days: {spec.duration_days}}}\n",
    ]
    if spec.repeat_count:
        lines.append(f"        repeat: {{every: {{months: {spec.repeat_months}}}, count: {spec.repeat_count}}}\n")
    if spec.units:
        count, per = spec.units
        lines.append(f"        authorised_units: {{count: {count:g}, per: {per}}}\n" if per
                     else f"        authorised_units: {count:g}\n")
    if spec.estimated_cost is not None:
        lines.append(f"        estimated_cost: {spec.estimated_cost:.2f}\n")
    lines.append(spec.extra)
    lines.append(f"        expected_outcome: \"{{{{ concerning.name }}}} completes {spec.id.replace('-', ' ')} "
                 "and the case worker records the result.\"\n")
    return "".join(lines)


def template_text() -> str:
    """Return the YAML text of the generated plan template."""
    parts = [
        "# yaml-language-server: $schema=../engine/schemas/plan-template.schema.json\n",
        "svcplan: 1\n",
        "kind: plan-template\n",
        f"id: {TEMPLATE_ID}\n",
        "version: 1\n",
        "name: Family support plan (generated)\n",
        "service_plan_type: Family support\n",
        "description: A generated template for the caseload benchmark.\n",
        "day_counting: calendar\n",
        "currency: USD\n",
        "case_dates: [referral]\n",
        'goal:\n  name: "{{ primary_client.name }} and the family are safe, housed and in work"\n',
        "sub_goals:\n",
    ]
    for sub_goal, category, name in SUB_GOALS:
        parts.append(f"  - id: {sub_goal}\n    category: {category}\n    name: \"{name}\"\n"
                     "    owner: case_worker\n    items:\n")
        parts.extend(_item_yaml(spec) for spec in ITEMS if spec.sub_goal == sub_goal)
    parts.append(
        "milestones:\n"
        "  - id: plan-agreed\n"
        "    name: Plan agreed and signed with the family\n"
        "    start: {days: 0}\n"
        "    duration: {days: 30}\n"
        "  - id: court-review\n"
        "    name: First court review after the referral\n"
        "    citation: 42 U.S.C. 675(5)(B)\n"
        "    start: {from: case.referral, days: 60}\n"
        "    duration: {days: 1}\n"
        "  - id: case-review\n"
        "    name: Case review with the family\n"
        "    review: true\n"
        "    start: {months: 5}\n"
        "    end: {months: 6}\n"
        "    repeat: {every: {months: 6}, count: 2}\n"
        "  - id: follow-up-period\n"
        "    name: Follow-up period after placement\n"
        "    start: {from: item.employment-start.actual_start}\n"
        "    end: {from: item.employment-start.actual_start, months: 12, days: -1}\n"
        "  - id: annual-review\n"
        "    name: Annual review of the plan\n"
        "    review: true\n"
        "    start: {months: 11}\n"
        "    end: {months: 12}\n"
    )
    return "".join(parts)


# --- cases ----------------------------------------------------------------------


def _person_name(rng: random.Random, last_name: str | None = None) -> str:
    return f"{rng.choice(FIRST_NAMES)} {last_name or rng.choice(LAST_NAMES)}"


def _case(number: int, rng: random.Random) -> dict[str, Any]:
    """Return the values of one case: people, dates and plan request."""
    start = FIRST_PLAN_START + timedelta(days=rng.randrange(PLAN_START_SPREAD_DAYS))
    age = MIN_PLAN_AGE_DAYS + int((MAX_PLAN_AGE_DAYS - MIN_PLAN_AGE_DAYS) * rng.random() ** 0.8)
    family = rng.choice(LAST_NAMES)
    participants = [{"id": "P-1", "name": _person_name(rng, family), "relationship": "self", "registered": True,
                     "date_of_birth": date(1970 + rng.randrange(30), 1 + rng.randrange(12), 1 + rng.randrange(28))}]
    for _ in range(rng.choice((0, 1, 1, 2, 2, 3))):
        participants.append({"id": f"P-{len(participants) + 1}", "name": _person_name(rng, family),
                             "relationship": "child", "registered": True,
                             "date_of_birth": date(2010 + rng.randrange(14), 1 + rng.randrange(12), 1 + rng.randrange(28))})
    if rng.random() < 0.4:
        participants.append({"id": f"P-{len(participants) + 1}", "name": _person_name(rng, family),
                             "relationship": "partner", "registered": True})
    if rng.random() < 0.2:
        participants.append({"id": f"P-{len(participants) + 1}", "name": _person_name(rng),
                             "relationship": "advocate", "registered": True, "nominated_representative_for": "P-1"})
    if rng.random() < 0.3:
        # A prospect is on the case but cannot be a plan participant.
        participants.append({"id": f"P-{len(participants) + 1}", "name": _person_name(rng),
                             "relationship": "grandparent", "registered": False})
    worker = rng.randrange(CASE_WORKERS)
    return {
        "number": number,
        "reference": f"FS-{number:06d}",
        "start": start,
        "as_of": start + timedelta(days=age),
        "opened": start - timedelta(days=rng.randrange(10)),
        "referral": start - timedelta(days=10 + rng.randrange(30)),
        "participants": participants,
        "case_worker": f"U-worker{worker:02d}",
        "case_worker_name": f"{FIRST_NAMES[worker % len(FIRST_NAMES)]} {LAST_NAMES[worker % len(LAST_NAMES)]}",
        "case_worker_sensitivity": 4 + worker % 2,
        "has_child": any(p["relationship"] == "child" for p in participants),
    }


def case_text(case: dict[str, Any]) -> str:
    """Return the YAML text of one case file."""
    lines = [
        "case:\n",
        f"  reference: {case['reference']}\n",
        "  program: family-services\n",
        f"  organisation_unit: District {case['number'] % 7 + 1}\n",
        f"  opened: {case['opened'].isoformat()}\n",
        "  primary_client: P-1\n",
        f"  key_dates:\n    referral: {case['referral'].isoformat()}\n",
        "participants:\n",
    ]
    for person in case["participants"]:
        lines.append(f"  - id: {person['id']}\n    name: \"{person['name']}\"\n"
                     f"    relationship: {person['relationship']}\n"
                     f"    registered: {'true' if person['registered'] else 'false'}\n")
        if "date_of_birth" in person:
            lines.append(f"    date_of_birth: {person['date_of_birth'].isoformat()}\n")
        if "nominated_representative_for" in person:
            lines.append(f"    nominated_representative_for: {person['nominated_representative_for']}\n")
    lines.append(
        "users:\n"
        f"  - id: {case['case_worker']}\n    name: \"{case['case_worker_name']}\"\n    role: case worker\n"
        f"    sensitivity: {case['case_worker_sensitivity']}\n"
        "  - id: U-supervisor\n    name: \"Dana Whitfield\"\n    role: supervisor\n    sensitivity: 5\n"
        "    may_approve: true\n"
    )
    members = [p["id"] for p in case["participants"][1:] if p["registered"]]
    lines.append(
        "plan:\n"
        f"  case_worker: {case['case_worker']}\n"
        f"  starts: {case['start'].isoformat()}\n"
        "  primary_plan_participant: P-1\n"
        f"  plan_participants: [{', '.join(members)}]\n"
        f"as_of: {case['as_of'].isoformat()}\n"
    )
    return "".join(lines)


# --- progress -------------------------------------------------------------------


class _Progress:
    """The changes of one progress file, drawn element by element."""

    def __init__(self, case: dict[str, Any], rng: random.Random) -> None:
        self.case = case
        self.rng = rng
        self.as_of: date = case["as_of"]
        self.changes: list[str] = []
        self.actual_starts: dict[str, date] = {}
        self.expected_ends: dict[str, date] = {}

    def add(self, action: str, **values: Any) -> None:
        """Add one change; `values` are its fields, in order."""
        fields = [f"do: {action}"]
        for key, value in values.items():
            if isinstance(value, date):
                text = value.isoformat()
            elif isinstance(value, float):
                text = f"{value:.2f}"
            else:
                text = value
            fields.append(f"{key}: {text}")
        self.changes.append("  - {" + ", ".join(fields) + "}\n")

    def expected(self, spec: ItemSpec, occurrence: int = 0) -> tuple[date | None, date | None]:
        """Return an item's expected start and end as svcplan works them out, None when unknown."""
        plan_start: date = self.case["start"]
        if spec.repeat_count:
            start = add_months(add_months(plan_start, spec.repeat_months * occurrence), spec.repeat_months)
        elif spec.anchor:
            anchor_item, _, anchor_field = spec.anchor.partition(".")
            anchor_dates = self.expected_ends if anchor_field == "expected_end" else self.actual_starts
            anchor = anchor_dates.get(anchor_item)
            if anchor is None:
                return None, None
            start = anchor + timedelta(days=spec.start_days)
        else:
            start = plan_start + timedelta(days=spec.start_days)
        return start, start + timedelta(days=spec.duration_days - 1)

    def item(self, spec: ItemSpec, item_id: str, occurrence: int = 0) -> None:
        rng, as_of = self.rng, self.as_of
        expected_start, expected_end = self.expected(spec, occurrence)
        if expected_start is None or expected_end is None:
            return
        self.expected_ends[item_id] = expected_end
        if expected_start > as_of:
            return
        draw = rng.random()
        if draw < 0.04:
            self.add("item.outcome", item=item_id, outcome="cancelled")
            return
        if draw < 0.16:
            return  # not started: flagged as overdue to start
        started = min(expected_start + timedelta(days=0 if rng.random() < 0.6 else rng.randint(1, 20)), as_of)
        self.add("item.start", item=item_id, on=started)
        self.actual_starts[item_id] = started

        ended: date | None = None
        if expected_end < as_of:
            draw = rng.random()
            if draw < 0.55:
                ended = max(started, min(expected_end - timedelta(days=rng.randrange(6)), as_of))
            elif draw < 0.75:
                ended = max(started, min(expected_end + timedelta(days=rng.randint(1, 30)), as_of))
        if spec.units:
            self.deliveries(spec, item_id, expected_start, expected_end, started, ended)
        if spec.estimated_cost is not None:
            actual = spec.estimated_cost * rng.uniform(0.75, 1.25)
            self.add("item.cost", item=item_id, actual=round(actual, 2))
        elif spec.id == "housing-search" and rng.random() < 0.5:
            self.add("item.cost", item=item_id, estimated=500.0, actual=round(rng.uniform(300, 700), 2))
        if ended is not None:
            draw = rng.random()
            if draw < 0.8:
                self.add("item.complete", item=item_id, on=ended, outcome="attained")
            elif draw < 0.9:
                self.add("item.complete", item=item_id, on=ended, outcome="not-attained", good_cause="true")
            else:
                self.add("item.complete", item=item_id, on=ended, outcome="not-attained")

    def deliveries(self, spec: ItemSpec, item_id: str, expected_start: date, expected_end: date,
                   started: date, ended: date | None) -> None:
        """Add deliveries in monthly amounts, on track or behind the pro-rated units."""
        assert spec.units is not None
        count, per = spec.units
        period = (expected_end - expected_start).days + 1
        total = count if per is None else count * period / RATE_PERIOD_DAYS[per]
        last = min(ended or self.as_of, self.as_of)
        elapsed = min(max((self.as_of - expected_start).days, 0), period)
        share = self.rng.uniform(1.0, 1.15) if self.rng.random() < 0.65 else self.rng.uniform(0.3, 0.8)
        # Units go in halves, and svcplan rejects deliveries beyond the authorised total.
        owed = min(math.ceil(total * elapsed / period * share * 2) / 2, math.floor(total * 2) / 2)
        days = (last - started).days
        if owed <= 0:
            return
        chunks = max(1, min(6, days // 30 + 1))
        each = math.ceil(owed / chunks * 2) / 2
        remaining = owed
        for index in range(chunks):
            units = min(each, remaining)
            if units <= 0:
                break
            on = started + timedelta(days=days * index // chunks)
            self.add("item.deliver", item=item_id, units=float(units), on=on)
            remaining -= units

    def milestone(self, milestone_id: str, expected_start: date | None, expected_end: date | None) -> None:
        rng, as_of = self.rng, self.as_of
        if expected_start is None or expected_end is None or expected_start > as_of:
            return
        draw = rng.random()
        if draw < 0.1 and expected_end < as_of:
            self.add("milestone.waive", milestone=milestone_id)
            return
        if draw < 0.2:
            return  # missed
        started = min(expected_start + timedelta(days=rng.randrange(4)), as_of)
        self.add("milestone.start", milestone=milestone_id, on=started)
        if expected_end >= as_of:
            return
        draw = rng.random()
        if draw < 0.7:
            reached = max(started, expected_end - timedelta(days=rng.randrange(5)))
        elif draw < 0.9:
            reached = min(expected_end + timedelta(days=rng.randint(1, 20)), as_of)
        else:
            return
        self.add("milestone.complete", milestone=milestone_id, on=max(reached, started))


def progress_text(case: dict[str, Any], rng: random.Random) -> str:
    """Return the YAML text of one case's progress file."""
    progress = _Progress(case, rng)
    # The case worker submits the plan and the supervisor approves it, with the
    # items whose type needs approval; most clients sign the agreement.
    start: date = case["start"]
    progress.add("plan.submit")
    progress.add("plan.approve", **{"as": "U-supervisor"})
    progress.add("agreement.issue", on=start)
    if rng.random() < 0.9:
        progress.add("agreement.accept", on=min(start + timedelta(days=rng.randrange(8)), case["as_of"]))
    for spec in ITEMS:
        if spec.id in CHILD_ITEMS and not case["has_child"]:
            continue
        if spec.repeat_count:
            for occurrence in range(spec.repeat_count):
                progress.item(spec, f"{spec.id}-{occurrence + 1}", occurrence)
        else:
            progress.item(spec, spec.id)

    progress.milestone("plan-agreed", start, start + timedelta(days=29))
    court = case["referral"] + timedelta(days=60)
    progress.milestone("court-review", court, court)
    for index in range(2):
        shifted = add_months(start, 6 * index)
        progress.milestone(f"case-review-{index + 1}", add_months(shifted, 5), add_months(shifted, 6))
    employed = progress.actual_starts.get("employment-start")
    if employed is not None:
        progress.milestone("follow-up-period", employed, add_months(employed, 12) - timedelta(days=1))
    progress.milestone("annual-review", add_months(start, 11), add_months(start, 12))
    return (f"svcplan: 1\nkind: progress\nactor: {case['case_worker']}\nchanges:\n" + "".join(progress.changes))


# --- writing it all ---------------------------------------------------------------


@dataclass(frozen=True)
class Caseload:
    """A generated caseload on disk: its folder and number of plans. `manifest` lists one entry per case."""

    root: Path
    plans: int

    @property
    def templates(self) -> Path:
        return self.root / "templates"

    @property
    def rules(self) -> Path:
        return self.root / "rules"

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    def manifest(self) -> list[dict[str, str]]:
        """Return one entry per case: reference, case file, progress file and as_of date."""
        return json.loads(self.manifest_path.read_text(encoding="utf-8"))


def generate(root: Path, plans: int, seed: int = 1) -> Caseload:
    """Write the template, the shipped item types and rules, and `plans` cases under `root`."""
    root.mkdir(parents=True, exist_ok=True)
    caseload = Caseload(root, plans)
    shutil.copytree(SHIPPED_ITEM_TYPES, caseload.templates / "item-types")
    shutil.copytree(SHIPPED_RULES, caseload.rules)
    (caseload.templates / f"{TEMPLATE_ID}.yaml").write_text(template_text(), encoding="utf-8")
    cases = root / "cases"
    progress = root / "progress"
    cases.mkdir()
    progress.mkdir()
    rng = random.Random(seed)
    manifest = []
    for number in range(plans):
        case = _case(number, rng)
        case_path = cases / f"{case['reference']}.yaml"
        progress_path = progress / f"{case['reference']}.yaml"
        case_path.write_text(case_text(case), encoding="utf-8")
        progress_path.write_text(progress_text(case, rng), encoding="utf-8")
        manifest.append({"reference": case["reference"], "case": str(case_path), "progress": str(progress_path),
                         "as_of": case["as_of"].isoformat()})
    caseload.manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    return caseload
