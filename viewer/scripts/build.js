// Assemble the viewer for plain static hosting: public/ plus OpenSeadragon's build.
//   node scripts/build.js [outdir]     (default: dist/)
// Then publish the data beside it as <outdir>/data/ (a copy or link of
// <storage root>/published), or point config.js's dataBase elsewhere.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const out = path.resolve(process.argv[2] || path.join(here, 'dist'));
const osd = path.join(here, 'node_modules', 'openseadragon', 'build', 'openseadragon');
if (!fs.existsSync(osd)) {
  console.error('openseadragon is not installed: run `npm ci` in viewer/ first');
  process.exit(1);
}
fs.rmSync(out, { recursive: true, force: true });
fs.cpSync(path.join(here, 'public'), out, { recursive: true });
fs.cpSync(osd, path.join(out, 'vendor', 'openseadragon'), { recursive: true });
console.log(`static viewer written to ${out}`);
