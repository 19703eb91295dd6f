"""Reading IIIF Presentation manifests and collections (3.0 and 2.1) into one item per canvas.

A careful reader of the JSON rather than the ``iiif-prezi3`` models: those are Presentation 3 only
(2.1 manifests are still most of what museums serve), validate strictly (one bad ``navDate`` would
lose a whole collection where cviz should skip that canvas and say so), and the package pins
``Pillow<=12.0.0``, which cviz's Pillow 12.3 cannot satisfy. What is read, per canvas:

* the image: the painting annotation's body (3.0: ``items[].items[].body``, a ``Choice``'s first
  item; 2.1: ``sequences[0].canvases[].images[].resource``) and its image service, if any;
* ``title``: the canvas's label, else its manifest's; ``iiif_manifest_label`` the manifest's;
* the ``metadata`` pairs of manifest and canvas (the canvas's win), label -> value, language maps
  flattened (``en`` first, then ``none``, then any), HTML left as text;
* ``url``: the canvas's ``homepage``, else the manifest's (2.1: ``related``), else the manifest's id.

Collections (3.0 ``items`` of type Collection/Manifest; 2.1 ``collections``, ``manifests``,
``members``) are followed ``max_depth`` levels down; at most ``max_canvases`` canvases are read in
all, and the note says how many more there were. A nested manifest that cannot be read is reported
and skipped; the top-level document must be readable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cviz.errors import CollectionError
from cviz.ingest.fetch import FetchError
from cviz.ingest.iiif_image import level, service_info, service_type

OWN_COLUMNS = ("title", "url", "iiif_manifest", "iiif_manifest_label", "iiif_canvas", "iiif_image", "iiif_service",
               "iiif_service_type", "iiif_service_profile", "iiif_width", "iiif_height")
LANGUAGES = ("en", "none", "@none")


@dataclass
class Canvas:
    """One canvas with an image: what becomes one item of the collection."""

    image: str  # the image URL of the painting annotation's body
    service: dict[str, Any] | None  # its image service (id, type, profile, maybe sizes)
    row: dict[str, str]  # title, url, iiif_* and the metadata pairs


@dataclass
class Reading:
    canvases: list[Canvas] = field(default_factory=list)
    problems: list[dict[str, str]] = field(default_factory=list)  # {"manifest"|"canvas", "reason"}
    notes: list[str] = field(default_factory=list)
    more: int = 0  # canvases beyond the cap, not read
    manifests: int = 0


def text(value: Any) -> str:
    """A label or value as plain text: a string, a 2.1 ``{"@value"}`` or list, or a 3.0 language map."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return "; ".join(t for t in (text(v) for v in value) if t)
    if isinstance(value, dict):
        if "@value" in value:
            return text(value["@value"])
        for lang in (*LANGUAGES, *value.keys()):
            if lang in value and text(value[lang]):
                return text(value[lang])
    return ""


def _kind(doc: dict[str, Any]) -> str:
    kind = str(doc.get("type") or doc.get("@type") or "")
    return kind.split(":")[-1]  # "sc:Manifest" -> "Manifest"


def _link(value: Any) -> str:
    items = value if isinstance(value, list) else [value]
    for v in items:
        if isinstance(v, str) and v.startswith(("http://", "https://")):
            return v
        if isinstance(v, dict):
            ref = v.get("id") or v.get("@id")
            if isinstance(ref, str) and ref.startswith(("http://", "https://")):
                return ref
    return ""


def _pairs(doc: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in doc.get("metadata") or []:
        if isinstance(pair, dict):
            label, value = text(pair.get("label")), text(pair.get("value"))
            if label:
                out[label if label not in OWN_COLUMNS else f"{label} (metadata)"] = value
    return out


def _bodies(canvas: dict[str, Any]) -> list[dict[str, Any]]:
    """The painting bodies of a canvas (3.0 annotation pages, 2.1 ``images``)."""
    out: list[dict[str, Any]] = []
    for page in canvas.get("items") or []:
        for anno in (page.get("items") or []) if isinstance(page, dict) else []:
            if isinstance(anno, dict) and anno.get("motivation", "painting") in ("painting", ["painting"]):
                body = anno.get("body")
                body = (body.get("items") or [None])[0] if isinstance(body, dict) and _kind(body) == "Choice" else body
                out.extend(b for b in (body if isinstance(body, list) else [body]) if isinstance(b, dict))
    for anno in canvas.get("images") or []:
        if isinstance(anno, dict) and isinstance(anno.get("resource"), dict):
            out.append(anno["resource"])
    return out


def _canvas_item(canvas: dict[str, Any], base: dict[str, str]) -> Canvas | str:
    """One canvas as an item, or why it cannot be one."""
    bodies = [b for b in _bodies(canvas) if _kind(b) in ("Image", "dctypes:Image", "") or "image" in str(b.get("format", ""))]
    if not bodies:
        return "no image on the canvas"
    body = bodies[0]
    service = service_info(body.get("service"))
    image = body.get("id") or body.get("@id")
    if not isinstance(image, str) or not image.startswith(("http://", "https://")):
        if service is None:
            return "the canvas's image has no http(s) URL and no image service"
        image = f"{service['id']}/full/max/0/default.jpg"
    row = dict(base)
    row.update(_pairs(canvas))
    canvas_id = canvas.get("id") or canvas.get("@id") or ""
    row.update({
        "title": text(canvas.get("label")) or base["iiif_manifest_label"],
        "url": _link(canvas.get("homepage")) or base["url"],
        "iiif_canvas": str(canvas_id), "iiif_image": image, "iiif_service": service["id"] if service else "",
        "iiif_service_type": service_type(service) if service else "",
        "iiif_service_profile": f"level{level(service)}" if service else "",
        "iiif_width": str(canvas.get("width") or ""), "iiif_height": str(canvas.get("height") or ""),
    })
    return Canvas(image, service, row)


def _canvases(manifest: dict[str, Any]) -> list[Any]:
    if "items" in manifest and _kind(manifest) == "Manifest":
        return manifest.get("items") or []
    sequences = manifest.get("sequences") or []
    return (sequences[0].get("canvases") or []) if sequences and isinstance(sequences[0], dict) else []


def _members(collection: dict[str, Any]) -> list[str]:
    out = []
    for key in ("items", "collections", "manifests", "members"):
        for m in collection.get(key) or []:
            ref = (m.get("id") or m.get("@id")) if isinstance(m, dict) else m
            if isinstance(ref, str):
                out.append(ref)
    return out


def read_iiif(url: str, get_json: Callable[[str], Any], max_canvases: int, max_depth: int) -> Reading:
    """Every canvas with an image reachable from ``url`` (a manifest or a collection); ``get_json(url)``
    fetches and parses one document (FetchError or ValueError when it cannot)."""
    reading = Reading()
    _visit(url, get_json, reading, max_canvases, max_depth, depth=0, seen=set())
    if reading.more:
        reading.notes.append(f"IIIF: {reading.more} canvas(es) beyond the first {max_canvases} not read "
                             "($CVIZ_IIIF_MAX_CANVASES)")
    return reading


def _visit(url: str, get_json: Callable[[str], Any], reading: Reading, cap: int, max_depth: int, depth: int,
           seen: set[str]) -> None:
    if url in seen:
        return
    seen.add(url)
    try:
        doc = get_json(url)
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
    except (FetchError, ValueError) as exc:
        if depth == 0:
            raise CollectionError(f"IIIF manifest {url}: {exc}") from None
        reading.problems.append({"manifest": url, "reason": str(exc)})
        return
    kind = _kind(doc)
    if kind == "Collection":
        if depth >= max_depth:
            reading.notes.append(f"IIIF: collection {url} is {depth} levels down: its members are not read "
                                 "($CVIZ_IIIF_MAX_DEPTH)")
            return
        for member in _members(doc):
            _visit(member, get_json, reading, cap, max_depth, depth + 1, seen)
        return
    if kind != "Manifest":
        if depth == 0:
            raise CollectionError(f"IIIF manifest {url}: type {kind or 'missing'!r} is neither a Manifest nor a Collection")
        reading.problems.append({"manifest": url, "reason": f"type {kind or 'missing'!r} is not a Manifest"})
        return
    _read_manifest(url, doc, reading, cap)


def _read_manifest(url: str, doc: dict[str, Any], reading: Reading, cap: int) -> None:
    reading.manifests += 1
    label = text(doc.get("label"))
    base = {"iiif_manifest": url, "iiif_manifest_label": label, **_pairs(doc),
            "url": _link(doc.get("homepage")) or _link(doc.get("related")) or str(doc.get("id") or doc.get("@id") or url)}
    for canvas in _canvases(doc):
        if len(reading.canvases) >= cap:
            reading.more += 1
            continue
        if not isinstance(canvas, dict):
            reading.problems.append({"manifest": url, "reason": "a canvas that is not a JSON object"})
            continue
        item = _canvas_item(canvas, base)
        if isinstance(item, str):
            reading.problems.append({"manifest": url, "canvas": str(canvas.get("id") or canvas.get("@id") or ""),
                                     "reason": item})
        else:
            reading.canvases.append(item)
