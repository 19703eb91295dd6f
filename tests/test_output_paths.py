"""Paths in one place: docs/outputs.md names every file a build writes, and each
documented path has exactly one builder, in cviz/paths.py.

- the listing of docs/outputs.md (its first code block, one pattern per line) and
  ``cviz.paths.DOCUMENTED`` name the same patterns, and each builder's example path matches its own;
- every file under the storage root of a real build (the Dagster job on the met-sample collection,
  plus three publishes of a small collection so a version is retired) matches a documented pattern;
- no module of ``cviz`` other than paths.py spells an output path in its code.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from cviz.paths import DOCUMENTED

REPO = Path(__file__).resolve().parents[1]


def documented_patterns() -> list[str]:
    text = (REPO / "docs" / "outputs.md").read_text(encoding="utf-8")
    block = text.split("```", 2)[1]
    return [line.split()[0] for line in block.splitlines()[1:] if line.strip()]


HEX = {"<sha256>": "[0-9a-f]{64}", "<sha256[:2]>": "[0-9a-f]{2}", "<sha256[:16]>": "[0-9a-f]{16}",
       "<ver>": r"\d{8}T\d{6}(\d{6})?-[0-9a-f]{8}"}  # Storage.new_version()


def to_regex(pattern: str) -> re.Pattern[str]:
    """``<...>``: one path segment (or part of one; hashes are hex of their length); ``{a,b}``: either;
    a trailing ``/``: anything under it."""
    out, i = "", 0
    for m in re.finditer(r"<[^>]+>|\{[^}]+\}", pattern):
        out += re.escape(pattern[i:m.start()])
        tok = m.group(0)
        if tok.startswith("<"):
            out += HEX.get(tok, "[^/]+")
        else:
            out += "(" + "|".join(map(re.escape, tok[1:-1].split(","))) + ")"
        i = m.end()
    out += re.escape(pattern[i:])
    if pattern.endswith("/"):
        out += ".+"
    return re.compile(out + r"\Z")


def test_docs_and_builders_name_the_same_paths() -> None:
    docs = documented_patterns()
    assert len(docs) == len(set(docs)), "a pattern is listed twice in docs/outputs.md"
    assert set(docs) - set(DOCUMENTED) == set(), "documented paths without a builder in cviz/paths.py"
    assert set(DOCUMENTED) - set(docs) == set(), "cviz/paths.py DOCUMENTED rows that docs/outputs.md does not list"
    for pattern, builder in DOCUMENTED.items():
        path = builder()
        assert to_regex(pattern).match(path), f"builder of {pattern} makes {path}"
        others = [p for p in docs if p != pattern and to_regex(p).match(path) and not p.endswith("/")]
        assert not others, f"{path} (built for {pattern}) also matches {others}: patterns must not overlap"


def test_pattern_parser_means_what_it_says() -> None:
    assert to_regex("cache/features/<model-id>/packs/<seg>.{vecs,keys}.npy").match("cache/features/m-1/packs/0001-ab.keys.npy")
    assert not to_regex("cache/features/<model-id>/packs/<seg>.{vecs,keys}.npy").match("cache/features/m/packs/x.tmp.npy")
    assert not to_regex("collections/<name>/grid.json").match("collections/a/b/grid.json")
    assert to_regex("drop/<name>/").match("drop/a/sub/x.jpg") and not to_regex("drop/<name>/").match("drop/a")


def _unmatched(root: Path) -> list[str]:
    regexes = [to_regex(p) for p in documented_patterns()]
    files = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
    assert files, f"nothing was built under {root}"
    return sorted(f for f in files if not any(r.match(f) for r in regexes))


def test_a_dagster_build_writes_only_documented_files(met_sample_root: Path) -> None:
    assert _unmatched(met_sample_root) == []


def test_republishing_writes_only_documented_files(tmp_path: Path) -> None:
    """Three publishes of a small collection (fake features): versions retired to ``.trash-``, the
    index rebuilt, item images pruned: still nothing undocumented."""
    from PIL import Image

    from cviz.storage import open_storage
    from tests.bad_input.stages import STAGES, register, run_all

    folder = tmp_path / "images"
    folder.mkdir()
    root = tmp_path / "root"
    storage = open_storage(str(root))
    register(storage, {"name": "paths", "images": str(folder)})
    for build in range(3):
        for i in range(4 + build):
            Image.new("RGB", (40 + i, 30), (60 * i % 256, 90, 30 * build)).save(folder / f"{i}.jpg")
        run_all(storage, "paths", stages=STAGES)
    assert any(p.name.startswith(".trash-") for p in (root / "published" / "paths").iterdir())
    assert _unmatched(root) == []


# -- no other module spells an output path ---------------------------------------------------
PATH_FRAGMENTS = re.compile(
    r"(^|/)(collections|cache|published|ops|drop)/|/(packs|feature_chunks|lock-steps|map_files|images)(/|$)|index\.d/"
    r"|/(current|index|items|regions|vocabulary|collection|images|grid|grid_items|tsne_items|mosaic|lock)\.json\b"
    r"|/(features|pca|tsne|knn)\.npy\b|/(map\.dzi|preview\.jpg|neighbours\.bin|alerts\.jsonl)\b|/\.trash-"
    r"|\{\}/\{\}_\{\}")  # the tile path: {level}/{col}_{row}
MESSAGES = ("warning", "info", "error", "debug", "exception", "print")


def _path_like_strings(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, text) of code strings, f-strings rendered with ``{}`` holes; docstrings and the text
    of errors and log lines (which may name a path for people) are not code."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            skip.add(id(body[0].value))
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if name in MESSAGES or name[:1].isupper():  # log calls, exception (and other class) constructors
                skip.update(id(n) for n in ast.walk(node))
        if isinstance(node, ast.JoinedStr):
            skip.update(id(n) for n in node.values)
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            out.append((node.lineno, node.value))
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
            out.append((node.lineno, text))
    return out


def test_no_module_but_paths_builds_an_output_path() -> None:
    offenders = []
    for f in sorted((REPO / "cviz").rglob("*.py")):
        if f.name in ("paths.py", "settings.py"):  # settings: the README's wording of defaults
            continue
        for line, text in _path_like_strings(ast.parse(f.read_text(encoding="utf-8"))):
            if PATH_FRAGMENTS.search(text):
                offenders.append(f"{f.relative_to(REPO)}:{line}: {text!r}")
    assert not offenders, "output paths built outside cviz/paths.py:\n" + "\n".join(offenders)


@pytest.mark.parametrize("text,flagged", [('f"{base}/knn.npy"', True), ('f"{folder}/{level}/{c}_{r}.jpg"', True),
                                          ('"cache/cells"', True), ('"index.d"', False), ('f"{n} items"', False)])
def test_the_path_scan_sees_what_it_must(text: str, flagged: bool) -> None:
    found = [t for _, t in _path_like_strings(ast.parse(f"x = {text}")) if PATH_FRAGMENTS.search(t)]
    assert bool(found) is flagged
