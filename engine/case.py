"""Case files: the case, its participants and the organisation's users, as handed over
by a case management system when a service plan is opened.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from .dates import parse_date
from .errors import Location, Problem, SvcplanError
from .load import Document, DocPath, load_document
from .model import Case, Participant, PlanRequest, User
from .validate import check_schema


def _date_at(document: Document, path: DocPath, problems: list[Problem]) -> date | None:
    text = document.get(path)
    if text is None:
        return None
    parsed = parse_date(text)
    if parsed is None:
        problems.append(Problem(document.location(path), "invalid-date",
                                f"{path[-1]}: {text!r} is not a real date", path=path, value=text,
                                hint="write the date as YYYY-MM-DD, with a day that exists in that month"))
    return parsed


def load_case(path: Path | str) -> Case:
    """Read and check a case file; raise `SvcplanError` listing every problem found."""
    document = load_document(path)
    problems = check_schema(document, "case")
    if problems:
        raise SvcplanError(problems)
    data = document.data

    opened = _date_at(document, ("case", "opened"), problems)
    key_dates = {name: _date_at(document, ("case", "key_dates", name), problems)
                 for name in data["case"].get("key_dates", {})}
    participants = []
    for index, person in enumerate(data["participants"]):
        participants.append(Participant(
            id=person["id"], name=person["name"], registered=person["registered"],
            relationship=person.get("relationship"),
            date_of_birth=_date_at(document, ("participants", index, "date_of_birth"), problems),
            nominated_representative_for=person.get("nominated_representative_for"),
        ))
    users = [User(id=u["id"], name=u["name"], role=u.get("role"), sensitivity=u.get("sensitivity", 1),
                  may_approve=u.get("may_approve", False)) for u in data["users"]]
    plan = data["plan"]
    starts = _date_at(document, ("plan", "starts"), problems)
    as_of = _date_at(document, ("as_of",), problems)

    ids: dict[str, DocPath] = {}
    for index, person in enumerate(data["participants"]):
        _unique(document, ids, person["id"], ("participants", index, "id"), problems)
    for index, user in enumerate(data["users"]):
        _unique(document, ids, user["id"], ("users", index, "id"), problems)
    if data["case"]["primary_client"] not in {p.id for p in participants}:
        problems.append(Problem(document.location(("case", "primary_client")), "unknown-participant",
                                f"primary_client: {data['case']['primary_client']!r} is not one of the participants",
                                path=("case", "primary_client"), value=data["case"]["primary_client"],
                                hint="use the id of a participant listed under participants"))
    for index, person in enumerate(participants):
        target = person.nominated_representative_for
        if target is not None and target not in {p.id for p in participants}:
            path = ("participants", index, "nominated_representative_for")
            problems.append(Problem(document.location(path), "unknown-participant",
                                    f"nominated_representative_for: {target!r} is not one of the participants",
                                    path=path, value=target, hint="use the id of a participant of this case"))
    if problems:
        raise SvcplanError(problems)

    positions = {p: document.location(p) for p in document.positions}
    return Case(
        reference=data["case"]["reference"],
        program=data["case"]["program"],
        organisation_unit=data["case"].get("organisation_unit"),
        opened=opened,  # type: ignore[arg-type]
        primary_client=data["case"]["primary_client"],
        key_dates=key_dates,  # type: ignore[arg-type]
        participants=tuple(participants),
        users=tuple(users),
        plan_request=PlanRequest(
            case_worker=plan["case_worker"], starts=starts,  # type: ignore[arg-type]
            primary_plan_participant=plan["primary_plan_participant"],
            plan_participants=tuple(plan.get("plan_participants", [])),
        ),
        as_of=as_of,
        story=data.get("story"),
        source=document.file,
        positions=positions,
    )


def _unique(document: Document, ids: dict[str, DocPath], person_id: str, path: DocPath,
            problems: list[Problem]) -> None:
    if person_id in ids:
        problems.append(Problem(document.location(path), "duplicate-person-id",
                                f"the id {person_id!r} is already used at {document.location(ids[person_id])}",
                                path=path, value=person_id, hint="give every participant and user an id of their own"))
    else:
        ids[person_id] = path


def case_snapshot(case: Case) -> dict[str, Any]:
    """Return the JSON form of the case that a plan keeps for its own evaluation."""
    return {
        "reference": case.reference,
        "program": case.program,
        "organisation_unit": case.organisation_unit,
        "opened": case.opened.isoformat(),
        "primary_client": case.primary_client,
        "key_dates": {name: day.isoformat() for name, day in case.key_dates.items()},
        "participants": [
            {"id": p.id, "name": p.name, "registered": p.registered, "relationship": p.relationship,
             "date_of_birth": p.date_of_birth.isoformat() if p.date_of_birth else None,
             "nominated_representative_for": p.nominated_representative_for}
            for p in case.participants
        ],
        "users": [
            {"id": u.id, "name": u.name, "role": u.role, "sensitivity": u.sensitivity, "may_approve": u.may_approve}
            for u in case.users
        ],
        "source": case.source,
    }


def command_line(what: str) -> Location:
    """Return the location used for values given on the command line."""
    return Location(f"command line ({what})")
