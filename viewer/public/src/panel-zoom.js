// The panel's larger image in deep zoom: an item that came from IIIF (its `iiif_service` column,
// an http(s) IIIF Image API service, written by cviz for manifest and IIIF-URL collections) opens
// in OpenSeadragon's IIIF tile source over the 512 px copy, reading the museum's info.json and its
// tiles (or, for a level-0 service without tiles, its listed sizes). The copy shows first and
// stays when the service cannot be opened (offline, no CORS, a server that refuses), so the panel
// never shows less than it did. One zoom viewer at a time; opening another item or closing the
// panel destroys it.
import { el } from './lib/dom.js';
import { asText } from './lib/items.js';
import { columnValues } from './lib/filter.js';
import { panelZoomOptions } from './osd-options.js';

/** Item i's IIIF Image API service base URL (no trailing /info.json or slash), or null. */
export function iiifServiceUrl(items, i) {
  const values = columnValues(items, 'iiif_service');
  const raw = values ? asText(values[i]).trim() : '';
  if (!raw) return null;
  try {
    const u = new URL(raw);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
    return u.href.replace(/\/info\.json$/, '').replace(/\/+$/, '');
  } catch {
    return null;
  }
}

export class PanelZoom {
  /** @param {{wrap: HTMLElement}} o the element holding the panel's image; the zoom view covers it. */
  constructor({ wrap }) {
    this.wrap = wrap;
    this.viewer = null;
    this.box = null;
  }

  /** Open item i's image service in deep zoom, if it has one; otherwise leave the copy alone. */
  show(items, i) {
    this.close();
    const service = iiifServiceUrl(items, i);
    if (!service || !window.OpenSeadragon) return;
    const box = el('div', { id: 'panel-zoom', className: 'panel-zoom', dataset: { state: 'opening', service, tiles: '0' } });
    this.wrap.append(box);
    this.wrap.classList.add('zooming');
    const viewer = window.OpenSeadragon(panelZoomOptions({ element: box, infoUrl: `${service}/info.json` }));
    Object.assign(this, { viewer, box });
    viewer.addOnceHandler('open', () => { box.dataset.state = 'open'; });
    viewer.addHandler('tile-loaded', () => { box.dataset.tiles = String(Number(box.dataset.tiles) + 1); });
    viewer.addOnceHandler('open-failed', (e) => {
      console.warn(`deep zoom: ${service} could not be opened (${e.message}); showing the copy`);
      if (this.viewer === viewer) this.close();
    });
  }

  /** Destroy the zoom view (the copy underneath shows again). */
  close() {
    if (!this.viewer) return;
    this.viewer.destroy();
    this.box.remove();
    this.wrap.classList.remove('zooming');
    this.viewer = null;
    this.box = null;
  }
}
