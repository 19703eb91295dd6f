"""IIIF Image API URLs: recognise them and ask the service for the size cviz needs, not the original.

An Image API request is ``{base}/{region}/{size}/{rotation}/{quality}.{format}`` (Image API 3.0,
section 4; 2.1 is the same shape), and ``{base}/info.json`` describes the image: its size, the
``sizes`` and ``tiles`` a static (level 0) service has on disk, and the compliance level. cviz needs
at most ``SIDE`` pixels on the longer side (the item panel's image; the features and mosaic cells
are smaller), so:

* level 2 (or a service listing ``sizeByConfinedWh``): ``full/!512,512/0/default.jpg``;
* level 1: ``full/{w},/0/default.jpg`` with ``w`` the width that fits 512 px (``sizeByW``, level 1
  in both 2.1 and 3.0), never upscaled;
* level 0: the smallest of the listed ``sizes`` that reaches 512 px on its longer side (else the
  largest listed), at ``full/{w},{h}`` (3.0) or ``full/{w},`` (2.1); with no sizes listed, the full
  image (``max`` / ``full``), cut off at ``$CVIZ_FETCH_MAX_BYTES``.

A request URL that already names an explicit size (``full/300,/0/default.jpg``) is taken as it is:
whoever wrote the CSV chose it.
"""

from __future__ import annotations

import re
from typing import Any

SIDE = 512  # the item panel's image (cviz.paths.item_cache(..., 512)); features and cells need less

REQUEST = re.compile(
    r"^(?P<base>https?://.+?)/(?P<region>full|square|pct:[0-9.,]+|\d+,\d+,\d+,\d+)/(?P<size>[^/]+)/"
    r"(?P<rotation>!?[0-9.]+)/(?P<quality>default|color|colour|gray|grey|bitonal|native)\.(?P<format>[a-z0-9]+)$")
WHOLE_SIZES = ("full", "max", "^max")


def service_of(url: str) -> str | None:
    """The Image API base of ``url`` when it is a whole-image request (``full/max/0/default.jpg``) or an
    ``info.json``, i.e. a URL whose size cviz should choose; None otherwise (taken as it is)."""
    url = url.split("#", 1)[0]
    if url.endswith("/info.json"):
        return url[: -len("/info.json")]
    m = REQUEST.match(url.split("?", 1)[0])
    if m and m.group("region") == "full" and m.group("size") in WHOLE_SIZES:
        return m.group("base")
    return None


def version(info: dict[str, Any]) -> int:
    """The Image API major version of a service description: 3 (3.0 context or type), else 2."""
    context = info.get("@context")
    contexts = context if isinstance(context, list) else [context]
    if any(isinstance(c, str) and "/image/3" in c for c in contexts) or info.get("type") == "ImageService3":
        return 3
    return 2


def level(info: dict[str, Any]) -> int:
    """The compliance level of a service description (2.1: a profile URI list; 3.0: ``"level0"``)."""
    profile = info.get("profile")
    profiles = profile if isinstance(profile, list) else [profile]
    for p in profiles:
        m = re.search(r"level([0-2])", p) if isinstance(p, str) else None
        if m:
            return int(m.group(1))
    return 0


def _features(info: dict[str, Any]) -> set[str]:
    out = set(info.get("extraFeatures") or [])
    profile = info.get("profile")
    for p in profile if isinstance(profile, list) else []:
        if isinstance(p, dict):
            out.update(p.get("supports") or [])
    return out


def _listed_sizes(info: dict[str, Any]) -> list[tuple[int, int]]:
    out = []
    for s in info.get("sizes") or []:
        if isinstance(s, dict) and isinstance(s.get("width"), int) and isinstance(s.get("height"), int):
            out.append((s["width"], s["height"]))
    return sorted(out, key=lambda wh: max(wh))


def sized_request(base: str, info: dict[str, Any], side: int = SIDE) -> str:
    """The request for the whole image at most ``side`` px on its longer side that ``info``'s service
    can answer (see the module docstring for the rule per level)."""
    api = version(info)
    width, height = info.get("width"), info.get("height")
    whole = "max" if api == 3 else "full"
    if level(info) >= 2 or "sizeByConfinedWh" in _features(info):
        if isinstance(width, int) and isinstance(height, int) and max(width, height) <= side:
            return f"{base}/full/{whole}/0/default.jpg"
        return f"{base}/full/!{side},{side}/0/default.jpg"
    if level(info) == 1 and isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
        scale = min(1.0, side / max(width, height))
        if scale >= 1.0:
            return f"{base}/full/{whole}/0/default.jpg"
        return f"{base}/full/{max(1, round(width * scale))},/0/default.jpg"
    sizes = _listed_sizes(info)
    if not sizes:
        return f"{base}/full/{whole}/0/default.jpg"
    w, h = next((wh for wh in sizes if max(wh) >= side), sizes[-1])
    return f"{base}/full/{w},{h}/0/default.jpg" if api == 3 else f"{base}/full/{w},/0/default.jpg"


def service_info(service: Any) -> dict[str, Any] | None:
    """A manifest's embedded image service (2.1 or 3.0, one or a list) as ``{"id", "type", "profile", ...}``;
    None when there is none with an id."""
    services = service if isinstance(service, list) else [service]
    for s in services:
        if not isinstance(s, dict):
            continue
        sid = s.get("id") or s.get("@id")
        kind = str(s.get("type") or s.get("@type") or "")
        profile = s.get("profile")
        if isinstance(sid, str) and ("ImageService" in kind or "iiif.io/api/image" in str(profile)
                                     or "image" in str(s.get("@context", ""))):
            return {**s, "id": sid.rstrip("/")}
    return None


def service_type(service: dict[str, Any]) -> str:
    """``ImageService3`` or ``ImageService2``: what a Presentation 3 manifest calls the service (read from
    its type, else its JSON-LD keys and context: 2.x services use ``@id``)."""
    kind = str(service.get("type") or service.get("@type") or "")
    if "ImageService3" in kind:
        return "ImageService3"
    if "ImageService2" in kind or "@id" in service or "/image/2" in str(service.get("@context", "")) \
            or "/image/2/" in str(service.get("profile", "")):
        return "ImageService2"
    return "ImageService3"
