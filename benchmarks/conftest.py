"""pytest set-up of the benchmarks: collect bench_*.py files and share the generated caseload.

`make bench` runs ``pytest benchmarks --benchmark-only``. pytest collects only
test_*.py files by default, so the hook below also collects bench_*.py; a file
without test functions adds nothing. The default test suite (testpaths = tests)
never reaches this folder.

The caseload has $SVCPLAN_BENCH_PLANS plans (10,000 if unset); a quick run uses
``SVCPLAN_BENCH_PLANS=500 make bench``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench_caseload import DEFAULT_PLANS, PLANS_ENVIRONMENT_VARIABLE, instantiate_stage
from caseload import Caseload, generate


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    if file_path.suffix == ".py" and file_path.name.startswith("bench_"):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


@pytest.fixture(scope="session")
def caseload(tmp_path_factory: pytest.TempPathFactory) -> Caseload:
    """Return a caseload generated once for the whole session."""
    text = os.environ.get(PLANS_ENVIRONMENT_VARIABLE, str(DEFAULT_PLANS))
    try:
        plans = int(text)
    except ValueError:
        raise pytest.UsageError(f"{PLANS_ENVIRONMENT_VARIABLE}={text!r} is not a whole number of plans") from None
    return generate(tmp_path_factory.mktemp("caseload"), plans)


@pytest.fixture
def plan_database(caseload: Caseload) -> Path:
    """Return the SQLite store of the caseload's plans, made by the instantiation test or here."""
    database = caseload.root / "plans.db"
    if not database.exists():
        instantiate_stage(caseload, database)
    return database
