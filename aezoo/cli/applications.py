"""``aezoo encode``, ``detect``, ``denoise`` and ``generate``: the applications, from the shell."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from ._common import data_options, device_option, quiet_option

if TYPE_CHECKING:
    from torch import Tensor

    from aezoo.data import DeviceDataset
    from aezoo.models.base import Autoencoder

CODE_SUFFIXES = (".npy", ".npz", ".pt", ".safetensors")


def _device(name: str) -> str:
    from .evaluation import _device as resolve

    return resolve(name)


def _model(model: str, device: str) -> Autoencoder:
    import aezoo

    return aezoo.load(model, device=_device(device))


def _data(dataset: str, split: str, data_dir: str | None, device: str, limit: int | None = None) -> DeviceDataset:
    from aezoo.data import load_dataset

    ds = load_dataset(dataset, split, root=data_dir, device=device)
    return ds.subset(limit) if limit is not None else ds


def _model_ref(model: str) -> str:
    """A directory as an absolute path (so the saved detector works from anywhere); names as given."""
    path = Path(model)
    return str(path.resolve()) if path.is_dir() else model


def _echo_metrics(metrics: dict[str, Any], as_json: bool) -> None:
    from aezoo.evaluation import format_table

    click.echo(json.dumps(metrics, indent=2) if as_json else format_table(metrics))


# ----------------------------------------------------------------------------- encode
@click.command("encode")
@click.argument("model", metavar="MODEL_OR_DIR")
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False),
    required=True,
    help="Codes file: .npy (labels beside it in NAME.labels.npy), .npz, .pt or .safetensors "
    "(keys 'features' and 'labels', readable as --dataset).",
)
@data_options
@click.option("--split", default="test", show_default=True, help="Which split to encode.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Encode the first N samples only.")
@click.option("--batch-size", "-b", type=click.IntRange(min=1), default=1000, show_default=True)
@device_option
@quiet_option
def encode_cmd(
    model: str,
    out: str,
    dataset: str,
    data_dir: str | None,
    split: str,
    limit: int | None,
    batch_size: int,
    device: str,
) -> None:
    """Write MODEL_OR_DIR's codes of a dataset split (dimensionality reduction), with the labels.

    \b
    aezoo encode runs/conv --dataset mnist --out codes.npz
    aezoo train mlp --dataset codes.npz ...     # the codes are a dataset again
    """
    from aezoo.applications import reduce
    from aezoo.errors import InputError

    suffix = Path(out).suffix.lower()
    if suffix not in CODE_SUFFIXES:
        raise InputError(f"--out {out!r}: unknown file type {suffix!r}; use one of {', '.join(CODE_SUFFIXES)}")
    net = _model(model, device)
    ds = _data(dataset, split, data_dir, str(net.device), limit)
    codes = reduce(net, ds, batch_size=batch_size).float().cpu().contiguous()
    labels = ds.y.cpu().contiguous() if ds.y is not None else None
    for path in _write_codes(Path(out), codes, labels):
        click.echo(f"wrote {path}")
    click.echo(f"{codes.shape[0]} codes of size {codes.shape[1]}{'' if labels is None else ', with labels'}")


def _write_codes(out: Path, codes: Tensor, labels: Tensor | None) -> list[Path]:
    """Write without pickling: numpy with allow_pickle off, plain tensors for torch, or safetensors."""
    import numpy as np
    import torch
    from safetensors.torch import save as safetensors_bytes

    from aezoo.serialization import atomic_write

    tensors = {"features": codes} if labels is None else {"features": codes, "labels": labels}
    suffix = out.suffix.lower()
    written = [out]
    with atomic_write(out) as f:
        if suffix == ".npy":
            np.save(f, codes.numpy(), allow_pickle=False)
        elif suffix == ".npz":
            np.savez(f, **{k: v.numpy() for k, v in tensors.items()})
        elif suffix == ".pt":
            torch.save(tensors, f)  # a dict of plain tensors: torch.load(..., weights_only=True) reads it
        else:
            f.write(safetensors_bytes(tensors))
    if suffix == ".npy" and labels is not None:
        labels_path = out.with_name(f"{out.stem}.labels.npy")
        with atomic_write(labels_path) as f:
            np.save(f, labels.numpy(), allow_pickle=False)
        written.append(labels_path)
    for path in written:
        path.chmod(0o644)  # the temporary file was private
    return written


# ----------------------------------------------------------------------------- detect
@click.command("detect")
@click.argument("model", metavar="MODEL_OR_DIR")
@data_options
@click.option("--calibrate-split", default="train", show_default=True, help="Normal data to set the threshold on.")
@click.option(
    "--calibrate-limit", type=click.IntRange(min=1), default=None, help="Calibrate on the first N normal samples."
)
@click.option("--split", default="test", show_default=True, help="The split to detect anomalies in.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Score the first N samples of --split only.")
@click.option(
    "--quantile",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.99,
    show_default=True,
    help="Threshold = this quantile of the normal errors (false-positive rate about 1 - quantile).",
)
@click.option("--score", default="mse", show_default=True, help="Per-sample error: mse, mae or sse.")
@click.option(
    "--anomalous-class",
    type=int,
    default=None,
    help="Treat this label as anomalous and the rest as normal: calibrate on the rest, report AUC/precision/recall.",
)
@click.option("--batch-size", "-b", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--out", "-o", type=click.Path(dir_okay=False), default=None, help="Save the detector as JSON.")
@device_option
@quiet_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON instead of a table.")
def detect_cmd(
    model: str,
    dataset: str,
    data_dir: str | None,
    calibrate_split: str,
    calibrate_limit: int | None,
    split: str,
    limit: int | None,
    quantile: float,
    score: str,
    anomalous_class: int | None,
    batch_size: int,
    out: str | None,
    device: str,
    as_json: bool,
) -> None:
    """Anomaly detection by reconstruction error: calibrate a threshold on normal data, then flag.

    \b
    aezoo detect runs/conv --dataset mnist --anomalous-class 0 --calibrate-limit 10000
    aezoo detect runs/conv --dataset my-normal.npz --quantile 0.995 --out detector.json

    With your own data file both splits are the same file.
    """
    from aezoo.applications import AnomalyDetector

    net = _model(model, device)
    dev = str(net.device)
    normal = _data(dataset, calibrate_split, data_dir, dev)
    if anomalous_class is not None:
        normal = normal.subset(_labels(normal, "--calibrate-split") != anomalous_class)
    if calibrate_limit is not None:
        normal = normal.subset(calibrate_limit)
    detector = AnomalyDetector.fit(
        net, normal, quantile=quantile, score=score, model_ref=_model_ref(model), batch_size=batch_size
    )
    test = _data(dataset, split, data_dir, dev, limit)
    report: dict[str, Any] = {
        "calibration": f"{normal.name} ({len(normal)} normal samples)",
        "quantile": detector.quantile,
        "threshold": detector.threshold,
        "dataset": test.name,
    }
    if anomalous_class is not None:
        report.update(detector.evaluate(test, _labels(test, "--split") == anomalous_class))
    else:
        flagged = detector.predict(test)
        report.update(n=len(test), flagged=int(flagged.sum()), flagged_fraction=float(flagged.float().mean()))
    if out is not None:
        report["saved"] = str(detector.save(out))
    _echo_metrics(report, as_json)


def _labels(ds: DeviceDataset, where: str) -> Tensor:
    if ds.y is None:
        from aezoo.errors import DataError

        raise DataError(
            f"--anomalous-class needs labels, but {ds.name!r} ({where}) has none; give data with labels "
            "(an .npz with keys x and y) or leave --anomalous-class out"
        )
    return ds.y


# ----------------------------------------------------------------------------- denoise
@click.command("denoise")
@click.argument("model", metavar="MODEL_OR_DIR")
@click.option("--out", "-o", type=click.Path(dir_okay=False), required=True, help="PNG file to write.")
@data_options
@click.option("--split", default="test", show_default=True, help="Which split to take the inputs from.")
@click.option(
    "--noise",
    type=click.Choice(["auto", "masking", "gaussian"]),
    default="auto",
    show_default=True,
    help="auto: the model's own corrupt(x) when it has one (a trained denoiser), else masking at --level.",
)
@click.option("--level", type=float, default=0.25, show_default=True, help="Masked fraction, or Gaussian std.")
@click.option("--n", "n", type=click.IntRange(min=1, max=256), default=8, show_default=True, help="Images in the grid.")
@click.option("--limit", type=click.IntRange(min=1), default=1000, show_default=True, help="Samples for the PSNR.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the noise.")
@device_option
@quiet_option
def denoise_cmd(
    model: str,
    out: str,
    dataset: str,
    data_dir: str | None,
    split: str,
    noise: str,
    level: float,
    n: int,
    limit: int,
    seed: int,
    device: str,
) -> None:
    """Corrupt test inputs, let MODEL_OR_DIR reconstruct them; draw clean / noisy / denoised rows
    and print the PSNR before and after.

    \b
    aezoo denoise runs/denoising --dataset mnist --out denoised.png
    aezoo denoise runs/conv --noise gaussian --level 0.3 --out denoised.png
    """
    from aezoo import plots
    from aezoo.applications import add_noise, denoise, psnr
    from aezoo.evaluation import format_table, model_inputs
    from aezoo.seeding import generator

    net = _model(model, device)
    x = model_inputs(net, _data(dataset, split, data_dir, str(net.device), max(limit, n)))
    use_model_noise = noise == "auto" and type(net).capabilities.corrupt
    kind = "masking" if noise == "auto" else noise
    gen = generator(seed, net.device)
    noisy = cast(Any, net).corrupt(x, generator=gen) if use_model_noise else add_noise(x, kind, level, generator=gen)
    denoised = denoise(net, noisy)
    rows = [plots._to_display(net, r[:n]) for r in (x, noisy, denoised)]
    label = "the model's own noise" if use_model_noise else f"{kind} noise, level {level}"
    path = plots._image_rows(rows, out, ["clean", "noisy", "denoised"], f"{net.architecture}: denoising ({label})")
    m = min(limit, len(x))
    click.echo(
        format_table(
            {
                "noise": label,
                "n": m,
                "psnr_noisy": float(psnr(noisy[:m], x[:m]).mean()),
                "psnr_denoised": float(psnr(denoised[:m], x[:m]).mean()),
            }
        )
    )
    click.echo(f"wrote {path}")


# ----------------------------------------------------------------------------- generate
@click.command("generate")
@click.argument("model", metavar="MODEL_OR_DIR")
@click.option("--out", "-o", type=click.Path(dir_okay=False), required=True, help="PNG file to write.")
@click.option("--n", "n", type=click.IntRange(min=1, max=1024), default=64, show_default=True, help="How many samples.")
@click.option("--seed", type=int, default=None, help="Seed for a repeatable draw.")
@device_option
@quiet_option
def generate_cmd(model: str, out: str, n: int, seed: int | None, device: str) -> None:
    """Draw N new samples from a generative MODEL_OR_DIR (one with sample(n), e.g. vae or aae).

    \b
    aezoo generate runs/vae --n 64 --seed 0 --out samples.png
    """
    from aezoo import plots
    from aezoo.applications import generate

    net = _model(model, device)
    samples = generate(net, n, seed=seed)
    rows = [plots._to_display(net, samples)]
    path = plots._image_rows(rows, out, ["sample"], f"{net.architecture}: samples")
    click.echo(f"wrote {path}")
