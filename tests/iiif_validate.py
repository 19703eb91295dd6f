"""Validating a IIIF Presentation 3 manifest made by the viewer's exporter (viewer/public/src/lib/export.js).

Two independent checks: the ``iiif-prezi3`` models (the IIIF community's Presentation 3 implementation;
installed with ``--no-deps`` by the Makefile because it pins Pillow<=12.0.0, which it uses only to read
image sizes from files), and the MUSTs of the Presentation 3.0 specification that those models leave
to the author, written out here from the text (sections 3 and 4).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.conftest import REPO, missing_prerequisite

EXPORTER = REPO / "viewer" / "public" / "src" / "lib"


def export_manifest(items_json: Path, indices: list[int], manifest_id: str, items_url: str) -> dict[str, Any]:
    """Run the exporter in node on a published items.json; the manifest it returns."""
    node = shutil.which("node")
    if node is None:
        missing_prerequisite("node is not installed")
    script = (f"import {{ decodeItems }} from {json.dumps((EXPORTER / 'items.js').as_uri())};"
              f"import {{ exportIiif }} from {json.dumps((EXPORTER / 'export.js').as_uri())};"
              "import { readFileSync } from 'node:fs';"
              f"const items = decodeItems(JSON.parse(readFileSync({json.dumps(str(items_json))}, 'utf8')));"
              f"process.stdout.write(exportIiif(items, {json.dumps(indices)}, "
              f"{{ id: {json.dumps(manifest_id)}, itemsUrl: {json.dumps(items_url)} }}));")
    out = subprocess.run([node, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def _http(url: Any) -> bool:
    return isinstance(url, str) and urlsplit(url).scheme in ("http", "https") and bool(urlsplit(url).netloc)


def _language_map(value: Any) -> bool:
    return isinstance(value, dict) and value and all(isinstance(v, list) and all(isinstance(t, str) for t in v)
                                                     for v in value.values())


def spec_problems(m: dict[str, Any]) -> list[str]:
    """What the manifest gets wrong against the Presentation 3.0 MUSTs for manifests of image canvases."""
    p = []
    if m.get("@context") != "http://iiif.io/api/presentation/3/context.json":
        p.append("@context")
    if m.get("type") != "Manifest" or not _http(m.get("id")) or not _language_map(m.get("label")):
        p.append("manifest id/type/label")
    if not m.get("items"):
        p.append("a manifest must have at least one canvas")
    ids = [m.get("id")]
    for c in m.get("items", []):
        ids += [c.get("id")]
        if c.get("type") != "Canvas" or not _http(c.get("id")) or not _language_map(c.get("label")):
            p.append(f"canvas {c.get('id')}: id/type/label")
        if not (isinstance(c.get("width"), int) and isinstance(c.get("height"), int) and c["width"] > 0 and c["height"] > 0):
            p.append(f"canvas {c.get('id')}: width and height must be positive integers")
        for page in c.get("items", []):
            ids += [page.get("id")]
            if page.get("type") != "AnnotationPage":
                p.append(f"{page.get('id')}: type")
            for a in page.get("items", []):
                ids += [a.get("id")]
                body = a.get("body", {})
                if a.get("type") != "Annotation" or a.get("motivation") != "painting" or a.get("target") != c.get("id"):
                    p.append(f"{a.get('id')}: a painting annotation must target its canvas")
                if body.get("type") != "Image" or not _http(body.get("id")) or not body.get("format", "").startswith("image/"):
                    p.append(f"{a.get('id')}: body")
                for s in body.get("service", []):
                    if not (_http(s.get("id")) and s.get("type") == "ImageService3") and \
                            not (_http(s.get("@id")) and s.get("@type") == "ImageService2"):
                        p.append(f"{a.get('id')}: service {s}")
        for pair in c.get("metadata", []):
            if not (_language_map(pair.get("label")) and _language_map(pair.get("value"))):
                p.append(f"canvas {c.get('id')}: metadata pair {pair}")
        for h in c.get("homepage", []):
            if not (_http(h.get("id")) and h.get("type") == "Text" and _language_map(h.get("label"))):
                p.append(f"canvas {c.get('id')}: homepage {h}")
    if len(ids) != len(set(ids)):
        p.append("ids must be unique")
    return p


def prezi3_round_trip(m: dict[str, Any]) -> dict[str, Any]:
    """The manifest read into iiif-prezi3's Manifest model (pydantic validation) and written back."""
    import iiif_prezi3

    return json.loads(iiif_prezi3.Manifest(**m).json())
