"""Greedy layer-wise pretraining: stack one-hidden-layer autoencoders, unroll, fine-tune.

The recipe of Hinton & Salakhutdinov, "Reducing the Dimensionality of Data with Neural Networks",
Science 313 (2006), with autoencoders in place of RBMs (Bengio et al., 2007; Vincent et al., 2010
for the denoising kind):

1. layer ``k`` is trained as a one-hidden-layer autoencoder ``dims[k-1] -> dims[k] -> dims[k-1]``
   on the codes of layers ``1..k-1``, which are computed once per stage and stay on the device.
   A stage is a model of a registered architecture that declares ``capabilities.stage``
   (``plain``, ``denoising``, ``sparse``, ``tied``, or a plugin's), built by its
   ``as_stage(spec)`` and trained on its own ``loss``: the engine keeps no models of its own;
2. the stage weights are copied into a ``deep`` model (encoder ``i`` from stage ``i``'s encoder,
   decoder ``L-1-i`` from its decoder) by :meth:`aezoo.models.mlp.MLPAutoencoder.from_stages`,
   which reproduces the stacked stages exactly;
3. that model is fine-tuned end to end by :class:`aezoo.training.Trainer`.

Per-stage losses. Each stage's output unit is the unit of the layer it reconstructs in the
unrolled model: stage 1 uses ``output_activation`` (sigmoid, for pixels in [0, 1]); stage ``k>1``
uses the hidden ``activation`` of layer ``k-1``. A sigmoid output whose targets lie in [0, 1] is
trained with binary cross-entropy (on the logits, stable under bf16 autocast), anything else with
mean squared error. So the code layer (``code_activation="linear"``) is trained to reconstruct
the sigmoid codes below it with sigmoid units and cross-entropy, as in the 2006 paper.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..core import progress
from ..core.config import dumps_json
from ..core.errors import ConfigError, DataError, TrainingError
from ..core.seeding import generator, seeded
from ..data import DeviceDataset
from ..evaluation.metrics import evaluate
from ..io.serialization import CONFIG_NAME, atomic_write, read_config
from ..models.base import Autoencoder, StageSpec
from ..models.mlp import DeepAE
from .config import TrainConfig
from .distributed import resolve_device
from .layerwise_config import LayerwiseConfig, LayerwiseReport, stage_architectures, stage_class
from .rundir import claim_run_dir
from .trackers import Logger
from .tracking import Tracking, default_log_dir
from .trainer import Trainer

__all__ = [
    "LayerwiseConfig",
    "LayerwisePretrainer",
    "LayerwiseReport",
    "load_report",
    "pretrain",
    "save",
    "stage_architectures",
    "stage_class",
    "unroll",
]

REPORT_NAME = "layerwise.json"


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
        self,
        config: LayerwiseConfig,
        *,
        progress: bool = True,
        recipe: Mapping[str, Any] | None = None,
        loggers: str | Iterable[str | Logger] = (),
        log_dir: str | Path | None = None,
    ) -> None:
        self.config = config
        self.progress = progress
        self.recipe = dict(recipe or {})  # extra keys for config.json's "training" (e.g. the command)
        self.loggers = loggers  # experiment trackers (aezoo.training.tracking): stages as stage<i>/, then finetune/
        self.log_dir = log_dir  # where they write; default <out_dir>/logs
        self._tracking: Tracking | None = None
        self._steps_done = 0  # the stages' steps so far: the trackers' step axis
        self.device = resolve_device(str(config.device))
        bf16 = config.precision == "bf16" or (config.precision == "auto" and self.device.type == "cuda")
        self.precision = "bf16" if bf16 else "fp32"
        self.stages: list[Autoencoder] = []  # the trained stages, in eval mode
        self._specs: list[StageSpec] = []

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
        records, self.stages, self._specs = [], [], []
        for i, kind in enumerate(cfg.kinds):
            stage = self._make_stage(i, kind, x)
            record = self._train_stage(i, kind, stage, x)
            t0 = time.perf_counter()
            # The codes feed the next stage: computed once, kept on the device, no host round trip.
            x, record["train_error"] = _encode_dataset(stage, x, self._eval_batch, self._autocast)
            if v is not None:
                v, record["val_error"] = _encode_dataset(stage, v, self._eval_batch, self._autocast)
            self._sync()
            record["encode_s"] = time.perf_counter() - t0
            record["wall_s"] = record["train_s"] + record["encode_s"]
            errors = {
                f"{split}_{k}": v for split in ("train", "val") for k, v in record.get(f"{split}_error", {}).items()
            }
            self._log({**errors, "samples_per_s": record["samples_per_s"] or 0.0, "wall_s": record["wall_s"]}, i)
            self.stages.append(stage.eval())
            records.append(record)
        return records

    @property
    def _eval_batch(self) -> int:
        return max(self.config.batch_size, 8192)

    def _make_stage(self, i: int, kind: str, x: Tensor) -> Autoencoder:
        """Stage ``i``: ``kind``'s architecture as a one-hidden-layer model, seeded, on the device."""
        cfg = self.config
        last = i == cfg.num_layers - 1
        output = cfg.output_activation if i == 0 else cfg.activation
        in_unit = bool(((x >= 0) & (x <= 1)).all())  # one sync per stage
        spec = StageSpec(
            in_dim=cfg.dims[i],
            code_dim=cfg.dims[i + 1],
            activation=cfg.code_activation if last else cfg.activation,
            output_activation=output,
            loss="bce" if output == "sigmoid" and in_unit else "mse",
            noise=cfg.noise,
            sparsity=cfg.sparsity,
            sparsity_weight=cfg.sparsity_weight,
            options=dict((cfg.stage_options or {}).get(kind, {})),
        )
        cls = stage_class(kind)
        with seeded(cfg.seed + i, self.device):  # the layers' initial weights
            stage = cls.as_stage(spec)
        if stage.input_shape != (spec.in_dim,) or stage.latent_dim != spec.code_dim:
            raise TrainingError(
                f"{cls.__name__}.as_stage built a model with input_shape {stage.input_shape!r} and latent_dim "
                f"{stage.latent_dim!r}, but stage {i + 1} needs ({spec.in_dim},) and {spec.code_dim}"
            )
        stage.to(self.device)
        stage.generator = generator(cfg.seed + 2000 + i, self.device)  # its training noise
        self._specs.append(spec)
        return stage

    def _train_stage(self, i: int, kind: str, stage: Autoencoder, x: Tensor) -> dict[str, Any]:
        """Adam on the stage's own ``loss`` over device-side shuffled batches; one sync per epoch."""
        cfg, spec = self.config, self._specs[i]
        epochs, n = cfg.epochs_per_stage[i], len(x)
        bs = min(cfg.batch_size, n)
        stop = n - n % bs  # drop the ragged last batch: static shapes for compile, reshuffled each epoch
        cuda = self.device.type == "cuda"
        opt = torch.optim.Adam(stage.parameters(), lr=cfg.layer_lr, fused=cuda or None)
        loss_fn = torch.compile(stage.loss) if cfg.compile else stage.loss
        order_gen = generator(cfg.seed + 1000 + i, self.device)
        n_in, n_out = cfg.dims[i], cfg.dims[i + 1]
        desc = f"stage {i + 1}/{cfg.num_layers} {n_in}->{n_out} {kind}"
        history: list[dict[str, float]] = []
        stage.train()
        self._sync()
        t0 = time.perf_counter()
        steps = max(1, stop // bs)
        with progress.bar(epochs * steps, desc, unit="step", enabled=self.progress, leave=True) as bar:
            for epoch in range(epochs):
                order = torch.randperm(n, device=self.device, generator=order_gen)
                sums: dict[str, Tensor] = {}
                for s in range(0, stop, bs):
                    with self._autocast():
                        terms = loss_fn(x[order[s : s + bs]])
                    opt.zero_grad(set_to_none=True)
                    terms["loss"].backward()
                    opt.step()
                    for k, t in terms.items():
                        sums[k] = sums.get(k, 0) + t.detach()
                    bar.update()
                row = {k: float(t) / steps for k, t in sums.items()}  # one sync per epoch
                history.append(row)
                self._steps_done += steps
                self._log(row, i)
                bar.set_postfix(epoch=f"{epoch + 1}/{epochs}", loss=f"{row.get('loss', float('nan')):.4f}")
        self._sync()
        train_s = time.perf_counter() - t0
        seen = epochs * stop
        return {
            "stage": i + 1,
            "kind": kind,
            "architecture": stage.architecture,
            "dims": [n_in, n_out],
            "hidden_activation": spec.activation,
            "output_activation": spec.output_activation,
            "loss": spec.loss,
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
        self,
        train: DeviceDataset,
        val: DeviceDataset | None = None,
        *,
        out_dir: str | Path | None = None,
        overwrite: bool = False,
    ) -> tuple[Autoencoder, LayerwiseReport]:
        """Pretrain the stages, unroll, fine-tune; save to ``out_dir`` when given.

        The run holds ``out_dir`` from start to end and refuses one that holds another run
        unless ``overwrite=True`` (see :func:`aezoo.training.rundir.claim_run_dir`).
        """
        log_dir = self.log_dir if self.log_dir is not None else default_log_dir(out_dir)
        self._tracking = Tracking(self.loggers, log_dir=log_dir) if self.loggers else None
        self._steps_done = 0
        with self._tracking or contextlib.nullcontext():
            if out_dir is None:
                return self._fit(train, val, None)
            with claim_run_dir(out_dir, overwrite=overwrite, extra_files=(REPORT_NAME,)):
                return self._fit(train, val, out_dir)

    def _log(self, scalars: Mapping[str, float], stage: int) -> None:
        """Stage ``stage``'s numbers as ``stage<n>/<name>`` at the stages' step so far."""
        if self._tracking is not None:
            self._tracking.scalars({f"stage{stage + 1}/{k}": v for k, v in scalars.items()}, self._steps_done)

    def _fit(
        self, train: DeviceDataset, val: DeviceDataset | None, out_dir: str | Path | None
    ) -> tuple[Autoencoder, LayerwiseReport]:
        t0 = time.perf_counter()
        report = LayerwiseReport(config=self.config.to_dict(), device=str(self.device), precision=self.precision)
        finetune = self.finetune_config()  # checked before hours of pretraining, not after
        if self._tracking is not None:
            self._tracking.start({"layerwise": self.config.to_dict(), "recipe": self.recipe})
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
        if self._tracking is not None:
            errors = report.finetune.get("errors", report.unrolled)
            final = {f"final/{split}/{k}": v for split, terms in errors.items() for k, v in terms.items()}
            self._tracking.finish({**final, "final/wall_s": report.wall_s}, out_dir)
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
        tracking = self._tracking.scope("finetune/", self._steps_done, images=train) if self._tracking else None
        trainer = Trainer(
            model,
            tc,
            out_dir=out_dir,
            progress=self.progress,
            recipe={"pretraining": "layerwise", **self.recipe},
            callbacks=[tracking] if tracking is not None else [],
        )
        self._sync()
        t0 = time.perf_counter()
        history = trainer.fit(train.to(self.device), val.to(self.device) if val is not None else None)
        self._sync()
        wall = time.perf_counter() - t0
        n = len(train) if val is not None else len(train) - round(len(train) * tc.val_fraction)  # Trainer's hold-out
        seen = n * len(history.epoch)
        flops_per_sample = 12 * sum(a * b for a, b in itertools.pairwise(self.config.dims))
        record = {
            "config": tc.to_dict(),
            "epochs": len(history.epoch),
            "wall_s": wall,
            "samples_per_s": seen / wall if wall > 0 else None,
            "flops": flops_per_sample * seen,  # encoder + decoder, forward + backward
            "history": history.to_dict(),
        }
        meta = None
        if out_dir is not None and (Path(out_dir) / CONFIG_NAME).is_file():
            meta = read_config(out_dir).get("training")
        return record, meta


def unroll(stages: Sequence[Autoencoder], config: LayerwiseConfig, input_shape: Sequence[int]) -> Autoencoder:
    """The ``deep`` model of ``config`` stacked from trained stages (:meth:`DeepAE.from_stages`).

    ``encoder[i]`` takes stage ``i``'s encoder. ``decoder[L-1-i]`` takes stage ``i``'s decoder
    (``init="decoder"``) or its encoder transposed with the stage's decoder bias
    (``init="transpose"``). If every stage is tied, the model is tied too and keeps the biases.
    """
    if len(stages) != config.num_layers:
        raise TrainingError(
            f"unroll needs {config.num_layers} trained stages for dims={config.dims!r}, got {len(stages)}"
        )
    return DeepAE.from_stages(
        [stage.stage_weights() for stage in stages],
        input_shape=input_shape,
        init=config.init,
        activation=config.activation,
        code_activation=config.code_activation,
        output_activation=config.output_activation,
    )


def pretrain(
    config: LayerwiseConfig,
    train: DeviceDataset,
    val: DeviceDataset | None = None,
    *,
    out_dir: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
    loggers: str | Iterable[str | Logger] = (),
    log_dir: str | Path | None = None,
) -> tuple[Autoencoder, LayerwiseReport]:
    """Layer-wise pretraining, unrolling and fine-tuning in one call; returns ``(model, report)``.

    ``loggers`` and ``log_dir`` are those of :func:`aezoo.train` (docs/tracking.md).

    >>> import aezoo, torch
    >>> data = aezoo.DeviceDataset(torch.rand(64, 1, 28, 28))
    >>> cfg = aezoo.LayerwiseConfig(dims=(784, 16, 4), layer_epochs=1, finetune_epochs=0, device="cpu")
    >>> model, report = aezoo.pretrain(cfg, data, progress=False)
    >>> model.architecture, len(report.stages)
    ('deep', 2)
    """
    engine = LayerwisePretrainer(config, progress=progress, loggers=loggers, log_dir=log_dir)
    return engine.fit(train, val, out_dir=out_dir, overwrite=overwrite)


def save(model: Autoencoder, report: LayerwiseReport, out_dir: str | Path, *, training: Any = None) -> Path:
    """Write the model with the report in config.json (key ``layerwise``) and as layerwise.json."""
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
def _encode_dataset(stage: Autoencoder, x: Tensor, chunk: int, autocast: Any) -> tuple[Tensor, dict[str, float]]:
    """Codes of every sample (float32, on ``x``'s device) and the stage's reconstruction errors."""
    stage.eval()
    codes = torch.empty(len(x), stage.latent_dim, device=x.device, dtype=torch.float32)
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
    splits = {"train": train} if val is None else {"train": train, "val": val}
    return {
        name: {k: float(v) for k, v in evaluate(model, data, batch_size=chunk).items() if k in ("mse", "sse_per_image")}
        for name, data in splits.items()
    }
