"""Export a whole anomaly detector — model, score, calibration, threshold — as one graph, and run it.

``export_detector(detector, "detector.onnx")`` traces
:meth:`AnomalyDetector.as_module() <aezoo.applications.anomaly.AnomalyDetector.as_module>` (see
:mod:`aezoo.applications.anomaly_graph`) through the writers of :mod:`aezoo.applications.export`:

* inputs: ``input`` ``(N, *input_shape)`` float32 model inputs, and ``threshold``, a float32
  scalar. In ONNX the threshold is an input with a default (an initializer of the same name), the
  calibrated threshold: leave it out to use it, feed it to move it. TorchScript and ``.pt2``
  cannot trace an optional input, so there it must be given; :func:`run_exported_detector` gives
  the calibrated one from the metadata;
* outputs: ``score``, ``normalized_score``, ``p_value``, ``is_anomaly``, ``error_map`` (as
  :data:`~aezoo.applications.anomaly_graph.OUTPUTS`);
* the sorted calibration scores are a constant of the graph (``calibration_scores``, float64);
* ``aezoo.json`` (ONNX ``metadata_props`` / the extra file) holds the export's usual description
  plus ``detector``: score type, threshold and its rule, target false-positive rate, calibration
  size and the ``weights_sha256`` of the weights it was calibrated on. ONNX files repeat these as
  flat ``aezoo.*`` keys, readable by any ONNX tool without parsing JSON.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

import torch
from torch import Tensor

from ..core.errors import ExportError, InputError
from ..io.detector import DETECTOR_FORMAT
from .anomaly_graph import OUTPUTS, DetectorGraph
from .export import (
    CHECK_BATCH,
    DETECTOR_PART,
    METADATA_NAME,
    TRACE_BATCH,
    ExportResult,
    _Signature,
    check_input,
    check_request,
    metadata_json,
    on_cpu_in_eval,
    open_exported,
    write,
)

if TYPE_CHECKING:
    from .anomaly import AnomalyDetector

__all__ = ["EXPORT_FORMAT", "INPUTS", "OUTPUTS", "export_detector", "run_exported_detector"]

EXPORT_FORMAT = 1  # the detector export's inputs, outputs and "detector" metadata; changes when they do
#: The graph's inputs in order: the batch, and the threshold ``is_anomaly`` compares the score with.
INPUTS = ("input", "threshold")
_DAMAGED = "the file is damaged or its metadata was edited: export the detector again (aezoo export --part detector)"


def export_detector(
    detector: AnomalyDetector,
    path: str | os.PathLike[str],
    *,
    format: str = "onnx",
    verify: bool = True,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    opset: int | None = None,
) -> ExportResult:
    """Write the calibrated ``detector`` to ``path`` as one graph, inputs to decisions (see the module).

    With ``verify`` (the default) the file is run on a batch of another size, with the calibrated
    threshold and with another one, and compared with the detector in PyTorch: scores and error
    maps to ``atol``/``rtol``, normalized scores and p-values recomputed from the file's scores
    exactly, decisions equal but where a score lies within tolerance of the threshold. A mismatch
    raises :class:`~aezoo.core.errors.ExportError`.

    >>> import aezoo, tempfile, os, torch
    >>> from aezoo.applications import AnomalyDetector
    >>> detector = AnomalyDetector.fit(aezoo.create("linear"), torch.rand(100, 1, 28, 28), quantile=0.9)
    >>> path = os.path.join(tempfile.mkdtemp(), "detector.pt2")
    >>> result = export_detector(detector, path, format="exported-program")
    >>> result.part, result.outputs["error_map"], run_exported_detector(path, torch.rand(2, 1, 28, 28))["p_value"].dtype
    ('detector', (1, 28, 28), torch.float64)
    """
    path = check_request(path, format, verify)
    _check_detector(detector)
    in_shape = tuple(detector.model.input_shape)
    described = _describe(detector)
    with on_cpu_in_eval(detector.as_module()) as graph:
        generator = torch.Generator().manual_seed(0)
        example = torch.rand((TRACE_BATCH, *in_shape), generator=generator)
        threshold = graph.default_threshold.clone()
        with torch.no_grad():
            outs = graph(example, threshold)
        shapes = {name: tuple(out.shape[1:]) for name, out in zip(OUTPUTS, outs, strict=True)}
        optional = format == "onnx"  # the one format with inputs that have a default
        meta = metadata_json(
            detector.model,
            DETECTOR_PART,
            format,
            in_shape,
            shapes["score"],
            inputs={
                "input": {"shape": ["batch", *in_shape], "dtype": "float32"},
                "threshold": {"shape": [], "dtype": "float32", "optional": optional, "default": float(threshold)},
            },
            outputs={
                name: {"shape": ["batch", *shapes[name]], "dtype": str(out.dtype).removeprefix("torch.")}
                for name, out in zip(OUTPUTS, outs, strict=True)
            },
            detector=described,
            export_format=EXPORT_FORMAT,
        )
        flat = {"part": DETECTOR_PART, "architecture": detector.model.architecture, **described}
        props = {f"aezoo.{key}": _flat(value) for key, value in flat.items() if value is not None}
        signature = _Signature((example, threshold), INPUTS, OUTPUTS, {"threshold": threshold}, props)
        write(format, graph, signature, path, meta, opset)
        diff = None
        if verify:
            diff = _verify(graph, path, torch.rand((CHECK_BATCH, *in_shape), generator=generator), atol, rtol)
    return ExportResult(path, format, DETECTOR_PART, in_shape, shapes["score"], diff, outputs=shapes)


def run_exported_detector(
    path: str | os.PathLike[str], x: Tensor, *, threshold: float | None = None
) -> dict[str, Tensor]:
    """Run the detector exported at ``path`` on the batch ``x``; returns its outputs by name, on the CPU.

    ``threshold`` replaces the calibrated one for ``is_anomaly`` (compared in float32, as
    :meth:`AnomalyDetector.predict` compares). ``x`` is checked as
    :func:`~aezoo.applications.export.run_exported` checks it, before the file runs.
    """
    path = Path(path)
    call, meta = open_exported(path)
    if meta.get("part") != DETECTOR_PART:
        raise ExportError(
            f"{path.name} holds the {meta.get('part', 'unknown part')} of a model, not an anomaly detector; "
            "run it with aezoo.applications.export.run_exported(path, x)"
        )
    check_input(x, meta, path)
    optional, default = _threshold_spec(meta, path)
    inputs = [x.detach().cpu().float()]
    if threshold is not None:
        if not _is_finite_number(threshold):
            raise InputError(f"threshold must be a finite number (a score, e.g. 0.02), got {threshold!r}")
        inputs.append(torch.tensor(float(threshold), dtype=torch.float32))
    elif not optional:
        inputs.append(torch.tensor(default, dtype=torch.float32))
    with torch.no_grad():
        try:
            return dict(zip(OUTPUTS, call(*inputs), strict=True))
        except Exception as e:  # the runtime's own error, or another number of outputs than OUTPUTS
            text = " ".join(str(e).split())[:200]
            raise ExportError(
                f"{path.name} failed on a batch of shape {tuple(x.shape)} as an anomaly detector with outputs "
                f"{', '.join(OUTPUTS)} ({type(e).__name__}: {text}); {_DAMAGED}"
            ) from None


def _threshold_spec(meta: dict[str, Any], path: Path) -> tuple[bool, float]:
    """Whether the file's ``threshold`` input may be left out, and its default (the calibrated threshold)."""
    inputs = meta.get("inputs")
    spec = inputs.get("threshold") if isinstance(inputs, dict) else None
    if not (
        isinstance(spec, dict)
        and isinstance(spec.get("optional"), bool)
        and _is_finite_number(default := spec.get("default"))
    ):
        raise ExportError(
            f'{path.name}: the "inputs" of its {METADATA_NAME} metadata must describe "threshold" as '
            f'{{"optional": true or false, "default": a finite number}}, got {inputs!r:.120}; {_DAMAGED}'
        )
    return spec["optional"], float(default)


def _is_finite_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_detector(detector: Any) -> None:
    from .anomaly import AnomalyDetector

    if not isinstance(detector, AnomalyDetector):
        raise ExportError(
            f"export_detector takes an aezoo AnomalyDetector, got {type(detector).__name__}; load one with "
            "AnomalyDetector.load(DETECTOR_JSON_OR_MODEL_DIR) or fit one with AnomalyDetector.fit(model, normal_data)"
        )


def _describe(detector: AnomalyDetector) -> dict[str, Any]:
    """The ``detector`` entry of the metadata: how the file's threshold was chosen, on which weights."""
    data = detector.to_dict()  # refuses an uncalibrated detector
    quantile = data["quantile"]
    return {
        "score": data["score"],
        "threshold": data["threshold"],
        "threshold_rule": data["rule"] or ({"quantile": quantile} if quantile is not None else None),
        "quantile": quantile,
        "target_fpr": None if quantile is None else round(1 - quantile, 12),
        "n_calibration": data["n_calibration"],
        "n_calibration_scores": int(detector._calibration("export").numel()),
        "weights_sha256": data["weights_sha256"],
        "model": data["model"],
        "detector_format": DETECTOR_FORMAT,
    }


def _flat(value: Any) -> str:
    """A metadata value as one ``aezoo.*`` ONNX string: ``quantile=0.99`` for a rule, ``repr`` for a float."""
    if isinstance(value, dict):
        return ",".join(f"{k}={v!r}" for k, v in value.items())
    return repr(value) if isinstance(value, float) else str(value)


def _verify(graph: DetectorGraph, path: Path, x: Tensor, atol: float, rtol: float) -> float:
    """The file against ``graph`` on ``x``, with the calibrated and another threshold; the max |difference|."""
    with torch.no_grad():
        scores = graph(x)[0]
    low, high = scores.sort()[0][:2].tolist()
    worst = 0.0
    for threshold in (None, (low + high) / 2):  # the second flags all but the lowest-scored sample
        with torch.no_grad():
            want = dict(zip(OUTPUTS, graph(x, None if threshold is None else torch.tensor(threshold)), strict=True))
        got = run_exported_detector(path, x, threshold=threshold)
        limit = float(graph.default_threshold) if threshold is None else threshold
        for name in ("score", "error_map"):
            worst = max(worst, float((got[name] - want[name]).abs().max()))
            if got[name].shape != want[name].shape or not torch.allclose(got[name], want[name], atol=atol, rtol=rtol):
                raise _mismatch(path, name, f"max |difference| {worst:.3g} (atol {atol:g})")
        # counts against the calibration scores are exact given a score; the file's score may differ by rounding
        with torch.no_grad():
            ranked = dict(zip(("normalized_score", "p_value"), graph.rank(got["score"]), strict=True))
        for name, value in ranked.items():
            if not torch.equal(got[name], value):
                raise _mismatch(path, name, f"max |difference| {float((got[name] - value).abs().max()):.3g}")
        clear = (got["score"] - limit).abs() > atol + rtol * abs(limit)  # a score at the threshold may go either way
        if not torch.equal(got["is_anomaly"][clear], want["is_anomaly"][clear]):
            raise _mismatch(path, "is_anomaly", f"threshold {limit:.6g}")
    return worst


def _mismatch(path: Path, name: str, detail: str) -> ExportError:
    return ExportError(
        f"the exported detector in {path} does not reproduce the detector's {name} ({detail}); "
        "try another format or report the model's architecture"
    )
