// Selecting on the map: in rectangle or lasso mode the pointer draws a shape over the map
// (instead of panning it) and the items inside become the selection, a filter like the others
// (state.selection: {mode, items: Uint8Array flags, size}). The mode is part of the address.
import { $ } from './lib/dom.js';
import { itemsInLasso, itemsInRect } from './lib/select.js';
import { elementToGrid } from './lib/screen.js';
import { selectionSummary } from './lib/summary.js';

export class MapSelection {
  /**
   * @param {object} o
   * @param {object} o.state the filter state (state.selection is this class's)
   * @param {() => object} o.layout the active layout
   * @param {(opts:object) => void} o.onChange the selection changed: refilter ({push: true})
   * @param {() => void} o.onMode the mode changed: write the address
   * @param {() => boolean} o.panelOpen Esc closes the panel first, then leaves the mode
   */
  constructor({ viewer, items, camera, overlay, state, layout, onChange, onMode, panelOpen }) {
    Object.assign(this, { viewer, items, camera, overlay, state, layout, onChange, onMode, panelOpen });
    this.mode = null; // 'rect' | 'lasso' while selecting on the map
  }

  /** The pointer, the buttons and Esc (after the page's other keyboard handlers: call once). */
  listen() {
    const layer = $('select-layer');
    let points = null;
    const toGrid = (ev) => {
      const box = this.viewer.element.getBoundingClientRect();
      const x = ev.clientX - box.left; const y = ev.clientY - box.top;
      return { ex: x, ey: y, ...elementToGrid(this.camera.transform(), x, y) };
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
      const { grid: g, cellToItem } = this.layout();
      const picked = this.mode === 'rect'
        ? (points.length > 1 ? itemsInRect(g, cellToItem, points[0], points[1]) : [])
        : itemsInLasso(g, cellToItem, points);
      points = null;
      this.overlay.shape = null;
      const flags = new Uint8Array(this.items.count);
      for (const i of picked) flags[i] = 1;
      this.state.selection = picked.length ? { mode: this.mode, items: flags, size: picked.length } : null;
      this.onChange({ push: true });
    };
    layer.addEventListener('pointerup', finish);
    layer.addEventListener('pointercancel', () => { points = null; this.overlay.shape = null; this.overlay.draw(); });
    $('select-rect').addEventListener('click', () => this.setMode(this.mode === 'rect' ? null : 'rect'));
    $('select-lasso').addEventListener('click', () => this.setMode(this.mode === 'lasso' ? null : 'lasso'));
    $('selection-clear').addEventListener('click', () => { this.state.selection = null; this.onChange({ push: true }); });
    window.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape' && this.mode && !this.panelOpen()) this.setMode(null);
    });
  }

  /** Selection mode: the pointer draws a rectangle or lasso instead of panning the map. */
  setMode(mode, { write = true } = {}) {
    this.mode = mode || null;
    $('select-layer').hidden = !this.mode;
    $('select-rect').setAttribute('aria-pressed', String(this.mode === 'rect'));
    $('select-lasso').setAttribute('aria-pressed', String(this.mode === 'lasso'));
    document.body.classList.toggle('selecting', !!this.mode);
    if (write) this.onMode();
  }

  /** The selection chip in the sidebar. */
  render() {
    const sel = this.state.selection;
    $('selection-row').hidden = !sel;
    if (sel) $('selection-summary').textContent = selectionSummary(sel);
  }
}
