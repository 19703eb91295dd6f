"""Collection names and relative paths that can never escape the storage root."""

from __future__ import annotations

import posixpath
import re

from cviz.errors import InvalidName

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def validate_collection_name(name: str) -> str:
    """Return ``name`` if it is a valid collection (partition) name, else raise InvalidName.

    Lowercase letters, digits, ``-`` and ``_``, 1 to 64 characters, starting with a letter or digit:
    the name becomes a path component and a URL segment, so nothing else is allowed.
    """
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise InvalidName(
            f"invalid collection name {name!r}: use 1-64 lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    return name


def safe_relpath(path: str) -> str:
    """Normalise a relative path (``/`` separated) and refuse one that leaves its base.

    Refuses absolute paths, ``..`` components, backslashes used as separators, NUL bytes and empty paths.
    """
    if not isinstance(path, str) or not path:
        raise InvalidName("empty path")
    if "\x00" in path:
        raise InvalidName(f"path {path!r} contains a NUL byte")
    if path.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", path) or "://" in path:
        raise InvalidName(f"path {path!r} must be relative")
    parts = path.replace("\\", "/").split("/")
    if any(p == ".." for p in parts):
        raise InvalidName(f"path {path!r} must not contain '..'")
    norm = posixpath.normpath("/".join(p for p in parts if p not in ("", ".")))
    if norm in ("", "."):
        raise InvalidName(f"path {path!r} is empty")
    return norm
