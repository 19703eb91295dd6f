// A collection's map: OpenSeadragon over the DZI, one canvas overlay for
// hover/selection/dimming, the item panel, search and filters.
import { $, fetchJson, showStatus } from './lib/dom.js';
import { decodeItems, itemTitle, asText } from './lib/items.js';
import { cellAt, cellRect, neighbourCell } from './lib/grid.js';
import {
  buildSearchIndex, emptyFilterState, evaluatePredicates, combine, countMask,
  isFiltering, matchesInCellOrder,
} from './lib/filter.js';
import { collectionHref, itemHash, parseItemHash } from './lib/url.js';
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
  const dziUrl = new URL(current.dzi, collectionBase);
  const itemsDoc = fetchJson(itemsUrl);
  itemsDoc.catch(() => {}); // reported below, once awaited
  await osdReady;
  const viewer = createViewer(dziUrl);
  const items = decodeItems(await itemsDoc);
  perf.itemsLoaded = performance.now();
  showStatus('');
  new MapPage({ viewer, items, itemsUrl, initialItem });
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
  constructor({ viewer, items, itemsUrl, initialItem }) {
    this.items = items;
    this.index = buildSearchIndex(items);
    this.state = emptyFilterState();
    this.mask = null; // Uint8Array of matches, null when nothing filters
    this.matches = [];
    this.matchPos = -1;
    this.selected = -1;
    this.viewer = viewer;
    this.overlay = new CellOverlay(this.viewer.canvas, items.grid);
    this.panel = new ItemPanel({ items, itemsUrl, onClose: () => this.select(-1) });
    this.filters = new FiltersUI({ items, index: this.index, state: this.state, onChange: () => this.refilter() });

    // The viewer may have opened the DZI already while items.json was loading.
    if (this.viewer.world.getItemCount() > 0) this.onOpen(initialItem);
    else this.viewer.addOnceHandler('open', () => this.onOpen(initialItem));
    this.viewer.addHandler('update-viewport', () => this.redraw());
    this.viewer.addHandler('resize', () => this.redraw());
    this.viewer.addHandler('canvas-click', (e) => this.onClick(e));
    this.setupHover();
    this.setupKeys();
    this.setupSearch();
    window.addEventListener('hashchange', () => this.openFromHash());
    this.refilter();

    // Small debugging/testing handle: read-only views, no data goes through HTML.
    window.cviz = {
      viewer: this.viewer,
      items,
      state: this.state,
      isDimmed: (cell) => {
        const i = items.cellToItem[cell];
        return this.mask !== null && i !== -1 && !this.mask[i];
      },
      cellCenterOnPage: (cell) => this.cellCenterOnPage(cell),
      matchCount: () => (this.mask ? countMask(this.mask) : items.count),
    };
  }

  onOpen(initialItem) {
    const tiled = this.viewer.world.getItemAt(0);
    // Grid pixels (items.json) -> DZI pixels; equal when both come from one mosaic.
    this.gridToImage = tiled.getContentSize().x / this.items.grid.width;
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
    const p1 = tiled.imageToViewerElementCoordinates(new OSD.Point(this.items.grid.width * k, 0));
    return { x0: p0.x, y0: p0.y, scale: (p1.x - p0.x) / this.items.grid.width };
  }

  cellAtElementPoint(x, y) {
    const t = this.transform();
    if (!t) return -1;
    return cellAt(this.items.grid, (x - t.x0) / t.scale, (y - t.y0) / t.scale);
  }

  cellCenterOnPage(cell) {
    const t = this.transform();
    const r = cellRect(this.items.grid, cell);
    const box = this.viewer.element.getBoundingClientRect();
    return { x: box.left + t.x0 + (r.x + r.width / 2) * t.scale, y: box.top + t.y0 + (r.y + r.height / 2) * t.scale };
  }

  redraw() {
    this.overlay.setTransform(this.transform());
    this.overlay.draw();
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
      const cell = this.cellAtElementPoint(ev.clientX - box.left, ev.clientY - box.top);
      const i = cell === -1 ? -1 : this.items.cellToItem[cell];
      if (i === -1) { hide(); return; }
      if (i !== shownItem) {
        shownItem = i;
        tipTitle.textContent = itemTitle(this.items, i);
        const date = this.items.dateColumn ? asText(this.items.fields[this.items.dateColumn][i]) : '';
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
    if (!e.quick) return; // the end of a drag, not a click
    const cell = this.cellAtElementPoint(e.position.x, e.position.y);
    const i = cell === -1 ? -1 : this.items.cellToItem[cell];
    if (i !== -1) this.select(i, { zoom: false });
  }

  /** Select item i (or -1 to close): outline it, open its panel, put it in the address. */
  select(i, { zoom = false, immediately = false } = {}) {
    this.selected = i;
    this.overlay.selectedCell = i === -1 ? -1 : this.items.itemToCell[i];
    if (i === -1) {
      this.panel.hide();
      if (window.location.hash) history.replaceState(null, '', window.location.pathname + window.location.search);
    } else {
      this.panel.show(i);
      // replaceState: stepping through 50 items should not fill the back button.
      history.replaceState(null, '', itemHash(asText(this.items.fields.id[i])));
      this.bringIntoView(this.items.itemToCell[i], { zoom, immediately });
    }
    this.overlay.draw();
  }

  openFromHash() {
    const id = parseItemHash(window.location.hash);
    const i = id === null ? undefined : this.items.idToItem.get(id);
    if (i !== undefined && i !== this.selected) this.select(i, { zoom: true });
  }

  /** Pan (and zoom if asked or if cells are tiny) so the cell sits in the part of the map the panel leaves free. */
  bringIntoView(cell, { zoom, immediately }) {
    const vp = this.viewer.viewport;
    const OSD = window.OpenSeadragon;
    const g = this.items.grid;
    const container = vp.getContainerSize();
    const panelW = this.panel.isOpen ? this.panel.root.offsetWidth : 0;
    const freeW = Math.max(200, container.x - panelW);
    const t = this.transform();
    const cellPx = t ? g.cellWidth * t.scale : 0;
    let z = vp.getZoom();
    if (zoom || cellPx < 48) {
      // Viewport units: the image is 1 wide, a cell is cellWidth / width of it.
      const target = Math.min(160, freeW / 3, container.y / 3);
      z = Math.min(vp.getMaxZoom(), target / ((g.cellWidth / g.width) * container.x));
    }
    const r = cellRect(g, cell);
    const centre = new OSD.Point((r.x + r.width / 2) / g.width, (r.y + r.height / 2) / g.width);
    const shift = panelW / 2 / (z * container.x); // centre of the free area, left of the panel
    const goal = new OSD.Point(centre.x + shift, centre.y);
    if (!zoom && cellPx >= 48 && t) {
      // Already readable: move only when the cell is not comfortably visible.
      const cx = t.x0 + (r.x + r.width / 2) * t.scale;
      const cy = t.y0 + (r.y + r.height / 2) * t.scale;
      const m = cellPx;
      if (cx > m && cx < container.x - panelW - m && cy > m && cy < container.y - m) return;
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
      const dir = dirs[ev.key];
      if (!dir || this.selected === -1) return;
      ev.preventDefault();
      ev.stopPropagation();
      const from = this.items.itemToCell[this.selected];
      const to = neighbourCell(this.items.grid, this.items.cellToItem, from, dir);
      if (to !== from) this.select(this.items.cellToItem[to]);
    }, true);
  }

  // ---- search -----------------------------------------------------------------
  setupSearch() {
    const input = $('search');
    const all = $('search-all');
    input.addEventListener('input', () => { this.state.query = input.value; this.refilter(); });
    all.addEventListener('change', () => {
      this.state.allFields = all.checked;
      input.placeholder = all.checked ? 'Search all fields…' : 'Search titles…';
      this.refilter();
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
        this.refilter();
      }
    });
    $('next-match').addEventListener('click', () => this.step(1));
    $('prev-match').addEventListener('click', () => this.step(-1));
    $('clear-all').addEventListener('click', () => {
      input.value = '';
      Object.assign(this.state, emptyFilterState());
      this.filters.syncInputs();
      this.refilter();
    });
    if (window.matchMedia('(max-width: 760px)').matches) {
      document.body.classList.add('filters-hidden'); // a phone: the map first
      $('toggle-filters').setAttribute('aria-expanded', 'false');
    }
    $('toggle-filters').addEventListener('click', () => {
      const hidden = document.body.classList.toggle('filters-hidden');
      $('toggle-filters').setAttribute('aria-expanded', String(!hidden));
      // The map area changed size: let OSD pick it up on the next frame.
      requestAnimationFrame(() => this.redraw());
    });
  }

  /** Move to the next (+1) or previous (-1) match in map reading order. */
  step(delta) {
    if (this.matches.length === 0) return;
    const n = this.matches.length;
    this.matchPos = this.matchPos === -1 ? (delta > 0 ? 0 : n - 1) : (this.matchPos + delta + n) % n;
    this.select(this.matches[this.matchPos], { zoom: true });
    this.renderCount();
  }

  refilter() {
    const t0 = performance.now();
    const evaluated = evaluatePredicates(this.items, this.index, this.state);
    const filtering = isFiltering(this.state);
    this.mask = filtering ? combine(evaluated) : null;
    this.matches = filtering ? matchesInCellOrder(this.items, this.mask) : [];
    this.matchPos = -1;
    this.overlay.setMatches(this.items, this.mask);
    this.overlay.draw();
    this.filters.render((key) => combine(evaluated, key));
    $('clear-all').hidden = !filtering;
    this.renderCount();
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
