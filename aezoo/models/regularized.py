"""Regularized autoencoders: the denoising AE (Vincent et al.) and the sparse AE (Ng).

Both are the generic MLP of :mod:`aezoo.models.mlp` with something added to the loss, so they
accept any ``dims`` and keep its module layout (the layer-wise engine stacks them too).
"""

from __future__ import annotations

import dataclasses
import math
from types import MappingProxyType
from typing import Any

import torch
from torch import Tensor

from ..core.errors import ConfigError
from ..io.pretrained import builtin_entries
from .base import Capabilities, StageSpec, psnr
from .layers import check_choice
from .mlp import MLPAutoencoder, MLPConfig
from .noise import NOISES, corrupt

__all__ = ["DenoisingAE", "DenoisingConfig", "SparseAE", "SparseConfig", "psnr"]

PENALTIES = ("kl", "l1")


@dataclasses.dataclass(frozen=True)
class DenoisingConfig(MLPConfig):
    """Vincent et al.'s (2008) denoising autoencoder: one sigmoid layer, tied weights, masking noise.

    The fields of :class:`~aezoo.models.mlp.MLPConfig` with the defaults it changes, and its noise.
    """

    dims: tuple[int, ...] = (784, 500)  # one layer of 500 hidden units
    activation: str = "sigmoid"  # sigmoid units
    code_activation: str = "sigmoid"  # sigmoid code
    tied: bool = True  # tied weights, as in the paper
    init: str = "xavier"  # Glorot & Bengio (2010)
    noise: str = "masking"  # corruption: masking (zero a random fraction) | gaussian (add N(0, level^2))
    noise_level: float = 0.25  # fraction of inputs zeroed (masking) or noise std (gaussian)

    def validate(self) -> None:
        super().validate()
        owner = type(self).__name__
        check_choice(owner, "noise", self.noise, NOISES)
        if not math.isfinite(self.noise_level) or self.noise_level < 0:
            raise ConfigError(f"{owner}.noise_level must be a finite number >= 0, got {self.noise_level!r}")
        if self.noise == "masking" and self.noise_level >= 1:
            raise ConfigError(
                f"{owner}.noise_level is {self.noise_level!r}, but masking noise zeroes that fraction of the "
                "inputs, so it must be below 1; Vincent et al. use 0.1 to 0.5"
            )


class DenoisingAE(MLPAutoencoder):
    """Denoising autoencoder: reconstructs clean inputs from corrupted ones (Vincent et al.).

    From P. Vincent, H. Larochelle, Y. Bengio and P.-A. Manzagol, "Extracting and Composing
    Robust Features with Denoising Autoencoders", ICML 2008 (25 % masking noise, tied sigmoid
    layer), and Vincent et al., "Stacked Denoising Autoencoders", JMLR 11 (2010). The input is
    corrupted inside ``loss`` in training mode only; ``forward`` never corrupts.

    >>> import aezoo, torch
    >>> model = aezoo.create("denoising")
    >>> noisy = model.corrupt(torch.rand(4, 1, 28, 28))
    >>> model(noisy).reconstruction.shape
    torch.Size([4, 1, 28, 28])
    """

    architecture = "denoising"
    pretrained = builtin_entries("denoising")
    # a higher peak than the 3e-3 default, so that short runs beat the tutorial recipe (benchmarks/defaults.py)
    train_defaults = MappingProxyType({"lr": 5e-3})
    config_class = DenoisingConfig
    config: DenoisingConfig
    capabilities = Capabilities(corrupt=True, stage=True)

    @classmethod
    def _stage_fields(cls, spec: StageSpec) -> dict[str, Any]:
        return {"noise": "masking", "noise_level": spec.noise}

    def corrupt(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``x`` with this model's noise applied (masking or additive Gaussian)."""
        self.check_input(x)
        return self._corrupt(x, generator)

    def _corrupt(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return corrupt(x, self.config.noise, self.config.noise_level, generator)

    def _loss(self, x: Tensor) -> dict[str, Tensor]:
        source = self._corrupt(x, self.generator) if self.training else x
        rec = self._reconstruction_loss(self._encode(source), x)
        return self._with_penalty({"reconstruction": rec}, rec)

    def evaluation_metrics(self, x: Tensor, **options: Any) -> dict[str, Tensor]:
        """Per-sample PSNR (dB, peak ``data_range``, default 1) of the noisy and the denoised input.

        The noise is this model's own, drawn from a generator seeded with ``seed`` (default 0).
        """
        self.check_input(x)
        generator = torch.Generator(device=x.device).manual_seed(int(options.get("seed", 0)))
        data_range = float(options.get("data_range", 1.0))
        with torch.no_grad():
            noisy = self._corrupt(x, generator)
            denoised = self._decode(self._encode(noisy))
        return {"psnr_noisy": psnr(noisy, x, data_range), "psnr_denoised": psnr(denoised, x, data_range)}


@dataclasses.dataclass(frozen=True)
class SparseConfig(MLPConfig):
    """Ng's sparse autoencoder (CS294A notes; the UFLDL MNIST exercise's 784-196 sizes).

    The fields of :class:`~aezoo.models.mlp.MLPConfig` with the defaults it changes, and its penalty.
    """

    dims: tuple[int, ...] = (784, 196)  # the UFLDL exercise's sizes
    activation: str = "sigmoid"  # sigmoid units
    code_activation: str = "sigmoid"  # sigmoid code: kl needs it
    init: str = "xavier"  # Glorot & Bengio (2010)
    penalty: str = "kl"  # sparsity on the code: kl (to target rho) | l1 (mean absolute activation)
    rho: float = 0.1  # target mean activation of each code unit (kl)
    beta: float = 3.0  # weight of the sparsity term

    def validate(self) -> None:
        super().validate()
        owner = type(self).__name__
        check_choice(owner, "penalty", self.penalty, PENALTIES)
        if not math.isfinite(self.beta) or self.beta < 0:
            raise ConfigError(f"{owner}.beta must be a finite number >= 0, got {self.beta!r}")
        if self.penalty == "kl":
            if not 0 < self.rho < 1:
                raise ConfigError(f"{owner}.rho is the target mean activation, in (0, 1); got {self.rho!r}")
            if self.code_activation != "sigmoid":
                raise ConfigError(
                    f"{owner}.penalty='kl' treats code activations as probabilities, so it needs "
                    f"code_activation='sigmoid', got {self.code_activation!r}; set code_activation='sigmoid' "
                    "or use penalty='l1'"
                )


class SparseAE(MLPAutoencoder):
    """Sparse autoencoder: a KL (to a target activation rho) or L1 penalty on the code (Ng).

    From A. Ng, "Sparse autoencoder", CS294A lecture notes (Stanford, 2011): the penalty is
    ``beta * KL(rho || rho_hat_j)`` with ``rho_hat_j`` the batch-mean activation of code unit
    ``j``. aezoo averages it over the code units (Ng sums), which keeps it on the scale of the
    per-pixel mean squared error. ``penalty="l1"`` uses ``beta * mean |h|`` instead.

    >>> import aezoo, torch
    >>> sorted(aezoo.create("sparse").loss(torch.rand(4, 1, 28, 28)))
    ['loss', 'reconstruction', 'sparsity']
    """

    architecture = "sparse"
    pretrained = builtin_entries("sparse")
    # a higher peak than the 3e-3 default, so that short runs beat the tutorial recipe (benchmarks/defaults.py)
    train_defaults = MappingProxyType({"lr": 5e-3})
    config_class = SparseConfig
    config: SparseConfig

    @classmethod
    def _stage_fields(cls, spec: StageSpec) -> dict[str, Any]:
        # KL needs probabilities: sigmoid hidden units; any other unit gets the L1 penalty.
        penalty = "kl" if spec.activation == "sigmoid" else "l1"
        return {"penalty": penalty, "rho": spec.sparsity, "beta": spec.sparsity_weight}

    def sparsity(self, code: Tensor) -> Tensor:
        """The sparsity penalty (already weighted by ``beta``) of a batch of codes."""
        cfg = self.config
        if cfg.penalty == "l1":
            return cfg.beta * code.abs().mean()
        rho_hat = code.float().mean(0).clamp(1e-6, 1 - 1e-6)
        rho = cfg.rho
        kl = rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))
        return cfg.beta * kl.mean()

    def _loss(self, x: Tensor) -> dict[str, Tensor]:
        code = self._encode(x)
        rec = self._reconstruction_loss(code, x)
        sparse = self.sparsity(code)
        return self._with_penalty({"reconstruction": rec, "sparsity": sparse}, rec + sparse)
