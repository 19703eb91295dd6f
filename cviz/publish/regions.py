"""Named regions of the map: clusters of grid cells at a few scales, each named by its own vocabulary.

At the whole-map view thousands of thumbnails read as texture; a few words on the map say what
lives where (PixPlot's "hotspots", Nomic Atlas' topic labels). Regions are k-means clusters of the
items' cell positions (scikit-learn ``KMeans``; on the grid a cluster is a compact patch of cells)
at two or three scales, coarse to fine. Each is named from the collection's metadata: the terms of
``label_columns`` (``|``-separated values) or, when there are none, title words, ranked by the
log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi & Quinn 2008, "Fightin'
Words"), i.e. terms over-represented in the region against the whole collection, weighted by how
sure the count is. A region with no over-represented term gets no name (it is not drawn), never a
bare "Cluster 7".

Cost in N: k-means on N 2-D cell positions at each scale, O(N S i) for S ~ 0.5 sqrt(N) regions
and i iterations; term counts O(N labels). Memory O(N).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

FORMAT = "cviz-regions/1"
SCALES = (("coarse", 0.07), ("medium", 0.2), ("fine", 0.5))  # regions ~ factor * sqrt(N)
MIN_REGION_ITEMS = 4
PRIOR = 10.0  # total pseudo-count of the Dirichlet prior, spread by global term frequency
MIN_Z = 1.0  # a term must be over-represented by at least this many standard errors
_WORD = re.compile(r"[^\W\d_][^\W_]{2,}", re.UNICODE)
STOPWORDS = frozenset("""
a an and are as at be by de del der des di du for from in into is it la le les of on or the to
van von with without no untitled unknown jpg jpeg png tif tiff img dsc ca circa after before about its his her their our this that
""".split())


@dataclass
class Region:
    id: int
    name: str
    terms: list[str]
    source: str  # the column the terms come from, or "title"
    count: int
    x: float  # label anchor, in grid cells: the top-left corner of a member cell
    y: float
    bbox: tuple[int, int, int, int]  # col0, row0, col1, row1 (inclusive)

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "terms": self.terms, "source": self.source,
                "count": self.count, "x": round(self.x, 2), "y": round(self.y, 2), "bbox": list(self.bbox)}


@dataclass
class Scale:
    name: str
    regions: list[Region]
    item_region: list[int]  # region id per item, -1 for none

    def to_dict(self) -> dict:
        return {"name": self.name, "regions": [r.to_dict() for r in self.regions], "item_region": self.item_region}


@dataclass
class RegionsResult:
    scales: list[Scale] = field(default_factory=list)
    source: str = ""
    note: str = ""

    def to_dict(self, cols: int, rows: int) -> dict:
        return {"format": FORMAT, "cols": cols, "rows": rows, "source": self.source,
                "scales": [s.to_dict() for s in self.scales]}


def title_terms(title: str) -> list[str]:
    """Distinct lower-case words of a title (letters first, 3+ characters, stop words dropped)."""
    words = [w.lower() for w in _WORD.findall(title or "")]
    return list(dict.fromkeys(w for w in words if w not in STOPWORDS))


def split_terms(value: str) -> list[str]:
    """Distinct ``|``-separated values of a label cell, trimmed."""
    return list(dict.fromkeys(p.strip() for p in (value or "").split("|") if p.strip()))


def term_scores(region_terms: Sequence[Sequence[str]], all_counts: Counter, n_all: int,
                prior: float = PRIOR) -> list[tuple[str, float]]:
    """Terms of one region ranked by the z-scored log-odds of appearing in it against the rest.

    Monroe et al. 2008, eq. 16-22, with item-term pairs as the tokens: y_w counts items of the
    region holding term w, n the region's item-term pairs, the rest likewise, and the informative
    Dirichlet prior a_w = prior * (all_w / sum(all)). ``n_all`` (items in the collection) is kept
    for the signature's sake; the token totals come from ``all_counts``.
    """
    del n_all
    inside = Counter(t for terms in region_terms for t in terms)
    n_in = sum(inside.values())
    total = sum(all_counts.values())
    n_out = total - n_in
    if n_in == 0 or n_out <= 0 or len(all_counts) < 2:  # one term everywhere distinguishes nothing
        return []
    scored = []
    for term, y_in in inside.items():
        y_all = all_counts[term]
        y_out = y_all - y_in
        a = prior * y_all / total
        lo_in = math.log((y_in + a) / (n_in + prior - y_in - a))
        lo_out = math.log((y_out + a) / (n_out + prior - y_out - a))
        var = 1.0 / (y_in + a) + 1.0 / (y_out + a)
        scored.append((term, (lo_in - lo_out) / math.sqrt(var)))
    scored.sort(key=lambda ts: (-ts[1], ts[0]))
    return scored


def _top_terms(members: np.ndarray, terms: list[list[str]], all_counts: Counter, how_many: int = 3) -> list[str]:
    ranked = [(t, z) for t, z in term_scores([terms[i] for i in members], all_counts, len(terms)) if z >= MIN_Z]
    # A term counts only if a fair share of the region holds it (not one stray item).
    need = max(2, math.ceil(0.1 * len(members)))
    held = Counter(t for i in members for t in terms[i])
    return [t for t, _ in ranked if held[t] >= need][:how_many]


def _name_regions(labels: np.ndarray, k: int, terms: list[list[str]], used_names: set[str],
                  words: list[list[str]] | None = None) -> list[tuple[str, list[str]]]:
    """(name, top terms) per region. Two regions of one scale with the same name (a small label
    vocabulary) are told apart by their most over-represented title word, when there is one."""
    all_counts = Counter(t for ts in terms for t in ts)
    out = []
    for r in range(k):
        top = _top_terms(np.flatnonzero(labels == r), terms, all_counts)
        if not top:
            out.append(("", []))
            continue
        name = top[0] if len(top) == 1 or top[0] not in used_names else f"{top[0]} · {top[1]}"
        used_names.add(name)
        out.append((name, top))
    if words is not None:
        word_counts = Counter(t for ts in words for t in ts)
        seen = Counter(name for name, _ in out if name)
        for r, (name, top) in enumerate(out):
            if name and seen[name] > 1:
                extra = [w for w in _top_terms(np.flatnonzero(labels == r), words, word_counts, 5)
                         if w.lower() not in name.lower()]
                if extra:
                    out[r] = (f"{name} · {extra[0]}", top + [extra[0]])
    return out


def _kmeans(points: np.ndarray, k: int, seed: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(points)


def _regions_of(labels: np.ndarray, names: list, points: np.ndarray, source: str) -> tuple[list[Region], list[int]]:
    """The named clusters of one scale as Regions (too small or unnamed ones dropped), and each
    item's region id (-1: none)."""
    col, row = points[:, 0].astype(np.int64), points[:, 1].astype(np.int64)
    regions: list[Region] = []
    item_region = [-1] * len(points)
    for r, (name, top) in enumerate(names):
        members = np.flatnonzero(labels == r)
        if not name or len(members) < MIN_REGION_ITEMS:
            continue
        rid = len(regions)
        # Anchor at the top-left corner of the member cell nearest the centroid: always on the
        # region, even if not convex, and on a cell corner, so the name covers no photo's centre.
        centroid = points[members].mean(axis=0)
        m = members[np.argmin(((points[members] - centroid) ** 2).sum(axis=1))]
        regions.append(Region(
            id=rid, name=name, terms=top, source=source, count=int(len(members)),
            x=float(col[m]), y=float(row[m]),
            bbox=(int(col[members].min()), int(row[members].min()), int(col[members].max()), int(row[members].max())),
        ))
        for i in members:
            item_region[int(i)] = rid
    return regions, item_region


def find_regions(cells: Sequence[int], cols: int, rows: int, label_values: dict[str, Sequence[str]],
                 titles: Sequence[str], seed: int = 0) -> RegionsResult:
    """Regions at up to three scales for items at ``cells`` on a ``cols`` x ``rows`` grid.

    ``label_values``: column -> one value per item (the collection's label_columns); their terms
    name the regions. Without usable label terms, title words do.
    """
    n = len(cells)
    if len(titles) != n or any(len(v) != n for v in label_values.values()):
        raise ValueError(f"regions: {n} cells but titles/labels of other lengths")
    result = RegionsResult()
    if n < 2 * MIN_REGION_ITEMS:
        result.note = f"{n} items: too few for regions"
        return result
    c = np.asarray(cells, dtype=np.int64)
    col, row = c % cols, c // cols
    points = np.stack([col, row], axis=1).astype(np.float64)

    terms: list[list[str]] = [[] for _ in range(n)]
    sources = []
    for column, values in label_values.items():
        parts = [split_terms(v) for v in values]
        if sum(bool(p) for p in parts) >= 0.3 * n:
            sources.append(column)
            for i, p in enumerate(parts):
                terms[i].extend(p)
    words = [title_terms(t) for t in titles]
    if not sources:
        terms = words
        sources = ["title"]
        if sum(bool(t) for t in terms) < 0.3 * n:
            result.note = "no label terms and too few title words to name regions"
            return result
    result.source = ",".join(sources)

    used: set[str] = set()
    seen_k: set[int] = set()
    for scale_name, factor in SCALES:
        k = min(int(round(factor * math.sqrt(n))), n // MIN_REGION_ITEMS)
        k = max(k, 2)
        if k in seen_k or k > n // MIN_REGION_ITEMS:
            continue
        seen_k.add(k)
        labels = _kmeans(points, k, seed)
        names = _name_regions(labels, k, terms, used, words if sources != ["title"] else None)
        regions, item_region = _regions_of(labels, names, points, result.source)
        if regions:
            result.scales.append(Scale(scale_name, regions, item_region))
    return result
