"""Greedy layer-wise pretraining: stack one-hidden-layer autoencoders, unroll, fine-tune.

The recipe of Hinton & Salakhutdinov, "Reducing the Dimensionality of Data with Neural Networks",
Science 313 (2006), with autoencoders in place of RBMs (Bengio et al., 2007; Vincent et al., 2010
for the denoising kind):

1. layer ``k`` is trained as a one-hidden-layer autoencoder ``dims[k-1] -> dims[k] -> dims[k-1]``
   on the codes of layers ``1..k-1``, which are computed once per stage and stay on the device;
2. the stage weights are copied into a ``deep`` model (encoder ``i`` from stage ``i``'s encoder,
   decoder ``L-1-i`` from its decoder), which reproduces the stacked stages exactly;
3. that model is fine-tuned end to end by :class:`aezoo.training.Trainer`.

Per-stage losses. Each stage's output unit is the unit of the layer it reconstructs in the
unrolled model: stage 1 uses ``output_activation`` (sigmoid, for pixels in [0, 1]); stage ``k>1``
uses the hidden ``activation`` of layer ``k-1``. A sigmoid output whose targets lie in [0, 1] is
trained with binary cross-entropy (on the logits, stable under bf16 autocast), anything else with
mean squared error. So the code layer (``code_activation="linear"``) is trained to reconstruct
the sigmoid codes below it with sigmoid units and cross-entropy, as in the 2006 paper.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import config_from_dict, config_to_dict, dumps_json
from .data import DeviceDataset
from .errors import ConfigError, DataError, TrainingError
from .models.layers import ACTIVATIONS, activation, check_choice, check_dims
from .training.distributed import resolve_device

if TYPE_CHECKING:
    from .models.base import Autoencoder
    from .training import TrainConfig

__all__ = ["LayerwiseConfig", "LayerwisePretrainer", "LayerwiseReport", "load_report", "pretrain", "save", "unroll"]

KINDS = ("plain", "denoising", "sparse", "tied")
INITS = ("decoder", "transpose")
REPORT_NAME = "layerwise.json"


@dataclasses.dataclass(frozen=True)
class LayerwiseConfig:
    """Everything about one layer-wise pretraining run.

    >>> cfg = LayerwiseConfig(dims=(784, 64, 8), kind="denoising", layer_epochs=1, finetune_epochs=0)
    >>> cfg.kinds
    ('denoising', 'denoising')
    """

    dims: tuple[int, ...] = (784, 1000, 500, 250, 30)  # layer sizes, from the flattened input to the code
    kind: str | tuple[str, ...] = "plain"  # stage kind for all layers, or one per layer: plain|denoising|sparse|tied
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
    finetune_lr: float = 1e-3  # learning rate of fine-tuning
    finetune: Any = None  # a TrainConfig (or a mapping of its fields) overriding the finetune_* defaults
    init: str = "decoder"  # unrolled decoder from the stage decoders ("decoder") or encoder transposes ("transpose")
    seed: int = 0  # seeds the stage initialisations, shuffling and noise
    device: str = "auto"  # cuda | mps | cpu | auto (cuda, then mps, then cpu)
    precision: str = "auto"  # auto (bf16 autocast on CUDA, fp32 elsewhere) | bf16 | fp32
    compile: bool = False  # torch.compile each stage's loss (worth it on CUDA for long runs)

    def __post_init__(self) -> None:
        for name in ("dims", "kind", "layer_epochs"):
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        check_dims("LayerwiseConfig", "dims", self.dims, min_len=2)
        for kind in self.kinds:
            check_choice("LayerwiseConfig", "kind", kind, KINDS)
        for name in ("activation", "code_activation", "output_activation"):
            check_choice("LayerwiseConfig", name, getattr(self, name), tuple(ACTIVATIONS))
        check_choice("LayerwiseConfig", "init", self.init, INITS)
        check_choice("LayerwiseConfig", "precision", self.precision, ("auto", "bf16", "fp32"))
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
        ft = self.finetune
        data["finetune"] = config_to_dict(ft) if dataclasses.is_dataclass(ft) else (dict(ft) if ft else None)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LayerwiseConfig:
        """Inverse of :meth:`to_dict` (a saved ``finetune`` comes back as a mapping); unknown keys are an error."""
        return config_from_dict(cls, data)


# --------------------------------------------------------------------------- stage models
class _Stage(nn.Module):
    """A one-hidden-layer autoencoder ``x -> h = act(W x + b) -> out(W' h + c)``.

    ``forward`` returns the training loss terms. Subclasses add their kind's behaviour by
    overriding ``corrupt`` (the input seen in training), ``penalty`` (on the hidden units) or
    ``decoder_params`` (tying); the training loop never asks which kind it drives.
    """

    kind: ClassVar[str] = "plain"

    def __init__(self, n_in: int, n_hidden: int, hidden: str, output: str, loss: str, cfg: LayerwiseConfig) -> None:
        super().__init__()
        self.hidden_name, self.output_name, self.loss_name = hidden, output, loss
        self.encoder = nn.Linear(n_in, n_hidden)
        nn.init.xavier_uniform_(self.encoder.weight)
        nn.init.zeros_(self.encoder.bias)
        self._make_decoder(n_in, n_hidden)

    def _make_decoder(self, n_in: int, n_hidden: int) -> None:
        self.decoder = nn.Linear(n_hidden, n_in)
        nn.init.xavier_uniform_(self.decoder.weight)
        nn.init.zeros_(self.decoder.bias)

    def decoder_params(self) -> tuple[Tensor, Tensor]:
        """``(weight, bias)`` of the reconstruction layer, shaped like ``nn.Linear(n_hidden, n_in)``."""
        return self.decoder.weight, self.decoder.bias

    def encode(self, x: Tensor) -> Tensor:
        return activation(self.hidden_name)(self.encoder(x))

    def decode_logits(self, h: Tensor) -> Tensor:
        return F.linear(h, *self.decoder_params())

    def decode(self, h: Tensor) -> Tensor:
        return activation(self.output_name)(self.decode_logits(h))

    def corrupt(self, x: Tensor) -> Tensor:
        return x

    def penalty(self, h: Tensor) -> Tensor | None:
        return None

    def reconstruction_loss(self, logits: Tensor, target: Tensor) -> Tensor:
        if self.loss_name == "bce":
            return F.binary_cross_entropy_with_logits(logits.float(), target.float())
        return F.mse_loss(activation(self.output_name)(logits.float()), target.float())

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        h = self.encode(self.corrupt(x) if self.training else x)
        rec = self.reconstruction_loss(self.decode_logits(h), x)
        terms, total = {"reconstruction": rec}, rec
        extra = self.penalty(h)
        if extra is not None:
            terms["penalty"] = extra
            total = total + extra
        terms["loss"] = total
        return terms


class _DenoisingStage(_Stage):
    """Vincent et al. (2008): reconstruct the clean input from one with a fraction masked to 0."""

    kind = "denoising"

    def __init__(self, n_in: int, n_hidden: int, hidden: str, output: str, loss: str, cfg: LayerwiseConfig) -> None:
        super().__init__(n_in, n_hidden, hidden, output, loss, cfg)
        self.noise = float(cfg.noise)

    def corrupt(self, x: Tensor) -> Tensor:
        return x * (torch.rand_like(x) >= self.noise).to(x.dtype)


class _SparseStage(_Stage):
    """Ng's sparse autoencoder: KL(rho || mean activation) for sigmoid units, L1 for the others."""

    kind = "sparse"

    def __init__(self, n_in: int, n_hidden: int, hidden: str, output: str, loss: str, cfg: LayerwiseConfig) -> None:
        super().__init__(n_in, n_hidden, hidden, output, loss, cfg)
        self.rho, self.weight = float(cfg.sparsity), float(cfg.sparsity_weight)

    def penalty(self, h: Tensor) -> Tensor:
        h = h.float()
        if self.hidden_name != "sigmoid":
            return self.weight * h.abs().mean()
        rho, rho_hat = self.rho, h.mean(0).clamp(1e-6, 1 - 1e-6)
        kl = rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))
        return self.weight * kl.mean()


class _TiedStage(_Stage):
    """Tied weights: the decoder is the encoder transposed, with its own bias."""

    kind = "tied"

    def _make_decoder(self, n_in: int, n_hidden: int) -> None:
        self.decoder_bias = nn.Parameter(torch.zeros(n_in))

    def decoder_params(self) -> tuple[Tensor, Tensor]:
        return self.encoder.weight.t(), self.decoder_bias


_STAGES: dict[str, type[_Stage]] = {cls.kind: cls for cls in (_Stage, _DenoisingStage, _SparseStage, _TiedStage)}


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


# --------------------------------------------------------------------------- the engine
class LayerwisePretrainer:
    """Greedy layer-wise pretraining of a ``deep`` autoencoder, then end-to-end fine-tuning.

    The stages run in a loop of their own rather than through :class:`~aezoo.training.Trainer`:
    a stage is a one-hidden-layer problem over a tensor already on the device, where per-step
    Python work and host syncs are what costs time. The loop slices a device-side permutation,
    runs under bf16 autocast on CUDA with a fused Adam, and syncs once per epoch (for the loss it
    reports); the Trainer's per-epoch checkpoints, validation split and model directory would
    only add to that and are not wanted for a throwaway stage. Fine-tuning the unrolled model is
    ordinary training, so it goes through the Trainer (checkpoints, history, resume).

    >>> import torch
    >>> cfg = LayerwiseConfig(dims=(784, 32, 8), layer_epochs=1, finetune_epochs=0, device="cpu")
    >>> model, report = LayerwisePretrainer(cfg, progress=False).fit(DeviceDataset(torch.rand(64, 1, 28, 28)))
    >>> [s["dims"] for s in report.stages]
    [[784, 32], [32, 8]]
    """

    def __init__(
        self, config: LayerwiseConfig, *, progress: bool = True, recipe: Mapping[str, Any] | None = None
    ) -> None:
        self.config = config
        self.progress = progress
        self.recipe = dict(recipe or {})  # extra keys for config.json's "training" (e.g. the command)
        self.device = resolve_device(str(config.device))
        bf16 = config.precision == "bf16" or (config.precision == "auto" and self.device.type == "cuda")
        self.precision = "bf16" if bf16 else "fp32"
        self.stages: list[_Stage] = []

    def _autocast(self) -> Any:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    # ----------------------------------------------------------------- stages
    def pretrain_stages(self, train: DeviceDataset, val: DeviceDataset | None = None) -> list[dict[str, Any]]:
        """Train every stage greedily; returns one record per stage (also kept in ``self.stages``)."""
        cfg = self.config
        x = _flat_input(train, cfg.dims, self.device)
        v = _flat_input(val, cfg.dims, self.device) if val is not None else None
        records, self.stages = [], []
        for i, kind in enumerate(cfg.kinds):
            stage = self._make_stage(i, kind, x)
            record = self._train_stage(i, stage, x)
            t0 = time.perf_counter()
            # The codes feed the next stage: computed once, kept on the device, no host round trip.
            x, record["train_error"] = _encode_dataset(stage, x, self._eval_batch, self._autocast)
            if v is not None:
                v, record["val_error"] = _encode_dataset(stage, v, self._eval_batch, self._autocast)
            self._sync()
            record["encode_s"] = time.perf_counter() - t0
            record["wall_s"] = record["train_s"] + record["encode_s"]
            self.stages.append(stage.eval())
            records.append(record)
        return records

    @property
    def _eval_batch(self) -> int:
        return max(self.config.batch_size, 8192)

    def _make_stage(self, i: int, kind: str, x: Tensor) -> _Stage:
        cfg = self.config
        last = i == cfg.num_layers - 1
        hidden = cfg.code_activation if last else cfg.activation
        output = cfg.output_activation if i == 0 else cfg.activation
        in_unit = bool(((x >= 0) & (x <= 1)).all())  # one sync per stage
        loss = "bce" if output == "sigmoid" and in_unit else "mse"
        torch.manual_seed(cfg.seed + i)
        return _STAGES[kind](cfg.dims[i], cfg.dims[i + 1], hidden, output, loss, cfg).to(self.device)

    def _train_stage(self, i: int, stage: _Stage, x: Tensor) -> dict[str, Any]:
        from tqdm.auto import tqdm

        cfg = self.config
        epochs, n = cfg.epochs_per_stage[i], len(x)
        bs = min(cfg.batch_size, n)
        stop = n - n % bs  # drop the ragged last batch: static shapes for compile, reshuffled each epoch
        cuda = self.device.type == "cuda"
        opt = torch.optim.Adam(stage.parameters(), lr=cfg.layer_lr, fused=cuda or None)
        step_fn = torch.compile(stage) if cfg.compile else stage
        gen = torch.Generator(self.device).manual_seed(cfg.seed + 1000 + i)
        n_in, n_out = cfg.dims[i], cfg.dims[i + 1]
        desc = f"stage {i + 1}/{cfg.num_layers} {n_in}->{n_out} {stage.kind}"
        history: list[dict[str, float]] = []
        stage.train()
        self._sync()
        t0 = time.perf_counter()
        with tqdm(range(epochs), desc=desc, unit="epoch", disable=not self.progress, leave=True) as bar:
            for _ in bar:
                order = torch.randperm(n, device=self.device, generator=gen)
                sums: dict[str, Tensor] = {}
                for s in range(0, stop, bs):
                    with self._autocast():
                        terms = step_fn(x[order[s : s + bs]])
                    opt.zero_grad(set_to_none=True)
                    terms["loss"].backward()
                    opt.step()
                    for k, t in terms.items():
                        sums[k] = sums.get(k, 0) + t.detach()
                row = {k: float(t) / max(1, stop // bs) for k, t in sums.items()}  # one sync per epoch
                history.append(row)
                bar.set_postfix(loss=f"{row.get('loss', float('nan')):.4f}")
        self._sync()
        train_s = time.perf_counter() - t0
        seen = epochs * stop
        return {
            "stage": i + 1,
            "kind": stage.kind,
            "dims": [n_in, n_out],
            "hidden_activation": stage.hidden_name,
            "output_activation": stage.output_name,
            "loss": stage.loss_name,
            "epochs": epochs,
            "batch_size": bs,
            "history": history,
            "final_loss": history[-1]["loss"] if history else None,
            "train_s": train_s,
            "samples_per_s": seen / train_s if train_s > 0 else None,
            # forward 2 matmuls of 2*n_in*n_out FLOPs each per sample; backward twice the forward.
            "flops": 12 * n_in * n_out * seen,
        }

    # ----------------------------------------------------------------- unroll and fine-tune
    def unroll(self, input_shape: Sequence[int]) -> Autoencoder:
        """The ``deep`` model whose layers are the trained stages (see :func:`unroll`)."""
        return unroll(self.stages, self.config, input_shape)

    def finetune_config(self) -> TrainConfig | None:
        """The Trainer settings for fine-tuning (``finetune`` overrides the ``finetune_*`` fields).

        ``None`` when there is nothing to fine-tune (``finetune_epochs=0`` and no ``finetune``).
        """
        from .training import TrainConfig

        cfg = self.config
        if isinstance(cfg.finetune, TrainConfig):
            return cfg.finetune
        if cfg.finetune is not None and not isinstance(cfg.finetune, Mapping):
            raise ConfigError(
                f"LayerwiseConfig.finetune must be a TrainConfig or a mapping of its fields, got {cfg.finetune!r}"
            )
        fields = {
            "epochs": cfg.finetune_epochs,
            "lr": cfg.finetune_lr,
            "batch_size": cfg.batch_size,
            "seed": cfg.seed,
            "device": str(self.device),
            "precision": cfg.precision,
            "compile": cfg.compile,
            **(cfg.finetune or {}),
        }
        if fields["epochs"] == 0:
            return None
        return TrainConfig.from_dict(fields)

    def fit(
        self, train: DeviceDataset, val: DeviceDataset | None = None, *, out_dir: str | Path | None = None
    ) -> tuple[Autoencoder, LayerwiseReport]:
        """Pretrain the stages, unroll, fine-tune; save to ``out_dir`` when given."""
        t0 = time.perf_counter()
        report = LayerwiseReport(config=self.config.to_dict(), device=str(self.device), precision=self.precision)
        finetune = self.finetune_config()  # checked before hours of pretraining, not after
        report.stages = self.pretrain_stages(train, val)
        model = self.unroll(train.shape)
        model.preprocessing = train.preprocessing
        report.unrolled = _model_errors(model, train, val, self._eval_batch)
        training_meta: dict[str, Any] | None = None
        if finetune is not None:
            report.finetune, training_meta = self._finetune(model, finetune, train, val, out_dir)
            report.finetune["errors"] = _model_errors(model, train, val, self._eval_batch)
        report.wall_s = time.perf_counter() - t0
        model.eval()
        if out_dir is not None:
            save(model, report, out_dir, training=training_meta)
        return model, report

    def _finetune(
        self,
        model: Autoencoder,
        tc: TrainConfig,
        train: DeviceDataset,
        val: DeviceDataset | None,
        out_dir: str | Path | None,
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Fine-tune ``model`` in place with the Trainer; returns its record and config.json's "training"."""
        from .serialization import read_config
        from .training import Trainer

        trainer = Trainer(
            model, tc, out_dir=out_dir, progress=self.progress, recipe={"pretraining": "layerwise", **self.recipe}
        )
        self._sync()
        t0 = time.perf_counter()
        history = trainer.fit(train.to(self.device), val.to(self.device) if val is not None else None)
        self._sync()
        wall = time.perf_counter() - t0
        n = len(train) if val is not None else len(train) - round(len(train) * tc.val_fraction)  # Trainer's hold-out
        seen = n * len(history.epoch)
        flops_per_sample = 12 * sum(a * b for a, b in zip(self.config.dims[:-1], self.config.dims[1:]))
        record = {
            "config": tc.to_dict(),
            "epochs": len(history.epoch),
            "wall_s": wall,
            "samples_per_s": seen / wall if wall > 0 else None,
            "flops": flops_per_sample * seen,  # encoder + decoder, forward + backward
            "history": history.to_dict(),
        }
        meta = None
        if out_dir is not None and (Path(out_dir) / "config.json").is_file():
            meta = read_config(out_dir).get("training")
        return record, meta


def unroll(stages: Sequence[_Stage], config: LayerwiseConfig, input_shape: Sequence[int]) -> Autoencoder:
    """Build the ``deep`` model of ``config`` from trained stages, per mlp.py's module layout.

    ``encoder[i]`` takes stage ``i``'s encoder. ``decoder[L-1-i]`` takes stage ``i``'s decoder
    (``init="decoder"``) or its encoder transposed with the stage's decoder bias
    (``init="transpose"``). If every stage is tied, the model is tied too and keeps the biases.
    """
    from .registry import create

    L = config.num_layers
    if len(stages) != L:
        raise TrainingError(f"unroll needs {L} trained stages for dims={config.dims!r}, got {len(stages)}")
    tied = all(s.kind == "tied" for s in stages)
    model = create(
        "deep",
        input_shape=tuple(input_shape),
        dims=tuple(config.dims),
        activation=config.activation,
        code_activation=config.code_activation,
        output_activation=config.output_activation,
        tied=tied,
    )
    model.to(stages[0].encoder.weight.device)
    with torch.no_grad():
        for i, stage in enumerate(stages):
            j = L - 1 - i
            model.encoder[i].weight.copy_(stage.encoder.weight)
            model.encoder[i].bias.copy_(stage.encoder.bias)
            weight, bias = stage.decoder_params()
            if config.init == "transpose":
                weight = stage.encoder.weight.t()
            if tied:
                model.decoder_bias[j].copy_(bias)
            else:
                model.decoder[j].weight.copy_(weight)
                model.decoder[j].bias.copy_(bias)
    return model


def pretrain(
    config: LayerwiseConfig,
    train: DeviceDataset,
    val: DeviceDataset | None = None,
    *,
    out_dir: str | Path | None = None,
    progress: bool = True,
) -> tuple[Autoencoder, LayerwiseReport]:
    """Layer-wise pretraining, unrolling and fine-tuning in one call; returns ``(model, report)``.

    >>> import aezoo, torch
    >>> data = aezoo.DeviceDataset(torch.rand(64, 1, 28, 28))
    >>> cfg = aezoo.LayerwiseConfig(dims=(784, 16, 4), layer_epochs=1, finetune_epochs=0, device="cpu")
    >>> model, report = aezoo.pretrain(cfg, data, progress=False)
    >>> model.architecture, len(report.stages)
    ('deep', 2)
    """
    return LayerwisePretrainer(config, progress=progress).fit(train, val, out_dir=out_dir)


def save(model: Autoencoder, report: LayerwiseReport, out_dir: str | Path, *, training: Any = None) -> Path:
    """Write the model with the report in config.json (key ``layerwise``) and as layerwise.json."""
    from .serialization import atomic_write

    data = report.to_dict()
    extra: dict[str, Any] = {"layerwise": data}
    if training is not None:
        extra["training"] = training
    path = model.save_pretrained(out_dir, **extra)
    with atomic_write(Path(out_dir) / REPORT_NAME, "w") as f:
        f.write(dumps_json(data))
    return path


def load_report(directory: str | Path) -> dict[str, Any]:
    """The layer-wise report saved with a model directory."""
    return json.loads((Path(directory) / REPORT_NAME).read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- helpers


def _flat_input(data: DeviceDataset, dims: Sequence[int], device: torch.device) -> Tensor:
    n = math.prod(data.shape)
    if n != dims[0]:
        raise ConfigError(
            f"dims start with {dims[0]} but {data.name or 'the data'} has {n} features per sample "
            f"(shape {data.shape!r}); start dims with the flattened input size, e.g. "
            f"--dims {','.join(map(str, (n, *dims[1:])))}"
        )
    if len(data) == 0:
        raise DataError(f"{data.name or 'the training data'!r} is empty; nothing to pretrain on")
    return data.x.to(device).flatten(1).float()


@torch.no_grad()
def _encode_dataset(stage: _Stage, x: Tensor, chunk: int, autocast: Any) -> tuple[Tensor, dict[str, float]]:
    """Codes of every sample (float32, on ``x``'s device) and the stage's reconstruction errors."""
    stage.eval()
    codes = torch.empty(len(x), stage.encoder.out_features, device=x.device, dtype=torch.float32)
    sse = torch.zeros((), device=x.device, dtype=torch.float64)
    for s in range(0, len(x), chunk):
        with autocast():
            h = stage.encode(x[s : s + chunk])
            rec = stage.decode(h)
        codes[s : s + chunk] = h
        sse += (rec.float() - x[s : s + chunk]).pow(2).sum(dtype=torch.float64)
    n, d = max(1, len(x)), x.shape[1]
    total = float(sse)
    return codes, {"mse": total / (n * d), "sse_per_sample": total / n}


def _model_errors(model: Autoencoder, train: DeviceDataset, val: DeviceDataset | None, chunk: int) -> dict[str, Any]:
    """``mse`` and ``sse_per_image`` of ``model`` on train (and val), through :func:`aezoo.evaluate`."""
    from .evaluation import evaluate

    splits = {"train": train} if val is None else {"train": train, "val": val}
    return {
        name: {k: float(v) for k, v in evaluate(model, data, batch_size=chunk).items() if k in ("mse", "sse_per_image")}
        for name, data in splits.items()
    }


def _plain(v: Any) -> Any:
    return [_plain(x) for x in v] if isinstance(v, tuple) else v
