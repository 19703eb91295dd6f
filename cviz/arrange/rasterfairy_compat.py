"""RasterFairy (Klingemann, the original tool's grid algorithm) on a current numpy.

``rasterfairy`` 1.0.6 (last release 2019) still writes ``np.float`` and ``np.int``, removed in
numpy 1.24, so it fails on first use. Rather than patch numpy for the whole process, its one
module gets a stand-in ``np`` that answers those old names with the builtins and forwards
everything else to numpy. Install the package without its dependencies
(``pip install --no-deps rasterfairy==1.0.6``): it declares ``moviepy`` (only for GIF export, which
cviz never uses), and moviepy pins Pillow < 12.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import numpy as np

_REMOVED_ALIASES = {"float": float, "int": int, "bool": bool, "object": object, "complex": complex}


class _NumpyWithOldAliases:
    """Looks like numpy to rasterfairy's module; knows the aliases numpy 1.24 removed."""

    def __getattr__(self, name: str) -> Any:
        if name in _REMOVED_ALIASES:
            return _REMOVED_ALIASES[name]
        return getattr(np, name)


def rasterfairy_module() -> ModuleType:
    """The patched ``rasterfairy.rasterfairy`` module; ImportError says how to install it."""
    try:
        import rasterfairy  # noqa: F401  (imports rasterfairy.rasterfairy as a side effect)
    except ImportError as exc:
        raise ImportError(
            "grid method 'rasterfairy' needs the rasterfairy package: "
            "pip install --no-deps rasterfairy==1.0.6"
        ) from exc
    # The package's star import shadows the submodule's name, so take it from sys.modules.
    module = sys.modules["rasterfairy.rasterfairy"]
    if not isinstance(module.np, _NumpyWithOldAliases):
        module.np = _NumpyWithOldAliases()
    return module


def transform_point_cloud(points: np.ndarray, cols: int, rows: int) -> np.ndarray:
    """RasterFairy's ``transformPointCloud2D`` onto a cols x rows rectangle: N x 2 (col, row) ints."""
    module = rasterfairy_module()
    result = module.transformPointCloud2D(np.asarray(points, dtype=np.float64), target=(cols, rows))
    if result is False:
        raise ValueError(f"rasterfairy refused a {cols}x{rows} grid for {len(points)} points")
    grid_xy, _ = result
    return np.rint(np.asarray(grid_xy)).astype(np.int64)
