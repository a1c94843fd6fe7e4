"""Anomaly detection: per-sample reconstruction errors, a calibrated threshold, ROC AUC.

Works on any model of the zoo through ``forward`` (the reconstruction), in eval mode, batch by
batch (see :mod:`aezoo.applications._batches` for how datasets are mapped to the model's input
space). :class:`AnomalyDetector` keeps its calibration scores for normalized scores and conformal
p-values; its file, ``detector.json``, is :mod:`aezoo.io.detector`'s.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from .._version import __version__
from ..core.errors import InputError, unknown_name
from ..data import Dataset
from ..hub import pull
from ..io.detector import (
    DETECTOR_FORMAT,
    DETECTOR_KIND,
    DETECTOR_NAME,
    SAME_FOLDER,
    THRESHOLD_RULES,
    check_model_sha256,
    check_paired_weights,
    check_same_weights,
    read_detector,
    recorded_weights,
    weights_sha256,
    write_detector,
)
from ..io.serialization import CONFIG_NAME, WEIGHTS_NAME, sha256_file
from ..loading import HF_HUB_PREFIX, load
from ._batches import batched, check_batch_size, eval_mode, model_space
from .anomaly_graph import DetectorGraph

if TYPE_CHECKING:
    from ..models.base import Autoencoder

__all__ = ["SCORES", "AnomalyDetector", "error_maps", "reconstruction_errors", "roc_auc"]

_MAX_KEPT_SCORES = 10_000  # calibration scores stored in the JSON (order statistics beyond that)


# ----------------------------------------------------------------------------- scores
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
    inputs = model_space(model, data)
    with eval_mode(model):
        return batched(lambda b: fn(model(b).reconstruction, b), inputs, batch_size, "score")


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
    inputs = model_space(model, data)
    with eval_mode(model):
        return batched(lambda b: fn(model(b).reconstruction, b), inputs, batch_size, "error map")


def roc_auc(scores: Tensor, labels: Tensor) -> float:
    """Area under the ROC curve of ``scores`` for binary ``labels`` (1/True = positive); ties count one half.

    ``sklearn.metrics.roc_auc_score`` computes it where scikit-learn is installed (the
    ``aezoo[sklearn]`` extra), else the Mann-Whitney statistic with average ranks, the same value.
    Infinite scores rank above (or below) every finite one; NaN scores are an error.

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
    if s.isnan().any():
        raise InputError(
            f"{int(s.isnan().sum())} of the {s.numel()} scores are NaN, which rank nowhere: the model's "
            "reconstructions are not finite (NaN weights or inputs)"
        )
    try:
        from sklearn.metrics import roc_auc_score  # the optional extra; `import aezoo` never imports it
    except ImportError:
        return _rank_auc(s, y)
    if not s.isfinite().all():  # scikit-learn refuses infinities; the area depends on the order only
        s = torch.unique(s, return_inverse=True)[1].double()
    return float(roc_auc_score(y.numpy(), s.numpy()))


def _rank_auc(s: Tensor, y: Tensor) -> float:
    """The Mann-Whitney U statistic of scores ``s`` for boolean labels ``y``, over both classes' sizes."""
    n_pos, n_neg = int(y.sum()), int((~y).sum())
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
        check_batch_size(batch_size)
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
        if not scores.isfinite().all():  # a threshold over them would mean nothing, and the file could not be read
            bad = int((~scores.isfinite()).sum())
            raise InputError(
                f"{bad} of the {scores.numel()} reconstruction errors on the normal data are NaN or infinite; "
                "the model's weights or the data hold NaN or infinite values (check both, e.g. torch.isfinite(x).all())"
            )
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

    def as_module(self) -> DetectorGraph:
        """The detector as one ``torch.nn.Module``: inputs -> score, normalized score, p-value, decision, error map.

        What :func:`aezoo.applications.detector_export.export_detector` traces into one file; see
        :class:`~aezoo.applications.anomaly_graph.DetectorGraph`. It shares this detector's model
        and copies its calibration scores and threshold. Call it in eval mode (``.eval()``), on CPU.

        >>> import aezoo, torch
        >>> d = AnomalyDetector.fit(aezoo.create("linear"), torch.rand(100, 1, 28, 28), quantile=0.9)
        >>> x = torch.rand(4, 1, 28, 28)
        >>> bool((d.as_module().eval()(x)[2] == d.p_value(x)).all())
        True
        """
        calib, threshold = self._calibration("build its graph"), self._threshold("build its graph")
        return DetectorGraph(self.model, SCORES[self.score_name], _ERROR_MAPS[self.score_name], calib, threshold)

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
        """The detector as JSON-ready data (what :meth:`save` writes; the format is :mod:`aezoo.io.detector`'s)."""
        threshold = self._threshold("save")
        calib = self._calibration("save")
        return {
            "aezoo_version": __version__,
            "format": DETECTOR_FORMAT,
            "kind": DETECTOR_KIND,
            "model": self.model_ref,
            "architecture": self.model.architecture,
            "n_calibration": self.n_calibration,
            "quantile": self.quantile,
            "rule": {self.rule[0]: self.rule[1]} if self.rule else None,
            "score": self.score_name,
            "threshold": threshold,
            "calibration_scores": _kept_scores(calib).tolist(),
            "weights_sha256": weights_sha256(self.model.state_dict()),
        }

    def save(self, path: str | Path) -> Path:
        """Write the detector as JSON; returns the file written.

        ``path`` is a ``.json`` file, or a model directory (one holding ``config.json``): the
        detector is then written there as ``detector.json``, refers to the model beside it and
        travels with it (``aezoo bundle``, ``aezoo publish``, ``AnomalyDetector.load(directory)``).
        The model must be the one saved in that directory. Elsewhere the weights are not copied:
        the model is found again through ``model_ref``.
        """
        path = Path(path)
        data = self.to_dict()
        if path.is_dir():
            if not (path / CONFIG_NAME).is_file():
                raise InputError(
                    f"{path} is a directory but not a model directory (no {CONFIG_NAME}); give a .json file "
                    "path or the directory the model was saved in"
                )
            check_same_weights(self.model.state_dict(), path)
            data["model"] = SAME_FOLDER
            data["model_sha256"] = sha256_file(path / WEIGHTS_NAME)
            path = path / DETECTOR_NAME
        return write_detector(path, data)

    @classmethod
    def load(
        cls,
        path: str | Path,
        model: Autoencoder | None = None,
        *,
        device: str | None = None,
        allow_other_model: bool = False,
    ) -> AnomalyDetector:
        """Read a detector written by :meth:`save`, with its model.

        ``path`` is the detector's JSON file, a model directory holding ``detector.json``, or a
        Hub repository ``"hf-hub:ORG/NAME@REV"`` published with one. The model is ``model``, else
        the one in that directory / repository, else ``aezoo.load(model_ref)``. It must hold the
        weights the detector was calibrated on (a ``ConfigError`` otherwise: its threshold is another
        model's); ``allow_other_model=True`` pairs them anyway. A detector that does not record its
        weights (format 1) loads with a warning that the pairing cannot be checked.

        >>> detector = AnomalyDetector.load("runs/conv")  # doctest: +SKIP
        """
        path, hub_ref = _detector_file(path)
        data = read_detector(path, scores=SCORES)
        ref = data.get("model")
        if ref == SAME_FOLDER:
            model = model if model is not None else load(hub_ref or str(path.parent), device=device)
            if not allow_other_model:
                check_model_sha256(path, data)
            ref = hub_ref or str(path.parent.resolve())
        elif model is None:
            if not ref:
                raise InputError(
                    f"{path} names no model (it was fitted without model_ref); pass the model: "
                    "AnomalyDetector.load(path, model)"
                )
            model = load(str(ref), device=device)
        if not allow_other_model:
            _check_pairing(path, data, model)
        ((rule_name, rule_value),) = (data.get("rule") or {"quantile": data["quantile"]}).items()
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


def _detector_file(path: str | Path) -> tuple[Path, str | None]:
    """The detector file that ``path`` (a file, a model directory or ``hf-hub:`` ref) names, and the ref."""
    text = str(path)
    hub_ref = text if text.startswith(HF_HUB_PREFIX) else None
    if hub_ref is not None:
        path = pull(text[len(HF_HUB_PREFIX) :]) / DETECTOR_NAME
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
    return path, hub_ref


def _check_pairing(path: Path, data: dict[str, Any], model: Autoencoder) -> None:
    """The model must hold the weights the detector at ``path`` was calibrated on (``ConfigError``)."""
    recorded = recorded_weights(path, data)
    if recorded is None:
        warnings.warn(
            f"{path} (detector format {data['format']}) does not record which weights it was calibrated on, so "
            f"its pairing with this {model.architecture!r} model cannot be checked; calibrate it again and save it "
            "to record them",
            UserWarning,
            stacklevel=3,
        )
        return
    check_paired_weights(
        path,
        recorded,
        model.state_dict(),
        architecture=model.architecture,
        kind="AnomalyDetector",
        verb="calibrated",
        owned="its threshold belongs",
        again="calibrate again (AnomalyDetector.fit(model, normal_data))",
    )


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


def _score_fn(name: str) -> Callable[[Tensor, Tensor], Tensor]:
    if name not in SCORES:
        raise unknown_name("anomaly score", name, SCORES)
    return SCORES[name]


def _threshold_rule(quantile: float | None, target_fpr: float | None, contamination: float | None) -> tuple[str, float]:
    """The one threshold rule given, checked: ``("quantile" | "target_fpr" | "contamination", value)``."""
    given = {k: v for k, v in zip(THRESHOLD_RULES, (quantile, target_fpr, contamination), strict=True) if v is not None}
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
