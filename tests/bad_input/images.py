"""Write every bad-image case with Pillow into a folder, each with the outcome it must have.

Each case is a small function writing one or more files; ``CASES`` says, per file, whether the
catalogue must keep it (``usable``) or skip it (``skipped``) and a word its recorded reason must
contain. Colours are chosen so a test can check pixels after decoding (e.g. that an EXIF-rotated
photo comes out upright, that alpha is composited on white, that a GIF gives its first frame).
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

RED, BLUE, GREEN, WHITE = (220, 20, 20), (20, 20, 220), (20, 200, 20), (255, 255, 255)


@dataclass(frozen=True)
class Case:
    file: str
    status: str  # "usable" or "skipped"
    reason_word: str | None  # for skipped files: a word the recorded reason must contain


def _jpeg(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, **kw)
    return buf.getvalue()


def two_tone(size: tuple[int, int], top: tuple, bottom: tuple) -> Image.Image:
    """Top half ``top``, bottom half ``bottom``: orientation is visible in the pixels."""
    img = Image.new("RGB", size, top)
    img.paste(Image.new("RGB", (size[0], size[1] - size[1] // 2), bottom), (0, size[1] // 2))
    return img


def noise(size: tuple[int, int], seed: int) -> Image.Image:
    """A textured picture (different per seed) so features and duplicate checks have something to see."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (max(1, size[1] // 8), max(1, size[0] // 8), 3), dtype=np.uint8)
    return Image.fromarray(small, "RGB").resize(size, Image.Resampling.BILINEAR)


def bomb_png(width: int = 30_000, height: int = 30_000) -> bytes:
    """A PNG declaring ``width`` x ``height`` with a few bytes of compressed data (cheap to make)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def exif_rotated_jpeg(upright: Image.Image, orientation: int = 6) -> bytes:
    """Store ``upright`` so that a viewer honouring EXIF ``orientation`` (6: rotate 90 CW) shows it upright."""
    stored = {6: upright.transpose(Image.Transpose.ROTATE_90),  # 90 CCW; display rotates it back CW
              8: upright.transpose(Image.Transpose.ROTATE_270),
              3: upright.transpose(Image.Transpose.ROTATE_180)}[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _jpeg(stored, exif=exif.tobytes())


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _animated_gif() -> bytes:
    frames = [Image.new("RGB", (40, 30), c) for c in (RED, GREEN, BLUE)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buf.getvalue()


def _alpha_png() -> bytes:
    img = Image.new("RGBA", (40, 40), (0, 0, 0, 0))  # transparent black: must come out white
    img.paste(Image.new("RGBA", (40, 20), RED + (255,)), (0, 20))
    return _save(img, "PNG")


def _palette_png(transparent: bool) -> bytes:
    img = two_tone((40, 40), RED, BLUE).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    kw = {"transparency": img.getpixel((0, 0))} if transparent else {}
    return _save(img, "PNG", **kw)


def _png16() -> bytes:
    arr = np.zeros((40, 40), np.uint16)
    arr[20:] = 65535  # top black, bottom white
    return _save(Image.fromarray(arr), "PNG")  # uint16 array -> mode I;16


def _cmyk_jpeg() -> bytes:
    return _jpeg(two_tone((48, 48), RED, BLUE).convert("CMYK"))


# Every file the corpus writes: name -> bytes factory.
FILES: dict[str, Callable[[], bytes]] = {
    "zero-byte.jpg": lambda: b"",
    "truncated.jpg": lambda: _jpeg(noise((300, 200), 1))[:1500],
    "text-named.jpg": lambda: b"this is a text file, not a JPEG\n" * 4,
    "alpha.png": _alpha_png,
    "palette.png": lambda: _palette_png(False),
    "palette-transparent.png": lambda: _palette_png(True),
    "sixteen-bit.png": _png16,
    "greyscale.jpg": lambda: _jpeg(noise((60, 40), 2).convert("L")),
    "greyscale.png": lambda: _save(two_tone((40, 40), (0, 0, 0), WHITE).convert("L"), "PNG"),
    "cmyk.jpg": _cmyk_jpeg,
    "progressive.jpg": lambda: _jpeg(noise((120, 90), 3), progressive=True),
    "exif-rotated.jpg": lambda: exif_rotated_jpeg(two_tone((60, 120), RED, BLUE)),
    "animated.gif": _animated_gif,
    "picture.webp": lambda: _save(noise((64, 48), 4), "WEBP"),
    "picture.tiff": lambda: _save(noise((64, 48), 5), "TIFF"),
    "bomb.png": bomb_png,
    "huge.jpg": lambda: _jpeg(noise((6000, 4000), 6), optimize=False),
    "with space.jpg": lambda: _jpeg(noise((50, 50), 7)),
    "ünïcødé 日本.jpg": lambda: _jpeg(noise((50, 50), 8)),
    "quote's \"double\".jpg": lambda: _jpeg(noise((50, 50), 9)),
    "100% {title} %s.jpg": lambda: _jpeg(noise((50, 50), 10)),
    "Case.jpg": lambda: _jpeg(noise((50, 50), 11)),
    "case.jpg": lambda: _jpeg(noise((50, 50), 12)),
    "dup-a.jpg": lambda: _jpeg(noise((50, 50), 13)),
    "dup-b.jpg": lambda: _jpeg(noise((50, 50), 13)),  # same bytes as dup-a.jpg
    "notes.txt": lambda: b"curator's notes",
}

CASES: dict[str, Case] = {
    "zero-byte.jpg": Case("zero-byte.jpg", "skipped", "empty"),
    "truncated.jpg": Case("truncated.jpg", "skipped", "truncated"),
    "text-named.jpg": Case("text-named.jpg", "skipped", "not a readable image"),
    "alpha.png": Case("alpha.png", "usable", None),
    "palette.png": Case("palette.png", "usable", None),
    "palette-transparent.png": Case("palette-transparent.png", "usable", None),
    "sixteen-bit.png": Case("sixteen-bit.png", "usable", None),
    "greyscale.jpg": Case("greyscale.jpg", "usable", None),
    "greyscale.png": Case("greyscale.png", "usable", None),
    "cmyk.jpg": Case("cmyk.jpg", "usable", None),
    "progressive.jpg": Case("progressive.jpg", "usable", None),
    "exif-rotated.jpg": Case("exif-rotated.jpg", "usable", None),
    "animated.gif": Case("animated.gif", "usable", None),
    "picture.webp": Case("picture.webp", "usable", None),
    "picture.tiff": Case("picture.tiff", "usable", None),
    "bomb.png": Case("bomb.png", "skipped", "decompression bomb"),
    "huge.jpg": Case("huge.jpg", "usable", None),
    "with space.jpg": Case("with space.jpg", "usable", None),
    "ünïcødé 日本.jpg": Case("ünïcødé 日本.jpg", "usable", None),
    "quote's \"double\".jpg": Case("quote's \"double\".jpg", "usable", None),
    "100% {title} %s.jpg": Case("100% {title} %s.jpg", "usable", None),
    "Case.jpg": Case("Case.jpg", "usable", None),
    "case.jpg": Case("case.jpg", "usable", None),
    "dup-a.jpg": Case("dup-a.jpg", "usable", None),
    "dup-b.jpg": Case("dup-b.jpg", "usable", None),
    "notes.txt": Case("notes.txt", "skipped", "not an image file type"),
    # Written by write_special(): things only a filesystem can hold.
    "self-loop.jpg": Case("self-loop.jpg", "skipped", "cannot read"),
    "loop-dir.jpg": Case("loop-dir.jpg", "skipped", "not a regular file"),
    "named-pipe.jpg": Case("named-pipe.jpg", "skipped", "not a regular file"),
    "sub/up": Case("sub/up", "skipped", "not an image file type"),
}


def write_images(folder: Path, names: list[str] | None = None) -> list[str]:
    """Write the corpus (or the named files of it) into ``folder``; returns the names written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names or list(FILES):
        (folder / name).write_bytes(FILES[name]())
        written.append(name)
    return written


def write_special(folder: Path) -> list[str]:
    """A symlink to itself, a symlink loop to a parent folder, a named pipe (a read would block)."""
    folder.mkdir(parents=True, exist_ok=True)
    os.symlink("self-loop.jpg", folder / "self-loop.jpg")
    os.symlink("..", folder / "loop-dir.jpg")
    (folder / "sub").mkdir(exist_ok=True)
    os.symlink("..", folder / "sub" / "up")  # a folder loop a recursive scan must not follow
    os.mkfifo(folder / "named-pipe.jpg")
    return ["self-loop.jpg", "loop-dir.jpg", "named-pipe.jpg"]
