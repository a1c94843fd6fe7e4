"""Input corruption, written once: the denoiser's training noise and ``aezoo.add_noise`` both use it.

Vincent et al. (2008, 2010): masking noise zeroes each input value with probability ``level``;
additive Gaussian noise adds ``N(0, level**2)``. The random draws are float32 whatever the
input's dtype, so a seeded ``generator`` gives the same corruption under bf16 autocast as in fp32.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["NOISES", "corrupt", "gaussian", "masking"]

#: Noise kinds, in the order configs and the CLI list them.
NOISES = ("masking", "gaussian")


def masking(x: Tensor, fraction: float, generator: torch.Generator | None = None) -> Tensor:
    """``x`` with each value set to 0 with probability ``fraction``.

    >>> masking(torch.ones(2, 3), 0.0).tolist()
    [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """
    keep = torch.rand(x.shape, generator=generator, device=x.device) >= fraction
    return x * keep.to(x.dtype)


def gaussian(x: Tensor, std: float, generator: torch.Generator | None = None) -> Tensor:
    """``x`` plus independent Gaussian noise of standard deviation ``std``."""
    return x + std * torch.randn(x.shape, generator=generator, device=x.device).to(x.dtype)


def corrupt(x: Tensor, kind: str, level: float, generator: torch.Generator | None = None) -> Tensor:
    """Apply noise ``kind`` (one of :data:`NOISES`) at ``level``; callers validate both."""
    return masking(x, level, generator) if kind == "masking" else gaussian(x, level, generator)
