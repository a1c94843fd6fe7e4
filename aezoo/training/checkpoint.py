"""Training checkpoints without pickle: ``checkpoint.safetensors`` + ``checkpoint.json``.

Every tensor of the run's state (model, every optimizer's state, RNG states, running loss
sums) goes into the safetensors file; the structure around them (optimizer param groups,
epoch, step, history, configs) into the JSON, where each tensor is ``{"__tensor__": KEY}``.

Writing order makes a kill at any moment harmless:

1. the current tensors file is renamed to ``checkpoint.prev.safetensors``;
2. the new tensors are written atomically to ``checkpoint.safetensors``;
3. the JSON, naming the new file's sha256, is written atomically;
4. the previous tensors file is removed.

A reader trusts only the JSON and takes whichever tensors file has the sha256 it names: after
a kill between 1 and 3 that is the previous file, so the previous complete pair is used.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..core.config import dumps_json, read_json
from ..core.errors import TrainingError
from ..io.serialization import atomic_write, sha256_file

__all__ = ["CHECKPOINT_JSON", "CHECKPOINT_TENSORS", "pack", "read_checkpoint", "unpack", "write_checkpoint"]

CHECKPOINT_TENSORS = "checkpoint.safetensors"
CHECKPOINT_JSON = "checkpoint.json"
PREVIOUS_TENSORS = "checkpoint.prev.safetensors"
CHECKPOINT_FORMAT = 1

_TENSOR = "__tensor__"
_INT_KEYS = "__int_keys__"


def pack(obj: Any, prefix: str, tensors: dict[str, Tensor]) -> Any:
    """JSON-ready copy of a nested state (dicts, lists, scalars); tensors move into ``tensors``."""
    if isinstance(obj, Tensor):
        tensors[prefix] = obj.detach().to("cpu").contiguous().clone()
        return {_TENSOR: prefix}
    if isinstance(obj, Mapping):
        if all(isinstance(k, str) for k in obj):
            return {k: pack(v, f"{prefix}.{k}", tensors) for k, v in obj.items()}
        if all(isinstance(k, int) for k in obj):  # optimizer state is keyed by parameter index
            return {_INT_KEYS: {str(k): pack(v, f"{prefix}.{k}", tensors) for k, v in obj.items()}}
        raise TypeError(f"cannot checkpoint a mapping with keys {list(obj)!r}")
    if isinstance(obj, (list, tuple)):
        return [pack(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot checkpoint a {type(obj).__name__} at {prefix!r} without pickle")


def unpack(obj: Any, tensors: Mapping[str, Tensor]) -> Any:
    """Inverse of :func:`pack`."""
    if isinstance(obj, dict):
        if set(obj) == {_TENSOR}:
            return tensors[obj[_TENSOR]]
        if set(obj) == {_INT_KEYS}:
            return {int(k): unpack(v, tensors) for k, v in obj[_INT_KEYS].items()}
        return {k: unpack(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [unpack(v, tensors) for v in obj]
    return obj


def write_checkpoint(directory: str | Path, meta: Mapping[str, Any], tensors: Mapping[str, Tensor]) -> Path:
    """Write the pair atomically in the order described above; returns the JSON's path."""
    from safetensors.torch import save

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    blob = save(dict(tensors), metadata={"format": "pt"})
    current, previous = directory / CHECKPOINT_TENSORS, directory / PREVIOUS_TENSORS
    if current.exists():
        os.replace(current, previous)
    with atomic_write(current) as f:
        f.write(blob)
    payload = {
        **meta,
        "format": CHECKPOINT_FORMAT,
        "tensors": CHECKPOINT_TENSORS,
        "tensors_sha256": hashlib.sha256(blob).hexdigest(),
    }
    with atomic_write(directory / CHECKPOINT_JSON, "w") as f:
        f.write(dumps_json(payload))
    previous.unlink(missing_ok=True)
    return directory / CHECKPOINT_JSON


def read_checkpoint(directory: str | Path) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """The newest complete checkpoint in ``directory``: its JSON and its tensors (on the CPU)."""
    from safetensors.torch import load_file

    directory = Path(directory)
    path = directory / CHECKPOINT_JSON
    if not path.is_file():
        raise TrainingError(
            f"no checkpoint to resume from: {path} does not exist (the run never finished an epoch "
            "or a checkpoint step there); drop --resume to start a fresh run"
        )
    fix = "the checkpoint is damaged; start over with --overwrite (API: overwrite=True) or use a fresh --out"
    meta = read_json(path, error=TrainingError, fix=fix, allow_nan=True)  # history may hold NaN
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        fmt = meta.get("format") if isinstance(meta, dict) else None
        raise TrainingError(
            f"{path} has checkpoint format {fmt!r}, this aezoo reads {CHECKPOINT_FORMAT}; "
            "use a fresh --out or start over with --overwrite"
        )
    for name in (CHECKPOINT_TENSORS, PREVIOUS_TENSORS):
        candidate = directory / name
        if candidate.is_file() and sha256_file(candidate) == meta.get("tensors_sha256"):
            if name == PREVIOUS_TENSORS:
                warnings.warn(
                    f"the last checkpoint write in {directory} was interrupted; resuming from the one before",
                    stacklevel=2,
                )
            try:
                return meta, load_file(str(candidate), device="cpu")
            except Exception as e:  # safetensors' own error type, OSError, ValueError
                raise TrainingError(f"{candidate} cannot be read as safetensors ({e}); {fix}") from None
    raise TrainingError(
        f"{directory / CHECKPOINT_TENSORS} does not match the sha256 that {path} names: the checkpoint "
        "is corrupted; use a fresh --out or start over with --overwrite"
    )


def rng_tensors(prefix: str) -> dict[str, Tensor]:
    """This process's global torch RNG states (CPU, and CUDA/MPS when present) as uint8 tensors."""
    out = {f"{prefix}.cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out[f"{prefix}.cuda"] = torch.cuda.get_rng_state()
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        out[f"{prefix}.mps"] = torch.mps.get_rng_state()
    return out


def restore_rng(tensors: Mapping[str, Tensor], prefix: str) -> None:
    torch.set_rng_state(tensors[f"{prefix}.cpu"])
    if f"{prefix}.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors[f"{prefix}.cuda"])
    if f"{prefix}.mps" in tensors and getattr(torch.backends, "mps", None) is not None:
        torch.mps.set_rng_state(tensors[f"{prefix}.mps"])
