// The lazy item store over the tables cviz/publish/items_lazy.py writes (fixtures/lazy-unit, made
// from the hand-written fixtures/lazy-source.json; tests/test_items_lazy.py keeps it current).
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  decodeCells, decodeIndex, decodeSearchShard, fnv1a32, postings, shardKey, shardOfCell, wordsOf,
} from '../../public/src/lib/lazy-format.js';
import { LazyItems, openLazyItems } from '../../public/src/lib/lazy-items.js';
import { buildSearchIndex, combine, emptyFilterState, evaluatePredicates, facetCounts } from '../../public/src/lib/filter.js';
import { decodeItems, itemTitle } from '../../public/src/lib/items.js';
import { itemsSha256 } from '../../public/src/lib/sha256.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, 'fixtures', 'lazy-unit');
const source = JSON.parse(fs.readFileSync(path.join(here, 'fixtures', 'lazy-source.json'), 'utf8'));
const BASE = 'http://test/v/items-index.json';

/** A fetch over the fixture folder that records what was asked for; `broken` replaces a file's bytes. */
function fileFetcher(broken = {}) {
  const asked = [];
  const fetcher = async (url) => {
    const rel = new URL(url).pathname.replace(/^\/v\//, '');
    asked.push(rel);
    const file = path.join(root, rel);
    if (!(rel in broken) && !fs.existsSync(file)) return { ok: false, status: 404 };
    const bytes = rel in broken ? broken[rel] : fs.readFileSync(file);
    const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    return { ok: true, status: 200, json: async () => JSON.parse(new TextDecoder().decode(buf)), arrayBuffer: async () => buf };
  };
  return { fetcher, asked };
}

const indexDoc = () => JSON.parse(fs.readFileSync(path.join(root, 'items-index.json'), 'utf8'));

test('words, shard keys and the id hash are the publisher\'s', () => {
  for (const [text, words] of JSON.parse(fs.readFileSync(path.join(here, 'lazy_words.json'), 'utf8'))) {
    assert.deepEqual(wordsOf(text), words, text);
  }
  assert.equal(shardKey('sunflowers'), '7375');
  assert.equal(shardKey('étude'), 'c3a974'); // the key's UTF-8, not its UTF-16
  assert.equal(fnv1a32(''), 0x811c9dc5);
  assert.equal(fnv1a32('a'), 0xe40c292c); // FNV-1a test vectors
  assert.equal(shardOfCell(11, 4, 2), 3);
  assert.equal(shardOfCell(5, 4, 2), 0);
});

test('opening fetches the index\'s cells only, and the store answers like decodeItems', async () => {
  const { fetcher, asked } = fileFetcher();
  const items = await openLazyItems(indexDoc(), BASE, { fetcher });
  assert.deepEqual(asked, ['lazy/cells.bin']);
  const eager = decodeItems(source);
  assert.equal(items.count, 5);
  assert.deepEqual([...items.itemToCell], [...eager.itemToCell]);
  assert.deepEqual([...items.cellToItem], [...eager.cellToItem]);
  assert.deepEqual(items.columns, eager.columns);
  assert.equal(items.dateColumn, eager.dateColumn);
  assert.deepEqual(items.categoryColumns, eager.categoryColumns);
  assert.equal(itemsSha256(items), itemsSha256(eager)); // layouts pair with a lazy map too
  assert.equal(items.loaded(4), false);
  await items.load([4]);
  assert.deepEqual(asked.slice(1), ['lazy/items/3.json']);
  assert.equal(items.loaded(4), true);
  assert.equal(itemTitle(items, 4), 'Landscape, evening');
  assert.equal(items.fields.department[4], ' Paintings | Asian Art ');
  assert.equal(items.fields.image[4], '../images/e.jpg');
  assert.equal(items.fields.title[0], undefined); // not fetched
  const text = await items.use([0, 1, 2, 3, 4], () => [0, 1, 2, 3, 4].map((i) => itemTitle(items, i)));
  assert.deepEqual(text, [0, 1, 2, 3, 4].map((i) => itemTitle(eager, i)));
  assert.equal(await items.findId('sub dir/é #5.jpg'), 4);
  assert.equal(await items.findId('nope.jpg'), undefined);
  assert.deepEqual(await items.loadYears(), eager.years);
});

test('shards past the cache size are dropped, least recently used first, never while in use', async () => {
  const { fetcher, asked } = fileFetcher();
  const items = await new LazyItems(decodeIndex(indexDoc()), BASE, { fetcher, keepShards: 1 }).open();
  await items.load([0]);
  await items.load([4]);
  assert.equal(items.loaded(0), false);
  assert.equal(items.fields.title[0], undefined);
  const both = await items.use([0, 4], () => [items.fields.title[0], items.fields.title[4]]);
  assert.deepEqual(both, ['Landscape with Cows', 'Landscape, evening']);
  assert.equal(asked.filter((r) => r === 'lazy/items/0.json').length, 2);
});

test('title search fetches one file per query word and matches word beginnings', async () => {
  const { fetcher, asked } = fileFetcher();
  const items = await openLazyItems(indexDoc(), BASE, { fetcher });
  assert.deepEqual([...await items.titleMatches(['land'])], [1, 0, 0, 0, 1]);
  assert.deepEqual(asked.slice(1), ['lazy/search/6c61.bin']);
  assert.deepEqual([...await items.titleMatches(['land', 'even'])], [0, 0, 0, 0, 1]);
  assert.deepEqual([...await items.titleMatches(['durer'])], [0, 0, 1, 0, 0]);
  assert.deepEqual([...await items.titleMatches(['andscape'])], [0, 0, 0, 0, 0]); // beginnings only
  assert.deepEqual([...await items.titleMatches(['zz'])], [0, 0, 0, 0, 0]); // no such file: nothing fetched
  assert.ok(!asked.includes('lazy/search/7a7a.bin'));
  assert.deepEqual([...await items.titleMatches(['x'])], [0, 1, 0, 0, 0]); // one letter: that word
});

test('filters evaluate on the lazy store as on items.json', async () => {
  const { fetcher, asked } = fileFetcher();
  const lazy = await openLazyItems(indexDoc(), BASE, { fetcher });
  const eager = decodeItems(source);
  const lazyIndex = buildSearchIndex(lazy);
  const eagerIndex = buildSearchIndex(eager);
  assert.deepEqual(lazyIndex.categories.get('department').values, eagerIndex.categories.get('department').values);
  const state = emptyFilterState();
  assert.equal(lazyIndex.prepare(state), null); // nothing to fetch while nothing filters
  state.categories.set('department', new Set(['Prints']));
  state.yearRange = [1800, 1950];
  state.query = 'portrait';
  await lazyIndex.prepare(state);
  assert.equal(lazyIndex.prepare(state), null);
  assert.ok(asked.includes('lazy/years.bin') && asked.includes('lazy/cat-2.bin'));
  const a = evaluatePredicates(lazy, lazyIndex, state);
  const b = evaluatePredicates(eager, eagerIndex, state);
  for (const key of ['search', 'year', 'category:department']) {
    assert.deepEqual([...a.parts.find((p) => p.key === key).ok], [...b.parts.find((p) => p.key === key).ok], key);
  }
  assert.deepEqual([...combine(a)], [0, 0, 1, 0, 0]);
  assert.deepEqual(facetCounts(lazyIndex, 'department', combine(a, 'category:department')),
    facetCounts(eagerIndex, 'department', combine(b, 'category:department')));
});

test('a column of few values that vocabulary.json names is a filter on the lazy store too', async () => {
  const { fetcher } = fileFetcher();
  const lazy = await openLazyItems(indexDoc(), BASE, { fetcher });
  assert.deepEqual(lazy.categoryColumns, ['department']); // artist is coded, but no category column
  const index = buildSearchIndex(lazy, ['artist', 'department']);
  const eager = buildSearchIndex(decodeItems(source), ['artist', 'department']);
  assert.deepEqual(index.categories.get('artist').values, eager.categories.get('artist').values);
  const state = emptyFilterState();
  state.categories.set('artist', new Set(['A']));
  await index.prepare(state);
  assert.deepEqual([...combine(evaluatePredicates(lazy, index, state))], [1, 0, 0, 0, 1]);
});

test('damaged files fail with their name', async () => {
  const short = fileFetcher({ 'lazy/cells.bin': new Uint8Array(8) });
  await assert.rejects(openLazyItems(indexDoc(), BASE, { fetcher: short.fetcher }), /lazy\/cells.bin: 8 bytes for 5 items/);
  const twice = new Uint8Array(new Uint32Array([0, 0, 1, 2, 3]).buffer);
  assert.throws(() => decodeCells(twice.buffer, 5, { cols: 4, rows: 3 }), /cell 0 holds items 0 and 1/);
  assert.throws(() => decodeIndex({ ...indexDoc(), format: 'cviz-items-index/9' }), /unsupported format/);
  assert.throws(() => decodeIndex({ ...indexDoc(), cells: '../../etc/passwd' }), /relative path inside the version/);
  assert.throws(() => decodeSearchShard(new ArrayBuffer(16), 's.bin'), /s.bin: not a cviz search shard/);
  const bad = fileFetcher({ 'lazy/items/3.json': new TextEncoder().encode('{"format":"cviz-items-shard/1","items":[4],"fields":{}}') });
  const items = await openLazyItems(indexDoc(), BASE, { fetcher: bad.fetcher });
  await assert.rejects(items.load([4]), /lazy\/items\/3.json: id has undefined entries/);
  const file = fs.readFileSync(path.join(root, 'lazy/search/6c61.bin'));
  const shard = decodeSearchShard(file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength));
  assert.deepEqual([...postings(shard, shard.words.indexOf('landscape'))], [0, 4]);
});

test('a first category filter waits for its own column only; the counts\' columns follow', async () => {
  const { fetcher, asked } = fileFetcher();
  const lazy = await openLazyItems(indexDoc(), BASE, { fetcher });
  const index = buildSearchIndex(lazy, ['artist', 'department']);
  const state = emptyFilterState();
  state.categories.set('department', new Set(['Prints']));
  await index.prepare(state);
  assert.deepEqual(asked.slice(1), ['lazy/cat-2.bin']);
  assert.deepEqual([...combine(evaluatePredicates(lazy, index, state))], [0, 1, 1, 0, 0]);
  assert.deepEqual(facetCounts(index, 'artist', combine(evaluatePredicates(lazy, index, state))),
    index.categories.get('artist').values); // not here yet: the totals, until rest() brings the column
  await index.rest(state);
  assert.deepEqual(asked.slice(2).sort(), ['lazy/cat-1.bin', 'lazy/years.bin']);
  assert.equal(index.rest(state), null);
  assert.deepEqual(facetCounts(index, 'artist', combine(evaluatePredicates(lazy, index, state))), new Map([['B', 1], ['Dürer', 1]]));
});
