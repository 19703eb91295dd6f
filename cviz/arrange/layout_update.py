"""Updating a timeline or category layout in place: items already on it keep their cells.

Why: a layout's tiles can only be reused (cviz.render.tile_reuse) where cells show what they showed,
and a fresh arrangement of a collection with 1% more items moves nearly every item (each bin's
similarity order and each later band or block shift). So an update keeps the previous
arrangement: the same bins (the previous bin width) and blocks at the same places, every kept item in
its cell, and puts each new item (or one whose year or category changed) into a free cell of its
bin's band or its block (the :func:`cviz.arrange.layouts.slack` each was sized for, plus cells
removed items left): the free cell nearest to the cell of its nearest t-SNE neighbour among the
items already in that group (the similarity order the fresh layout follows; van der Maaten &
Hinton 2008), or the group's first free cell when it has none. When an item's group has no band or
block (a new year bin or category) or no free cell is left, the update refuses with the reason and
the stage builds a fresh, reflowed layout (with new slack).

Cost: O(N) to match items, plus for each new item O(kept items in its group + free cells in it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from cviz.arrange.layouts import UNDATED, Arrangement, first_value


@dataclass(frozen=True)
class PreviousLayout:
    """What an update keeps: the previous version's grid, labels, extra and each item's cell by id."""

    layout: str
    cols: int
    rows: int
    labels: list[dict[str, Any]]
    extra: dict[str, Any]
    cell_of: dict[str, int]  # item id (file) -> flat cell


def group_keys(layout: str, previous: PreviousLayout, years: Sequence[int | None] | None = None,
               values: Sequence[str | None] | None = None) -> list[str]:
    """Each item's group under the previous layout's rules: its year bin at the previous bin width
    (``bin:<start>``, or ``undated``), or the first value of its category."""
    if layout == "timeline":
        width = int(previous.extra["bin_years"])
        return [UNDATED if y is None else f"bin:{(int(y) // width) * width}" for y in (years or [])]
    return [first_value(v) for v in (values or [])]


def _rectangles(layout: str, labels: list[dict[str, Any]]) -> dict[str, tuple[int, int, int, int]]:
    out = {}
    for lab in labels:
        key = f"bin:{lab['year_from']}" if layout == "timeline" and lab.get("kind") == "bin" else str(lab["text"])
        out[key] = (int(lab["x"]), int(lab["y"]), int(lab["w"]), int(lab["h"]))
    return out


def _keep(previous: PreviousLayout, ids: Sequence[str], groups: list[str],
          rects: dict[str, tuple[int, int, int, int]]) -> np.ndarray:
    """Each item's previous cell when it still lies in its group's rectangle, else -1."""
    cells = np.full(len(ids), -1, dtype=np.int64)
    cols = previous.cols
    for i, (item, key) in enumerate(zip(ids, groups)):
        c = previous.cell_of.get(item)
        if c is None:
            continue
        x, y, w, h = rects[key]
        cx, cy = c % cols, c // cols
        if x <= cx < x + w and y <= cy < y + h:
            cells[i] = c
    return cells


def _place_group(cells: np.ndarray, members: np.ndarray, rect: tuple[int, int, int, int], cols: int,
                 points: np.ndarray) -> str | None:
    """Fill the -1 cells of ``members`` from the rectangle's free cells; a reason when too few."""
    x, y, w, h = rect
    area = np.array([(yy * cols + xx) for yy in range(y, y + h) for xx in range(x, x + w)], dtype=np.int64)
    kept = members[cells[members] >= 0]
    new = members[cells[members] < 0]
    free = np.setdiff1d(area, cells[kept], assume_unique=False)
    if len(free) < len(new):
        return f"{len(new)} new items for {len(free)} free cells"
    fx, fy = free % cols, free // cols
    taken = np.zeros(len(free), dtype=bool)
    for j in new[np.lexsort((points[new, 0], points[new, 1]))]:  # in similarity order (y, then x)
        if len(kept):
            anchor = cells[kept[np.argmin(np.sum((points[kept] - points[j]) ** 2, axis=1))]]
            d = (fx - anchor % cols) ** 2 + (fy - anchor // cols) ** 2
        else:
            d = np.arange(len(free), dtype=np.float64)
        d = np.where(taken, np.inf, d)
        k = int(np.argmin(d))
        taken[k] = True
        cells[j] = free[k]
    return None


def update_layout(previous: PreviousLayout, ids: Sequence[str], groups: list[str],
                  points: np.ndarray) -> Arrangement | str:
    """The previous arrangement with kept items in their cells and the others placed in their
    group's free cells (module docstring), or the reason it cannot be kept (then: reflow)."""
    rects = _rectangles(previous.layout, previous.labels)
    missing = sorted({g for g in groups if g not in rects})
    if missing:
        return f"no band or block for {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''} in the previous layout"
    cells = _keep(previous, ids, groups, rects)
    by_group: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        by_group.setdefault(g, []).append(i)
    for g, members in by_group.items():
        reason = _place_group(cells, np.asarray(members, dtype=np.int64), rects[g], previous.cols, points)
        if reason is not None:
            return f"{g}: {reason}"
    labels = []
    for lab in previous.labels:
        key = f"bin:{lab['year_from']}" if previous.layout == "timeline" and lab.get("kind") == "bin" else str(lab["text"])
        labels.append({**lab, "count": len(by_group.get(key, []))})
    return Arrangement(previous.layout, previous.cols, previous.rows, cells, labels, dict(previous.extra))


def kept_share(previous: PreviousLayout, ids: Sequence[str], cells: np.ndarray) -> tuple[int, int]:
    """(items in the same cell as before, items that were on the previous layout)."""
    same = sum(1 for item, c in zip(ids, cells) if previous.cell_of.get(item) == int(c))
    return same, sum(1 for item in ids if item in previous.cell_of)
