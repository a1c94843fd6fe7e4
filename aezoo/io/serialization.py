"""Model directories: ``model.safetensors`` + ``config.json``, written atomically, loaded strictly.

Nothing is ever unpickled: tensors come from safetensors, everything else from JSON.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import torch

from .._version import __version__
from ..core import settings
from ..core.config import dumps_json, read_json
from ..core.errors import AezooError, WeightsError

__all__ = [
    "CONFIG_NAME",
    "FORMAT_VERSION",
    "MAX_HEADER_BYTES",
    "MAX_WEIGHTS_BYTES_ENV",
    "WEIGHTS_NAME",
    "TensorInfo",
    "atomic_write",
    "check_header",
    "load_tensors",
    "max_weights_bytes",
    "read_config",
    "read_header",
    "save_model",
    "sha256_file",
]

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
FORMAT_VERSION = 1
#: Upper bound on a weights file (and any file downloaded from the Hub), in bytes; default 4 GiB.
MAX_WEIGHTS_BYTES_ENV = "AEZOO_MAX_WEIGHTS_BYTES"
_DEFAULT_MAX_WEIGHTS_BYTES = 4 * 1024**3
#: Upper bound on the JSON header of a safetensors file (safetensors' own limit is 100 MB).
MAX_HEADER_BYTES = 16 * 1024**2
# safetensors dtype names <-> torch dtypes, and their sizes in bytes
_DTYPES: dict[str, tuple[torch.dtype, int]] = {
    "F64": (torch.float64, 8),
    "F32": (torch.float32, 4),
    "F16": (torch.float16, 2),
    "BF16": (torch.bfloat16, 2),
    "I64": (torch.int64, 8),
    "I32": (torch.int32, 4),
    "I16": (torch.int16, 2),
    "I8": (torch.int8, 1),
    "U8": (torch.uint8, 1),
    "BOOL": (torch.bool, 1),
}
_NAMES = {dtype: name for name, (dtype, _) in _DTYPES.items()}


def max_weights_bytes() -> int:
    """The largest weights file aezoo reads or downloads: ``$AEZOO_MAX_WEIGHTS_BYTES`` or 4 GiB."""
    text = (settings.text(MAX_WEIGHTS_BYTES_ENV) or "").strip()
    if not text:
        return _DEFAULT_MAX_WEIGHTS_BYTES
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise WeightsError(f"{MAX_WEIGHTS_BYTES_ENV}={text!r} is not a positive number of bytes")
    return value


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    """One tensor as a safetensors header declares it."""

    dtype: str  # safetensors' name: F32, F16, I8, BOOL, ...
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


def read_header(path: str | Path) -> dict[str, TensorInfo]:
    """The tensors a safetensors file declares, read from its header alone (nothing else is loaded).

    The file size, the header size and every tensor's byte range are checked, so that a file that
    passes can be read whole without surprises.
    """
    path = Path(path)
    size = path.stat().st_size
    limit = max_weights_bytes()
    if size > limit:
        raise WeightsError(
            f"{path} is {size} bytes, more than the {limit} aezoo reads; raise {MAX_WEIGHTS_BYTES_ENV} if it is "
            "really a model of that size"
        )
    bad = f"{path} is not a valid safetensors file"
    with open(path, "rb") as f:
        prefix = f.read(8)
        if len(prefix) < 8:
            raise WeightsError(f"{bad} (only {size} bytes); the file is truncated, download or save it again")
        n = int.from_bytes(prefix, "little")
        if n > min(MAX_HEADER_BYTES, size - 8):
            raise WeightsError(
                f"{bad}: its header claims {n} bytes (the file has {size}, aezoo reads at most {MAX_HEADER_BYTES}); "
                "the file is corrupted or not a model"
            )
        raw = f.read(n)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise WeightsError(f"{bad}: its header is not JSON; the file is corrupted") from None
    if not isinstance(header, dict):
        raise WeightsError(f"{bad}: its header is not a JSON object")
    out: dict[str, TensorInfo] = {}
    data_size = size - 8 - n
    end = 0
    for name, item in header.items():
        if name == "__metadata__":
            continue
        ok = isinstance(item, dict) and item.get("dtype") in _DTYPES
        shape = item.get("shape") if ok else None
        offsets = item.get("data_offsets") if ok else None
        ok = (
            ok
            and isinstance(shape, list)
            and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
            and isinstance(offsets, list)
            and len(offsets) == 2
            and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        )
        if not ok:
            raise WeightsError(f"{bad}: tensor {name!r} has no valid dtype, shape and data_offsets")
        info = TensorInfo(item["dtype"], tuple(item["shape"]))
        start, stop = item["data_offsets"]
        if not 0 <= start <= stop <= data_size or stop - start != info.numel * _DTYPES[info.dtype][1]:
            raise WeightsError(f"{bad}: tensor {name!r} {info.dtype}{list(info.shape)} does not fit its byte range")
        end = max(end, stop)
        out[str(name)] = info
    if end != data_size:
        raise WeightsError(f"{bad}: {data_size - end} bytes after the last tensor; the file is corrupted")
    return out


def check_header(expected: Mapping[str, torch.Tensor], header: Mapping[str, TensorInfo], *, source: str) -> None:
    """Refuse a file whose tensors are not exactly ``expected``'s names, shapes and dtypes.

    ``expected`` is the state dict of the model the config describes, built on the meta device, so
    nothing is allocated: a config asking for more parameters than the file holds is refused here.
    """
    missing = sorted(set(expected) - set(header))
    unexpected = sorted(set(header) - set(expected))
    problems = []
    if missing:
        problems.append(f"missing tensors {missing[:8]}{' ...' if len(missing) > 8 else ''}")
    if unexpected:
        problems.append(f"unexpected tensors {unexpected[:8]}{' ...' if len(unexpected) > 8 else ''}")
    common = sorted(set(expected) & set(header))
    shapes = [
        f"{k}: file {list(header[k].shape)} vs config {list(expected[k].shape)}"
        for k in common
        if tuple(expected[k].shape) != header[k].shape
    ]
    if shapes:
        problems.append(f"shape mismatches {shapes[:8]}")
    dtypes = [
        f"{k}: file {header[k].dtype} vs model {_NAMES.get(expected[k].dtype, expected[k].dtype)}"
        for k in common
        if _DTYPES[header[k].dtype][0] != expected[k].dtype
    ]
    if dtypes:
        problems.append(f"dtype mismatches {dtypes[:8]} (aezoo never casts weights silently)")
    if problems:
        want = sum(t.numel() for t in expected.values())
        have = sum(t.numel for t in header.values())
        raise WeightsError(
            f"{source} does not match the model its config describes ({want:,} parameters; the file holds "
            f"{have:,}): {'; '.join(problems)}. The weights belong to another architecture or config, or the "
            "config was edited."
        )


def load_tensors(blob: bytes, *, source: str) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file's bytes (checked with :func:`read_header` first); all finite."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        tensors = load(blob)
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"{source} cannot be read as safetensors ({e}); the file is corrupted") from None
    bad = [k for k, t in tensors.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        raise WeightsError(
            f"{source} holds NaN or infinite values in {sorted(bad)[:8]}: the weights are broken (a diverged run "
            "or a corrupted file); train again or fetch a good copy"
        )
    return tensors


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; done once, at import
    os.umask(mask)
    return mask


_UMASK = _umask()


@contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[Any]:
    """Write to a temporary file beside ``path`` and rename it into place only on success.

    A crash or kill mid-write leaves the old file (or nothing), never a half-written one. The file
    gets the permissions ``open`` would give it (``0o666`` less the umask the process had when aezoo was
    imported: reading it means setting it, which is not thread-safe), not mkstemp's ``0o600``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):  # POSIX; on Windows the umask does not apply
            os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_model(
    directory: str | Path,
    *,
    architecture: str,
    config: Mapping[str, Any],
    state: Mapping[str, torch.Tensor],
    preprocessing: Mapping[str, Any],
    **extra: Any,
) -> Path:
    """Write ``model.safetensors`` (``state``) and ``config.json`` (plus ``extra`` keys) into ``directory``.

    The file format knows no model class: a model hands over its registered name, its config as a
    dict, its state dict and its preprocessing (``Autoencoder.save_pretrained`` does).
    """
    from safetensors.torch import save

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # safetensors refuses tensors that share storage; a clone per entry keeps each one whole.
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}
    with atomic_write(directory / WEIGHTS_NAME) as f:
        f.write(save(tensors, metadata={"format": "pt"}))
    document = {
        "aezoo_version": __version__,
        "architecture": architecture,
        "config": dict(config),
        "format": FORMAT_VERSION,
        "preprocessing": dict(preprocessing),
        **extra,
    }
    with atomic_write(directory / CONFIG_NAME, "w") as f:
        f.write(dumps_json(document))
    return directory


def read_config(directory: str | Path) -> dict[str, Any]:
    """Read and check ``config.json`` of a model directory."""
    path = Path(directory) / CONFIG_NAME
    if not path.is_file():
        raise WeightsError(f"{path} not found: a model directory holds {WEIGHTS_NAME} and {CONFIG_NAME}")
    data = read_json(path, error=WeightsError, fix="the file is corrupted, download or save it again")
    if not isinstance(data, dict) or "architecture" not in data or "config" not in data:
        raise WeightsError(f"{path} lacks 'architecture' and 'config'; it was not written by aezoo")
    fmt = data.get("format", FORMAT_VERSION)
    if isinstance(fmt, bool) or not isinstance(fmt, int):
        raise WeightsError(
            f"{path} has format {fmt!r}, not a model-directory format number (this aezoo writes {FORMAT_VERSION}); "
            "the file is corrupted, download or save it again"
        )
    if fmt > FORMAT_VERSION:
        raise WeightsError(
            f"{path} uses model-directory format {data['format']}, newer than this aezoo reads "
            f"({FORMAT_VERSION}); upgrade aezoo"
        )
    return data


def load_state_strict(model: torch.nn.Module, tensors: Mapping[str, torch.Tensor], *, source: str) -> None:
    """Load ``tensors`` into ``model``; any missing, unexpected or mis-shaped tensor is an error."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    mismatched = [
        f"{k}: file {tuple(tensors[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in sorted(set(expected) & set(tensors))
        if tuple(tensors[k].shape) != tuple(expected[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing tensors {missing}")
    if unexpected:
        problems.append(f"unexpected tensors {unexpected}")
    if mismatched:
        problems.append(f"shape mismatches {mismatched}")
    if problems:
        raise WeightsError(
            f"{source} does not match {type(model).__name__} with its config: {'; '.join(problems)}. "
            "The weights belong to another architecture or config."
        )
    try:
        model.load_state_dict(dict(tensors), strict=True)
    except (RuntimeError, AezooError) as e:  # dtype surprises and the like
        raise WeightsError(f"{source}: {e}") from None
