"""Unchanged inputs, no work: stage fingerprints, data versions and stamps.

This is Dagster's asset-versioning model (docs.dagster.io/guides/build/assets/asset-versioning-and-caching),
kept in storage beside the outputs so that any instance, the ephemeral one of ``cviz run`` included,
sees the same versions and skips the same stages.

* **Code version** (``CODE_VERSIONS``): one string per stage. *The rule*: bump a stage's code version
  when its outputs for the same inputs change (a different algorithm, default parameter, output
  format or file); do not bump it for refactors, log lines or metadata-only changes. Bumping it
  re-runs the stage (and, when its outputs then differ, everything below it).
* **Data version** of a stage: a digest of what it wrote (paths and content of its output files,
  ``output_files``), so a stage that re-runs and writes the same bytes leaves its downstream
  unchanged. ``images`` is the exception: its version is the digest of the catalogue's usable items
  (file, content hash, metadata row), the CSV's columns and the config snapshot hash, never the scan
  time. The version folder a ``mosaic`` starts is part of its output, so a new mosaic is always a new
  version for ``dzi``, ``metadata_json`` and ``publish``.
* **Input fingerprint** of a stage: a digest of its name, code version, its own settings and the
  data versions of what it reads (``INPUTS``). Those are recomputed from the files every time, never
  taken from another stage's stamp, so outputs rewritten by anything else (a direct ``cviz.stages.registry``
  call, another job, a person) are noticed.
* **Stamp** (``collections/<name>/stamps/<stage>.json``): fingerprint, data version, time and the
  stage's figures. It is removed before a stage writes anything and written only after its outputs
  are complete, so a stage cut short has no stamp and runs again.

A stage is skipped when its stamp's fingerprint equals the one computed now *and* its outputs still
hash to the stamp's data version (they exist and are the ones it wrote) *and*, for ``mosaic``, every
item image is in place and a live version still complete, for ``publish``, its version is the live one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from cviz.ingest.catalogue import usable_items
from cviz.paths import CollectionPaths
from cviz.stages.data_versions import Versions, catalogue_version
from cviz.stages.data_versions import built_version_id as _built_version_id
from cviz.stages.data_versions import digest as _digest
from cviz.storage import Storage

STAMP_FORMAT = "cviz-stamp/1"

# Per-stage code versions (see the rule above). Dagster shows them on each asset and marks an
# asset stale when its code version differs from the one its latest materialization recorded.
CODE_VERSIONS: dict[str, str] = {
    "images": "1",
    "features": "1",
    "pca": "1",
    "tsne": "1",
    "grid": "1",
    "mosaic": "1",
    "dzi": "2",  # 2: the IIIF level-0 layout (iiif/info.json, cviz.publish.iiif_info)
    "metadata_json": "1",
    "timeline_layout": "2",  # 2: bands and blocks sized with slack; cells.json and item ids in each version
    "category_layout": "2",
    "publish": "1",
}
STAGES = tuple(CODE_VERSIONS)

# What each stage reads: upstream stages (their data versions) and two narrower views of the
# catalogue: ``items`` (the usable items' content hashes, in order) and ``labels`` (their label-column
# values, which only the quality measures use). t-SNE and the grid take the narrow views, so editing a
# title in the CSV rebuilds the mosaic and items.json but not the layout.
INPUTS: dict[str, tuple[str, ...]] = {
    "images": (),
    "features": ("images",),
    "pca": ("features",),
    "tsne": ("pca", "items", "labels"),
    "grid": ("tsne", "pca", "items", "labels"),
    "mosaic": ("grid", "images"),
    "dzi": ("mosaic",),
    "metadata_json": ("mosaic", "grid", "tsne", "pca", "images"),  # tsne: its knn.npy (the viewer's neighbours)
    # A layout reads the item list, its column's values and its settings (``<layout>_input``), not every
    # CSV column: editing a title leaves it skipped.
    "timeline_layout": ("tsne", "timeline_input"),
    "category_layout": ("tsne", "category_input"),
    "publish": ("dzi", "metadata_json", "timeline_layout", "category_layout"),
}

# Figures that describe work done in a run (time, rates, what was computed or decoded): a skipped
# stage did none, so its metadata repeats the other figures of the run that made the outputs.
WORK_SUFFIXES = ("seconds", "_per_s")
WORK_KEYS = frozenset({
    "computed", "cache_hits", "cache_rejected", "originals_decoded", "chunks_reused", "tiles_written",
    "levels_written", "new_item_images", "cells_decoded", "cells_cached", "placed_new", "refine_swaps",
    "refine_rounds", "tiles_reused", "items_in_place",
})


def stamp_path(name: str, stage: str) -> str:
    return CollectionPaths(name).stamp(stage)


# -- stamps ---------------------------------------------------------------------------------------
@dataclass
class Stamp:
    stage: str
    fingerprint: str
    data_version: str
    written_at: str
    values: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"format": STAMP_FORMAT, "stage": self.stage, "fingerprint": self.fingerprint,
                "data_version": self.data_version, "written_at": self.written_at, "values": self.values}


def read_stamp(storage: Storage, name: str, stage: str) -> Stamp | None:
    """The stage's stamp, or None (none written, or unreadable: then the stage simply runs)."""
    try:
        d = storage.read_json(stamp_path(name, stage))
        if d.get("format") != STAMP_FORMAT or d.get("stage") != stage:
            return None
        return Stamp(stage, str(d["fingerprint"]), str(d["data_version"]), str(d["written_at"]),
                     dict(d.get("values") or {}))
    except (FileNotFoundError, ValueError, KeyError, TypeError, AttributeError):
        return None


def remove_stamps(storage: Storage, name: str, stages: tuple[str, ...] | list[str]) -> None:
    for stage in stages:
        if storage.exists(stamp_path(name, stage)):
            storage.remove_tree(stamp_path(name, stage))


def invalidate_from(storage: Storage, name: str, stage: str) -> list[str]:
    """Remove the stamps of ``stage`` and of every stage after it (a failed check: build it again)."""
    below = list(STAGES[STAGES.index(stage):])
    remove_stamps(storage, name, below)
    return below


def fingerprint(stage: str, settings: dict[str, Any], inputs: dict[str, str | None]) -> str:
    return _digest({"stage": stage, "code_version": CODE_VERSIONS[stage], "settings": settings, "inputs": inputs})


def _live(storage: Storage, name: str) -> bool:
    from cviz.publish.versions import Version

    version = _built_version_id(storage, name)
    return version is not None and Version(name, version).is_live(storage)


def _mosaic_still_good(storage: Storage, name: str, versions: Versions) -> bool:
    """Every item image is in place, and a live version is complete: ``dzi`` and ``metadata_json``
    never write into a live version, so a live one that lost a file needs a new mosaic."""
    paths = CollectionPaths(name)
    have = set(storage.list(paths.item_images))
    if not all(f"{e['sha256'][:16]}.jpg" in have for e in usable_items(versions.catalogue())):
        return False
    return not _live(storage, name) or (versions.get("dzi") is not None and versions.get("metadata_json") is not None)


# Conditions beyond "outputs unchanged" for a skip to be right.
_EXTRA: dict[str, Callable[[Storage, str, Versions], bool]] = {
    "mosaic": _mosaic_still_good,
    "publish": lambda storage, name, versions: _live(storage, name),
}


@dataclass
class Decision:
    """What ``check`` found: run the stage, or skip it because ``previous`` still holds."""
    stage: str
    fingerprint: str | None  # None: an input has no version (not built): the stage must run
    previous: Stamp | None  # set when the stage may be skipped
    reason: str  # why it runs, or why it is skipped

    @property
    def skip(self) -> bool:
        return self.previous is not None

    def skipped_text(self) -> str:
        assert self.previous is not None
        return f"inputs and code unchanged since {self.previous.written_at}"


def check(storage: Storage, name: str, stage: str, settings: dict[str, Any]) -> Decision:
    """Compute ``stage``'s input fingerprint and decide whether its last outputs still hold."""
    versions = Versions(storage, name)
    inputs = {key: versions.get(key) for key in INPUTS[stage]}
    missing = [k for k, v in inputs.items() if v is None]
    if missing:
        return Decision(stage, None, None, f"no data version for {', '.join(missing)}")
    fp = fingerprint(stage, settings, inputs)
    stamp = read_stamp(storage, name, stage)
    if stamp is None:
        return Decision(stage, fp, None, "no stamp")
    if stamp.fingerprint != fp:
        return Decision(stage, fp, None, "inputs, settings or code changed")
    if versions.get(stage) != stamp.data_version:
        return Decision(stage, fp, None, "outputs missing or changed since they were written")
    extra = _EXTRA.get(stage)
    if extra is not None and not extra(storage, name, versions):
        return Decision(stage, fp, None, "item images missing or the live version incomplete" if stage == "mosaic"
                        else "its version is not the live one")
    return Decision(stage, fp, stamp, "unchanged")


def record(storage: Storage, name: str, decision: Decision, values: dict[str, Any]) -> str:
    """After the stage's outputs are complete: compute its data version and write its stamp.

    Returns the data version. Without a fingerprint (an input was not built) no stamp is written
    (the next run cannot know what it was built from), and the version is still the outputs'."""
    stage = decision.stage
    version = catalogue_version(Versions(storage, name).catalogue()) if stage == "images" else \
        Versions(storage, name).get(stage)
    if version is None:
        version = _digest({"stage": stage, "unversioned": time.time()})
    fp = decision.fingerprint
    if fp is not None and (stage != "images"):
        kept = {k: v for k, v in values.items() if isinstance(v, (bool, int, float, str))}
        stamp = Stamp(stage, fp, version, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), kept)
        storage.write_json(stamp_path(name, stage), stamp.to_dict())
    return version


def previous_values(stamp: Stamp) -> dict[str, Any]:
    """The figures of the run that made the outputs, less those describing that run's work."""
    return {k: v for k, v in stamp.values.items() if k not in WORK_KEYS and not k.endswith(WORK_SUFFIXES)}
