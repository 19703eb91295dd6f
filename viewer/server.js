// Small static server for the viewer (plain Node, no framework).
//
//   /                      public/index.html (the single page)
//   /c/<name>/...          the same files, so pretty collection URLs work
//   /data/...              <storage root>/published/... (the published maps)
//   /vendor/openseadragon/ node_modules/openseadragon/build/openseadragon/
//
// Binds 127.0.0.1 only: it is a local preview, not a public web server.
// Env: CVIZ_VIEWER_PORT (default 8080, 0 = any free port),
//      CVIZ_STORAGE_ROOT (default ../cviz_data relative to this folder),
//      CVIZ_VIEWER_LOG=1 to print one line per request.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { pipeline } from 'node:stream';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const HOST = '127.0.0.1';

export const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.dzi': 'application/xml; charset=utf-8',
  '.xml': 'application/xml; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};
// Worth compressing: items.json for 13,000 items shrinks several-fold.
const COMPRESSIBLE = new Set(['.html', '.js', '.mjs', '.css', '.json', '.map', '.dzi', '.xml', '.svg', '.txt', '.bin']);

// Defence in depth: even if some data slipped into markup, no inline script could run.
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  // https: images and info.json from museums' IIIF image services (the panel's deep zoom,
  // panel-zoom.js); scripts stay 'self' only, so no data can run code or send anything.
  "img-src 'self' data: blob: https:",
  "connect-src 'self' https:",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Map a URL path to {root, rel}: which folder serves it and the path inside.
 * Returns null for paths that no folder serves.
 */
export function route(urlPath, roots) {
  // /c/<name>/rest -> /rest: the page and its assets load from the same relative paths.
  const pretty = urlPath.match(/^\/c\/[^/]+(\/.*)?$/);
  if (pretty) urlPath = pretty[1] || '/';
  if (urlPath.startsWith('/data/')) return { root: roots.data, rel: urlPath.slice('/data/'.length) };
  if (urlPath.startsWith('/vendor/openseadragon/')) {
    return { root: roots.osd, rel: urlPath.slice('/vendor/openseadragon/'.length) };
  }
  if (urlPath === '/' || urlPath === '') return { root: roots.public, rel: 'index.html' };
  return { root: roots.public, rel: urlPath.slice(1) };
}

/**
 * Resolve rel inside root, refusing anything that escapes it (.., encoded
 * separators, NUL, dot-files). Returns an absolute path or null.
 */
export function safeJoin(root, rel) {
  if (rel.includes('\0') || rel.includes('\\')) return null;
  const parts = rel.split('/');
  if (parts.some((p) => p === '..' || (p.startsWith('.') && p !== ''))) return null;
  const abs = path.resolve(root, rel);
  const rootAbs = path.resolve(root);
  if (abs !== rootAbs && !abs.startsWith(rootAbs + path.sep)) return null;
  return abs;
}

function send(res, status, text, extra = {}) {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff', ...extra });
  res.end(text);
}

export function createServer({ storageRoot, publicDir = path.join(HERE, 'public'), osdDir, log = false } = {}) {
  const roots = {
    public: publicDir,
    data: path.join(storageRoot, 'published'),
    osd: osdDir || path.join(HERE, 'node_modules', 'openseadragon', 'build', 'openseadragon'),
  };

  return http.createServer((req, res) => {
    if (log) res.on('finish', () => console.log(`${res.statusCode} ${req.method} ${req.url}`));
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'method not allowed\n', { Allow: 'GET, HEAD' });
      return;
    }
    let urlPath;
    try {
      urlPath = decodeURIComponent(new URL(req.url, 'http://localhost').pathname);
    } catch {
      send(res, 400, 'bad request\n');
      return;
    }
    const target = route(urlPath, roots);
    const file = target && safeJoin(target.root, target.rel);
    if (!file) {
      send(res, target ? 403 : 404, target ? 'forbidden\n' : 'not found\n');
      return;
    }
    serveFile(req, res, file, target.root);
  });
}

function serveFile(req, res, file, root) {
  // realpath: a symlink inside the root must not lead outside it.
  fs.realpath(file, (err, real) => {
    if (err) { send(res, 404, 'not found\n'); return; }
    fs.realpath(root, (err2, realRoot) => {
      if (err2 || !(real === realRoot || real.startsWith(realRoot + path.sep))) {
        send(res, 403, 'forbidden\n');
        return;
      }
      fs.stat(real, (err3, st) => {
        if (err3 || !st.isFile()) { send(res, 404, 'not found\n'); return; }
        const ext = path.extname(real).toLowerCase();
        const headers = {
          'Content-Type': CONTENT_TYPES[ext] || 'application/octet-stream',
          'X-Content-Type-Options': 'nosniff',
          'Last-Modified': st.mtime.toUTCString(),
          // Revalidate everything: current.json and index.json change in place, and
          // If-Modified-Since makes revalidating the immutable tiles cheap (304).
          'Cache-Control': 'no-cache',
          Vary: 'Accept-Encoding',
        };
        if (ext === '.html') headers['Content-Security-Policy'] = CSP;
        const since = Date.parse(req.headers['if-modified-since'] || '');
        if (!Number.isNaN(since) && Math.floor(st.mtimeMs / 1000) * 1000 <= since) {
          res.writeHead(304, headers);
          res.end();
          return;
        }
        const gzip = COMPRESSIBLE.has(ext) && st.size > 1024 && /\bgzip\b/.test(req.headers['accept-encoding'] || '');
        if (gzip) headers['Content-Encoding'] = 'gzip';
        else headers['Content-Length'] = st.size;
        res.writeHead(200, headers);
        if (req.method === 'HEAD') { res.end(); return; }
        const stream = fs.createReadStream(real);
        const done = (e) => { if (e) res.destroy(); };
        if (gzip) pipeline(stream, zlib.createGzip({ level: 6 }), res, done);
        else pipeline(stream, res, done);
      });
    });
  });
}

function main() {
  const port = Number(process.env.CVIZ_VIEWER_PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`CVIZ_VIEWER_PORT must be a port number, got ${process.env.CVIZ_VIEWER_PORT}`);
    process.exit(2);
  }
  const storageRoot = process.env.CVIZ_STORAGE_ROOT
    ? path.resolve(process.env.CVIZ_STORAGE_ROOT)
    : path.resolve(HERE, '..', 'cviz_data');
  const server = createServer({ storageRoot, log: process.env.CVIZ_VIEWER_LOG === '1' });
  server.listen(port, HOST, () => {
    const { port: actual } = server.address();
    // Tests read this line to learn the port when CVIZ_VIEWER_PORT=0.
    console.log(`cviz viewer: http://${HOST}:${actual}/  (data: ${path.join(storageRoot, 'published')})`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
