// Geometry of the cell grid: image pixels <-> cells, and keyboard neighbours.
// Cell (col, row) covers mosaic pixels [col*cw, (col+1)*cw) x [row*ch, (row+1)*ch).

/** Flat cell index under image pixel (x, y), or -1 outside the grid. */
export function cellAt(grid, x, y) {
  if (!(x >= 0 && y >= 0)) return -1; // also rejects NaN
  const col = Math.floor(x / grid.cellWidth);
  const row = Math.floor(y / grid.cellHeight);
  if (col >= grid.cols || row >= grid.rows) return -1;
  return row * grid.cols + col;
}

/** Image-pixel rectangle {x, y, width, height} of a flat cell index. */
export function cellRect(grid, cell) {
  const col = cell % grid.cols;
  const row = Math.floor(cell / grid.cols);
  return { x: col * grid.cellWidth, y: row * grid.cellHeight, width: grid.cellWidth, height: grid.cellHeight };
}

/**
 * The cell reached from `cell` by an arrow key, skipping empty cells.
 * - left/right walk in reading order (wrapping to the previous/next row), so every
 *   item is reachable by holding one key;
 * - up/down go to the nearest row in that direction holding any item, and within
 *   it to the item whose column is closest (ties go left), so the cursor keeps its
 *   horizontal position across ragged rows.
 * Returns `cell` itself when there is nowhere to go.
 * @param {Int32Array} cellToItem item index per cell, -1 for empty
 */
export function neighbourCell(grid, cellToItem, cell, direction) {
  const { cols, rows } = grid;
  const n = cols * rows;
  if (direction === 'right' || direction === 'left') {
    const step = direction === 'right' ? 1 : -1;
    for (let c = cell + step; c >= 0 && c < n; c += step) {
      if (cellToItem[c] !== -1) return c;
    }
    return cell;
  }
  if (direction === 'down' || direction === 'up') {
    const step = direction === 'down' ? 1 : -1;
    const col0 = cell % cols;
    for (let r = Math.floor(cell / cols) + step; r >= 0 && r < rows; r += step) {
      for (let d = 0; d < cols; d++) {
        for (const col of d === 0 ? [col0] : [col0 - d, col0 + d]) {
          if (col >= 0 && col < cols && cellToItem[r * cols + col] !== -1) return r * cols + col;
        }
      }
    }
    return cell;
  }
  return cell;
}
