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

import { parseViewHash, viewHash } from '../../public/src/lib/url.js';

test('the view round-trips through the address, whatever the names hold', () => {
  const view = {
    item: 'sub dir/é #5.jpg', query: 'sea & sky', allFields: true, yearRange: [1800, Infinity],
    categories: new Map([['__proto__', new Set(['toString', 'a&b=c~d'])], ['constructor', new Set(['x'])]]),
    region: { scale: 'fine', id: 3 }, mode: 'lasso',
  };
  const hash = viewHash(view);
  assert.ok(hash.startsWith('#item=sub%20dir%2F'));
  const back = parseViewHash(hash);
  assert.equal(back.item, view.item);
  assert.equal(back.query, view.query);
  assert.equal(back.allFields, true);
  assert.deepEqual(back.yearRange, [1800, Infinity]);
  assert.deepEqual([...back.categories.keys()], ['__proto__', 'constructor']);
  assert.deepEqual([...back.categories.get('__proto__')], ['toString', 'a&b=c~d']);
  assert.deepEqual(back.region, { scale: 'fine', id: 3 });
  assert.equal(back.mode, 'lasso');
  assert.equal(viewHash({ categories: new Map() }), '');
  assert.equal(parseViewHash('#mode=evil&y=abc&region=x').mode, null);
});
