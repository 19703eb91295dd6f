// The viewer's extra files beside items.json (docs/outputs.md): regions.json (named
// regions at a few scales), vocabulary.json (which columns are value filters) and
// neighbours.bin ("more like this"), duplicates.json (near-duplicate groups). Each is optional: an older version without them
// still opens, just without that feature.

import { columnKey } from './items.js';

export const REGIONS_FORMAT = 'cviz-regions/1';
export const VOCABULARY_FORMAT = 'cviz-vocabulary/1';
const MAGIC = 0x424e5643; // 'CVNB' read as a little-endian uint32

function fail(file, message) {
  throw new Error(`${file}: ${message}`);
}

/** Validate regions.json against the items; returns {scales:[{name, regions, itemRegion:Int32Array}]}. */
export function decodeRegions(doc, items) {
  if (!doc || doc.format !== REGIONS_FORMAT) fail('regions.json', `unsupported format ${JSON.stringify(doc && doc.format)}`);
  const scales = [];
  for (const s of Array.isArray(doc.scales) ? doc.scales : []) {
    if (!Array.isArray(s.item_region) || s.item_region.length !== items.count) {
      fail('regions.json', `scale ${JSON.stringify(s.name)} has ${s.item_region && s.item_region.length} item entries, expected ${items.count}`);
    }
    const regions = (Array.isArray(s.regions) ? s.regions : [])
      .filter((r) => r && typeof r.name === 'string' && r.name.trim() && Number.isInteger(r.id)
        && Number.isFinite(r.x) && Number.isFinite(r.y))
      .map((r) => ({ id: r.id, name: r.name.trim(), count: Number(r.count) || 0, x: r.x, y: r.y,
        terms: Array.isArray(r.terms) ? r.terms.map(String) : [], source: String(r.source || '') }));
    const ids = new Set(regions.map((r) => r.id));
    const itemRegion = Int32Array.from(s.item_region, (v) => (ids.has(v) ? v : -1));
    // Clusters no term names honestly: their item count only (shown where room is left).
    const unnamed = (Array.isArray(s.unnamed) ? s.unnamed : [])
      .filter((r) => r && Number.isFinite(r.x) && Number.isFinite(r.y) && Number(r.count) > 0)
      .map((r) => ({ count: Number(r.count), x: r.x, y: r.y }));
    scales.push({ name: String(s.name), regions, unnamed, byId: new Map(regions.map((r) => [r.id, r])), itemRegion });
  }
  return { scales };
}

/** Filter columns named by vocabulary.json that exist in the items. */
export function decodeVocabulary(doc, items) {
  if (!doc || doc.format !== VOCABULARY_FORMAT) fail('vocabulary.json', `unsupported format ${JSON.stringify(doc && doc.format)}`);
  const known = new Set(items.columns);
  // CSV column names, as items.js keys them (a column named `id` or `image` is "id (column)").
  const pick = (list) => (Array.isArray(list) ? list : []).filter((c) => typeof c === 'string')
    .map(columnKey).filter((c) => known.has(c));
  return { filterColumns: pick(doc.filter_columns), labelColumns: pick(doc.label_columns) };
}

/**
 * neighbours.bin -> {k, rows: Int32Array (count x k)}. Header: 'CVNB', version 1, N, k
 * (little-endian int32), then N*k int32 item indices, -1 for none.
 */
export function decodeNeighbours(buffer, count) {
  const f = 'neighbours.bin';
  if (!(buffer instanceof ArrayBuffer) || buffer.byteLength < 16) fail(f, 'shorter than its 16-byte header');
  const view = new DataView(buffer);
  if (view.getUint32(0, true) !== MAGIC || view.getInt32(4, true) !== 1) fail(f, 'not a cviz neighbour file');
  const n = view.getInt32(8, true);
  const k = view.getInt32(12, true);
  if (n !== count) fail(f, `${n} rows for ${count} items`);
  if (k < 0 || buffer.byteLength !== 16 + 4 * n * k) fail(f, `${buffer.byteLength} bytes, expected ${16 + 4 * n * k}`);
  const rows = new Int32Array(n * k);
  for (let p = 0; p < n * k; p++) rows[p] = view.getInt32(16 + 4 * p, true); // explicit little-endian
  for (let p = 0; p < rows.length; p++) if (rows[p] < -1 || rows[p] >= n) fail(f, `index ${rows[p]} outside 0..${n - 1}`);
  return { k, rows };
}

/** Neighbours of item i (valid indices only, nearest first). */
export function neighboursOf(nb, i) {
  const out = [];
  for (let p = i * nb.k; p < (i + 1) * nb.k; p++) if (nb.rows[p] !== -1) out.push(nb.rows[p]);
  return out;
}

/**
 * Which scale to label at a zoom: the finest whose typical region is at least
 * `minPx` across on screen (coarse names far out, finer ones closer in); null when
 * cells are so large the photos speak for themselves.
 */
export function scaleForZoom(scales, grid, cellPx, { minPx = 240, maxCellPx = 110 } = {}) {
  if (!scales.length || cellPx > maxCellPx) return null;
  const cells = grid.cols * grid.rows;
  let pick = 0;
  scales.forEach((s, k) => {
    const across = Math.sqrt(cells / Math.max(1, s.regions.length + (s.unnamed ? s.unnamed.length : 0))) * cellPx;
    if (across >= minPx) pick = k;
  });
  return pick;
}

export const DUPLICATES_FORMAT = 'cviz-duplicates/1';

/**
 * duplicates.json -> {groups: number[][], groupOf: Int32Array (group index per item, -1: none)}.
 * Indices outside the items, repeats, and groups left with fewer than two items are dropped.
 */
export function decodeDuplicates(doc, items) {
  if (!doc || doc.format !== DUPLICATES_FORMAT) fail('duplicates.json', `unsupported format ${JSON.stringify(doc && doc.format)}`);
  const groupOf = new Int32Array(items.count).fill(-1);
  const groups = [];
  for (const g of Array.isArray(doc.groups) ? doc.groups : []) {
    if (!Array.isArray(g)) continue;
    const members = [...new Set(g)].filter((i) => Number.isInteger(i) && i >= 0 && i < items.count && groupOf[i] === -1);
    if (members.length < 2) continue;
    for (const i of members) groupOf[i] = groups.length;
    groups.push(members);
  }
  return { groups, groupOf };
}

/** The other items of item i's near-duplicate group (none: []). */
export function duplicatesOf(dups, i) {
  const g = dups ? dups.groupOf[i] : -1;
  return g >= 0 ? dups.groups[g].filter((j) => j !== i) : [];
}
