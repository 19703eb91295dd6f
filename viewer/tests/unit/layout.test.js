import test from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  pythonJsonDumps, sha256Hex, itemsSha256, decodeLayout, similarityLayout, offeredLayouts, nearestItemCell,
  placeAxisLabels, placeHeadings, axisTexts, headingText, isAxisLabel, LABEL_H,
} from '../../public/src/lib/layout.js';
import { parseViewHash, viewHash } from '../../public/src/lib/url.js';
import { decodeItems } from '../../public/src/lib/items.js';
import { sampleDoc } from './helpers.js';

// Expected texts and hashes below were written by CPython 3.11's json.dumps + hashlib.sha256
// (the layouts pipeline's own definition of items_sha256), not by the code under test.
test('ids are dumped exactly as Python json.dumps writes them', () => {
  assert.equal(pythonJsonDumps(['a.jpg', 'b.jpg']), '["a.jpg", "b.jpg"]');
  assert.equal(
    pythonJsonDumps(['sub dir/é #5.jpg', 'tab\there', 'quote"back\\', 'del\x7f', 'emoji😀', 'ctl\x01']),
    '["sub dir/\\u00e9 #5.jpg", "tab\\there", "quote\\"back\\\\", "del\\u007f", "emoji\\ud83d\\ude00", "ctl\\u0001"]',
  );
  assert.equal(pythonJsonDumps([1, null, true]), '[1, null, true]');
  assert.throws(() => pythonJsonDumps([1.5]), /as Python would write/);
});

test('sha256 matches node:crypto on block boundaries, non-ASCII and a 300 KB id list', () => {
  const cases = ['', 'abc', 'a'.repeat(55), 'a'.repeat(56), 'a'.repeat(64), 'é😀'.repeat(40)];
  const ids = Array.from({ length: 13000 }, (_, i) => `photos/${String(i).padStart(6, '0')}_étude.jpg`);
  cases.push(pythonJsonDumps(ids));
  for (const text of cases) assert.equal(sha256Hex(text), createHash('sha256').update(text, 'utf8').digest('hex'), text.slice(0, 20));
});

test('items_sha256 equals the Python hash of the id list', () => {
  assert.equal(sha256Hex('["a.jpg", "b.jpg"]'), '686f8ec5c3c42df82b8760d24b5a19791d20ca0ed7ed6cd66b03e55053f2d4c7');
  assert.equal(
    sha256Hex(pythonJsonDumps(['sub dir/é #5.jpg', 'tab\there', 'quote"back\\', 'del\x7f', 'emoji😀', 'ctl\x01'])),
    'ba2c2a353616e7c3082342c361ee62d809065981a6511ff4e97cad8f94d2397a',
  );
  const items = decodeItems(sampleDoc());
  assert.equal(itemsSha256(items), 'de8ff58e0ed471ff8d0c28616b031066b7424f6e5b2661b97f5b2163a5a84466');
});

// ---- layout.json decoding

const SHA = 'de8ff58e0ed471ff8d0c28616b031066b7424f6e5b2661b97f5b2163a5a84466';

function layoutDoc(over = {}) {
  return {
    format: 'cviz-layout/1', layout: 'timeline', collection: 'unit', items_sha256: SHA,
    grid: { cols: 3, rows: 2, cell_width: 10, cell_height: 10, width: 30, height: 20 },
    dzi: 'map.dzi',
    cells: [0, 3, 1, 4, 5],
    labels: [
      { text: '1700-1749', count: 2, kind: 'bin', year_from: 1700, year_to: 1749, x: 0, y: 0, w: 1, h: 2 },
      { text: '1850-1899', count: 2, kind: 'bin', year_from: 1850, year_to: 1899, x: 1, y: 0, w: 1, h: 2 },
      { text: 'undated', count: 1, kind: 'undated', x: 2, y: 0, w: 1, h: 2 },
      { text: '', x: 0, y: 0, w: 1, h: 1 }, { text: 'no box' }, null,
    ],
    bin_years: 50, column: 'date', ...over,
  };
}

test('a layout maps every item to its own cell and back', () => {
  const items = decodeItems(sampleDoc());
  const l = decodeLayout(layoutDoc(), items, 'timeline', SHA);
  assert.equal(l.name, 'timeline');
  assert.deepEqual([...l.itemToCell], [0, 3, 1, 4, 5]);
  assert.deepEqual([...l.cellToItem], [0, 2, -1, 1, 3, 4]);
  assert.equal(l.grid.cols, 3);
  assert.equal(l.grid.cellWidth, 10);
  assert.equal(l.labels.length, 3, 'malformed labels are left out');
  assert.deepEqual(l.labels.map((x) => x.kind), ['bin', 'bin', 'undated']);
  assert.equal(l.labels[0].yearFrom, 1700);
  assert.equal(l.binYears, 50);
  // The similarity layout is items.json's own grid.
  const s = similarityLayout(items);
  assert.equal(s.name, 'similarity');
  assert.equal(s.cellToItem, items.cellToItem);
  assert.equal(s.itemToCell[4], 11);
});

test('a layout from another item list is refused as a mismatch', () => {
  const items = decodeItems(sampleDoc());
  const err = (() => { try { decodeLayout(layoutDoc({ items_sha256: 'f'.repeat(64) }), items, 'timeline', SHA); } catch (e) { return e; } return null; })();
  assert.ok(err && err.mismatch, 'mismatch flagged');
  assert.match(err.message, /another item list/);
  assert.match(err.message, /timeline/);
});

test('malformed layouts name the layout and the field', () => {
  const items = decodeItems(sampleDoc());
  const bad = (over, re, name = 'timeline') => assert.throws(() => decodeLayout(layoutDoc(over), items, name, SHA), re);
  bad({ format: 'cviz-layout/9' }, /\(timeline\): unsupported format/);
  bad({}, /says it is the "timeline" layout/, 'category');
  bad({ cells: [0, 1, 2] }, /cells has 3 entries, expected 5/);
  bad({ cells: [0, 1, 2, 3, 6] }, /item 4 has cell 6 outside the 3x2 grid/);
  bad({ cells: [0, 1, 2, 3, 1.5] }, /item 4 has cell 1.5/);
  bad({ cells: [0, 1, 2, 3, 1] }, /cell 1 holds items 1 and 4/);
  bad({ grid: { cols: 0, rows: 2, cell_width: 10, cell_height: 10 } }, /grid.cols must be a positive integer/);
  bad({ cells: undefined }, /missing cells/);
  assert.throws(() => decodeLayout(null, items, 'category', SHA), /\(category\): not a JSON object/);
});

test('only the layouts current.json lists (with both paths) are offered, similarity first', () => {
  const base = { dzi: 'v1/map.dzi', items: 'v1/items.json' };
  assert.deepEqual(offeredLayouts(base).map((e) => e.name), ['similarity']);
  assert.deepEqual(offeredLayouts({ ...base, layouts: {} }).map((e) => e.name), ['similarity']);
  const some = offeredLayouts({ ...base, layouts: { category: { dzi: 'layouts/category/v2/map.dzi', layout: 'layouts/category/v2/layout.json' } } });
  assert.deepEqual(some.map((e) => e.name), ['similarity', 'category']);
  assert.equal(some[0].dzi, 'v1/map.dzi');
  assert.equal(some[1].layout, 'layouts/category/v2/layout.json');
  const odd = offeredLayouts({ ...base, layouts: JSON.parse('{"timeline": {"dzi": "x"}, "__proto__": {"dzi": "a", "layout": "b"}, "mosaic": {"dzi": "a", "layout": "b"}, "similarity": {"dzi": "a", "layout": "b"}}') });
  assert.deepEqual(odd.map((e) => e.name), ['similarity'], 'incomplete, unknown and duplicate entries are left out');
  assert.equal(odd[0].dzi, 'v1/map.dzi');
});

// ---- geometry

function bruteNearest(grid, cellToItem, x, y) {
  let best = -1; let bestD = Infinity;
  for (let c = 0; c < cellToItem.length; c++) {
    if (cellToItem[c] === -1) continue;
    const d = ((c % grid.cols) + 0.5 - x / grid.cellWidth) ** 2 + (Math.floor(c / grid.cols) + 0.5 - y / grid.cellHeight) ** 2;
    if (d < bestD - 1e-12) { bestD = d; best = c; }
  }
  return { best, bestD };
}

test('the item nearest a point: under it, across a gap, from outside the map', () => {
  const grid = { cols: 4, rows: 3, cellWidth: 10, cellHeight: 10 };
  const c2i = Int32Array.from([0, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 1]);
  assert.equal(nearestItemCell(grid, c2i, 5, 5), 0);
  assert.equal(nearestItemCell(grid, c2i, 38, 28), 11);
  assert.equal(nearestItemCell(grid, c2i, 31, 12), 11, 'over an empty cell');
  assert.equal(nearestItemCell(grid, c2i, -50, -50), 0, 'outside the grid');
  assert.equal(nearestItemCell(grid, new Int32Array(12).fill(-1), 5, 5), -1);
  // Against a brute force search on random sparse grids (distance ties may pick either cell).
  let seed = 7;
  const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
  for (let trial = 0; trial < 200; trial++) {
    const g = { cols: 1 + Math.floor(rnd() * 12), rows: 1 + Math.floor(rnd() * 9), cellWidth: 8, cellHeight: 8 };
    const cells = Int32Array.from({ length: g.cols * g.rows }, () => (rnd() < 0.15 ? 1 : -1));
    const x = rnd() * g.cols * 8; const y = rnd() * g.rows * 8;
    const got = nearestItemCell(g, cells, x, y);
    const { best, bestD } = bruteNearest(g, cells, x, y);
    if (best === -1) { assert.equal(got, -1); continue; }
    const d = ((got % g.cols) + 0.5 - x / 8) ** 2 + (Math.floor(got / g.cols) + 0.5 - y / 8) ** 2;
    assert.ok(Math.abs(d - bestD) < 1e-9, `trial ${trial}: got cell ${got} (d ${d}), nearest ${best} (d ${bestD})`);
  }
});

// ---- labels on screen

const measure = (text) => 7 * text.length; // a fixed-pitch stand-in for canvas measureText
const overlap = (a, b) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

function bins(n, w = 1, h = 8) {
  const out = [];
  for (let k = 0; k < n; k++) {
    out.push({ text: `${1700 + 10 * k}-${1709 + 10 * k}`, count: 3, kind: 'bin', yearFrom: 1700 + 10 * k, yearTo: 1709 + 10 * k, x: k * w, y: 0, w, h });
  }
  return out;
}

test('axis labels: full text where the band is wide enough, the first year where not', () => {
  const grid = { cols: 10, rows: 8, cellWidth: 100, cellHeight: 100 };
  const labels = bins(10);
  // Cells 100 px: "1700-1709" (63 + 16 px) fits a 100 px band.
  let placed = placeAxisLabels(labels, grid, { x0: 0, y0: 100, scale: 1 }, { x: 1000, y: 900 }, measure);
  assert.equal(placed.length, 10);
  assert.ok(placed.every((p) => p.text === p.label.text));
  // Above the band (room above it), centred on it.
  for (const p of placed) {
    assert.equal(p.y, 100 - LABEL_H - 4);
    assert.ok(Math.abs(p.x + p.w / 2 - (p.label.x + 0.5) * 100) < 1);
  }
  // Cells 60 px: the first year only ("1700", 28 + 16 px).
  placed = placeAxisLabels(labels, grid, { x0: 0, y0: 100, scale: 0.6 }, { x: 1000, y: 900 }, measure);
  assert.equal(placed.length, 10);
  assert.ok(placed.every((p) => p.text === String(p.label.yearFrom)));
  assert.deepEqual(axisTexts(labels[0]), ['1700-1709', '1700']);
});

test('narrow bins: labels are skipped at a regular stride and never overlap', () => {
  const grid = { cols: 200, rows: 8, cellWidth: 10, cellHeight: 10 };
  const labels = bins(200);
  const placed = placeAxisLabels(labels, grid, { x0: 0, y0: 50, scale: 0.5 }, { x: 1000, y: 500 }, measure); // bins 5 px wide
  assert.ok(placed.length > 3 && placed.length < 200, `${placed.length} labels`);
  for (let a = 0; a < placed.length; a++) for (let b = a + 1; b < placed.length; b++) assert.ok(!overlap(placed[a], placed[b]), `${placed[a].text} / ${placed[b].text}`);
  const ks = placed.map((p) => labels.indexOf(p.label));
  const strides = new Set(ks.slice(1).map((k, j) => k - ks[j]));
  assert.equal(strides.size, 1, `one regular stride, got ${[...strides]}`);
  assert.equal(ks[0], 0);
});

test('uneven bands: a label skipped by the stride comes back where a wide band leaves room', () => {
  // As met-sample's timeline: 1-column bins beside 2- and 3-column ones, 40 px cells.
  const widths = [1, 1, 1, 2, 2, 2, 2, 3, 1];
  let x = 0;
  const labels = widths.map((w, k) => { const l = { text: `${1000 + 100 * k}-${1099 + 100 * k}`, count: 5, kind: 'bin', yearFrom: 1000 + 100 * k, x, y: 0, w, h: 18 }; x += w; return l; });
  const grid = { cols: x, rows: 18, cellWidth: 128, cellHeight: 128 };
  const placed = placeAxisLabels(labels, grid, { x0: 0, y0: 0, scale: 40 / 128 }, { x: 1000, y: 800 }, measure);
  const years = placed.map((p) => p.label.yearFrom);
  for (let a = 0; a < placed.length; a++) for (let b = a + 1; b < placed.length; b++) assert.ok(!overlap(placed[a], placed[b]));
  assert.ok(!years.includes(1100), 'a 40 px band between two others: skipped');
  assert.ok(years.includes(1300) && years.includes(1400) && years.includes(1500) && years.includes(1600), years.join());
});

test('the undated block is always labelled; a colliding bin label gives way', () => {
  const grid = { cols: 41, rows: 8, cellWidth: 10, cellHeight: 10 };
  const labels = [...bins(40), { text: 'undated', count: 5, kind: 'undated', yearFrom: null, x: 40, y: 0, w: 1, h: 8 }];
  const placed = placeAxisLabels(labels, grid, { x0: 0, y0: 50, scale: 1 }, { x: 410, y: 200 }, measure);
  assert.ok(placed.some((p) => p.text === 'undated'));
  for (let a = 0; a < placed.length; a++) for (let b = a + 1; b < placed.length; b++) assert.ok(!overlap(placed[a], placed[b]));
  assert.ok(isAxisLabel(labels[40]) && isAxisLabel(labels[0]));
  assert.ok(!isAxisLabel({ kind: 'block' }));
  assert.ok(isAxisLabel({ kind: 'block' }, 'timeline'), 'the pipeline writes the undated block as a block');
  assert.deepEqual(axisTexts({ text: 'undated', count: 12, kind: 'block' }), ['undated · 12', 'undated']);
  assert.deepEqual(axisTexts({ text: '1887', count: 3, kind: 'bin', yearFrom: 1887 }), ['1887']);
  // As the pipeline writes it: an undated "block" after a one-column gap gets its label, with the count where it fits.
  const block = [...bins(40), { text: 'undated', count: 5, kind: 'block', yearFrom: null, x: 41, y: 0, w: 12, h: 8 }];
  const got = placeAxisLabels(block, { cols: 53, rows: 8, cellWidth: 10, cellHeight: 10 }, { x0: 0, y0: 50, scale: 1 }, { x: 530, y: 200 }, measure);
  assert.ok(got.some((p) => p.text === 'undated · 5'), got.map((p) => p.text));
});

test('zoomed in: the axis is pinned to the top of the view and slides along a wide band', () => {
  const grid = { cols: 3, rows: 20, cellWidth: 100, cellHeight: 100 };
  const labels = bins(3);
  // Scale 4: bands 400 px wide; view 500 x 400 px shows the middle of band 1, rows far below the top.
  const t = { x0: -450, y0: -3000, scale: 4 };
  const placed = placeAxisLabels(labels, grid, t, { x: 500, y: 400 }, measure);
  assert.ok(placed.length >= 1);
  for (const p of placed) {
    assert.equal(p.y, 4, 'pinned to the top edge');
    assert.ok(p.x >= 0 && p.x + p.w <= 500, 'inside the view');
    const band0 = t.x0 + p.label.x * 400; const band1 = band0 + 400;
    assert.ok(p.x >= band0 && p.x + p.w <= band1, 'inside its own band');
  }
  // Scrolled past the bands' bottom: nothing.
  assert.deepEqual(placeAxisLabels(labels, grid, { x0: 0, y0: -9000, scale: 4 }, { x: 500, y: 400 }, measure), []);
});

test('obstacles (navigator, controls) keep labels off them', () => {
  const grid = { cols: 10, rows: 8, cellWidth: 100, cellHeight: 100 };
  const t = { x0: 0, y0: 100, scale: 1 };
  const nav = { x0: 700, y0: 0, x1: 1000, y1: 200 };
  const placed = placeAxisLabels(bins(10), grid, t, { x: 1000, y: 900 }, measure, { obstacles: [nav] });
  assert.equal(placed.length, 10);
  for (const p of placed) assert.ok(p.x + p.w <= 700 ? p.y === 74 : p.y === 204, `${p.text} at ${p.x}, ${p.y}: beside or below the navigator`);
  // Short bands that end under the navigator: no place left for those labels, they are left out.
  const short = placeAxisLabels(bins(10, 1, 1), grid, t, { x: 1000, y: 900 }, measure, { obstacles: [{ ...nav, y1: 240 }] });
  assert.equal(short.length, 7);
  assert.ok(short.every((p) => p.x + p.w <= 700));
  // A shorter navigator: the labels under it move inside the band's top instead of vanishing.
  const low = placeAxisLabels(bins(10), grid, t, { x: 1000, y: 900 }, measure, { obstacles: [{ x0: 700, y0: 0, x1: 1000, y1: 90 }] });
  assert.equal(low.length, 10);
  assert.deepEqual([...new Set(low.map((p) => p.y))], [100 - LABEL_H - 4, 104]);
  assert.ok(low.filter((p) => p.y === 104).every((p) => p.x >= 700));
  // Zoomed in with a switcher floating at the view's top-left: the pinned labels there go just below it.
  const sw = { x0: 0, y0: 0, x1: 300, y1: 60 };
  const pinned = placeAxisLabels(bins(10), grid, { x0: 0, y0: -500, scale: 1 }, { x: 1000, y: 200 }, measure, { obstacles: [sw] });
  assert.equal(pinned.length, 10);
  for (const p of pinned) assert.equal(p.y, p.x < 300 ? 64 : 4, p.text);
});

test('a label the navigator pushes down leaves its skipped neighbour room on the axis row', () => {
  // As imageplot's timeline: three narrow bands at the right, the last two under the navigator.
  const widths = [3, 19, 4, 3, 1, 1];
  let x = 0;
  const labels = widths.map((w, k) => { const l = { text: `${1880 + 5 * k}-${1884 + 5 * k}`, count: 5, kind: 'bin', yearFrom: 1880 + 5 * k, x, y: 0, w, h: 32 }; x += w; return l; });
  const grid = { cols: x, rows: 32, cellWidth: 128, cellHeight: 128 };
  const t = { x0: 0, y0: 30, scale: 22 / 128 };
  const nav = { x0: 620, y0: 0, x1: 800, y1: 100 };
  const placed = placeAxisLabels(labels, grid, t, { x: 800, y: 800 }, measure, { obstacles: [nav] });
  const years = placed.map((p) => p.label.yearFrom);
  assert.ok(years.includes(1895), `the 3-column band keeps its label: ${years}`);
  for (let a = 0; a < placed.length; a++) for (let b = a + 1; b < placed.length; b++) assert.ok(!overlap(placed[a], placed[b]));
  assert.ok(placed.every((p) => !overlap(p, { x: nav.x0, y: nav.y0, w: nav.x1 - nav.x0, h: nav.y1 - nav.y0 })));
  // Uniform narrow bins still get one row only (skipped labels never take a second row).
  const many = placeAxisLabels(bins(200), { cols: 200, rows: 8, cellWidth: 10, cellHeight: 10 }, { x0: 0, y0: 50, scale: 0.5 }, { x: 1000, y: 500 }, measure);
  assert.deepEqual([...new Set(many.map((p) => p.y))], [50 - LABEL_H - 4]);
});

test('category headings: value and count, pinned in the block, larger blocks win, small blocks skipped', () => {
  const grid = { cols: 30, rows: 20, cellWidth: 10, cellHeight: 10 };
  const blocks = [
    { text: 'Small', count: 2, kind: 'block', x: 1, y: 0, w: 2, h: 2 },
    { text: 'Paintings', count: 1234, kind: 'block', x: 0, y: 0, w: 20, h: 20 },
    { text: 'Prints', count: 40, kind: 'block', x: 21, y: 0, w: 9, h: 9 },
  ];
  assert.equal(headingText(blocks[1]), 'Paintings · 1,234');
  const placed = placeHeadings(blocks, grid, { x0: 0, y0: 0, scale: 2 }, { x: 600, y: 400 }, measure);
  const texts = placed.map((p) => p.text);
  assert.deepEqual(texts, ['Paintings · 1,234', 'Prints · 40'], 'the small block (40 px) gets none');
  assert.equal(placed[0].x, 4);
  assert.equal(placed[0].y, 4, 'no room above the block: inside its top');
  // With the empty heading row above the block on screen, the heading sits in it.
  const below = placeHeadings(blocks, grid, { x0: 0, y0: 40, scale: 2 }, { x: 600, y: 400 }, measure);
  assert.equal(below[0].y, 40 - LABEL_H - 2);
  assert.equal(placed[1].cut, false, '"Prints · 40" (93 px) fits its 180 px block');
  const narrow = placeHeadings([{ text: 'Drawings and Prints', count: 7, kind: 'block', x: 0, y: 0, w: 7, h: 5 }], grid, { x0: 0, y0: 0, scale: 1 }, { x: 600, y: 400 }, measure);
  assert.equal(narrow.length, 0, 'a 70 px block would show a stub of its heading: the tooltip names it');
  // Zoomed into the middle of the big block: its heading stays at the view's top-left corner.
  const deep = placeHeadings(blocks, grid, { x0: -500, y0: -800, scale: 10 }, { x: 600, y: 400 }, measure);
  assert.equal(deep.length, 1);
  assert.equal(deep[0].text, 'Paintings · 1,234');
  assert.deepEqual([deep[0].x, deep[0].y], [2, 4]);
});

test('a heading never runs past its block; a block too narrow for a readable cut gets none', () => {
  // As a curator found: "Indians of South America -- Peru · 10" (266 px) over a 65 px block, and two
  // "Ethnology -- ..." blocks both cut to "Ethn…".
  const grid = { cols: 60, rows: 20, cellWidth: 10, cellHeight: 10 };
  const blocks = [
    { text: 'Saint-Remy-de-Provence_asylum', count: 138, kind: 'block', x: 0, y: 2, w: 20, h: 10 },
    { text: 'Auvers-sur-Oise', count: 82, kind: 'block', x: 21, y: 2, w: 15, h: 10 },
    { text: 'Ethnology -- Africa', count: 12, kind: 'block', x: 37, y: 2, w: 5, h: 3 },
    { text: 'Ethnology -- Oceania', count: 11, kind: 'block', x: 43, y: 2, w: 5, h: 3 },
    { text: 'Indians of South America -- Peru', count: 10, kind: 'block', x: 49, y: 2, w: 6, h: 2 },
    { text: 'Arms', count: 1, kind: 'block', x: 56, y: 2, w: 1, h: 1 },
  ];
  const placed = placeHeadings(blocks, grid, { x0: 0, y0: 20, scale: 1.3 }, { x: 1200, y: 400 }, measure);
  assert.deepEqual(placed.map((p) => p.label.text), ['Saint-Remy-de-Provence_asylum', 'Auvers-sur-Oise']);
  for (const p of placed) {
    assert.ok(p.x + p.w <= (p.label.x + p.label.w) * 10 * 1.3, `${p.text} stays inside its block`);
  }
  assert.ok(placed[0].cut, 'cut to its own 260 px block');
  for (let a = 0; a < placed.length; a++) for (let b = a + 1; b < placed.length; b++) assert.ok(!overlap(placed[a], placed[b]));
  // Alone, the long heading is still cut to its block.
  const alone = placeHeadings(blocks.slice(0, 1), grid, { x0: 0, y0: 20, scale: 1 }, { x: 400, y: 200 }, measure);
  assert.ok(alone[0].cut && alone[0].x + alone[0].w <= 200);
  // Closer, the narrow blocks get their headings, still inside them.
  const close = placeHeadings(blocks.slice(2, 4), grid, { x0: -2940, y0: 40, scale: 8 }, { x: 1200, y: 400 }, measure);
  assert.deepEqual(close.map((p) => p.text), ['Ethnology -- Africa · 12', 'Ethnology -- Oceania · 11']);
  for (const p of close) assert.ok(p.x + p.w <= -2940 + (p.label.x + p.label.w) * 10 * 8);
});

test('the layout is part of the view address; similarity is the default and is left out', () => {
  const view = { layout: 'timeline', item: 'a b.jpg', query: 'cow', allFields: false, yearRange: null, categories: new Map(), region: null, mode: null };
  const hash = viewHash(view);
  assert.ok(hash.startsWith('#layout=timeline&item=a%20b.jpg'));
  assert.equal(parseViewHash(hash).layout, 'timeline');
  assert.equal(parseViewHash(hash).item, 'a b.jpg');
  assert.equal(viewHash({ ...view, layout: 'similarity' }), '#item=a%20b.jpg&q=cow');
  assert.equal(parseViewHash('#item=x').layout, null);
  assert.equal(parseViewHash('#layout=bogus&item=x').layout, 'bogus', 'kept as written: the page decides it is unknown');
  assert.equal(parseViewHash('#layout=category&item=x&f.department=Prints').categories.get('department').has('Prints'), true);
});

test('a refused layout is named in what the page says', async () => {
  const { layoutRefusal } = await import('../../public/src/lib/layout.js');
  const mismatch = Object.assign(new Error('items_sha256 differs'), { mismatch: true });
  assert.equal(layoutRefusal('timeline', mismatch),
    'The timeline layout was built from another item list than this map; showing the similarity map.');
  assert.equal(layoutRefusal('category', new Error('404 Not Found')), 'Could not load the category layout (404 Not Found).');
  assert.equal(layoutRefusal('future', new Error('x')), 'Could not load the future layout (x).');
});
