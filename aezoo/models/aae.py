"""The adversarial autoencoder of Makhzani et al.: a discriminator shapes the codes into a prior."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Mapping
from types import MappingProxyType

import torch
import torch.nn.functional as F
from torch import Tensor

from ..core.config import AEConfig
from ..core.errors import ConfigError
from ..io.pretrained import builtin_entries
from .base import Autoencoder, Capabilities, MakeOptimizer, reconstruction_error
from .layers import ACTIVATIONS, check_choice, check_dims, flat_size, mlp

__all__ = ["AAE", "AAEConfig"]

PRIORS = ("gaussian", "uniform")


@dataclasses.dataclass(frozen=True)
class AAEConfig(AEConfig):
    """Makhzani et al.'s (2016) MNIST AAE: two ReLU layers of 1000 units in every network."""

    latent_dim: int = 8  # size of the code (8 in the paper's MNIST likelihood experiment)
    hidden_dims: tuple[int, ...] = (1000, 1000)  # encoder hidden layer sizes; the decoder mirrors them
    disc_hidden_dims: tuple[int, ...] = (1000, 1000)  # discriminator hidden layer sizes
    activation: str = "relu"  # hidden layers of all three networks: relu | elu | sigmoid | tanh | linear
    output_activation: str = "sigmoid"  # the reconstruction
    prior: str = "gaussian"  # the code prior: gaussian N(0, scale^2 I) | uniform U(-scale, scale)
    prior_scale: float = 1.0  # std of the gaussian prior, half-width of the uniform one

    def validate(self) -> None:
        owner = type(self).__name__
        check_dims(owner, "latent_dim", (self.latent_dim,))
        check_dims(owner, "hidden_dims", self.hidden_dims)
        check_dims(owner, "disc_hidden_dims", self.disc_hidden_dims)
        check_choice(owner, "activation", self.activation, tuple(ACTIVATIONS))
        check_choice(owner, "output_activation", self.output_activation, tuple(ACTIVATIONS))
        check_choice(owner, "prior", self.prior, PRIORS)
        if not math.isfinite(self.prior_scale) or self.prior_scale <= 0:
            raise ConfigError(f"{owner}.prior_scale must be a finite number > 0, got {self.prior_scale!r}")


class AAE(Autoencoder):
    """Adversarial autoencoder: a discriminator on the codes matches them to a prior (Makhzani et al.).

    From A. Makhzani, J. Shlens, N. Jaitly, I. Goodfellow and B. Frey, "Adversarial
    Autoencoders", ICLR 2016 workshop. Each ``training_step`` has the paper's three phases:
    reconstruction (encoder + decoder, optimizer ``"ae"``), regularization of the discriminator
    (prior draws vs codes, ``"disc"``), and of the encoder as generator (fooling the
    discriminator, ``"gen"``). ``loss["loss"]`` is the reconstruction error, the quantity
    compared across models; the adversarial terms are reported beside it.

    >>> import aezoo, torch
    >>> aae = aezoo.create("aae", hidden_dims=[64], disc_hidden_dims=[32])
    >>> sorted(aae.configure_optimizers(lambda p: torch.optim.Adam(p, 1e-3)))
    ['ae', 'disc', 'gen']
    """

    architecture = "aae"
    pretrained = builtin_entries("aae")
    # Three optimizer steps per batch pull against each other: a lower peak and more, smaller steps
    # (Makhzani et al. use batches of 100). Against the tutorial recipe (BENCHMARKS.md), medians of
    # 5 seeds: 7 % better at 1 epoch, 9 % at 5 (one seed of five worse); 19 % at 20 in one seed.
    train_defaults = MappingProxyType({"lr": 1e-3, "batch_size": 64})
    config_class = AAEConfig
    capabilities = Capabilities(sample=True)
    config: AAEConfig

    def __init__(self, config: AAEConfig) -> None:
        super().__init__(config)
        n = flat_size(config.input_shape)
        hidden = list(config.hidden_dims)
        self.encoder = mlp([n, *hidden, config.latent_dim], config.activation)  # linear code
        self.decoder = mlp([config.latent_dim, *hidden[::-1], n], config.activation, config.output_activation)
        self.discriminator = mlp([config.latent_dim, *config.disc_hidden_dims, 1], config.activation)  # logits

    def _encode(self, x: Tensor) -> Tensor:
        return self.encoder(x.flatten(1))

    def _decode(self, z: Tensor) -> Tensor:
        return self.decoder(z).view(-1, *self.input_shape)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` draws from the code prior, shape ``(n, latent_dim)``."""
        shape = (n, self.latent_dim)
        if self.config.prior == "uniform":
            u = torch.rand(shape, generator=generator, device=self.device)
            return (2 * u - 1) * self.config.prior_scale
        return torch.randn(shape, generator=generator, device=self.device) * self.config.prior_scale

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` inputs decoded from prior draws."""
        return self._decode(self.sample_prior(n, generator))

    # ----------------------------------------------------------------- adversarial terms
    def _disc_loss(self, code: Tensor) -> Tensor:
        """Discriminator cross-entropy: prior draws are real (1), codes are fake (0)."""
        real = self.discriminator(self.sample_prior(len(code), self.generator).to(code.dtype))
        fake = self.discriminator(code)
        return F.binary_cross_entropy_with_logits(real, torch.ones_like(real)) + F.binary_cross_entropy_with_logits(
            fake, torch.zeros_like(fake)
        )

    def _gen_loss(self, code: Tensor) -> Tensor:
        """Encoder-as-generator cross-entropy: codes should pass for prior draws."""
        fake = self.discriminator(code)
        return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))

    def _loss(self, x: Tensor) -> dict[str, Tensor]:
        code = self._encode(x)
        rec = reconstruction_error(self._decode(code), x)
        return {"reconstruction": rec, "disc": self._disc_loss(code), "gen": self._gen_loss(code), "loss": rec}

    # ----------------------------------------------------------------- training
    def configure_optimizers(self, make: MakeOptimizer) -> dict[str, torch.optim.Optimizer]:
        """``ae``: encoder + decoder; ``disc``: discriminator; ``gen``: encoder."""
        return {
            "ae": make(itertools.chain(self.encoder.parameters(), self.decoder.parameters())),
            "disc": make(self.discriminator.parameters()),
            "gen": make(self.encoder.parameters()),
        }

    def training_step(self, x: Tensor, optimizers: Mapping[str, torch.optim.Optimizer]) -> dict[str, Tensor]:
        """The three phases of Makhzani et al. on batch ``x``; returns the detached terms."""
        self.check_input(x, finite=False)
        rec = self._step(optimizers["ae"], lambda: reconstruction_error(self._decode(self._encode(x)), x))
        disc = self._step(optimizers["disc"], lambda: self._disc_loss(self._encode(x).detach()))
        gen = self._step(optimizers["gen"], lambda: self._gen_loss(self._encode(x)))
        return {"reconstruction": rec, "disc": disc, "gen": gen, "loss": rec}

    def _step(self, optimizer: torch.optim.Optimizer, objective: Callable[[], Tensor]) -> Tensor:
        # Clear every gradient, not only this optimizer's: a phase must not see another's.
        self.zero_grad(set_to_none=True)
        value = objective()
        value.backward()
        optimizer.step()
        return value.detach()
