import test from 'node:test';
import assert from 'node:assert/strict';
import { cellAt, cellRect, neighbourCell } from '../../public/src/lib/grid.js';
import { decodeItems } from '../../public/src/lib/items.js';
import { sampleDoc } from './helpers.js';

const grid = { cols: 4, rows: 3, cellWidth: 10, cellHeight: 10 };

test('cellAt maps image pixels to flat cells, half-open at the edges', () => {
  assert.equal(cellAt(grid, 0, 0), 0);
  assert.equal(cellAt(grid, 9.99, 9.99), 0);
  assert.equal(cellAt(grid, 10, 0), 1);
  assert.equal(cellAt(grid, 35, 25), 11);
  assert.equal(cellAt(grid, 40, 0), -1);
  assert.equal(cellAt(grid, 0, 30), -1);
  assert.equal(cellAt(grid, -0.1, 5), -1);
  assert.equal(cellAt(grid, NaN, 5), -1);
});

test('cellRect is the inverse of cellAt', () => {
  for (let c = 0; c < 12; c++) {
    const r = cellRect(grid, c);
    assert.equal(cellAt(grid, r.x, r.y), c);
    assert.equal(cellAt(grid, r.x + r.width - 0.01, r.y + r.height - 0.01), c);
  }
});

test('arrow keys skip empty cells', () => {
  const items = decodeItems(sampleDoc()); // items at cells 0, 1, 5, 8, 11
  const go = (cell, dir) => neighbourCell(items.grid, items.cellToItem, cell, dir);
  assert.equal(go(0, 'right'), 1);
  assert.equal(go(1, 'right'), 5, 'wraps to the next row');
  assert.equal(go(5, 'left'), 1);
  assert.equal(go(0, 'left'), 0, 'nothing before the first item');
  assert.equal(go(11, 'right'), 11, 'nothing after the last item');
  assert.equal(go(1, 'down'), 5, 'same column');
  assert.equal(go(0, 'down'), 5, 'nearest column in the next row with items');
  assert.equal(go(5, 'down'), 8, 'row 2 holds columns 0 and 3; column 0 is nearer to column 1');
  assert.equal(go(11, 'up'), 5);
  assert.equal(go(0, 'up'), 0);
});
