"""Images: every bad or odd image file has a specific outcome, and the run goes on.

The corpus is written by ``tests/bad_input/images.py`` with Pillow (nothing binary is committed).
Most checks run the pipeline's stage functions with a fake extractor (fast); the corpus, the
all-bad collection and a 3-image collection also go end to end through the real Dagster assets.
"""

from __future__ import annotations

import json
import os
import shutil
import tracemalloc
from pathlib import Path

import pytest
from PIL import Image, ImageFile

from cviz.errors import CollectionError
from cviz.ingest import catalogue as catalogue_mod
from cviz.ingest.decode import ImageRejected, decode
from cviz.render.mosaic import MOSAIC_BACKGROUND
from cviz.stages import registry
from cviz.storage import open_storage
from tests.bad_input import images as corpus
from tests.bad_input.stages import FakeExtractor, published, register, run_all, run_stage

BLUE, RED = corpus.BLUE, corpus.RED


def near(pixel, colour, tol: int = 40) -> bool:
    return all(abs(int(a) - int(b)) <= tol for a, b in zip(pixel[:3], colour))


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bad-corpus") / "images"
    corpus.write_images(folder)
    corpus.write_special(folder)
    return folder


@pytest.fixture(scope="module")
def corpus_catalogue(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> tuple[dict, registry.StageReport]:
    storage = open_storage(str(tmp_path_factory.mktemp("bad-corpus-root")))
    register(storage, {"name": "bad-corpus", "images": str(corpus_dir)})
    report = run_stage(storage, "bad-corpus", "images")
    return storage.read_json("collections/bad-corpus/images.json"), report


# -- each file's outcome in the catalogue and in the `images` asset's metadata --------------------
@pytest.mark.parametrize("case", list(corpus.CASES.values()), ids=list(corpus.CASES))
def test_each_image_case_has_its_outcome(case: corpus.Case, corpus_catalogue) -> None:
    cat, report = corpus_catalogue
    entry = {e["file"]: e for e in cat["files"]}[case.file]
    assert entry["status"] == case.status, entry
    skipped = {row["file"]: row["reason"] for row in report.tables["skipped_files"]}
    if case.status == "skipped":
        assert case.reason_word in entry["reason"], entry["reason"]
        assert skipped[case.file] == entry["reason"]  # named, with its reason, in the asset metadata
    else:
        assert case.file not in skipped
        assert entry["width"] > 0 and entry["height"] > 0 and len(entry["sha256"]) == 64


def test_scan_does_not_follow_a_folder_symlink_loop(corpus_catalogue) -> None:
    cat, _ = corpus_catalogue
    files = [e["file"] for e in cat["files"]]
    # sub/up -> .. is listed once as an entry, never descended into (no sub/up/sub/up/...).
    assert [f for f in files if f.startswith("sub/")] == ["sub/up"]
    assert {e["file"]: e for e in cat["files"]}["sub/up"]["status"] == "skipped"


def test_counts_add_up(corpus_catalogue) -> None:
    cat, report = corpus_catalogue
    statuses = [e["status"] for e in cat["files"]]
    assert report.values["found"] == len(statuses)
    assert report.values["usable"] == statuses.count("usable") == sum(c.status == "usable" for c in corpus.CASES.values())
    assert report.values["skipped"] == statuses.count("skipped")


def test_duplicates_are_kept_and_flagged(corpus_catalogue) -> None:
    cat, report = corpus_catalogue
    by_file = {e["file"]: e for e in cat["files"]}
    assert by_file["dup-a.jpg"]["status"] == by_file["dup-b.jpg"]["status"] == "usable"
    assert by_file["dup-b.jpg"]["duplicate_of"] == "dup-a.jpg" and "duplicate_of" not in by_file["dup-a.jpg"]
    assert report.tables["duplicates"] == [{"file": "dup-b.jpg", "same_bytes_as": "dup-a.jpg"}]
    assert report.values["duplicates"] == 1


def test_case_only_name_clash_is_kept_and_flagged(corpus_catalogue) -> None:
    cat, report = corpus_catalogue
    by_file = {e["file"]: e for e in cat["files"]}
    assert by_file["Case.jpg"]["case_clash_with"] == ["case.jpg"]
    assert by_file["case.jpg"]["case_clash_with"] == ["Case.jpg"]
    assert {r["file"] for r in report.tables["case_clashes"]} == {"Case.jpg", "case.jpg"}
    assert report.values["case_clashes"] == 2


# -- pixels: every colour mode comes out as upright 8-bit RGB ------------------------------------
def _decoded(name: str, max_side: int | None = None) -> Image.Image:
    img, _ = decode(corpus.FILES[name](), max_side=max_side, name=name)
    assert img.mode == "RGB"
    return img


@pytest.mark.parametrize("name,top,bottom", [
    ("alpha.png", (255, 255, 255), RED),  # transparent composited on white
    ("palette.png", RED, BLUE),
    ("palette-transparent.png", (255, 255, 255), BLUE),
    ("sixteen-bit.png", (0, 0, 0), (255, 255, 255)),  # 16-bit scaled to 8-bit, not clipped
    ("greyscale.png", (0, 0, 0), (255, 255, 255)),
    ("cmyk.jpg", RED, BLUE),
    ("exif-rotated.jpg", RED, BLUE),  # upright
])
def test_colour_modes_decode_to_rgb(name: str, top: tuple, bottom: tuple) -> None:
    img = _decoded(name)
    w, h = img.size
    assert near(img.getpixel((w // 2, h // 4)), top, 50), img.getpixel((w // 2, h // 4))
    assert near(img.getpixel((w // 2, 3 * h // 4)), bottom, 50), img.getpixel((w // 2, 3 * h // 4))


def test_exif_rotation_gives_upright_size() -> None:
    assert _decoded("exif-rotated.jpg").size == (60, 120)  # stored 120x60, orientation 6


def test_animated_gif_gives_its_first_frame() -> None:
    img, info = decode(corpus.FILES["animated.gif"](), name="animated.gif")
    assert info.frames == 3
    assert near(img.getpixel((5, 5)), RED, 10)


def test_progressive_webp_tiff_and_greyscale_jpeg_decode() -> None:
    for name, size in (("progressive.jpg", (120, 90)), ("picture.webp", (64, 48)), ("picture.tiff", (64, 48)),
                       ("greyscale.jpg", (60, 40))):
        assert _decoded(name).size == size, name


def test_decompression_bomb_is_refused_before_any_pixel_is_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    data = corpus.bomb_png(30_000, 30_000)
    assert len(data) < 200  # the header declares 900 MP; the file is tiny

    def no_decoding(self, *a, **k):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    tracemalloc.start()
    try:
        with pytest.raises(ImageRejected, match=r"30000x30000 .*decompression bomb"):
            decode(data, name="bomb.png")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000, peak  # 900 MP of RGB would be 2.7 GB


@pytest.mark.parametrize("chunk_type, payload_head", [(b"zTXt", b"Comment\x00\x00"), (b"iCCP", b"icc\x00\x00")])
def test_png_text_or_icc_bomb_is_refused_saying_what(chunk_type: bytes, payload_head: bytes) -> None:
    """A tiny PNG whose compressed text/ICC chunk inflates to 80 MB: refused, and the reason says so."""
    import io
    import struct
    import zlib

    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    png = buf.getvalue()
    body = payload_head + zlib.compress(b"A" * (80 << 20), 9)
    chunk = struct.pack(">I", len(body)) + chunk_type + body + struct.pack(">I", zlib.crc32(chunk_type + body))
    data = png[:33] + chunk + png[33:]  # after IHDR
    assert len(data) < 200_000
    with pytest.raises(ImageRejected, match=r"PNG metadata bomb: a compressed text or ICC profile chunk"):
        decode(data, name="textbomb.png")


def test_huge_image_is_downscaled_not_refused() -> None:
    img, info = decode(corpus.FILES["huge.jpg"](), max_side=512, name="huge.jpg")
    assert (info.width, info.height) == (6000, 4000)
    assert max(img.size) == 512 and img.size == (512, 341)


# -- unreadable files ------------------------------------------------------------------------
def test_unreadable_file_is_skipped_with_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run as root in CI, and root reads a chmod 000 file anyway: the permission error is
    simulated at the read (what a non-root run or an S3 AccessDenied raises)."""
    folder = tmp_path / "images"
    corpus.write_images(folder, ["with space.jpg", "progressive.jpg"])
    real_read = catalogue_mod.read_source

    def read(fs, path):
        if path.endswith("progressive.jpg"):
            raise PermissionError(13, "Permission denied", path)
        return real_read(fs, path)

    monkeypatch.setattr(catalogue_mod, "read_source", read)
    storage = open_storage(str(tmp_path / "root"))
    register(storage, {"name": "perm", "images": str(folder)})
    report = run_stage(storage, "perm", "images")
    assert report.tables["skipped_files"] == [{"file": "progressive.jpg", "reason": "cannot read: Permission denied"}]
    assert report.values["usable"] == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions; the simulated test above covers it")
def test_chmod_000_file_is_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    corpus.write_images(folder, ["with space.jpg", "progressive.jpg"])
    os.chmod(folder / "progressive.jpg", 0)
    storage = open_storage(str(tmp_path / "root"))
    register(storage, {"name": "perm", "images": str(folder)})
    report = run_stage(storage, "perm", "images")
    assert report.tables["skipped_files"] == [{"file": "progressive.jpg", "reason": "cannot read: Permission denied"}]


# -- the whole pipeline on odd images ------------------------------------------------------------
@pytest.fixture(scope="module")
def odd_collection(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, FakeExtractor, dict]:
    """Odd names, EXIF rotation, duplicates and case clashes, with a CSV, run through every stage."""
    src = tmp_path_factory.mktemp("odd-src")
    names = ["exif-rotated.jpg", "with space.jpg", "ünïcødé 日本.jpg", "quote's \"double\".jpg",
             "100% {title} %s.jpg", "Case.jpg", "case.jpg", "dup-a.jpg", "dup-b.jpg", "cmyk.jpg", "alpha.png"]
    corpus.write_images(src / "images", names)
    import csv

    with open(src / "metadata.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["filename", "title"])
        for n in names:
            w.writerow([n, f"Title of {n}"])
    root = tmp_path_factory.mktemp("odd-root")
    storage = open_storage(str(root))
    register(storage, {"name": "odd", "images": str(src / "images"), "metadata": str(src / "metadata.csv")})
    extractor = FakeExtractor()
    reports = run_all(storage, "odd", extractor)
    return root, extractor, reports


def test_odd_names_survive_to_the_viewer(odd_collection) -> None:
    root, _, _ = odd_collection
    _, items, version_dir = published(root, "odd")
    ids = items["fields"]["id"]
    assert sorted(ids) == sorted(["exif-rotated.jpg", "with space.jpg", "ünïcødé 日本.jpg", "quote's \"double\".jpg",
                                  "100% {title} %s.jpg", "Case.jpg", "case.jpg", "dup-a.jpg", "dup-b.jpg",
                                  "cmyk.jpg", "alpha.png"])
    for fid, title, image in zip(ids, items["fields"]["title"], items["fields"]["image"]):
        assert title == f"Title of {fid}"  # the CSV row matched, '%' and '{' in names included
        assert (version_dir / image).resolve().is_file()
    # Duplicates both appear, in different cells.
    cells = dict(zip(ids, items["fields"]["cell"]))
    assert cells["dup-a.jpg"] != cells["dup-b.jpg"] and cells["Case.jpg"] != cells["case.jpg"]


def test_exif_rotated_photo_is_upright_in_features_mosaic_and_viewer(odd_collection) -> None:
    root, extractor, _ = odd_collection
    cat = json.loads((root / "collections/odd/images.json").read_text())
    usable = [e for e in cat["files"] if e["status"] == "usable"]
    i = [e["file"] for e in usable].index("exif-rotated.jpg")
    sha = usable[i]["sha256"]

    # Features: the network saw it upright (the centre square of a tall red-over-blue picture).
    seen = extractor.seen()
    assert len(seen) == len(usable)
    order = {e["sha256"]: k for k, e in enumerate(usable)}
    crop = seen[order[sha]]
    assert near(crop[4, 16], RED) and near(crop[27, 16], BLUE)

    # Mosaic: the top-level tile of its cell shows red above blue (letterboxed in the cell).
    _, items, version_dir = published(root, "odd")
    k = items["fields"]["id"].index("exif-rotated.jpg")
    cell, cols = items["fields"]["cell"][k], items["grid"]["cols"]
    files = version_dir / "map_files"
    top = max(int(p.name) for p in files.iterdir())
    with Image.open(files / str(top) / f"{cell % cols}_{cell // cols}.jpg") as tile:
        tile = tile.convert("RGB")
        w, h = tile.size
        assert near(tile.getpixel((w // 2, h // 4)), RED) and near(tile.getpixel((w // 2, 3 * h // 4)), BLUE)
        assert near(tile.getpixel((2, h // 2)), MOSAIC_BACKGROUND)  # tall picture: bars left and right

    # Viewer: the item image is tall and upright.
    with Image.open((version_dir / items["fields"]["image"][k]).resolve()) as big:
        big = big.convert("RGB")
        assert big.height > big.width
        assert near(big.getpixel((big.width // 2, big.height // 4)), RED)
        assert near(big.getpixel((big.width // 2, 3 * big.height // 4)), BLUE)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_tiny_collections_complete_and_say_what_was_done(tmp_path: Path, n: int) -> None:
    folder = tmp_path / "images"
    corpus.write_images(folder, ["with space.jpg", "progressive.jpg", "cmyk.jpg"][:n])
    storage = open_storage(str(tmp_path / "root"))
    register(storage, {"name": f"tiny-{n}", "images": str(folder)})
    reports = run_all(storage, f"tiny-{n}")
    assert reports["tsne"].values["method"] != "openTSNE"
    assert "t-SNE needs at least" in reports["tsne"].values["note"]
    pca_note = reports["pca"].values["note"]
    assert pca_note and (("origin" in pca_note) if n == 1 else (f"{n} items" in pca_note))
    _, items, version_dir = published(tmp_path / "root", f"tiny-{n}")
    assert items["count"] == n and len(set(items["fields"]["cell"])) == n
    assert (version_dir / "map.dzi").is_file()


# -- a collection where every image is bad ----------------------------------------------------------
def _bad_only(folder: Path) -> None:
    shutil.rmtree(folder)
    corpus.write_images(folder, ["zero-byte.jpg", "truncated.jpg", "text-named.jpg", "bomb.png"])


def _snapshot(root: Path, name: str) -> dict[str, bytes]:
    keep = [root / "collections" / name / "images.json", root / "published" / name / "current.json"]
    pointer = json.loads(keep[1].read_text())
    keep += [root / "published" / name / pointer["items"], root / "published" / name / pointer["dzi"]]
    return {str(p): p.read_bytes() for p in keep}


def test_all_bad_collection_fails_clearly_and_keeps_previous_outputs(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    corpus.write_images(folder, ["with space.jpg", "progressive.jpg", "cmyk.jpg"])
    root = tmp_path / "root"
    storage = open_storage(str(root))
    register(storage, {"name": "allbad", "images": str(folder)})
    run_all(storage, "allbad")
    before = _snapshot(root, "allbad")

    _bad_only(folder)
    with pytest.raises(CollectionError) as err:
        run_stage(storage, "allbad", "images")
    msg = str(err.value)
    assert "allbad" in msg and "none of the 4 files is a usable image" in msg
    assert "empty file" in msg and "decompression bomb" in msg
    assert _snapshot(root, "allbad") == before


def test_all_bad_collection_through_dagster_keeps_previous_outputs(tmp_path: Path) -> None:
    from tests.conftest import materialize_collection

    folder = tmp_path / "images"
    corpus.write_images(folder, ["with space.jpg", "progressive.jpg", "cmyk.jpg"])
    root = tmp_path / "root"
    storage = open_storage(str(root))
    spec = {"name": "allbad-dg", "images": str(folder)}
    register(storage, spec)
    run_all(storage, "allbad-dg")
    before = _snapshot(root, "allbad-dg")
    _bad_only(folder)
    result = materialize_collection(root, spec, raise_on_error=False)
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert [e.step_key for e in failures] == ["images"]
    assert "none of the 4 files is a usable image" in failures[0].step_failure_data.error.message
    assert _snapshot(root, "allbad-dg") == before


# -- end to end through the real Dagster assets ------------------------------------------------------
def test_bad_corpus_end_to_end_through_dagster(tmp_path: Path, corpus_dir: Path) -> None:
    """The whole corpus, real model: the run succeeds and the `images` metadata names every skip."""
    from tests.conftest import materialize_collection

    result = materialize_collection(tmp_path, {"name": "bad-corpus-dg", "images": str(corpus_dir)})
    assert result.success
    meta = result.asset_materializations_for_node("images")[0].metadata
    skipped = {r["file"]: r["reason"] for r in meta["skipped_files"].value}
    for case in corpus.CASES.values():
        if case.status == "skipped":
            assert case.reason_word in skipped[case.file]
    assert meta["usable"].value == sum(c.status == "usable" for c in corpus.CASES.values())
    assert [r["file"] for r in meta["duplicates"].value] == ["dup-b.jpg"]
    _, items, _ = published(tmp_path, "bad-corpus-dg")
    assert items["count"] == meta["usable"].value


def test_three_image_collection_end_to_end_through_dagster(tmp_path: Path) -> None:
    from tests.conftest import materialize_collection

    folder = tmp_path / "images"
    corpus.write_images(folder, ["with space.jpg", "progressive.jpg", "cmyk.jpg"])
    result = materialize_collection(tmp_path / "root", {"name": "three", "images": str(folder)})
    assert result.success
    tsne_meta = result.asset_materializations_for_node("tsne")[0].metadata
    assert "used the first two PCA components" in tsne_meta["note"].value
    pca_meta = result.asset_materializations_for_node("pca")[0].metadata
    assert "3 items" in pca_meta["note"].value
    _, items, _ = published(tmp_path / "root", "three")
    assert items["count"] == 3


# -- a file that goes bad after the catalogue ---------------------------------------------------------
@pytest.mark.parametrize("stage", ["features", "mosaic"])
def test_file_corrupted_after_the_catalogue_fails_the_stage_naming_it(tmp_path: Path, stage: str) -> None:
    folder = tmp_path / "images"
    corpus.write_images(folder, ["with space.jpg", "progressive.jpg", "cmyk.jpg"])
    root = tmp_path / "root"
    storage = open_storage(str(root))
    register(storage, {"name": "changed", "images": str(folder)})
    run_all(storage, "changed")
    before = {k: v for k, v in _snapshot(root, "changed").items() if "/published/" in k}
    versions = sorted(p.name for p in (root / "published" / "changed").iterdir() if p.is_dir())

    corpus.write_images(folder, ["greyscale.jpg"])  # a new image, catalogued while it was whole
    stages = ["images", "features", "pca", "tsne", "grid", "mosaic"]
    run_all(storage, "changed", stages=stages[: stages.index(stage)])
    data = (folder / "greyscale.jpg").read_bytes()
    (folder / "greyscale.jpg").write_bytes(data[: len(data) // 2])  # replaced by a truncated copy
    if stage == "mosaic":  # features decoded it while whole and cached its cell: make the mosaic decode it
        for cache in ("cells", "items"):
            shutil.rmtree(root / "cache" / cache, ignore_errors=True)
    with pytest.raises(CollectionError) as err:
        run_stage(storage, "changed", stage)
    msg = str(err.value)
    assert msg.startswith("collection changed: greyscale.jpg: ") and "re-materialize images" in msg
    assert {k: v for k, v in _snapshot(root, "changed").items() if "/published/" in k} == before
    assert sorted(p.name for p in (root / "published" / "changed").iterdir() if p.is_dir()) == versions
