// items.json format 2: the format's own fields stay apart from CSV columns.
import test from 'node:test';
import assert from 'node:assert/strict';
import { decodeItems, itemTitle, columnKey } from '../../public/src/lib/items.js';
import { buildSearchIndex } from '../../public/src/lib/filter.js';
import { sampleDoc } from './helpers.js';

// A format-2 document whose CSV has columns named like every own field.
function hostileDoc() {
  return {
    format: 'cviz-items/2',
    collection: 'unit',
    count: 3,
    grid: { cols: 2, rows: 2, cell_width: 10, cell_height: 10, width: 20, height: 20 },
    dzi: 'map.dzi',
    columns: ['year', 'id', 'cell', 'image', 'title', 'url', 'department'],
    date_column: 'year',
    category_columns: ['department'],
    columns_dropped: 7,
    fields: {
      id: ['a.jpg', 'b.jpg', 'c.jpg'],
      cell: [0, 1, 3],
      image: ['../images/a.jpg', '../images/b.jpg', '../images/c.jpg'],
      year: [1850, null, 1901],
      title: ['A title', '', 'C title'],
      url: ['https://example.org/a', '', 'https://example.org/c'],
    },
    values: {
      year: ['1850', 'n.d.', 'ca. 1901'],
      id: ['X-1', 'X-2', 'X-3'],
      cell: ['100', '200', '300'],
      image: ['https://evil.example/x.png', 'javascript:alert(1)', ''],
      title: ['csv title', 'csv title 2', ''],
      url: ['javascript:alert(2)', '', ''],
      department: ['Prints', 'Paintings', 'Prints'],
    },
  };
}

test('format 2: CSV columns named id, cell, image, title, url, year never replace own fields', () => {
  const items = decodeItems(hostileDoc());
  assert.deepEqual([...items.itemToCell], [0, 1, 3]); // cells from fields.cell, not the "cell" column (100...)
  assert.equal(items.idToItem.get('b.jpg'), 1); // #item= links use the file name, not the "id" column
  assert.equal(items.fields.image[0], '../images/a.jpg'); // the panel never loads the CSV's image URL
  assert.equal(items.fields.url[0], 'https://example.org/a');
  assert.equal(itemTitle(items, 1), 'b.jpg');
  assert.deepEqual(items.years, [1850, null, 1901]); // the year filter keeps the parsed years
  assert.equal(items.dateColumn, 'year');
  assert.equal(items.fields.year[2], 'ca. 1901'); // the date text shown is the column's
  assert.equal(items.fields[columnKey('id')][0], 'X-1');
  assert.equal(items.fields[columnKey('image')][0], 'https://evil.example/x.png');
  assert.deepEqual(items.columns, ['title', 'url', 'year', 'id (column)', 'cell', 'image (column)', 'title (column)',
    'url (column)', 'department']);
  assert.deepEqual(items.categoryColumns, ['department']);
  assert.equal(items.columnsDropped, 7);
  assert.equal(Object.getPrototypeOf(items.fields), null);
});

test('format 2 documents feed the search index like format 1', () => {
  const index = buildSearchIndex(decodeItems(hostileDoc()));
  assert.equal(index.categories.get('department').values.get('Prints'), 2);
  assert.match(index.allText[0], /x-1/i);
});

test('format 2: values arrays are checked like fields', () => {
  const d = hostileDoc();
  d.values.department.pop();
  assert.throws(() => decodeItems(d), /values.department has 2 entries, expected 3/);
  const e = hostileDoc();
  delete e.values;
  assert.throws(() => decodeItems(e), /missing values/);
});

test('format 1 documents are still read', () => {
  const items = decodeItems(sampleDoc());
  assert.equal(items.dateColumn, 'date');
  assert.deepEqual(items.categoryColumns, ['department']);
  assert.equal(items.columns[0], 'title');
  assert.equal(items.columnsDropped, 0);
});
