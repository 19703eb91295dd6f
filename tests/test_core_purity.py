"""The pure core stays pure: every ``cviz`` module imports without Dagster.

``cviz/`` is the computation, testable and usable alone; the Dagster definitions (and the CLI
that runs them) live in ``cviz_assets/``. Importing each module in a fresh interpreter is the only
honest check: in this process pytest plugins and other tests have already loaded Dagster.
"""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import cviz

REPO = Path(__file__).resolve().parents[1]

PROBE = """
import importlib, json, pkgutil, sys
import cviz
names = sorted(m.name for m in pkgutil.walk_packages(cviz.__path__, "cviz."))
for name in names:
    importlib.import_module(name)
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("dagster", "cviz_assets", "cviz_resources")
             or m.startswith("dagster_"))
print(json.dumps({"modules": names, "forbidden": bad}))
"""


def _walk() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(cviz.__path__, "cviz."))


def test_every_cviz_module_imports_without_dagster() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, cwd=REPO,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["modules"] == _walk() and len(found["modules"]) > 20  # the walk reached the whole package
    assert found["forbidden"] == [], f"importing cviz loaded {found['forbidden'][:20]}"


def test_the_probe_sees_a_dagster_import() -> None:
    """The probe itself can fail: a module importing dagster is reported."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    probe = "import dagster\n" + PROBE
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=REPO,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "dagster" in json.loads(out.stdout.strip().splitlines()[-1])["forbidden"]
