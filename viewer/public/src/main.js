// Entry point: decide between the index page and a collection's map.
import { parseLocation, resolveDataBase } from './lib/url.js';
import { showStatus } from './lib/dom.js';
import { showIndex } from './index-page.js';
import { showMap } from './map-loader.js';

// The app root is where index.html lives, found from this module's own URL so
// it is right under `/`, `/c/<name>/` and any sub-folder of a static host.
const appRoot = new URL('../', import.meta.url).href;
const config = window.CVIZ_CONFIG || {};
const dataBase = resolveDataBase(window.location.href, appRoot, config.dataBase);
const where = parseLocation(window.location.href);

const start = where.collection
  ? showMap({ appRoot, dataBase, name: where.collection, initialItem: where.item })
  : showIndex({ appRoot, dataBase });

start.catch((err) => {
  console.error(err);
  showStatus(`Could not load: ${err.message}`, { error: true });
});
