// A collection's map: OpenSeadragon over the DZI, one canvas overlay for
// hover/selection/dimming, the item panel, search and filters.
import { $, el, fetchJson, showStatus } from './lib/dom.js';
import { decodeItems, itemTitle, asText } from './lib/items.js';
import { cellAt, cellRect, neighbourCell } from './lib/grid.js';
import {
  buildSearchIndex, emptyFilterState, evaluatePredicates, combine, countMask,
  isFiltering, matchesInCellOrder, columnValues,
} from './lib/filter.js';
import { collectionHref, parseViewHash, viewHash } from './lib/url.js';
import { decodeNeighbours, decodeRegions, decodeVocabulary } from './lib/extras.js';
import { exportCsv, exportJson } from './lib/export.js';
import { itemsInLasso, itemsInRect } from './lib/select.js';
import { RegionLabels } from './region-labels.js';
import { LayoutLabels } from './layout-labels.js';
import {
  LAYOUT_TITLES, decodeLayout, itemsSha256, nearestItemCell, offeredLayouts, similarityLayout,
} from './lib/layout.js';
import { CellOverlay } from './overlay.js';
import { ItemPanel } from './panel.js';
import { FiltersUI } from './filters-ui.js';

// Timings for viewer/bench/measure.py and the browser tests (performance.now() ms).
const perf = { hoverLatencies: [] };
window.cvizPerf = perf;

/** True when WebGL would run on a real GPU (not a software rasterizer such as SwiftShader). */
function hasFastWebGL() {
  try {
    const c = document.createElement('canvas');
    // Browsers refuse a context with this flag when they would render WebGL in software.
    const gl = c.getContext('webgl2', { failIfMajorPerformanceCaveat: true })
      || c.getContext('webgl', { failIfMajorPerformanceCaveat: true });
    if (!gl) return false;
    // Chromium's SwiftShader does not trip that flag, so also read the renderer name.
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    const renderer = info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : '';
    gl.getExtension('WEBGL_lose_context')?.loseContext();
    return !/swiftshader|llvmpipe|softpipe|software|basic render/i.test(renderer);
  } catch {
    return false;
  }
}

/**
 * OpenSeadragon drawer: config.js or ?drawer= may force one; otherwise WebGL on a
 * GPU and the 2D canvas without one. Software WebGL (GPU-less VMs, remote desktops,
 * headless browsers) took ~300 ms a frame here, canvas 2D a few ms.
 */
function drawerChoice() {
  const wanted = new URLSearchParams(window.location.search).get('drawer') || (window.CVIZ_CONFIG || {}).drawer;
  if (['webgl', 'canvas', 'html'].includes(wanted)) return [wanted, 'canvas'];
  return hasFastWebGL() ? ['webgl', 'canvas', 'html'] : ['canvas', 'html'];
}

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
  const vocabularyDoc = optional('vocabulary.json');
  const regionsDoc = optional('regions.json');
  await osdReady;
  let items;
  let layout = null;
  let refused = false;
  if (wantedDoc) {
    items = decodeItems(await itemsDoc);
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
  items ??= decodeItems(await itemsDoc);
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
      if (doc) page.setRegions(decodeRegions(doc, items));
    } catch (err) { console.warn(err.message); }
  });
}

/** What the page says when it will not show a layout (and stays where it is). */
function layoutRefusal(name, err) {
  const title = LAYOUT_TITLES[name] || name;
  if (err.mismatch) return `The ${title.toLowerCase()} layout was built from another item list than this map; showing the similarity map.`;
  return `Could not load the ${title.toLowerCase()} layout (${err.message}).`;
}

function createViewer(dziUrl) {
  const OSD = window.OpenSeadragon;
  const viewer = OSD({
    element: $('map'),
    tileSources: dziUrl.href,
    // Our own zoom buttons (below) match the page and spare 16 image requests.
    showNavigationControl: false,
    showNavigator: true,
    navigatorPosition: 'TOP_RIGHT',
    navigatorSizeRatio: 0.15,
    navigatorBackground: '#0e1116',
    navigatorBorderColor: '#2a3140',
    navigatorDisplayRegionColor: '#f5b942',
    viewportMargins: { top: 12, left: 12, right: 12, bottom: 12 },
    visibilityRatio: 0.5,
    maxZoomPixelRatio: 2,
    animationTime: 0.6,
    // Tiles are small (one cell, 128 px), so a screen needs ~100 of them; the default
    // of one new request per frame took ~2.5 s to sharpen the whole view.
    maxTilesPerFrame: 4,
    // Clicking opens the record; zoom is the wheel, double-click and pinch.
    gestureSettingsMouse: { clickToZoom: false, dblClickToZoom: true },
    gestureSettingsTouch: { clickToZoom: false },
    preserveImageSizeOnResize: true,
    // Tiles from another origin (a bucket): WebGL needs CORS-clean images to make textures.
    crossOriginPolicy: dziUrl.origin === window.location.origin ? false : 'Anonymous',
    drawer: drawerChoice(),
  });
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
  $('zoom-in').addEventListener('click', () => viewer.viewport.zoomBy(1.6));
  $('zoom-out').addEventListener('click', () => viewer.viewport.zoomBy(1 / 1.6));
  $('zoom-home').addEventListener('click', () => viewer.viewport.goHome());
  return viewer;
}

class MapPage {
  constructor({ viewer, items, itemsUrl, initialItem, vocabulary, layout, offered, collectionBase }) {
    this.items = items;
    // The active arrangement: every item <-> cell and point <-> item mapping goes through it.
    this.layout = layout || similarityLayout(items);
    this.offered = offered || [{ name: 'similarity', dzi: null, layout: null }];
    this.collectionBase = collectionBase;
    this.loadedLayouts = new Map([[this.layout.name, Promise.resolve(this.layout)]]);
    if (this.layout.name !== 'similarity') this.loadedLayouts.set('similarity', Promise.resolve(similarityLayout(items)));
    this.sha = null;
    this.switchToken = 0;
    // Filters: items.json's category columns, plus the vocabulary's (label columns always).
    const filterColumns = [...new Set([...(vocabulary ? vocabulary.filterColumns : []), ...items.categoryColumns])];
    this.index = buildSearchIndex(items, filterColumns);
    this.state = emptyFilterState();
    this.regions = null;
    this.neighbours = null; // a promise, started when a panel first opens
    this.cursorCell = -1;
    this.mode = null; // 'rect' | 'lasso' while selecting on the map
    this.lastHash = null;
    this.mask = null; // Uint8Array of matches, null when nothing filters
    this.matches = [];
    this.matchPos = -1;
    this.selected = -1;
    this.viewer = viewer;
    this.overlay = new CellOverlay(this.viewer.canvas, this.layout.grid);
    this.overlay.setGrid(this.layout.grid, this.layout.labels);
    this.layoutLabels = new LayoutLabels($('layout-labels'), { perf });
    this.layoutLabels.setLayout(this.layout.name === 'similarity' ? null : this.layout);
    this.panel = new ItemPanel({
      items, itemsUrl, perf,
      onClose: () => this.select(-1),
      loadNeighbours: () => this.loadNeighbours(itemsUrl),
      onPick: (j) => this.select(j, { zoom: true, focusPanel: true }),
      onRegion: (scale, region) => this.filterRegion(scale, region),
    });
    this.filters = new FiltersUI({ items, index: this.index, state: this.state, onChange: () => this.refilter({ push: true }) });
    this.labels = new RegionLabels($('region-labels'), items.grid, {
      perf, onPick: (scale, region) => this.filterRegion(scale, region),
    });
    // Typed while items.json was loading: the box holds it, so the state must too.
    const typed = $('search').value;
    const typedAll = $('search-all').checked;
    // A view in the address (filters, search, mode) applies before the first draw.
    const view = parseViewHash(window.location.hash);
    if (!view.query && typed) { view.query = typed; view.allFields = view.allFields || typedAll; }
    this.applyView(view, { fromAddress: true });

    // The viewer may have opened the DZI already while items.json was loading.
    if (this.viewer.world.getItemCount() > 0) this.onOpen(initialItem);
    else this.viewer.addOnceHandler('open', () => this.onOpen(initialItem));
    this.viewer.addHandler('update-viewport', () => this.redraw());
    this.viewer.addHandler('resize', () => this.redraw());
    this.viewer.addHandler('canvas-click', (e) => this.onClick(e));
    this.setupHover();
    this.setupKeys();
    this.setupSearch();
    this.setupSelection();
    this.setupExport();
    this.setupLayoutSwitch();
    $('map').setAttribute('role', 'application');
    this.labelMap();
    $('map').tabIndex = 0;
    // Back/Forward (and an edited address) restore the view they name.
    window.addEventListener('popstate', () => this.fromAddress());
    window.addEventListener('hashchange', () => this.fromAddress());
    this.refilter();

    // Small debugging/testing handle: read-only views, no data goes through HTML.
    window.cviz = {
      viewer: this.viewer,
      items,
      state: this.state,
      isDimmed: (cell) => {
        const i = this.layout.cellToItem[cell];
        return this.mask !== null && i !== -1 && !this.mask[i];
      },
      cellCenterOnPage: (cell) => this.cellCenterOnPage(cell),
      matchCount: () => (this.mask ? countMask(this.mask) : items.count),
      regionLabels: () => this.labels.visible(),
      cursorCell: () => this.cursorCell,
      exportText: (kind) => this.exportText(kind),
      layout: () => this.layout,
      layoutLabels: () => this.layoutLabels.visible(),
      switchLayout: (name) => this.switchLayout(name),
    };
  }

  // ---- extras -----------------------------------------------------------------
  setRegions(regions) {
    this.regions = regions;
    this.labels.setRegions(regions);
    this.panel.setRegions(regions);
    // A region named in the address could not apply before the regions arrived.
    const wanted = parseViewHash(window.location.hash).region;
    if (wanted && !this.state.region) this.applyRegion(wanted);
    this.redraw();
  }

  loadNeighbours(itemsUrl) {
    if (!this.neighbours) {
      this.neighbours = fetch(new URL('neighbours.bin', itemsUrl)).then((res) => {
        if (!res.ok) throw new Error(`neighbours.bin: ${res.status} ${res.statusText}`);
        return res.arrayBuffer();
      }).then((buf) => decodeNeighbours(buf, this.items.count));
      this.neighbours.catch((err) => console.warn(`${err.message} ("more like this" is off)`));
    }
    return this.neighbours;
  }

  filterRegion(scale, region) {
    this.state.region = { scale: scale.name, id: region.id, name: region.name, itemRegion: scale.itemRegion };
    this.labels.setActive(this.state.region);
    this.refilter({ push: true });
  }

  applyRegion(wanted) {
    const scale = this.regions && this.regions.scales.find((s) => s.name === wanted.scale);
    const region = scale && scale.byId.get(wanted.id);
    if (!region) { this.state.region = null; return false; }
    this.state.region = { scale: scale.name, id: region.id, name: region.name, itemRegion: scale.itemRegion };
    this.labels.setActive(this.state.region);
    this.refilter();
    return true;
  }

  // ---- layouts (issue 16) ----------------------------------------------------------
  setupLayoutSwitch() {
    const group = $('layout-switch');
    const names = new Set(this.offered.map((e) => e.name));
    // Offered only when current.json lists a layout besides the similarity map.
    group.hidden = names.size < 2;
    const buttons = [...group.querySelectorAll('button[data-layout]')];
    for (const b of buttons) {
      b.hidden = !names.has(b.dataset.layout);
      b.addEventListener('click', () => this.switchLayout(b.dataset.layout));
    }
    const shown = buttons.filter((b) => !b.hidden);
    if (shown.length) shown[shown.length - 1].classList.add('last');
    this.renderSwitch();
    this.viewer.addHandler('resize', () => this.updateObstacles());
    requestAnimationFrame(() => { this.updateObstacles(); this.redraw(); });
  }

  renderSwitch(pending = null) {
    for (const b of $('layout-switch').querySelectorAll('button[data-layout]')) {
      b.setAttribute('aria-pressed', String(b.dataset.layout === this.layout.name));
      b.disabled = pending !== null;
    }
    document.body.dataset.layout = this.layout.name;
  }

  labelMap() {
    const what = `${LAYOUT_TITLES[this.layout.name] || this.layout.name} map`;
    $('map').setAttribute('aria-roledescription', what.toLowerCase());
    $('map').setAttribute('aria-label', `${what} of ${this.items.count.toLocaleString('en')} items: arrow keys move the cursor, Enter opens`);
  }

  /** Rectangles (map element px) the layout's labels keep clear of: the navigator, the switcher, the zoom buttons. */
  updateObstacles() {
    const m = this.viewer.element.getBoundingClientRect();
    const rects = [];
    const nodes = [this.viewer.navigator && this.viewer.navigator.element, $('layout-switch'), document.querySelector('.map-controls')];
    for (const node of nodes) {
      if (!node) continue;
      const r = node.getBoundingClientRect();
      if (!r.width || !r.height) continue;
      rects.push({ x0: r.left - m.left - 2, y0: r.top - m.top - 2, x1: r.right - m.left + 2, y1: r.bottom - m.top + 2 });
    }
    this.layoutLabels.setObstacles(rects);
  }

  /** layout.json of an offered layout, fetched on first use and checked against items.json. */
  loadLayout(entry) {
    if (!this.loadedLayouts.has(entry.name)) {
      const p = fetchJson(new URL(entry.layout, this.collectionBase)).then((doc) => {
        this.sha ??= itemsSha256(this.items);
        return decodeLayout(doc, this.items, entry.name, this.sha);
      });
      // A failure is not cached: a later click tries again (a network hiccup is not final).
      p.catch(() => this.loadedLayouts.delete(entry.name));
      this.loadedLayouts.set(entry.name, p);
    }
    return this.loadedLayouts.get(entry.name);
  }

  /** Open a DZI in the viewer; resolves on 'open', rejects on 'open-failed'. */
  openTiles(dziUrl) {
    return new Promise((resolve, reject) => {
      const ok = () => { this.viewer.removeHandler('open-failed', bad); resolve(); };
      const bad = (e) => { this.viewer.removeHandler('open', ok); reject(new Error(e.message || 'could not open the map')); };
      this.viewer.addOnceHandler('open', ok);
      this.viewer.addOnceHandler('open-failed', bad);
      this.viewer.open(dziUrl.href);
    });
  }

  /** The item at the centre of the view (the nearest one to it), or -1. */
  centreItem() {
    const t = this.transform();
    if (!t) return -1;
    const size = this.viewer.viewport.getContainerSize();
    const cell = nearestItemCell(this.layout.grid, this.layout.cellToItem, (size.x / 2 - t.x0) / t.scale, (size.y / 2 - t.y0) / t.scale);
    return cell === -1 ? -1 : this.layout.cellToItem[cell];
  }

  /**
   * Show another arrangement of the same items. Keeps search, filters and selection (they are
   * per item; their highlights are redrawn at the new cells), keeps the open item open and on
   * screen, or else the item that was at the view's centre; the whole map stays the whole map.
   * A layout whose layout.json is missing, malformed or from another item list is refused with
   * a message, and the page stays on the current one.
   */
  async switchLayout(name, { write = true } = {}) {
    const entry = this.offered.find((e) => e.name === name);
    if (!entry || name === this.layout.name) return name === this.layout.name;
    const token = ++this.switchToken;
    const started = performance.now();
    const keep = this.selected !== -1 ? this.selected : this.centreItem();
    const vp = this.viewer.viewport;
    const wasHome = vp.getZoom() <= vp.getHomeZoom() * 1.05;
    const t = this.transform();
    const cellPx = t ? this.layout.grid.cellWidth * t.scale : 0;
    this.renderSwitch(name);
    const slow = setTimeout(() => showStatus(`Loading the ${name} layout…`), 250);
    let layout;
    try {
      layout = await this.loadLayout(entry);
      if (token !== this.switchToken) return false;
      await this.openTiles(new URL(entry.dzi, this.collectionBase));
    } catch (err) {
      clearTimeout(slow);
      if (token !== this.switchToken) return false;
      console.warn(err.message);
      showStatus(layoutRefusal(name, err), { error: true });
      setTimeout(() => showStatus(''), 8000);
      // The tiles may have failed after layout.json loaded: put the current map back.
      if (this.viewer.world.getItemCount() === 0) {
        const back = this.offered.find((e) => e.name === this.layout.name);
        await this.openTiles(new URL(back.dzi, this.collectionBase)).catch(() => {});
      }
      this.renderSwitch();
      return false;
    }
    clearTimeout(slow);
    showStatus('');
    if (token !== this.switchToken) return false;
    this.layout = layout;
    this.gridToImage = this.viewer.world.getItemAt(0).getContentSize().x / layout.grid.width;
    this.overlay.setGrid(layout.grid, layout.labels);
    this.layoutLabels.setLayout(name === 'similarity' ? null : layout);
    this.refilter({ write: false }); // the dim mask and match order at the new cells
    this.overlay.selectedCell = this.selected === -1 ? -1 : layout.itemToCell[this.selected];
    this.cursorCell = keep === -1 ? -1 : layout.itemToCell[keep];
    this.overlay.cursorCell = this.selected !== -1 || document.activeElement === $('map') ? this.cursorCell : -1;
    // The view: the whole map stays the whole map; otherwise the same cell size on screen, centred on the kept item.
    const g = layout.grid;
    const size = vp.getContainerSize();
    if (wasHome || keep === -1) vp.goHome(true);
    else {
      const z = (cellPx * g.width) / (g.cellWidth * size.x);
      vp.zoomTo(Math.min(vp.getMaxZoom(), Math.max(vp.getHomeZoom(), z)), null, true);
      const r = cellRect(g, layout.itemToCell[keep]);
      vp.panTo(new window.OpenSeadragon.Point((r.x + r.width / 2) / g.width, (r.y + r.height / 2) / g.width), true);
    }
    if (this.selected !== -1) this.bringIntoView(layout.itemToCell[this.selected], { zoom: false, immediately: true });
    this.renderSwitch();
    this.labelMap();
    this.updateObstacles();
    this.redraw();
    if (write) this.writeAddress({ push: true });
    perf.layoutSwitched = performance.now();
    perf.layoutSwitchMs = perf.layoutSwitched - started; // layout.json (first time), hash check, pyramid open, view
    return true;
  }

  // ---- the view in the address --------------------------------------------------
  currentHash() {
    const id = this.selected === -1 ? null : asText(columnValues(this.items, 'id')[this.selected]);
    return viewHash({ ...this.state, item: id, mode: this.mode, layout: this.layout.name });
  }

  /** Write the view into the address: push (a Back step) for filter changes, replace otherwise. */
  writeAddress({ push = false } = {}) {
    const hash = this.currentHash();
    if (hash === this.lastHash) return;
    const url = window.location.pathname + window.location.search + hash;
    if (push) history.pushState(null, '', url); else history.replaceState(null, '', url);
    this.lastHash = hash;
  }

  async fromAddress() {
    if (window.location.hash === this.lastHash || (window.location.hash === '' && this.lastHash === '')) return;
    this.lastHash = window.location.hash;
    const view = parseViewHash(window.location.hash);
    this.applyView(view, { fromAddress: true });
    this.filters.syncInputs();
    this.refilter({ write: false });
    // The layout first (it moves the view to the open item), then the item the address names.
    const layout = this.offered.some((e) => e.name === view.layout) ? view.layout : 'similarity';
    if (layout !== this.layout.name) await this.switchLayout(layout, { write: false });
    if (window.location.hash !== this.lastHash) return; // a newer address arrived meanwhile
    const i = view.item === null ? undefined : this.items.idToItem.get(view.item);
    if (i !== undefined && i !== this.selected) this.select(i, { zoom: true, write: false });
    else if (view.item === null && this.selected !== -1) this.select(-1, { write: false });
  }

  applyView(view, { fromAddress = false } = {}) {
    this.state.query = view.query;
    this.state.allFields = view.allFields;
    this.state.yearRange = view.yearRange;
    this.state.categories.clear();
    for (const [col, set] of view.categories) if (this.index.categories.has(col)) this.state.categories.set(col, set);
    this.state.selection = null;
    if (view.region && this.regions) this.applyRegion(view.region);
    else if (!view.region) { this.state.region = null; this.labels.setActive(null); }
    $('search').value = view.query;
    $('search-all').checked = view.allFields;
    this.labelSearch();
    this.setMode(view.mode, { write: !fromAddress });
  }

  onOpen(initialItem) {
    const tiled = this.viewer.world.getItemAt(0);
    // Grid pixels (items.json) -> DZI pixels; equal when both come from one mosaic.
    this.gridToImage = tiled.getContentSize().x / this.layout.grid.width;
    perf.drawer = this.viewer.drawer.getType();
    const start = initialItem !== null ? this.items.idToItem.get(initialItem) : undefined;
    if (start !== undefined) this.select(start, { zoom: true, immediately: true });
    else if (initialItem !== null) {
      showStatus('That item is not in this collection.', { error: true });
      setTimeout(() => showStatus(''), 6000);
    }
    this.redraw();
  }

  // ---- geometry -------------------------------------------------------------
  /** Grid placement in viewer-element CSS pixels: {x0, y0, scale}. */
  transform() {
    const tiled = this.viewer.world.getItemAt(0);
    if (!tiled) return null;
    const OSD = window.OpenSeadragon;
    const k = this.gridToImage;
    const p0 = tiled.imageToViewerElementCoordinates(new OSD.Point(0, 0));
    const p1 = tiled.imageToViewerElementCoordinates(new OSD.Point(this.layout.grid.width * k, 0));
    return { x0: p0.x, y0: p0.y, scale: (p1.x - p0.x) / this.layout.grid.width };
  }

  cellAtElementPoint(x, y) {
    const t = this.transform();
    if (!t) return -1;
    return cellAt(this.layout.grid, (x - t.x0) / t.scale, (y - t.y0) / t.scale);
  }

  cellCenterOnPage(cell) {
    const t = this.transform();
    const r = cellRect(this.layout.grid, cell);
    const box = this.viewer.element.getBoundingClientRect();
    return { x: box.left + t.x0 + (r.x + r.width / 2) * t.scale, y: box.top + t.y0 + (r.y + r.height / 2) * t.scale };
  }

  redraw() {
    const t = this.transform();
    this.overlay.setTransform(t);
    this.overlay.draw();
    const size = this.viewer.viewport.getContainerSize();
    // Region names belong to the similarity map; the other layouts draw their axis or headings.
    if (this.layout.name === 'similarity') this.labels.update(t, size);
    else {
      if (this.labels.labels.length) this.labels.build(null);
      this.layoutLabels.update(t, size);
    }
  }

  // ---- hover ----------------------------------------------------------------
  setupHover() {
    const host = this.viewer.canvas;
    const tip = $('tooltip');
    const tipTitle = $('tooltip-title');
    const tipDate = $('tooltip-date');
    let shownItem = -1;
    const hide = () => {
      tip.hidden = true;
      shownItem = -1;
      if (this.overlay.hoverCell !== -1) { this.overlay.hoverCell = -1; this.overlay.draw(); }
    };
    host.addEventListener('pointermove', (ev) => {
      if (ev.buttons) { hide(); return; } // dragging: the map moves, no tooltip
      const box = host.getBoundingClientRect();
      document.body.classList.toggle('over-label', this.labels.hover(ev.clientX - box.left, ev.clientY - box.top));
      const cell = this.cellAtElementPoint(ev.clientX - box.left, ev.clientY - box.top);
      const i = cell === -1 ? -1 : this.layout.cellToItem[cell];
      if (i === -1) { hide(); return; }
      if (i !== shownItem) {
        shownItem = i;
        tipTitle.textContent = itemTitle(this.items, i);
        const date = this.items.dateColumn ? asText(columnValues(this.items, this.items.dateColumn)[i]).trim() : '';
        tipDate.textContent = date;
        tipDate.hidden = !date;
        this.overlay.hoverCell = cell;
        this.overlay.draw();
      }
      tip.hidden = false;
      // Beside the pointer, flipped near the right/bottom edges.
      const pad = 14;
      const tw = tip.offsetWidth;
      const th = tip.offsetHeight;
      const x = ev.clientX + pad + tw > window.innerWidth ? ev.clientX - pad - tw : ev.clientX + pad;
      const y = ev.clientY + pad + th > window.innerHeight ? ev.clientY - pad - th : ev.clientY + pad;
      tip.style.transform = `translate(${Math.round(x)}px, ${Math.round(y)}px)`;
      const t0 = ev.timeStamp;
      requestAnimationFrame(() => {
        perf.hoverLatencies.push(performance.now() - t0);
        if (perf.hoverLatencies.length > 200) perf.hoverLatencies.shift();
      });
    }, { passive: true });
    host.addEventListener('pointerleave', hide);
    this.viewer.addHandler('animation-start', hide);
  }

  // ---- selection and panel ----------------------------------------------------
  onClick(e) {
    if (!e.quick || this.mode) return; // the end of a drag, not a click (or a selection being drawn)
    $('tooltip').hidden = true;
    const label = this.labels.at(e.position.x, e.position.y);
    if (label) { this.labels.pick(label); return; }
    const cell = this.cellAtElementPoint(e.position.x, e.position.y);
    const i = cell === -1 ? -1 : this.layout.cellToItem[cell];
    if (i !== -1) this.select(i, { zoom: false });
  }

  /** Select item i (or -1 to close): outline it, open its panel, put it in the address. */
  select(i, { zoom = false, immediately = false, write = true, focusPanel = false } = {}) {
    const t0 = performance.now();
    const wasOpen = this.panel.isOpen;
    this.selected = i;
    this.overlay.selectedCell = i === -1 ? -1 : this.layout.itemToCell[i];
    if (i === -1) {
      this.panel.hide();
      document.body.classList.remove('panel-open');
      if (wasOpen && this.panel.root.contains(document.activeElement)) $('map').focus({ preventScroll: true });
    } else {
      this.cursorCell = this.layout.itemToCell[i];
      this.overlay.cursorCell = this.cursorCell;
      this.panel.show(i, t0);
      document.body.classList.add('panel-open');
      if (focusPanel) $('panel-title').focus({ preventScroll: true });
      this.bringIntoView(this.layout.itemToCell[i], { zoom, immediately });
    }
    if (wasOpen !== this.panel.isOpen) this.updateObstacles();
    // replaceState: stepping through 50 items should not fill the back button.
    if (write) this.writeAddress();
    this.overlay.draw();
  }

  /** The part of the map the open panel covers: {w} on the right (desktop) or {h} at the bottom (phone sheet). */
  panelCover() {
    if (!this.panel.isOpen) return { w: 0, h: 0 };
    const p = this.panel.root.getBoundingClientRect();
    const m = this.viewer.element.getBoundingClientRect();
    if (p.width >= m.width - 1) return { w: 0, h: Math.max(0, m.bottom - p.top) }; // a bottom sheet
    return { w: Math.max(0, m.right - p.left), h: 0 };
  }

  /** Pan (and zoom if asked or if cells are tiny) so the cell sits in the part of the map the panel leaves free. */
  bringIntoView(cell, { zoom, immediately, allowZoom = true }) {
    const vp = this.viewer.viewport;
    const OSD = window.OpenSeadragon;
    const g = this.layout.grid;
    const container = vp.getContainerSize();
    const { w: panelW, h: panelH } = this.panelCover();
    const freeW = Math.max(200, container.x - panelW);
    const freeH = Math.max(120, container.y - panelH);
    const t = this.transform();
    const cellPx = t ? g.cellWidth * t.scale : 0;
    let z = vp.getZoom();
    const zooming = zoom || (allowZoom && cellPx < 48);
    if (zooming) {
      // Viewport units: the image is 1 wide, a cell is cellWidth / width of it.
      const target = Math.min(160, freeW / 3, freeH / 3);
      z = Math.min(vp.getMaxZoom(), target / ((g.cellWidth / g.width) * container.x));
    }
    const r = cellRect(g, cell);
    const centre = new OSD.Point((r.x + r.width / 2) / g.width, (r.y + r.height / 2) / g.width);
    // Centre of the free area: left of a side panel, above a bottom sheet (viewport units).
    const goal = new OSD.Point(centre.x + panelW / 2 / (z * container.x), centre.y + panelH / 2 / (z * container.x));
    if (!zooming && t) {
      // Already readable: move only when the cell is not comfortably visible.
      const cx = t.x0 + (r.x + r.width / 2) * t.scale;
      const cy = t.y0 + (r.y + r.height / 2) * t.scale;
      const m = Math.min(cellPx, 48);
      if (cx > m && cx < container.x - panelW - m && cy > m && cy < container.y - panelH - m) return;
      vp.panTo(goal, immediately);
      return;
    }
    vp.zoomTo(z, null, immediately);
    vp.panTo(goal, immediately);
  }

  // ---- keyboard ---------------------------------------------------------------
  setupKeys() {
    const dirs = { ArrowLeft: 'left', ArrowRight: 'right', ArrowUp: 'up', ArrowDown: 'down' };
    // Capture phase, so OpenSeadragon's own arrow-key panning does not also run.
    window.addEventListener('keydown', (ev) => {
      const typing = ev.target instanceof HTMLInputElement && ev.target.type !== 'checkbox';
      if (ev.key === 'Escape') {
        if (this.panel.isOpen) { this.select(-1); ev.preventDefault(); ev.stopPropagation(); }
        return;
      }
      if (typing || ev.altKey || ev.ctrlKey || ev.metaKey) return;
      const onMap = ev.target === $('map') || $('map').contains(ev.target);
      if (ev.key === 'Enter' && onMap && this.cursorCell !== -1 && this.selected === -1) {
        ev.preventDefault();
        this.select(this.layout.cellToItem[this.cursorCell], { focusPanel: true });
        return;
      }
      const dir = dirs[ev.key];
      if (!dir || (this.selected === -1 && !onMap)) return;
      ev.preventDefault();
      ev.stopPropagation();
      if (this.selected === -1) {
        // The keyboard cursor: a visible cell on the map, Enter opens it.
        if (this.cursorCell === -1) this.cursorCell = this.firstVisibleCell();
        else this.cursorCell = neighbourCell(this.layout.grid, this.layout.cellToItem, this.cursorCell, dir);
        this.overlay.cursorCell = this.cursorCell;
        this.bringIntoView(this.cursorCell, { zoom: false, immediately: false, allowZoom: false });
        this.overlay.draw();
        return;
      }
      const from = this.layout.itemToCell[this.selected];
      const to = neighbourCell(this.layout.grid, this.layout.cellToItem, from, dir);
      if (to !== from) this.select(this.layout.cellToItem[to]);
    }, true);
    $('map').addEventListener('focus', () => {
      if (this.cursorCell === -1) this.cursorCell = this.firstVisibleCell();
      this.overlay.cursorCell = this.cursorCell;
      this.overlay.draw();
    });
    $('map').addEventListener('blur', () => { this.overlay.cursorCell = this.selected === -1 ? -1 : this.cursorCell; this.overlay.draw(); });
  }

  /** The item cell nearest the centre of the view (where a keyboard user starts). */
  firstVisibleCell() {
    const box = this.viewer.element.getBoundingClientRect();
    const c = this.cellAtElementPoint(box.width / 2, box.height / 2);
    if (c !== -1 && this.layout.cellToItem[c] !== -1) return c;
    return this.items.count ? this.layout.itemToCell[0] : -1;
  }

  // ---- search -----------------------------------------------------------------
  setupSearch() {
    const input = $('search');
    const all = $('search-all');
    let typing = null;
    input.addEventListener('input', () => {
      this.state.query = input.value;
      // One Back step per burst of typing, not one per key.
      this.refilter({ push: typing === null });
      clearTimeout(typing);
      typing = setTimeout(() => { typing = null; }, 800);
    });
    all.addEventListener('change', () => {
      this.state.allFields = all.checked;
      this.labelSearch();
      this.refilter({ push: true });
    });
    // '/' jumps to the search box, as on many sites.
    window.addEventListener('keydown', (ev) => {
      if (ev.key === '/' && !(ev.target instanceof HTMLInputElement) && !ev.ctrlKey && !ev.metaKey) {
        ev.preventDefault();
        input.focus();
        input.select();
      }
    });
    input.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') { ev.preventDefault(); this.step(ev.shiftKey ? -1 : 1); }
      if (ev.key === 'Escape' && !this.panel.isOpen && input.value) {
        input.value = '';
        this.state.query = '';
        this.refilter({ push: true });
      }
    });
    $('next-match').addEventListener('click', () => this.step(1));
    $('prev-match').addEventListener('click', () => this.step(-1));
    $('clear-all').addEventListener('click', () => {
      input.value = '';
      Object.assign(this.state, emptyFilterState());
      this.labels.setActive(null);
      this.filters.syncInputs();
      this.refilter({ push: true });
    });
    $('toggle-filters').addEventListener('click', () => {
      const hidden = document.body.classList.toggle('filters-hidden');
      $('toggle-filters').setAttribute('aria-expanded', String(!hidden));
      // The map area changed size: let OSD pick it up on the next frame.
      requestAnimationFrame(() => this.redraw());
    });
  }

  labelSearch() {
    const all = $('search-all').checked;
    const text = all ? 'Search all fields' : 'Search titles';
    $('search').placeholder = `${text}…`;
    $('search').setAttribute('aria-label', text);
  }

  // ---- selections on the map and export -------------------------------------------
  setupSelection() {
    const layer = $('select-layer');
    let points = null;
    const toGrid = (ev) => {
      const box = this.viewer.element.getBoundingClientRect();
      const t = this.transform();
      const x = ev.clientX - box.left; const y = ev.clientY - box.top;
      return { ex: x, ey: y, x: (x - t.x0) / t.scale, y: (y - t.y0) / t.scale };
    };
    layer.addEventListener('pointerdown', (ev) => {
      if (!this.mode) return;
      layer.setPointerCapture(ev.pointerId);
      points = [toGrid(ev)];
      ev.preventDefault();
    });
    layer.addEventListener('pointermove', (ev) => {
      if (!points) return;
      const p = toGrid(ev);
      if (this.mode === 'rect') points[1] = p; else points.push(p);
      this.overlay.shape = { type: this.mode, points: points.map((q) => ({ x: q.ex, y: q.ey })) };
      this.overlay.draw();
    });
    const finish = () => {
      if (!points) return;
      const g = this.layout.grid;
      const picked = this.mode === 'rect'
        ? (points.length > 1 ? itemsInRect(g, this.layout.cellToItem, points[0], points[1]) : [])
        : itemsInLasso(g, this.layout.cellToItem, points);
      points = null;
      this.overlay.shape = null;
      const flags = new Uint8Array(this.items.count);
      for (const i of picked) flags[i] = 1;
      this.state.selection = picked.length ? { mode: this.mode, items: flags, size: picked.length } : null;
      this.refilter({ push: true });
    };
    layer.addEventListener('pointerup', finish);
    layer.addEventListener('pointercancel', () => { points = null; this.overlay.shape = null; this.overlay.draw(); });
    $('select-rect').addEventListener('click', () => this.setMode(this.mode === 'rect' ? null : 'rect'));
    $('select-lasso').addEventListener('click', () => this.setMode(this.mode === 'lasso' ? null : 'lasso'));
    $('selection-clear').addEventListener('click', () => { this.state.selection = null; this.refilter({ push: true }); });
    $('region-clear').addEventListener('click', () => {
      this.state.region = null;
      this.labels.setActive(null);
      this.refilter({ push: true });
    });
    window.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape' && this.mode && !this.panel.isOpen) this.setMode(null);
    });
  }

  /** Selection mode: the pointer draws a rectangle or lasso instead of panning the map. */
  setMode(mode, { write = true } = {}) {
    this.mode = mode || null;
    $('select-layer').hidden = !this.mode;
    $('select-rect').setAttribute('aria-pressed', String(this.mode === 'rect'));
    $('select-lasso').setAttribute('aria-pressed', String(this.mode === 'lasso'));
    document.body.classList.toggle('selecting', !!this.mode);
    if (write && this.lastHash !== null) this.writeAddress();
  }

  setupExport() {
    const download = (kind) => {
      const text = this.exportText(kind);
      const blob = new Blob([kind === 'csv' ? '\ufeff' + text : text], { type: kind === 'csv' ? 'text/csv' : 'application/json' });
      const a = el('a', { href: URL.createObjectURL(blob), download: `${this.items.collection || 'cviz'}-selection.${kind}` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    };
    $('export-csv').addEventListener('click', () => download('csv'));
    $('export-json').addEventListener('click', () => download('json'));
  }

  /** The current result (selection AND search AND filters), in map reading order. */
  exportIndices() {
    if (!this.mask) return matchesInCellOrder(this.layout, new Uint8Array(this.items.count).fill(1));
    return this.matches;
  }

  exportText(kind) {
    const idx = this.exportIndices();
    return kind === 'csv' ? exportCsv(this.items, idx) : exportJson(this.items, idx);
  }

  /** Move to the next (+1) or previous (-1) match in map reading order. */
  step(delta) {
    if (this.matches.length === 0) return;
    const n = this.matches.length;
    this.matchPos = this.matchPos === -1 ? (delta > 0 ? 0 : n - 1) : (this.matchPos + delta + n) % n;
    this.select(this.matches[this.matchPos], { zoom: true });
    this.renderCount();
  }

  refilter({ push = false, write = true } = {}) {
    const t0 = performance.now();
    const evaluated = evaluatePredicates(this.items, this.index, this.state);
    const filtering = isFiltering(this.state);
    this.mask = filtering ? combine(evaluated) : null;
    this.matches = filtering ? matchesInCellOrder(this.layout, this.mask) : [];
    this.matchPos = -1;
    this.overlay.setMatches(this.layout, this.mask);
    this.overlay.draw();
    this.filters.render((key) => combine(evaluated, key));
    $('clear-all').hidden = !filtering;
    const sel = this.state.selection;
    $('selection-row').hidden = !sel;
    if (sel) $('selection-summary').textContent = `${sel.size.toLocaleString('en')} item${sel.size === 1 ? '' : 's'} selected (${sel.mode === 'rect' ? 'rectangle' : 'lasso'})`;
    $('region-row').hidden = !this.state.region;
    if (this.state.region) $('region-summary').textContent = this.state.region.name;
    const n = filtering ? this.matches.length : this.items.count;
    $('export-count').textContent = `${n.toLocaleString('en')} item${n === 1 ? '' : 's'}${filtering ? ' (the current result)' : ' (all)'}`;
    $('export-csv').disabled = $('export-json').disabled = n === 0;
    this.renderCount();
    if (write && this.lastHash !== null) this.writeAddress({ push });
    if (this.lastHash === null) this.lastHash = window.location.hash; // the first render keeps the address as given
    perf.refilterMs = performance.now() - t0;
  }

  renderCount() {
    const out = $('match-count');
    const searching = isFiltering(this.state);
    $('prev-match').disabled = $('next-match').disabled = this.matches.length === 0;
    if (!searching) {
      out.textContent = `${this.items.count.toLocaleString('en')} items`;
      return;
    }
    const n = this.matches.length;
    const pos = this.matchPos >= 0 ? `${this.matchPos + 1} / ` : '';
    out.textContent = n === 0 ? 'no matches' : `${pos}${n.toLocaleString('en')} match${n === 1 ? '' : 'es'}`;
  }
}
