import test from 'node:test';
import assert from 'node:assert/strict';
import { decodeSelection, encodeSelection } from '../../public/src/lib/selection-code.js';

function flagsOf(count, indices) {
  const f = new Uint8Array(count);
  for (const i of indices) f[i] = 1;
  return f;
}

test('a selection round-trips: runs, single items, the ends, large indices', () => {
  const cases = [
    [10, []], [10, [0]], [10, [9]], [10, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]], [10, [1, 3, 5, 7]],
    [300000, [0, 127, 128, 129, 16383, 16384, 299999]],
  ];
  for (const [count, picked] of cases) {
    const code = encodeSelection(flagsOf(count, picked));
    assert.match(code, /^[A-Za-z0-9_-]*$/, 'address-safe without escaping');
    assert.deepEqual(decodeSelection(code, count), flagsOf(count, picked), `${picked}`);
  }
});

test('random selections of every density round-trip', () => {
  let seed = 7;
  const rand = () => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
  for (const p of [0.01, 0.3, 0.5, 0.9]) {
    const count = 1 + Math.floor(rand() * 5000);
    const f = new Uint8Array(count).map(() => (rand() < p ? 1 : 0));
    assert.deepEqual(decodeSelection(encodeSelection(f), count), f);
  }
});

test('a rectangle of neighbouring items is short', () => {
  // 20 rows of 25 consecutive items on a 100-wide grid: 500 items in 20 runs.
  const picked = [];
  for (let r = 0; r < 20; r++) for (let c = 0; c < 25; c++) picked.push(1000 + r * 100 + c);
  const code = encodeSelection(flagsOf(20000, picked));
  assert.ok(code.length <= 64, code);
});

test('malformed codes and codes past the collection are refused', () => {
  const code = encodeSelection(flagsOf(100, [98, 99]));
  assert.equal(decodeSelection(code, 99), null, 'item 99 does not exist in 99 items');
  for (const bad of ['!!', 'A', 'gICAgICAgIA', '%41', 'AA']) assert.equal(decodeSelection(bad, 100), null, bad);
  assert.equal(decodeSelection('x'.repeat(1000), 10), null, 'longer than any selection of 10 items');
  assert.deepEqual(decodeSelection('', 5), new Uint8Array(5));
});

test('the selection goes through the address hash with its shape', async () => {
  const { parseViewHash, viewHash } = await import('../../public/src/lib/url.js');
  const items = flagsOf(50, [3, 4, 5, 40]);
  const hash = viewHash({ selection: { mode: 'lasso', items, size: 4 }, mode: 'rect' });
  const view = parseViewHash(hash);
  assert.equal(view.mode, 'rect');
  assert.equal(view.selection.mode, 'lasso');
  assert.deepEqual(decodeSelection(view.selection.code, 50), items);
  assert.equal(parseViewHash('#sel=circle~AAA').selection, null);
});
