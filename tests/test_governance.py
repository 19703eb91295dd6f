"""Governance metadata: owners and tags from configuration, descriptions that
explain each asset's metadata, code references, and a ``cviz/source=cli`` tag on CLI runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest

from cviz.errors import CvizError
from cviz_assets.assets import collection_assets
from cviz_assets.metadata import METADATA_MEANING, governed, parse_tags


def _spec(assets: list, key: str) -> dg.AssetSpec:
    [a] = [a for a in assets if a.key == dg.AssetKey(key)]
    return a.specs_by_key[a.key]


def test_owners_tags_descriptions_and_code_references() -> None:
    assets = governed(collection_assets, ["team:collections", "ops@example.org"], {"domain": "museum"})
    for a in assets:
        spec = a.specs_by_key[a.key]
        name = a.key.to_user_string()
        assert spec.owners == ["team:collections", "ops@example.org"], name
        assert spec.tags["domain"] == "museum", name
        assert f"Metadata: {METADATA_MEANING[name]}" in spec.description, name
        [ref] = spec.metadata["dagster/code_references"].code_references
        assert Path(ref.file_path).name == "assets.py", (name, ref)  # the asset, not a decorator's wrapper
        lines = Path(ref.file_path).read_text().splitlines()
        assert lines[ref.line_number - 1].startswith(("@dg.asset(", "@collection_asset(")) and f"def {name}(" in "\n".join(
            lines[ref.line_number - 1:ref.line_number + 4]), name
    assert {a.key.to_user_string() for a in collection_assets} == set(METADATA_MEANING)
    assert _spec(assets, "features").description.startswith("N x D CNN features")
    # Executable as before: the op (pool, retry policy) is untouched.
    [features] = [a for a in assets if a.key == dg.AssetKey("features")]
    assert features.op.pool == "cviz_features" and features.op.retry_policy is not None


def test_bad_settings_are_refused() -> None:
    assert parse_tags(" domain=museum , tier=gold ") == {"domain": "museum", "tier": "gold"}
    with pytest.raises(CvizError, match="'tier' is not key=value"):
        parse_tags("domain=museum,tier")
    with pytest.raises(Exception, match="owner"):
        governed(collection_assets, ["not an owner"], {})


def test_definitions_read_owners_and_tags_from_the_environment(monkeypatch) -> None:
    import subprocess
    import sys

    from tests.conftest import REPO

    code = ("from cviz_assets.definitions import defs; a = defs.get_assets_def('grid'); s = a.specs_by_key[a.key]; "
            "print(s.owners, s.tags.get('tier'))")
    env = {"CVIZ_ASSET_OWNERS": "team:maps", "CVIZ_ASSET_TAGS": "tier=gold", "PYTHONPATH": str(REPO)}
    import os

    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], env={**os.environ, **env}, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "['team:maps'] gold"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_cli_runs_are_tagged(tmp_path: Path, met_sample_dir: Path) -> None:
    import os
    import subprocess

    from tests.conftest import REPO, WEIGHTS, child_env

    src = tmp_path / "three"
    src.mkdir()
    for p in sorted((met_sample_dir / "images").iterdir())[:3]:
        shutil.copyfile(p, src / p.name)
    home = tmp_path / "home"
    home.mkdir()
    env = child_env(DAGSTER_HOME=str(home), PYTHONPATH=str(REPO))
    # --weights given (the flag reaches the run) as the suite's weights: their LiteRT conversion is
    # in the shared model cache, where random weights were converted again in the child (~15 s).
    out = subprocess.run([str(REPO / ".venv" / "bin" / "cviz"), "run", "-id", "three", "-imagedir", str(src),
                          "--storage", str(tmp_path / "storage"), "--weights", WEIGHTS, "--grid-method", "sorted"],
                         env=env, capture_output=True, text=True, timeout=540)
    assert out.returncode == 0, out.stderr[-3000:]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        [run] = instance.get_runs()
        assert run.tags["cviz/source"] == "cli" and run.tags["dagster/partition"] == "three"
