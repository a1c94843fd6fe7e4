"""How the applications run a model: in eval mode without gradients, on model-space inputs, in batches.

A dataset (a :class:`~aezoo.data.DeviceDataset`, or a streamed
:class:`~aezoo.data.StreamedDataset`, read whole) is mapped to the model's input space by
:func:`aezoo.evaluation.metrics.model_inputs`; a tensor is taken as already in that space.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ..core import progress
from ..core.errors import InputError
from ..data import Dataset, DeviceDataset, StreamedDataset
from ..evaluation import model_inputs

if TYPE_CHECKING:
    from ..models.base import Autoencoder

__all__ = ["batched", "check_batch_size", "eval_mode", "model_space"]


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[None]:
    """``model.eval()`` under ``torch.no_grad()`` for the block; the training flag is restored after."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def model_space(model: Autoencoder, data: Tensor | Dataset) -> Tensor:
    """``data`` in the model's input space, on the model's device."""
    if isinstance(data, (DeviceDataset, StreamedDataset)):
        data = model_inputs(model, data.to(model.device))
    elif not isinstance(data, Tensor):
        raise InputError(
            f"expected a torch.Tensor of shape (N, {', '.join(map(str, model.input_shape))}) or an "
            f"aezoo dataset (DeviceDataset, StreamedDataset), got {type(data).__name__}; "
            "wrap arrays with torch.as_tensor(x).float()"
        )
    return data.to(model.device)


def check_batch_size(batch_size: int) -> None:
    """``InputError`` unless ``batch_size`` is a positive integer."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")


def batched(fn: Callable[[Tensor], Tensor], x: Tensor, batch_size: int, desc: str) -> Tensor:
    """``fn`` over ``x`` in batches, concatenated; long runs report progress (see :mod:`aezoo.core.progress`)."""
    check_batch_size(batch_size)
    if not len(x):
        return fn(x)
    out = []
    with progress.bar(len(x), desc, unit="sample") as bar:
        for i in range(0, len(x), batch_size):
            out.append(fn(x[i : i + batch_size]))
            bar.update(len(out[-1]))
    return torch.cat(out)
