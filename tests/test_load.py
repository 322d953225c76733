"""The loader: positions, YAML 1.1 traps and inputs that must be refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from svcplan.errors import Severity, SvcplanError
from svcplan.load import MAX_FILE_BYTES, load_document


def write(tmp_path: Path, text: str | bytes, name: str = "doc.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def codes(document) -> list[str]:
    return [w.code for w in document.warnings]


def error_of(path: Path) -> tuple[int, int, str]:
    with pytest.raises(SvcplanError) as raised:
        load_document(path)
    problem = raised.value.problems[0]
    return problem.location.line, problem.location.column, problem.code


def test_positions_of_nested_values(tmp_path):
    document = load_document(write(tmp_path, "a:\n  b:\n    - x\n    - {c: 1}\n"))
    assert document.data == {"a": {"b": ["x", {"c": 1}]}}
    assert document.location(("a", "b", 1, "c")).line == 4
    assert document.location(("a", "b", 1, "c")).column == 11
    assert document.location(("a", "b", 1, "c"), key=True).column == 8
    assert document.location(("a", "missing")).line == 2


def test_yaml11_values_stay_as_written(tmp_path):
    document = load_document(write(tmp_path, "a: no\nb: on\nc: 010\nd: 2027-01-08\ne: 0o10\nf: true\n"))
    assert document.data == {"a": "no", "b": "on", "c": 10, "d": "2027-01-08", "e": 8, "f": True}
    assert codes(document) == ["yaml11-boolean", "yaml11-boolean", "yaml11-octal"]
    assert all(w.severity is Severity.WARNING for w in document.warnings)


def test_quoted_values_are_text(tmp_path):
    document = load_document(write(tmp_path, 'a: "no"\nb: "010"\nc: \'1.5\'\n'))
    assert document.data == {"a": "no", "b": "010", "c": "1.5"}
    assert document.warnings == ()


def test_duplicate_key_is_an_error(tmp_path):
    assert error_of(write(tmp_path, "a: 1\nb: 2\na: 3\n")) == (3, 1, "duplicate-key")


def test_byte_order_mark_is_a_warning(tmp_path):
    document = load_document(write(tmp_path, b"\xef\xbb\xbfa: 1\n"))
    assert document.data == {"a": 1}
    assert codes(document) == ["byte-order-mark"]


def test_not_utf8_is_located(tmp_path):
    assert error_of(write(tmp_path, b"a: 1\nb: caf\xe9\n")) == (2, 7, "not-utf8")


def test_tab_indentation_is_named(tmp_path):
    with pytest.raises(SvcplanError) as raised:
        load_document(write(tmp_path, "a:\n\tb: 1\n"))
    assert "tab" in raised.value.problems[0].message


def test_alias_bomb_is_bounded(tmp_path):
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for level in range(1, 9):
        refs = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{refs}]")
    assert error_of(write(tmp_path, "\n".join(lines) + "\n"))[2] == "too-many-values"


def test_alias_is_a_warning(tmp_path):
    document = load_document(write(tmp_path, "a: &x {b: 1}\nc: *x\n"))
    assert document.data == {"a": {"b": 1}, "c": {"b": 1}}
    assert codes(document) == ["yaml-alias"]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "empty-file"),
        ("# only a comment\n", "empty-file"),
        ("a: 1\n---\nb: 2\n", "multiple-documents"),
        ("a:\n  <<: {b: 1}\n", "yaml-merge-key"),
        ("a: [1\n", "yaml-syntax"),
        ("? [a, b]\n: 1\n", "yaml-complex-key"),
    ],
)
def test_refused_inputs(tmp_path, text, code):
    assert error_of(write(tmp_path, text))[2] == code


def test_huge_file_is_refused(tmp_path):
    path = write(tmp_path, "a: " + "x" * (MAX_FILE_BYTES + 1) + "\n")
    assert error_of(path)[2] == "file-too-large"


def test_missing_file_and_folder(tmp_path):
    assert error_of(tmp_path / "absent.yaml")[2] == "file-not-found"
    assert error_of(tmp_path)[2] == "not-a-file"
