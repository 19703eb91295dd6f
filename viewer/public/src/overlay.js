// One canvas over the map draws everything per cell: dimming of non-matching
// cells, a glowing ring around matches too small to see, the hover outline and the
// selected outline. Nothing is one DOM element per cell, so 13,000+ items cost the
// same as 100.
//
// Dimming is a tiny offscreen canvas with one pixel per cell (cols x rows),
// rebuilt only when the filters change; each frame draws the visible part of
// it scaled up with smoothing off. A frame is therefore a single drawImage plus
// two rectangles, whatever the number of items.

const DIM_RGBA = [7, 9, 13, 215];
// Below this cell size on screen (CSS px) a match is a speck among dimmed specks: each one also
// gets a bright ring, at least MARK_MIN_PX wide, so a search at the whole-map view can be found.
const MARK_BELOW_PX = 32;
const MARK_MIN_PX = 12;
// More matches than this are a large part of the map, which the dimming already shows.
const MARK_MAX = 4000;

export class CellOverlay {
  /** @param {HTMLElement} host element the canvas covers (OSD's viewer.canvas) */
  constructor(host, grid) {
    this.grid = grid;
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'cell-overlay';
    host.append(this.canvas);
    this.ctx = this.canvas.getContext('2d');
    this.mask = document.createElement('canvas');
    this.mask.width = grid.cols;
    this.mask.height = grid.rows;
    this.dimming = false;
    this.matchCells = []; // the matching items' cells while dimming (at most MARK_MAX), for the rings
    this.hoverCell = -1;
    this.selectedCell = -1;
    this.cursorCell = -1; // the keyboard cursor
    this.shape = null; // {type: 'rect'|'lasso', points: [{x, y}]} being drawn, element pixels
    this.transform = null; // {x0, y0, scale}: grid pixel -> CSS pixel in the host
    this.guides = []; // [{x, y, w, h}] in cells: a layout's bins/blocks, outlined faintly
  }

  /** Another layout's grid: the dim mask gets its size; call setMatches after. */
  setGrid(grid, guides = []) {
    this.grid = grid;
    this.mask.width = grid.cols;
    this.mask.height = grid.rows;
    this.guides = guides;
  }

  /** Rebuild the dim mask. mask[i] = 1 for matching items; null = no filter. `items`: anything with cellToItem (the active layout). */
  setMatches(items, mask) {
    this.dimming = mask !== null;
    this.matchCells = [];
    if (!this.dimming) return;
    const { cols, rows } = this.grid;
    const ctx = this.mask.getContext('2d');
    const img = ctx.createImageData(cols, rows);
    const px = img.data;
    for (let cell = 0; cell < cols * rows; cell++) {
      const i = items.cellToItem[cell];
      if (i !== -1 && !mask[i]) px.set(DIM_RGBA, cell * 4);
      else if (i !== -1) this.matchCells.push(cell);
    }
    if (this.matchCells.length > MARK_MAX) this.matchCells = [];
    ctx.putImageData(img, 0, 0);
  }

  /** Called on every viewport change with the grid's placement on screen. */
  setTransform(transform) {
    this.transform = transform;
  }

  draw() {
    const { canvas, ctx, grid } = this;
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth;
    const h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const t = this.transform;
    if (!t) return;
    const cellW = grid.cellWidth * t.scale;
    const cellH = grid.cellHeight * t.scale;

    if (this.dimming) {
      // Only the visible cells of the mask, so huge zooms keep small coordinates.
      const c0 = Math.max(0, Math.floor(-t.x0 / cellW));
      const r0 = Math.max(0, Math.floor(-t.y0 / cellH));
      const c1 = Math.min(grid.cols, Math.ceil((w - t.x0) / cellW));
      const r1 = Math.min(grid.rows, Math.ceil((h - t.y0) / cellH));
      if (c1 > c0 && r1 > r0) {
        ctx.imageSmoothingEnabled = false;
        // At the grid's right and bottom edges reach one pixel further: the tiles' last
        // row/column of pixels (rounding of the pyramid) was left undimmed.
        const padX = c1 === grid.cols ? 1 : 0;
        const padY = r1 === grid.rows ? 1 : 0;
        ctx.drawImage(this.mask, c0, r0, c1 - c0, r1 - r0,
          t.x0 + c0 * cellW, t.y0 + r0 * cellH, (c1 - c0) * cellW + padX, (r1 - r0) * cellH + padY);
      }
    }
    this.drawGuides(cellW, cellH, w, h);
    if (this.dimming && cellW < MARK_BELOW_PX) this.markMatches(cellW, cellH, w, h);
    if (this.cursorCell !== this.selectedCell) this.outline(this.cursorCell, cellW, cellH, '#8cc4ff', 2, [5, 3]);
    this.outline(this.selectedCell, cellW, cellH, '#f5b942', 3);
    if (this.hoverCell !== this.selectedCell) this.outline(this.hoverCell, cellW, cellH, '#ffffff', 2);
    this.drawShape();
  }

  /** Faint outlines of the layout's bins or blocks, so their edges read at every zoom. */
  drawGuides(cellW, cellH, w, h) {
    if (!this.guides.length) return;
    const { ctx, transform: t } = this;
    ctx.lineWidth = 1;
    ctx.strokeStyle = 'rgba(230, 233, 239, 0.28)';
    ctx.beginPath();
    for (const g of this.guides) {
      const x = t.x0 + g.x * cellW; const y = t.y0 + g.y * cellH;
      const gw = g.w * cellW; const gh = g.h * cellH;
      if (x > w || y > h || x + gw < 0 || y + gh < 0) continue;
      ctx.rect(Math.round(x) + 0.5, Math.round(y) + 0.5, Math.round(gw) - 1, Math.round(gh) - 1);
    }
    ctx.stroke();
  }

  /** A glowing ring around each visible match, so tiny matching cells stand out from the dimmed rest. */
  markMatches(cellW, cellH, w, h) {
    if (!this.matchCells.length) return;
    const { ctx, grid, transform: t } = this;
    const sw = Math.max(cellW, MARK_MIN_PX) + 4;
    const sh = Math.max(cellH, MARK_MIN_PX) + 4;
    ctx.save();
    ctx.beginPath();
    for (const cell of this.matchCells) {
      const cx = t.x0 + ((cell % grid.cols) + 0.5) * cellW;
      const cy = t.y0 + (Math.floor(cell / grid.cols) + 0.5) * cellH;
      if (cx < -sw || cy < -sh || cx > w + sw || cy > h + sh) continue;
      ctx.rect(Math.round(cx - sw / 2) + 0.5, Math.round(cy - sh / 2) + 0.5, Math.round(sw), Math.round(sh));
    }
    ctx.shadowColor = 'rgba(255, 214, 90, 0.9)';
    ctx.shadowBlur = 6;
    ctx.lineWidth = 2;
    ctx.strokeStyle = '#ffd65a';
    ctx.stroke();
    ctx.restore();
  }

  drawShape() {
    const s = this.shape;
    if (!s || s.points.length < 2) return;
    const { ctx } = this;
    ctx.beginPath();
    if (s.type === 'rect') {
      const [a, b] = s.points;
      ctx.rect(Math.min(a.x, b.x), Math.min(a.y, b.y), Math.abs(b.x - a.x), Math.abs(b.y - a.y));
    } else {
      ctx.moveTo(s.points[0].x, s.points[0].y);
      for (const p of s.points) ctx.lineTo(p.x, p.y);
      ctx.closePath();
    }
    ctx.fillStyle = 'rgba(140, 196, 255, 0.15)';
    ctx.fill();
    ctx.setLineDash([6, 4]);
    ctx.lineWidth = 2;
    ctx.strokeStyle = '#8cc4ff';
    ctx.stroke();
    ctx.setLineDash([]);
  }

  outline(cell, cellW, cellH, colour, width, dash = null) {
    if (cell < 0) return;
    const { ctx, grid, transform: t } = this;
    const col = cell % grid.cols;
    const row = Math.floor(cell / grid.cols);
    // Keep tiny cells findable when zoomed far out: never smaller than 8 px.
    const minSize = 8;
    const cx = t.x0 + (col + 0.5) * cellW;
    const cy = t.y0 + (row + 0.5) * cellH;
    const w = Math.max(cellW, minSize);
    const h = Math.max(cellH, minSize);
    ctx.lineWidth = width;
    ctx.strokeStyle = 'rgba(0,0,0,0.6)';
    ctx.strokeRect(cx - w / 2 - width, cy - h / 2 - width, w + 2 * width, h + 2 * width);
    ctx.strokeStyle = colour;
    if (dash) ctx.setLineDash(dash);
    ctx.strokeRect(cx - w / 2, cy - h / 2, w, h);
    ctx.setLineDash([]);
  }
}
