"""The lazy item tables a large collection publishes instead of one ``items.json`` (format in docs/outputs.md).

A browser tab cannot parse ``items.json`` at a million items (about 260 MB of JSON), and most of it
is never looked at: a hover needs one title, a filter one column, a search the few items whose
titles hold a word. So above a threshold (``CVIZ_VIEWER_LAZY_ABOVE``) the ``metadata_json`` stage
writes, from the same ``items.json`` document (cviz.publish.items.build_items), a small
``items-index.json`` (format ``cviz-items-index/1``) and beside it, under ``lazy/``:

- ``cells.bin``: each item's cell, uint32 little-endian in item order (4 bytes an item);
- ``items/<n>.json``: the text of the items of one grid block of ``SHARD_BLOCK`` x ``SHARD_BLOCK``
  cells (id, image, title, url, column values), fetched for a hover, the panel or an export;
- ``years.bin``: each item's year, int16 little-endian, ``YEAR_MISSING`` for undated items;
- ``cat-<k>.bin``: each item's value of column k (a category column, or another column of few
  distinct texts that vocabulary.json may make a filter) as a uint8/uint16 code into the distinct
  texts listed in the index (code 0: empty), so a filter is one pass over a typed array;
- ``search/<key>.bin``: an inverted index of the title words (cviz.publish.search_index);
- ``ids/<n>.json``: id -> item number by hash of the id (FNV-1a), for addresses naming an item.

Cost in N: O(N) time; the files together are about the size of ``items.json`` (the search index
adds about 2-4 bytes per title word); the index grows with the category vocabularies, not with N.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from typing import Any, Iterator

import numpy as np

from cviz.publish.search_index import search_shards
from cviz.storage.base import Storage

INDEX_FORMAT = "cviz-items-index/1"
SHARD_FORMAT = "cviz-items-shard/1"
LAZY_DIR = "lazy"
SHARD_BLOCK = 32  # cells per side of an item-text shard (about 1,000 items, 250 KB of JSON)
ID_SHARD_ITEMS = 4096  # items per id shard, on average
YEAR_MISSING = -32768
MAX_CODES = 65_535  # distinct values of a category column that still fit a uint16 code (0 is "empty")
FILTER_TEXTS = 1_000  # distinct texts of another column that is still coded, for a vocabulary filter
FILTER_TEXTS_TOTAL = 10_000  # and of all such columns together (their texts are in the index)
TEXT_FIELDS = ("id", "image", "title", "url")


def fnv1a32(text: str) -> int:
    """32-bit FNV-1a hash of ``text``'s UTF-8 bytes (Fowler-Noll-Vo); the viewer computes the same."""
    h = 0x811C9DC5
    for b in text.encode("utf-8"):
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def shard_of_cell(cell: int, cols: int, block: int = SHARD_BLOCK) -> int:
    """The text shard holding the item in ``cell`` of a grid ``cols`` wide: blocks in row-major order."""
    per_row = -(-cols // block)
    return (cell // cols // block) * per_row + (cell % cols) // block


def _codes(values: list[str], limit: int = MAX_CODES) -> tuple[np.ndarray, list[str]] | None:
    """(code per item, distinct texts in first-seen order) of one column; None past ``limit`` texts."""
    vocabulary: dict[str, int] = {}
    codes = np.zeros(len(values), dtype=np.uint16)
    for i, v in enumerate(values):
        if not v:
            continue
        code = vocabulary.get(v)
        if code is None:
            if len(vocabulary) >= limit:
                return None
            code = vocabulary[v] = len(vocabulary) + 1
        codes[i] = code
    return (codes.astype(np.uint8) if len(vocabulary) < 256 else codes), list(vocabulary)


def _part_counts(texts: list[str], codes: np.ndarray) -> dict[str, int]:
    """Items per ``|``-separated part (as the viewer splits a category value), in first-seen order."""
    per_code = np.bincount(codes, minlength=len(texts) + 1)
    counts: Counter[str] = Counter()
    for k, text in enumerate(texts, start=1):
        for part in dict.fromkeys(p.strip() for p in text.split("|") if p.strip()):
            counts[part] += int(per_code[k])
    return dict(counts)


def _category_files(doc: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, bytes]], list[str]]:
    """The index's ``categories`` entry, the code files, and the category columns left out (too many values).

    Every category column is coded; so is any other column of at most ``FILTER_TEXTS`` distinct
    texts (``filter_only``: vocabulary.json may make it a filter, as a label column), while their
    texts together stay within ``FILTER_TEXTS_TOTAL`` so that the index stays small."""
    entries: dict[str, Any] = {}
    files: list[tuple[str, bytes]] = []
    dropped: list[str] = []
    categories = list(doc.get("category_columns") or [])
    others = [c for c in doc["columns"] if c not in categories and c != doc.get("date_column")]
    budget = FILTER_TEXTS_TOTAL
    for col in categories + others:
        only = col not in categories
        found = _codes([str(v or "") for v in doc["values"][col]], min(FILTER_TEXTS, budget) if only else MAX_CODES)
        if found is None:
            if not only:
                dropped.append(col)
            continue
        codes, texts = found
        budget -= len(texts) if only else 0
        rel = f"{LAZY_DIR}/cat-{doc['columns'].index(col)}.bin"
        files.append((rel, codes.astype(codes.dtype.newbyteorder("<")).tobytes()))
        entries[col] = {"path": rel, "type": codes.dtype.name, "texts": texts, "counts": _part_counts(texts, codes),
                        **({"filter_only": True} if only else {})}
    return entries, files, dropped


def _years(doc: dict[str, Any]) -> tuple[dict[str, Any] | None, bytes]:
    """The index's ``years`` entry (the file, per-year counts for the histogram) and years.bin."""
    raw = doc["fields"]["year"]
    years = np.array([YEAR_MISSING if y is None else int(y) for y in raw], dtype="<i2")
    dated = years[years != YEAR_MISSING]
    if not doc.get("date_column") or dated.size == 0:
        return None, b""
    found, counts = np.unique(dated, return_counts=True)
    entry = {"path": f"{LAZY_DIR}/years.bin", "missing": YEAR_MISSING, "min": int(found[0]), "max": int(found[-1]),
             "counts": [[int(y), int(c)] for y, c in zip(found, counts)], "undated": int(years.size - dated.size)}
    return entry, years.tobytes()


def _text_shards(doc: dict[str, Any], block: int) -> Iterator[tuple[str, bytes]]:
    """One JSON file per grid block holding items: their numbers and text fields, as items.json has them."""
    cols = int(doc["grid"]["cols"])
    members: dict[int, list[int]] = {}
    for i, cell in enumerate(doc["fields"]["cell"]):
        members.setdefault(shard_of_cell(int(cell), cols, block), []).append(i)
    fields, values = doc["fields"], doc["values"]
    for n, items in sorted(members.items()):
        shard = {"format": SHARD_FORMAT, "items": items,
                 "fields": {f: [fields[f][i] for i in items] for f in TEXT_FIELDS},
                 "values": {c: [values[c][i] for i in items] for c in doc["columns"]}}
        yield f"{LAZY_DIR}/items/{n}.json", _json_bytes(shard)


def _id_shards(ids: list[str]) -> tuple[int, Iterator[tuple[str, bytes]]]:
    """(shard count, files): id -> item number, each id in shard ``fnv1a32(id) % count``."""
    count = max(1, math.ceil(len(ids) / ID_SHARD_ITEMS))
    tables: list[dict[str, list]] = [{"ids": [], "items": []} for _ in range(count)]
    for i, item_id in enumerate(ids):
        t = tables[fnv1a32(item_id) % count]
        t["ids"].append(item_id)
        t["items"].append(i)
    return count, ((f"{LAZY_DIR}/ids/{n}.json", _json_bytes(t)) for n, t in enumerate(tables))


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def build_lazy(doc: dict[str, Any], block: int = SHARD_BLOCK) -> tuple[dict[str, Any], Iterator[tuple[str, bytes]]]:
    """(items-index.json, the files beside it as (path relative to the version folder, bytes)) for an
    items.json document ``doc`` (format cviz-items/2).

    ``block``: cells per side of a text shard; a hover fetches one shard, so it trades the bytes of
    one fetch (``block``\\ :sup:`2` items) against the number of files (N / ``block``\\ :sup:`2`).
    """
    ids = [str(i) for i in doc["fields"]["id"]]
    categories, cat_files, too_many = _category_files(doc)
    years, years_bin = _years(doc)
    search_entry, search_files = search_shards(doc["fields"]["title"], f"{LAZY_DIR}/search")
    id_count, id_files = _id_shards(ids)
    grid = doc["grid"]
    index = {
        "format": INDEX_FORMAT, "collection": doc["collection"], "count": doc["count"], "grid": grid,
        "dzi": doc.get("dzi", "map.dzi"), "columns": doc["columns"], "date_column": doc["date_column"],
        "category_columns": [c for c in doc["category_columns"] if c in categories],
        "columns_dropped": doc.get("columns_dropped", 0), "values_truncated": doc.get("values_truncated", 0),
        "category_columns_dropped": too_many,
        "items_sha256": hashlib.sha256(json.dumps(ids).encode("utf-8")).hexdigest(),
        "cells": f"{LAZY_DIR}/cells.bin",
        "shards": {"block": block, "cols": -(-int(grid["cols"]) // block), "rows": -(-int(grid["rows"]) // block),
                   "path": f"{LAZY_DIR}/items/{{n}}.json"},
        "ids": {"shards": id_count, "hash": "fnv1a32", "path": f"{LAZY_DIR}/ids/{{n}}.json"},
        "years": years, "categories": categories, "search": search_entry,
    }
    cells = np.asarray(doc["fields"]["cell"], dtype="<u4").tobytes()

    def files() -> Iterator[tuple[str, bytes]]:
        yield index["cells"], cells
        if years:
            yield years["path"], years_bin
        yield from cat_files
        yield from _text_shards(doc, block)
        yield from id_files
        yield from search_files
    return index, files()


def write_lazy(storage: Storage, version_folder: str, doc: dict[str, Any], block: int = SHARD_BLOCK) -> dict[str, Any]:
    """Write the lazy tables of ``doc`` into ``version_folder``, the index last (a reader that finds
    the index finds every file it names) with a digest of them all (``content_sha256``, so the
    index alone is the table's data version); what was written, for the stage's report."""
    index, files = build_lazy(doc, block)
    sizes: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    content = hashlib.sha256()

    def sized() -> Iterator[tuple[str, bytes]]:
        for rel, data in files:
            content.update(f"{rel}\n{len(data)}\n".encode())
            content.update(data)
            kind = rel.split("/")[1].split("-")[0].split(".")[0]
            sizes[kind] += len(data)
            counts[kind] += 1
            yield f"{version_folder}/{rel}", data
    storage.write_many(sized())
    index["content_sha256"] = content.hexdigest()  # every file's bytes: the index changes when any does
    index_bytes = storage.write_json(f"{version_folder}/{INDEX_NAME}", index, compact=True)
    return {"index_bytes": index_bytes, "bytes": dict(sizes), "files": dict(counts),
            "category_columns_dropped": index["category_columns_dropped"]}


INDEX_NAME = "items-index.json"


def read_lazy(storage: Storage, version_folder: str) -> dict[str, Any]:
    """The items.json document (cviz-items/2) that the lazy tables in ``version_folder`` were written
    from, put back together: for checks and tables on the Python side, never for the viewer."""
    index = storage.read_json(f"{version_folder}/{INDEX_NAME}")
    if index.get("format") != INDEX_FORMAT:
        raise ValueError(f"{version_folder}/{INDEX_NAME}: unknown format {index.get('format')!r}")
    count = int(index["count"])
    cells = np.frombuffer(storage.read_bytes(f"{version_folder}/{index['cells']}"), dtype="<u4")
    if cells.size != count:
        raise ValueError(f"{version_folder}/{index['cells']}: {cells.size} cells for {count} items")
    fields: dict[str, list] = {f: [None] * count for f in TEXT_FIELDS}
    values: dict[str, list] = {c: [None] * count for c in index["columns"]}
    shards = {shard_of_cell(int(c), int(index["grid"]["cols"]), int(index["shards"]["block"])) for c in cells}
    for n in sorted(shards):
        shard = storage.read_json(f"{version_folder}/{index['shards']['path'].format(n=n)}")
        for table, out in ((shard["fields"], fields), (shard["values"], values)):
            for key, column in table.items():
                for i, v in zip(shard["items"], column):
                    out[key][i] = v
    years: list[int | None] = [None] * count
    if index.get("years"):
        raw = np.frombuffer(storage.read_bytes(f"{version_folder}/{index['years']['path']}"), dtype="<i2")
        years = [None if y == YEAR_MISSING else int(y) for y in raw]
    return {
        "format": "cviz-items/2", "collection": index["collection"], "count": count, "grid": index["grid"],
        "dzi": index["dzi"], "columns": index["columns"], "date_column": index["date_column"],
        "category_columns": index["category_columns"] + index.get("category_columns_dropped", []),
        "columns_dropped": index["columns_dropped"], "values_truncated": index["values_truncated"],
        "fields": {"id": fields["id"], "cell": [int(c) for c in cells], "image": fields["image"], "year": years,
                   "title": fields["title"], "url": fields["url"]},
        "values": values,
    }
