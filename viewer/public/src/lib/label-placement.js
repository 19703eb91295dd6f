// Where a layout's words go on screen: the timeline's axis labels and the category
// headings, placed each frame from the grid transform, with collision skipping. Pure: no DOM,
// unit-tested (tests/unit/layout.test.js); layout-labels.js puts them in the page.

export const LABEL_H = 22;
export const LABEL_PAD_X = 16; // CSS padding + border, both sides (app.css .layout-label)
const GAP = 6;

/** Screen rectangle (element px) of a label's cells. `t`: {x0, y0, scale} grid px -> element px. */
function screenRect(l, grid, t) {
  const x0 = t.x0 + l.x * grid.cellWidth * t.scale;
  const y0 = t.y0 + l.y * grid.cellHeight * t.scale;
  return { x0, y0, x1: x0 + l.w * grid.cellWidth * t.scale, y1: y0 + l.h * grid.cellHeight * t.scale };
}

const overlaps = (a, b, gap = 0) => a.x0 < b.x1 + gap && b.x0 < a.x1 + gap && a.y0 < b.y1 + gap && b.y0 < a.y1 + gap;
const clamp = (v, lo, hi) => (hi < lo ? lo : Math.max(lo, Math.min(hi, v)));

/**
 * Axis labels (timeline bins and the undated block) vs headings (category blocks). In a
 * timeline every label is on the axis: the pipeline writes the undated block as
 * `"kind": "block"` (layout-contract-changes.md, 01:05), other writers as `"undated"`.
 */
export function isAxisLabel(l, layoutName = null) {
  return l.kind === 'bin' || l.kind === 'undated' || layoutName === 'timeline';
}

/**
 * Texts to try for an axis label, longest first: "1920-1929", then "1920" (a bin's first
 * year); the undated block: "undated · 12", then "undated".
 */
export function axisTexts(l) {
  if (l.kind !== 'bin') return l.count === null ? [l.text] : [headingText(l), l.text];
  const out = [l.text];
  if (l.yearFrom !== null && String(l.yearFrom) !== l.text) out.push(String(l.yearFrom));
  return out;
}

/** A category heading: the value and its count ("Paintings · 37"). */
export function headingText(l) {
  return l.count === null ? l.text : `${l.text} · ${l.count.toLocaleString('en')}`;
}

/**
 * Where the timeline's axis labels go this frame. Each sits at the centre of its band's visible
 * part (so a band wider than the view keeps its label mid-view), above the band or pinned
 * to the top of the view while the band continues below, so the axis is on screen at
 * every zoom. A band narrower than the full text ("1920-1929") shows the first year only;
 * labels that would still collide are skipped at a regular stride (every 2nd, 3rd, ... bin, by
 * their unclamped positions so the choice does not flicker while panning; a skipped label
 * with room beside a wider band comes back), then any label
 * left touching another or an obstacle (navigator, controls) is dropped.
 * @param {Array} labels decoded axis labels in bin order
 * @param {(text:string) => number} measure text width in CSS px
 * @param {{x:number, y:number}} size the map's size in CSS px
 * @param {Array<{x0,y0,x1,y1}>} obstacles element-px rectangles to keep clear
 * @returns {Array<{label, text, x, y, w, h}>} the labels to show (element px, top-left corner)
 */
export function placeAxisLabels(labels, grid, t, size, measure, { obstacles = [], top = 4 } = {}) {
  if (!t || !labels.length) return [];
  const boxes = labels.map((l) => {
    const r = screenRect(l, grid, t);
    const bandW = r.x1 - r.x0;
    const texts = axisTexts(l);
    let text = texts[texts.length - 1];
    for (const s of texts) if (measure(s) + LABEL_PAD_X <= bandW - 2) { text = s; break; }
    const w = Math.ceil(measure(text)) + LABEL_PAD_X;
    const cx = (r.x0 + r.x1) / 2;
    return { l, r, text, w, cx };
  });
  // Regular skipping, from positions that only depend on the zoom.
  const order = boxes.map((b, k) => k).sort((a, b) => boxes[a].cx - boxes[b].cx);
  let stride = 1;
  for (; stride < order.length; stride++) {
    let ok = true;
    let prevRight = -Infinity;
    for (let k = 0; k < order.length; k += stride) {
      const b = boxes[order[k]];
      if (b.cx - b.w / 2 < prevRight + GAP) { ok = false; break; }
      prevRight = b.cx + b.w / 2;
    }
    if (ok) break;
  }
  const kept = new Set(order.filter((_, k) => k % stride === 0));
  // Bands of uneven width: a skipped label that has room between its kept neighbours comes back.
  const span = (k) => ({ x0: boxes[k].cx - boxes[k].w / 2, x1: boxes[k].cx + boxes[k].w / 2 });
  const keptSpans = [...kept].map(span);
  for (const k of order) {
    if (kept.has(k)) continue;
    const a = span(k);
    if (keptSpans.every((b) => a.x1 + GAP <= b.x0 || b.x1 + GAP <= a.x0)) { kept.add(k); keptSpans.push(a); }
  }
  // The undated block is always worth naming: it replaces a colliding bin label, not the other way.
  const undated = (l) => l.kind !== 'bin';
  for (const k of order) if (undated(boxes[k].l)) kept.add(k);
  const W = size.x; const H = size.y;
  const placed = [];
  const out = [];
  const undatedFirst = [...kept].sort((a, b) => undated(boxes[b].l) - undated(boxes[a].l) || boxes[a].cx - boxes[b].cx);
  // Then the skipped ones, each only in its own first free row: one pushed aside by the
  // navigator can leave room for a neighbour, but the axis never grows a second row of them.
  const rest = order.filter((k) => !kept.has(k));
  for (const k of [...undatedFirst, ...rest]) {
    const second = !kept.has(k);
    const { l, r, text, w } = boxes[k];
    if (r.x1 <= 0 || r.x0 >= W || r.y1 <= 0 || r.y0 >= H) continue; // band off screen
    // Centred on the band's visible part: a band wider than the view keeps its label mid-view.
    const vx0 = Math.max(r.x0, 0); const vx1 = Math.min(r.x1, W);
    const x = clamp((vx0 + vx1) / 2 - w / 2, vx0 + 2, vx1 - w - 2);
    // Above the band while there is room (photos stay uncovered), else pinned inside its top;
    // where the navigator (or another obstacle) is in the way, the other of the two, then just
    // below the obstacle (a phone's floating switcher), then below the band.
    const above = r.y0 - LABEL_H - 4;
    const inside = clamp(r.y0 + 4, top, Math.min(r.y1, H) - LABEL_H - 4);
    const bandBottom = Math.min(r.y1, H) - LABEL_H - 4;
    const underObstacles = obstacles.map((o) => o.y1 + 4).filter((y) => y > inside && y <= bandBottom).sort((a, b) => a - b);
    const candidates = [...(above >= top ? [above] : []), inside, ...underObstacles, r.y1 + 4];
    for (const y of candidates) {
      const box = { x0: x, y0: y, x1: x + w, y1: y + LABEL_H };
      if (box.x1 <= 0 || box.x0 >= W || box.y0 < 0 || box.y1 > H) continue;
      if (obstacles.some((o) => overlaps(o, box))) continue;
      if (placed.some((p) => overlaps(p, box, GAP))) { if (second) break; continue; }
      placed.push(box);
      out.push({ label: l, text, x, y, w, h: LABEL_H });
      break;
    }
  }
  return out.sort((a, b) => a.x - b.x);
}

/**
 * Where the category headings go this frame: the value and count at the block's top-left, in
 * the empty cell row the pipeline leaves above each block while that row is on screen (photos
 * stay uncovered; a heading bigger than the row overhangs upwards), else pinned to the top of
 * the view inside the block while the block continues past its edge. A heading never runs past
 * its block: it is cut to the block's width (an ellipsis; the node keeps the full text for
 * screen readers), and a block too narrow to show at least `minCut` px of a cut heading (a
 * stub like "Ethn…" that two blocks would share) gets none: the map's tooltip names the block
 * under the pointer. Where headings overlap, the larger block's wins.
 * @returns {Array<{label, text, x, y, w, h, cut:boolean}>}
 */
export function placeHeadings(labels, grid, t, size, measure, { obstacles = [], top = 4, minWidth = 44, minCut = 90 } = {}) {
  if (!t || !labels.length) return [];
  const W = size.x; const H = size.y;
  const byCount = [...labels].sort((a, b) => (b.count ?? 0) - (a.count ?? 0) || b.w * b.h - a.w * a.h);
  const plans = [];
  for (const l of byCount) {
    const r = screenRect(l, grid, t);
    if (r.x1 <= 0 || r.x0 >= W || r.y1 <= 0 || r.y0 >= H) continue;
    const visibleW = Math.min(r.x1, W) - Math.max(r.x0, 0);
    const text = headingText(l);
    const full = Math.ceil(measure(text)) + LABEL_PAD_X;
    const cut = Math.min(full, visibleW - 4);
    const above = r.y0 - LABEL_H - 2;
    plans.push({ l, r, text, full, cut, above, box: null });
  }
  const placed = [];
  const free = (box) => box.x0 >= 0 && box.x1 <= W && box.y1 <= H
    && !placed.some((p) => overlaps(p, box, 2)) && !obstacles.some((o) => overlaps(o, box));
  for (const p of plans) {
    const { r, cut, above } = p;
    if (cut < minWidth || (cut < p.full && cut < minCut) || Math.min(r.y1, H) - Math.max(r.y0, 0) < LABEL_H + 4) continue;
    const y = above >= top ? above : clamp(top, top, Math.min(r.y1, H) - LABEL_H - 4);
    const x = clamp(r.x0 + 4, 2, Math.min(r.x1, W) - cut - 2);
    const box = { x0: x, y0: y, x1: x + cut, y1: y + LABEL_H };
    if (free(box)) { placed.push(box); p.box = box; }
  }
  const out = [];
  for (const p of plans) {
    if (p.box) out.push({ label: p.l, text: p.text, x: p.box.x0, y: p.box.y0, w: p.cut, h: LABEL_H, cut: p.cut < p.full });
  }
  return out;
}
