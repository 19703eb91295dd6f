"""Pure parts of the viewer's extras: neighbour search and packing, region finding and naming, filter columns."""

from __future__ import annotations

import re
import struct
from collections import Counter

import numpy as np
import pytest

from cviz.publish import (
    regions,
    similar,
    vocabulary,  # ---------------------------------------------------------------- neighbours
)


def _brute_euclidean(x: np.ndarray, k: int) -> list[set[int]]:
    """Independent reference: every pair's distance in float64, sorted in plain Python."""
    x = x.astype(np.float64)
    n = len(x)
    out = []
    for i in range(n):
        d = [(float(np.sqrt(((x[i] - x[j]) ** 2).sum())), j) for j in range(n) if j != i]
        d.sort()
        out.append({j for _, j in d[:k]})
    return out


def test_exact_neighbours_match_brute_force_euclidean():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(150, 16))
    got = similar.exact_neighbours(x, k=12, block=64)  # several blocks
    assert got.shape == (150, 12) and got.dtype == np.int32
    ref = _brute_euclidean(x, 12)
    assert all(set(got[i].tolist()) == ref[i] for i in range(150))
    assert not any(i in got[i] for i in range(150))  # never itself
    # Nearest first.
    d = np.linalg.norm(x[:, None, :] - x[got.astype(np.int64)], axis=2)
    assert np.all(np.diff(d, axis=1) >= -1e-6)


def test_the_tsne_stage_search_is_reused_only_when_it_fits_the_rows():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 8)).astype(np.float32)
    exact = similar.exact_neighbours(x, 50)
    got, method = similar.nearest_neighbours(x, 12, searched=exact)
    assert method.startswith("reused") and got.tolist() == exact[:, :12].tolist()
    stale = rng.permuted(exact, axis=0)  # right shape, other rows (pca re-run since)
    got, method = similar.nearest_neighbours(x, 12, searched=stale)
    assert method == "exact" and got.tolist() == exact[:, :12].tolist()
    short = exact[:, :5]  # fewer neighbours than the viewer lists
    assert similar.nearest_neighbours(x, 12, searched=short)[1] == "exact"


def test_tiny_collections_pad_with_minus_one():
    got = similar.exact_neighbours(np.eye(4), k=12)
    assert got.shape == (4, 12)
    assert (got[:, 3:] == -1).all() and (got[:, :3] >= 0).all()


def test_approximate_neighbours_recall_against_exact():
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(20, 32)) * 4
    x = centres[rng.integers(0, 20, 3000)] + rng.normal(size=(3000, 32))
    exact = similar.exact_neighbours(x, 12)
    approx, method = similar.nearest_neighbours(x, 12, exact_below=1000)
    assert method == "annoy"
    recall = np.mean([len(set(a) & set(e)) / 12 for a, e in zip(approx.tolist(), exact.tolist())])
    assert recall >= 0.9, recall
    assert not any(i in approx[i] for i in range(len(x)))
    _, method = similar.nearest_neighbours(x[:500], 12, exact_below=1000)
    assert method == "exact"


def test_pack_round_trip_and_layout():
    idx = np.array([[1, 2, -1], [0, 2, 1], [1, 0, -1]], dtype=np.int64)
    data = similar.pack_neighbours(idx)
    # Layout as documented: 16-byte header, then little-endian int32 row-major.
    assert data[:4] == b"CVNB" and struct.unpack("<iii", data[4:16]) == (1, 3, 3)
    assert struct.unpack("<9i", data[16:]) == (1, 2, -1, 0, 2, 1, 1, 0, -1)
    assert similar.unpack_neighbours(data).tolist() == idx.tolist()


@pytest.mark.parametrize("bad, message", [
    (b"CVN", "shorter than"),
    (b"XXXX" + struct.pack("<iii", 1, 1, 1) + b"\0\0\0\0", "not a cviz neighbour file"),
    (b"CVNB" + struct.pack("<iii", 1, 2, 12) + b"\0" * 8, "expected 112"),
])
def test_unpack_rejects_damaged_files(bad, message):
    with pytest.raises(ValueError, match=message):
        similar.unpack_neighbours(bad)


def test_pack_rejects_out_of_range_indices():
    with pytest.raises(ValueError, match="-1..1"):
        similar.pack_neighbours(np.array([[1], [2]]))


# ---------------------------------------------------------------- region naming

def test_over_represented_term_ranks_first():
    # 100 items; "sea" in 18 of the region's 20 and 2 of the other 80; "paint" everywhere.
    region = [["sea", "paint"]] * 18 + [["paint"]] * 2
    rest = [["sea", "paint"]] * 2 + [["paint", "land"]] * 78
    counts = Counter(t for ts in region + rest for t in ts)
    ranked = regions.term_scores(region, counts, 100)
    assert ranked[0][0] == "sea"
    z = dict(ranked)
    assert z["sea"] > 3 and z["paint"] < 1


def test_rare_term_does_not_beat_a_common_distinctive_one():
    # One item with "oddity" (unique to the region) against 12 of 20 with "harbour" (3 of 80 outside).
    region = [["harbour"]] * 12 + [["oddity"]] + [[]] * 7
    rest = [["harbour"]] * 3 + [["field"]] * 77
    counts = Counter(t for ts in region + rest for t in ts)
    assert regions.term_scores(region, counts, 100)[0][0] == "harbour"


def test_title_terms_drop_stopwords_numbers_and_repeats():
    assert regions.title_terms("The Harbour of Dieppe, no. 12 — harbour at dusk") == ["harbour", "dieppe", "dusk"]


def _halves(cols=20, rows=10):
    cells = list(range(cols * rows))
    subjects = ["Landscape|Trees" if c % cols < cols // 2 else "Portrait" for c in cells]
    return cells, subjects


def test_regions_are_named_from_the_label_vocabulary():
    cells, subjects = _halves()
    got = regions.find_regions(cells, 20, 10, {"subjects": subjects}, [""] * len(cells))
    assert got.source == "subjects"
    assert 2 <= len(got.scales) <= 3
    coarse = got.scales[0]
    assert len(coarse.item_region) == len(cells)
    names = {r.name for r in coarse.regions}
    assert any("Landscape" in n or "Trees" in n for n in names) and any("Portrait" in n for n in names)
    # Each region's name fits its own items: a "Portrait" region holds portrait items.
    for r in coarse.regions:
        members = [i for i, g in enumerate(coarse.item_region) if g == r.id]
        assert len(members) == r.count
        share = sum(r.terms[0] in subjects[i].split("|") for i in members) / len(members)
        assert share > 0.5, (r.name, share)
        c0, r0, c1, r1 = r.bbox
        assert c0 <= r.x <= c1 and r0 <= r.y <= r1 and r.x == int(r.x)  # a member cell's corner
    for s in got.scales:
        for r in s.regions:
            assert r.name and not re.fullmatch(r"(?i)(cluster|region)\s*\d+", r.name)


def test_regions_fall_back_to_title_words():
    cells = list(range(200))
    titles = [("Harbour view" if c % 20 < 10 else "Mountain pass") + f" {c}" for c in cells]
    got = regions.find_regions(cells, 20, 10, {}, titles)
    assert got.source == "title"
    names = " ".join(r.name for r in got.scales[0].regions).lower()
    assert ("harbour" in names or "view" in names) and ("mountain" in names or "pass" in names)


def test_no_terms_means_no_names_not_cluster_numbers():
    cells = list(range(200))
    got = regions.find_regions(cells, 20, 10, {}, ["IMG_0001.jpg"] * 200)
    assert got.scales == [] and "too few title words" in got.note
    uniform = regions.find_regions(cells, 20, 10, {"subjects": ["Same"] * 200}, [""] * 200)
    assert all(not s.regions for s in uniform.scales)  # one term everywhere is over-represented nowhere


def test_regions_document_is_json_shaped():
    cells, subjects = _halves()
    doc = regions.find_regions(cells, 20, 10, {"subjects": subjects}, [""] * 200).to_dict(20, 10)
    assert doc["format"] == "cviz-regions/1" and doc["cols"] == 20
    s = doc["scales"][0]
    assert set(s) == {"name", "regions", "item_region", "unnamed", "purity"} and len(s["item_region"]) == 200
    assert set(s["regions"][0]) == {"id", "name", "terms", "source", "count", "share", "x", "y", "bbox"}


def test_mismatched_lengths_are_an_error():
    with pytest.raises(ValueError, match="200 cells"):
        regions.find_regions(list(range(200)), 20, 10, {"s": ["a"] * 3}, [""] * 200)


# ---------------------------------------------------------------- filter columns

def test_label_columns_are_filters_whatever_their_size():
    n = 2000
    cols = {
        "subjects": ["|".join(f"subject {j}" for j in (i % 64, (i * 7) % 64)) for i in range(n)],  # 64 values
        "place": [f"place {i % 300}" for i in range(n)],  # 300 values: under the high limit
        "inventory": [f"inv-{i}" for i in range(n)],  # unique per item: never a filter
        "keywords": [f"kw {i % 900}" for i in range(n)],  # 900: over the limit, not a label column
        "only": ["x"] * n,
    }
    got = vocabulary.filter_columns(cols, ["subjects", "missing"])
    assert got[0] == "subjects"
    assert "place" in got and "inventory" not in got and "keywords" not in got and "only" not in got
    assert "keywords" in vocabulary.filter_columns(cols, ["keywords"])
    assert "place" not in vocabulary.filter_columns(cols, [], skip=["place"])


def test_repeated_label_names_are_told_apart_by_title_words():
    # One label for the whole left half, but its top and bottom halves differ in their titles.
    cols, rows = 20, 20
    cells = list(range(cols * rows))
    subjects = ["Prints" if c % cols < 10 else "Paintings" for c in cells]
    titles = [("Harbour view" if c // cols < 10 else "Forest path") if c % cols < 10 else "Portrait" for c in cells]
    got = regions.find_regions(cells, cols, rows, {"subjects": subjects}, titles)
    told_apart = False
    for s in got.scales:
        prints = [r.name for r in s.regions if r.name.startswith("Prints")]
        for name in prints:
            if " · " in name:
                assert name.split(" · ")[1].lower() in {"harbour", "forest", "path"}, name
        if len(prints) > 1:
            assert len(set(prints)) > 1, prints
            told_apart = True
    assert told_apart


def test_regions_of_a_large_map_are_fitted_on_a_sample_and_still_named_by_their_items():
    """Above regions.FIT_SAMPLE cells k-means is fitted on a fixed sample and every cell takes its
    nearest centre: the fit costs the same at any N, and the regions still hold what their names say."""
    from sklearn.cluster import KMeans

    cols, rows = 120, 50  # 6,000 cells
    cells = list(range(cols * rows))
    subjects = ["Landscape|Trees" if c % cols < cols // 2 else "Portrait" for c in cells]
    points = np.stack([np.arange(cols * rows) % cols, np.arange(cols * rows) // cols], axis=1).astype(np.float64)
    labels = regions._kmeans(points, 8, seed=0)
    sample = np.sort(np.random.default_rng(0).choice(len(points), size=regions.FIT_SAMPLE, replace=False))
    want = KMeans(n_clusters=8, n_init=3, random_state=0).fit(points[sample]).predict(points)
    np.testing.assert_array_equal(labels, want)
    assert len(set(labels.tolist())) == 8
    got = regions.find_regions(cells, cols, rows, {"subjects": subjects}, [""] * len(cells))
    for r in got.scales[0].regions:
        members = [i for i, g in enumerate(got.scales[0].item_region) if g == r.id]
        assert sum(r.terms[0] in subjects[i].split("|") for i in members) / len(members) > 0.5, r.name


# ---------------------------------------------------------------- honest names

def _members_of(scale, region):
    return [i for i, g in enumerate(scale.item_region) if g == region.id]


def test_a_term_carried_by_a_tenth_of_a_region_does_not_name_it():
    # "Masks" only in the left half, on every 10th item: over-represented there (z high, lift 2),
    # but a name over a patch where 9 items in 10 are something else would mislead.
    cols, rows = 20, 10
    cells = list(range(cols * rows))
    subjects = ["Masks" if c % cols < 10 and c % 10 == 0 else (f"lot {c % 23}" if c % cols < 10 else "Portrait")
                for c in cells]
    vocab = regions.Vocabulary([regions.split_terms(s) for s in subjects], "subjects")
    left = np.array([c for c in cells if c % cols < 10])
    z = dict(regions.term_scores([vocab.terms[i] for i in left], vocab.counts, len(cells)))
    assert z["Masks"] >= regions.MIN_Z  # it is over-represented: the share rule is what keeps it off
    assert "Masks" not in [t for t, _ in regions.honest_terms(left, vocab)]
    assert [t for t, _ in regions.honest_terms(left, vocab, min_share=0.1)][:1] == ["Masks"]
    got = regions.find_regions(cells, cols, rows, {"subjects": subjects}, [""] * len(cells))
    for s in got.scales:
        for r in s.regions:
            assert "Masks" not in r.terms, (s.name, r.name)
            members = _members_of(s, r)
            share = sum(r.terms[0] in regions.split_terms(subjects[i]) for i in members) / len(members)
            assert share >= regions.MIN_SHARE and abs(share - r.share) < 1e-9
        assert s.unnamed, "the left half's clusters stay unnamed (count only)"
        assert sum(u["count"] for u in s.unnamed) + sum(r.count for r in s.regions) == len(cells)


@pytest.mark.parametrize("seed", range(6))
def test_no_two_regions_of_a_scale_share_a_name_in_any_order(seed):
    # Patches of 4 x 4 cells with random subsets of three subjects: many clusters have the same
    # best term, some the same two terms in the other order.
    rng = np.random.default_rng(seed)
    cols, rows = 24, 24
    vocab = ["Insects", "Reptiles", "Birds"]
    patch = {(pc, pr): "|".join(rng.choice(vocab, size=rng.integers(1, 3), replace=False))
             for pc in range(cols // 4) for pr in range(rows // 4)}
    cells = list(range(cols * rows))
    subjects = [patch[(c % cols // 4, c // cols // 4)] for c in cells]
    titles = [f"{rng.choice(['beetle', 'lizard', 'heron', 'moth'])} specimen" for _ in cells]
    got = regions.find_regions(cells, cols, rows, {"subjects": subjects}, titles, seed=seed)
    assert got.scales
    for s in got.scales:
        keys = [regions.name_key(r.name) for r in s.regions]
        assert len(keys) == len(set(keys)), [r.name for r in s.regions]
        for r in s.regions:  # merged regions: the ids, counts and shares still agree
            members = _members_of(s, r)
            assert len(members) == r.count and r.share >= regions.MIN_SHARE


def test_name_key_treats_mirrored_and_recased_names_as_one():
    assert regions.name_key("Insects · Reptiles") == regions.name_key("reptiles · Insects")
    assert regions.name_key("Insects") != regions.name_key("Insects · Reptiles")


def test_title_words_are_distinctive_capitalised_and_never_stop_words():
    assert regions.title_terms("A New Man and a Woman of the North, view from the west") == ["man", "woman"]
    cols, rows = 20, 20
    cells = list(range(cols * rows))
    kinds = ["New Guinea mask, north coast", "New York street, old view", "Shadow puppet from Java, new",
             "Beetle, new species, small"]
    titles = [kinds[(c % cols >= 10) + 2 * (c // cols >= 10)] for c in cells]
    got = regions.find_regions(cells, cols, rows, {}, titles)
    assert got.source == "title" and got.scales
    for s in got.scales:
        for r in s.regions:
            for part in r.name.split(regions.SEPARATOR):
                assert part.lower() not in regions.STOPWORDS, r.name
                assert part[:1].isupper(), f"title word shown in lower case: {r.name}"


def test_title_words_match_whole_tokens_only():
    # "man" is a token of the right half's titles only; "woman" contains it as a substring.
    cols, rows = 20, 10
    cells = list(range(cols * rows))
    titles = ["Portrait of a woman seated" if c % cols < 10 else "Man with a hat" for c in cells]
    words = regions.Vocabulary([regions.title_terms(t) for t in titles], "title", title_words=True)
    left = np.array([c for c in cells if c % cols < 10])
    assert "man" not in [t for t, _ in regions.honest_terms(left, words)]
    got = regions.find_regions(cells, cols, rows, {"subjects": ["Paintings"] * len(cells)}, titles)
    for s in got.scales:
        for r in s.regions:
            members = _members_of(s, r)
            if "man" in r.terms:
                assert all(c % cols >= 10 for c in members), r.name
            if "woman" in r.terms:
                assert all(c % cols < 10 for c in members), r.name


def test_purity_and_named_counts_are_reported_per_scale():
    cells, subjects = _halves()
    got = regions.find_regions(cells, 20, 10, {"subjects": subjects}, [""] * len(cells))
    q = got.quality()
    for s in got.scales:
        assert q[f"{s.name}_named"] == len(s.regions) and q[f"{s.name}_clusters"] >= len(s.regions)
        shares = [sum(r.terms[0] in subjects[i].split("|") for i in _members_of(s, r)) / r.count for r in s.regions]
        assert q[f"{s.name}_purity"] == pytest.approx(sum(shares) / len(shares), abs=1e-4)
