"""``aezoo encode``, ``detect``, ``denoise`` and ``generate``: the applications, from the shell."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from ._common import (
    batch_size_option,
    count_option,
    data_options,
    device_option,
    json_option,
    limit_option,
    model_argument,
    out_option,
    quiet_option,
    seed_option,
    split_option,
)

if TYPE_CHECKING:
    from torch import Tensor

    from aezoo.data import Dataset
    from aezoo.models.base import Autoencoder

CODE_SUFFIXES = (".npy", ".npz", ".pt", ".safetensors")


def _device(name: str) -> str:
    from .evaluation import _device as resolve

    return resolve(name)


def _model(model: str, device: str) -> Autoencoder:
    from aezoo.loading import load

    return load(model, device=_device(device))


def _data(dataset: str, split: str, data_dir: str | None, device: str, limit: int | None = None) -> Dataset:
    from aezoo.data import load_dataset

    ds = load_dataset(dataset, split, root=data_dir, device=device)
    return ds.subset(limit) if limit is not None else ds


def _model_ref(model: str) -> str:
    """A directory as an absolute path (so the saved detector works from anywhere); names as given."""
    path = Path(model)
    return str(path.resolve()) if path.is_dir() else model


def _echo_metrics(metrics: dict[str, Any], as_json: bool) -> None:
    from aezoo.evaluation.metrics import format_table

    click.echo(json.dumps(metrics, indent=2) if as_json else format_table(metrics))


# ----------------------------------------------------------------------------- encode
@click.command("encode")
@model_argument
@out_option(
    "Codes file: .npy (labels beside it in NAME.labels.npy), .npz, .pt or .safetensors "
    "(keys 'features' and 'labels', readable as --dataset)."
)
@data_options
@split_option("Which split to encode.")
@limit_option("Encode the first N samples only.")
@batch_size_option(1000)
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
    from aezoo.applications.features import reduce
    from aezoo.core.errors import InputError

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

    from aezoo.io.serialization import atomic_write

    tensors = {"features": codes} if labels is None else {"features": codes, "labels": labels}
    suffix = out.suffix.lower()
    written = [out]
    with atomic_write(out) as f:
        if suffix == ".npy":
            np.save(f, codes.numpy(), allow_pickle=False)
        elif suffix == ".npz":
            # numpy's stub reads a ** key as possibly its allow_pickle keyword (not passed: an older numpy
            # would store it as one more array); the keys here are "features" and "labels".
            np.savez(f, **{k: v.numpy() for k, v in tensors.items()})  # type: ignore[arg-type]
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
@model_argument
@data_options
@click.option(
    "--calibrate-dataset",
    default=None,
    help="Normal data to set the threshold on, when not --dataset (e.g. normal.csv beside new.csv).",
)
@click.option("--calibrate-split", default="train", show_default=True, help="Normal data to set the threshold on.")
@click.option(
    "--calibrate-limit", type=click.IntRange(min=1), default=None, help="Calibrate on the first N normal samples."
)
@split_option("The split to detect anomalies in.")
@limit_option("Score the first N samples of --split only.")
@click.option(
    "--quantile",
    type=float,
    default=None,
    help="Threshold = this quantile of the normal errors (false-positive rate about 1 - quantile). Default 0.99.",
)
@click.option("--target-fpr", type=float, default=None, help="The false-positive rate to aim for: quantile = 1 - FPR.")
@click.option(
    "--contamination",
    type=float,
    default=None,
    help="Expected fraction of anomalies in the calibration data, in (0, 0.5]: its top fraction is flagged.",
)
@click.option("--score", default="mse", show_default=True, help="Per-sample error: mse, mae or sse.")
@click.option(
    "--anomalous-class",
    type=int,
    default=None,
    help="Treat this label as anomalous and the rest as normal: calibrate on the rest, report AUC/precision/recall.",
)
@click.option(
    "--use-saved",
    is_flag=True,
    help="Use the detector stored with the model (its detector.json) instead of calibrating; "
    "--quantile/--target-fpr/--contamination then move its threshold.",
)
@click.option(
    "--save-to-model",
    is_flag=True,
    help="Store the detector as detector.json in MODEL_OR_DIR (a directory): it travels with the model "
    "(aezoo bundle, publish) and --use-saved finds it.",
)
@click.option("--heatmap", type=click.Path(dir_okay=False), default=None, help="PNG of per-pixel error maps.")
@click.option(
    "--heatmap-n",
    type=click.IntRange(min=1, max=64),
    default=8,
    show_default=True,
    help="Samples in the heat-map: the most anomalous ones of --split.",
)
@click.option(
    "--scores-out",
    type=click.Path(dir_okay=False),
    default=None,
    help="CSV with one row per sample: score, normalized score, p-value, flagged (and label).",
)
@batch_size_option(1000)
@out_option("Save the detector as JSON.", required=False)
@device_option
@quiet_option
@json_option("Print the report as JSON instead of a table.")
def detect_cmd(
    model: str,
    dataset: str,
    data_dir: str | None,
    calibrate_dataset: str | None,
    calibrate_split: str,
    calibrate_limit: int | None,
    split: str,
    limit: int | None,
    quantile: float | None,
    target_fpr: float | None,
    contamination: float | None,
    score: str,
    anomalous_class: int | None,
    use_saved: bool,
    save_to_model: bool,
    heatmap: str | None,
    heatmap_n: int,
    scores_out: str | None,
    batch_size: int,
    out: str | None,
    device: str,
    as_json: bool,
) -> None:
    """Anomaly detection by reconstruction error: calibrate a threshold on normal data, then flag.

    \b
    aezoo detect runs/conv --dataset mnist --anomalous-class 0 --calibrate-limit 10000
    aezoo detect runs/conv --dataset my-normal.npz --quantile 0.995 --out detector.json
    aezoo detect runs/mlp --calibrate-dataset normal.csv --dataset new.csv --contamination 0.01 --save-to-model
    aezoo detect runs/mlp --use-saved --dataset new.csv --heatmap errors.png --scores-out scores.csv

    With your own data file both splits are the same file.
    """
    from aezoo.applications.anomaly import AnomalyDetector

    rule = {"quantile": quantile, "target_fpr": target_fpr, "contamination": contamination}
    rule = {k: v for k, v in rule.items() if v is not None}
    if use_saved:
        detector = AnomalyDetector.load(_model_ref(model), device=_device(device))
        detector.batch_size = batch_size
        if rule:
            detector.set_threshold(**rule)
        net = detector.model
        calibration = f"saved detector ({detector.n_calibration} normal samples)"
    else:
        net = _model(model, device)
        normal = _data(calibrate_dataset or dataset, calibrate_split, data_dir, str(net.device))
        if anomalous_class is not None:
            normal = normal.subset(_labels(normal, "--calibrate-split") != anomalous_class)
        if calibrate_limit is not None:
            normal = normal.subset(calibrate_limit)
        detector = AnomalyDetector.fit(
            net, normal, **rule, score=score, model_ref=_model_ref(model), batch_size=batch_size
        )
        calibration = f"{normal.name} ({len(normal)} normal samples)"
    test = _data(dataset, split, data_dir, str(net.device), limit)
    report: dict[str, Any] = {
        "calibration": calibration,
        "rule": f"{detector.rule[0]}={detector.rule[1]}" if detector.rule else None,
        "threshold": detector.threshold,
        "dataset": test.name,
    }
    scores = detector.score(test).cpu()
    flagged = detector.flag(scores)
    if anomalous_class is not None:
        report.update(detector.evaluate(test, _labels(test, "--split") == anomalous_class))
    else:
        report.update(n=len(test), flagged=int(flagged.sum()), flagged_fraction=float(flagged.float().mean()))
    if scores_out is not None:
        report["scores"] = str(_write_scores(scores_out, detector, test, scores, flagged))
    if heatmap is not None:
        report["heatmap"] = str(_draw_heatmap(heatmap, detector, test, scores, flagged, heatmap_n))
    if save_to_model:
        if not Path(model).is_dir():
            from aezoo.core.errors import InputError

            raise InputError(
                f"--save-to-model needs a model directory, but {model!r} is not one; save the model first "
                "(aezoo train ... --out DIR) or write the detector with --out detector.json"
            )
        report["saved_with_model"] = str(detector.save(model))
    if out is not None:
        report["saved"] = str(detector.save(out))
    _echo_metrics(report, as_json)


def _write_scores(path: str, detector: Any, test: Dataset, scores: Tensor, flagged: Tensor) -> Path:
    import csv
    import io

    from aezoo.io.serialization import atomic_write

    normalized = detector.normalized_score(test).tolist()
    p_values = detector.p_value(test).tolist()
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(
        ["index", "score", "normalized_score", "p_value", "flagged", *(["label"] if test.y is not None else [])]
    )
    labels = test.y.tolist() if test.y is not None else None
    for i, (s, ns, p, f) in enumerate(zip(scores.tolist(), normalized, p_values, flagged.tolist(), strict=True)):
        writer.writerow([i, f"{s:.6g}", f"{ns:.6g}", f"{p:.6g}", int(f), *([labels[i]] if labels is not None else [])])
    with atomic_write(path, "w") as f:
        f.write(buf.getvalue())
    Path(path).chmod(0o644)
    return Path(path)


def _draw_heatmap(path: str, detector: Any, test: Dataset, scores: Tensor, flagged: Tensor, n: int) -> Path:
    from aezoo.evaluation import plots

    top = scores.argsort(descending=True)[:n].to(test.x.device)
    worst = test.subset(top)
    return plots.error_heatmap(
        detector.model,
        worst,
        detector.error_map(worst),
        path,
        scores=scores[top.cpu()],
        flagged=flagged[top.cpu()],
        n=n,
    )


def _labels(ds: Dataset, where: str) -> Tensor:
    if ds.y is None:
        from aezoo.core.errors import DataError

        raise DataError(
            f"--anomalous-class needs labels, but {ds.name!r} ({where}) has none; give data with labels "
            "(an .npz with keys x and y) or leave --anomalous-class out"
        )
    return ds.y


# ----------------------------------------------------------------------------- denoise
@click.command("denoise")
@model_argument
@out_option("PNG file to write.")
@data_options
@split_option("Which split to take the inputs from.")
@click.option(
    "--noise",
    type=click.Choice(["auto", "masking", "gaussian"]),
    default="auto",
    show_default=True,
    help="auto: the model's own corrupt(x) when it has one (a trained denoiser), else masking at --level.",
)
@click.option("--level", type=float, default=0.25, show_default=True, help="Masked fraction, or Gaussian std.")
@count_option(8, 256, "Images in the grid.")
@limit_option("Samples for the PSNR.", default=1000)
@seed_option("Seed of the noise.")
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
    from aezoo.applications.denoising import add_noise, denoise, psnr
    from aezoo.core.seeding import generator
    from aezoo.evaluation import plots
    from aezoo.evaluation.metrics import format_table, model_inputs

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
@model_argument
@out_option("PNG file to write.")
@count_option(64, 1024, "How many samples.")
@seed_option("Seed for a repeatable draw.", default=None)
@device_option
@quiet_option
def generate_cmd(model: str, out: str, n: int, seed: int | None, device: str) -> None:
    """Draw N new samples from a generative MODEL_OR_DIR (one with sample(n), e.g. vae or aae).

    \b
    aezoo generate runs/vae --n 64 --seed 0 --out samples.png
    """
    from aezoo.applications.generation import generate
    from aezoo.evaluation import plots

    net = _model(model, device)
    samples = generate(net, n, seed=seed)
    rows = [plots._to_display(net, samples)]
    path = plots._image_rows(rows, out, ["sample"], f"{net.architecture}: samples")
    click.echo(f"wrote {path}")
