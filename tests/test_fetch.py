"""The fetcher and its cache against a real HTTP server on 127.0.0.1 (tests/iiif_server.py): slow, busy,
missing, redirecting and endless hosts; conditional requests; the per-host connection bound."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from cviz.ingest.fetch import Fetcher, FetchError, FetchLimits, retry_after_seconds, shown
from cviz.ingest.remote_cache import RemoteCache
from cviz.paths import remote_file, remote_key, remote_record
from cviz.storage import open_storage
from tests.iiif_server import IIIFServer, iiif_server  # noqa: F401 - the module's server fixture

QUICK = FetchLimits(per_host=4, timeout_s=1.0, max_bytes=1 << 20, retries=2, backoff_s=0.05, max_wait_s=5.0)


def test_a_second_fetch_is_conditional_and_transfers_nothing(iiif_server: IIIFServer) -> None:
    url = f"{iiif_server.url}/iiif/img00/info.json"
    with Fetcher(QUICK) as f:
        first = f.get(url)
        again = f.get(url, etag=first.etag, last_modified=first.last_modified)
    assert first.status == 200 and first.etag and first.last_modified and b'"level0"' in first.body
    assert again.not_modified and again.body is None
    assert f.counts.as_dict() == {"requests": 2, "conditional": 1, "not_modified": 1, "retries": 0,
                                  "bytes": len(first.body)}


def test_a_slow_host_times_out_per_request_and_is_retried_a_bounded_number_of_times(iiif_server: IIIFServer) -> None:
    limits = FetchLimits(timeout_s=0.5, retries=1, backoff_s=0.05)
    started = time.monotonic()
    with Fetcher(limits) as f, pytest.raises(FetchError, match=r"timed out after 0.5 s \(after 2 attempts\)"):
        f.get(f"{iiif_server.url}/slow/3/iiif/img00/info.json")
    assert time.monotonic() - started < 2.5
    assert f.counts.requests == 2 and f.counts.retries == 1


def test_429_is_retried_after_the_wait_the_host_asks_for(iiif_server: IIIFServer) -> None:
    started = time.monotonic()
    with Fetcher(QUICK) as f:
        got = f.get(f"{iiif_server.url}/busy/retry-after-test/iiif/img00/info.json")
    waited = time.monotonic() - started
    assert got.status == 200
    assert waited >= 0.95, f"Retry-After: 1 was not honoured (waited {waited:.2f} s; backoff alone is 0.05 s)"
    assert f.counts.retries == 1 and f.counts.requests == 2


def test_a_host_asking_for_a_longer_wait_than_allowed_fails_at_once(iiif_server: IIIFServer) -> None:
    started = time.monotonic()
    with Fetcher(QUICK) as f, pytest.raises(FetchError, match=r"HTTP 429: the host asks to wait 3600 s, over the 5 s"):
        f.get(f"{iiif_server.url}/wait/3600")
    assert time.monotonic() - started < 1 and f.counts.requests == 1


def test_5xx_is_retried_then_reported_and_404_is_not_retried(iiif_server: IIIFServer) -> None:
    with Fetcher(QUICK) as f:
        with pytest.raises(FetchError, match=r"HTTP 503 \(after 3 attempts\)"):
            f.get(f"{iiif_server.url}/error/503")
        assert f.counts.requests == 3
        with pytest.raises(FetchError, match=r"^HTTP 404$"):
            f.get(f"{iiif_server.url}/error/404")
        assert f.counts.requests == 4


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x.jpg", "data:image/png;base64,AAAA", "http:///x"])
def test_only_http_urls_are_fetched(url: str) -> None:
    with Fetcher(QUICK) as f, pytest.raises(FetchError, match="not an http|no host"):
        f.get(url)
    assert f.counts.requests == 0


def test_redirects_to_file_urls_and_endless_redirects_are_refused(iiif_server: IIIFServer) -> None:
    iiif_server.take_log()
    with Fetcher(QUICK) as f:
        with pytest.raises(FetchError, match=r"redirect to 'file:///etc/passwd' refused"):
            f.get(f"{iiif_server.url}/to-file")
        with pytest.raises(FetchError, match=r"more than 5 redirects"):
            f.get(f"{iiif_server.url}/loop")
    assert [p for p, _, _ in iiif_server.take_log()] == ["/to-file"] + ["/loop"] * 6


def test_an_endless_body_is_cut_off_at_the_size_cap(iiif_server: IIIFServer) -> None:
    started = time.monotonic()
    with Fetcher(FetchLimits(max_bytes=256 << 10, retries=0)) as f, pytest.raises(FetchError, match=r"over the 262,144 bytes limit \(cut off\)"):
        f.get(f"{iiif_server.url}/endless")
    assert time.monotonic() - started < 5
    assert f.counts.bytes < (256 << 10) + (1 << 20)  # read at most one chunk past the cap


def test_at_most_per_host_connections_are_open_at_once(iiif_server: IIIFServer) -> None:
    deadline = time.monotonic() + 10
    while iiif_server.active and time.monotonic() < deadline:  # answers to clients that gave up (the slow host)
        time.sleep(0.05)
    iiif_server.most_active = 0
    with Fetcher(FetchLimits(per_host=2, timeout_s=5)) as f, ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: f.get(f"{iiif_server.url}/slow/0.3/iiif/img{i:02d}/info.json"), range(8)))
    assert iiif_server.most_active == 2, f"{iiif_server.most_active} requests at once (per_host=2)"


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480 - 30) == 30.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
    assert shown("https://user:secret@example.org:8443/a?b=1") == "https://example.org:8443/a?b=1"


def test_the_cache_stores_by_url_and_revalidates(iiif_server: IIIFServer, tmp_path) -> None:
    store = open_storage(str(tmp_path))
    url = f"{iiif_server.url}/iiif/img02/full/128,{_height(iiif_server, 'img02')}/0/default.jpg"
    with Fetcher(QUICK) as f:
        cache = RemoteCache(store, f)
        first = cache.get(url, describe=lambda body: {"length": len(body)})
        second = cache.get(url, load=True)
        record = store.read_json(remote_record(remote_key(url)))
        forced = RemoteCache(store, f, refetch=True).get(url)
    key = remote_key(url)
    assert first.fresh and not second.fresh and forced.fresh
    assert store.read_bytes(remote_file(key)) == first.data == second.data
    assert record["url"] == url and record["etag"] and record["described"] == {"length": len(first.data)}
    assert f.counts.conditional == 1 and f.counts.not_modified == 1


def _height(server: IIIFServer, image_id: str) -> int:
    import json

    info = json.loads((server.root / image_id / "info.json").read_text())
    return min(s["height"] for s in info["sizes"])

