"""The shape of the code, checked: folders that follow the data, imports that only go down it,
one concern a file, short functions.

- ``cviz/`` holds at most 12 entries at its top: ``settings``, ``paths``, ``errors``, ``storage/``
  and one subpackage per step of the data's way (``ingest`` -> ``embed`` -> ``arrange`` -> ``render``
  -> ``publish``, with ``measure`` beside them and ``stages`` above), each with a docstring saying
  what enters and what leaves.
- No import cycles inside ``cviz/`` (imports inside functions and under ``TYPE_CHECKING`` count: a
  cycle is one concern split across files), and a module imports only from its own layer or below
  (:data:`LAYERS`).
- No file over :data:`MAX_FILE_LINES` (a soft ceiling: a file that long holds more than one concern),
  no function (or method, nested or not, decorators included, its docstring not: parameters are
  documented at whatever length they need) over :data:`MAX_FUNCTION_LINES`, in ``cviz/``,
  ``cviz_assets/`` and ``cviz_resources/``.

Offenders are listed by name so a failure says what to move.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAX_FILE_LINES = 450
MAX_FUNCTION_LINES = 60
MAX_TOP_ENTRIES = 12
PACKAGES = ("cviz", "cviz_assets", "cviz_resources")
# The order of the flow: a module may import from its own layer or a lower one, never a higher one.
LAYERS = {"errors": 0, "settings": 0, "paths": 0, "storage": 1, "measure": 2, "ingest": 3, "embed": 4,
          "arrange": 5, "render": 6, "publish": 7, "stages": 8}


def _sources(root: Path, packages: tuple[str, ...] = PACKAGES) -> list[Path]:
    return sorted(p for pkg in packages for p in (root / pkg).rglob("*.py"))


def _module(root: Path, path: Path) -> str:
    return ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")


def cviz_imports(root: Path) -> dict[str, set[str]]:
    """Each ``cviz`` module and the ``cviz`` modules it imports, anywhere in its body."""
    files = {_module(root, p): p for p in _sources(root, ("cviz",))}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                    base = base[:len(base) - node.level + 1]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                deps.add(module)
                deps.update(f"{module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names)
        graph[name] = {d for d in deps if d in files and d != name}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    out = []
    for name, deps in sorted(graph.items()):
        mine = _layer(name)
        for dep in sorted(deps):
            theirs = _layer(dep)
            if mine is not None and theirs is not None and theirs > mine:
                out.append(f"{name} -> {dep}")
    return out


def long_files(root: Path, limit: int = MAX_FILE_LINES, packages: tuple[str, ...] = PACKAGES) -> list[str]:
    out = []
    for p in _sources(root, packages):
        n = len(p.read_text(encoding="utf-8").splitlines())
        if n > limit:
            out.append(f"{p.relative_to(root)} ({n} lines)")
    return out


def long_functions(root: Path, limit: int = MAX_FUNCTION_LINES, packages: tuple[str, ...] = PACKAGES) -> list[str]:
    out = []
    for p in _sources(root, packages):
        tree = ast.parse(p.read_text(encoding="utf-8"), filename=str(p))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([node.lineno] + [d.lineno for d in node.decorator_list])
                n = node.end_lineno - first + 1
                body = node.body[0] if node.body else None
                if isinstance(body, ast.Expr) and isinstance(body.value, ast.Constant) and isinstance(body.value.value, str):
                    n -= body.end_lineno - body.lineno + 1  # the docstring
                if n > limit:
                    out.append(f"{p.relative_to(root)}:{node.name} ({n} lines)")
    return out


def test_the_core_top_level_follows_the_flow() -> None:
    entries = sorted(p.name for p in (REPO / "cviz").iterdir() if p.name != "__pycache__")
    assert len(entries) <= MAX_TOP_ENTRIES, entries
    subpackages = [p for p in (REPO / "cviz").iterdir() if p.is_dir() and p.name != "__pycache__"]
    assert {p.name for p in subpackages} <= set(LAYERS), "a new subpackage needs a place in LAYERS"
    undocumented = [p.name for p in subpackages if not ast.get_docstring(ast.parse((p / "__init__.py").read_text()))]
    assert undocumented == []


def test_no_import_cycles_in_the_core() -> None:
    graph = cviz_imports(REPO)
    assert len(graph) > 40  # the walk found the package
    assert import_cycles(graph) == []


def test_core_imports_only_go_down_the_flow() -> None:
    assert upward_imports(cviz_imports(REPO)) == []


def test_no_file_is_over_the_ceiling() -> None:
    assert long_files(REPO) == []


def test_no_function_is_over_60_lines() -> None:
    assert long_functions(REPO) == []


def test_the_measures_name_the_offenders(tmp_path: Path) -> None:
    (tmp_path / "cviz" / "render").mkdir(parents=True)
    (tmp_path / "cviz" / "publish").mkdir(parents=True)
    body = "\n".join(f"        x{i} = {i}" for i in range(60))
    (tmp_path / "cviz" / "render" / "big.py").write_text(
        "from cviz.publish import pointer\n\nclass A:\n    def short(self):\n        pass\n\n    @staticmethod\n"
        "    def f():\n" + body + "\n" + "\n" * 400, encoding="utf-8")
    (tmp_path / "cviz" / "publish" / "pointer.py").write_text(
        "def g():\n    from cviz.render import big\n    return big\n", encoding="utf-8")
    assert long_functions(tmp_path, packages=("cviz",)) == ["cviz/render/big.py:f (62 lines)"]
    (tmp_path / "cviz" / "render" / "doc.py").write_text(  # a long docstring alone does not count
        "def g():\n    \"\"\"" + "\n" * 80 + "    \"\"\"\n    return 1\n", encoding="utf-8")
    assert long_functions(tmp_path, packages=("cviz",)) == ["cviz/render/big.py:f (62 lines)"]
    assert long_files(tmp_path, packages=("cviz",)) == ["cviz/render/big.py (468 lines)"]
    graph = cviz_imports(tmp_path)
    assert import_cycles(graph) == [["cviz.publish.pointer", "cviz.render.big"]]
    assert upward_imports(graph) == ["cviz.render.big -> cviz.publish.pointer"]
