"""Each original decoded once: features fill the mosaic's caches; big non-JPEG images stay small in memory."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cviz.embed.features import cnn_input, model_input
from cviz.ingest.collection import CollectionConfig
from cviz.ingest.decode import ImageRejected, decode
from cviz.render import cells
from cviz.stages import registry
from cviz.storage import open_storage
from tests.conftest import REPO
from tests.test_chunks import FakeExtractor


def _big_jpeg(w: int, h: int, seed: int) -> bytes:
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([(xx * 255 // w + seed * 40) % 256, yy * 255 // h, (xx + yy) * 127 // (w + h)], axis=2)
    buf = io.BytesIO()
    Image.fromarray(rgb.astype(np.uint8)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def test_features_decode_once_and_the_mosaic_decodes_nothing(tmp_path: Path, met_sample_dir: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    names = sorted(p.name for p in (met_sample_dir / "images").iterdir())[:30]
    for n in names:
        (src / n).write_bytes((met_sample_dir / "images" / n).read_bytes())
    (src / "big.jpg").write_bytes(_big_jpeg(3000, 2000, 1))  # an "original": decoded at 1/4 (750x500)
    storage = open_storage(str(tmp_path / "root"))
    registry.register(storage, CollectionConfig(name="once", images=str(src)))
    registry.stage_images(storage, "once")
    fx = FakeExtractor()
    first = registry.stage_features(storage, "once", fx).values
    assert first["originals_decoded"] == first["computed"] == 31 and fx.images == 31
    assert "images_per_s" in first and first["backend"] == "unknown"
    for stage in (registry.stage_pca, registry.stage_tsne, registry.stage_grid):
        stage(storage, "once")
    mosaic = registry.stage_mosaic(storage, "once").values
    assert (mosaic["originals_decoded"], mosaic["cells_cached"], mosaic["new_item_images"]) == (0, 31, 31)  # copied
    # The item image of the big original kept the 512 px the viewer wants.
    sha = next(e["sha256"] for e in storage.read_json("collections/once/images.json")["files"] if e["file"] == "big.jpg")
    with Image.open(io.BytesIO(storage.read_bytes(f"published/once/{cells.item_image_rel(sha)}"))) as item:
        assert max(item.size) == 512
    # A re-run with everything cached decodes nothing and reports no images/s (not 0.0).
    again = registry.stage_features(storage, "once", fx).values
    assert (again["computed"], again["originals_decoded"], again["cache_hits"]) == (0, 0, 31)
    assert "images_per_s" not in again and again["cached_per_s"] > 0
    assert cells.read_cell(storage, sha, (128, 128)) is not None


def test_one_decode_gives_the_cnn_input_model_input_gives() -> None:
    data = _big_jpeg(3000, 2000, 2)
    img, _ = decode(data, at_least=(224, 512))
    assert img.size == (750, 500)  # DCT 1/4: long side >= 512 and short side >= 224
    alone = model_input(data, 224).astype(int)
    shared = cnn_input(img, 224).astype(int)
    assert np.abs(alone - shared).mean() < 2.0  # same picture (1/8 DCT vs 1/4 DCT + box 2)
    small, _ = decode(data, short_side=224)
    assert small.size == (375, 250)  # unchanged behaviour for CNN-only decodes


def _big_png(path: Path, w: int, h: int) -> None:
    pyvips = pytest.importorskip("pyvips")
    x = pyvips.Image.xyz(w, h)
    im = (x[0] * 255 / w).cast("uchar").bandjoin([(x[1] * 255 / h).cast("uchar"), ((x[0] + x[1]) * 127 / (w + h)).cast("uchar")])
    im.pngsave(str(path), compression=1)


MEASURE = """
import json, resource, sys
from pathlib import Path
from cviz.ingest.decode import decode
data = Path(sys.argv[1]).read_bytes()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
img, info = decode(data, at_least=(224, 512))
small, _ = decode(data, max_side=64)  # the catalogue's validation decode
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"size": img.size, "small": small.size, "width": info.width, "grown_mb": (after - before) / 1024}))
"""


@pytest.mark.timeout(120)
def test_a_big_png_is_decoded_without_its_full_size_in_memory(tmp_path: Path) -> None:
    w, h = 9000, 7000  # 189 MB as 8-bit RGB; a 12000x12000 original would be 432 MB
    path = tmp_path / "big.png"
    _big_png(path, w, h)
    out = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True, timeout=100,
                         cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["width"] == w and min(got["size"]) >= 224 and max(got["size"]) >= 512 and max(got["small"]) == 64
    assert got["grown_mb"] < 100, f"decoding a {w}x{h} PNG grew the process by {got['grown_mb']:.0f} MB"


def test_a_truncated_big_png_is_rejected_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    _big_png(path, 6000, 4000)
    data = path.read_bytes()
    with pytest.raises(ImageRejected, match="corrupt or truncated") as exc:
        decode(data[: len(data) // 2], name="half.png", at_least=(224, 512))
    assert exc.value.file == "half.png"


@pytest.mark.parametrize("mode", ["RGBA", "LA", "I;16", "P", "CMYK"])
def test_big_non_jpeg_modes_reduce_like_small_ones(tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """libvips (big images) and Pillow (small ones) give the same picture for every colour mode. The
    big-image limit is lowered so that a 2,000 x 1,600 picture takes libvips' path."""
    import cviz.ingest.decode as imaging

    h, w = 1600, 2000
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) * 127 // (w + h)], axis=2).astype(np.uint8)
    im = Image.fromarray(rgb)
    if mode == "I;16":
        im = Image.fromarray((rgb[:, :, 0].astype(np.uint16) * 257))
    elif mode == "P":
        im = im.convert("P", palette=Image.Palette.ADAPTIVE)
    else:
        im = im.convert(mode)
    buf = io.BytesIO()
    im.save(buf, "TIFF" if mode == "CMYK" else "PNG", **({} if mode == "CMYK" else {"compress_level": 1}))
    monkeypatch.setattr(imaging, "VIPS_MIN_PIXELS", w * h - 1)
    through_vips = []
    real = imaging._vips_reduced
    monkeypatch.setattr(imaging, "_vips_reduced", lambda *a: through_vips.append(1) or real(*a))
    vips, _ = decode(buf.getvalue(), at_least=(224, 512))
    assert through_vips == [1]
    monkeypatch.setattr(imaging, "VIPS_MIN_PIXELS", 10**12)
    pil, _ = decode(buf.getvalue(), at_least=(224, 512))
    assert vips.mode == "RGB" and min(vips.size) >= 224 and max(vips.size) >= 512
    diff = np.abs(np.asarray(vips, float) - np.asarray(pil.resize(vips.size), float)).mean()
    assert diff < 6.0, f"{mode}: libvips and Pillow pictures differ by {diff:.1f} on average"
