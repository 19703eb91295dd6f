import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createServer, route, safeJoin } from '../../server.js';

const roots = { public: '/srv/public', data: '/srv/store/published', osd: '/srv/osd' };

test('routes: page, pretty collection paths, data and vendor', () => {
  assert.deepEqual(route('/', roots), { root: roots.public, rel: 'index.html' });
  assert.deepEqual(route('/c/met-sample/', roots), { root: roots.public, rel: 'index.html' });
  assert.deepEqual(route('/c/met-sample', roots), { root: roots.public, rel: 'index.html' });
  assert.deepEqual(route('/c/met-sample/src/main.js', roots), { root: roots.public, rel: 'src/main.js' });
  assert.deepEqual(route('/data/index.json', roots), { root: roots.data, rel: 'index.json' });
  assert.deepEqual(route('/c/x/data/a/current.json', roots), { root: roots.data, rel: 'a/current.json' });
  assert.deepEqual(route('/vendor/openseadragon/openseadragon.min.js', roots),
    { root: roots.osd, rel: 'openseadragon.min.js' });
});

test('safeJoin refuses escapes and dot-files', () => {
  assert.equal(safeJoin('/r', 'a/b.jpg'), path.resolve('/r/a/b.jpg'));
  for (const bad of ['../x', 'a/../../x', 'a/..', '.git/config', 'a/.env', 'a\\..\\x', 'a\0b']) {
    assert.equal(safeJoin('/r', bad), null, bad);
  }
});

test('server: content types, traversal refused, gzip, 304, HEAD only', async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cviz-viewer-'));
  fs.mkdirSync(path.join(tmp, 'published', 'c1'), { recursive: true });
  fs.writeFileSync(path.join(tmp, 'published', 'index.json'), JSON.stringify({ x: 'y'.repeat(5000) }));
  fs.writeFileSync(path.join(tmp, 'published', 'c1', 'map.dzi'), '<Image/>');
  fs.writeFileSync(path.join(tmp, 'secret.txt'), 'no');
  fs.symlinkSync(path.join(tmp, 'secret.txt'), path.join(tmp, 'published', 'link.txt'));
  const server = createServer({ storageRoot: tmp });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => { server.close(); fs.rmSync(tmp, { recursive: true, force: true }); });
  const base = `http://127.0.0.1:${server.address().port}`;
  const get = (p, init) => fetch(base + p, init);

  let res = await get('/');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/html/);
  assert.match(res.headers.get('content-security-policy'), /script-src 'self'/);
  res = await get('/c/c1/');
  assert.equal(res.status, 200);
  assert.match(await res.text(), /<div id="map-view"/);
  res = await get('/src/main.js');
  assert.match(res.headers.get('content-type'), /^text\/javascript/);
  res = await get('/data/c1/map.dzi');
  assert.match(res.headers.get('content-type'), /^application\/xml/);
  res = await get('/data/index.json', { headers: { 'accept-encoding': 'gzip' } });
  assert.equal(res.headers.get('content-encoding'), 'gzip');
  assert.equal((await res.json()).x.length, 5000);
  const lm = res.headers.get('last-modified');
  res = await get('/data/index.json', { headers: { 'if-modified-since': lm } });
  assert.equal(res.status, 304);

  for (const p of ['/data/..%2f..%2fsecret.txt', '/data/%2e%2e/secret.txt', '/c/x/..%2f..%2fserver.js',
    '/data/link.txt', '/data/c1/%00.json', '/.gitignore']) {
    res = await get(p);
    assert.ok([403, 404].includes(res.status), `${p} -> ${res.status}`);
    assert.notEqual(await res.text(), 'no');
  }
  res = await get('/data/nope.json');
  assert.equal(res.status, 404);
  res = await get('/', { method: 'POST' });
  assert.equal(res.status, 405);
});
