"""The training loop: one loop for every architecture, driven by the model's own training step.

Read top to bottom, :meth:`Trainer.fit` is: take the data onto the device, let the model build
its optimizers, start fresh or from the checkpoint, then for each epoch: for each batch of the
epoch's shuffle, ``model.training_step(batch, optimizers)`` (the model's loss, backward and
optimizer steps); evaluate under ``no_grad``; record; checkpoint. At the end, write the model
folder. What a model does in a step (noise, KL, an adversary) is the model's business; the
trainer owns the optimizer type, the LR schedule, precision, gradient clipping and sync (in a
pre-step hook on each optimizer) and data order. What a checkpoint holds and how a run resumes
is :mod:`~aezoo.training.checkpoint`; what a run writes, :mod:`~aezoo.training.outputs`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
import warnings
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..core import progress, seeding
from ..core.errors import ConfigError, InputError, TrainingError
from ..data import Dataset, DeviceDataset, StreamedDataset, load_dataset
from ..models.base import Autoencoder
from ..registry.architectures import create
from . import distributed
from .augment import random_shift
from .checkpoint import RunState, load_run, run_identity, save_run
from .config import History, TrainConfig, lr_factor, make_optimizer_factory
from .outputs import training_record, write_history, write_outputs
from .rundir import claim_for_ranks
from .trackers import Logger
from .tracking import Tracking, default_log_dir

__all__ = ["Callback", "TrainEvent", "Trainer", "drive", "train"]


@dataclasses.dataclass
class TrainEvent:
    """What a callback receives at the end of every step and every epoch."""

    kind: str  # "step", "epoch", or "fit" (once, after the run has written its model folder)
    trainer: Trainer  # set trainer.should_stop = True to end the run after this step/epoch
    epoch: int  # 0-based epoch the event belongs to
    step: int  # batches done in that epoch
    global_step: int  # batches done in the whole run
    terms: Mapping[str, Any]  # step: the step's loss tensors; epoch: {"train": {...}, "val": {...}}; fit: {}


#: A callback is a function of a :class:`TrainEvent`, or an object with ``on_step_end(event)``,
#: ``on_epoch_end(event)`` and/or ``on_fit_end(event)`` methods.
Callback = Callable[[TrainEvent], None] | Any


class Trainer:
    """Train any zoo model with one loop; checkpoints, resume and ``torchrun`` data parallelism.

    ``out_dir`` receives ``model.safetensors`` + ``config.json`` (loadable with ``aezoo.load``),
    ``history.json``, ``loss_curve.png`` and the checkpoint pair. Without it nothing is written
    (and there is nothing to resume from).

    >>> import aezoo, torch
    >>> data = aezoo.DeviceDataset(torch.rand(256, 1, 28, 28))
    >>> history = Trainer(aezoo.create("linear"), TrainConfig(epochs=2), progress=False).fit(data)
    >>> len(history.epoch)
    2
    """

    def __init__(
        self,
        model: Autoencoder,
        config: TrainConfig | None = None,
        *,
        out_dir: str | Path | None = None,
        callbacks: Iterable[Callback] = (),
        progress: bool | None = None,
        recipe: Mapping[str, Any] | None = None,
    ) -> None:
        self.model = model
        self.config = config or TrainConfig.for_model(model)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.callbacks = list(callbacks)
        self.progress = progress  # False: silent; None/True: a bar on a terminal, plain lines elsewhere
        self.recipe = dict(recipe or {})  # extra keys for config.json's "training" (e.g. the command)
        self.history = History()
        self.should_stop = False
        self.env = distributed.DistEnv()
        self._optimizers: dict[str, torch.optim.Optimizer] = {}
        self._hooks: list[Any] = []
        self._identity: dict[str, Any] = {}  # what a checkpoint of this run must match to be resumed
        self.total_steps = self.start_step = 0  # of the run in progress: all its steps, and where it started

    # ------------------------------------------------------------------ the loop
    def fit(
        self,
        train: Dataset | Tensor,
        val: Dataset | Tensor | None = None,
        *,
        resume: bool = False,
        overwrite: bool = False,
    ) -> History:
        """Train on ``train`` (validating on ``val``, or on a held-out ``val_fraction`` of it).

        ``resume=True`` continues the run checkpointed in ``out_dir`` and ends with the same
        weights, bit for bit, as a run that was never interrupted. The run holds ``out_dir``
        while it lasts (another run there is refused at once), and a fresh run refuses an
        ``out_dir`` that holds another run unless ``overwrite=True`` (which removes its files
        first) or ``resume=True``. A loss or weights that stop being finite end the run with a
        :class:`~aezoo.core.errors.TrainingError`, without writing a model.
        """
        with self.session(train, val, resume=resume, overwrite=overwrite) as steps:
            return drive(steps, self._step)

    @contextlib.contextmanager
    def session(
        self,
        train: Dataset | Tensor,
        val: Dataset | Tensor | None = None,
        *,
        resume: bool = False,
        overwrite: bool = False,
    ) -> Iterator[Generator[Tensor, Mapping[str, Tensor], History]]:
        """The run of :meth:`fit` as a generator that yields each batch and is sent its loss terms.

        ``fit`` is ``drive(steps, trainer._step)``; :func:`aezoo.train_many` drives several
        trainers' generators in lock-step and computes their steps at once. On leaving the
        block the run's hooks, generator and ``out_dir`` are released, finished or not.
        """
        train, val = _as_dataset(train, "train"), _as_dataset(val, "val") if val is not None else None
        _check_data(train, val, self.config)  # before out_dir is claimed (and, with overwrite, emptied)
        self.env = distributed.setup(self.config.device)
        self.should_stop = False
        noise = self.model.generator
        own_out_dir = (
            claim_for_ranks(self.out_dir, self.env, resume=resume, overwrite=overwrite)
            if self.out_dir is not None
            else contextlib.nullcontext()
        )
        try:
            with own_out_dir:
                yield self._steps(train, val, resume)
        finally:
            self.model.generator = noise  # the run's generator does not outlive the run
            for h in self._hooks:
                h.remove()
            self._hooks.clear()
            self.model.__dict__.pop("loss", None)  # drop the compiled loss, if any
            self.model.eval()
            self.env.close()

    def _step(self, x: Tensor) -> Mapping[str, Tensor]:
        """One training step of this trainer's model alone."""
        with self._autocast():
            return self.model.training_step(x, self._optimizers)  # the model's loss, backward and steps

    def _steps(
        self, train: Dataset, val: Dataset | None, resume: bool
    ) -> Generator[Tensor, Mapping[str, Tensor], History]:
        cfg, env = self.config, self.env
        train, val, data_order = self._setup(train, val, resume)
        state = self._start(resume, data_order)
        if cfg.patience and val is None:
            warnings.warn("patience is set but there is no validation data; early stopping is off", stacklevel=4)
        steps_per_epoch = distributed.num_batches(len(train), cfg.batch_size, env)
        total_steps = steps_per_epoch * cfg.epochs
        self.total_steps, self.start_step = total_steps, state.global_step  # for a progress bar over many runs

        while state.epoch < cfg.epochs and not self.history.stopped_early and not self.should_stop:
            t0 = time.perf_counter()
            if state.step == 0:
                state.epoch_rng = data_order.get_state()
            train_terms, samples_per_s = yield from self._train_epoch(
                train, state, data_order, steps_per_epoch, total_steps
            )
            if self.should_stop and state.step < steps_per_epoch:
                break  # a callback ended the run mid-epoch; its last checkpoint stays as it was
            val_terms = self._validate(val) if val is not None else {}
            self._check_finite(state, {"train loss": train_terms.get("loss"), "val loss": val_terms.get("loss")})
            self.history.append(
                state.epoch + 1,
                train_terms,
                val_terms,
                lr=self._lr(),
                samples_per_s=samples_per_s,
                wall_s=time.perf_counter() - t0,
            )
            self._early_stopping(state, val_terms)
            state = dataclasses.replace(
                state, epoch=state.epoch + 1, step=0, sums={}, count=0, epoch_rng=data_order.get_state()
            )
            self._checkpoint(state)
            self._print_epoch(state.epoch)
            self._emit("epoch", state, {"train": train_terms, "val": val_terms})

        self._check_finite(state, {})  # also when a callback stopped the run mid-epoch
        self._write_outputs(train, val)
        self._emit("fit", state, {})  # e.g. trackers log the final metrics and the model folder
        return self.history

    def _train_epoch(
        self, train: Dataset, state: RunState, data_order: torch.Generator, steps_per_epoch: int, total_steps: int
    ) -> Generator[Tensor, Mapping[str, Tensor], tuple[dict[str, float], float]]:
        """One pass over the epoch's shuffle (from ``state.step`` on); the epoch's mean terms and samples/s."""
        cfg, env = self.config, self.env
        assert state.epoch_rng is not None  # set when the epoch starts (or restored with it)
        data_order.set_state(state.epoch_rng)  # the epoch's shuffle, also when resuming mid-epoch
        batches = distributed.shard_batches(train, cfg.batch_size, env, generator=data_order, start=state.step)
        bar = self._bar(steps_per_epoch, state)
        t0, seen = time.perf_counter(), 0
        for x in batches:
            self._set_lr(lr_factor(cfg, state.global_step, total_steps))
            if cfg.shift:
                x = random_shift(x, cfg.shift, self.model.generator)
            terms = yield x  # the step: Trainer._step, or train_many's for many models at once
            _accumulate(state.sums, terms, len(x))
            state.count += len(x)
            state.step += 1
            state.global_step += 1
            seen += len(x)
            bar.update()
            if not bar.disable and state.step % cfg.log_every == 0:  # the only host sync inside an epoch
                rate = seen * env.world_size / (time.perf_counter() - t0)
                bar.set_postfix(loss=f"{float(terms['loss']):.4g}", samples_s=f"{rate:,.0f}")
            if cfg.checkpoint_every and state.global_step % cfg.checkpoint_every == 0 and state.step < steps_per_epoch:
                self._check_finite(state, {"train loss": self._mean_terms(state.sums, state.count).get("loss")})
                self._checkpoint(state)
            self._emit("step", state, terms)
            if self.should_stop:
                break
        bar.close()
        means = self._mean_terms(state.sums, state.count)
        return means, seen * env.world_size / max(time.perf_counter() - t0, 1e-9)

    @torch.no_grad()
    def _validate(self, val: Dataset) -> dict[str, float]:
        """Sample-weighted mean of each ``model.loss`` term over the (this rank's) validation data."""
        self.model.eval()
        sums: dict[str, Tensor] = {}
        try:
            for x in val.batches(self.config.batch_size, shuffle=False):
                with self._autocast():
                    _accumulate(sums, self.model.loss(x), len(x))
        finally:
            self.model.train()
        return self._mean_terms(sums, len(val))

    # ------------------------------------------------------------------ before the first epoch
    def _setup(
        self, train: Dataset, val: Dataset | None, resume: bool
    ) -> tuple[Dataset, Dataset | None, torch.Generator]:
        """Model and data on the device, the optimizers, the generators; returns the data order's."""
        cfg, env, model = self.config, self.env, self.model
        if resume and self.out_dir is None:
            raise TrainingError("resume=True needs the run's out_dir (the --out directory it wrote)")
        if env.device.type == "cuda":
            torch.set_float32_matmul_precision("high")
        model.to(env.device).train()
        if val is None and cfg.val_fraction > 0:
            train, val = train.split(cfg.val_fraction, seed=cfg.seed)
        train = train if train.device == env.device else train.to(env.device)
        if val is not None:
            val = val if val.device == env.device else val.to(env.device)
            if len(val) == 0:
                val = None
        if val is not None and env.distributed:  # each rank validates on its share
            val = val.subset(torch.arange(env.rank, len(val), env.world_size, device=val.device))
        model.preprocessing = train.preprocessing
        self._optimizers = self._configure_optimizers()
        dataset = {"name": train.name, "num_samples": len(train)}
        if train.streamed:  # shuffled in buffers: another order, and one that depends on their sizes
            dataset["streamed"] = train.batch_order
        self._identity = run_identity(model, cfg, self._optimizers, dataset, env.world_size)
        data_order = seeding.generator(cfg.seed)  # the same on every rank
        model.generator = seeding.generator(cfg.seed + env.rank, env.device)  # its own noise: per rank
        return train, val, data_order

    def _start(self, resume: bool, data_order: torch.Generator) -> RunState:
        """A fresh run's state (every rank starts from rank 0's weights), or the checkpoint's."""
        cfg, env = self.config, self.env
        if resume:
            assert self.out_dir is not None  # checked by _setup
            state, self.history = load_run(
                self.out_dir,
                model=self.model,
                optimizers=self._optimizers,
                data_generator=data_order,
                identity=self._identity,
                env=env,
            )
        else:
            state, self.history = RunState(), History()
            env.broadcast_module(self.model)
        if cfg.compile:
            # An instance attribute shadows the method: training_step and validation call self.loss.
            self.model.loss = torch.compile(self.model.loss)  # type: ignore[method-assign]
        return state

    # ------------------------------------------------------------------ pieces of the loop
    def _check_finite(self, state: RunState, losses: Mapping[str, float | None]) -> None:
        """Stop a diverged run before it writes a checkpoint or a model (one device sync)."""
        params = [p.detach() for p in self.model.parameters()]
        weights_ok = bool(torch.stack([torch.isfinite(p).all() for p in params]).all()) if params else True
        bad = [f"the {k} is {v!r}" for k, v in losses.items() if v is not None and not math.isfinite(v)]
        if not weights_ok:
            bad.append("the weights hold NaN or infinite values")
        if bad:
            raise TrainingError(
                f"training diverged in epoch {state.epoch + 1} (step {state.global_step}): {', '.join(bad)}; "
                f"no model was written. Lower the learning rate (lr={self.config.lr!r}), clip the gradients "
                "(--grad-clip), or check the data, and run again (with --overwrite if --out kept earlier checkpoints)"
            )

    def _configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        optimizers = self.model.configure_optimizers(make_optimizer_factory(self.config, self.env.device))
        if (
            not isinstance(optimizers, Mapping)
            or not optimizers
            or not all(isinstance(o, torch.optim.Optimizer) for o in optimizers.values())
        ):
            raise TrainingError(
                f"{type(self.model).__name__}.configure_optimizers must return a non-empty dict of "
                f"name -> torch.optim.Optimizer, got {optimizers!r}"
            )
        for opt in optimizers.values():
            for group in opt.param_groups:
                group.setdefault("initial_lr", group["lr"])  # the peak the schedule scales
            self._hooks.append(opt.register_step_pre_hook(self._before_optimizer_step))
        return dict(optimizers)

    def _before_optimizer_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        """Runs inside the model's ``training_step``, just before each ``optimizer.step()``."""
        params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        self.env.average_gradients(params)
        if self.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, self.config.grad_clip)

    def _set_lr(self, factor: float) -> None:
        for opt in self._optimizers.values():
            for group in opt.param_groups:
                group["lr"] = group["initial_lr"] * factor

    @property
    def lr(self) -> float:
        """The learning rate of the last step (the first optimizer's first group)."""
        return self._lr()

    def _lr(self) -> float:
        return float(next(iter(self._optimizers.values())).param_groups[0]["lr"])

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        device, precision = self.env.device, self.config.precision
        if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
            return torch.autocast(device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _mean_terms(self, sums: Mapping[str, Tensor], count: int) -> dict[str, float]:
        """Means over all ranks, with one device sync for all terms."""
        if not sums:
            return {}
        keys = sorted(sums)
        device = sums[keys[0]].device
        packed = torch.cat([torch.stack([sums[k] for k in keys]), torch.tensor([float(count)], device=device)])
        totals = self.env.all_reduce_sum(packed).tolist()
        return {k: v / max(totals[-1], 1.0) for k, v in zip(keys, totals[:-1], strict=True)}

    def _early_stopping(self, state: RunState, val_terms: Mapping[str, float]) -> None:
        loss = val_terms.get("loss")
        if loss is None:
            return
        if loss < state.best:
            state.best, state.bad_epochs = loss, 0
            self.history.best_epoch = state.epoch + 1
        else:
            state.bad_epochs += 1
        if self.config.patience and state.bad_epochs >= self.config.patience:
            self.history.stopped_early = True

    def _emit(self, kind: str, state: RunState, terms: Mapping[str, Any]) -> None:
        event = TrainEvent(kind, self, state.epoch - (kind != "step"), state.step, state.global_step, terms)
        for cb in self.callbacks:
            method = getattr(cb, f"on_{kind}_end", None)
            if method is not None:
                method(event)
            elif callable(cb) and not any(hasattr(cb, f"on_{k}_end") for k in ("step", "epoch", "fit")):
                cb(event)

    # ------------------------------------------------------------------ progress
    def _show_progress(self) -> bool:
        return self.env.is_main and progress.enabled(self.progress)

    def _bar(self, total: int, state: RunState) -> Any:
        return progress.bar(
            total,
            f"epoch {state.epoch + 1}/{self.config.epochs}",
            unit="step",
            initial=state.step,
            enabled=self._show_progress(),
        )

    def _print_epoch(self, epoch: int) -> None:
        h = self.history
        line = f"epoch {epoch}/{self.config.epochs}  train loss {h.last('train'):.5g}"
        if h.last("val") is not None:
            line += f"  val loss {h.last('val'):.5g}"
        progress.write(
            line + f"  {h.samples_per_s[-1]:,.0f} samples/s  {h.wall_s[-1]:.1f} s", enabled=self._show_progress()
        )

    # ------------------------------------------------------------------ files
    def _checkpoint(self, state: RunState) -> None:
        """The resumable state and the history so far (rank 0 writes; every rank joins the RNG gather)."""
        if self.out_dir is None:
            return
        save_run(
            self.out_dir,
            state,
            model=self.model,
            optimizers=self._optimizers,
            history=self.history,
            identity=self._identity,
            env=self.env,
        )
        if self.env.is_main:
            write_history(self.out_dir, self.history)

    def _write_outputs(self, train: Dataset, val: Dataset | None) -> None:
        """The record of the run on the model, then (rank 0, with ``out_dir``) the run's files."""
        env = self.env
        if env.is_main:  # what save_pretrained and publish put in config.json and the card, from any path
            self.model.training_record = training_record(
                self.config, self.history, train, val, device=env.device, world_size=env.world_size, extra=self.recipe
            )
            if self.out_dir is not None:
                write_outputs(self.out_dir, self.model, self.history)
        env.barrier()


def drive(steps: Generator[Tensor, Mapping[str, Tensor], History], step: Callable[[Tensor], Any]) -> History:
    """Run a trainer's step generator to its end, computing each batch's step with ``step``."""
    try:
        x = next(steps)
        while True:
            x = steps.send(step(x))
    except StopIteration as stop:
        return stop.value


def _as_dataset(data: Any, role: str) -> Dataset:
    """A dataset as given, or a :class:`DeviceDataset` around a plain tensor of samples."""
    if isinstance(data, (DeviceDataset, StreamedDataset)):
        return data
    if isinstance(data, Tensor) and data.dim() >= 1:
        return DeviceDataset(data if data.is_floating_point() else data.float(), name=role)
    raise InputError(
        f"the {role} data must be an aezoo.DeviceDataset or a tensor of samples (N, ...), got "
        f"{type(data).__name__}; e.g. aezoo.load_dataset('mnist') or aezoo.DeviceDataset(torch.as_tensor(x).float())"
    )


def _check_data(train: Dataset, val: Dataset | None, config: TrainConfig) -> None:
    if len(train) == 0:
        raise TrainingError(f"the training data {train.name!r} is empty")
    if config.shift and len(train.shape) != 3:
        raise ConfigError(
            f"shift={config.shift} moves images, but the samples of {train.name!r} have shape {train.shape} "
            "instead of (channels, height, width); train with shift=0 (the default) on this data"
        )
    if config.shift and config.shift >= min(train.shape[1:]):
        raise ConfigError(
            f"shift={config.shift} would move the {train.shape[1]}x{train.shape[2]} images of {train.name!r} "
            "out of the frame; give a shift smaller than their height and width (1 or 2 pixels for MNIST)"
        )
    for ds in (train, val):
        if isinstance(ds, DeviceDataset):  # the CLI's loaders (and streaming) check this; Python data had not been
            ds.check_finite()


def _accumulate(sums: dict[str, Tensor], terms: Mapping[str, Tensor], n: int) -> None:
    """Add ``n`` times each scalar term to its running sum, on the device (no host sync)."""
    if "loss" not in terms:
        raise TrainingError(f"training_step/loss must return a dict with a 'loss' entry, got keys {sorted(terms)!r}")
    for k, v in terms.items():
        if isinstance(v, Tensor) and v.numel() == 1:
            v = v.detach().float().reshape(())
            if k in sums:
                sums[k].add_(v, alpha=n)
            else:
                sums[k] = v * n


def train(
    model: Autoencoder | str,
    data: Dataset | str = "mnist",
    *,
    val: Dataset | None = None,
    out_dir: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    callbacks: Iterable[Callback] = (),
    progress: bool | None = None,
    stream: bool | None = None,
    loggers: str | Iterable[str | Logger] = (),
    log_dir: str | Path | None = None,
    **config: Any,
) -> Autoencoder:
    """Train ``model`` (or ``aezoo.create(model)``) on ``data`` (or ``load_dataset(data)``); returns it.

    Keyword arguments are :class:`TrainConfig` fields; ``resume`` and ``overwrite`` are those of
    :meth:`Trainer.fit`. Use :class:`Trainer` for the history. ``stream`` is passed to
    :func:`aezoo.load_dataset` when ``data`` is a name or a path.
    The recipe (this call, the settings, the dataset, the time) is kept in ``model.training_record``,
    so ``model.save_pretrained(d)`` and ``aezoo.publish`` write it into ``config.json`` and the card.
    ``loggers`` are experiment trackers (``"tensorboard"``, ``"mlflow"``, ``"wandb"``, ``"csv"`` or
    :class:`~aezoo.training.trackers.Logger` objects) writing under ``log_dir`` (default
    ``<out_dir>/logs``): see :mod:`~aezoo.training.tracking` and docs/tracking.md.

    >>> import aezoo, torch
    >>> data = aezoo.DeviceDataset(torch.rand(256, 1, 28, 28))
    >>> aezoo.train("linear", data, epochs=1, progress=False).training
    False
    """
    cfg = TrainConfig().replace(**config)  # checked before the model is built
    given = "".join(f", {k}={v!r}" for k, v in config.items())
    call = f"aezoo.train({model if isinstance(model, str) else model.architecture!r}, {_data_ref(data)!r}{given})"
    log_dir = log_dir if log_dir is not None or not loggers else default_log_dir(out_dir)
    tracking = Tracking(loggers, log_dir=log_dir, append=resume) if loggers else None  # a missing library fails here
    if isinstance(model, str):
        with seeding.seeded(cfg.seed):  # the initial weights
            model = create(model)
    cfg = TrainConfig.for_model(model, **config)
    if isinstance(data, str):
        device = distributed.resolve_device(cfg.device, distributed.local_rank())
        data = load_dataset(data, "train", device=device, stream=stream)
    if tracking is not None:
        tracking.images = val if val is not None else data
        callbacks = [*callbacks, tracking]
    trainer = Trainer(model, cfg, out_dir=out_dir, callbacks=callbacks, progress=progress, recipe={"recipe": call})
    with tracking or contextlib.nullcontext():
        trainer.fit(data, val, resume=resume, overwrite=overwrite)
    return model


def _data_ref(data: object) -> str:
    """How the recipe names the data (the Trainer checks its type)."""
    return data if isinstance(data, str) else str(getattr(data, "name", "") or "data")
