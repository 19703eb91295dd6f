// Search and filters, combined with AND, as plain arrays of flags per item.
//
// Each predicate (search text, year range, one per category column) produces its
// own Uint8Array; the match mask is their AND. Keeping them separate lets the
// filter panel show "faceted" counts: the counts next to a filter are computed
// with every *other* filter applied, the usual behaviour of faceted search.

import { asText, itemTitle, splitCategory } from './items.js';

/** Lower-case and strip diacritics, so "Durer" finds "Dürer". */
export function normalizeText(s) {
  return asText(s).normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase();
}

/** Query -> list of normalized words; all must occur (in any order). */
export function queryTokens(query) {
  return normalizeText(query).split(/\s+/).filter(Boolean);
}

/**
 * Precompute what filtering needs, once per collection.
 * @returns {{titles:string[], allText:string[], categories:Object<string,{perItem:string[][], values:Map<string,number>}>}}
 */
export function buildSearchIndex(items) {
  const { count, fields, columns } = items;
  const titles = new Array(count);
  const allText = new Array(count);
  const textColumns = columns.filter((c) => c !== 'url');
  for (let i = 0; i < count; i++) {
    titles[i] = normalizeText(itemTitle(items, i)); // the title as shown, id when empty
    allText[i] = textColumns.map((c) => normalizeText(fields[c][i])).join('\n');
  }
  const categories = {};
  for (const col of items.categoryColumns) {
    const perItem = new Array(count);
    const values = new Map();
    for (let i = 0; i < count; i++) {
      const parts = [...new Set(splitCategory(fields[col][i]))];
      perItem[i] = parts;
      for (const v of parts) values.set(v, (values.get(v) || 0) + 1);
    }
    categories[col] = { perItem, values };
  }
  return { titles, allText, categories };
}

/** An empty filter state: everything matches. */
export function emptyFilterState() {
  return { query: '', allFields: false, yearRange: null, categories: {} };
}

/** True when some search or filter is narrowing the items. */
export function isFiltering(state) {
  return queryTokens(state.query).length > 0 || state.yearRange !== null
    || Object.values(state.categories).some((set) => set && set.size > 0);
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
    const haystack = state.allFields ? index.allText : index.titles;
    const ok = new Uint8Array(n);
    for (let i = 0; i < n; i++) ok[i] = tokens.every((t) => haystack[i].includes(t)) ? 1 : 0;
    parts.push({ key: 'search', ok });
  }

  if (state.yearRange) {
    const [lo, hi] = state.yearRange;
    const ok = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const y = items.years[i];
      ok[i] = y !== null && y >= lo && y <= hi ? 1 : 0; // undated items fall outside any range
    }
    parts.push({ key: 'year', ok });
  }

  for (const [col, selected] of Object.entries(state.categories)) {
    if (!selected || selected.size === 0 || !index.categories[col]) continue;
    const perItem = index.categories[col].perItem;
    const ok = new Uint8Array(n);
    // Values within one column combine with OR (any selected value), columns with AND.
    for (let i = 0; i < n; i++) ok[i] = perItem[i].some((v) => selected.has(v)) ? 1 : 0;
    parts.push({ key: `category:${col}`, ok });
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
  const counts = new Map();
  const perItem = index.categories[col].perItem;
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    for (const v of perItem[i]) counts.set(v, (counts.get(v) || 0) + 1);
  }
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
