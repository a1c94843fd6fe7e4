"""Generation: new inputs drawn from the models that can sample (``capabilities.sample``).

No function here asks which class a model is: a model offers ``sample(n, generator=None)`` and
says so in its class's capabilities (the VAE, the AAE); the registry lists which architectures do.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, cast

from torch import Tensor

from ..core import seeding
from ..core.errors import AezooError, InputError
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


def generate(model: Autoencoder, n: int, *, seed: int | None = None) -> Tensor:
    """``n`` new inputs ``(n, *input_shape)`` drawn from a generative model (``capabilities.sample``).

    ``seed`` makes the draw repeatable without touching the global random state.

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
    gen = seeding.generator(seed, model.device) if seed is not None else None
    with eval_mode(model):
        return cast(Any, model).sample(n, generator=gen)
