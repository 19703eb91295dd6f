"""The viewer's extras as the real pipeline publishes them (met-sample, materialized once per session)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from cviz.paths import CollectionPaths
from cviz.publish import similar
from cviz.stages import registry
from cviz.storage import open_storage

pytestmark = pytest.mark.slow


def _version_folder(root: Path, name: str = "met-sample") -> Path:
    pub = root / "published" / name
    pointer = json.loads((pub / "current.json").read_text())
    return pub / pointer["items"].rsplit("/", 1)[0]


def test_published_version_carries_regions_neighbours_and_vocabulary(met_sample_root: Path):
    ver = _version_folder(met_sample_root)
    items = json.loads((ver / "items.json").read_text())
    n = items["count"]
    # Neighbours: 12 per item, exact Euclidean between PCA rows, item order = items.json order.
    nn = similar.unpack_neighbours((ver / "neighbours.bin").read_bytes())
    assert nn.shape == (n, 12)
    pca = np.load(met_sample_root / CollectionPaths("met-sample").pca).astype(np.float64)
    for i in (0, n // 2, n - 1):
        d = np.linalg.norm(pca - pca[i], axis=1)
        d[i] = np.inf
        assert set(nn[i].tolist()) == set(np.argsort(d)[:12].tolist())
    # Regions: by title words here (met-sample has no label_columns). Its 174 titles are too varied
    # for a word 30% of a region carries (benchmarks/bench_quality.py --rows regions), so a scale
    # may have no named region: then it is not published. Any name there is, is honest and unique.
    regions = json.loads((ver / "regions.json").read_text())
    assert regions["format"] == "cviz-regions/1" and regions["source"] == "title"
    for s in regions["scales"]:
        assert len(s["item_region"]) == n
        assert all(r["name"] and not r["name"].lower().startswith("cluster") for r in s["regions"])
        assert len({frozenset(r["name"].lower().split(" · ")) for r in s["regions"]}) == len(s["regions"])
        assert all(r["share"] >= 0.3 for r in s["regions"])
    dups = json.loads((ver / "duplicates.json").read_text())
    assert dups["format"] == "cviz-duplicates/1" and all(len(g) >= 2 for g in dups["groups"])
    vocab = json.loads((ver / "vocabulary.json").read_text())
    assert vocab["format"] == "cviz-vocabulary/1" and isinstance(vocab["filter_columns"], list)


def test_label_columns_name_the_regions_and_are_always_filters(met_sample_root: Path, tmp_path: Path):
    root = tmp_path / "copy"
    shutil.copytree(met_sample_root, root)
    storage = open_storage(str(root))
    paths = CollectionPaths("met-sample")
    config = storage.read_json(paths.config)
    config["label_columns"] = ["department"]
    storage.write_json(paths.config, config)
    live = _version_folder(root)
    live_vocabulary = (live / "vocabulary.json").read_bytes()
    with pytest.raises(Exception, match="never writes into a live version"):
        registry.stage_viewer_extras(storage, "met-sample")  # the published version is immutable
    registry.stage_images(storage, "met-sample")  # the run's config snapshot
    registry.stage_mosaic(storage, "met-sample")  # a new version to complete
    report = registry.stage_viewer_extras(storage, "met-sample")
    assert report.values["regions_source"] == "department"
    # the tsne stage's own search of these rows (knn.npy), not a second one
    assert report.values["neighbours_method"].startswith("reused") and report.values["neighbours_k"] == 12
    ver = root / "published" / "met-sample" / storage.read_json(paths.mosaic)["version"]
    assert ver != live and (live / "vocabulary.json").read_bytes() == live_vocabulary
    registry.stage_metadata_json(storage, "met-sample")
    vocab = json.loads((ver / "vocabulary.json").read_text())
    assert vocab["filter_columns"][0] == "department" and vocab["label_columns"] == ["department"]
    regions = json.loads((ver / "regions.json").read_text())
    departments = {d.strip() for row in json.loads((ver / "items.json").read_text())["values"]["department"] for d in row.split("|")}
    for s in regions["scales"]:
        for r in s["regions"]:
            # Named by a department; a same-named twin may add one title word after " · ".
            assert r["terms"][0] in departments and r["name"].split(" · ")[0] in departments, r
        # The naming's measures, per scale, in the asset's metadata.
        assert report.values[f"regions_{s['name']}_named"] == len(s["regions"])
        assert report.values[f"regions_{s['name']}_purity"] == pytest.approx(s["purity"], abs=1e-4)
    dups = json.loads((ver / "duplicates.json").read_text())
    assert report.values["duplicate_groups"] == len(dups["groups"]) and report.values["duplicate_threshold"] == 0.135
