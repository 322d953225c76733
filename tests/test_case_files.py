"""Case files: the shipped examples load, and each kind of mistake is located."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from svcplan.case import load_case
from svcplan.errors import SvcplanError

ROOT = Path(__file__).resolve().parent.parent
BAD = Path(__file__).parent / "data" / "bad-cases"
EXPECT = re.compile(r"# expect: (\d+):(\d+) (\S+)")


@pytest.mark.parametrize("path", sorted((ROOT / "examples" / "cases").glob("*.yaml")), ids=lambda p: p.stem)
def test_example_case_loads(path: Path):
    case = load_case(path)
    assert case.plan_request is not None
    assert case.as_of is not None
    assert case.participant(case.primary_client) is not None


def test_prospect_and_representative_are_read():
    whitlock = load_case(ROOT / "examples" / "cases" / "foster-care-whitlock.yaml")
    assert whitlock.participant("P-5").registered is False
    nakamura = load_case(ROOT / "examples" / "cases" / "home-care-nakamura.yaml")
    assert nakamura.participant("P-2").nominated_representative_for == "P-1"


@pytest.mark.parametrize("path", sorted(BAD.glob("*.yaml")), ids=lambda p: p.stem)
def test_bad_case_is_located(path: Path):
    match = EXPECT.match(path.read_text())
    assert match, f"{path.name} needs a first line '# expect: LINE:COLUMN CODE'"
    line, column, code = int(match[1]), int(match[2]), match[3]

    with pytest.raises(SvcplanError) as raised:
        load_case(path)

    found = [(p.location.line, p.location.column, p.code) for p in raised.value.problems]
    assert (line, column, code) in found, "\n".join(str(p) for p in raised.value.problems)
