import test from 'node:test';
import assert from 'node:assert/strict';
import { decodeItems } from '../../public/src/lib/items.js';
import { decodeNeighbours, decodeRegions, decodeVocabulary, neighboursOf, scaleForZoom } from '../../public/src/lib/extras.js';
import { sampleDoc } from './helpers.js';

const items = decodeItems(sampleDoc());

function packed(n, k, values, { magic = 'CVNB', version = 1 } = {}) {
  const buf = new ArrayBuffer(16 + 4 * values.length);
  const v = new DataView(buf);
  for (let i = 0; i < 4; i++) v.setUint8(i, magic.charCodeAt(i));
  v.setInt32(4, version, true); v.setInt32(8, n, true); v.setInt32(12, k, true);
  values.forEach((x, i) => v.setInt32(16 + 4 * i, x, true));
  return buf;
}

test('neighbours.bin: header, little-endian rows, -1 padding', () => {
  const nb = decodeNeighbours(packed(5, 2, [1, 2, 0, -1, 4, 3, 2, 4, 0, 1]), 5);
  assert.equal(nb.k, 2);
  assert.deepEqual(neighboursOf(nb, 0), [1, 2]);
  assert.deepEqual(neighboursOf(nb, 1), [0], '-1 is no neighbour');
  assert.deepEqual(neighboursOf(nb, 4), [0, 1]);
});

test('neighbours.bin: damaged files are refused with the reason', () => {
  assert.throws(() => decodeNeighbours(new ArrayBuffer(8), 5), /shorter than its 16-byte header/);
  assert.throws(() => decodeNeighbours(packed(5, 1, [0, 0, 0, 0, 0], { magic: 'XXXX' }), 5), /not a cviz neighbour file/);
  assert.throws(() => decodeNeighbours(packed(4, 1, [0, 0, 0, 0]), 5), /4 rows for 5 items/);
  assert.throws(() => decodeNeighbours(packed(5, 2, [0, 0, 0]), 5), /expected 56/);
  assert.throws(() => decodeNeighbours(packed(5, 1, [0, 1, 2, 3, 5]), 5), /outside 0..4/);
});

test('regions.json: scales, unnamed regions dropped, lengths checked', () => {
  const doc = { format: 'cviz-regions/1', scales: [{ name: 'coarse', item_region: [0, 0, 1, 1, 2],
    regions: [{ id: 0, name: 'Harbour', x: 1, y: 1, count: 2 }, { id: 1, name: '  ', x: 2, y: 2 }, { id: 2, name: 'Orchard', x: 3.5, y: 2.5, count: 1 }] }] };
  const r = decodeRegions(doc, items);
  assert.deepEqual(r.scales[0].regions.map((x) => x.name), ['Harbour', 'Orchard']);
  assert.deepEqual([...r.scales[0].itemRegion], [0, 0, -1, -1, 2], 'items of an unnamed region belong to none');
  assert.throws(() => decodeRegions({ ...doc, scales: [{ name: 'x', item_region: [0], regions: [] }] }, items), /1 item entries, expected 5/);
  assert.throws(() => decodeRegions({ format: 'nope' }, items), /unsupported format/);
});

test('vocabulary.json names only columns that exist', () => {
  const v = decodeVocabulary({ format: 'cviz-vocabulary/1', filter_columns: ['artist', 'ghost', 7], label_columns: ['artist'] }, items);
  assert.deepEqual(v.filterColumns, ['artist']);
});

test('label scale follows the zoom: coarse far out, finer closer in, none when photos are large', () => {
  const grid = { cols: 100, rows: 100, cellWidth: 10, cellHeight: 10 };
  const scales = [{ regions: new Array(4) }, { regions: new Array(25) }, { regions: new Array(100) }];
  // Typical region across: coarse 50 cells, medium 20, fine 10.
  assert.equal(scaleForZoom(scales, grid, 2), 0); // 100 px / 40 / 20: only coarse would be too small too -> coarse
  assert.equal(scaleForZoom(scales, grid, 13), 1); // 650 / 260 / 130
  assert.equal(scaleForZoom(scales, grid, 30), 2); // fine is 300 px across
  assert.equal(scaleForZoom(scales, grid, 200), null);
  assert.equal(scaleForZoom([], grid, 10), null);
});
