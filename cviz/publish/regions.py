"""Named regions of the map: clusters of grid cells at a few scales, each named by its own vocabulary.

At the whole-map view thousands of thumbnails read as texture; a few words on the map say what
lives where (PixPlot's "hotspots", Nomic Atlas' topic labels). Regions are k-means clusters of the
items' cell positions (scikit-learn ``KMeans``; on the grid a cluster is a compact patch of cells)
at two or three scales, coarse to fine. Each is named from the collection's metadata: the terms of
``label_columns`` (``|``-separated values) or, when there are none, whole title words, ranked by the
log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi & Quinn 2008, "Fightin' Words"), i.e. terms
over-represented in the region against the whole collection, weighted by how sure the count is.

A name must be true of the region, so a curator can trust it. A term names a region only when
``MIN_SHARE`` of the region's items carry it and it is ``MIN_LIFT`` times as frequent there as in
the collection (a 13% "Masks" over a patch of figurines is not a name; a term most of the
collection carries names nothing). Both were chosen by measurement (benchmarks/bench_quality.py
``--rows regions`` on imageplot and met-sample: a share of 0.4 halves the named regions for a little
purity, 0.2 admits names a fifth of the region carries; a lift of 1.5 left a region 80% European
Paintings unnamed in a collection two thirds European Paintings); a region without such a
term stays unnamed: it is published without a name (its count only), never as a bare "Cluster 7".
Title words are whole tokens (``man`` never matches ``woman``) outside a stop list of function
words and generic title vocabulary ("new", "north", "view"), shown capitalised. No two regions of
a scale carry the same name or the same terms in another order: a region whose name is taken gets
a second term that holds for it too, and else joins the region of that name (one region, one name,
its items in two places). Per scale, ``purity`` (the mean share of a named region's items carrying
its first term) and the number of named regions measure the naming (benchmarks/bench_quality.py).

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
MIN_SHARE = 0.3  # ... carried by at least this share of the region's items (benchmarks/bench_quality.py)
MIN_LIFT = 1.2  # ... at least this many times its share of the whole collection (so a majority term names little)
SEPARATOR = " · "
_WORD = re.compile(r"[^\W\d_][^\W_]{2,}", re.UNICODE)
STOPWORDS = frozenset("""
a an and are as at be by de del der des di du for from in into is it la le les of on or the to
van von with without no untitled unknown jpg jpeg png tif tiff img dsc ca circa after before about its his her their our this that
new old north south east west northern southern eastern western upper lower great little small large big
one two three four five six seven eight nine ten first second third part parts other various misc miscellaneous
general unidentified anonymous detail details view views fragment fragments object objects item items number
photo photos photograph photographs image images picture pictures copy copies side front back left right top bottom
near over under between near among also not but all any some each very
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
    share: float = 0.0  # share of the region's items carrying its first term

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "terms": self.terms, "source": self.source,
                "count": self.count, "share": round(self.share, 3), "x": round(self.x, 2), "y": round(self.y, 2),
                "bbox": list(self.bbox)}


@dataclass
class Scale:
    name: str
    regions: list[Region]
    item_region: list[int]  # region id per item, -1 for none
    clusters: int = 0  # k-means clusters of at least MIN_REGION_ITEMS items, named or not
    merged: int = 0  # clusters that joined another of the same name
    unnamed: list[dict] = field(default_factory=list)  # {count, x, y, bbox} of the clusters no term names

    @property
    def purity(self) -> float:
        """Mean share of a named region's items that carry its first term (0 without named regions)."""
        return float(np.mean([r.share for r in self.regions])) if self.regions else 0.0

    @property
    def coverage(self) -> float:
        """Share of the items that lie in a named region."""
        return sum(r >= 0 for r in self.item_region) / max(1, len(self.item_region))

    def to_dict(self) -> dict:
        return {"name": self.name, "regions": [r.to_dict() for r in self.regions], "item_region": self.item_region,
                "unnamed": self.unnamed, "purity": round(self.purity, 4)}


@dataclass
class RegionsResult:
    scales: list[Scale] = field(default_factory=list)
    source: str = ""
    note: str = ""

    def to_dict(self, cols: int, rows: int) -> dict:
        return {"format": FORMAT, "cols": cols, "rows": rows, "source": self.source,
                "scales": [s.to_dict() for s in self.scales]}

    def quality(self) -> dict[str, float | int]:
        """Per scale: ``<scale>_named`` (named regions), ``<scale>_clusters``, ``<scale>_purity`` and
        ``<scale>_coverage`` (share of items under a name), ``<scale>_merged`` (clusters that joined one
        of the same name), for the asset's metadata and the benchmark."""
        out: dict[str, float | int] = {}
        for s in self.scales:
            out.update({f"{s.name}_named": len(s.regions), f"{s.name}_clusters": s.clusters, f"{s.name}_merged": s.merged,
                        f"{s.name}_purity": round(s.purity, 4), f"{s.name}_coverage": round(s.coverage, 4)})
        return out


def title_terms(title: str) -> list[str]:
    """Distinct lower-case whole words of a title (letters first, 3+ characters, stop words dropped)."""
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


@dataclass
class Vocabulary:
    """One naming vocabulary: the terms of each item (distinct), their item counts, how they are shown."""
    terms: list[list[str]]
    source: str
    title_words: bool = False
    counts: Counter = field(init=False)

    def __post_init__(self) -> None:
        self.counts = Counter(t for ts in self.terms for t in ts)

    def shown(self, term: str) -> str:
        return term[:1].upper() + term[1:] if self.title_words else term


def honest_terms(members: np.ndarray, vocab: Vocabulary, min_share: float = MIN_SHARE,
                 min_lift: float = MIN_LIFT) -> list[tuple[str, float]]:
    """(term, share) of the terms that may name the region of ``members``, best first.

    A term qualifies when it is over-represented (log-odds z >= ``MIN_Z``), carried by at least
    ``min_share`` of the members (0..1) and ``min_lift`` times as frequent among them as in the
    collection (share / collection share). Ranked by z.
    """
    n_all = len(vocab.terms)
    held = Counter(t for i in members for t in vocab.terms[i])
    out = []
    for term, z in term_scores([vocab.terms[i] for i in members], vocab.counts, n_all):
        share = held[term] / max(1, len(members))
        if z >= MIN_Z and share >= min_share and share >= min_lift * vocab.counts[term] / n_all:
            out.append((term, share))
    return out


def name_key(name: str) -> frozenset[str]:
    """What makes two names the same: their parts, case and order aside ("A · B" is "b · a")."""
    return frozenset(p.strip().lower() for p in name.split(SEPARATOR))


@dataclass
class _Named:
    members: np.ndarray
    name: str = ""
    terms: list[str] = field(default_factory=list)
    source: str = ""
    share: float = 0.0
    merged: bool = False  # joined the region holding its name (its members are the holder's now)


def _candidates(members: np.ndarray, vocabs: list[Vocabulary], min_share: float, min_lift: float) -> list[tuple]:
    """(shown term, term, source, share) that may name the region, label terms before title words
    (with label columns, title words only tell apart two regions of the same label)."""
    return [(v.shown(t), t, v.source, s) for v in vocabs for t, s in honest_terms(members, v, min_share, min_lift)]


def _name_regions(labels: np.ndarray, k: int, vocabs: list[Vocabulary], min_share: float = MIN_SHARE,
                  min_lift: float = MIN_LIFT) -> list[_Named]:
    """One name per cluster of a scale, unique up to order and case: largest cluster first takes
    its best term; a later one whose name is taken adds its next qualifying term, and else joins
    the cluster that holds the name (their members merge). Unnamed clusters keep ``name == ""``."""
    regions = [_Named(np.flatnonzero(labels == r)) for r in range(k)]
    owner: dict[frozenset[str], _Named] = {}
    for region in sorted(regions, key=lambda g: (-len(g.members), int(g.members[0]) if len(g.members) else 0)):
        cands = _candidates(region.members, vocabs, min_share, min_lift)
        if not cands or cands[0][2] != vocabs[0].source:  # the first term from the primary vocabulary only
            continue
        first = cands[0]
        options = [[first]] + [[first, c] for c in cands[1:] if name_key(c[0]) - name_key(first[0])]
        chosen = next((o for o in options if name_key(SEPARATOR.join(c[0] for c in o)) not in owner), None)
        if chosen is None:  # every way to name it is taken: one region under the name it shares
            holder = owner[name_key(first[0])]
            holder.members = np.union1d(holder.members, region.members)
            region.merged = len(region.members) >= MIN_REGION_ITEMS
            region.members = np.zeros(0, np.int64)
            continue
        region.name = SEPARATOR.join(c[0] for c in chosen)
        region.terms = [c[1] for c in chosen]
        region.source = first[2]
        owner[name_key(region.name)] = region
    for region in regions:  # shares after merging
        if region.name:
            vocab = next(v for v in vocabs if v.source == region.source)
            region.share = sum(region.terms[0] in vocab.terms[i] for i in region.members) / len(region.members)
    return regions


FIT_SAMPLE = 4000  # grid points k-means is fitted on; the rest are assigned to the nearest centre


def _kmeans(points: np.ndarray, k: int, seed: int, fit_sample: int = FIT_SAMPLE) -> np.ndarray:
    """Each point's cluster: Lloyd's k-means (scikit-learn, k-means++ seeding, 3 starts), fitted on
    all points up to ``fit_sample`` and above that on a uniform sample of ``fit_sample`` drawn
    with ``seed``, every point then labelled by its nearest centre. On 2-D grid cells a few thousand
    points fix the centres of ~0.5 sqrt(N) regions as well as all of them do, and the fit's cost
    stops growing with N (13,000 items: 8 s of an update's metadata_json under load, for three
    scales); labelling all points is O(N k)."""
    from sklearn.cluster import KMeans

    model = KMeans(n_clusters=k, n_init=3, random_state=seed)
    if len(points) <= fit_sample:
        return model.fit_predict(points)
    sample = np.random.default_rng(seed).choice(len(points), size=fit_sample, replace=False)
    return model.fit(points[np.sort(sample)]).predict(points)


def _anchor(members: np.ndarray, points: np.ndarray) -> tuple[float, float, tuple[int, int, int, int]]:
    """Label anchor and bbox of a cluster: the top-left corner of the member cell nearest the centroid
    (always on the region, even if not convex, and on a cell corner, so the name covers no photo's centre)."""
    col, row = points[members, 0].astype(np.int64), points[members, 1].astype(np.int64)
    centroid = points[members].mean(axis=0)
    m = int(np.argmin(((points[members] - centroid) ** 2).sum(axis=1)))
    return float(col[m]), float(row[m]), (int(col.min()), int(row.min()), int(col.max()), int(row.max()))


def _scale_of(name: str, named: list[_Named], points: np.ndarray) -> Scale:
    """One scale: its named clusters as Regions (larger first), the unnamed ones as counts, each
    item's region id (-1: none). Clusters under MIN_REGION_ITEMS items are neither."""
    scale = Scale(name, [], [-1] * len(points))
    for g in sorted(named, key=lambda g: -len(g.members)):
        scale.merged += g.merged
        scale.clusters += g.merged
        if len(g.members) < MIN_REGION_ITEMS:
            continue
        scale.clusters += 1
        x, y, bbox = _anchor(g.members, points)
        if not g.name:
            scale.unnamed.append({"count": int(len(g.members)), "x": x, "y": y, "bbox": list(bbox)})
            continue
        rid = len(scale.regions)
        scale.regions.append(Region(id=rid, name=g.name, terms=g.terms, source=g.source, count=int(len(g.members)),
                                    x=x, y=y, bbox=bbox, share=g.share))
        for i in g.members:
            scale.item_region[int(i)] = rid
    return scale


def vocabularies(label_values: dict[str, Sequence[str]], titles: Sequence[str]) -> list[Vocabulary]:
    """The naming vocabularies: the label columns' terms pooled (columns with a value for at least
    30% of the items), then whole title words; empty ones left out."""
    n = len(titles)
    terms: list[list[str]] = [[] for _ in range(n)]
    sources = []
    for column, values in label_values.items():
        parts = [split_terms(v) for v in values]
        if sum(bool(p) for p in parts) >= 0.3 * n:
            sources.append(column)
            for i, p in enumerate(parts):
                terms[i].extend(t for t in p if t not in terms[i])
    out = [Vocabulary(terms, ",".join(sources))] if sources else []
    words = [title_terms(t) for t in titles]
    if sum(bool(w) for w in words) >= 0.3 * n:
        out.append(Vocabulary(words, "title", title_words=True))
    return out


def find_regions(cells: Sequence[int], cols: int, rows: int, label_values: dict[str, Sequence[str]],
                 titles: Sequence[str], seed: int = 0, min_share: float = MIN_SHARE,
                 min_lift: float = MIN_LIFT) -> RegionsResult:
    """Regions at up to three scales for items at ``cells`` on a ``cols`` x ``rows`` grid.

    ``label_values``: column -> one value per item (the collection's label_columns); their terms
    name the regions (whole title words when no column has values for 30% of the items; else
    title words only tell apart two regions of the same label). ``min_share`` (0..1)
    and ``min_lift`` (>= 1): how much of a region a term must cover, and how over-represented it
    must be, to name it (:func:`honest_terms`). Cost: k-means per scale, O(N k) per iteration.
    """
    n = len(cells)
    if len(titles) != n or any(len(v) != n for v in label_values.values()):
        raise ValueError(f"regions: {n} cells but titles/labels of other lengths")
    result = RegionsResult()
    if n < 2 * MIN_REGION_ITEMS:
        result.note = f"{n} items: too few for regions"
        return result
    c = np.asarray(cells, dtype=np.int64)
    points = np.stack([c % cols, c // cols], axis=1).astype(np.float64)
    vocabs = vocabularies(label_values, titles)
    if not vocabs:
        result.note = "no label terms and too few title words to name regions"
        return result
    result.source = vocabs[0].source
    seen_k: set[int] = set()
    for scale_name, factor in SCALES:
        k = max(min(int(round(factor * math.sqrt(n))), n // MIN_REGION_ITEMS), 2)
        if k in seen_k or k > n // MIN_REGION_ITEMS:
            continue
        seen_k.add(k)
        labels = _kmeans(points, k, seed)
        scale = _scale_of(scale_name, _name_regions(labels, k, vocabs, min_share, min_lift), points)
        if scale.regions:
            result.scales.append(scale)
    return result
