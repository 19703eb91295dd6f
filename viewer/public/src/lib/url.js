// Reading and writing the page address.
//   /?c=<name>            a collection (works on any static host)
//   /c/<name>/            the same, a pretty path (served by server.js)
//   ...#item=<id>         an item: zoom to it and open its panel
//   ?data=<base>          override the data base (same origin only)

// Collection names are folder names under published/; refusing anything else keeps
// a crafted address from steering requests elsewhere ('..', slashes, schemes).
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function isValidCollectionName(name) {
  return typeof name === 'string' && NAME_RE.test(name) && !name.includes('..');
}

/** {collection, item} from a URL (string or URL). Invalid names become null. */
export function parseLocation(href) {
  const url = new URL(href);
  let collection = url.searchParams.get('c');
  if (collection === null) {
    const m = url.pathname.match(/\/c\/([^/]+)\/?$/);
    if (m) {
      try { collection = decodeURIComponent(m[1]); } catch { collection = null; }
    }
  }
  if (!isValidCollectionName(collection)) collection = null;
  return { collection, item: parseItemHash(url.hash) };
}

/** The id in '#item=<id>' (percent-decoded), or null. */
export function parseItemHash(hash) {
  const h = (hash || '').replace(/^#/, '');
  for (const part of h.split('&')) {
    if (part.startsWith('item=')) {
      const raw = part.slice(5);
      try { return decodeURIComponent(raw.replace(/\+/g, '%20')) || null; } catch { return raw || null; }
    }
  }
  return null;
}

export function itemHash(id) {
  return `#item=${encodeURIComponent(id)}`;
}

/**
 * Address of a collection's map (or of the index when name is null) under the app
 * root; '?c=' works on any static host. A `?data=` override on the current page is kept.
 */
export function collectionHref(appRoot, name, currentHref = null) {
  const u = new URL(appRoot);
  const params = new URLSearchParams();
  if (name !== null) params.set('c', name);
  const data = currentHref ? new URL(currentHref).searchParams.get('data') : null;
  if (data) params.set('data', data);
  u.search = params.toString() ? `?${params}` : '';
  u.hash = '';
  return u.href;
}

/** An http(s) URL string safe to put in href, or null (javascript:, data:, relative, junk). */
export function safeHttpUrl(value) {
  if (typeof value !== 'string') return null;
  const s = value.trim();
  if (!/^https?:\/\//i.test(s)) return null;
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch {
    return null;
  }
}

/**
 * Resolve the data base: `?data=` if it stays on the page's origin, else the
 * configured default; always ends with '/'.
 */
export function resolveDataBase(pageHref, appRoot, configured) {
  const fromQuery = new URL(pageHref).searchParams.get('data');
  const fallback = new URL(configured || 'data/', appRoot);
  let base = fallback;
  if (fromQuery) {
    try {
      const candidate = new URL(fromQuery, appRoot);
      if (candidate.origin === new URL(appRoot).origin) base = candidate;
    } catch { /* keep the default */ }
  }
  const href = base.href.split(/[?#]/)[0];
  return href.endsWith('/') ? href : `${href}/`;
}

import { encodeSelection } from './selection-code.js';

// ---- the view in the address: #layout=timeline&item=..&q=..&all=1&y=lo~hi&f.<column>=<value>&region=<scale>~<id>&dups=1&sel=rect~<code>&mode=rect
// Everything percent-encoded, so any column name or value round-trips (`&`, `=`, `~`, `__proto__`).

const enc = encodeURIComponent;
function dec(s) {
  try { return decodeURIComponent(s.replace(/\+/g, '%20')); } catch { return s; }
}

/**
 * The address hash for a view. `view`: {layout, item, query, allFields, yearRange, categories:
 * Map<col, Set>, region: {scale, id} | null, selection: {mode, items: Uint8Array} | null,
 * mode: 'rect'|'lasso'|null}. The similarity layout is the default and is left out. The
 * selection is its shape and its items' code (lib/selection-code.js).
 */
export function viewHash(view) {
  const parts = [];
  if (view.layout && view.layout !== 'similarity') parts.push(`layout=${enc(view.layout)}`);
  if (view.item !== null && view.item !== undefined) parts.push(`item=${enc(view.item)}`);
  if (view.query && view.query.trim()) parts.push(`q=${enc(view.query)}`);
  if (view.allFields) parts.push('all=1');
  if (view.yearRange) {
    const [lo, hi] = view.yearRange;
    parts.push(`y=${Number.isFinite(lo) ? lo : ''}~${Number.isFinite(hi) ? hi : ''}`);
  }
  for (const [col, set] of view.categories || []) {
    for (const v of set) parts.push(`f.${enc(col)}=${enc(v)}`);
  }
  if (view.region) parts.push(`region=${enc(view.region.scale)}~${view.region.id}`);
  if (view.duplicates) parts.push('dups=1');
  if (view.selection) parts.push(`sel=${view.selection.mode === 'lasso' ? 'lasso' : 'rect'}~${encodeSelection(view.selection.items)}`);
  if (view.mode) parts.push(`mode=${enc(view.mode)}`);
  return parts.length ? `#${parts.join('&')}` : '';
}

/**
 * Inverse of viewHash; unknown or malformed parts are ignored. The selection comes back as
 * {mode, code}: only the page knows the item count that decodeSelection needs.
 */
export function parseViewHash(hash) {
  const view = { layout: null, item: null, query: '', allFields: false, yearRange: null, categories: new Map(), region: null, duplicates: false, selection: null, mode: null };
  for (const part of (hash || '').replace(/^#/, '').split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const key = dec(part.slice(0, eq));
    const value = dec(part.slice(eq + 1));
    if (key === 'item') view.item = value || null;
    else if (key === 'layout') view.layout = value || null; // unknown names: the page falls back
    else if (key === 'q') view.query = value;
    else if (key === 'all') view.allFields = value === '1';
    else if (key === 'y') {
      const m = value.match(/^(-?\d*)~(-?\d*)$/);
      if (m && (m[1] || m[2])) view.yearRange = [m[1] ? Number(m[1]) : -Infinity, m[2] ? Number(m[2]) : Infinity];
    } else if (key.startsWith('f.') && key.length > 2) {
      const col = key.slice(2);
      if (!view.categories.has(col)) view.categories.set(col, new Set());
      view.categories.get(col).add(value);
    } else if (key === 'region') {
      const m = value.match(/^(.+)~(\d+)$/);
      if (m) view.region = { scale: m[1], id: Number(m[2]) };
    } else if (key === 'dups') view.duplicates = value === '1';
    else if (key === 'sel') {
      const m = value.match(/^(rect|lasso)~([A-Za-z0-9_-]*)$/);
      if (m) view.selection = { mode: m[1], code: m[2] };
    } else if (key === 'mode' && (value === 'rect' || value === 'lasso')) view.mode = value;
  }
  return view;
}
