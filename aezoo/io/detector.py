"""The anomaly detector's file, ``detector.json``: its format, read and checked into a plain dict, written atomically.

The detector itself (scores, thresholds, its model) is
:class:`aezoo.applications.anomaly.AnomalyDetector`; this module knows only the JSON it is stored
in, so that the hub, the bundle and the model card can name and check the file without the
application. A detector saved into its model's directory says so with ``"model": "."`` and pins
the weights it was calibrated on (``model_sha256``).

Format 2 (written): ``kind``, ``format``, ``aezoo_version``, ``model`` (a reference, ``"."`` or
null), ``architecture``, ``score``, ``threshold``, ``quantile``, ``rule`` (``{"quantile" |
"target_fpr" | "contamination": value}``), ``n_calibration``, ``calibration_scores``, ``weights_sha256``
(:func:`weights_sha256` of the model it was calibrated on; absent in files written before it was
recorded) and, beside the model, ``model_sha256`` (of its ``model.safetensors``). Format 1 (read)
had no rule, calibration scores or sha256.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

import torch

from ..core.config import dumps_json, read_json
from ..core.errors import ConfigError, InputError, unknown_name
from .serialization import WEIGHTS_NAME, atomic_write, sha256_file

__all__ = [
    "DETECTOR_FORMAT",
    "DETECTOR_KIND",
    "DETECTOR_NAME",
    "READABLE_FORMATS",
    "SAME_FOLDER",
    "THRESHOLD_RULES",
    "check_model_sha256",
    "check_paired_weights",
    "check_same_weights",
    "read_detector",
    "recorded_weights",
    "weights_sha256",
    "write_detector",
]

#: The file a detector is stored in inside its model's directory.
DETECTOR_NAME = "detector.json"
DETECTOR_FORMAT = 2  # 2: calibration scores, threshold rule, model_sha256
READABLE_FORMATS = (1, 2)
DETECTOR_KIND = "aezoo.AnomalyDetector"
SAME_FOLDER = "."  # "model" of a detector whose model is the one in the same directory
#: How a threshold was chosen, as stored in "rule": each sets the quantile of the calibration scores.
THRESHOLD_RULES = ("quantile", "target_fpr", "contamination")
_FIX = "the file is damaged, calibrate the detector again (AnomalyDetector.fit(...).save(path) or aezoo detect --out)"


def read_detector(path: str | Path, *, scores: Collection[str] | None = None) -> dict[str, Any]:
    """The detector file at ``path`` as a plain dict, every field checked; ``ConfigError`` if damaged.

    ``scores`` are the score names the caller knows (which scores exist is the application's): an
    unknown ``"score"`` is an :class:`~aezoo.core.errors.UnknownNameError`. Without them, any name passes.

    >>> import tempfile
    >>> p = write_detector(Path(tempfile.mkdtemp()) / "d.json", {"kind": DETECTOR_KIND, "format": 2,
    ...     "model": None, "score": "mse", "threshold": 0.5, "quantile": 0.9, "rule": {"target_fpr": 0.1}})
    >>> read_detector(p)["rule"]
    {'target_fpr': 0.1}
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"detector file {str(path)!r} does not exist; write one with detector.save()")
    data = read_json(
        path, error=ConfigError, fix="give a detector file written by detector.save() or aezoo detect --out"
    )
    if not isinstance(data, Mapping) or data.get("kind") != DETECTOR_KIND:
        raise ConfigError(f'{path} is not an aezoo anomaly detector (no "kind": {DETECTOR_KIND!r})')
    if data.get("format") not in READABLE_FORMATS:
        raise ConfigError(
            f"{path} has detector format {data.get('format')!r}; this aezoo reads formats "
            f"{', '.join(map(str, READABLE_FORMATS))}. Upgrade aezoo or calibrate the detector again"
        )
    ref = data.get("model")
    if ref is not None and not isinstance(ref, str):
        raise ConfigError(f'{path}: "model" must be a model reference (a string), got {ref!r}')
    _check_fields(data, path, scores)
    return dict(data)


def _check_fields(data: Mapping[str, Any], path: Path, scores: Collection[str] | None) -> None:
    """Threshold, quantile, score, calibration size, rule and calibration scores of a detector file."""

    def number(key: str, ok: Callable[[float], bool], what: str, default: Any = None) -> None:
        value = data.get(key, default)
        if not _is_number(value) or not ok(value):
            missing = "is missing" if key not in data else f"is {value!r}"
            raise ConfigError(f'{path}: "{key}" {missing}, it must be {what}; {_FIX}')

    score = data.get("score")
    if not isinstance(score, str):
        known = f"one of {', '.join(scores)}" if scores is not None else 'the name of an anomaly score (e.g. "mse")'
        raise ConfigError(f'{path}: "score" must be {known}, got {score!r}')
    if scores is not None and score not in scores:
        raise unknown_name("anomaly score", score, scores)
    # every score (mse, mae, sse) is >= 0: a negative threshold flags every input, NaN none
    number("threshold", lambda t: math.isfinite(t) and t >= 0, "a finite number >= 0")
    number("quantile", lambda q: 0 < q < 1, "a number strictly between 0 and 1")
    number("n_calibration", lambda n: math.isfinite(n) and n >= 0 and n == int(n), "a count >= 0", 0)
    rule = data.get("rule")
    if rule is not None and not (
        isinstance(rule, Mapping)
        and len(rule) == 1
        and next(iter(rule)) in THRESHOLD_RULES
        and _is_number(value := next(iter(rule.values())))
        and 0 < value < 1
    ):
        raise ConfigError(
            f'{path}: "rule" is {rule!r}, it must be null or one of {", ".join(THRESHOLD_RULES)} with a number '
            f'strictly between 0 and 1 (e.g. {{"quantile": 0.99}}); {_FIX}'
        )
    recorded = data.get("weights_sha256")
    if recorded is not None and not (isinstance(recorded, str) and len(recorded) == 64):
        raise ConfigError(f'{path}: "weights_sha256" must be null or a hex sha256, got {recorded!r}; {_FIX}')
    calib = data.get("calibration_scores")
    if calib is not None and not (
        isinstance(calib, list) and all(_is_number(c) and math.isfinite(c) and c >= 0 for c in calib)
    ):
        raise ConfigError(f'{path}: "calibration_scores" must be null or a list of finite numbers >= 0; {_FIX}')


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def write_detector(path: str | Path, data: Mapping[str, Any]) -> Path:
    """Write ``data`` (``AnomalyDetector.to_dict()``) to ``path`` atomically, as sorted, indented JSON.

    The file is readable by all (``0o644``): it is meant to travel with its model. Returns ``path``.
    """
    path = Path(path)
    with atomic_write(path, "w") as f:
        f.write(dumps_json(dict(data)))
    path.chmod(0o644)
    return path


def check_model_sha256(path: str | Path, data: Mapping[str, Any]) -> None:
    """A detector stored with its model must sit beside the weights it was calibrated on (``InputError``)."""
    path = Path(path)
    want = data.get("model_sha256")
    weights = path.parent / WEIGHTS_NAME
    if want and weights.is_file() and sha256_file(weights) != want:
        raise InputError(
            f"{path} was calibrated on other weights than {weights} (sha256 differs): the model was retrained "
            "or replaced. Calibrate the detector again on this model (`aezoo detect ... --save-to-model`)"
        )


def check_same_weights(state: Mapping[str, torch.Tensor], directory: str | Path) -> None:
    """A detector saved into a model directory must hold that model: ``state`` is its weights (``InputError``)."""
    from safetensors.torch import load_file

    weights = Path(directory) / WEIGHTS_NAME
    saved = load_file(weights) if weights.is_file() else {}
    mine = {k: v.detach().cpu() for k, v in state.items()}
    if saved.keys() != mine.keys() or any(not torch.equal(saved[k], mine[k]) for k in mine):
        raise InputError(
            f"the detector's model is not the one saved in {weights.parent}; save it there first "
            "(model.save_pretrained(directory)) or save the detector to a .json file"
        )


def check_paired_weights(
    path: str | Path,
    recorded: str,
    state: Mapping[str, torch.Tensor],
    *,
    architecture: str,
    kind: str,
    verb: str,
    owned: str,
    again: str,
) -> None:
    """A detector file must be loaded with the weights it was fitted on: ``ConfigError`` if ``state`` are others.

    ``recorded`` is the file's :func:`weights_sha256`; ``state`` the weights of the model it is
    loaded with. The anomaly and the drift detector share this check and its message; the other
    arguments fill it in: ``kind`` the class (``"AnomalyDetector"``), ``verb`` how it was fitted
    (``"calibrated"``), ``owned`` what of it belongs to the weights (``"its threshold belongs"``)
    and ``again`` how to fit it afresh.

    >>> w = {"w": torch.zeros(2)}
    >>> check_paired_weights("d.json", weights_sha256(w), w, architecture="linear", kind="AnomalyDetector",
    ...     verb="calibrated", owned="its threshold belongs", again="calibrate again")
    """
    actual = weights_sha256(state)
    if actual != recorded:
        raise ConfigError(
            f"{path} was {verb} on other weights (weights_sha256 {recorded[:12]}...) than those of the "
            f"{architecture!r} model it is loaded with ({actual[:12]}...): {owned} to that model. Load it with "
            f"the model it was {verb} on, {again}, or pair them anyway with "
            f"{kind}.load(path, model, allow_other_model=True)"
        )


def weights_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """The fingerprint of a model's weights: sha256 of each tensor's name, dtype, shape and bytes, by name.

    Unlike ``model_sha256`` (the bytes of one file) it does not depend on where or how the weights
    are stored: the same weights give the same value on any device, saved or not.

    >>> weights_sha256({"w": torch.zeros(2)}) == weights_sha256({"w": torch.zeros(2, dtype=torch.float64)})
    False
    """
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().to("cpu").contiguous()
        h.update(json.dumps([name, str(t.dtype), list(t.shape)]).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def recorded_weights(path: str | Path, data: Mapping[str, Any]) -> str | None:
    """The :func:`weights_sha256` of the model the detector file ``data`` (at ``path``) was calibrated on.

    Its ``weights_sha256``; else, for a detector beside its model whose ``model_sha256`` pins that
    ``model.safetensors`` (written before ``weights_sha256`` was), that file's weights; else ``None``:
    which weights it was calibrated on is not known.
    """
    if data.get("weights_sha256"):
        return str(data["weights_sha256"])
    weights = Path(path).parent / WEIGHTS_NAME
    pinned = data.get("model") == SAME_FOLDER and data.get("model_sha256")
    if pinned and weights.is_file() and sha256_file(weights) == data["model_sha256"]:
        from safetensors.torch import load_file

        return weights_sha256(load_file(weights))
    return None
