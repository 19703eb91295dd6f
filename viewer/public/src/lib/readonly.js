// Detached, frozen copies of page state for the test handle (test-handle.js): whatever a
// test does with what it reads, the page's own objects stay as they were. Pure: unit-tested.

/**
 * A deep copy of plain objects, arrays, Maps, Sets and typed arrays; objects and arrays are
 * frozen (Maps, Sets and typed arrays cannot be, but they are copies). Other values as they are.
 */
export function snapshot(value) {
  if (value === null || typeof value !== 'object') return value;
  if (ArrayBuffer.isView(value)) return value.slice();
  if (value instanceof Map) return new Map([...value].map(([k, v]) => [snapshot(k), snapshot(v)]));
  if (value instanceof Set) return new Set([...value].map(snapshot));
  if (Array.isArray(value)) return Object.freeze(value.map(snapshot));
  const out = {};
  for (const [k, v] of Object.entries(value)) out[k] = snapshot(v);
  return Object.freeze(out);
}
