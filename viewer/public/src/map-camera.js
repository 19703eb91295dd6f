// Where the map is on screen, and moving it: the grid transform (grid px -> viewer-element px),
// the cell under a point, a cell's centre on the page, the item nearest the view's centre,
// bringing a cell into the part of the map the item panel leaves free, and the view kept
// across a layout switch. The maths is lib/screen.js; this class reads OpenSeadragon.
import { cellAt } from './lib/grid.js';
import { nearestItemCell } from './lib/layout.js';
import {
  cellCentreInViewport, cellCentreOnPage, elementToGrid, focusMove, panelCover, sameCellSizeZoom,
} from './lib/screen.js';

// The navigator's share of the map's width and height (osd-options.js navigatorSizeRatio), and
// the smaller one while the item panel is open beside the map.
const NAV_RATIO = 0.15;
const NAV_RATIO_PANEL = 0.09;

export class MapCamera {
  /**
   * @param {object} o
   * @param {object} o.viewer the OpenSeadragon viewer
   * @param {() => object} o.layout the active layout ({grid, cellToItem, itemToCell})
   * @param {() => DOMRect|null} o.panelRect the open item panel's box, null when it is closed
   */
  constructor({ viewer, layout, panelRect }) {
    this.viewer = viewer;
    this.layout = layout;
    this.panelRect = panelRect;
    this.gridToImage = undefined; // grid px -> DZI px; set by measure() once tiles are open
  }

  /** After the tiles open: grid pixels (items.json, layout.json) -> DZI pixels; equal when both come from one mosaic. */
  measure() {
    this.gridToImage = this.viewer.world.getItemAt(0).getContentSize().x / this.layout().grid.width;
  }

  /** Grid placement in viewer-element CSS pixels: {x0, y0, scale}, or null before tiles open. */
  transform() {
    const tiled = this.viewer.world.getItemAt(0);
    if (!tiled) return null;
    const OSD = window.OpenSeadragon;
    const { grid } = this.layout();
    const p0 = tiled.imageToViewerElementCoordinates(new OSD.Point(0, 0));
    const p1 = tiled.imageToViewerElementCoordinates(new OSD.Point(grid.width * this.gridToImage, 0));
    return { x0: p0.x, y0: p0.y, scale: (p1.x - p0.x) / grid.width };
  }

  /** The cell under viewer-element point (x, y), or -1. */
  cellAt(x, y) {
    const t = this.transform();
    if (!t) return -1;
    const p = elementToGrid(t, x, y);
    return cellAt(this.layout().grid, p.x, p.y);
  }

  cellCenterOnPage(cell) {
    return cellCentreOnPage(this.layout().grid, this.transform(), this.viewer.element.getBoundingClientRect(), cell);
  }

  /** The item at the centre of the view (the nearest one to it), or -1. */
  centreItem() {
    const t = this.transform();
    if (!t) return -1;
    const { grid, cellToItem } = this.layout();
    const size = this.viewer.viewport.getContainerSize();
    const p = elementToGrid(t, size.x / 2, size.y / 2);
    const cell = nearestItemCell(grid, cellToItem, p.x, p.y);
    return cell === -1 ? -1 : cellToItem[cell];
  }

  /** The item cell nearest the centre of the view (where a keyboard user starts). */
  firstVisibleCell() {
    const box = this.viewer.element.getBoundingClientRect();
    const c = this.cellAt(box.width / 2, box.height / 2);
    const { cellToItem, itemToCell } = this.layout();
    if (c !== -1 && cellToItem[c] !== -1) return c;
    return itemToCell.length ? itemToCell[0] : -1;
  }

  /** The part of the map the open panel covers: {w} on the right (desktop) or {h} at the bottom (phone sheet). */
  panelCover() {
    return panelCover(this.panelRect(), this.viewer.element.getBoundingClientRect());
  }

  /** Pan (and zoom if asked or if cells are tiny) so the cell sits in the part of the map the panel leaves free. */
  bringIntoView(cell, { zoom, immediately, allowZoom = true }) {
    const vp = this.viewer.viewport;
    const move = focusMove({
      grid: this.layout().grid, cell, container: vp.getContainerSize(), cover: this.panelCover(),
      zoom: vp.getZoom(), maxZoom: vp.getMaxZoom(), t: this.transform(), zoomIn: zoom, allowZoom,
    });
    if (move.zoom !== null) vp.zoomTo(move.zoom, null, immediately);
    if (move.centre) vp.panTo(new window.OpenSeadragon.Point(move.centre.x, move.centre.y), immediately);
  }

  /**
   * The navigator's size: NAV_RATIO of the map, NAV_RATIO_PANEL while a side panel is open
   * (it then sits left of the panel over the map, app.css, and covered a 165x125 px corner).
   */
  fitNavigator() {
    const nav = this.viewer.navigator;
    if (!nav) return;
    const box = this.viewer.element.getBoundingClientRect();
    const ratio = this.panelCover().w > 0 ? NAV_RATIO_PANEL : NAV_RATIO;
    const w = Math.round(box.width * ratio);
    const h = Math.round(box.height * ratio);
    if (nav.element.offsetWidth === w && nav.element.offsetHeight === h) return;
    nav.setWidth(w);
    nav.setHeight(h);
  }

  /** What a layout switch keeps of the view, read before it: whether it is the whole map, and the cell size on screen. */
  viewBefore() {
    const vp = this.viewer.viewport;
    const t = this.transform();
    return { wasHome: vp.getZoom() <= vp.getHomeZoom() * 1.05, cellPx: t ? this.layout().grid.cellWidth * t.scale : 0 };
  }

  /** After a switch: the whole map stays the whole map; otherwise the same cell size on screen, centred on item `i`. */
  restoreView({ wasHome, cellPx }, i) {
    const vp = this.viewer.viewport;
    const { grid: g, itemToCell } = this.layout();
    if (wasHome || i === -1) { vp.goHome(true); return; }
    vp.zoomTo(sameCellSizeZoom(cellPx, g, vp.getContainerSize().x, vp.getHomeZoom(), vp.getMaxZoom()), null, true);
    const c = cellCentreInViewport(g, itemToCell[i]);
    vp.panTo(new window.OpenSeadragon.Point(c.x, c.y), true);
  }
}
