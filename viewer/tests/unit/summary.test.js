import test from 'node:test';
import assert from 'node:assert/strict';
import {
  exportCountText, mapLabel, matchCountText, searchLabel, selectionSummary, stepPos,
} from '../../public/src/lib/summary.js';

test('the match count', () => {
  assert.equal(matchCountText({ total: 13000, filtering: false, matches: 0, pos: -1 }), '13,000 items');
  assert.equal(matchCountText({ total: 96, filtering: true, matches: 0, pos: -1 }), 'no matches');
  assert.equal(matchCountText({ total: 96, filtering: true, matches: 1, pos: -1 }), '1 match');
  assert.equal(matchCountText({ total: 96, filtering: true, matches: 1200, pos: 2 }), '3 / 1,200 matches');
});

test('stepping through matches wraps both ways and starts at either end', () => {
  assert.equal(stepPos(-1, 1, 5), 0);
  assert.equal(stepPos(-1, -1, 5), 4);
  assert.equal(stepPos(4, 1, 5), 0);
  assert.equal(stepPos(0, -1, 5), 4);
  assert.equal(stepPos(2, 1, 5), 3);
});

test('chips, export count and labels', () => {
  assert.equal(selectionSummary({ mode: 'rect', size: 1 }), '1 item selected (rectangle)');
  assert.equal(selectionSummary({ mode: 'lasso', size: 1500 }), '1,500 items selected (lasso)');
  assert.equal(exportCountText(96, false), '96 items (all)');
  assert.equal(exportCountText(1, true), '1 item (the current result)');
  assert.equal(searchLabel(false), 'Search titles');
  assert.equal(searchLabel(true), 'Search all fields');
  assert.deepEqual(mapLabel('timeline', 13000), {
    roleDescription: 'timeline map', label: 'Timeline map of 13,000 items: arrow keys move the cursor, Enter opens',
  });
  assert.equal(mapLabel('other', 2).roleDescription, 'other map');
});
