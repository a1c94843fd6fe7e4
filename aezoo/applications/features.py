"""Codes as features: the autoencoder as a dimensionality reduction, for plots and downstream models.

Works on any model of the zoo through ``encode``, in eval mode, batch by batch (see
:mod:`aezoo.applications._batches` for how datasets are mapped to the model's input space).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor

from ..data import Dataset
from ._batches import batched, eval_mode, model_space

if TYPE_CHECKING:
    import numpy as np

    from ..models.base import Autoencoder

__all__ = ["extract_features", "reduce"]


def reduce(model: Autoencoder, data: Tensor | Dataset, *, batch_size: int = 1000) -> Tensor:
    """The codes ``(N, latent_dim)`` of ``data``: the autoencoder as a dimensionality reduction.

    ``data`` is a batch in model space or a :class:`~aezoo.data.DeviceDataset`; the codes are
    computed in batches in eval mode and returned on the model's device.

    >>> import aezoo, torch
    >>> reduce(aezoo.create("linear"), torch.rand(10, 1, 28, 28)).shape
    torch.Size([10, 2])
    """
    x = model_space(model, data)
    with eval_mode(model):
        return batched(model.encode, x, batch_size, "encode")


def extract_features(
    model: Autoencoder, data: Tensor | Dataset, *, batch_size: int = 1000, as_numpy: bool = False
) -> Tensor | np.ndarray:
    """:func:`reduce` for a downstream model: the codes as features, a numpy array with ``as_numpy``.

    >>> import aezoo, torch
    >>> extract_features(aezoo.create("linear"), torch.rand(4, 1, 28, 28), as_numpy=True).shape
    (4, 2)
    """
    codes = reduce(model, data, batch_size=batch_size)
    return codes.detach().float().cpu().numpy() if as_numpy else codes
