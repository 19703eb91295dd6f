// The collection's optional extras on the map: regions (regions.json: names over the map by
// zoom, RegionLabels; a click filters to a region, state.region) and neighbours (neighbours.bin,
// fetched when a panel first asks, for "more like this"). Either may be missing: that feature is off.
import { $ } from './lib/dom.js';
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
  constructor({ items, itemsUrl, state, onChange, onRegions, redraw, perf }) {
    Object.assign(this, { items, itemsUrl, state, onChange, onRegions, redraw });
    this.regions = null;
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
  }

  /** The region chip in the sidebar. */
  render() {
    $('region-row').hidden = !this.state.region;
    if (this.state.region) $('region-summary').textContent = this.state.region.name;
  }
}
