"""Each output format of `svcplan validate`, parsed the way its consumer parses it.

The SARIF log is checked twice: against `SARIF_SUBSET`, a JSON Schema written
here for the objects svcplan writes (required properties, types, enumerations
and lower bounds), and against the complete SARIF 2.1.0 schema, which the npm
package named in `SARIF_SCHEMA_PACKAGE` ships (no package on PyPI that was
checked ships it).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from jsonschema import Draft7Validator

from svcplan import cli, reporters

ROOT = Path(__file__).resolve().parent.parent
BAD = ["tests/data/bad-templates/bad-id.yaml", "tests/data/bad-yaml/octal.yaml",
       "tests/data/bad-templates/custom-incomplete.yaml"]
ARGS = ["templates/item-types", "templates/wioa-individual-employment-plan.yaml", *BAD]

_MESSAGE = {"type": "object", "required": ["text"], "properties": {"text": {"type": "string", "minLength": 1}}}
_REGION = {
    "type": "object", "additionalProperties": False, "required": ["startLine"],
    "properties": {"startLine": {"type": "integer", "minimum": 1}, "startColumn": {"type": "integer", "minimum": 1}},
}
_ARTIFACT_LOCATION = {
    "type": "object", "additionalProperties": False, "required": ["uri"],
    "properties": {"uri": {"type": "string", "format": "uri-reference"}, "uriBaseId": {"type": "string"}},
}
SARIF_SUBSET = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object", "additionalProperties": False, "required": ["version", "runs"],
    "properties": {
        "$schema": {"type": "string", "format": "uri"},
        "version": {"enum": ["2.1.0"]},
        "runs": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["tool"],
            "properties": {
                "tool": {"type": "object", "additionalProperties": False, "required": ["driver"], "properties": {
                    "driver": {"type": "object", "additionalProperties": False, "required": ["name"], "properties": {
                        "name": {"type": "string"},
                        "version": {"type": "string"},
                        "rules": {"type": "array", "items": {
                            "type": "object", "additionalProperties": False, "required": ["id"],
                            "properties": {"id": {"type": "string"}, "shortDescription": _MESSAGE},
                        }},
                    }},
                }},
                "originalUriBaseIds": {"type": "object", "additionalProperties": _ARTIFACT_LOCATION},
                "invocations": {"type": "array", "items": {
                    "type": "object", "required": ["executionSuccessful"],
                    "properties": {"executionSuccessful": {"type": "boolean"}},
                }},
                "results": {"type": "array", "items": {
                    "type": "object", "additionalProperties": False, "required": ["message"],
                    "properties": {
                        "ruleId": {"type": "string"},
                        "ruleIndex": {"type": "integer", "minimum": -1},
                        "level": {"enum": ["none", "note", "warning", "error"]},
                        "message": _MESSAGE,
                        "locations": {"type": "array", "items": {
                            "type": "object", "additionalProperties": False,
                            "properties": {"physicalLocation": {
                                "type": "object", "additionalProperties": False, "required": ["artifactLocation"],
                                "properties": {"artifactLocation": _ARTIFACT_LOCATION, "region": _REGION},
                            }},
                        }},
                    },
                }},
            },
        }},
    },
}


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")


def report(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    status = cli.main(["validate", *args])
    return status, capsys.readouterr().out


def test_registry_names_every_format():
    assert set(reporters.REPORTERS) == {"text", "json", "github", "sarif", "junit"}


def test_json_report_loads(capsys):
    status, out = report(capsys, "--format", "json", *ARGS)

    data = json.loads(out)
    assert status == 1
    assert data["summary"]["failed"] is True
    assert data["summary"]["errors"] == len([p for p in data["problems"] if p["severity"] == "error"])
    assert data["summary"]["warnings"] == 1
    assert len(data["files"]) == 7
    first = data["problems"][0]
    assert (first["file"], first["line"], first["column"], first["code"]) == (BAD[0], 4, 5, "schema.pattern")
    assert first["value"] == "Bad_Id"


def test_sarif_report_matches_sarif_schema(capsys):
    status, out = report(capsys, "--format", "sarif", *ARGS)

    log = json.loads(out)
    validator = Draft7Validator(SARIF_SUBSET, format_checker=Draft7Validator.FORMAT_CHECKER)
    assert status == 1
    assert [error.message for error in validator.iter_errors(log)] == []
    run = log["runs"][0]
    rules = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    for result in run["results"]:
        assert rules[result["ruleIndex"]] == result["ruleId"]
    first = run["results"][0]["locations"][0]["physicalLocation"]
    assert first["artifactLocation"] == {"uri": BAD[0], "uriBaseId": "%SRCROOT%"}
    assert first["region"] == {"startLine": 4, "startColumn": 5}
    assert {result["level"] for result in run["results"]} == {"error", "warning"}


def test_junit_report_has_one_case_a_file(capsys):
    status, out = report(capsys, "--format", "junit", *ARGS)

    root = ElementTree.fromstring(out.encode())
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    failed = [case.get("name") for case in cases if case.find("failure") is not None]
    assert status == 1
    assert root.get("tests") == suite.get("tests") == str(len(cases)) == "7"
    assert failed == [BAD[0], BAD[2]]
    assert root.get("failures") == suite.get("failures") == "2"
    octal = next(case for case in cases if case.get("name") == BAD[1])
    assert "[yaml11-octal]" in octal.find("system-out").text


def test_junit_strict_fails_on_warnings(capsys):
    _, out = report(capsys, "--format", "junit", "--strict", *ARGS)
    failed = [case.get("name") for case in ElementTree.fromstring(out).iter("testcase") if case.find("failure") is not None]
    assert BAD[1] in failed


def test_junit_escapes_control_characters(capsys, tmp_path: Path):
    bad = tmp_path / "control.yaml"
    bad.write_text('svcplan: 1\nkind: "plan\\u0007template"\n')

    status, out = report(capsys, "--format", "junit", str(bad))

    assert status == 1
    failure = ElementTree.fromstring(out.encode()).find("testsuite/testcase/failure")
    assert "[unknown-kind]" in failure.text


def test_github_annotations_have_file_line_column(capsys):
    status, out = report(capsys, "--format", "github", *ARGS)

    annotations = [line for line in out.splitlines() if line.startswith("::")]
    pattern = re.compile(r"::(error|warning) file=([^,]+),line=(\d+),col=(\d+),title=svcplan ([^:]+)::(.+)")
    assert status == 1
    assert annotations
    for annotation in annotations:
        assert pattern.fullmatch(annotation), annotation
    first = pattern.fullmatch(annotations[0])
    assert first.group(2, 3, 4, 5) == (BAD[0], "4", "5", "schema.pattern")
    assert "%0Ahint: " in annotations[0]


def test_github_report_ends_with_full_text_report(capsys):
    _, text = report(capsys, "--format", "text", *ARGS)
    _, github = report(capsys, "--format", "github", *ARGS)
    assert github.endswith(text)


def test_github_format_is_default_in_actions(capsys, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    _, out = report(capsys, *ARGS)
    assert out.startswith(f"::error file={BAD[0]},line=4,col=5,")


def test_github_escapes_property_separators():
    from svcplan.errors import Location, Problem

    problem = Problem(Location("a,b:c.yaml", 2, 3), "x", "50% done\nnext")
    assert reporters.github_annotation(problem) == "::error file=a%2Cb%3Ac.yaml,line=2,col=3,title=svcplan x::50%25 done%0Anext"


def test_text_report_colours_only_on_request(capsys):
    from svcplan.errors import Location, Problem

    _, plain = report(capsys, *ARGS)
    result = reporters.ValidationResult((BAD[0],), (Problem(Location(BAD[0], 4, 5), "schema.pattern", "bad"),))
    coloured = reporters.render("text", result, reporters.ReportOptions(colour=True))
    assert "\033[" not in plain
    assert "\033[1;31merror\033[0m" in coloured
    assert "\033[" not in reporters.render("text", result, reporters.ReportOptions(colour=False))


def test_no_color_turns_colour_off(monkeypatch: pytest.MonkeyPatch):
    class Terminal:
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR")
    assert reporters.use_colour(Terminal()) is True
    monkeypatch.setenv("NO_COLOR", "1")
    assert reporters.use_colour(Terminal()) is False


def test_clean_run_formats(capsys):
    for name in ("json", "sarif", "junit", "github", "text"):
        status, out = report(capsys, "--format", name, "templates")
        assert status == 0, out
    assert json.loads(report(capsys, "--format", "sarif", "templates")[1])["runs"][0]["results"] == []


SARIF_SCHEMA_PACKAGE = "@microsoft/jest-sarif@1.0.0-beta.0"
"""An npm package (MIT licence) that ships the SARIF 2.1.0 schema as lib/schemas/sarif-2.1.0-rtm.5.json."""


@pytest.fixture(scope="session")
def full_sarif_schema(tmp_path_factory) -> dict:
    """Return the complete SARIF 2.1.0 JSON Schema, unpacked from its npm package.

    `SVCPLAN_SARIF_SCHEMA` may name a copy of the file instead. Without npm the
    test is skipped, except under CI, which has npm and the npm registry.
    """
    import os
    import shutil
    import subprocess
    import tarfile

    given = os.environ.get("SVCPLAN_SARIF_SCHEMA")
    if given:
        return json.loads(Path(given).read_text(encoding="utf-8"))
    npm = shutil.which("npm")
    if npm is None:
        if os.environ.get("CI"):
            pytest.fail("npm is needed to fetch the SARIF 2.1.0 schema and is not installed")
        pytest.skip("npm is not installed, so the SARIF 2.1.0 schema cannot be fetched")
    folder = tmp_path_factory.mktemp("sarif-schema")
    packed = subprocess.run([npm, "pack", SARIF_SCHEMA_PACKAGE, "--silent"], cwd=folder, capture_output=True,
                            text=True, timeout=120)
    if packed.returncode != 0:
        message = f"npm pack {SARIF_SCHEMA_PACKAGE} failed: {packed.stderr.strip()[:300]}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    [archive] = list(folder.glob("*.tgz"))
    with tarfile.open(archive) as tar:
        member = tar.extractfile("package/lib/schemas/sarif-2.1.0-rtm.5.json")
        assert member is not None
        return json.load(member)


def test_sarif_report_matches_full_sarif_schema(capsys, full_sarif_schema):
    from jsonschema import Draft4Validator

    status, out = report(capsys, "--format", "sarif", *ARGS)
    log = json.loads(out)

    validator = Draft4Validator(full_sarif_schema, format_checker=Draft4Validator.FORMAT_CHECKER)
    assert status == 1
    assert full_sarif_schema["title"].startswith("Static Analysis Results Format (SARIF) Version 2.1.0")
    assert [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(log)] == []
    assert log["version"] == "2.1.0"
    assert log["runs"][0]["results"]
