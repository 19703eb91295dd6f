// The filter sidebar: a year histogram with a range brush (when the collection
// has a date column) and one checkbox list per category column.
// It owns no filter logic: it edits `state` and calls onChange; render() shows
// the counts computed by lib/filter.js.
import { $, el } from './lib/dom.js';
import { binsToYearRange, formatYear, yearHistogram } from './lib/histogram.js';
import { facetCounts } from './lib/filter.js';

const SHOWN_VALUES = 8;

export class FiltersUI {
  constructor({ items, index, state, onChange }) {
    this.items = items;
    this.index = index;
    this.state = state;
    this.onChange = onChange;
    this.hist = items.dateColumn ? yearHistogram(items.years) : null;
    this.filteredCounts = null;
    this.brush = null; // bins being dragged: [b0, b1]
    if (this.hist) this.setupYear();
    this.categoryRows = new Map(); // col -> Map(value -> {row, count})
    for (const col of items.categoryColumns) this.setupCategory(col);
  }

  // ---- year ---------------------------------------------------------------
  setupYear() {
    $('year-filter').hidden = false;
    $('year-heading').textContent = this.items.dateColumn.replace(/_/g, ' ');
    const canvas = $('year-histogram');
    const binAt = (ev) => {
      const r = canvas.getBoundingClientRect();
      const b = Math.floor(((ev.clientX - r.left) / r.width) * this.hist.bins);
      return Math.max(0, Math.min(this.hist.bins - 1, b));
    };
    canvas.addEventListener('pointerdown', (ev) => {
      canvas.setPointerCapture(ev.pointerId);
      const b = binAt(ev);
      this.brush = [b, b];
      this.drawHistogram();
    });
    canvas.addEventListener('pointermove', (ev) => {
      if (!this.brush) return;
      this.brush[1] = binAt(ev);
      this.drawHistogram();
    });
    const finish = () => {
      if (!this.brush) return;
      this.setYearRange(binsToYearRange(this.hist, this.brush[0], this.brush[1]));
      this.brush = null;
    };
    canvas.addEventListener('pointerup', finish);
    canvas.addEventListener('pointercancel', () => { this.brush = null; this.drawHistogram(); });
    $('year-clear').addEventListener('click', () => this.setYearRange(null));

    const from = $('year-from');
    const to = $('year-to');
    const lastYear = this.hist.start + this.hist.bins * this.hist.width - 1;
    from.placeholder = formatYear(this.hist.start);
    to.placeholder = formatYear(lastYear);
    const fromInputs = () => {
      const lo = from.value === '' ? null : Number(from.value);
      const hi = to.value === '' ? null : Number(to.value);
      if (lo === null && hi === null) this.setYearRange(null, { keepInputs: true });
      else this.setYearRange([lo ?? -Infinity, hi ?? Infinity], { keepInputs: true });
    };
    from.addEventListener('change', fromInputs);
    to.addEventListener('change', fromInputs);
    new ResizeObserver(() => this.drawHistogram()).observe(canvas);
  }

  setYearRange(range, { keepInputs = false } = {}) {
    if (range && range[0] > range[1]) range = [range[1], range[0]];
    this.state.yearRange = range;
    if (!keepInputs) {
      $('year-from').value = range && Number.isFinite(range[0]) ? range[0] : '';
      $('year-to').value = range && Number.isFinite(range[1]) ? range[1] : '';
    }
    this.onChange();
  }

  drawHistogram() {
    if (!this.hist) return;
    const canvas = $('year-histogram');
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth;
    const h = canvas.clientHeight;
    if (!w || !h) return;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const { bins, counts, start, width } = this.hist;
    const max = Math.max(1, ...counts);
    const bw = w / bins;
    const axis = 14; // room for the year labels
    const plotH = h - axis;

    // Selected range (or the range being dragged) as a band behind the bars.
    let sel = null;
    if (this.brush) sel = [Math.min(...this.brush), Math.max(...this.brush)];
    else if (this.state.yearRange) {
      const [lo, hi] = this.state.yearRange;
      sel = [Math.max(0, Math.floor((lo - start) / width)), Math.min(bins - 1, Math.floor((hi - start) / width))];
    }
    if (sel) {
      ctx.fillStyle = 'rgba(245, 185, 66, 0.16)';
      ctx.fillRect(sel[0] * bw, 0, (sel[1] - sel[0] + 1) * bw, plotH);
    }
    const filtered = this.filteredCounts;
    for (let b = 0; b < bins; b++) {
      const inSel = !sel || (b >= sel[0] && b <= sel[1]);
      const total = counts[b];
      const th = Math.ceil((total / max) * (plotH - 2));
      ctx.fillStyle = '#3a4252';
      ctx.fillRect(b * bw + 0.5, plotH - th, Math.max(1, bw - 1), th);
      const shown = filtered ? filtered[b] : total;
      const fh = Math.ceil((shown / max) * (plotH - 2));
      ctx.fillStyle = inSel ? '#f5b942' : '#8a7440';
      ctx.fillRect(b * bw + 0.5, plotH - fh, Math.max(1, bw - 1), fh);
    }
    ctx.fillStyle = '#9aa3b2';
    ctx.font = '10px system-ui, sans-serif';
    ctx.textBaseline = 'bottom';
    ctx.textAlign = 'left';
    ctx.fillText(formatYear(start), 0, h);
    ctx.textAlign = 'right';
    ctx.fillText(formatYear(start + bins * width - 1), w, h);
  }

  // ---- categories ---------------------------------------------------------
  setupCategory(col) {
    const values = [...this.index.categories[col].values.entries()]
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    if (values.length === 0) return;
    const rows = new Map();
    const list = el('ul', { className: 'category-list' });
    values.forEach(([value], k) => {
      const box = el('input', { type: 'checkbox', value });
      box.addEventListener('change', () => this.toggleCategory(col, value, box.checked));
      const count = el('span', { className: 'count' });
      const row = el('li', { className: k >= SHOWN_VALUES ? 'extra' : '' },
        el('label', {}, box, el('span', { className: 'value', title: value }, value), count));
      rows.set(value, { row, count, box });
      list.append(row);
    });
    const section = el('section', { className: 'filter-block collapsed' },
      el('h2', {}, col.replace(/_/g, ' ')), list);
    if (values.length > SHOWN_VALUES) {
      const more = el('button', { type: 'button', className: 'link-button' }, `show all ${values.length}`);
      more.addEventListener('click', () => {
        const collapsed = section.classList.toggle('collapsed');
        more.textContent = collapsed ? `show all ${values.length}` : 'show fewer';
      });
      section.append(more);
    }
    $('category-filters').append(section);
    this.categoryRows.set(col, rows);
  }

  toggleCategory(col, value, on) {
    const set = this.state.categories[col] || new Set();
    if (on) set.add(value); else set.delete(value);
    this.state.categories[col] = set;
    this.onChange();
  }

  /** Reflect state (after a programmatic reset) in the inputs. */
  syncInputs() {
    for (const [col, rows] of this.categoryRows) {
      const set = this.state.categories[col];
      for (const [value, r] of rows) r.box.checked = !!(set && set.has(value));
    }
    if (this.hist && !this.state.yearRange) {
      $('year-from').value = '';
      $('year-to').value = '';
    }
  }

  /** Show counts given the evaluated predicates (see lib/filter.js combine). */
  render(maskExcept) {
    if (this.hist) {
      const m = maskExcept('year');
      this.filteredCounts = yearHistogram(this.items.years, m, this.hist).counts;
      const r = this.state.yearRange;
      $('year-clear').hidden = !r;
      if (r) {
        // Open-ended ranges (one box left empty) read as the data's first/last year.
        const lastYear = this.hist.start + this.hist.bins * this.hist.width - 1;
        $('year-summary').textContent = `${formatYear(Math.max(r[0], this.hist.start))} – ${formatYear(Math.min(r[1], lastYear))}`;
      } else {
        const undated = this.hist.undated ? ` · ${this.hist.undated.toLocaleString('en')} undated` : '';
        $('year-summary').textContent = `all years${undated}`;
      }
      this.drawHistogram();
    }
    for (const [col, rows] of this.categoryRows) {
      const counts = facetCounts(this.index, col, maskExcept(`category:${col}`));
      for (const [value, r] of rows) {
        const n = counts.get(value) || 0;
        r.count.textContent = n.toLocaleString('en');
        r.row.classList.toggle('zero', n === 0);
      }
    }
  }
}
