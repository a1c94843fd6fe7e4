"""``aezoo.publish``: a model, a model directory or a pretrained name to a Hub repo, with the card naming its package.

The upload itself is :func:`aezoo.hub.upload.publish` (one commit, with the card). What needs the
registry lives here: a pretrained name is resolved to its verified files and its own repo, and the card
tells users to ``pip install`` the distribution that registers the architecture (a plugin's, or aezoo).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ..core.errors import WeightsError
from ..hub.upload import publish as publish_folder
from ..io.pretrained import bundled_dirs
from ..io.serialization import CONFIG_NAME, WEIGHTS_NAME, read_config
from ..models.base import Autoencoder
from ..registry.architectures import get_pretrained, list_models, plugins
from .loader import resolve

__all__ = ["distribution_of", "publish"]


def publish(
    model_or_dir: Autoencoder | str | os.PathLike[str],
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
    timeout: float | None = None,
) -> str:
    """Publish a model (or a model directory, or a pretrained name) to ``repo_id`` in one commit.

    Creates the repo if needed (and ``branch``), writes the model card, uploads ``model.safetensors``,
    ``config.json``, ``README.md`` and any figures, ``metrics.json`` or history from the directory.
    ``metrics`` (default: the directory's ``metrics.json``) go into the card's ``model-index`` and the
    repo's ``metrics.json``; ``package`` is the distribution the card tells users to ``pip install``
    (default: the one that registers the model's architecture, e.g. a plugin's). A pretrained name is
    published from its verified files, to its own repo unless ``repo_id`` says otherwise. ``timeout``
    bounds the upload as a whole, and a pretrained name's download before it (each: ``timeout``, else
    ``$AEZOO_HUB_TIMEOUT``, else 30 s).
    Returns the commit hash: load exactly these bytes with ``aezoo.load(f"hf-hub:{repo_id}@{hash}")``.

    >>> commit = aezoo.publish(aezoo.create("linear"), "me/linear-demo")  # doctest: +SKIP
    """
    source: Autoencoder | Path
    with tempfile.TemporaryDirectory(prefix="aezoo-publish-name-") as tmp:
        if isinstance(model_or_dir, Autoencoder):
            source, architecture = model_or_dir, model_or_dir.architecture
        elif Path(model_or_dir).is_dir():
            source = Path(model_or_dir)
            architecture = str(read_config(source).get("architecture", ""))
        elif str(model_or_dir) in list_models(pretrained=True):
            entry = get_pretrained(str(model_or_dir))
            source, _ = resolve(entry, timeout=timeout)
            if source not in bundled_dirs(entry.name):  # the HF cache: its files link to blobs outside the folder
                source = _verified_copy(source, Path(tmp) / entry.name)
                metrics = metrics if metrics is not None else (dict(entry.metrics) or None)
            architecture, repo_id = entry.architecture, repo_id or entry.repo_id
        else:
            raise WeightsError(
                f"{str(model_or_dir)!r} is neither a model directory nor a pretrained name "
                "(see `aezoo list --pretrained`)"
            )
        return publish_folder(
            source,
            repo_id,
            private=private,
            branch=branch,
            token=token,
            commit_message=commit_message,
            metrics=metrics,
            license=license,
            dataset=dataset,
            package=package or distribution_of(architecture),
            timeout=timeout,
        )


def _verified_copy(snapshot: Path, target: Path) -> Path:
    """The two files of a cached snapshot that the pin verified, copied out of the cache's link layout."""
    target.mkdir()
    for name in (WEIGHTS_NAME, CONFIG_NAME):
        shutil.copyfile(snapshot / name, target / name)
    return target


def distribution_of(architecture: str) -> str:
    """The installed distribution that registers ``architecture`` (``aezoo`` for the built-ins).

    >>> distribution_of("conv")
    'aezoo'
    """
    record = next((r for r in plugins() if r.name == architecture and r.status == "loaded"), None)
    return record.distribution if record is not None else "aezoo"
