// Layouts (issue 16): the same items arranged on other grids (timeline, category), each
// with its own Deep Zoom pyramid and a layout.json (format cviz-layout/1, docs/outputs.md).
//
// Everything the map does per cell goes through one "layout" object:
//   {name, grid, cellToItem, itemToCell, labels}
// The similarity map's comes from items.json; the others from their layout.json. This module
// is the pure part: decoding and checking layout.json against items.json (including the
// items_sha256 pairing), the cell nearest a point, and where the timeline's axis labels and
// the category headings go on screen (with collision skipping). No DOM here: unit-tested.

export const LAYOUT_FORMAT = 'cviz-layout/1';
export const LAYOUT_NAMES = ['similarity', 'timeline', 'category'];
export const LAYOUT_TITLES = { similarity: 'Similarity', timeline: 'Timeline', category: 'Category' };

// ---- items_sha256 ------------------------------------------------------------------

/**
 * The text Python's `json.dumps(value)` writes with its defaults (ensure_ascii=True,
 * separators ', ' and ': '), for what an id list holds (strings, integers, null, booleans).
 * Non-ASCII becomes \uXXXX (lower-case hex) per UTF-16 unit, as CPython's encoder does.
 */
export function pythonJsonDumps(value) {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') {
    if (Number.isInteger(value)) return String(value);
    throw new Error(`cannot hash the number ${value} as Python would write it`);
  }
  if (Array.isArray(value)) return `[${value.map(pythonJsonDumps).join(', ')}]`;
  if (typeof value !== 'string') throw new Error(`cannot hash a ${typeof value}`);
  let out = '"';
  for (let k = 0; k < value.length; k++) {
    const c = value.charCodeAt(k);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c === 0x08) out += '\\b';
    else if (c === 0x0c) out += '\\f';
    else if (c < 0x20 || c > 0x7e) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += value[k];
  }
  return `${out}"`;
}

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/**
 * SHA-256 (FIPS 180-4) of a string's UTF-8 bytes, as lower-case hex. Plain JS rather than
 * crypto.subtle, which exists only in secure contexts (a static host on plain http has none);
 * 13,000 ids (about 300 KB) hash in a few milliseconds.
 */
export function sha256Hex(text) {
  const data = new TextEncoder().encode(text);
  const nBlocks = Math.ceil((data.length + 9) / 64);
  const buf = new Uint8Array(nBlocks * 64);
  buf.set(data);
  buf[data.length] = 0x80;
  const view = new DataView(buf.buffer);
  const bits = data.length * 8;
  view.setUint32(buf.length - 8, Math.floor(bits / 0x100000000));
  view.setUint32(buf.length - 4, bits >>> 0);
  const h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  const w = new Uint32Array(64);
  for (let b = 0; b < nBlocks; b++) {
    for (let t = 0; t < 16; t++) w[t] = view.getUint32(b * 64 + t * 4);
    for (let t = 16; t < 64; t++) {
      const x = w[t - 15]; const y = w[t - 2];
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[t] = (w[t - 16] + s0 + w[t - 7] + s1) >>> 0;
    }
    let [a, bb, c, d, e, f, g, hh] = h;
    for (let t = 0; t < 64; t++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (hh + S1 + ch + K[t] + w[t]) >>> 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & bb) ^ (a & c) ^ (bb & c);
      const t2 = (S0 + maj) >>> 0;
      hh = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = bb; bb = a; a = (t1 + t2) >>> 0;
    }
    h[0] += a; h[1] += bb; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
  }
  return [...h].map((v) => v.toString(16).padStart(8, '0')).join('');
}

/** items_sha256 of a decoded items.json: the hash of its fields.id list as Python dumps it. */
export function itemsSha256(items) {
  return sha256Hex(pythonJsonDumps([...items.fields.id]));
}

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

// ---- labels on screen --------------------------------------------------------------------

export const LABEL_H = 22;
export const LABEL_PAD_X = 16; // CSS padding + border, both sides (app.css .layout-label)
const GAP = 6;

/** Screen rectangle (element px) of a label's cells. `t`: {x0, y0, scale} grid px -> element px. */
function screenRect(l, grid, t) {
  const x0 = t.x0 + l.x * grid.cellWidth * t.scale;
  const y0 = t.y0 + l.y * grid.cellHeight * t.scale;
  return { x0, y0, x1: x0 + l.w * grid.cellWidth * t.scale, y1: y0 + l.h * grid.cellHeight * t.scale };
}

const overlaps = (a, b, gap = 0) => a.x0 < b.x1 + gap && b.x0 < a.x1 + gap && a.y0 < b.y1 + gap && b.y0 < a.y1 + gap;
const clamp = (v, lo, hi) => (hi < lo ? lo : Math.max(lo, Math.min(hi, v)));

/**
 * Axis labels (timeline bins and the undated block) vs headings (category blocks). In a
 * timeline every label is on the axis: the pipeline writes the undated block as
 * `"kind": "block"` (layout-contract-changes.md, 01:05), other writers as `"undated"`.
 */
export function isAxisLabel(l, layoutName = null) {
  return l.kind === 'bin' || l.kind === 'undated' || layoutName === 'timeline';
}

/**
 * Texts to try for an axis label, longest first: "1920-1929", then "1920" (a bin's first
 * year); the undated block: "undated · 12", then "undated".
 */
export function axisTexts(l) {
  if (l.kind !== 'bin') return l.count === null ? [l.text] : [headingText(l), l.text];
  const out = [l.text];
  if (l.yearFrom !== null && String(l.yearFrom) !== l.text) out.push(String(l.yearFrom));
  return out;
}

/** A category heading: the value and its count ("Paintings · 37"). */
export function headingText(l) {
  return l.count === null ? l.text : `${l.text} · ${l.count.toLocaleString('en')}`;
}

/**
 * Where the timeline's axis labels go this frame. Each sits at the centre of its band's visible
 * part (so a band wider than the view keeps its label mid-view), above the band or pinned
 * to the top of the view while the band continues below, so the axis is on screen at
 * every zoom. A band narrower than the full text ("1920-1929") shows the first year only;
 * labels that would still collide are skipped at a regular stride (every 2nd, 3rd, ... bin, by
 * their unclamped positions so the choice does not flicker while panning; a skipped label
 * with room beside a wider band comes back), then any label
 * left touching another or an obstacle (navigator, controls) is dropped.
 * @param {Array} labels decoded axis labels in bin order
 * @param {(text:string) => number} measure text width in CSS px
 * @param {{x:number, y:number}} size the map's size in CSS px
 * @param {Array<{x0,y0,x1,y1}>} obstacles element-px rectangles to keep clear
 * @returns {Array<{label, text, x, y, w, h}>} the labels to show (element px, top-left corner)
 */
export function placeAxisLabels(labels, grid, t, size, measure, { obstacles = [], top = 4 } = {}) {
  if (!t || !labels.length) return [];
  const boxes = labels.map((l) => {
    const r = screenRect(l, grid, t);
    const bandW = r.x1 - r.x0;
    const texts = axisTexts(l);
    let text = texts[texts.length - 1];
    for (const s of texts) if (measure(s) + LABEL_PAD_X <= bandW - 2) { text = s; break; }
    const w = Math.ceil(measure(text)) + LABEL_PAD_X;
    const cx = (r.x0 + r.x1) / 2;
    return { l, r, text, w, cx };
  });
  // Regular skipping, from positions that only depend on the zoom.
  const order = boxes.map((b, k) => k).sort((a, b) => boxes[a].cx - boxes[b].cx);
  let stride = 1;
  for (; stride < order.length; stride++) {
    let ok = true;
    let prevRight = -Infinity;
    for (let k = 0; k < order.length; k += stride) {
      const b = boxes[order[k]];
      if (b.cx - b.w / 2 < prevRight + GAP) { ok = false; break; }
      prevRight = b.cx + b.w / 2;
    }
    if (ok) break;
  }
  const kept = new Set(order.filter((_, k) => k % stride === 0));
  // Bands of uneven width: a skipped label that has room between its kept neighbours comes back.
  const span = (k) => ({ x0: boxes[k].cx - boxes[k].w / 2, x1: boxes[k].cx + boxes[k].w / 2 });
  const keptSpans = [...kept].map(span);
  for (const k of order) {
    if (kept.has(k)) continue;
    const a = span(k);
    if (keptSpans.every((b) => a.x1 + GAP <= b.x0 || b.x1 + GAP <= a.x0)) { kept.add(k); keptSpans.push(a); }
  }
  // The undated block is always worth naming: it replaces a colliding bin label, not the other way.
  const undated = (l) => l.kind !== 'bin';
  for (const k of order) if (undated(boxes[k].l)) kept.add(k);
  const W = size.x; const H = size.y;
  const placed = [];
  const out = [];
  const undatedFirst = [...kept].sort((a, b) => undated(boxes[b].l) - undated(boxes[a].l) || boxes[a].cx - boxes[b].cx);
  // Then the skipped ones, each only in its own first free row: one pushed aside by the
  // navigator can leave room for a neighbour, but the axis never grows a second row of them.
  const rest = order.filter((k) => !kept.has(k));
  for (const k of [...undatedFirst, ...rest]) {
    const second = !kept.has(k);
    const { l, r, text, w } = boxes[k];
    if (r.x1 <= 0 || r.x0 >= W || r.y1 <= 0 || r.y0 >= H) continue; // band off screen
    // Centred on the band's visible part: a band wider than the view keeps its label mid-view.
    const vx0 = Math.max(r.x0, 0); const vx1 = Math.min(r.x1, W);
    const x = clamp((vx0 + vx1) / 2 - w / 2, vx0 + 2, vx1 - w - 2);
    // Above the band while there is room (photos stay uncovered), else pinned inside its top;
    // where the navigator (or another obstacle) is in the way, the other of the two, then just
    // below the obstacle (a phone's floating switcher), then below the band.
    const above = r.y0 - LABEL_H - 4;
    const inside = clamp(r.y0 + 4, top, Math.min(r.y1, H) - LABEL_H - 4);
    const bandBottom = Math.min(r.y1, H) - LABEL_H - 4;
    const underObstacles = obstacles.map((o) => o.y1 + 4).filter((y) => y > inside && y <= bandBottom).sort((a, b) => a - b);
    const candidates = [...(above >= top ? [above] : []), inside, ...underObstacles, r.y1 + 4];
    for (const y of candidates) {
      const box = { x0: x, y0: y, x1: x + w, y1: y + LABEL_H };
      if (box.x1 <= 0 || box.x0 >= W || box.y0 < 0 || box.y1 > H) continue;
      if (obstacles.some((o) => overlaps(o, box))) continue;
      if (placed.some((p) => overlaps(p, box, GAP))) { if (second) break; continue; }
      placed.push(box);
      out.push({ label: l, text, x, y, w, h: LABEL_H });
      break;
    }
  }
  return out.sort((a, b) => a.x - b.x);
}

/**
 * Where the category headings go this frame: the value and count at the block's top-left, in
 * the empty cell row the pipeline leaves above each block while that row is on screen (photos
 * stay uncovered; a heading bigger than the row overhangs upwards, and one wider than a narrow
 * block runs on into the empty row while it touches no other heading), else pinned to the top
 * of the view inside the block while the block continues past its edge, cut to the block's
 * width (an ellipsis; the node keeps the full text for screen readers). Where headings overlap, the larger
 * block's wins; a block with neither room gets none.
 * @returns {Array<{label, text, x, y, w, h, cut:boolean}>}
 */
export function placeHeadings(labels, grid, t, size, measure, { obstacles = [], top = 4, minWidth = 44 } = {}) {
  if (!t || !labels.length) return [];
  const W = size.x; const H = size.y;
  const byCount = [...labels].sort((a, b) => (b.count ?? 0) - (a.count ?? 0) || b.w * b.h - a.w * a.h);
  // Two passes: every block's heading within its own block first (cut to its width), then,
  // in the empty row above, a heading grows to its full text past a narrow block while it
  // touches no other: so a long heading never takes a smaller neighbour's place, and a block
  // of one photo still gets its name where there is room.
  const plans = [];
  for (const l of byCount) {
    const r = screenRect(l, grid, t);
    if (r.x1 <= 0 || r.x0 >= W || r.y1 <= 0 || r.y0 >= H) continue;
    const visibleW = Math.min(r.x1, W) - Math.max(r.x0, 0);
    const text = headingText(l);
    const full = Math.ceil(measure(text)) + LABEL_PAD_X;
    const cut = Math.min(full, visibleW - 4);
    const above = r.y0 - LABEL_H - 2;
    plans.push({ l, r, text, full, cut, above, box: null, w: 0 });
  }
  const placed = [];
  const free = (box, self = null) => box.x0 >= 0 && box.x1 <= W && box.y1 <= H
    && !placed.some((p) => p !== self && overlaps(p, box, 2)) && !obstacles.some((o) => overlaps(o, box));
  for (const p of plans) {
    const { r, cut, above } = p;
    if (cut < minWidth || Math.min(r.y1, H) - Math.max(r.y0, 0) < LABEL_H + 4) continue;
    const y = above >= top ? above : clamp(top, top, Math.min(r.y1, H) - LABEL_H - 4);
    const x = clamp(r.x0 + 4, 2, Math.min(r.x1, W) - cut - 2);
    const box = { x0: x, y0: y, x1: x + cut, y1: y + LABEL_H };
    if (free(box)) { placed.push(box); p.box = box; p.w = cut; }
  }
  for (const p of plans) {
    if (p.above < top || (p.box && p.w >= p.full)) continue;
    const x = clamp(p.r.x0 + 4, 2, W - p.full - 2);
    const box = { x0: x, y0: p.above, x1: x + p.full, y1: p.above + LABEL_H };
    if (!free(box, p.box)) continue;
    if (p.box) placed.splice(placed.indexOf(p.box), 1, box); else placed.push(box);
    p.box = box; p.w = p.full;
  }
  const out = [];
  for (const p of plans) {
    if (p.box) out.push({ label: p.l, text: p.text, x: p.box.x0, y: p.box.y0, w: p.w, h: LABEL_H, cut: p.w < p.full });
  }
  return out;
}
