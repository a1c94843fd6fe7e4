"""``aezoo eval`` (metrics on a test split) and ``aezoo reconstruct`` (a picture of them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ._common import (
    batch_size_option,
    count_option,
    data_options,
    device_option,
    json_option,
    limit_option,
    model_argument,
    nll_samples_option,
    out_option,
    quiet_option,
    split_option,
)


def _device(name: str) -> str:
    from aezoo.training.distributed import resolve_device

    return str(resolve_device(name))


def _load(model: str, dataset: str, split: str, data_dir: str | None, device: str) -> tuple[Any, Any]:
    import aezoo.data as datasets
    from aezoo.loading import load

    net = load(model, device=device)
    ds = datasets.load_dataset(dataset, split, root=data_dir, device=device)
    return net, ds


@click.command("eval")
@model_argument
@data_options
@split_option("Which split to evaluate on.")
@batch_size_option(1000)
@nll_samples_option(
    "Importance samples for the NLL of models that estimate one (e.g. vae); 0 skips it. Costs N x K decoder "
    "passes: 1000 on the 10,000 MNIST test images take about 1.5 min on 2 CPU cores; --limit or fewer samples "
    "cost proportionally less."
)
@limit_option("Evaluate on the first N samples only.")
@device_option
@quiet_option
@json_option("Print the metrics as JSON instead of a table.")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Also write the metrics to this JSON file.")
@click.option(
    "--probe",
    is_flag=True,
    help="Also report the linear-probe accuracy of the codes (trained on the train split), beside PCA's.",
)
@click.option(
    "--probe-limit", type=click.IntRange(min=1), default=None, help="Train the probe on the first N samples only."
)
def eval_cmd(
    model: str,
    dataset: str,
    data_dir: str | None,
    split: str,
    batch_size: int,
    nll_samples: int,
    limit: int | None,
    device: str,
    as_json: bool,
    out: str | None,
    probe: bool = False,
    probe_limit: int | None = None,
) -> None:
    """Evaluate MODEL_OR_DIR (a pretrained name, a model directory or hf-hub:ORG/NAME) on a test split.

    \b
    aezoo eval runs/conv --dataset mnist
    aezoo eval vae-mnist --nll-samples 1000 --json --out metrics.json
    aezoo eval conv-mnist --probe            # + linear-probe accuracy of the codes and of PCA
    """
    from aezoo.evaluation.metrics import evaluate, format_table
    from aezoo.io.serialization import atomic_write

    net, ds = _load(model, dataset, split, data_dir, _device(device))
    metrics: dict[str, Any] = dict(evaluate(net, ds, batch_size=batch_size, nll_samples=nll_samples, limit=limit))
    if probe:
        from aezoo.data import load_dataset
        from aezoo.evaluation.probe import linear_probe

        train = load_dataset(dataset, "train", root=data_dir, device=str(net.device))
        train = train.subset(probe_limit) if probe_limit is not None else train
        test = ds.subset(limit) if limit is not None else ds
        metrics.update(linear_probe(net, train, test, batch_size=batch_size))
    text = json.dumps(metrics, indent=2)
    if out is not None:
        with atomic_write(out, "w") as f:
            f.write(text + "\n")
    click.echo(text if as_json else format_table(metrics))


@click.command("reconstruct")
@model_argument
@out_option("PNG file to write.")
@data_options
@split_option("Which split to take the images from.")
@count_option(16, 256, "How many images.")
@device_option
@quiet_option
def reconstruct_cmd(model: str, out: str, dataset: str, data_dir: str | None, split: str, n: int, device: str) -> None:
    """Draw the first N test images of a dataset above MODEL_OR_DIR's reconstructions of them.

    \b
    aezoo reconstruct runs/conv --out recon.png
    """
    from aezoo.evaluation.plots import reconstruction_grid

    net, ds = _load(model, dataset, split, data_dir, _device(device))
    path = reconstruction_grid(net, ds.subset(n), Path(out), n=n)
    click.echo(f"wrote {path}")
