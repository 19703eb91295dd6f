// The viewer's modules stay small: one concern each (see public/src/map-page.js for how the
// map page is composed). A file over the limit is split by concern, not squeezed.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'public', 'src');
const MAX_LINES = 300;

test(`every file in public/src has at most ${MAX_LINES} lines`, () => {
  const files = fs.readdirSync(SRC, { recursive: true }).filter((f) => fs.statSync(path.join(SRC, f)).isFile());
  assert.ok(files.length > 10, 'public/src was found');
  const over = [];
  for (const file of files) {
    const text = fs.readFileSync(path.join(SRC, file), 'utf8');
    const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
    if (lines > MAX_LINES) over.push(`${file}: ${lines} lines`);
  }
  assert.deepEqual(over, [], `over ${MAX_LINES} lines`);
});
