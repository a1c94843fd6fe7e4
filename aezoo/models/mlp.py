"""The fully connected autoencoders: one generic deep MLP, and the classic texts' defaults.

* ``mlp`` — the shallow 784-32-784 autoencoder of the Keras blog (Chollet, "Building
  Autoencoders in Keras", 2016): ReLU code, sigmoid output.
* ``stacked`` — Géron, *Hands-On Machine Learning with Scikit-Learn and TensorFlow* (2017),
  ch. 15: 784-300-150-300-784, ELU, He initialisation, L2 weight penalty 1e-4, linear output.
* ``tied`` — the same with tied weights (decoder weight = encoder weight transposed).
* ``deep`` — Hinton & Salakhutdinov, "Reducing the Dimensionality of Data with Neural
  Networks", Science 313 (2006): 784-1000-500-250-30, logistic hidden units, linear code.

Module layout (:meth:`MLPAutoencoder.from_stages` fills it from layer-wise stages): ``encoder`` is an
``nn.ModuleList`` of ``nn.Linear`` with ``encoder[i]: dims[i] -> dims[i+1]``. Untied models have
``decoder: nn.ModuleList`` with ``decoder[j]: dims[-1-j] -> dims[-2-j]``; tied models have
``decoder_bias: nn.ParameterList`` in that order and use ``encoder[L-1-j].weight.t()`` as weights.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..core.config import AEConfig
from ..core.errors import ConfigError
from ..core.seeding import seeded
from ..io.pretrained import builtin_entries
from .base import Autoencoder, Capabilities, StageSpec, StageWeights, reconstruction_error
from .layers import ACTIVATIONS, INITS, activation, check_choice, check_dims, flat_size, linear_layers

__all__ = [
    "MLPAE",
    "DeepAE",
    "DeepConfig",
    "MLPAutoencoder",
    "MLPConfig",
    "StackedAE",
    "StackedConfig",
    "TiedAE",
    "TiedConfig",
]


@dataclasses.dataclass(frozen=True)
class MLPConfig(AEConfig):
    """A deep MLP autoencoder ``dims[0] -> ... -> dims[-1] -> ... -> dims[0]``."""

    dims: tuple[int, ...] = (784, 32)  # encoder layer sizes, from the flattened input to the code
    activation: str = "relu"  # hidden layers: relu | elu | sigmoid | tanh | linear
    code_activation: str = "relu"  # the code layer (last encoder layer)
    output_activation: str = "sigmoid"  # the reconstruction (last decoder layer)
    tied: bool = False  # decoder weights are the encoder's transposed (decoder keeps its biases)
    l2: float = 0.0  # weight penalty l2/2 * sum(w**2) over all weights, as a loss term "l2"
    init: str = "default"  # weight init: default (PyTorch) | he | xavier
    loss: str = "mse"  # reconstruction loss: mse | bce (cross-entropy on the logits; needs a sigmoid output)

    @property
    def latent_dim(self) -> int:
        return int(self.dims[-1])

    @classmethod
    def resolve_aliases(cls, data: dict[str, Any]) -> dict[str, Any]:
        """``latent_dim=k`` (the knob other architectures have) sets the code size, the last entry of ``dims``.

        >>> MLPConfig.resolve_aliases({"latent_dim": 8})["dims"]
        [784, 8]
        """
        if "latent_dim" in data:
            size = data.pop("latent_dim")
            dims = list(data.get("dims") or cls.dims)  # the class attribute is the field's default
            data["dims"] = [*dims[:-1], size]
        return data

    def validate(self) -> None:
        owner = type(self).__name__
        check_dims(owner, "dims", self.dims, min_len=2)
        n = flat_size(self.input_shape)
        if self.dims[0] != n:
            raise ConfigError(
                f"{owner}.dims starts with {self.dims[0]} but input_shape {tuple(self.input_shape)!r} has {n} "
                "features; dims must start with the flattened input size, "
                f"e.g. dims=({n}, {', '.join(map(str, self.dims[1:]))})"
            )
        for field in ("activation", "code_activation", "output_activation"):
            check_choice(owner, field, getattr(self, field), tuple(ACTIVATIONS))
        check_choice(owner, "init", self.init, INITS)
        check_choice(owner, "loss", self.loss, ("mse", "bce"))
        if self.loss == "bce" and self.output_activation != "sigmoid":
            raise ConfigError(
                f"{owner}.loss='bce' reads the outputs as pixel probabilities and needs output_activation='sigmoid', "
                f"got {self.output_activation!r}; use loss='mse' for other outputs"
            )
        if not (math.isfinite(self.l2) and self.l2 >= 0):
            raise ConfigError(f"{owner}.l2 must be a finite number >= 0 (0 turns the penalty off), got {self.l2!r}")


@dataclasses.dataclass(frozen=True)
class StackedConfig(MLPConfig):
    """Géron's stacked autoencoder (Hands-On ML, 2017, ch. 15); only the defaults it changes."""

    dims: tuple[int, ...] = (784, 300, 150)  # 784-300-150-300-784
    activation: str = "elu"  # ELU hidden layers
    code_activation: str = "elu"  # and code
    output_activation: str = "linear"  # a linear reconstruction
    l2: float = 1e-4  # his L2 weight penalty
    init: str = "he"  # He initialisation, for ELU


@dataclasses.dataclass(frozen=True)
class TiedConfig(StackedConfig):
    """Géron's stacked autoencoder with tied weights."""

    tied: bool = True  # always: the architecture ties its weights by definition

    def validate(self) -> None:
        super().validate()
        if not self.tied:
            raise ConfigError(
                "TiedConfig.tied is False, but the 'tied' architecture ties its weights by definition; "
                "use the 'stacked' architecture for untied weights"
            )


@dataclasses.dataclass(frozen=True)
class DeepConfig(MLPConfig):
    """Hinton & Salakhutdinov's (2006) deep autoencoder for MNIST; only the defaults it changes."""

    dims: tuple[int, ...] = (784, 1000, 500, 250, 30)  # the paper's MNIST sizes
    activation: str = "sigmoid"  # logistic hidden units
    code_activation: str = "linear"  # a linear code layer
    init: str = "xavier"  # Glorot & Bengio (2010), in place of their RBM pretraining (that is aezoo.pretrain)
    loss: str = "bce"  # cross-entropy, the error the 2006 paper fine-tunes MNIST with


class MLPAutoencoder(Autoencoder):
    """Generic deep MLP autoencoder; the registered architectures differ only in their config.

    Every one of them can be a layer-wise stage (:meth:`as_stage`), and :meth:`from_stages`
    stacks trained stages (of any architecture that declares ``capabilities.stage``) into one.
    """

    config_class = MLPConfig
    config: MLPConfig
    capabilities = Capabilities(stage=True, stack=True)
    #: Config fields of a stage of this architecture (the rest comes from the StageSpec):
    #: Glorot init with zero biases and no weight penalty, as in Bengio et al. (2007).
    stage_config: ClassVar[Mapping[str, Any]] = {"init": "xavier", "l2": 0.0, "tied": False}

    @classmethod
    def as_stage(cls, spec: StageSpec) -> MLPAutoencoder:
        """A one-hidden-layer ``in_dim -> code_dim -> in_dim`` model of this architecture.

        >>> from aezoo.models.base import StageSpec
        >>> MLPAE.as_stage(StageSpec(in_dim=784, code_dim=32)).config.dims
        (784, 32)
        """
        fields = {
            **cls.stage_config,
            "input_shape": (spec.in_dim,),
            "dims": (spec.in_dim, spec.code_dim),
            "activation": spec.activation,
            "code_activation": spec.activation,
            "output_activation": spec.output_activation,
            "loss": spec.loss,
            **cls._stage_fields(spec),
            **spec.options,
        }
        return cast("MLPAutoencoder", cls.from_config(**fields))

    @classmethod
    def _stage_fields(cls, spec: StageSpec) -> dict[str, Any]:
        """Config fields this architecture takes from the spec's shared knobs (noise, sparsity)."""
        return {}

    def stage_weights(self) -> StageWeights:
        """The one encoder and decoder layer of a one-hidden-layer model."""
        if self.num_layers != 1:
            raise ConfigError(f"stage_weights needs a one-hidden-layer model, this one has dims={self.config.dims!r}")
        weight, bias = self.decoder_params(0)
        encoder = cast(nn.Linear, self.encoder[0])
        return StageWeights(encoder.weight, encoder.bias, weight, bias, bool(self.config.tied))

    @classmethod
    def from_stages(
        cls,
        stages: Sequence[StageWeights],
        *,
        input_shape: Sequence[int],
        init: str = "decoder",
        **config: Any,
    ) -> MLPAutoencoder:
        """Stack trained stages: ``encoder[i]`` from stage ``i``, ``decoder[L-1-i]`` from its decoder.

        ``init="transpose"`` takes each decoder weight from the stage's encoder transposed (its
        decoder bias kept). The model is tied when every stage is, and then keeps the biases.
        ``config`` sets the other fields (activations); ``dims`` follow from the stages.

        >>> import torch
        >>> from aezoo.models.base import StageWeights
        >>> w = StageWeights(torch.ones(2, 4), torch.zeros(2), torch.ones(4, 2), torch.zeros(4), False)
        >>> DeepAE.from_stages([w], input_shape=(4,)).config.dims
        (4, 2)
        """
        check_choice(cls.__name__, "from_stages init", init, ("decoder", "transpose"))
        if not stages:
            raise ConfigError("from_stages needs at least one trained stage")
        dims = (stages[0].encoder_weight.shape[1], *(s.encoder_weight.shape[0] for s in stages))
        tied = all(s.tied for s in stages)
        with seeded(0):  # every weight is overwritten below; don't advance torch's global generator
            model = cast(
                "MLPAutoencoder", cls.from_config(input_shape=tuple(input_shape), dims=dims, tied=tied, **config)
            )
        model.to(stages[0].encoder_weight.device)
        L = len(stages)
        with torch.no_grad():
            for i, stage in enumerate(stages):
                j = L - 1 - i
                if stage.encoder_weight.shape[1] != dims[i]:
                    n_in = stage.encoder_weight.shape[1]
                    raise ConfigError(f"stage {i + 1} takes {n_in} inputs but stage {i} makes {dims[i]} codes")
                encoder = cast(nn.Linear, model.encoder[i])
                encoder.weight.copy_(stage.encoder_weight)
                encoder.bias.copy_(stage.encoder_bias)
                weight = stage.encoder_weight.t() if init == "transpose" else stage.decoder_weight
                if tied:
                    model.decoder_bias[j].copy_(stage.decoder_bias)
                else:
                    decoder = cast(nn.Linear, model.decoder[j])
                    decoder.weight.copy_(weight)
                    decoder.bias.copy_(stage.decoder_bias)
        return model

    def __init__(self, config: MLPConfig) -> None:
        super().__init__(config)
        self.encoder = linear_layers(config.dims, config.init)
        if config.tied:
            self.decoder_bias = nn.ParameterList(nn.Parameter(torch.zeros(b)) for b in config.dims[::-1][1:])
        else:
            self.decoder = linear_layers(config.dims[::-1], config.init)

    @property
    def num_layers(self) -> int:
        """Number of encoder layers (= decoder layers)."""
        return len(self.config.dims) - 1

    def encoder_activation(self, i: int) -> Callable[[Tensor], Tensor]:
        """The activation after ``encoder[i]``: hidden, or the code's for the last layer."""
        last = i % self.num_layers == self.num_layers - 1
        return activation(self.config.code_activation if last else self.config.activation)

    def decoder_activation(self, j: int) -> Callable[[Tensor], Tensor]:
        """The activation after decoder layer ``j``: hidden, or the output's for the last layer."""
        last = j % self.num_layers == self.num_layers - 1
        return activation(self.config.output_activation if last else self.config.activation)

    def decoder_params(self, j: int) -> tuple[Tensor, Tensor]:
        """``(weight, bias)`` of decoder layer ``j`` (``dims[-1-j] -> dims[-2-j]``), tied or not."""
        if self.config.tied:
            return cast(nn.Linear, self.encoder[self.num_layers - 1 - j]).weight.t(), self.decoder_bias[j]
        layer = cast(nn.Linear, self.decoder[j])
        return layer.weight, layer.bias

    def _encode(self, x: Tensor) -> Tensor:
        h = x.flatten(1)
        for i, layer in enumerate(self.encoder):
            h = self.encoder_activation(i)(layer(h))
        return h

    def _decode_logits(self, z: Tensor) -> Tensor:
        """The decoder up to the output layer's pre-activation, flattened."""
        h = z
        for j in range(self.num_layers):
            weight, bias = self.decoder_params(j)
            h = F.linear(h, weight, bias)
            if j < self.num_layers - 1:
                h = self.decoder_activation(j)(h)
        return h

    def _decode(self, z: Tensor) -> Tensor:
        logits = self._decode_logits(z)
        return self.decoder_activation(self.num_layers - 1)(logits).view(-1, *self.input_shape)

    def weight_penalty(self) -> Tensor:
        """``l2/2 * sum(w**2)`` over every weight matrix (tied weights counted once)."""
        weights = [cast(nn.Linear, layer).weight for layer in self.encoder]
        if not self.config.tied:
            weights += [cast(nn.Linear, layer).weight for layer in self.decoder]
        total = weights[0].pow(2).sum()
        for w in weights[1:]:
            total = total + w.pow(2).sum()
        return 0.5 * self.config.l2 * total

    def _loss(self, x: Tensor) -> dict[str, Tensor]:
        rec = self._reconstruction_loss(self._encode(x), x)
        return self._with_penalty({"reconstruction": rec}, rec)

    def _reconstruction_loss(self, z: Tensor, target: Tensor) -> Tensor:
        """The configured reconstruction loss of decoding ``z`` against ``target`` (mean per element)."""
        if self.config.loss == "bce":
            return F.binary_cross_entropy_with_logits(self._decode_logits(z).float(), target.flatten(1).float())
        return reconstruction_error(self._decode(z), target)

    def _with_penalty(self, terms: dict[str, Tensor], total: Tensor) -> dict[str, Tensor]:
        """Add the ``l2`` term (when switched on) and the total ``loss`` to ``terms``."""
        if self.config.l2 > 0:
            terms["l2"] = self.weight_penalty()
            total = total + terms["l2"]
        terms["loss"] = total
        return terms


class MLPAE(MLPAutoencoder):
    """Shallow MLP autoencoder 784-32-784 with ReLU code and sigmoid output (Keras blog).

    From F. Chollet, "Building Autoencoders in Keras" (2016). Any depth works through ``dims``.

    >>> import aezoo, torch
    >>> aezoo.create("mlp").encode(torch.rand(2, 1, 28, 28)).shape
    torch.Size([2, 32])
    """

    architecture = "mlp"
    pretrained = builtin_entries("mlp")
    config_class = MLPConfig


class StackedAE(MLPAutoencoder):
    """Stacked autoencoder 784-300-150-300-784, ELU, He init, L2 penalty (Géron's recipe).

    From A. Géron, *Hands-On Machine Learning with Scikit-Learn and TensorFlow* (2017), ch. 15.

    >>> import aezoo
    >>> aezoo.create("stacked").latent_dim
    150
    """

    architecture = "stacked"
    pretrained = builtin_entries("stacked")
    # a higher peak than the 3e-3 default, so that short runs beat the tutorial recipe (benchmarks/defaults.py);
    # 4e-3, not 5e-3: at 5e-3 the 20-epoch run ended behind it (test MSE 0.0102 vs 0.0101)
    train_defaults = MappingProxyType({"lr": 4e-3})
    config_class = StackedConfig


class TiedAE(MLPAutoencoder):
    """Stacked autoencoder with tied weights: each decoder weight is an encoder weight transposed.

    From A. Géron, *Hands-On Machine Learning with Scikit-Learn and TensorFlow* (2017), ch. 15:
    half the weights of ``stacked``, less overfitting, faster training.

    >>> import aezoo
    >>> aezoo.create("tied").num_params < aezoo.create("stacked").num_params
    True
    """

    architecture = "tied"
    pretrained = builtin_entries("tied")
    config_class = TiedConfig
    stage_config: ClassVar[Mapping[str, Any]] = {"init": "xavier", "l2": 0.0, "tied": True}


class DeepAE(MLPAutoencoder):
    """Deep autoencoder 784-1000-500-250-30 of Hinton & Salakhutdinov (2006), logistic units.

    From G. E. Hinton and R. R. Salakhutdinov, "Reducing the Dimensionality of Data with Neural
    Networks", Science 313 (2006). Their RBM pretraining is ``aezoo.pretrain``; without it the
    weights start from Glorot & Bengio's (2010) init.

    >>> import aezoo
    >>> aezoo.create("deep", dims=[784, 64, 8]).latent_dim
    8
    """

    architecture = "deep"
    pretrained = builtin_entries("deep")
    # a higher peak than the 3e-3 default, so that short runs beat the tutorial recipe (benchmarks/defaults.py)
    train_defaults = MappingProxyType({"lr": 5e-3})
    config_class = DeepConfig
