import test from 'node:test';
import assert from 'node:assert/strict';
import { decodeItems, itemTitle, splitCategory, asText } from '../../public/src/lib/items.js';
import { sampleDoc } from './helpers.js';

test('decodeItems builds cell and id lookups', () => {
  const items = decodeItems(sampleDoc());
  assert.equal(items.count, 5);
  assert.equal(items.grid.cols, 4);
  assert.equal(items.grid.cellWidth, 10);
  assert.equal(items.cellToItem.length, 12);
  assert.equal(items.cellToItem[5], 2);
  assert.equal(items.cellToItem[2], -1);
  assert.deepEqual([...items.itemToCell], [0, 1, 5, 8, 11]);
  assert.equal(items.idToItem.get('sub dir/é #5.jpg'), 4);
  assert.deepEqual(items.years, [1850, null, 1901, 1700, 1875]);
  assert.equal(items.dateColumn, 'date');
  assert.deepEqual(items.categoryColumns, ['department']);
});

test('decodeItems rejects malformed documents with a clear message', () => {
  const bad = (mutate) => { const d = sampleDoc(); mutate(d); return () => decodeItems(d); };
  assert.throws(bad((d) => { d.format = 'other/1'; }), /unsupported format/);
  assert.throws(bad((d) => { d.fields.title.pop(); }), /fields.title has 4 entries, expected 5/);
  assert.throws(bad((d) => { d.fields.cell[1] = 0; }), /cell 0 holds two items/);
  assert.throws(bad((d) => { d.fields.cell[1] = 12; }), /outside the grid/);
  assert.throws(bad((d) => { d.grid.cols = 0; }), /grid.cols/);
});

test('decodeItems tolerates missing optional parts', () => {
  const d = sampleDoc();
  delete d.fields.year;
  d.date_column = null;
  d.category_columns = ['department', 'missing'];
  d.columns = ['title', 'nope'];
  const items = decodeItems(d);
  assert.deepEqual(items.years, [null, null, null, null, null]);
  assert.equal(items.dateColumn, null);
  assert.deepEqual(items.categoryColumns, ['department']);
  assert.deepEqual(items.columns, ['title']);
});

test('titles fall back to the id, categories split on |', () => {
  const items = decodeItems(sampleDoc());
  assert.equal(itemTitle(items, 3), 'd.jpg');
  assert.equal(itemTitle(items, 1), '<img src=x onerror=alert(1)>');
  assert.deepEqual(splitCategory(' Paintings | Asian Art '), ['Paintings', 'Asian Art']);
  assert.deepEqual(splitCategory(null), []);
  assert.equal(asText(undefined), '');
  assert.equal(asText(12), '12');
});
