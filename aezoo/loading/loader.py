"""``aezoo.load``: a name, a directory or a Hub repository to a ready model, its class looked up in the registry.

This is aezoo's AutoModel. The class comes from the registry -- a pretrained name's entry
(:func:`~aezoo.registry.architectures.get_pretrained`), or the ``"architecture"`` of a folder's or a
repo's ``config.json`` (:func:`~aezoo.registry.architectures.get_architecture`) -- and the model is
loaded by the same machinery as ``cls.from_pretrained`` (:mod:`aezoo.hub.mixin`): the bundled copy,
cache or Hub that holds exactly the pinned files, the header checked against the model built on the
meta device before any weight is read, non-finite weights refused.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..core.errors import unknown_name
from ..hub.mixin import LOCAL_DIR_PREFIX, folder_config, hub_origin, load_entry, load_folder
from ..hub.pins import entry_problem as _entry_problem
from ..hub.pins import resolve as _resolve
from ..hub.transport import HF_HUB_PREFIX, fetch_model_files, parse_repo_spec
from ..io.pretrained import Pretrained
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
    preprocessing), or ``None`` when it is (:func:`aezoo.hub.pins.entry_problem`, with the config
    class of the entry's architecture)."""
    config_class = get_architecture(entry.architecture).config_class
    return _entry_problem(entry, folder, config_class=config_class, hash_weights=hash_weights)


def resolve(
    entry: Pretrained, *, revision: str | None = None, token: str | None = None, timeout: float | None = None
) -> tuple[Path, Pretrained | None]:
    """A local folder holding ``entry``'s model, verified, and the entry it was verified against.

    Sources, in order: bundled copies, the HF cache, the Hub (:func:`aezoo.hub.pins.resolve`).
    """
    config_class = get_architecture(entry.architecture).config_class
    return _resolve(entry, config_class=config_class, revision=revision, token=token, timeout=timeout)


def load_pretrained(
    entry: Pretrained,
    device: str | torch.device | None = None,
    revision: str | None = None,
    *,
    timeout: float | None = None,
) -> Autoencoder:
    """Load a pretrained entry from the first source that holds exactly the pinned model."""
    cls = get_architecture(entry.architecture)
    model: Autoencoder = load_entry(cls, entry, device=device, revision=revision, timeout=timeout)
    return model


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
    name = str(folder_config(folder)["architecture"])
    model: Autoencoder = load_folder(
        get_architecture(name),
        folder,
        device=device,
        expected_sha256=expected_sha256,
        origin=hub_origin(repo_id, revision, folder),
    )
    return model


def load_dir(
    directory: str | Path,
    *,
    device: str | torch.device | None = None,
    expected_sha256: str | None = None,
    entry: Pretrained | None = None,
) -> Autoencoder:
    """Restore the model saved in ``directory`` as the architecture its ``config.json`` (or ``entry``) names.

    ``expected_sha256`` is checked against ``model.safetensors``; ``entry`` (a pretrained pin) is
    checked against every file (:func:`aezoo.hub.mixin.load_folder`).
    """
    name = entry.architecture if entry is not None else str(folder_config(directory)["architecture"])
    cls = get_architecture(name)
    model: Autoencoder = load_folder(cls, directory, device=device, expected_sha256=expected_sha256, entry=entry)
    return model
