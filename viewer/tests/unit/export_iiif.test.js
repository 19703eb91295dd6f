import test from 'node:test';
import assert from 'node:assert/strict';
import { decodeItems } from '../../public/src/lib/items.js';
import { iiifManifest, exportIiif, iiifText } from '../../public/src/lib/export.js';
import { sampleDoc } from './helpers.js';

const OPTS = { id: 'https://maps.example.org/exports/sel.json', itemsUrl: 'https://maps.example.org/data/unit/v1/items.json' };

/** sampleDoc with the columns cviz writes for a IIIF collection (format 2: own fields apart from values). */
function iiifDoc() {
  const doc = sampleDoc();
  doc.format = 'cviz-items/2';
  const { id, cell, image, year, title, url, ...values } = doc.fields;
  doc.fields = { id, cell, image, year, title, url };
  doc.values = { ...values,
    iiif_service: ['https://images.example.org/iiif/a', '', 'https://old.example.org/iiif/c', '', ''],
    iiif_service_type: ['ImageService3', '', 'ImageService2', '', ''],
    iiif_service_profile: ['level2', '', 'level1', '', ''],
    iiif_width: ['4000', '', '900', 'x', ''],
    iiif_height: ['3000', '', '1200', '10', ''] };
  doc.columns = ['date', 'artist', 'department', 'iiif_service', 'iiif_service_type', 'iiif_service_profile',
    'iiif_width', 'iiif_height'];
  return doc;
}

test('one canvas per selected item, in the selection order, painting its published image', () => {
  const items = decodeItems(iiifDoc());
  const m = iiifManifest(items, [2, 0], OPTS);
  assert.equal(m['@context'], 'http://iiif.io/api/presentation/3/context.json');
  assert.equal(m.type, 'Manifest');
  assert.equal(m.id, OPTS.id);
  assert.deepEqual(m.label, { none: ['unit: 2 selected items'] });
  assert.deepEqual(m.items.map((c) => c.label), [{ none: ['Portrait of Dürer'] }, { none: ['Landscape with Cows'] }]);
  const [c0, c1] = m.items;
  assert.equal(c0.id, 'https://maps.example.org/exports/sel.json/canvas/0');
  const anno = c0.items[0].items[0];
  assert.equal(anno.motivation, 'painting');
  assert.equal(anno.target, c0.id);
  assert.equal(anno.body.id, 'https://maps.example.org/data/unit/images/c.jpg', 'resolved against items.json');
  assert.deepEqual(c0.thumbnail, [{ id: 'https://maps.example.org/data/unit/images/c.jpg', type: 'Image', format: 'image/jpeg' }]);
  assert.deepEqual([c0.width, c0.height, c1.width, c1.height], [900, 1200, 4000, 3000], 'the source canvas size');
  assert.deepEqual(anno.body.service, [{ '@id': 'https://old.example.org/iiif/c', '@type': 'ImageService2',
    profile: 'http://iiif.io/api/image/2/level1.json' }]);
  assert.deepEqual(c1.items[0].items[0].body.service, [{ id: 'https://images.example.org/iiif/a', type: 'ImageService3', profile: 'level2' }]);
});

test('metadata carries the columns, homepage only http(s) record links', () => {
  const items = decodeItems(iiifDoc());
  const [a, b, d] = iiifManifest(items, [0, 1, 3], OPTS).items;
  assert.deepEqual(a.metadata, [
    { label: { none: ['date'] }, value: { none: ['1850'] } },
    { label: { none: ['artist'] }, value: { none: ['A'] } },
    { label: { none: ['department'] }, value: { none: ['Paintings'] } }]);
  assert.deepEqual(a.homepage, [{ id: 'https://example.org/1', type: 'Text', label: { none: ['Landscape with Cows'] }, format: 'text/html' }]);
  assert.equal(b.homepage, undefined, 'javascript: is never a homepage');
  assert.equal(d.homepage[0].id, 'http://example.org/4');
  assert.deepEqual([d.width, d.height], [10, 10], 'no source size (a bad width): the grid cell size');
});

test('HTML-looking text stays text', () => {
  const items = decodeItems(iiifDoc());
  const [b] = iiifManifest(items, [1], OPTS).items;
  assert.deepEqual(b.label, { none: ['<span>&lt;img src=x onerror=alert(1)&gt;</span>'] });
  assert.equal(iiifText('a < b'), 'a < b');
  assert.equal(iiifText('<b>bold</b>'), '<span>&lt;b&gt;bold&lt;/b&gt;</span>');
});

test('a caller that knows the natural size gives it; bad options are refused', () => {
  const items = decodeItems(sampleDoc());
  const m = iiifManifest(items, [4], { ...OPTS, imageSize: () => ({ width: 512, height: 384 }) });
  assert.deepEqual([m.items[0].width, m.items[0].height], [512, 384]);
  assert.equal(m.items[0].items[0].items[0].body.id, 'https://maps.example.org/data/unit/images/e.jpg');
  assert.throws(() => iiifManifest(items, [0], { ...OPTS, id: 'sel.json' }), /absolute http\(s\) URL as id/);
  assert.throws(() => iiifManifest(items, [0], { ...OPTS, id: 'javascript:alert(1)' }), /absolute http\(s\) URL as id/);
  assert.throws(() => iiifManifest(items, [0], { ...OPTS, itemsUrl: 'items.json' }), /itemsUrl/);
  assert.throws(() => iiifManifest(items, [], OPTS), /at least one canvas/);
  assert.equal(JSON.parse(exportIiif(items, [0], OPTS)).items.length, 1);
});
