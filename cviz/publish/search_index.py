"""An inverted index of item titles, sharded by the first letters of each word, for the lazy viewer.

At a million items the viewer cannot scan every title for each query (it never has them), so the
``metadata_json`` stage writes, for every word of every title, the sorted list of items whose title
holds it (an inverted index, Manning, Raghavan & Schütze, *Introduction to Information Retrieval*,
ch. 1-5), in files keyed by the word's first ``KEY_CHARS`` characters: a query word fetches one file
and unions the postings of the words it begins (prefix search), a query of several words intersects
them. Words are what the viewer's ``lib/lazy-format.js`` ``wordsOf`` finds: the title lower-cased
after NFD with the combining marks U+0300-U+036F removed (as the viewer's ``normalizeText`` does),
then split into runs of letters and digits.

File ``<hex of the key's UTF-8>.bin``: ``CVZS``, uint32 version 1, uint32 header length H (little
endian), H bytes of JSON ``{"words": [...], "counts": [...], "ends": [...]}`` (sorted words, items
per word, end offset of each word's postings in the blob), then the blob: per word its item numbers
ascending as LEB128 varints of the gaps (the first is the number itself), about 1-3 bytes a posting.

Cost in N: O(W log W) for W title words (a sort of (word, item) pairs held as numpy int32 arrays,
8 bytes a pair), output about 2 bytes a posting plus each distinct word once.
"""

from __future__ import annotations

import json
import re
import struct
import unicodedata
from array import array
from typing import Any, Iterator

import numpy as np

KEY_CHARS = 2
MAGIC = b"CVZS"
_WORD = re.compile(r"[^\W_]+")
_MARKS = re.compile("[\u0300-\u036f]")


def words_of(text: str) -> list[str]:
    """The words of ``text`` as the search index and the viewer's lazy search both read them."""
    return _WORD.findall(_MARKS.sub("", unicodedata.normalize("NFD", text or "")).lower())


def shard_key(word: str) -> str:
    """The file a word is in: the hex of the UTF-8 of its first ``KEY_CHARS`` characters."""
    return word[:KEY_CHARS].encode("utf-8").hex()


def varints(values: np.ndarray) -> np.ndarray:
    """LEB128 encoding of non-negative integers below 2\\ :sup:`35`, vectorised (7 bits a byte, low first)."""
    v = np.asarray(values, dtype=np.uint64)
    nb = np.ones(v.shape, dtype=np.int64)
    for k in range(1, 5):
        nb += v >= (1 << (7 * k))
    starts = np.cumsum(nb) - nb
    out = np.zeros(int(nb.sum()), dtype=np.uint8)
    for k in range(5):
        sel = nb > k
        byte = ((v[sel] >> np.uint64(7 * k)) & np.uint64(0x7F)).astype(np.uint8)
        out[starts[sel] + k] = byte | ((nb[sel] > k + 1).astype(np.uint8) << 7)
    return out


def _pairs(titles: list[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(distinct words, word number per pair, item per pair), pairs sorted by word then item, unique."""
    vocabulary: dict[str, int] = {}
    word_ids, item_ids = array("i"), array("i")
    for i, title in enumerate(titles):
        for w in dict.fromkeys(words_of(str(title or ""))):
            word_ids.append(vocabulary.setdefault(w, len(vocabulary)))
            item_ids.append(i)
    words = list(vocabulary)
    rank = np.empty(len(words), dtype=np.int32)
    rank[np.argsort(np.array(words, dtype=object), kind="stable")] = np.arange(len(words), dtype=np.int32)
    w = rank[np.frombuffer(word_ids, dtype=np.int32)] if word_ids else np.zeros(0, np.int32)
    it = np.frombuffer(item_ids, dtype=np.int32) if item_ids else np.zeros(0, np.int32)
    order = np.lexsort((it, w))
    return sorted(words), w[order], it[order]


def search_shards(titles: list[str], folder: str) -> tuple[dict[str, Any], Iterator[tuple[str, bytes]]]:
    """(the index's ``search`` entry, the shard files as (path, bytes)) for the items' ``titles``."""
    words, w, it = _pairs(titles)
    gaps = it.astype(np.int64).copy()
    first = np.ones(w.size, dtype=bool)
    first[1:] = w[1:] != w[:-1]
    gaps[~first] -= it[:-1][~first[1:]] if w.size else 0
    encoded = varints(gaps)
    nbytes = np.ones(w.size, dtype=np.int64)
    for k in range(1, 5):
        nbytes += gaps >= (1 << (7 * k))
    # Byte range and count of each word's postings in `encoded`.
    counts = np.bincount(w, minlength=len(words))
    word_bytes = np.bincount(w, weights=nbytes, minlength=len(words)).astype(np.int64)
    word_end = np.cumsum(word_bytes)
    word_start = word_end - word_bytes
    keys: dict[str, list[int]] = {}
    for k, word in enumerate(words):
        keys.setdefault(shard_key(word), []).append(k)
    entry = {"path": f"{folder}/{{key}}.bin", "key_chars": KEY_CHARS, "keys": sorted(keys),
             "words": len(words), "postings": int(w.size)}

    def files() -> Iterator[tuple[str, bytes]]:
        for key in sorted(keys):
            ks = keys[key]
            lo, hi = int(word_start[ks[0]]), int(word_end[ks[-1]])
            header = json.dumps({"words": [words[k] for k in ks], "counts": [int(counts[k]) for k in ks],
                                 "ends": [int(word_end[k] - lo) for k in ks]},
                                ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            yield f"{folder}/{key}.bin", MAGIC + struct.pack("<II", 1, len(header)) + header + encoded[lo:hi].tobytes()
    return entry, files()


def read_shard(data: bytes) -> dict[str, list[int]]:
    """word -> items of one shard file (the inverse of ``search_shards``; for tests and checks)."""
    if data[:4] != MAGIC:
        raise ValueError("not a cviz search shard")
    _, size = struct.unpack_from("<II", data, 4)
    header = json.loads(data[12:12 + size])
    blob = data[12 + size:]
    out: dict[str, list[int]] = {}
    start = 0
    for word, end in zip(header["words"], header["ends"]):
        items, value, shift, prev = [], 0, 0, 0
        for b in blob[start:end]:
            value |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                prev = value if not items else prev + value
                items.append(prev)
                value, shift = 0, 0
        out[word] = items
        start = end
    return out
