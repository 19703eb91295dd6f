// The item panel: title, date, every other column with a value, the larger
// image, and the record link. All values go in as text.
import { $, el } from './lib/dom.js';
import { asText, itemTitle } from './lib/items.js';
import { safeHttpUrl } from './lib/url.js';

export class ItemPanel {
  constructor({ items, itemsUrl, onClose }) {
    this.items = items;
    this.itemsUrl = itemsUrl;
    this.root = $('panel');
    this.current = -1;
    $('panel-close').addEventListener('click', onClose);
  }

  get isOpen() {
    return !this.root.hidden;
  }

  show(i) {
    const { items } = this;
    const f = items.fields;
    this.current = i;
    const title = itemTitle(items, i);
    $('panel-title').textContent = title;
    const date = items.dateColumn ? asText(f[items.dateColumn][i]) : '';
    $('panel-date').textContent = date;
    $('panel-date').hidden = !date;

    const image = $('panel-image');
    const src = this.imageUrl(i);
    image.hidden = !src;
    image.alt = title;
    if (src) image.src = src; else image.removeAttribute('src');

    const skip = new Set(['title', 'url', items.dateColumn]);
    const rows = [];
    for (const col of items.columns) {
      if (skip.has(col)) continue;
      let value = asText(f[col][i]).trim();
      if (!value) continue;
      // `|` separates multiple values (categories, tags): show them as a list.
      if (value.includes('|')) value = value.split('|').map((s) => s.trim()).filter(Boolean).join(' · ');
      rows.push(el('dt', {}, col.replace(/_/g, ' ')), el('dd', {}, value));
    }
    rows.push(el('dt', {}, 'file'), el('dd', { className: 'muted' }, asText(f.id[i])));
    $('panel-fields').replaceChildren(...rows);

    const linkRow = $('panel-link-row');
    const rawUrl = f.url ? asText(f.url[i]).trim() : '';
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
    this.root.hidden = false;
  }

  hide() {
    this.root.hidden = true;
    this.current = -1;
  }

  imageUrl(i) {
    const rel = this.items.fields.image ? asText(this.items.fields.image[i]) : '';
    if (!rel) return null;
    try {
      const u = new URL(rel, this.itemsUrl);
      return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
    } catch {
      return null;
    }
  }
}
