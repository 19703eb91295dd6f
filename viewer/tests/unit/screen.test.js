import test from 'node:test';
import assert from 'node:assert/strict';
import {
  besidePointer, cellCentreInViewport, cellCentreOnPage, elementToGrid, focusMove, obstacleRect, panelCover, sameCellSizeZoom,
} from '../../public/src/lib/screen.js';

// 4 x 3 cells of 10 px: the grid is 40 x 30 px.
const grid = { cols: 4, rows: 3, cellWidth: 10, cellHeight: 10, width: 40, height: 30 };
const rect = (left, top, width, height) => ({ left, top, width, height, right: left + width, bottom: top + height });

test('element px and grid px through the transform', () => {
  const t = { x0: 100, y0: 50, scale: 2 };
  assert.deepEqual(elementToGrid(t, 100, 50), { x: 0, y: 0 });
  assert.deepEqual(elementToGrid(t, 130, 70), { x: 15, y: 10 });
  // Cell 5 is (1, 1): its centre is grid (15, 15), element (130, 80), page + the map's box.
  assert.deepEqual(cellCentreOnPage(grid, t, { left: 260, top: 52 }, 5), { x: 390, y: 132 });
  // Viewport units: both over the grid's width.
  assert.deepEqual(cellCentreInViewport(grid, 5), { x: 15 / 40, y: 15 / 40 });
});

test('the panel covers the right (desktop) or the bottom (a sheet as wide as the map)', () => {
  const map = rect(260, 52, 1020, 748);
  assert.deepEqual(panelCover(null, map), { w: 0, h: 0 });
  assert.deepEqual(panelCover(rect(900, 52, 380, 748), map), { w: 380, h: 0 });
  assert.deepEqual(panelCover(rect(260, 440, 1020, 360), map), { w: 0, h: 360 });
  assert.deepEqual(panelCover(rect(1300, 52, 380, 748), map), { w: 0, h: 0 }); // off to the right
});

test('focusMove zooms when asked, to ~160 px a cell, centred left of the panel', () => {
  const container = { x: 1000, y: 800 };
  const m = focusMove({ grid, cell: 5, container, cover: { w: 400, h: 0 }, zoom: 1, maxZoom: 100, t: null, zoomIn: true });
  // target = min(160, 600 / 3, 800 / 3) = 160 px; a cell is 1/4 of the image: z = 160 / (0.25 * 1000).
  assert.equal(m.zoom, 0.64);
  assert.deepEqual(m.centre, { x: 15 / 40 + 200 / (0.64 * 1000), y: 15 / 40 });
  // The viewport's maximum wins.
  assert.equal(focusMove({ grid, cell: 5, container, cover: { w: 0, h: 0 }, zoom: 1, maxZoom: 0.5, t: null, zoomIn: true }).zoom, 0.5);
});

test('focusMove zooms tiny cells unless told not to, and leaves a comfortably visible cell alone', () => {
  const container = { x: 1000, y: 800 };
  const tiny = { x0: 0, y0: 0, scale: 1 }; // 10 px cells
  assert.notEqual(focusMove({ grid, cell: 5, container, cover: { w: 0, h: 0 }, zoom: 1, maxZoom: 100, t: tiny, zoomIn: false }).zoom, null);
  const still = { grid, container, cover: { w: 0, h: 0 }, zoom: 1, maxZoom: 100, t: tiny, zoomIn: false, allowZoom: false };
  assert.deepEqual(focusMove({ ...still, cell: 5 }), { zoom: null, centre: null }); // 15 px in: visible enough for 10 px cells
  const edge = focusMove({ ...still, cell: 0 }); // 5 px from the edge: pans, keeping the zoom
  assert.equal(edge.zoom, null);
  assert.deepEqual(edge.centre, { x: 5 / 40, y: 5 / 40 });
  const big = { x0: 100, y0: 100, scale: 10 }; // 100 px cells; cell 5's centre at (250, 250)
  assert.deepEqual(focusMove({ grid, cell: 5, container, cover: { w: 0, h: 0 }, zoom: 1, maxZoom: 100, t: big, zoomIn: false }),
    { zoom: null, centre: null });
  // Behind the panel: pans.
  const hidden = focusMove({ grid, cell: 5, container, cover: { w: 800, h: 0 }, zoom: 1, maxZoom: 100, t: big, zoomIn: false });
  assert.equal(hidden.zoom, null);
  assert.deepEqual(hidden.centre, { x: 15 / 40 + 400 / 1000, y: 15 / 40 });
});

test('sameCellSizeZoom keeps the cell size on screen, within the zoom limits', () => {
  // 40 px cells in a 1000 px view of a 4-cell-wide grid: the image is 160 px wide, zoom 0.16.
  assert.equal(sameCellSizeZoom(40, grid, 1000, 0.1, 10), 0.16);
  assert.equal(sameCellSizeZoom(40, grid, 1000, 0.5, 10), 0.5);
  assert.equal(sameCellSizeZoom(40000, grid, 1000, 0.1, 10), 10);
});

test('obstacles are map-relative and grown; the tooltip flips near the window edges', () => {
  assert.deepEqual(obstacleRect(rect(300, 100, 50, 20), rect(260, 52, 1000, 700)), { x0: 38, y0: 46, x1: 92, y1: 70 });
  assert.deepEqual(besidePointer(100, 100, 200, 40, 1280, 800), { x: 114, y: 114 });
  assert.deepEqual(besidePointer(1200, 780, 200, 40, 1280, 800), { x: 986, y: 726 });
  assert.deepEqual(besidePointer(10.4, 10.6, 20, 20, 1280, 800), { x: 24, y: 25 });
});

test('focusMove moves a big cell that is half under the panel, and leaves one wholly clear', () => {
  const container = { x: 1000, y: 800 };
  const cover = { w: 400, h: 0 }; // the panel from x = 600
  // 160 px cells (scale 16 of 10 px grid cells): cell 5 (col 1, row 1) spans x0 + 160..320.
  const half = { x0: 600 - 160 - 60 - 80, y0: 100, scale: 16 }; // its centre 60 px left of the panel: half under it
  const m = focusMove({ grid, cell: 5, container, cover, zoom: 1, maxZoom: 100, t: half, zoomIn: false, allowZoom: false });
  assert.equal(m.zoom, null);
  assert.notEqual(m.centre, null, 'the cell runs 20 px under the panel: the view moves');
  const clear = { x0: 600 - 160 - 100 - 80, y0: 100, scale: 16 }; // its right edge 20 px left of the panel
  assert.deepEqual(focusMove({ grid, cell: 5, container, cover, zoom: 1, maxZoom: 100, t: clear, zoomIn: false, allowZoom: false }),
    { zoom: null, centre: null });
});
