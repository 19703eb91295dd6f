"""Other arrangements of a collection's items than the similarity grid: by date and by category.

Pure functions (no storage, no Dagster): from each item's year or category value and its 2-D t-SNE
point, a grid of cells (one cell per item, like the similarity grid) and labels, in cell units,
for the bins and blocks the viewer draws as an axis or as headings.

Both layouts order the items of a bin or block by similarity the same way: the ``sorted`` grid of
cviz.arrange.grid confined to the bin's band or the block's rectangle (rows by t-SNE y, each row by t-SNE
x, filled row-major), so items that sit together on the similarity map sit together inside their
bin or block too (van der Maaten & Hinton 2008, t-SNE; a row-by-y-then-x sort keeps the
embedding's 2-D neighbourhoods as far as a fixed width allows).

Shape. Both measure a candidate map by one cost, ``|log2(aspect)| + empty_fraction``, where
``aspect`` is the map's width over its height in pixels and ``empty_fraction`` the share of cells
holding no item (0: a full square). The category layout takes the shelf width of lowest cost; the
timeline takes, for each bin width, the band height of lowest cost, then the bin width of lowest
cost, the narrowest when several are within ``TIE`` of it (see :func:`pick_bins`).

Slack. Every bin's band and every block is sized for its items plus :func:`slack` free cells (about
``SLACK`` of them, at least ``MIN_SLACK``), left empty at its end (bottom rows), so that an update
adding a few items places them in their bin's or block's free cells and every other cell stays where
it was (cviz.arrange.layout_update); a bin or block only reflows, with the whole map, once it is full.

Cost in N: O(N log N) (sorting items into bins and each bin by its t-SNE position), O(N) memory.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

# Candidate timeline bin widths in years (parse_year gives 1000-2099, so 1000 spans any range).
BIN_WIDTHS = (1, 5, 10, 25, 50, 100, 250, 500, 1000)
TIE = 0.25  # bin widths whose map costs within this of the best count as equal: the narrowest wins
NO_VALUE = "(no value)"
UNDATED = "undated"
MULTI_SEPARATOR = "|"  # the project's multi-value rule (cviz.publish.items._category_columns)
SLACK = 0.05  # free cells per bin or block, as a share of its items: room for updates before a reflow
MIN_SLACK = 2


def slack(count: int | np.ndarray, share: float = SLACK) -> int | np.ndarray:
    """Free cells a bin or block of ``count`` items is sized for: ``ceil(share * count)``, at least
    ``MIN_SLACK`` (0 for ``share`` 0, the packed layout)."""
    if share <= 0:
        return count * 0
    return np.maximum(MIN_SLACK, np.ceil(np.asarray(count) * share).astype(np.int64)) if isinstance(count, np.ndarray) \
        else max(MIN_SLACK, math.ceil(count * share))


def items_sha256(ids: list[str]) -> str:
    """The item list a layout is built from: hex SHA-256 of ``json.dumps(ids)`` (Python's default
    separators and ``ensure_ascii``), ``ids`` being items.json's ``fields.id`` in item order."""
    return hashlib.sha256(json.dumps(list(ids)).encode("utf-8")).hexdigest()


@dataclass
class Arrangement:
    """One layout: ``cells[i]`` is item i's flat cell index (row * cols + col) on a cols x rows grid."""

    layout: str
    cols: int
    rows: int
    cells: np.ndarray
    labels: list[dict[str, Any]]
    extra: dict[str, Any] = field(default_factory=dict)  # bin_years, column: copied into layout.json


@dataclass
class Absent:
    """A layout this collection does not have, and why (recorded by the asset, left out by publish)."""

    layout: str
    reason: str


def shape_cost(cols: int, rows: int, n: int, cell_size: tuple[int, int]) -> float:
    """``|log2(width / height)| + empty cells / all cells``: 0 for a full square map."""
    cw, ch = cell_size
    return abs(math.log2(cols * cw / (rows * ch))) + (cols * rows - n) / (cols * rows)


def similarity_order(points: np.ndarray, members: np.ndarray, width: int) -> np.ndarray:
    """``members`` (item indices) in the row-major order that fills a ``width``-column area by
    similarity: rows by t-SNE y, each row by t-SNE x (cviz.arrange.grid.assign_sorted, inside the area)."""
    members = np.asarray(members, dtype=np.int64)
    by_y = members[np.argsort(points[members, 1], kind="stable")]
    rows = [by_y[k:k + width] for k in range(0, len(by_y), width)]
    return np.concatenate([r[np.argsort(points[r, 0], kind="stable")] for r in rows]) if rows else by_y


def _place(xy: np.ndarray, order: np.ndarray, x0: int, y0: int, width: int) -> None:
    k = np.arange(len(order))
    xy[order, 0] = x0 + k % width
    xy[order, 1] = y0 + k // width


def _flatten(xy: np.ndarray, cols: int) -> np.ndarray:
    return (xy[:, 1] * cols + xy[:, 0]).astype(np.int64)


# -- timeline ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class BinChoice:
    years: int  # bin width
    rows: int
    cols: int
    cost: float


def _bins(years: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(bin starts, counts) of the occupied bins, aligned to multiples of ``width`` (1920-1929)."""
    starts, counts = np.unique((years // width) * width, return_counts=True)
    return starts, counts


def _timeline_cols(starts: np.ndarray, counts: np.ndarray, width: int, undated: int, rows: np.ndarray,
                   share: float = SLACK) -> np.ndarray:
    """Grid columns for each candidate row count: bands of ceil((count + slack) / rows) columns, a
    one-column gap where bins are not consecutive (an empty stretch of years), the undated block after a gap."""
    counts = counts + slack(counts, share)
    undated = undated + slack(undated, share) if undated else 0
    band = -(-counts[:, None] // rows[None, :])
    gaps = int(np.count_nonzero(np.diff(starts) > width))
    cols = band.sum(axis=0) + gaps
    if undated:
        cols = cols + 1 + -(-undated // rows)
    return cols


def choose_bins(years: np.ndarray, undated: int, cell_size: tuple[int, int], share: float = SLACK) -> list[BinChoice]:
    """Every candidate bin width of ``BIN_WIDTHS`` with its best band height (rows of lowest
    :func:`shape_cost`), narrowest first; :func:`pick_bins` chooses among them."""
    n = len(years) + undated
    out: list[BinChoice] = []
    for width in BIN_WIDTHS:
        starts, counts = _bins(years, width)
        top = max(int(counts.max()), undated)  # taller bands than the largest bin only add empty rows
        top += int(slack(top, share))
        r_max = max(1, min(top, 3 * math.ceil(math.sqrt(n)) + len(starts) + 2))
        rows = np.arange(1, r_max + 1)
        cols = _timeline_cols(starts, counts, width, undated, rows, share)
        costs = [shape_cost(int(c), int(r), n, cell_size) for c, r in zip(cols, rows)]
        k = int(np.argmin(costs))
        out.append(BinChoice(width, int(rows[k]), int(cols[k]), float(costs[k])))
        if len(starts) == 1:
            break  # one bin already: wider bins give the same map
    return out


def pick_bins(candidates: list[BinChoice]) -> BinChoice:
    """The bin width whose map is closest to square with the fewest empty cells (lowest
    :func:`shape_cost`); widths within ``TIE`` of the lowest count as equal and the narrowest of
    them wins (finer time)."""
    lowest = min(b.cost for b in candidates)
    return next(b for b in candidates if b.cost <= lowest + TIE)


def bin_text(start: int, width: int) -> str:
    return str(start) if width == 1 else f"{start}-{start + width - 1}"


def timeline(years: Sequence[int | None], points: np.ndarray, cell_size: tuple[int, int],
             column: str, share: float = SLACK) -> Arrangement | Absent:
    """Items by year: one band of columns per occupied year bin, bins left to right in year order.

    Each bin is a band as tall as the map (``rows``) and ``ceil(count / rows)`` columns wide, its
    items filled row-major in similarity order. Empty bins are dropped, and where the next
    occupied bin is not the adjacent one a one-column gap marks the jump (labels carry each bin's
    ``year_from``/``year_to``, so the axis stays honest). Undated items form a last block
    (``undated``) after a one-column gap. No dated item: :class:`Absent`. ``share``: the
    :func:`slack` each band and the undated block are sized for (0: packed).
    """
    n = len(years)
    dated = np.array([i for i, y in enumerate(years) if y is not None], dtype=np.int64)
    undated = np.array([i for i, y in enumerate(years) if y is None], dtype=np.int64)
    if len(dated) == 0:
        return Absent("timeline", f"no item has a parseable year in column {column!r}")
    year_of = np.array([years[i] for i in dated], dtype=np.int64)
    choice = pick_bins(choose_bins(year_of, len(undated), cell_size, share))
    width, rows = choice.years, choice.rows
    bin_of = (year_of // width) * width
    starts = np.unique(bin_of)
    xy = np.zeros((n, 2), dtype=np.int64)
    labels: list[dict[str, Any]] = []
    x = 0
    for k, start in enumerate(starts):
        if k and start - starts[k - 1] > width:
            x += 1  # the gap marking empty bins
        members = dated[bin_of == start]
        band = -(-(len(members) + slack(len(members), share)) // rows)
        _place(xy, similarity_order(points, members, band), x, 0, band)
        labels.append({"text": bin_text(int(start), width), "count": int(len(members)), "kind": "bin",
                       "year_from": int(start), "year_to": int(start + width - 1),
                       "x": x, "y": 0, "w": band, "h": rows})
        x += band
    if len(undated):
        x += 1
        band = -(-(len(undated) + slack(len(undated), share)) // rows)
        _place(xy, similarity_order(points, undated, band), x, 0, band)
        labels.append({"text": UNDATED, "count": int(len(undated)), "kind": "block", "x": x, "y": 0, "w": band, "h": rows})
        x += band
    return Arrangement("timeline", x, rows, _flatten(xy, x), labels, {"bin_years": width, "column": column})


# -- category ---------------------------------------------------------------------------------
def first_value(value: str | None) -> str:
    """The block an item sits in: the first of its ``|``-separated values (one cell per item per
    layout, so search, filters, the panel and ``#item=`` stay one-to-one); empty: ``(no value)``."""
    for part in str(value or "").split(MULTI_SEPARATOR):
        if part.strip():
            return part.strip()
    return NO_VALUE


def block_size(count: int, cell_size: tuple[int, int]) -> tuple[int, int]:
    """(columns, rows) of a near-square block (in pixels) of ``count`` cells."""
    cw, ch = cell_size
    w = max(1, round(math.sqrt(count * ch / cw)))
    return w, -(-count // w)


def shelf_pack(sizes: Sequence[tuple[int, int]], width: int) -> tuple[list[tuple[int, int]], int, int]:
    """Shelf packing (blocks left to right, a new shelf below when the next does not fit in
    ``width``): (top-left corner of each block, cols, rows). Blocks on a shelf are one column apart;
    each shelf has one empty row above it, where the viewer draws the blocks' headings."""
    corners: list[tuple[int, int]] = []
    x = y = shelf_h = cols = 0
    for w, h in sizes:
        if x and x + w > width:
            y += 1 + shelf_h
            x = shelf_h = 0
        corners.append((x, y + 1))
        cols = max(cols, x + w)
        shelf_h = max(shelf_h, h)
        x += w + 1
    return corners, cols, y + 1 + shelf_h


def category(values: Sequence[str | None], points: np.ndarray, cell_size: tuple[int, int], column: str,
             max_widths: int = 400, share: float = SLACK) -> Arrangement:
    """Items by the value of one column: one block per (first) value, largest first (ties by value),
    ``(no value)`` last; each block near square and sized for its items plus :func:`slack`,
    shelf-packed into a map as square as it gets (:func:`shape_cost` over shelf widths), items in
    similarity order within their block. ``max_widths``: shelf widths tried at most."""
    n = len(values)
    firsts = [first_value(v) for v in values]
    groups: dict[str, list[int]] = {}
    for i, v in enumerate(firsts):
        groups.setdefault(v, []).append(i)
    order = sorted((v for v in groups if v != NO_VALUE), key=lambda v: (-len(groups[v]), v))
    if NO_VALUE in groups:
        order.append(NO_VALUE)
    sizes = [block_size(len(groups[v]) + slack(len(groups[v]), share), cell_size) for v in order]
    cw, ch = cell_size
    area = sum((w + 1) * (h + 1) for w, h in sizes)
    widest = max(w for w, _ in sizes)
    centre = max(widest, round(math.sqrt(area * ch / cw)))
    lo, hi = max(widest, centre // 2), max(widest, 2 * centre) + 1
    step = max(1, (hi - lo) // max_widths)
    best = None
    for width in range(lo, hi, step):
        corners, cols, rows = shelf_pack(sizes, width)
        cost = shape_cost(cols, rows, n, cell_size)
        if best is None or cost < best[0] - 1e-12:
            best = (cost, corners, cols, rows)
    _, corners, cols, rows = best
    xy = np.zeros((n, 2), dtype=np.int64)
    labels = []
    for v, (w, h), (x, y) in zip(order, sizes, corners):
        members = np.asarray(groups[v], dtype=np.int64)
        _place(xy, similarity_order(points, members, w), x, y, w)
        labels.append({"text": v, "count": len(members), "kind": "block", "x": x, "y": y, "w": w, "h": h})
    return Arrangement("category", cols, rows, _flatten(xy, cols), labels, {"column": column})
