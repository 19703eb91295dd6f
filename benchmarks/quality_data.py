"""Collections for benchmarks/bench_quality.py: real Lite0 features cached once, synthetic clusters.

Real collections go through the real stages (``stage_images``, ``stage_features`` with the
ImageNet Lite0 extractor) into a storage root under ``benchmarks/results/quality-root`` (git-ignored),
and their features plus label columns are cached as ``benchmarks/results/quality-<name>.npz``, so
reruns of the benchmark skip the CNN.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
# ../shared/data/imageplot beside the checkout (CI); a worktree one level deeper finds it one up.
IMAGEPLOT = next((p for p in (REPO.parent / "shared" / "data" / "imageplot",
                              REPO.parent.parent / "shared" / "data" / "imageplot") if p.exists()),
                 REPO.parent / "shared" / "data" / "imageplot")
sys.path.insert(0, str(REPO))

LABELS = {"imageplot": ["collection", "period"], "met-sample": ["department"]}


def _collection_folder(name: str) -> Path:
    if name == "imageplot":
        return IMAGEPLOT
    if name == "met-sample":
        from cviz.ingest.sample import write_met_sample

        folder = RESULTS / "met-sample"
        if not (folder / "metadata.csv").exists():
            write_met_sample(folder)
        return folder
    raise SystemExit(f"unknown real collection {name!r}: imageplot or met-sample")


def real_titles(name: str) -> list[str]:
    """Each item's title (the CSV's ``title``, else the file name), in the cached features' row order:
    read from the catalogue real_collection built (building it first when absent)."""
    from cviz.ingest.catalogue import usable_items
    from cviz.paths import CollectionPaths
    from cviz.storage import open_storage

    storage = open_storage(str(RESULTS / "quality-root"))
    try:
        catalogue = storage.read_json(CollectionPaths(name).catalogue)
    except FileNotFoundError:
        (RESULTS / f"quality-{name}.npz").unlink(missing_ok=True)
        real_collection(name)
        catalogue = storage.read_json(CollectionPaths(name).catalogue)
    return [((e.get("row") or {}).get("title") or "").strip() or e["file"].rsplit("/", 1)[-1]
            for e in usable_items(catalogue)]


def real_collection(name: str, precision: str = "float32") -> tuple[np.ndarray, dict[str, list[str]]]:
    """(N x 1280 Lite0 features, {label column: N values}) of a real collection, cached; ``precision``:
    float32 (the reference; cache ``quality-<name>.npz``) or int8 (``quality-<name>-int8.npz``)."""
    cache = RESULTS / (f"quality-{name}.npz" if precision == "float32" else f"quality-{name}-{precision}.npz")
    if cache.exists():
        data = np.load(cache, allow_pickle=False)
        return data["features"], {c: [str(v) for v in data[f"label_{c}"]] for c in LABELS[name]}
    from cviz.embed.models import load_extractor
    from cviz.ingest.catalogue import usable_items
    from cviz.ingest.collection import CollectionConfig
    from cviz.paths import CollectionPaths
    from cviz.stages import registry
    from cviz.storage import open_storage

    folder = _collection_folder(name)
    storage = open_storage(str(RESULTS / "quality-root"))
    registry.register(storage, CollectionConfig.from_dict({
        "name": name, "images": str(folder / "images"), "metadata": str(folder / "metadata.csv"),
        "label_columns": LABELS[name]}))
    registry.stage_images(storage, name)
    extractor = load_extractor("efficientnet_lite0", "imagenet", None, registry.model_cache_dir(storage),
                               precision=precision)
    report = registry.stage_features(storage, name, extractor)
    print(f"{name} ({extractor.model_id}): features {report.values.get('images_per_s')} img/s", flush=True)
    features = storage.read_npy(CollectionPaths(name).features)
    items = usable_items(storage.read_json(CollectionPaths(name).catalogue))
    labels = {c: [(e.get("row") or {}).get(c, "") or "" for e in items] for c in LABELS[name]}
    RESULTS.mkdir(parents=True, exist_ok=True)
    np.savez(cache, features=features, **{f"label_{c}": np.array(v, dtype=str) for c, v in labels.items()})
    return features, labels


def synthetic_clusters(n: int, seed: int = 0) -> tuple[np.ndarray, dict[str, list[str]]]:
    """N x 1280 non-negative features: 40 clusters x 8 sub-clusters on a 48-d subspace, plus noise
    (the generator of benchmarks/bench.py); labels are the cluster and the sub-cluster."""
    rng = np.random.default_rng(seed)
    latent_dim, k1, k2, dim = 48, 40, 8, 1280
    top = rng.normal(0, 4.0, (k1, latent_dim))
    sub = top[:, None, :] + rng.normal(0, 1.5, (k1, k2, latent_dim))
    weights = rng.dirichlet(np.full(k1 * k2, 0.7))
    comp = rng.choice(k1 * k2, size=n, p=weights)
    latent = sub.reshape(-1, latent_dim)[comp] + rng.normal(0, 0.8, (n, latent_dim))
    proj = rng.normal(0, 1.0 / np.sqrt(latent_dim), (latent_dim, dim))
    feats = np.empty((n, dim), np.float32)
    for s in range(0, n, 8192):
        block = latent[s:s + 8192] @ proj + rng.normal(0, 0.3, (min(8192, n - s), dim))
        feats[s:s + 8192] = np.maximum(block, 0)
    return feats, {"cluster": [f"c{c // k2}" for c in comp], "subcluster": [f"s{c}" for c in comp]}


if __name__ == "__main__":
    for collection in sys.argv[1:] or ["imageplot", "met-sample"]:
        f, lab = real_collection(collection)
        print(collection, f.shape, {c: len(set(v)) for c, v in lab.items()})
