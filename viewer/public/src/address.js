// The view in the address: the hash names the layout, the open item, the search, the filters,
// the region, the selection (its items, coded) and the selection mode (lib/url.js viewHash/
// parseViewHash). A filter change writes a new history entry (a Back step); opening items and
// the mode replace the current one. Back, Forward and an edited address hand the view they
// name to `onNavigate`.
import { parseViewHash, viewHash } from './lib/url.js';

export class Address {
  /**
   * @param {object} o
   * @param {() => object} o.current the view now: viewHash's {layout, item, query, ..., mode}
   * @param {(view:object, stale:() => boolean) => Promise} o.onNavigate show an address's view;
   *   `stale()` turns true once a newer address arrived meanwhile
   */
  constructor({ current, onNavigate }) {
    this.current = current;
    this.onNavigate = onNavigate;
    this.lastHash = null; // null until the page first rendered the address it opened with
  }

  /** The view the page opened with (before any render). */
  initial() {
    return parseViewHash(window.location.hash);
  }

  /** Write the view into the address: push (a Back step) for filter changes, replace otherwise. */
  write({ push = false } = {}) {
    const hash = viewHash(this.current());
    if (hash === this.lastHash) return;
    const url = window.location.pathname + window.location.search + hash;
    if (push) history.pushState(null, '', url); else history.replaceState(null, '', url);
    this.lastHash = hash;
  }

  /** Write the view after a change, but not before the first render (which keeps the address as given). */
  update({ push = false } = {}) {
    if (this.lastHash !== null) this.write({ push });
  }

  /** After a render: the first one keeps the address as given. */
  settle() {
    if (this.lastHash === null) this.lastHash = window.location.hash;
  }

  /** Back/Forward (and an edited address) restore the view they name. */
  listen() {
    window.addEventListener('popstate', () => this.follow());
    window.addEventListener('hashchange', () => this.follow());
  }

  async follow() {
    if (window.location.hash === this.lastHash || (window.location.hash === '' && this.lastHash === '')) return;
    this.lastHash = window.location.hash;
    await this.onNavigate(parseViewHash(window.location.hash), () => window.location.hash !== this.lastHash);
  }
}
