// The words a layout draws over its map (issue 16): the timeline's axis (bin years, the
// undated block) and the category headings (value and count). Fixed-size text placed each
// frame from the grid transform by lib/layout.js, so it reads the same at the widest and the
// deepest zoom. One node per label (tens, at most a few hundred), made once per layout; a
// frame only moves, shows and hides them. The pointer passes through (hover, drag and click
// reach the map).
import { el } from './lib/dom.js';
import { isAxisLabel, placeAxisLabels, placeHeadings } from './lib/label-placement.js';

// Must match .layout-label in app.css.
const FONT = '600 12px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';

export class LayoutLabels {
  constructor(container, { perf }) {
    this.container = container;
    this.perf = perf;
    this.layout = null;
    this.axis = [];
    this.headings = [];
    this.nodes = new Map(); // label -> node
    this.shown = [];
    this.obstacles = [];
    const ctx = document.createElement('canvas').getContext('2d');
    ctx.font = FONT;
    const widths = new Map();
    this.measure = (text) => {
      let w = widths.get(text);
      if (w === undefined) { w = ctx.measureText(text).width; widths.set(text, w); }
      return w;
    };
  }

  /** Show this layout's labels (none for the similarity map, whose names are its regions). */
  setLayout(layout) {
    this.layout = layout;
    this.container.replaceChildren();
    this.nodes.clear();
    this.shown = [];
    const labels = layout ? layout.labels : [];
    const name = layout ? layout.name : null;
    this.axis = labels.filter((l) => isAxisLabel(l, name)).sort((a, b) => a.x - b.x);
    this.headings = labels.filter((l) => !isAxisLabel(l, name));
    for (const l of labels) {
      const node = el('span', { className: `layout-label ${isAxisLabel(l, name) ? 'axis' : 'heading'}`, hidden: true });
      this.nodes.set(l, node);
      this.container.append(node);
    }
    this.container.setAttribute('aria-label', layout && layout.name === 'timeline' ? 'Timeline axis' : 'Category headings');
  }

  /** Element-px rectangles labels must not cover (the navigator, the layout switcher on a phone). */
  setObstacles(rects) {
    this.obstacles = rects;
  }

  update(t, size) {
    if (!this.layout || !t || this.nodes.size === 0) return;
    const t0 = performance.now();
    const opts = { obstacles: this.obstacles };
    const placed = [
      ...placeAxisLabels(this.axis, this.layout.grid, t, size, this.measure, opts),
      ...placeHeadings(this.headings, this.layout.grid, t, size, this.measure, opts),
    ];
    const on = new Set();
    for (const p of placed) {
      const node = this.nodes.get(p.label);
      on.add(node);
      if (node.textContent !== p.text) node.textContent = p.text;
      node.title = p.cut ? p.text : '';
      node.style.width = `${Math.round(p.w)}px`;
      node.style.transform = `translate(${Math.round(p.x)}px, ${Math.round(p.y)}px)`;
      node.hidden = false;
    }
    for (const node of this.nodes.values()) if (!on.has(node)) node.hidden = true;
    this.shown = placed;
    const list = this.perf.layoutLabelFrameMs || (this.perf.layoutLabelFrameMs = []);
    list.push(performance.now() - t0);
    if (list.length > 300) list.shift();
  }

  /** Labels on screen now (for tests): [{text, kind, x, y, left, right, top, bottom}] in page px. */
  visible() {
    return this.shown.map((p) => {
      const r = this.nodes.get(p.label).getBoundingClientRect();
      return { text: p.text, kind: p.label.kind, x: r.left + r.width / 2, y: r.top + r.height / 2,
        left: r.left, right: r.right, top: r.top, bottom: r.bottom, yearFrom: p.label.yearFrom };
    });
  }
}
