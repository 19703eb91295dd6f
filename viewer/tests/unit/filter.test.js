import test from 'node:test';
import assert from 'node:assert/strict';
import { decodeItems } from '../../public/src/lib/items.js';
import {
  buildSearchIndex, emptyFilterState, evaluatePredicates, combine, countMask, facetCounts,
  isFiltering, matchesInCellOrder, normalizeText, queryTokens,
} from '../../public/src/lib/filter.js';
import { sampleDoc } from './helpers.js';

const items = decodeItems(sampleDoc());
const index = buildSearchIndex(items);
const run = (patch) => {
  const state = { ...emptyFilterState(), ...patch };
  const ev = evaluatePredicates(items, index, state);
  return { state, ev, mask: combine(ev) };
};

test('text is matched without case or accents, every word', () => {
  assert.equal(normalizeText('Dürer ÉTUDE'), 'durer etude');
  assert.deepEqual(queryTokens('  land  Cows '), ['land', 'cows']);
  assert.deepEqual([...run({ query: 'landscape' }).mask], [1, 0, 0, 0, 1]);
  assert.deepEqual([...run({ query: 'cows land' }).mask], [1, 0, 0, 0, 0]);
  assert.deepEqual([...run({ query: 'durer' }).mask], [0, 0, 1, 0, 0]);
  assert.deepEqual([...run({ query: 'd.jpg' }).mask], [0, 0, 0, 1, 0], 'empty title searches the id');
});

test('all-fields search also looks at the other text columns', () => {
  assert.equal(countMask(run({ query: 'A' }).mask), 4, 'substring match, not whole words');
  assert.deepEqual([...run({ query: 'dürer', allFields: true }).mask], [0, 0, 1, 0, 0]);
  assert.deepEqual([...run({ query: 'asian', allFields: true }).mask], [0, 0, 0, 1, 1]);
  assert.deepEqual([...run({ query: 'asian' }).mask], [0, 0, 0, 0, 0]);
});

test('year range is inclusive and excludes undated items', () => {
  assert.deepEqual([...run({ yearRange: [1850, 1900] }).mask], [1, 0, 0, 0, 1]);
  assert.deepEqual([...run({ yearRange: [-Infinity, Infinity] }).mask], [1, 0, 1, 1, 1]);
});

test('categories: OR within a column, AND with everything else', () => {
  const cats = { department: new Set(['Prints', 'Asian Art']) };
  assert.deepEqual([...run({ categories: cats }).mask], [0, 1, 1, 1, 1]);
  assert.deepEqual([...run({ categories: cats, yearRange: [1800, 1950] }).mask], [0, 0, 1, 0, 1]);
  assert.deepEqual([...run({ categories: cats, yearRange: [1800, 1950], query: 'landscape' }).mask], [0, 0, 0, 0, 1]);
});

test('facet counts leave out their own filter', () => {
  const { ev } = run({ categories: { department: new Set(['Prints']) }, yearRange: [1800, 1950] });
  const counts = facetCounts(index, 'department', combine(ev, 'category:department'));
  // Items in 1800..1950: 0 (Paintings), 2 (Prints), 4 (Paintings, Asian Art).
  assert.deepEqual(Object.fromEntries(counts), { Paintings: 2, Prints: 1, 'Asian Art': 1 });
  assert.equal(index.categories.department.values.get('Paintings'), 3);
});

test('isFiltering and matches in reading order', () => {
  assert.equal(isFiltering(emptyFilterState()), false);
  assert.equal(isFiltering({ ...emptyFilterState(), query: '   ' }), false);
  assert.equal(isFiltering({ ...emptyFilterState(), categories: { department: new Set() } }), false);
  assert.equal(isFiltering({ ...emptyFilterState(), yearRange: [1, 2] }), true);
  assert.deepEqual(matchesInCellOrder(items, Uint8Array.from([1, 0, 1, 1, 1])), [0, 2, 3, 4]);
});
