"""The training recipe (:class:`TrainConfig`), the record of a run (:class:`History`), LR schedules."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import torch

from ..core.config import config_from_dict, config_to_dict
from ..core.errors import ConfigError
from ..core.seeding import check_seed

if TYPE_CHECKING:
    from ..models.base import Autoencoder

__all__ = ["History", "TrainConfig", "lr_factor", "make_optimizer_factory"]

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "onecycle")
PRECISIONS = ("auto", "fp32", "bf16")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How to train: the same recipe for every architecture.

    >>> TrainConfig(epochs=3, lr=1e-3).to_dict()["optimizer"]
    'adam'
    """

    epochs: int = 10  # passes over the training data
    batch_size: int = 128  # samples per step on each process (global batch: batch_size * processes)
    lr: float = 3e-3  # peak learning rate
    optimizer: str = "adam"  # adam, adamw or sgd (with momentum)
    weight_decay: float = 0.0  # L2 penalty (adam, sgd) or decoupled decay (adamw)
    momentum: float = 0.9  # sgd only
    schedule: str = "onecycle"  # onecycle (lr/25 up to lr, down to lr/1e4), cosine (decays to 0) or constant
    warmup: float = 0.0  # fraction of all steps with a linear warm-up (onecycle: 0.3 when 0)
    seed: int = 0  # seeds the data order and the model's own randomness (noise, sampling)
    device: str = "auto"  # cuda, cuda:N, mps, cpu, or auto (cuda, then mps, then cpu)
    precision: str = "auto"  # auto (bf16 autocast on CUDA, fp32 elsewhere), fp32 or bf16
    compile: bool = False  # torch.compile the model's loss
    val_fraction: float = 0.1  # part of train held out for validation when no val set is given
    patience: int = 0  # stop after this many epochs without a better val loss (0: never)
    log_every: int = 50  # steps between progress-bar loss updates (each one syncs with the device)
    grad_clip: float = 0.0  # clip each optimizer's gradient norm to this before its step (0: off)
    checkpoint_every: int = 0  # also checkpoint every N steps inside an epoch (0: at epoch ends only)
    shift: int = 0  # augmentation: move each training image by a random offset of up to this many pixels (0: off)

    def __post_init__(self) -> None:
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise ConfigError(msg)

        need(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs!r}")
        need(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size!r}")
        need(math.isfinite(self.lr) and self.lr > 0, f"lr must be a finite number > 0, got {self.lr!r}")
        for name in ("weight_decay", "momentum", "grad_clip"):
            need(math.isfinite(getattr(self, name)), f"{name} must be a finite number, got {getattr(self, name)!r}")
        check_seed(self.seed)
        for name, choices in (("optimizer", OPTIMIZERS), ("schedule", SCHEDULES), ("precision", PRECISIONS)):
            value = getattr(self, name)
            need(value in choices, f"unknown {name} {value!r}; choose one of {', '.join(choices)}")
        need(self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay!r}")
        need(0 <= self.warmup < 1, f"warmup is a fraction of all steps in [0, 1), got {self.warmup!r}")
        need(0 <= self.val_fraction < 1, f"val_fraction must be in [0, 1), got {self.val_fraction!r}")
        need(self.patience >= 0, f"patience must be >= 0 (0 turns early stopping off), got {self.patience!r}")
        need(self.log_every >= 1, f"log_every must be >= 1, got {self.log_every!r}")
        need(self.grad_clip >= 0, f"grad_clip must be >= 0 (0 turns clipping off), got {self.grad_clip!r}")
        need(self.checkpoint_every >= 0, f"checkpoint_every must be >= 0, got {self.checkpoint_every!r}")
        need(self.shift >= 0, f"shift is a number of pixels >= 0 (0 turns it off), got {self.shift!r}")

    def to_dict(self) -> dict[str, Any]:
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        return config_from_dict(cls, data)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes``, checked like :meth:`from_dict` (unknown keys listed)."""
        return config_from_dict(type(self), {**self.to_dict(), **changes})

    @classmethod
    def for_model(cls, model: Autoencoder, **changes: Any) -> TrainConfig:
        """The defaults for ``model``: these fields' defaults, then its class's ``train_defaults``, then ``changes``.

        >>> import aezoo
        >>> TrainConfig.for_model(aezoo.create("mlp"), epochs=5).epochs
        5
        """
        return config_from_dict(cls, {**cls().to_dict(), **type(model).train_defaults, **changes})


# Fields that may change between a run and its resumption without changing the arithmetic.
RESUMABLE_FIELDS = frozenset({"device", "compile", "log_every", "patience", "checkpoint_every"})


@dataclasses.dataclass
class History:
    """Per-epoch record of a run; ``history.json`` and the loss curve are drawn from it."""

    epoch: list[int] = dataclasses.field(default_factory=list)  # 1-based epoch numbers
    train: dict[str, list[float]] = dataclasses.field(default_factory=dict)  # term -> mean per epoch
    val: dict[str, list[float]] = dataclasses.field(default_factory=dict)  # term -> mean per epoch
    lr: list[float] = dataclasses.field(default_factory=list)  # first optimizer's LR at epoch end
    samples_per_s: list[float] = dataclasses.field(default_factory=list)  # training throughput
    wall_s: list[float] = dataclasses.field(default_factory=list)  # seconds per epoch (train + val)
    best_epoch: int | None = None  # epoch with the lowest val loss
    stopped_early: bool = False  # early stopping ended the run

    def append(
        self,
        epoch: int,
        train: Mapping[str, float],
        val: Mapping[str, float],
        *,
        lr: float,
        samples_per_s: float,
        wall_s: float,
    ) -> None:
        self.epoch.append(epoch)
        for group, terms in ((self.train, train), (self.val, val)):
            for k, v in terms.items():
                group.setdefault(k, [math.nan] * (len(self.epoch) - 1)).append(float(v))
        self.lr.append(float(lr))
        self.samples_per_s.append(float(samples_per_s))
        self.wall_s.append(float(wall_s))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> History:
        """Inverse of :meth:`to_dict`; a ``ValueError`` if ``data`` is not a history."""
        h = cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})

        def numbers(v: Any) -> bool:
            return isinstance(v, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)

        ok = isinstance(h.train, dict) and isinstance(h.val, dict) and isinstance(h.stopped_early, bool)
        ok = ok and all(
            numbers(v) for v in (h.epoch, h.lr, h.samples_per_s, h.wall_s, *h.train.values(), *h.val.values())
        )
        if not ok or not (h.best_epoch is None or isinstance(h.best_epoch, int)):
            raise ValueError(f"not a training history: {str(dict(data))[:200]}")
        return h

    def last(self, group: str = "val", term: str = "loss") -> float | None:
        values = getattr(self, group).get(term)
        return values[-1] if values else None


def lr_factor(config: TrainConfig, step: int, total_steps: int) -> float:
    """Multiplier of the peak LR at ``step`` (0-based) of ``total_steps``; a pure function of the step."""
    if config.schedule == "constant" and config.warmup == 0:
        return 1.0
    warmup = config.warmup or (0.3 if config.schedule == "onecycle" else 0.0)
    warm_steps = max(1, round(warmup * total_steps)) if warmup > 0 else 0
    if step < warm_steps:
        start = 1 / 25 if config.schedule == "onecycle" else 0.0
        return start + (1 - start) * (step + 1) / warm_steps
    if config.schedule == "constant":
        return 1.0
    progress = (step - warm_steps) / max(1, total_steps - warm_steps)
    end = 1e-4 if config.schedule == "onecycle" else 0.0
    return end + (1 - end) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def make_optimizer_factory(config: TrainConfig, device: torch.device):
    """The ``make(params)`` handed to ``model.configure_optimizers``."""

    def make(params: Iterable[Any]) -> torch.optim.Optimizer:
        extra: dict[str, Any] = {}
        if config.optimizer in ("adam", "adamw") and device.type in ("cuda", "cpu"):
            extra["fused"] = True  # one kernel per step instead of a loop over tensors (~18 % on CPU)
        if config.optimizer == "adam":
            return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, **extra)
        if config.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, **extra)
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)

    return make
