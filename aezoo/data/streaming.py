"""Datasets read from disk batch by batch: for data larger than memory (or than a memory budget).

A :class:`StreamedDataset` never holds its samples whole. It reads an uncompressed tensor file
(``.npy``, or one tensor of a ``.safetensors`` file, such as aezoo's own cache of a built-in
dataset) with positional reads, in chunks of consecutive samples, and shuffles in two levels:
the order of the chunks is a random permutation, and the samples of a buffer of chunks (16 MiB by
default) are shuffled together. Memory use is about one buffer, whatever the file's size; plain
reads rather than ``mmap`` keep the address space small too, so a process whose memory is capped
(``ulimit -v``) can still train on a file larger than its cap.

Every random draw of an epoch comes from the ``generator`` passed to :meth:`StreamedDataset.batches`,
in a fixed order (the chunk order first, then one permutation per buffer), so a run resumed
mid-epoch with the generator in its epoch-start state sees the same remaining batches.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..core import settings
from ..core.errors import DataError
from .base import check_batch_request, count_batches, split_positions
from .preprocessing import Preprocessing

__all__ = ["BUDGET_ENV", "StreamedDataset", "TensorFile", "memory_budget", "read_npy_header"]

BUDGET_ENV = "AEZOO_MEMORY_BUDGET"  # bytes (or "512M", "8G") a dataset may take in memory before it is streamed
# Samples shuffled together (a third of MNIST); a buffer and its shuffled copy are what streaming
# holds in memory. A larger buffer shuffles better; benchmarks/streaming.py compares 64 MiB.
DEFAULT_BUFFER_BYTES = 16 << 20
DEFAULT_CHUNK_BYTES = 1 << 20  # consecutive samples read at once (the unit of the chunk order)

_SAFETENSORS_DTYPES = {
    "U8": torch.uint8,
    "I8": torch.int8,
    "I16": torch.int16,
    "I32": torch.int32,
    "I64": torch.int64,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "F32": torch.float32,
    "F64": torch.float64,
}
_NUMPY_DTYPES = {
    np.dtype(t): getattr(torch, n)
    for t, n in (
        ("u1", "uint8"),
        ("i1", "int8"),
        ("i2", "int16"),
        ("i4", "int32"),
        ("i8", "int64"),
        ("f2", "float16"),
        ("f4", "float32"),
        ("f8", "float64"),
    )
}


# ------------------------------------------------------------------------------------------- files


class TensorFile:
    """One tensor laid out row-major at ``offset`` in a file: what streaming reads rows from.

    >>> import numpy as np, tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "x.npy"); np.save(f, np.arange(12, dtype=np.uint8).reshape(4, 3))
    >>> t = TensorFile.open(f)
    >>> t.shape, t.read(np.array([1, 3])).tolist()
    ((4, 3), [[3, 4, 5], [9, 10, 11]])
    """

    def __init__(self, path: Path, offset: int, dtype: torch.dtype, shape: tuple[int, ...], *, swap: bool = False):
        self.path = path
        self.offset = offset  # byte where row 0 starts
        self.dtype = dtype  # element type as stored (little-endian, or ``swap``ped from big-endian)
        self.shape = shape  # (rows, *sample shape)
        self.swap = swap  # a big-endian .npy: bytes are swapped after reading
        self.row_bytes = math.prod(shape[1:]) * torch.empty((), dtype=dtype).element_size()
        need = offset + shape[0] * self.row_bytes
        size = path.stat().st_size
        if size < need:
            raise DataError(
                f"{path} is truncated: its header describes {shape} {dtype} data ending at byte {need}, "
                f"but the file has {size} bytes; the file is damaged or still being written"
            )

    @classmethod
    def open(cls, path: str | os.PathLike[str], key: str | None = None) -> TensorFile:
        """The data tensor of a ``.npy`` file, or tensor ``key`` (default ``x``) of a ``.safetensors``."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".npy":
            return cls._npy(path)
        if suffix == ".safetensors":
            header, start = safetensors_header(path)
            return cls._safetensors(path, header, start, key or "x")
        raise DataError(
            f"cannot stream {str(path)!r}: only uncompressed .npy and .safetensors files are read in chunks; "
            "save your data with np.save (or safetensors) to stream it, or drop --stream to load it whole"
        )

    @classmethod
    def _npy(cls, path: Path) -> TensorFile:
        with open(path, "rb") as f:
            shape, fortran, dtype, offset = read_npy_header(f, path.stat().st_size, path)
        if fortran and len(shape) > 1:
            raise DataError(f"{path} is stored column-major (Fortran order); save it with np.ascontiguousarray first")
        native = dtype.newbyteorder("=") if dtype.byteorder in "<>" else dtype
        if native not in _NUMPY_DTYPES:
            raise DataError(f"{path} holds {dtype} values; aezoo streams numeric arrays (uint8 images or numbers)")
        if not shape:
            raise DataError(f"{path} holds a single number; expected samples along the first dimension")
        swap = dtype.byteorder == ">" or (dtype.byteorder == "=" and not _little_endian())
        return cls(path, offset, _NUMPY_DTYPES[native], tuple(int(s) for s in shape), swap=swap)

    @classmethod
    def _safetensors(cls, path: Path, header: dict[str, Any], start: int, key: str) -> TensorFile:
        entry = header.get(key)
        if not isinstance(entry, dict):
            keys = ", ".join(repr(k) for k in header if k != "__metadata__")
            raise DataError(f"{path} has no tensor {key!r} to stream; its tensors: {keys or 'none'}")
        dtype = _SAFETENSORS_DTYPES.get(str(entry.get("dtype")))
        if dtype is None:
            raise DataError(f"{path}: tensor {key!r} has dtype {entry.get('dtype')!r}, which aezoo cannot stream")
        shape, offsets = entry.get("shape"), entry.get("data_offsets")
        if not (
            isinstance(shape, list)
            and isinstance(offsets, list)
            and len(offsets) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in [*shape, *offsets])
        ):
            raise DataError(
                f"{path}: tensor {key!r} has no valid shape and data_offsets ({shape!r:.60}, {offsets!r:.60}); "
                "the file is damaged"
            )
        shape = tuple(shape)
        begin, end = offsets
        if not shape:
            raise DataError(f"{path}: tensor {key!r} is a single number; expected samples along the first dimension")
        t = cls(path, start + begin, dtype, shape)
        if end - begin != shape[0] * t.row_bytes:
            raise DataError(f"{path}: tensor {key!r} has shape {shape} but {end - begin} bytes; the file is damaged")
        return t

    def with_shape(self, shape: tuple[int, ...]) -> TensorFile:
        """The same bytes seen with another sample shape (e.g. ``(N, H, W)`` as ``(N, 1, H, W)``)."""
        if math.prod(shape) != math.prod(self.shape):
            raise ValueError(f"cannot view {self.shape} as {shape}")
        return TensorFile(self.path, self.offset, self.dtype, tuple(shape), swap=self.swap)

    def read(self, rows: np.ndarray) -> Tensor:
        """Rows ``rows`` (sorted, int64) as one CPU tensor; each run of consecutive rows is one read."""
        out = np.empty(len(rows) * self.row_bytes, dtype=np.uint8)
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        starts = np.concatenate(([0], breaks)).tolist()
        ends = np.concatenate((breaks, [len(rows)])).tolist()
        with open(self.path, "rb", buffering=0) as f:
            for a, b in zip(starts, ends, strict=True):
                if a == b:
                    continue
                f.seek(self.offset + int(rows[a]) * self.row_bytes)
                _read_exactly(f, out.data[a * self.row_bytes : b * self.row_bytes], self.path)
        if self.swap:
            itemsize = torch.empty((), dtype=self.dtype).element_size()
            out = out.view(f">u{itemsize}").byteswap().view(np.uint8)
        return torch.from_numpy(out).view(self.dtype).view(len(rows), *self.shape[1:])


def read_npy_header(f: Any, size: int, where: object) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """``(shape, fortran_order, dtype, data offset)`` of the ``.npy`` at the start of ``f``, which holds ``size`` bytes.

    numpy reads as many header bytes as a file claims (a 4-byte length from format 2 on) and
    allocates the array its header describes before reading it: both claims are checked against
    ``size`` first, so a damaged or hostile header is a ``DataError``, never an allocation.

    >>> import io
    >>> buf = io.BytesIO(); np.save(buf, np.zeros((3, 2), np.float32)); n = buf.tell(); _ = buf.seek(0)
    >>> read_npy_header(buf, n, "x.npy")
    ((3, 2), False, dtype('float32'), 128)
    """
    length_format = {(1, 0): "<H", (2, 0): "<I", (3, 0): "<I"}
    try:
        version = np.lib.format.read_magic(f)
        if version not in length_format:
            raise ValueError(f"unknown .npy format version {version[0]}.{version[1]}")
        (length,) = struct.unpack(length_format[version], f.read(struct.calcsize(length_format[version])))
        if f.tell() + length > size:
            raise ValueError(f"its header claims {length} bytes, more than the {size} of the file")
        f.seek(f.tell() - struct.calcsize(length_format[version]))
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(f)
        offset = f.tell()
        need = offset + (0 if dtype.hasobject else math.prod(shape) * dtype.itemsize)  # objects: a pickle, refused
    except Exception as e:
        raise DataError(f"cannot read {where} as a NumPy .npy file ({type(e).__name__}: {e}); is it damaged?") from None
    if need > size:
        raise DataError(
            f"{where} is truncated: its header describes {tuple(shape)} {dtype} data ending at byte {need}, but the "
            f"file has {size} bytes; the file is damaged or still being written"
        )
    return tuple(shape), bool(fortran), dtype, offset


def _read_exactly(f: Any, view: memoryview, path: Path) -> None:
    done = 0
    while done < len(view):
        got = f.readinto(view[done:])
        if not got:
            raise DataError(f"{path} ended early while streaming it; was it truncated or replaced during the run?")
        done += got


def _little_endian() -> bool:
    return np.little_endian


def safetensors_header(path: Path) -> tuple[dict[str, Any], int]:
    """The JSON header of a ``.safetensors`` file and the byte where its data starts."""
    try:
        with open(path, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            if length > 100 << 20 or length > path.stat().st_size:
                raise ValueError(f"header length {length} is implausible")
            header = json.loads(f.read(length))
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
    except Exception as e:
        raise DataError(f"cannot read {path} as safetensors ({type(e).__name__}: {e}); the file is damaged") from None
    return header, 8 + length


# ------------------------------------------------------------------------------------------ budget


def memory_budget(device: str | torch.device = "cpu") -> int:
    """Bytes a dataset may take in memory before :func:`aezoo.load_dataset` streams it.

    ``$AEZOO_MEMORY_BUDGET`` (bytes, or with a K/M/G/T suffix) wins; otherwise half of the memory
    available now, to the machine and under this process's own limits (``ulimit -d``/``-v``), and
    on a CUDA device at most half of its free memory.

    >>> memory_budget() > 0
    True
    """
    text = (settings.text(BUDGET_ENV) or "").strip()
    if text:
        return parse_bytes(text, BUDGET_ENV)
    budget = _available_host_memory() // 2
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        free, _ = torch.cuda.mem_get_info(device)
        budget = min(budget, free // 2)
    return budget


def parse_bytes(text: str, what: str = "size") -> int:
    """``"512M"`` -> 536870912 (K, M, G, T are powers of 1024; a plain number is bytes).

    >>> parse_bytes("1.5K")
    1536
    """
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    s = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = s[-1:] if s[-1:] in units and s[-1:] else ""
    try:
        value = float(s[: len(s) - len(unit)]) * units[unit]
    except ValueError:
        value = -1
    if not value > 0 or not math.isfinite(value):
        raise DataError(f"{what}={text!r} is not a size; give bytes or a number with K, M, G or T (e.g. 8G)")
    return int(value)


def _available_host_memory() -> int:
    available = _proc_kib("/proc/meminfo", "MemAvailable:")
    if available is None:
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            available = 1 << 62  # unknown: never stream automatically
    try:
        import resource
    except ImportError:  # not on POSIX
        return available
    for limit, used in ((resource.RLIMIT_DATA, "VmData:"), (resource.RLIMIT_AS, "VmSize:")):
        soft = resource.getrlimit(limit)[0]
        current = _proc_kib("/proc/self/status", used)
        if soft != resource.RLIM_INFINITY and current is not None:
            available = min(available, max(0, soft - current))
    return available


def _proc_kib(path: str, key: str) -> int | None:
    """A ``key: N kB`` line of a /proc file, in bytes."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


# ----------------------------------------------------------------------------------------- dataset


class StreamedDataset:
    """A :class:`~aezoo.data.base.Dataset` read from a tensor file in shuffled chunks.

    ``batches`` yields float model inputs on ``device``: each batch is read as stored (uint8
    pixels stay bytes until then) and mapped through ``preprocessing`` there. ``rows`` selects
    a sorted subset of the file's rows (a split or a subset); labels ``y`` live in memory.

    >>> import numpy as np, tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "x.npy"); np.save(f, np.arange(10, dtype=np.uint8).reshape(10, 1))
    >>> ds = StreamedDataset(TensorFile.open(f), preprocessing=Preprocessing(scale=0.5))
    >>> [b.flatten().tolist() for b in ds.batches(4, shuffle=False)]
    [[0.0, 0.5, 1.0, 1.5], [2.0, 2.5, 3.0, 3.5], [4.0, 4.5]]
    """

    streamed = True  # batches come from disk; ``x`` is not held

    def __init__(
        self,
        source: TensorFile,
        *,
        rows: np.ndarray | None = None,
        y: Tensor | None = None,
        preprocessing: Preprocessing | None = None,
        name: str = "",
        device: str | torch.device = "cpu",
        buffer_bytes: int | None = None,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    ) -> None:
        self.source = source
        self.rows = rows  # sorted int64 row numbers of the file, or None for all of them
        self.y = y  # (N,) int64 labels, if any, on ``device``
        self.preprocessing = preprocessing or Preprocessing(scale=1 / 255 if source.dtype == torch.uint8 else 1.0)
        self.name = name or source.path.name
        self._device = torch.device(device)
        if buffer_bytes is None:  # a buffer and its shuffled copy stay well inside the budget
            fits = max(chunk_bytes, memory_budget(device) // 4)
            buffer_bytes = min(DEFAULT_BUFFER_BYTES, 1 << (fits.bit_length() - 1))  # a power of two: stable
        self.buffer_bytes = int(buffer_bytes)  # samples shuffled together
        self.chunk_bytes = int(chunk_bytes)  # consecutive samples read at once

    def __len__(self) -> int:
        return int(self.source.shape[0] if self.rows is None else len(self.rows))

    def __repr__(self) -> str:
        return (
            f"StreamedDataset(name={self.name!r}, n={len(self)}, shape={self.shape}, "
            f"stored={self.source.dtype}, file={str(self.source.path)!r}, device={str(self.device)!r})"
        )

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one sample."""
        return tuple(self.source.shape[1:])

    @property
    def device(self) -> torch.device:
        """Where batches are delivered."""
        return self._device

    @property
    def nbytes(self) -> int:
        """Bytes the samples take as stored (what loading them whole would cost at least)."""
        return len(self) * self.source.row_bytes

    @property
    def batch_order(self) -> dict[str, int]:
        """What fixes the order of batches besides the generator (a resumed run must match it)."""
        return {"buffer_bytes": self.buffer_bytes, "chunk_bytes": self.chunk_bytes}

    @property
    def x(self) -> Tensor:
        raise DataError(
            f"{self.name!r} is streamed from {self.source.path} and not held in memory, so it has no .x; "
            "iterate .batches(...), take .inputs(index) of some samples, or, if it fits in memory, load it with "
            f"stream=False (aezoo train --no-stream) or a larger ${BUDGET_ENV} (e.g. {BUDGET_ENV}=32G)"
        )

    def _clone(self, **changes: Any) -> StreamedDataset:
        new = object.__new__(StreamedDataset)
        new.__dict__.update(self.__dict__)
        new.__dict__.update(changes)
        return new

    # ------------------------------------------------------------------ reading
    def _file_rows(self, positions: np.ndarray) -> np.ndarray:
        return positions if self.rows is None else self.rows[positions]

    def _read(self, positions: np.ndarray) -> Tensor:
        """Stored samples at sorted ``positions`` of this dataset, on the device, still raw."""
        raw = self.source.read(self._file_rows(positions))
        return raw.to(self._device, non_blocking=True)

    def _model_inputs(self, raw: Tensor) -> Tensor:
        x = self.preprocessing.apply(raw)
        return x if x.dtype == torch.float32 else x.float()

    def inputs(self, index: slice | Tensor | np.ndarray | None = None) -> Tensor:
        """Model inputs (float, on ``device``) of the samples a slice or index selects, read now."""
        n = len(self)
        if index is None:
            pos = np.arange(n)
        elif isinstance(index, slice):
            pos = np.arange(n)[index]
        else:
            pos = np.asarray(torch.as_tensor(index).cpu().numpy(), dtype=np.int64).reshape(-1) % max(n, 1)
        order = np.argsort(pos, kind="stable")
        raw = self._read(pos[order])
        inverse = torch.from_numpy(np.argsort(order, kind="stable")).to(self._device)
        return self._model_inputs(raw[inverse])

    # ------------------------------------------------------------------ batches
    def _plan(self, batch_size: int) -> tuple[int, int]:
        """(chunk, buffer) sizes in samples: the buffer is a whole number of chunks."""
        row = max(1, self.source.row_bytes)
        chunk = max(1, self.chunk_bytes // row)
        per_buffer = max(1, max(self.buffer_bytes // row, batch_size) // chunk)
        return chunk, chunk * per_buffer

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = True,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
        start: int = 0,
    ) -> Iterator[Tensor]:
        """:meth:`Dataset.batches <aezoo.data.base.Dataset.batches>`, shuffled in two levels.

        Shuffled: the chunks come in random order and the samples of each buffer are permuted
        together; every draw of the epoch comes from ``generator`` whatever ``start`` is.
        """
        check_batch_request(batch_size, start)
        n = len(self)
        stop = n - n % batch_size if drop_last else n
        chunk, buffer = self._plan(batch_size)
        n_chunks = -(-n // chunk)
        chunks = torch.randperm(n_chunks, generator=generator) if shuffle else torch.arange(n_chunks)
        per_buffer = buffer // chunk
        skip, done = start * batch_size, 0  # positions of the epoch's order to pass over / passed
        carry: Tensor | None = None
        for b in range(0, n_chunks, per_buffer):
            ids = chunks[b : b + per_buffer].numpy()
            sizes = np.minimum(ids * chunk + chunk, n) - ids * chunk
            m = int(sizes.sum())
            perm = torch.randperm(m, generator=generator) if shuffle else None
            if done + m <= skip or done >= stop:  # still drawn, so the generator ends the same
                done += m
                continue
            positions = np.concatenate([np.arange(i * chunk, i * chunk + s) for i, s in zip(ids, sizes, strict=True)])
            order = np.argsort(positions, kind="stable")  # read in file order, then put back
            raw = self._read(positions[order])
            where = torch.from_numpy(np.argsort(order, kind="stable"))
            if perm is not None:
                where = where[perm]
            lo, hi = max(skip - done, 0), min(stop - done, m)
            part = raw[where[lo:hi].to(self._device)]
            del raw  # at most two buffers are alive at once: the one read and its shuffled copy
            done += m
            i = 0
            if carry is not None:  # the batch that straddles two buffers
                need = batch_size - len(carry)
                carry, i = torch.cat([carry, part[:need]]), min(need, len(part))
                if len(carry) < batch_size:
                    continue
                yield self._model_inputs(carry)
                carry = None
            while len(part) - i >= batch_size:
                yield self._model_inputs(part[i : i + batch_size])
                i += batch_size
            carry = part[i:].clone() if i < len(part) else None
        if carry is not None and len(carry):
            yield self._model_inputs(carry)

    def num_batches(self, batch_size: int, *, drop_last: bool = False) -> int:
        """How many batches :meth:`batches` yields per epoch."""
        return count_batches(len(self), batch_size, drop_last=drop_last)

    # ------------------------------------------------------------------ views
    def to(self, device: str | torch.device) -> StreamedDataset:
        """The same file, with batches (and labels) delivered on ``device``."""
        y = self.y.to(device) if self.y is not None else None
        return self._clone(_device=torch.device(device), y=y)

    def subset(self, index: int | slice | Tensor | np.ndarray) -> StreamedDataset:
        """The first ``index`` samples (an int), or those selected by a slice or an index tensor."""
        n = len(self)
        if isinstance(index, int):
            pos = np.arange(min(index, n))
        elif isinstance(index, slice):
            pos = np.arange(n)[index]
        else:
            pos = np.asarray(torch.as_tensor(index).cpu().numpy(), dtype=np.int64).reshape(-1)
        if len(pos) > 1 and not bool((np.diff(pos) > 0).all()):
            raise DataError("a streamed dataset keeps its file order: select samples with a sorted index")
        y = self.y[torch.from_numpy(pos).to(self.y.device)] if self.y is not None else None
        return self._clone(rows=self._file_rows(pos).astype(np.int64), y=y)

    def split(self, fraction: float, *, seed: int = 0) -> tuple[StreamedDataset, StreamedDataset]:
        """Split off a random ``fraction`` as validation, exactly as ``DeviceDataset.split`` does."""
        train_idx, val_idx = split_positions(len(self), fraction, seed=seed, name=self.name)
        train = self.subset(train_idx)._clone(name=f"{self.name}:train")
        val = self.subset(val_idx)._clone(name=f"{self.name}:val")
        return train, val
