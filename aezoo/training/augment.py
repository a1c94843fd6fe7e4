"""Data augmentation applied by the trainer to each training batch, on the batch's device.

``shift``: every image moves by its own random whole-pixel offset in ``[-k, k]`` along each axis,
the vacated border filled with zeros; the model reconstructs the shifted image (input = target).
Small translations are the classic MNIST augmentation (Simard et al. 2003 use them with elastic
distortions); for the 784-1000-500-250-30 deep autoencoder one pixel closes most of the gap
between training and test error (BENCHMARKS.md). The offsets come from the model's generator, so
a seeded run draws the same ones and a resumed run continues them.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["random_shift"]


def random_shift(x: Tensor, k: int, generator: torch.Generator | None = None) -> Tensor:
    """Each image of ``x`` (N, C, H, W) translated by a random offset in ``[-k, k]^2``, zero-filled.

    >>> x = torch.arange(1.0, 10.0).view(1, 1, 3, 3)
    >>> random_shift(x, 1, torch.Generator().manual_seed(0))[0, 0].tolist()  # one up, one right
    [[0.0, 4.0, 5.0], [0.0, 7.0, 8.0], [0.0, 0.0, 0.0]]
    >>> random_shift(x, 0).equal(x)
    True
    """
    if k == 0:
        return x
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (k, k, k, k))
    dy, dx = torch.randint(0, 2 * k + 1, (2, n, 1, 1, 1), generator=generator, device=x.device)
    rows = torch.arange(h, device=x.device).view(1, 1, h, 1) + dy  # (N, 1, H, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, 1, w) + dx  # (N, 1, 1, W)
    batch = torch.arange(n, device=x.device).view(n, 1, 1, 1)
    channel = torch.arange(x.shape[1], device=x.device).view(1, -1, 1, 1)
    return padded[batch, channel, rows, cols]
