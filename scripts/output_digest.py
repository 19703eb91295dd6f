"""A digest of everything a build wrote under a storage root, minus what differs run to run.

Why: moving code must not move outputs. Two builds of the same collection by two revisions of
cviz give the same digest when their outputs are the same byte for byte, except for what names
a moment or a run: version folder names (a timestamp and a random suffix), times, run ids,
durations and the code fingerprints in stamps. JSON files are compared after dropping those keys;
every other file (tiles, .npy arrays, neighbours.bin, previews) byte for byte.

Usage: python scripts/output_digest.py STORAGE_ROOT  (prints "sha256  path" lines, sorted)
"""
from __future__ import annotations

import hashlib
import json
import pathlib
import re
import sys
from typing import Any

VERSION = re.compile(r"\d{8}T\d{6,}-[0-9a-f]{8}")
SKIP_PARTS = {"cache", "stamps", "lock-steps", "ops"}
SKIP_NAMES = {"lock.json", "lock.json.mutex", ".mutex"}
# Keys whose values name a moment, a run, a duration, or the code that wrote them.
VOLATILE = re.compile(r"(_at$|_ns$|^updated$|time|seconds|^run_id$|^run$|fingerprint|code_version|_ms$)")


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if not VOLATILE.search(k)}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, str):
        return VERSION.sub("<ver>", value)
    return value


def digest(root: pathlib.Path) -> list[str]:
    """One ``sha256  path`` line per output file under ``root``, version names normalised."""
    lines = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or SKIP_PARTS & set(rel.parts) or path.name in SKIP_NAMES:
            continue
        data = path.read_bytes()
        if path.suffix == ".json":
            data = json.dumps(_scrub(json.loads(data)), sort_keys=True).encode()
        lines.append(f"{hashlib.sha256(data).hexdigest()}  {VERSION.sub('<ver>', str(rel))}")
    return sorted(lines, key=lambda line: line.split("  ", 1)[1])


if __name__ == "__main__":
    print("\n".join(digest(pathlib.Path(sys.argv[1]))))
