"""The contract every autoencoder in the zoo honours.

Training, the layer-wise engine, the Hub and the applications treat every model alike through
this class. What is special about a model (its noise, its KL term, its adversary) lives in the
model's own ``loss``/``training_step``, never in the code that drives it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor, nn

from ..core.config import AEConfig, config_from_dict, replace_config
from ..core.errors import ConfigError, InputError
from ..data.preprocessing import Preprocessing
from ..hub.mixin import HubMixin
from ..io.pretrained import Pretrained

__all__ = [
    "PLUGIN_API_VERSION",
    "AEOutput",
    "Autoencoder",
    "Capabilities",
    "MakeOptimizer",
    "StageSpec",
    "StageWeights",
]

#: The plugin API this aezoo implements. A plugin declares the version it was written for in
#: its model class (``api_version``); see CONTRIBUTING.md for what a mismatch does.
PLUGIN_API_VERSION = 1

MakeOptimizer = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """What a model class can do beyond the contract, declared on the class and never probed.

    Code that offers a feature only some models have (sampling figures, denoising grids,
    layer-wise stacking) reads ``type(model).capabilities``; a plugin opts in by declaring it.

    >>> import aezoo
    >>> aezoo.get_architecture("vae").capabilities.sample, aezoo.get_architecture("conv").capabilities.sample
    (True, False)
    """

    sample: bool = False  # has sample(n, generator=None) -> (n, *input_shape): draws new inputs
    corrupt: bool = False  # has corrupt(x, generator=None): applies the noise it learns to remove
    stage: bool = False  # has as_stage(spec) and stage_weights(): a layer of layer-wise pretraining
    #: its ``_loss`` is a function of the parameters and the batch alone (no noise, no batch statistics
    #: kept, no ``.item()``), so ``aezoo.train_many`` can ``vmap`` it over many members' stacked weights
    stack: bool = False


@dataclasses.dataclass(frozen=True)
class StageSpec:
    """What the layer-wise engine asks of a stage: a one-hidden-layer autoencoder of these sizes.

    ``Autoencoder.as_stage(spec)`` builds one from its own architecture; it reads the fields it
    uses (a denoiser ``noise``, a sparse model ``sparsity``) and ignores the others.
    """

    in_dim: int  # features of the input the stage reconstructs (flat: input_shape == (in_dim,))
    code_dim: int  # hidden units
    activation: str = "sigmoid"  # hidden units (an aezoo.models.layers.ACTIVATIONS name)
    output_activation: str = "sigmoid"  # reconstruction units
    loss: str = "mse"  # reconstruction loss: "bce" (cross-entropy on sigmoid logits) | "mse"
    noise: float = 0.0  # corrupting stages: the fraction of inputs masked to 0
    sparsity: float = 0.05  # sparse stages: target mean activation of each hidden unit
    sparsity_weight: float = 0.1  # sparse stages: weight of the sparsity penalty
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # config fields of the architecture


class StageWeights(NamedTuple):
    """A trained stage as two linear maps, which unrolling copies into a deep model."""

    encoder_weight: Tensor  # (code_dim, in_dim)
    encoder_bias: Tensor  # (code_dim,)
    decoder_weight: Tensor  # (in_dim, code_dim)
    decoder_bias: Tensor  # (in_dim,)
    tied: bool  # the decoder weight is the encoder weight transposed (and stays so when unrolled)


@dataclasses.dataclass
class AEOutput:
    """What ``forward`` returns: the reconstruction and the code, plus model-specific fields."""

    reconstruction: Tensor  # same shape as the input
    latent: Tensor  # (N, latent_dim) code used for the reconstruction


class Autoencoder(nn.Module, HubMixin):
    """Base class of every autoencoder: ``encode``, ``decode``, ``forward``, ``loss``.

    Subclasses set ``architecture`` (their entry-point name), ``config_class`` and
    ``api_version``, build their layers in ``__init__(config)`` and implement ``_encode`` and
    ``_decode`` (on validated tensors). Override ``_forward``/``loss`` for extra outputs or
    terms, and ``configure_optimizers``/``training_step`` for a training step of their own.

    >>> import aezoo
    >>> model = aezoo.create("mlp")
    >>> out = model(torch.rand(8, 1, 28, 28))
    >>> out.reconstruction.shape, out.latent.shape
    (torch.Size([8, 1, 28, 28]), torch.Size([8, 32]))
    """

    architecture: ClassVar[str] = ""
    config_class: ClassVar[type[AEConfig]] = AEConfig
    api_version: ClassVar[int] = PLUGIN_API_VERSION
    pretrained: ClassVar[tuple[Pretrained, ...]] = ()
    capabilities: ClassVar[Capabilities] = Capabilities()
    #: Training settings (``TrainConfig`` fields) this architecture trains best with, over the
    #: trainer's defaults; ``TrainConfig.for_model`` applies them, and settings given explicitly win.
    train_defaults: ClassVar[Mapping[str, Any]] = MappingProxyType({})

    def __init__(self, config: AEConfig) -> None:
        super().__init__()
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} takes a {self.config_class.__name__}, got {type(config).__name__}")
        self.config = config
        self.preprocessing = Preprocessing()
        # Where the model draws its training noise (masks, reparameterisation, prior draws):
        # set by the trainer and the layer-wise engine from their seed; None is torch's global one.
        self.generator: torch.Generator | None = None
        self.training_record: dict[str, Any] | None = None  # set by the trainer; config.json's "training"
        # What a loaded model was loaded from (pretrained name, Hub repo and revision, or folder; sha256
        # of the weights): a model trained further records it as its base model (config.json, card).
        self.base_model: dict[str, Any] | None = None

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_config(cls, config: AEConfig | Mapping[str, Any] | None = None, **overrides: Any) -> Autoencoder:
        """Build an untrained model from a config object or mapping, with overrides."""
        if config is None:
            config = cls.config_class()
        elif not isinstance(config, AEConfig):
            config = config_from_dict(cls.config_class, config)
        if overrides:
            config = replace_config(config, **overrides)
        return cls(config)

    @classmethod
    def as_stage(cls, spec: StageSpec) -> Autoencoder:
        """A one-hidden-layer model of this architecture for layer-wise pretraining.

        Only classes whose ``capabilities.stage`` is true implement it (with
        :meth:`stage_weights`); see docs/plugins.md.
        """
        raise ConfigError(
            f"architecture {cls.architecture!r} cannot be a layer-wise stage (its capabilities.stage is False); "
            "use one that can, e.g. 'plain', 'denoising', 'sparse' or 'tied'"
        )

    def stage_weights(self) -> StageWeights:
        """This stage's encoder and decoder as linear maps (classes with ``capabilities.stage``)."""
        raise ConfigError(f"architecture {self.architecture!r} is not a layer-wise stage")

    # ----------------------------------------------------------------- properties
    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.config.input_shape)

    @property
    def latent_dim(self) -> int:
        # A config must say its code size (a field or a property): the contract's one required
        # attribute beyond input_shape. Raised as a ConfigError, not an AttributeError that
        # nn.Module would turn into a puzzling "has no attribute 'latent_dim'".
        try:
            return int(self.config.latent_dim)  # type: ignore[attr-defined]  # a subclass's config declares it
        except AttributeError:
            raise ConfigError(
                f"{type(self.config).__name__} has no latent_dim: every aezoo config must give its code size as a "
                "field (latent_dim: int = 16) or a property (MLPConfig derives it from dims), or the model class "
                "must override the latent_dim property; see docs/plugins.md"
            ) from None

    @property
    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        return torch.device("cpu")

    # ----------------------------------------------------------------- validation
    def _check(self, x: Tensor, shape: tuple[int, ...], what: str, *, finite: bool = True) -> None:
        if not isinstance(x, Tensor):
            raise InputError(f"{what} must be a torch.Tensor of shape (N, {_fmt(shape)}), got {type(x).__name__}")
        if x.dim() != len(shape) + 1 or tuple(x.shape[1:]) != shape:
            hint = ""
            if tuple(x.shape) == shape:
                hint = "; add a batch dimension with x.unsqueeze(0)"
            elif x.dim() >= 2 and x[0].numel() == _numel(shape):
                hint = f"; reshape with x.view(-1, {_fmt(shape)})"
            raise InputError(
                f"{type(self).__name__} expects {what} of shape (N, {_fmt(shape)}), got {tuple(x.shape)}{hint}"
            )
        if not x.is_floating_point():
            raise InputError(
                f"{type(self).__name__} expects a floating-point {what}, got {x.dtype}; "
                "convert with x.float() (and scale raw pixels with model.preprocessing.apply)"
            )
        expected = self._dtype()
        if expected is not None and x.dtype != expected and not torch.is_autocast_enabled(x.device.type):
            raise InputError(
                f"{type(self).__name__} expects {what} of dtype {expected} (its weights' dtype), got {x.dtype}; "
                f"convert with x.to({expected})"
            )
        if finite and not bool(torch.isfinite(x).all()):
            raise InputError(f"{what} contains NaN or infinite values; clean the data before passing it")

    def _dtype(self) -> torch.dtype | None:
        """The floating-point dtype of the weights (inputs must match it), or None for a model without any."""
        for p in self.parameters():
            if p.is_floating_point():
                return p.dtype
        return None

    def check_input(self, x: Tensor, *, finite: bool = True) -> None:
        """Raise :class:`~aezoo.core.errors.InputError` unless ``x`` is a valid input batch."""
        self._check(x, self.input_shape, "input", finite=finite)

    # ----------------------------------------------------------------- the contract
    def encode(self, x: Tensor) -> Tensor:
        """Map inputs ``(N, *input_shape)`` to codes ``(N, latent_dim)``."""
        self.check_input(x)
        return self._encode(x)

    def decode(self, z: Tensor) -> Tensor:
        """Map codes ``(N, latent_dim)`` to reconstructions ``(N, *input_shape)``."""
        self._check(z, (self.latent_dim,), "code")
        return self._decode(z)

    def forward(self, x: Tensor) -> AEOutput:
        """Reconstruct ``x``; returns an :class:`AEOutput` (or a subclass with more fields)."""
        self.check_input(x)
        return self._forward(x)

    def loss(self, x: Tensor) -> dict[str, Tensor]:
        """Named loss terms for a batch; ``"loss"`` is the total that training minimises."""
        self.check_input(x, finite=False)
        return self._loss(x)

    def configure_optimizers(self, make: MakeOptimizer) -> dict[str, torch.optim.Optimizer]:
        """Optimizers by name; ``make(params)`` builds one with the trainer's settings."""
        return {"main": make(self.parameters())}

    def training_step(self, x: Tensor, optimizers: Mapping[str, torch.optim.Optimizer]) -> dict[str, Tensor]:
        """One optimisation step on batch ``x``; returns the (detached) loss terms."""
        opt = optimizers["main"]
        opt.zero_grad(set_to_none=True)
        terms = self.loss(x)
        terms["loss"].backward()
        opt.step()
        return {k: v.detach() for k, v in terms.items()}

    def evaluation_metrics(self, x: Tensor, **options: Any) -> dict[str, Tensor]:
        """Model-specific test metrics, one value per sample (shape ``(N,)``); the evaluator averages.

        The VAE adds its ELBO and importance-sampled NLL (``options["nll_samples"]``); the
        denoiser its PSNR before and after denoising. The default adds nothing.
        """
        return {}

    # ----------------------------------------------------------------- to override
    def _encode(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def _decode(self, z: Tensor) -> Tensor:
        raise NotImplementedError

    def _forward(self, x: Tensor) -> AEOutput:
        z = self._encode(x)
        return AEOutput(reconstruction=self._decode(z), latent=z)

    def _loss(self, x: Tensor) -> dict[str, Tensor]:
        out = self._forward(x)
        rec = reconstruction_error(out.reconstruction, x)
        return {"loss": rec, "reconstruction": rec}

    def extra_repr(self) -> str:
        return f"architecture={self.architecture!r}, latent_dim={self.latent_dim}, params={self.num_params:,}"


def reconstruction_error(recon: Tensor, x: Tensor) -> Tensor:
    """Mean squared error per element, the reconstruction loss of the classic texts."""
    return torch.nn.functional.mse_loss(recon.float(), x.float())


def psnr(estimate: Tensor, target: Tensor, data_range: float = 1.0) -> Tensor:
    """Peak signal-to-noise ratio in dB per sample ``(N,)``, capped at 100 dB for an exact match.

    >>> psnr(torch.full((1, 4), 0.1), torch.zeros(1, 4)).round().tolist()
    [20.0]
    """
    mse = (estimate.float() - target.float()).square().flatten(1).mean(1)
    return 10 * torch.log10(data_range**2 / mse.clamp_min(1e-10 * data_range**2))


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _fmt(shape: tuple[int, ...]) -> str:
    return ", ".join(str(d) for d in shape)
