"""Denoising: corrupt inputs with the zoo's noise, and let a model reconstruct them clean.

Any model can be asked to denoise (its reconstruction of a noisy input); a trained denoiser
declares ``capabilities.corrupt`` and brings its own noise, ``model.corrupt(x)``. The noise itself
lives in :mod:`aezoo.models.noise`; :func:`psnr` (from :mod:`aezoo.models.base`) measures the result.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ..core.errors import InputError, unknown_name
from ..data import Dataset
from ..models import noise
from ..models.base import psnr
from ._batches import batched, eval_mode, model_space

if TYPE_CHECKING:
    from ..models.base import Autoencoder

__all__ = ["add_noise", "denoise", "psnr"]


def add_noise(
    x: Tensor, kind: str = "masking", level: float = 0.25, *, generator: torch.Generator | None = None
) -> Tensor:
    """Corrupt ``x``: ``"masking"`` zeroes each value with probability ``level``;
    ``"gaussian"`` adds noise of standard deviation ``level`` (Vincent et al. 2010).

    >>> add_noise(torch.ones(2, 4), "masking", 0.0).tolist()
    [[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]]
    """
    if kind not in noise.NOISES:
        raise unknown_name("noise kind", kind, noise.NOISES)
    if not math.isfinite(level) or level < 0 or (kind == "masking" and level > 1):
        limit = "between 0 and 1" if kind == "masking" else "a finite number >= 0"
        raise InputError(f"{kind} noise level must be {limit}, got {level!r}")
    return noise.corrupt(x, kind, level, generator)


def denoise(model: Autoencoder, x: Tensor | Dataset, *, batch_size: int = 1000) -> Tensor:
    """The model's reconstruction of (noisy) inputs ``x``: the denoised version.

    Any model can be asked; a trained denoiser (``capabilities.corrupt``, e.g. ``denoising``)
    has learnt to do it. Make the noise with the model's own ``model.corrupt(x)`` or with
    :func:`add_noise`.

    >>> import aezoo, torch
    >>> model = aezoo.create("denoising")
    >>> clean = torch.rand(4, 1, 28, 28)
    >>> denoise(model, model.corrupt(clean)).shape
    torch.Size([4, 1, 28, 28])
    """
    inputs = model_space(model, x)
    with eval_mode(model):
        return batched(lambda b: model(b).reconstruction, inputs, batch_size, "denoise")
