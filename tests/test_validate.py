"""`svcplan validate` on the negative corpus, on the shipped library, and its exit statuses.

Every file of the corpus (tests/data/bad-templates, bad-item-types, bad-yaml
and bad-library) starts with ``# expect: LINE:COLUMN CODE``, followed by
`` warning`` for a check that only warns. The case must report that problem at
that place and exit with 1, with --strict for warnings. A folder of bad-library
is one case made of several files. The cases run through `cli.main` in this
process, and a sample also runs the installed `svcplan` command.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from svcplan import cli
from svcplan.load import MAX_FILE_BYTES

ROOT = Path(__file__).resolve().parent.parent
ITEM_TYPES = ROOT / "templates" / "item-types"
DATA = Path(__file__).parent / "data"
CORPUS = [DATA / name for name in ("bad-templates", "bad-item-types", "bad-yaml", "bad-library")]
EXPECT = re.compile(rb"(?:\xef\xbb\xbf)?# expect: (\d+):(\d+) (\S+)( warning)?\s*$")
SVCPLAN = shutil.which("svcplan", path=str(Path(sys.executable).parent)) or "svcplan"

# Files that cannot hold a comment: (line, column, code, severity).
WITHOUT_COMMENT = {"empty.yaml": (1, 1, "empty-file", "error")}


def _expectations(case: Path) -> list[tuple[str, int, int, str, str]]:
    files = sorted(p for p in case.rglob("*") if p.is_file()) if case.is_dir() else [case]
    found = []
    for path in files:
        if path.name in WITHOUT_COMMENT:
            line, column, code, severity = WITHOUT_COMMENT[path.name]
            found.append((str(path.relative_to(ROOT)), line, column, code, severity))
            continue
        match = EXPECT.match(path.read_bytes().split(b"\n", 1)[0])
        if match:
            severity = "warning" if match[4] else "error"
            found.append((str(path.relative_to(ROOT)), int(match[1]), int(match[2]), match[3].decode(), severity))
    return found


CASES = sorted(entry for folder in CORPUS for entry in folder.iterdir() if entry.suffix == ".yaml" or entry.is_dir())


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = cli.main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("SVCPLAN_JOBS", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")


def test_corpus_has_forty_cases():
    assert len(CASES) >= 40
    for case in CASES:
        assert _expectations(case), f"{case.name} needs a first line '# expect: LINE:COLUMN CODE'"


@pytest.mark.parametrize("case", CASES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_corpus_case_is_located(capsys, case: Path):
    expected = _expectations(case)
    strict = ["--strict"] if any(severity == "warning" for *_, severity in expected) else []

    status, out, err = run_main(capsys, "validate", "--format", "json", *strict,
                                str(ITEM_TYPES.relative_to(ROOT)), str(case.relative_to(ROOT)))

    assert status == 1, out + err
    assert "Traceback" not in err
    report = json.loads(out)
    found = {(p["file"], p["line"], p["column"], p["code"], p["severity"]) for p in report["problems"]}
    for expectation in expected:
        assert expectation in found, "\n".join(sorted(map(str, found)))


@pytest.mark.parametrize("name", ["bad-templates/unknown-item-type.yaml", "bad-yaml/alias-bomb.yaml",
                                  "bad-yaml/latin-1.yaml", "bad-library/published-changed"])
def test_installed_command_on_sample(name: str):
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("GITHUB_ACTIONS", None)
    case = DATA / name
    (file, line, column, code, _), *_ = _expectations(case)

    result = subprocess.run([SVCPLAN, "validate", "templates/item-types", str(case.relative_to(ROOT))],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert f"{file}:{line}:{column}: error:" in result.stdout
    assert f"[{code}]" in result.stdout


def test_shipped_library_passes(capsys):
    status, out, err = run_main(capsys, "validate", "--strict")
    assert (status, err) == (0, "")
    assert "0 errors, 0 warnings" in out


def test_shipped_library_passes_installed_command():
    result = subprocess.run([SVCPLAN, "validate", "--strict"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, env={**os.environ, "NO_COLOR": "1", "GITHUB_ACTIONS": "false"})
    assert result.returncode == 0, result.stdout + result.stderr


def test_huge_file_is_rejected(capsys, tmp_path: Path):
    huge = tmp_path / "huge.yaml"
    line = "# padding to pass the size limit of one file\n"
    huge.write_text("svcplan: 1\nkind: plan-template\n" + line * (MAX_FILE_BYTES // len(line) + 1))

    status, out, _ = run_main(capsys, "validate", "--format", "json", str(huge))

    assert status == 1
    problems = json.loads(out)["problems"]
    assert [(p["file"], p["line"], p["code"]) for p in problems] == [(str(huge), 0, "file-too-large")]


def test_warnings_pass_without_strict(capsys):
    status, out, _ = run_main(capsys, "validate", "templates/item-types", "tests/data/bad-yaml/octal.yaml")
    assert status == 0
    assert "[yaml11-octal]" in out


def test_missing_path_exits_2(capsys):
    status, out, err = run_main(capsys, "validate", "no/such/folder")
    assert status == 2
    assert "no/such/folder: no such file or folder" in err
    assert out == ""


def test_unknown_option_exits_2(capsys):
    status, _, err = run_main(capsys, "validate", "--format", "yaml")
    assert status == 2
    assert "invalid choice: 'yaml'" in err


def test_in_library_needs_paths(capsys):
    status, _, err = run_main(capsys, "validate", "--in-library")
    assert status == 2
    assert "name at least one PATH" in err


def test_in_library_resolves_item_types_elsewhere(capsys, tmp_path: Path):
    library = tmp_path / "templates"
    shutil.copytree(ITEM_TYPES, library / "item-types")
    template = library / "plan.yaml"
    template.write_text((DATA / "bad-library" / "published-changed" / "template.yaml").read_text())

    alone, alone_out, _ = run_main(capsys, "validate", "--format", "json", str(template))
    within, within_out, _ = run_main(capsys, "--library", str(library), "validate", "--in-library",
                                     "--format", "json", str(template))

    assert alone == 1
    assert "unknown-item-type" in {p["code"] for p in json.loads(alone_out)["problems"]}
    assert within == 0, within_out
    assert json.loads(within_out)["files"] == [str(template)]


def test_in_library_reports_only_given_files(capsys, tmp_path: Path):
    library = tmp_path / "templates"
    shutil.copytree(ITEM_TYPES, library / "item-types")
    shutil.copy(DATA / "bad-templates" / "unknown-key.yaml", library / "broken.yaml")
    good = library / "good.yaml"
    good.write_text((DATA / "bad-library" / "published-changed" / "template.yaml").read_text())

    status, out, _ = run_main(capsys, "--library", str(library), "validate", "--in-library", "--format", "json",
                              str(good))

    assert status == 0
    assert json.loads(out)["problems"] == []


def test_process_pool_gives_same_problems(capsys, monkeypatch: pytest.MonkeyPatch):
    arguments = ["validate", "--format", "json", "templates/item-types", *map(str, CASES)]
    monkeypatch.setenv("SVCPLAN_JOBS", "1")
    _, serial, _ = run_main(capsys, *arguments)
    monkeypatch.setenv("SVCPLAN_JOBS", "2")
    _, parallel, _ = run_main(capsys, *arguments)

    assert json.loads(parallel)["problems"] == json.loads(serial)["problems"]
    assert len(json.loads(serial)["problems"]) > 40


def test_text_report_shows_source_line(capsys):
    status, out, _ = run_main(capsys, "validate", "templates/item-types", "tests/data/bad-templates/bad-id.yaml")

    assert status == 1
    lines = out.splitlines()
    first = lines.index("tests/data/bad-templates/bad-id.yaml:4:5: error: id: the text 'Bad_Id' is not in the "
                        "expected form [schema.pattern]")
    assert lines[first + 1] == "  4 | id: Bad_Id"
    assert lines[first + 2] == "    |     ^"
    assert "\033[" not in out


@pytest.mark.parametrize("case, message", [
    ("bad-templates/end-and-duration.yaml", "sub_goals[0].items[0]: give either end or duration, not end and duration"),
    ("bad-templates/no-end-or-duration.yaml", "sub_goals[0].items[0]: give end or duration; none of them is given"),
    ("bad-templates/units-as-text.yaml",
     "sub_goals[0].items[0].authorised_units: expected a number or a mapping, found the text 'ten'"),
    ("bad-templates/units-rate-period.yaml",
     "sub_goals[0].items[0].authorised_units.per: the text 'fortnight' is not allowed"),
    ("bad-item-types/basic-with-unit-type.yaml", "item_types[0]: unit_type is not allowed when kind is basic"),
    ("bad-item-types/units-without-unit-type.yaml",
     "item_types[0]: the required key 'unit_type' is missing when kind is service-unit-delivery"),
    ("bad-templates/mandatory-and-optional.yaml",
     "sub_goals[0].items[0]: mandatory: true, optional: true cannot be given together"),
])
def test_alternatives_are_worded(capsys, case: str, message: str):
    _, out, _ = run_main(capsys, "validate", "--format", "json", "templates/item-types", f"tests/data/{case}")
    assert message in [problem["message"] for problem in json.loads(out)["problems"]]


def test_enum_hint_suggests_close_value(capsys):
    _, out, _ = run_main(capsys, "validate", "--format", "json", "templates/item-types",
                         "tests/data/bad-templates/wrong-category.yaml")
    problem = next(p for p in json.loads(out)["problems"] if p["code"] == "schema.enum")
    assert problem["value"] == "meet-needs"
    assert problem["hint"].startswith("did you mean 'meet-a-need'?")


def test_plan_duration_passes_when_elements_fit(capsys, tmp_path: Path):
    template = tmp_path / "fits.yaml"
    text = (DATA / "bad-library" / "after-plan-end.yaml").read_text()
    template.write_text(text.replace("start: {months: 12}", "start: {months: 11}").split("\n", 1)[1])

    status, out, _ = run_main(capsys, "validate", "--strict", "templates/item-types", str(template))

    assert status == 0, out


def test_quoted_date_is_not_reported(capsys, tmp_path: Path):
    template = tmp_path / "quoted.yaml"
    text = (DATA / "bad-yaml" / "unquoted-date.yaml").read_text()
    template.write_text(text.replace("name: 2027-01-08", 'name: "2027-01-08"'))

    status, out, _ = run_main(capsys, "validate", "--strict", "templates/item-types", str(template))

    assert status == 0, out


def test_repeated_milestone_after_plan_end(capsys, tmp_path: Path):
    template = tmp_path / "repeated.yaml"
    text = (DATA / "bad-library" / "after-plan-end.yaml").read_text().split("\n", 1)[1]
    template.write_text(text.replace("plan_duration: {months: 12}", "plan_duration: {years: 1}").replace(
        "    start: {months: 12}\n    duration: {days: 1}\n",
        "    start: {months: 5}\n    end: {months: 6}\n    repeat: {every: {months: 6}, count: 2}\n"))

    status, out, _ = run_main(capsys, "validate", "--format", "json", "templates/item-types", str(template))

    [problem] = json.loads(out)["problems"]
    assert status == 1
    assert (problem["code"], problem["severity"], problem["line"]) == ("after-plan-end", "error", 22)
    assert "milestone 'yearly-review' (occurrence 2 of 2) is expected to end on" in problem["message"]


def test_shipped_templates_name_their_schema():
    modeline = re.compile(r"# yaml-language-server: \$schema=(\S+)")
    for path in sorted((ROOT / "templates").rglob("*.yaml")):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        match = modeline.fullmatch(first)
        assert match, f"{path.relative_to(ROOT)} must start with '# yaml-language-server: $schema=...'"
        schema = (path.parent / match[1]).resolve()
        kind = re.search(r"^kind: (\S+)", path.read_text(encoding="utf-8"), re.MULTILINE)[1]
        assert schema.is_file(), f"{path.relative_to(ROOT)}: {match[1]} does not exist"
        assert schema.name == f"{kind}.schema.json", f"{path.relative_to(ROOT)} is a {kind} but names {schema.name}"


def test_in_library_reports_duplicate_of_given_file(tmp_path, capsys):
    import shutil

    from svcplan.cli import main

    root = Path(__file__).resolve().parent.parent
    library = tmp_path / "templates"
    shutil.copytree(root / "templates", library)
    copy = library / "item-types" / "another-copy.yaml"
    shutil.copy(library / "item-types" / "home-care.yaml", copy)

    status = main(["validate", "--in-library", "--format", "json", str(copy)])
    out = capsys.readouterr().out

    assert status == 1
    assert "duplicate-item-type" in out
