"""``aezoo.load``: the one module that turns a name, a directory or a Hub repository into a ready model.

It combines the layers below it: entries (:mod:`aezoo.io.pretrained`), the file format
(:mod:`aezoo.io.serialization`), the architectures (:mod:`aezoo.registry.architectures`) and the transport
(:mod:`aezoo.hub.transport`). Loading is strict and bounded: ``config.json`` is checked against the pretrained
entry that pins it, the safetensors header is read and compared (names, shapes, dtypes) with the
model the config describes -- built on the meta device, so a config asking for 10**9 parameters is
refused before anything is allocated -- and only then are the bytes read, hashed, checked to be
finite and copied into the model.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Any

import torch

from ..core.config import config_from_dict, config_to_dict
from ..core.errors import ConfigError, HubError, WeightsError, unknown_name
from ..data.preprocessing import Preprocessing
from ..hub.transport import fetch_model_files, parse_repo_spec
from ..io.pretrained import Pretrained, bundled_dirs
from ..io.serialization import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    check_header,
    load_state_strict,
    load_tensors,
    read_config,
    read_header,
    sha256_file,
)
from ..models.base import Autoencoder
from ..registry.architectures import get_architecture, get_pretrained, list_models

__all__ = [
    "HF_HUB_PREFIX",
    "LOCAL_DIR_PREFIX",
    "entry_problem",
    "load",
    "load_dir",
    "load_from_hub",
    "load_pretrained",
    "resolve",
]

HF_HUB_PREFIX = "hf-hub:"
LOCAL_DIR_PREFIX = "local-dir:"


def load(
    name_or_path: str | Path,
    *,
    device: str | torch.device | None = None,
    revision: str | None = None,
    timeout: float | None = None,
) -> Autoencoder:
    """Return a trained model, in eval mode, from any of:

    * a pretrained name (``"conv-mnist"``; see ``aezoo.list_models(pretrained=True)``),
    * a model directory written by ``save_pretrained`` or ``aezoo train`` (or ``local-dir:PATH``),
    * a Hub repository, ``"hf-hub:ORG/NAME"`` or ``"hf-hub:ORG/NAME@REVISION"``.

    ``timeout`` bounds a download from the Hub as a whole (default ``$AEZOO_HUB_TIMEOUT`` or 30 s).

    >>> import aezoo, tempfile
    >>> d = aezoo.create("linear").save_pretrained(tempfile.mkdtemp())
    >>> aezoo.load(d).latent_dim
    2
    """
    text = str(name_or_path)
    if text.startswith(LOCAL_DIR_PREFIX):
        return load_dir(text[len(LOCAL_DIR_PREFIX) :], device=device)
    if text.startswith(HF_HUB_PREFIX):
        return load_from_hub(text[len(HF_HUB_PREFIX) :], revision=revision, device=device, timeout=timeout)
    if isinstance(name_or_path, Path) or Path(text).is_dir():
        return load_dir(text, device=device)
    pretrained = list_models(pretrained=True)
    if text in pretrained:
        return load_pretrained(get_pretrained(text), device=device, revision=revision, timeout=timeout)
    if "/" in text or text.startswith("."):
        raise unknown_name(
            "model",
            text,
            pretrained,
            "not a directory; for a Hub repository write 'hf-hub:ORG/NAME'",
        )
    raise unknown_name("pretrained model", text, pretrained, "see `aezoo list --pretrained`")


def entry_problem(entry: Pretrained, folder: str | Path, *, hash_weights: bool = True) -> str | None:
    """Why the model in ``folder`` is not the one ``entry`` pins (weights, architecture, config,
    preprocessing), or ``None`` when it is. ``hash_weights=False`` leaves the weights' sha256 to
    the caller (``load_dir`` hashes the very bytes it loads)."""
    folder = Path(folder)
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        return f"no {WEIGHTS_NAME}"
    if hash_weights and (actual := sha256_file(weights)) != entry.sha256:
        return f"{weights} has sha256 {actual}, not the pinned {entry.sha256}"
    try:
        data = read_config(folder)
    except WeightsError as e:
        return str(e)
    path = folder / CONFIG_NAME
    if data.get("architecture") != entry.architecture:
        return f"{path} says architecture {data.get('architecture')!r}, the entry pins {entry.architecture!r}"
    cls = get_architecture(entry.architecture)
    want = config_to_dict(config_from_dict(cls.config_class, dict(entry.config)))
    try:
        got = config_to_dict(config_from_dict(cls.config_class, data["config"]))
    except ConfigError as e:
        return f"{path} has an invalid config ({e})"
    changed = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
    if changed:
        return f"{path} changes the pinned config: " + ", ".join(
            f"{k}={got.get(k)!r} (pinned {want.get(k)!r})" for k in changed
        )
    try:
        pre = Preprocessing.from_dict(data.get("preprocessing")).to_dict()
    except ConfigError as e:
        return f"{path} has an invalid preprocessing ({e})"
    pinned = Preprocessing.from_dict(entry.preprocessing).to_dict()
    if pre != pinned:
        return f"{path} changes the pinned preprocessing: {pre} (pinned {pinned})"
    return None


def resolve(
    entry: Pretrained, *, revision: str | None = None, token: str | None = None, timeout: float | None = None
) -> tuple[Path, Pretrained | None]:
    """A local folder holding ``entry``'s model, verified, and the entry it was verified against.

    Sources, in order: bundled copies, the HF cache, the Hub (see :mod:`aezoo.io.pretrained`). A copy
    that differs from the pin in any file is skipped (with a warning when another source had the
    right one). ``revision`` other than the pinned one loads that revision, checked against the
    Hub's hashes only (the pin does not cover it): the second value is then ``None``.
    """
    pinned = revision in (None, entry.revision)
    tried: list[str] = []
    bad: list[tuple[Path, str]] = []
    if pinned:
        for directory in bundled_dirs(entry.name):
            if not (directory / WEIGHTS_NAME).is_file():
                tried.append(f"bundled {directory} (not there)")
                continue
            problem = entry_problem(entry, directory)
            if problem is None:
                return directory, entry
            bad.append((directory, problem))
            tried.append(f"bundled {directory} ({problem})")
    try:
        folder = fetch_model_files(
            entry.repo_id,
            revision or entry.revision,
            token=token,
            expected_sha256=entry.sha256 if pinned else None,
            check=(lambda f: entry_problem(entry, f)) if pinned else None,
            tried=tried,
            timeout=timeout,
        )
    except (HubError, WeightsError) as e:
        if bad:
            path, problem = bad[0]
            raise WeightsError(
                f"pretrained {entry.name!r}: {problem}: the copy in {path} is corrupted or was tampered with, and "
                f"no other source had the pinned model ({e}). Fix: restore or delete {path}, then load once online"
            ) from None
        raise type(e)(f"pretrained {entry.name!r}: {e}") from None
    for path, problem in bad:
        warnings.warn(f"ignored {path} ({problem}); loaded the pinned model from {folder}", stacklevel=3)
    return folder, entry if pinned else None


def load_pretrained(
    entry: Pretrained,
    device: str | torch.device | None = None,
    revision: str | None = None,
    *,
    timeout: float | None = None,
) -> Autoencoder:
    """Load a pretrained entry from the first source that holds exactly the pinned model."""
    folder, pin = resolve(entry, revision=revision, timeout=timeout)
    return load_dir(folder, device=device, entry=pin)


def load_from_hub(
    spec: str,
    revision: str | None = None,
    device: str | torch.device | None = None,
    *,
    token: str | None = None,
    expected_sha256: str | None = None,
    timeout: float | None = None,
) -> Autoencoder:
    """Load ``"ORG/NAME"`` or ``"ORG/NAME@REV"`` (what follows ``hf-hub:`` in ``aezoo.load``).

    >>> model = aezoo.load("hf-hub:aezoo/conv-mnist@0123abc...")  # doctest: +SKIP
    """
    repo_id, revision = parse_repo_spec(spec, revision)
    folder = fetch_model_files(repo_id, revision, token=token, expected_sha256=expected_sha256, timeout=timeout)
    return load_dir(folder, device=device, expected_sha256=expected_sha256)


def load_dir(
    directory: str | Path,
    *,
    device: str | torch.device | None = None,
    expected_sha256: str | None = None,
    entry: Pretrained | None = None,
) -> Autoencoder:
    """Restore the model saved in ``directory``; strict about every tensor and the config.

    ``expected_sha256`` is checked against ``model.safetensors``; ``entry`` (a pretrained pin) is
    checked against every file. The header is compared with the model before any weight is read.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise WeightsError(f"model directory {str(directory)!r} does not exist")
    if entry is not None:  # the weights' hash is checked below, on the bytes that are loaded
        problem = entry_problem(entry, directory, hash_weights=False)
        if problem is not None:
            raise WeightsError(
                f"pretrained {entry.name!r}: {problem}: the files were changed after they were verified. "
                f"Delete {directory} and load again"
            )
        expected_sha256 = entry.sha256
    data = read_config(directory)
    weights = directory / WEIGHTS_NAME
    if not weights.is_file():
        raise WeightsError(f"{weights} not found next to {CONFIG_NAME}; the model directory is incomplete")
    cls = get_architecture(str(data["architecture"]))
    try:
        config = config_from_dict(cls.config_class, data["config"])
        preprocessing = Preprocessing.from_dict(data.get("preprocessing"))
    except ConfigError as e:
        raise WeightsError(f"{directory / CONFIG_NAME}: {e}") from None
    header = read_header(weights)
    expected = _expected_tensors(cls, config, directory)
    model = None
    if expected is None:  # an architecture that cannot be built on the meta device: build it for real
        model = cls(config)
        expected = model.state_dict()
    check_header(expected, header, source=str(weights))
    blob = weights.read_bytes()  # one read: the bytes that are checked are the bytes that are loaded
    if expected_sha256 is not None:
        actual = hashlib.sha256(blob).hexdigest()
        if actual != expected_sha256:
            raise WeightsError(
                f"{weights} has sha256 {actual}, but {expected_sha256} was pinned: the file is corrupted "
                "or was tampered with. Delete it and load again to fetch the published bytes "
                "(aezoo pull NAME), or check where it came from."
            )
    tensors = load_tensors(blob, source=str(weights))
    del blob
    if model is None:
        model = cls(config)
    model.preprocessing = preprocessing
    load_state_strict(model, tensors, source=str(weights))
    model.eval()
    if device is not None:
        model.to(device)
    return model


def _expected_tensors(cls: type[Autoencoder], config: Any, directory: Path) -> dict[str, torch.Tensor] | None:
    """The state dict ``cls(config)`` would have, on the meta device (no memory for the values).

    ``None`` when the architecture does something in ``__init__`` the meta device cannot do.
    """
    try:
        with torch.device("meta"):
            return dict(cls(config).state_dict())
    except (ConfigError, ValueError, TypeError) as e:
        raise WeightsError(f"{directory / CONFIG_NAME}: the config does not build a model ({e})") from None
    except (NotImplementedError, RuntimeError):
        return None
