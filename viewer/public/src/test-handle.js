// The handle the browser tests (tests/test_viewer_*.py) and viewer/bench read: window.cviz and
// window.cvizPerf. Both exist only when the page runs under test, i.e. `window.CVIZ_TEST === true`
// before any page script runs (tests/viewer_fixture.py new_test_context() sets it with an init
// script); an ordinary visit has neither. window.cviz is a frozen object of getters and
// functions, never the page itself: what it returns are detached copies (lib/readonly.js), so a
// test reads the page's state but cannot change it. Two things are live on purpose: `viewer`,
// the OpenSeadragon viewer the tests zoom and pan like a user would, and window.cvizPerf, the
// timing record that the bench clears between measurements.
import { snapshot } from './lib/readonly.js';

export function underTest() {
  return window.CVIZ_TEST === true;
}

function define(name, value) {
  Object.defineProperty(window, name, { value, writable: false, configurable: false, enumerable: false });
}

/** window.cvizPerf under test: the page's timing record (perf.js). */
export function exposePerf(perf) {
  if (underTest()) define('cvizPerf', perf);
}

/** window.cviz under test, over a MapPage. */
export function exposeTestHandle(page) {
  if (!underTest()) return;
  const { items } = page;
  define('cviz', Object.freeze({
    get viewer() { return page.viewer; },
    get items() {
      return snapshot({ count: items.count, collection: items.collection, grid: items.grid,
        cellToItem: items.cellToItem, itemToCell: items.itemToCell });
    },
    get state() { return snapshot(page.state); },
    isDimmed: (cell) => page.search.isDimmed(page.layout, cell),
    cellCenterOnPage: (cell) => page.camera.cellCenterOnPage(cell),
    matchCount: () => page.search.matchCount(),
    regionLabels: () => page.extras.labels.visible(),
    cursorCell: () => page.pointer.cursorCell,
    exportText: (kind) => page.exporter.text(kind),
    layout: () => snapshot(page.layout),
    layoutLabels: () => page.layouts.labels.visible(),
    switchLayout: (name) => page.layouts.switchTo(name),
  }));
}
