"""Hugging Face ``datasets`` as input: ``hf:OWNER/NAME[@REVISION][:SPLIT][?image=COL&columns=A,B&label=COL]``.

The ``datasets`` library (the optional extra ``aezoo[hf]``, imported only here, on first use) owns the
download, the cache and its own streaming; aezoo reads the rows it hands out into the same model
inputs as its other readers, with the same preprocessing record:

* an **image column** (PIL images, or uint8 arrays ``(H, W)``/``(H, W, C)``) becomes
  ``(N, 1|3, H, W)`` uint8 pixels with ``scale=1/255``; the first image's mode decides grey or RGB,
  and every image must have the first one's size;
* **numeric columns** (``Value`` of ints, floats or bools) become ``(N, F)`` features standardised
  per column, as a CSV's are;
* the **label** is a ``ClassLabel`` column, else an integer column named ``label``/``labels``/
  ``target``/``y`` (``?label=COL`` names one, ``?label=`` drops it).

Which columns: ``?image=COL`` or ``?columns=A,B``; otherwise the first ``Image`` column (or one named
``image``/``img``/``pixel_values``), otherwise every numeric column but the label. A column that is
missing or not numeric is a :class:`~aezoo.core.errors.DataError` naming it and the columns there are.

``SOURCE`` is a Hub dataset (``OWNER/NAME``), read through ``datasets.load_dataset`` (from the cache
when ``HF_DATASETS_OFFLINE=1``), or a local folder: one written by ``Dataset.save_to_disk`` (read with
``datasets.load_from_disk``; a single saved split ignores ``SPLIT``) or one of data files
(parquet, CSV, an image folder...) in a layout ``datasets.load_dataset`` reads. The split is
``SPLIT`` when given, else the one the command asks for (``train`` to train, ``test`` to evaluate).

Streaming (``stream=True``, ``--stream``) asks ``datasets`` for an ``IterableDataset`` (nothing is
downloaded whole) and packs its rows, chunk by chunk, into a ``.npy`` in aezoo's cache, which a
:class:`~aezoo.data.streaming.StreamedDataset` then reads with aezoo's seeded, resumable shuffling.
``stream=None`` streams a dataset larger than :func:`~aezoo.data.streaming.memory_budget`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import numpy as np
import torch

from ..core.errors import DataError, MissingDependencyError, close_matches
from ..io.serialization import atomic_write
from ._checks import int_labels, one_line
from .base import Dataset
from .memory import _finish
from .preprocessing import Preprocessing
from .roots import CACHE_DIRNAME, cache_root
from .streaming import StreamedDataset, TensorFile, memory_budget
from .tensors import _scan_float

__all__ = ["HF_EXTRA", "HF_PREFIX", "HFSpec", "load_hf_dataset", "parse_hf_spec"]

HF_PREFIX = "hf:"
HF_EXTRA = 'pip install "aezoo[hf]"'
_OPTIONS = ("image", "columns", "label")
_IMAGE_NAMES = ("image", "img", "pixel_values", "pixels")
_LABEL_NAMES = ("label", "labels", "target", "y")
_ROWS_PER_READ = 512  # rows asked from ``datasets`` at once


@dataclasses.dataclass(frozen=True)
class HFSpec:
    """What an ``hf:`` name says.

    >>> parse_hf_spec("hf:ylecun/mnist@main:test?label=")
    HFSpec(source='ylecun/mnist', revision='main', split='test', image=None, columns=None, label='')
    """

    source: str  # OWNER/NAME on the Hub, or a local folder
    revision: str | None = None  # a Hub branch, tag or commit (None: the default branch)
    split: str | None = None  # None: the split the command asks for
    image: str | None = None  # the image column (None: found by the rules above)
    columns: tuple[str, ...] | None = None  # numeric feature columns (None: found by the rules above)
    label: str | None = None  # the label column; "" for none, None to find one

    @property
    def local(self) -> Path | None:
        """The local folder this names, if it names one."""
        path = Path(self.source).expanduser()
        return path if path.is_dir() or self.source.startswith(("/", ".", "~")) else None


def parse_hf_spec(text: str) -> HFSpec:
    """Parse ``hf:SOURCE[@REVISION][:SPLIT][?OPTIONS]`` (see the module's docstring).

    >>> parse_hf_spec("hf:./my-data?columns=a,b&label=kind")
    HFSpec(source='./my-data', revision=None, split=None, image=None, columns=('a', 'b'), label='kind')
    """
    body = text[len(HF_PREFIX) :] if text.startswith(HF_PREFIX) else text
    body, _, query = body.partition("?")
    options: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in _OPTIONS:
            raise DataError(f"{text!r}: unknown option {key!r}; the options are {', '.join(_OPTIONS)} (?image=COL)")
        options[key] = value
    source, split = body, None
    if not Path(body).expanduser().is_dir() and ":" in body:
        source, _, split = body.partition(":")  # a Hub id holds no ":"; a split may ("train[:10%]")
    revision = None
    if "@" in source and not Path(source).expanduser().is_dir():
        source, _, revision = source.partition("@")
    if not source:
        raise DataError(f"{text!r} names no dataset; write hf:OWNER/NAME[:SPLIT] or hf:/path/to/folder")
    if "image" in options and "columns" in options:
        raise DataError(f"{text!r}: give ?image= or ?columns=, not both")
    columns = tuple(c for c in options["columns"].split(",") if c) if "columns" in options else None
    return HFSpec(source, revision or None, split or None, options.get("image") or None, columns, options.get("label"))


def load_hf_dataset(
    text: str, split: str = "train", *, device: str | torch.device = "cpu", stream: bool | None = None
) -> Dataset:
    """An ``hf:`` dataset on ``device``, whole or streamed (see the module's docstring).

    >>> import datasets, tempfile  # doctest: +SKIP
    >>> d = tempfile.mkdtemp()  # doctest: +SKIP
    >>> datasets.Dataset.from_dict({"a": [1.0, 2.0], "b": [0.0, 4.0]}).save_to_disk(d)  # doctest: +SKIP
    >>> load_hf_dataset(f"hf:{d}").x.tolist()  # doctest: +SKIP
    [[-1.0, -1.0], [1.0, 1.0]]
    """
    spec = parse_hf_spec(text)
    split = spec.split or split
    name = f"hf:{spec.source}:{split}"
    ds, fingerprint = _open(spec, split, streaming=bool(stream))
    columns = _column_names(ds)
    kinds = _kinds(ds, columns)
    label = _label_column(spec, columns, kinds, name)
    image, numeric = _data_columns(spec, columns, kinds, label, name)
    wanted = [c for c in (image, *numeric, label) if c]
    ds = ds.select_columns(wanted) if wanted != columns else ds
    if not stream and not _too_large(ds, image, numeric, device, stream):
        return _load_whole(ds, image, numeric, label, name=name, device=device)
    key = json.dumps([spec.source, spec.revision, split, image, numeric, label, fingerprint])
    return _load_streamed(ds, image, numeric, label, name=name, device=device, key=key, reuse=fingerprint is not None)


def _datasets() -> Any:
    try:
        import datasets
    except ImportError as e:
        raise MissingDependencyError(
            f"reading hf: datasets needs the Hugging Face `datasets` library ({one_line(e)}); run: {HF_EXTRA}"
        ) from None
    return datasets


def _open(spec: HFSpec, split: str, *, streaming: bool) -> tuple[Any, str | None]:
    """The split as ``datasets`` hands it out (a ``Dataset`` or an ``IterableDataset``), and its fingerprint."""
    datasets = _datasets()
    local = spec.local
    if local is not None and not local.is_dir():
        raise DataError(f"hf:{spec.source}: {local} is not a folder; give a folder from save_to_disk or of data files")
    saved = local is not None and any((local / f).is_file() for f in ("state.json", "dataset_dict.json"))
    try:
        if saved:
            ds = datasets.load_from_disk(str(local))
            if isinstance(ds, datasets.DatasetDict):
                if split not in ds:
                    raise DataError(
                        f"hf:{spec.source} has no split {split!r}; its splits: {', '.join(map(repr, ds))} "
                        f"(choose one with hf:{spec.source}:SPLIT)"
                    )
                ds = ds[split]
            fingerprint = str(ds._fingerprint)
            return (ds.to_iterable_dataset() if streaming else ds), fingerprint
        source = str(local) if local is not None else spec.source
        ds = datasets.load_dataset(source, split=split, revision=spec.revision, streaming=streaming)
    except DataError:
        raise
    except Exception as e:  # DatasetNotFoundError, ConnectionError, FileNotFoundError, ValueError (split)...
        raise DataError(
            f"cannot read Hugging Face dataset hf:{spec.source} (split {split!r}): {one_line(e)}. Check the name "
            "(OWNER/NAME as on the Hub) and the split (hf:OWNER/NAME:SPLIT); without network only datasets "
            "already in the cache load (HF_HOME / HF_DATASETS_CACHE; set HF_DATASETS_OFFLINE=1 not to try the "
            "network); or give a local folder, hf:/path/to/folder (save_to_disk or data files)"
        ) from None
    found = getattr(ds, "_fingerprint", None)
    return ds, (str(found) if found and local is None else None)


def _column_names(ds: Any) -> list[str]:
    names = ds.column_names
    if names is None:  # an IterableDataset whose features are unknown until read
        names = list(next(iter(ds.take(1))).keys())
    return list(names)


def _kinds(ds: Any, columns: list[str]) -> dict[str, str]:
    """What each column holds: ``"image"``, ``"label"`` (a ClassLabel), ``"number"``, ``"array"`` or
    another type's name (``"string"``...), from the features, or from the first row when they are unknown."""
    features = ds.features or {}
    first: Mapping[str, Any] = {} if all(c in features for c in columns) else next(iter(ds.take(1)))
    return {c: _feature_kind(features[c]) if c in features else _value_kind(first[c]) for c in columns}


def _feature_kind(feature: Any) -> str:
    datasets = _datasets()
    arrays = tuple(
        getattr(datasets, n) for n in ("Array2D", "Array3D", "Array4D", "Sequence", "List") if hasattr(datasets, n)
    )
    if isinstance(feature, datasets.Image):
        return "image"
    if isinstance(feature, datasets.ClassLabel):
        return "label"
    if isinstance(feature, datasets.Value):
        dtype = str(feature.dtype)
        return "number" if dtype == "bool" or dtype.startswith(("int", "uint", "float")) else dtype
    if isinstance(feature, (*arrays, list)):
        return "array"
    return type(feature).__name__


def _value_kind(value: Any) -> str:
    from PIL import Image

    if isinstance(value, Image.Image):
        return "image"
    if isinstance(value, (bool, int, float, np.number)):
        return "number"
    if isinstance(value, (list, tuple, np.ndarray)):
        return "array"
    return type(value).__name__


def _missing(column: str, columns: list[str], name: str, what: str) -> DataError:
    near = close_matches(column, columns)
    hint = f"did you mean {', '.join(map(repr, near))}?" if near else f"its columns: {', '.join(map(repr, columns))}"
    return DataError(f"{name} has no {what} column {column!r}; {hint}")


def _label_column(spec: HFSpec, columns: list[str], kinds: Mapping[str, str], name: str) -> str | None:
    if spec.label == "":
        return None
    if spec.label is not None:
        if spec.label not in columns:
            raise _missing(spec.label, columns, name, "label")
        return spec.label
    found = next((c for c in columns if kinds[c] == "label"), None)
    return found or next((c for c in _LABEL_NAMES if c in columns and kinds[c] == "number"), None)


def _data_columns(
    spec: HFSpec, columns: list[str], kinds: Mapping[str, str], label: str | None, name: str
) -> tuple[str | None, list[str]]:
    """``(image column or None, numeric columns)``: what becomes the model inputs."""
    if spec.image is not None:
        if spec.image not in columns:
            raise _missing(spec.image, columns, name, "image")
        if kinds[spec.image] not in ("image", "array"):
            raise DataError(
                f"{name}: column {spec.image!r} holds {kinds[spec.image]} values, not images or arrays; "
                f"the image columns there: {', '.join(repr(c) for c in columns if kinds[c] == 'image') or 'none'}"
            )
        return spec.image, []
    if spec.columns is not None:
        for c in spec.columns:
            if c not in columns:
                raise _missing(c, columns, name, "feature")
            if kinds[c] not in ("number", "label"):
                raise DataError(
                    f"{name}: column {c!r} holds {kinds[c]} values, not numbers; aezoo reads numeric columns "
                    "(encode categories as numbers first) or one image column (?image=COL)"
                )
        if not spec.columns:
            raise DataError(f"{name}: ?columns= names no column; e.g. ?columns={','.join(columns[:2])}")
        return None, list(spec.columns)
    image = next((c for c in columns if kinds[c] == "image"), None) or next(
        (c for c in _IMAGE_NAMES if c in columns and kinds[c] == "array"), None
    )
    if image is not None:
        return image, []
    numeric = [c for c in columns if c != label and kinds[c] == "number"]
    if not numeric:
        described = ", ".join(f"{c!r} ({kinds[c]})" for c in columns)
        raise DataError(
            f"{name} has no image column and no numeric column to read ({described}); name the inputs with "
            f"hf:...?image=COL or hf:...?columns=A,B"
        )
    return None, numeric


# --------------------------------------------------------------------------------- rows to arrays


def _batches(ds: Any) -> Iterator[dict[str, list[Any]]]:
    yield from ds.iter(batch_size=_ROWS_PER_READ)


class _Converter:
    """Rows of ``datasets`` to one numpy array per batch, checked against the first sample's shape."""

    def __init__(self, image: str | None, numeric: list[str], label: str | None, name: str) -> None:
        self.image, self.numeric, self.label, self.name = image, numeric, label, name
        self.mode: str | None = None  # "L" or "RGB", from the first PIL image
        self.shape: tuple[int, ...] | None = None  # of one sample
        self.seen = 0

    def __call__(self, batch: Mapping[str, list[Any]]) -> tuple[np.ndarray, np.ndarray | None]:
        x = self._images(batch[self.image]) if self.image else self._numbers(batch)
        if self.shape is None:
            self.shape = tuple(x.shape[1:])
        y = self._labels(batch[self.label]) if self.label else None
        self.seen += len(x)
        return x, y

    def _numbers(self, batch: Mapping[str, list[Any]]) -> np.ndarray:
        out = []
        for c in self.numeric:
            try:
                out.append(np.asarray(batch[c], dtype=np.float64))
            except (TypeError, ValueError):
                bad = next((v for v in batch[c] if not isinstance(v, (int, float, bool, np.number))), None)
                raise DataError(
                    f"{self.name}: column {c!r} holds {bad!r}, which is not a number; aezoo reads numeric "
                    "columns (fill missing values and encode categories as numbers first)"
                ) from None
        return np.stack(out, axis=1).astype(np.float32)

    def _images(self, values: list[Any]) -> np.ndarray:
        arrays = [self._image(v, self.seen + i) for i, v in enumerate(values)]
        first = self.shape or arrays[0].shape
        for i, a in enumerate(arrays):
            if a.shape != first:
                raise DataError(
                    f"{self.name}: every image must have one size: sample 0 is {_size(first)} but sample "
                    f"{self.seen + i} is {_size(a.shape)}; resize them first (e.g. with datasets' map)"
                )
        return np.stack(arrays)

    def _image(self, value: Any, index: int) -> np.ndarray:
        from PIL import Image

        if isinstance(value, Image.Image):
            if value.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
                raise DataError(f"{self.name}: sample {index} has 16/32-bit pixels; aezoo reads 8-bit images")
            if self.mode is None:
                self.mode = "L" if value.mode in ("1", "L", "LA") else "RGB"
            return (
                np.asarray(value.convert(self.mode))[None]
                if self.mode == "L"
                else _chw(np.asarray(value.convert("RGB")))
            )
        if value is None:
            raise DataError(f"{self.name}: sample {index} has no image (None); drop or fill the missing rows first")
        a = np.asarray(value)
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_) or a.dtype.kind == "c":
            raise DataError(f"{self.name}: sample {index} of column {self.image!r} holds {a.dtype} values, not pixels")
        if a.dtype == np.uint8:
            return a[None] if a.ndim == 2 else _chw(a) if a.ndim == 3 else a
        return a.astype(np.float32)

    def _labels(self, values: list[Any]) -> np.ndarray:
        try:
            array = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            array = np.full(len(values), np.nan)  # None or a word: int_labels says the labels must be integers
        return int_labels(array, Path(self.name), str(self.label)).numpy()


def _chw(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.transpose(2, 0, 1))


def _size(shape: tuple[int, ...]) -> str:
    return f"{shape[-1]}x{shape[-2]}" if len(shape) >= 2 else str(shape)


def _too_large(ds: Any, image: str | None, numeric: list[str], device: str | torch.device, stream: bool | None) -> bool:
    """Whether ``stream=None`` should stream: the rows (a ``Dataset`` knows how many) over the memory budget."""
    if stream is not None or not isinstance(ds, _datasets().Dataset):  # an IterableDataset has no length
        return False
    n = len(ds)
    if n == 0:
        return False
    converter = _Converter(image, numeric, None, "")
    x, _ = converter(ds[:1])
    per_row = x.nbytes if x.dtype == np.uint8 else max(x.nbytes, math.prod(x.shape) * 4)
    return n * per_row > memory_budget(device)


def _load_whole(
    ds: Any, image: str | None, numeric: list[str], label: str | None, *, name: str, device: str | torch.device
) -> Dataset:
    convert = _Converter(image, numeric, label, name)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    for batch in _batches(ds):
        x, y = convert(batch)
        xs.append(x)
        if y is not None:
            ys.append(y)
    if not xs:
        raise DataError(f"{name} has no samples; it must hold at least one")
    labels = torch.from_numpy(np.concatenate(ys)) if label else None
    return _finish(torch.from_numpy(np.concatenate(xs)), labels, name=name, device=device, standardise=not image)


def _load_streamed(
    ds: Any,
    image: str | None,
    numeric: list[str],
    label: str | None,
    *,
    name: str,
    device: str | torch.device,
    key: str,
    reuse: bool,
) -> StreamedDataset:
    """Pack the rows into a ``.npy`` in aezoo's cache, chunk by chunk, and stream it from there.

    A dataset with a fingerprint (a local or cached ``Dataset``) is packed once; a Hub stream, whose
    rows may change with the branch, is packed again on every load.
    """
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    folder = cache_root()[0] / CACHE_DIRNAME / "hf"
    target, labels_file = folder / f"{digest}.npy", folder / f"{digest}.labels.npy"
    source = _reopen(target) if reuse and (not label or labels_file.is_file()) else None
    if source is None:
        folder.mkdir(parents=True, exist_ok=True)
        _pack(_converted(ds, image, numeric, label, name), target, labels_file if label else None, name)
        source = TensorFile.open(target)
    y = torch.from_numpy(np.load(labels_file)).to(device) if label else None
    if y is not None and y.shape != (source.shape[0],):
        raise DataError(f"{name}: the packed files {target} and {labels_file} disagree; delete them and load again")
    if source.dtype == torch.uint8:
        pre = Preprocessing(scale=1 / 255)
    else:
        pre = _scan_float(source, name, standardise=not image)
    return StreamedDataset(source, y=y, preprocessing=pre, name=name, device=device)


def _reopen(target: Path) -> TensorFile | None:
    try:
        return TensorFile.open(target) if target.is_file() else None
    except DataError:
        return None  # damaged: packed again


def _converted(
    ds: Any, image: str | None, numeric: list[str], label: str | None, name: str
) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    convert = _Converter(image, numeric, label, name)
    for batch in _batches(ds):
        yield convert(batch)


def _pack(
    parts: Iterable[tuple[np.ndarray, np.ndarray | None]], target: Path, labels_file: Path | None, name: str
) -> None:
    """Write the rows to ``target`` as one ``.npy`` without holding them: bytes first, the header once counted."""
    labels: list[np.ndarray] = []
    n, shape, dtype = 0, None, None
    with tempfile.TemporaryFile(dir=target.parent) as body:
        for x, y in parts:
            shape, dtype = shape or x.shape[1:], dtype or x.dtype
            body.write(np.ascontiguousarray(x, dtype=dtype).tobytes())
            n += len(x)
            if y is not None:
                labels.append(y)
        if shape is None or n == 0:
            raise DataError(f"{name} has no samples; it must hold at least one")
        if labels_file is not None:  # before the data file, whose presence says the packing is complete
            with atomic_write(labels_file) as f:
                np.save(f, np.concatenate(labels).astype(np.int64))
        body.seek(0)
        with atomic_write(target) as f:
            header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False}
            np.lib.format.write_array_header_1_0(f, {**header, "shape": (n, *shape)})
            shutil.copyfileobj(body, f, 1 << 20)
