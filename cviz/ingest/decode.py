"""The one image decoder: open, validate, orient and convert an image exactly once.

Every stage that needs pixels (catalogue validation, features, mosaic cells, item images) goes
through :func:`decode`, so an image looks the same everywhere: EXIF orientation applied, colour
modes (greyscale, palette, CMYK, 16-bit, alpha) converted to 8-bit RGB with alpha composited on
white, and a decompression bomb refused from its declared size before any pixels are decoded.
JPEGs are decoded at reduced size with Pillow's ``draft`` (DCT scaling) when a small result is
wanted, which is several times faster than decoding at full size and resizing. Large PNG, TIFF,
WebP (and other non-JPEG) images wanted at a reduced size are decoded by libvips' ``thumbnail``
(pyvips), which streams the file and shrinks while decoding: a 12000x12000 PNG never exists in
memory at full size (Pillow would hold 432 MB of RGB for it, plus a copy per conversion).

``at_least=(short, long)`` asks for the cheapest decode that still has at least ``short`` pixels on
the shorter side and ``long`` on the longer one: what one decode must keep for *all* its consumers
(the CNN input needs the short side, the viewer's 512 px item image the long side).
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

# Refuse images whose declared size is beyond this many pixels (Pillow's own hard limit is
# 2 x 89.5 MP; we keep that figure but check it ourselves so the reason is ours to word).
MAX_PIXELS = 2 * 89_478_485
ALPHA_BACKGROUND = (255, 255, 255)  # what transparent pixels become (white, like paper)

Image.MAX_IMAGE_PIXELS = None  # we check the declared size ourselves, before decoding
# Non-JPEG images above this many pixels, wanted at half size or less, go through libvips (below it
# Pillow's PNG decoder is faster, and its full-size copy is at most ~50 MB).
VIPS_MIN_PIXELS = 16_000_000
_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
              5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}


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
        canvas = Image.new("RGB", img.size, ALPHA_BACKGROUND)
        canvas.paste(img, mask=img.getchannel("A"))
        return canvas
    return img.convert("RGB")


def decode(data: bytes, max_side: int | None = None, name: str = "image", *,
           short_side: int | None = None, at_least: tuple[int, int] | None = None) -> tuple[Image.Image, ImageInfo]:
    """Decode ``data`` to an upright 8-bit RGB image, downscaled so its longest side <= max_side.

    ``short_side`` instead asks for the cheapest decode whose *shorter* side is still >= it (JPEG DCT
    scaling, a box reduction for other formats) and leaves the one final resize to the caller: what
    a CNN input needs, without resizing twice.
    ``at_least=(short, long)`` generalises ``short_side`` (which is ``at_least=(short_side, 0)``).
    Raises ImageRejected with a one-line reason for anything that is not a usable image.
    """
    if short_side and not at_least:
        at_least = (short_side, 0)
    try:
        return _decode(data, max_side, at_least)
    except ImageRejected as exc:
        exc.file = name
        raise
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as exc:  # Pillow raises all of these
        rejected = ImageRejected(_reason(exc))
        rejected.file = name
        raise rejected from None


def _reason(exc: BaseException) -> str:
    """Pillow's error as a reason a curator can act on (its PNG chunk guard says only "ValueError")."""
    text = str(exc)
    if isinstance(exc, ValueError) and ("MAX_TEXT" in text or "text chunks" in text):
        return ("PNG metadata bomb: a compressed text or ICC profile chunk expands past the safety limit "
                f"({text}); refused before any pixel was decoded")
    return f"cannot decode ({type(exc).__name__}: {text})"


def _scale(w: int, h: int, max_side: int | None, at_least: tuple[int, int] | None) -> float:
    """The smallest scale (<= 1) the caller can use: it must keep ``at_least``; ``max_side`` only shrinks."""
    if at_least:
        short, long = at_least
        return min(1.0, max(short / min(w, h), long / max(w, h)))
    if max_side:
        return min(1.0, max_side / max(w, h))
    return 1.0


def _decode(data: bytes, max_side: int | None, at_least: tuple[int, int] | None = None) -> tuple[Image.Image, ImageInfo]:
    if not data:
        raise ImageRejected("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data))
    except Exception as exc:  # Pillow raises several types for unknown formats
        reason = _reason(exc)
        raise ImageRejected(reason if reason.startswith("PNG metadata bomb") else
                            f"not a readable image ({type(exc).__name__})") from None
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
    scale = _scale(w, h, max_side, at_least)
    uw, uh = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
    info = ImageInfo(uw, uh, fmt, mode, frames)
    if fmt != "JPEG" and scale <= 0.5 and w * h >= VIPS_MIN_PIXELS:
        rgb = _vips_reduced(data, w, h, scale, orientation)
        if max_side and max(rgb.size) > max_side:
            rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=2.0)
        return rgb, info
    if scale < 1.0 and fmt == "JPEG":
        # DCT scaling: decode at the strongest power-of-two reduction that still covers the size.
        if at_least:
            img.draft(mode, (math.ceil(w * scale), math.ceil(h * scale)))
        else:
            img.draft(mode, (max_side, max_side))
    try:
        img.seek(0)
        img.load()
    except Exception as exc:
        raise ImageRejected(f"image data is corrupt or truncated ({exc})") from None
    if orientation != 1:
        img = ImageOps.exif_transpose(img)
    if at_least:
        factor = int(1 / _scale(img.width, img.height, None, at_least))
        if factor >= 2:  # box filter: fast, and the caller resizes once more
            try:
                img = img.reduce(factor)
            except ValueError:  # modes reduce() does not take (16-bit, palette): convert first
                img = _to_rgb(img).reduce(factor)
    rgb = _to_rgb(img)
    if max_side and max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS if max_side >= 256 else Image.Resampling.BILINEAR, reducing_gap=2.0)
    return rgb, info


def _vips_reduced(data: bytes, w: int, h: int, scale: float, orientation: int) -> Image.Image:
    """Shrink-while-decoding through libvips, then the same colour rules as :func:`_to_rgb`."""
    import pyvips

    width = max(1, math.ceil(w * scale))
    try:
        # Sequential access streams the file through the shrink; fail_on makes a truncated file an
        # error (thumbnail_buffer alone returns a partly grey picture for one).
        src = pyvips.Image.new_from_buffer(data, "", access="sequential", fail_on="truncated")
        if src.interpretation == "cmyk" and src.bands >= 4 and src.format == "uchar":
            # Pillow's plain CMYK -> RGB (no ICC profile), before thumbnail would apply one, so big and
            # small CMYK files look the same.
            src = ((255 - src.extract_band(0, n=3)) * (255 - src.extract_band(3)) / 255).cast("uchar")
            src = src.copy(interpretation="srgb")
        im = src.thumbnail_image(width, height=10_000_000, size="down", no_rotate=True)
        if im.interpretation not in ("srgb", "b-w") or im.format != "uchar":
            im = im.colourspace("b-w" if im.bands <= 2 and im.interpretation in ("b-w", "grey16") else "srgb")
        if im.hasalpha():
            im = im.flatten(background=list(ALPHA_BACKGROUND[: im.bands - 1]))
        if im.bands == 1:
            im = im.bandjoin([im, im])
        im = im.cast("uchar")
        arr = np.ndarray(buffer=im.write_to_memory(), dtype=np.uint8, shape=(im.height, im.width, im.bands))
    except pyvips.Error as exc:
        reason = "; ".join(line.strip() for line in str(exc).strip().splitlines()[:2]) or "libvips error"
        raise ImageRejected(f"image data is corrupt or truncated ({reason})") from None
    rgb = Image.fromarray(np.ascontiguousarray(arr[:, :, :3]), "RGB")
    if orientation in _TRANSPOSE:
        rgb = rgb.transpose(_TRANSPOSE[orientation])
    return rgb


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
