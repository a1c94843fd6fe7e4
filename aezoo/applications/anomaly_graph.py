"""The anomaly detector as one ``torch.nn.Module``: a batch in, every answer the detector gives out.

:meth:`AnomalyDetector.as_module() <aezoo.applications.anomaly.AnomalyDetector.as_module>` builds
it; :func:`aezoo.applications.detector_export.export_detector` traces it into one ONNX,
TorchScript or ``.pt2`` graph. Each output is computed as the detector computes it in Python, from
the same reconstruction, so the file and the detector agree sample by sample:

* ``score`` — :meth:`~AnomalyDetector.score` (float32);
* ``normalized_score`` — :meth:`~AnomalyDetector.normalized_score`, the fraction of calibration
  scores below the score, ties counted half (float64);
* ``p_value`` — :meth:`~AnomalyDetector.p_value`, ``(1 + #{calibration scores >= s}) / (n + 1)`` (float64);
* ``is_anomaly`` — :meth:`~AnomalyDetector.predict`, ``score > threshold`` compared in float32 as
  PyTorch compares a float32 tensor with a Python float;
* ``error_map`` — :meth:`~AnomalyDetector.error_map`, shaped like the input (float32).

The counts behind the last three are comparisons with every kept calibration score (``N x n``
booleans): no sorted-search operator is needed, so the graph runs in any ONNX runtime. Imports
torch only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from ..models.base import Autoencoder

__all__ = ["OUTPUTS", "DetectorGraph"]

#: The graph's outputs in order, named after the detector's methods.
OUTPUTS = ("score", "normalized_score", "p_value", "is_anomaly", "error_map")

_Fn = Callable[[Tensor, Tensor], Tensor]


class DetectorGraph(nn.Module):
    """inputs ``(N, *input_shape)`` and a threshold -> the five :data:`OUTPUTS`, in eval mode.

    ``threshold`` (a 0-d tensor) replaces the calibrated one, which the module keeps as the
    buffer ``default_threshold`` (float32); the sorted calibration scores are the buffer
    ``calibration_scores`` (float64).

    >>> import aezoo, torch
    >>> from aezoo.applications import AnomalyDetector
    >>> detector = AnomalyDetector.fit(aezoo.create("linear"), torch.rand(100, 1, 28, 28), quantile=0.9)
    >>> score, normalized, p, flagged, error_map = detector.as_module()(torch.rand(3, 1, 28, 28))
    >>> flagged.dtype, error_map.shape
    (torch.bool, torch.Size([3, 1, 28, 28]))
    """

    calibration_scores: Tensor
    default_threshold: Tensor

    def __init__(self, model: Autoencoder, score: _Fn, error_map: _Fn, calibration_scores: Tensor, threshold: float):
        super().__init__()
        self.model = model
        self.score_fn, self.error_map_fn = score, error_map
        self.register_buffer("calibration_scores", calibration_scores.detach().double().cpu().sort()[0].clone())
        self.register_buffer("default_threshold", torch.tensor(float(threshold), dtype=torch.float32))

    def forward(self, x: Tensor, threshold: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        recon = self.model._forward(x).reconstruction  # the unchecked core: a value check cannot be traced
        score = self.score_fn(recon, x)
        normalized, p_value = self.rank(score)
        limit = self.default_threshold if threshold is None else threshold.float()
        return score, normalized, p_value, score > limit, self.error_map_fn(recon, x)

    def rank(self, score: Tensor) -> tuple[Tensor, Tensor]:
        """``(normalized_score, p_value)`` of scores ``(N,)`` against the calibration scores (float64)."""
        calib = self.calibration_scores
        s = score.double().unsqueeze(1)
        below = (calib < s).sum(1)  # torch.searchsorted(calib, s, right=False)
        at_or_below = (calib <= s).sum(1)  # ... right=True
        n = calib.numel()
        return (below + at_or_below).double() / (2 * n), (1 + (n - below)).double() / (n + 1)
