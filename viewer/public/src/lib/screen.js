// Screen geometry of the map page, pure: grid pixels <-> viewer-element pixels through the
// grid transform `t` ({x0, y0, scale}: grid px -> element CSS px), OpenSeadragon viewport
// units (the image is 1 wide), the part of the map the item panel covers, where to move the
// view to show a cell, and where the tooltip goes. No DOM here: unit-tested (screen.test.js).
import { cellRect } from './grid.js';

/** Element px (x, y) -> grid px {x, y}. */
export function elementToGrid(t, x, y) {
  return { x: (x - t.x0) / t.scale, y: (y - t.y0) / t.scale };
}

/** The centre of a cell in page px, given the map element's box {left, top}. */
export function cellCentreOnPage(grid, t, box, cell) {
  const r = cellRect(grid, cell);
  return { x: box.left + t.x0 + (r.x + r.width / 2) * t.scale, y: box.top + t.y0 + (r.y + r.height / 2) * t.scale };
}

/** The centre of a cell in viewport units (x and y both over the grid's width). */
export function cellCentreInViewport(grid, cell) {
  const r = cellRect(grid, cell);
  return { x: (r.x + r.width / 2) / grid.width, y: (r.y + r.height / 2) / grid.width };
}

/**
 * The part of the map an open panel covers: {w} on the right (desktop) or {h} at the bottom
 * (a phone's sheet, as wide as the map). `panel` and `map` are DOMRects; `panel` null: closed.
 */
export function panelCover(panel, map) {
  if (!panel) return { w: 0, h: 0 };
  if (panel.width >= map.width - 1) return { w: 0, h: Math.max(0, map.bottom - panel.top) };
  return { w: Math.max(0, map.right - panel.left), h: 0 };
}

/**
 * How to bring a cell into the part of the map the panel leaves free: {zoom, centre}, each
 * null when it should not change (zoom in viewport zoom, centre in viewport units).
 * Zooms when asked (`zoomIn`) or when cells are tiny (under 48 px, if `allowZoom`), to about
 * 160 px a cell (less on small screens); without zooming, moves only when the cell (with 8 px
 * around it) is not wholly inside the free part. `container`: the map's size {x, y}; `cover`: panelCover();
 * `zoom`, `maxZoom`: the viewport's; `t`: the grid transform or null.
 */
export function focusMove({ grid, cell, container, cover, zoom, maxZoom, t, zoomIn, allowZoom = true }) {
  const g = grid;
  const freeW = Math.max(200, container.x - cover.w);
  const freeH = Math.max(120, container.y - cover.h);
  const cellPx = t ? g.cellWidth * t.scale : 0;
  let z = zoom;
  const zooming = zoomIn || (allowZoom && cellPx < 48);
  if (zooming) {
    // Viewport units: the image is 1 wide, a cell is cellWidth / width of it.
    const target = Math.min(160, freeW / 3, freeH / 3);
    z = Math.min(maxZoom, target / ((g.cellWidth / g.width) * container.x));
  }
  const r = cellRect(g, cell);
  const centre = cellCentreInViewport(g, cell);
  // Centre of the free area: left of a side panel, above a bottom sheet (viewport units).
  const goal = { x: centre.x + cover.w / 2 / (z * container.x), y: centre.y + cover.h / 2 / (z * container.x) };
  if (!zooming && t) {
    // Already readable: move only when the cell is not wholly visible.
    const cx = t.x0 + (r.x + r.width / 2) * t.scale;
    const cy = t.y0 + (r.y + r.height / 2) * t.scale;
    // The whole cell and a little room around it, not only its centre (a cell stepped to with
    // the arrow keys otherwise stopped half under the panel); on a map smaller than that, its centre.
    const mx = Math.min(cellPx / 2 + 8, (container.x - cover.w) / 2 - 1);
    const my = Math.min(cellPx / 2 + 8, (container.y - cover.h) / 2 - 1);
    if (cx > mx && cx < container.x - cover.w - mx && cy > my && cy < container.y - cover.h - my) return { zoom: null, centre: null };
    return { zoom: null, centre: goal };
  }
  return { zoom: z, centre: goal };
}

/** The zoom that shows a grid's cells `cellPx` wide on screen, within [homeZoom, maxZoom]. */
export function sameCellSizeZoom(cellPx, grid, containerWidth, homeZoom, maxZoom) {
  const z = (cellPx * grid.width) / (grid.cellWidth * containerWidth);
  return Math.min(maxZoom, Math.max(homeZoom, z));
}

/** A node's box (DOMRect) as an element-px rectangle {x0, y0, x1, y1} of the map, grown by `by` px. */
export function obstacleRect(node, map, by = 2) {
  return { x0: node.left - map.left - by, y0: node.top - map.top - by, x1: node.right - map.left + by, y1: node.bottom - map.top + by };
}

/** Top-left corner (page px, rounded) of a w x h tooltip beside the pointer, flipped near the window's right/bottom edges. */
export function besidePointer(x, y, w, h, windowWidth, windowHeight, pad = 14) {
  const left = x + pad + w > windowWidth ? x - pad - w : x + pad;
  const top = y + pad + h > windowHeight ? y - pad - h : y + pad;
  return { x: Math.round(left), y: Math.round(top) };
}
