// Year histogram bins for the date filter.
// Bin width is a "nice" number (1, 2, 5, 10, 20, 25, 50, 100, ...) chosen so the
// span fits in at most `maxBins` bars; bins start on a multiple of the width so
// the axis labels read naturally (1850, 1875, 1900 rather than 1843, 1868, ...).

const NICE = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000];

export function niceBinWidth(span, maxBins) {
  for (const w of NICE) if (Math.ceil((span + 1) / w) <= maxBins) return w;
  let w = NICE[NICE.length - 1];
  while (Math.ceil((span + 1) / w) > maxBins) w *= 10;
  return w;
}

/**
 * @param {(number|null)[]} years
 * @param {Uint8Array} [mask] count only items with mask[i] (all when omitted)
 * @param {{maxBins?:number, start?:number, width?:number, bins?:number}} [opts]
 *   pass start/width/bins of an earlier call to count a subset on the same axis.
 * @returns {{start:number, width:number, counts:number[], undated:number}|null}
 *   null when no item has a year.
 */
export function yearHistogram(years, mask = null, opts = {}) {
  let { start, width, bins } = opts;
  if (start === undefined) {
    let min = Infinity;
    let max = -Infinity;
    for (const y of years) {
      if (y === null) continue;
      if (y < min) min = y;
      if (y > max) max = y;
    }
    if (min === Infinity) return null;
    width = niceBinWidth(max - min, opts.maxBins || 60);
    start = Math.floor(min / width) * width;
    bins = Math.floor((max - start) / width) + 1;
  }
  const counts = new Array(bins).fill(0);
  let undated = 0;
  for (let i = 0; i < years.length; i++) {
    if (mask && !mask[i]) continue;
    const y = years[i];
    if (y === null) { undated++; continue; }
    const b = Math.floor((y - start) / width);
    if (b >= 0 && b < bins) counts[b]++;
  }
  return { start, width, bins, counts, undated };
}

/**
 * The histogram yearHistogram would draw for the items, from per-year counts instead of one year
 * per item (a lazy store's index, lazy-format.js): same bins, same undated count.
 * @param {Array<[number, number]>} yearCounts [year, items] pairs
 */
export function yearHistogramOfCounts(yearCounts, undated = 0, opts = {}) {
  if (!yearCounts.length) return null;
  const years = yearCounts.map(([y]) => y);
  const span = yearHistogram([Math.min(...years), Math.max(...years)], null, opts);
  const counts = new Array(span.bins).fill(0);
  for (const [y, n] of yearCounts) counts[Math.floor((y - span.start) / span.width)] += n;
  return { ...span, counts, undated };
}

/** Inclusive year range [lo, hi] covered by bins b0..b1 (any order). */
export function binsToYearRange(hist, b0, b1) {
  const lo = Math.max(0, Math.min(b0, b1));
  const hi = Math.min(hist.bins - 1, Math.max(b0, b1));
  return [hist.start + lo * hist.width, hist.start + (hi + 1) * hist.width - 1];
}

/** Label of a year, with BCE for negative years (museum dates go there). */
export function formatYear(y) {
  return y < 0 ? `${-y} BCE` : String(y);
}

/**
 * Round years strictly between `lo` and `hi` to label on the histogram's axis: multiples of the
 * smallest "nice" step (1, 2, 5, 10, 20, 25, 50, 100, ...) that gives at most `maxTicks` of them,
 * so a reader can tell where 1850 is without hovering. Empty when the span is too short.
 * @param {number} lo first year of the axis (labelled itself)
 * @param {number} hi last year of the axis (labelled itself)
 * @param {number} maxTicks at most this many years between
 */
export function axisYears(lo, hi, maxTicks = 3) {
  if (!(hi > lo) || maxTicks < 1) return [];
  const step = niceBinWidth(hi - lo, maxTicks + 1);
  const out = [];
  for (let y = Math.ceil((lo + 1) / step) * step + 0; y < hi; y += step) out.push(y); // + 0: never -0
  return out.slice(0, maxTicks);
}
