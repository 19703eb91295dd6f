// Layouts (issue 16): which arrangement of the items the map shows (similarity, timeline,
// category), the switcher buttons, loading an offered layout's layout.json (checked against
// items.json) and opening its pyramid, and the layout's words over the map (LayoutLabels),
// which keep clear of the navigator and the controls. What stays in view across a switch is
// the page's (onSwitch); this class owns the active layout.
import { $, fetchJson, showStatus } from './lib/dom.js';
import { decodeLayout, itemsSha256, layoutRefusal } from './lib/layout.js';
import { mapLabel } from './lib/summary.js';
import { obstacleRect } from './lib/screen.js';
import { LayoutLabels } from './layout-labels.js';

export class LayoutSwitcher {
  /**
   * @param {object} o
   * @param {object} o.layout the layout the page opened with
   * @param {Array} o.offered current.json's layouts (lib/layout.js offeredLayouts)
   * @param {URL} o.collectionBase paths in current.json are relative to it
   * @param {() => object} o.viewBefore read before a switch, handed to onSwitch
   * @param {(layout:object, before:object, opts:{write:boolean}) => void} o.onSwitch the new layout's tiles are open
   */
  constructor({ viewer, items, layout, offered, collectionBase, similarity, viewBefore, onSwitch, perf }) {
    Object.assign(this, { viewer, items, layout, offered, collectionBase, viewBefore, onSwitch, perf });
    this.loaded = new Map([[layout.name, Promise.resolve(layout)]]);
    if (layout.name !== 'similarity') this.loaded.set('similarity', Promise.resolve(similarity));
    this.sha = null;
    this.token = 0;
    this.labels = new LayoutLabels($('layout-labels'), { perf });
    this.labels.setLayout(layout.name === 'similarity' ? null : layout);
  }

  /** The buttons (offered ones only) and the labels' obstacles; the page redraws on the next frame. */
  listen(redraw) {
    const group = $('layout-switch');
    const names = new Set(this.offered.map((e) => e.name));
    // Offered only when current.json lists a layout besides the similarity map.
    group.hidden = names.size < 2;
    const buttons = [...group.querySelectorAll('button[data-layout]')];
    for (const b of buttons) {
      b.hidden = !names.has(b.dataset.layout);
      b.addEventListener('click', () => this.switchTo(b.dataset.layout));
    }
    const shown = buttons.filter((b) => !b.hidden);
    if (shown.length) shown[shown.length - 1].classList.add('last');
    this.render();
    this.viewer.addHandler('resize', () => this.updateObstacles());
    requestAnimationFrame(() => { this.updateObstacles(); redraw(); });
  }

  /** The buttons' state (all disabled while `pending` loads) and the page's data-layout. */
  render(pending = null) {
    for (const b of $('layout-switch').querySelectorAll('button[data-layout]')) {
      b.setAttribute('aria-pressed', String(b.dataset.layout === this.layout.name));
      b.disabled = pending !== null;
    }
    document.body.dataset.layout = this.layout.name;
  }

  /** The map element's accessible name says which layout it shows. */
  labelMap() {
    const { roleDescription, label } = mapLabel(this.layout.name, this.items.count);
    $('map').setAttribute('aria-roledescription', roleDescription);
    $('map').setAttribute('aria-label', label);
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
      rects.push(obstacleRect(r, m));
    }
    this.labels.setObstacles(rects);
  }

  /** layout.json of an offered layout, fetched on first use and checked against items.json. */
  load(entry) {
    if (!this.loaded.has(entry.name)) {
      const p = fetchJson(new URL(entry.layout, this.collectionBase)).then((doc) => {
        this.sha ??= itemsSha256(this.items);
        return decodeLayout(doc, this.items, entry.name, this.sha);
      });
      // A failure is not cached: a later click tries again (a network hiccup is not final).
      p.catch(() => this.loaded.delete(entry.name));
      this.loaded.set(entry.name, p);
    }
    return this.loaded.get(entry.name);
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

  /**
   * Show another arrangement of the same items; resolves true when it shows. A layout whose
   * layout.json is missing, malformed or from another item list is refused with a message, and
   * the page stays on the current one. A newer switch makes an older one give up.
   */
  async switchTo(name, { write = true } = {}) {
    const entry = this.offered.find((e) => e.name === name);
    if (!entry || name === this.layout.name) return name === this.layout.name;
    const token = ++this.token;
    const started = performance.now();
    const before = this.viewBefore();
    this.render(name);
    const slow = setTimeout(() => showStatus(`Loading the ${name} layout…`), 250);
    let layout;
    try {
      layout = await this.load(entry);
      if (token !== this.token) return false;
      await this.openTiles(new URL(entry.dzi, this.collectionBase));
    } catch (err) {
      clearTimeout(slow);
      if (token !== this.token) return false;
      console.warn(err.message);
      showStatus(layoutRefusal(name, err), { error: true });
      setTimeout(() => showStatus(''), 8000);
      // The tiles may have failed after layout.json loaded: put the current map back.
      if (this.viewer.world.getItemCount() === 0) {
        const back = this.offered.find((e) => e.name === this.layout.name);
        await this.openTiles(new URL(back.dzi, this.collectionBase)).catch(() => {});
      }
      this.render();
      return false;
    }
    clearTimeout(slow);
    showStatus('');
    if (token !== this.token) return false;
    this.layout = layout;
    this.labels.setLayout(name === 'similarity' ? null : layout);
    this.onSwitch(layout, before, { write });
    this.perf.layoutSwitched = performance.now();
    this.perf.layoutSwitchMs = this.perf.layoutSwitched - started; // layout.json (first time), hash check, pyramid open, view
    return true;
  }
}
