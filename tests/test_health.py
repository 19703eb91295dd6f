"""The collection health page: a collection whose last run failed while its previous map is still served
looks different (state, words and colour) from one that was never published, and the page lists the
live version, the last run, failing and warning checks and skipped files."""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path

import dagster as dg
import pytest

from cviz_assets.assets import images
from cviz_assets.register import register_spec
from tests.conftest import resources

NAME = "met-sample"


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def test_failed_but_serving_differs_from_never_published(met_sample_root: Path, met_sample_dir: Path,
                                                         tmp_path: Path, instance, monkeypatch) -> None:
    from cviz.publish.health import HEALTH_HTML, HEALTH_JSON, STATES
    from cviz_assets.health import collection_health_sensor

    monkeypatch.setenv("CVIZ_UI_URL", "http://ops.example:3000")
    root = tmp_path / "storage"
    for part in (f"collections/{NAME}", f"published/{NAME}"):
        shutil.copytree(met_sample_root / part, root / part)
    shutil.copyfile(met_sample_root / "published" / "index.json", root / "published" / "index.json")
    storage = resources(root)["storage"]
    gone = tmp_path / "moved-away"
    gone.mkdir()
    (gone / "note.txt").write_text("the images were moved")
    bad = tmp_path / "bad"
    bad.mkdir()
    for i in range(2):
        (bad / f"b{i}.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    # met-sample: published, then its source folder emptied, so its next run fails; never-one: only bad files.
    register_spec(instance, storage, {"name": NAME, "images": str(gone)})
    register_spec(instance, storage, {"name": "never-one", "images": str(bad)})
    for name in (NAME, "never-one"):
        result = dg.materialize([images], partition_key=name, instance=instance, resources={"storage": storage},
                                raise_on_error=False)
        assert not result.success

    out = collection_health_sensor(dg.build_sensor_context(instance=instance, resources={"storage": storage}))
    assert "met-sample: failed_serving_previous" in out.skip_reason.skip_message
    assert "never-one: never_published" in out.skip_reason.skip_message
    doc = json.loads((root / HEALTH_JSON).read_text())
    rows = {c["name"]: c for c in doc["collections"]}
    serving, never = rows[NAME], rows["never-one"]
    assert serving["state"] == "failed_serving_previous" and serving["live_version"] and serving["live_age_s"] >= 0
    assert serving["last_run"]["status"] == "FAILURE" and "none of the 1 files is a usable image" in serving["last_run"]["error"]
    assert serving["latest_build_published"] is False  # the last build failed: what is served is older
    assert never["state"] == "never_published" and never["live_version"] == "" and never["live_age_s"] is None
    assert "b0.jpg" in never["last_run"]["error"] and "b1.jpg" in never["last_run"]["error"]
    page = (root / HEALTH_HTML).read_text()
    for state in ("failed_serving_previous", "never_published"):
        label, colour = STATES[state]
        assert html.escape(label) in page and colour in page
    assert STATES["failed_serving_previous"][1] != STATES["never_published"][1]
    assert f"http://ops.example:3000/runs/{serving['last_run']['run_id']}" in page
    # No run finished since: the sensor leaves the page as it is.
    again = collection_health_sensor(dg.build_sensor_context(instance=instance, resources={"storage": storage},
                                                             cursor=out.cursor))
    assert again.skip_reason.skip_message == "no run finished since the page was written"


def test_live_collection_shows_its_checks_and_skipped_files(tmp_path: Path) -> None:
    from cviz.publish.health import CollectionHealth, classify, render_html

    row = classify(CollectionHealth("etchings", live_version="v2", newest_version="v2", skipped=1,
                                    skipped_files=["broken.jpg (truncated)"],
                                    warning_checks=["images:catalogue_complete (1 file skipped)"],
                                    last_run={"run_id": "r1", "status": "SUCCESS", "ended": "2026-12-07T10:00:00Z"}),
                   in_progress=False)
    assert row.state == "warnings" and row.latest_build_published
    page = render_html([row], "now")
    assert "broken.jpg (truncated)" in page and "images:catalogue_complete" in page
    hostile = classify(CollectionHealth("x", skipped=1, skipped_files=["<script>alert(1)</script>.jpg (bad)"]), False)
    assert "<script>alert" not in render_html([hostile], "now")
