"""Generation: new inputs drawn from the models that can sample (``capabilities.sample``).

No function here asks which class a model is: a model offers ``sample(n, generator=None)`` and
says so in its class's capabilities (the VAE, the AAE); the registry lists which architectures do.
"""

from __future__ import annotations

import contextlib
import math
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import Tensor

from ..core import seeding
from ..core.errors import AezooError, InputError
from ..data.streaming import BUDGET_ENV, memory_budget
from ..registry import get_architecture, list_models
from ._batches import eval_mode

if TYPE_CHECKING:
    from ..models.base import Autoencoder

__all__ = ["generate", "generative_architectures"]


def generative_architectures() -> list[str]:
    """The registered architectures that can generate (their ``capabilities.sample`` is true).

    >>> "vae" in generative_architectures()
    True
    """
    names = []
    for name in list_models():
        with contextlib.suppress(AezooError):
            if get_architecture(name).capabilities.sample:
                names.append(name)
    return names


def generate(model: Autoencoder, n: int, *, seed: int | None = None, max_bytes: int | None = None) -> Tensor:
    """``n`` new inputs ``(n, *input_shape)`` drawn from a generative model (``capabilities.sample``).

    ``seed`` makes the draw repeatable without touching the global random state. The output may
    take at most ``max_bytes`` (default: :func:`aezoo.data.streaming.memory_budget` of the model's
    device, half the memory available or ``$AEZOO_MEMORY_BUDGET``); more is an ``InputError``
    before anything is drawn: generate in batches instead.

    >>> import aezoo
    >>> generate(aezoo.create("vae"), 4, seed=0).shape
    torch.Size([4, 1, 28, 28])
    """
    if not type(model).capabilities.sample:
        raise InputError(
            f"{type(model).__name__} ({model.architecture!r}) cannot generate: it has no sample(n) method "
            "(its capabilities.sample is False). "
            f"Models that can: {', '.join(map(repr, generative_architectures())) or 'none registered'}"
        )
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"n must be a positive integer, got {n!r}")
    _check_output_size(model, n, max_bytes)
    gen = seeding.generator(seed, model.device) if seed is not None else None
    with eval_mode(model):
        return cast(Any, model).sample(n, generator=gen)


def _check_output_size(model: Autoencoder, n: int, max_bytes: int | None) -> None:
    """``n`` samples must fit in ``max_bytes`` (default: the memory budget), or it is refused up front."""
    if max_bytes is not None and (isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1):
        raise InputError(f"max_bytes must be a positive integer (bytes), got {max_bytes!r}")
    dtype = next((p.dtype for p in model.parameters()), torch.float32)
    per_sample = math.prod(model.input_shape) * dtype.itemsize
    limit = max_bytes if max_bytes is not None else memory_budget(model.device)
    if n * per_sample > limit:
        source = "max_bytes" if max_bytes is not None else f"half the memory available, or ${BUDGET_ENV}"
        batch, needed = max(limit // per_sample, 1), n * per_sample
        raise InputError(
            f"generating n={n!r} samples of shape {tuple(model.input_shape)} ({dtype}) needs {needed} bytes, "
            f"more than the {limit} allowed ({source}); generate in batches of at most {batch} (e.g. "
            f"[generate(model, {min(batch, n)}, seed=s) for s in range(k)], saving each), or pass "
            f"max_bytes={needed} if that much memory is free"
        )
