"""Datasets held as one tensor on the training device, sliced into batches by a shuffled index.

Built-in datasets (MNIST, Fashion-MNIST, CIFAR-10) come through torchvision once, are kept as uint8
safetensors under the data root, and are loaded whole; user data comes from a folder of images, a
tensor file or a CSV. aezoo never unpickles user files. Values are checked (non-empty, finite) once,
here, so the training loop does not have to.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import math
import os
import shutil
import socket
import warnings
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from ..core import settings
from ..core.errors import DataError, close_matches, unknown_name
from ..io.serialization import atomic_write
from .preprocessing import Preprocessing
from .streaming import StreamedDataset, TensorFile, memory_budget, safetensors_header

__all__ = ["Dataset", "DeviceDataset", "StreamedDataset", "data_root", "load_dataset", "load_user_data"]

DATA_ENV = "AEZOO_DATA"  # a folder holding the built-in datasets (what --data-dir sets per command)
CACHE_ENV = "AEZOO_CACHE"  # aezoo's cache folder; datasets go to its "data" subfolder
CACHE_DIRNAME = "aezoo-cache"  # under aezoo's own data cache: <name>-<split>[-<root key>].safetensors
_CACHE_FORMAT = "1"
_DOWNLOAD_TIMEOUT_S = 20.0  # torchvision opens URLs without a timeout; never hang on a dead network
SPLITS = ("train", "test")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
TENSOR_SUFFIXES = (".npy", ".npz", ".pt", ".pth", ".safetensors")
_X_KEYS = ("x", "data", "images", "inputs", "features", "X", "arr_0")
_Y_KEYS = ("y", "labels", "targets", "label", "target", "Y")


@dataclasses.dataclass(init=False, repr=False, eq=False)
class DeviceDataset:
    """A whole split as one tensor on one device; an epoch is a handful of tensor slices.

    ``x`` as given is kept as it is: uint8 pixels stay bytes (a quarter of float32's memory) and
    are mapped through ``preprocessing`` batch by batch, with the same arithmetic as mapping them
    all at once, so every batch is bit-identical to the float32 one; float data is kept as model
    inputs (already preprocessed). Without ``preprocessing``, uint8 gets ``scale=1/255``.

    >>> ds = DeviceDataset(torch.rand(10, 1, 28, 28), name="random")
    >>> [b.shape[0] for b in ds.batches(4, shuffle=False)]
    [4, 4, 2]
    >>> pixels = DeviceDataset(torch.full((3, 1, 2, 2), 255, dtype=torch.uint8))
    >>> pixels.data.dtype, next(pixels.batches(2)).dtype, pixels.x.max().item()
    (torch.uint8, torch.float32, 1.0)
    """

    data: Tensor  # (N, *shape) as stored: raw uint8 pixels, or float32 model inputs
    y: Tensor | None  # (N,) int64 labels, if the data has them
    preprocessing: Preprocessing  # raw -> model inputs
    name: str  # e.g. "mnist/train"
    streamed: ClassVar[bool] = False  # held whole in memory (a StreamedDataset reads from disk)

    def __init__(
        self,
        x: Tensor | None = None,
        y: Tensor | None = None,
        preprocessing: Preprocessing | None = None,
        name: str = "",
        *,
        data: Tensor | None = None,
    ) -> None:
        # ``data=`` is how dataclasses.replace passes the stored tensor; new samples (``x``) win.
        stored = x if x is not None else data
        if stored is None:
            raise DataError("DeviceDataset needs its samples: DeviceDataset(x, y=None, preprocessing=None, name='')")
        if preprocessing is None:
            preprocessing = Preprocessing(scale=1 / 255) if stored.dtype == torch.uint8 else Preprocessing()
        self.data, self.y, self.preprocessing, self.name = stored, y, preprocessing, name

    def __repr__(self) -> str:
        return (
            f"DeviceDataset(name={self.name!r}, n={len(self)}, shape={self.shape}, stored={self.data.dtype}, "
            f"device={str(self.device)!r})"
        )

    def __len__(self) -> int:
        return int(self.data.shape[0])

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one sample.

        >>> DeviceDataset(torch.zeros(5, 1, 28, 28)).shape
        (1, 28, 28)
        """
        return tuple(self.data.shape[1:])

    @property
    def device(self) -> torch.device:
        """Where the samples live.

        >>> DeviceDataset(torch.zeros(2, 3)).device
        device(type='cpu')
        """
        return self.data.device

    @property
    def nbytes(self) -> int:
        """Bytes the samples take as stored.

        >>> DeviceDataset(torch.zeros(2, 3, dtype=torch.uint8)).nbytes
        6
        """
        return self.data.numel() * self.data.element_size()

    @property
    def x(self) -> Tensor:
        """All samples as float model inputs, ``(N, *shape)``.

        For byte-stored images this builds a float32 copy of the whole split on every access (4
        bytes per pixel): use :meth:`batches` or :meth:`inputs` for parts of a large dataset.

        >>> DeviceDataset(torch.tensor([[0, 51]], dtype=torch.uint8)).x
        tensor([[0.0000, 0.2000]])
        """
        return self._model_inputs(self.data)

    @property
    def batch_order(self) -> dict[str, int]:
        """What fixes the order of batches besides the generator: nothing (one permutation)."""
        return {}

    def _model_inputs(self, stored: Tensor) -> Tensor:
        # Element by element the same arithmetic as mapping the whole split at once.
        return stored if stored.is_floating_point() else self.preprocessing.apply(stored).float()

    def inputs(self, index: slice | Tensor | None = None) -> Tensor:
        """Model inputs of the samples a slice or an index tensor selects (all for ``None``).

        >>> DeviceDataset(torch.tensor([[0], [255]], dtype=torch.uint8)).inputs(slice(1, 2))
        tensor([[1.]])
        """
        return self._model_inputs(self.data if index is None else self.data[index])

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = True,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
        start: int = 0,
    ) -> Iterator[Tensor]:
        """Yield batches of model inputs; ``start`` skips the first batches (to resume mid-epoch).

        The permutation is drawn whole before skipping, so a resumed epoch with the generator in
        the same state sees the same remaining batches as the uninterrupted one.

        >>> ds = DeviceDataset(torch.arange(6.0).view(6, 1))
        >>> [b.flatten().tolist() for b in ds.batches(4, shuffle=False, start=1)]
        [[4.0, 5.0]]
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise DataError(f"batch_size must be a positive integer, got {batch_size!r}")
        if start < 0:
            raise DataError(f"start must be a batch number >= 0, got {start!r}")
        n = len(self)
        order = None
        if shuffle:
            gen_device = generator.device if generator is not None else "cpu"
            order = torch.randperm(n, generator=generator, device=gen_device).to(self.device)
        stop = n - n % batch_size if drop_last else n
        for i in range(start * batch_size, stop, batch_size):
            part = self.data[order[i : i + batch_size]] if order is not None else self.data[i : i + batch_size]
            yield self._model_inputs(part)

    def check_finite(self) -> None:
        """Raise :class:`~aezoo.core.errors.DataError` if ``x`` holds NaN or infinite values.

        >>> DeviceDataset(torch.tensor([[1.0], [float("nan")]]), name="t").check_finite()  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        aezoo.core.errors.DataError: 't' has 1 NaN or infinite value(s) out of 2 (first in sample 1); ...
        """
        _check_finite(self.data, self.name or "the data")  # bytes are finite: only float data is looked at

    def num_batches(self, batch_size: int, *, drop_last: bool = False) -> int:
        """How many batches :meth:`batches` yields per epoch.

        >>> ds = DeviceDataset(torch.zeros(10, 3))
        >>> ds.num_batches(4), ds.num_batches(4, drop_last=True)
        (3, 2)
        """
        n = len(self)
        return n // batch_size if drop_last else -(-n // batch_size)

    def to(self, device: str | torch.device) -> DeviceDataset:
        """The same dataset with its samples and labels on ``device``.

        >>> DeviceDataset(torch.zeros(2, 3)).to("cpu").device
        device(type='cpu')
        """
        y = self.y.to(device) if self.y is not None else None
        return dataclasses.replace(self, data=self.data.to(device), y=y)

    def subset(self, index: int | slice | Tensor) -> DeviceDataset:
        """The first ``index`` samples (an int), or those selected by a slice or index tensor.

        >>> len(DeviceDataset(torch.zeros(10, 3)).subset(4))
        4
        """
        if isinstance(index, int):
            index = slice(0, index)
        y = self.y[index] if self.y is not None else None
        return dataclasses.replace(self, data=self.data[index], y=y)

    def filter_classes(
        self, classes: Iterable[int] | None = None, *, exclude: Iterable[int] | None = None
    ) -> DeviceDataset:
        """Only the samples whose label is in ``classes`` and not in ``exclude`` (e.g. normal data for
        anomaly detection: ``train.filter_classes(exclude=[0])``).

        >>> ds = DeviceDataset(torch.zeros(4, 2), y=torch.tensor([0, 1, 2, 1]), name="toy")
        >>> ds.filter_classes(exclude=[1]).y.tolist(), ds.filter_classes([1]).name
        ([0, 2], 'toy[classes=1]')
        """
        if self.y is None:
            raise DataError(f"{self.name or 'the dataset'!r} has no labels, so it cannot be filtered by class")
        present = sorted(set(self.y.unique().tolist()))
        keep = torch.ones(len(self), dtype=torch.bool, device=self.y.device)
        tags = []
        for values, inside, tag in ((classes, True, "classes"), (exclude, False, "exclude")):
            if values is None:
                continue
            values = sorted({int(v) for v in values})
            missing = [v for v in values if v not in present]
            if missing:
                raise DataError(
                    f"class(es) {', '.join(map(str, missing))} not in {self.name or 'the dataset'!r}; its labels "
                    f"are {', '.join(map(str, present))}"
                )
            member = torch.isin(self.y, torch.tensor(values, device=self.y.device))
            keep &= member if inside else ~member
            tags.append(f"{tag}={','.join(map(str, values))}")
        if not bool(keep.any()):
            raise DataError(f"no samples of {self.name or 'the dataset'!r} are left after {' '.join(tags)}")
        out = self.subset(keep.nonzero().flatten())
        return dataclasses.replace(out, name=f"{self.name}[{' '.join(tags)}]") if tags else out

    def split(self, fraction: float, *, seed: int = 0) -> tuple[DeviceDataset, DeviceDataset]:
        """Split off a random ``fraction`` of the samples as a validation set: ``(train, val)``.

        The same ``seed`` gives the same split on every device; both parts keep the original order.

        >>> train, val = DeviceDataset(torch.rand(10, 3)).split(0.2, seed=0)
        >>> len(train), len(val)
        (8, 2)
        """
        n = len(self)
        if not 0.0 < fraction < 1.0:
            raise DataError(f"validation fraction must be between 0 and 1 (exclusive), got {fraction!r}")
        if n < 2:
            raise DataError(f"cannot split {self.name or 'a dataset'!r} of {n} sample(s) into train and validation")
        n_val = min(max(round(n * fraction), 1), n - 1)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed)))
        val_idx = perm[:n_val].sort().values.to(self.device)
        train_idx = perm[n_val:].sort().values.to(self.device)
        train = dataclasses.replace(self.subset(train_idx), name=f"{self.name}:train")
        val = dataclasses.replace(self.subset(val_idx), name=f"{self.name}:val")
        return train, val


#: What the trainer, evaluation and applications take: held whole, or streamed from a file.
Dataset = DeviceDataset | StreamedDataset


# --------------------------------------------------------------------------------------------- roots


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The folder that holds the built-in datasets.

    ``root`` (the CLI's ``--data-dir``) wins, then ``$AEZOO_DATA``, then ``$AEZOO_CACHE/data``, then
    ``$XDG_CACHE_HOME/aezoo/data`` (``~/.cache/aezoo/data`` when that is unset).

    >>> data_root("/tmp/my-data")
    PosixPath('/tmp/my-data')
    """
    return _resolve_root(root)[0]


def _resolve_root(root: str | os.PathLike[str] | None) -> tuple[Path, str]:
    """The data root and where it came from (for error messages)."""
    if root is not None and str(root) != "":
        return Path(root).expanduser(), "root= / --data-dir"
    env = settings.data_dir()
    if env is not None:
        return env, f"${DATA_ENV}"
    return _cache_root()


def _cache_root() -> tuple[Path, str]:
    """aezoo's own, writable data folder: the only place aezoo writes unpacked files and caches."""
    where = f"${CACHE_ENV}/data" if settings.text(CACHE_ENV) else "the default cache folder"
    return settings.cache_dir() / "data", where


# ------------------------------------------------------------------------------------ built-in sets


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
    or the path of your own data (see :func:`load_user_data`; ``split`` is then ignored). The
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
        hint = "or give the path of a folder of images, a tensor file or a CSV"
        raise unknown_name("dataset", text, _BUILTINS, hint=hint)
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r} for {spec.name!r}; choose one of {', '.join(map(repr, SPLITS))}")
    base, origin = _resolve_root(root)
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
    own = _cache_root()[0]
    stem = f"{name}-{split}"
    if base.resolve() != own.resolve():
        stem += "-" + hashlib.sha256(str(base.resolve()).encode()).hexdigest()[:12]
    return own / CACHE_DIRNAME / f"{stem}.safetensors"


def _looks_like_path(text: str) -> bool:
    return (
        os.sep in text
        or "/" in text
        or text.startswith((".", "~"))
        or Path(text).suffix.lower() in (*TENSOR_SUFFIXES, ".csv", ".tsv")
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
            why = f"torchvision cannot write there to unpack or download ({_one_line(e)}); use a writable copy"
        elif download:
            why = f"the download from {', '.join(urls)} failed ({_one_line(e)})"
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
    own = _cache_root()[0]
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


def _one_line(e: BaseException, limit: int = 300) -> str:
    text = " ".join(f"{type(e).__name__}: {e}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
        problem = _one_line(e)
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
        warnings.warn(f"could not write the dataset cache {path} ({_one_line(e)}); loads stay slow", stacklevel=3)


# -------------------------------------------------------------------------------------- user data


def load_user_data(
    path: str | os.PathLike[str],
    *,
    device: str | torch.device = "cpu",
    label_column: str | int | None = None,
    stream: bool | None = None,
) -> Dataset:
    """Load your own data onto ``device``, with the preprocessing it was given.

    ``stream=True`` reads a ``.npy`` or ``.safetensors`` file batch by batch instead of holding it
    (:class:`~aezoo.data.streaming.StreamedDataset`); a folder of images is first decoded, chunk by
    chunk, into a ``.npy`` in aezoo's cache (once per version of the folder), then streamed from
    there. ``None`` streams when holding the data would take more than
    :func:`~aezoo.data.streaming.memory_budget`. CSV, ``.npz`` and ``.pt`` files are always loaded whole.

    * a folder of images (PNG, JPEG, ...; all one size): ``(N, 1|3, H, W)``, ``scale=1/255``;
      images in subfolders get the subfolder's index (sorted names) as label;
    * ``.npy``/``.npz``/``.pt``/``.safetensors`` tensors (never unpickled): uint8 arrays are images
      (``scale=1/255``; ``(N, H, W)`` gains a channel, ``(N, H, W, C)`` becomes ``(N, C, H, W)``),
      2-D arrays are tables (standardised per column), other float arrays are kept as they are;
      ``.npz``/``.pt``/``.safetensors`` mappings use key ``x`` (or ``data``, ``images``...) and labels
      from ``label_column`` (default ``y``, ``labels`` or ``targets`` when present);
    * ``.csv``/``.tsv`` of numbers, with or without a header: ``(N, F)`` standardised per column
      (``mean``/``std`` of this data; a constant column gets ``std=1``); ``label_column`` (name or
      index) becomes integer labels and is left out of the features.

    >>> import numpy as np, tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "x.npy"); np.save(f, np.zeros((5, 8, 8), np.uint8))
    >>> load_user_data(f).x.shape
    torch.Size([5, 1, 8, 8])
    """
    path = Path(path).expanduser()
    if stream and path.is_file() and path.suffix.lower() not in (".npy", ".safetensors"):
        raise DataError(
            f"cannot stream {str(path)!r}: aezoo streams image folders and uncompressed .npy and .safetensors "
            "files; convert it "
            "(np.save(f, images) with uint8 pixels, or float32 features) or drop --stream / stream=True"
        )
    if path.is_dir():
        if label_column is not None:
            raise DataError(f"label_column does not apply to an image folder ({path}); labels come from subfolders")
        files, color, (w, h), y = _scan_image_folder(path)
        if stream or (stream is None and len(files) * (3 if color else 1) * h * w > memory_budget(device)):
            return _stream_image_folder(path, files, color, (w, h), y, device=device)
        return _finish(torch.from_numpy(_decode_images(files, color)), y, name=path.name, device=device)
    if not path.is_file():
        raise DataError(f"{str(path)!r} does not exist; give a folder of images or a tensor or CSV file")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        raw, y = _read_csv(path, label_column)
        return _finish(raw, y, name=path.name, device=device, standardise=True)
    if suffix not in TENSOR_SUFFIXES:
        raise DataError(
            f"cannot read {str(path)!r}: unknown file type {suffix!r}; aezoo reads a folder of images, "
            f"{', '.join(TENSOR_SUFFIXES)} and .csv"
        )
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


def _stream_tensor_file(
    path: Path, label_column: str | int | None, *, device: str | torch.device, stream: bool | None
) -> StreamedDataset | None:
    """``path`` as a :class:`StreamedDataset` when asked or when over the budget, else None."""
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".safetensors"):
        return None
    y = None
    if suffix == ".npy":
        if label_column is not None:
            raise DataError(f"{path} holds one array, so label_column={label_column!r} cannot apply; use .npz")
        source = TensorFile.open(path)
    else:
        header, _ = safetensors_header(path)
        names = {k: None for k in header if k != "__metadata__"}
        if label_column is not None and str(label_column) not in names:
            keys = ", ".join(map(repr, names))
            raise DataError(f"{path} has no key {str(label_column)!r} for the labels; keys: {keys}")
        y_key = str(label_column) if label_column is not None else next((k for k in _Y_KEYS if k in names), None)
        rest = [k for k in names if k != y_key]
        x_key = next((k for k in _X_KEYS if k in names), None) or (rest[0] if len(rest) == 1 else None)
        if x_key is None:
            raise DataError(f"{path} holds {', '.join(map(repr, names)) or 'nothing'}; name the data array 'x'")
        source = TensorFile.open(path, x_key)
        if y_key is not None:
            labels = TensorFile.open(path, y_key)
            y = _labels(labels.read(np.arange(labels.shape[0])).numpy(), path, y_key)
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


def _scan_image_folder(folder: Path) -> tuple[list[Path], bool, tuple[int, int], Tensor | None]:
    """The images of a folder (sorted), whether any has colour, their one size, subfolder labels.

    Reads only each file's header, so it costs little memory whatever the folder's size.
    """
    from PIL import Image, UnidentifiedImageError

    files = sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )
    if not files:
        raise DataError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found in {folder}")
    headers = []
    for p in files:
        try:
            with Image.open(p) as im:
                headers.append((p, im.mode, im.size))
        except (OSError, UnidentifiedImageError) as e:
            raise DataError(f"cannot read image {p} ({_one_line(e)}); remove or replace it") from None
    wide = [p for p, mode, _ in headers if mode in ("I", "I;16", "I;16B", "I;16L", "F")]
    if wide:
        raise DataError(f"{wide[0]} has 16/32-bit pixels; aezoo reads 8-bit images, convert them (e.g. to 8-bit PNG)")
    color = any(mode not in ("1", "L", "LA") for _, mode, _ in headers)
    size0 = headers[0][2]
    for p, _, size in headers:
        if size != size0:
            raise DataError(
                f"all images must have one size: {files[0]} is {size0[0]}x{size0[1]} but {p} is "
                f"{size[0]}x{size[1]}; resize them first"
            )
    rel = [p.relative_to(folder).parts for p in files]
    if all(len(parts) > 1 for parts in rel):  # class-per-subfolder layout
        classes = sorted({parts[0] for parts in rel})
        return files, color, size0, torch.tensor([classes.index(parts[0]) for parts in rel], dtype=torch.int64)
    return files, color, size0, None


def _decode_images(files: list[Path], color: bool) -> np.ndarray:
    """Decode ``files`` (as scanned) into one uint8 array ``(n, 1|3, H, W)``."""
    from PIL import Image, UnidentifiedImageError

    arrays = []
    for p in files:
        try:
            with Image.open(p) as im:
                arrays.append(np.asarray(im.convert("RGB" if color else "L")))
        except (OSError, UnidentifiedImageError) as e:
            raise DataError(f"cannot read image {p} ({_one_line(e)}); remove or replace it") from None
    stacked = np.stack(arrays)
    return np.ascontiguousarray(stacked.transpose(0, 3, 1, 2)) if color else stacked[:, None]


def _stream_image_folder(
    folder: Path,
    files: list[Path],
    color: bool,
    size: tuple[int, int],
    y: Tensor | None,
    *,
    device: str | torch.device,
) -> StreamedDataset:
    """Stream a folder of images: decoded once, in chunks, into a ``.npy`` in aezoo's cache.

    The file's name is keyed by the folder's path and every image's name, size and mtime, so a
    changed folder is packed again; packing holds one chunk of decoded images at a time.
    """
    shape = (len(files), 3 if color else 1, size[1], size[0])
    listing = [(str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    key = hashlib.sha256(json.dumps([str(folder.resolve()), color, listing]).encode()).hexdigest()[:16]
    target = _cache_root()[0] / CACHE_DIRNAME / "folders" / f"{folder.name}-{key}.npy"
    try:
        source = TensorFile.open(target) if target.is_file() else None
    except DataError:
        source = None  # damaged: pack it again
    if source is None or source.shape != shape or source.dtype != torch.uint8:
        row = math.prod(shape[1:])
        step = max(1, min(64 << 20, memory_budget(device) // 4) // row)
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(target) as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False, "shape": shape})
            for a in range(0, len(files), step):
                f.write(_decode_images(files[a : a + step], color).tobytes())
        source = TensorFile.open(target)
    labels = y.to(device) if y is not None else None
    return StreamedDataset(
        source, y=labels, preprocessing=Preprocessing(scale=1 / 255), name=folder.name, device=device
    )


def _read_tensor_file(path: Path, label_column: str | int | None) -> tuple[Tensor, Tensor | None]:
    suffix = path.suffix.lower()
    if suffix == ".npy":
        if label_column is not None:
            raise DataError(f"{path} holds one array, so label_column={label_column!r} cannot apply; use .npz")
        return _tensor(_np_load(path), path), None
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
            raise DataError(f"cannot read {path} as safetensors ({_one_line(e)}); the file is damaged") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise DataError(
            f"{path} cannot be read without unpickling arbitrary objects ({_one_line(e, 160)}); aezoo only "
            "reads tensors: torch.save a tensor, a dict of tensors or an (x, y) tuple, or use .npy/.safetensors"
        ) from None
    if isinstance(obj, (tuple, list)) and len(obj) == 2 and all(isinstance(t, Tensor) for t in obj):
        if label_column is not None:
            raise DataError(f"{path} holds an (x, y) pair, so label_column={label_column!r} cannot apply")
        return _tensor(obj[0], path), _labels(obj[1], path, "y")
    if isinstance(obj, Mapping):
        return _pick(dict(obj), path, label_column)
    if isinstance(obj, Tensor):
        if label_column is not None:
            raise DataError(f"{path} holds one tensor, so label_column={label_column!r} cannot apply")
        return _tensor(obj, path), None
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
    """One array of an ``.npz`` (numpy reads each lazily, so its errors surface here)."""
    try:
        return npz[key]
    except Exception as e:
        raise _np_error(e, f"{path} (array {key!r})") from None


def _np_error(e: Exception, where: Any) -> DataError:
    if isinstance(e, ValueError) and "allow_pickle" in str(e):  # object arrays need pickle
        return DataError(
            f"{where} holds Python objects and needs pickle to load; aezoo does not unpickle files: "
            "save numeric arrays (e.g. np.save(f, x.astype(np.float32)))"
        )
    return DataError(f"cannot read {where} ({_one_line(e, 160)}); the file is damaged or not a NumPy file")


def _pick(arrays: Mapping[str, Any], path: Path, label_column: str | int | None) -> tuple[Tensor, Tensor | None]:
    """Features and labels from a mapping of named arrays."""
    keys = list(arrays)
    if label_column is not None and str(label_column) not in arrays:
        raise DataError(f"{path} has no key {str(label_column)!r} for the labels; keys: {', '.join(map(repr, keys))}")
    y_key = str(label_column) if label_column is not None else next((k for k in _Y_KEYS if k in arrays), None)
    rest = [k for k in keys if k != y_key]
    x_key = next((k for k in _X_KEYS if k in arrays), None) or (rest[0] if len(rest) == 1 else None)
    if x_key is None:
        raise DataError(
            f"{path} holds {', '.join(map(repr, keys)) or 'nothing'}; name the data array 'x' (and labels 'y')"
        )
    y = _labels(arrays[y_key], path, y_key) if y_key is not None else None
    return _tensor(arrays[x_key], path), y


def _tensor(value: Any, path: Path) -> Tensor:
    if isinstance(value, Tensor):
        t = value.detach().cpu()
    else:
        array = np.asarray(value)
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
            raise DataError(f"{path} holds {array.dtype} values; aezoo reads numeric arrays")
        t = torch.from_numpy(np.ascontiguousarray(array))
    if t.is_complex():
        raise DataError(f"{path} holds complex values; aezoo reads real numbers")
    if t.dim() == 0:
        raise DataError(f"{path} holds a single number; expected samples along the first dimension")
    return t if t.dtype == torch.uint8 else t.float()


def _labels(value: Any, path: Path, key: str) -> Tensor:
    y = _tensor(value, path).double().flatten() if np.ndim(value) <= 1 else None
    if y is None or not bool(torch.isfinite(y).all()) or not bool((y == y.round()).all()):
        raise DataError(f"labels {key!r} in {path} must be one integer per sample")
    return y.long()


def _images_nchw(raw: Tensor) -> Tensor:
    if raw.dim() == 3:
        return raw.unsqueeze(1)
    if raw.dim() == 4 and raw.shape[1] not in (1, 3, 4) and raw.shape[3] in (1, 3, 4):
        return raw.permute(0, 3, 1, 2).contiguous()
    return raw


def _read_csv(path: Path, label_column: str | int | None) -> tuple[Tensor, Tensor | None]:
    try:
        return _parse_csv(path, label_column)
    except UnicodeDecodeError as e:
        raise DataError(
            f"{path} is not UTF-8 text (byte {e.start}: {e.object[e.start : e.start + 1]!r}); save the CSV as "
            "UTF-8 (e.g. pandas: df.to_csv(path, encoding='utf-8'))"
        ) from None
    except csv.Error as e:
        raise DataError(f"cannot parse {path} as CSV ({_one_line(e)}); aezoo reads numeric CSV columns") from None


def _parse_csv(path: Path, label_column: str | int | None) -> tuple[Tensor, Tensor | None]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        sample = f.read(8192)
        f.seek(0)
        try:
            dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
        except csv.Error:
            dialect = "excel-tab" if path.suffix.lower() == ".tsv" else "excel"
        reader = csv.reader(f, dialect)
        rows = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    if not rows:
        raise DataError(f"{path} is empty; expected rows of numbers")
    header = None
    if not any(_is_number(cell) for cell in rows[0][1]):
        header = [cell.strip() for cell in rows[0][1]]
        rows = rows[1:]
    width = len(header) if header else len(rows[0][1]) if rows else 0
    names = header or [str(i) for i in range(width)]
    label_index = _label_index(label_column, names, header is not None, path)
    values = np.empty((len(rows), width), dtype=np.float64)
    for r, (line, row) in enumerate(rows):
        if len(row) != width:
            first = "header" if header else "first row"
            raise DataError(f"{path}, line {line}: {len(row)} columns where the {first} has {width}")
        for c, cell in enumerate(row):
            try:
                values[r, c] = float(cell)
            except ValueError:
                raise DataError(
                    f"{path}, line {line}, column {c + 1} ({names[c]!r}): {cell!r} is not a number; "
                    "aezoo reads numeric CSV columns only (encode categories as numbers first)"
                ) from None
    data = torch.from_numpy(values)
    if label_index is None:
        return data.float(), None
    y = _labels(data[:, label_index], path, names[label_index])
    keep = [i for i in range(width) if i != label_index]
    return data[:, keep].float(), y


def _label_index(label_column: str | int | None, names: list[str], has_header: bool, path: Path) -> int | None:
    if label_column is None:
        return None
    if isinstance(label_column, int) and not isinstance(label_column, bool):
        if not -len(names) <= label_column < len(names):
            raise DataError(f"label_column={label_column} is out of range; {path} has {len(names)} columns")
        return label_column % len(names)
    if has_header and label_column in names:
        return names.index(label_column)
    if not has_header and str(label_column).lstrip("-").isdigit():
        return _label_index(int(label_column), names, has_header, path)
    near = close_matches(str(label_column), names)
    hint = f"; did you mean {', '.join(map(repr, near))}?" if near else f"; columns: {', '.join(map(repr, names))}"
    raise DataError(f"label column {label_column!r} not found in {path}{hint}")


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------------------------------ finish
def _check_finite(raw: Tensor, name: str) -> None:
    if not raw.is_floating_point() or bool(torch.isfinite(raw).all()):  # one device sync when all is well
        return
    bad = ~torch.isfinite(raw)
    n_bad = int(bad.sum())
    first = int(bad.reshape(raw.shape[0], -1).any(1).nonzero()[0])
    raise DataError(
        f"{name!r} has {n_bad} NaN or infinite value(s) out of {raw.numel()} (first in sample {first}); "
        "remove or impute them before training"
    )


def _finish(
    raw: Tensor, y: Tensor | None, *, name: str, device: str | torch.device, standardise: bool = False
) -> DeviceDataset:
    """Check once, choose the preprocessing, move to ``device`` and apply it there."""
    if raw.shape[0] == 0 or raw.numel() == 0:
        raise DataError(f"{name!r} has no samples (shape {tuple(raw.shape)}); it must hold at least one")
    if y is not None and y.shape != (raw.shape[0],):
        raise DataError(f"{name!r} has {raw.shape[0]} samples but {y.numel()} labels")
    _check_finite(raw, name)
    if raw.dtype == torch.uint8:
        pre = Preprocessing(scale=1 / 255)
    elif standardise:
        data = raw.double()
        std = data.std(0, correction=0)
        std[std == 0] = 1.0
        pre = Preprocessing(mean=tuple(data.mean(0).tolist()), std=tuple(std.tolist()))
    else:
        pre = Preprocessing()
    raw = raw.to(device)
    y = y.to(device) if y is not None else None
    if raw.dtype == torch.uint8:  # kept as bytes; batches are scaled when they are taken
        return DeviceDataset(raw.contiguous(), y, preprocessing=pre, name=name)
    return DeviceDataset(pre.apply(raw).float().contiguous(), y, preprocessing=pre, name=name)
