import test from 'node:test';
import assert from 'node:assert/strict';
import { decodeItems } from '../../public/src/lib/items.js';
import { decodeDuplicates, duplicatesOf } from '../../public/src/lib/extras.js';
import { emptyFilterState, evaluatePredicates, combine, isFiltering, buildSearchIndex } from '../../public/src/lib/filter.js';
import { parseViewHash, viewHash } from '../../public/src/lib/url.js';
import { sampleDoc } from './helpers.js';

const items = decodeItems(sampleDoc());

test('duplicates.json: groups per item, bad indices and repeats dropped', () => {
  const d = decodeDuplicates({ format: 'cviz-duplicates/1', groups: [[0, 3], [1, 1, 9], [2, 4, -1, 0.5], 'x'] }, items);
  assert.deepEqual(d.groups, [[0, 3], [2, 4]], 'a group left with one valid item is no group');
  assert.deepEqual([...d.groupOf], [0, -1, 1, 0, 1]);
  assert.deepEqual(duplicatesOf(d, 3), [0]);
  assert.deepEqual(duplicatesOf(d, 1), []);
  assert.deepEqual(duplicatesOf(null, 1), []);
  assert.throws(() => decodeDuplicates({ format: 'x' }, items), /duplicates.json: unsupported format/);
});

test('the "has near-duplicates" filter keeps the items of a group, and lives in the address', () => {
  const d = decodeDuplicates({ format: 'cviz-duplicates/1', groups: [[0, 3]] }, items);
  const state = { ...emptyFilterState(), duplicates: d };
  assert.ok(isFiltering(state));
  const mask = combine(evaluatePredicates(items, buildSearchIndex(items), state));
  assert.deepEqual([...mask], [1, 0, 0, 1, 0]);
  assert.ok(!isFiltering(emptyFilterState()));
  const hash = viewHash({ ...parseViewHash(''), duplicates: true });
  assert.match(hash, /dups=1/);
  assert.equal(parseViewHash(hash).duplicates, true);
  assert.equal(parseViewHash('').duplicates, false);
});
