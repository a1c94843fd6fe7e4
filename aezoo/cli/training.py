"""``aezoo train``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ._common import (
    compile_option,
    data_options,
    device_option,
    invocation,
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
    overwrite: bool,
    limit: int | None,
    stream: bool | None,
    classes: list[int] | None,
    exclude_classes: list[int] | None,
    quiet: bool,
    seed: int,
    **options: Any,
) -> None:
    """Train ARCH (an architecture, or a pretrained name for its config) on a dataset.

    \b
    aezoo train conv --dataset mnist --epochs 5 --out runs/conv
    aezoo train vae --set latent_dim=8 --schedule cosine --out runs/vae
    aezoo train conv --exclude-classes 0 --out runs/conv-no0   (normal data for anomaly detection)
    torchrun --nproc_per_node 4 -m aezoo train conv --out runs/conv   (data parallel)
    """

    from ..core.errors import ConfigError
    from ..core.seeding import seeded
    from ..data import load_dataset
    from ..loading import create
    from ..training import TrainConfig, Trainer
    from ..training.distributed import local_rank, resolve_device

    overrides = {k: v for k, v in options.items() if v is not None}
    settings = dict(epochs=epochs, seed=seed, device=device, precision=precision, compile=compile_, **overrides)
    TrainConfig().replace(**settings)  # a bad flag fails before the model is built
    try:
        model_overrides = parse_sets(sets)
    except click.BadParameter as e:
        raise ConfigError(e.format_message()) from None
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
    command = {"command": invocation(ctx), "arguments": _jsonable(ctx.params)}
    trainer = Trainer(model, config, out_dir=out, progress=None if not quiet else False, recipe=command)
    history = trainer.fit(data, resume=resume, overwrite=overwrite)
    if trainer.env.is_main:
        written = sorted(p.name for p in Path(out).iterdir() if not p.name.startswith("."))
        click.echo(f"wrote {out} ({', '.join(written)})")
        train_loss, val_loss = history.last("train"), history.last("val")
        if val_loss is not None:
            click.echo(f"final val loss: {val_loss:.6g} (train {train_loss:.6g}, {len(history.epoch)} epochs)")
        elif train_loss is not None:
            click.echo(f"final train loss: {train_loss:.6g} (no validation data; {len(history.epoch)} epochs)")


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}
