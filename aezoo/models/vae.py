"""The variational autoencoder of Kingma & Welling, with Burda et al.'s importance-sampled likelihood."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..core.config import AEConfig
from ..core.errors import ConfigError
from ..io.pretrained import builtin_entries
from .base import AEOutput, Autoencoder, Capabilities
from .layers import ACTIVATIONS, check_choice, check_dims, flat_size, mlp

__all__ = ["VAE", "VAEConfig", "VAEOutput"]

_LOG_2PI = math.log(2 * math.pi)


@dataclasses.dataclass(frozen=True)
class VAEConfig(AEConfig):
    """Kingma & Welling's (2014) MNIST VAE: one tanh layer of 500 units each way."""

    latent_dim: int = 20  # size of z (the paper tries 2 to 200)
    hidden_dims: tuple[int, ...] = (500,)  # encoder hidden layer sizes; the decoder mirrors them
    activation: str = "tanh"  # hidden layers: relu | elu | sigmoid | tanh | linear
    beta: float = 1.0  # weight of the KL term in the loss (1 = the ELBO; >1 is Higgins et al.'s beta-VAE)
    binarize: bool = False  # dynamically binarise inputs, x ~ Bernoulli(pixel), in the loss and the metrics

    def validate(self) -> None:
        owner = type(self).__name__
        check_dims(owner, "latent_dim", (self.latent_dim,))
        check_dims(owner, "hidden_dims", self.hidden_dims)
        check_choice(owner, "activation", self.activation, tuple(ACTIVATIONS))
        if not math.isfinite(self.beta) or self.beta < 0:
            raise ConfigError(f"{owner}.beta must be a finite number >= 0 (1 for the ELBO), got {self.beta!r}")


@dataclasses.dataclass
class VAEOutput(AEOutput):
    """``AEOutput`` plus the Gaussian posterior's parameters."""

    mean: Tensor  # (N, latent_dim) posterior mean
    logvar: Tensor  # (N, latent_dim) posterior log-variance


class VAE(Autoencoder):
    """Variational autoencoder: Gaussian encoder, Bernoulli decoder, ELBO loss (Kingma & Welling).

    From D. P. Kingma and M. Welling, "Auto-Encoding Variational Bayes", ICLR 2014. The loss is
    the negative ELBO in nats per sample (Bernoulli cross-entropy summed over pixels, plus the
    analytic KL), averaged over the batch, so inputs should lie in [0, 1]. ``encode`` returns the
    posterior mean; ``forward`` samples the code in training mode and uses the mean otherwise.
    ``log_likelihood`` is the importance-weighted estimate of Burda, Grosse and Salakhutdinov,
    "Importance Weighted Autoencoders", ICLR 2016.

    >>> import aezoo, torch
    >>> vae = aezoo.create("vae", latent_dim=8)
    >>> vae.sample(4).shape
    torch.Size([4, 1, 28, 28])
    """

    architecture = "vae"
    pretrained = builtin_entries("vae")
    config_class = VAEConfig
    capabilities = Capabilities(sample=True)
    config: VAEConfig

    def __init__(self, config: VAEConfig) -> None:
        super().__init__(config)
        n = flat_size(config.input_shape)
        hidden = list(config.hidden_dims)
        body_out = hidden[-1] if hidden else n
        self.encoder = mlp([n, *hidden], config.activation, last_activation=config.activation)
        self.mean_head = nn.Linear(body_out, config.latent_dim)
        self.logvar_head = nn.Linear(body_out, config.latent_dim)
        self.decoder = mlp([config.latent_dim, *hidden[::-1], n], config.activation)  # Bernoulli logits

    # ----------------------------------------------------------------- pieces
    def _posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.encoder(x.flatten(1))
        return self.mean_head(h), self.logvar_head(h)

    def _log_px(self, logits: Tensor, x_flat: Tensor) -> Tensor:
        """Bernoulli log-likelihood summed over pixels (last dim)."""
        return -F.binary_cross_entropy_with_logits(logits, x_flat, reduction="none").sum(-1)

    @staticmethod
    def _kl(mean: Tensor, logvar: Tensor) -> Tensor:
        """KL(q(z|x) || N(0, I)) per sample, in closed form."""
        return -0.5 * (1 + logvar - mean.pow(2) - logvar.exp()).sum(-1)

    @staticmethod
    def _reparameterize(mean: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
        eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return mean + torch.exp(0.5 * logvar) * eps

    # ----------------------------------------------------------------- the contract
    def _encode(self, x: Tensor) -> Tensor:
        return self._posterior(x)[0]

    def _decode(self, z: Tensor) -> Tensor:
        return torch.sigmoid(self.decoder(z)).view(-1, *self.input_shape)

    def _forward(self, x: Tensor) -> VAEOutput:
        mean, logvar = self._posterior(x)
        z = self._reparameterize(mean, logvar, self.generator) if self.training else mean
        return VAEOutput(reconstruction=self._decode(z), latent=z, mean=mean, logvar=logvar)

    def _terms(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Per-sample reconstruction cost ``-log p(x|z)`` (one z) and KL, in nats."""
        mean, logvar = self._posterior(x)
        z = self._reparameterize(mean, logvar, generator)
        rec = -self._log_px(self.decoder(z), x.flatten(1))
        return rec, self._kl(mean, logvar)

    def _binarized(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """A fresh binary draw of ``x`` when ``binarize`` is set (Burda et al.'s dynamic binarisation)."""
        return torch.bernoulli(x.clamp(0, 1), generator=generator) if self.config.binarize else x

    def _loss(self, x: Tensor) -> dict[str, Tensor]:
        rec, kl = self._terms(self._binarized(x, self.generator), self.generator)
        rec, kl = rec.mean(), kl.mean()
        return {"reconstruction": rec, "kl": kl, "loss": rec + self.config.beta * kl}

    # ----------------------------------------------------------------- generative API
    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` draws ``z ~ N(0, I)`` from the prior, shape ``(n, latent_dim)``."""
        return torch.randn(n, self.latent_dim, generator=generator, device=self.device)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` images decoded from prior draws ``z ~ N(0, I)`` (Bernoulli means, in [0, 1])."""
        return self._decode(self.sample_prior(n, generator))

    @torch.no_grad()
    def elbo(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Per-sample evidence lower bound on ``log p(x)`` in nats (one-sample estimate, beta=1)."""
        self.check_input(x)
        rec, kl = self._terms(x, generator)
        return -(rec + kl)

    @torch.no_grad()
    def log_likelihood(
        self,
        x: Tensor,
        num_samples: int = 1000,
        *,
        generator: torch.Generator | None = None,
        max_elements: int = 1 << 22,
    ) -> Tensor:
        """Per-sample importance-sampled estimate of ``log p(x)`` in nats (Burda et al., 2016).

        ``log p(x) ~ logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log K`` with
        ``z_k ~ q(z|x)``. Work is chunked so that no decoder batch exceeds ``max_elements``
        output values. With ``num_samples=1`` this is an ELBO estimate; it grows towards
        ``log p(x)`` with more samples.
        """
        self.check_input(x)
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples!r}")
        x_flat = x.flatten(1)
        d_out = x_flat.shape[1]
        rows = max(1, min(len(x), max_elements // d_out))
        out = []
        for start in range(0, len(x), rows):
            xb = x_flat[start : start + rows]
            mean, logvar = self._posterior(xb)
            std = torch.exp(0.5 * logvar)
            chunk = max(1, min(num_samples, max_elements // (len(xb) * d_out)))
            partial = []
            for k0 in range(0, num_samples, chunk):
                k = min(chunk, num_samples - k0)
                eps = torch.randn((len(xb), k, self.latent_dim), generator=generator, device=x.device, dtype=mean.dtype)
                z = mean[:, None] + std[:, None] * eps
                logits = self.decoder(z.reshape(-1, self.latent_dim)).view(len(xb), k, d_out)
                log_px = self._log_px(logits, xb[:, None].expand(-1, k, -1))
                log_pz = -0.5 * (z.pow(2) + _LOG_2PI).sum(-1)
                log_qz = -0.5 * (eps.pow(2) + logvar[:, None] + _LOG_2PI).sum(-1)
                partial.append(torch.logsumexp(log_px + log_pz - log_qz, dim=1))
            out.append(torch.logsumexp(torch.stack(partial, 1), dim=1) - math.log(num_samples))
        return torch.cat(out)

    def evaluation_metrics(self, x: Tensor, nll_samples: int = 0, **options: Any) -> dict[str, Tensor]:
        """Per-sample ``neg_elbo`` (nats) and, when ``nll_samples > 0``, the IWAE ``nll`` (nats).

        Draws come from a generator seeded with ``seed`` (default 0), so results repeat.
        """
        generator = torch.Generator(device=x.device).manual_seed(int(options.get("seed", 0)))
        x = self._binarized(x, generator)  # the same binary test set for every evaluation with this seed
        metrics = {"neg_elbo": -self.elbo(x, generator)}
        if nll_samples > 0:
            metrics["nll"] = -self.log_likelihood(x, nll_samples, generator=generator)
        return metrics
