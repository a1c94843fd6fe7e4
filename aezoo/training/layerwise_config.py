"""What a layer-wise pretraining run is asked (:class:`LayerwiseConfig`) and what it reports.

The stage kinds a config may name are the registered architectures that declare
``capabilities.stage`` (:func:`stage_architectures`, :func:`stage_class`); the engine that runs
the config is :mod:`aezoo.training.layerwise`, which re-exports every name here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..core.config import config_from_dict, config_to_dict
from ..core.errors import AezooError, ConfigError, unknown_name
from ..core.seeding import check_seed
from ..models.layers import ACTIVATIONS, check_choice, check_dims
from ..registry.architectures import get_architecture, list_models

if TYPE_CHECKING:
    from ..models.base import Autoencoder

__all__ = ["LayerwiseConfig", "LayerwiseReport", "stage_architectures", "stage_class"]

#: Stage kinds that are not architecture names.
STAGE_ALIASES = {"plain": "mlp"}
INITS = ("decoder", "transpose")


@dataclasses.dataclass(frozen=True)
class LayerwiseConfig:
    """Everything about one layer-wise pretraining run.

    >>> cfg = LayerwiseConfig(dims=(784, 64, 8), kind="denoising", layer_epochs=1, finetune_epochs=0)
    >>> cfg.kinds
    ('denoising', 'denoising')
    """

    dims: tuple[int, ...] = (784, 1000, 500, 250, 30)  # layer sizes, from the flattened input to the code
    kind: str | tuple[str, ...] = "plain"  # stage architecture for all layers, or one per layer (stage_architectures())
    noise: float = 0.2  # denoising: fraction of inputs zeroed (masking noise) in each training batch
    sparsity: float = 0.05  # sparse: target mean activation of each sigmoid hidden unit
    sparsity_weight: float = 0.1  # sparse: weight of the KL (sigmoid) or L1 (other units) penalty
    activation: str = "sigmoid"  # hidden units: relu | elu | sigmoid | tanh | linear
    code_activation: str = "linear"  # the code layer (last encoder layer), linear as in the 2006 paper
    output_activation: str = "sigmoid"  # the reconstruction of the input
    layer_epochs: int | tuple[int, ...] = 10  # epochs per stage, for all stages or one per stage
    layer_lr: float = 1e-3  # Adam learning rate of the stages
    batch_size: int = 256  # mini-batch size of the stages (and of fine-tuning unless `finetune` says otherwise)
    finetune_epochs: int = 10  # epochs of end-to-end fine-tuning (0: return the unrolled model as is)
    finetune_lr: float = 3e-3  # peak learning rate of fine-tuning (one-cycle, the Trainer's default schedule)
    finetune: Any = None  # a TrainConfig (or a mapping of its fields) overriding the finetune_* defaults
    init: str = "decoder"  # unrolled decoder from the stage decoders ("decoder") or encoder transposes ("transpose")
    seed: int = 0  # seeds the stage initialisations, shuffling and noise
    device: str = "auto"  # cuda | mps | cpu | auto (cuda, then mps, then cpu)
    precision: str = "auto"  # auto (bf16 autocast on CUDA, fp32 elsewhere) | bf16 | fp32
    compile: bool = False  # torch.compile each stage's loss (worth it on CUDA for long runs)
    stage_options: Mapping[str, Mapping[str, Any]] | None = None  # per kind: config fields of its stages

    def __post_init__(self) -> None:
        for name in ("dims", "kind", "layer_epochs"):
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        check_dims("LayerwiseConfig", "dims", self.dims, min_len=2)
        for kind in self.kinds:
            stage_class(kind)
        if self.stage_options is not None:
            if not isinstance(self.stage_options, Mapping) or not all(
                isinstance(v, Mapping) for v in self.stage_options.values()
            ):
                raise ConfigError(
                    "LayerwiseConfig.stage_options maps a stage kind to config fields of its architecture, "
                    f"e.g. {{'denoising': {{'noise': 'gaussian'}}}}; got {self.stage_options!r}"
                )
            unused = sorted(set(self.stage_options) - set(self.kinds))
            if unused:
                raise ConfigError(
                    f"LayerwiseConfig.stage_options names kinds {unused!r} that no stage uses (kinds: {self.kinds!r})"
                )
        for name in ("activation", "code_activation", "output_activation"):
            check_choice("LayerwiseConfig", name, getattr(self, name), tuple(ACTIVATIONS))
        check_choice("LayerwiseConfig", "init", self.init, INITS)
        check_choice("LayerwiseConfig", "precision", self.precision, ("auto", "bf16", "fp32"))
        check_seed(self.seed, "LayerwiseConfig.seed")
        if any(isinstance(e, bool) or not isinstance(e, int) or e < 0 for e in self.epochs_per_stage):
            raise ConfigError(f"LayerwiseConfig.layer_epochs must be integers >= 0, got {self.layer_epochs!r}")
        if not 0.0 <= self.noise < 1.0:
            raise ConfigError(f"LayerwiseConfig.noise is the masked fraction, in [0, 1); got {self.noise!r}")
        if not 0.0 < self.sparsity < 1.0:
            raise ConfigError(f"LayerwiseConfig.sparsity is a mean activation in (0, 1); got {self.sparsity!r}")
        for name in ("layer_lr", "finetune_lr"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ConfigError(f"LayerwiseConfig.{name} must be a positive number, got {getattr(self, name)!r}")
        if self.batch_size < 1 or self.finetune_epochs < 0:
            raise ConfigError(
                f"LayerwiseConfig needs batch_size >= 1 and finetune_epochs >= 0, "
                f"got {self.batch_size!r} and {self.finetune_epochs!r}"
            )

    @property
    def num_layers(self) -> int:
        return len(self.dims) - 1

    @property
    def kinds(self) -> tuple[str, ...]:
        """One stage kind per layer."""
        kinds = (self.kind,) * self.num_layers if isinstance(self.kind, str) else tuple(self.kind)
        if len(kinds) != self.num_layers:
            raise ConfigError(
                f"LayerwiseConfig.kind lists {len(kinds)} kinds for {self.num_layers} layers (dims={self.dims!r}); "
                "give one kind for all layers or one per layer"
            )
        return kinds

    @property
    def epochs_per_stage(self) -> tuple[int, ...]:
        e = self.layer_epochs
        return (e,) * self.num_layers if isinstance(e, int) else tuple(e)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (a TrainConfig in ``finetune`` becomes its dict)."""
        data = {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self) if f.name != "finetune"}
        data["stage_options"] = {k: dict(v) for k, v in self.stage_options.items()} if self.stage_options else None
        ft = self.finetune
        data["finetune"] = config_to_dict(ft) if dataclasses.is_dataclass(ft) else (dict(ft) if ft else None)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LayerwiseConfig:
        """Inverse of :meth:`to_dict` (a saved ``finetune`` comes back as a mapping); unknown keys are an error."""
        return config_from_dict(cls, data)


# --------------------------------------------------------------------------- stage architectures
def stage_architectures() -> list[str]:
    """The names a stage ``kind`` may take: registered architectures with ``capabilities.stage``.

    ``"plain"`` is the plain one-hidden-layer autoencoder, an alias of ``"mlp"``.

    >>> {"plain", "denoising", "sparse", "tied"} <= set(stage_architectures())
    True
    """
    names = set(STAGE_ALIASES)
    for name in list_models():
        try:
            if get_architecture(name).capabilities.stage:
                names.add(name)
        except AezooError:  # a broken plugin is reported by `aezoo plugins`, not here
            continue
    return sorted(names)


def stage_class(kind: str) -> type[Autoencoder]:
    """The architecture class that builds stages of ``kind`` (an alias or a registered name)."""
    choices = stage_architectures()
    if kind not in choices:
        raise unknown_name("layer-wise stage kind", kind, choices, "any architecture with capabilities.stage")
    return get_architecture(STAGE_ALIASES.get(kind, kind))


# --------------------------------------------------------------------------- report
@dataclasses.dataclass
class LayerwiseReport:
    """What each stage did, what unrolling gave and what fine-tuning did; saved as layerwise.json."""

    config: dict[str, Any]  # LayerwiseConfig.to_dict()
    device: str  # where the run happened
    precision: str  # "bf16" or "fp32"
    stages: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # one record per stage
    unrolled: dict[str, Any] = dataclasses.field(default_factory=dict)  # errors of the unrolled model
    finetune: dict[str, Any] = dataclasses.field(default_factory=dict)  # epochs, wall time, history
    wall_s: float = 0.0  # whole run

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _plain(v: Any) -> Any:
    return [_plain(x) for x in v] if isinstance(v, tuple) else v
