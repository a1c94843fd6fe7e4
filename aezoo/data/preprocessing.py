"""How raw inputs become model inputs, stored with every model so inference matches training."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from ..core.config import config_from_dict, config_to_dict

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
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(float(v) for v in value))

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
