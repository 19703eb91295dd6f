// Assemble dist/ for plain static hosting: public/ plus OpenSeadragon's build.
// Put (or point config.js at) the published data next to it: dist/data/ -> <storage root>/published.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const dist = path.join(here, 'dist');
fs.rmSync(dist, { recursive: true, force: true });
fs.cpSync(path.join(here, 'public'), dist, { recursive: true });
fs.cpSync(path.join(here, 'node_modules', 'openseadragon', 'build', 'openseadragon'),
  path.join(dist, 'vendor', 'openseadragon'), { recursive: true });
console.log(`static viewer written to ${dist}`);
