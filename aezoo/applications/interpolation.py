"""Walks through code space: decode the path between two inputs' codes, or between prior draws.

Works for every model through the contract (``encode``/``decode``); walking between prior
draws needs a model that has a prior, i.e. a ``sample_prior(n)`` method (the VAE, the AAE).
Two paths: ``"linear"`` (``(1 - t) z0 + t z1``) and ``"slerp"``, the spherical interpolation
that White (2016, "Sampling Generative Networks") recommends for Gaussian priors: a straight
line between two draws passes through codes of unusually small norm, a great circle does not.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ..core.errors import InputError, unknown_name
from ._batches import eval_mode

if TYPE_CHECKING:
    from ..models.base import Autoencoder

__all__ = ["METHODS", "interpolate", "interpolate_codes", "interpolation_grid", "prior_interpolation"]

METHODS = ("linear", "slerp")


def interpolate_codes(z0: Tensor, z1: Tensor, steps: int = 10, method: str = "linear") -> Tensor:
    """Codes on the path from ``z0`` to ``z1`` (both ``(N, D)``): ``(N, steps, D)``, ends included.

    >>> interpolate_codes(torch.zeros(1, 2), torch.ones(1, 2), steps=3).tolist()
    [[[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]]]
    """
    if method not in METHODS:
        raise unknown_name("interpolation method", method, METHODS)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise InputError(f"steps must be an integer >= 2 (the two ends included), got {steps!r}")
    if z0.shape != z1.shape or z0.dim() != 2:
        raise InputError(
            f"the two ends must be codes of the same shape (N, D), got {tuple(z0.shape)} and {tuple(z1.shape)}"
        )
    t = torch.linspace(0.0, 1.0, steps, device=z0.device, dtype=z0.dtype).view(1, steps, 1)
    a, b = z0.unsqueeze(1), z1.unsqueeze(1)
    linear = (1 - t) * a + t * b
    if method == "linear":
        return linear
    cos = torch.nn.functional.cosine_similarity(z0, z1, dim=1, eps=1e-12).clamp(-1.0, 1.0)
    omega = torch.acos(cos).view(-1, 1, 1)
    sin = torch.sin(omega)
    safe = sin.abs() > 1e-6  # (anti)parallel ends: the great circle is not defined; walk the line
    slerp = (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.where(safe, sin, torch.ones_like(sin))
    return torch.where(safe, slerp, linear)


def _decode_path(model: Autoencoder, codes: Tensor) -> Tensor:
    n, steps = codes.shape[:2]
    return model.decode(codes.reshape(n * steps, -1)).view(n, steps, *model.input_shape)


def interpolate(model: Autoencoder, a: Tensor, b: Tensor, *, steps: int = 10, method: str = "linear") -> Tensor:
    """Decode the code-space path from input ``a`` to input ``b``: ``(N, steps, *input_shape)``.

    ``a`` and ``b`` are single inputs ``input_shape`` or batches ``(N, *input_shape)`` in the
    model's input space; the first and last steps are the reconstructions of ``a`` and ``b``.

    >>> import aezoo
    >>> interpolate(aezoo.create("linear"), torch.rand(1, 28, 28), torch.rand(1, 28, 28), steps=5).shape
    torch.Size([1, 5, 1, 28, 28])
    """
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise InputError(f"a and b must be torch tensors of shape {tuple(model.input_shape)} or (N, ...)")
    a, b = (x.unsqueeze(0) if tuple(x.shape) == tuple(model.input_shape) else x for x in (a, b))
    if a.shape != b.shape:
        raise InputError(
            f"a and b must hold as many inputs of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if len(a) == 0:
        raise InputError("a and b are empty; give at least one pair of inputs")
    with eval_mode(model):
        z0, z1 = model.encode(a.to(model.device)), model.encode(b.to(model.device))
        return _decode_path(model, interpolate_codes(z0, z1, steps, method))


def prior_interpolation(
    model: Autoencoder, n: int = 4, *, steps: int = 10, method: str = "slerp", seed: int | None = None
) -> Tensor:
    """Decode ``n`` paths between pairs of prior draws: ``(n, steps, *input_shape)``.

    Needs a model with a prior (``sample_prior(n)``: the VAE, the AAE). ``seed`` makes the draws
    repeatable without touching the global random state.

    >>> import aezoo
    >>> prior_interpolation(aezoo.create("vae"), 2, steps=4, seed=0).shape
    torch.Size([2, 4, 1, 28, 28])
    """
    sample_prior = getattr(model, "sample_prior", None)
    if not callable(sample_prior):
        raise InputError(
            f"{type(model).__name__} ({model.architecture!r}) has no prior to draw from (no sample_prior(n) method); "
            "interpolate between two inputs instead (aezoo.interpolate, or aezoo interpolate without --prior)"
        )
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"n must be a positive integer, got {n!r}")
    generator = torch.Generator(device=model.device)
    generator.manual_seed(int(seed) if seed is not None else int(torch.seed() % 2**63))
    with eval_mode(model):
        z = sample_prior(2 * n, generator)
        return _decode_path(model, interpolate_codes(z[:n], z[n:], steps, method))


def interpolation_grid(
    model: Autoencoder, paths: Tensor, path: str | Path, *, ends: tuple[Tensor, Tensor] | None = None
) -> Path:
    """Draw ``paths`` ``(N, steps, *input_shape)`` as a PNG, one path per row; returns the file.

    With ``ends=(a, b)`` each row starts with input ``a`` and ends with input ``b`` (the
    originals), framing their decoded path.
    """
    from ..evaluation.plots import _image_rows, _to_display

    rows = [paths[i] for i in range(len(paths))]
    if ends is not None:
        a, b = (x.reshape(len(paths), 1, *model.input_shape).to(paths.device) for x in ends)
        rows = [torch.cat([a[i], r, b[i]]) for i, r in enumerate(rows)]
    labels = [f"path {i}" for i in range(len(rows))]
    title = f"{model.architecture}: interpolation" + (" (inputs at the ends)" if ends is not None else "")
    return _image_rows([_to_display(model, r) for r in rows], path, labels, title)
