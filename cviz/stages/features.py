"""The `features` stage: one CNN feature vector per usable image, chunk by chunk (cviz.embed.chunks)."""

from __future__ import annotations

import time
from typing import Any, Callable

from cviz.embed.chunks import features_by_chunks
from cviz.embed.features import Extractor
from cviz.ingest.catalogue import open_source, usable_items
from cviz.ingest.decode import ImageRejected
from cviz.measure.knn import neighbour_agreement
from cviz.paths import CollectionPaths
from cviz.render import cells
from cviz.render.cells import ITEM_IMAGE_SIDE, item_image_rel
from cviz.render.mosaic import MOSAIC_BACKGROUND
from cviz.stages.common import StageReport, changed_since_catalogue, load_config, read_catalogue, timed
from cviz.storage import Storage, read_source

# Items scored for the label agreement figure (cviz.measure.knn.neighbour_agreement): all of them
# would cost N x N x D on every run, +100 images included (about 20 s of a +100 run at 13,000 items
# under load); 2,000 keep its standard error under 0.011 at any N.
AGREEMENT_SAMPLE = 2000


def derive_outputs(storage: Storage, name: str, cell: tuple[int, int]) -> tuple[tuple[int, int], Callable]:
    """(decode_at, derive) for the features stage: one decode of each original also fills the
    mosaic's cell cache and writes the viewer's item image, so the mosaic never decodes it again."""
    existing = set(storage.list(CollectionPaths(name).item_images))

    def derive(e: dict[str, Any], img: Any) -> None:  # called only for images the features decode
        sha = e["sha256"]
        have = item_image_rel(sha).rsplit("/", 1)[1] in existing
        cells.derive_from_decoded(storage, sha, img, cell, MOSAIC_BACKGROUND,
                                   item_image_path=None if have else cells.item_key(sha, ITEM_IMAGE_SIDE))

    # The item image wants ITEM_IMAGE_SIDE on the long side, the cell its own size; the CNN adds its
    # short side in compute_features.
    return (0, max(ITEM_IMAGE_SIDE, *cell)), derive


def stage_features(storage: Storage, name: str, extractor: Extractor, batch_size: int = 32,
                   progress: Callable[[int, int], None] | None = None) -> StageReport:
    started = time.perf_counter()
    catalogue = read_catalogue(storage, name)
    items = usable_items(catalogue)
    config = load_config(storage, name)
    fs, base = open_source(catalogue, storage.storage_options)
    decode_at, derive = derive_outputs(storage, name, tuple(config.cell_size))
    # Chunk by chunk (cviz/embed/chunks.py): chunks other workers computed are read, the rest computed here.
    try:
        chunked = features_by_chunks(storage, name, items, lambda rel: read_source(fs, f"{base}/{rel}"), extractor,
                                     batch_size, progress=progress, decode_at=decode_at, derive=derive)
    except (ImageRejected, FileNotFoundError) as exc:
        raise changed_since_catalogue(name, exc) from exc
    run = chunked.run
    storage.write_npy(CollectionPaths(name).features, run.features)
    report = StageReport(values={
        "items": len(items),
        "dimension": int(extractor.dim),
        "model": extractor.name,
        "input_size": int(extractor.input_size),
        "weights_source": getattr(extractor, "weights_source", "unknown"),
        "weights_hash": getattr(extractor, "weights_hash", "unknown"),
        "backend": getattr(extractor, "backend", "unknown"),
        "backend_version": getattr(extractor, "backend_version", "unknown"),
        "precision": getattr(extractor, "precision", "float32"),
        "calibration_hash": getattr(extractor, "calibration", "") or "none (float32)",
        "model_id": getattr(extractor, "model_id", "unknown"),
        "cache_hits": run.cache_hits,
        "cache_rejected": run.cache_rejected,
        "computed": run.computed,
        "originals_decoded": run.decodes,
        "decode_seconds": round(run.decode_seconds, 3),
        "inference_seconds": round(run.inference_seconds, 3),
        "cache_read_seconds": round(run.cache_read_seconds, 3),
        "chunks": chunked.chunks,
        "chunks_reused": chunked.chunks_reused,
    })
    # Rates only when there was something to rate: a fully cached run has no images/s (0 would plot
    # as a collapse on the asset page (Overview → Metadata)).
    if run.images_per_s is not None:
        report.values["images_per_s"] = round(run.images_per_s, 2)
    if run.cached_per_s is not None:
        report.values["cached_per_s"] = round(run.cached_per_s, 1)
    if getattr(extractor, "is_random", False):
        report.values["warning"] = "RANDOM WEIGHTS: features carry no learned meaning (configured explicitly)"
    for column in config.label_columns:
        agreement = neighbour_agreement(run.features, [(e.get("row") or {}).get(column, "") for e in items],
                                        sample=AGREEMENT_SAMPLE)
        if agreement is not None:
            report.values[f"neighbour_agreement_{column}"] = round(agreement.score, 4)
            report.values[f"neighbour_agreement_{column}_chance"] = round(agreement.chance, 4)
    return timed(report, started)
