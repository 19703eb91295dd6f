import test from 'node:test';
import assert from 'node:assert/strict';
import { yearHistogram, niceBinWidth, binsToYearRange, formatYear } from '../../public/src/lib/histogram.js';

test('nice bin widths fit the span', () => {
  assert.equal(niceBinWidth(0, 60), 1);
  assert.equal(niceBinWidth(59, 60), 1);
  assert.equal(niceBinWidth(60, 60), 2);
  assert.equal(niceBinWidth(299, 60), 5);
  assert.equal(niceBinWidth(4000, 60), 100);
  assert.equal(niceBinWidth(10_000_000, 60), 1_000_000);
});

test('bins start on a multiple of the width and count every dated item', () => {
  const years = [1703, 1850, null, 1999, 1850, -500];
  const h = yearHistogram(years, null, { maxBins: 30 });
  assert.equal(h.width, 100);
  assert.equal(h.start, -500);
  assert.equal(h.bins, 25);
  assert.equal(h.counts.reduce((a, b) => a + b, 0), 5);
  assert.equal(h.undated, 1);
  assert.equal(h.counts[Math.floor((1850 + 500) / 100)], 2);
});

test('a subset is counted on the same axis', () => {
  const years = [1800, 1810, 1820, null];
  const all = yearHistogram(years, null, { maxBins: 10 });
  const some = yearHistogram(years, Uint8Array.from([0, 1, 1, 1]), all);
  assert.equal(some.bins, all.bins);
  assert.equal(some.counts.reduce((a, b) => a + b, 0), 2);
  assert.equal(some.undated, 1);
});

test('no dated items gives null; brush bins map to inclusive years', () => {
  assert.equal(yearHistogram([null, null]), null);
  const h = { start: 1700, width: 10, bins: 30 };
  assert.deepEqual(binsToYearRange(h, 5, 2), [1720, 1759]);
  assert.deepEqual(binsToYearRange(h, -3, 99), [1700, 1999]);
  assert.equal(formatYear(-44), '44 BCE');
  assert.equal(formatYear(1066), '1066');
});

test('the axis labels a few round years between its ends', async () => {
  const { axisYears } = await import('../../public/src/lib/histogram.js');
  assert.deepEqual(axisYears(1700, 1999), [1800, 1900]);
  assert.deepEqual(axisYears(1700, 1999, 6), [1750, 1800, 1850, 1900, 1950]);
  assert.deepEqual(axisYears(1843, 1921), [1860, 1880, 1900], 'round years, at most maxTicks');
  assert.deepEqual(axisYears(-500, 1500), [0, 1000]);
  assert.deepEqual(axisYears(1900, 1901), []);
  assert.deepEqual(axisYears(1900, 1900), []);
});
