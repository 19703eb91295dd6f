"""A small, deterministic published collection for the viewer's browser tests.

Writes exactly the layout of docs/outputs.md under a storage root:

    published/index.json
    published/<name>/current.json
    published/<name>/<ver>/map.dzi + map_files/<level>/<col>_<row>.jpg
    published/<name>/<ver>/items.json
    published/<name>/<ver>/preview.jpg
    published/<name>/<ver>/regions.json, neighbours.bin, vocabulary.json   (cviz.publish.regions/similar)
    published/<name>/images/<sha256[:16]>.jpg
    published/<name>/layouts/<layout>/<lver>/map.dzi + map_files/, layout.json   (layouts=True)

The mosaic is drawn with Pillow: one flat, distinct colour per item cell (so a test
can check a pixel), dark background in empty cells. The Deep Zoom pyramid is a real
one (levels 0..max, tile size = cell size, overlap 0), small enough to build in well
under a second. The metadata holds the awkward cases the viewer must survive: an HTML
title, a ``javascript:`` url, undated items, ``|``-separated categories, an id with
spaces, ``#`` and accents, a ``subjects`` vocabulary of 73 values (more than items.json's
60-value category limit, so only vocabulary.json makes it a filter), category columns named
``constructor`` and ``__proto__`` whose values are ``toString``/``hasOwnProperty``, and a
formula-like ``note`` (``=HYPERLINK(...)``, ``+1``, ``-2``, ``@SUM``) for the CSV export.
With ``layouts=True`` it also writes a ``timeline`` layout (25-year bins of
``year``, one band of LAYOUT_ROWS rows per bin, items row-major in item order, undated items in
their own block after the last bin and a one-column gap, labelled ``"kind": "block"``) and a
``category`` layout (one block per first ``department`` value, largest first, an empty heading
row above the blocks and a one-cell gutter between them; the label is the block itself), as
/work/notes/r3/layout-contract-changes.md describes the pipeline's output, each with its own real pyramid drawn the same way (the item's colour in its new
cell) and listed in current.json, in the cviz-layout/1 format of docs/outputs.md.
The regions and neighbours come from the real pipeline modules (cviz.publish.regions, cviz.publish.similar)
run on the fixture's grid and on a 3-d colour feature per item (hue on a circle plus value).

Usage::

    info = build_published_collection(tmp_path)
    info.items[0]["title"]   # '<img src=x onerror=alert(1)>'
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw

HOSTILE_TITLE = "<img src=x onerror=alert(1)>"
JAVASCRIPT_URL = "javascript:alert(document.cookie)"
ODD_ID = "sub dir/étude #5.jpg"
SUBJECTS = ["Landscape", "Portrait", "Still life", "Seascape", "Interior"]
DEPARTMENTS = ["Paintings", "Drawings and Prints", "Asian Art"]
THEMES = ["Harbour", "Mountain", "Orchard"]  # by column band: what the regions should be named
DUPLICATE_GROUPS = [[2, 9], [4, 30, 61]]  # item indices published as near-duplicates (duplicates.json)
JS_KEYS = ["toString", "hasOwnProperty", "__proto__"]
FORMULAS = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+1", "-2", "@SUM(A1)", "plain"]
BACKGROUND = (18, 20, 26)
VERSION = "v20261126T010000Z"
LAYOUT_VERSION = "v20261126T020000Z"
LAYOUT_ROWS = 8
BIN_YEARS = 25


@dataclass
class FixtureCollection:
    storage_root: Path
    name: str
    version: str
    cols: int
    rows: int
    cell: int
    items: list[dict] = field(default_factory=list)
    layouts: dict[str, dict] = field(default_factory=dict)  # name -> the layout.json written

    @property
    def published(self) -> Path:
        return self.storage_root / "published"

    def item_by_title(self, title: str) -> dict:
        return next(it for it in self.items if it["title"] == title)


def _colour(i: int, n: int) -> tuple[int, int, int]:
    # Golden-ratio hue steps: neighbouring items get clearly different colours.
    h = (i * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, 0.65, 0.85)
    return int(r * 255), int(g * 255), int(b * 255)


def _jpeg(img: Image.Image, quality: int = 88) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _item_rows(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        subject = SUBJECTS[i % len(SUBJECTS)]
        undated = i % 10 == 9
        year = None if undated else 1700 + (i * 37) % 300
        dept = DEPARTMENTS[i % 3]
        if i % 4 == 0:
            dept = f"{dept}|{DEPARTMENTS[(i + 1) % 3]}"
        rows.append({
            "note": FORMULAS[i % len(FORMULAS)],
            "constructor": JS_KEYS[i % 3],
            "__proto__": ["constructor", "valueOf"][i % 2],
            "id": f"img_{i:03d}.jpg",
            "title": f"{subject} no. {i}",
            "url": f"https://example.org/object/{i}",
            "date": ("Unknown" if i % 20 == 19 else "") if undated else f"ca. {year}",
            "year": year,
            "artist": f"Artist {chr(65 + i % 7)}",
            "department": dept,
        })
    rows[0]["title"] = HOSTILE_TITLE
    rows[1]["url"] = JAVASCRIPT_URL
    rows[2]["url"] = ""
    rows[5]["id"] = ODD_ID
    return rows


def _draw_mosaic(cells: list[int], cols: int, rows: int, cell: int, n_items: int) -> Image.Image:
    """The map: item i's flat colour in cell ``cells[i]``, its number in the corner, dark gaps."""
    mosaic = Image.new("RGB", (cols * cell, rows * cell), BACKGROUND)
    draw = ImageDraw.Draw(mosaic)
    for i, c in enumerate(cells):
        x0, y0 = (c % cols) * cell, (c // cols) * cell
        draw.rectangle([x0 + 2, y0 + 2, x0 + cell - 3, y0 + cell - 3], fill=_colour(i, n_items))
        if cell >= 64:
            draw.text((x0 + 8, y0 + 6), str(i), fill=(255, 255, 255))
    return mosaic


def items_sha256(ids: list) -> str:
    """The layout contract's pairing key: sha256 of ``json.dumps`` (Python defaults) of the id list."""
    return hashlib.sha256(json.dumps(ids).encode("utf-8")).hexdigest()


def timeline_arrangement(years: list[int | None]) -> tuple[int, int, list[int], list[dict]]:
    """(cols, rows, cells, labels): one band per BIN_YEARS bin in year order, undated last; bands are
    LAYOUT_ROWS high, or sqrt(n) for large collections so the map stays near square."""
    rows = max(LAYOUT_ROWS, math.ceil(math.sqrt(len(years))))
    dated = sorted({(y // BIN_YEARS) * BIN_YEARS for y in years if y is not None})
    groups = [[i for i, y in enumerate(years) if y is not None and (y // BIN_YEARS) * BIN_YEARS == b] for b in dated]
    undated = [i for i, y in enumerate(years) if y is None]
    cells_at: dict[int, tuple[int, int]] = {}
    labels, col0 = [], 0
    for b, members in [*zip(dated, groups), *([(None, undated)] if undated else [])]:
        w = math.ceil(len(members) / rows)
        if b is None:
            col0 += 1  # the pipeline's one-column gap before the undated block
        for k, i in enumerate(members):  # row-major inside the band
            cells_at[i] = (col0 + k % w, k // w)
        if b is None:
            labels.append({"text": "undated", "count": len(members), "kind": "block",
                           "x": col0, "y": 0, "w": w, "h": rows})
        else:
            labels.append({"text": f"{b}-{b + BIN_YEARS - 1}", "count": len(members), "kind": "bin",
                           "year_from": b, "year_to": b + BIN_YEARS - 1, "x": col0, "y": 0, "w": w, "h": rows})
        col0 += w
    cols = col0
    return cols, rows, [cells_at[i][1] * cols + cells_at[i][0] for i in range(len(years))], labels


def category_arrangement(values: list[str]) -> tuple[int, int, list[int], list[dict]]:
    """(cols, rows, cells, labels): a near-square block per first value (largest first), heading row, gutter."""
    firsts = [v.split("|")[0].strip() or "(no value)" for v in values]
    order = sorted(set(firsts), key=lambda v: (-firsts.count(v), v))
    blocks, col0 = [], 0
    for v in order:
        members = [i for i, f in enumerate(firsts) if f == v]
        w = math.ceil(math.sqrt(len(members)))
        h = math.ceil(len(members) / w)
        blocks.append((v, members, col0, w, h))
        col0 += w + 1
    cols, rows = col0 - 1, 1 + max(b[4] for b in blocks)
    cells = [0] * len(values)
    labels = []
    for v, members, x, w, h in blocks:
        for k, i in enumerate(members):
            cells[i] = (1 + k // w) * cols + x + k % w
        labels.append({"text": v, "count": len(members), "kind": "block", "x": x, "y": 1, "w": w, "h": h})
    return cols, rows, cells, labels


def _write_layouts(coll: Path, name: str, meta: list[dict], ids: list, cell: int, tile: int) -> dict[str, dict]:
    """Both layouts in their own version folders; returns {layout: (layout.json doc, relative paths)}."""
    n = len(meta)
    made = {
        "timeline": (*timeline_arrangement([m["year"] for m in meta]), {"bin_years": BIN_YEARS, "column": "date"}),
        "category": (*category_arrangement([m["department"] for m in meta]), {"column": "department"}),
    }
    out = {}
    for layout, (cols, rows, cells, labels, extra) in made.items():
        ver = coll / "layouts" / layout / LAYOUT_VERSION
        ver.mkdir(parents=True, exist_ok=True)
        _write_dzi(_draw_mosaic(cells, cols, rows, cell, n), ver, tile)
        doc = {"format": "cviz-layout/1", "layout": layout, "collection": name, "items_sha256": items_sha256(ids),
               "grid": {"cols": cols, "rows": rows, "cell_width": cell, "cell_height": cell,
                        "width": cols * cell, "height": rows * cell},
               "dzi": "map.dzi", "cells": cells, "labels": labels, **extra}
        (ver / "layout.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        rel = f"layouts/{layout}/{LAYOUT_VERSION}"
        out[layout] = {"doc": doc, "dzi": f"{rel}/map.dzi", "layout": f"{rel}/layout.json"}
    return out


def _write_dzi(mosaic: Image.Image, out: Path, tile: int) -> None:
    """Deep Zoom pyramid: level L is the mosaic scaled by 2**(L - max), tiles <col>_<row>.jpg."""
    w, h = mosaic.size
    max_level = math.ceil(math.log2(max(w, h)))
    files = out / "map_files"
    for level in range(max_level + 1):
        scale = 2 ** (max_level - level)
        lw, lh = max(1, math.ceil(w / scale)), max(1, math.ceil(h / scale))
        img = mosaic if (lw, lh) == (w, h) else mosaic.resize((lw, lh), Image.Resampling.LANCZOS)
        d = files / str(level)
        d.mkdir(parents=True, exist_ok=True)
        for row in range(math.ceil(lh / tile)):
            for col in range(math.ceil(lw / tile)):
                box = (col * tile, row * tile, min((col + 1) * tile, lw), min((row + 1) * tile, lh))
                (d / f"{col}_{row}.jpg").write_bytes(_jpeg(img.crop(box)))
    (out / "map.dzi").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Image xmlns="http://schemas.microsoft.com/deepzoom/2008" Format="jpg" Overlap="0" TileSize="{tile}">'
        f'<Size Width="{w}" Height="{h}"/></Image>\n',
        encoding="utf-8",
    )


def item_features(items: list[dict]):
    """The fixture's 'image features': hue on the unit circle plus brightness (cosine neighbours = alike colours)."""
    import numpy as np

    h = np.array([it["hsv"][0] for it in items])
    v = np.array([it["hsv"][2] for it in items])
    return np.stack([np.cos(2 * np.pi * h), np.sin(2 * np.pi * h), 0.3 * v], axis=1)


def _write_extras(ver: Path, items: list[dict], cells: list[int], cols: int, rows: int, fields: dict) -> None:
    from cviz.publish import regions, similar
    found = regions.find_regions(cells, cols, rows, {"subjects": fields["subjects"]}, fields["title"])
    (ver / "regions.json").write_text(json.dumps(found.to_dict(cols, rows), ensure_ascii=False), encoding="utf-8")
    from cviz.publish.duplicates import Duplicates
    groups = [g for g in DUPLICATE_GROUPS if max(g) < len(items)]  # small fixtures hold fewer
    dups = Duplicates(groups=groups, spread=[0.05] * len(groups))
    (ver / "duplicates.json").write_text(json.dumps(dups.to_dict(fields["id"]), ensure_ascii=False), encoding="utf-8")
    nn, _ = similar.nearest_neighbours(item_features(items))
    (ver / "neighbours.bin").write_bytes(similar.pack_neighbours(nn))
    (ver / "vocabulary.json").write_text(json.dumps({
        "format": "cviz-vocabulary/1", "filter_columns": ["subjects", "department"], "label_columns": ["subjects"],
    }), encoding="utf-8")


def build_published_collection(storage_root: Path | str, name: str = "fixture-sample",
                               cols: int = 12, rows: int = 9, n_items: int = 96,
                               cell: int = 128, tile: int | None = None,
                               image_size: tuple[int, int] = (384, 512), layouts: bool = False) -> FixtureCollection:
    """Write the collection; ``tile`` defaults to the cell size (the pipeline's choice).

    ``layouts``: also write the timeline and category layouts and list them in current.json.

    For large benchmark collections pass a small ``cell``, a larger ``tile`` and a small
    ``image_size`` so the fixture stays quick to draw.
    """
    storage_root = Path(storage_root)
    tile = tile or cell
    pub = storage_root / "published"
    coll = pub / name
    ver = coll / VERSION
    images = coll / "images"
    ver.mkdir(parents=True, exist_ok=True)
    images.mkdir(parents=True, exist_ok=True)

    # Leave a few holes so empty cells exist (skip every 11th cell, up to the capacity).
    cells = [c for c in range(cols * rows) if c % 11 != 10][:n_items]
    if len(cells) < n_items:
        raise ValueError(f"a {cols}x{rows} grid with holes holds {len(cells)} items, fewer than {n_items}")
    meta = _item_rows(n_items)

    columns = ("id", "year", "title", "url", "date", "artist", "department", "subjects", "note", "constructor", "__proto__")
    fields: dict[str, list] = {k: [] for k in ("cell", "image", *columns)}
    items = []
    for i, (c, m) in enumerate(zip(cells, meta)):
        col, row = c % cols, c // cols
        rgb = _colour(i, n_items)

        big = Image.new("RGB", image_size, rgb)
        ImageDraw.Draw(big).text((16, 16), f"item {i}", fill=(255, 255, 255))
        data = _jpeg(big)
        sha = hashlib.sha256(data).hexdigest()
        (images / f"{sha[:16]}.jpg").write_bytes(data)

        m["subjects"] = f"{THEMES[min(2, col * 3 // cols)]}|Tag {i % 70:02d}"
        m["hsv"] = colorsys.rgb_to_hsv(*(v / 255 for v in rgb))
        for k in columns:
            fields[k].append(m[k])
        fields["cell"].append(c)
        fields["image"].append(f"../images/{sha[:16]}.jpg")
        items.append({**m, "index": i, "cell": c, "col": col, "row": row, "rgb": rgb})

    mosaic = _draw_mosaic(cells, cols, rows, cell, n_items)
    _write_dzi(mosaic, ver, tile)
    preview = mosaic.copy()
    preview.thumbnail((512, 512), Image.Resampling.LANCZOS)
    preview.save(ver / "preview.jpg", "JPEG", quality=85)

    own = ("id", "cell", "image", "year", "title", "url")  # format 2: own fields apart from the CSV columns
    doc = {
        "format": "cviz-items/2",
        "collection": name,
        "count": n_items,
        "grid": {"cols": cols, "rows": rows, "cell_width": cell, "cell_height": cell,
                 "width": cols * cell, "height": rows * cell},
        "dzi": "map.dzi",
        "columns": ["date", "artist", "department", "subjects", "note", "constructor", "__proto__"],
        "date_column": "date",
        "category_columns": ["department", "constructor", "__proto__"],
        "columns_dropped": 0,
        "fields": {k: fields[k] for k in own},
        "values": {k: v for k, v in fields.items() if k not in own},
    }
    (ver / "items.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    _write_extras(ver, items, cells, cols, rows, fields)
    current = {"dzi": f"{VERSION}/map.dzi", "items": f"{VERSION}/items.json", "preview": f"{VERSION}/preview.jpg"}
    made = _write_layouts(coll, name, meta, fields["id"], cell, tile) if layouts else {}
    if made:
        current["layouts"] = {k: {"dzi": v["dzi"], "layout": v["layout"]} for k, v in made.items()}
        for k, v in made.items():  # each item's cell in each layout, for the tests
            for it, c in zip(items, v["doc"]["cells"]):
                it[f"{k}_cell"] = c
    (coll / "current.json").write_text(json.dumps(current), encoding="utf-8")

    index_path = pub / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {"format": "cviz-index/1", "collections": []}
    index["collections"] = [c for c in index["collections"] if c.get("name") != name]
    index["collections"].append({
        "name": name, "items": n_items, "preview": f"{name}/{VERSION}/preview.jpg",
        "current": f"{name}/current.json", "updated": "2026-11-26T01:00:00Z",
    })
    index_path.write_text(json.dumps(index, indent=1), encoding="utf-8")
    return FixtureCollection(storage_root, name, VERSION, cols, rows, cell, items,
                             {k: v["doc"] for k, v in made.items()})


if __name__ == "__main__":  # python tests/viewer_fixture.py [storage_root]: data for `npm start`
    import sys

    root = Path(sys.argv[1] if len(sys.argv) > 1 else "cviz_data")
    info = build_published_collection(root, layouts=True)
    print(f"wrote {info.published / info.name} ({len(info.items)} items)")


PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True}

# The viewer's test switch (viewer/public/src/test-handle.js): set before any page script runs,
# it makes the map page expose its read-only handle window.cviz and its timings window.cvizPerf.
# Pages opened without it have neither.
TEST_SWITCH = "window.CVIZ_TEST = true;"


def new_test_context(browser, **kwargs):
    """``browser.new_context(**kwargs)`` whose pages run the viewer under test (window.cviz, window.cvizPerf)."""
    ctx = browser.new_context(**kwargs)
    ctx.add_init_script(TEST_SWITCH)
    return ctx


def open_page(browser, viewport: dict | None = None, phone: bool = False):
    """(context, page, errors): a fresh browser context (a phone's, or ``viewport``) and page whose
    uncaught page errors collect in ``errors``; the caller closes the context. The page runs the
    viewer under test (new_test_context)."""
    ctx = new_test_context(browser, **(PHONE if phone else {"viewport": viewport}), bypass_csp=True)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    return ctx, pg, errors
