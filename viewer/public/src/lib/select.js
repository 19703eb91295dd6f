// Which cells a rectangle or lasso drawn on the map covers (grid-pixel coordinates).
// A cell is in when its centre is inside the shape.

/** Items (indices) whose cell centre lies in the rectangle spanned by two points. */
export function itemsInRect(grid, cellToItem, a, b) {
  const x0 = Math.min(a.x, b.x); const x1 = Math.max(a.x, b.x);
  const y0 = Math.min(a.y, b.y); const y1 = Math.max(a.y, b.y);
  const c0 = Math.max(0, Math.ceil(x0 / grid.cellWidth - 0.5));
  const c1 = Math.min(grid.cols - 1, Math.floor(x1 / grid.cellWidth - 0.5));
  const r0 = Math.max(0, Math.ceil(y0 / grid.cellHeight - 0.5));
  const r1 = Math.min(grid.rows - 1, Math.floor(y1 / grid.cellHeight - 0.5));
  const out = [];
  for (let r = r0; r <= r1; r++) {
    for (let c = c0; c <= c1; c++) {
      const i = cellToItem[r * grid.cols + c];
      if (i !== -1) out.push(i);
    }
  }
  return out;
}

/** Even-odd rule point-in-polygon (ray casting). */
export function insidePolygon(poly, x, y) {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const a = poly[i]; const b = poly[j];
    if ((a.y > y) !== (b.y > y) && x < ((b.x - a.x) * (y - a.y)) / (b.y - a.y) + a.x) inside = !inside;
  }
  return inside;
}

/** Items whose cell centre lies inside the closed polygon `poly` ([{x, y}], grid pixels). */
export function itemsInLasso(grid, cellToItem, poly) {
  if (poly.length < 3) return [];
  const xs = poly.map((p) => p.x); const ys = poly.map((p) => p.y);
  const out = [];
  const c0 = Math.max(0, Math.floor(Math.min(...xs) / grid.cellWidth));
  const c1 = Math.min(grid.cols - 1, Math.floor(Math.max(...xs) / grid.cellWidth));
  const r0 = Math.max(0, Math.floor(Math.min(...ys) / grid.cellHeight));
  const r1 = Math.min(grid.rows - 1, Math.floor(Math.max(...ys) / grid.cellHeight));
  for (let r = r0; r <= r1; r++) {
    for (let c = c0; c <= c1; c++) {
      const i = cellToItem[r * grid.cols + c];
      if (i !== -1 && insidePolygon(poly, (c + 0.5) * grid.cellWidth, (r + 0.5) * grid.cellHeight)) out.push(i);
    }
  }
  return out;
}
