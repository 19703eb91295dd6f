"""Region naming measured the same way for any version of cviz.publish.regions (benchmarks/bench_quality.py).

Per scale, from the published shape only (``item_region`` and each region's first term): how many
clusters got a name, ``purity`` (mean share of a named region's items carrying its first term,
whole-token title words or ``|``-separated label terms), ``coverage`` (share of items under a
name), names that repeat in the scale (same parts in any order or case), and name parts that are
a lower-case title word or a stop word. ``before`` is the naming as of commit ``BEFORE`` (loaded
from git history), ``after`` the working tree's.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from cviz.publish import regions as after_module

BEFORE = "86d643f"  # the naming before the share and lift rules (cviz/publish/regions.py at that commit)
REPO = Path(__file__).resolve().parents[1]


def before_module() -> ModuleType | None:
    """cviz/publish/regions.py as of BEFORE, or None outside a git checkout holding that commit."""
    try:
        text = subprocess.run(["git", "show", f"{BEFORE}:cviz/publish/regions.py"], cwd=REPO, check=True,
                              capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    with tempfile.TemporaryDirectory(prefix="regions-before-") as tmp:
        path = Path(tmp) / "regions_before.py"
        path.write_text(text)
        spec = importlib.util.spec_from_file_location("regions_before", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["regions_before"] = module
        spec.loader.exec_module(module)
    return module


def _clusters(scale: str, n: int) -> int:
    """k of a scale as both versions choose it (the before version does not record it)."""
    factor = dict(after_module.SCALES)[scale]
    return max(min(int(round(factor * np.sqrt(n))), n // after_module.MIN_REGION_ITEMS), 2)


def measure_naming(result: Any, label_values: dict[str, list[str]], titles: list[str]) -> list[dict[str, Any]]:
    """One row per scale of a RegionsResult (either version)."""
    n = len(titles)
    label_terms = [set() for _ in range(n)]
    for values in label_values.values():
        for i, v in enumerate(values):
            label_terms[i] |= {p.strip() for p in (v or "").split("|") if p.strip()}
    words = [set(after_module.title_terms(t)) | {w.lower() for w in after_module._WORD.findall(t or "")}
             for t in titles]
    rows = []
    for s in result.scales:
        ids = np.asarray(s.item_region)
        shares = []
        for r in s.regions:
            members = np.flatnonzero(ids == r.id)
            t = r.terms[0]
            shares.append(float(np.mean([t in label_terms[i] or t.lower() in words[i] for i in members])))
        keys = Counter(after_module.name_key(r.name.replace(" · ", after_module.SEPARATOR)) for r in s.regions)
        parts = [p.strip() for r in s.regions for p in r.name.split(" · ")]
        rows.append({
            "scale": s.name, "named": len(s.regions), "merged": getattr(s, "merged", 0),
            "clusters": getattr(s, "clusters", None) or _clusters(s.name, n),
            "purity": round(float(np.mean(shares)), 3) if shares else 0.0,
            "min_share": round(min(shares), 3) if shares else 0.0,
            "coverage": round(float(np.mean(ids >= 0)), 3),
            "repeated_names": sum(c for c in keys.values() if c > 1),
            "lowercase_or_stop_parts": sum(p == p.lower() and p.lower() in {w for ws in words for w in ws}
                                           or p.lower() in after_module.STOPWORDS for p in parts),
            "names": [r.name for r in s.regions][:12],
        })
    return rows


def naming_rows(cells: list[int], cols: int, rows: int, labels: dict[str, list[str]], titles: list[str]) -> list[dict]:
    """before / after (and the share threshold swept) for label-column naming and title-word naming."""
    before = before_module()
    out = []
    for naming, label_values in (("labels", labels), ("titles", {})):
        runs = [("before", lambda lv=label_values: before.find_regions(cells, cols, rows, lv, titles))] if before else []
        grid_ = [(s, after_module.MIN_LIFT) for s in (0.2, 0.3, 0.4, 0.5)]
        grid_ += [(after_module.MIN_SHARE, lift) for lift in (1.0, 1.2, 1.5, 2.0) if lift != after_module.MIN_LIFT]
        runs += [(f"after share>={s:g} lift>={lift:g}" + (" (default)" if (s, lift) == (after_module.MIN_SHARE, after_module.MIN_LIFT) else ""), lambda lv=label_values, s=s, lift=lift: after_module.find_regions(
            cells, cols, rows, lv, titles, min_share=s, min_lift=lift)) for s, lift in grid_]
        for version, run in runs:
            for row in measure_naming(run(), label_values, titles):
                out.append({"naming": naming, "version": version, **row})
    return out


def table(rows: list[dict]) -> str:
    head = "| naming | version | scale | clusters | named (merged) | purity | min share | coverage | repeated names | lowercase/stop parts | names (first 6) |"
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        lines.append(f"| {r['naming']} | {r['version']} | {r['scale']} | {r['clusters']} | {r['named']} ({r['merged']}) | {r['purity']:.3f} "
                     f"| {r['min_share']:.3f} | {r['coverage']:.3f} | {r['repeated_names']} | {r['lowercase_or_stop_parts']} "
                     f"| {'; '.join(r['names'][:6])} |")
    return "\n".join(lines)
