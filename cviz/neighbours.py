"""Neighbour agreement: how often an item's nearest neighbours in feature space share its label.

For each item with a label, the fraction of its ``k`` nearest neighbours (cosine distance, the item
itself excluded, neighbours without a label skipped) that carry the same label, averaged over
items. It answers "do similar-looking images end up together?" with the collection's own
metadata (e.g. artist, period, department); chance level is the summed squared label frequency.
Multi-valued labels (``a|b``) count as shared when any value is shared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass
class Agreement:
    score: float
    chance: float
    items: int  # items with a label that were scored
    k: int


def _label_sets(labels: Sequence[str]) -> list[frozenset[str]]:
    return [frozenset(p.strip() for p in (v or "").split("|") if p.strip()) for v in labels]


def neighbour_agreement(features: np.ndarray, labels: Sequence[str], k: int = 10, block: int = 2048) -> Agreement | None:
    """Mean fraction of each labelled item's ``k`` nearest neighbours sharing a label; None if < k+1 labelled."""
    sets = _label_sets(labels)
    keep = np.array([bool(s) for s in sets])
    if keep.sum() <= k:
        return None
    x = features[keep].astype(np.float32)
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    kept = [s for s in sets if s]
    n = len(kept)
    hits = 0.0
    for start in range(0, n, block):
        sims = x[start : start + block] @ x.T
        rows = np.arange(sims.shape[0])
        sims[rows, start + rows] = -np.inf
        nearest = np.argpartition(-sims, k, axis=1)[:, :k]
        for r, neigh in enumerate(nearest):
            mine = kept[start + r]
            hits += sum(1 for j in neigh if mine & kept[j]) / k
    counts: dict[str, int] = {}
    for s in kept:
        for v in s:
            counts[v] = counts.get(v, 0) + 1
    chance = float(sum((c / n) ** 2 for c in counts.values()))
    return Agreement(hits / n, min(1.0, chance), n, k)
