"""The drift detector's files: ``NAME.json`` (settings, model pin) and ``NAME.codes.safetensors`` (reference codes).

The detector itself is :class:`aezoo.applications.drift.DriftDetector`; this module knows only how it
is stored, strictly and without pickle: every JSON field is checked (a damaged file is a
``ConfigError`` naming the field), and the codes file is named by the JSON, pinned by its sha256,
and must hold one float32 tensor ``codes`` of shape ``(n_reference, latent_dim)``, all finite.

Format 1: ``kind``, ``format``, ``aezoo_version``, ``model`` (a reference or null),
``architecture``, ``weights_sha256`` (:func:`aezoo.io.detector.weights_sha256` of the model the
reference was encoded with), ``latent_dim``, ``alpha``, ``rule``, ``correction`` (``"holm"``),
``n_permutations``, ``seed``, ``bandwidth``, ``bandwidth_rule`` (``"median"``), ``max_reference``,
``max_batch``, ``n_reference`` (codes stored), ``n_reference_total`` (reference samples given),
``codes`` (the codes file's name, beside the JSON) and ``codes_sha256``.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, TypeGuard

import torch
from torch import Tensor

from ..core.config import dumps_json, read_json
from ..core.errors import ConfigError, InputError
from .serialization import atomic_write, sha256_file

__all__ = ["CORRECTIONS", "DRIFT_FORMAT", "DRIFT_KIND", "codes_path", "read_drift", "write_drift"]

DRIFT_FORMAT = 1
DRIFT_KIND = "aezoo.DriftDetector"
CORRECTIONS = ("holm",)  # the multiple-testing correction of the per-dimension KS tests
_CODES_KEY = "codes"
_FIX = "the file is damaged; fit the detector again (DriftDetector.fit(...).save(path) or aezoo drift --save)"


def codes_path(path: str | Path) -> Path:
    """Where the reference codes of the detector saved at ``path`` (``NAME.json``) go: ``NAME.codes.safetensors``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.codes.safetensors")


def write_drift(path: str | Path, data: Mapping[str, Any], codes: Tensor) -> Path:
    """Write ``codes`` beside ``path``, then the JSON ``data`` naming and pinning them; returns ``path``.

    Both atomically and readable by all (``0o644``). The codes go first: a JSON never names codes
    that are not there (a crash between the two leaves a JSON whose ``codes_sha256`` refuses them).
    """
    from safetensors.torch import save

    path = Path(path)
    if path.suffix.lower() != ".json":
        raise InputError(f"save the drift detector to a .json file (its codes go beside it), got {str(path)!r}")
    codes_file = codes_path(path)
    with atomic_write(codes_file) as f:
        f.write(save({_CODES_KEY: codes.detach().float().cpu().contiguous()}))
    codes_file.chmod(0o644)
    record = {**data, "codes": codes_file.name, "codes_sha256": sha256_file(codes_file)}
    with atomic_write(path, "w") as f:
        f.write(dumps_json(record))
    path.chmod(0o644)
    return path


def read_drift(path: str | Path, *, rules: Collection[str]) -> tuple[dict[str, Any], Tensor]:
    """The detector file at ``path`` as a checked dict, and its reference codes ``(n_reference, latent_dim)``.

    ``rules`` are the decision rules the caller knows. Any damaged or inconsistent field is a
    ``ConfigError`` that names it.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"drift detector file {str(path)!r} does not exist; write one with DriftDetector.save()")
    data = read_json(path, error=ConfigError, fix="give a file written by DriftDetector.save() or aezoo drift --save")
    if not isinstance(data, Mapping) or data.get("kind") != DRIFT_KIND:
        raise ConfigError(f'{path} is not an aezoo drift detector (no "kind": {DRIFT_KIND!r})')
    if data.get("format") != DRIFT_FORMAT:
        raise ConfigError(
            f"{path} has drift detector format {data.get('format')!r}; this aezoo reads format {DRIFT_FORMAT}. "
            "Upgrade aezoo or fit the detector again"
        )
    _check_fields(data, path, rules)
    return dict(data), _read_codes(path, data)


def _check_fields(data: Mapping[str, Any], path: Path, rules: Collection[str]) -> None:
    def bad(key: str, what: str) -> ConfigError:
        value = "is missing" if key not in data else f"is {data[key]!r}"
        return ConfigError(f'{path}: "{key}" {value}, it must be {what}; {_FIX}')

    def count(key: str, least: int) -> None:
        v = data.get(key)
        if not _is_int(v) or v < least:
            raise bad(key, f"an integer >= {least}")

    if data.get("model") is not None and not isinstance(data["model"], str):
        raise bad("model", "null or a model reference (a string)")
    if not isinstance(data.get("architecture"), str):
        raise bad("architecture", "the model's architecture name")
    for key in ("weights_sha256", "codes_sha256"):
        v = data.get(key)
        if not (isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v)):
            raise bad(key, "a hex sha256 (64 characters)")
    alpha = data.get("alpha")
    if not (_is_number(alpha) and 0 < alpha < 1):
        raise bad("alpha", "a number strictly between 0 and 1")
    bandwidth = data.get("bandwidth")
    if not (_is_number(bandwidth) and math.isfinite(bandwidth) and bandwidth > 0):
        raise bad("bandwidth", "a finite number > 0")
    if data.get("rule") not in rules:
        raise bad("rule", f"one of {', '.join(map(repr, rules))}")
    if data.get("correction") not in CORRECTIONS:
        raise bad("correction", f"one of {', '.join(map(repr, CORRECTIONS))}")
    if data.get("bandwidth_rule") != "median":
        raise bad("bandwidth_rule", "'median'")
    count("latent_dim", 1)
    count("n_permutations", 1)
    count("seed", 0)
    count("max_reference", 2)
    count("max_batch", 2)
    count("n_reference", 2)
    count("n_reference_total", data["n_reference"])
    if data["n_reference"] > data["max_reference"]:
        raise bad("n_reference", f"at most max_reference ({data['max_reference']})")
    name = data.get("codes")
    if not (isinstance(name, str) and name and Path(name).name == name and name not in (".", "..")):
        raise bad("codes", "the name of the codes file beside the JSON (no folder)")


def _read_codes(path: Path, data: Mapping[str, Any]) -> Tensor:
    from safetensors.torch import load

    file = path.parent / data["codes"]
    if not file.is_file():
        raise ConfigError(
            f'{path}: "codes" names {file.name!r}, which is not beside it; copy the two files together; {_FIX}'
        )
    if sha256_file(file) != data["codes_sha256"]:
        raise ConfigError(f'{path}: "codes_sha256" does not match {file.name} (changed or damaged); {_FIX}')
    try:
        tensors = load(file.read_bytes())
    except Exception as e:  # safetensors' own error type; a file that passed the sha256 check rarely gets here
        raise ConfigError(f'{path}: "codes" file {file.name} is not a safetensors file ({e}); {_FIX}') from None
    codes = tensors.get(_CODES_KEY)
    want = (data["n_reference"], data["latent_dim"])
    if set(tensors) != {_CODES_KEY} or codes is None or codes.dtype != torch.float32 or tuple(codes.shape) != want:
        got = {k: (str(v.dtype), tuple(v.shape)) for k, v in tensors.items()}
        raise ConfigError(
            f'{path}: "codes" file {file.name} must hold one float32 tensor {_CODES_KEY!r} of shape {want} '
            f"(n_reference, latent_dim), got {got}; {_FIX}"
        )
    if not codes.isfinite().all():
        raise ConfigError(f'{path}: "codes" file {file.name} holds NaN or infinite codes; {_FIX}')
    return codes


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
