import test from 'node:test';
import assert from 'node:assert/strict';
import { insidePolygon, itemsInLasso, itemsInRect } from '../../public/src/lib/select.js';

// 4 x 3 grid of 10 px cells; items at cells 0, 1, 5, 8, 11 (as in helpers.js).
const grid = { cols: 4, rows: 3, cellWidth: 10, cellHeight: 10 };
const cellToItem = Int32Array.from([0, 1, -1, -1, -1, 2, -1, -1, 3, -1, -1, 4]);

test('a rectangle takes the cells whose centres it covers, in either drag direction', () => {
  assert.deepEqual(itemsInRect(grid, cellToItem, { x: 0, y: 0 }, { x: 16, y: 16 }), [0, 1, 2]);
  assert.deepEqual(itemsInRect(grid, cellToItem, { x: 16, y: 16 }, { x: 0, y: 0 }), [0, 1, 2]);
  assert.deepEqual(itemsInRect(grid, cellToItem, { x: 0, y: 0 }, { x: 14, y: 14 }), [0], 'centre (15,15) not covered');
  assert.deepEqual(itemsInRect(grid, cellToItem, { x: -50, y: -50 }, { x: 500, y: 500 }), [0, 1, 2, 3, 4]);
  assert.deepEqual(itemsInRect(grid, cellToItem, { x: 21, y: 1 }, { x: 29, y: 9 }), [], 'an empty cell');
});

test('a lasso takes the cells whose centres are inside the polygon', () => {
  const tri = [{ x: 0, y: 0 }, { x: 40, y: 0 }, { x: 0, y: 30 }];
  assert.equal(insidePolygon(tri, 5, 5), true);
  assert.equal(insidePolygon(tri, 35, 25), false);
  // Centres inside: (5,5)->0, (15,5)->1, (15,15)->2 ((15,15): 15/40+15/30 = 0.875 < 1), (5,25)->3 (0.125+0.833 < 1).
  assert.deepEqual(itemsInLasso(grid, cellToItem, tri).sort(), [0, 1, 2, 3]);
  assert.deepEqual(itemsInLasso(grid, cellToItem, tri.slice(0, 2)), [], 'two points are no area');
});
