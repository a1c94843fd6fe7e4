"""Your tensor files: ``.npy``, ``.npz``, ``.pt``/``.pth`` and ``.safetensors``, loaded whole or streamed.

Nothing is ever unpickled: ``.pt`` files are read with ``weights_only=True`` and NumPy files with
``allow_pickle=False``, so a file that needs pickle is refused with a message that says how to save
it instead. uint8 arrays are images (``(N, H, W)`` gains a channel, ``(N, H, W, C)`` becomes
``(N, C, H, W)``), 2-D float arrays are tables (standardised per column), other float arrays are
kept as they are. A mapping of arrays gives its data under ``x`` (or ``data``, ``images``...) and its
labels under ``y`` (or ``labels``, ``targets``...) or the key ``label_column`` names. Uncompressed
``.npy`` and ``.safetensors`` files can be streamed (:class:`~aezoo.data.streaming.StreamedDataset`).
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..core.errors import DataError
from ._checks import as_tensor, int_labels, one_line
from .base import Dataset
from .memory import _finish
from .preprocessing import Preprocessing
from .streaming import StreamedDataset, TensorFile, memory_budget, read_npy_header, safetensors_header

__all__ = ["STREAMABLE_SUFFIXES", "TENSOR_SUFFIXES", "load_tensor_file"]

TENSOR_SUFFIXES = (".npy", ".npz", ".pt", ".pth", ".safetensors")
STREAMABLE_SUFFIXES = (".npy", ".safetensors")  # uncompressed, one tensor at an offset: read in chunks
_X_KEYS = ("x", "data", "images", "inputs", "features", "X", "arr_0")
_Y_KEYS = ("y", "labels", "targets", "label", "target", "Y")


def load_tensor_file(
    path: Path, *, device: str | torch.device = "cpu", label_column: str | int | None = None, stream: bool | None = None
) -> Dataset:
    """A tensor file as a dataset on ``device``: streamed when asked (or over the memory budget), else whole.

    >>> import numpy as np, tempfile, os
    >>> f = Path(tempfile.mkdtemp(), "x.npy"); np.save(f, np.zeros((5, 8, 8), np.uint8))
    >>> load_tensor_file(f).shape
    (1, 8, 8)
    """
    if stream is not False:
        streamed = _stream_tensor_file(path, label_column, device=device, stream=stream)
        if streamed is not None:
            return streamed
    raw, y = _read_tensor_file(path, label_column)
    if raw.dtype == torch.uint8:
        return _finish(_images_nchw(raw), y, name=path.name, device=device)
    raw = raw.float()
    if raw.dim() == 1:
        raw = raw.unsqueeze(1)
    return _finish(raw, y, name=path.name, device=device, standardise=raw.dim() == 2)


def _keys(names: list[str], path: Path, label_column: str | int | None) -> tuple[str, str | None]:
    """The keys of the data and of the labels (None: no labels) among the named arrays of a file."""
    if label_column is not None and str(label_column) not in names:
        raise DataError(f"{path} has no key {str(label_column)!r} for the labels; keys: {', '.join(map(repr, names))}")
    y_key = str(label_column) if label_column is not None else next((k for k in _Y_KEYS if k in names), None)
    rest = [k for k in names if k != y_key]
    x_key = next((k for k in _X_KEYS if k in names), None) or (rest[0] if len(rest) == 1 else None)
    if x_key is None:
        raise DataError(
            f"{path} holds {', '.join(map(repr, names)) or 'nothing'}; name the data array 'x' (and labels 'y')"
        )
    return x_key, y_key


def _stream_tensor_file(
    path: Path, label_column: str | int | None, *, device: str | torch.device, stream: bool | None
) -> StreamedDataset | None:
    """``path`` as a :class:`StreamedDataset` when asked or when over the budget, else None."""
    suffix = path.suffix.lower()
    if suffix not in STREAMABLE_SUFFIXES:
        return None
    y = None
    if suffix == ".npy":
        if label_column is not None:
            raise DataError(f"{path} holds one array, so label_column={label_column!r} cannot apply; use .npz")
        try:
            source = TensorFile.open(path)
        except DataError:
            if stream:
                raise
            return None  # not streamable (e.g. bool values): loaded whole, where its own checks apply
    else:
        header, _ = safetensors_header(path)
        x_key, y_key = _keys([k for k in header if k != "__metadata__"], path, label_column)
        source = TensorFile.open(path, x_key)
        if y_key is not None:
            labels = TensorFile.open(path, y_key)
            y = int_labels(labels.read(np.arange(labels.shape[0])).numpy(), path, y_key)
    images = source.dtype == torch.uint8
    floats = source.row_bytes // _itemsize(source.dtype) * 4  # float32 per sample once loaded
    in_memory = source.shape[0] * (source.row_bytes if images else max(source.row_bytes, floats))
    if stream is None and in_memory <= memory_budget(device):
        return None
    if y is not None and y.shape != (source.shape[0],):
        raise DataError(f"{path.name!r} has {source.shape[0]} samples but {y.numel()} labels")
    if source.shape[0] == 0 or source.row_bytes == 0:
        raise DataError(f"{path.name!r} has no samples (shape {source.shape}); it must hold at least one")
    if images:
        source = _stream_image_shape(source)
        pre = Preprocessing(scale=1 / 255)
    else:
        if len(source.shape) == 1:
            source = source.with_shape((source.shape[0], 1))
        pre = _scan_float(source, path.name, standardise=len(source.shape) == 2)
    y = y.to(device) if y is not None else None
    return StreamedDataset(source, y=y, preprocessing=pre, name=path.name, device=device)


def _itemsize(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


def _stream_image_shape(source: TensorFile) -> TensorFile:
    shape = source.shape
    if len(shape) == 3:
        return source.with_shape((shape[0], 1, *shape[1:]))
    if len(shape) == 4 and shape[1] not in (1, 3, 4) and shape[3] in (1, 3, 4):
        raise DataError(
            f"{source.path} holds channels-last images {shape}; to stream them, save them channels-first: "
            "np.save(f, np.ascontiguousarray(x.transpose(0, 3, 1, 2)))"
        )
    return source


def _scan_float(source: TensorFile, name: str, *, standardise: bool) -> Preprocessing:
    """One pass over a float file in bounded memory: refuse non-finite values; per-column statistics."""
    n = source.shape[0]
    step = max(1, (16 << 20) // max(1, source.row_bytes))
    count, mean, m2 = 0, None, None
    for a in range(0, n, step):
        chunk = source.read(np.arange(a, min(a + step, n))).double()
        finite = torch.isfinite(chunk)
        if not bool(finite.all()):
            first = a + int((~finite).reshape(len(chunk), -1).any(1).nonzero()[0])
            raise DataError(
                f"{name!r} has NaN or infinite values (first in sample {first}); remove or impute them before training"
            )
        if standardise:  # Chan et al.'s parallel update of mean and sum of squared deviations
            c_mean, c_m2, k = chunk.mean(0), (chunk - chunk.mean(0)).square().sum(0), len(chunk)
            if mean is None or m2 is None:
                mean, m2 = c_mean, c_m2
            else:
                delta = c_mean - mean
                mean = mean + delta * k / (count + k)
                m2 = m2 + c_m2 + delta.square() * count * k / (count + k)
            count += k
    if not standardise or mean is None or m2 is None:
        return Preprocessing()
    std = (m2 / count).sqrt()
    std[std == 0] = 1.0
    return Preprocessing(mean=tuple(mean.tolist()), std=tuple(std.tolist()))


def _read_tensor_file(path: Path, label_column: str | int | None) -> tuple[Tensor, Tensor | None]:
    suffix = path.suffix.lower()
    if suffix == ".npy":
        if label_column is not None:
            raise DataError(f"{path} holds one array, so label_column={label_column!r} cannot apply; use .npz")
        with open(path, "rb") as f:  # the header's claims against the file, before numpy allocates them
            read_npy_header(f, path.stat().st_size, path)
        return as_tensor(_np_load(path), path), None
    if suffix == ".npz":
        with _np_load(path) as npz:
            arrays = {k: _np_member(npz, k, path) for k in npz.files}
        return _pick(arrays, path, label_column)
    if suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return _pick({k: v.clone() for k, v in load_file(str(path)).items()}, path, label_column)  # unmapped
        except DataError:
            raise
        except Exception as e:
            raise DataError(f"cannot read {path} as safetensors ({one_line(e)}); the file is damaged") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:  # what weights_only refuses: an object that is not a tensor
        raise DataError(
            f"{path} cannot be read without unpickling arbitrary objects ({one_line(e, 160)}); aezoo only "
            "reads tensors: torch.save a tensor, a dict of tensors or an (x, y) tuple, or use .npy/.safetensors"
        ) from None
    except Exception as e:  # torch raises many types for a damaged archive
        raise DataError(f"cannot read {path} as a PyTorch file ({one_line(e, 160)}); the file is damaged") from None
    if isinstance(obj, (tuple, list)) and len(obj) == 2 and all(isinstance(t, Tensor) for t in obj):
        if label_column is not None:
            raise DataError(f"{path} holds an (x, y) pair, so label_column={label_column!r} cannot apply")
        return as_tensor(obj[0], path), int_labels(obj[1], path, "y")
    if isinstance(obj, Mapping):
        return _pick(dict(obj), path, label_column)
    if isinstance(obj, Tensor):
        if label_column is not None:
            raise DataError(f"{path} holds one tensor, so label_column={label_column!r} cannot apply")
        return as_tensor(obj, path), None
    raise DataError(f"{path} holds a {type(obj).__name__}; save a tensor, a dict of tensors or an (x, y) tuple")


def _np_load(path: Path) -> Any:
    try:
        return np.load(path, allow_pickle=False)
    except MemoryError:
        raise DataError(
            f"not enough memory to load {path} ({path.stat().st_size:,} bytes) whole; stream it instead "
            "(aezoo train --stream, or stream=True), or free memory"
        ) from None
    except Exception as e:
        raise _np_error(e, path) from None


def _np_member(npz: Any, key: str, path: Path) -> Any:
    """One array of an ``.npz`` (numpy reads each lazily, so its errors surface here).

    numpy allocates the array a member's header describes before reading it: the header is first
    checked against what the member can hold (its size, at most 1032 times its compressed size for
    deflate, the largest ratio deflate reaches), so a lying header is an error, not an allocation.
    """
    try:
        info = npz.zip.getinfo(key if key in npz.zip.namelist() else f"{key}.npy")  # as numpy finds it
        ratio = {zipfile.ZIP_STORED: 1, zipfile.ZIP_DEFLATED: 1032}.get(info.compress_type)
        size = info.file_size if ratio is None else min(info.file_size, info.compress_size * ratio)
        with npz.zip.open(info) as f:
            if f.read(6) == b"\x93NUMPY":  # numpy gives any other member as bytes, refused later
                f.seek(0)
                read_npy_header(f, size, f"{path} (array {key!r})")
        return npz[key]
    except DataError:
        raise
    except Exception as e:
        raise _np_error(e, f"{path} (array {key!r})") from None


def _np_error(e: Exception, where: Any) -> DataError:
    if isinstance(e, ValueError) and "allow_pickle" in str(e):  # object arrays need pickle
        return DataError(
            f"{where} holds Python objects and needs pickle to load; aezoo does not unpickle files: "
            "save numeric arrays (e.g. np.save(f, x.astype(np.float32)))"
        )
    return DataError(f"cannot read {where} ({one_line(e, 160)}); the file is damaged or not a NumPy file")


def _pick(arrays: Mapping[str, Any], path: Path, label_column: str | int | None) -> tuple[Tensor, Tensor | None]:
    """Features and labels from a mapping of named arrays."""
    x_key, y_key = _keys(list(arrays), path, label_column)
    y = int_labels(arrays[y_key], path, y_key) if y_key is not None else None
    return as_tensor(arrays[x_key], path), y


def _images_nchw(raw: Tensor) -> Tensor:
    if raw.dim() == 3:
        return raw.unsqueeze(1)
    if raw.dim() == 4 and raw.shape[1] not in (1, 3, 4) and raw.shape[3] in (1, 3, 4):
        return raw.permute(0, 3, 1, 2).contiguous()
    return raw
