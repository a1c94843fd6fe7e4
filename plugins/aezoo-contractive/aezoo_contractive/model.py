"""The contractive autoencoder: reconstruction + lambda * ||J_f(x)||_F^2 (Rifai et al., ICML 2011).

The penalty is the squared Frobenius norm of the encoder's Jacobian at each input. For one
sigmoid layer h = sigmoid(W x + b), dh_j/dx_i = h_j (1 - h_j) W_ji, so the norm has the closed
form sum_j (h_j (1 - h_j))^2 sum_i W_ji^2: no autograd through the Jacobian, one matrix product.

Written against aezoo's public API only (aezoo.Autoencoder, aezoo.AEConfig, aezoo.manifest_entries,
aezoo.ConfigError), as every plugin should be.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import aezoo

__all__ = ["ContractiveAE", "ContractiveConfig", "contraction_penalty"]


@dataclasses.dataclass(frozen=True)
class ContractiveConfig(aezoo.AEConfig):
    latent_dim: int = 64  # sigmoid code units
    contraction: float = 0.01  # lambda: weight of ||J_f(x)||_F^2 (per sample) against the per-element MSE
    tied: bool = False  # decode with the encoder's weights transposed (Rifai et al. tie them)
    output_activation: str = "sigmoid"  # sigmoid (inputs in [0, 1]) or linear

    def validate(self) -> None:
        if self.latent_dim <= 0:
            raise aezoo.ConfigError(f"latent_dim must be positive, got {self.latent_dim!r}")
        if self.contraction < 0:
            raise aezoo.ConfigError(f"contraction must be >= 0, got {self.contraction!r}")
        if self.output_activation not in ("sigmoid", "linear"):
            raise aezoo.ConfigError(f"output_activation must be 'sigmoid' or 'linear', got {self.output_activation!r}")


def contraction_penalty(code: Tensor, weight: Tensor) -> Tensor:
    """||J_f(x)||_F^2 per sample for ``code = sigmoid(x @ weight.T + b)``; shape ``(N,)``.

    >>> w = torch.randn(3, 5); h = torch.sigmoid(torch.randn(2, 3))
    >>> contraction_penalty(h, w).shape
    torch.Size([2])
    """
    return (code * (1 - code)).pow(2) @ weight.pow(2).sum(dim=1)


# The pretrained entries ship inside this package's wheel (aezoo_contractive/pretrained.json, package
# data): `aezoo release --weights weights --manifest aezoo_contractive/pretrained.json --org aezoo-contrib
# --package aezoo-contractive` publishes weights/contractive-mnist/ to the Hub and pins the commit there.
# The entry pins the sha256 of the weights, the config and the preprocessing; see the README.
PRETRAINED = aezoo.manifest_entries("aezoo_contractive", "contractive")


class ContractiveAE(aezoo.Autoencoder):
    """Contractive autoencoder (Rifai et al., ICML 2011): MSE + lambda ||J_f(x)||_F^2, sigmoid encoder.

    >>> import aezoo
    >>> model = aezoo.create("contractive", latent_dim=8)
    >>> sorted(model.loss(torch.rand(4, 1, 28, 28)))
    ['contraction', 'loss', 'reconstruction']
    """

    architecture = "contractive"
    config_class = ContractiveConfig
    api_version = 1  # the aezoo plugin API this class is written for
    pretrained = PRETRAINED
    capabilities = aezoo.Capabilities(stage=True)  # a layer of aezoo's layer-wise pretraining
    config: ContractiveConfig

    def __init__(self, config: ContractiveConfig) -> None:
        super().__init__(config)
        n = math.prod(config.input_shape)
        self.encoder = nn.Linear(n, config.latent_dim)
        if config.tied:
            self.decoder_bias = nn.Parameter(torch.zeros(n))
        else:
            self.decoder = nn.Linear(config.latent_dim, n)

    def _encode(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.encoder(x.flatten(1)))

    def _decode(self, z: Tensor) -> Tensor:
        y = F.linear(z, self.encoder.weight.t(), self.decoder_bias) if self.config.tied else self.decoder(z)
        if self.config.output_activation == "sigmoid":
            y = torch.sigmoid(y)
        return y.view(-1, *self.input_shape)

    def _loss(self, x: Tensor) -> dict[str, Tensor]:
        code = self._encode(x)
        recon = self._decode(code)
        reconstruction = F.mse_loss(recon.float(), x.float())
        contraction = contraction_penalty(code, self.encoder.weight).mean()
        total = reconstruction + self.config.contraction * contraction
        return {"loss": total, "reconstruction": reconstruction, "contraction": contraction}

    # ----------------------------------------------------------------- layer-wise stage
    @classmethod
    def as_stage(cls, spec: aezoo.StageSpec) -> ContractiveAE:
        """One sigmoid layer ``in_dim -> code_dim``, as a stage of ``aezoo.pretrain(kind="contractive")``.

        Rifai et al. stack contractive layers this way; the penalty's closed form needs sigmoid
        code units. The loss stays the mean squared error (``spec.loss`` is not used).
        """
        if spec.activation != "sigmoid" or spec.output_activation not in ("sigmoid", "linear"):
            raise aezoo.ConfigError(
                f"a contractive stage has sigmoid code units and a sigmoid or linear output, but this layer "
                f"asks for {spec.activation!r} units and a {spec.output_activation!r} output; use another kind "
                "for it (e.g. kind=('contractive', 'plain') when the code layer is linear)"
            )
        fields = {
            "input_shape": (spec.in_dim,),
            "latent_dim": spec.code_dim,
            "output_activation": spec.output_activation,
        }
        stage = cls.from_config(None, **{**fields, **spec.options})
        assert isinstance(stage, ContractiveAE)
        return stage

    def stage_weights(self) -> aezoo.StageWeights:
        """The encoder and the decoder (the encoder transposed when tied) as linear maps."""
        if self.config.tied:
            return aezoo.StageWeights(
                self.encoder.weight, self.encoder.bias, self.encoder.weight.t(), self.decoder_bias, True
            )
        return aezoo.StageWeights(self.encoder.weight, self.encoder.bias, self.decoder.weight, self.decoder.bias, False)

    def evaluation_metrics(self, x: Tensor, **options: object) -> dict[str, Tensor]:
        """Adds ``jacobian_frobenius``: ||J_f(x)||_F per sample (lower = more contractive)."""
        self.check_input(x)
        return {"jacobian_frobenius": contraction_penalty(self._encode(x), self.encoder.weight).sqrt()}
