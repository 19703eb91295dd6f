"""Fetched URLs kept under the storage root, by URL, with their validators (``cache/remote/``).

Each URL's body is stored once at ``cache/remote/<k[:2]>/<k>.bin`` (``k`` the SHA-256 of the URL,
cviz.paths.remote_key) and described by ``<k>.json``: the URL, its ETag and Last-Modified, the
body's SHA-256 and size, and whatever the caller learnt from the body (an image's dimensions and
format). A later fetch of the same URL is conditional (``If-None-Match`` / ``If-Modified-Since``):
a 304 answer reuses body and description without a byte transferred or decoded, so a rescan of an
unchanged collection fetches nothing (RFC 9110, sections 8.8 and 13). When the host fails
transiently (timeouts, 5xx and 429 after the retries, a refused connection), a URL already cached is
served from the cache, marked stale (RFC 5861's ``stale-if-error``): a flaky museum server never
makes a rescan drop items it had; an answer about the URL itself (404, 410, a bad redirect) does.

The body is written before its record: a run killed between the two leaves the old record, whose
validators no longer match the new body, and the next run fetches again. Keyed by URL, the cache is
shared by every collection of the storage root that names the same URL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cviz.ingest.fetch import Fetcher, FetchError, shown
from cviz.paths import remote_body, remote_file, remote_key, remote_record
from cviz.storage import Storage

RECORD_FORMAT = "cviz-remote/1"


@dataclass
class Cached:
    """One URL as the cache holds it after :meth:`RemoteCache.get`."""

    url: str
    key: str
    record: dict[str, Any]
    data: bytes | None  # the body, when fetched now or loaded (a 304 without ``load`` leaves it unread)
    fresh: bool  # True: downloaded by this call; False: the server said 304 Not Modified (or was unreachable)
    stale: str | None = None  # why the stored copy is used unrevalidated: the host's transient failure

    @property
    def body_rel(self) -> str:
        """The body's path relative to cviz.paths.REMOTE_CACHE (the catalogue's ``file``)."""
        return remote_body(self.key)


class RemoteCache:
    """The cache of one storage root, fetching through one :class:`~cviz.ingest.fetch.Fetcher`."""

    def __init__(self, storage: Storage, fetcher: Fetcher, refetch: bool = False) -> None:
        self.storage = storage
        self.fetcher = fetcher
        self.refetch = refetch  # a forced run: every URL fetched unconditionally, nothing trusted

    def record(self, url: str) -> dict[str, Any] | None:
        """The stored record of ``url`` when it and its body are present and whole; else None."""
        key = remote_key(url)
        try:
            record = self.storage.read_json(remote_record(key))
        except (FileNotFoundError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT or record.get("url") != url:
            return None
        if not self.storage.exists(remote_file(key)):
            return None
        return record

    def get(self, url: str, max_bytes: int | None = None, load: bool = False,
            describe: Callable[[bytes], dict[str, Any]] | None = None) -> Cached:
        """``url`` fetched (conditionally when cached), stored, and described.

        ``describe(body)`` is stored as the record's ``described`` for a newly downloaded body (an image's verdict);
        ``load`` reads the stored body on a 304 too. FetchError when the URL cannot be read.
        """
        key = remote_key(url)
        record = None if self.refetch else self.record(url)
        try:
            fetched = self.fetcher.get(url, etag=(record or {}).get("etag"),
                                       last_modified=(record or {}).get("last_modified"), max_bytes=max_bytes)
        except FetchError as exc:
            if record is None or not exc.transient:
                raise
            # The host is down or overloaded, not saying the URL is gone: keep the copy we have
            # (RFC 5861's stale-if-error) rather than drop a known item from the map.
            data = self.storage.read_bytes(remote_file(key)) if load else None
            return Cached(url, key, record, data, fresh=False, stale=str(exc))
        if fetched.not_modified:
            if record is None:
                raise FetchError("HTTP 304 to a request without validators")
            data = self.storage.read_bytes(remote_file(key)) if load else None
            return Cached(url, key, record, data, fresh=False)
        body = fetched.body or b""
        new = {"format": RECORD_FORMAT, "url": url, "final_url": shown(fetched.url), "etag": fetched.etag,
               "last_modified": fetched.last_modified, "content_type": fetched.content_type,
               "sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}
        if describe is not None:
            new["described"] = describe(body)
        self.storage.write_bytes(remote_file(key), body)  # the body first: see the module docstring
        self.storage.write_json(remote_record(key), new)
        return Cached(url, key, new, body, fresh=True)
