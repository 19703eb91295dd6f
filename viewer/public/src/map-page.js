// A collection's map page, composed: OpenSeadragon (opened by map-loader.js) under one canvas
// overlay (CellOverlay), and the parts that each own one concern and talk through the small
// calls wired here:
//   Address         the view in the URL hash, Back/Forward       address.js
//   LayoutSwitcher  similarity / timeline / category layouts      layout-switcher.js
//   MapCamera       transform, cell under a point, moving the view map-camera.js
//   MapPointer      hover tooltip, click, keyboard cursor          map-pointer.js
//   MapSelection    rectangle and lasso selection                  map-selection.js
//   MapSearch       search box, filter sidebar, the result         map-search.js
//   Exporter        CSV / JSON / IIIF manifest of the result       exporter.js
//   MapExtras       region names and filter, "more like this"      map-extras.js
//   ItemPanel       the open item                                  panel.js
// The page itself holds what joins them: the open item (select), the filter state, refilter
// and redraw.
import { $, showStatus } from './lib/dom.js';
import { asText } from './lib/items.js';
import { columnValues, countMask, emptyFilterState } from './lib/filter.js';
import { decodeSelection } from './lib/selection-code.js';
import { similarityLayout } from './lib/layout.js';
import { CellOverlay } from './overlay.js';
import { ItemPanel } from './panel.js';
import { Address } from './address.js';
import { LayoutSwitcher } from './layout-switcher.js';
import { MapCamera } from './map-camera.js';
import { MapPointer } from './map-pointer.js';
import { MapSelection } from './map-selection.js';
import { MapSearch } from './map-search.js';
import { Exporter } from './exporter.js';
import { MapExtras } from './map-extras.js';
import { perf } from './perf.js';
import { exposeTestHandle } from './test-handle.js';

export class MapPage {
  constructor({ viewer, items, itemsUrl, initialItem, vocabulary, layout, offered, collectionBase }) {
    this.viewer = viewer;
    this.items = items;
    this.state = emptyFilterState();
    this.selected = -1; // the open item
    const similarity = similarityLayout(items);
    const layoutNow = () => this.layouts.layout;
    this.layouts = new LayoutSwitcher({
      viewer, items, layout: layout || similarity, offered: offered || [{ name: 'similarity', dzi: null, layout: null }],
      collectionBase, similarity, perf,
      viewBefore: () => ({ keep: this.selected !== -1 ? this.selected : this.camera.centreItem(), ...this.camera.viewBefore() }),
      onSwitch: (l, before, opts) => this.showLayout(l, before, opts),
    });
    this.overlay = new CellOverlay(viewer.canvas, this.layout.grid);
    this.overlay.setGrid(this.layout.grid, this.layout.labels);
    this.address = new Address({ current: () => this.currentView(), onNavigate: (view, stale) => this.navigate(view, stale) });
    const refilter = (opts) => this.refilter(opts);
    const panelOpen = () => this.panel.isOpen;
    this.extras = new MapExtras({
      items, itemsUrl, state: this.state, perf, onChange: refilter,
      onRegions: (regions) => this.panel.setRegions(regions), redraw: () => this.redraw(),
      onDuplicates: (dups) => this.panel.setDuplicates(dups),
    });
    this.panel = new ItemPanel({
      items, itemsUrl, perf,
      onClose: () => this.select(-1),
      loadNeighbours: () => this.extras.loadNeighbours(),
      onPick: (j) => this.select(j, { zoom: true, focusPanel: true }),
      onRegion: (scale, region) => this.extras.filterRegion(scale, region),
    });
    this.camera = new MapCamera({ viewer, layout: layoutNow, panelRect: () => (this.panel.isOpen ? this.panel.root.getBoundingClientRect() : null) });
    // Filters: items.json's category columns, plus the vocabulary's (label columns always).
    this.search = new MapSearch({
      items, state: this.state, onChange: refilter, panelOpen, redraw: () => this.redraw(),
      filterColumns: [...new Set([...(vocabulary ? vocabulary.filterColumns : []), ...items.categoryColumns])],
      onClear: () => this.extras.labels.setActive(null),
      select: (i, opts) => this.select(i, opts),
    });
    this.selection = new MapSelection({
      viewer, items, camera: this.camera, overlay: this.overlay, state: this.state, layout: layoutNow,
      onChange: refilter, onMode: () => this.address.update(), panelOpen,
    });
    this.exporter = new Exporter({ items, search: this.search, layout: layoutNow, itemsUrl });
    this.pointer = new MapPointer({
      viewer, items, camera: this.camera, overlay: this.overlay, labels: this.extras.labels, layout: layoutNow, perf,
      imageUrl: (i) => this.panel.imageUrl(i),
      selected: () => this.selected, select: (i, opts) => this.select(i, opts), panelOpen, selecting: () => !!this.selection.mode,
    });
    // A view in the address (filters, search, mode) applies before the first draw.
    this.applyView(this.search.typedInto(this.address.initial()), { fromAddress: true });

    // The viewer may have opened the DZI already while items.json was loading.
    if (viewer.world.getItemCount() > 0) this.onOpen(initialItem);
    else viewer.addOnceHandler('open', () => this.onOpen(initialItem));
    viewer.addHandler('update-viewport', () => this.redraw());
    viewer.addHandler('resize', () => { this.camera.fitNavigator(); this.extras.updateObstacles(); this.redraw(); });
    requestAnimationFrame(() => { this.extras.updateObstacles(); this.redraw(); });
    this.pointer.listen();
    this.search.listen();
    this.selection.listen();
    this.extras.listen();
    this.exporter.listen();
    this.layouts.listen(() => this.redraw());
    $('map').setAttribute('role', 'application');
    this.layouts.labelMap();
    $('map').tabIndex = 0;
    this.address.listen();
    this.refilter();
    exposeTestHandle(this);
  }

  /** The active layout: every item <-> cell and point <-> item mapping goes through it. */
  get layout() {
    return this.layouts.layout;
  }

  currentView() {
    // A lazy store's open item whose shard is on its way: the address keeps the item it names.
    const pending = this.selected !== -1 && !this.items.loaded(this.selected);
    const id = this.selected === -1 ? null
      : pending ? this.address.initial().item : asText(columnValues(this.items, 'id')[this.selected]);
    return { ...this.state, item: id, mode: this.selection.mode, layout: this.layout.name };
  }

  /** A view from the address into the state and the inputs; a selection code that does not fit these items is dropped. */
  applyView(view, { fromAddress = false } = {}) {
    this.search.applyView(view);
    this.search.filters.syncInputs(); // a copied address's years fill the From/To boxes
    const flags = view.selection ? decodeSelection(view.selection.code, this.items.count) : null;
    const size = flags ? countMask(flags) : 0;
    this.state.selection = size ? { mode: view.selection.mode, items: flags, size } : null;
    this.extras.applyView(view);
    this.search.showQuery();
    this.selection.setMode(view.mode, { write: !fromAddress });
  }

  /** Back/Forward or an edited address: its filters, then its layout, then its item. */
  async navigate(view, stale) {
    this.applyView(view, { fromAddress: true });
    this.search.filters.syncInputs();
    this.refilter({ write: false });
    // The layout first (it moves the view to the open item), then the item the address names.
    const layout = this.layouts.offered.some((e) => e.name === view.layout) ? view.layout : 'similarity';
    if (layout !== this.layout.name) await this.layouts.switchTo(layout, { write: false });
    if (stale()) return; // a newer address arrived meanwhile
    const i = view.item === null ? undefined : await this.items.findId(view.item);
    if (stale()) return;
    if (i !== undefined && i !== this.selected) this.select(i, { zoom: true, write: false });
    else if (view.item === null && this.selected !== -1) this.select(-1, { write: false });
  }

  async onOpen(initialItem) {
    this.camera.measure();
    perf.drawer = this.viewer.drawer.getType();
    const start = initialItem !== null ? await this.items.findId(initialItem) : undefined;
    if (start !== undefined) this.select(start, { zoom: true, immediately: true });
    else if (initialItem !== null) {
      showStatus('That item is not in this collection.', { error: true });
      setTimeout(() => showStatus(''), 6000);
    }
    this.redraw();
  }

  /**
   * Another layout's tiles are open. Search, filters and selection are per item: their
   * highlights are redrawn at the new cells. The open item stays open and on screen, or else
   * the item that was at the view's centre; the whole map stays the whole map.
   */
  showLayout(layout, { keep, ...before }, { write }) {
    this.camera.measure();
    this.overlay.setGrid(layout.grid, layout.labels);
    this.refilter({ write: false }); // the dim mask and match order at the new cells
    this.overlay.selectedCell = this.selected === -1 ? -1 : layout.itemToCell[this.selected];
    this.pointer.placeCursor(keep);
    this.camera.restoreView(before, keep);
    if (this.selected !== -1) this.camera.bringIntoView(layout.itemToCell[this.selected], { zoom: false, immediately: true });
    this.layouts.render();
    this.layouts.labelMap();
    this.layouts.updateObstacles();
    this.redraw();
    if (write) this.address.write({ push: true });
  }

  redraw() {
    const t = this.camera.transform();
    this.overlay.setTransform(t);
    this.overlay.draw();
    const size = this.viewer.viewport.getContainerSize();
    // Region names belong to the similarity map; the other layouts draw their axis or headings.
    if (this.layout.name === 'similarity') this.extras.labels.update(t, size);
    else {
      if (this.extras.labels.labels.length) this.extras.labels.build(null);
      this.layouts.labels.update(t, size);
    }
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
      this.pointer.cursorCell = this.layout.itemToCell[i];
      this.overlay.cursorCell = this.pointer.cursorCell;
      this.panel.show(i, t0);
      document.body.classList.add('panel-open');
      if (focusPanel) $('panel-title').focus({ preventScroll: true });
      this.camera.bringIntoView(this.layout.itemToCell[i], { zoom, immediately });
    }
    if (wasOpen !== this.panel.isOpen) {
      this.camera.fitNavigator();
      this.layouts.updateObstacles();
      this.extras.updateObstacles();
    }
    // replaceState: stepping through 50 items should not fill the back button.
    if (write && this.items.loaded(i)) this.address.write();
    else if (write) this.items.load([i]).then(() => { if (this.selected === i) this.address.write(); }, () => {});
    this.overlay.draw();
  }

  /** The state changed: evaluate it, dim the rest, show the counts and chips, write the address.
   * A lazy store first fetches what the state needs (title matches, years, category codes). */
  refilter({ push = false, write = true } = {}, t0 = performance.now()) {
    const needed = this.search.prepare();
    if (needed) {
      needed.then(() => this.refilter({ push, write }, t0), (err) => showStatus(`Filter failed: ${err.message}`, { error: true }));
      return;
    }
    const evaluated = this.search.run(this.layout);
    this.overlay.setMatches(this.layout, this.search.mask);
    this.overlay.draw();
    this.search.render(evaluated);
    this.selection.render();
    this.extras.render();
    this.exporter.render();
    if (write) this.address.update({ push });
    this.address.settle(); // the first render keeps the address as given
    perf.refilterMs = performance.now() - t0;
    // A lazy store's other columns arrive after the result showed: then the counts are complete.
    const rest = this.search.rest();
    if (rest) rest.then(() => { this.refilter({ write: false }); perf.countsCompleteMs = performance.now() - t0; },
      (err) => showStatus(`Filter counts failed: ${err.message}`, { error: true }));
  }
}
