// Region names drawn over the map (regions.json): one small button per region of
// the scale that fits the zoom, placed each frame from the grid transform. Larger
// regions win where names would overlap. A click filters to that region. A region no
// term honestly names shows its item count only (muted, not a button), where room is
// left. No two visible labels read the same, and none sits under the filters, the item
// panel, the navigator or the zoom buttons (the obstacles, measured on resize and when
// the panel or the filters open or close, never inside a frame).
//
// Buttons rather than canvas text: they stay crisp, take focus (Tab, Enter) and
// read well over any photo (dark backing, light text). The pointer passes through
// them to the map (hover and drag work under a name); map-pointer.js hit-tests a
// click against the placed names first. Only the current scale's names exist in
// the DOM (tens, never one per cell), anchored on cell corners so they cover no
// photo's centre.
import { el } from './lib/dom.js';
import { scaleForZoom } from './lib/extras.js';

// Must match .region-label in app.css (font, padding 9 px + border 1 px each side, max-width).
const LABEL_FONT = '600 13px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
const LABEL_PAD_X = 20;
const LABEL_H = 26;
const LABEL_MAX_W = 240;

export class RegionLabels {
  constructor(container, grid, { onPick, perf }) {
    this.container = container;
    this.grid = grid;
    this.onPick = onPick;
    this.perf = perf;
    this.regions = null;
    this.scaleIndex = -1;
    this.labels = []; // {region, node, w, h}
    this.activeId = null; // {scale, id} of the region filter, drawn highlighted
    this.obstacles = []; // element-px rectangles no label may cover
  }

  /** Element-px rectangles labels keep clear of (see the header). */
  setObstacles(rects) {
    this.obstacles = rects;
  }

  setRegions(regions) {
    this.regions = regions;
    this.scaleIndex = -1;
    // Every scale's names are made now, once (tens of nodes), so a zoom that changes the
    // scale only shows and hides them: no node creation inside a frame.
    this.container.replaceChildren();
    const ctx = document.createElement('canvas').getContext('2d');
    ctx.font = LABEL_FONT;
    // Sizes from the text metrics, not from layout (no forced layout per label).
    const width = (text) => Math.min(LABEL_MAX_W, Math.ceil(ctx.measureText(text).width) + LABEL_PAD_X);
    this.byScale = regions.scales.map((scale) => [...[...scale.regions].sort((a, b) => b.count - a.count).map((region) => {
      const node = el('button', { type: 'button', className: 'region-label', hidden: true,
        title: `${region.name}: ${region.count.toLocaleString('en')} items (click to show only these)` }, region.name);
      node.setAttribute('aria-label', `Region ${region.name}, ${region.count} items`);
      node.addEventListener('click', (ev) => { ev.stopPropagation(); this.onPick(scale, region); });
      this.container.append(node);
      return { region, node, w: width(region.name), h: LABEL_H, box: null, text: region.name };
    }), ...[...(scale.unnamed || [])].sort((a, b) => b.count - a.count).map((region) => {
      const text = `${region.count.toLocaleString('en')} items`;
      const node = el('span', { className: 'region-label unnamed', hidden: true,
        title: `${text}: no term is carried by enough of them to name them` }, text);
      this.container.append(node);
      return { region, node, w: width(text), h: LABEL_H, box: null, text, unnamed: true };
    })]);
    this.labels = [];
  }

  setActive(region) {
    this.activeId = region;
    for (const l of this.labels) if (!l.unnamed) l.node.classList.toggle('active', this.isActive(l.region));
  }

  isActive(region) {
    const s = this.regions && this.regions.scales[this.scaleIndex];
    return !!this.activeId && !!s && this.activeId.scale === s.name && this.activeId.id === region.id;
  }

  build(k) {
    for (const l of this.labels) { l.node.hidden = true; l.box = null; }
    this.scaleIndex = k === null ? -1 : k;
    this.labels = k === null || k < 0 ? [] : this.byScale[k];
    this.setActive(this.activeId);
  }

  /**
   * Place the names for this frame. `t`: {x0, y0, scale} grid pixel -> element pixel; `size`:
   * the map's {x, y} in CSS pixels (OpenSeadragon's cached container size: reading the
   * container's clientWidth here forced a layout in the middle of the frame).
   */
  update(t, size) {
    if (!this.regions || !t) return;
    const t0 = performance.now();
    const cellPx = this.grid.cellWidth * t.scale;
    const k = scaleForZoom(this.regions.scales, this.grid, cellPx);
    if ((k === null ? -1 : k) !== this.scaleIndex) this.build(k);
    const W = size.x;
    const H = size.y;
    const placed = [...this.obstacles];
    const shown = new Set(); // texts on screen: one label per text
    for (const l of this.labels) {
      let x = t.x0 + l.region.x * this.grid.cellWidth * t.scale - l.w / 2;
      let y = t.y0 + l.region.y * this.grid.cellHeight * t.scale - l.h / 2;
      // A name whose anchor is on screen stays whole: nudged inside the map's edges.
      const ax = x + l.w / 2; const ay = y + l.h / 2;
      if (ax >= 0 && ax <= W && ay >= 0 && ay <= H) {
        x = Math.max(2, Math.min(W - l.w - 2, x));
        y = Math.max(2, Math.min(H - l.h - 2, y));
      }
      const box = { x0: x - 4, y0: y - 2, x1: x + l.w + 4, y1: y + l.h + 2 };
      const visible = box.x1 > 0 && box.y1 > 0 && box.x0 < W && box.y0 < H && !shown.has(l.text)
        && !placed.some((p) => p.x0 < box.x1 && box.x0 < p.x1 && p.y0 < box.y1 && box.y0 < p.y1);
      if (visible) { placed.push(box); shown.add(l.text); }
      l.box = visible ? { x0: x, y0: y, x1: x + l.w, y1: y + l.h } : null;
      l.node.hidden = !visible;
      if (visible) l.node.style.transform = `translate(${Math.round(x)}px, ${Math.round(y)}px)`;
    }
    const ms = performance.now() - t0;
    const list = this.perf.labelFrameMs || (this.perf.labelFrameMs = []);
    list.push(ms);
    if (list.length > 300) list.shift();
  }

  /** The label under element point (x, y), or null (labels let the pointer through; clicks come here). */
  at(x, y) {
    for (const l of this.labels) {
      if (l.node.hidden || !l.box || l.unnamed) continue;
      if (x >= l.box.x0 && x <= l.box.x1 && y >= l.box.y0 && y <= l.box.y1) return l;
    }
    return null;
  }

  /** Outline the label under the pointer; true when there is one. */
  hover(x, y) {
    const hit = this.at(x, y);
    for (const l of this.labels) l.node.classList.toggle('hover', l === hit);
    return !!hit;
  }

  pick(l) {
    this.onPick(this.regions.scales[this.scaleIndex], l.region);
  }

  /** Names on screen now (for tests): [{name, x, y}] in page pixels. */
  visible() {
    return this.labels.filter((l) => !l.node.hidden && !l.unnamed).map((l) => {
      const r = l.node.getBoundingClientRect();
      return { name: l.region.name, x: r.left + r.width / 2, y: r.top + r.height / 2 };
    });
  }
}
