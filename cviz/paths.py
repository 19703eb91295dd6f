"""The one place that says where each output lives under the storage root, and the names and
relative paths that can never escape it.

Documented in docs/outputs.md; :data:`DOCUMENTED` maps each path pattern of that file's listing
to the builder here that makes it, and ``tests/test_output_paths.py`` checks both ways (every
documented pattern has a builder whose output it matches; every file a built collection leaves
under the root matches a documented pattern).
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from dataclasses import dataclass
from typing import Callable

from cviz.errors import InvalidName

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def validate_collection_name(name: str) -> str:
    """Return ``name`` if it is a valid collection (partition) name, else raise InvalidName.

    Lowercase letters, digits, ``-`` and ``_``, 1 to 64 characters, starting with a letter or digit:
    the name becomes a path component and a URL segment, so nothing else is allowed.
    """
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise InvalidName(
            f"invalid collection name {name!r}: use 1-64 lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    return name


def safe_relpath(path: str) -> str:
    """Normalise a relative path (``/`` separated) and refuse one that leaves its base.

    Refuses absolute paths, ``..`` components, backslashes used as separators, NUL bytes and empty paths.
    """
    if not isinstance(path, str) or not path:
        raise InvalidName("empty path")
    if "\x00" in path:
        raise InvalidName(f"path {path!r} contains a NUL byte")
    if path.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", path) or "://" in path:
        raise InvalidName(f"path {path!r} must be relative")
    parts = path.replace("\\", "/").split("/")
    if any(p == ".." for p in parts):
        raise InvalidName(f"path {path!r} must not contain '..'")
    norm = posixpath.normpath("/".join(p for p in parts if p not in ("", ".")))
    if norm in ("", "."):
        raise InvalidName(f"path {path!r} is empty")
    return norm


PUBLISHED = "published"
INDEX = f"{PUBLISHED}/index.json"
INDEX_ENTRIES = f"{PUBLISHED}/index.d"
INDEX_MUTEX = f"{INDEX_ENTRIES}/.mutex"  # local roots: the flock file serialising index rebuilds
FEATURE_CACHE = "cache/features"
MODEL_CACHE = "cache/models"
CELL_CACHE = "cache/cells"
ITEM_CACHE = "cache/items"  # item images made by the features stage's decode, copied by the mosaic
REMOTE_CACHE = "cache/remote"  # images, manifests and info.json fetched over HTTP(S), by URL (cviz.ingest.remote_cache)
ALERTS = "ops/alerts.jsonl"
DROP = "drop"
TRASH_PREFIX = ".trash-"  # a retired version folder awaiting deletion (local roots)
# Folders of the storage root that hold cviz's own outputs and bookkeeping: never catalogued as
# images, even when the storage root lies inside a collection's image folder.
OUTPUT_FOLDERS = ("collections", PUBLISHED, "cache", "ops")


def index_entry(name: str) -> str:
    """``published/index.d/<name>.json``: one collection's entry of the viewer's index."""
    return f"{INDEX_ENTRIES}/{validate_collection_name(name)}.json"


def feature_packs(model_id: str) -> str:
    """Folder of the packed feature store of one model (cviz/embed/feature_store.py)."""
    return f"{FEATURE_CACHE}/{model_id}/packs"


def feature_pack(model_id: str, segment: str, kind: str) -> str:
    """One file of a segment of the packed store; ``kind`` is ``vecs`` or ``keys``."""
    assert kind in ("vecs", "keys"), kind
    return f"{feature_packs(model_id)}/{segment}.{kind}.npy"


def legacy_feature(model_id: str, sha256: str) -> str:
    """Where versions before the packed store kept one image's vector (still read)."""
    return f"{FEATURE_CACHE}/{model_id}/{sha256[:2]}/{sha256}.npy"


def model_cache_file(file_name: str) -> str:
    """A converted model file (``.weights.h5`` / ``.tflite`` and their ``.sha256``) in the model cache."""
    return f"{MODEL_CACHE}/{file_name}"


def cell_cache(sha256: str, size: tuple[int, int]) -> str:
    """One image's mosaic cell at ``size`` (w, h), decoded once by the features stage."""
    w, h = size
    return f"{CELL_CACHE}/{w}x{h}/{sha256[:2]}/{sha256}.jpg"


def item_cache(sha256: str, side: int) -> str:
    """One image's ``side``-px copy for the viewer's panel, before the mosaic publishes it."""
    return f"{ITEM_CACHE}/{side}/{sha256[:2]}/{sha256}.jpg"


def remote_key(url: str) -> str:
    """The cache key of a fetched URL: its SHA-256 (hex), so any URL becomes a safe, fixed-length name."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


def remote_body(key: str) -> str:
    """The body of a fetched URL, relative to :data:`REMOTE_CACHE` (the catalogue's ``file``)."""
    return f"{key[:2]}/{key}.bin"


def remote_file(key: str) -> str:
    """The body of a fetched URL (an image, a manifest, an info.json) under the storage root."""
    return f"{REMOTE_CACHE}/{remote_body(key)}"


def remote_record(key: str) -> str:
    """What was fetched from a URL: validators (ETag, Last-Modified), content hash, the image's verdict."""
    return f"{REMOTE_CACHE}/{key[:2]}/{key}.json"


def tile_rel(level: int, col: int, row: int, fmt: str = "jpg") -> str:
    """One Deep Zoom tile relative to its ``map_files`` folder (the one tile-path builder)."""
    return f"{level}/{col}_{row}.{fmt}"


def tile(tiles_folder: str, level: int, col: int, row: int, fmt: str = "jpg") -> str:
    """One Deep Zoom tile under a ``map_files`` folder."""
    return f"{tiles_folder}/{tile_rel(level, col, row, fmt)}"


def drop_folder(name: str) -> str:
    """A drop folder under the default drop root (``<storage root>/drop``)."""
    return f"{DROP}/{name}"


@dataclass(frozen=True)
class CollectionPaths:
    name: str

    def __post_init__(self) -> None:
        validate_collection_name(self.name)

    @property
    def base(self) -> str:
        return f"collections/{self.name}"

    @property
    def config(self) -> str:
        return f"{self.base}/collection.json"

    @property
    def catalogue(self) -> str:
        return f"{self.base}/images.json"

    @property
    def features(self) -> str:
        return f"{self.base}/features.npy"

    @property
    def pca(self) -> str:
        return f"{self.base}/pca.npy"

    @property
    def tsne(self) -> str:
        return f"{self.base}/tsne.npy"

    @property
    def grid(self) -> str:
        return f"{self.base}/grid.json"

    @property
    def mosaic(self) -> str:
        return f"{self.base}/mosaic.json"

    def stamp(self, stage: str) -> str:
        """What a stage's outputs were built from (cviz.stages.stamps): written after them, removed before."""
        return f"{self.base}/stamps/{stage}.json"

    @property
    def knn(self) -> str:
        return f"{self.base}/knn.npy"

    @property
    def pca_basis(self) -> str:
        """The fitted PCA (D x (1 + K): the mean, then the K directions) a stable update projects new items on."""
        return f"{self.base}/pca_basis.npy"

    @property
    def pca_items(self) -> str:
        """Which item (content hash) each row of pca.npy is, and the fit's id and size."""
        return f"{self.base}/pca_items.json"

    @property
    def tsne_items(self) -> str:
        return f"{self.base}/tsne_items.json"

    @property
    def grid_items(self) -> str:
        return f"{self.base}/grid_items.json"

    @property
    def lock(self) -> str:
        return f"{self.base}/lock.json"

    @property
    def lock_mutex(self) -> str:
        return f"{self.lock}.mutex"

    @property
    def lock_steps(self) -> str:
        return f"{self.base}/lock-steps"

    def lock_step(self, run_id: str, step: str) -> str:
        return f"{self.lock_steps}/{run_id}/{step}"

    def feature_chunk(self, model_id: str, index: int, fingerprint: str) -> str:
        return f"{self.base}/feature_chunks/{model_id}/{index:06d}-{fingerprint[:20]}.npy"

    @property
    def published(self) -> str:
        return f"{PUBLISHED}/{self.name}"

    @property
    def pointer(self) -> str:
        return f"{self.published}/current.json"

    def version(self, version: str) -> str:
        return f"{self.published}/{version}"

    def trash(self, version: str) -> str:
        return f"{self.published}/{TRASH_PREFIX}{version}"

    def dzi(self, version: str) -> str:
        return f"{self.version(version)}/map.dzi"

    def iiif_info(self, version: str) -> str:
        """The map as a IIIF Image API 3 level-0 image: ``info.json`` beside ``map.dzi`` (cviz.publish.iiif_info)."""
        return f"{self.version(version)}/iiif/info.json"

    def iiif_tile(self, version: str, region: str, size: str) -> str:
        """One level-0 tile at its Image API path, hard-linked to the Deep Zoom tile with the same pixels."""
        return f"{self.version(version)}/iiif/{region}/{size}/0/default.jpg"

    def tiles(self, version: str) -> str:
        return f"{self.version(version)}/map_files"

    def cells(self, version: str) -> str:
        """What each grid cell of the version's pyramid shows, and how its tiles were made (reuse)."""
        return f"{self.version(version)}/cells.json"

    def items(self, version: str) -> str:
        return f"{self.version(version)}/items.json"

    def items_index(self, version: str) -> str:
        """The lazy form of items.json a large collection publishes instead (cviz.publish.items_lazy)."""
        return f"{self.version(version)}/items-index.json"

    def items_lazy(self, version: str) -> str:
        """The folder of the files items-index.json names (shards, binary columns, search index)."""
        return f"{self.version(version)}/lazy"

    def preview(self, version: str) -> str:
        return f"{self.version(version)}/preview.jpg"

    @property
    def item_images(self) -> str:
        return f"{self.published}/images"

    def item_image(self, sha256: str) -> str:
        return f"{self.item_images}/{sha256[:16]}.jpg"

    # Viewer extras beside items.json in a version folder (docs/outputs.md, "Regions, neighbours, vocabulary").
    def regions(self, version: str) -> str:
        return f"{self.version(version)}/regions.json"

    def duplicates(self, version: str) -> str:
        return f"{self.version(version)}/duplicates.json"

    def neighbours(self, version: str) -> str:
        return f"{self.version(version)}/neighbours.bin"

    def vocabulary(self, version: str) -> str:
        return f"{self.version(version)}/vocabulary.json"

    # The extra layouts: each in version folders of its own.
    @property
    def layouts(self) -> str:
        return f"{self.published}/layouts"

    def layout_version(self, layout: str, version: str) -> str:
        return f"{self.layouts}/{layout}/{version}"

    def layout_dzi(self, layout: str, version: str) -> str:
        return f"{self.layout_version(layout, version)}/map.dzi"

    def layout_tiles(self, layout: str, version: str) -> str:
        return f"{self.layout_version(layout, version)}/map_files"

    def layout_doc(self, layout: str, version: str) -> str:
        return f"{self.layout_version(layout, version)}/layout.json"

    def layout_preview(self, layout: str, version: str) -> str:
        return f"{self.layout_version(layout, version)}/preview.jpg"

    def layout_cells(self, layout: str, version: str) -> str:
        """The layout version's cells.json: what the next version may link unchanged (cviz.render.tile_reuse)."""
        return f"{self.layout_version(layout, version)}/cells.json"

    def layout_items(self, layout: str, version: str) -> str:
        """The item ids in layout.json's cell order: what an update (``keep_previous``) keeps in place."""
        return f"{self.layout_version(layout, version)}/layout_items.json"

    def in_published(self, path: str) -> str:
        """``path`` relative to ``published/<name>/``, as ``current.json`` names its files."""
        prefix = f"{self.published}/"
        assert path.startswith(prefix), path
        return path[len(prefix):]

    def layout_trash(self, layout: str, version: str) -> str:
        return f"{self.layouts}/{layout}/{TRASH_PREFIX}{version}"

    def layout_record(self, layout: str) -> str:
        """What the last ``<layout>_layout`` step built: version, item list, or absence and its reason."""
        return f"{self.base}/layouts/{layout}.json"


# docs/outputs.md's path patterns -> the builder of each, called with example values
# (tests/test_output_paths.py checks that the builder's path matches its pattern, and the table
# matches the documentation both ways).
_C = CollectionPaths("example")
_SHA = "ab" + "0" * 62
_V = "20261201T213000123456-1a2b3c4d"
DOCUMENTED: dict[str, Callable[[], str]] = {
    "collections/<name>/collection.json": lambda: _C.config,
    "collections/<name>/images.json": lambda: _C.catalogue,
    "collections/<name>/features.npy": lambda: _C.features,
    "collections/<name>/pca.npy": lambda: _C.pca,
    "collections/<name>/pca_basis.npy": lambda: _C.pca_basis,
    "collections/<name>/pca_items.json": lambda: _C.pca_items,
    "collections/<name>/tsne.npy": lambda: _C.tsne,
    "collections/<name>/grid.json": lambda: _C.grid,
    "collections/<name>/mosaic.json": lambda: _C.mosaic,
    "collections/<name>/knn.npy": lambda: _C.knn,
    "collections/<name>/tsne_items.json": lambda: _C.tsne_items,
    "collections/<name>/grid_items.json": lambda: _C.grid_items,
    "collections/<name>/stamps/<stage>.json": lambda: _C.stamp("grid"),
    "collections/<name>/lock.json": lambda: _C.lock,
    "collections/<name>/lock.json.mutex": lambda: _C.lock_mutex,
    "collections/<name>/lock-steps/<run-id>/<step>": lambda: _C.lock_step("run-1", "images"),
    "collections/<name>/feature_chunks/<model-id>/<index>-<fingerprint>.npy":
        lambda: _C.feature_chunk("lite0-224", 3, _SHA),
    "cache/features/<model-id>/packs/<seg>.{vecs,keys}.npy": lambda: feature_pack("lite0-224", "0001-ab", "vecs"),
    "cache/features/<model-id>/<sha256[:2]>/<sha256>.npy": lambda: legacy_feature("lite0-224", _SHA),
    "cache/models/<file>": lambda: model_cache_file("efficientnet_lite0-v1-0123456789abcdef.weights.h5"),
    "cache/cells/<w>x<h>/<sha256[:2]>/<sha256>.jpg": lambda: cell_cache(_SHA, (128, 96)),
    "cache/items/512/<sha256[:2]>/<sha256>.jpg": lambda: item_cache(_SHA, 512),
    "cache/remote/<key[:2]>/<key>.bin": lambda: remote_file(_SHA),
    "cache/remote/<key[:2]>/<key>.json": lambda: remote_record(_SHA),
    "published/index.json": lambda: INDEX,
    "published/index.d/.mutex": lambda: INDEX_MUTEX,
    "published/index.d/<name>.json": lambda: index_entry("example"),
    "published/<name>/current.json": lambda: _C.pointer,
    "published/<name>/<ver>/map.dzi": lambda: _C.dzi(_V),
    "published/<name>/<ver>/iiif/info.json": lambda: _C.iiif_info(_V),
    "published/<name>/<ver>/iiif/<region>/<size>/0/default.jpg": lambda: _C.iiif_tile(_V, "0,0,1024,1024", "256,"),
    "published/<name>/<ver>/map_files/<level>/<col>_<row>.jpg": lambda: tile(_C.tiles(_V), 7, 2, 3),
    "published/<name>/<ver>/items.json": lambda: _C.items(_V),
    "published/<name>/<ver>/items-index.json": lambda: _C.items_index(_V),
    "published/<name>/<ver>/lazy": lambda: _C.items_lazy(_V),
    "published/<name>/<ver>/preview.jpg": lambda: _C.preview(_V),
    "published/<name>/<ver>/cells.json": lambda: _C.cells(_V),
    "published/<name>/<ver>/regions.json": lambda: _C.regions(_V),
    "published/<name>/<ver>/neighbours.bin": lambda: _C.neighbours(_V),
    "published/<name>/<ver>/duplicates.json": lambda: _C.duplicates(_V),
    "published/<name>/<ver>/vocabulary.json": lambda: _C.vocabulary(_V),
    "published/<name>/.trash-<ver>/": lambda: f"{_C.trash(_V)}/map.dzi",
    "published/<name>/images/<sha256[:16]>.jpg": lambda: _C.item_image(_SHA),
    "published/<name>/layouts/<layout>/<ver>/": lambda: f"{_C.layout_version('timeline', _V)}/layout.json",
    "published/<name>/layouts/<layout>/<ver>/cells.json": lambda: _C.layout_cells("category", _V),
    "published/<name>/layouts/<layout>/<ver>/layout_items.json": lambda: _C.layout_items("timeline", _V),
    "published/<name>/layouts/<layout>/.trash-<ver>/": lambda: f"{_C.layout_trash('timeline', _V)}/map.dzi",
    "collections/<name>/layouts/<layout>.json": lambda: _C.layout_record("category"),
    "drop/<name>/": lambda: f"{drop_folder('example')}/a.jpg",
    "ops/alerts.jsonl": lambda: ALERTS,
}
