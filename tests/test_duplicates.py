"""Near-duplicates: grouping by feature distance, its precision and recall on real images with edited
copies, and what the pipeline publishes and checks."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from PIL import Image

from cviz.embed.models import load_extractor
from cviz.embed.pca import run_pca
from cviz.measure.knn import feature_knn, unit_rows
from cviz.paths import CollectionPaths
from cviz.publish import duplicates
from tests.conftest import MODEL, WEIGHTS, met_sample_spec, resources
from tests.duplicate_set import EDITS, features_of, labelled_set


def _knn(x: np.ndarray, k: int = 10) -> np.ndarray:
    return feature_knn(x, min(k, len(x) - 1), metric="cosine")


def test_close_pairs_group_and_chain_distant_ones_do_not():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(6, 32)).astype(np.float32)
    x = np.concatenate([base, base[:1] + 0.01 * rng.normal(size=(1, 32)),  # 6: a copy of 0
                        base[2:3] + 0.01 * rng.normal(size=(1, 32)),  # 7: a copy of 2 ...
                        base[2:3] + 0.02 * rng.normal(size=(1, 32))]).astype(np.float32)  # 8: ... and another
    got = duplicates.find_duplicates(x, _knn(x))
    assert got.groups == [[0, 6], [2, 7, 8]] and got.items == 5
    assert all(0 <= d <= duplicates.THRESHOLD for d in got.spread)
    assert duplicates.find_duplicates(x, _knn(x), threshold=1e-9).groups == []


def test_padding_and_mismatched_lists():
    x = np.eye(3, dtype=np.float32)
    x[1] = x[0]
    knn = np.array([[1, -1], [0, -1], [-1, -1]])
    assert duplicates.find_duplicates(x, knn).groups == [[0, 1]]
    with pytest.raises(ValueError, match="neighbour lists of shape"):
        duplicates.find_duplicates(x, knn[:2])


class RowLog:
    """An N x D array that records which rows are read (a memory-mapped features.npy stands in)."""

    def __init__(self, x: np.ndarray) -> None:
        self.x, self.shape, self.read = x, x.shape, set()

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, rows: np.ndarray) -> np.ndarray:
        self.read.update(np.asarray(rows).ravel().tolist())
        return self.x[rows]


def test_features_are_read_only_at_the_pairs_the_pca_bound_leaves():
    """Clusters of near-copies among many distinct items: the groups found with the PCA bound are
    those found without it, and only the copies' feature rows are read."""
    rng = np.random.default_rng(1)
    distinct = (rng.normal(size=(400, 40)) @ rng.normal(size=(40, 64))).astype(np.float32)  # rank 40: 48 components hold it
    copies = distinct[:20] + 0.01 * rng.normal(size=(20, 64)).astype(np.float32)
    x = np.concatenate([distinct, copies])
    pca = run_pca(unit_rows(x), 48).components
    knn = feature_knn(pca, 10, metric="euclidean")
    plain = duplicates.find_duplicates(x, knn)
    logged = RowLog(x)
    bounded = duplicates.find_duplicates(logged, knn, projected=pca)
    assert plain.groups == [[i, 400 + i] for i in range(20)]
    assert (bounded.groups, bounded.spread) == (plain.groups, plain.spread)
    assert logged.read and logged.read <= set(range(20)) | set(range(400, 420))
    with pytest.raises(ValueError, match="projected rows"):
        duplicates.find_duplicates(x, knn, projected=pca[:5])


def test_pair_scores_count_pairs_not_groups():
    assert duplicates.pair_scores([[0, 1, 2]], [0, 0, 1]) == (pytest.approx(1 / 3), 1.0)
    assert duplicates.pair_scores([], [0, 1]) == (1.0, 1.0)


@pytest.fixture(scope="module")
def extractor(shared_model_cache: str):
    return load_extractor(MODEL, WEIGHTS, cache_dir=shared_model_cache)


def test_precision_and_recall_on_real_photos_with_edited_copies(met_sample_dir: Path, extractor):
    """Every met-sample photo, plus an edited copy of each (resized, recompressed, cropped 5%,
    mirrored in turn): at THRESHOLD, with neighbour lists searched as the tsne stage does (PCA of
    the L2-normalised features, Euclidean), the grouped pairs are >= 95% right and find >= 95%."""
    files = sorted((met_sample_dir / "images").glob("*.jpg"))
    datas, truth, kind = labelled_set(files, copies=len(files))
    assert set(kind[len(files):]) == set(EDITS) and len(datas) == 2 * len(files)
    feats = features_of(datas, extractor)
    pca = run_pca(unit_rows(feats), 256).components
    knn = feature_knn(pca, 50, metric="euclidean")
    got = duplicates.find_duplicates(feats, knn)
    precision, recall = duplicates.pair_scores(got.groups, truth)
    assert precision >= 0.95 and recall >= 0.95, (precision, recall)
    # The PCA rows' lower bound drops only pairs the threshold drops: the same groups, the same spreads.
    bounded = duplicates.find_duplicates(feats, knn, projected=pca)
    assert (bounded.groups, bounded.spread, bounded.pairs_checked) == (got.groups, got.spread, got.pairs_checked)
    _, compared, _ = duplicates.candidate_distances(feats, knn, projected=pca)
    assert len(compared) < got.pairs_checked / 2  # most pairs never read their features
    # The threshold matters: far tighter misses copies, far looser joins distinct photos.
    assert duplicates.pair_scores(duplicates.find_duplicates(feats, knn, threshold=0.05).groups, truth)[1] < 0.8


def test_the_pipeline_publishes_the_groups_and_warns(tmp_path: Path, met_sample_dir: Path):
    """A small collection holding two copies of one photo: duplicates.json names them, the
    near_duplicates check fails with severity WARN listing them, and publish still runs."""
    from cviz_assets.assets import collection_assets
    from cviz_assets.checks import collection_checks
    from cviz_assets.duplicate_checks import near_duplicates
    from cviz_assets.register import register_spec

    src = tmp_path / "src"
    (src / "images").mkdir(parents=True)
    photos = sorted((met_sample_dir / "images").glob("*.jpg"))[:24]
    for p in photos:
        shutil.copy(p, src / "images" / p.name)
    img = Image.open(photos[3]).convert("RGB")
    (src / "images" / "copy-mirrored.jpg").write_bytes(EDITS["mirrored"](img))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=60)
    (src / "images" / "copy-q60.jpg").write_bytes(buf.getvalue())
    (src / "metadata.csv").write_text("filename,title\n" + "".join(f"{p.name},photo {p.stem}\n" for p in
                                                                    sorted((src / "images").iterdir())))
    root = tmp_path / "root"
    instance = dg.DagsterInstance.ephemeral()
    res = resources(root)
    spec = met_sample_spec(src, "dups")
    register_spec(instance, res["storage"], spec)
    result = dg.materialize([*collection_assets, *collection_checks, near_duplicates], partition_key="dups",
                            instance=instance, resources=res, raise_on_error=False)
    assert result.success
    pointer = json.loads((root / "published" / "dups" / "current.json").read_text())  # published all the same
    version = pointer["items"].rsplit("/", 1)[0]
    doc = json.loads((root / "published" / "dups" / version / "duplicates.json").read_text())
    assert doc["format"] == "cviz-duplicates/1" and doc["threshold"] == duplicates.THRESHOLD
    assert doc["ids"] == [sorted([photos[3].name, "copy-mirrored.jpg", "copy-q60.jpg"])], doc
    items = json.loads((root / "published" / "dups" / version / "items.json").read_text())
    assert [items["fields"]["id"][i] for i in doc["groups"][0]] == doc["ids"][0]
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == "near_duplicates"]
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["offending_count"].value == 1
    assert sorted(evaluation.metadata["offending_items"].data[0]["files"]) == doc["ids"][0]
    assert (root / CollectionPaths("dups").duplicates(version)).exists()  # the one path builder
