"""Building blocks shared by the zoo's MLP-based architectures: activations, inits, checks, stacks.

Every stack of linear layers in the zoo is built by :func:`linear_layers` (the MLP family's
``nn.ModuleList`` of ``nn.Linear``, whose activations it applies itself) or by :func:`mlp` (an
``nn.Sequential`` with the activation modules between, as the VAE and AAE use).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..core.errors import ConfigError, close_matches

__all__ = [
    "ACTIVATIONS",
    "ACTIVATION_MODULES",
    "INITS",
    "activation",
    "check_choice",
    "check_dims",
    "flat_size",
    "init_linear",
    "linear_layers",
    "mlp",
]


def _identity(x: Tensor) -> Tensor:
    return x


#: Activation names a config may use, and the function each stands for.
ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "relu": F.relu,
    "elu": F.elu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "linear": _identity,
}
ACTIVATION_MODULES: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "linear": nn.Identity,
}

#: Weight initialisations: PyTorch's own, He et al. (2015) for ReLU/ELU, Glorot & Bengio (2010).
INITS = ("default", "he", "xavier")


def activation(name: str) -> Callable[[Tensor], Tensor]:
    """The activation function called ``name`` (one of :data:`ACTIVATIONS`)."""
    return ACTIVATIONS[name]


def check_choice(owner: str, field: str, value: object, choices: Sequence[str]) -> None:
    """Raise :class:`ConfigError` unless ``value`` is one of ``choices``, suggesting the closest."""
    if value in choices:
        return
    near = close_matches(str(value), choices, n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    raise ConfigError(f"{owner}.{field} is {value!r}{hint}; choose one of {', '.join(map(repr, choices))}")


def check_dims(owner: str, field: str, dims: Sequence[int], *, min_len: int = 0) -> None:
    """Raise :class:`ConfigError` unless ``dims`` holds at least ``min_len`` positive integers."""
    if len(dims) < min_len or any(isinstance(d, bool) or not isinstance(d, int) or d <= 0 for d in dims):
        need = f"at least {min_len} " if min_len else ""
        raise ConfigError(f"{owner}.{field} must be {need}positive integer layer sizes, got {tuple(dims)!r}")


def flat_size(shape: Sequence[int]) -> int:
    """Number of features of one sample of ``shape`` once flattened."""
    return math.prod(int(d) for d in shape)


def init_linear(layer: nn.Linear, init: str) -> None:
    """Initialise ``layer`` in place; biases start at zero for the non-default schemes."""
    if init == "default":
        return
    if init == "he":
        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    elif init == "xavier":
        nn.init.xavier_uniform_(layer.weight)
    else:  # configs validate first; this guards direct calls
        raise ValueError(f"unknown init {init!r}; choose one of {INITS}")
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


def linear_layers(dims: Sequence[int], init: str = "default") -> nn.ModuleList:
    """``nn.Linear`` layers ``dims[0] -> dims[1] -> ... -> dims[-1]``, initialised with ``init``.

    All layers are built before any is initialised, so a seeded model draws its weights in the
    same order whatever the scheme.

    >>> [tuple(layer.weight.shape) for layer in linear_layers([784, 64, 8], init="xavier")]
    [(64, 784), (8, 64)]
    """
    layers = [nn.Linear(n_in, n_out) for n_in, n_out in itertools.pairwise(dims)]
    for layer in layers:
        init_linear(layer, init)
    return nn.ModuleList(layers)


def mlp(dims: Sequence[int], activation: str, last_activation: str = "linear", init: str = "default") -> nn.Sequential:
    """:func:`linear_layers` with ``activation`` between them and ``last_activation`` at the end."""
    modules: list[nn.Module] = []
    linears = linear_layers(dims, init)
    for i, linear in enumerate(linears):
        modules.append(linear)
        name = last_activation if i == len(linears) - 1 else activation
        if name != "linear":
            modules.append(ACTIVATION_MODULES[name]())
    return nn.Sequential(*modules)
