"""The whole graph, end to end, on real images, checked by properties a viewer depends on."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import materialize_collection


def published(root: Path, name: str) -> tuple[Path, dict, dict]:
    pub = root / "published" / name
    pointer = json.loads((pub / "current.json").read_text())
    items = json.loads((pub / pointer["items"]).read_text())
    return pub, pointer, items


def check_collection(root: Path, name: str, src: Path) -> dict:
    pub, pointer, items = published(root, name)
    catalogue = json.loads((root / "collections" / name / "images.json").read_text())
    usable = [e["file"] for e in catalogue["files"] if e["status"] == "usable"]
    grid = items["grid"]
    cols, rows, cw, ch = grid["cols"], grid["rows"], grid["cell_width"], grid["cell_height"]

    # Every usable image has exactly one cell, and no cell holds two images.
    assert sorted(items["fields"]["id"]) == sorted(usable)
    cells = items["fields"]["cell"]
    assert len(set(cells)) == len(cells) == len(usable)
    assert all(0 <= c < cols * rows for c in cells)

    # The .dzi parses and its declared size matches the grid and the pyramid on disk.
    root_el = ET.parse(pub / pointer["dzi"]).getroot()
    ns = {"d": "http://schemas.microsoft.com/deepzoom/2008"}
    size = root_el.find("d:Size", ns)
    width, height = int(size.get("Width")), int(size.get("Height"))
    tile = int(root_el.get("TileSize"))
    assert (width, height) == (cols * cw, rows * ch)
    files = (pub / pointer["dzi"]).with_name("map_files")
    max_level = math.ceil(math.log2(max(width, height)))
    assert sorted(int(p.name) for p in files.iterdir()) == list(range(max_level + 1))
    for level in range(max_level + 1):
        scale = 2 ** (max_level - level)
        lw, lh = math.ceil(width / scale), math.ceil(height / scale)
        tiles = {p.name for p in (files / str(level)).iterdir()}
        expected = {f"{c}_{r}.jpg" for c in range(math.ceil(lw / tile)) for r in range(math.ceil(lh / tile))}
        assert tiles == expected, f"level {level}"
        with Image.open(files / str(level) / "0_0.jpg") as im:
            assert im.size == (min(tile, lw), min(tile, lh))

    # The top level holds one tile per cell at the tile size (square cells).
    if cw == ch == tile:
        top = files / str(max_level)
        assert len(list(top.iterdir())) == cols * rows
        for c in cells[:10]:
            with Image.open(top / f"{c % cols}_{c // cols}.jpg") as im:
                assert im.size == (cw, ch)

    # Every item's larger image exists; titles are the rendered template or the file name.
    for rel in items["fields"]["image"]:
        assert (pub / pointer["items"]).parent.joinpath(rel).resolve().is_file()
    assert catalogue["config"]["title"] == "{title}"  # the template these collections use: rendered below
    rows = _csv_rows(src / "metadata.csv")
    titles = dict(zip(items["fields"]["id"], items["fields"]["title"]))
    wrong = {fid: t for fid, t in titles.items() if t != ((rows.get(fid) or {}).get("title") or fid)}
    assert not wrong, f"{len(wrong)} titles are neither the CSV's title nor the file name: {list(wrong.items())[:3]}"
    return items


def _csv_rows(path: Path) -> dict[str, dict[str, str]]:
    """filename -> metadata row, read with the csv module (independently of cviz's reader)."""
    import csv

    with open(path, newline="", encoding="utf-8") as f:
        return {r["filename"]: r for r in csv.DictReader(f)}


def test_met_sample_end_to_end(met_sample_root: Path, met_sample_dir: Path) -> None:
    items = check_collection(met_sample_root, "met-sample", met_sample_dir)  # titles included
    rows = _csv_rows(met_sample_dir / "metadata.csv")
    f = items["fields"]
    for i, fid in enumerate(f["id"]):
        assert f["url"][i] == rows[fid]["url"]
    assert items["count"] == 174
    assert items["date_column"] == "date"
    # The features are real: 174 finite rows of the model's dimension.
    feats = np.load(met_sample_root / "collections" / "met-sample" / "features.npy")
    assert feats.shape[0] == 174 and np.isfinite(feats).all()
    index = json.loads((met_sample_root / "published" / "index.json").read_text())
    assert [c["name"] for c in index["collections"]] == ["met-sample"]


def test_imageplot_subset_titles_fall_back_to_filename(tmp_path: Path, imageplot_subset: Path) -> None:
    spec = {"name": "imageplot-120", "images": str(imageplot_subset / "images"),
            "metadata": str(imageplot_subset / "metadata.csv"), "title": "{title}", "url": "{url}"}
    result = materialize_collection(tmp_path, spec)
    assert result.success
    items = check_collection(tmp_path, "imageplot-120", imageplot_subset)  # titles: CSV's or file name
    rows = _csv_rows(imageplot_subset / "metadata.csv")
    untitled = [fid for fid in items["fields"]["id"] if not rows[fid]["title"]]
    assert len(untitled) == 20
    meta = result.asset_materializations_for_node("metadata_json")[0].metadata
    assert meta["title_fallbacks"].value == 20
    # Both tables are on the asset pages: the CSV as joined (images) and the viewer's items (metadata_json).
    csv_columns = list(next(iter(rows.values())).keys())
    images_meta = result.asset_materializations_for_node("images")[0].metadata
    assert [c.name for c in images_meta["dagster/column_schema"].schema.columns] == \
        ["file"] + [c for c in csv_columns if c != "filename"]
    assert images_meta["dagster/row_count"].value == 120
    year = {c.name: c.type for c in images_meta["dagster/column_schema"].schema.columns}["year"]
    assert year == "int"
    preview = images_meta["preview"].records
    assert preview[0].data["file"] in rows and preview[0].data["title"] == rows[preview[0].data["file"]]["title"]
    item_columns = [c.name for c in meta["dagster/column_schema"].schema.columns]
    assert {"id", "title", "cell"} <= set(item_columns) and meta["dagster/row_count"].value == 120


def test_materialization_metadata_is_informative(met_sample_root: Path, tmp_path: Path) -> None:
    """Counts, timings, model identity and plots are on the materializations (checked via a rerun of pca,
    on a copy: the session's built root is read by other tests at the same time)."""
    import shutil

    import dagster as dg

    from cviz_assets.assets import pca, tsne
    from tests.conftest import resources

    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("collections", ["met-sample"])
    root = tmp_path / "root"
    shutil.copytree(met_sample_root, root)
    # Forced: the fixture built them already, and unchanged stages are otherwise skipped (cviz.stages.stamps).
    result = dg.materialize([pca, tsne], partition_key="met-sample", instance=instance, resources=resources(root),
                            tags={"cviz/force": "true"})
    pca_meta = result.asset_materializations_for_node("pca")[0].metadata
    assert pca_meta["components"].value == min(256, 173, pca_meta["input_dimension"].value)
    assert 0 < pca_meta["explained_variance"].value <= 1.0
    assert "data:image/png;base64," in pca_meta["explained_variance_plot"].value
    tsne_meta = result.asset_materializations_for_node("tsne")[0].metadata
    assert "data:image/png;base64," in tsne_meta["tsne_plot"].value
    assert tsne_meta["seconds"].value > 0
