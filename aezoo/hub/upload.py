"""Publishing a model folder (or a model, saved first) to the Hugging Face Hub in one commit, with its card.

The repo gets ``model.safetensors``, ``config.json``, a model card (``README.md``) and any figures,
``metrics.json`` or history found next to the weights. huggingface_hub does the upload
(``create_repo``, ``create_branch``, ``upload_folder``: one commit, LFS for the weights); aezoo writes
the card, checks for a token before it starts, and turns a failure into one
:class:`~aezoo.core.errors.HubError` without the token in it.

What is uploaded is an allow-list (:func:`publishable_files`): the weights, the config, the known JSON
files (:data:`EXTRA_FILES`) and figures by suffix, in the folder or under ``figures/`` / ``plots/``.
A listed name that is a symlink, a FIFO, a device or a socket, or that resolves outside the folder,
is refused with one :class:`~aezoo.core.errors.WeightsError` naming each, before any file is opened:
refused rather than skipped, because a skipped ``eval.json`` would publish a repo that silently lacks
what the user meant to publish, and a link the user did not make is worth stopping for. A staged file
that holds a Hugging Face token aezoo knows of is refused too. The whole upload runs within one
deadline (:mod:`~aezoo.hub.deadline`: ``timeout=``, ``$AEZOO_HUB_TIMEOUT``, 30 s); a commit the Hub
did not confirm in time is an error, never a published commit.

>>> commit = publish("runs/conv", "me/conv-mnist")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
import threading
from pathlib import Path
from typing import Any, Protocol

from ..core.errors import HubError, WeightsError
from ..io.cards import FIGURE_SUFFIXES, build_card
from ..io.detector import DETECTOR_NAME
from ..io.serialization import CONFIG_NAME, WEIGHTS_NAME, read_config, sha256_file
from . import _client as client
from .deadline import Deadline, Expired, hub_timeout
from .transport import parse_repo_spec

__all__ = ["EXTRA_FILES", "SavesPretrained", "publish", "publishable_files"]

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
    timeout: float | None = None,
) -> str:
    """Publish a model folder (or a model, saved into a temporary one) to ``repo_id`` in one commit.

    Creates the repo if needed (and ``branch``), writes the model card, uploads ``model.safetensors``,
    ``config.json``, ``README.md`` and any figures, ``metrics.json`` or history from the folder.
    ``metrics`` (default: the folder's ``metrics.json``) go into the card's ``model-index`` and the
    repo's ``metrics.json``; ``package`` is the distribution the card tells users to ``pip install``
    (default: for a model, the one its class comes from; for a folder, ``aezoo`` --
    :func:`aezoo.publish` names the one that registers the architecture).
    Only :func:`publishable_files` are uploaded (a symlink among them is an error), and the Hub must
    confirm the commit within ``timeout`` seconds (default ``$AEZOO_HUB_TIMEOUT`` or 30).
    Returns the commit hash: load exactly these bytes with ``aezoo.load(f"hf-hub:{repo_id}@{hash}")``.
    """
    seconds = hub_timeout(timeout)
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
        _refuse_tokens(source, out, token)
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
        return _upload(
            out, repo_id, config, private=private, branch=branch, token=token, message=commit_message, seconds=seconds
        )


def publishable_files(folder: str | os.PathLike[str]) -> list[str]:
    """The files of a model folder that publishing uploads (POSIX paths relative to it, sorted).

    The allow-list: ``model.safetensors``, ``config.json``, :data:`EXTRA_FILES`, and figures
    (:data:`~aezoo.io.cards.FIGURE_SUFFIXES`) in the folder or anywhere under ``figures/`` and ``plots/``.
    Every listed entry must be a plain file (a plain folder for those two) inside ``folder``: a symlink,
    FIFO, device or socket among them is a :class:`~aezoo.core.errors.WeightsError` naming each. Only
    ``lstat`` is used to decide, so nothing is opened (a FIFO would block). Other files are left out.

    >>> import aezoo, tempfile
    >>> publishable_files(aezoo.create("linear").save_pretrained(tempfile.mkdtemp()))
    ['config.json', 'model.safetensors']
    """
    root = Path(folder)
    found: list[str] = []
    refused: list[str] = []
    try:
        names = sorted(os.listdir(root))
    except OSError as e:
        raise WeightsError(f"cannot read the model folder {str(root)!r} ({e.strerror}); check the path") from None
    known = {WEIGHTS_NAME, CONFIG_NAME, *EXTRA_FILES}
    for name in names:
        if name in known or _is_figure(name):
            _take(root, name, found, refused)
        elif name in _EXTRA_DIRS:
            _walk(root, name, found, refused)
    inside = root.resolve()
    for rel in found:
        if not (root / rel).resolve().is_relative_to(inside):
            refused.append(f"{rel} resolves to {str((root / rel).resolve())!r}, outside the folder")
    if refused:
        raise WeightsError(
            f"{root} holds {len(refused)} file(s) aezoo does not publish: {'; '.join(refused)}. aezoo uploads "
            "only plain files inside the model folder, never what a link points to. Fix: replace each with a "
            "regular file holding what should be published (cp --remove-destination TARGET NAME), or remove it"
        )
    return found


def _is_figure(name: str) -> bool:
    return Path(name).suffix.lower() in FIGURE_SUFFIXES


def _kind(mode: int) -> str | None:
    """What a non-plain entry is, from its ``lstat`` mode; ``None`` for a plain file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return "a symlink"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a folder" if stat.S_ISDIR(mode) else "not a plain file"


def _take(root: Path, rel: str, found: list[str], refused: list[str]) -> None:
    path = root / rel
    kind = _kind(os.lstat(path).st_mode)
    if kind is None:
        found.append(rel)
    elif kind == "a symlink":
        refused.append(f"{rel} is a symlink to {os.readlink(path)!r}")
    else:
        refused.append(f"{rel} is {kind}")


def _walk(root: Path, rel: str, found: list[str], refused: list[str]) -> None:
    """The figures under ``root/rel`` (a figures/ or plots/ folder), never through a link."""
    mode = os.lstat(root / rel).st_mode
    if not stat.S_ISDIR(mode):
        if stat.S_ISLNK(mode):
            refused.append(f"{rel} is a symlink to {os.readlink(root / rel)!r}")
        return
    for name in sorted(os.listdir(root / rel)):
        child = f"{rel}/{name}"
        mode = os.lstat(root / child).st_mode
        if stat.S_ISDIR(mode):
            _walk(root, child, found, refused)
        elif _is_figure(name) or (stat.S_ISLNK(mode) and (root / child).is_dir()):  # a linked folder of figures
            _take(root, child, found, refused)


def _copy(source: Path, target: Path) -> None:
    """Copy a plain file, refusing one that became a link or a special file since it was listed."""
    try:
        fd = os.open(source, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise WeightsError(f"cannot read {source} ({e.strerror}); it changed while being published") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise WeightsError(f"{source} is no longer a plain file; it changed while being published")
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as out:
            shutil.copyfileobj(f, out)


def _refuse_tokens(source: Path, staged: Path, token: str | None) -> None:
    """A staged file that holds a Hugging Face token aezoo knows of is never uploaded."""
    secrets = [t.encode() for t in client.known_tokens(token) if len(t) >= 8]
    if not secrets:
        return
    overlap = max(len(t) for t in secrets) - 1
    for path in sorted(p for p in staged.rglob("*") if p.is_file()):
        tail = b""
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                window = tail + chunk
                if any(t in window for t in secrets):
                    rel = path.relative_to(staged).as_posix()
                    raise WeightsError(
                        f"{source / rel} holds a Hugging Face token; aezoo never publishes a token. Fix: remove "
                        "it from that file (or the file from the folder), and revoke the token if it was shared"
                    )
                tail = window[-overlap:] if overlap else b""


def _stage(source: Path, out: Path, metrics: dict[str, float] | None) -> tuple[dict[str, Any], dict[str, float] | None]:
    """Copy what is published from ``source`` into ``out`` (and the metrics); returns the config and metrics."""
    files = publishable_files(source)  # before any file is opened: a FIFO config.json would block
    config = read_config(source)
    out.mkdir()
    for rel in files:
        _copy(source / rel, out / rel)
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
    seconds: float,
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
    steps = ["create the repository"]

    def transfer(cancelled: threading.Event) -> Any:
        api.create_repo(repo_id, private=private, exist_ok=True)
        if branch:
            if cancelled.is_set():
                raise Expired("stopped at the deadline")
            steps.append(f"create branch {branch!r}")
            api.create_branch(repo_id, branch=branch, exist_ok=True)
        if cancelled.is_set():
            raise Expired("stopped at the deadline")
        steps.append("upload")
        return api.upload_folder(
            folder_path=folder,
            repo_id=repo_id,
            revision=branch,
            commit_message=message or f"Publish {config.get('architecture')} with aezoo",
        )

    try:
        info = Deadline(seconds).run(transfer)
    except Expired:
        raise HubError(
            f"cannot publish to {repo_id} at {client.endpoint()}: the Hub did not confirm the commit within the "
            f"{seconds:g} s deadline (step: {steps[-1]}), so nothing is reported as published (a commit the Hub "
            "made without answering would show in the repo's history). Fix: raise the deadline with --timeout, "
            "timeout= or AEZOO_HUB_TIMEOUT, or check HF_ENDPOINT, and publish again"
        ) from None
    except Exception as e:
        step = steps[-1]
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
