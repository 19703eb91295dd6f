// Layouts (issue 16): the same items arranged on other grids (timeline, category), each
// with its own Deep Zoom pyramid and a layout.json (format cviz-layout/1, docs/outputs.md).
//
// Everything the map does per cell goes through one "layout" object:
//   {name, grid, cellToItem, itemToCell, labels}
// The similarity map's comes from items.json; the others from their layout.json. This module
// is the pure part: decoding and checking layout.json against items.json (including the
// items_sha256 pairing, sha256.js), the cell nearest a point, and what the page says when it
// refuses a layout. Where the timeline's axis labels and the category headings go on screen is
// label-placement.js (re-exported here). No DOM here: unit-tested.

export const LAYOUT_FORMAT = 'cviz-layout/1';
export const LAYOUT_NAMES = ['similarity', 'timeline', 'category'];
export const LAYOUT_TITLES = { similarity: 'Similarity', timeline: 'Timeline', category: 'Category' };

export { pythonJsonDumps, sha256Hex, itemsSha256 } from './sha256.js';
export {
  LABEL_H, LABEL_PAD_X, isAxisLabel, axisTexts, headingText, placeAxisLabels, placeHeadings,
} from './label-placement.js';

// ---- decoding ------------------------------------------------------------------------

function fail(name, message) {
  const err = new Error(`layout.json (${name}): ${message}`);
  err.layout = name;
  throw err;
}

function positiveInt(name, value, field) {
  if (!Number.isInteger(value) || value <= 0) fail(name, `grid.${field} must be a positive integer`);
  return value;
}

/** The similarity map as a layout: items.json's own grid and cells. */
export function similarityLayout(items) {
  return { name: 'similarity', grid: items.grid, cellToItem: items.cellToItem, itemToCell: items.itemToCell, labels: [] };
}

/**
 * Validate a parsed layout.json against the decoded items and build its lookups.
 * `sha` is itemsSha256(items) (passed in: computed once per page). Throws an Error naming
 * the layout and the field; a hash mismatch sets `err.mismatch = true` (built from another
 * item list: the page says so and stays where it is).
 */
export function decodeLayout(doc, items, name, sha) {
  if (!doc || typeof doc !== 'object') fail(name, 'not a JSON object');
  if (doc.format !== LAYOUT_FORMAT) fail(name, `unsupported format ${JSON.stringify(doc.format)}`);
  if (doc.layout !== name) fail(name, `says it is the ${JSON.stringify(doc.layout)} layout`);
  if (doc.items_sha256 !== sha) {
    const err = new Error(`layout.json (${name}): built from another item list than this map (items_sha256 differs)`);
    err.layout = name;
    err.mismatch = true;
    throw err;
  }
  const g = doc.grid || fail(name, 'missing grid');
  const grid = {
    cols: positiveInt(name, g.cols, 'cols'),
    rows: positiveInt(name, g.rows, 'rows'),
    cellWidth: positiveInt(name, g.cell_width, 'cell_width'),
    cellHeight: positiveInt(name, g.cell_height, 'cell_height'),
  };
  grid.width = Number.isInteger(g.width) ? g.width : grid.cols * grid.cellWidth;
  grid.height = Number.isInteger(g.height) ? g.height : grid.rows * grid.cellHeight;
  const cells = doc.cells;
  if (!Array.isArray(cells)) fail(name, 'missing cells');
  if (cells.length !== items.count) fail(name, `cells has ${cells.length} entries, expected ${items.count}`);
  const nCells = grid.cols * grid.rows;
  const cellToItem = new Int32Array(nCells).fill(-1);
  const itemToCell = new Int32Array(items.count);
  for (let i = 0; i < cells.length; i++) {
    const c = cells[i];
    if (!Number.isInteger(c) || c < 0 || c >= nCells) fail(name, `item ${i} has cell ${JSON.stringify(c)} outside the ${grid.cols}x${grid.rows} grid`);
    if (cellToItem[c] !== -1) fail(name, `cell ${c} holds items ${cellToItem[c]} and ${i}`);
    cellToItem[c] = i;
    itemToCell[i] = c;
  }
  const labels = (Array.isArray(doc.labels) ? doc.labels : [])
    .filter((l) => l && typeof l.text === 'string' && l.text.trim()
      && [l.x, l.y, l.w, l.h].every(Number.isFinite) && l.w > 0 && l.h > 0)
    .map((l) => ({
      text: l.text.trim(), count: Number.isFinite(l.count) ? l.count : null, kind: String(l.kind || 'block'),
      yearFrom: Number.isFinite(l.year_from) ? l.year_from : null, yearTo: Number.isFinite(l.year_to) ? l.year_to : null,
      x: l.x, y: l.y, w: l.w, h: l.h,
    }));
  return {
    name, grid, cellToItem, itemToCell, labels,
    binYears: Number.isFinite(doc.bin_years) ? doc.bin_years : null,
    column: typeof doc.column === 'string' ? doc.column : null,
  };
}

/**
 * The layouts current.json offers: [{name, dzi, layout}] (paths as written, relative to the
 * collection folder), in LAYOUT_NAMES order, similarity first. Entries without both paths, and
 * names the viewer does not know, are left out (a newer pipeline may add more).
 */
export function offeredLayouts(current) {
  const out = [{ name: 'similarity', dzi: current.dzi, layout: null }];
  const listed = current && current.layouts && typeof current.layouts === 'object' ? current.layouts : {};
  for (const name of LAYOUT_NAMES.slice(1)) {
    const e = Object.hasOwn(listed, name) ? listed[name] : null;
    if (e && typeof e.dzi === 'string' && typeof e.layout === 'string') out.push({ name, dzi: e.dzi, layout: e.layout });
  }
  return out;
}

// ---- geometry ------------------------------------------------------------------------

/**
 * The item cell nearest grid-pixel point (x, y) (by distance between cell centres, in cells),
 * or -1 when the layout holds no item. Searches rings outwards from the cell under the point
 * (clamped into the grid), so a point over a gap or outside the map still finds an item.
 */
export function nearestItemCell(grid, cellToItem, x, y) {
  const { cols, rows } = grid;
  const fc = Math.min(cols - 1, Math.max(0, Math.floor(x / grid.cellWidth)));
  const fr = Math.min(rows - 1, Math.max(0, Math.floor(y / grid.cellHeight)));
  const px = x / grid.cellWidth - 0.5; const py = y / grid.cellHeight - 0.5;
  let best = -1; let bestD = Infinity;
  for (let ring = 0; ring < Math.max(cols, rows); ring++) {
    // Every cell at Chebyshev distance `ring`; once one is found, one more ring can still be nearer.
    for (let r = fr - ring; r <= fr + ring; r++) {
      if (r < 0 || r >= rows) continue;
      const edge = r === fr - ring || r === fr + ring;
      for (let c = fc - ring; c <= fc + ring; c += edge ? 1 : 2 * ring) {
        if (c < 0 || c >= cols) { if (!edge && ring === 0) break; continue; }
        const cell = r * cols + c;
        if (cellToItem[cell] === -1) continue;
        const d = (c - px) ** 2 + (r - py) ** 2;
        if (d < bestD) { bestD = d; best = cell; }
      }
    }
    if (best !== -1 && ring >= 1 && (ring - 1) ** 2 > bestD) break;
  }
  return best;
}

/** What the page says when it will not show a layout (and stays where it is). `err` from decodeLayout or a load. */
export function layoutRefusal(name, err) {
  const title = LAYOUT_TITLES[name] || name;
  if (err.mismatch) return `The ${title.toLowerCase()} layout was built from another item list than this map; showing the similarity map.`;
  return `Could not load the ${title.toLowerCase()} layout (${err.message}).`;
}
