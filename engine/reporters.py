"""Reporters of `svcplan validate`: the same result as text, JSON, GitHub annotations, SARIF or JUnit XML.

Each reporter is a function registered under its `--format` name in
`REPORTERS`. It takes a `ValidationResult` and `ReportOptions` and returns the
whole report as one string, so the CLI only chooses a reporter and prints.
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

from . import __version__
from .errors import Problem, Severity, format_path
from .lint import ValidationResult

Reporter = Callable[[ValidationResult, "ReportOptions"], str]

REPORTERS: dict[str, Reporter] = {}
"""Reporters by the name `--format` takes."""

MAX_SOURCE_LINE = 200
"""Maximum length of the source line shown under a problem in the text report, in characters."""


@dataclass
class ReportOptions:
    """How to lay out a report: colour (ANSI escapes) and the offending source line."""

    colour: bool = False
    source: bool = True
    _lines: dict[str, list[str] | None] = field(default_factory=dict, repr=False)

    def source_line(self, file: str, line: int) -> str | None:
        """Return line `line` of `file` as svcplan read it, or None where there is none to show."""
        if file not in self._lines:
            self._lines[file] = _read_lines(file)
        lines = self._lines[file]
        if not lines or not 0 < line <= len(lines):
            return None
        return lines[line - 1]


def _read_lines(file: str) -> list[str] | None:
    path = Path(file)
    try:
        if not path.is_file() or path.stat().st_size > 5 * 1024 * 1024:
            return None
        text = path.read_bytes().decode("utf-8-sig", errors="replace")
    except OSError:
        return None
    return re.split(r"\r\n|\r|\n", text)


def register(name: str) -> Callable[[Reporter], Reporter]:
    """Register a reporter under a `--format` name."""

    def add(function: Reporter) -> Reporter:
        REPORTERS[name] = function
        return function

    return add


def render(name: str, result: ValidationResult, options: ReportOptions | None = None) -> str:
    """Return the report of `result` in the format `name`; raise KeyError for an unknown name."""
    return REPORTERS[name](result, options or ReportOptions())


def use_colour(stream: Any) -> bool:
    """Colour only a terminal, and never when NO_COLOR is set to a non-empty value (https://no-color.org)."""
    return not os.environ.get("NO_COLOR") and hasattr(stream, "isatty") and stream.isatty()


def default_format() -> str:
    """Return `github` inside a GitHub Actions job (GITHUB_ACTIONS=true), else `text`."""
    return "github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text"


def summary(result: ValidationResult) -> str:
    """Return the one-line count of files, errors and warnings."""
    files, errors, warnings = len(result.files), len(result.errors), len(result.warnings)
    text = (f"{files} file{'s' if files != 1 else ''} checked: {errors} error{'s' if errors != 1 else ''}, "
            f"{warnings} warning{'s' if warnings != 1 else ''}")
    if result.strict and warnings:
        text += " (--strict: warnings fail the check)"
    return text


# --- text ---------------------------------------------------------------------

_STYLES = {"bold": "1", "dim": "2", "red": "1;31", "yellow": "1;33", "cyan": "36"}


def _style(text: str, style: str, colour: bool) -> str:
    return f"\033[{_STYLES[style]}m{text}\033[0m" if colour else text


def _printable(text: str) -> str:
    return "".join(char if char.isprintable() or char == "\t" else "\N{REPLACEMENT CHARACTER}" for char in text)


def _excerpt(problem: Problem, options: ReportOptions) -> list[str]:
    """Return the offending line with a caret under the column, as `text` shows it."""
    location = problem.location
    if not options.source or location.line <= 0:
        return []
    line = options.source_line(location.file, location.line)
    if line is None:
        return []
    number = str(location.line)
    gutter = " " * len(number)
    shown = _printable(line[:MAX_SOURCE_LINE]) + (" …" if len(line) > MAX_SOURCE_LINE else "")
    rows = [f"  {_style(number, 'dim', options.colour)} | {shown}"]
    if 0 < location.column <= MAX_SOURCE_LINE + 1:
        # Keep tabs, so the caret lines up however wide the terminal shows a tab.
        lead = "".join("\t" if char == "\t" else " " for char in line[: location.column - 1])
        rows.append(f"  {gutter} | {lead}{_style('^', 'red' if problem.severity is Severity.ERROR else 'yellow', options.colour)}")
    return rows


def text_lines(result: ValidationResult, options: ReportOptions) -> list[str]:
    """Return the text report as lines: each problem, its source line and hint, then the summary."""
    colour = options.colour
    lines: list[str] = []
    for problem in result.problems:
        severity = problem.severity.value
        label = _style(severity, "red" if problem.severity is Severity.ERROR else "yellow", colour)
        lines.append(f"{_style(str(problem.location), 'bold', colour)}: {label}: {problem.message} "
                     f"{_style(f'[{problem.code}]', 'dim', colour)}")
        lines.extend(_excerpt(problem, options))
        if problem.hint:
            lines.append(f"  {_style('hint', 'cyan', colour)}: {problem.hint}")
    lines.append(summary(result))
    return lines


@register("text")
def text_report(result: ValidationResult, options: ReportOptions) -> str:
    """Lay out problems for people: location, severity, message and code, the source line, the hint."""
    return "\n".join(text_lines(result, options))


# --- JSON ---------------------------------------------------------------------


def _json_value(value: object) -> object:
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


def problem_dict(problem: Problem) -> dict[str, object]:
    """Return one problem as the JSON report writes it."""
    return {
        "file": problem.location.file,
        "line": problem.location.line,
        "column": problem.location.column,
        "severity": problem.severity.value,
        "code": problem.code,
        "message": problem.message,
        "hint": problem.hint,
        "path": format_path(problem.path) if problem.path else "",
        "value": _json_value(problem.value),
    }


@register("json")
def json_report(result: ValidationResult, options: ReportOptions) -> str:
    """Lay out the result as one JSON object: tool, summary, the files checked and every problem."""
    return json.dumps({
        "tool": {"name": "svcplan", "version": __version__},
        "summary": {"files": len(result.files), "errors": len(result.errors), "warnings": len(result.warnings),
                    "strict": result.strict, "failed": result.failed},
        "files": list(result.files),
        "problems": [problem_dict(problem) for problem in result.problems],
    }, indent=2, ensure_ascii=False)


# --- GitHub Actions -------------------------------------------------------------


def _github_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _github_property(text: str) -> str:
    return _github_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(problem: Problem) -> str:
    """Return one workflow command, e.g. ``::error file=a.yaml,line=4,col=5,title=svcplan schema.enum::...``."""
    command = "error" if problem.severity is Severity.ERROR else "warning"
    properties = [f"file={_github_property(problem.location.file)}"]
    if problem.location.line > 0:
        properties.append(f"line={problem.location.line}")
        if problem.location.column > 0:
            properties.append(f"col={problem.location.column}")
    properties.append(f"title={_github_property(f'svcplan {problem.code}')}")
    message = problem.message + (f"\nhint: {problem.hint}" if problem.hint else "")
    return f"::{command} {','.join(properties)}::{_github_data(message)}"


@register("github")
def github_report(result: ValidationResult, options: ReportOptions) -> str:
    """Lay out GitHub workflow-command annotations, then the full text report.

    GitHub shows only the first few annotations of a step, so the text report
    that follows is the complete record in the job log.
    """
    annotations = [github_annotation(problem) for problem in result.problems]
    plain = ReportOptions(colour=False, source=options.source)
    return "\n".join([*annotations, *([""] if annotations else []), *text_lines(result, plain)])


# --- SARIF 2.1.0 --------------------------------------------------------------

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

CODE_DESCRIPTIONS = {
    "yaml-syntax": "The file is not valid YAML.",
    "duplicate-key": "A mapping sets the same key twice.",
    "yaml-merge-key": "A merge key (<<) is used; svcplan reads YAML 1.2, which has none.",
    "yaml-complex-key": "A mapping key is a list or a mapping.",
    "yaml-alias": "An anchor and alias repeat a block under another name.",
    "yaml-boolean-key": "A key that YAML 1.1 tools read as a boolean.",
    "yaml11-boolean": "A value such as no, on or yes that YAML 1.1 tools read as a boolean.",
    "yaml11-octal": "A number with a leading zero that YAML 1.1 tools read as octal.",
    "yaml11-sexagesimal": "A value that YAML 1.1 tools read as a base-60 number.",
    "unquoted-date": "A text written as an unquoted date, which YAML 1.1 tools read as a date.",
    "byte-order-mark": "The file starts with a UTF-8 byte-order mark.",
    "not-utf8": "The file is not valid UTF-8.",
    "empty-file": "The file holds no YAML document.",
    "multiple-documents": "The file holds more than one YAML document.",
    "too-many-values": "Aliases expand the document past the size svcplan reads.",
    "file-too-large": "The file is larger than svcplan reads.",
    "not-a-mapping": "The document is not a mapping.",
    "unknown-kind": "The document's kind is missing or not one svcplan reads.",
    "unknown-item-type": "An item uses an item type that no item-types file defines.",
    "duplicate-item-type": "Two item types have the same id.",
    "duplicate-template-version": "Two files define the same template id and version.",
    "after-plan-end": "An item or milestone is expected to end after the plan's end (plan_duration).",
    "published-version-changed": "A published template version's content changed; publish a new version instead.",
    "version-below-published": "A template version is lower than its published version.",
    "timing-cycle": "Timing depends, through other elements, on itself.",
    "unknown-case-date": "Timing uses a case date that the template does not declare.",
    "text-syntax": "A template text is not a valid expression.",
    "text-unknown-name": "A template text uses a name that a plan does not have.",
}
"""One-line descriptions of the codes, for SARIF rule metadata; other codes get a generic one."""


def _code_description(code: str) -> str:
    if code in CODE_DESCRIPTIONS:
        return CODE_DESCRIPTIONS[code]
    if code.startswith("schema."):
        return f"The value breaks the JSON Schema keyword {code.removeprefix('schema.')}."
    return f"svcplan check {code}."


def _artifact_uri(file: str) -> tuple[str, str | None]:
    """Return the URI of a file and its base id: relative to the working folder where it can be."""
    path = Path(file)
    absolute = path if path.is_absolute() else Path.cwd() / path
    try:
        relative = absolute.resolve().relative_to(Path.cwd().resolve())
    except (ValueError, OSError):
        return absolute.as_uri() if absolute.is_absolute() else quote(file), None
    return quote(relative.as_posix()), "%SRCROOT%"


def _sarif_result(problem: Problem, rule_index: int) -> dict[str, Any]:
    message = problem.message + (f"\nHint: {problem.hint}" if problem.hint else "")
    result: dict[str, Any] = {
        "ruleId": problem.code,
        "ruleIndex": rule_index,
        "level": "error" if problem.severity is Severity.ERROR else "warning",
        "message": {"text": message},
    }
    if problem.location.file and problem.location.file != "command line":
        uri, base = _artifact_uri(problem.location.file)
        artifact: dict[str, Any] = {"uri": uri}
        if base:
            artifact["uriBaseId"] = base
        physical: dict[str, Any] = {"artifactLocation": artifact}
        if problem.location.line > 0:
            physical["region"] = {"startLine": problem.location.line,
                                  "startColumn": max(1, problem.location.column)}
        result["locations"] = [{"physicalLocation": physical}]
    return result


@register("sarif")
def sarif_report(result: ValidationResult, options: ReportOptions) -> str:
    """Lay out the result as a SARIF 2.1.0 log, for code-scanning services such as GitHub's."""
    codes = sorted({problem.code for problem in result.problems})
    index = {code: number for number, code in enumerate(codes)}
    # NOTE: SARIF counts columns in UTF-16 code units by default and svcplan in
    # characters, so a column after a character outside the Basic Multilingual
    # Plane (an emoji) is one less than SARIF readers expect.
    run = {
        "tool": {"driver": {
            "name": "svcplan",
            "version": __version__,
            "rules": [{"id": code, "shortDescription": {"text": _code_description(code)}} for code in codes],
        }},
        "originalUriBaseIds": {"%SRCROOT%": {"uri": Path.cwd().resolve().as_uri() + "/"}},
        "results": [_sarif_result(problem, index[problem.code]) for problem in result.problems],
        "invocations": [{"executionSuccessful": True}],
    }
    return json.dumps({"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}, indent=2, ensure_ascii=False)


# --- JUnit XML ----------------------------------------------------------------

_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: str) -> str:
    """Replace the characters that XML 1.0 cannot contain, even escaped."""
    return _XML_INVALID.sub("\N{REPLACEMENT CHARACTER}", text)


@register("junit")
def junit_report(result: ValidationResult, options: ReportOptions) -> str:
    """Lay out the result as JUnit XML with one test case a file, failed when the file has a failing problem."""
    files = list(result.files)
    files += sorted({problem.location.file for problem in result.problems} - set(files))
    plain = ReportOptions(colour=False, source=False)
    suites = ElementTree.Element("testsuites", name="svcplan validate")
    suite = ElementTree.SubElement(suites, "testsuite", name="svcplan validate")
    failures = 0
    for file in files:
        case = ElementTree.SubElement(suite, "testcase", classname="svcplan.validate", name=_xml_text(file),
                                      file=_xml_text(file))
        problems = result.problems_of(file)
        failing = [problem for problem in problems if result.strict or problem.severity is Severity.ERROR]
        report = "\n".join(text_lines(ValidationResult((file,), tuple(problems), result.strict), plain)[:-1])
        if failing:
            failures += 1
            first = failing[0]
            failure = ElementTree.SubElement(
                case, "failure", type=first.code,
                message=_xml_text(f"{len(failing)} problem{'s' if len(failing) != 1 else ''}: {first.message}"),
            )
            failure.text = _xml_text(report)
        elif problems:
            ElementTree.SubElement(case, "system-out").text = _xml_text(report)
    for element in (suites, suite):
        element.set("tests", str(len(files)))
        element.set("failures", str(failures))
        element.set("errors", "0")
        element.set("skipped", "0")
    ElementTree.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(suites, encoding="unicode")
