"""Snap a 2-D layout onto a grid: one item per cell, no two items in a cell.

The grid's shape is chosen from N and the cell aspect so the whole mosaic is close to square.
Methods: ``lap`` solves the exact linear assignment of points to cell centres (Jonker-Volgenant,
here through SciPy; n^2 memory, so only up to ``LAP_MAX`` items), ``sorted`` a fast O(N log N)
fallback that fills rows by y, then orders each row by x.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LAP_MAX = 4000


@dataclass
class GridResult:
    cols: int
    rows: int
    cells: np.ndarray  # N int64 flat cell index (row * cols + col)
    method: str


def grid_shape(n: int, cell_w: int, cell_h: int) -> tuple[int, int]:
    """(cols, rows) with cols*rows >= n and cols*cell_w close to rows*cell_h."""
    if n <= 0:
        raise ValueError("a grid needs at least one item")
    cols = max(1, math.ceil(math.sqrt(n * cell_h / cell_w)))
    rows = math.ceil(n / cols)
    return cols, rows


def _normalise(points: np.ndarray, cols: int, rows: int) -> np.ndarray:
    p = points.astype(np.float64)
    lo, hi = p.min(axis=0), p.max(axis=0)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    p = (p - lo) / span
    return p * np.array([cols - 1, rows - 1], dtype=np.float64)


def assign_lap(points: np.ndarray, cols: int, rows: int) -> np.ndarray:
    from scipy.optimize import linear_sum_assignment

    p = _normalise(points, cols, rows)
    cy, cx = np.divmod(np.arange(cols * rows), cols)
    centres = np.stack([cx, cy], axis=1).astype(np.float64)
    cost = ((p[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    _, cell = linear_sum_assignment(cost)
    return cell.astype(np.int64)


def assign_sorted(points: np.ndarray, cols: int, rows: int) -> np.ndarray:
    n = len(points)
    order_y = np.argsort(points[:, 1], kind="stable")
    cells = np.empty(n, np.int64)
    for r in range(rows):
        members = order_y[r * cols : (r + 1) * cols]
        if len(members) == 0:
            break
        by_x = members[np.argsort(points[members, 0], kind="stable")]
        # Centre a short last row instead of leaving its gap at one side.
        offset = (cols - len(by_x)) // 2
        cells[by_x] = r * cols + offset + np.arange(len(by_x))
    return cells


def assign_grid(points: np.ndarray, cell_w: int, cell_h: int, method: str = "auto") -> GridResult:
    n = len(points)
    cols, rows = grid_shape(n, cell_w, cell_h)
    if method == "auto":
        method = "lap" if n <= LAP_MAX else "sorted"
    if method == "lap":
        cells = assign_lap(points, cols, rows)
    elif method == "sorted":
        cells = assign_sorted(points, cols, rows)
    else:
        raise ValueError(f"unknown grid method {method!r}; choose lap or sorted")
    if len(np.unique(cells)) != n:
        raise AssertionError("grid assignment put two items in one cell")
    return GridResult(cols, rows, cells, method)
