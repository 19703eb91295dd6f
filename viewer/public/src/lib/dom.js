// The only way this app puts data into the page: text nodes and properties,
// never HTML strings. `el('a', {className: 'x'}, title)` is safe whatever
// `title` holds, because strings become text nodes.

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'dataset') Object.assign(node.dataset, value);
    else node[key] = value;
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function $(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`missing #${id}`);
  return node;
}

export async function fetchJson(url, { fresh = false } = {}) {
  // `fresh` for pointers that change in place (index.json, current.json); the
  // versioned files behind them never change, so the HTTP cache may keep them.
  const res = await fetch(url, fresh ? { cache: 'no-cache' } : {});
  if (!res.ok) {
    const err = new Error(`${res.status} ${res.statusText} for ${url}`);
    err.status = res.status;
    throw err;
  }
  return res.json();
}

export function showStatus(text, { error = false } = {}) {
  const node = $('status');
  node.textContent = text;
  node.classList.toggle('error', error);
  node.hidden = !text;
}
