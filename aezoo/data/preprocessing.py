"""How raw inputs become model inputs, stored with every model so inference matches training."""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from ..core.config import config_from_dict, config_to_dict
from ..core.errors import ConfigError

__all__ = ["Preprocessing"]


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """``model_input = (raw * scale - mean) / std``, per feature along dim 1 when given.

    >>> p = Preprocessing(scale=1 / 255)
    >>> p.apply(torch.tensor([[255.0]]))
    tensor([[1.]])
    """

    scale: float = 1.0  # raw values are multiplied by this first (1/255 for 8-bit images)
    mean: tuple[float, ...] | None = None  # subtracted after scaling, one value per channel/column
    std: tuple[float, ...] | None = None  # divided by after the mean, one per channel/column

    def __post_init__(self) -> None:
        for name in ("mean", "std"):
            value = getattr(self, name)
            if isinstance(value, (list, tuple)) and all(map(_is_number, value)):  # NumPy scalars become floats
                object.__setattr__(self, name, tuple(float(v) for v in value))
        if _is_number(self.scale):
            object.__setattr__(self, "scale", float(self.scale))
        self._check()

    def _check(self) -> None:
        """Values that would divide by zero, flip or poison every input are a ``ConfigError`` naming the field."""
        fix = "give finite numbers, scale and std > 0 (e.g. Preprocessing(scale=1 / 255, mean=(0.5,), std=(0.25,)))"
        if not _is_number(self.scale) or not (math.isfinite(self.scale) and self.scale > 0):
            raise ConfigError(f"preprocessing.scale must be a finite number > 0, got {self.scale!r}; {fix}")
        for name, positive in (("mean", False), ("std", True)):
            values = getattr(self, name)
            if values is None:
                continue
            if not isinstance(values, tuple) or not values or not all(map(_is_number, values)):
                raise ConfigError(
                    f"preprocessing.{name} must be null or a non-empty list of numbers, one per channel, got {values!r}"
                )
            bad = [v for v in values if not math.isfinite(v) or (positive and v <= 0)]
            if bad:
                need = "finite numbers > 0 (dividing by 0 makes every input infinite)" if positive else "finite numbers"
                raise ConfigError(f"preprocessing.{name} must hold {need}, got {bad[0]!r} in {values!r}; {fix}")
        n_mean, n_std = len(self.mean or ()), len(self.std or ())
        if n_mean > 1 and n_std > 1 and n_mean != n_std:  # one value is for all channels
            raise ConfigError(
                f"preprocessing.mean has {n_mean} values but std has {n_std}: give one of each per channel "
                f"(or column), or one for all; mean={self.mean!r}, std={self.std!r}"
            )

    def check_channels(self, channels: int) -> None:
        """Mean and std must hold one value per channel (dim 1 of the inputs), or one for all: ``ConfigError``."""
        for name in ("mean", "std"):
            values = getattr(self, name)
            if values is not None and len(values) not in (1, channels):
                raise ConfigError(
                    f"preprocessing.{name} has {len(values)} values {values!r}, but the inputs have {channels} "
                    f"channel(s) along dim 1; give {channels} value(s) or one for all"
                )

    def _stat(self, values: tuple[float, ...], x: Tensor) -> Tensor:
        t = torch.as_tensor(values, dtype=x.dtype, device=x.device)
        return t.view(1, -1, *([1] * (x.dim() - 2))) if x.dim() >= 2 else t

    def apply(self, raw: Tensor) -> Tensor:
        """Map raw inputs (e.g. uint8 pixels) to model inputs."""
        x = raw.float() * self.scale if self.scale != 1.0 or not raw.is_floating_point() else raw
        if self.mean is not None:
            x = x - self._stat(self.mean, x)
        if self.std is not None:
            x = x / self._stat(self.std, x)
        return x

    def invert(self, x: Tensor) -> Tensor:
        """Map model inputs or reconstructions back to the raw scale."""
        if self.std is not None:
            x = x * self._stat(self.std, x)
        if self.mean is not None:
            x = x + self._stat(self.mean, x)
        return x / self.scale if self.scale != 1.0 else x

    def to_dict(self) -> dict[str, Any]:
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Preprocessing:
        return cls() if not data else config_from_dict(cls, data)


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)  # NumPy's floats are Real too
