"""The compile stage on the shipped library and on one small bad file per mistake."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from svcplan.compile import load_library
from svcplan.errors import Severity

ROOT = Path(__file__).resolve().parent.parent
ITEM_TYPES = ROOT / "templates" / "item-types"
BAD = Path(__file__).parent / "data" / "bad-templates"
EXPECT = re.compile(rb"# expect: (\d+):(\d+) (\S+)")


def test_shipped_library_has_no_problems():
    library = load_library([ROOT / "templates"])
    assert [str(p) for p in library.problems] == []
    assert set(library.templates) >= {
        "foster-care-case-plan", "wioa-individual-employment-plan", "hcbs-person-centred-plan"}


def test_shipped_templates_cite_their_law():
    library = load_library([ROOT / "templates"])
    for versions in library.templates.values():
        for template in versions.values():
            assert template.metadata.get("citations"), template.id


@pytest.mark.parametrize("path", sorted(BAD.glob("*.yaml")), ids=lambda p: p.stem)
def test_bad_template_is_located(path: Path):
    match = EXPECT.match(path.read_bytes())
    assert match, f"{path.name} needs a first line '# expect: LINE:COLUMN CODE'"
    line, column, code = int(match[1]), int(match[2]), match[3].decode()

    library = load_library([ITEM_TYPES, path])

    errors = [p for p in library.problems if p.severity is Severity.ERROR]
    found = [(p.location.file, p.location.line, p.location.column, p.code) for p in errors]
    assert (str(path), line, column, code) in found, "\n".join(str(p) for p in errors)
    assert not library.templates


def test_template_hash_changes_with_item_type(tmp_path: Path):
    library = load_library([ROOT / "templates"])
    before = library.template("foster-care-case-plan").content_hash

    changed = tmp_path / "item-types"
    changed.mkdir()
    text = (ITEM_TYPES / "child-welfare.yaml").read_text().replace("maximum_units: 16", "maximum_units: 17")
    (changed / "child-welfare.yaml").write_text(text)
    other = load_library([changed, ITEM_TYPES / "employment.yaml", ITEM_TYPES / "home-care.yaml",
                          ROOT / "templates" / "foster-care-case-plan.yaml"])

    assert [str(p) for p in other.errors] == []
    assert other.template("foster-care-case-plan").content_hash != before
