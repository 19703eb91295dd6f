"""A labelled near-duplicate set from real images: every photo once, and some photos a second time as
an edited copy, the way archives hold them (a smaller copy, a recompressed one, a slight crop, a
mirrored scan). Used by tests/test_duplicates.py and benchmarks/bench_duplicates.py.

Photo ``i`` of the ones picked gets edit ``EDITS[i % 4]``; every pair of distinct photos is a
negative (including the hard ones a collection holds: a painter's series, versions of a picture).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageOps


def _jpeg(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def resized(img: Image.Image) -> bytes:
    """Half the width and height (Lanczos)."""
    return _jpeg(img.resize((max(1, img.width // 2), max(1, img.height // 2)), Image.Resampling.LANCZOS))


def recompressed(img: Image.Image) -> bytes:
    """Saved again as JPEG at quality 30 (visible blocking)."""
    return _jpeg(img, 30)


def cropped(img: Image.Image) -> bytes:
    """5% of the width cut from the left and 5% of the height from the top."""
    return _jpeg(img.crop((int(img.width * 0.05), int(img.height * 0.05), img.width, img.height)))


def mirrored(img: Image.Image) -> bytes:
    """Left and right swapped (a scan of the negative's wrong side)."""
    return _jpeg(ImageOps.mirror(img))


EDITS: dict[str, Callable[[Image.Image], bytes]] = {
    "resized": resized, "recompressed": recompressed, "cropped 5%": cropped, "mirrored": mirrored}


def labelled_set(files: list[Path], copies: int, limit: int | None = None) -> tuple[list[bytes], list[int], list[str]]:
    """(image bytes, truth, kind): the ``files`` (first ``limit``) as they are, then an edited copy of
    every ``len/copies``-th of them. ``truth[i]``: the index of the original photo item ``i`` shows;
    ``kind[i]``: "original" or the edit's name."""
    files = sorted(files)[:limit] if limit else sorted(files)
    datas = [f.read_bytes() for f in files]
    truth, kind = list(range(len(files))), ["original"] * len(files)
    step = max(1, len(files) // max(1, copies))
    names = list(EDITS)
    for n, i in enumerate(range(0, len(files), step)[:copies]):
        img = Image.open(io.BytesIO(datas[i]))
        img.load()
        name = names[n % len(names)]
        datas.append(EDITS[name](ImageOps.exif_transpose(img).convert("RGB")))
        truth.append(i)
        kind.append(name)
    return datas, truth, kind


def features_of(datas: list[bytes], extractor, batch: int = 32) -> np.ndarray:
    """The extractor's vectors for encoded images, decoded as the features stage decodes them."""
    from cviz.embed.features import model_input

    out = [extractor(np.stack([model_input(d, extractor.input_size) for d in datas[s:s + batch]]))
           for s in range(0, len(datas), batch)]
    return np.concatenate(out).astype(np.float32)
