// The item store of a collection published as lazy tables (items-index.json, lazy-format.js):
// the same object the rest of the viewer reads from decodeItems (count, grid, columns, fields,
// cellToItem, itemToCell, years, ...), with the text of an item present only once its shard was
// fetched. Readers that need text ask first: `await items.use(indices, fn)` (fn runs while those
// items are held) or `items.load(indices)`; `items.loaded(i)` says whether item i's text is here.
// decodeItems' store answers the same calls at once, so every module reads one interface.
//
// What is fetched when: cells.bin (4 bytes an item) on open, so the map can hover and dim; the
// text shard of a block of cells on hover, panel or export (kept, least recently used first out,
// up to `keepShards`); years.bin and the category code files on the first filter; one search
// file per query word. Nothing fetches all titles.
import {
  decodeCells, decodeCodes, decodeIndex, decodeSearchShard, decodeShard, decodeYears, fnv1a32, postings, shardKey,
  shardOfCell,
} from './lazy-format.js';

const KEEP_SHARDS = 64; // text shards kept (about 64,000 items' text)
const KEEP_SEARCH = 32; // search files kept
const PARALLEL = 6; // fetches in flight at once

async function get(fetcher, url, kind) {
  const res = await fetcher(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return kind === 'json' ? res.json() : res.arrayBuffer();
}

/** A Map used as a least-recently-used cache: get() moves the entry to the back. */
class Lru extends Map {
  touch(key) {
    const v = super.get(key);
    if (v !== undefined) { super.delete(key); super.set(key, v); }
    return v;
  }
}

export class LazyItems {
  constructor(index, baseUrl, { fetcher = (u) => fetch(u), keepShards = KEEP_SHARDS } = {}) {
    Object.assign(this, {
      lazy: true, index, baseUrl: String(baseUrl), fetcher, keepShards,
      count: index.count, collection: index.collection, grid: index.grid, columns: index.columns,
      dateColumn: index.dateColumn, categoryColumns: index.categoryColumns,
      columnsDropped: index.columnsDropped, sha256: index.sha256, years: null,
    });
    // One sparse array per field, as decodeItems' `fields`: entries appear as shards arrive.
    this.fields = Object.create(null);
    for (const key of ['id', 'image', ...index.columns]) {
      if (this.fields[key]) continue;
      const a = [];
      a.length = index.count;
      this.fields[key] = a;
    }
    this.shards = new Lru(); // shard number -> its item numbers
    this.pending = new Map(); // shard number -> Promise of its arrival
    this.pins = new Map(); // shard number -> uses holding it
    this.searchFiles = new Lru();
    this.idFiles = new Map();
    this.codes = new Map();
  }

  url(rel) {
    return new URL(rel, this.baseUrl).href;
  }

  /** Fetch and check cells.bin: every item's cell (needed before the map can hover or dim). */
  async open() {
    const cells = decodeCells(await get(this.fetcher, this.url(this.index.cells), 'buffer'), this.count, this.grid,
      this.index.cells);
    this.cellToItem = cells.cellToItem;
    this.itemToCell = cells.itemToCell;
    return this;
  }

  shardOf(i) {
    return shardOfCell(this.itemToCell[i], this.grid.cols, this.index.shards.block);
  }

  /** True when item i's text is here. */
  loaded(i) {
    return this.shards.has(this.shardOf(i));
  }

  fetchShard(n) {
    if (!this.pending.has(n)) {
      const rel = this.index.shards.path.replace('{n}', String(n));
      const p = get(this.fetcher, this.url(rel), 'json').then((doc) => {
        const { items, fields } = decodeShard(doc, this.index, rel);
        for (const [key, values] of Object.entries(fields)) {
          const column = this.fields[key];
          for (let k = 0; k < items.length; k++) column[items[k]] = values[k];
        }
        this.shards.set(n, items);
        this.evict();
      }).finally(() => this.pending.delete(n));
      this.pending.set(n, p);
    }
    return this.pending.get(n);
  }

  /** Drop the least recently used shards past `keepShards`, never one a use() holds. */
  evict() {
    for (const [n, items] of this.shards) {
      if (this.shards.size <= this.keepShards) break;
      if (this.pins.get(n)) continue;
      for (const column of Object.values(this.fields)) for (const i of items) delete column[i];
      this.shards.delete(n);
    }
  }

  /** Run fn() once the text of `indices` is here, holding it until fn returns; fn's result. */
  async use(indices, fn) {
    const wanted = [...new Set(Array.from(indices, (i) => this.shardOf(i)))];
    for (const n of wanted) this.pins.set(n, (this.pins.get(n) || 0) + 1);
    try {
      const missing = wanted.filter((n) => { this.shards.touch(n); return !this.shards.has(n); });
      for (let k = 0; k < missing.length; k += PARALLEL) {
        await Promise.all(missing.slice(k, k + PARALLEL).map((n) => this.fetchShard(n)));
      }
      return fn();
    } finally {
      for (const n of wanted) this.pins.set(n, this.pins.get(n) - 1);
      this.evict();
    }
  }

  /** Fetch the text of `indices` (kept while recently used). */
  load(indices) {
    return this.use(indices, () => undefined);
  }

  /** The item number of an id (an address's #item=), or undefined. */
  async findId(id) {
    const n = fnv1a32(id) % this.index.ids.shards;
    if (!this.idFiles.has(n)) {
      const rel = this.index.ids.path.replace('{n}', String(n));
      this.idFiles.set(n, get(this.fetcher, this.url(rel), 'json').then((doc) => {
        const map = new Map();
        const ids = Array.isArray(doc.ids) ? doc.ids : [];
        ids.forEach((v, k) => { if (Number.isInteger(doc.items[k]) && doc.items[k] < this.count) map.set(String(v), doc.items[k]); });
        return map;
      }));
    }
    return (await this.idFiles.get(n)).get(String(id));
  }

  /** years.bin into `years` (null when the collection has no date column). */
  async loadYears() {
    const y = this.index.years;
    if (!y || this.years) return this.years;
    this.yearsLoading ??= get(this.fetcher, this.url(y.path), 'buffer').then((buf) => {
      this.years = decodeYears(buf, this.count, y.missing, y.path);
    });
    await this.yearsLoading;
    return this.years;
  }

  /** A category column's codes (cat-<k>.bin) and texts, fetched once. */
  loadCodes(col) {
    const e = this.index.categories.get(col);
    if (!this.codes.has(col)) {
      this.codes.set(col, get(this.fetcher, this.url(e.path), 'buffer')
        .then((buf) => ({ codes: decodeCodes(buf, e.type, this.count, e.texts, e.path), texts: e.texts })));
    }
    return this.codes.get(col);
  }

  async searchFile(key) {
    let p = this.searchFiles.touch(key);
    if (!p) {
      const rel = this.index.search.path.replace('{key}', key);
      p = get(this.fetcher, this.url(rel), 'buffer').then((buf) => decodeSearchShard(buf, rel));
      p.catch(() => this.searchFiles.delete(key));
      this.searchFiles.set(key, p);
      for (const k of this.searchFiles.keys()) {
        if (this.searchFiles.size <= KEEP_SEARCH) break;
        this.searchFiles.delete(k);
      }
    }
    return p;
  }

  /**
   * Items whose title has, for every query word, a word beginning with it (a one-letter query word
   * matches that letter as a whole word). Words as wordsOf reads them.
   * @returns {Promise<Uint8Array>} a flag per item
   */
  async titleMatches(words) {
    let mask = null;
    for (const w of [...new Set(words)]) {
      const key = shardKey(w, this.index.search.keyChars);
      const ok = new Uint8Array(this.count);
      if (this.index.search.keys.has(key)) {
        const shard = await this.searchFile(key);
        const one = Array.from(w).length < this.index.search.keyChars;
        shard.words.forEach((word, k) => {
          if (one ? word === w : word.startsWith(w)) for (const i of postings(shard, k)) ok[i] = 1;
        });
      }
      if (mask) for (let i = 0; i < mask.length; i++) mask[i] &= ok[i];
      else mask = ok;
    }
    return mask || new Uint8Array(this.count);
  }
}

/** A store for a parsed items-index.json fetched from `indexUrl`, with its cells read. */
export function openLazyItems(doc, indexUrl, opts) {
  return new LazyItems(decodeIndex(doc), indexUrl, opts).open();
}
