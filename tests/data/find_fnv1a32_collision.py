"""Find two short ids with the same 32-bit FNV-1a hash and write them to fnv1a32-collision.json.

durable-rules 2.0.28 files a stored fact under the FNV-1a 32-bit hash of its
``id`` (src/rules/state.c, ``fnv1Hash32``), so two facts whose ids share that
hash are taken for one. tests/test_rulesengine.py uses the pair to provoke the
collision for real. Run: python tests/data/find_fnv1a32_collision.py
"""

from __future__ import annotations

import json
from pathlib import Path

FNV_32_OFFSET_BASIS = 0x811C9DC5
FNV_32_PRIME = 0x01000193


def fnv1a32(text: str) -> int:
    """Return the hash as durable-rules computes it over the UTF-8 bytes of `text`."""
    value = FNV_32_OFFSET_BASIS
    for byte in text.encode("utf-8"):
        value ^= byte
        value = (value * FNV_32_PRIME) & 0xFFFFFFFF
    return value


def find_pair(prefix: str = "c") -> tuple[str, str]:
    """Return the first two ids PREFIX<n> whose hashes are equal (a birthday search)."""
    seen: dict[int, str] = {}
    number = 0
    while True:
        candidate = f"{prefix}{number}"
        value = fnv1a32(candidate)
        if value in seen:
            return seen[value], candidate
        seen[value] = candidate
        number += 1


if __name__ == "__main__":
    first, second = find_pair()
    target = Path(__file__).with_name("fnv1a32-collision.json")
    target.write_text(json.dumps({"ids": [first, second], "fnv1a32": fnv1a32(first)}, indent=2) + "\n")
