import test from 'node:test';
import assert from 'node:assert/strict';
import {
  parseLocation, parseItemHash, itemHash, safeHttpUrl, resolveDataBase, collectionHref, isValidCollectionName,
} from '../../public/src/lib/url.js';

test('collection from ?c= or /c/<name>/', () => {
  assert.deepEqual(parseLocation('http://h/?c=met-sample'), { collection: 'met-sample', item: null });
  assert.deepEqual(parseLocation('http://h/c/met-sample/'), { collection: 'met-sample', item: null });
  assert.deepEqual(parseLocation('http://h/sub/c/met-sample'), { collection: 'met-sample', item: null });
  assert.equal(parseLocation('http://h/').collection, null);
  assert.equal(parseLocation('http://h/?c=../etc').collection, null);
  assert.equal(parseLocation('http://h/?c=a/b').collection, null);
  assert.equal(parseLocation('http://h/c/%2e%2e/').collection, null);
});

test('item ids round-trip through the hash', () => {
  for (const id of ['36029.jpg', 'sub dir/étude #5.jpg', 'a&b=c+d.jpg', '100%.jpg']) {
    assert.equal(parseItemHash(itemHash(id)), id);
    assert.equal(parseLocation(`http://h/?c=x${itemHash(id)}`).item, id);
  }
  assert.equal(parseItemHash(''), null);
  assert.equal(parseItemHash('#other=1'), null);
  assert.equal(parseItemHash('#item='), null);
  assert.equal(parseItemHash('#item=%E0%A4%A'), '%E0%A4%A', 'bad escapes are kept literally');
});

test('only http(s) URLs are linkable', () => {
  assert.equal(safeHttpUrl('https://www.metmuseum.org/art/1'), 'https://www.metmuseum.org/art/1');
  assert.equal(safeHttpUrl(' http://example.org '), 'http://example.org/');
  for (const bad of ['javascript:alert(1)', 'JAVASCRIPT:alert(1)', ' javascript:alert(1)', 'data:text/html,x',
    'vbscript:x', '//evil.example', '/relative', 'ftp://x', '', null, 42, 'https://']) {
    assert.equal(safeHttpUrl(bad), null, String(bad));
  }
});

test('data base: config default, ?data= only on the same origin', () => {
  const root = 'http://h/app/';
  assert.equal(resolveDataBase('http://h/app/?c=x', root, undefined), 'http://h/app/data/');
  assert.equal(resolveDataBase('http://h/app/?c=x', root, '/published'), 'http://h/published/');
  assert.equal(resolveDataBase('http://h/app/?data=other/', root, 'data/'), 'http://h/app/other/');
  assert.equal(resolveDataBase('http://h/app/?data=https://evil.example/', root, 'data/'), 'http://h/app/data/');
  assert.equal(resolveDataBase('http://h/app/', root, 'https://cdn.example/maps'), 'https://cdn.example/maps/');
});

test('collection links and name rules', () => {
  assert.equal(collectionHref('http://h/app/', 'met-sample'), 'http://h/app/?c=met-sample');
  assert.equal(collectionHref('http://h/app/', 'a b'), 'http://h/app/?c=a+b');
  assert.equal(collectionHref('http://h/app/', 'm', 'http://h/app/?data=d2/&x=1#item=3'), 'http://h/app/?c=m&data=d2%2F');
  assert.equal(collectionHref('http://h/app/', null, 'http://h/app/?c=m&data=d2/'), 'http://h/app/?data=d2%2F');
  assert.equal(collectionHref('http://h/app/', null), 'http://h/app/');
  assert.equal(isValidCollectionName('met_sample.v2'), true);
  assert.equal(isValidCollectionName('..'), false);
  assert.equal(isValidCollectionName('-x'), false);
  assert.equal(isValidCollectionName(null), false);
});
