"""The lazy item tables a large collection publishes instead of items.json (cviz.publish.items_lazy)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from cviz.ingest.collection import CollectionConfig
from cviz.publish import items_lazy
from cviz.publish.items import build_items
from cviz.publish.search_index import read_shard, shard_key, words_of
from cviz.storage import open_storage

WORDS = Path(__file__).resolve().parents[1] / "viewer" / "tests" / "unit" / "lazy_words.json"
VOCAB = ["sun", "Sunflowers", "the", "of", "Étude", "Arles", "harbour", "night", "Dürer", "1885"]


def synthetic_doc(n: int = 300, cols: int = 20, seed: int = 3) -> dict:
    """An items.json document of ``n`` items scattered over a ``cols``-wide grid with slack."""
    rng = random.Random(seed)
    rows_n = -(-n * 5 // 4 // cols)
    cells = rng.sample(range(cols * rows_n), n)
    rows = []
    for i in range(n):
        rows.append({"filename": f"dir/img {i}#.jpg", "title": " ".join(rng.choices(VOCAB, k=rng.randint(0, 5))),
                     "date": rng.choice(["", f"ca. {rng.randint(1400, 2000)}", "undated"]),
                     "kind": rng.choice(["", "Oil", "Oil|Canvas", "Print", "__proto__"]), "note": f"n{i}"})
    config = CollectionConfig(name="lazy-test", images="/x", title="{title}")
    grid = {"cols": cols, "rows": rows_n, "cell_width": 8, "cell_height": 8, "width": cols * 8, "height": rows_n * 8}
    entries = [{"file": r["filename"], "row": r} for r in rows]
    doc, _ = build_items(config, entries, ["filename", "title", "date", "kind", "note"], cells, grid,
                         [f"../images/{i}.jpg" for i in range(n)])
    return doc


def write(tmp_path: Path, doc: dict, block: int = 8) -> tuple[object, dict]:
    storage = open_storage(str(tmp_path))
    info = items_lazy.write_lazy(storage, "v", doc, block=block)
    return storage, info


def test_round_trip_gives_back_the_items_json_document(tmp_path: Path) -> None:
    doc = synthetic_doc()
    assert doc["category_columns"] == ["kind"] and doc["date_column"] == "date"
    storage, info = write(tmp_path, doc)
    assert items_lazy.read_lazy(storage, "v") == doc
    index = storage.read_json("v/items-index.json")
    assert index["format"] == "cviz-items-index/1" and index["count"] == 300
    # 20x20 cells in blocks of 8: shards of at most 64 items, one file per block that holds items.
    shard_files = list((tmp_path / "v" / "lazy" / "items").iterdir())
    assert 6 <= len(shard_files) <= 9 == index["shards"]["cols"] * index["shards"]["rows"]
    for f in shard_files:
        shard = json.loads(f.read_text())
        assert len(shard["items"]) <= 64 and shard["items"] == sorted(shard["items"])
        n = int(f.stem)
        assert all(items_lazy.shard_of_cell(doc["fields"]["cell"][i], 20, 8) == n for i in shard["items"])
    assert info["files"]["items"] == len(shard_files)


def test_binary_columns_hold_each_items_year_and_category(tmp_path: Path) -> None:
    doc = synthetic_doc()
    storage, _ = write(tmp_path, doc)
    index = storage.read_json("v/items-index.json")
    raw = (tmp_path / "v" / index["years"]["path"]).read_bytes()
    assert len(raw) == 2 * 300
    years = [int.from_bytes(raw[2 * i:2 * i + 2], "little", signed=True) for i in range(300)]
    assert years == [-32768 if y is None else y for y in doc["fields"]["year"]]
    dated = [y for y in doc["fields"]["year"] if y is not None]
    assert sum(c for _, c in index["years"]["counts"]) == len(dated) and index["years"]["min"] == min(dated)
    kind = index["categories"]["kind"]
    codes = (tmp_path / "v" / kind["path"]).read_bytes()
    assert kind["type"] == "uint8" and len(codes) == 300
    texts = [""] + kind["texts"]
    assert [texts[c] for c in codes] == doc["values"]["kind"]
    wanted = {}
    for v in doc["values"]["kind"]:
        for part in dict.fromkeys(p for p in v.split("|") if p):
            wanted[part] = wanted.get(part, 0) + 1
    assert kind["counts"] == wanted  # "Oil|Canvas" counts for Oil and for Canvas


def test_search_shards_hold_every_title_word_and_only_those(tmp_path: Path) -> None:
    doc = synthetic_doc()
    storage, _ = write(tmp_path, doc)
    search = storage.read_json("v/items-index.json")["search"]
    found: dict[str, list[int]] = {}
    for key in search["keys"]:
        shard = read_shard((tmp_path / "v" / search["path"].format(key=key)).read_bytes())
        assert all(shard_key(w) == key for w in shard)
        found.update(shard)
    expected: dict[str, list[int]] = {}
    for i, title in enumerate(doc["fields"]["title"]):
        for w in dict.fromkeys(words_of(title)):
            expected.setdefault(w, []).append(i)
    assert found == expected
    assert "etude" in found and "durer" in found  # accents folded as the viewer's search folds them
    assert search["postings"] == sum(map(len, expected.values()))


def test_ids_are_found_by_their_hash(tmp_path: Path) -> None:
    doc = synthetic_doc()
    storage, _ = write(tmp_path, doc)
    ids = storage.read_json("v/items-index.json")["ids"]
    assert items_lazy.fnv1a32("") == 0x811C9DC5 and items_lazy.fnv1a32("a") == 0xE40C292C  # FNV-1a test vectors
    for i, item_id in enumerate(doc["fields"]["id"]):
        t = storage.read_json(f"v/{ids['path'].format(n=items_lazy.fnv1a32(item_id) % ids['shards'])}")
        assert t["items"][t["ids"].index(item_id)] == i


def test_words_are_the_viewers_words() -> None:
    """The same vectors are checked against viewer/public/src/lib/lazy-format.js by the node tests."""
    for text, words in json.loads(WORDS.read_text()):
        assert words_of(text) == words, text


def test_oversized_values_stay_cut_and_a_huge_vocabulary_is_no_filter(tmp_path: Path, monkeypatch) -> None:
    config = CollectionConfig(name="big", images="/x", title="{title}")
    huge = "x" * (5 << 20)
    rows = [{"filename": f"{i}.jpg", "title": huge if i == 0 else f"t{i}", "kind": f"k{i % 5}", "d": huge}
            for i in range(10)]
    grid = {"cols": 4, "rows": 3, "cell_width": 8, "cell_height": 8, "width": 32, "height": 24}
    doc, _ = build_items(config, [{"file": r["filename"], "row": r} for r in rows], ["filename", "title", "kind", "d"],
                         list(range(10)), grid, [f"../i/{i}" for i in range(10)])
    monkeypatch.setattr(items_lazy, "MAX_CODES", 3)  # as if "kind" had more values than a uint16 holds
    storage, info = write(tmp_path, doc, block=2)
    total = sum(f.stat().st_size for f in (tmp_path / "v").rglob("*") if f.is_file())
    assert total < 30 * 20_000  # 10 items, each within its 20,000-character share, never 5 MB
    index = storage.read_json("v/items-index.json")
    assert index["category_columns"] == [] and index["category_columns_dropped"] == ["kind"]
    assert info["category_columns_dropped"] == ["kind"]
    assert items_lazy.read_lazy(storage, "v")["fields"]["title"][0].endswith("the full text is in the catalogue]")


def test_an_unknown_index_or_short_cells_file_is_refused(tmp_path: Path) -> None:
    storage, _ = write(tmp_path, synthetic_doc(40, cols=8))
    (tmp_path / "v" / "lazy" / "cells.bin").write_bytes(b"\0" * 8)
    with pytest.raises(ValueError, match="cells.bin: 2 cells for 40 items"):
        items_lazy.read_lazy(storage, "v")
    storage.write_json("v/items-index.json", {"format": "cviz-items-index/9"})
    with pytest.raises(ValueError, match="unknown format 'cviz-items-index/9'"):
        items_lazy.read_lazy(storage, "v")


@pytest.mark.parametrize("lazy_above", [3, 100_000])
def test_the_pipeline_publishes_the_lazy_form_only_above_the_threshold(tmp_path: Path, monkeypatch,
                                                                       lazy_above: int) -> None:
    from cviz.publish.verify import verify_items
    from cviz.publish.versions import Version, read_item_table, read_pointer
    from tests.bad_input.stages import register, run_all
    from tests.test_publish import write_images

    monkeypatch.setenv("CVIZ_VIEWER_LAZY_ABOVE", str(lazy_above))
    write_images(tmp_path / "images", 0, 6)
    store = open_storage(str(tmp_path / "root"))
    register(store, {"name": "lz", "images": str(tmp_path / "images")})
    run_all(store, "lz")
    pointer = read_pointer(store, "lz")
    version = Version("lz", pointer["items"].split("/")[0])
    lazy = lazy_above == 3
    assert pointer["items"].endswith("items-index.json" if lazy else "items.json")
    assert store.exists(version.items) is not lazy and store.exists(version.items_index) is lazy
    verdict = verify_items(store, "lz")
    assert verdict.passed, verdict
    doc = read_item_table(store, version)
    assert doc["count"] == 6 and sorted(doc["fields"]["id"]) == [f"img-{i:03d}.jpg" for i in range(6)]


FIXTURE = Path(__file__).resolve().parents[1] / "viewer" / "tests" / "unit" / "fixtures"


def write_viewer_fixture(folder: Path) -> None:
    """The lazy tables of fixtures/lazy-source.json (hand-written) that the node tests decode, blocks of 2."""
    storage = open_storage(str(folder))
    items_lazy.write_lazy(storage, "lazy-unit", json.loads((FIXTURE / "lazy-source.json").read_text()), block=2)


def test_the_viewers_lazy_fixture_is_what_the_publisher_writes(tmp_path: Path) -> None:
    """viewer/tests/unit/fixtures/lazy-unit/ (regenerate: write_viewer_fixture(FIXTURE)) is current."""
    write_viewer_fixture(tmp_path)
    made = {p.relative_to(tmp_path / "lazy-unit"): p.read_bytes() for p in (tmp_path / "lazy-unit").rglob("*") if p.is_file()}
    kept = {p.relative_to(FIXTURE / "lazy-unit"): p.read_bytes() for p in (FIXTURE / "lazy-unit").rglob("*") if p.is_file()}
    assert made == kept
