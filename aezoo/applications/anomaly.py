"""What autoencoders are used for: dimensionality reduction, anomaly detection, denoising, generation.

Each application works on any model of the zoo through the contract (``encode``, ``forward``)
and asks a model for more only by the capabilities its class declares: ``sample(n)`` for
generation, ``corrupt(x)`` for a denoiser's own noise. No function here asks which class a model is.

All passes run in eval mode under ``torch.no_grad`` and restore the model's training flag.
A dataset (a :class:`~aezoo.data.datasets.DeviceDataset`, or a streamed :class:`~aezoo.data.streaming.StreamedDataset`,
read whole) is mapped to the model's input space first
(:func:`aezoo.evaluation.metrics.model_inputs`); a tensor is taken as already in that space.
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

from ..core import progress, seeding
from ..core.config import read_json
from ..core.errors import AezooError, ConfigError, InputError
from ..data.datasets import Dataset, DeviceDataset, StreamedDataset
from ..loading.loader import HF_HUB_PREFIX, load
from ..models import noise
from ..models.base import psnr

if TYPE_CHECKING:
    import numpy as np

    from ..models.base import Autoencoder

__all__ = [
    "SCORES",
    "AnomalyDetector",
    "add_noise",
    "denoise",
    "error_maps",
    "extract_features",
    "generate",
    "generative_architectures",
    "psnr",
    "reconstruction_errors",
    "reduce",
    "roc_auc",
]

_DETECTOR_FORMAT = 2  # 2: calibration scores, threshold rule, model_sha256
_READABLE_FORMATS = (1, 2)
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


def _inputs(model: Autoencoder, data: Tensor | Dataset) -> Tensor:
    """``data`` in the model's input space, on the model's device."""
    if isinstance(data, (DeviceDataset, StreamedDataset)):
        from ..evaluation.metrics import model_inputs

        data = model_inputs(model, data.to(model.device))
    elif not isinstance(data, Tensor):
        raise InputError(
            f"expected a torch.Tensor of shape (N, {', '.join(map(str, model.input_shape))}) or an "
            f"aezoo dataset (DeviceDataset, StreamedDataset), got {type(data).__name__}; "
            "wrap arrays with torch.as_tensor(x).float()"
        )
    return data.to(model.device)


def _check_batch_size(batch_size: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")


def _batched(fn: Callable[[Tensor], Tensor], x: Tensor, batch_size: int, desc: str) -> Tensor:
    """``fn`` over ``x`` in batches, concatenated; long runs report progress (see :mod:`aezoo.core.progress`)."""
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
def reduce(model: Autoencoder, data: Tensor | Dataset, *, batch_size: int = 1000) -> Tensor:
    """The codes ``(N, latent_dim)`` of ``data``: the autoencoder as a dimensionality reduction.

    ``data`` is a batch in model space or a :class:`~aezoo.data.datasets.DeviceDataset`; the codes are
    computed in batches in eval mode and returned on the model's device.

    >>> import aezoo, torch
    >>> reduce(aezoo.create("linear"), torch.rand(10, 1, 28, 28)).shape
    torch.Size([10, 2])
    """
    x = _inputs(model, data)
    with _eval_mode(model):
        return _batched(model.encode, x, batch_size, "encode")


def extract_features(
    model: Autoencoder, data: Tensor | Dataset, *, batch_size: int = 1000, as_numpy: bool = False
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


def reconstruction_errors(
    model: Autoencoder, data: Tensor | Dataset, *, score: str = "mse", batch_size: int = 1000
) -> Tensor:
    """Per-sample reconstruction errors ``(N,)`` of ``data`` (float32, on the model's device).

    ``score`` is a name of :data:`SCORES`: ``mse`` / ``mae`` (mean over features) or ``sse``.

    >>> import aezoo, torch
    >>> reconstruction_errors(aezoo.create("linear"), torch.rand(5, 1, 28, 28)).shape
    torch.Size([5])
    """
    fn = _score_fn(score)
    inputs = _inputs(model, data)
    with _eval_mode(model):
        return _batched(lambda b: fn(model(b).reconstruction, b), inputs, batch_size, "score")


#: Per-feature errors from (reconstruction, input), whose per-sample mean/sum is the score.
_ERROR_MAPS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "mse": lambda r, x: (r.float() - x.float()).square(),
    "sse": lambda r, x: (r.float() - x.float()).square(),
    "mae": lambda r, x: (r.float() - x.float()).abs(),
}


def error_maps(model: Autoencoder, data: Tensor | Dataset, *, score: str = "mse", batch_size: int = 1000) -> Tensor:
    """Per-feature (per-pixel) reconstruction errors, shaped like the inputs ``(N, *input_shape)``.

    Squared errors for ``mse`` / ``sse``, absolute errors for ``mae``: their per-sample mean
    (``mse``, ``mae``) or sum (``sse``) is :func:`reconstruction_errors`. Draw them with
    :func:`aezoo.evaluation.plots.error_heatmap`.

    >>> import aezoo, torch
    >>> error_maps(aezoo.create("linear"), torch.rand(5, 1, 28, 28)).shape
    torch.Size([5, 1, 28, 28])
    """
    _score_fn(score)
    fn = _ERROR_MAPS[score]
    inputs = _inputs(model, data)
    with _eval_mode(model):
        return _batched(lambda b: fn(model(b).reconstruction, b), inputs, batch_size, "error map")


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
    on). The threshold is a quantile of their errors, chosen one of three ways:

    * ``quantile=q``: about ``1 - q`` of normal inputs are flagged;
    * ``target_fpr=f``: the same said the other way, ``q = 1 - f`` (the false-positive rate);
    * ``contamination=c``: the calibration data hold about a fraction ``c`` of anomalies
      (PyOD's convention), so the top ``c`` of its scores are flagged: ``q = 1 - c``.

    The calibration scores are kept, so the threshold can be moved later without the data
    (:meth:`set_threshold`) and any score can be read against them: :meth:`normalized_score`
    (the fraction of normal scores below it, in [0, 1]) and :meth:`p_value` (the conformal
    p-value). :meth:`error_map` gives the per-feature errors behind a score. :meth:`save` into
    the model's directory writes ``detector.json`` there, which travels with the model through
    ``aezoo bundle`` and ``aezoo publish``; :meth:`load` takes that directory (or
    ``hf-hub:ORG/NAME@REV``) back.

    >>> import aezoo, torch
    >>> detector = AnomalyDetector.fit(aezoo.create("linear"), torch.rand(200, 1, 28, 28), quantile=0.95)
    >>> detector.predict(torch.rand(3, 1, 28, 28)).shape
    torch.Size([3])
    """

    def __init__(
        self,
        model: Autoencoder,
        threshold: float | None = None,
        *,
        quantile: float | None = None,
        score: str = "mse",
        model_ref: str | None = None,
        n_calibration: int = 0,
        batch_size: int = 1000,
        calibration_scores: Tensor | None = None,
        rule: tuple[str, float] | None = None,
    ) -> None:
        _score_fn(score)
        _check_batch_size(batch_size)
        self.model = model
        self.threshold = None if threshold is None else float(threshold)  # None: not calibrated yet
        self.quantile = None if quantile is None else float(quantile)
        self.rule = rule or (("quantile", self.quantile) if self.quantile is not None else None)
        self.score_name = score
        self.model_ref = model_ref  # how to load the model again (a directory, name or hf-hub: ref)
        self.n_calibration = int(n_calibration)
        self.batch_size = batch_size
        # sorted calibration scores (float64, CPU): the reference for normalized scores and p-values
        self.calibration_scores = None if calibration_scores is None else calibration_scores.double().cpu().sort()[0]

    def __repr__(self) -> str:
        rule = f"{self.rule[0]}={self.rule[1]}, " if self.rule else ""
        state = f"{rule}threshold={self.threshold:.6g}" if self.threshold is not None else "uncalibrated"
        return (
            f"AnomalyDetector(model={self.model_ref or self.model.architecture!r}, score={self.score_name!r}, {state})"
        )

    @property
    def is_calibrated(self) -> bool:
        """Whether a threshold has been set (by :meth:`fit`, :meth:`calibrate` or :meth:`load`)."""
        return self.threshold is not None

    @classmethod
    def fit(
        cls,
        model: Autoencoder,
        normal_data: Tensor | Dataset,
        *,
        quantile: float | None = None,
        target_fpr: float | None = None,
        contamination: float | None = None,
        score: str = "mse",
        model_ref: str | None = None,
        batch_size: int = 1000,
    ) -> AnomalyDetector:
        """Calibrate on ``normal_data``: the threshold is a quantile of its scores (default 0.99).

        Give at most one of ``quantile``, ``target_fpr`` (``quantile = 1 - target_fpr``) and
        ``contamination`` (the expected fraction of anomalies in ``normal_data``, in (0, 0.5];
        ``quantile = 1 - contamination``). The threshold is the ``ceil(quantile * n)``-th
        smallest score, so at most ``1 - quantile`` of the calibration samples lie above it; that
        needs ``n >= 1 / (1 - quantile)`` samples. ``model_ref`` is stored by :meth:`save` so
        :meth:`load` can find the model again.

        >>> import aezoo, torch
        >>> AnomalyDetector.fit(aezoo.create("linear"), torch.rand(100, 1, 28, 28), target_fpr=0.05).quantile
        0.95
        """
        detector = cls(model, score=score, model_ref=model_ref, batch_size=batch_size)
        return detector.calibrate(normal_data, quantile=quantile, target_fpr=target_fpr, contamination=contamination)

    def calibrate(
        self,
        normal_data: Tensor | Dataset,
        *,
        quantile: float | None = None,
        target_fpr: float | None = None,
        contamination: float | None = None,
    ) -> AnomalyDetector:
        """Score ``normal_data``, keep the scores and set the threshold (see :meth:`fit`); returns ``self``."""
        rule = _threshold_rule(quantile, target_fpr, contamination)  # check before the model runs
        scores = self.score(normal_data).double().cpu()
        if scores.numel() == 0:
            raise InputError("the calibration data are empty; give at least one normal sample per 1 - quantile")
        self.calibration_scores = scores.sort()[0]
        self.n_calibration = scores.numel()
        return self.set_threshold(**{rule[0]: rule[1]})

    def set_threshold(
        self,
        *,
        quantile: float | None = None,
        target_fpr: float | None = None,
        contamination: float | None = None,
    ) -> AnomalyDetector:
        """Move the threshold to another quantile of the kept calibration scores; returns ``self``.

        >>> import aezoo, torch
        >>> d = AnomalyDetector.fit(aezoo.create("linear"), torch.rand(100, 1, 28, 28), quantile=0.9)
        >>> d.set_threshold(contamination=0.05).quantile
        0.95
        """
        rule = _threshold_rule(quantile, target_fpr, contamination)
        calib = self._calibration("set a threshold")
        q = 1 - rule[1] if rule[0] != "quantile" else rule[1]
        q = round(float(q), 12)  # 1 - 0.05 is 0.95, not 0.9500000000000001
        n = self.n_calibration
        needed = math.ceil(1 / (1 - q) - 1e-9)
        if n < needed:
            raise InputError(
                f"calibrating the {q} quantile needs at least {needed} normal samples, got {n}; the threshold "
                f"would be the largest score seen. Give more normal data or a lower quantile "
                f"(with {n} samples: quantile <= {1 - 1 / max(n, 1):.4g})"
            )
        k = max(math.ceil(q * n - 1e-9), 1)  # at most n - k = floor(n(1-q)) samples above it
        threshold = float(_order_statistic(calib, n, k))
        if not math.isfinite(threshold):
            raise InputError(
                f"the model's reconstruction errors on the normal data are not finite (threshold "
                f"{threshold!r}); the model's weights or the data hold NaN or infinite values"
            )
        self.threshold = threshold
        self.quantile, self.rule = q, rule
        return self

    # ------------------------------------------------------------------ scores
    def score(self, x: Tensor | Dataset) -> Tensor:
        """Per-sample reconstruction errors ``(N,)`` (float32, on the model's device)."""
        return reconstruction_errors(self.model, x, score=self.score_name, batch_size=self.batch_size)

    def normalized_score(self, x: Tensor | Dataset) -> Tensor:
        """Scores in [0, 1]: the fraction of calibration scores below each one (ties count half).

        0.5 is a typical normal input, the threshold sits near ``quantile``, and 1.0 means worse
        than every normal input seen. ``(N,)`` float64 on the CPU.
        """
        calib = self._calibration("normalize scores")
        s = self.score(x).double().cpu()
        below = torch.searchsorted(calib, s, right=False).double()
        at_or_below = torch.searchsorted(calib, s, right=True).double()
        return (below + at_or_below) / (2 * calib.numel())

    def p_value(self, x: Tensor | Dataset) -> Tensor:
        """Conformal p-values ``(1 + #{calibration scores >= s}) / (n + 1)``, ``(N,)`` float64 on the CPU.

        Under the hypothesis that ``x`` is normal (exchangeable with the calibration data), the
        chance of a p-value <= a is at most a: flag ``p_value(x) <= 0.01`` for a 1 % false-positive
        rate, or feed the p-values to a multiple-testing procedure (Benjamini-Hochberg).
        """
        calib = self._calibration("compute p-values")
        s = self.score(x).double().cpu()
        at_least = calib.numel() - torch.searchsorted(calib, s, right=False)
        return (1 + at_least.double()) / (calib.numel() + 1)

    def error_map(self, x: Tensor | Dataset) -> Tensor:
        """The per-feature errors behind :meth:`score`, shaped like the input ``(N, *input_shape)``."""
        return error_maps(self.model, x, score=self.score_name, batch_size=self.batch_size)

    def predict(self, x: Tensor | Dataset) -> Tensor:
        """``True`` where a sample is anomalous: its score lies above the threshold."""
        return self.flag(self.score(x))

    def flag(self, scores: Tensor) -> Tensor:
        """``True`` where precomputed ``scores`` (from :meth:`score`) lie above the threshold."""
        return torch.as_tensor(scores) > self._threshold("flag scores")

    def evaluate(self, x: Tensor | Dataset, labels: Tensor) -> dict[str, float | int]:
        """Detection quality against ``labels`` (1/True = anomalous, one per sample).

        Returns ``auc`` (ROC AUC of the scores, threshold-free), and at the threshold:
        ``precision``, ``recall`` (the true-positive rate), ``f1``, ``fpr`` (the false-positive
        rate achieved on the normal samples), ``accuracy``, with ``threshold``, ``n`` and
        ``n_anomalous``. Precision is 0 when nothing is flagged.
        """
        threshold = self._threshold("evaluate at a threshold")
        scores = self.score(x).cpu()
        y = torch.as_tensor(labels).detach().flatten().cpu().bool()
        if y.numel() != scores.numel():
            raise InputError(f"got {scores.numel()} samples but {y.numel()} labels; give one label per sample")
        pred = scores > threshold
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
            "threshold": threshold,
            "n": len(y),
            "n_anomalous": tp + fn,
        }

    def _threshold(self, what: str) -> float:
        # A NaN threshold compares False with every score: it would answer "all normal".
        if self.threshold is None or not math.isfinite(self.threshold):
            raise InputError(
                f"cannot {what}: the detector is not fitted (not calibrated); call "
                "detector.calibrate(normal_data, quantile=0.99) or use AnomalyDetector.fit(model, normal_data)"
            )
        return self.threshold

    def _calibration(self, what: str) -> Tensor:
        if self.calibration_scores is None or self.calibration_scores.numel() == 0:
            raise InputError(
                f"cannot {what}: the detector holds no calibration scores; call detector.calibrate(normal_data, "
                "quantile=0.99) (detectors saved by aezoo < 0.2 kept only their threshold: calibrate them again)"
            )
        return self.calibration_scores

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """The detector as JSON-ready data (what :meth:`save` writes)."""
        from .._version import __version__

        threshold = self._threshold("save")
        calib = self._calibration("save")
        return {
            "aezoo_version": __version__,
            "format": _DETECTOR_FORMAT,
            "kind": _DETECTOR_KIND,
            "model": self.model_ref,
            "architecture": self.model.architecture,
            "n_calibration": self.n_calibration,
            "quantile": self.quantile,
            "rule": {self.rule[0]: self.rule[1]} if self.rule else None,
            "score": self.score_name,
            "threshold": threshold,
            "calibration_scores": _kept_scores(calib).tolist(),
        }

    def save(self, path: str | Path) -> Path:
        """Write the detector as JSON; returns the file written.

        ``path`` is a ``.json`` file, or a model directory (one holding ``config.json``): the
        detector is then written there as ``detector.json``, refers to the model beside it and
        travels with it (``aezoo bundle``, ``aezoo publish``, ``AnomalyDetector.load(directory)``).
        The model must be the one saved in that directory. Elsewhere the weights are not copied:
        the model is found again through ``model_ref``.
        """
        from ..io.serialization import CONFIG_NAME, WEIGHTS_NAME, atomic_write, sha256_file

        path = Path(path)
        data = self.to_dict()
        if path.is_dir():
            if not (path / CONFIG_NAME).is_file():
                raise InputError(
                    f"{path} is a directory but not a model directory (no {CONFIG_NAME}); give a .json file "
                    "path or the directory the model was saved in"
                )
            _check_same_weights(self.model, path / WEIGHTS_NAME)
            data["model"] = _SAME_FOLDER
            data["model_sha256"] = sha256_file(path / WEIGHTS_NAME)
            path = path / DETECTOR_NAME
        with atomic_write(path, "w") as f:
            f.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
        path.chmod(0o644)
        return path

    @classmethod
    def load(cls, path: str | Path, model: Autoencoder | None = None, *, device: str | None = None) -> AnomalyDetector:
        """Read a detector written by :meth:`save`, with its model.

        ``path`` is the detector's JSON file, a model directory holding ``detector.json``, or a
        Hub repository ``"hf-hub:ORG/NAME@REV"`` published with one. The model is ``model``, else
        the one in that directory / repository, else ``aezoo.load(model_ref)``.

        >>> detector = AnomalyDetector.load("runs/conv")  # doctest: +SKIP
        """
        text = str(path)
        hub_ref = text if text.startswith(HF_HUB_PREFIX) else None
        if hub_ref is not None:
            from ..hub.transport import pull

            folder = pull(text[len(HF_HUB_PREFIX) :])
            path = folder / DETECTOR_NAME
            if not path.is_file():
                raise InputError(
                    f"{text} holds no {DETECTOR_NAME}; fit a detector on the model, save it into the model's "
                    "directory (detector.save(DIR) or `aezoo detect ... --save-to-model`) and publish again"
                )
        path = Path(path)
        if path.is_dir():
            if not (path / DETECTOR_NAME).is_file():
                raise InputError(
                    f"{path} holds no {DETECTOR_NAME}; fit one with `aezoo detect {path} --dataset NORMAL "
                    "--save-to-model` or AnomalyDetector.fit(...).save(directory)"
                )
            path = path / DETECTOR_NAME
        data = _read_detector(path)
        ref = data.get("model")
        if ref == _SAME_FOLDER:
            model = model if model is not None else _load_model(hub_ref or str(path.parent), device)
            _check_model_sha256(path, data)
            ref = hub_ref or str(path.parent.resolve())
        elif model is None:
            if not ref:
                raise InputError(
                    f"{path} names no model (it was fitted without model_ref); pass the model: "
                    "AnomalyDetector.load(path, model)"
                )
            model = _load_model(str(ref), device)
        rule = data.get("rule") or {"quantile": data["quantile"]}
        ((rule_name, rule_value),) = rule.items()
        calib = data.get("calibration_scores")
        return cls(
            model,
            data["threshold"],
            quantile=data["quantile"],
            score=data["score"],
            model_ref=ref,
            n_calibration=data.get("n_calibration", 0),
            calibration_scores=torch.tensor(calib, dtype=torch.float64) if calib else None,
            rule=(str(rule_name), float(rule_value)),
        )


#: The file a detector is stored in inside its model's directory.
DETECTOR_NAME = "detector.json"
_SAME_FOLDER = "."  # detector.json's "model" when the model is the one in the same directory
_MAX_KEPT_SCORES = 10_000  # calibration scores stored in the JSON (order statistics beyond that)


def _kept_scores(calib: Tensor) -> Tensor:
    """All calibration scores, or ``_MAX_KEPT_SCORES`` evenly spaced order statistics of many more."""
    if calib.numel() <= _MAX_KEPT_SCORES:
        return calib
    index = torch.linspace(0, calib.numel() - 1, _MAX_KEPT_SCORES).round().long()
    return calib[index]


def _order_statistic(calib: Tensor, n: int, k: int) -> float:
    """The ``k``-th smallest of ``n`` scores, from all of them or from the kept order statistics."""
    if calib.numel() == n:
        return float(calib[k - 1])
    return float(calib[round((k - 1) / max(n - 1, 1) * (calib.numel() - 1))])


def _read_detector(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError(f"detector file {str(path)!r} does not exist; write one with detector.save()")
    data = read_json(
        path, error=ConfigError, fix="give a detector file written by detector.save() or aezoo detect --out"
    )
    if not isinstance(data, Mapping) or data.get("kind") != _DETECTOR_KIND:
        raise ConfigError(f'{path} is not an aezoo anomaly detector (no "kind": {_DETECTOR_KIND!r})')
    if data.get("format") not in _READABLE_FORMATS:
        raise ConfigError(
            f"{path} has detector format {data.get('format')!r}; this aezoo reads formats "
            f"{', '.join(map(str, _READABLE_FORMATS))}. Upgrade aezoo or calibrate the detector again"
        )
    ref = data.get("model")
    if ref is not None and not isinstance(ref, str):
        raise ConfigError(f'{path}: "model" must be a model reference (a string), got {ref!r}')
    _detector_fields(data, path)
    return dict(data)


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


def _load_model(ref: str, device: str | None) -> Autoencoder:
    return load(ref, device=device)


def _check_model_sha256(path: Path, data: Mapping[str, Any]) -> None:
    """A detector stored with its model must sit beside the weights it was calibrated on."""
    from ..io.serialization import WEIGHTS_NAME, sha256_file

    want = data.get("model_sha256")
    weights = path.parent / WEIGHTS_NAME
    if want and weights.is_file() and sha256_file(weights) != want:
        raise InputError(
            f"{path} was calibrated on other weights than {weights} (sha256 differs): the model was retrained "
            "or replaced. Calibrate the detector again on this model (`aezoo detect ... --save-to-model`)"
        )


def _check_same_weights(model: Autoencoder, weights: Path) -> None:
    from safetensors.torch import load_file

    saved = load_file(weights) if weights.is_file() else {}
    mine = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if saved.keys() != mine.keys() or any(not torch.equal(saved[k], mine[k]) for k in mine):
        raise InputError(
            f"the detector's model is not the one saved in {weights.parent}; save it there first "
            "(model.save_pretrained(directory)) or save the detector to a .json file"
        )


def _score_fn(name: str) -> Callable[[Tensor, Tensor], Tensor]:
    if name not in SCORES:
        from ..core.errors import unknown_name

        raise unknown_name("anomaly score", name, SCORES)
    return SCORES[name]


def _threshold_rule(quantile: float | None, target_fpr: float | None, contamination: float | None) -> tuple[str, float]:
    """The one threshold rule given, checked: ``("quantile" | "target_fpr" | "contamination", value)``."""
    given = {
        k: v
        for k, v in (("quantile", quantile), ("target_fpr", target_fpr), ("contamination", contamination))
        if v is not None
    }
    if len(given) > 1:
        listed = " and ".join(f"{k}={v!r}" for k, v in given.items())
        raise InputError(f"give one of quantile, target_fpr or contamination, not {listed} (quantile = 1 - the others)")
    name, value = next(iter(given.items())) if given else ("quantile", 0.99)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{name} must be a number, got {value!r}")
    if name == "contamination" and not 0.0 < value <= 0.5:
        raise InputError(
            f"contamination={value!r} must lie in (0, 0.5]: it is the expected fraction of anomalies in the "
            "calibration data (e.g. contamination=0.05)"
        )
    if not 0.0 < value < 1.0:
        raise InputError(f"{name}={value!r} must lie strictly between 0 and 1 (e.g. quantile=0.99, target_fpr=0.01)")
    return name, float(value)


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
        from ..core.errors import unknown_name

        raise unknown_name("noise kind", kind, NOISE_KINDS)
    if not math.isfinite(level) or level < 0 or (kind == "masking" and level > 1):
        limit = "between 0 and 1" if kind == "masking" else "a finite number >= 0"
        raise InputError(f"{kind} noise level must be {limit}, got {level!r}")
    return noise.corrupt(x, kind, level, generator)


def denoise(model: Autoencoder, x: Tensor | Dataset, *, batch_size: int = 1000) -> Tensor:
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
    from ..registry.architectures import get_architecture, list_models

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
