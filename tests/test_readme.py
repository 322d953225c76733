"""The README's walk-through, run line by line as a new user would paste it."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def walkthrough() -> tuple[dict[str, str], list[str]]:
    """Return the environment the walk-through exports and its svcplan command lines."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```sh\n(.*?)```", text, re.S) if "export SVCPLAN_DB" in b)
    env: dict[str, str] = {}
    commands = []
    for line in block.splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("export "):
            env.update(pair.split("=", 1) for pair in shlex.split(line)[1:])
        elif line.startswith("svcplan "):
            commands.append(line)
    return env, commands


def test_readme_walkthrough_runs(tmp_path):
    exported, commands = walkthrough()
    assert len(commands) > 15
    env = {**os.environ, **exported, "SVCPLAN_DB": str(tmp_path / "try.db"), "NO_COLOR": "1"}
    svcplan = shutil.which("svcplan", path=str(BIN))
    assert svcplan, "the svcplan command is not installed next to this Python"

    for command in commands:
        result = subprocess.run([svcplan, *shlex.split(command)[1:]], cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=60)
        expected = 1 if "participant add 1 P-5" in command else 0
        assert result.returncode == expected, f"{command}\n{result.stderr}"
        assert "Traceback" not in result.stderr
