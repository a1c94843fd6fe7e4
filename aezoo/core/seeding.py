"""Seeding, in one place: generators passed down, and a scoped seed for what cannot take one.

aezoo never calls ``torch.manual_seed`` on the global generator for good. Randomness that aezoo
draws itself (data order, a model's training noise, figures' samples) comes from a
``torch.Generator`` made by :func:`generator` and handed to the code that draws; a model keeps
its noise generator in ``model.generator``. Layer constructors (``nn.Linear``'s default init)
can only draw from torch's global generator, so building a model reproducibly happens inside
:func:`seeded`, which restores the global state afterwards.
"""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Iterator
from typing import Any

import torch

from .errors import ConfigError

__all__ = ["MAX_SEED", "check_seed", "generator", "seeded"]

#: The largest seed aezoo accepts: torch takes 64-bit seeds, and runs add small offsets (ranks, stages).
MAX_SEED = 2**63 - 1


def check_seed(seed: Any, name: str = "seed") -> int:
    """``seed`` as an int, or a :class:`~aezoo.core.errors.ConfigError` if it is not an integer in ``[0, MAX_SEED]``.

    >>> check_seed(7)
    7
    """
    try:
        value = operator.index(seed)  # ints and numpy integers, not floats or strings
    except TypeError:
        value = None
    if isinstance(seed, bool) or value is None or not 0 <= value <= MAX_SEED:
        raise ConfigError(f"{name} must be an integer from 0 to 2**63 - 1, got {seed!r}")
    return value


def generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A fresh ``torch.Generator`` on ``device`` seeded with ``seed``.

    >>> g = generator(0); torch.rand(2, generator=g).tolist() == torch.rand(2, generator=generator(0)).tolist()
    True
    """
    return torch.Generator(device=torch.device(device)).manual_seed(check_seed(seed))


@contextlib.contextmanager
def seeded(seed: int | None, device: torch.device | str | None = None) -> Iterator[None]:
    """Run the block with torch's global generators seeded with ``seed``, then restore them.

    ``seed=None`` runs the block unchanged. ``device`` names a CUDA device whose generator is
    forked too (the CPU one always is).

    >>> with seeded(0):
    ...     a = torch.rand(2)
    >>> with seeded(0):
    ...     b = torch.rand(2)
    >>> bool((a == b).all())
    True
    """
    if seed is None:
        yield
        return
    dev = torch.device(device) if device is not None else torch.device("cpu")
    devices = [dev] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(check_seed(seed))
        yield
