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
