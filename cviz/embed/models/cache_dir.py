"""Where converted models are kept: one folder a machine can share between storage roots.

The LiteRT conversion of Lite0 takes about 20 s (a child process importing TensorFlow); it depends
on the weights and the converter, not on the collection, so every storage root on a machine can
use the same one. ``CVIZ_MODEL_CACHE`` names that folder. Without it the conversion lives under a
local storage root (``cache/models``, docs/outputs.md) and, for an object-store root, in the
user's cache folder (``$XDG_CACHE_HOME/cviz/models``, default ``~/.cache/cviz/models``), so an S3
deployment converts once per machine instead of once per run.
"""

from __future__ import annotations

import os
from pathlib import Path

from cviz.settings import settings


def model_cache_dir(local_root_dir: str | None) -> str:
    """The folder for converted models: ``$CVIZ_MODEL_CACHE``, else ``local_root_dir`` (the storage
    root's ``cache/models`` when the root is local), else the user's cache folder."""
    chosen = (settings().model_cache or "").strip()
    if chosen:
        return chosen
    if local_root_dir:
        return local_root_dir
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return str(Path(base) / "cviz" / "models")
