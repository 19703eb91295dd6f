// Decoding of `items.json` (formats cviz-items/2 and cviz-items/1, see docs/outputs.md).
//
// The file is column-oriented (one array per field) so 13,000 items stay small on
// the wire. Here we validate it once and derive the lookup tables every other
// module needs (cell -> item, id -> item), so nothing downstream has to re-check
// array lengths or guess at missing fields.
//
// Format 2 keeps the format's own fields (`fields`: id, cell, image, year, title,
// url) apart from the collection's CSV columns (`values`). The decoded object
// keeps one `fields` table (no prototype) that the panel and filters read by
// column name: a CSV column whose name is one the viewer reads as its own
// (id, image, title, url) is listed as "<name> (column)", so it can never replace
// the item's id, image, title or link. Format 1 files (own fields and columns in
// one object) are still read as they are.

export const ITEMS_FORMAT = 'cviz-items/2';
export const ITEMS_FORMATS = ['cviz-items/2', 'cviz-items/1'];
const OWN_FIELDS = ['id', 'cell', 'image', 'year', 'title', 'url'];
const READ_AS_OWN = new Set(['id', 'image', 'title', 'url']);

/** The key under which CSV column `name` is found in the decoded `fields`. */
export function columnKey(name) {
  return READ_AS_OWN.has(name) ? `${name} (column)` : name;
}

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
  if (!ITEMS_FORMATS.includes(doc.format)) fail(`unsupported format ${JSON.stringify(doc.format)}`);
  const v2 = doc.format === 'cviz-items/2';
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

  const own = doc.fields || fail('missing fields');
  const values = v2 ? (doc.values || fail('missing values')) : {};
  for (const [where, table] of [['fields', own], ['values', values]]) {
    for (const [name, arr] of Object.entries(table)) {
      if (!Array.isArray(arr)) fail(`${where}.${name} is not an array`);
      if (arr.length !== count) fail(`${where}.${name} has ${arr.length} entries, expected ${count}`);
    }
  }
  if (!Object.hasOwn(own, 'id')) fail('missing fields.id');
  if (!Object.hasOwn(own, 'cell')) fail('missing fields.cell');

  // One table without a prototype: own fields under their names, CSV columns under columnKey().
  const fields = Object.create(null);
  if (v2) {
    for (const name of OWN_FIELDS) if (Object.hasOwn(own, name)) fields[name] = own[name];
    // A `year` or `cell` column may take that key here: years and cells are read from `own` above.
    for (const [name, arr] of Object.entries(values)) fields[columnKey(name)] = arr;
  } else {
    for (const [name, arr] of Object.entries(own)) fields[name] = arr;
  }
  const key = v2 ? columnKey : (c) => c;

  const nCells = grid.cols * grid.rows;
  const cellToItem = new Int32Array(nCells).fill(-1);
  const itemToCell = new Int32Array(count);
  const idToItem = new Map();
  for (let i = 0; i < count; i++) {
    const cell = own.cell[i];
    if (!Number.isInteger(cell) || cell < 0 || cell >= nCells) fail(`item ${i} has cell ${cell} outside the grid`);
    if (cellToItem[cell] !== -1) fail(`cell ${cell} holds two items`);
    cellToItem[cell] = i;
    itemToCell[i] = cell;
    idToItem.set(asText(own.id[i]), i);
  }

  // Text columns shown in the panel; keep only those that really exist as fields.
  // Format 2 lists only CSV columns; title and url (own fields) lead, as in format 1.
  const listed = (Array.isArray(doc.columns) ? doc.columns : ['title', 'url', 'date'])
    .filter((c) => typeof c === 'string').map(key);
  const columns = (v2 ? ['title', 'url', ...listed] : listed).filter((c) => Array.isArray(fields[c]));
  const categoryColumns = (Array.isArray(doc.category_columns) ? doc.category_columns : [])
    .filter((c) => typeof c === 'string').map(key).filter((c) => Array.isArray(fields[c]));
  const dateColumn = typeof doc.date_column === 'string' && Array.isArray(fields[key(doc.date_column)])
    ? key(doc.date_column) : null;

  const years = Array.isArray(own.year)
    ? own.year.map((y) => (Number.isFinite(y) ? Math.trunc(y) : null))
    : new Array(count).fill(null);

  // The item-store calls a lazy store (lazy-items.js) answers after fetching: here all is loaded.
  const store = {
    lazy: false,
    loaded: () => true,
    use: async (indices, fn) => fn(),
    load: async () => undefined,
    findId: async (id) => idToItem.get(id),
    loadYears: async () => years,
  };
  return {
    ...store,
    count,
    collection: asText(doc.collection),
    grid,
    columns,
    dateColumn,
    categoryColumns,
    fields,
    columnsDropped: Number.isInteger(doc.columns_dropped) ? doc.columns_dropped : 0,
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
