// A selection (which items are picked) as a short address-safe string, so a shared link
// restores it. The picked indices, sorted, are runs of consecutive items; each run is two
// unsigned LEB128 varints, the gap since the previous run's end and the run's length, and the
// bytes are base64url (RFC 4648 section 5) without padding. A rectangle or lasso on the
// similarity map picks neighbouring cells, whose items are mostly runs, so 500 picked items
// usually take tens of characters, and at worst (every other item) about 3 per item.

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const B64_INDEX = new Map([...B64].map((c, k) => [c, k]));

function pushVarint(out, n) {
  let v = n;
  while (v >= 0x80) { out.push((v % 0x80) | 0x80); v = Math.floor(v / 0x80); }
  out.push(v);
}

function toBase64Url(bytes) {
  let s = '';
  for (let k = 0; k < bytes.length; k += 3) {
    const n = (bytes[k] << 16) | ((bytes[k + 1] ?? 0) << 8) | (bytes[k + 2] ?? 0);
    const chars = Math.min(4, Math.ceil(((bytes.length - k) * 8) / 6));
    for (let c = 0; c < chars; c++) s += B64[(n >> (18 - 6 * c)) & 63];
  }
  return s;
}

/** Bytes of a base64url string, or null when it holds anything else. */
function fromBase64Url(s) {
  const out = [];
  for (let k = 0; k < s.length; k += 4) {
    const chunk = s.slice(k, k + 4);
    if (chunk.length === 1) return null;
    let n = 0;
    for (let c = 0; c < 4; c++) {
      const v = c < chunk.length ? B64_INDEX.get(chunk[c]) : 0;
      if (v === undefined) return null;
      n = (n << 6) | v;
    }
    const bytes = chunk.length - 1; // 2 chars: 1 byte, 3: 2, 4: 3
    for (let b = 0; b < bytes; b++) out.push((n >> (16 - 8 * b)) & 255);
  }
  return out;
}

/** The code of a selection: `flags[i]` truthy for picked items (a Uint8Array over all items). */
export function encodeSelection(flags) {
  const bytes = [];
  let end = 0; // one past the previous run
  for (let i = 0; i < flags.length; i++) {
    if (!flags[i]) continue;
    let j = i;
    while (j + 1 < flags.length && flags[j + 1]) j++;
    pushVarint(bytes, i - end);
    pushVarint(bytes, j - i + 1);
    end = j + 1;
    i = j;
  }
  return toBase64Url(bytes);
}

/**
 * The flags (Uint8Array of `count`) a code names, or null for a malformed code or one that
 * picks an item at or past `count` (an address made for another collection or version).
 */
export function decodeSelection(code, count) {
  if (typeof code !== 'string' || code.length > 4 * count + 8) return null;
  const bytes = fromBase64Url(code);
  if (!bytes) return null;
  const flags = new Uint8Array(count);
  const values = [];
  let v = 0; let scale = 1;
  for (const b of bytes) {
    v += (b & 0x7f) * scale;
    if (b & 0x80) { scale *= 0x80; if (scale > 2 ** 35) return null; continue; }
    values.push(v); v = 0; scale = 1;
  }
  if (scale !== 1 || values.length % 2) return null;
  let at = 0;
  for (let k = 0; k < values.length; k += 2) {
    const start = at + values[k];
    const len = values[k + 1];
    if (len < 1 || start + len > count) return null;
    flags.fill(1, start, start + len);
    at = start + len;
  }
  return flags;
}
