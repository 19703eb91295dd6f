// The short texts the map page shows about its state (counts, chips, labels), and the match
// stepping, pure: unit-tested (summary.test.js). Numbers are written in English grouping.
import { LAYOUT_TITLES } from './layout.js';

const n = (k) => k.toLocaleString('en');

/** The search box's count: "96 items" when nothing filters, else "no matches" / "[3 / ]19 matches". */
export function matchCountText({ total, filtering, matches, pos }) {
  if (!filtering) return `${n(total)} items`;
  const at = pos >= 0 ? `${pos + 1} / ` : '';
  return matches === 0 ? 'no matches' : `${at}${n(matches)} match${matches === 1 ? '' : 'es'}`;
}

/** The next match position from `pos` (-1: none yet) by `delta` (+1/-1) among `count`, wrapping. */
export function stepPos(pos, delta, count) {
  if (pos === -1) return delta > 0 ? 0 : count - 1;
  return (pos + delta + count) % count;
}

/** The selection chip: "12 items selected (rectangle)". */
export function selectionSummary(sel) {
  return `${n(sel.size)} item${sel.size === 1 ? '' : 's'} selected (${sel.mode === 'rect' ? 'rectangle' : 'lasso'})`;
}

/** What the export buttons would write: "19 items (the current result)" or "96 items (all)". */
export function exportCountText(count, filtering) {
  return `${n(count)} item${count === 1 ? '' : 's'}${filtering ? ' (the current result)' : ' (all)'}`;
}

/** The search box's label and placeholder (without the ellipsis). */
export function searchLabel(allFields) {
  return allFields ? 'Search all fields' : 'Search titles';
}

/** The map's accessible role description and label for a layout of `count` items. */
export function mapLabel(layoutName, count) {
  const what = `${LAYOUT_TITLES[layoutName] || layoutName} map`;
  return {
    roleDescription: what.toLowerCase(),
    label: `${what} of ${n(count)} items: arrow keys move the cursor, Enter opens`,
  };
}
