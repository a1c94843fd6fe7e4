"""Model directories: ``model.safetensors`` + ``config.json``, written atomically, loaded strictly.

Nothing is ever unpickled: tensors come from safetensors, everything else from JSON.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .config import config_from_dict, config_to_dict, dumps_json
from .errors import AezooError, ConfigError, WeightsError
from .preprocessing import Preprocessing

if TYPE_CHECKING:
    from .models.base import Autoencoder

__all__ = [
    "CONFIG_NAME",
    "FORMAT_VERSION",
    "WEIGHTS_NAME",
    "atomic_write",
    "load_dir",
    "read_config",
    "save_model",
    "sha256_file",
]

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
FORMAT_VERSION = 1


@contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[Any]:
    """Write to a temporary file beside ``path`` and rename it into place only on success.

    A crash or kill mid-write leaves the old file (or nothing), never a half-written one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _state_tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    # safetensors refuses tensors that share storage; a clone per entry keeps each one whole.
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}


def save_model(model: Autoencoder, directory: str | Path, **extra: Any) -> Path:
    """Write ``model.safetensors`` and ``config.json`` (plus ``extra`` keys) into ``directory``."""
    from safetensors.torch import save

    from . import __version__

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = _state_tensors(model)
    with atomic_write(directory / WEIGHTS_NAME) as f:
        f.write(save(tensors, metadata={"format": "pt"}))
    config = {
        "aezoo_version": __version__,
        "architecture": model.architecture,
        "config": config_to_dict(model.config),
        "format": FORMAT_VERSION,
        "preprocessing": model.preprocessing.to_dict(),
        **extra,
    }
    with atomic_write(directory / CONFIG_NAME, "w") as f:
        f.write(dumps_json(config))
    return directory


def read_config(directory: str | Path) -> dict[str, Any]:
    """Read and check ``config.json`` of a model directory."""
    path = Path(directory) / CONFIG_NAME
    if not path.is_file():
        raise WeightsError(f"{path} not found: a model directory holds {WEIGHTS_NAME} and {CONFIG_NAME}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WeightsError(
            f"{path} is not valid JSON ({e}); the file is corrupted, download or save it again"
        ) from None
    if not isinstance(data, dict) or "architecture" not in data or "config" not in data:
        raise WeightsError(f"{path} lacks 'architecture' and 'config'; it was not written by aezoo")
    if int(data.get("format", FORMAT_VERSION)) > FORMAT_VERSION:
        raise WeightsError(
            f"{path} uses model-directory format {data['format']}, newer than this aezoo reads "
            f"({FORMAT_VERSION}); upgrade aezoo"
        )
    return data


def load_dir(
    directory: str | Path,
    *,
    device: str | torch.device | None = None,
    expected_sha256: str | None = None,
) -> Autoencoder:
    """Restore the model saved in ``directory``; strict about every tensor and the config.

    ``expected_sha256`` (from a pretrained entry) is checked against ``model.safetensors``.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load as load_safetensors

    from .registry import get_architecture

    directory = Path(directory)
    if not directory.is_dir():
        raise WeightsError(f"model directory {str(directory)!r} does not exist")
    data = read_config(directory)
    weights = directory / WEIGHTS_NAME
    if not weights.is_file():
        raise WeightsError(f"{weights} not found next to {CONFIG_NAME}; the model directory is incomplete")
    blob = weights.read_bytes()  # one read: the bytes that are checked are the bytes that are loaded
    if expected_sha256 is not None:
        actual = hashlib.sha256(blob).hexdigest()
        if actual != expected_sha256:
            raise WeightsError(
                f"{weights} has sha256 {actual}, but {expected_sha256} was pinned: the file is corrupted "
                "or was tampered with. Delete it and load again to fetch the published bytes "
                "(aezoo pull NAME), or check where it came from."
            )
    cls = get_architecture(str(data["architecture"]))
    try:
        config = config_from_dict(cls.config_class, data["config"])
    except ConfigError as e:
        raise WeightsError(f"{directory / CONFIG_NAME}: {e}") from None
    model = cls(config)
    model.preprocessing = Preprocessing.from_dict(data.get("preprocessing"))
    try:
        tensors = load_safetensors(blob)
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"{weights} cannot be read as safetensors ({e}); the file is corrupted") from None
    load_state_strict(model, tensors, source=str(weights))
    model.eval()
    if device is not None:
        model.to(device)
    return model


def load_state_strict(model: torch.nn.Module, tensors: Mapping[str, torch.Tensor], *, source: str) -> None:
    """Load ``tensors`` into ``model``; any missing, unexpected or mis-shaped tensor is an error."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    mismatched = [
        f"{k}: file {tuple(tensors[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in sorted(set(expected) & set(tensors))
        if tuple(tensors[k].shape) != tuple(expected[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing tensors {missing}")
    if unexpected:
        problems.append(f"unexpected tensors {unexpected}")
    if mismatched:
        problems.append(f"shape mismatches {mismatched}")
    if problems:
        raise WeightsError(
            f"{source} does not match {type(model).__name__} with its config: {'; '.join(problems)}. "
            "The weights belong to another architecture or config."
        )
    try:
        model.load_state_dict(dict(tensors), strict=True)
    except (RuntimeError, AezooError) as e:  # dtype surprises and the like
        raise WeightsError(f"{source}: {e}") from None
