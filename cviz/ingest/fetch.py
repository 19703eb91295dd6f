"""Polite, bounded HTTP(S) GETs: the one way cviz reads a URL (image URLs, IIIF manifests, info.json).

What a museum's image server is owed, and what cviz must survive:

* a bounded number of open connections per host (``$CVIZ_FETCH_PER_HOST``), whatever the number of
  worker threads;
* retries with exponential backoff and jitter on 429, 5xx, timeouts and dropped connections
  (``$CVIZ_FETCH_RETRIES``, ``$CVIZ_FETCH_BACKOFF_S``), waiting what a ``Retry-After`` header asks
  (seconds or an HTTP date) when it asks for at most ``$CVIZ_FETCH_MAX_WAIT_S``; a host asking for
  longer fails the row instead of stalling the build. Retries are tenacity's (httpx's transport
  retries cover failed connects only, not status codes or ``Retry-After``);
* a wall-clock limit per request, headers and body together (``$CVIZ_FETCH_TIMEOUT_S``): httpx's own
  timeouts are per read, so a host trickling a byte a second would otherwise never time out;
* a size cap per response, read streaming and cut off past it (``$CVIZ_FETCH_MAX_BYTES``): an
  endless body costs at most the cap;
* redirects followed here, at most ``MAX_REDIRECTS``, each target checked: only ``http``/``https``
  (never ``file:``, ``ftp:``, ``data:``);
* conditional requests (``If-None-Match``, ``If-Modified-Since``) so a rescan of an unchanged image
  transfers nothing (RFC 9110, section 13).

Every failure is a :class:`FetchError` whose text names the URL's problem (``HTTP 404``,
``over the 50 MiB limit``); callers report it per row and go on.
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
import tenacity

from cviz.settings import settings

MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)
USER_AGENT = "cviz (collection similarity maps; https://github.com/) httpx"


class FetchError(Exception):
    """A URL that could not be read (after retries where retrying made sense); the text says why.
    ``transient``: the host was unreachable, slow or overloaded (not an answer about the URL itself)."""

    def __init__(self, reason: str, transient: bool = False) -> None:
        super().__init__(reason)
        self.transient = transient


class _Transient(Exception):
    """A failure worth retrying; ``retry_after`` is the wait the server asked for, in seconds."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


@dataclass(frozen=True)
class FetchLimits:
    """The politeness and robustness limits of one :class:`Fetcher` (defaults from cviz.settings)."""

    per_host: int = 4
    timeout_s: float = 30.0
    max_bytes: int = 50 << 20
    retries: int = 4
    backoff_s: float = 0.5
    max_wait_s: float = 60.0
    max_redirects: int = MAX_REDIRECTS

    @classmethod
    def from_settings(cls) -> "FetchLimits":
        s = settings()
        return cls(per_host=max(1, s.fetch_per_host), timeout_s=s.fetch_timeout_s, max_bytes=s.fetch_max_bytes,
                   retries=max(0, s.fetch_retries), backoff_s=s.fetch_backoff_s, max_wait_s=s.fetch_max_wait_s)


@dataclass
class Fetched:
    """One answer: ``body`` is None when the server said 304 Not Modified."""

    url: str  # after redirects
    status: int
    body: bytes | None
    etag: str | None = None
    last_modified: str | None = None
    content_type: str = ""

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass
class FetchCounts:
    """What a fetcher sent and got, for the ``images`` asset's metadata (thread-safe)."""

    requests: int = 0  # HTTP requests sent, retries and redirect hops included
    conditional: int = 0  # of which carried If-None-Match / If-Modified-Since
    not_modified: int = 0  # answered 304
    retries: int = 0
    bytes: int = 0  # body bytes received
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **kw: int) -> None:
        with self._lock:
            for k, v in kw.items():
                setattr(self, k, getattr(self, k) + v)

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in ("requests", "conditional", "not_modified", "retries", "bytes")}


def shown(url: str) -> str:
    """``url`` without any ``user:password@``, for reports and errors."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    return urlunsplit((parts.scheme, host + (f":{parts.port}" if parts.port else ""), parts.path, parts.query, ""))


def check_url(url: str) -> str:
    """``url`` if it is an absolute http(s) URL with a host, else FetchError saying why."""
    parts = urlsplit(str(url).strip())
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchError(f"not an http(s) URL ({parts.scheme or 'no scheme'}:)")
    if not parts.hostname:
        raise FetchError("URL has no host")
    return str(url).strip()


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """A ``Retry-After`` header in seconds: delta-seconds or an HTTP date (RFC 9110, 10.2.3); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class Fetcher:
    """A shared HTTP client with per-host connection slots; use as a context manager, from many threads."""

    def __init__(self, limits: FetchLimits | None = None, transport: httpx.BaseTransport | None = None) -> None:
        self.limits = limits or FetchLimits.from_settings()
        self.counts = FetchCounts()
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._slots_lock = threading.Lock()
        self._backoff = tenacity.wait_exponential_jitter(multiplier=self.limits.backoff_s, max=8.0,
                                                         jitter=self.limits.backoff_s)
        timeout = httpx.Timeout(self.limits.timeout_s)
        pool = httpx.Limits(max_connections=None, max_keepalive_connections=32)
        self.client = httpx.Client(timeout=timeout, limits=pool, follow_redirects=False, transport=transport,
                                   headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})

    def __enter__(self) -> "Fetcher":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    @contextmanager
    def _slot(self, url: str) -> Iterator[None]:
        """Hold one of the host's ``per_host`` connection slots for one request."""
        host = (urlsplit(url).hostname or "").lower() + f":{urlsplit(url).port or ''}"
        with self._slots_lock:
            slot = self._slots.setdefault(host, threading.BoundedSemaphore(self.limits.per_host))
        with slot:
            yield

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """The server's ``Retry-After`` when it gave one, else exponential backoff with jitter."""
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Transient) and exc.retry_after is not None:
            return exc.retry_after
        return self._backoff(state)

    def get(self, url: str, etag: str | None = None, last_modified: str | None = None,
            max_bytes: int | None = None) -> Fetched:
        """GET ``url`` (conditionally when a validator is given), retried and bounded as the module says."""
        url = check_url(url)
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Transient), stop=tenacity.stop_after_attempt(self.limits.retries + 1),
            wait=self._wait, before_sleep=lambda _: self.counts.add(retries=1), reraise=True)
        try:
            return retrying(self._follow, url, headers, max_bytes or self.limits.max_bytes)
        except _Transient as exc:
            tries = self.limits.retries + 1
            raise FetchError(f"{exc} (after {tries} attempt{'s' if tries > 1 else ''})", transient=True) from None

    def _follow(self, url: str, headers: dict[str, str], max_bytes: int) -> Fetched:
        """One attempt: the request and up to ``max_redirects`` hops, each target checked."""
        current = url
        for _ in range(self.limits.max_redirects + 1):
            answer = self._once(current, headers, max_bytes)
            if isinstance(answer, Fetched):
                return answer
            try:
                current = check_url(urljoin(current, answer))
            except FetchError as exc:
                raise FetchError(f"redirect to {shown(answer)!r} refused: {exc}") from None
        raise FetchError(f"more than {self.limits.max_redirects} redirects")

    def _once(self, url: str, headers: dict[str, str], max_bytes: int) -> Fetched | str:
        """One request: a Fetched, or the Location of a redirect."""
        deadline = time.monotonic() + self.limits.timeout_s
        self.counts.add(requests=1, conditional=int(bool(headers)))
        try:
            with self._slot(url), self.client.stream("GET", url, headers=headers) as r:
                if r.status_code in REDIRECTS:
                    location = r.headers.get("location")
                    if not location:
                        raise FetchError(f"HTTP {r.status_code} redirect without a Location")
                    return location
                if r.status_code == 304:
                    self.counts.add(not_modified=1)
                    return Fetched(str(r.url), 304, None, r.headers.get("etag"), r.headers.get("last-modified"))
                self._check_status(r)
                body = self._read_capped(r, max_bytes, deadline)
                return Fetched(str(r.url), r.status_code, body, r.headers.get("etag"), r.headers.get("last-modified"),
                               r.headers.get("content-type", ""))
        except httpx.TimeoutException:
            raise _Transient(f"timed out after {self.limits.timeout_s:g} s") from None
        except httpx.TransportError as exc:
            raise _Transient(f"connection failed: {type(exc).__name__}: {exc}") from None

    def _check_status(self, r: httpx.Response) -> None:
        code = r.status_code
        if code == 429 or code >= 500:
            wait = retry_after_seconds(r.headers.get("retry-after"))
            if wait is not None and wait > self.limits.max_wait_s:
                raise FetchError(f"HTTP {code}: the host asks to wait {wait:.0f} s, over the "
                                 f"{self.limits.max_wait_s:g} s allowed ($CVIZ_FETCH_MAX_WAIT_S)")
            raise _Transient(f"HTTP {code}", wait)
        if code >= 400 or code < 200:
            raise FetchError(f"HTTP {code}")

    def _read_capped(self, r: httpx.Response, max_bytes: int, deadline: float) -> bytes:
        """The body, streaming; FetchError past ``max_bytes``, _Transient past the request's deadline."""
        declared = r.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise FetchError(f"response of {int(declared):,} bytes is over the {_size(max_bytes)} limit")
        chunks: list[bytes] = []
        total = 0
        for chunk in r.iter_bytes():  # decoded: a compressed bomb is capped by what it inflates to
            total += len(chunk)
            self.counts.add(bytes=len(chunk))
            if total > max_bytes:
                raise FetchError(f"response is over the {_size(max_bytes)} limit (cut off)")
            if time.monotonic() > deadline:
                raise _Transient(f"body not complete after {self.limits.timeout_s:g} s")
            chunks.append(chunk)
        return b"".join(chunks)


def _size(n: int) -> str:
    return f"{n / 2**20:g} MiB" if n >= 2**20 else f"{n:,} bytes"

