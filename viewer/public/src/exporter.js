// Export: the current result (selection AND search AND filters, or every item) in map reading
// order, as CSV or JSON (lib/export.js escapes formulas) or as a IIIF Presentation 3 manifest
// (one canvas per item, its image service where the item came from IIIF), downloaded from the
// sidebar. The manifest's id is its name beside items.json: where a curator who publishes it
// with the map would put it (a IIIF viewer needs an absolute id; it never fetches it to show).
import { $, el, showStatus } from './lib/dom.js';
import { exportCsv, exportIiif, exportJson } from './lib/export.js';
import { exportCountText } from './lib/summary.js';

export class Exporter {
  /**
   * @param {object} o
   * @param {object} o.search the MapSearch whose result is exported
   * @param {() => object} o.layout the active layout (its reading order)
   * @param {URL|string} o.itemsUrl where items.json was loaded from (item images are relative to it)
   */
  constructor({ items, search, layout, itemsUrl }) {
    Object.assign(this, { items, search, layout, itemsUrl: String(itemsUrl) });
  }

  /** The download's file name for `kind` ('csv', 'json' or 'iiif'). */
  fileName(kind) {
    const base = `${this.items.collection || 'cviz'}-selection`;
    return kind === 'iiif' ? `${base}.iiif.json` : `${base}.${kind}`;
  }

  listen() {
    const download = async (kind) => {
      let text;
      try {
        text = await this.text(kind);
      } catch (err) { // an item with nothing to paint, a page not served over http(s)
        showStatus(`Export failed: ${err.message}`, { error: true });
        return;
      }
      const type = { csv: 'text/csv', json: 'application/json', iiif: 'application/ld+json' }[kind];
      const blob = new Blob([kind === 'csv' ? '\ufeff' + text : text], { type });
      const a = el('a', { href: URL.createObjectURL(blob), download: this.fileName(kind) });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    };
    $('export-csv').addEventListener('click', () => download('csv'));
    $('export-json').addEventListener('click', () => download('json'));
    $('export-iiif').addEventListener('click', () => download('iiif'));
  }

  /** The export file's text: 'csv', 'json' or 'iiif' (a Presentation 3 manifest); a Promise,
   * since a lazy store fetches the items' text first. */
  text(kind) {
    const idx = this.search.resultInCellOrder(this.layout());
    return this.items.use(idx, () => {
      if (kind === 'iiif') {
        const id = new URL(this.fileName('iiif'), this.itemsUrl).href;
        return exportIiif(this.items, idx, { id, itemsUrl: this.itemsUrl });
      }
      return kind === 'csv' ? exportCsv(this.items, idx) : exportJson(this.items, idx);
    });
  }

  /** How many items an export would write. */
  render() {
    const filtering = this.search.filtering;
    const n = filtering ? this.search.matches.length : this.items.count;
    $('export-count').textContent = exportCountText(n, filtering);
    $('export-csv').disabled = $('export-json').disabled = $('export-iiif').disabled = n === 0;
  }
}
