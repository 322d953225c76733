"""`svcplan template publish` and the published.lock checks of `svcplan validate`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from svcplan import cli

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "templates" / "wioa-individual-employment-plan.yaml"


@pytest.fixture
def library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository root with a templates/ folder: the shipped item types and one template."""
    (tmp_path / ".git").mkdir()
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates" / "item-types", templates / "item-types")
    shutil.copy(TEMPLATE, templates / TEMPLATE.name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    return templates


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = cli.main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def problems(capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict]]:
    status, out, _ = run(capsys, "validate", "--format", "json", "templates")
    return status, json.loads(out)["problems"]


def test_publish_writes_lock(capsys, library: Path):
    status, out, _ = run(capsys, "template", "publish", "templates")

    lock = json.loads((library / "published.lock").read_text())
    assert status == 0
    assert "published wioa-individual-employment-plan@1" in out
    assert lock["kind"] == "published-templates"
    [entry] = lock["templates"]
    assert (entry["id"], entry["version"], entry["file"]) == ("wioa-individual-employment-plan", 1, TEMPLATE.name)
    assert len(entry["sha256"]) == 64
    assert problems(capsys) == (0, [])


def test_publish_again_changes_nothing(capsys, library: Path):
    run(capsys, "template", "publish", "templates")
    before = (library / "published.lock").read_bytes()

    status, out, _ = run(capsys, "template", "publish", "templates")

    assert status == 0
    assert "0 versions added, 1 already published" in out
    assert (library / "published.lock").read_bytes() == before


def test_changed_published_version_is_an_error(capsys, library: Path):
    run(capsys, "template", "publish", "templates")
    template = library / TEMPLATE.name
    template.write_text(template.read_text().replace("duration: {days: 14}", "duration: {days: 21}"))

    status, found = problems(capsys)

    assert status == 1
    [problem] = found
    assert (problem["file"], problem["line"], problem["column"]) == (f"templates/{TEMPLATE.name}", 5, 10)
    assert problem["code"] == "published-version-changed"
    assert "set version: 2" in problem["hint"]


def test_comment_change_keeps_hash(capsys, library: Path):
    run(capsys, "template", "publish", "templates")
    template = library / TEMPLATE.name
    template.write_text(template.read_text() + "\n# A comment changes nothing a plan sees.\n")

    assert problems(capsys) == (0, [])


def test_item_type_change_changes_published_hash(capsys, library: Path):
    run(capsys, "template", "publish", "templates")
    item_types = library / "item-types" / "employment.yaml"
    item_types.write_text(item_types.read_text().replace("maximum_units: 12", "maximum_units: 13"))

    status, found = problems(capsys)

    assert status == 1
    assert [p["code"] for p in found] == ["published-version-changed"]


def test_bumped_version_passes_and_publishes(capsys, library: Path):
    run(capsys, "template", "publish", "templates")
    template = library / TEMPLATE.name
    text = template.read_text().replace("duration: {days: 14}", "duration: {days: 21}")
    template.write_text(text.replace("version: 1", "version: 2", 1))

    assert problems(capsys) == (0, [])
    status, out, _ = run(capsys, "template", "publish", "templates")
    assert status == 0
    assert "published wioa-individual-employment-plan@2" in out
    versions = [e["version"] for e in json.loads((library / "published.lock").read_text())["templates"]]
    assert versions == [1, 2]


def test_lowered_version_is_an_error(capsys, library: Path):
    template = library / TEMPLATE.name
    template.write_text(template.read_text().replace("version: 1", "version: 3", 1))
    run(capsys, "template", "publish", "templates")
    template.write_text(template.read_text().replace("version: 3", "version: 2", 1))

    status, found = problems(capsys)

    assert status == 1
    assert [(p["code"], p["line"]) for p in found] == [("version-below-published", 5)]
    assert "set version: 4" in found[0]["hint"]


def test_publish_refuses_changed_version(capsys, library: Path):
    run(capsys, "template", "publish", "templates")
    before = (library / "published.lock").read_bytes()
    template = library / TEMPLATE.name
    template.write_text(template.read_text().replace("duration: {days: 14}", "duration: {days: 21}"))

    status, out, err = run(capsys, "template", "publish", "templates")

    assert status == 1
    assert "[published-version-changed]" in err
    assert "nothing was published" in err
    assert (library / "published.lock").read_bytes() == before


def test_invalid_lock_is_located(capsys, library: Path):
    (library / "published.lock").write_text('{"svcplan": 1, "kind": "published-templates", "templates": [{"id": 1}]}\n')

    status, found = problems(capsys)

    assert status == 1
    codes = {(p["file"], p["code"]) for p in found}
    assert ("templates/published.lock", "schema.required") in codes
    assert ("templates/published.lock", "schema.type") in codes


def test_lock_above_repository_root_is_ignored(capsys, library: Path):
    run(capsys, "template", "publish", "templates")
    nested = library / "nested-repository"
    (nested / ".git").mkdir(parents=True)
    shutil.copytree(library / "item-types", nested / "item-types")
    template = nested / TEMPLATE.name
    template.write_text(TEMPLATE.read_text().replace("duration: {days: 14}", "duration: {days: 21}"))

    status, out, _ = run(capsys, "validate", "--format", "json", str(nested.relative_to(library.parent)))

    assert status == 0, out


def test_lock_in_missing_folder_exits_two(tmp_path, capsys):
    from svcplan.cli import main

    root = Path(__file__).resolve().parent.parent
    status = main(["template", "publish", str(root / "templates"), "--lock", str(tmp_path / "absent" / "x.lock")])
    err = capsys.readouterr().err
    assert status == 2
    assert "the lock file's folder does not exist" in err
    assert not (tmp_path / "absent").exists()


def test_lock_file_is_readable_by_all(tmp_path):
    import os
    import stat

    from svcplan.cli import main

    root = Path(__file__).resolve().parent.parent
    lock = tmp_path / "published.lock"
    previous = os.umask(0o022)
    try:
        assert main(["template", "publish", str(root / "templates"), "--lock", str(lock)]) == 0
    finally:
        os.umask(previous)
    assert stat.S_IMODE(lock.stat().st_mode) == 0o644
