import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { OSD_OPTIONS, drawerList, viewerOptions } from '../../public/src/osd-options.js';

const SRC = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'public', 'src');

test('OpenSeadragon options: one frozen object, plus only what depends on the page', () => {
  assert.ok(Object.isFrozen(OSD_OPTIONS) && Object.isFrozen(OSD_OPTIONS.gestureSettingsMouse));
  assert.equal(OSD_OPTIONS.showNavigator, true);
  assert.equal(OSD_OPTIONS.gestureSettingsMouse.clickToZoom, false);
  const element = {};
  const same = viewerOptions({ element, dziUrl: new URL('https://a.example/c/map.dzi'), pageOrigin: 'https://a.example', drawer: ['canvas'] });
  assert.equal(same.element, element);
  assert.equal(same.tileSources, 'https://a.example/c/map.dzi');
  assert.equal(same.crossOriginPolicy, false);
  assert.deepEqual(same.drawer, ['canvas']);
  assert.deepEqual(Object.keys(same).sort(), [...Object.keys(OSD_OPTIONS), 'element', 'tileSources', 'crossOriginPolicy', 'drawer'].sort());
  const bucket = viewerOptions({ element, dziUrl: new URL('https://bucket.example/map.dzi'), pageOrigin: 'https://a.example', drawer: [] });
  assert.equal(bucket.crossOriginPolicy, 'Anonymous');
});

test('drawer: a named one first, else WebGL only on a real GPU', () => {
  assert.deepEqual(drawerList('html', false), ['html', 'canvas']);
  assert.deepEqual(drawerList('webgl', false), ['webgl', 'canvas']);
  assert.deepEqual(drawerList('bogus', false), ['canvas', 'html']);
  assert.deepEqual(drawerList(null, true), ['webgl', 'canvas', 'html']);
});

test('no other module calls OpenSeadragon with options', () => {
  for (const file of fs.readdirSync(SRC, { recursive: true })) {
    if (!file.endsWith('.js') || file === 'osd-options.js') continue;
    const text = fs.readFileSync(path.join(SRC, file), 'utf8');
    assert.doesNotMatch(text, /OpenSeadragon\(\s*\{/, `${file} passes options to OpenSeadragon itself`);
  }
});
