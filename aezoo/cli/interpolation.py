"""``aezoo interpolate``: a picture of the decoded path between two inputs' codes, or between prior draws."""

from __future__ import annotations

import click

from ._common import count_option, data_options, device_option, model_argument, out_option, seed_option, split_option

METHODS = ("linear", "slerp")  # aezoo.applications.interpolation.METHODS, without importing torch for --help


def _pair(value: str) -> tuple[int, int]:
    first, sep, second = value.partition(",")
    try:
        if not sep:
            raise ValueError
        return int(first), int(second)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not two sample indices like 0,1", param_hint="--pair") from None


@click.command("interpolate")
@model_argument
@out_option("PNG file to write.")
@data_options
@split_option("Which split to take the inputs from.")
@click.option(
    "--pair",
    "pairs",
    multiple=True,
    metavar="I,J",
    help="Interpolate from sample I to sample J of --split (repeatable) [default: 0,1 2,3 4,5 6,7].",
)
@click.option("--steps", type=click.IntRange(2, 64), default=8, show_default=True, help="Decoded codes per path.")
@click.option("--method", type=click.Choice(METHODS), default=None, help="[default: linear; slerp with --prior]")
@click.option("--prior", is_flag=True, help="Walk between draws from the model's prior (vae, aae) instead.")
@count_option(4, 64, "Paths drawn with --prior.")
@seed_option("Seed of the prior draws.")
@device_option
def interpolate_cmd(
    model: str,
    out: str,
    dataset: str,
    data_dir: str | None,
    split: str,
    pairs: tuple[str, ...],
    steps: int,
    method: str | None,
    prior: bool,
    n: int,
    seed: int,
    device: str,
) -> None:
    """Decode the code-space path between two inputs of MODEL_OR_DIR, each row framed by the two inputs.

    \b
    aezoo interpolate conv-mnist --pair 0,1 --pair 2,3 --steps 10 --out interp.png
    aezoo interpolate vae-mnist --method slerp --out interp.png
    aezoo interpolate vae-mnist --prior --n 6 --seed 0 --out prior.png
    """
    from aezoo.applications.interpolation import interpolate, interpolation_grid, prior_interpolation
    from aezoo.core.errors import InputError
    from aezoo.data import load_dataset
    from aezoo.evaluation.metrics import model_inputs
    from aezoo.loading import load
    from aezoo.training.distributed import resolve_device

    net = load(model, device=str(resolve_device(device)))
    if prior:
        if pairs:
            raise InputError(
                "--prior walks between prior draws; leave --pair out, "
                "or drop --prior to interpolate between data samples"
            )
        paths = prior_interpolation(net, n, steps=steps, method=method or "slerp", seed=seed)
        written = interpolation_grid(net, paths, out)
    else:
        index = [_pair(p) for p in pairs] or [(0, 1), (2, 3), (4, 5), (6, 7)]
        ds = load_dataset(dataset, split, root=data_dir, device=str(net.device))
        wanted = [i for p in index for i in p]
        bad = [i for i in wanted if not 0 <= i < len(ds)]
        if bad:
            raise InputError(f"--pair index {bad[0]} is out of range: {ds.name!r} has {len(ds)} samples")
        x = model_inputs(net, ds)
        a, b = x[[i for i, _ in index]], x[[j for _, j in index]]
        paths = interpolate(net, a, b, steps=steps, method=method or "linear")
        written = interpolation_grid(net, paths, out, ends=(a, b))
    click.echo(f"wrote {written} ({len(paths)} paths of {steps} steps)")
