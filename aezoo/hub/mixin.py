"""``save_pretrained`` / ``from_pretrained`` / ``push_to_hub``: the Hub methods every model inherits.

As huggingface_hub's ``hub_mixin.py``, one obvious path each way: save writes the model folder
(:func:`~aezoo.io.serialization.save_model`), push saves into a temporary folder and publishes it in
one commit (:func:`~aezoo.hub.upload.publish`), and ``from_pretrained`` loads a folder,
``hf-hub:ORG/NAME[@REV]`` or one of the class's own pretrained names strictly into that class. It
knows no registry, so it never guesses a class: :func:`aezoo.load` looks the architecture up and
calls the same :func:`load_folder` / :func:`load_entry`.

Loading is strict and bounded: ``config.json`` is checked against the pretrained entry that pins it
and against the class; the safetensors header is read and compared (names, shapes, dtypes) with the
model the config describes -- built on the meta device, so a config asking for 10**9 parameters is
refused before anything is allocated -- and only then are the bytes read, hashed, checked to be
finite and copied into the model. Nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar, cast

import torch

from ..core.config import AEConfig, config_from_dict, config_to_dict
from ..core.errors import ConfigError, WeightsError, unknown_name
from ..data.preprocessing import Preprocessing
from ..io.pretrained import Pretrained
from ..io.serialization import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    check_header,
    load_state_strict,
    load_tensors,
    read_config,
    read_header,
    save_model,
)
from . import upload
from .pins import entry_problem, resolve
from .transport import COMMIT_RE, HF_HUB_PREFIX, fetch_model_files, parse_repo_spec

__all__ = ["LOCAL_DIR_PREFIX", "HubMixin", "folder_config", "hub_origin", "load_entry", "load_folder"]

LOCAL_DIR_PREFIX = "local-dir:"
M = TypeVar("M", bound="HubMixin")


class _Saved(Protocol):
    """What ``save_pretrained`` reads from a model (an :class:`~aezoo.models.base.Autoencoder`)."""

    architecture: ClassVar[str]
    config: AEConfig
    preprocessing: Preprocessing
    training_record: dict[str, Any] | None
    base_model: dict[str, Any] | None

    def state_dict(self) -> Mapping[str, torch.Tensor]: ...


class HubMixin:
    """The Hub methods of :class:`~aezoo.models.base.Autoencoder`: save, load into this class, push.

    >>> import aezoo, tempfile
    >>> folder = aezoo.create("linear").save_pretrained(tempfile.mkdtemp())
    >>> type(aezoo.get_architecture("linear").from_pretrained(folder)).__name__
    'LinearAE'
    """

    architecture: ClassVar[str]
    config_class: ClassVar[type[AEConfig]]
    pretrained: ClassVar[tuple[Pretrained, ...]]

    def save_pretrained(self: _Saved, directory: str | Path, **extra: Any) -> Path:
        """Write ``model.safetensors`` and ``config.json`` to ``directory``; returns it.

        ``aezoo.load(directory)`` restores a model with identical outputs. A model trained by
        ``aezoo.train``/``Trainer`` also writes its ``training_record`` (recipe, dataset, time) as
        ``config.json``'s ``"training"``, which the model card shows; a model that was loaded (a
        pretrained name, a Hub repo, a folder) and then trained records there what it started from,
        as ``"base_model"`` (the card's ``base_model``).
        """
        record = getattr(self, "training_record", None)
        if record and "training" not in extra:
            base = getattr(self, "base_model", None)
            extra["training"] = {**record, "base_model": base} if base and "base_model" not in record else record
        return save_model(
            directory,
            architecture=self.architecture,
            config=config_to_dict(self.config),
            state=self.state_dict(),
            preprocessing=self.preprocessing.to_dict(),
            **extra,
        )

    @classmethod
    def from_pretrained(
        cls: type[M],
        name_or_path: str | Path,
        *,
        device: str | torch.device | None = None,
        revision: str | None = None,
        token: str | None = None,
        timeout: float | None = None,
    ) -> M:
        """This class's model from a folder, ``hf-hub:ORG/NAME[@REVISION]`` or one of its pretrained names.

        Strict: the folder's ``config.json`` must name this class's architecture (a ``WeightsError``
        naming both otherwise). Called on :class:`~aezoo.models.base.Autoencoder` itself it cannot
        know the class: use :func:`aezoo.load`, which looks the architecture up.
        ``timeout`` bounds a download from the Hub as a whole (default ``$AEZOO_HUB_TIMEOUT`` or 30 s).

        >>> import aezoo
        >>> aezoo.get_architecture("linear").from_pretrained("linear-mnist").latent_dim
        2
        """
        text = str(name_or_path)
        if not cls.architecture:
            raise ConfigError(
                f"{cls.__name__}.from_pretrained({text!r}) cannot tell which architecture to build: call "
                f"aezoo.load({text!r}), which looks it up, or the architecture's class, e.g. "
                f"aezoo.get_architecture('conv').from_pretrained({text!r})"
            )
        if text.startswith(LOCAL_DIR_PREFIX):
            return cast(M, load_folder(cls, text[len(LOCAL_DIR_PREFIX) :], device=device))
        if text.startswith(HF_HUB_PREFIX):
            repo_id, rev = parse_repo_spec(text, revision)
            folder = fetch_model_files(repo_id, rev, token=token, timeout=timeout)
            return cast(M, load_folder(cls, folder, device=device, origin=hub_origin(repo_id, rev, folder)))
        if isinstance(name_or_path, Path) or Path(text).is_dir():
            return cast(M, load_folder(cls, text, device=device))
        own = [e for e in cls.pretrained if e.architecture == cls.architecture]
        for entry in own:
            if entry.name == text:
                return cast(M, load_entry(cls, entry, device=device, revision=revision, token=token, timeout=timeout))
        raise unknown_name(
            f"pretrained model of {cls.__name__}",
            text,
            [e.name for e in own],
            f"not a directory either; for any model of the zoo use aezoo.load({text!r})",
        )

    def push_to_hub(self, repo_id: str, **options: Any) -> str:
        """Save this model into a temporary folder and publish it to ``repo_id`` in one commit, with its card.

        ``options`` are :func:`aezoo.hub.upload.publish`'s (``private``, ``branch``, ``token``,
        ``commit_message``, ``metrics``, ``package``...). Returns the commit hash.

        >>> commit = model.push_to_hub("me/conv-mnist")  # doctest: +SKIP
        """
        return upload.publish(cast(upload.SavesPretrained, self), repo_id, **options)


# ---------------------------------------------------------------------- the strict load
def load_entry(
    cls: type[HubMixin],
    entry: Pretrained,
    *,
    device: str | torch.device | None = None,
    revision: str | None = None,
    token: str | None = None,
    timeout: float | None = None,
) -> Any:
    """``entry``'s model as a ``cls``, from the first source that holds exactly the pinned model."""
    folder, pin = resolve(entry, config_class=cls.config_class, revision=revision, token=token, timeout=timeout)
    origin = {"name": entry.name, "repo_id": entry.repo_id, "revision": revision or entry.revision}
    return load_folder(cls, folder, device=device, entry=pin, origin=origin)


def hub_origin(repo_id: str, revision: str | None, folder: Path) -> dict[str, Any]:
    """What a model fetched from ``repo_id`` was loaded from: the commit, when the HF cache's folder names it."""
    return {"repo_id": repo_id, "revision": folder.name if COMMIT_RE.match(folder.name) else revision}


def load_folder(
    cls: type[HubMixin],
    directory: str | Path,
    *,
    device: str | torch.device | None = None,
    expected_sha256: str | None = None,
    entry: Pretrained | None = None,
    origin: Mapping[str, Any] | None = None,
) -> Any:
    """The model saved in ``directory``, as a ``cls`` in eval mode; strict about every tensor and the config.

    ``expected_sha256`` is checked against ``model.safetensors``; ``entry`` (a pretrained pin) is
    checked against every file. The header is compared with the model before any weight is read.
    ``origin`` (default: the folder's path) and the weights' sha256 become ``model.base_model``.
    """
    directory = _existing(directory)
    if entry is not None:  # the weights' hash is checked below, on the bytes that are loaded
        problem = entry_problem(entry, directory, config_class=cls.config_class, hash_weights=False)
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
    if data["architecture"] != cls.architecture:
        raise WeightsError(
            f"{directory / CONFIG_NAME} holds a {data['architecture']!r} model, not a {cls.__name__} "
            f"({cls.architecture!r}); load it with aezoo.load({str(directory)!r}), which picks its class, or "
            f"aezoo.get_architecture({data['architecture']!r}).from_pretrained(...)"
        )
    try:
        config = config_from_dict(cls.config_class, data["config"])
        preprocessing = Preprocessing.from_dict(data.get("preprocessing"))
        if config.input_shape:  # a mean of 3 values for 1-channel inputs fails later, inside a batch
            preprocessing.check_channels(int(config.input_shape[0]))
    except ConfigError as e:
        raise WeightsError(f"{directory / CONFIG_NAME}: {e}") from None
    build = cast(Any, cls)
    header = read_header(weights)
    expected = _expected_tensors(build, config, directory)
    model = None
    if expected is None:  # an architecture that cannot be built on the meta device: build it for real
        try:
            model = build(config)
        except (RuntimeError, MemoryError, ValueError, TypeError) as e:  # e.g. a negative or overflowing size
            text = " ".join(str(e).split())[:200]
            raise WeightsError(f"{directory / CONFIG_NAME}: the config does not build a model ({text})") from None
        expected = model.state_dict()
    check_header(expected, header, source=str(weights))
    blob = weights.read_bytes()  # one read: the bytes that are checked are the bytes that are loaded
    actual = hashlib.sha256(blob).hexdigest()
    if expected_sha256 is not None and actual != expected_sha256:
        raise WeightsError(
            f"{weights} has sha256 {actual}, but {expected_sha256} was pinned: the file is corrupted "
            "or was tampered with. Delete it and load again to fetch the published bytes "
            "(aezoo pull NAME), or check where it came from."
        )
    tensors = load_tensors(blob, source=str(weights))
    del blob
    if model is None:
        model = build(config)
    model.preprocessing = preprocessing
    model.base_model = {**(origin or {"path": str(directory.resolve())}), "sha256": actual}
    load_state_strict(model, tensors, source=str(weights))
    model.eval()
    if device is not None:
        model.to(device)
    return model


def folder_config(directory: str | Path) -> dict[str, Any]:
    """The ``config.json`` of a model directory (the ``"architecture"`` to load it as, among others)."""
    return read_config(_existing(directory))


def _existing(directory: str | Path) -> Path:
    directory = Path(directory)
    if not directory.is_dir():
        raise WeightsError(f"model directory {str(directory)!r} does not exist")
    return directory


def _expected_tensors(build: Any, config: AEConfig, directory: Path) -> dict[str, torch.Tensor] | None:
    """The state dict ``build(config)`` would have, on the meta device (no memory for the values).

    ``None`` when the architecture does something in ``__init__`` the meta device cannot do.
    """
    try:
        with torch.device("meta"):
            return dict(build(config).state_dict())
    except (ConfigError, ValueError, TypeError) as e:
        raise WeightsError(f"{directory / CONFIG_NAME}: the config does not build a model ({e})") from None
    except (NotImplementedError, RuntimeError):
        return None
