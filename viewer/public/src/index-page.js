// The index page: one card per published collection (published/index.json).
import { $, el, fetchJson, showStatus } from './lib/dom.js';
import { collectionHref, isValidCollectionName } from './lib/url.js';

export async function showIndex({ appRoot, dataBase }) {
  document.title = 'cviz · collections';
  $('index-view').hidden = false;
  const list = $('collection-list');
  showStatus('Loading collections…');
  let index;
  try {
    index = await fetchJson(new URL('index.json', dataBase), { fresh: true });
  } catch (err) {
    if (err.status !== 404) throw err;
    index = { collections: [] }; // nothing published yet: an empty index, not an error
  }
  showStatus('');
  const collections = Array.isArray(index.collections) ? index.collections : [];
  const valid = collections.filter((c) => c && isValidCollectionName(c.name));
  if (valid.length === 0) {
    list.append(el('li', { className: 'empty muted' },
      'No published collections yet. Run the cviz pipeline to publish one.'));
    return;
  }
  for (const c of valid) list.append(card(c, appRoot, dataBase));
}

function card(c, appRoot, dataBase) {
  const preview = el('div', { className: 'card-preview' });
  const src = typeof c.preview === 'string' && c.preview ? new URL(c.preview, dataBase) : null;
  if (src && (src.protocol === 'http:' || src.protocol === 'https:')) {
    preview.append(el('img', { src: src.href, alt: '', loading: 'lazy', decoding: 'async' }));
  }
  const count = Number.isFinite(c.items) ? `${c.items.toLocaleString('en')} items` : '';
  const updated = typeof c.updated === 'string' && !Number.isNaN(Date.parse(c.updated))
    ? `updated ${new Date(c.updated).toISOString().slice(0, 10)}` : '';
  const link = el('a', { className: 'card', href: collectionHref(appRoot, c.name, window.location.href) },
    preview,
    el('span', { className: 'card-name' }, c.name),
    el('span', { className: 'card-meta muted' }, [count, updated].filter(Boolean).join(' · ')));
  return el('li', {}, link);
}
