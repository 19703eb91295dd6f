// Decoding of `items.json` (format cviz-items/1, see docs/outputs.md).
//
// The file is column-oriented (one array per field) so 13,000 items stay small on
// the wire. Here we validate it once and derive the lookup tables every other
// module needs (cell -> item, id -> item), so nothing downstream has to re-check
// array lengths or guess at missing fields.

export const ITEMS_FORMAT = 'cviz-items/1';

/** Coerce a metadata value to display text: null/undefined become "". */
export function asText(value) {
  if (value === null || value === undefined) return '';
  return String(value);
}

function fail(message) {
  throw new Error(`items.json: ${message}`);
}

function positiveInt(value, name) {
  if (!Number.isInteger(value) || value <= 0) fail(`grid.${name} must be a positive integer`);
  return value;
}

/**
 * Validate and index a parsed items.json document.
 * @returns {{count:number, collection:string, grid:object, columns:string[],
 *   dateColumn:?string, categoryColumns:string[], fields:object,
 *   cellToItem:Int32Array, itemToCell:Int32Array, idToItem:Map<string,number>,
 *   years:(number|null)[]}}
 */
export function decodeItems(doc) {
  if (!doc || typeof doc !== 'object') fail('not a JSON object');
  if (doc.format !== ITEMS_FORMAT) fail(`unsupported format ${JSON.stringify(doc.format)}`);
  const count = doc.count;
  if (!Number.isInteger(count) || count < 0) fail('count must be a non-negative integer');

  const g = doc.grid || fail('missing grid');
  const grid = {
    cols: positiveInt(g.cols, 'cols'),
    rows: positiveInt(g.rows, 'rows'),
    cellWidth: positiveInt(g.cell_width, 'cell_width'),
    cellHeight: positiveInt(g.cell_height, 'cell_height'),
  };
  grid.width = Number.isInteger(g.width) ? g.width : grid.cols * grid.cellWidth;
  grid.height = Number.isInteger(g.height) ? g.height : grid.rows * grid.cellHeight;

  const fields = doc.fields || fail('missing fields');
  for (const [name, values] of Object.entries(fields)) {
    if (!Array.isArray(values)) fail(`fields.${name} is not an array`);
    if (values.length !== count) fail(`fields.${name} has ${values.length} entries, expected ${count}`);
  }
  if (!fields.id) fail('missing fields.id');
  if (!fields.cell) fail('missing fields.cell');

  const nCells = grid.cols * grid.rows;
  const cellToItem = new Int32Array(nCells).fill(-1);
  const itemToCell = new Int32Array(count);
  const idToItem = new Map();
  for (let i = 0; i < count; i++) {
    const cell = fields.cell[i];
    if (!Number.isInteger(cell) || cell < 0 || cell >= nCells) fail(`item ${i} has cell ${cell} outside the grid`);
    if (cellToItem[cell] !== -1) fail(`cell ${cell} holds two items`);
    cellToItem[cell] = i;
    itemToCell[i] = cell;
    idToItem.set(asText(fields.id[i]), i);
  }

  // Text columns shown in the panel; keep only those that really exist as fields.
  const columns = (Array.isArray(doc.columns) ? doc.columns : ['title', 'url', 'date'])
    .filter((c) => typeof c === 'string' && Array.isArray(fields[c]));
  const categoryColumns = (Array.isArray(doc.category_columns) ? doc.category_columns : [])
    .filter((c) => typeof c === 'string' && Array.isArray(fields[c]));
  const dateColumn = typeof doc.date_column === 'string' && Array.isArray(fields[doc.date_column])
    ? doc.date_column : null;

  const years = Array.isArray(fields.year)
    ? fields.year.map((y) => (Number.isFinite(y) ? Math.trunc(y) : null))
    : new Array(count).fill(null);

  return {
    count,
    collection: asText(doc.collection),
    grid,
    columns,
    dateColumn,
    categoryColumns,
    fields,
    cellToItem,
    itemToCell,
    idToItem,
    years,
  };
}

/** Display title of item i: the title field, else its id (the file name). */
export function itemTitle(items, i) {
  const t = items.fields.title ? asText(items.fields.title[i]).trim() : '';
  return t || asText(items.fields.id[i]);
}

/** Split a category value on `|` into trimmed, non-empty parts. */
export function splitCategory(value) {
  return asText(value).split('|').map((s) => s.trim()).filter(Boolean);
}
