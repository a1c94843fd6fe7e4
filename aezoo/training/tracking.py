"""Experiment tracking: a run's events sent to TensorBoard, MLflow, W&B or CSV (``--log``).

:class:`Tracking` is a :class:`~aezoo.training.Trainer` callback that turns the run's events
into the calls of :class:`~aezoo.training.trackers.Logger`: the hyper-parameters (the
``TrainConfig``, the model's config and the recipe) before the first scalar; every
``log_every`` steps the step's loss terms, the learning rate and the throughput (samples/s);
every epoch the train and val terms, the epoch's learning rate, throughput and time, and a
reconstruction grid (:func:`~aezoo.evaluation.plots.reconstruction_grid`) as an image; at the
end the final metrics and the model folder's files as an artifact. Only rank 0 logs. A tracker
that fails is dropped with a warning: tracking never ends a run.

Trackers are given by name (``"tensorboard"``, ``"mlflow"``, ``"wandb"``, ``"csv"``, or several
comma-separated), each writing under ``log_dir`` (default ``<out>/logs``), or as ``Logger`` objects.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from ..core.config import config_to_dict
from ..core.errors import ConfigError, unknown_name
from ..evaluation.plots import reconstruction_grid
from .checkpoint import CHECKPOINT_JSON, CHECKPOINT_TENSORS, PREVIOUS_TENSORS
from .trackers import CSVLogger, Logger, MLflowLogger, TensorBoardLogger, WandbLogger

if TYPE_CHECKING:
    from ..data import Dataset
    from ..models.base import Autoencoder
    from .trainer import Trainer, TrainEvent

__all__ = ["TRACKERS", "Tracking", "default_log_dir", "make_logger", "model_files"]

#: The trackers ``--log`` names; each is an optional extra (``pip install "aezoo[NAME]"``) but csv.
TRACKERS = ("csv", "mlflow", "tensorboard", "wandb")
LoggerSpec = str | Logger


def make_logger(name: str, log_dir: str | Path, *, append: bool = False) -> Logger:
    """The logger called ``name``, writing under ``log_dir`` (``append``: continue a resumed run's CSV)."""
    key = name.strip().lower()
    log_dir = Path(log_dir)
    if key == "csv":
        return CSVLogger(log_dir / "csv", append=append)
    if key == "tensorboard":
        return TensorBoardLogger(log_dir / "tensorboard")
    if key == "mlflow":
        return MLflowLogger(log_dir / "mlflow")
    if key == "wandb":
        return WandbLogger(log_dir)  # wandb makes its own wandb/ folder in there
    raise unknown_name("tracker", name, TRACKERS, "--log takes names like tensorboard,csv")


def default_log_dir(out_dir: str | Path | None) -> Path:
    """``<out>/logs``; without an ``out_dir``, ``runs/aezoo-<date>-<time>`` in the working folder."""
    if out_dir is not None:
        return Path(out_dir) / "logs"
    return Path("runs") / time.strftime("aezoo-%Y%m%d-%H%M%S")


def model_files(directory: str | Path) -> list[Path]:
    """The files of a model folder worth keeping as an artifact (no checkpoints, locks or logs)."""
    skip = {CHECKPOINT_JSON, CHECKPOINT_TENSORS, PREVIOUS_TENSORS}
    return sorted(
        p for p in Path(directory).iterdir() if p.is_file() and not p.name.startswith(".") and p.name not in skip
    )


def _jsonable(data: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(dict(data), default=str))


class _Run:
    """The loggers of one run, shared by its :meth:`Tracking.scope` views."""

    def __init__(self, loggers: list[Logger]) -> None:
        self.loggers = loggers
        self.started = False
        self.closed = False

    def call(self, method: str, *args: Any) -> None:
        for logger in list(self.loggers):
            try:
                getattr(logger, method)(*args)
            except Exception as e:  # a tracker's outage is not the run's
                self.loggers.remove(logger)
                warnings.warn(
                    f"{type(logger).__name__}.{method} failed ({type(e).__name__}: {e}); the run goes on without it",
                    stacklevel=3,
                )
                with contextlib.suppress(Exception):
                    logger.close(failed=True)


class Tracking:
    """Log a run to experiment trackers; a Trainer callback and a context manager.

    ``images`` (a dataset or a batch in model space) gives the first ``n_images`` samples whose
    reconstructions are logged each epoch. As a context manager it closes the trackers when the
    block ends, marking the run failed if it raised; otherwise they close when the run ends.

    >>> import aezoo, torch, tempfile
    >>> data = aezoo.DeviceDataset(torch.rand(64, 1, 28, 28))
    >>> with Tracking(["csv"], log_dir=tempfile.mkdtemp(), images=data) as tracking:
    ...     _ = aezoo.Trainer(aezoo.create("linear"), callbacks=[tracking], progress=False).fit(data)
    """

    def __init__(
        self,
        loggers: str | Iterable[LoggerSpec],
        *,
        log_dir: str | Path | None = None,
        images: Dataset | Tensor | None = None,
        n_images: int = 16,
        append: bool = False,
    ) -> None:
        directory = Path(log_dir) if log_dir is not None else default_log_dir(None)
        resolved: list[Logger] = []
        for spec in [loggers] if isinstance(loggers, str) else loggers:
            if isinstance(spec, str):
                names = [n for n in spec.split(",") if n.strip()]
                resolved += [make_logger(n, directory, append=append) for n in names]
            elif isinstance(spec, Logger):
                resolved.append(spec)
            else:
                raise ConfigError(
                    f"a logger is a tracker's name ({', '.join(TRACKERS)}) or an object with log_params, "
                    f"log_scalars, log_image, log_summary, log_artifact and close; got {spec!r}"
                )
        self.log_dir = directory
        self.images = images
        self.n_images = n_images
        self.prefix = ""  # put before every tag (the layer-wise engine's "finetune/")
        self.step_offset = 0  # added to every step (fine-tuning after the stages' steps)
        self.finishes = True  # the fit's end logs the final metrics and the model, and closes
        self._run = _Run(resolved)
        self._mark: tuple[int, float] | None = None  # (global step, time) throughput is measured from
        self._batch: Tensor | None = None

    @property
    def loggers(self) -> list[Logger]:
        return self._run.loggers

    def scope(self, prefix: str, step_offset: int = 0, *, images: Dataset | Tensor | None = None) -> Tracking:
        """A view on the same trackers whose tags start with ``prefix``; its fit's end closes nothing."""
        view = object.__new__(Tracking)
        view.__dict__.update(self.__dict__)
        view.prefix, view.step_offset, view.finishes = self.prefix + prefix, self.step_offset + step_offset, False
        view.images, view._mark, view._batch = images if images is not None else self.images, None, None
        return view

    def __enter__(self) -> Tracking:
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        self.close(failed=exc_type is not None)

    # ------------------------------------------------------------------ what is logged
    def start(self, params: Mapping[str, Any]) -> None:
        """Open the trackers' runs with these hyper-parameters (once; later calls do nothing)."""
        if not self._run.started:
            self._run.started = True
            self._run.call("log_params", _jsonable(params))

    def scalars(self, scalars: Mapping[str, float], step: int) -> None:
        self._run.call("log_scalars", {self.prefix + k: float(v) for k, v in scalars.items()}, step + self.step_offset)

    def reconstructions(self, model: Autoencoder, step: int) -> None:
        """The grid of :func:`~aezoo.evaluation.plots.reconstruction_grid` as an image tagged ``reconstruction``."""
        if self.images is None or self.n_images <= 0 or not self._run.loggers:
            return
        if self._batch is None:
            images = self.images
            self._batch = (
                images if isinstance(images, Tensor) else next(iter(images.batches(self.n_images, shuffle=False)))
            )
        from PIL import Image

        with tempfile.TemporaryDirectory() as tmp:
            path = reconstruction_grid(model, self._batch[: self.n_images], Path(tmp) / "r.png", n=self.n_images)
            with Image.open(path) as png:
                image = torch.from_numpy(np.array(png.convert("RGB"))).permute(2, 0, 1).contiguous()
        self._run.call("log_image", self.prefix + "reconstruction", image, step + self.step_offset)

    def finish(self, metrics: Mapping[str, float], model_dir: str | Path | None, name: str = "model") -> None:
        """The final metrics (prefixed) and, when there is one, the model folder's files as artifact ``name``."""
        self._run.call("log_summary", {self.prefix + k: float(v) for k, v in metrics.items()})
        if model_dir is not None and Path(model_dir).is_dir():
            self._run.call("log_artifact", model_files(model_dir), name)

    def close(self, failed: bool = False) -> None:
        if not self._run.closed:
            self._run.closed = True
            self._run.call("close", failed)

    # ------------------------------------------------------------------ the Trainer's events
    def on_step_end(self, event: TrainEvent) -> None:
        trainer, step = event.trainer, event.global_step
        if not trainer.env.is_main:
            return
        self.start(run_params(trainer))
        now, every = time.perf_counter(), trainer.config.log_every
        if step % every == 0:  # the one host sync, as often as the progress bar's
            scalars = {
                f"step/{k}": float(v) for k, v in event.terms.items() if isinstance(v, Tensor) and v.numel() == 1
            }
            scalars["step/lr"] = trainer.lr
            if self._mark is not None and step > self._mark[0]:
                samples = (step - self._mark[0]) * trainer.config.batch_size * trainer.env.world_size
                scalars["step/samples_per_s"] = samples / max(now - self._mark[1], 1e-9)
            self.scalars(scalars, step)
        if self._mark is None or step % every == 0:
            self._mark = (step, now)

    def on_epoch_end(self, event: TrainEvent) -> None:
        trainer = event.trainer
        if not trainer.env.is_main:
            return
        self.start(run_params(trainer))
        h = trainer.history
        scalars = {f"{group}/{k}": v for group in ("train", "val") for k, v in event.terms.get(group, {}).items()}
        scalars.update({"epoch": event.epoch + 1, "epoch/lr": h.lr[-1], "epoch/samples_per_s": h.samples_per_s[-1]})
        scalars["epoch/wall_s"] = h.wall_s[-1]
        self.scalars(scalars, event.global_step)
        self.reconstructions(trainer.model, event.global_step)  # in eval mode: draws nothing from the run's noise
        self._mark = (event.global_step, time.perf_counter())  # validation and drawing are not training time

    def on_fit_end(self, event: TrainEvent) -> None:
        trainer = event.trainer
        if not trainer.env.is_main:
            return
        self.start(run_params(trainer))
        if self.finishes:
            self.finish(final_metrics(trainer), trainer.out_dir)
            self.close()


def run_params(trainer: Trainer) -> dict[str, Any]:
    """The hyper-parameters of a Trainer's run: its config, the model's config and the recipe."""
    model = trainer.model
    return {
        "train": trainer.config.to_dict(),
        "model": {"architecture": model.architecture, **config_to_dict(model.config)},
        "recipe": dict(trainer.recipe),
    }


def final_metrics(trainer: Trainer) -> dict[str, float]:
    """``final/train/<term>``, ``final/val/<term>``, ``final/epochs``, ``final/wall_s`` (and the best epoch)."""
    h = trainer.history
    metrics = {f"final/{group}/{k}": v[-1] for group in ("train", "val") for k, v in getattr(h, group).items() if v}
    metrics["final/epochs"], metrics["final/wall_s"] = len(h.epoch), sum(h.wall_s)
    if h.best_epoch is not None:
        metrics["final/best_epoch"] = h.best_epoch
    return metrics
