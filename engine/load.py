"""The load stage: read one YAML file into plain data, keeping every node's position.

libyaml (through PyYAML's C composer) parses the file into a node tree, and this
module builds the Python values itself, so that:

- every value keeps the line and column where the author wrote it;
- plain scalars follow the YAML 1.2 core schema: ``no``, ``on`` and ``yes`` stay
  strings, ``010`` is ten, and ``2027-01-08`` stays a string until a later stage
  reads it as a date (each of those YAML 1.1 readings gets a warning, because
  other tools read the same text differently);
- duplicate keys, merge keys, several documents in one file and alias expansion
  past a fixed size are errors, never silently resolved.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from .errors import Location, Problem, Severity, SvcplanError

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

log = logging.getLogger(__name__)

DocPath = tuple[str | int, ...]

MAX_FILE_BYTES = 5 * 1024 * 1024
"""Largest file read; templates are a few kilobytes, so more is a mistake."""

MAX_NODES = 200_000
"""Most values built from one file, counting every expansion of an alias."""

_NULL = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_YAML11_BOOLEANS = {
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
    "on", "On", "ON", "off", "Off", "OFF",
}
_INT = re.compile(r"[-+]?[0-9]+\Z")
_OCTAL = re.compile(r"0o[0-7]+\Z")
_HEX = re.compile(r"0x[0-9a-fA-F]+\Z")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_INFINITY = re.compile(r"[-+]?\.(inf|Inf|INF)\Z")
_NAN = re.compile(r"\.(nan|NaN|NAN)\Z")
_LEADING_ZERO = re.compile(r"[-+]?0[0-9]+\Z")
_DATE_LIKE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}([Tt ].*)?\Z")
_SEXAGESIMAL = re.compile(r"[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?\Z")


@dataclass(frozen=True)
class Document:
    """One loaded YAML file: its data and where each value and key was written.

    `positions` maps the path of every value to its (line, column); `key_positions`
    maps the path of every mapping entry to the position of its key, which is where
    a reader looks for an unknown or misspelled key. Both count from 1.
    """

    file: str
    data: Any
    positions: Mapping[DocPath, tuple[int, int]]
    key_positions: Mapping[DocPath, tuple[int, int]]
    warnings: tuple[Problem, ...] = ()

    def location(self, path: DocPath = (), *, key: bool = False) -> Location:
        """Return where the value at `path` (or its key) was written.

        A path that has no node of its own, such as a missing required key, is
        located at its nearest existing parent.
        """
        path = tuple(path)
        if key and path in self.key_positions:
            line, column = self.key_positions[path]
            return Location(self.file, line, column)
        while path and path not in self.positions:
            path = path[:-1]
        line, column = self.positions.get(path, (1, 1))
        return Location(self.file, line, column)

    def get(self, path: DocPath, default: Any = None) -> Any:
        """Return the value at `path`, or `default` where the path leads nowhere."""
        value = self.data
        for part in path:
            try:
                value = value[part]
            except (KeyError, IndexError, TypeError):
                return default
        return value


@dataclass
class _Builder:
    file: str
    positions: dict[DocPath, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[DocPath, tuple[int, int]] = field(default_factory=dict)
    warnings: list[Problem] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)
    built: int = 0
    seen: set[int] = field(default_factory=set)
    warned_alias: bool = False

    def location(self, node: yaml.Node) -> Location:
        mark = node.start_mark
        return Location(self.file, mark.line + 1, mark.column + 1)

    def warn(self, node: yaml.Node, code: str, message: str, path: DocPath, value: object, hint: str) -> None:
        self.warnings.append(
            Problem(self.location(node), code, message, Severity.WARNING, path, value, hint)
        )

    def fail(self, node: yaml.Node, code: str, message: str, path: DocPath, value: object, hint: str) -> None:
        self.errors.append(Problem(self.location(node), code, message, Severity.ERROR, path, value, hint))

    def build(self, node: yaml.Node, path: DocPath) -> Any:
        self.built += 1
        if self.built > MAX_NODES:
            raise _TooLarge(node)
        if id(node) in self.seen and isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            # PyYAML composes an alias as the very node its anchor names.
            if not self.warned_alias:
                self.warned_alias = True
                self.warn(
                    node, "yaml-alias",
                    "anchors and aliases repeat a block under another name; svcplan expands them, "
                    "but reviewers of the file may not see what the alias contains",
                    path, None, "write the repeated block out in full",
                )
        self.seen.add(id(node))
        mark = node.start_mark
        self.positions[path] = (mark.line + 1, mark.column + 1)

        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (index,)) for index, item in enumerate(node.value)]
        return self._scalar(node, path)

    def _mapping(self, node: yaml.MappingNode, path: DocPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or (
                isinstance(key_node, yaml.ScalarNode) and key_node.value == "<<" and not key_node.style
            ):
                self.fail(
                    key_node, "yaml-merge-key",
                    "merge keys (<<) are not part of YAML 1.2 and svcplan does not expand them",
                    path, "<<", "write the merged keys out in this mapping",
                )
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.fail(
                    key_node, "yaml-complex-key", "a mapping key must be a plain text, not a list or mapping",
                    path, None, "use a text key",
                )
                continue
            key = key_node.value
            if not key_node.style and (key in _YAML11_BOOLEANS or key in _TRUE | _FALSE):
                self.warn(
                    key_node, "yaml-boolean-key",
                    f"the key {key!r} is text in svcplan but a boolean in YAML 1.1 tools",
                    path + (key,), key, f'quote the key: "{key}"',
                )
            if key in first_seen:
                self.fail(
                    key_node, "duplicate-key",
                    f"duplicate key {key!r}; it was first set on line {first_seen[key]}",
                    path + (key,), key, "keep one of the two entries",
                )
                continue
            first_seen[key] = key_node.start_mark.line + 1
            mark = key_node.start_mark
            self.key_positions[path + (key,)] = (mark.line + 1, mark.column + 1)
            result[key] = self.build(value_node, path + (key,))
        return result

    def _scalar(self, node: yaml.ScalarNode, path: DocPath) -> Any:
        # The C composer marks a plain scalar with style "" and the pure-Python
        # one with None; both are falsy.
        text = node.value
        if node.style:  # quoted or block scalar: always text
            return text
        if text in _NULL:
            return None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        if text in _YAML11_BOOLEANS:
            self.warn(
                node, "yaml11-boolean",
                f"{text!r} is read as the text {text!r}; YAML 1.1 tools read it as a boolean",
                path, text, f'write true or false for a yes/no value, or quote it ("{text}") for text',
            )
            return text
        if _LEADING_ZERO.match(text):
            self.warn(
                node, "yaml11-octal",
                f"{text} is read as the decimal number {int(text, 10)}; YAML 1.1 tools read it as octal",
                path, text, "remove the leading zero, or quote the value if it is a code such as a postcode",
            )
            return int(text, 10)
        if _INT.match(text):
            return int(text, 10)
        if _OCTAL.match(text):
            return int(text[2:], 8)
        if _HEX.match(text):
            return int(text[2:], 16)
        if _FLOAT.match(text):
            return float(text)
        if _INFINITY.match(text):
            return -math.inf if text.startswith("-") else math.inf
        if _NAN.match(text):
            return math.nan
        if _SEXAGESIMAL.match(text):
            self.warn(
                node, "yaml11-sexagesimal",
                f"{text!r} is read as text; YAML 1.1 tools read it as a base-60 number",
                path, text, f'quote it ("{text}") to make the meaning plain',
            )
        if _DATE_LIKE.match(text):
            # A plain date stays text here; the stage that expects a date parses
            # and checks it, so no loader turns it into something else first.
            return text
        return text


class _TooLarge(Exception):
    def __init__(self, node: yaml.Node) -> None:
        self.node = node


def _decode(raw: bytes, display: str) -> tuple[str, list[Problem]]:
    warnings: list[Problem] = []
    if raw.startswith(b"\xef\xbb\xbf"):
        warnings.append(
            Problem(
                Location(display, 1, 1), "byte-order-mark",
                "the file starts with a UTF-8 byte-order mark", Severity.WARNING,
                hint="save the file as UTF-8 without a BOM",
            )
        )
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        raise SvcplanError.single(
            Location(display, line, column), "not-utf8",
            f"the file is not valid UTF-8: byte 0x{raw[error.start]:02x} cannot be decoded",
            hint="save the file with UTF-8 encoding",
        ) from None
    return text, warnings


def _syntax_error(error: yaml.MarkedYAMLError, display: str, text: str) -> SvcplanError:
    mark = error.problem_mark or error.context_mark
    line = mark.line + 1 if mark else 0
    column = mark.column + 1 if mark else 0
    problem = error.problem or "invalid YAML"
    context = f" ({error.context})" if error.context else ""
    hint = "check the indentation and quoting on that line"
    lines = text.splitlines()
    at_tab = 0 < line <= len(lines) and lines[line - 1][column - 1 : column] == "\t"
    if at_tab or "tab" in problem:
        problem = "a tab character is used for indentation"
        hint = "YAML does not allow tabs for indentation: indent with spaces"
    return SvcplanError.single(
        Location(display, line, column), "yaml-syntax", f"invalid YAML: {problem}{context}", hint=hint
    )


def parse_text(text: str, display: str, *, warnings: list[Problem] | None = None) -> Document:
    """Parse YAML text already decoded; `display` is the file name used in locations."""
    warnings = list(warnings or [])
    if not text.strip():
        raise SvcplanError.single(
            Location(display, 1, 1), "empty-file", "the file is empty",
            hint="write the document, or delete the file",
        )
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as error:
        raise _syntax_error(error, display, text) from None
    except yaml.YAMLError as error:
        raise SvcplanError.single(Location(display), "yaml-syntax", f"invalid YAML: {error}") from None

    nodes = [node for node in nodes if node is not None]
    if not nodes:
        raise SvcplanError.single(
            Location(display, 1, 1), "empty-file", "the file holds no YAML document, only comments",
            hint="write the document, or delete the file",
        )
    if len(nodes) > 1:
        second = nodes[1].start_mark
        raise SvcplanError.single(
            Location(display, second.line + 1, second.column + 1), "multiple-documents",
            f"the file holds {len(nodes)} YAML documents; svcplan reads one document a file",
            hint="split the documents into files of their own",
        )

    builder = _Builder(display)
    try:
        data = builder.build(nodes[0], ())
    except _TooLarge as too_large:
        raise SvcplanError.single(
            builder.location(too_large.node), "too-many-values",
            f"the document expands to more than {MAX_NODES:,} values (aliases count each time they are used)",
            hint="write the document without deeply nested aliases; a plan template needs far fewer values",
        ) from None
    if builder.errors:
        raise SvcplanError(builder.errors)
    return Document(display, data, builder.positions, builder.key_positions, tuple(warnings + builder.warnings))


def load_document(path: Path | str, *, display: str | None = None) -> Document:
    """Read and parse one YAML file; raise `SvcplanError` with a located problem if it cannot be."""
    path = Path(path)
    display = display or str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SvcplanError.single(
                Location(display), "file-too-large",
                f"the file is {size:,} bytes; svcplan reads files of at most {MAX_FILE_BYTES:,} bytes",
                hint="split it into smaller files",
            )
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SvcplanError.single(Location(display), "file-not-found", "the file does not exist") from None
    except IsADirectoryError:
        raise SvcplanError.single(Location(display), "not-a-file", "the path is a folder, not a file") from None
    except OSError as error:
        raise SvcplanError.single(
            Location(display), "unreadable", f"the file cannot be read: {error.strerror}"
        ) from None
    text, warnings = _decode(raw, display)
    return parse_text(text, display, warnings=warnings)
