"""What a training run leaves in its ``--out``: the model folder, ``history.json``, the loss curve.

And the training record, the recipe that ``config.json`` and the model card carry under
``"training"`` (:func:`training_record`). Who may write the folder is
:mod:`~aezoo.training.rundir`'s business; the resumable state is :mod:`~aezoo.training.checkpoint`'s.
"""

from __future__ import annotations

import os
import platform
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .._version import __version__
from ..core.config import dumps_json
from ..data.hf import HF_PREFIX
from ..io.serialization import atomic_write
from .config import History, TrainConfig

if TYPE_CHECKING:
    from ..data import Dataset
    from ..models.base import Autoencoder

__all__ = [
    "HISTORY_NAME",
    "LOSS_CURVE_NAME",
    "dataset_label",
    "hardware_name",
    "training_record",
    "write_history",
    "write_outputs",
]

HISTORY_NAME = "history.json"
LOSS_CURVE_NAME = "loss_curve.png"


def write_history(directory: Path, history: History) -> None:
    """``history.json``: the per-epoch record, rewritten (atomically) at every checkpoint."""
    with atomic_write(directory / HISTORY_NAME, "w") as f:
        f.write(dumps_json(history.to_dict()))


def write_outputs(directory: Path, model: Autoencoder, history: History) -> None:
    """The finished run: the model folder (with ``model.training_record``), its history and loss curve."""
    model.save_pretrained(directory)
    write_history(directory, history)
    try:
        from ..evaluation.plots import loss_curve  # matplotlib: imported only when a run ends
    except ImportError:
        warnings.warn("aezoo.evaluation.plots is not available; no loss_curve.png written", stacklevel=4)
    else:
        if history.epoch:
            loss_curve(history.to_dict(), directory / LOSS_CURVE_NAME)


def dataset_label(name: str) -> str:
    """The dataset a split's name comes from, as the record and the card name it.

    >>> dataset_label("mnist/train:train"), dataset_label("hf:ylecun/mnist:train:train")
    ('mnist', 'hf:ylecun/mnist')
    """
    if name.startswith(HF_PREFIX):  # hf:SOURCE:SPLIT[:part]; SOURCE may hold "/"
        return HF_PREFIX + name[len(HF_PREFIX) :].split(":")[0]
    return name.split(":")[0].split("/")[0]


def training_record(
    config: TrainConfig,
    history: History,
    train: Dataset,
    val: Dataset | None,
    *,
    device: torch.device,
    world_size: int,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The recipe and outcome of a run, as ``config.json``'s ``"training"`` (``extra`` keys first)."""
    return {
        **(extra or {}),
        "train_config": config.to_dict(),
        "seed": config.seed,
        "dataset": dataset_label(train.name),
        "data": train.name,
        "num_train_samples": len(train),
        "num_val_samples": len(val) * world_size if val is not None else 0,
        "epochs": len(history.epoch),
        "stopped_early": history.stopped_early,
        "final_train_loss": history.last("train"),
        "final_val_loss": history.last("val"),
        "wall_time_s": round(sum(history.wall_s), 3),
        "device": str(device),
        "hardware": hardware_name(device),
        "world_size": world_size,
        "aezoo_version": __version__,
        "torch_version": torch.__version__,
    }


def hardware_name(device: torch.device) -> str:
    """The GPU's name, or the CPU model with its core and thread counts, for training records."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads"
    except OSError:
        pass
    return platform.processor() or platform.machine() or device.type
