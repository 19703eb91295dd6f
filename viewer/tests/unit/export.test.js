import test from 'node:test';
import assert from 'node:assert/strict';
import { decodeItems } from '../../public/src/lib/items.js';
import { csvCell, toCsv, exportCsv, exportJson, exportColumns } from '../../public/src/lib/export.js';
import { sampleDoc } from './helpers.js';

test('formula-like CSV cells are neutralised (= + - @, tab, CR)', () => {
  assert.equal(csvCell('=HYPERLINK("http://evil","x")'), `"'=HYPERLINK(""http://evil"",""x"")"`);
  assert.equal(csvCell('+1+1'), "'+1+1");
  assert.equal(csvCell('-2'), "'-2");
  assert.equal(csvCell('@SUM(A1)'), "'@SUM(A1)");
  assert.equal(csvCell('\t=1'), "'\t=1");
  assert.equal(csvCell('\r=1'), `"'\r=1"`);
  assert.equal(csvCell('a=b'), 'a=b', 'only a leading sign counts');
  assert.equal(csvCell(null), '');
});

test('RFC 4180 quoting of commas, quotes and newlines; CRLF rows', () => {
  assert.equal(csvCell('a,b'), '"a,b"');
  assert.equal(csvCell('say "hi"'), '"say ""hi"""');
  assert.equal(csvCell('two\nlines'), '"two\nlines"');
  assert.equal(toCsv(['a', 'b'], [['1', 'x,y']]), 'a,b\r\n1,"x,y"\r\n');
});

test('an export holds id, title, url, date and every column, rows in the given order', () => {
  const items = decodeItems(sampleDoc());
  assert.deepEqual(exportColumns(items), ['id', 'title', 'url', 'date', 'artist', 'department']);
  const lines = exportCsv(items, [3, 0]).trim().split('\r\n');
  assert.equal(lines[0], 'id,title,url,date,artist,department');
  assert.equal(lines[1], 'd.jpg,d.jpg,http://example.org/4,1700,,Asian Art', 'empty title falls back to the id');
  assert.equal(lines[2], 'a.jpg,Landscape with Cows,https://example.org/1,1850,A,Paintings');
  const rows = JSON.parse(exportJson(items, [1]));
  assert.deepEqual(rows, [{ id: 'b.jpg', title: '<img src=x onerror=alert(1)>', url: 'javascript:alert(1)', date: '',
    artist: 'B', department: 'Prints|Paintings' }]);
});

test('a column named __proto__ is exported as a column, not a prototype', () => {
  const doc = sampleDoc();
  doc.columns.push('__proto__');
  doc.fields = JSON.parse(JSON.stringify(doc.fields).replace(/}$/, ',"__proto__":["x","y","z","w","v"]}'));
  const items = decodeItems(doc);
  const rows = JSON.parse(exportJson(items, [2]));
  assert.equal(Object.getOwnPropertyDescriptor(rows[0], '__proto__').value, 'z');
  assert.ok(exportCsv(items, [2]).split('\r\n')[0].endsWith(',__proto__'));
});
