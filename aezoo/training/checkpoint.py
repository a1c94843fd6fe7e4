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

On top of the file pair, :func:`save_run` and :func:`load_run` store and restore a
:class:`~aezoo.training.trainer.Trainer` run: its :class:`RunState`, the model and its
optimizers, the history and every random generator, so that a resumed run ends bit for bit where
an uninterrupted one would; :func:`run_identity` is what a checkpoint must match to be resumed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from .._version import __version__
from ..core.config import config_to_dict, dumps_json, read_json
from ..core.errors import AezooError, TrainingError, WeightsError
from ..io.serialization import atomic_write, load_state_strict, sha256_file
from .config import RESUMABLE_FIELDS, History, TrainConfig

if TYPE_CHECKING:
    from ..models.base import Autoencoder
    from .distributed import DistEnv

__all__ = [
    "CHECKPOINT_JSON",
    "CHECKPOINT_TENSORS",
    "RunState",
    "load_run",
    "pack",
    "read_checkpoint",
    "run_identity",
    "save_run",
    "unpack",
    "write_checkpoint",
]

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


# ------------------------------------------------------------------ a Trainer run
@dataclasses.dataclass
class RunState:
    """Where a run is; everything here goes into the checkpoint."""

    epoch: int = 0  # epoch in progress (0-based)
    step: int = 0  # batches done in it
    global_step: int = 0  # batches done in the run
    sums: dict[str, Tensor] = dataclasses.field(default_factory=dict)  # per-term sums of the epoch so far
    count: int = 0  # samples behind ``sums`` on this rank
    best: float = math.inf  # lowest val loss so far
    bad_epochs: int = 0  # epochs since it was reached
    epoch_rng: Tensor | None = None  # data generator state at the start of the epoch


def run_identity(
    model: Autoencoder,
    config: TrainConfig,
    optimizers: Mapping[str, torch.optim.Optimizer],
    dataset: Mapping[str, Any],
    world_size: int,
) -> dict[str, Any]:
    """What a checkpoint records of its run, and what must match for another run to resume it."""
    return {
        "aezoo_version": __version__,
        "architecture": model.architecture,
        "model_config": config_to_dict(model.config),
        "train_config": config.to_dict(),
        "dataset": dict(dataset),
        "world_size": world_size,
        "optimizer_names": sorted(optimizers),
    }


def save_run(
    directory: Path,
    state: RunState,
    *,
    model: Autoencoder,
    optimizers: Mapping[str, torch.optim.Optimizer],
    history: History,
    identity: Mapping[str, Any],
    env: DistEnv,
) -> None:
    """Checkpoint the run in ``directory``: rank 0 writes; every rank joins the RNG gather."""
    assert state.epoch_rng is not None  # set when an epoch starts, before any checkpoint of it
    tensors: dict[str, Tensor] = {"rng.data": state.epoch_rng}
    states = rng_tensors("rng")  # torch's global generators, for plugins that draw from them
    if model.generator is not None:
        states["rng.model"] = model.generator.get_state()
    for key, t in states.items():
        for rank, t_rank in enumerate(env.all_gather(t)):
            tensors[f"{key}.rank{rank}"] = t_rank
    if not env.is_main:
        return
    meta = {
        **identity,
        "epoch": state.epoch,
        "step": state.step,
        "global_step": state.global_step,
        "count": state.count,
        "bad_epochs": state.bad_epochs,
        "best": state.best if math.isfinite(state.best) else None,  # strict JSON has no Infinity
        "history": history.to_dict(),
        "model": pack(model.state_dict(), "model", tensors),
        "optimizers": {n: pack(o.state_dict(), f"optim.{n}", tensors) for n, o in optimizers.items()},
        "sums": pack(state.sums, "sums", tensors),
    }
    write_checkpoint(directory, meta, tensors)


def load_run(
    directory: Path,
    *,
    model: Autoencoder,
    optimizers: Mapping[str, torch.optim.Optimizer],
    data_generator: torch.Generator,
    identity: Mapping[str, Any],
    env: DistEnv,
) -> tuple[RunState, History]:
    """Restore the run checkpointed in ``directory`` into ``model``, ``optimizers`` and the generators.

    A checkpoint of another run (see :func:`run_identity`) or a damaged one is a
    :class:`~aezoo.core.errors.TrainingError` that says how to start over.
    """
    meta, tensors = read_checkpoint(directory)
    _check_resumable(meta, identity, directory)
    try:
        return _restore(meta, tensors, directory, model, optimizers, data_generator, env)
    except AezooError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError) as e:
        raise TrainingError(
            f"{directory / CHECKPOINT_JSON} is damaged ({type(e).__name__}: {e}); start over with "
            "--overwrite (API: overwrite=True) or use a fresh --out"
        ) from None


def _check_resumable(then: Mapping[str, Any], now: Mapping[str, Any], directory: Path) -> None:
    diffs = []
    for key in ("architecture", "dataset", "world_size", "optimizer_names"):
        if then.get(key) != now[key]:
            diffs.append(f"{key} {then.get(key)!r} (checkpoint) vs {now[key]!r} (now)")
    for section in ("model_config", "train_config"):
        old, new = then.get(section), now[section]
        old = old if isinstance(old, Mapping) else {}
        for k in sorted(set(old) | set(new)):
            if section == "train_config" and k in RESUMABLE_FIELDS:
                continue
            if old.get(k) != new.get(k):
                diffs.append(f"{section.split('_')[0]} {k} {old.get(k)!r} (checkpoint) vs {new.get(k)!r} (now)")
    if diffs:
        raise TrainingError(
            f"cannot resume the run in {directory}: it differs from this one in "
            + "; ".join(diffs)
            + ". Use a fresh --out directory for a new run, or drop --resume to start over in this one"
        )


def _restore(
    meta: Mapping[str, Any],
    tensors: Mapping[str, Tensor],
    directory: Path,
    model: Autoencoder,
    optimizers: Mapping[str, torch.optim.Optimizer],
    data_generator: torch.Generator,
    env: DistEnv,
) -> tuple[RunState, History]:
    counters = {k: meta[k] for k in ("epoch", "step", "global_step", "count", "bad_epochs")}
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in counters.values()):
        raise ValueError(f"counters {counters!r} are not all integers >= 0")
    if meta["best"] is not None and (isinstance(meta["best"], bool) or not isinstance(meta["best"], (int, float))):
        raise ValueError(f"best is {meta['best']!r}")
    try:
        load_state_strict(model, unpack(meta["model"], tensors), source=str(directory / CHECKPOINT_JSON))
    except WeightsError as e:
        raise TrainingError(f"{e}; use a fresh --out or drop --resume") from None
    for name, opt in optimizers.items():
        opt.load_state_dict(unpack(meta["optimizers"][name], tensors))
    suffix = f".rank{env.rank}"
    restore_rng({k[: -len(suffix)]: v for k, v in tensors.items() if k.endswith(suffix)}, "rng")
    if f"rng.model{suffix}" in tensors and model.generator is not None:
        model.generator.set_state(tensors[f"rng.model{suffix}"])
    elif model.generator is not None:
        warnings.warn(
            f"the checkpoint in {directory} holds no state of the model's noise generator (an older "
            "aezoo wrote it): the resumed run draws different noise than an uninterrupted one would",
            stacklevel=4,
        )
    data_generator.set_state(tensors["rng.data"])
    history = History.from_dict(meta["history"])
    sums = {k: v.to(env.device) for k, v in unpack(meta["sums"], tensors).items()}
    state = RunState(
        epoch=meta["epoch"],
        step=meta["step"],
        global_step=meta["global_step"],
        sums=sums,
        count=meta["count"],
        best=math.inf if meta["best"] is None else meta["best"],
        bad_epochs=meta["bad_epochs"],
        epoch_rng=tensors["rng.data"],
    )
    return state, history
