// The item panel: title, date, every other column with a value (bounded), the
// larger image (in deep zoom over it when the item has a IIIF image service: panel-zoom.js), the
// record link, the item's regions, its near-duplicates and "more like this". All values go in as text.
import { $, el } from './lib/dom.js';
import { asText, itemTitle } from './lib/items.js';
import { columnValues } from './lib/filter.js';
import { duplicatesOf, neighboursOf } from './lib/extras.js';
import { safeHttpUrl } from './lib/url.js';
import { PanelZoom } from './panel-zoom.js';

const MAX_FIELDS = 200; // a CSV with 100,000 columns must not become 200,000 DOM nodes

export class ItemPanel {
  /**
   * @param {object} o
   * @param {() => Promise<object|null>} o.loadNeighbours resolves to decoded neighbours.bin (or null)
   * @param {(i:number) => void} o.onPick a "more like this" thumbnail was chosen
   * @param {(scale:object, region:object) => void} o.onRegion a region name was chosen
   */
  constructor({ items, itemsUrl, onClose, loadNeighbours, onPick, onRegion, perf }) {
    this.items = items;
    this.itemsUrl = itemsUrl;
    this.root = $('panel');
    this.current = -1;
    this.regions = null;
    this.duplicates = null;
    this.loadNeighbours = loadNeighbours;
    this.onPick = onPick;
    this.onRegion = onRegion;
    this.perf = perf || {};
    this.zoom = new PanelZoom({ wrap: $('panel-image').parentElement });
    $('panel-close').addEventListener('click', onClose);
  }

  get isOpen() {
    return !this.root.hidden;
  }

  setRegions(regions) {
    this.regions = regions;
    if (this.current !== -1) this.renderRegions(this.current);
  }

  setDuplicates(dups) {
    this.duplicates = dups;
    if (this.current !== -1) this.renderDuplicates(this.current);
  }

  /** "n near-duplicates": the other items of i's group (duplicates.json), as thumbnails to open. */
  renderDuplicates(i) {
    const others = duplicatesOf(this.duplicates, i);
    $('panel-duplicates').hidden = others.length === 0;
    $('duplicates-heading').textContent = `${others.length} near-duplicate${others.length === 1 ? '' : 's'}`;
    if (others.every((j) => this.items.loaded(j))) {
      $('duplicates-list').replaceChildren(...others.map((j) => this.thumbnail(j)));
      return;
    }
    $('duplicates-list').replaceChildren();
    this.items.load(others).then(() => { if (this.current === i) this.renderDuplicates(i); }, (err) => console.warn(err));
  }

  /** A button showing item j's image that opens it. */
  thumbnail(j) {
    const src = this.imageUrl(j);
    const title = itemTitle(this.items, j);
    const img = el('img', { alt: title, loading: 'eager', decoding: 'async' });
    if (src) img.src = src;
    const b = el('button', { type: 'button', className: 'similar-item', title, dataset: { item: String(j) } }, img);
    b.addEventListener('click', () => this.onPick(j));
    return b;
  }

  show(i, t0 = performance.now()) {
    const { items } = this;
    this.current = i;
    if (!items.loaded(i)) { // a lazy store: the item's text comes with its shard
      $('panel-title').textContent = '…';
      this.root.hidden = false;
      items.load([i]).then(() => { if (this.current === i) this.show(i, t0); },
        (err) => { if (this.current === i) $('panel-title').textContent = err.message; });
      return;
    }
    const title = itemTitle(items, i);
    $('panel-title').textContent = title;
    const dateValues = items.dateColumn ? columnValues(items, items.dateColumn) : null;
    const date = dateValues ? asText(dateValues[i]).trim() : '';
    const pd = $('panel-date');
    pd.textContent = date;
    pd.hidden = !date;
    // "Unknown", "n.d.": shown as written, but not styled as a date.
    pd.classList.toggle('undated', !!date && !!items.years && items.years[i] === null);

    const image = $('panel-image');
    const src = this.imageUrl(i);
    image.hidden = !src;
    image.alt = title;
    if (src) image.src = src; else image.removeAttribute('src');
    this.root.hidden = false; // the zoom view measures its box when it opens
    this.zoom.show(items, i);

    const skip = new Set(['title', 'url', items.dateColumn]);
    const dl = $('panel-fields');
    dl.replaceChildren();
    let shown = 0;
    let more = 0;
    for (const col of items.columns) {
      if (skip.has(col)) continue;
      const values = columnValues(items, col);
      let value = values ? asText(values[i]).trim() : '';
      if (!value) continue;
      if (shown >= MAX_FIELDS) { more++; continue; }
      // `|` separates multiple values (categories, tags): show them as a list.
      if (value.includes('|')) value = value.split('|').map((s) => s.trim()).filter(Boolean).join(' · ');
      dl.append(el('dt', {}, col.replace(/([A-Za-z0-9])_(?=[A-Za-z0-9])/g, '$1 ')), el('dd', {}, value));
      shown++;
    }
    if (more) dl.append(el('dt', {}, '…'), el('dd', { className: 'muted' }, `${more.toLocaleString('en')} more columns not shown`));
    dl.append(el('dt', {}, 'file'), el('dd', { className: 'muted' }, asText(columnValues(items, 'id')[i])));

    const linkRow = $('panel-link-row');
    const urls = columnValues(items, 'url');
    const rawUrl = urls ? asText(urls[i]).trim() : '';
    const href = safeHttpUrl(rawUrl);
    if (href) {
      linkRow.replaceChildren(el('a', { href, target: '_blank', rel: 'noopener', className: 'record-link' },
        'Open record ↗'));
    } else if (rawUrl) {
      // Not http(s): show it so nothing is hidden, but never as a link.
      linkRow.replaceChildren(el('span', { className: 'muted' }, 'record: '), el('span', { className: 'unsafe-url' }, rawUrl));
    } else {
      linkRow.replaceChildren();
    }
    this.renderRegions(i);
    this.renderDuplicates(i);
    this.root.hidden = false;
    this.renderSimilar(i, t0);
  }

  renderRegions(i) {
    const box = $('panel-regions');
    box.replaceChildren();
    const scales = this.regions ? this.regions.scales : [];
    const chips = [];
    for (const scale of scales) {
      const region = scale.byId.get(scale.itemRegion[i]);
      if (!region || chips.some((c) => c.name === region.name)) continue;
      chips.push({ scale, region, name: region.name });
    }
    box.hidden = chips.length === 0;
    if (!chips.length) return;
    box.append(el('span', { className: 'muted small' }, 'Region: '));
    for (const { scale, region } of chips) {
      const b = el('button', { type: 'button', className: 'region-chip', title: `Show the ${region.count} items of this region` }, region.name);
      b.addEventListener('click', () => this.onRegion(scale, region));
      box.append(b);
    }
  }

  async renderSimilar(i, t0) {
    const strip = $('panel-similar');
    const list = $('similar-list');
    let nb = null;
    try {
      nb = await this.loadNeighbours();
    } catch (err) {
      console.warn(err);
    }
    if (this.current !== i) return; // another item was opened meanwhile
    const picks = nb ? neighboursOf(nb, i) : [];
    try {
      await this.items.load(picks); // a lazy store: their titles and images
    } catch (err) {
      console.warn(err);
    }
    if (this.current !== i) return;
    strip.hidden = picks.length === 0;
    list.replaceChildren();
    const images = [];
    for (const j of picks) {
      const src = this.imageUrl(j);
      const title = itemTitle(this.items, j);
      const img = el('img', { alt: title, loading: 'eager', decoding: 'async' });
      if (src) img.src = src;
      images.push(img);
      const b = el('button', { type: 'button', className: 'similar-item', title, dataset: { item: String(j) } }, img);
      b.addEventListener('click', () => this.onPick(j));
      list.append(b);
    }
    this.perf.similarShownMs = performance.now() - t0;
    Promise.all(images.map((im) => (im.complete ? null : new Promise((r) => { im.onload = r; im.onerror = r; }))))
      .then(() => { if (this.current === i) this.perf.similarLoadedMs = performance.now() - t0; });
  }

  hide() {
    this.zoom.close();
    this.root.hidden = true;
    this.current = -1;
  }

  imageUrl(i) {
    const images = columnValues(this.items, 'image');
    const rel = images ? asText(images[i]) : '';
    if (!rel) return null;
    try {
      const u = new URL(rel, this.itemsUrl);
      return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
    } catch {
      return null;
    }
  }
}
