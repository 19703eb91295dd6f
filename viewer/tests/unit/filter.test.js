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
  const cats = new Map([['department', new Set(['Prints', 'Asian Art'])]]);
  assert.deepEqual([...run({ categories: cats }).mask], [0, 1, 1, 1, 1]);
  assert.deepEqual([...run({ categories: cats, yearRange: [1800, 1950] }).mask], [0, 0, 1, 0, 1]);
  assert.deepEqual([...run({ categories: cats, yearRange: [1800, 1950], query: 'landscape' }).mask], [0, 0, 0, 0, 1]);
});

test('facet counts leave out their own filter', () => {
  const { ev } = run({ categories: new Map([['department', new Set(['Prints'])]]), yearRange: [1800, 1950] });
  const counts = facetCounts(index, 'department', combine(ev, 'category:department'));
  // Items in 1800..1950: 0 (Paintings), 2 (Prints), 4 (Paintings, Asian Art).
  assert.deepEqual(Object.fromEntries(counts), { Paintings: 2, Prints: 1, 'Asian Art': 1 });
  assert.equal(index.categories.get('department').values.get('Paintings'), 3);
});

test('isFiltering and matches in reading order', () => {
  assert.equal(isFiltering(emptyFilterState()), false);
  assert.equal(isFiltering({ ...emptyFilterState(), query: '   ' }), false);
  assert.equal(isFiltering({ ...emptyFilterState(), categories: new Map([['department', new Set()]]) }), false);
  assert.equal(isFiltering({ ...emptyFilterState(), yearRange: [1, 2] }), true);
  assert.deepEqual(matchesInCellOrder(items, Uint8Array.from([1, 0, 1, 1, 1])), [0, 2, 3, 4]);
});

import { orderedValues, columnValues } from '../../public/src/lib/filter.js';

test('columns and values named like Object.prototype members are plain data', () => {
  const doc = sampleDoc();
  const names = ['constructor', '__proto__', 'toString', 'hasOwnProperty'];
  const json = JSON.stringify(doc.fields).replace(/}$/, names.map((n) => `,"${n}":["toString","hasOwnProperty","constructor","__proto__","toString"]`).join('') + '}');
  doc.fields = JSON.parse(json);
  doc.columns.push(...names);
  doc.category_columns = [...names, 'department'];
  const its = decodeItems(doc);
  const idx = buildSearchIndex(its);
  assert.deepEqual([...idx.categories.keys()], [...names, 'department']);
  assert.equal(idx.categories.get('__proto__').values.get('toString'), 2);
  assert.equal(columnValues(its, 'valueOf'), null, 'an inherited name is not a column');
  const state = { ...emptyFilterState(), categories: new Map([['__proto__', new Set(['toString'])], ['constructor', new Set(['__proto__', 'toString'])]]) };
  const mask = combine(evaluatePredicates(its, idx, state));
  assert.deepEqual([...mask], [1, 0, 0, 0, 1]); // __proto__ is toString: 0, 4; constructor in {__proto__, toString}: 0, 3, 4
  assert.equal(isFiltering(state), true);
  state.categories.clear();
  assert.equal(isFiltering(state), false, 'clear all works with those names');
});

test('value lists: selected first, then by filtered count, zero counts last, find ignores case and accents', () => {
  const totals = new Map([['Paintings', 3], ['Prints', 2], ['Asian Art', 2], ['Études', 1]]);
  const counts = new Map([['Prints', 2], ['Asian Art', 1]]);
  const order = orderedValues(totals, counts, new Set(['Études'])).map((r) => `${r.value}:${r.count}`);
  assert.deepEqual(order, ['Études:0', 'Prints:2', 'Asian Art:1', 'Paintings:0']);
  assert.deepEqual(orderedValues(totals, counts, new Set(), 'etu').map((r) => r.value), ['Études']);
  assert.deepEqual(orderedValues(totals, counts, new Set(), 'PRI').map((r) => r.value), ['Prints']);
});

test('region and map selection are predicates too', () => {
  const state = { ...emptyFilterState(), region: { scale: 'c', id: 1, itemRegion: Int32Array.from([1, 0, 1, -1, 1]) } };
  assert.deepEqual([...combine(evaluatePredicates(items, index, state))], [1, 0, 1, 0, 1]);
  state.selection = { mode: 'rect', items: Uint8Array.from([1, 1, 0, 0, 0]), size: 2 };
  assert.deepEqual([...combine(evaluatePredicates(items, index, state))], [1, 0, 0, 0, 0]);
  assert.deepEqual([...combine(evaluatePredicates(items, index, state), 'selection')], [1, 0, 1, 0, 1]);
});
