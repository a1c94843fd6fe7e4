"""The built-in datasets (MNIST, Fashion-MNIST, CIFAR-10) and :func:`load_dataset`, the one way in for data by name.

This is where ``aezoo train --dataset mnist`` gets its data. A built-in split comes through
torchvision once (from the data root, downloading only when its files are missing and
``download`` allows), is stored as uint8 safetensors with a checksum in aezoo's own cache
(:mod:`aezoo.data.roots`), and later loads read only that file, whole or streamed. A name that is
a path goes to :func:`~aezoo.data.files.load_user_data`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import socket
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..core.errors import DataError, unknown_name
from ..io.serialization import atomic_write
from ._checks import one_line
from .base import Dataset
from .files import load_user_data
from .hf import HF_PREFIX, load_hf_dataset
from .memory import _finish
from .preprocessing import Preprocessing
from .roots import CACHE_DIRNAME, CACHE_ENV, DATA_ENV, cache_root, resolve_root
from .streaming import StreamedDataset, TensorFile, memory_budget
from .tables import CSV_SUFFIXES
from .tensors import TENSOR_SUFFIXES

__all__ = ["SPLITS", "load_dataset"]

SPLITS = ("train", "test")
_CACHE_FORMAT = "1"
_DOWNLOAD_TIMEOUT_S = 20.0  # torchvision opens URLs without a timeout; never hang on a dead network


@dataclasses.dataclass(frozen=True)
class _Builtin:
    name: str  # canonical name, also the cache file stem
    torchvision_class: str  # class in torchvision.datasets
    folder: str  # where torchvision keeps the files under the root
    sizes: tuple[int, int]  # samples in (train, test)
    channels_last: bool = False  # torchvision's .data is (N, H, W, C)


_BUILTINS = {
    b.name: b
    for b in (
        _Builtin("mnist", "MNIST", "MNIST/raw", (60000, 10000)),
        _Builtin("fashion-mnist", "FashionMNIST", "FashionMNIST/raw", (60000, 10000)),
        _Builtin("cifar10", "CIFAR10", "cifar-10-batches-py", (50000, 10000), channels_last=True),
    )
}


def _builtin(name: str) -> _Builtin | None:
    key = name.lower().replace("-", "").replace("_", "")
    return next((b for b in _BUILTINS.values() if b.name.replace("-", "") == key), None)


def load_dataset(
    name: str | os.PathLike[str],
    split: str = "train",
    *,
    root: str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
    download: bool = True,
    stream: bool | None = None,
) -> Dataset:
    """Load a dataset split onto ``device``: images ``(N, C, H, W)``, batches float32 in [0, 1].

    The pixels are held as uint8 on ``device`` and scaled batch by batch (``ds.x`` gives all
    of them as float32). ``stream=True`` reads them from aezoo's cache file batch by batch instead
    (a :class:`~aezoo.data.streaming.StreamedDataset`); ``None`` streams only when the split is larger
    than :func:`~aezoo.data.streaming.memory_budget`.

    ``name`` is ``"mnist"``, ``"fashion-mnist"`` or ``"cifar10"`` (spelling of ``-``/``_`` free),
    the path of your own data (see :func:`load_user_data`; ``split`` is then ignored), or a Hugging Face
    dataset, ``"hf:OWNER/NAME[:SPLIT]"`` or ``"hf:/path/to/folder"`` (:mod:`aezoo.data.hf`; needs
    ``pip install "aezoo[hf]"``). The
    root comes from :func:`data_root` (``root=``, ``$AEZOO_DATA``, then aezoo's cache folder); a
    root you name must exist (``DataError`` otherwise; create it first to download into it). The
    first load from a root goes through torchvision (downloading when ``download`` is true and the
    files are missing) and stores the split as uint8 safetensors in aezoo's own cache,
    ``$AEZOO_CACHE/data/aezoo-cache/`` (default ``~/.cache/aezoo/data/aezoo-cache/``), under a name
    keyed by the root; later loads from the same root read only that file. Offline, point the
    root at a folder holding torchvision's layout, e.g. ``root="../shared/data"`` with
    ``MNIST/raw/*.gz``.

    >>> ds = load_dataset("mnist", "test", device="cpu")  # doctest: +SKIP
    >>> ds.x.shape, ds.y[:3].tolist(), ds.preprocessing.scale == 1 / 255  # doctest: +SKIP
    (torch.Size([10000, 1, 28, 28]), [7, 2, 1], True)
    """
    text = os.fspath(name)
    if text.startswith(HF_PREFIX):
        return load_hf_dataset(text, split, device=device, stream=stream)
    spec = _builtin(text) if not _looks_like_path(text) else None
    if spec is None:
        path = Path(text).expanduser()
        if path.exists():
            return load_user_data(path, device=device, stream=stream)
        if _looks_like_path(text):
            raise DataError(
                f"{text!r} does not exist; give an existing folder of images or a "
                f"{'/'.join(TENSOR_SUFFIXES)} or .csv file, or a built-in dataset ({', '.join(_BUILTINS)})"
            )
        hint = "or give the path of a folder of images, a tensor file or a CSV, or hf:OWNER/NAME (Hugging Face)"
        raise unknown_name("dataset", text, _BUILTINS, hint=hint)
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r} for {spec.name!r}; choose one of {', '.join(map(repr, SPLITS))}")
    base, origin = resolve_root(root)
    if not base.is_dir():
        what = "is not a folder" if base.exists() else "does not exist"
        raise DataError(
            f"data root {str(base)!r} (from {origin}) {what}; point it at the folder that holds "
            f"{spec.folder}/ (e.g. --data-dir ../shared/data), or create it first to download {spec.name!r} into it"
        )
    n_expected = spec.sizes[SPLITS.index(split)]
    # A data root may be a shared, read-only copy (and root ignores file modes): aezoo reads there
    # but writes its cache, and anything torchvision would unpack, only under its own cache folder.
    cache = _cache_file(spec.name, split, base)
    if stream is not False and cache.is_file():
        streamed = _stream_cache(cache, n_expected, name=f"{spec.name}/{split}", device=device, stream=stream)
        if streamed is not None:
            return streamed
    loaded = _read_cache(cache, n_expected)
    if loaded is None:
        loaded = _load_torchvision(spec, split, base, origin, cache, download)
        _write_cache(cache, *loaded, name=spec.name, split=split)
    raw, y = loaded
    if stream:  # the cache file now exists, unless it could not be written
        streamed = _stream_cache(cache, n_expected, name=f"{spec.name}/{split}", device=device, stream=True)
        if streamed is None:
            raise DataError(
                f"cannot stream {spec.name!r} ({split}): aezoo streams it from its cache file {cache}, which "
                f"could not be written or read back; make that folder writable (or point ${CACHE_ENV} elsewhere), "
                "or drop --stream"
            )
        return streamed
    return _finish(raw, y, name=f"{spec.name}/{split}", device=device)


def _stream_cache(
    cache: Path, n_expected: int, *, name: str, device: str | torch.device, stream: bool | None
) -> StreamedDataset | None:
    """A built-in split streamed from its cache file when asked or when over the budget, else None.

    The file's header is checked (dtype, shape, size), not its checksum: that would mean reading
    it whole, which streaming exists to avoid.
    """
    try:
        x = TensorFile.open(cache, "x")
        y = TensorFile.open(cache, "y")
    except DataError:  # damaged: _read_cache says so and rebuilds it
        return None
    if (
        x.dtype != torch.uint8
        or len(x.shape) != 4
        or x.shape[0] != n_expected
        or y.shape != (n_expected,)
        or (y.dtype != torch.int64)
    ):
        return None  # _read_cache explains and rebuilds
    if stream is None and x.shape[0] * x.row_bytes <= memory_budget(device):
        return None
    labels = y.read(np.arange(n_expected)).to(torch.int64).to(device)
    return StreamedDataset(x, y=labels, preprocessing=Preprocessing(scale=1 / 255), name=name, device=device)


def _cache_file(name: str, split: str, base: Path) -> Path:
    """The cache file of a split read from ``base``: keyed by the root, so the root named is the root read."""
    own = cache_root()[0]
    stem = f"{name}-{split}"
    if base.resolve() != own.resolve():
        stem += "-" + hashlib.sha256(str(base.resolve()).encode()).hexdigest()[:12]
    return own / CACHE_DIRNAME / f"{stem}.safetensors"


def _looks_like_path(text: str) -> bool:
    return (
        os.sep in text
        or "/" in text
        or text.startswith((".", "~"))
        or Path(text).suffix.lower() in (*TENSOR_SUFFIXES, *CSV_SUFFIXES)
    )


@contextmanager
def _network_timeout(seconds: float) -> Iterator[None]:
    # urllib without a timeout waits forever on a silently dropped connection; set one only
    # while downloading and only when nobody else chose one.
    previous = socket.getdefaulttimeout()
    if previous is None:
        socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        if previous is None:
            socket.setdefaulttimeout(None)


def _load_torchvision(
    spec: _Builtin, split: str, base: Path, origin: str, cache: Path, download: bool
) -> tuple[Tensor, Tensor]:
    """Read a split through torchvision; ``download=True`` also unpacks local archives offline."""
    import torchvision.datasets as tvd

    cls = getattr(tvd, spec.torchvision_class)
    try:
        try:  # already unpacked where it lives: read in place, write nothing
            ds = cls(str(base), train=split == "train", download=False)
        except RuntimeError:
            if not download:
                raise
            target = _staged_archives(spec, cls, base)
            with _network_timeout(_DOWNLOAD_TIMEOUT_S):
                ds = cls(str(target), train=split == "train", download=True)
    except Exception as e:  # URLError, OSError, RuntimeError, tarfile errors: all mean "not here"
        urls = list(getattr(cls, "mirrors", None) or [getattr(cls, "url", "")])
        if isinstance(e, PermissionError):  # e.g. a read-only copy that holds only the archives
            why = f"torchvision cannot write there to unpack or download ({one_line(e)}); use a writable copy"
        elif download:
            why = f"the download from {', '.join(urls)} failed ({one_line(e)})"
        else:
            why = "download=False, so nothing was downloaded"
        raise DataError(
            f"dataset {spec.name!r} ({split}) not found: looked in {base / spec.folder} and for the cache "
            f"{cache} (data root {base} from {origin}); {why}. Fix: put the original files (the .gz or "
            f".tar.gz archives are enough) in {base / spec.folder}, or point --data-dir or ${DATA_ENV} at a "
            f"folder holding {spec.folder}/, or run once with network access and download=True"
        ) from e
    x = torch.as_tensor(np.asarray(ds.data))
    x = x.permute(0, 3, 1, 2) if spec.channels_last else x.unsqueeze(1)
    return x.to(torch.uint8).contiguous(), torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64)


def _staged_archives(spec: _Builtin, cls: Any, base: Path) -> Path:
    """Where torchvision may unpack or download: ``base`` if it is aezoo's own folder or holds no
    archives (a user asking to download there); otherwise a copy of the archives in aezoo's cache."""
    own = cache_root()[0]
    folder = base / spec.folder
    archives = [p for p in folder.glob("*") if p.is_file()] if folder.is_dir() else []
    tar = base / str(getattr(cls, "filename", ""))
    if getattr(cls, "filename", None) and tar.is_file():
        archives.append(tar)
    if base.resolve() == own.resolve() or not archives:
        return base
    for src in archives:
        dst = own / src.relative_to(base)
        if not dst.is_file() or dst.stat().st_size != src.stat().st_size:
            dst.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(dst) as f, open(src, "rb") as g:
                shutil.copyfileobj(g, f)
    return own


def _checksum(t: Tensor) -> str:
    # crc32 over the bytes: a few ms for MNIST, catches flipped or zeroed bytes that safetensors'
    # header check cannot see.
    return str(zlib.crc32(t.contiguous().view(torch.uint8).numpy().data))


def _read_cache(path: Path, n_expected: int) -> tuple[Tensor, Tensor] | None:
    """The cached ``(x uint8, y int64)`` of a split, or None (with a warning) if absent or damaged."""
    if not path.is_file():
        return None
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            # Copies: get_tensor maps the file, and the bytes are kept as they are (a file changed
            # on disk under a mapping kills the process with SIGBUS).
            x, y = f.get_tensor("x").clone(), f.get_tensor("y").clone()
        problem = ""
        if meta.get("format") != _CACHE_FORMAT:
            problem = f"cache format {meta.get('format')!r}, expected {_CACHE_FORMAT!r}"
        elif x.dtype != torch.uint8 or x.dim() != 4 or y.dtype != torch.int64 or y.shape != (x.shape[0],):
            problem = f"unexpected tensors x {x.dtype} {tuple(x.shape)}, y {y.dtype} {tuple(y.shape)}"
        elif x.shape[0] != n_expected:
            problem = f"{x.shape[0]} samples instead of {n_expected}"
        elif meta.get("crc32_x") != _checksum(x) or meta.get("crc32_y") != _checksum(y):
            problem = "checksum mismatch"
    except Exception as e:  # safetensors raises its own error type for a damaged header
        problem = one_line(e)
    if problem:
        warnings.warn(f"ignoring damaged dataset cache {path} ({problem}); rebuilding it", stacklevel=3)
        return None
    return x, y


def _write_cache(path: Path, x: Tensor, y: Tensor, *, name: str, split: str) -> None:
    from safetensors.torch import save

    meta = {"format": _CACHE_FORMAT, "dataset": name, "split": split, "crc32_x": _checksum(x), "crc32_y": _checksum(y)}
    try:
        with atomic_write(path) as f:
            f.write(save({"x": x, "y": y}, metadata=meta))
        os.chmod(path, 0o644)  # mkstemp makes it private; others sharing the data root may read it
    except OSError as e:  # a read-only data root still loads, just without the fast path
        warnings.warn(f"could not write the dataset cache {path} ({one_line(e)}); loads stay slow", stacklevel=3)
