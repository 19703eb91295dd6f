#!/usr/bin/env bash
# Build MulticoreTSNE 0.1 (the original tool's t-SNE) into a venv: `make multicore-tsne`.
#
# Its PyPI sdist does not build as released: setup.py passes a stray "--" to cmake
# ("CMake Error: Unknown argument --"). This downloads the sdist with pip, applies the one-line
# fix (pass the cmake arguments split, or none), and installs it with --no-build-isolation, so it
# builds against the venv's numpy and cffi. Needs cmake and a C++ compiler on the machine.
# Nothing of the sdist is kept in the repository (it is unpacked in a temporary folder).
set -euo pipefail
[ -d "${1:-.venv}" ] || { echo "build_multicore_tsne: no venv at ${1:-.venv} (run make install first)" >&2; exit 1; }
VENV=$(cd "${1:-.venv}" && pwd)  # absolute: the import checks run from / (not the source folder)
PY="$VENV/bin/python"
VERSION=0.1

[ -x "$PY" ] || { echo "build_multicore_tsne: no Python at $PY (run make install first)" >&2; exit 1; }
if (cd / && "$PY" -c "import MulticoreTSNE" 2>/dev/null); then
  echo "MulticoreTSNE already importable in $VENV"; exit 0
fi
command -v cmake >/dev/null || { echo "build_multicore_tsne: cmake is missing: install it (Debian: apt-get install cmake) to build MulticoreTSNE" >&2; exit 1; }
command -v c++ >/dev/null || command -v g++ >/dev/null || { echo "build_multicore_tsne: no C++ compiler (Debian: apt-get install g++)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$VENV/bin/pip" download --quiet --no-binary :all: --no-deps "MulticoreTSNE==$VERSION" -d "$work"
tar -xzf "$work"/MulticoreTSNE-$VERSION.tar.gz -C "$work"
src="$work/MulticoreTSNE-$VERSION"
# The one-line fix: `self.cmake_args or "--"` hands cmake a bare "--" when no arguments are given.
"$PY" - "$src/setup.py" <<'PYFIX'
import sys
path = sys.argv[1]
text = open(path).read()
old = 'self.cmake_args or "--"'
if old not in text:
    sys.exit(f"build_multicore_tsne: {path} no longer contains {old!r}: the sdist changed, check the fix")
open(path, "w").write(text.replace(old, '*(self.cmake_args.split() if self.cmake_args else [])'))
PYFIX
"$VENV/bin/pip" install --quiet -c constraints.txt setuptools wheel cffi
"$VENV/bin/pip" install --quiet --no-build-isolation --no-deps "$src"
(cd / && "$PY" -c "from MulticoreTSNE import MulticoreTSNE; print('MulticoreTSNE built and importable')")
