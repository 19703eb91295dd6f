import test from 'node:test';
import assert from 'node:assert/strict';
import { snapshot } from '../../public/src/lib/readonly.js';

test('snapshot copies deeply and freezes what can be frozen', () => {
  const flags = new Uint8Array([0, 1, 1]);
  const state = {
    query: 'x', yearRange: [1800, Infinity], categories: new Map([['dept', new Set(['A'])]]),
    region: { scale: 'coarse', id: 2, itemRegion: new Int32Array([2, 2, 0]) }, selection: { mode: 'rect', items: flags, size: 2 },
  };
  const s = snapshot(state);
  assert.deepEqual(s, state);
  assert.ok(Object.isFrozen(s) && Object.isFrozen(s.region) && Object.isFrozen(s.yearRange));
  assert.throws(() => { 'use strict'; s.query = 'y'; }, TypeError);
  // Copies: changing them changes nothing in the page's state.
  s.selection.items[0] = 1;
  s.categories.get('dept').add('B');
  s.categories.set('other', new Set());
  assert.equal(flags[0], 0);
  assert.deepEqual([...state.categories.get('dept')], ['A']);
  assert.equal(state.categories.size, 1);
  assert.equal(snapshot(null), null);
  assert.equal(snapshot(3), 3);
});
