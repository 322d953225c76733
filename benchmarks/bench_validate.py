"""Time `svcplan validate` against check-jsonschema on a generated template repository.

The script writes a repository of plan templates (500 by default, about 8 KB
each) that pass every check, and exports the plan-template JSON Schema with
`svcplan schema plan-template`. It runs both tools on the same files as
subprocesses, so interpreter start-up counts for both, and prints each tool's
best wall-clock time over several runs and the ratio.

    python benchmarks/bench_validate.py [--templates 500] [--runs 3] [--keep DIR]

check-jsonschema must be on PATH or beside the Python that runs this script
(`pip install check-jsonschema`). svcplan checks more than the schema: item
types across files, timing, texts and published versions.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_ITEM_TYPES = ROOT / "templates" / "item-types"

# Item types of the shipped library, by kind: the generated items use them so
# that every cross-file check has something to resolve.
BASIC_TYPES = ("comprehensive-assessment", "substance-use-assessment", "occupational-skills-training")
UNIT_TYPES = ("personal-care", "adult-day-services", "career-counselling", "parenting-classes")


def _item(template: int, sub_goal: int, index: int) -> str:
    item_id = f"item-{sub_goal}-{index}"
    if index % 2:
        item_type = UNIT_TYPES[(template + index) % len(UNIT_TYPES)]
        units = "        authorised_units: {count: 2, per: week}\n"
    else:
        item_type = BASIC_TYPES[(template + index) % len(BASIC_TYPES)]
        units = ""
    attributes = ""
    if item_type == "occupational-skills-training":
        attributes = "        attributes: {provider: Community College of the Valley, hours: 120}\n"
    start = "{days: 0}" if index == 0 else f"{{from: item.item-{sub_goal}-{index - 1}.expected_end, days: 1}}"
    return (
        f"      - id: {item_id}\n"
        f"        type: {item_type}\n"
        f"        concerning: primary_plan_participant\n"
        f"        owner: case_worker\n"
        f"        responsibility: concerning\n"
        f"        mandatory: {'true' if index == 0 else 'false'}\n"
        f"        start: {start}\n"
        f"        duration: {{weeks: {2 + index}}}\n"
        f"{units}{attributes}"
        f"        expected_outcome: \"{{{{ concerning.name }}}} completes step {index + 1} of sub-goal {sub_goal + 1} "
        f"and the case worker records the result in the case file.\"\n"
    )


def template_text(number: int) -> str:
    """Return the YAML text of one valid plan template of about 8 KB."""
    parts = [
        "# yaml-language-server: $schema=../schema/plan-template.schema.json\n",
        "svcplan: 1\n",
        "kind: plan-template\n",
        f"id: generated-plan-{number:04d}\n",
        "version: 1\n",
        f"name: Generated service plan number {number}\n",
        "service_plan_type: Back to work\n",
        "description: >\n  A generated template for timing the validator: four sub-goals of four items and yearly reviews.\n",
        "metadata:\n  program: Benchmark\n  citations:\n    - cite: 20 CFR 680.170\n",
        "      summary: An individual employment plan sets out the employment goal and the services to reach it.\n",
        "day_counting: calendar\n",
        "currency: USD\n",
        "case_dates: [referral]\n",
        "plan_duration: {years: 3}\n",
        'goal:\n  name: "{{ primary_client.name }} finds and keeps work that pays a living wage"\n',
        "sub_goals:\n",
    ]
    for sub_goal in range(4):
        parts.append(
            f"  - id: sub-goal-{sub_goal}\n"
            f"    category: achieve-an-objective\n"
            f"    name: \"{{{{ primary_client.name }}}} reaches objective {sub_goal + 1}\"\n"
            f"    owner: case_worker\n"
            f"    items:\n"
        )
        parts.extend(_item(number, sub_goal, index) for index in range(4))
    parts.append("milestones:\n")
    for index in range(3):
        parts.append(
            f"  - id: review-{index}\n"
            f"    name: Review number {index + 1} of the plan with the participant\n"
            f"    review: true\n"
            f"    start: {{months: {5 + 6 * index}}}\n"
            f"    end: {{months: {6 + 6 * index}}}\n"
        )
    parts.append(
        "  - id: referral-follow-up\n"
        "    name: Follow-up of the referral\n"
        "    start: {from: case.referral, days: 0}\n"
        "    duration: {days: 30}\n"
    )
    return "".join(parts)


def generate(root: Path, count: int) -> list[Path]:
    """Write `count` templates and the shipped item types under `root`/templates; return the template paths."""
    templates = root / "templates"
    shutil.copytree(SHIPPED_ITEM_TYPES, templates / "item-types")
    paths = []
    for number in range(count):
        path = templates / f"generated-plan-{number:04d}.yaml"
        path.write_text(template_text(number), encoding="utf-8")
        paths.append(path)
    return paths


def _tool(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise SystemExit(f"bench_validate: {name} is not installed; run: {sys.executable} -m pip install {name}")
    return found


def _best_time(command: list[str], runs: int, cwd: Path, expect: int) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        completed = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
        if completed.returncode != expect:
            raise SystemExit(
                f"bench_validate: {' '.join(command[:3])} ... exited with {completed.returncode}, expected {expect}:\n"
                f"{completed.stdout[-2000:]}{completed.stderr[-2000:]}"
            )
        best = min(best, elapsed)
    return best


def main(argv: list[str] | None = None) -> int:
    """Generate the repository, time both tools and print the result."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--templates", type=int, default=500, help="number of templates to generate (default 500)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each tool; the best time counts (default 3)")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="generate into DIR and keep it (default: a temporary folder)")
    args = parser.parse_args(argv)

    svcplan = _tool("svcplan")
    check_jsonschema = _tool("check-jsonschema")
    work = args.keep or Path(tempfile.mkdtemp(prefix="svcplan-bench-"))
    try:
        work.mkdir(parents=True, exist_ok=True)
        paths = generate(work, args.templates)
        size = sum(path.stat().st_size for path in paths) / len(paths)
        schema_dir = work / "schema"
        schema_dir.mkdir()
        schema = schema_dir / "plan-template.schema.json"
        exported = subprocess.run([svcplan, "schema", "plan-template"], capture_output=True, text=True, check=True)
        schema.write_text(exported.stdout, encoding="utf-8")

        environment_note = f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
        print(f"{len(paths)} templates of {size / 1024:.1f} KB on average in {work} ({environment_note})")
        relative = [str(path.relative_to(work)) for path in paths]
        svcplan_time = _best_time([svcplan, "validate", "--format", "json", "templates"], args.runs, work, 0)
        reference_time = _best_time([check_jsonschema, "--schemafile", str(schema), *relative], args.runs, work, 0)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)

    count = len(paths)
    print(f"svcplan validate:  {svcplan_time:7.2f} s  {1000 * svcplan_time / count:6.2f} ms a file")
    print(f"check-jsonschema:  {reference_time:7.2f} s  {1000 * reference_time / count:6.2f} ms a file")
    print(f"ratio: svcplan is {reference_time / svcplan_time:.1f} times as fast as check-jsonschema")
    return 0


if __name__ == "__main__":
    sys.exit(main())
