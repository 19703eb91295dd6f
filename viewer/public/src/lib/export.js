// Taking a selection away: CSV and JSON of the chosen items, built from the
// parsed items (id, title, url, date and every column), never from the page.
//
// CSV cells that a spreadsheet would run as a formula (they start with = + - @,
// or a tab / carriage return that hides such a start) get a leading apostrophe,
// the OWASP "CSV injection" advice; then the usual RFC 4180 quoting.

import { asText, itemTitle } from './items.js';
import { columnValues } from './filter.js';

const FORMULA_START = /^[=+\-@\t\r]/;

/** One CSV cell: neutralised against formula injection, then quoted when needed. */
export function csvCell(value) {
  let s = asText(value);
  if (FORMULA_START.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Rows (arrays of values) -> CSV text with CRLF line ends (RFC 4180). */
export function toCsv(header, rows) {
  return [header, ...rows].map((r) => r.map(csvCell).join(',')).join('\r\n') + '\r\n';
}

/** Column names of an export: the format's own fields, then every other column once. */
export function exportColumns(items) {
  const own = ['id', 'title', 'url'];
  if (items.dateColumn) own.push(items.dateColumn);
  return [...own, ...items.columns.filter((c) => !own.includes(c))];
}

/** Records ({column: text}) of items `indices`, in that order. Keys are column names as data: a Map per row. */
export function exportRecords(items, indices) {
  const columns = exportColumns(items);
  const values = columns.map((c) => (c === 'title' ? null : columnValues(items, c)));
  return {
    columns,
    rows: indices.map((i) => columns.map((c, k) => (c === 'title' ? itemTitle(items, i) : asText(values[k] ? values[k][i] : '')))),
  };
}

export function exportCsv(items, indices) {
  const { columns, rows } = exportRecords(items, indices);
  return toCsv(columns, rows);
}

/** JSON: an array of objects; built with defineProperty-free Object.fromEntries, so `__proto__` stays a key. */
export function exportJson(items, indices) {
  const { columns, rows } = exportRecords(items, indices);
  return JSON.stringify(rows.map((r) => Object.fromEntries(columns.map((c, k) => [c, r[k]]))), null, 1);
}

// -- IIIF Presentation 3 ---------------------------------------------------------------
// A selection as a IIIF Presentation 3.0 manifest (https://iiif.io/api/presentation/3.0/):
// one Canvas per item, in the selection's order, whose painting annotation is the item's
// published image (and, for items that came from a IIIF source, that image's service, so a
// IIIF viewer can zoom into the museum's original); label = the item's title, metadata = its
// columns, homepage = its record link (http/https only), thumbnail = the published image.
//
// A canvas needs a width and height: the source canvas's (columns iiif_width / iiif_height,
// which cviz writes for IIIF collections), else options.imageSize(i) when the caller knows the
// image's natural size, else the grid cell's size (the published image keeps its aspect and a
// viewer letterboxes it, so a stated approximation).
//
// Text stays text: Presentation 3 treats a value that starts with "<" and ends with ">" as
// HTML; such values are escaped and wrapped in <span>, so a title "<img onerror=...>" is shown,
// not run.

const PRESENTATION_3 = 'http://iiif.io/api/presentation/3/context.json';
const OWN_IIIF = new Set(['id', 'title', 'url', 'iiif_width', 'iiif_height', 'iiif_service', 'iiif_service_type',
  'iiif_service_profile']);

function httpUrl(value) {
  const s = asText(value).trim();
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch {
    return null;
  }
}

/** A text value as Presentation 3 shows it: HTML-looking text escaped inside <span>. */
export function iiifText(value) {
  const s = asText(value);
  if (!/^\s*</.test(s) || !/>\s*$/.test(s)) return s;
  const escaped = s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  return `<span>${escaped}</span>`;
}

function languageMap(value) {
  return { none: [iiifText(value)] };
}

function positiveInt(value) {
  const n = Number.parseInt(asText(value), 10);
  return Number.isInteger(n) && n > 0 && String(n) === asText(value).trim() ? n : null;
}

function canvasSize(items, i, imageSize) {
  const w = positiveInt(columnValues(items, 'iiif_width')?.[i]);
  const h = positiveInt(columnValues(items, 'iiif_height')?.[i]);
  if (w && h) return { width: w, height: h };
  const given = imageSize ? imageSize(i) : null;
  if (given && positiveInt(given.width) && positiveInt(given.height)) {
    return { width: positiveInt(given.width), height: positiveInt(given.height) };
  }
  return { width: items.grid.cellWidth, height: items.grid.cellHeight };
}

function imageService(items, i) {
  const id = httpUrl(columnValues(items, 'iiif_service')?.[i]);
  if (!id) return null;
  const type = asText(columnValues(items, 'iiif_service_type')?.[i]) === 'ImageService2' ? 'ImageService2' : 'ImageService3';
  const level = /^level[0-2]$/.test(asText(columnValues(items, 'iiif_service_profile')?.[i]))
    ? asText(columnValues(items, 'iiif_service_profile')[i]) : 'level0';
  return type === 'ImageService2'
    ? { '@id': id, '@type': type, profile: `http://iiif.io/api/image/2/${level}.json` }
    : { id, type, profile: level };
}

function itemMetadata(items, i) {
  const out = [];
  for (const column of exportColumns(items)) {
    if (OWN_IIIF.has(column)) continue;
    const values = columnValues(items, column);
    const value = values ? asText(values[i]).trim() : '';
    if (value) out.push({ label: languageMap(column), value: languageMap(value) });
  }
  return out;
}

function canvasFor(items, i, k, manifestId, itemsUrl, imageSize) {
  const canvasId = `${manifestId}/canvas/${k}`;
  const { width, height } = canvasSize(items, i, imageSize);
  // An empty path would resolve to items.json itself: no image then.
  const path = items.fields.image ? asText(items.fields.image[i]).trim() : '';
  const image = path ? httpUrl(new URL(path, itemsUrl).href) : null;
  const service = imageService(items, i);
  const serviceId = service ? service.id || service['@id'] : null;
  if (!image && !serviceId) throw new Error(`item ${asText(items.fields.id[i])} has no image URL to paint`);
  const body = { id: image || `${serviceId}/full/max/0/default.jpg`, type: 'Image', format: 'image/jpeg' };
  if (service) body.service = [service];
  const canvas = {
    id: canvasId, type: 'Canvas', label: languageMap(itemTitle(items, i)), width, height,
    items: [{ id: `${canvasId}/page`, type: 'AnnotationPage', items: [
      { id: `${canvasId}/page/image`, type: 'Annotation', motivation: 'painting', body, target: canvasId }] }],
  };
  const metadata = itemMetadata(items, i);
  if (metadata.length) canvas.metadata = metadata;
  const homepage = items.fields.url ? httpUrl(items.fields.url[i]) : null;
  if (homepage) canvas.homepage = [{ id: homepage, type: 'Text', label: languageMap(itemTitle(items, i)), format: 'text/html' }];
  if (image) canvas.thumbnail = [{ id: image, type: 'Image', format: 'image/jpeg' }];
  return canvas;
}

/**
 * The selection (items `indices`, in that order) as a IIIF Presentation 3 manifest object.
 * @param {object} items decoded items.json (lib/items.js decodeItems)
 * @param {number[]} indices
 * @param {{id:string, itemsUrl:string, label?:string, imageSize?:(i:number)=>?{width:number,height:number}}} options
 *   id: the manifest's own absolute http(s) URL (where it will be served or saved);
 *   itemsUrl: the absolute URL items.json was loaded from (item image paths are relative to it).
 */
export function iiifManifest(items, indices, { id, itemsUrl, label, imageSize } = {}) {
  const manifestId = httpUrl(id);
  if (!manifestId) throw new Error('a IIIF manifest needs its own absolute http(s) URL as id');
  if (!httpUrl(itemsUrl)) throw new Error('itemsUrl must be the absolute http(s) URL of items.json');
  if (!indices.length) throw new Error('a IIIF manifest needs at least one canvas: select some items');
  const base = manifestId.replace(/\/+$/, '');
  return {
    '@context': PRESENTATION_3,
    id: manifestId,
    type: 'Manifest',
    label: languageMap(label || `${items.collection}: ${indices.length} selected item${indices.length === 1 ? '' : 's'}`),
    items: indices.map((i, k) => canvasFor(items, i, k, base, itemsUrl, imageSize)),
  };
}

/** The same manifest as JSON text (for a download). */
export function exportIiif(items, indices, options) {
  return JSON.stringify(iiifManifest(items, indices, options), null, 1);
}
