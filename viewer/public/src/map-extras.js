// The collection's optional extras on the map: regions (regions.json: names over the map by
// zoom, RegionLabels; a click filters to a region, state.region) and neighbours (neighbours.bin,
// fetched when a panel first asks, for "more like this") and near-duplicates (duplicates.json: the
// "has near-duplicates" filter, state.duplicates, and the panel's group). Any may be missing: that
// feature is off.
import { $ } from './lib/dom.js';
import { obstacleRect } from './lib/screen.js';
import { parseViewHash } from './lib/url.js';
import { decodeNeighbours } from './lib/extras.js';
import { RegionLabels } from './region-labels.js';

export class MapExtras {
  /**
   * @param {object} o
   * @param {URL} o.itemsUrl extras sit beside items.json
   * @param {object} o.state the filter state (state.region is this class's)
   * @param {(opts?:object) => void} o.onChange the region filter changed: refilter
   * @param {(regions:object) => void} o.onRegions the regions arrived (the panel lists an item's)
   * @param {() => void} o.redraw
   */
  constructor({ items, itemsUrl, state, onChange, onRegions, onDuplicates, redraw, perf }) {
    Object.assign(this, { items, itemsUrl, state, onChange, onRegions, onDuplicates, redraw });
    this.regions = null;
    this.duplicates = null; // decoded duplicates.json
    this.neighbours = null; // a promise, started when a panel first opens
    this.labels = new RegionLabels($('region-labels'), items.grid, {
      perf, onPick: (scale, region) => this.filterRegion(scale, region),
    });
  }

  listen() {
    $('region-clear').addEventListener('click', () => {
      this.state.region = null;
      this.labels.setActive(null);
      this.onChange({ push: true });
    });
    $('duplicates-only').addEventListener('change', (ev) => {
      this.state.duplicates = ev.target.checked && this.duplicates ? this.duplicates : null;
      this.onChange({ push: true });
    });
    // The filters open or close: the map's free area changed (read after the layout settles).
    $('toggle-filters').addEventListener('click', () => requestAnimationFrame(() => { this.updateObstacles(); this.redraw(); }));
  }

  /** Where names must not go: what covers the map now (the filters on a phone, the item panel, the
   * navigator, the layout switcher, the zoom buttons), in map-element px. Measured on resize and
   * when the panel or the filters open or close, never inside a frame. */
  updateObstacles() {
    const map = $('map').getBoundingClientRect();
    const nodes = [$('filters'), $('panel'), $('layout-switch'), document.querySelector('.map-controls'),
      document.querySelector('#map .navigator')];
    const rects = [];
    for (const node of nodes) {
      if (!node || node.hidden) continue;
      const r = node.getBoundingClientRect();
      if (!r.width || !r.height || r.right <= map.left || r.left >= map.right || r.bottom <= map.top || r.top >= map.bottom) continue;
      rects.push(obstacleRect(r, map));
    }
    this.labels.setObstacles(rects);
  }

  /** duplicates.json arrived: offer the filter (when there are groups), tell the panel, apply the address's. */
  setDuplicates(dups) {
    this.duplicates = dups;
    this.onDuplicates(dups);
    const n = dups.groups.reduce((sum, g) => sum + g.length, 0);
    $('duplicates-row').hidden = n === 0;
    $('duplicates-count').textContent = `${n.toLocaleString('en')} items in ${dups.groups.length.toLocaleString('en')} group${dups.groups.length === 1 ? '' : 's'}`;
    if (n && parseViewHash(window.location.hash).duplicates && !this.state.duplicates) {
      this.state.duplicates = dups;
      this.onChange();
    }
  }

  setRegions(regions) {
    this.regions = regions;
    this.labels.setRegions(regions);
    this.onRegions(regions);
    // A region named in the address could not apply before the regions arrived.
    const wanted = parseViewHash(window.location.hash).region;
    if (wanted && !this.state.region) this.applyRegion(wanted);
    this.redraw();
  }

  /** neighbours.bin, decoded (a promise; fetched once). */
  loadNeighbours() {
    if (!this.neighbours) {
      this.neighbours = fetch(new URL('neighbours.bin', this.itemsUrl)).then((res) => {
        if (!res.ok) throw new Error(`neighbours.bin: ${res.status} ${res.statusText}`);
        return res.arrayBuffer();
      }).then((buf) => decodeNeighbours(buf, this.items.count));
      this.neighbours.catch((err) => console.warn(`${err.message} ("more like this" is off)`));
    }
    return this.neighbours;
  }

  /** Show only a region's items (a name on the map or in the panel was chosen). */
  filterRegion(scale, region) {
    this.state.region = { scale: scale.name, id: region.id, name: region.name, itemRegion: scale.itemRegion };
    this.labels.setActive(this.state.region);
    this.onChange({ push: true });
  }

  /** The region an address names ({scale, id}); false (and no region) when there is no such region. */
  applyRegion(wanted) {
    const scale = this.regions && this.regions.scales.find((s) => s.name === wanted.scale);
    const region = scale && scale.byId.get(wanted.id);
    if (!region) { this.state.region = null; return false; }
    this.state.region = { scale: scale.name, id: region.id, name: region.name, itemRegion: scale.itemRegion };
    this.labels.setActive(this.state.region);
    this.onChange();
    return true;
  }

  /** An address's region: applied when the regions are here (else when they arrive); none clears it. */
  applyView(view) {
    if (view.region && this.regions) this.applyRegion(view.region);
    else if (!view.region) { this.state.region = null; this.labels.setActive(null); }
    this.state.duplicates = view.duplicates && this.duplicates ? this.duplicates : null;
  }

  /** The region chip in the sidebar. */
  render() {
    $('region-row').hidden = !this.state.region;
    $('duplicates-only').checked = !!this.state.duplicates;
    if (this.state.region) $('region-summary').textContent = this.state.region.name;
  }
}
