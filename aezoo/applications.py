"""What autoencoders are used for: dimensionality reduction, anomaly detection, denoising, generation.

Each application works on any model of the zoo through the contract (``encode``, ``forward``)
and asks a model for more only by the capabilities its class declares: ``sample(n)`` for
generation, ``corrupt(x)`` for a denoiser's own noise. No function here asks which class a model is.

All passes run in eval mode under ``torch.no_grad`` and restore the model's training flag.
A :class:`~aezoo.data.DeviceDataset` is mapped to the model's input space first
(:func:`aezoo.evaluation.model_inputs`); a tensor is taken as already in that space.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import Tensor

from . import progress, seeding
from .config import read_json
from .data import DeviceDataset
from .errors import AezooError, ConfigError, InputError
from .models import noise
from .models.base import psnr

if TYPE_CHECKING:
    import numpy as np

    from .models.base import Autoencoder

__all__ = [
    "SCORES",
    "AnomalyDetector",
    "add_noise",
    "denoise",
    "extract_features",
    "generate",
    "generative_architectures",
    "psnr",
    "reduce",
    "roc_auc",
]

_DETECTOR_FORMAT = 1
_DETECTOR_KIND = "aezoo.AnomalyDetector"
NOISE_KINDS = noise.NOISES


# ----------------------------------------------------------------------------- helpers
@contextlib.contextmanager
def _eval_mode(model: torch.nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def _inputs(model: Autoencoder, data: Tensor | DeviceDataset) -> Tensor:
    """``data`` in the model's input space, on the model's device."""
    if isinstance(data, DeviceDataset):
        from .evaluation import model_inputs

        data = model_inputs(model, data.to(model.device))
    elif not isinstance(data, Tensor):
        raise InputError(
            f"expected a torch.Tensor of shape (N, {', '.join(map(str, model.input_shape))}) or an "
            f"aezoo.DeviceDataset, got {type(data).__name__}; wrap arrays with torch.as_tensor(x).float()"
        )
    return data.to(model.device)


def _check_batch_size(batch_size: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")


def _batched(fn: Callable[[Tensor], Tensor], x: Tensor, batch_size: int, desc: str) -> Tensor:
    """``fn`` over ``x`` in batches, concatenated; long runs report progress (see :mod:`aezoo.progress`)."""
    _check_batch_size(batch_size)
    if not len(x):
        return fn(x)
    out = []
    with progress.bar(len(x), desc, unit="sample") as bar:
        for i in range(0, len(x), batch_size):
            out.append(fn(x[i : i + batch_size]))
            bar.update(len(out[-1]))
    return torch.cat(out)


# ----------------------------------------------------------------------------- dimensionality reduction
def reduce(model: Autoencoder, data: Tensor | DeviceDataset, *, batch_size: int = 1000) -> Tensor:
    """The codes ``(N, latent_dim)`` of ``data``: the autoencoder as a dimensionality reduction.

    ``data`` is a batch in model space or a :class:`~aezoo.data.DeviceDataset`; the codes are
    computed in batches in eval mode and returned on the model's device.

    >>> import aezoo, torch
    >>> reduce(aezoo.create("linear"), torch.rand(10, 1, 28, 28)).shape
    torch.Size([10, 2])
    """
    x = _inputs(model, data)
    with _eval_mode(model):
        return _batched(model.encode, x, batch_size, "encode")


def extract_features(
    model: Autoencoder, data: Tensor | DeviceDataset, *, batch_size: int = 1000, as_numpy: bool = False
) -> Tensor | np.ndarray:
    """:func:`reduce` for a downstream model: the codes as features, a numpy array with ``as_numpy``.

    >>> import aezoo, torch
    >>> extract_features(aezoo.create("linear"), torch.rand(4, 1, 28, 28), as_numpy=True).shape
    (4, 2)
    """
    codes = reduce(model, data, batch_size=batch_size)
    return codes.detach().float().cpu().numpy() if as_numpy else codes


# ----------------------------------------------------------------------------- anomaly detection
def _mse(recon: Tensor, x: Tensor) -> Tensor:
    return (recon.float() - x.float()).square().flatten(1).mean(1)


def _mae(recon: Tensor, x: Tensor) -> Tensor:
    return (recon.float() - x.float()).abs().flatten(1).mean(1)


def _sse(recon: Tensor, x: Tensor) -> Tensor:
    return (recon.float() - x.float()).square().flatten(1).sum(1)


#: Per-sample anomaly scores from (reconstruction, input): larger means more anomalous.
SCORES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {"mse": _mse, "mae": _mae, "sse": _sse}


def roc_auc(scores: Tensor, labels: Tensor) -> float:
    """Area under the ROC curve of ``scores`` for binary ``labels`` (1/True = positive).

    The Mann-Whitney statistic with average ranks, so ties count one half; the same value as
    ``sklearn.metrics.roc_auc_score``.

    >>> roc_auc(torch.tensor([0.1, 0.4, 0.4, 0.8]), torch.tensor([0, 0, 1, 1]))
    0.875
    """
    s = torch.as_tensor(scores).detach().flatten().double().cpu()
    y = torch.as_tensor(labels).detach().flatten().cpu().bool()
    if s.shape != y.shape:
        raise InputError(f"scores and labels must have the same length, got {s.numel()} and {y.numel()}")
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise InputError(
            f"ROC AUC needs both classes among the labels, got {n_pos} positive and {n_neg} negative; "
            "evaluate on data holding normal and anomalous samples"
        )
    _, inverse, counts = torch.unique(s, sorted=True, return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).double()  # 1-based rank of each value's last occurrence
    ranks = (ends - (counts.double() - 1) / 2)[inverse]  # average rank of tied values
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


class AnomalyDetector:
    """Flags inputs the model reconstructs badly: per-sample error above a calibrated threshold.

    Build one with :meth:`fit` on normal data (a validation split the model was not trained
    on): the threshold is the ``quantile`` of their errors, so about ``1 - quantile`` of normal
    inputs are flagged (the false-positive rate).

    >>> import aezoo, torch
    >>> detector = AnomalyDetector.fit(aezoo.create("linear"), torch.rand(200, 1, 28, 28), quantile=0.95)
    >>> detector.predict(torch.rand(3, 1, 28, 28)).shape
    torch.Size([3])
    """

    def __init__(
        self,
        model: Autoencoder,
        threshold: float,
        *,
        quantile: float,
        score: str = "mse",
        model_ref: str | None = None,
        n_calibration: int = 0,
        batch_size: int = 1000,
    ) -> None:
        _score_fn(score)
        self.model = model
        self.threshold = float(threshold)
        self.quantile = float(quantile)
        self.score_name = score
        self.model_ref = model_ref  # how to load the model again (a directory, name or hf-hub: ref)
        self.n_calibration = int(n_calibration)
        self.batch_size = batch_size

    def __repr__(self) -> str:
        return (
            f"AnomalyDetector(model={self.model_ref or self.model.architecture!r}, score={self.score_name!r}, "
            f"quantile={self.quantile}, threshold={self.threshold:.6g})"
        )

    @classmethod
    def fit(
        cls,
        model: Autoencoder,
        normal_data: Tensor | DeviceDataset,
        *,
        quantile: float | None = None,
        target_fpr: float | None = None,
        score: str = "mse",
        model_ref: str | None = None,
        batch_size: int = 1000,
    ) -> AnomalyDetector:
        """Calibrate the threshold on ``normal_data``: the ``quantile`` (default 0.99) of its scores.

        ``target_fpr`` is the same choice said the other way: ``quantile = 1 - target_fpr``. The
        threshold is the ``ceil(quantile * n)``-th smallest score, so at most ``1 - quantile`` of
        the calibration samples lie above it; that needs ``n >= 1 / (1 - quantile)`` samples.
        ``model_ref`` is stored by :meth:`save` so :meth:`load` can find the model again.

        >>> import aezoo, torch
        >>> AnomalyDetector.fit(aezoo.create("linear"), torch.rand(100, 1, 28, 28), target_fpr=0.05).quantile
        0.95
        """
        q = _resolve_quantile(quantile, target_fpr)
        detector = cls(model, math.nan, quantile=q, score=score, model_ref=model_ref, batch_size=batch_size)
        scores = detector.score(normal_data).double().cpu()
        n = scores.numel()
        needed = math.ceil(1 / (1 - q) - 1e-9)
        if n < needed:
            raise InputError(
                f"calibrating the {q} quantile needs at least {needed} normal samples, got {n}; the threshold "
                f"would be the largest score seen. Give more normal data or a lower quantile "
                f"(with {n} samples: quantile <= {1 - 1 / max(n, 1):.4g})"
            )
        k = max(math.ceil(q * n - 1e-9), 1)  # at most n - k = floor(n(1-q)) samples above it
        detector.threshold = float(scores.sort().values[k - 1])
        if not math.isfinite(detector.threshold):
            raise InputError(
                f"the model's reconstruction errors on the normal data are not finite (threshold "
                f"{detector.threshold!r}); the model's weights or the data hold NaN or infinite values"
            )
        detector.n_calibration = n
        return detector

    def score(self, x: Tensor | DeviceDataset) -> Tensor:
        """Per-sample reconstruction errors ``(N,)`` (float32, on the model's device)."""
        inputs = _inputs(self.model, x)
        fn = _score_fn(self.score_name)
        with _eval_mode(self.model):
            return _batched(lambda b: fn(self.model(b).reconstruction, b), inputs, self.batch_size, "score")

    def predict(self, x: Tensor | DeviceDataset) -> Tensor:
        """``True`` where a sample is anomalous: its score lies above the threshold."""
        self._check_fitted()
        return self.score(x) > self.threshold

    def _check_fitted(self) -> None:
        # A NaN threshold compares False with every score: it would answer "all normal".
        if not math.isfinite(self.threshold):
            raise InputError(
                f"this detector has no threshold (threshold={self.threshold!r}): it was not fitted; calibrate it "
                "with AnomalyDetector.fit(model, normal_data) or read one with AnomalyDetector.load(path)"
            )

    def evaluate(self, x: Tensor | DeviceDataset, labels: Tensor) -> dict[str, float | int]:
        """Detection quality against ``labels`` (1/True = anomalous, one per sample).

        Returns ``auc`` (ROC AUC of the scores, threshold-free), and at the threshold:
        ``precision``, ``recall`` (the true-positive rate), ``f1``, ``fpr`` (the false-positive
        rate achieved on the normal samples), ``accuracy``, with ``threshold``, ``n`` and
        ``n_anomalous``. Precision is 0 when nothing is flagged.
        """
        self._check_fitted()
        scores = self.score(x).cpu()
        y = torch.as_tensor(labels).detach().flatten().cpu().bool()
        if y.numel() != scores.numel():
            raise InputError(f"got {scores.numel()} samples but {y.numel()} labels; give one label per sample")
        pred = scores > self.threshold
        tp, fp = int((pred & y).sum()), int((pred & ~y).sum())
        fn, tn = int((~pred & y).sum()), int((~pred & ~y).sum())
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        return {
            "auc": roc_auc(scores, y),
            "precision": precision,
            "recall": recall,
            "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
            "fpr": fp / (fp + tn) if fp + tn else 0.0,
            "accuracy": (tp + tn) / len(y),
            "threshold": self.threshold,
            "n": len(y),
            "n_anomalous": tp + fn,
        }

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        from ._version import __version__

        return {
            "aezoo_version": __version__,
            "format": _DETECTOR_FORMAT,
            "kind": _DETECTOR_KIND,
            "model": self.model_ref,
            "architecture": self.model.architecture,
            "n_calibration": self.n_calibration,
            "quantile": self.quantile,
            "score": self.score_name,
            "threshold": self.threshold,
        }

    def save(self, path: str | Path) -> Path:
        """Write the detector as JSON (threshold, quantile, score, model reference); returns the path.

        The weights are not copied: the model is found again through ``model_ref``.
        """
        from .serialization import atomic_write

        path = Path(path)
        with atomic_write(path, "w") as f:
            f.write(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        path.chmod(0o644)
        return path

    @classmethod
    def load(cls, path: str | Path, model: Autoencoder | None = None, *, device: str | None = None) -> AnomalyDetector:
        """Read a detector written by :meth:`save`; the model is ``model`` or ``aezoo.load(model_ref)``."""
        path = Path(path)
        data = read_json(
            path, error=ConfigError, fix="give a detector file written by detector.save() or aezoo detect --out"
        )
        if not isinstance(data, Mapping) or data.get("kind") != _DETECTOR_KIND:
            raise ConfigError(f'{path} is not an aezoo anomaly detector (no "kind": {_DETECTOR_KIND!r})')
        if data.get("format") != _DETECTOR_FORMAT:
            raise ConfigError(
                f"{path} has detector format {data.get('format')!r}; this aezoo reads format {_DETECTOR_FORMAT}. "
                "Upgrade aezoo or calibrate the detector again"
            )
        fields = _detector_fields(data, path)
        ref = data.get("model")
        if ref is not None and not isinstance(ref, str):
            raise ConfigError(f'{path}: "model" must be a model reference (a string), got {ref!r}')
        if model is None:
            if not ref:
                raise InputError(
                    f"{path} names no model (it was fitted without model_ref); pass the model: "
                    "AnomalyDetector.load(path, model)"
                )
            from .loading import load

            model = load(ref, device=device)
        return cls(model, model_ref=ref, **fields)


def _detector_fields(data: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """Threshold, quantile, score and calibration size of a detector file, each checked."""

    def number(key: str, ok: Callable[[float], bool], what: str, default: Any = None) -> Any:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(value):
            missing = "is missing" if key not in data else f"is {value!r}"
            raise ConfigError(
                f'{path}: "{key}" {missing}, it must be {what}; the file is damaged, calibrate the detector '
                "again (AnomalyDetector.fit(...).save(path) or aezoo detect --out)"
            )
        return value

    score = data.get("score")
    if not isinstance(score, str):
        raise ConfigError(f'{path}: "score" must be one of {", ".join(SCORES)}, got {score!r}')
    _score_fn(score)
    return {
        "threshold": number("threshold", math.isfinite, "a finite number"),
        "quantile": number("quantile", lambda q: 0 < q < 1, "a number strictly between 0 and 1"),
        "score": score,
        "n_calibration": number("n_calibration", lambda n: n >= 0 and n == int(n), "a count >= 0", 0),
    }


def _score_fn(name: str) -> Callable[[Tensor, Tensor], Tensor]:
    if name not in SCORES:
        from .errors import unknown_name

        raise unknown_name("anomaly score", name, SCORES)
    return SCORES[name]


def _resolve_quantile(quantile: float | None, target_fpr: float | None) -> float:
    if quantile is not None and target_fpr is not None:
        raise InputError(
            f"give quantile ({quantile!r}) or target_fpr ({target_fpr!r}), not both: quantile = 1 - target_fpr"
        )
    q = 0.99 if quantile is None and target_fpr is None else quantile if quantile is not None else 1 - target_fpr
    if not 0.0 < q < 1.0:
        which = f"quantile={quantile!r}" if quantile is not None else f"target_fpr={target_fpr!r}"
        raise InputError(f"{which} must lie strictly between 0 and 1 (e.g. quantile=0.99, target_fpr=0.01)")
    return round(float(q), 12)  # 1 - 0.05 is 0.95, not 0.9500000000000001


# ----------------------------------------------------------------------------- denoising
def add_noise(
    x: Tensor, kind: str = "masking", level: float = 0.25, *, generator: torch.Generator | None = None
) -> Tensor:
    """Corrupt ``x``: ``"masking"`` zeroes each value with probability ``level``;
    ``"gaussian"`` adds noise of standard deviation ``level`` (Vincent et al. 2010).

    >>> add_noise(torch.ones(2, 4), "masking", 0.0).tolist()
    [[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]]
    """
    if kind not in NOISE_KINDS:
        from .errors import unknown_name

        raise unknown_name("noise kind", kind, NOISE_KINDS)
    if not math.isfinite(level) or level < 0 or (kind == "masking" and level > 1):
        limit = "between 0 and 1" if kind == "masking" else "a finite number >= 0"
        raise InputError(f"{kind} noise level must be {limit}, got {level!r}")
    return noise.corrupt(x, kind, level, generator)


def denoise(model: Autoencoder, x: Tensor | DeviceDataset, *, batch_size: int = 1000) -> Tensor:
    """The model's reconstruction of (noisy) inputs ``x``: the denoised version.

    Any model can be asked; a trained denoiser (``capabilities.corrupt``, e.g. ``denoising``)
    has learnt to do it. Make the noise with the model's own ``model.corrupt(x)`` or with
    :func:`add_noise`.

    >>> import aezoo, torch
    >>> model = aezoo.create("denoising")
    >>> clean = torch.rand(4, 1, 28, 28)
    >>> denoise(model, model.corrupt(clean)).shape
    torch.Size([4, 1, 28, 28])
    """
    inputs = _inputs(model, x)
    with _eval_mode(model):
        return _batched(lambda b: model(b).reconstruction, inputs, batch_size, "denoise")


# ----------------------------------------------------------------------------- generation
def generative_architectures() -> list[str]:
    """The registered architectures that can generate (their ``capabilities.sample`` is true).

    >>> "vae" in generative_architectures()
    True
    """
    from .registry import get_architecture, list_models

    names = []
    for name in list_models():
        with contextlib.suppress(AezooError):
            if get_architecture(name).capabilities.sample:
                names.append(name)
    return names


def generate(model: Autoencoder, n: int, *, seed: int | None = None) -> Tensor:
    """``n`` new inputs ``(n, *input_shape)`` drawn from a generative model (``capabilities.sample``).

    ``seed`` makes the draw repeatable without touching the global random state.

    >>> import aezoo
    >>> generate(aezoo.create("vae"), 4, seed=0).shape
    torch.Size([4, 1, 28, 28])
    """
    if not type(model).capabilities.sample:
        raise InputError(
            f"{type(model).__name__} ({model.architecture!r}) cannot generate: it has no sample(n) method "
            "(its capabilities.sample is False). "
            f"Models that can: {', '.join(map(repr, generative_architectures())) or 'none registered'}"
        )
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"n must be a positive integer, got {n!r}")
    gen = seeding.generator(seed, model.device) if seed is not None else None
    with _eval_mode(model):
        return cast(Any, model).sample(n, generator=gen)
