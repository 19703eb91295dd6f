"""A real HTTP server on 127.0.0.1 for the fetch and IIIF tests: a IIIF Image API level-0 static layout,
manifests, and the hosts a museum's network really has (slow, busy, missing, redirecting, endless).

Python's ``http.server`` in a daemon thread, one per test module. Paths:

- ``/iiif/<id>/info.json``, ``/iiif/<id>/full/<w>,<h>/0/default.jpg``: level-0 static images (files
  under ``root``, so a test can change one between runs); ETag and Last-Modified on everything
  static, ``If-None-Match`` / ``If-Modified-Since`` answered 304;
- ``/manifest/<name>.json``: documents put in ``server.documents``; ``/manifest/big.json``: 10,000 canvases;
  ``/manifest/bad.json``: malformed JSON;
- ``/slow/<s>/...``: waits ``s`` seconds before answering (then serves ``...``);
- ``/busy/<key>/...``: 429 with ``Retry-After: 1`` on the first request per key, then serves ``...``;
- ``/wait/<s>``: always 429 with ``Retry-After: <s>``; ``/error/<code>``: that status; ``/to-file``: a redirect to ``file:///etc/passwd``;
  ``/loop``: a redirect to itself; ``/endless``: a body that never ends.

``server.answer[prefix] = status`` makes every request under ``prefix`` fail with ``status``. Every
request is logged in ``server.log`` as (path, conditional, status).
"""

from __future__ import annotations

import email.utils
import hashlib
import http.server
import io
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

LEVEL0_SIDES = (128, 512)  # the sizes a static layout lists in info.json
SAMPLE_IMAGES = 30


class Handler(http.server.BaseHTTPRequestHandler):
    server: "IIIFServer"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
              conditional: bool = False) -> None:
        self.server.record(self.path, conditional, status)
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 304:
            self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        self.server.enter()
        try:
            self._get()
        finally:
            self.server.leave()

    def _get(self) -> None:
        path = self.path.split("?", 1)[0]
        conditional = bool(self.headers.get("If-None-Match") or self.headers.get("If-Modified-Since"))
        if path.startswith("/slow/"):
            _, _, seconds, rest = path.split("/", 3)
            time.sleep(float(seconds))
            path = "/" + rest
        elif path.startswith("/busy/"):
            _, _, key, rest = path.split("/", 3)
            if self.server.first_time(key):
                return self._send(429, b"slow down", {"Retry-After": "1"}, conditional)
            path = "/" + rest
        for prefix, status in list(self.server.answer.items()):  # a test makes part of the host fail
            if path.startswith(prefix):
                return self._send(status, b"failing on purpose", conditional=conditional)
        if path.startswith("/wait/"):  # always busy, asking for a long wait
            return self._send(429, b"come back later", {"Retry-After": path.rsplit("/", 1)[1]}, conditional)
        if path.startswith("/error/"):
            return self._send(int(path.rsplit("/", 1)[1]), b"error", conditional=conditional)
        if path == "/to-file":
            return self._send(302, b"", {"Location": "file:///etc/passwd"}, conditional)
        if path == "/loop":
            return self._send(302, b"", {"Location": "/loop"}, conditional)
        if path == "/endless":
            return self._endless()
        if path.startswith("/manifest/"):
            return self._document(path[len("/manifest/"):], conditional)
        if path.startswith("/iiif/"):
            return self._static(path[len("/iiif/"):], conditional)
        self._send(404, b"not found", conditional=conditional)

    def _endless(self) -> None:
        self.server.record(self.path, False, 200)
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Connection", "close")
        self.end_headers()
        chunk = b"\xff" * 65536
        try:
            for _ in range(100_000):  # 6.5 GB at most: the client must stop long before
                self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def _document(self, name: str, conditional: bool) -> None:
        if name == "bad.json":
            return self._send(200, b'{"type": "Manifest", "items": [', {"Content-Type": "application/json"}, conditional)
        doc = self.server.documents.get(name.removesuffix(".json"))
        if doc is None:
            return self._send(404, b"no such manifest", conditional=conditional)
        body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        self._validated(body, "application/ld+json", conditional)

    def _static(self, rel: str, conditional: bool) -> None:
        path = (self.server.root / rel).resolve()
        if not str(path).startswith(str(self.server.root.resolve())) or not path.is_file():
            return self._send(404, b"no such file", conditional=conditional)
        kind = "application/json" if path.suffix == ".json" else "image/jpeg"
        self._validated(path.read_bytes(), kind, conditional, mtime=path.stat().st_mtime)

    def _validated(self, body: bytes, kind: str, conditional: bool, mtime: float | None = None) -> None:
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        # Open to every origin, as IIIF image servers are: a browser viewer (OpenSeadragon) reads
        # info.json with fetch and draws the images on a canvas.
        headers = {"Content-Type": kind, "ETag": etag, "Access-Control-Allow-Origin": "*"}
        if mtime is not None:
            headers["Last-Modified"] = email.utils.formatdate(mtime, usegmt=True)
        if self.headers.get("If-None-Match") == etag:
            return self._send(304, b"", headers, conditional)
        self._send(200, body, headers, conditional)


class IIIFServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.root = root
        self.documents: dict[str, Any] = {}
        self.titles: dict[str, str] = {}
        self.answer: dict[str, int] = {}  # path prefix -> the status every request under it gets
        self.log: list[tuple[str, bool, int]] = []
        self._busy: set[str] = set()
        self._lock = threading.Lock()
        self.active = 0
        self.most_active = 0  # the most requests served at once (the per-host bound)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up (a cut-off endless body, a timeout) is what the tests provoke

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def record(self, path: str, conditional: bool, status: int) -> None:
        with self._lock:
            self.log.append((path, conditional, status))

    def enter(self) -> None:
        with self._lock:
            self.active += 1
            self.most_active = max(self.most_active, self.active)

    def leave(self) -> None:
        with self._lock:
            self.active -= 1

    def first_time(self, key: str) -> bool:
        with self._lock:
            if key in self._busy:
                return False
            self._busy.add(key)
            return True

    def take_log(self) -> list[tuple[str, bool, int]]:
        with self._lock:
            out, self.log = self.log, []
        return out

    def __enter__(self) -> "IIIFServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(5)


def jpeg(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue()


def add_level0_image(root: Path, image_id: str, img: Image.Image, base_url: str, version: int = 3) -> str:
    """Write ``img`` as a level-0 static IIIF image (info.json and the listed sizes); returns its service id."""
    folder = root / image_id
    service = f"{base_url}/iiif/{image_id}"
    w, h = img.size
    sizes = []
    for side in LEVEL0_SIDES:
        scale = min(1.0, side / max(w, h))
        sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
        if {"width": sw, "height": sh} in sizes:
            continue
        sizes.append({"width": sw, "height": sh})
        size = f"{sw},{sh}" if version == 3 else f"{sw},"
        target = folder / "full" / size / "0" / "default.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(jpeg(img.resize((sw, sh))))
    if version == 3:
        info = {"@context": "http://iiif.io/api/image/3/context.json", "id": service, "type": "ImageService3",
                "protocol": "http://iiif.io/api/image", "profile": "level0", "width": w, "height": h, "sizes": sizes}
    else:
        info = {"@context": "http://iiif.io/api/image/2/context.json", "@id": service,
                "protocol": "http://iiif.io/api/image", "profile": ["http://iiif.io/api/image/2/level0.json"],
                "width": w, "height": h, "sizes": sizes}
    (folder / "info.json").write_text(json.dumps(info))
    return service


def manifest_v3(url: str, items: list[dict[str, Any]], label: str = "A test manifest") -> dict[str, Any]:
    """A Presentation 3 manifest with one canvas per ``items`` entry ({"service", "width", "height", "label", "metadata"})."""
    canvases = []
    for i, it in enumerate(items):
        cid = f"{url}/canvas/{i}"
        body = {"id": f"{it['service']}/full/max/0/default.jpg", "type": "Image", "format": "image/jpeg",
                "width": it["width"], "height": it["height"],
                "service": [{"id": it["service"], "type": "ImageService3", "profile": "level0"}]}
        canvas = {"id": cid, "type": "Canvas", "width": it["width"], "height": it["height"],
                  "label": {"en": [it["label"]]},
                  "items": [{"id": f"{cid}/page", "type": "AnnotationPage", "items": [
                      {"id": f"{cid}/anno", "type": "Annotation", "motivation": "painting", "body": body, "target": cid}]}]}
        if it.get("metadata"):
            canvas["metadata"] = [{"label": {"en": [k]}, "value": {"none": [v]}} for k, v in it["metadata"].items()]
        if it.get("homepage"):
            canvas["homepage"] = [{"id": it["homepage"], "type": "Text", "label": {"en": ["record"]}, "format": "text/html"}]
        canvases.append(canvas)
    return {"@context": "http://iiif.io/api/presentation/3/context.json", "id": url, "type": "Manifest",
            "label": {"en": [label]}, "items": canvases}


def big_manifest(url: str, service: str, n: int = 10_000) -> dict[str, Any]:
    item = {"service": service, "width": 100, "height": 100, "label": "same"}
    doc = manifest_v3(url, [item])
    canvas = doc["items"][0]
    doc["items"] = [{**canvas, "id": f"{url}/canvas/{i}"} for i in range(n)]
    return doc


def image_ids(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if (p / "info.json").exists())



@pytest.fixture(scope="module")
def iiif_server(tmp_path_factory: pytest.TempPathFactory, met_sample_dir: Path) -> Iterator[IIIFServer]:
    """One server per test module, with ``SAMPLE_IMAGES`` level-0 images (``img00``...) made from the
    met-sample collection's images, 3.0 info.json for even ones and 2.1 for odd ones."""
    root = tmp_path_factory.mktemp("iiif-static")
    sources = sorted((met_sample_dir / "images").iterdir())[:SAMPLE_IMAGES]
    with IIIFServer(root) as server:
        for i, src in enumerate(sources):
            with Image.open(src) as img:
                add_level0_image(root, f"img{i:02d}", img.convert("RGB"), server.url, version=3 if i % 2 == 0 else 2)
        server.titles = {f"img{i:02d}": src.stem for i, src in enumerate(sources)}
        yield server


def demo(out: Path, port: int = 0, count: int = SAMPLE_IMAGES) -> tuple[IIIFServer, Path]:
    """The example of docs/iiif.md: ``count`` met-sample images as level-0 IIIF images, a manifest of
    them at ``/manifest/sample.json`` and ``objects.csv`` (column ``iiif``: each image's Image API URL)
    in ``out``. Returns the (not yet started) server and the CSV's path."""
    import csv

    from cviz.ingest.sample import write_met_sample

    write_met_sample(out / "met-sample")
    (out / "static").mkdir(parents=True, exist_ok=True)
    server = IIIFServer(out / "static", port)
    with open(out / "met-sample" / "metadata.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[:count]
    columns = ["iiif", *[k for k in rows[0] if k != "filename"]]
    entries = []
    for i, row in enumerate(rows):
        with Image.open(out / "met-sample" / "images" / row["filename"]) as img:
            img = img.convert("RGB")
            service = add_level0_image(server.root, f"obj{i:03d}", img, server.url)
        entries.append({"service": service, "width": img.width, "height": img.height, "label": row.get("title", ""),
                        "metadata": {k: v for k, v in row.items() if k not in ("filename", "title") and v}})
        row["iiif"] = f"{service}/full/max/0/default.jpg"
    server.documents["sample"] = manifest_v3(f"{server.url}/manifest/sample.json", entries, label="met-sample via IIIF")
    csv_path = out / "objects.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return server, csv_path


if __name__ == "__main__":  # python -m tests.iiif_server OUT [PORT]: the docs/iiif.md example server
    import sys

    folder, port = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 8765
    srv, objects = demo(folder, port)
    print(f"serving {srv.url}/manifest/sample.json and the images of {objects} (Ctrl-C stops)", flush=True)
    with srv:
        try:
            srv.thread.join()
        except KeyboardInterrupt:
            pass
