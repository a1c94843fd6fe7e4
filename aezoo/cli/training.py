"""``aezoo train``."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import click

from ._common import (
    compile_option,
    data_options,
    device_option,
    invocation,
    log_option,
    out_option,
    overwrite_option,
    parse_sets,
    precision_option,
    quiet_flag,
    seed_option,
    set_option,
)


def _labels(ctx: click.Context, param: click.Parameter, value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of integer labels, e.g. 0,1") from None


def _seeds(ctx: click.Context, param: click.Parameter, value: str | None) -> list[int] | None:
    """``0-4``, ``0,3,7`` or ``0-2,5`` -> the seeds."""
    if value is None:
        return None
    seeds: list[int] = []
    try:
        for part in (p.strip() for p in value.split(",") if p.strip()):
            lo, sep, hi = part.partition("-")
            seeds += list(range(int(lo), int(hi) + 1)) if sep else [int(lo)]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a list of seeds, e.g. 0-4 or 0,3,7") from None
    if not seeds:
        raise click.BadParameter(f"{value!r} names no seed, e.g. 0-4")
    return seeds


def _grid(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> dict[str, list[Any]]:
    """``lr=1e-3,3e-3`` (repeatable) -> ``{"lr": [0.001, 0.003]}``; values are JSON where they parse."""
    grid: dict[str, list[Any]] = {}
    for item in value:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip() or not raw.strip():
            raise click.BadParameter(f"{item!r} is not key=v1,v2, e.g. lr=1e-3,3e-3")
        grid[key.strip()] = [parse_sets((f"v={v.strip()}",))["v"] for v in raw.split(",")]
    return grid


@click.command("train")
@click.argument("arch")
@data_options
@click.option("--epochs", "-e", type=int, default=10, show_default=True, help="Passes over the training data.")
@out_option("Directory for the model, history, loss curve and checkpoints.", folder=True)
@set_option
@click.option(
    "--batch-size",
    "-b",
    type=int,
    default=None,
    help="Samples per step and process [default: 128, or the architecture's own].",
)
@click.option("--lr", type=float, default=None, help="Peak learning rate [default: 3e-3, or the architecture's own].")
@click.option("--optimizer", type=click.Choice(["adam", "adamw", "sgd"]), default=None, help="[default: adam]")
@click.option("--weight-decay", type=float, default=None, help="[default: 0]")
@click.option(
    "--schedule",
    type=click.Choice(["constant", "cosine", "onecycle"]),
    default=None,
    help="Learning-rate schedule [default: onecycle, or the architecture's own].",
)
@click.option(
    "--warmup",
    type=float,
    default=None,
    help="Fraction of steps with a linear LR warm-up [default: 0, which onecycle reads as 0.3].",
)
@seed_option("Seeds the initial weights and the data order.")
@device_option
@precision_option
@compile_option("torch.compile the model's loss.")
@click.option(
    "--patience", type=int, default=None, help="Early stopping: epochs without a better val loss [default: off]."
)
@click.option("--val-fraction", type=float, default=None, help="Part of train held out for validation [default: 0.1].")
@click.option("--grad-clip", type=float, default=None, help="Clip the gradient norm to this [default: off].")
@click.option("--checkpoint-every", type=int, default=None, help="Also checkpoint every N steps [default: epoch ends].")
@click.option(
    "--shift",
    type=int,
    default=None,
    help="Augment: move each training image by a random offset of up to N pixels [default: 0, off].",
)
@click.option("--resume", is_flag=True, help="Continue the run checkpointed in --out.")
@click.option(
    "--from-pretrained",
    is_flag=True,
    help="Start from the trained weights of ARCH (a pretrained name, a model folder or hf-hub:ORG/NAME), on any "
    "--dataset, instead of fresh ones; config.json and the card record it as the base model.",
)
@overwrite_option
@click.option("--limit", type=int, default=None, help="Train on the first N training samples only (smoke tests).")
@click.option(
    "--stream/--no-stream",
    default=None,
    help="Read the data from disk batch by batch (.npy, .safetensors, image folders, built-in datasets) instead "
    "of holding it [default: only when it is larger than $AEZOO_MEMORY_BUDGET or half the available memory].",
)
@click.option("--classes", callback=_labels, default=None, help="Train on these labels only, e.g. --classes 1,7.")
@click.option(
    "--exclude-classes",
    callback=_labels,
    default=None,
    help="Leave these labels out, e.g. --exclude-classes 0 (normal data for `aezoo detect --anomalous-class 0`).",
)
@click.option(
    "--seeds",
    callback=_seeds,
    default=None,
    help="Train one model per seed, all at once (aezoo.train_many), e.g. --seeds 0-4; each goes to --out/seed-N.",
)
@click.option(
    "--grid",
    multiple=True,
    callback=_grid,
    metavar="KEY=V1,V2",
    help="Train one model per value (repeatable: every combination), e.g. --grid lr=1e-3,3e-3; a training "
    "setting or a model config field that keeps the shapes.",
)
@click.option("--per-class", is_flag=True, help="Train one model per label, on that label's samples only.")
@click.option(
    "--stack/--no-stack",
    default=None,
    help="With --seeds/--grid/--per-class: compute the models' steps as one stacked step [default: where the "
    "architecture can (capabilities.stack); the others take their steps in turn].",
)
@log_option
@quiet_flag
@click.pass_context
def train_cmd(
    ctx: click.Context,
    arch: str,
    dataset: str,
    data_dir: str | None,
    epochs: int,
    out: str,
    sets: tuple[str, ...],
    device: str,
    precision: str,
    compile_: bool,
    resume: bool,
    from_pretrained: bool,
    overwrite: bool,
    limit: int | None,
    stream: bool | None,
    classes: list[int] | None,
    exclude_classes: list[int] | None,
    quiet: bool,
    seed: int,
    seeds: list[int] | None,
    grid: dict[str, list[Any]],
    per_class: bool,
    stack: bool | None,
    log: tuple[str, ...],
    **options: Any,
) -> None:
    """Train ARCH (an architecture, or a pretrained name for its config) on a dataset.

    \b
    aezoo train conv --dataset mnist --epochs 5 --out runs/conv
    aezoo train vae --set latent_dim=8 --schedule cosine --out runs/vae
    aezoo train conv --exclude-classes 0 --out runs/conv-no0   (normal data for anomaly detection)
    aezoo train conv-mnist --from-pretrained --dataset fashion-mnist --out runs/ft   (warm start)
    torchrun --nproc_per_node 4 -m aezoo train conv --out runs/conv   (data parallel)
    aezoo train mlp --seeds 0-4 --grid lr=1e-3,3e-3 --out runs/mlp   (ten models at once)
    aezoo train mlp --per-class --seeds 0-4 --out runs/one-class   (one per label and seed)
    """

    from ..core.errors import ConfigError
    from ..core.seeding import seeded
    from ..data import load_dataset
    from ..loading import create, load
    from ..training import TrainConfig, Trainer
    from ..training.distributed import local_rank, resolve_device

    overrides = {k: v for k, v in options.items() if v is not None}
    settings = dict(epochs=epochs, seed=seed, device=device, precision=precision, compile=compile_, **overrides)
    TrainConfig().replace(**settings)  # a bad flag fails before the model is built
    tracking = _tracking(log, out, resume)
    try:
        model_overrides = parse_sets(sets)
    except click.BadParameter as e:
        raise ConfigError(e.format_message()) from None
    if from_pretrained:
        if model_overrides:
            raise ConfigError(
                f"--set {' --set '.join(sets)} would change the config that the weights of {arch!r} were trained "
                "with; drop --set to start from them (--from-pretrained), or drop --from-pretrained for fresh weights"
            )
        model = load(arch)  # its base_model (name, revision, sha256) goes into config.json and the card
    else:
        with seeded(seed):  # the initial weights
            model = create(arch, pretrained=False, **model_overrides)  # a pretrained name lends its config
    config = TrainConfig.for_model(model, **settings)  # the architecture's defaults under the flags given
    data = load_dataset(dataset, "train", root=data_dir, device=resolve_device(device, local_rank()), stream=stream)
    if classes is not None or exclude_classes is not None:
        if not hasattr(data, "filter_classes"):
            raise ConfigError(
                "--classes/--exclude-classes select samples in memory; drop --stream (or use --no-stream)"
            )
        data = data.filter_classes(classes, exclude=exclude_classes)
    if limit is not None:
        if limit < 1:
            raise ConfigError(f"--limit must be >= 1, got {limit!r}")
        data = data.subset(min(limit, len(data)))
    if seeds is not None or grid or per_class:
        if tracking is not None:
            raise ConfigError("--log tracks one run; drop it with --seeds/--grid/--per-class")
        if from_pretrained:
            raise ConfigError(
                "--from-pretrained trains one model; drop --seeds/--grid/--per-class, or train fresh ones"
            )
        _train_many(arch, data, out, model_overrides, settings, seeds, grid, per_class, stack, resume, overwrite, quiet)
        return
    if stack is not None:
        raise ConfigError("--stack/--no-stack apply to many models: add --seeds, --grid or --per-class")
    command = {"command": invocation(ctx), "arguments": _jsonable(ctx.params)}
    callbacks = [tracking] if tracking is not None else []
    if tracking is not None:
        tracking.images = data  # the first samples' reconstructions, each epoch
    trainer = Trainer(
        model, config, out_dir=out, progress=None if not quiet else False, recipe=command, callbacks=callbacks
    )
    with tracking or contextlib.nullcontext():
        history = trainer.fit(data, resume=resume, overwrite=overwrite)
    if trainer.env.is_main:
        written = sorted(p.name for p in Path(out).iterdir() if not p.name.startswith("."))
        click.echo(f"wrote {out} ({', '.join(written)})")
        if tracking is not None:
            click.echo(f"logged to {', '.join(log)} under {tracking.log_dir}")
        train_loss, val_loss = history.last("train"), history.last("val")
        if val_loss is not None:
            click.echo(f"final val loss: {val_loss:.6g} (train {train_loss:.6g}, {len(history.epoch)} epochs)")
        elif train_loss is not None:
            click.echo(f"final train loss: {train_loss:.6g} (no validation data; {len(history.epoch)} epochs)")


def _train_many(
    arch: str,
    data: Any,
    out: str,
    model_overrides: dict[str, Any],
    settings: dict[str, Any],
    seeds: list[int] | None,
    grid: dict[str, list[Any]],
    per_class: bool,
    stack: bool | None,
    resume: bool,
    overwrite: bool,
    quiet: bool,
) -> None:
    from ..training.many import train_many

    many_settings = {k: v for k, v in settings.items() if k != "seed"}
    models = train_many(
        arch,
        data,
        seeds=seeds if seeds is not None else [settings["seed"]],
        grid=grid,
        per_class=per_class,
        model_config=model_overrides,
        out_dir=out,
        resume=resume,
        overwrite=overwrite,
        stack=stack,
        progress=None if not quiet else False,
        **many_settings,
    )
    click.echo(f"wrote {len(models)} model folders and many.json to {out}")
    width = max(len(n) for n in models)
    for name, model in models.items():
        record = model.training_record or {}
        losses = "  ".join(
            f"{label} {record[key]:.6g}"
            for label, key in (("train loss", "final_train_loss"), ("val loss", "final_val_loss"))
            if isinstance(record.get(key), (int, float))
        )
        click.echo(f"  {name:<{width}}  {losses}")


def _tracking(log: tuple[str, ...], out: str, resume: bool) -> Any:
    """The run's trackers (``--log``), or None; an unknown or missing one fails before any data is read."""
    if not log:
        return None
    from ..training.tracking import Tracking, default_log_dir

    return Tracking(log, log_dir=default_log_dir(out), append=resume)


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}
