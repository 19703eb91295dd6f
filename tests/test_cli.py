"""The command line: the original tool's flags, the same Dagster job as the UI, clear failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from cviz_assets.cli import build_parser
from tests.conftest import MODEL, REPO, WEIGHTS, child_env


def run_cli(args: list[str], root: Path, home: Path | None = None) -> subprocess.CompletedProcess:
    env = child_env(CVIZ_STORAGE_ROOT=str(root), CVIZ_MODEL=MODEL, CVIZ_WEIGHTS=WEIGHTS)
    if home is not None:
        env["DAGSTER_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "cviz_assets.cli", *args], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=600)


def test_original_flags_are_accepted() -> None:
    args = build_parser().parse_args(
        ["run", "-id", "c1", "-imagedir", "imgs/*.jpg", "-tile", "64x48", "-metdata", "m.csv", "-fn", "file",
         "-title", "{Name} ({Year})", "-url", "http://www.website.com/{Id}/"])
    assert (args.name, args.images, args.cell, args.metadata, args.filename_column) == ("c1", "imgs/*.jpg", "64x48", "m.csv", "file")
    assert (args.title, args.url) == ("{Name} ({Year})", "http://www.website.com/{Id}/")
    long = build_parser().parse_args(["run", "--id", "c1", "--images", "d", "--metadata", "m.csv"])
    assert (long.name, long.images, long.metadata) == ("c1", "d", "m.csv")
    assert (long.grid_method, long.update) == ("auto", "recompute")


def test_grid_method_and_stable_update_reach_the_assets(tmp_path: Path, met_sample_dir: Path) -> None:
    import shutil

    src = tmp_path / "src"
    src.mkdir()
    names = sorted(p.name for p in (met_sample_dir / "images").iterdir())
    for n in names[:12]:
        shutil.copyfile(met_sample_dir / "images" / n, src / n)
    root = tmp_path / "root"
    first = run_cli(["run", "-id", "small", "-imagedir", str(src), "--grid-method", "sorted"], root)
    assert first.returncode == 0, first.stderr[-2000:]
    grid1 = json.loads((root / "collections" / "small" / "grid.json").read_text())
    assert grid1["method"] == "sorted"
    for n in names[12:15]:
        shutil.copyfile(met_sample_dir / "images" / n, src / n)
    second = run_cli(["run", "-id", "small", "-imagedir", str(src), "--grid-method", "sorted", "--update", "place_new"], root)
    assert second.returncode == 0, second.stderr[-2000:]
    grid2 = json.loads((root / "collections" / "small" / "grid.json").read_text())
    catalogue = json.loads((root / "collections" / "small" / "images.json").read_text())
    files = [e["file"] for e in catalogue["files"] if e["status"] == "usable"]
    assert len(grid2["cells"]) == 15
    cell_of = dict(zip(files, grid2["cells"]))
    old_cols = grid1["cols"]
    # Items already on the map keep their cell (same column and row).
    for f, c in zip(sorted(names[:12]), grid1["cells"]):
        assert (cell_of[f] % grid2["cols"], cell_of[f] // grid2["cols"]) == (c % old_cols, c // old_cols)


@pytest.mark.parametrize("name", ["../x", "A B", "a/b", "", "x" * 65, "Upper"])
def test_bad_collection_name_is_refused_before_anything_is_written(tmp_path: Path, met_sample_dir: Path, name: str) -> None:
    root = tmp_path / "root"
    proc = run_cli(["run", "-id", name, "-imagedir", str(met_sample_dir / "images")], root)
    assert proc.returncode != 0
    assert "invalid collection name" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1  # one-line reason, no traceback
    assert not root.exists() or not any(root.iterdir())


def test_template_naming_missing_column_fails_before_work(tmp_path: Path, met_sample_dir: Path) -> None:
    root = tmp_path / "root"
    proc = run_cli(["run", "-id", "t1", "-imagedir", str(met_sample_dir / "images"), "-metadata",
                    str(met_sample_dir / "metadata.csv"), "-title", "{Name} ({Year})"], root)
    assert proc.returncode != 0
    assert "Name" in proc.stderr and "columns found" in proc.stderr
    assert not (root / "collections" / "t1").exists()


def test_cli_matches_ui_path_and_is_recorded_in_the_instance(tmp_path: Path, met_sample_dir: Path, met_sample_root: Path) -> None:
    root, home = tmp_path / "root", tmp_path / "home"
    home.mkdir()
    proc = run_cli(["run", "-id", "met-sample", "-imagedir", str(met_sample_dir / "images"),
                    "-metdata", str(met_sample_dir / "metadata.csv")], root, home)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for stage in ("images", "features", "pca", "tsne", "grid", "mosaic", "dzi", "metadata_json"):
        assert f"{stage}" in proc.stdout
    assert "viewer: http://127.0.0.1" in proc.stdout
    timing = next(line for line in proc.stdout.splitlines() if "time by step" in line)  # where the time went
    assert "features" in timing and "checks" in timing and "outside steps" in timing

    # Same outputs as the asset path (the met_sample_root fixture materialized through dg.materialize).
    ui, cli = met_sample_root / "collections" / "met-sample", root / "collections" / "met-sample"
    np.testing.assert_allclose(np.load(cli / "features.npy"), np.load(ui / "features.npy"), rtol=1e-5, atol=1e-5)
    assert json.loads((cli / "grid.json").read_text()) == json.loads((ui / "grid.json").read_text())

    def items(r: Path) -> dict:
        pub = r / "published" / "met-sample"
        return json.loads((pub / json.loads((pub / "current.json").read_text())["items"]).read_text())

    assert items(root)["fields"] == items(met_sample_root)["fields"]

    # The run and its materializations are in the DAGSTER_HOME instance, as the UI would show them.
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert len(runs) == 1 and runs[0].is_success
        assert instance.get_dynamic_partitions("collections") == ["met-sample"]
        event = instance.get_latest_materialization_event(dg.AssetKey("metadata_json"))
        assert event is not None and event.dagster_event.partition == "met-sample"


def test_cli_failure_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run_cli(["run", "-id", "empty", "-imagedir", str(empty)], tmp_path / "root")
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("cviz: run ") and "images: collection empty: no files found" in last
    assert "dagster._core" not in last and "Failure" not in last


def test_definitions_validate(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("dagster")
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}  # whatever the caller's DAGSTER_HOME, even a missing one
    proc = subprocess.run([str(exe), "definitions", "validate", "-m", "cviz_assets.definitions"], capture_output=True,
                          text=True, cwd=REPO, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
