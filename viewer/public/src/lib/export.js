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
