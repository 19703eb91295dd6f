// Search and filters, combined with AND, as plain arrays of flags per item.
//
// Each predicate (search text, year range, one per category column) produces its
// own Uint8Array; the match mask is their AND. Keeping them separate lets the
// filter panel show "faceted" counts: the counts next to a filter are computed
// with every *other* filter applied, the usual behaviour of faceted search.
//
// Everything keyed by data (column names, category values) is a Map, never a plain
// object: a column or value named `constructor`, `__proto__` or `toString` is data.

import { asText, itemTitle, splitCategory } from './items.js';
import { wordsOf } from './lazy-format.js';

/** Lower-case and strip diacritics, so "Durer" finds "Dürer". */
export function normalizeText(s) {
  return asText(s).normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase();
}

/** Query -> list of normalized words; all must occur (in any order). */
export function queryTokens(query) {
  return normalizeText(query).split(/\s+/).filter(Boolean);
}

/** The values of one metadata column (one per item). The one place that reads a column by name. */
export function columnValues(items, col) {
  return Object.hasOwn(items.fields, col) ? items.fields[col] : null;
}

/** Category values per distinct cell text: code 0 is the empty text (no value). */
function codedColumn(column, count) {
  const codes = new Uint32Array(count);
  const parts = [[]];
  const codeOf = new Map([['', 0]]);
  const values = new Map();
  for (let i = 0; i < count; i++) {
    const raw = column[i] === null || column[i] === undefined ? '' : String(column[i]);
    let code = codeOf.get(raw);
    if (code === undefined) {
      code = parts.length;
      codeOf.set(raw, code);
      parts.push([...new Set(splitCategory(raw))]);
    }
    codes[i] = code;
  }
  const perCode = new Array(parts.length).fill(0);
  for (let i = 0; i < count; i++) perCode[codes[i]]++;
  parts.forEach((ps, k) => { for (const v of ps) values.set(v, (values.get(v) || 0) + perCode[k]); });
  return { codes, parts, values };
}

/**
 * Precompute what filtering needs, once per collection.
 * A category column is coded: `codes` (one per item) index `parts` (the `|`-separated values of
 * each distinct text), so a filter or a count is one pass over a typed array.
 * @param {string[]} [categoryColumns] columns offered as value filters (default items.categoryColumns)
 * @returns {{titles:string[], allText:string[], categories:Map<string,{codes:Uint32Array, parts:string[][], values:Map<string,number>}>}}
 */
export function buildSearchIndex(items, categoryColumns = items.categoryColumns) {
  if (items.lazy) return lazySearchIndex(items, categoryColumns);
  const { count, columns } = items;
  const titles = new Array(count);
  for (let i = 0; i < count; i++) titles[i] = normalizeText(itemTitle(items, i)); // the title as shown, id when empty
  // Every text column, normalized: the costliest part (about 150 ms for 13,000 items with ten
  // columns), so it is built on the first "all fields" search, not while the map loads.
  let allText = null;
  const allTextOf = () => {
    if (allText) return allText;
    const textColumns = columns.filter((c) => c !== 'url').map((c) => columnValues(items, c)).filter(Boolean);
    allText = new Array(count);
    for (let i = 0; i < count; i++) allText[i] = textColumns.map((values) => normalizeText(values[i])).join('\n');
    return allText;
  };
  const categories = new Map();
  for (const col of categoryColumns) {
    const column = columnValues(items, col);
    if (!column || categories.has(col)) continue;
    categories.set(col, codedColumn(column, count));
  }
  return { titles, get allText() { return allTextOf(); }, categories, prepare: () => null, rest: () => null };
}

/**
 * The same for a lazy store (lazy-items.js): category totals from the index, codes, years and
 * title matches fetched by prepare(state) before the state is evaluated. Searches titles only.
 */
function lazySearchIndex(items, categoryColumns) {
  const categories = new Map();
  for (const col of categoryColumns) {
    const e = items.index.categories.get(col);
    if (!e || categories.has(col)) continue;
    categories.set(col, { codes: null, parts: [[], ...e.texts.map((t) => [...new Set(splitCategory(t))])], values: e.totals });
  }
  let found = { key: null, mask: null };
  const codes = (col) => items.loadCodes(col).then((r) => { categories.get(col).codes = r.codes; });
  return {
    lazy: true, titles: null, allText: null, categories,
    /** null when what evaluating `state` needs is here, else a Promise of its arrival. */
    prepare(state) {
      const jobs = [];
      const words = wordsOf(state.query);
      const key = words.join(' ');
      if (words.length && found.key !== key) {
        jobs.push(items.titleMatches(words).then((mask) => { found = { key, mask }; }));
      }
      if (state.yearRange && items.dateColumn && !items.years) jobs.push(items.loadYears());
      for (const [col, set] of state.categories) {
        if (set && set.size && categories.has(col) && !categories.get(col).codes) jobs.push(codes(col));
      }
      return jobs.length ? Promise.all(jobs) : null;
    },
    /** What the sidebar's counts under `state` need beyond that (every column), or null: fetched
     * after the result shows, so a first filter dims the map without waiting for them. */
    rest(state) {
      if (!isFiltering(state)) return null;
      const jobs = [];
      if (items.dateColumn && !items.years) jobs.push(items.loadYears());
      for (const [col, c] of categories) if (!c.codes) jobs.push(codes(col));
      return jobs.length ? Promise.all(jobs) : null;
    },
    /** The prepared title matches of the state's query. */
    searchMask(state) {
      const key = wordsOf(state.query).join(' ');
      return key && found.key === key ? found.mask : new Uint8Array(items.count);
    },
  };
}

/**
 * An empty filter state: everything matches.
 * categories: Map column -> Set of values; region: {scale, id, name, itemRegion} or null;
 * duplicates: decoded duplicates.json ({groups, groupOf}) while "has near-duplicates" is on, or null;
 * selection: {mode, items: Uint8Array} or null (cells picked on the map).
 */
export function emptyFilterState() {
  return { query: '', allFields: false, yearRange: null, categories: new Map(), region: null, selection: null, duplicates: null };
}

/** True when some search or filter is narrowing the items. */
export function isFiltering(state) {
  return queryTokens(state.query).length > 0 || state.yearRange !== null
    || [...state.categories.values()].some((set) => set && set.size > 0)
    || !!state.region || !!state.selection || !!state.duplicates;
}

/**
 * Evaluate each active predicate separately.
 * @returns {{count:number, parts:Array<{key:string, ok:Uint8Array}>}}
 */
export function evaluatePredicates(items, index, state) {
  const n = items.count;
  const parts = [];

  const tokens = queryTokens(state.query);
  if (tokens.length) {
    if (index.lazy) parts.push({ key: 'search', ok: index.searchMask(state) });
    else {
      const haystack = state.allFields ? index.allText : index.titles;
      const ok = new Uint8Array(n);
      for (let i = 0; i < n; i++) ok[i] = tokens.every((t) => haystack[i].includes(t)) ? 1 : 0;
      parts.push({ key: 'search', ok });
    }
  }

  if (state.yearRange) {
    const [lo, hi] = state.yearRange;
    const ok = new Uint8Array(n);
    const years = items.years || [];
    for (let i = 0; i < n; i++) {
      const y = years[i] ?? null;
      ok[i] = y !== null && y >= lo && y <= hi ? 1 : 0; // undated items fall outside any range
    }
    parts.push({ key: 'year', ok });
  }

  for (const [col, selected] of state.categories) {
    if (!selected || selected.size === 0 || !index.categories.has(col)) continue;
    const { codes, parts: partsOf } = index.categories.get(col);
    const ok = new Uint8Array(n);
    // Values within one column combine with OR (any selected value), columns with AND.
    const codeOk = Uint8Array.from(partsOf, (ps) => (ps.some((v) => selected.has(v)) ? 1 : 0));
    for (let i = 0; i < n; i++) ok[i] = codeOk[codes[i]];
    parts.push({ key: `category:${col}`, ok });
  }

  if (state.region) {
    const { itemRegion, id } = state.region;
    const ok = new Uint8Array(n);
    for (let i = 0; i < n; i++) ok[i] = itemRegion[i] === id ? 1 : 0;
    parts.push({ key: 'region', ok });
  }
  if (state.selection) parts.push({ key: 'selection', ok: state.selection.items });
  if (state.duplicates) { // decoded duplicates.json: items in a near-duplicate group
    const { groupOf } = state.duplicates;
    const ok = new Uint8Array(n);
    for (let i = 0; i < n; i++) ok[i] = groupOf[i] >= 0 ? 1 : 0;
    parts.push({ key: 'duplicates', ok });
  }
  return { count: n, parts };
}

/** AND of the evaluated predicates, optionally leaving one out (for facet counts). */
export function combine(evaluated, exceptKey = null) {
  const mask = new Uint8Array(evaluated.count).fill(1);
  for (const { key, ok } of evaluated.parts) {
    if (key === exceptKey) continue;
    for (let i = 0; i < mask.length; i++) mask[i] &= ok[i];
  }
  return mask;
}

/** Number of set flags. */
export function countMask(mask) {
  let k = 0;
  for (let i = 0; i < mask.length; i++) k += mask[i];
  return k;
}

/** Per-value counts of one category column among items passing `mask`. */
export function facetCounts(index, col, mask) {
  const { codes, parts, values } = index.categories.get(col);
  if (!codes) return new Map(values); // a lazy store's column not here yet (index.rest() fetches it)
  const perCode = new Float64Array(parts.length);
  for (let i = 0; i < mask.length; i++) if (mask[i]) perCode[codes[i]]++;
  const counts = new Map();
  parts.forEach((ps, k) => {
    if (perCode[k]) for (const v of ps) counts.set(v, (counts.get(v) || 0) + perCode[k]);
  });
  return counts;
}

/** Matching items ordered by their cell (reading order on the map), for stepping. */
export function matchesInCellOrder(items, mask) {
  const out = [];
  for (let c = 0; c < items.cellToItem.length; c++) {
    const i = items.cellToItem[c];
    if (i !== -1 && mask[i]) out.push(i);
  }
  return out;
}

/**
 * Values of one filter list in display order: selected first, then by count under the
 * current filters (descending), zero counts last, ties by name; `find` keeps values
 * containing it (case and accents ignored).
 * @param {Map<string,number>} totals value -> count in the whole collection
 * @param {Map<string,number>} counts value -> count under the other filters
 * @param {Set<string>} selected
 * @returns {Array<{value:string, count:number, selected:boolean}>}
 */
export function orderedValues(totals, counts, selected, find = '') {
  const needle = normalizeText(find).trim();
  const out = [];
  for (const value of totals.keys()) {
    if (needle && !normalizeText(value).includes(needle)) continue;
    out.push({ value, count: counts.get(value) || 0, selected: selected.has(value) });
  }
  out.sort((a, b) => (b.selected - a.selected) || (b.count - a.count)
    || (totals.get(b.value) - totals.get(a.value)) || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
  return out;
}
