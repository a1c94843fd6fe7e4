"""Metrics on a test split: reconstruction errors every model shares, plus the model's own.

All metrics are computed in model space, on the dataset's preprocessed inputs (in [0, 1] for
the image datasets): ``mse`` per element, ``sse_per_image`` (the summed squared error per image
reported by Hinton & Salakhutdinov, 2006), ``psnr`` and ``bce``. Sums are kept in float64 on
the model's device and read back once at the end.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import Tensor

from ..core import progress as _progress
from ..core.errors import InputError
from ..data import Dataset, DeviceDataset
from ..data.preprocessing import Preprocessing
from ..models.base import Autoencoder

__all__ = ["PSNR_MAX_DB", "evaluate", "format_table", "model_inputs"]

#: PSNR reported for an image reconstructed exactly (MSE 0), so averages and JSON stay finite.
PSNR_MAX_DB = 100.0

#: Decoder draws per batch of the importance-sampled NLL (images x samples): a few seconds of work on
#: 2 CPU cores, so its progress moves, and the memory stays bounded whatever ``batch_size`` is.
_NLL_BATCH_DRAWS = 1 << 16

_UNITS = {"psnr": "dB", "psnr_noisy": "dB", "psnr_denoised": "dB", "throughput": "samples/s"}


def evaluate(
    model: Autoencoder,
    dataset: Dataset | Tensor,
    *,
    batch_size: int = 1000,
    nll_samples: int = 0,
    device: str | torch.device | None = None,
    limit: int | None = None,
    progress: bool | None = None,
) -> dict[str, float | int | str]:
    """Evaluate ``model`` on ``dataset`` (a test split) under ``no_grad`` in eval mode.

    Returns ``mse`` (squared error per element, mean over all elements), ``sse_per_image``
    (squared error summed over an image's elements, mean over images), ``psnr`` (dB; computed
    per image from its own MSE with a data range of 1, then averaged over images; an exact
    reconstruction counts as :data:`PSNR_MAX_DB`), ``bce`` (binary cross-entropy per element,
    reconstruction clamped to [0, 1] and log clamped at -100 as in
    ``torch.nn.functional.binary_cross_entropy``), the mean of every per-sample value from
    ``model.evaluation_metrics(x, nll_samples=...)`` (e.g. a VAE's ``neg_elbo``/``nll``),
    ``throughput`` (samples per second of the reconstruction pass), ``n`` and ``dataset``.
    ``psnr`` and ``bce`` are left out when the inputs are not all in [0, 1].

    When the dataset was preprocessed differently from the model, its inputs are first mapped
    to the model's space (see :func:`model_inputs`).
    ``device`` moves the model (and data) there; by default the model's device is used.
    ``progress=False`` hides the progress bar (see :mod:`aezoo.core.progress`); the importance-sampled
    NLL runs in small batches so that it reports often.

    >>> import aezoo
    >>> ds = aezoo.DeviceDataset(torch.rand(20, 1, 28, 28), name="random")
    >>> m = evaluate(aezoo.create("linear"), ds, batch_size=8)
    >>> sorted(k for k in m if k != "throughput")
    ['bce', 'dataset', 'mse', 'n', 'psnr', 'sse_per_image']
    """
    if isinstance(dataset, Tensor):
        dataset = DeviceDataset(dataset)
    if limit is not None:
        dataset = dataset.subset(int(limit))
    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size!r}")
    if device is not None:
        model.to(device)
    dataset = dataset.to(model.device)
    _check_shapes(model, dataset)
    n = len(dataset)
    if n == 0:
        raise InputError(f"dataset {dataset.name!r} is empty; nothing to evaluate")

    was_training = model.training
    model.eval()
    try:
        passes = 2 if nll_samples > 0 else 1  # the NLL pass is the long one; count it when it runs
        with torch.no_grad(), _progress.bar(passes * n, f"eval {dataset.name}", unit="sample", enabled=progress) as bar:
            sums, seconds = _reconstruction_pass(model, _model_batches(model, dataset, batch_size), bar)
            metric_batch = min(batch_size, max(1, _NLL_BATCH_DRAWS // nll_samples)) if nll_samples > 0 else batch_size
            metric_bar = bar if passes == 2 else None
            extra = _model_metrics_pass(model, _model_batches(model, dataset, metric_batch), nll_samples, metric_bar)
    finally:
        model.train(was_training)
    numel = math.prod(dataset.shape)
    return _finish(sums, extra, n=n, numel=numel, seconds=seconds, name=dataset.name)


# ----------------------------------------------------------------------------- passes
def _check_shapes(model: Autoencoder, dataset: Dataset) -> None:
    if tuple(dataset.shape) != tuple(model.input_shape):
        raise InputError(
            f"dataset {dataset.name or 'given'!r} has samples of shape {tuple(dataset.shape)}, but the "
            f"{model.architecture!r} model expects input_shape {tuple(model.input_shape)}; evaluate it on "
            "the dataset it was trained on"
        )


def model_inputs(model: Autoencoder, dataset: Dataset) -> Tensor:
    """The dataset's samples in ``model``'s input space; ``InputError`` when the shapes differ.

    A dataset preprocessed differently from the model is mapped through its raw scale:
    ``model.preprocessing.apply(dataset.preprocessing.invert(dataset.x))``. A model whose
    preprocessing is still the default (built by hand, never trained on a dataset) takes the
    dataset's inputs as they are: sending it raw 0-255 pixels would never be what was meant.
    """
    _check_shapes(model, dataset)
    return _to_model_space(model, dataset, dataset.inputs())  # a streamed dataset is read here


def _to_model_space(model: Autoencoder, dataset: Dataset, x: Tensor) -> Tensor:
    if dataset.preprocessing == model.preprocessing or model.preprocessing == Preprocessing():
        return x
    return model.preprocessing.apply(dataset.preprocessing.invert(x))


def _model_batches(model: Autoencoder, dataset: Dataset, batch_size: int) -> Iterator[Tensor]:
    """The dataset in order, batch by batch, in the model's input space (never all at once)."""
    for x in dataset.batches(batch_size, shuffle=False):
        yield _to_model_space(model, dataset, x)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _reconstruction_pass(
    model: Autoencoder, batches: Iterator[Tensor], bar: Any = None
) -> tuple[dict[str, Tensor], float]:
    """Forward every batch and accumulate the shared metrics' sums (float64, on device)."""
    device = model.device
    zero = torch.zeros((), dtype=torch.float64, device=device)
    sums = {"se": zero.clone(), "psnr": zero.clone(), "bce": zero.clone()}
    sums["min"], sums["max"] = zero + math.inf, zero - math.inf  # the data range decides psnr/bce
    _sync(device)
    start = time.perf_counter()
    for x in batches:
        recon = model(x).reconstruction
        x64, r64 = x.double().flatten(1), recon.double().flatten(1)
        se = (r64 - x64).square().sum(1)  # per sample
        mse = se / x64.shape[1]
        sums["se"] += se.sum()
        sums["psnr"] += (-10.0 * torch.log10(mse.clamp_min(10.0 ** (-PSNR_MAX_DB / 10)))).sum()
        p = r64.clamp(0.0, 1.0)
        bce = -(x64 * torch.log(p).clamp_min(-100.0) + (1 - x64) * torch.log1p(-p).clamp_min(-100.0))
        sums["bce"] += bce.sum()
        sums["min"] = torch.minimum(sums["min"], x64.min())
        sums["max"] = torch.maximum(sums["max"], x64.max())
        if bar is not None:
            bar.update(len(x))
    _sync(device)
    return sums, time.perf_counter() - start


def _model_metrics_pass(
    model: Autoencoder, batches: Iterator[Tensor], nll_samples: int, bar: Any = None
) -> dict[str, Tensor]:
    """Sum the per-sample values of ``model.evaluation_metrics`` over the split (float64, on device)."""
    sums: dict[str, Tensor] = {}
    for x in batches:
        values = model.evaluation_metrics(x, nll_samples=nll_samples)
        if not values:
            return {}  # the model has no metrics of its own
        for name, v in values.items():
            v = torch.as_tensor(v, device=x.device).double()
            if v.dim() == 0:  # a batch mean: weight it by the batch size
                v = v * len(x)
            elif v.numel() != len(x):
                raise ValueError(
                    f"{type(model).__name__}.evaluation_metrics returned {name!r} of shape {tuple(v.shape)}; "
                    f"expected one value per sample, shape ({len(x)},)"
                )
            sums[name] = sums.get(name, 0) + v.sum()
        if bar is not None:
            bar.update(len(x))
    return sums


def _finish(
    sums: Mapping[str, Tensor], extra: Mapping[str, Tensor], *, n: int, numel: int, seconds: float, name: str
) -> dict[str, float | int | str]:
    host = torch.stack([*sums.values(), *extra.values()]).cpu().tolist()  # the one host sync
    values = dict(zip(sums, host[: len(sums)], strict=True))
    out: dict[str, float | int | str] = {"dataset": name, "n": n}
    out["mse"] = values["se"] / (n * numel)
    out["sse_per_image"] = values["se"] / n
    if values["min"] >= 0.0 and values["max"] <= 1.0:  # both assume data in [0, 1]
        out["psnr"] = values["psnr"] / n
        out["bce"] = values["bce"] / (n * numel)
    for key, total in zip(extra, host[len(sums) :], strict=True):
        out[f"model_{key}" if key in out or key == "throughput" else key] = total / n
    out["throughput"] = n / seconds if seconds > 0 else math.inf
    return out


def format_table(metrics: Mapping[str, Any]) -> str:
    """Metrics as an aligned two-column table, with units where they have one.

    >>> print(format_table({"dataset": "mnist/test", "n": 10000, "mse": 0.0123456, "psnr": 19.1}))
    dataset  mnist/test
    n        10000
    mse      0.0123456
    psnr     19.1 dB
    """
    width = max((len(str(k)) for k in metrics), default=0)
    lines = []
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or isinstance(value, int):
            text = str(value)
        elif key == "throughput":
            text = f"{value:,.0f}"
        else:
            text = f"{value:.6g}"
        unit = _UNITS.get(str(key))
        lines.append(f"{key!s:<{width}}  {text}{' ' + unit if unit else ''}")
    return "\n".join(lines)
