// Decoding the lazy item tables (format cviz-items-index/1, docs/outputs.md "Lazy item tables"):
// what a collection above CVIZ_VIEWER_LAZY_ABOVE items publishes instead of one items.json
// (cviz/publish/items_lazy.py, cviz/publish/search_index.py). Pure functions, no fetching and no
// DOM: lazy-items.js fetches the files and keeps what it decoded; these check every file against
// the index, so a truncated or foreign file fails with its name rather than showing wrong items.
import { asText, columnKey } from './items.js';

export const INDEX_FORMAT = 'cviz-items-index/1';
export const SHARD_FORMAT = 'cviz-items-shard/1';
const SEARCH_MAGIC = 0x535a5643; // 'CVZS' read as a little-endian uint32
const MARKS = /[\u0300-\u036f]/g;
const WORD = /[\p{L}\p{N}]+/gu;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function fail(file, message) {
  throw new Error(`${file}: ${message}`);
}

/**
 * The words of a text as the search index holds them (search_index.words_of): lower case, the
 * combining marks U+0300-U+036F dropped after NFD (as normalizeText does), runs of letters and digits.
 */
export function wordsOf(text) {
  return asText(text).normalize('NFD').replace(MARKS, '').toLowerCase().match(WORD) || [];
}

function hex(bytes) {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

/** The search file a word is in: the hex of the UTF-8 of its first `chars` characters. */
export function shardKey(word, chars = 2) {
  return hex(new TextEncoder().encode(Array.from(word).slice(0, chars).join('')));
}

/** 32-bit FNV-1a of the UTF-8 of `text` (Fowler-Noll-Vo), as items_lazy.fnv1a32. */
export function fnv1a32(text) {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(asText(text))) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h >>> 0;
}

/** The text shard of the item in `cell`: blocks of `block` x `block` cells, row-major. */
export function shardOfCell(cell, cols, block) {
  const perRow = Math.ceil(cols / block);
  return Math.floor(Math.floor(cell / cols) / block) * perRow + Math.floor((cell % cols) / block);
}

function positiveInt(value, name) {
  if (!Number.isInteger(value) || value <= 0) fail('items-index.json', `${name} must be a positive integer`);
  return value;
}

function relPath(value, name) {
  if (typeof value !== 'string' || !value || value.startsWith('/') || value.split('/').includes('..')) {
    fail('items-index.json', `${name} must be a relative path inside the version`);
  }
  return value;
}

function decodeCategories(doc) {
  const out = new Map();
  for (const [col, e] of Object.entries(doc.categories || {})) {
    if (!e || !Array.isArray(e.texts) || !['uint8', 'uint16'].includes(e.type)) {
      fail('items-index.json', `category ${JSON.stringify(col)} is not a code column`);
    }
    // Part -> count as the eager path's index has them (a Map: a value named __proto__ is data).
    const totals = new Map(Object.entries(e.counts || {}).filter(([, n]) => Number.isInteger(n) && n > 0));
    out.set(columnKey(col), { path: relPath(e.path, `categories.${col}.path`), type: e.type, texts: e.texts.map(asText), totals });
  }
  return out;
}

/** Validate a parsed items-index.json; the index as lazy-items.js reads it. */
export function decodeIndex(doc) {
  const f = 'items-index.json';
  if (!doc || typeof doc !== 'object' || doc.format !== INDEX_FORMAT) fail(f, `unsupported format ${JSON.stringify(doc && doc.format)}`);
  if (!Number.isInteger(doc.count) || doc.count < 0) fail(f, 'count must be a non-negative integer');
  const g = doc.grid || fail(f, 'missing grid');
  const grid = {
    cols: positiveInt(g.cols, 'grid.cols'), rows: positiveInt(g.rows, 'grid.rows'),
    cellWidth: positiveInt(g.cell_width, 'grid.cell_width'), cellHeight: positiveInt(g.cell_height, 'grid.cell_height'),
  };
  grid.width = Number.isInteger(g.width) ? g.width : grid.cols * grid.cellWidth;
  grid.height = Number.isInteger(g.height) ? g.height : grid.rows * grid.cellHeight;
  const s = doc.shards || fail(f, 'missing shards');
  const search = doc.search || fail(f, 'missing search');
  const ids = doc.ids || fail(f, 'missing ids');
  const y = doc.years;
  const strings = (list) => (Array.isArray(list) ? list.filter((c) => typeof c === 'string') : []);
  const csv = strings(doc.columns);
  const categories = decodeCategories(doc); // the category columns, and other columns coded for a filter
  return {
    count: doc.count, collection: asText(doc.collection), grid, sha256: asText(doc.items_sha256),
    csvColumns: csv,
    columns: ['title', 'url', ...csv.map(columnKey)],
    dateColumn: typeof doc.date_column === 'string' && csv.includes(doc.date_column) ? columnKey(doc.date_column) : null,
    categories,
    categoryColumns: strings(doc.category_columns).map(columnKey).filter((c) => categories.has(c)),
    columnsDropped: Number.isInteger(doc.columns_dropped) ? doc.columns_dropped : 0,
    cells: relPath(doc.cells, 'cells'),
    shards: { block: positiveInt(s.block, 'shards.block'), path: relPath(s.path, 'shards.path') },
    ids: { shards: positiveInt(ids.shards, 'ids.shards'), path: relPath(ids.path, 'ids.path') },
    search: { path: relPath(search.path, 'search.path'), keys: new Set(strings(search.keys)), keyChars: positiveInt(search.key_chars, 'search.key_chars') },
    years: y ? {
      path: relPath(y.path, 'years.path'), missing: y.missing, min: y.min, max: y.max, undated: y.undated || 0,
      counts: (Array.isArray(y.counts) ? y.counts : []).filter((p) => Array.isArray(p) && Number.isInteger(p[0]) && Number.isInteger(p[1])),
    } : null,
  };
}

function typed(buffer, Type, count, file) {
  if (!(buffer instanceof ArrayBuffer)) fail(file, 'not binary');
  if (buffer.byteLength !== count * Type.BYTES_PER_ELEMENT) {
    fail(file, `${buffer.byteLength} bytes for ${count} items (expected ${count * Type.BYTES_PER_ELEMENT})`);
  }
  if (LITTLE_ENDIAN || Type.BYTES_PER_ELEMENT === 1) return new Type(buffer);
  const view = new DataView(buffer);
  const out = new Type(count);
  const get = { 2: Type === Int16Array ? 'getInt16' : 'getUint16', 4: 'getUint32' }[Type.BYTES_PER_ELEMENT];
  for (let i = 0; i < count; i++) out[i] = view[get](i * Type.BYTES_PER_ELEMENT, true);
  return out;
}

/** cells.bin -> {cellToItem, itemToCell}; every cell inside the grid and held once. */
export function decodeCells(buffer, count, grid, file = 'cells.bin') {
  const cells = typed(buffer, Uint32Array, count, file);
  const nCells = grid.cols * grid.rows;
  const cellToItem = new Int32Array(nCells).fill(-1);
  const itemToCell = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const c = cells[i];
    if (c >= nCells) fail(file, `item ${i} has cell ${c} outside the ${grid.cols}x${grid.rows} grid`);
    if (cellToItem[c] !== -1) fail(file, `cell ${c} holds items ${cellToItem[c]} and ${i}`);
    cellToItem[c] = i;
    itemToCell[i] = c;
  }
  return { cellToItem, itemToCell };
}

/** years.bin -> a year or null per item (the eager path's items.years). */
export function decodeYears(buffer, count, missing, file = 'years.bin') {
  const raw = typed(buffer, Int16Array, count, file);
  const years = new Array(count);
  for (let i = 0; i < count; i++) years[i] = raw[i] === missing ? null : raw[i];
  return years;
}

/** cat-<k>.bin -> a code per item (0: no value; k: texts[k - 1]). */
export function decodeCodes(buffer, type, count, texts, file) {
  const codes = typed(buffer, type === 'uint16' ? Uint16Array : Uint8Array, count, file);
  for (let i = 0; i < count; i++) if (codes[i] > texts.length) fail(file, `item ${i} has code ${codes[i]} of ${texts.length}`);
  return codes;
}

/** items/<n>.json -> {items, fields}: the shard's item numbers and its text per field key. */
export function decodeShard(doc, index, file) {
  if (!doc || doc.format !== SHARD_FORMAT) fail(file, `unsupported format ${JSON.stringify(doc && doc.format)}`);
  const items = doc.items;
  if (!Array.isArray(items) || !items.every((i) => Number.isInteger(i) && i >= 0 && i < index.count)) {
    fail(file, 'items must be item numbers of this collection');
  }
  const fields = Object.create(null);
  const take = (table, name, key) => {
    const arr = table && table[name];
    if (!Array.isArray(arr) || arr.length !== items.length) fail(file, `${name} has ${arr && arr.length} entries for ${items.length} items`);
    fields[key] = arr;
  };
  for (const name of ['id', 'image', 'title', 'url']) take(doc.fields, name, name);
  for (const name of index.csvColumns) take(doc.values, name, columnKey(name));
  return { items, fields };
}

/** search/<key>.bin -> {words, counts, ends, blob}; postings(shard, k) reads word k's items. */
export function decodeSearchShard(buffer, file = 'search shard') {
  if (!(buffer instanceof ArrayBuffer) || buffer.byteLength < 12) fail(file, 'shorter than its header');
  const view = new DataView(buffer);
  if (view.getUint32(0, true) !== SEARCH_MAGIC || view.getUint32(4, true) !== 1) fail(file, 'not a cviz search shard');
  const size = view.getUint32(8, true);
  if (12 + size > buffer.byteLength) fail(file, 'header runs past the end');
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 12, size)));
  const { words, counts, ends } = header;
  if (!Array.isArray(words) || !Array.isArray(counts) || !Array.isArray(ends)
    || counts.length !== words.length || ends.length !== words.length) fail(file, 'words, counts and ends differ in length');
  const blob = new Uint8Array(buffer, 12 + size);
  if (words.length && ends[ends.length - 1] !== blob.length) fail(file, 'postings do not end where the header says');
  return { words, counts, ends, blob, file };
}

/** The items of word k of a search shard, ascending (LEB128 varint gaps, the first absolute). */
export function postings(shard, k) {
  const { blob, ends, counts } = shard;
  const out = new Int32Array(counts[k]);
  let p = k === 0 ? 0 : ends[k - 1];
  const end = ends[k];
  let prev = 0;
  for (let n = 0; n < out.length; n++) {
    let value = 0;
    let shift = 0;
    let b;
    do {
      if (p >= end) fail(shard.file, `postings of ${JSON.stringify(shard.words[k])} are cut short`);
      b = blob[p++];
      value += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    prev = n === 0 ? value : prev + value;
    out[n] = prev;
  }
  return out;
}
