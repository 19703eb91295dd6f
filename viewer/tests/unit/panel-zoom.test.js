import test from 'node:test';
import assert from 'node:assert/strict';
import { decodeItems } from '../../public/src/lib/items.js';
import { iiifServiceUrl } from '../../public/src/panel-zoom.js';
import { PANEL_ZOOM_OPTIONS, panelZoomOptions } from '../../public/src/osd-options.js';
import { sampleDoc } from './helpers.js';

function withServices(services) {
  const doc = sampleDoc();
  doc.format = 'cviz-items/2';
  const { id, cell, image, year, title, url, ...values } = doc.fields;
  doc.fields = { id, cell, image, year, title, url };
  doc.values = { ...values, iiif_service: services };
  doc.columns = [...(doc.columns || []), 'iiif_service'];
  return decodeItems(doc);
}

test('an item zooms only into an http(s) IIIF service, named by its base URL', () => {
  const items = withServices(['https://img.example.org/iiif/a/', 'javascript:alert(1)', 'http://x.example/iiif/b/info.json',
    '', 'not a url']);
  assert.equal(iiifServiceUrl(items, 0), 'https://img.example.org/iiif/a');
  assert.equal(iiifServiceUrl(items, 1), null);
  assert.equal(iiifServiceUrl(items, 2), 'http://x.example/iiif/b');
  assert.equal(iiifServiceUrl(items, 3), null);
  assert.equal(iiifServiceUrl(items, 4), null);
  assert.equal(iiifServiceUrl(decodeItems(sampleDoc()), 0), null, 'no iiif_service column: no zoom');
});

test('the panel zoom asks for CORS images and opens the info.json it is given', () => {
  assert.ok(Object.isFrozen(PANEL_ZOOM_OPTIONS));
  const o = panelZoomOptions({ element: 'E', infoUrl: 'https://img.example.org/iiif/a/info.json' });
  assert.equal(o.crossOriginPolicy, 'Anonymous');
  assert.equal(o.tileSources, 'https://img.example.org/iiif/a/info.json');
  assert.equal(o.element, 'E');
});
