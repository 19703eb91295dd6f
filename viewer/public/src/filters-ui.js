// The filter sidebar: a year histogram with a range brush (when the collection
// has a date column) and one checkbox list per category column.
// It owns no filter logic: it edits `state` and calls onChange; render() shows
// the counts computed by lib/filter.js.
import { $, el } from './lib/dom.js';
import { axisYears, binsToYearRange, formatYear, yearHistogram, yearHistogramOfCounts } from './lib/histogram.js';
import { facetCounts, orderedValues } from './lib/filter.js';

const SHOWN_VALUES = 8; // rows of a list before "show all"
const MAX_ROWS = 300; // rows rendered at most, whatever the vocabulary (type to find the rest)

export class FiltersUI {
  constructor({ items, index, state, onChange }) {
    this.items = items;
    this.index = index;
    this.state = state;
    this.onChange = onChange;
    // A lazy store has per-year counts in its index and fetches the years on the first filter.
    const lazyYears = items.lazy && items.index.years;
    this.hist = !items.dateColumn ? null
      : items.lazy ? lazyYears && yearHistogramOfCounts(lazyYears.counts, lazyYears.undated) : yearHistogram(items.years);
    this.filteredCounts = null;
    this.brush = null; // bins being dragged: [b0, b1]
    if (this.hist) this.setupYear();
    this.lists = new Map(); // col -> {section, list, find, more, clear, expanded}
    this.lastMaskExcept = null;
    for (const col of index.categories.keys()) this.setupCategory(col);
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
      this.showBinCount(binAt(ev));
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
    canvas.addEventListener('pointerleave', () => { $('year-hover').textContent = ''; });
    canvas.addEventListener('pointercancel', () => { this.brush = null; this.drawHistogram(); });
    $('year-clear').addEventListener('click', () => this.setYearRange(null));

    const from = $('year-from');
    const to = $('year-to');
    // The data's own first and last years (the bins round outward to nice numbers).
    let lo = Infinity; let hi = -Infinity;
    if (this.items.lazy) [lo, hi] = [this.items.index.years.min, this.items.index.years.max];
    else for (const y of this.items.years) if (y !== null) { if (y < lo) lo = y; if (y > hi) hi = y; }
    this.dataRange = [lo, hi];
    from.placeholder = formatYear(lo);
    to.placeholder = formatYear(hi);
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
    // The whole collection faint behind, scaled to itself; the filtered distribution in
    // front, scaled to its own maximum so a narrow filter still shows its shape.
    const filtered = this.filteredCounts || counts;
    const fmax = Math.max(1, ...filtered);
    for (let b = 0; b < bins; b++) {
      const inSel = !sel || (b >= sel[0] && b <= sel[1]);
      const th = Math.ceil((counts[b] / max) * (plotH - 2));
      ctx.fillStyle = '#2c3342';
      ctx.fillRect(b * bw + 0.5, plotH - th, Math.max(1, bw - 1), th);
      const fh = filtered[b] ? Math.max(1, Math.ceil((filtered[b] / fmax) * (plotH - 2))) : 0;
      ctx.fillStyle = inSel ? '#f5b942' : '#8a7440';
      ctx.fillRect(b * bw + 0.5 + bw * 0.15, plotH - fh, Math.max(1, bw * 0.7 - 1), fh);
    }
    ctx.fillStyle = '#9aa3b2';
    ctx.font = '10px system-ui, sans-serif';
    ctx.textBaseline = 'bottom';
    this.drawAxis(ctx, w, h);
  }

  /** The axis under the bars: both ends of the data, and round years between where they fit. */
  drawAxis(ctx, w, h) {
    const { bins, start, width } = this.hist;
    const [lo, hi] = this.dataRange;
    const first = formatYear(lo);
    const last = formatYear(hi);
    ctx.textAlign = 'left';
    ctx.fillText(first, 0, h);
    ctx.textAlign = 'right';
    ctx.fillText(last, w, h);
    const shown = [first];
    let left = ctx.measureText(first).width + 6; // the next label starts past this
    const right = w - ctx.measureText(last).width - 6;
    ctx.textAlign = 'center';
    for (const y of axisYears(lo, hi, Math.max(1, Math.floor(w / 60)))) {
      const text = formatYear(y);
      const x = ((y - start) / (bins * width)) * w;
      const half = ctx.measureText(text).width / 2;
      if (x - half < left || x + half > right) continue;
      ctx.fillRect(Math.round(x), h - 13, 1, 2);
      ctx.fillText(text, x, h);
      shown.push(text);
      left = x + half + 6;
    }
    shown.push(last);
    $('year-histogram').dataset.axis = shown.join(' '); // what the axis reads (canvas text is not in the DOM)
  }

  /** The count of the bar under the pointer (filtered of total), as text beside the histogram. */
  showBinCount(b) {
    const { start, width, counts } = this.hist;
    const lo = start + b * width;
    const label = width === 1 ? formatYear(lo) : `${formatYear(lo)}–${formatYear(lo + width - 1)}`;
    const shown = this.filteredCounts ? this.filteredCounts[b] : counts[b];
    const of = this.filteredCounts && shown !== counts[b] ? ` of ${counts[b].toLocaleString('en')}` : '';
    $('year-hover').textContent = `${label}: ${shown.toLocaleString('en')}${of} item${counts[b] === 1 ? '' : 's'}`;
  }

  // ---- categories (the collection's vocabulary) -----------------------------
  setupCategory(col) {
    const totals = this.index.categories.get(col).values;
    if (totals.size === 0) return;
    const label = col.replace(/([A-Za-z0-9])_(?=[A-Za-z0-9])/g, '$1 ');
    const clear = el('button', { type: 'button', className: 'link-button', hidden: true }, 'clear');
    clear.addEventListener('click', () => {
      this.state.categories.delete(col);
      this.onChange();
    });
    const list = el('ul', { className: 'category-list' });
    const section = el('section', { className: 'filter-block vocab', dataset: { column: col } },
      el('h2', {}, el('span', {}, label), clear));
    const entry = { section, list, clear, find: null, more: null, expanded: false };
    if (totals.size > SHOWN_VALUES) {
      entry.find = el('input', { type: 'search', className: 'value-find', placeholder: `Find ${label}…`,
        autocomplete: 'off', spellcheck: false });
      entry.find.setAttribute('aria-label', `Find a value of ${label}`);
      entry.find.addEventListener('input', () => this.renderList(col));
      section.append(entry.find);
    }
    section.append(list);
    if (totals.size > SHOWN_VALUES) {
      entry.more = el('button', { type: 'button', className: 'link-button more-values' });
      entry.more.addEventListener('click', () => { entry.expanded = !entry.expanded; this.renderList(col); });
      section.append(entry.more);
    }
    $('category-filters').append(section);
    this.lists.set(col, entry);
  }

  toggleCategory(col, value, on) {
    const set = this.state.categories.get(col) || new Set();
    if (on) set.add(value); else set.delete(value);
    if (set.size) this.state.categories.set(col, set); else this.state.categories.delete(col);
    this.onChange();
  }

  /** Reflect state (after a programmatic reset) in the inputs. */
  syncInputs() {
    for (const entry of this.lists.values()) if (entry.find) entry.find.value = '';
    if (this.hist) {
      const r = this.state.yearRange;
      $('year-from').value = r && Number.isFinite(r[0]) ? r[0] : '';
      $('year-to').value = r && Number.isFinite(r[1]) ? r[1] : '';
    }
  }

  /** Rebuild one value list: selected first, then by count under the other filters; bounded. */
  renderList(col) {
    const entry = this.lists.get(col);
    if (!entry || !this.lastMaskExcept) return;
    const totals = this.index.categories.get(col).values;
    const selected = this.state.categories.get(col) || new Set();
    const counts = facetCounts(this.index, col, this.lastMaskExcept(`category:${col}`));
    const find = entry.find ? entry.find.value : '';
    const ordered = orderedValues(totals, counts, selected, find);
    const limit = entry.expanded || find ? MAX_ROWS : Math.max(SHOWN_VALUES, selected.size);
    const shown = ordered.slice(0, limit);
    // Keep keyboard focus on the same value across the rebuild.
    const focused = entry.list.contains(document.activeElement) ? document.activeElement.value : null;
    const rows = [];
    for (const { value, count, selected: on } of shown) {
      const box = el('input', { type: 'checkbox', value, checked: on });
      box.addEventListener('change', () => this.toggleCategory(col, value, box.checked));
      rows.push(el('li', { className: count === 0 ? 'zero' : '' },
        el('label', {}, box, el('span', { className: 'value', title: value }, value),
          el('span', { className: 'count' }, count.toLocaleString('en')))));
    }
    if (ordered.length > shown.length && (entry.expanded || find)) {
      rows.push(el('li', { className: 'muted small more-note' },
        `${(ordered.length - shown.length).toLocaleString('en')} more: type to find them`));
    }
    if (find && ordered.length === 0) rows.push(el('li', { className: 'muted small' }, 'no value matches'));
    entry.list.replaceChildren();
    for (const r of rows) entry.list.append(r); // bounded (MAX_ROWS), but no argument spread
    if (focused !== null) {
      const again = [...entry.list.querySelectorAll('input')].find((b) => b.value === focused);
      if (again) again.focus();
    }
    entry.clear.hidden = selected.size === 0;
    if (entry.more) {
      entry.more.hidden = !!find;
      entry.more.textContent = entry.expanded ? 'show fewer' : `show all ${totals.size.toLocaleString('en')}`;
    }
  }

  /** Show counts given the evaluated predicates (see lib/filter.js combine). */
  render(maskExcept) {
    if (this.hist) {
      const m = maskExcept('year');
      // Years not fetched yet (a lazy store, nothing filtering): the whole collection's bars.
      this.filteredCounts = this.items.years ? yearHistogram(this.items.years, m, this.hist).counts : null;
      const r = this.state.yearRange;
      $('year-clear').hidden = !r;
      if (r) {
        // Open-ended ranges (one box left empty) read as the data's first/last year.
        $('year-summary').textContent = `${formatYear(Math.max(r[0], this.dataRange[0]))} – ${formatYear(Math.min(r[1], this.dataRange[1]))}`;
      } else {
        const undated = this.hist.undated ? ` · ${this.hist.undated.toLocaleString('en')} undated` : '';
        $('year-summary').textContent = `all years${undated}`;
      }
      this.drawHistogram();
    }
    this.lastMaskExcept = maskExcept;
    for (const col of this.lists.keys()) this.renderList(col);
  }
}
