"""The pre-commit hooks of .pre-commit-hooks.yaml, run by pre-commit itself.

A copy of this working tree (the files a pip install needs, and the hooks
file) is committed to a temporary git repository. `pre-commit try-repo`
installs it in a fresh virtual environment and runs a hook on a temporary
template library. Installing needs PyPI for svcplan's dependencies and takes
some seconds, so the environment is built once for the module. pre-commit runs
a hook in parallel batches of files (as many as there are CPUs) when it is
given several files, so `--all-files` checks that a batch without the
item-types file still resolves its item types.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRE_COMMIT = Path(sys.executable).parent / "pre-commit"
TEMPLATE = ROOT / "templates" / "wioa-individual-employment-plan.yaml"

pytestmark = pytest.mark.skipif(not PRE_COMMIT.exists(), reason="pre-commit is not installed (pip install pre-commit)")


def git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=svcplan tests", "-c", "user.email=tests@svcplan.invalid",
                    "-c", "init.defaultBranch=main", *args], cwd=folder, check=True, capture_output=True)


@pytest.fixture(scope="module")
def hook_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A committed copy of this working tree with the files that installing svcplan and its hooks needs."""
    copy = tmp_path_factory.mktemp("hook-repository")
    for name in ("pyproject.toml", "README.md", "cli.py", ".pre-commit-hooks.yaml"):
        shutil.copy(ROOT / name, copy / name)
    shutil.copytree(ROOT / "engine", copy / "engine", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    git(copy, "init", "-q")
    git(copy, "add", "-A")
    git(copy, "commit", "-q", "-m", "svcplan hooks under test")
    return copy


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """A git repository with the shipped item types and two templates, all staged."""
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates" / "item-types", templates / "item-types")
    shutil.copy(TEMPLATE, templates / TEMPLATE.name)
    second = TEMPLATE.read_text().replace("id: wioa-individual-employment-plan", "id: second-employment-plan")
    (templates / "second-employment-plan.yaml").write_text(second)
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    return tmp_path


def try_repo(library: Path, hook_repository: Path, home: Path, hook: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "NO_COLOR": "1", "PRE_COMMIT_COLOR": "never"}
    env.pop("GITHUB_ACTIONS", None)
    return subprocess.run([str(PRE_COMMIT), "try-repo", str(hook_repository), hook, *args], cwd=library, env=env,
                          capture_output=True, text=True, timeout=600)


def test_hook_passes_changed_template(library: Path, hook_repository: Path, pre_commit_home: Path):
    result = try_repo(library, hook_repository, pre_commit_home, "svcplan-validate",
                      "--files", f"templates/{TEMPLATE.name}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Passed" in result.stdout


def test_hook_reports_bad_template_once(library: Path, hook_repository: Path, pre_commit_home: Path):
    broken = library / "templates" / "second-employment-plan.yaml"
    broken.write_text(broken.read_text().replace("type: career-counselling", "type: career-counseling", 1))
    git(library, "add", "-A")

    result = try_repo(library, hook_repository, pre_commit_home, "svcplan-validate", "--all-files")

    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.count("[unknown-item-type]") == 1, result.stdout
    line = next(i for i, text in enumerate(broken.read_text().splitlines(), 1) if "career-counseling" in text)
    assert f"templates/second-employment-plan.yaml:{line}:15: error:" in result.stdout
    assert "did you mean 'career-counselling'?" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_whole_library_hook_sees_published_lock(library: Path, hook_repository: Path, pre_commit_home: Path):
    subprocess.run([str(Path(sys.executable).parent / "svcplan"), "template", "publish", "templates"], cwd=library,
                   check=True, capture_output=True)
    template = library / "templates" / TEMPLATE.name
    template.write_text(template.read_text().replace("duration: {days: 14}", "duration: {days: 21}"))
    git(library, "add", "-A")

    result = try_repo(library, hook_repository, pre_commit_home, "svcplan-validate-all",
                      "--files", "templates/published.lock")

    assert result.returncode == 1, result.stdout + result.stderr
    assert "[published-version-changed]" in result.stdout
