"""Which version a build completes: what its mosaic was drawn from, and the refusal of a mismatch
or of a live (immutable) version."""

from __future__ import annotations

import hashlib
from typing import Any

from cviz.errors import CollectionError
from cviz.ingest.catalogue import usable_items
from cviz.paths import CollectionPaths
from cviz.publish.versions import Version
from cviz.stages.common import read_catalogue
from cviz.storage import Storage


def rendered_from(storage: Storage, name: str, catalogue: dict[str, Any] | None = None) -> dict[str, str]:
    """What a mosaic is drawn from: hashes of grid.json, of the items' content hashes in grid order,
    and of the run's config snapshot. `dzi`, `metadata_json` and `publish` refuse a mismatch."""
    catalogue = catalogue if catalogue is not None else read_catalogue(storage, name)
    shas = "\n".join(e["sha256"] for e in usable_items(catalogue))
    return {
        "grid_sha256": hashlib.sha256(storage.read_bytes(CollectionPaths(name).grid)).hexdigest()[:16],
        "items_sha256": hashlib.sha256(shas.encode()).hexdigest()[:16],
        "config_sha256": str(catalogue.get("config_sha256", "")),
    }


def built_version(storage: Storage, name: str, stage: str) -> tuple[Version, dict[str, Any]]:
    """The version this build's `mosaic` started, and its manifest, for `stage` to complete.

    Refuses a live version (immutable) and a mosaic drawn from another grid, item list or config
    than the current ones (e.g. `grid` re-materialized without `mosaic`).
    """
    try:
        manifest = mosaic_manifest(storage, name)
    except FileNotFoundError:
        raise CollectionError(f"collection {name}: no mosaic built yet; materialize mosaic before {stage}") from None
    version = Version(name, manifest["version"])
    version.refuse_if_live(storage, stage)
    now = rendered_from(storage, name)
    stale = [k for k in ("grid_sha256", "items_sha256", "config_sha256") if manifest.get(k, now[k]) != now[k]]
    if stale:
        what = ", ".join(k.split("_")[0] for k in stale)
        raise CollectionError(
            f"collection {name}: the mosaic of version {version.id} was drawn from another {what} than the current "
            f"one; re-materialize mosaic, then dzi, metadata_json and publish (the published map is unchanged)"
        )
    return version, manifest


def mosaic_manifest(storage: Storage, name: str) -> dict[str, Any]:
    return storage.read_json(CollectionPaths(name).mosaic)
