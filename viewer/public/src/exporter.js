// Export: the current result (selection AND search AND filters, or every item) in map reading
// order, as CSV or JSON (lib/export.js escapes formulas), downloaded from the sidebar.
import { $, el } from './lib/dom.js';
import { exportCsv, exportJson } from './lib/export.js';
import { exportCountText } from './lib/summary.js';

export class Exporter {
  /**
   * @param {object} o
   * @param {object} o.search the MapSearch whose result is exported
   * @param {() => object} o.layout the active layout (its reading order)
   */
  constructor({ items, search, layout }) {
    Object.assign(this, { items, search, layout });
  }

  listen() {
    const download = (kind) => {
      const text = this.text(kind);
      const blob = new Blob([kind === 'csv' ? '\ufeff' + text : text], { type: kind === 'csv' ? 'text/csv' : 'application/json' });
      const a = el('a', { href: URL.createObjectURL(blob), download: `${this.items.collection || 'cviz'}-selection.${kind}` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    };
    $('export-csv').addEventListener('click', () => download('csv'));
    $('export-json').addEventListener('click', () => download('json'));
  }

  /** The export file's text: 'csv' or 'json'. */
  text(kind) {
    const idx = this.search.resultInCellOrder(this.layout());
    return kind === 'csv' ? exportCsv(this.items, idx) : exportJson(this.items, idx);
  }

  /** How many items an export would write. */
  render() {
    const filtering = this.search.filtering;
    const n = filtering ? this.search.matches.length : this.items.count;
    $('export-count').textContent = exportCountText(n, filtering);
    $('export-csv').disabled = $('export-json').disabled = n === 0;
  }
}
