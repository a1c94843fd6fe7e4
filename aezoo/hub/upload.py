"""Publishing a model folder (or a model, saved first) to the Hugging Face Hub in one commit, with its card.

The repo gets ``model.safetensors``, ``config.json``, a model card (``README.md``) and any figures,
``metrics.json`` or history found next to the weights. huggingface_hub does the upload
(``create_repo``, ``create_branch``, ``upload_folder``: one commit, LFS for the weights); aezoo writes
the card, checks for a token before it starts, and turns a failure into one
:class:`~aezoo.core.errors.HubError` without the token in it.

>>> commit = publish("runs/conv", "me/conv-mnist")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Protocol

from ..core.errors import HubError, WeightsError
from ..io.cards import FIGURE_SUFFIXES, build_card
from ..io.detector import DETECTOR_NAME
from ..io.serialization import CONFIG_NAME, WEIGHTS_NAME, read_config, sha256_file
from . import _client as client
from .transport import parse_repo_spec

__all__ = ["EXTRA_FILES", "SavesPretrained", "publish"]

#: Files copied from a model directory into the published repo besides the weights and config.
EXTRA_FILES = ("metrics.json", "history.json", "history.csv", "training.json", "eval.json", DETECTOR_NAME)
_EXTRA_DIRS = ("figures", "plots")


class SavesPretrained(Protocol):
    """A model that can write its folder (every aezoo model: :class:`~aezoo.hub.mixin.HubMixin`)."""

    def save_pretrained(self, directory: str | Path, **extra: Any) -> Path: ...


def publish(
    model_or_dir: SavesPretrained | str | os.PathLike[str],
    repo_id: str | None = None,
    *,
    private: bool = False,
    branch: str | None = None,
    token: str | None = None,
    commit_message: str | None = None,
    metrics: dict[str, float] | None = None,
    license: str = "mit",
    dataset: str | None = None,
    package: str | None = None,
) -> str:
    """Publish a model folder (or a model, saved into a temporary one) to ``repo_id`` in one commit.

    Creates the repo if needed (and ``branch``), writes the model card, uploads ``model.safetensors``,
    ``config.json``, ``README.md`` and any figures, ``metrics.json`` or history from the folder.
    ``metrics`` (default: the folder's ``metrics.json``) go into the card's ``model-index`` and the
    repo's ``metrics.json``; ``package`` is the distribution the card tells users to ``pip install``
    (default: for a model, the one its class comes from; for a folder, ``aezoo`` --
    :func:`aezoo.publish` names the one that registers the architecture).
    Returns the commit hash: load exactly these bytes with ``aezoo.load(f"hf-hub:{repo_id}@{hash}")``.
    """
    with tempfile.TemporaryDirectory(prefix="aezoo-publish-") as tmp:
        if isinstance(model_or_dir, (str, os.PathLike)):
            source = Path(model_or_dir)
        else:
            source = model_or_dir.save_pretrained(Path(tmp) / "model")
            package = package or _distribution(type(model_or_dir))
        if not repo_id:
            raise HubError("publish needs a repository id: pass repo_id='ORG/NAME' (CLI: --repo ORG/NAME)")
        parse_repo_spec(repo_id)
        if "@" in repo_id:
            raise HubError(f"{repo_id!r}: publish to a branch with branch= (CLI: --branch), not '@'")
        out = Path(tmp) / "repo"
        config, metrics = _stage(source, out, metrics)
        files = [p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()]
        card = build_card(
            config,
            repo_id=repo_id,
            metrics=metrics,
            files=files,
            sha256=sha256_file(out / WEIGHTS_NAME),
            license=license,
            dataset=dataset,
            package=package or "aezoo",
        )
        (out / "README.md").write_text(str(card), encoding="utf-8")
        return _upload(out, repo_id, config, private=private, branch=branch, token=token, message=commit_message)


def _stage(source: Path, out: Path, metrics: dict[str, float] | None) -> tuple[dict[str, Any], dict[str, float] | None]:
    """Copy what is published from ``source`` into ``out`` (and the metrics); returns the config and metrics."""
    config = read_config(source)
    out.mkdir()
    for name in (WEIGHTS_NAME, CONFIG_NAME, *EXTRA_FILES):
        if (source / name).is_file():
            shutil.copy2(source / name, out / name)
    for p in sorted(source.iterdir()):
        if p.is_file() and p.suffix.lower() in FIGURE_SUFFIXES:
            shutil.copy2(p, out / p.name)
        elif p.is_dir() and p.name in _EXTRA_DIRS:
            shutil.copytree(p, out / p.name)
    if not (out / WEIGHTS_NAME).is_file():
        raise WeightsError(f"{source / WEIGHTS_NAME} not found: nothing to publish")
    metrics = metrics if metrics is not None else _read_metrics(out)
    if metrics is None and isinstance(config.get("metrics"), dict):
        metrics = {k: float(v) for k, v in config["metrics"].items() if isinstance(v, (int, float))}
    if metrics:
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return config, metrics


def _read_metrics(folder: Path) -> dict[str, float] | None:
    """The numbers in ``folder/metrics.json``, or ``None`` when there is none that can be read."""
    try:
        loaded = json.loads((folder / "metrics.json").read_text())
        return {k: float(v) for k, v in loaded.items() if isinstance(v, (int, float))}
    except (OSError, ValueError, AttributeError):
        return None


def _upload(
    folder: Path,
    repo_id: str,
    config: dict[str, Any],
    *,
    private: bool,
    branch: str | None,
    token: str | None,
    message: str | None,
) -> str:
    from huggingface_hub import HfApi, get_token

    if client.offline():
        raise HubError(f"cannot publish to {repo_id}: offline mode is on. Fix: unset HF_HUB_OFFLINE")
    if token is None and get_token() is None:
        raise HubError(
            f"cannot publish to {repo_id}: no Hugging Face token. Fix: run `hf auth login`, "
            "set HF_TOKEN, or pass --token"
        )
    api = HfApi(endpoint=client.endpoint(), token=token)
    step = "create the repository"
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        if branch:
            step = f"create branch {branch!r}"
            api.create_branch(repo_id, branch=branch, exist_ok=True)
        step = "upload"
        info = api.upload_folder(
            folder_path=folder,
            repo_id=repo_id,
            revision=branch,
            commit_message=message or f"Publish {config.get('architecture')} with aezoo",
        )
    except Exception as e:
        why = client.redact(client.reason(e, repo_id, branch), token)
        raise HubError(
            f"cannot publish to {repo_id} at {client.endpoint()} ({step} failed): {why}. Fix: check "
            "the token's write access (HF_TOKEN, `hf auth login`, --token) and HF_ENDPOINT"
        ) from None
    return str(info.oid)


def _distribution(cls: type) -> str:
    """The distribution to ``pip install`` for a model class, without the registry: the one its pretrained
    entries name (read from its package's manifest), else its top-level package with ``-`` for ``_``."""
    for entry in getattr(cls, "pretrained", ()):
        return str(entry.package)
    top = cls.__module__.split(".")[0]
    return "aezoo" if top.startswith("_") else top.replace("_", "-")
