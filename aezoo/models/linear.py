"""The linear autoencoder: with MSE, its optimum spans the PCA subspace (Baldi & Hornik, 1989)."""

from __future__ import annotations

import dataclasses
import math
from types import MappingProxyType

from torch import Tensor, nn

from ..core.config import AEConfig
from ..io.pretrained import builtin_entries
from .base import Autoencoder, Capabilities

__all__ = ["LinearAE", "LinearConfig"]


@dataclasses.dataclass(frozen=True)
class LinearConfig(AEConfig):
    latent_dim: int = 2  # number of components, like PCA's
    bias: bool = True  # learn the data mean (PCA centres the data)


class LinearAE(Autoencoder):
    """Linear encoder and decoder trained with MSE: spans the PCA subspace."""

    architecture = "linear"
    pretrained = builtin_entries("linear")
    # a convex problem with its optimum at PCA: a peak of 1e-2 gets closer to it on every budget than
    # 3e-3, which ended 20 epochs behind the tutorial recipe (benchmarks/defaults.py)
    train_defaults = MappingProxyType({"lr": 1e-2})
    config_class = LinearConfig
    capabilities = Capabilities(stack=True)
    config: LinearConfig

    def __init__(self, config: LinearConfig) -> None:
        super().__init__(config)
        n = math.prod(config.input_shape)
        self.encoder = nn.Linear(n, config.latent_dim, bias=config.bias)
        self.decoder = nn.Linear(config.latent_dim, n, bias=config.bias)

    def _encode(self, x: Tensor) -> Tensor:
        return self.encoder(x.flatten(1))

    def _decode(self, z: Tensor) -> Tensor:
        return self.decoder(z).view(-1, *self.input_shape)
