"""The one image decoder: open, validate, orient and convert an image exactly once.

Every stage that needs pixels (catalogue validation, features, mosaic cells, item images) goes
through :func:`decode`, so an image looks the same everywhere: EXIF orientation applied, colour
modes (greyscale, palette, CMYK, 16-bit, alpha) converted to 8-bit RGB with alpha composited on
white, and a decompression bomb refused from its declared size before any pixels are decoded.
JPEGs are decoded at reduced size with Pillow's ``draft`` (DCT scaling) when a small result is
wanted, which is several times faster than decoding at full size and resizing.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

# Refuse images whose declared size is beyond this many pixels (Pillow's own hard limit is
# 2 x 89.5 MP; we keep that figure but check it ourselves so the reason is ours to word).
MAX_PIXELS = 2 * 89_478_485
BACKGROUND = (255, 255, 255)

Image.MAX_IMAGE_PIXELS = None  # we check the declared size ourselves, before decoding


class ImageRejected(ValueError):
    """The file is not a usable image; the message is the reason recorded in the catalogue.

    ``file`` is the name given to :func:`decode`, so a stage that meets a bad file after the
    catalogue (it was replaced in between) can say which one.
    """

    file: str = "image"


@dataclass(frozen=True)
class ImageInfo:
    width: int  # upright (after EXIF orientation)
    height: int
    format: str
    mode: str
    frames: int


def _orientation(img: Image.Image) -> int:
    try:
        return int(img.getexif().get(0x0112, 1))
    except Exception:  # a broken EXIF block is not a broken image
        return 1


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        arr = np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        img = img.convert("RGBA")
        canvas = Image.new("RGB", img.size, BACKGROUND)
        canvas.paste(img, mask=img.getchannel("A"))
        return canvas
    return img.convert("RGB")


def decode(data: bytes, max_side: int | None = None, name: str = "image", *,
           short_side: int | None = None) -> tuple[Image.Image, ImageInfo]:
    """Decode ``data`` to an upright 8-bit RGB image, downscaled so its longest side <= max_side.

    ``short_side`` instead asks for the cheapest decode whose *shorter* side is still >= it (JPEG DCT
    scaling, a box reduction for other formats) and leaves the one final resize to the caller: what
    a CNN input needs, without resizing twice.
    Raises ImageRejected with a one-line reason for anything that is not a usable image.
    """
    try:
        return _decode(data, max_side, short_side)
    except ImageRejected as exc:
        exc.file = name
        raise
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as exc:  # Pillow raises all of these
        rejected = ImageRejected(f"cannot decode ({type(exc).__name__}: {exc})")
        rejected.file = name
        raise rejected from None


def _decode(data: bytes, max_side: int | None, short_side: int | None = None) -> tuple[Image.Image, ImageInfo]:
    if not data:
        raise ImageRejected("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data))
    except Exception as exc:  # Pillow raises several types for unknown formats
        raise ImageRejected(f"not a readable image ({type(exc).__name__})") from None
    w, h = img.size
    if w <= 0 or h <= 0:
        raise ImageRejected(f"image declares an empty size {w}x{h}")
    if w * h > MAX_PIXELS:
        raise ImageRejected(
            f"declared size {w}x{h} ({w * h / 1e6:.0f} MP) exceeds the {MAX_PIXELS / 1e6:.0f} MP limit "
            "(decompression bomb guard)"
        )
    fmt = img.format or "unknown"
    mode = img.mode
    try:
        frames = getattr(img, "n_frames", 1)  # walks every frame header of a GIF/TIFF
    except Exception as exc:
        raise ImageRejected(f"image frames are corrupt ({type(exc).__name__})") from None
    orientation = _orientation(img)
    if (max_side or short_side) and fmt == "JPEG":
        # DCT scaling: decode at the strongest power-of-two reduction that still covers the size.
        target = short_side or max_side
        img.draft(mode, (target, target))
    try:
        img.seek(0)
        img.load()
    except Exception as exc:
        raise ImageRejected(f"image data is corrupt or truncated ({exc})") from None
    if orientation != 1:
        img = ImageOps.exif_transpose(img)
    if short_side and min(img.size) >= 2 * short_side:
        img = img.reduce(min(img.size) // short_side)  # box filter: fast, and the caller resizes once more
    rgb = _to_rgb(img)
    if max_side and max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS if max_side >= 256 else Image.Resampling.BILINEAR, reducing_gap=2.0)
    uw, uh = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
    return rgb, ImageInfo(uw, uh, fmt, mode, frames)


def square_input(img: Image.Image, side: int) -> np.ndarray:
    """Resize to ``side`` x ``side`` RGB uint8 for a CNN: centre-crop the short side, then scale.

    Centre cropping keeps the aspect of the object (as ImageNet training did); the small loss at
    the edges of very elongated images is accepted.
    """
    fitted = ImageOps.fit(img, (side, side), Image.Resampling.BILINEAR)
    return np.asarray(fitted, dtype=np.uint8)


def fit_cell(img: Image.Image, size: tuple[int, int], background: tuple[int, int, int]) -> Image.Image:
    """Fit the whole image inside a cell (letterboxed), centred: a map must show the whole object."""
    w, h = size
    thumb = img.copy()
    thumb.thumbnail((w, h), Image.Resampling.LANCZOS, reducing_gap=2.0)
    if thumb.size == (w, h):
        return thumb
    cell = Image.new("RGB", (w, h), background)
    cell.paste(thumb, ((w - thumb.width) // 2, (h - thumb.height) // 2))
    return cell


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".tif", ".tiff", ".webp", ".bmp", ".jfif")
