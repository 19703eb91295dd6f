// The pointer and the keyboard on the map: the hover outline and tooltip (title, date and the
// category block; after a rest, the item's larger image), a click (a region name first, else
// the item under it), and the keyboard cursor cell (arrow keys move it or the open item to a
// neighbour, Enter opens it, Esc closes the panel). A click on cells too small to read zooms
// in a step toward it instead of opening an item.
// Opening an item is the page's select(); this class owns the cursor cell.
import { $ } from './lib/dom.js';
import { asText, itemTitle } from './lib/items.js';
import { columnValues } from './lib/filter.js';
import { neighbourCell } from './lib/grid.js';
import { besidePointer } from './lib/screen.js';
import { headingText, isAxisLabel } from './lib/label-placement.js';

// A click opens the item under it only once cells are this wide on screen (CSS px); below
// that it zooms in ZOOM_STEP times toward the clicked point.
const OPEN_FROM_PX = 48;
const ZOOM_STEP = 2.5;
// Resting this long (ms) on one item shows its larger image in the tooltip.
const PREVIEW_AFTER_MS = 400;
const DIRECTIONS = { ArrowLeft: 'left', ArrowRight: 'right', ArrowUp: 'up', ArrowDown: 'down' };

export class MapPointer {
  /**
   * @param {object} o
   * @param {() => object} o.layout the active layout
   * @param {object} o.labels the region names (RegionLabels): hover and click go to them first
   * @param {() => number} o.selected the open item, or -1
   * @param {(i:number, opts?:object) => void} o.select open item i (-1 closes)
   * @param {() => boolean} o.panelOpen
   * @param {() => boolean} o.selecting a rectangle or lasso is being drawn (clicks are not clicks)
   * @param {(i:number) => string|null} o.imageUrl item i's larger image (the hover preview)
   */
  constructor({ viewer, items, camera, overlay, labels, layout, selected, select, panelOpen, selecting, perf, imageUrl }) {
    Object.assign(this, { viewer, items, camera, overlay, labels, layout, selected, select, panelOpen, selecting, perf, imageUrl });
    this.cursorCell = -1; // the keyboard cursor
  }

  /** Hover, click and keys (before the page's other keyboard handlers: call once). */
  listen() {
    this.viewer.addHandler('canvas-click', (e) => this.onClick(e));
    this.setupHover();
    this.setupKeys();
  }

  setupHover() {
    const host = this.viewer.canvas;
    const tip = $('tooltip');
    const tipTitle = $('tooltip-title');
    const tipDate = $('tooltip-date');
    const tipGroup = $('tooltip-group');
    const tipImage = $('tooltip-image');
    const { overlay, items, perf } = this;
    let shownItem = -1;
    let previewTimer = 0;
    let last = { x: 0, y: 0 };
    const place = () => {
      // Beside the pointer, flipped near the right/bottom edges.
      const p = besidePointer(last.x, last.y, tip.offsetWidth, tip.offsetHeight, window.innerWidth, window.innerHeight);
      tip.style.transform = `translate(${p.x}px, ${p.y}px)`;
    };
    const dropPreview = () => {
      clearTimeout(previewTimer);
      tipImage.hidden = true;
      tipImage.removeAttribute('src');
    };
    tipImage.addEventListener('load', () => { if (!tip.hidden) place(); });
    const hide = () => {
      tip.hidden = true;
      shownItem = -1;
      dropPreview();
      if (overlay.hoverCell !== -1) { overlay.hoverCell = -1; overlay.draw(); }
    };
    host.addEventListener('pointermove', (ev) => {
      if (ev.buttons) { hide(); return; } // dragging: the map moves, no tooltip
      const box = host.getBoundingClientRect();
      document.body.classList.toggle('over-label', this.labels.hover(ev.clientX - box.left, ev.clientY - box.top));
      const cell = this.camera.cellAt(ev.clientX - box.left, ev.clientY - box.top);
      const i = cell === -1 ? -1 : this.layout().cellToItem[cell];
      if (i === -1) { hide(); return; }
      if (i !== shownItem) {
        shownItem = i;
        dropPreview();
        const t0 = ev.timeStamp;
        // The item's text: here at once, or (a lazy store) when its shard arrives.
        const fill = () => {
          if (shownItem !== i) return;
          const src = ev.pointerType === 'touch' ? null : this.imageUrl(i);
          if (src) {
            previewTimer = setTimeout(() => {
              if (shownItem !== i) return;
              tipImage.src = src;
              tipImage.hidden = false;
              place();
            }, PREVIEW_AFTER_MS);
          }
          tipTitle.textContent = itemTitle(items, i);
          const date = items.dateColumn ? asText(columnValues(items, items.dateColumn)[i]).trim() : '';
          tipDate.textContent = date;
          tipDate.hidden = !date;
          if (!tip.hidden) place();
          perf.hoverTitleMs.push(performance.now() - t0);
          if (perf.hoverTitleMs.length > 200) perf.hoverTitleMs.shift();
        };
        if (items.loaded(i)) fill();
        else {
          tipTitle.textContent = '…';
          tipDate.hidden = true;
          items.load([i]).then(fill, (err) => { if (shownItem === i) tipTitle.textContent = err.message; });
        }
        const block = this.blockOf(cell);
        tipGroup.textContent = block ? headingText(block) : '';
        tipGroup.hidden = !block;
        overlay.hoverCell = cell;
        overlay.draw();
      }
      tip.hidden = false;
      last = { x: ev.clientX, y: ev.clientY };
      place();
      const t0 = ev.timeStamp;
      requestAnimationFrame(() => {
        perf.hoverLatencies.push(performance.now() - t0);
        if (perf.hoverLatencies.length > 200) perf.hoverLatencies.shift();
      });
    }, { passive: true });
    host.addEventListener('pointerleave', hide);
    this.viewer.addHandler('animation-start', hide);
  }

  /** The category block (a layout's heading label) holding a cell, or null: the tooltip names it, as small blocks show no heading. */
  blockOf(cell) {
    const { name, grid, labels } = this.layout();
    const col = cell % grid.cols;
    const row = Math.floor(cell / grid.cols);
    return labels.find((l) => !isAxisLabel(l, name) && col >= l.x && col < l.x + l.w && row >= l.y && row < l.y + l.h) || null;
  }

  onClick(e) {
    if (!e.quick || this.selecting()) return; // the end of a drag, not a click (or a selection being drawn)
    $('tooltip').hidden = true;
    const label = this.labels.at(e.position.x, e.position.y);
    if (label) { this.labels.pick(label); return; }
    const t = this.camera.transform();
    const cellPx = t ? this.layout().grid.cellWidth * t.scale : 0;
    if (cellPx < OPEN_FROM_PX) {
      // Far out a cell is a speck: a click is a request to look closer there, not to open it.
      const vp = this.viewer.viewport;
      const factor = Math.min(ZOOM_STEP, vp.getMaxZoom() / vp.getZoom());
      if (factor > 1) vp.zoomBy(factor, vp.pointFromPixel(e.position));
      return;
    }
    const cell = this.camera.cellAt(e.position.x, e.position.y);
    const i = cell === -1 ? -1 : this.layout().cellToItem[cell];
    if (i !== -1) this.select(i, { zoom: false });
  }

  setupKeys() {
    const map = $('map');
    // Capture phase, so OpenSeadragon's own arrow-key panning does not also run.
    window.addEventListener('keydown', (ev) => {
      const typing = ev.target instanceof HTMLInputElement && ev.target.type !== 'checkbox';
      if (ev.key === 'Escape') {
        if (this.panelOpen()) { this.select(-1); ev.preventDefault(); ev.stopPropagation(); }
        return;
      }
      if (typing || ev.altKey || ev.ctrlKey || ev.metaKey) return;
      const onMap = ev.target === map || map.contains(ev.target);
      const selected = this.selected();
      const { grid, cellToItem, itemToCell } = this.layout();
      if (ev.key === 'Enter' && onMap && this.cursorCell !== -1 && selected === -1) {
        ev.preventDefault();
        this.select(cellToItem[this.cursorCell], { focusPanel: true });
        return;
      }
      const dir = DIRECTIONS[ev.key];
      if (!dir || (selected === -1 && !onMap)) return;
      ev.preventDefault();
      ev.stopPropagation();
      if (selected === -1) {
        // The keyboard cursor: a visible cell on the map, Enter opens it.
        if (this.cursorCell === -1) this.cursorCell = this.camera.firstVisibleCell();
        else this.cursorCell = neighbourCell(grid, cellToItem, this.cursorCell, dir);
        this.overlay.cursorCell = this.cursorCell;
        this.camera.bringIntoView(this.cursorCell, { zoom: false, immediately: false, allowZoom: false });
        this.overlay.draw();
        return;
      }
      const from = itemToCell[selected];
      const to = neighbourCell(grid, cellToItem, from, dir);
      if (to !== from) this.select(cellToItem[to]);
    }, true);
    map.addEventListener('focus', () => {
      if (this.cursorCell === -1) this.cursorCell = this.camera.firstVisibleCell();
      this.overlay.cursorCell = this.cursorCell;
      this.overlay.draw();
    });
    map.addEventListener('blur', () => { this.overlay.cursorCell = this.selected() === -1 ? -1 : this.cursorCell; this.overlay.draw(); });
  }

  /** The cursor on item i's cell (or none), e.g. after a layout switch; shown while an item is open or the map has focus. */
  placeCursor(i) {
    const layout = this.layout();
    this.cursorCell = i === -1 ? -1 : layout.itemToCell[i];
    this.overlay.cursorCell = this.selected() !== -1 || document.activeElement === $('map') ? this.cursorCell : -1;
  }
}
