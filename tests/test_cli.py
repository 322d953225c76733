"""The installed `svcplan` command: exit codes and errors a user can cause.

These run the real console script in a subprocess, so they also prove that a
process which started the rules engine exits by itself.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CASE = ROOT / "examples" / "cases" / "employment-reyes.yaml"
SVCPLAN = shutil.which("svcplan", path=str(Path(sys.executable).parent)) or "svcplan"


def run(tmp_path: Path, *args: str, db: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SVCPLAN_DB": db or str(tmp_path / "plans.db"), "NO_COLOR": "1"}
    env.pop("SVCPLAN_DEBUG", None)
    return subprocess.run([SVCPLAN, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_help_lists_commands(tmp_path):
    result = run(tmp_path, "--help")
    assert result.returncode == 0
    for command in ("validate", "plan", "item", "evaluate", "schema"):
        assert command in result.stdout


def test_open_and_evaluate_exit_zero(tmp_path):
    opened = run(tmp_path, "--today", "2027-09-15", "plan", "new", "--template", "wioa-individual-employment-plan",
                 "--case", str(CASE), "--as", "U-spatel")
    assert opened.returncode == 0, opened.stderr
    evaluated = run(tmp_path, "evaluate", "1", "--as-of", "2027-03-01")
    assert evaluated.returncode == 0, evaluated.stderr
    assert "Plan 1" in evaluated.stdout
    unknown = run(tmp_path, "evaluate", "7", "--as-of", "2027-03-01")
    assert unknown.returncode == 1
    assert "unknown-plan" in unknown.stderr


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (("plan", "new", "--template", "wioa-individual-employment-plan", "--case", "absent.yaml"), 2,
         "absent.yaml: error: the file does not exist"),
        (("plan", "new", "--template", "no-such-template", "--case", str(CASE)), 1, "no template has the id"),
        (("plan", "new", "--template", "wioa-individual-employment-plan@x", "--case", str(CASE)), 1,
         "the version after @ must be a whole number"),
        (("plan", "new", "--template", "wioa-individual-employment-plan@9", "--case", str(CASE)), 1,
         "has no version 9"),
        (("evaluate", "7", "--as-of", "2027-01-01"), 2, "no plan database exists at this path"),
        (("plan", "list"), 2, "no plan database exists at this path"),
        (("evaluate", "1", "--as-of", "2027-02-30"), 2, "is not a real date"),
        (("evaluate", "one"), 2, "is not a plan id"),
        (("item", "start", "1", "x"), 2, "--on"),
        (("schema", "nothing"), 2, "invalid choice"),
        (("validate", "no/such/folder"), 2, "no such file or folder"),
    ],
)
def test_bad_input_gets_clear_error(tmp_path, args, code, text):
    result = run(tmp_path, *args)
    assert result.returncode == code, result.stderr
    assert text in result.stderr
    assert "Traceback" not in result.stderr


def test_malformed_case_file_is_located(tmp_path):
    bad = tmp_path / "case.yaml"
    bad.write_text(CASE.read_text().replace("  primary_client: P-1\n", "  primary_client: P-1\n  primary_client: P-2\n"))
    result = run(tmp_path, "plan", "new", "--template", "wioa-individual-employment-plan", "--case", str(bad))
    assert result.returncode == 1
    assert f"{bad}:7:3: error: duplicate key 'primary_client'" in result.stderr


def test_database_path_that_is_a_folder(tmp_path):
    result = run(tmp_path, "plan", "list", db=str(tmp_path))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr


def test_schema_prints_json(tmp_path):
    import json

    result = run(tmp_path, "schema", "plan-template")
    assert json.loads(result.stdout)["title"] == "svcplan plan template"


def test_shipped_library_found_from_any_folder(tmp_path):
    env = {**os.environ, "SVCPLAN_DB": str(tmp_path / "plans.db")}
    result = subprocess.run([SVCPLAN, "template", "list"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "foster-care-case-plan@1" in result.stdout
    assert "hcbs-person-centred-plan@1" in result.stdout
