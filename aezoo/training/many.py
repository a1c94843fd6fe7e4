"""Many models of one architecture trained at once: :func:`train_many`.

What users train in numbers — one model per class for one-class detection, several seeds for
every table, a grid of learning rates — are N runs that differ in their seed, in settings that
keep the shapes, or in their training subset. ``train_many`` gives each member its own
:class:`~aezoo.training.trainer.Trainer` (its own data order, optimizer, schedule, history,
checkpoint and model folder, exactly as ``aezoo.train`` would set them up) and drives the
trainers' step generators (:meth:`Trainer.session`) in lock-step: at every tick each unfinished
member hands over its next batch, and the members whose parameters have the same shapes and
whose batches have the same size take their step together.

Stacked (``capabilities.stack``): the members' parameters are the slices of one ``(N, ...)``
tensor per parameter name, and one ``torch.func.vmap`` of the model's own ``_loss`` over the
stack gives every member's loss and, in one backward pass, every member's gradient; each member's
own optimizer then steps on its slice (so learning rates, schedules, clipping and Adam's state
are per member and the same code as a single run's). The result is the single run's model to
float tolerance (a batched matrix product sums in another order), checked in
``tests/test_many.py``. Architectures whose step is their own (the AAE's three phases) or whose
loss draws noise (denoising, the VAE) are driven the same way without stacking: each member runs
its own ``training_step`` in turn, bit for bit a single run.

The data is loaded once; members that share a seed and a subset share their batches too.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import itertools
import json
import warnings
from collections import defaultdict
from collections.abc import Generator, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .._version import __version__
from ..core import progress, seeding
from ..core.config import config_to_dict, dumps_json, read_json
from ..core.errors import ConfigError, TrainingError
from ..data import Dataset, DeviceDataset, load_dataset
from ..io.serialization import atomic_write
from ..models.base import Autoencoder
from ..registry.architectures import create, get_architecture
from . import distributed
from .config import History, TrainConfig
from .trainer import Trainer

__all__ = ["MANIFEST", "Member", "can_stack", "members_of", "train_many"]

MANIFEST = "many.json"  # in out_dir: the members of the run, checked when it resumes
_TRAIN_FIELDS = frozenset(f.name for f in dataclasses.fields(TrainConfig))


@dataclasses.dataclass(frozen=True)
class Member:
    """One model of a :func:`train_many` run: its seed, its grid point and its training classes."""

    seed: int
    train: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # TrainConfig fields of the grid point
    model: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # model config fields of the grid point
    classes: tuple[int, ...] | None = None  # trained on these labels only

    @property
    def name(self) -> str:
        """The member's folder name, e.g. ``class-3-lr-0.001-seed-0``."""
        parts = [f"class-{'+'.join(map(str, self.classes))}"] if self.classes is not None else []
        parts += [f"{k}-{v}" for k, v in {**self.model, **self.train}.items()]
        return "-".join([*parts, f"seed-{self.seed}"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "seed": self.seed,
            "train": dict(self.train),
            "model": dict(self.model),
            "classes": list(self.classes) if self.classes is not None else None,
        }


def members_of(
    architecture: str,
    *,
    seeds: Iterable[int] = (0,),
    grid: Mapping[str, Sequence[Any]] | None = None,
    classes: Iterable[int] | None = None,
) -> list[Member]:
    """Every combination of ``classes`` × ``grid`` × ``seeds`` (in that order), checked.

    Grid keys are :class:`TrainConfig` fields or fields of the architecture's config; those of
    the model's config must not change its shapes for the members to be stacked together (they
    are trained in groups of equal configs).

    >>> [m.name for m in members_of("mlp", seeds=[0, 1], grid={"lr": [1e-3]})]
    ['lr-0.001-seed-0', 'lr-0.001-seed-1']
    """
    seeds = [seeding.check_seed(s) for s in seeds]
    if not seeds:
        raise ConfigError("train_many needs at least one seed, e.g. seeds=[0, 1, 2]")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"the seeds repeat: {seeds}; each seed is one member")
    model_fields = {f.name for f in dataclasses.fields(get_architecture(architecture).config_class)}
    grid = dict(grid or {})
    for key, values in grid.items():
        if key == "seed":
            raise ConfigError("give the seeds with seeds=[...] (--seeds 0-4), not in the grid")
        if key not in _TRAIN_FIELDS and key not in model_fields:
            raise ConfigError(
                f"unknown grid key {key!r}: the grid varies TrainConfig fields ({', '.join(sorted(_TRAIN_FIELDS))}) "
                f"or {architecture!r} config fields ({', '.join(sorted(model_fields))})"
            )
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ConfigError(f"the grid's {key!r} must be a non-empty list of values, got {values!r}")
    points = [dict(zip(grid, combo, strict=True)) for combo in itertools.product(*grid.values())]
    class_sets: list[tuple[int, ...] | None] = [None] if classes is None else [(int(c),) for c in classes]
    members = [
        Member(
            seed=seed,
            train={k: v for k, v in point.items() if k in _TRAIN_FIELDS},
            model={k: v for k, v in point.items() if k not in _TRAIN_FIELDS},
            classes=cls,
        )
        for cls in class_sets
        for point in points
        for seed in seeds
    ]
    names = [m.name for m in members]
    if len(set(names)) != len(names):
        raise ConfigError(f"two members of the run would have the same name: {names}")
    return members


def can_stack(model: Autoencoder) -> bool:
    """Whether ``model``'s architecture declares ``capabilities.stack`` and keeps the default step."""
    cls = type(model)
    return (
        cls.capabilities.stack
        and cls.training_step is Autoencoder.training_step
        and cls.configure_optimizers is Autoencoder.configure_optimizers
    )


def train_many(
    model: str,
    data: Dataset | str = "mnist",
    *,
    seeds: Iterable[int] | None = None,
    grid: Mapping[str, Sequence[Any]] | None = None,
    per_class: bool | Iterable[int] = False,
    out_dir: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    model_config: Mapping[str, Any] | None = None,
    stack: bool | None = None,
    progress: bool | None = None,
    **config: Any,
) -> dict[str, Autoencoder]:
    """Train one model of architecture ``model`` per seed × grid point × class, at once; returns them by name.

    Each member is the model ``aezoo.train(model, data_of_member, seed=seed, **config, **point)``
    would give — to float tolerance when stacked, bit for bit when not (see the module docs). With
    ``out_dir`` each member is written to ``out_dir/NAME`` as its own model folder (history,
    checkpoint; loadable with ``aezoo.load``), and ``resume=True`` continues the whole run from
    the members' checkpoints. ``per_class=True`` trains one member per label of ``data`` (or per
    label given), on that label's samples only. ``stack=True`` computes the members' steps as one
    (architectures with ``capabilities.stack``), ``False`` has them take their steps in turn, and
    ``None`` stacks on CUDA and not on the CPU, where BENCHMARKS.md measured no gain from it. ``model_config``
    are config fields for every member (``aezoo.create(model, **model_config)``).

    >>> import aezoo, torch
    >>> data = aezoo.DeviceDataset(torch.rand(256, 1, 28, 28))
    >>> sorted(aezoo.train_many("linear", data, seeds=[0, 1], epochs=1, progress=False))
    ['seed-0', 'seed-1']
    """
    base = TrainConfig().replace(**config)  # checked before anything is built
    if distributed.DistEnv().distributed:
        raise ConfigError("train_many runs in one process; start it without torchrun")
    if isinstance(data, str):
        data = load_dataset(data, "train", device=distributed.resolve_device(base.device))
    classes = None
    if per_class is not False:
        if not isinstance(data, DeviceDataset) or data.y is None:
            raise ConfigError(
                "per_class needs labelled data in memory, e.g. aezoo.load_dataset('mnist') (not streamed)"
            )
        classes = sorted(set(data.y.unique().tolist())) if per_class is True else list(per_class)
    members = members_of(model, seeds=seeds if seeds is not None else (base.seed,), grid=grid, classes=classes)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        _check_manifest(out, model, members, {**config, **dict(model_config or {})}, resume=resume, overwrite=overwrite)

    trainers = []
    for m in members:
        member_data = data.filter_classes(m.classes) if isinstance(data, DeviceDataset) and m.classes else data
        with seeding.seeded(m.seed):  # the initial weights, as aezoo.train(name, seed=...) draws them
            net = create(model, **{**dict(model_config or {}), **m.model})
        cfg = TrainConfig.for_model(net, **{**config, **m.train, "seed": m.seed})
        given = {**config, **m.train, **dict(model_config or {}), **m.model, "seed": m.seed}
        single = ", ".join(f"{k}={v!r}" for k, v in given.items())
        recipe = {
            "recipe": f"aezoo.train({model!r}, {getattr(member_data, 'name', 'data')!r}, {single})",
            "train_many": {"member": m.name, "members": len(members), "stacked": False},
        }
        trainers.append(
            (
                Trainer(net, cfg, out_dir=out / m.name if out else None, progress=False, recipe=recipe),
                member_data,
            )
        )
    stackable = all(can_stack(t.model) for t, _ in trainers)
    if stack and not stackable:
        raise ConfigError(
            f"{model!r} cannot be stacked: its capabilities.stack is False (its step draws noise or is its own); "
            "train with stack=None or False (--no-stack), which runs the members in turn"
        )
    # On the CPU the stacked step is no faster than the members' own steps (BENCHMARKS.md, "Many
    # models at once"): the default stacks on CUDA only, where small models leave the device idle.
    on_gpu = distributed.resolve_device(base.device).type == "cuda"
    use_stack = (stackable and on_gpu) if stack is None else bool(stack)
    for t, _ in trainers:
        t.recipe["train_many"]["stacked"] = use_stack
    if out is not None:
        _write_manifest(out, model, members, {**config, **dict(model_config or {})})
    _run(trainers, resume=resume, overwrite=overwrite, stacked=use_stack, progress=progress)  # members trained in place
    return {m.name: t.model for m, (t, _) in zip(members, trainers, strict=True)}


def _run(
    trainers: list[tuple[Trainer, Dataset]], *, resume: bool, overwrite: bool, stacked: bool, progress: bool | None
) -> list[History]:
    """Drive every trainer's steps to the end, a tick at a time."""
    histories: list[History | None] = [None] * len(trainers)
    with contextlib.ExitStack() as sessions:
        gens: dict[int, Generator[Tensor, Mapping[str, Tensor], History]] = {}
        batches: dict[int, Tensor] = {}
        for i, (t, data) in enumerate(trainers):
            gens[i] = sessions.enter_context(t.session(data, resume=resume, overwrite=overwrite))
            try:
                batches[i] = next(gens[i])
            except StopIteration as stop:  # a resumed member that had already finished
                histories[i] = stop.value
        stacks = _Stacks([t for t, _ in trainers]) if stacked else None
        total = sum(t.total_steps for t, _ in trainers)
        done = sum(t.start_step for t, _ in trainers)
        with progress_bar(total, done, len(trainers), progress) as bar:
            while batches:
                terms = stacks.step(batches) if stacks is not None else _in_turn(trainers, batches)
                for i, member_terms in terms.items():
                    try:
                        batches[i] = gens[i].send(member_terms)
                    except StopIteration as stop:
                        histories[i] = stop.value
                        del batches[i]
                bar.update(len(terms))
        if stacks is not None:
            stacks.release()
    return [h if h is not None else History() for h in histories]


def _in_turn(trainers: list[tuple[Trainer, Dataset]], batches: Mapping[int, Tensor]) -> dict[int, Mapping[str, Tensor]]:
    return {i: trainers[i][0]._step(x) for i, x in batches.items()}


@contextlib.contextmanager
def progress_bar(total: int, done: int, members: int, enabled: bool | None):
    bar = progress.bar(
        total, f"train_many ({members} models)", unit="step", initial=done, enabled=progress.enabled(enabled)
    )
    try:
        yield bar
    finally:
        bar.close()


class _LossOf(nn.Module):
    """A model whose ``forward`` is its ``_loss``: what ``functional_call`` runs under ``vmap``."""

    def __init__(self, model: Autoencoder) -> None:
        super().__init__()
        self.inner = model

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return self.inner._loss(x)


class _Stack:
    """The parameters of members with one config as one ``(N, ...)`` tensor per name.

    Each member's parameters become views of their slice (``param.data = stacked[i]``), so the
    members' own optimizers update the stack in place and nothing is copied between steps.
    """

    def __init__(self, trainers: list[Trainer]) -> None:
        self.trainers = trainers
        models = [t.model for t in trainers]
        self.names = [n for n, _ in models[0].named_parameters()]
        self.params: dict[str, Tensor] = {}
        self.member_params = [dict(m.named_parameters()) for m in models]
        for n in self.names:
            stacked = torch.stack([p[n].detach() for p in self.member_params]).requires_grad_()
            for i, p in enumerate(self.member_params):
                p[n].data = stacked.detach()[i]
            self.params[n] = stacked
        member_buffers = [dict(m.named_buffers()) for m in models]
        self.buffers = {n: torch.stack([b[n] for b in member_buffers]) for n in member_buffers[0]}
        self.template = _LossOf(copy.deepcopy(models[0]))
        self.template.inner.generator = None  # a stackable loss draws no noise
        self._losses: dict[bool, Any] = {}  # the vmapped loss, per whether the batch is shared

    def _vmapped(self, shared: bool, *args: Any) -> dict[str, Tensor]:
        """The members' loss terms, stacked; with ``compile``, through ``torch.compile`` where it compiles."""
        if shared not in self._losses:
            fn = torch.func.vmap(self._loss, in_dims=(0, 0, None if shared else 0))
            if not self.trainers[0].config.compile:
                self._losses[shared] = fn
                return fn(*args)
            try:
                compiled = torch.compile(fn)
                out = compiled(*args)
            except Exception as e:  # torch.compile of vmap is young: e.g. the l2 penalty fails in torch 2.14
                warnings.warn(
                    f"torch.compile could not compile the stacked loss of {self.trainers[0].model.architecture!r} "
                    f"({type(e).__name__}: {str(e).splitlines()[0][:200]}); training without it",
                    stacklevel=2,
                )
                self._losses[shared] = fn
                return fn(*args)
            self._losses[shared] = compiled
            return out
        return self._losses[shared](*args)

    def _loss(self, params: dict[str, Tensor], buffers: dict[str, Tensor], x: Tensor) -> dict[str, Tensor]:
        state = {f"inner.{k}": v for k, v in {**params, **buffers}.items()}
        return torch.func.functional_call(self.template, state, (x,))

    def step(self, members: list[int], xs: list[Tensor]) -> list[dict[str, Tensor]]:
        """One training step of ``members`` (positions in this stack) on their batches ``xs``."""
        everyone = members == list(range(len(self.trainers)))
        index = torch.tensor(members, device=xs[0].device)
        params = self.params if everyone else {n: p[index] for n, p in self.params.items()}
        buffers = self.buffers if everyone else {n: b[index] for n, b in self.buffers.items()}
        shared = all(x is xs[0] for x in xs)  # members with the same data order see the same batch
        x = xs[0] if shared else torch.stack(xs)
        self.trainers[members[0]].model.check_input(xs[0], finite=False)  # the shapes, outside vmap
        with self.trainers[members[0]]._autocast():
            terms = self._vmapped(shared, params, buffers, x)
        terms["loss"].sum().backward()
        for n, stacked in self.params.items():
            grad = stacked.grad
            assert grad is not None
            for i in members:
                self.member_params[i][n].grad = grad[i]
            stacked.grad = None
        for i in members:
            self.trainers[i]._optimizers["main"].step()
            self.trainers[i]._optimizers["main"].zero_grad(set_to_none=True)
        return [{k: v[j].detach() for k, v in terms.items()} for j in range(len(members))]

    def release(self) -> None:
        """Give every member parameters of its own again (the stack is not kept alive by them)."""
        for t in self.trainers:
            for p in t.model.parameters():
                p.data = p.data.clone()


class _Stacks:
    """The members grouped by config (one :class:`_Stack` each); a tick groups them by batch size too."""

    def __init__(self, trainers: list[Trainer]) -> None:
        groups: dict[str, list[int]] = defaultdict(list)
        for i, t in enumerate(trainers):
            groups[json.dumps(config_to_dict(t.model.config), sort_keys=True, default=str)].append(i)
        self.groups = [(members, _Stack([trainers[i] for i in members])) for members in groups.values()]
        self.precision = [t.config.precision for t in trainers]

    def step(self, batches: Mapping[int, Tensor]) -> dict[int, Mapping[str, Tensor]]:
        out: dict[int, Mapping[str, Tensor]] = {}
        for members, stack in self.groups:
            ticks: dict[tuple[Any, ...], list[int]] = defaultdict(list)
            for pos, i in enumerate(members):
                if i in batches:
                    ticks[(tuple(batches[i].shape), self.precision[i])].append(pos)
            for positions in ticks.values():
                terms = stack.step(positions, [batches[members[p]] for p in positions])
                out.update({members[p]: t for p, t in zip(positions, terms, strict=True)})
        return out

    def release(self) -> None:
        for _, stack in self.groups:
            stack.release()


# ---------------------------------------------------------------------- the run's manifest
def _manifest(architecture: str, members: list[Member], config: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "architecture": architecture,
        "config": dict(config),
        "members": [m.to_dict() for m in members],
    }


def _check_manifest(
    out: Path, architecture: str, members: list[Member], config: Mapping[str, Any], *, resume: bool, overwrite: bool
) -> None:
    path = out / MANIFEST
    if not path.exists():
        if resume:
            raise TrainingError(f"nothing to resume in {out}: it holds no {MANIFEST} (the record of a train_many run)")
        return
    if overwrite and not resume:
        return
    if not resume:
        raise TrainingError(
            f"{out} already holds a train_many run ({MANIFEST}); resume it (resume=True, --resume), "
            "or start again with overwrite=True (--overwrite), or choose another out_dir"
        )
    then = read_json(path, error=TrainingError)
    now = json.loads(dumps_json(_manifest(architecture, members, config)))
    then_cmp = {k: then.get(k) for k in now}
    if then_cmp != now:
        changed = sorted(k for k in now if then_cmp.get(k) != now[k])
        raise TrainingError(
            f"the run in {out} was started with other {', '.join(changed)}; resume it with the same architecture, "
            f"settings, seeds, grid and classes, or start a new run with overwrite=True (--overwrite)"
        )


def _write_manifest(out: Path, architecture: str, members: list[Member], config: Mapping[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / MANIFEST, "w") as f:
        f.write(dumps_json({**_manifest(architecture, members, config), "aezoo": __version__}))
