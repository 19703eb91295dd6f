"""An update's pyramid links the previous version's unchanged tiles and is byte for byte a full render.

Small grids of synthetic 64-pixel cells (some empty, sizes not multiples of 4), rendered through
cviz.render.mosaic + cviz.render.levels into version folders the way the `mosaic` and `dzi` stages do; then a
few cells change (new items in empty cells, one item moved, one removed, the grid one column and
one row larger) and the new grid is rendered twice: reusing the first version, and from scratch.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cviz.paths import CollectionPaths
from cviz.publish.versions import live_version
from cviz.render.dzi import Pyramid, decode_jpeg, encode_jpeg, expected_tiles
from cviz.render.levels import build_lower_levels
from cviz.render.mosaic import Cell, render_mosaic
from cviz.render.tile_reuse import CellMap, find_previous, render_key
from cviz.stages import registry
from cviz.storage import Storage, open_storage
from tests.moto_s3 import moto_bucket

BG = (17, 17, 17)
SIDE = 64
NAME = "incr"
BUCKET = "cviz-incremental"  # (not another module's: s3fs caches its listings per endpoint and process)


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path: Path) -> Storage:
    """A local root, and an S3 one (moto in server mode, as tests/test_storage_backends.py)."""
    if request.param == "local":
        return open_storage(str(tmp_path / "root"))
    from cviz_resources.storage import s3_options

    endpoint = request.getfixturevalue("s3_endpoint")
    return open_storage(f"s3://{BUCKET}/incr-{tmp_path.name}", s3_options(endpoint))


@pytest.fixture(scope="module")
def s3_endpoint():
    """moto in server mode on loopback, with the bucket (as tests/test_storage_backends.py)."""
    with moto_bucket(BUCKET) as endpoint:
        yield endpoint


def _jpeg(i: int) -> bytes:
    rng = np.random.default_rng(i)
    yy, xx = np.mgrid[0:SIDE, 0:SIDE]
    base = rng.integers(0, 160, 3)
    rgb = base + np.stack([xx, yy, (xx + yy) // 2], axis=2) * rng.integers(0, 2, 3)
    return encode_jpeg(Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)))


JPEGS = {i: _jpeg(i) for i in range(200)}


def _load(i: int, half: tuple[int, int]) -> Cell:
    """Like cviz.render.cells.CellLoader: cached cells come with their half-size decode, fresh ones without."""
    data = JPEGS[i]
    return Cell(data=data, small=decode_jpeg(data, half)) if i % 3 else Cell(data=data, image=decode_jpeg(data))


def _render(storage: Storage, version: str, cols: int, rows: int, at: dict[int, int], reuse: bool,
            background: tuple[int, int, int] = BG):
    """One version under published/incr/<version>: top levels (with reuse of the live one when asked),
    lower levels, map.dzi, cells.json, preview.jpg; then made live, as publish would."""
    paths = CollectionPaths(NAME)
    pyramid = Pyramid(cols * SIDE, rows * SIDE, SIDE)
    cells = CellMap.of(cols, rows, at, [f"{i:064x}" for i in range(200)], render_key(SIDE, (SIDE, SIDE), background))
    previous, why = find_previous(storage, NAME, live_version(storage, NAME), cells.render) if reuse else (None, "not asked")
    stats = render_mosaic(storage, paths.tiles(version), pyramid, cols, rows, (SIDE, SIDE), at, _load, background,
                          cells=cells, previous=previous)
    assert stats.lowest_level == pyramid.max_level - 2
    lower = build_lower_levels(storage, paths.tiles(version), pyramid, start_level=stats.lowest_level)
    assert stats.tiles + lower.tiles == pyramid.tile_count()
    storage.write_bytes(paths.dzi(version), pyramid.xml().encode())
    storage.write_bytes(paths.preview(version), stats.preview)
    storage.write_json(paths.cells(version), cells.to_json(), compact=True)
    storage.write_json(paths.pointer, {"dzi": f"{version}/map.dzi"})
    return stats, previous, why, pyramid


def _files(storage: Storage, version: str) -> dict[str, bytes]:
    folder = CollectionPaths(NAME).version(version)
    return {rel: storage.read_bytes(f"{folder}/{rel}") for rel in sorted(storage.find(folder))}


def _old_grid(cols: int = 11, rows: int = 10) -> dict[int, int]:
    rng = np.random.default_rng(7)
    cells = rng.permutation(cols * rows)[: cols * rows - 17]  # 17 empty cells
    return {int(c): i for i, c in enumerate(cells)}


def _update(old: dict[int, int], old_cols: int, cols: int, rows: int) -> dict[int, int]:
    """The old items where they were (flat indices re-based on ``cols``), then a few changes."""
    new = {(c // old_cols) * cols + c % old_cols: i for c, i in old.items()}
    empty = [c for c in range(cols * rows) if c not in new]
    for k, c in enumerate(empty[:5]):  # new items in empty cells
        new[c] = 150 + k
    moved = next(iter(new))
    new[empty[5]] = new.pop(moved)  # one item moves to another empty cell
    new.pop(next(c for c in new if c != empty[5]))  # one item leaves
    return new


@pytest.mark.parametrize("cols, rows", [(11, 10), (12, 11)])  # same size; one column and one row more
def test_an_update_is_byte_identical_to_a_full_render_and_reuses_tiles(tmp_path: Path, cols: int, rows: int) -> None:
    st = open_storage(str(tmp_path / "root"))
    old = _old_grid()
    _render(st, "v1", 11, 10, old, reuse=False)
    new = _update(old, 11, cols, rows)
    stats, previous, why, pyramid = _render(st, "v2", cols, rows, new, reuse=True)
    assert previous is not None and previous.version == "v1", why
    _render(open_storage(str(tmp_path / "fresh")), "v2", cols, rows, new, reuse=False)
    got, want = _files(st, "v2"), _files(open_storage(str(tmp_path / "fresh")), "v2")
    assert sorted(got) == sorted(want)
    assert {f"map_files/{t}" for t in expected_tiles(pyramid)} <= set(got)
    differ = [rel for rel in want if got[rel] != want[rel]]
    assert differ == [], f"{len(differ)} files differ from a full render, e.g. {differ[:5]}"
    top3 = sum(c * r for c, r in (pyramid.tile_grid(pyramid.max_level - d) for d in range(3)))
    assert 0.5 * top3 < stats.reused < top3  # most tiles linked, the changed ones made


def test_an_unchanged_grid_links_every_top_tile(tmp_path: Path) -> None:
    st = open_storage(str(tmp_path))
    old = _old_grid()
    _render(st, "v1", 11, 10, old, reuse=False)
    stats, _, _, pyramid = _render(st, "v2", 11, 10, old, reuse=True)
    top3 = sum(c * r for c, r in (pyramid.tile_grid(pyramid.max_level - d) for d in range(3)))
    assert stats.reused == stats.tiles == top3
    top = f"{CollectionPaths(NAME).tiles('v2')}/{pyramid.max_level}/3_4.jpg"
    assert os.stat(st.path(top)).st_nlink == 2  # a hard link, not a copy


def test_no_reuse_without_a_matching_previous_version(tmp_path: Path) -> None:
    st = open_storage(str(tmp_path))
    key = render_key(SIDE, (SIDE, SIDE), BG)
    assert find_previous(st, NAME, live_version(st, NAME), key) == (None, "no previous version")
    old = _old_grid()
    _render(st, "v1", 11, 10, old, reuse=False)
    assert find_previous(st, NAME, live_version(st, NAME), key)[0] is not None
    other = render_key(SIDE, (SIDE, SIDE), (0, 0, 0))
    assert other != key and find_previous(st, NAME, live_version(st, NAME), other)[1] == "render key changed since version v1"
    stats, previous, _, _ = _render(st, "v2", 11, 10, old, reuse=True, background=(0, 0, 0))
    assert previous is None and stats.reused == 0
    st.remove_file(CollectionPaths(NAME).cells("v2"))
    assert find_previous(st, NAME, live_version(st, NAME), other) == (None, "previous version v2 has no map.dzi or cells.json")


def test_deleting_the_old_version_leaves_the_new_one_whole(storage: Storage) -> None:  # noqa: F811
    old = _old_grid(7, 6)
    _render(storage, "v1", 7, 6, old, reuse=False)
    stats, previous, _, pyramid = _render(storage, "v2", 8, 6, _update(old, 7, 8, 6), reuse=True)
    assert previous is not None and stats.reused > 0
    before = _files(storage, "v2")
    storage.remove_tree(CollectionPaths(NAME).version("v1"))
    assert not storage.exists(CollectionPaths(NAME).dzi("v1"))
    assert _files(storage, "v2") == before
    assert {f"map_files/{t}" for t in expected_tiles(pyramid)} <= set(before)


def test_copy_file_falls_back_to_a_copy_where_links_are_refused(tmp_path: Path, monkeypatch) -> None:
    st = open_storage(str(tmp_path))
    st.write_bytes("a/x.jpg", b"one")

    def refuse(src: str, dst: str) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", refuse)
    assert st.link_many([("a/x.jpg", "b/c/y.jpg")]) == 1
    st.remove_tree("a")
    assert st.read_bytes("b/c/y.jpg") == b"one"


def test_the_mosaic_stage_reuses_the_live_version(tmp_path: Path, met_sample_root: Path) -> None:
    """The real stage: the live version (built by this code) has cells.json; an unchanged grid links
    every tile of the three top levels and says from where."""
    root = tmp_path / "root"
    shutil.copytree(met_sample_root, root)
    st = open_storage(str(root))
    paths = CollectionPaths("met-sample")
    live = st.read_json(paths.pointer)["dzi"].split("/")[0]
    report = registry.stage_mosaic(st, "met-sample").values
    assert (report["reused_from"], report["tiles_written"], report["cells_cached"]) == (live, 0, 0)
    assert report["tiles_reused"] > 0
    st.remove_file(paths.cells(live))
    report = registry.stage_mosaic(st, "met-sample").values
    assert report["tiles_reused"] == 0 and report["reused_from"].startswith("none: previous version")


def test_a_previous_version_removed_mid_render_is_named(tmp_path: Path, met_sample_root: Path, monkeypatch) -> None:
    """Its tiles vanish while they are linked: the stage says so (not "the images changed") and leaves no version."""
    from cviz.errors import CollectionError
    from cviz.storage import LocalStorage

    root = tmp_path / "root"
    shutil.copytree(met_sample_root, root)
    st = open_storage(str(root))
    paths = CollectionPaths("met-sample")
    live = st.read_json(paths.pointer)["dzi"].split("/")[0]
    versions = set(st.list(paths.published))
    real = LocalStorage.link_many

    def retire_first(self, pairs, workers=8):  # noqa: ANN001
        shutil.rmtree(st.path(paths.version(live)), ignore_errors=True)
        return real(self, pairs, workers)

    monkeypatch.setattr(LocalStorage, "link_many", retire_first)
    with pytest.raises(CollectionError, match=f"version {live} was removed while this mosaic linked"):
        registry.stage_mosaic(st, "met-sample")
    assert set(st.list(paths.published)) == versions - {live}


def test_the_mosaic_stage_deletes_retired_versions_while_it_renders(tmp_path: Path, met_sample_root: Path,
                                                                     monkeypatch) -> None:
    """The trash is emptied in a thread beside the render (off the update's critical path) and is
    gone when the stage returns, counted in its report."""
    import threading

    from cviz.stages import render
    root = tmp_path / "root"
    shutil.copytree(met_sample_root, root)
    st = open_storage(str(root))
    paths = CollectionPaths("met-sample")
    live = st.read_json(paths.pointer)["dzi"].split("/")[0]
    for old in ("20200101T000000000000-aaaaaaaa", "20200102T000000000000-bbbbbbbb"):
        shutil.copytree(root / paths.version(live), root / paths.published / f".trash-{old}")
    seen: dict[str, str] = {}
    real = render.empty_trash

    def empty_trash(storage, name):  # noqa: ANN001, ANN202
        seen["thread"] = threading.current_thread().name
        return real(storage, name)

    monkeypatch.setattr(render, "empty_trash", empty_trash)
    report = registry.stage_mosaic(st, "met-sample").values
    assert report["retired_versions_deleted"] == 2
    assert not [v for v in st.list(paths.published) if v.startswith(".trash-")]
    assert seen["thread"] != threading.main_thread().name and "trash" in seen["thread"]
