// Opening a collection's map: current.json names the versioned items.json (or, for a large
// collection, items-index.json: a lazy item store, lib/lazy-items.js) and pyramid (and the
// layouts); OpenSeadragon loads in parallel and starts on the tiles while items.json is still on
// its way; then the MapPage is composed, and the regions join it when they arrive.
import { $, fetchJson, showStatus } from './lib/dom.js';
import { decodeItems } from './lib/items.js';
import { INDEX_FORMAT } from './lib/lazy-format.js';
import { openLazyItems } from './lib/lazy-items.js';
import { collectionHref, parseViewHash } from './lib/url.js';
import { decodeDuplicates, decodeRegions, decodeVocabulary } from './lib/extras.js';
import { decodeLayout, itemsSha256, layoutRefusal, offeredLayouts, similarityLayout } from './lib/layout.js';
import { drawerChoice, viewerOptions } from './osd-options.js';
import { MapPage } from './map-page.js';
import { perf } from './perf.js';
import { exposePerf } from './test-handle.js';

const ZOOM_STEP = 1.6; // the + and − buttons
const TILES_FIRST_MS = 1500; // a lazy store's cells wait this long at most for the first tile

exposePerf(perf); // under test only (test-handle.js)

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = src;
    s.onload = resolve;
    s.onerror = () => reject(new Error(`could not load ${src}`));
    document.head.append(s);
  });
}

export async function showMap({ appRoot, dataBase, name, initialItem }) {
  document.title = `${name} · cviz`;
  $('map-view').hidden = false;
  // A phone: the map first. Before OpenSeadragon measures its container, or its first
  // resize would shift the view (preserveImageSizeOnResize) away from an opened item.
  if (window.matchMedia('(max-width: 760px)').matches) {
    document.body.classList.add('filters-hidden');
    $('toggle-filters').setAttribute('aria-expanded', 'false');
  }
  $('collection-title').textContent = name;
  $('home-link').href = collectionHref(appRoot, null, window.location.href);
  showStatus('Loading map…');

  const collectionBase = new URL(`${encodeURIComponent(name)}/`, dataBase);
  // OpenSeadragon and the pointer load in parallel; then the viewer starts on the
  // DZI while items.json is still on its way, so tiles do not wait for metadata.
  const osdReady = window.OpenSeadragon ? Promise.resolve()
    : loadScript(new URL('vendor/openseadragon/openseadragon.min.js', appRoot).href);
  let current;
  try {
    current = await fetchJson(new URL('current.json', collectionBase), { fresh: true });
  } catch (err) {
    if (err.status === 404) throw new Error(`no published map named "${name}" (404)`);
    throw err;
  }
  if (typeof current.items !== 'string' || typeof current.dzi !== 'string') {
    throw new Error('current.json does not name items and dzi');
  }
  const itemsUrl = new URL(current.items, collectionBase);
  const offered = offeredLayouts(current);
  const itemsDoc = fetchJson(itemsUrl);
  itemsDoc.catch(() => {}); // reported below, once awaited
  // A layout named in the address (#layout=timeline): its layout.json loads beside items.json,
  // and the viewer opens that layout's pyramid directly. Unknown or absent: the similarity map.
  const wanted = offered.find((e) => e.name !== 'similarity' && e.name === parseViewHash(window.location.hash).layout);
  const wantedDoc = wanted ? fetchJson(new URL(wanted.layout, collectionBase)) : null;
  if (wantedDoc) wantedDoc.catch(() => {});
  // The viewer's extras sit beside items.json in the same version folder; each is optional.
  const optional = (file) => fetchJson(new URL(file, itemsUrl)).catch((err) => {
    console.warn(`${file}: ${err.message} (that feature is off)`);
    return null;
  });
  // A lazy store's files after the first tile (at most TILES_FIRST_MS after the viewer starts), so
  // the map's first picture never shares the line with megabytes of cells.bin or regions.json.
  let tileArrived;
  const tileFirst = new Promise((resolve) => { tileArrived = resolve; });
  const lazy = itemsDoc.then((doc) => !!doc && doc.format === INDEX_FORMAT, () => false);
  const extra = (file) => lazy.then((yes) => (yes ? tileFirst : null)).then(() => optional(file));
  const vocabularyDoc = extra('vocabulary.json');
  const regionsDoc = extra('regions.json');
  const duplicatesDoc = extra('duplicates.json');
  await osdReady;
  let items;
  let layout = null;
  let refused = false;
  if (wantedDoc) {
    items = await openItems(await itemsDoc, itemsUrl);
    try {
      layout = decodeLayout(await wantedDoc, items, wanted.name, itemsSha256(items));
    } catch (err) {
      console.warn(err.message);
      refused = true;
      showStatus(layoutRefusal(wanted.name, err), { error: true });
      setTimeout(() => showStatus(''), 8000);
    }
  }
  const entry = layout ? wanted : offered[0];
  const viewer = createViewer(new URL(entry.dzi, collectionBase));
  viewer.addOnceHandler('tile-loaded', tileArrived);
  setTimeout(tileArrived, TILES_FIRST_MS);
  items ??= await openItems(await itemsDoc, itemsUrl, tileFirst);
  layout ??= similarityLayout(items);
  perf.itemsLoaded = performance.now();
  let vocabulary = null;
  try {
    const doc = await vocabularyDoc;
    vocabulary = doc ? decodeVocabulary(doc, items) : null;
  } catch (err) { console.warn(err.message); }
  if (!refused) showStatus('');
  // One frame first: OpenSeadragon issues its first tile requests before the page's own
  // set-up (search index, filter lists) takes the main thread for a few hundred ms.
  await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
  const t0 = performance.now();
  const page = new MapPage({ viewer, items, itemsUrl, initialItem, vocabulary, layout, offered, collectionBase });
  perf.mapPageMs = performance.now() - t0;
  regionsDoc.then((doc) => {
    try {
      if (doc) page.extras.setRegions(decodeRegions(doc, items));
    } catch (err) { console.warn(err.message); }
  });
  duplicatesDoc.then((doc) => {
    try {
      if (doc) page.extras.setDuplicates(decodeDuplicates(doc, items));
    } catch (err) { console.warn(err.message); }
  });
}

/** The item store: items.json decoded, or a lazy store over items-index.json (lib/lazy-items.js). */
async function openItems(doc, itemsUrl, after = null) {
  if (!doc || doc.format !== INDEX_FORMAT) return decodeItems(doc);
  await after;
  return openLazyItems(doc, itemsUrl);
}

/** The OpenSeadragon viewer on the map element (osd-options.js), its timings, and the zoom buttons. */
function createViewer(dziUrl) {
  const viewer = window.OpenSeadragon(viewerOptions({
    element: $('map'), dziUrl, pageOrigin: window.location.origin, drawer: drawerChoice(),
  }));
  viewer.addHandler('open-failed', (e) => showStatus(`Could not open the map: ${e.message}`, { error: true }));
  viewer.addHandler('tile-loaded', () => { perf.firstTileLoaded ??= performance.now(); });
  viewer.addHandler('update-viewport', () => {
    // OSD raises this right after drawing the world: the first one after a tile
    // arrived is the first frame with tiles on screen, whatever the drawer.
    if (perf.firstTileLoaded !== undefined) perf.firstTilesDrawn ??= performance.now();
  });
  viewer.addHandler('open', () => { perf.osdOpen ??= performance.now(); });
  viewer.world.addHandler('add-item', (e) => e.item.addHandler('fully-loaded-change', (ev) => {
    if (ev.fullyLoaded) perf.fullyLoaded ??= performance.now();
  }));
  $('zoom-in').addEventListener('click', () => viewer.viewport.zoomBy(ZOOM_STEP));
  $('zoom-out').addEventListener('click', () => viewer.viewport.zoomBy(1 / ZOOM_STEP));
  $('zoom-home').addEventListener('click', () => viewer.viewport.goHome());
  // + and - (and = and _, the same keys unshifted) zoom a step as the buttons do, wherever the
  // focus is but a text box; capture phase, so OpenSeadragon's own key zoom does not run as well.
  window.addEventListener('keydown', (ev) => {
    const t = ev.target;
    if ((t instanceof HTMLInputElement && t.type !== 'checkbox') || t instanceof HTMLTextAreaElement
      || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const step = { '+': ZOOM_STEP, '=': ZOOM_STEP, '-': 1 / ZOOM_STEP, _: 1 / ZOOM_STEP }[ev.key];
    if (!step) return;
    ev.preventDefault();
    ev.stopPropagation();
    viewer.viewport.zoomBy(step);
  }, true);
  return viewer;
}
