"""Which metadata columns the viewer offers as value filters (checkbox lists), beyond items.json's own.

``items.json`` marks a column as a category only up to 60 distinct values, so a museum's 64-subject
vocabulary gave no filter. Here: every column named in ``label_columns`` is a filter whatever its
number of values (the curator said it is the vocabulary), and other columns are filters up to
``MAX_VALUES`` distinct values (the viewer lists them with a type-to-find box). Columns whose values
are nearly all distinct (titles, ids, descriptions) are never filters.
"""

from __future__ import annotations

from typing import Sequence

FORMAT = "cviz-vocabulary/1"
MAX_VALUES = 500


def _distinct(values: Sequence[str], stop: int) -> tuple[int, int]:
    seen: set[str] = set()
    filled = 0
    for v in values:
        if v:
            filled += 1
            seen.update(p.strip() for p in v.split("|") if p.strip())
            if len(seen) > stop:
                break
    return len(seen), filled


def filter_columns(columns: dict[str, Sequence[str]], label_columns: Sequence[str],
                   skip: Sequence[str] = (), max_values: int = MAX_VALUES) -> list[str]:
    """Names of the columns to offer as filters, label columns first, in their given order."""
    out = [c for c in label_columns if c in columns and c not in skip and _distinct(columns[c], 1)[0] >= 1]
    for c, values in columns.items():
        if c in out or c in skip:
            continue
        n, filled = _distinct(values, max_values)
        # More than one value, not too many, and values repeat (not one per item).
        if filled and 1 < n <= max_values and n < max(2, 0.5 * filled):
            out.append(c)
    return out
