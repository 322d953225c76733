"""Benchmark: instantiate and store plans through svcplan, against a bare bulk insert of the same rows.

    python benchmarks/bench_store.py [--plans 10000] [--backend sqlite|postgresql ...]
                                     [--postgresql-url postgresql://postgres@127.0.0.1:5432/postgres]

Plans come from the shipped templates and the three example cases, in turn, each
with its own case reference. For each backend the script times:

- svcplan: for each plan, `instantiate` and then `Store.create_plan`, which writes
  the plan row and its `plan.opened` event in a transaction of its own;
- bulk: the same plan and event rows, made beforehand, written with two
  `executemany` calls in one transaction, with no svcplan code involved.

It prints the wall time, plans a second, and how many times longer svcplan takes.
SQLite uses a file in a temporary folder; PostgreSQL a database that the script
creates on the server at --postgresql-url and drops at the end. The bulk insert
goes into a second, empty store of the same backend. `make bench` collects this
file but finds no test in it; run it as a script.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import secrets
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from svcplan.case import load_case
from svcplan.compile import load_library
from svcplan.instantiate import instantiate
from svcplan.model import Case, PlanTemplate
from svcplan.plan import Plan
from svcplan.store import open_store

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_FOR_CASE = {
    "employment-reyes": "wioa-individual-employment-plan",
    "foster-care-whitlock": "foster-care-case-plan",
    "home-care-nakamura": "hcbs-person-centred-plan",
}
ACTOR = "U-bench"


@dataclasses.dataclass(frozen=True)
class Timing:
    """One measured run: what was timed, on which backend, how many plans and how many seconds."""

    backend: str
    method: str
    plans: int
    seconds: float

    @property
    def plans_per_second(self) -> float:
        return self.plans / self.seconds


def load_inputs() -> list[tuple[PlanTemplate, Case]]:
    library = load_library([ROOT / "templates"])
    if library.errors:
        raise SystemExit(f"the shipped library has errors: {library.errors[0]}")
    return [(library.template(template_id), load_case(ROOT / "examples" / "cases" / f"{case}.yaml"))
            for case, template_id in TEMPLATE_FOR_CASE.items()]


def cases(inputs: list[tuple[PlanTemplate, Case]], count: int) -> Iterator[tuple[PlanTemplate, Case]]:
    """Yield `count` (template, case) pairs, the example cases in turn, each with a case reference of its own."""
    for index in range(count):
        template, case = inputs[index % len(inputs)]
        yield template, dataclasses.replace(case, reference=f"{case.reference}-{index:05d}")


def plan_rows(plan: Plan, plan_id: int, now: str) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """Return the plans row and the events row that `create_plan` writes for `plan`, for the bulk insert."""
    document = plan.to_dict()
    del document["id"], document["version"]
    opened = {"template": plan.template_id, "template_version": plan.template_version,
              "template_hash": plan.template_hash, "case_reference": plan.case.get("reference"),
              "case_worker": plan.case_worker, "status": plan.status}
    return ((plan_id, plan.template_id, plan.template_version, plan.template_hash, plan.case.get("reference"),
             plan.status, 1, json.dumps(document, ensure_ascii=False), now, now, ACTOR),
            (plan_id, 1, now, ACTOR, "plan.opened", "plan", "{}", json.dumps(opened)))


def run_svcplan(target: str, backend: str, inputs: list[tuple[PlanTemplate, Case]], count: int) -> Timing:
    with open_store(target) as store:
        started = time.perf_counter()
        for template, case in cases(inputs, count):
            store.create_plan(instantiate(template, case).plan, actor=ACTOR)
        seconds = time.perf_counter() - started
        stored = len(store.list_plans())
    if stored != count:
        raise SystemExit(f"{backend}: expected {count} stored plans, found {stored}")
    return Timing(backend, "svcplan", count, seconds)


def run_bulk(target: str, backend: str, inputs: list[tuple[PlanTemplate, Case]], count: int) -> Timing:
    # Make the schema with svcplan, then leave the connection to the driver alone.
    open_store(target).close()
    now = datetime.now(timezone.utc).isoformat(timespec="microseconds")
    rows = [plan_rows(instantiate(template, case).plan, index + 1, now)
            for index, (template, case) in enumerate(cases(inputs, count))]
    plans = [row[0] for row in rows]
    events = [row[1] for row in rows]
    columns = ("id, template_id, template_version, template_hash, case_reference, status, version, document,"
               " created_at, updated_at, updated_by")
    if backend == "sqlite":
        connection = sqlite3.connect(target, isolation_level=None)
        placeholders = "?"
        overriding = ""
    else:
        import psycopg

        connection = psycopg.connect(target, autocommit=True)  # type: ignore[assignment]
        placeholders = "%s"
        overriding = "OVERRIDING SYSTEM VALUE "
    try:
        cursor = connection.cursor()
        started = time.perf_counter()
        cursor.execute("BEGIN")
        cursor.executemany(f"INSERT INTO plans ({columns}) {overriding}VALUES ({', '.join([placeholders] * 11)})",
                           plans)
        cursor.executemany('INSERT INTO events (plan_id, seq, at, actor, action, target, "before", "after")'
                           f" VALUES ({', '.join([placeholders] * 8)})", events)
        cursor.execute("COMMIT")
        seconds = time.perf_counter() - started
    finally:
        connection.close()
    return Timing(backend, "bulk", count, seconds)


@contextmanager
def postgresql_database(server_url: str) -> Iterator[tuple[str, str]]:
    """Create two databases with random names on the server, yield their URLs, and drop them afterwards."""
    import psycopg
    from psycopg import sql

    names = [f"svcplan_bench_{secrets.token_hex(6)}" for _ in range(2)]
    with psycopg.connect(server_url, autocommit=True) as connection:
        for name in names:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        urls = [urlunsplit(urlsplit(server_url)._replace(path=f"/{name}")) for name in names]
        yield urls[0], urls[1]
    finally:
        with psycopg.connect(server_url, autocommit=True) as connection:
            for name in names:
                connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def measure(backend: str, inputs: list[tuple[PlanTemplate, Case]], count: int, server_url: str) -> list[Timing]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            return [run_svcplan(str(Path(folder) / "svcplan.db"), backend, inputs, count),
                    run_bulk(str(Path(folder) / "bulk.db"), backend, inputs, count)]
    with postgresql_database(server_url) as (svcplan_url, bulk_url):
        return [run_svcplan(svcplan_url, backend, inputs, count), run_bulk(bulk_url, backend, inputs, count)]


def instantiate_only(inputs: list[tuple[PlanTemplate, Case]], count: int) -> float:
    started = time.perf_counter()
    for template, case in cases(inputs, count):
        instantiate(template, case)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plans", type=int, default=10_000, help="number of plans to store (default: 10000)")
    parser.add_argument("--backend", action="append", choices=("sqlite", "postgresql"),
                        help="backend to measure, repeatable (default: both)")
    parser.add_argument("--postgresql-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="maintenance database of the PostgreSQL server to create the benchmark databases on")
    args = parser.parse_args(argv)
    inputs = load_inputs()
    instantiation = instantiate_only(inputs, args.plans)
    print(f"instantiate only: {args.plans} plans in {instantiation:.2f} s "
          f"({args.plans / instantiation:.0f} plans/s), included in every svcplan time below")
    print(f"{'backend':<11} {'method':<8} {'plans':>6} {'seconds':>8} {'plans/s':>9} {'ratio':>6}")
    for backend in args.backend or ["sqlite", "postgresql"]:
        timings = measure(backend, inputs, args.plans, args.postgresql_url)
        bulk = next(t for t in timings if t.method == "bulk")
        for timing in timings:
            print(f"{timing.backend:<11} {timing.method:<8} {timing.plans:>6} {timing.seconds:>8.2f} "
                  f"{timing.plans_per_second:>9.0f} {timing.seconds / bulk.seconds:>6.1f}")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
