// Search and filters: the search box (title or all fields, Enter steps through the matches in
// map reading order, '/' jumps to it), the filter sidebar (FiltersUI: years and category
// values), "clear all", and the result they make together with the region and the selection:
// a mask of matching items (null when nothing filters) and the matches in cell order. The
// predicates and counts are lib/filter.js.
import { $ } from './lib/dom.js';
import {
  buildSearchIndex, combine, countMask, emptyFilterState, evaluatePredicates, isFiltering, matchesInCellOrder,
} from './lib/filter.js';
import { matchCountText, searchLabel, stepPos } from './lib/summary.js';
import { FiltersUI } from './filters-ui.js';

export class MapSearch {
  /**
   * @param {object} o
   * @param {string[]} o.filterColumns columns offered as value lists
   * @param {object} o.state the filter state (emptyFilterState()), shared with the selection and regions
   * @param {(opts?:object) => void} o.onChange the search or a filter changed: refilter
   * @param {() => void} o.onClear "clear all" reset the state (the page resets what shows it)
   * @param {(i:number, opts?:object) => void} o.select open a match
   * @param {() => boolean} o.panelOpen
   * @param {() => void} o.redraw
   */
  constructor({ items, filterColumns, state, onChange, onClear, select, panelOpen, redraw }) {
    Object.assign(this, { items, state, onChange, onClear, select, panelOpen, redraw });
    this.index = buildSearchIndex(items, filterColumns);
    this.mask = null; // Uint8Array of matches, null when nothing filters
    this.matches = [];
    this.matchPos = -1;
    this.filters = new FiltersUI({ items, index: this.index, state, onChange: () => this.onChange({ push: true }) });
    // A lazy store searches titles only (its search index holds title words): no "all fields".
    if (items.lazy) $('search-all').closest('label').hidden = true;
  }

  /** null when run() can evaluate the state now, else a Promise of what it needs (lazy store). */
  prepare() {
    return this.index.prepare(this.state);
  }

  /** null, or a Promise of the columns the sidebar's counts still lack (lazy store, lib/filter.js). */
  rest() {
    return this.index.rest(this.state);
  }

  /** The search typed while items.json was loading: the box holds it, so the view must too. */
  typedInto(view) {
    const typed = $('search').value;
    if (!view.query && typed) { view.query = typed; view.allFields = view.allFields || $('search-all').checked; }
    return view;
  }

  /** An address's search and filters (known category columns only). */
  applyView(view) {
    this.state.query = view.query;
    this.state.allFields = view.allFields;
    this.state.yearRange = view.yearRange;
    this.state.categories.clear();
    for (const [col, set] of view.categories) if (this.index.categories.has(col)) this.state.categories.set(col, set);
  }

  /** The search box as the state says. */
  showQuery() {
    $('search').value = this.state.query;
    $('search-all').checked = this.state.allFields;
    this.labelSearch();
  }

  listen() {
    const input = $('search');
    const all = $('search-all');
    let typing = null;
    input.addEventListener('input', () => {
      this.state.query = input.value;
      // One Back step per burst of typing, not one per key.
      this.onChange({ push: typing === null });
      clearTimeout(typing);
      typing = setTimeout(() => { typing = null; }, 800);
    });
    all.addEventListener('change', () => {
      this.state.allFields = all.checked;
      this.labelSearch();
      this.onChange({ push: true });
    });
    // '/' jumps to the search box, as on many sites.
    window.addEventListener('keydown', (ev) => {
      if (ev.key === '/' && !(ev.target instanceof HTMLInputElement) && !ev.ctrlKey && !ev.metaKey) {
        ev.preventDefault();
        input.focus();
        input.select();
      }
    });
    input.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') { ev.preventDefault(); this.step(ev.shiftKey ? -1 : 1); }
      if (ev.key === 'Escape' && !this.panelOpen() && input.value) {
        input.value = '';
        this.state.query = '';
        this.onChange({ push: true });
      }
    });
    $('next-match').addEventListener('click', () => this.step(1));
    $('prev-match').addEventListener('click', () => this.step(-1));
    $('clear-all').addEventListener('click', () => {
      input.value = '';
      Object.assign(this.state, emptyFilterState());
      this.onClear();
      this.filters.syncInputs();
      this.onChange({ push: true });
    });
    $('toggle-filters').addEventListener('click', () => {
      const hidden = document.body.classList.toggle('filters-hidden');
      $('toggle-filters').setAttribute('aria-expanded', String(!hidden));
      // The map area changed size: let OSD pick it up on the next frame.
      requestAnimationFrame(() => this.redraw());
    });
  }

  labelSearch() {
    const text = searchLabel($('search-all').checked);
    $('search').placeholder = `${text}…`;
    $('search').setAttribute('aria-label', text);
  }

  get filtering() {
    return isFiltering(this.state);
  }

  /** Evaluate the state: the mask, the matches in `layout`'s reading order, the sidebar's counts. */
  run(layout) {
    const evaluated = evaluatePredicates(this.items, this.index, this.state);
    const filtering = this.filtering;
    this.mask = filtering ? combine(evaluated) : null;
    this.matches = filtering ? matchesInCellOrder(layout, this.mask) : [];
    this.matchPos = -1;
    return evaluated;
  }

  /** Show a run()'s result: the sidebar's counts, "clear all", the match count. */
  render(evaluated) {
    this.filters.render((key) => combine(evaluated, key));
    $('clear-all').hidden = !this.filtering;
    this.renderCount();
  }

  /** Move to the next (+1) or previous (-1) match in map reading order. */
  step(delta) {
    if (this.matches.length === 0) return;
    this.matchPos = stepPos(this.matchPos, delta, this.matches.length);
    this.select(this.matches[this.matchPos], { zoom: true });
    this.renderCount();
  }

  renderCount() {
    $('prev-match').disabled = $('next-match').disabled = this.matches.length === 0;
    $('match-count').textContent = matchCountText({
      total: this.items.count, filtering: this.filtering, matches: this.matches.length, pos: this.matchPos,
    });
  }

  /** Items the result counts: the matches, or every item when nothing filters. */
  matchCount() {
    return this.mask ? countMask(this.mask) : this.items.count;
  }

  /** The result in map reading order: the matches, or every item when nothing filters. */
  resultInCellOrder(layout) {
    if (!this.mask) return matchesInCellOrder(layout, new Uint8Array(this.items.count).fill(1));
    return this.matches;
  }

  /** A cell holds an item the filters leave out. */
  isDimmed(layout, cell) {
    const i = layout.cellToItem[cell];
    return this.mask !== null && i !== -1 && !this.mask[i];
  }
}
