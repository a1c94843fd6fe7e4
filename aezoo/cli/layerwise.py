"""``aezoo pretrain``: greedy layer-wise pretraining of a deep autoencoder, then fine-tuning."""

from __future__ import annotations

from pathlib import Path

import click

from ._common import (
    batch_size_option,
    compile_option,
    data_options,
    device_option,
    invocation,
    limit_option,
    log_option,
    out_option,
    overwrite_option,
    parse_sets,
    precision_option,
    quiet_flag,
    seed_option,
)


def _ints(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a comma-separated list of integers, e.g. 784,1000,500,250,30"
        ) from None
    if len(dims) < 2 or min(dims) < 1:
        raise click.BadParameter(f"{value!r} needs at least two positive sizes, e.g. 784,1000,500,250,30")
    return dims


def _kinds(ctx: click.Context, param: click.Parameter, value: str) -> str | tuple[str, ...]:
    kinds = tuple(k.strip() for k in value.split(","))
    return kinds[0] if len(kinds) == 1 else kinds


@click.command("pretrain")
@click.option(
    "--dims",
    required=True,
    callback=_ints,
    help="Layer sizes from the flattened input to the code, e.g. 784,1000,500,250,30.",
)
@data_options
@click.option("--layer-epochs", type=click.IntRange(min=0), default=10, show_default=True, help="Epochs per stage.")
@click.option(
    "--finetune-epochs",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="Epochs of end-to-end fine-tuning (0: none).",
)
@click.option(
    "--kind",
    default="plain",
    show_default=True,
    callback=_kinds,
    help=(
        "Stage architecture, one for all or one per layer (comma-separated): plain, denoising, sparse, "
        "tied, or any architecture (a plugin's too) that declares capabilities.stage."
    ),
)
@click.option(
    "--noise", type=float, default=0.2, show_default=True, help="Masked fraction of inputs for denoising stages."
)
@click.option(
    "--sparsity", type=float, default=0.05, show_default=True, help="Target mean activation for sparse stages."
)
@click.option(
    "--activation", default="sigmoid", show_default=True, help="Hidden units: sigmoid, relu, elu, tanh, linear."
)
@click.option("--code-activation", default="linear", show_default=True, help="Units of the code layer.")
@click.option(
    "--init",
    type=click.Choice(["decoder", "transpose"]),
    default="decoder",
    show_default=True,
    help="Unrolled decoder from the stage decoders or from the encoder weights transposed.",
)
@batch_size_option(256)
@click.option("--lr", type=float, default=1e-3, show_default=True, help="Learning rate of the stages.")
@click.option("--finetune-lr", type=float, default=3e-3, show_default=True, help="Peak learning rate of fine-tuning.")
@click.option(
    "--finetune-set",
    "finetune_sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Any other training setting of the fine-tuning (repeatable), e.g. --finetune-set shift=1 (images moved "
    "by up to one pixel, the deep-mnist recipe) or --finetune-set schedule=cosine.",
)
@seed_option()
@device_option
@precision_option
@compile_option("torch.compile the stages and the fine-tuned model.")
@limit_option("Train on the first N samples only.")
@out_option("Model directory to write.", folder=True)
@overwrite_option
@log_option
@quiet_flag
def pretrain_cmd(
    dims: tuple[int, ...],
    dataset: str,
    data_dir: str | None,
    layer_epochs: int,
    finetune_epochs: int,
    kind: str | tuple[str, ...],
    noise: float,
    sparsity: float,
    activation: str,
    code_activation: str,
    init: str,
    batch_size: int,
    lr: float,
    finetune_lr: float,
    finetune_sets: tuple[str, ...],
    seed: int,
    device: str,
    precision: str,
    compile_: bool,
    limit: int | None,
    out: str,
    overwrite: bool,
    log: tuple[str, ...],
    quiet: bool,
) -> None:
    """Pretrain a deep autoencoder layer by layer, unroll it, fine-tune it, save it to --out.

    \b
    aezoo pretrain --dims 784,1000,500,250,30 --layer-epochs 20 --finetune-epochs 50 --out runs/deep
    aezoo pretrain --dims 784,256,32 --kind denoising --noise 0.3 --limit 5000 --out runs/sdae
    """
    from aezoo.core.errors import DataError
    from aezoo.data import DeviceDataset, load_dataset
    from aezoo.data.streaming import BUDGET_ENV
    from aezoo.training.layerwise import LayerwiseConfig, LayerwisePretrainer

    config = LayerwiseConfig(
        dims=dims,
        kind=kind,
        noise=noise,
        sparsity=sparsity,
        activation=activation,
        code_activation=code_activation,
        layer_epochs=layer_epochs,
        layer_lr=lr,
        batch_size=batch_size,
        finetune_epochs=finetune_epochs,
        finetune_lr=finetune_lr,
        init=init,
        seed=seed,
        device=device,
        precision=precision,
        compile=compile_,
        finetune=parse_sets(finetune_sets) or None,
    )
    engine = LayerwisePretrainer(
        config, progress=not quiet, recipe={"command": invocation(click.get_current_context())}, loggers=log
    )
    train = load_dataset(dataset, "train", root=data_dir, device=engine.device)
    if not isinstance(train, DeviceDataset):  # streamed; the engine holds the split: codes feed the next stage
        raise DataError(
            f"{train.name!r} is larger than the memory budget, and layer-wise pretraining holds the whole training "
            f"split in memory; raise ${BUDGET_ENV} (e.g. {BUDGET_ENV}=32G) if it fits there"
        )
    if limit is not None:
        train = train.subset(limit)
    _, report = engine.fit(train, out_dir=out, overwrite=overwrite)
    for s in report.stages:
        err = s["train_error"]["mse"]
        click.echo(
            f"stage {s['stage']} {s['dims'][0]}->{s['dims'][1]} {s['kind']}: loss {s['final_loss']:.4f}, "
            f"reconstruction mse {err:.4f}, {s['wall_s']:.1f}s, {s['samples_per_s'] or 0:,.0f} samples/s"
        )
    final = report.finetune.get("errors", report.unrolled)["train"]
    click.echo(f"saved to {out} (train sse/image {final['sse_per_image']:.2f}, {report.wall_s:.1f}s)")
    if log:
        click.echo(f"logged to {', '.join(log)} under {Path(out) / 'logs'} (stages as stage<N>/, then finetune/)")
