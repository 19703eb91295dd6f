"""Small modules and short functions in the pure core (issue 13): no file in ``cviz/`` over 300
lines, no function (or method, nested or not, decorators included) over 60. Offenders are listed
as ``file:function (lines)``."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAX_FILE_LINES = 300
MAX_FUNCTION_LINES = 60


def _sources(root: Path) -> list[Path]:
    return sorted((root / "cviz").rglob("*.py"))


def long_files(root: Path, limit: int = MAX_FILE_LINES) -> list[str]:
    out = []
    for p in _sources(root):
        n = len(p.read_text(encoding="utf-8").splitlines())
        if n > limit:
            out.append(f"{p.relative_to(root)} ({n} lines)")
    return out


def long_functions(root: Path, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    out = []
    for p in _sources(root):
        tree = ast.parse(p.read_text(encoding="utf-8"), filename=str(p))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([node.lineno] + [d.lineno for d in node.decorator_list])
                n = node.end_lineno - first + 1
                if n > limit:
                    out.append(f"{p.relative_to(root)}:{node.name} ({n} lines)")
    return out


def test_no_core_file_is_over_300_lines() -> None:
    assert len(_sources(REPO)) > 20  # the walk found the package
    assert long_files(REPO) == []


def test_no_core_function_is_over_60_lines() -> None:
    assert long_functions(REPO) == []


def test_the_measures_name_the_offenders(tmp_path: Path) -> None:
    (tmp_path / "cviz" / "sub").mkdir(parents=True)
    body = "\n".join(f"        x{i} = {i}" for i in range(60))
    (tmp_path / "cviz" / "sub" / "big.py").write_text(
        "class A:\n    def short(self):\n        pass\n\n    @staticmethod\n    def f():\n" + body + "\n" + "\n" * 240,
        encoding="utf-8")
    (tmp_path / "cviz" / "ok.py").write_text("def g():\n    return 1\n", encoding="utf-8")
    assert long_functions(tmp_path) == ["cviz/sub/big.py:f (62 lines)"]
    assert long_files(tmp_path) == ["cviz/sub/big.py (306 lines)"]
