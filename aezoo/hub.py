"""Publish models to, and pull them from, the Hugging Face Hub through ``huggingface_hub``.

A published repo holds ``model.safetensors``, ``config.json``, a model card (``README.md``) and any
figures, ``metrics.json`` or history found next to the weights, all in one commit. Loads are pinned
(a commit hash), verified (the sha256 of ``model.safetensors`` when one is expected) and offline-safe:
the Hugging Face cache serves what it holds, and every failure is one :class:`~aezoo.errors.HubError`
that says what was tried and how to fix it. Tokens come from ``token=``, ``HF_TOKEN`` or ``hf auth
login`` and never appear in output or error messages.

>>> import aezoo  # doctest: +SKIP
>>> commit = aezoo.publish("runs/conv", "me/conv-mnist")           # doctest: +SKIP
>>> model = aezoo.load(f"hf-hub:me/conv-mnist@{commit}")          # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Bounded waits unless the user chose others; read by huggingface_hub when it is first imported.
os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", "10")
os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", "10")

from .errors import AezooError, HubError, WeightsError
from .serialization import CONFIG_NAME, WEIGHTS_NAME, read_config, sha256_file

if TYPE_CHECKING:
    import torch

    from .models.base import Autoencoder
    from .pretrained import Pretrained

__all__ = ["fetch_model_files", "load_from_hub", "load_pretrained", "parse_repo_spec", "publish", "pull"]

COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
_REPO_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
#: Files copied from a model directory into the published repo besides the weights and config.
EXTRA_FILES = ("metrics.json", "history.json", "history.csv", "training.json", "eval.json")
_EXTRA_DIRS = ("figures", "plots")
_FIX = (
    "go online and run `aezoo pull {spec}` once (the cache then serves offline loads), unset "
    "HF_HUB_OFFLINE, or set HF_ENDPOINT (a mirror) / HF_TOKEN (a private repo)"
)


# ---------------------------------------------------------------------- settings read at call time
def _endpoint() -> str:
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def _cache_dir() -> str:
    from huggingface_hub import constants

    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return os.path.join(os.environ["HF_HOME"], "hub")
    return constants.HF_HUB_CACHE


def _offline() -> bool:
    from huggingface_hub import constants

    env = (os.environ.get("HF_HUB_OFFLINE") or "").upper() in {"1", "ON", "YES", "TRUE"}
    return env or bool(constants.HF_HUB_OFFLINE)


def _timeout(name: str) -> float:
    try:
        return float(os.environ.get(name) or 10)
    except ValueError:
        return 10.0


def _bound_client() -> None:
    """Give huggingface_hub's shared HTTP client finite timeouts (it has none by default).

    Only when the client factory is still the library's default: a user's own factory is kept.
    """
    from huggingface_hub.utils import _http

    default = getattr(_http, "default_client_factory", None)  # huggingface_hub >= 1.0 (httpx-based)
    if default is None or getattr(_http, "_GLOBAL_CLIENT_FACTORY", None) is not default:
        return
    try:
        import httpx2
    except ImportError:  # a client built on another HTTP library sets its own timeouts
        return

    def factory() -> Any:
        timeout = httpx2.Timeout(
            max(60.0, _timeout("HF_HUB_DOWNLOAD_TIMEOUT")), connect=_timeout("HF_HUB_ETAG_TIMEOUT")
        )
        return httpx2.Client(
            event_hooks={"request": [_http.hf_request_event_hook]}, follow_redirects=True, timeout=timeout
        )

    _http.set_client_factory(factory)


def _secrets(token: str | None) -> list[str]:
    found = [token, os.environ.get("HF_TOKEN"), os.environ.get("HUGGING_FACE_HUB_TOKEN")]
    try:
        from huggingface_hub import get_token

        found.append(get_token())
    except Exception:
        pass
    return [s for s in found if isinstance(s, str) and len(s) >= 4]


def _redact(text: str, token: str | None) -> str:
    for secret in _secrets(token):
        text = text.replace(secret, "***")
    return text


def parse_repo_spec(spec: str, revision: str | None = None) -> tuple[str, str | None]:
    """Split ``"ORG/NAME@REV"`` into ``("ORG/NAME", "REV")``; ``revision`` wins when given.

    >>> parse_repo_spec("aezoo/conv-mnist@main")
    ('aezoo/conv-mnist', 'main')
    """
    text = spec[len("hf-hub:") :] if spec.startswith("hf-hub:") else spec
    repo_id, _, rev = text.partition("@")
    if not _REPO_RE.match(repo_id):
        raise HubError(f"{spec!r} is not a Hub repository; write it as 'ORG/NAME' or 'ORG/NAME@REVISION'")
    return repo_id, revision or rev or None


# ---------------------------------------------------------------------- errors
def _reason(e: BaseException, repo_id: str, revision: str | None, filename: str | None = None) -> str:
    """One phrase for a huggingface_hub / network failure (no token, no traceback)."""
    import httpx2
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    rev = revision or "main"
    if isinstance(e, GatedRepoError):
        return f"{repo_id} is gated: accept its terms on the Hub and set HF_TOKEN"
    if isinstance(e, RepositoryNotFoundError):
        return f"repository {repo_id!r} was not found (or it is private and no valid token was sent)"
    if isinstance(e, RevisionNotFoundError):
        return f"revision {rev!r} does not exist in {repo_id}"
    if isinstance(e, RemoteEntryNotFoundError):
        return f"{filename or 'the file'} does not exist in {repo_id} at revision {rev!r}"
    if isinstance(e, OfflineModeIsEnabled):
        return "offline mode is on (HF_HUB_OFFLINE=1)"
    if isinstance(e, LocalEntryNotFoundError):
        return "the Hub could not be reached and the cache does not hold the files"
    if isinstance(e, HfHubHTTPError):
        status = e.response.status_code if e.response is not None else "?"
        if status == 401:
            return "the Hub rejected the token (401): check HF_TOKEN, `hf auth login` or --token"
        if status == 403:
            return "the token has no write access to this repository (403)"
        return f"the Hub answered HTTP {status}"
    if isinstance(e, httpx2.TimeoutException):
        return f"the Hub did not answer in time ({type(e).__name__}; HF_HUB_ETAG_TIMEOUT/HF_HUB_DOWNLOAD_TIMEOUT)"
    if isinstance(e, (httpx2.HTTPError, OSError)):
        return f"the Hub cannot be reached ({type(e).__name__}: {e})"
    return f"{type(e).__name__}: {e}"


def _is_missing(e: BaseException) -> bool:
    """A definite answer from the Hub that the repo, revision or file does not exist."""
    from huggingface_hub.errors import RemoteEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    return isinstance(e, (RepositoryNotFoundError, RevisionNotFoundError, RemoteEntryNotFoundError))


# ---------------------------------------------------------------------- fetching
def _from_cache(repo_id: str, revision: str, filenames: tuple[str, ...]) -> Path | None:
    """The snapshot folder holding every one of ``filenames`` at ``revision``, from the cache only."""
    from huggingface_hub import try_to_load_from_cache

    folder = None
    for name in filenames:
        path = try_to_load_from_cache(repo_id, name, cache_dir=_cache_dir(), revision=revision)
        if not isinstance(path, str) or not os.path.isfile(path):
            return None
        folder = Path(path).parent
    return folder


def _from_hub(
    repo_id: str, revision: str, filenames: tuple[str, ...], token: str | None, *, force: bool = False
) -> Path:
    """Download ``filenames`` at ``revision`` into the cache; the snapshot folder. Raises client errors."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url

    _bound_client()
    endpoint = _endpoint()
    # One quick HEAD without retries first: a Hub that is down or slow fails here within the etag
    # timeout instead of inside the client's download retries (which back off for ~20 s).
    meta = get_hf_file_metadata(
        hf_hub_url(repo_id, filenames[0], revision=revision, endpoint=endpoint),
        token=token,
        timeout=_timeout("HF_HUB_ETAG_TIMEOUT"),
        endpoint=endpoint,
    )
    commit = meta.commit_hash or revision
    folder = None
    for name in filenames:
        path = hf_hub_download(
            repo_id,
            name,
            revision=commit,
            cache_dir=_cache_dir(),
            token=token,
            endpoint=endpoint,
            etag_timeout=_timeout("HF_HUB_ETAG_TIMEOUT"),
            force_download=force and name == WEIGHTS_NAME,
        )
        folder = Path(path).parent
    if commit != revision:  # keep the branch -> commit ref, as the client does for its own downloads
        hf_hub_download(
            repo_id,
            filenames[0],
            revision=revision,
            cache_dir=_cache_dir(),
            token=token,
            endpoint=endpoint,
            etag_timeout=_timeout("HF_HUB_ETAG_TIMEOUT"),
        )
    assert folder is not None
    return folder


def fetch_model_files(
    repo_id: str,
    revision: str | None = None,
    *,
    token: str | None = None,
    expected_sha256: str | None = None,
    tried: list[str] | None = None,
) -> Path:
    """A local folder with ``config.json`` and ``model.safetensors`` of ``repo_id`` at ``revision``.

    A pinned commit is served from the cache when it is there; a branch is resolved on the Hub
    (or from the cache when offline). ``expected_sha256`` is checked here, whichever the source;
    a cached copy with other bytes is skipped in favour of a fresh download. ``tried`` (in and out)
    lists what was attempted, for the error message.
    """
    revision = revision or "main"
    tried = tried if tried is not None else []
    files = (WEIGHTS_NAME, CONFIG_NAME)
    spec = f"{repo_id}@{revision}"
    cache = _cache_dir()
    bad: list[str] = []

    def verified(folder: Path | None, source: str) -> Path | None:
        # The pinned sha256 if there is one, else the one the Hub published (an LFS file's ETag,
        # which names its blob in the cache): either way, bytes that changed on disk are caught.
        if folder is None:
            return None
        want = expected_sha256 or _published_sha256(folder / WEIGHTS_NAME)
        if want is not None and sha256_file(folder / WEIGHTS_NAME) != want:
            bad.append(str(folder / WEIGHTS_NAME))
            tried.append(f"{source} {folder / WEIGHTS_NAME} (its sha256 is not the expected {want})")
            return None
        return folder

    offline = _offline()
    if COMMIT_RE.match(revision) or offline:
        hit = verified(_from_cache(repo_id, revision, files), "HF cache")
        if hit is not None:
            return hit
        if not bad:
            tried.append(f"HF cache {cache} (no copy of {repo_id} at {revision})")
    if offline:
        tried.append("Hub (not contacted: HF_HUB_OFFLINE=1)")
        raise HubError(
            f"cannot load {spec}: offline and not in the cache. Tried: {'; '.join(tried)}. "
            f"Fix: {_FIX.format(spec=spec)}"
        )
    url = f"{_endpoint()}/{repo_id}/resolve/{revision}/{WEIGHTS_NAME}"
    forced = bool(bad)  # a cached copy with the wrong bytes is replaced, not reused
    try:
        folder = _from_hub(repo_id, revision, files, token, force=forced)
        hit = verified(folder, "Hub download")
        if hit is None and not forced:  # a stale cache entry answered for the Hub: download again
            folder = _from_hub(repo_id, revision, files, token, force=True)
            hit = verified(folder, "Hub download")
    except Exception as e:
        if isinstance(e, AezooError):
            raise
        reason = _redact(_reason(e, repo_id, revision, WEIGHTS_NAME), token)
        tried.append(f"Hub {url} ({reason})")
        if not _is_missing(e) and not COMMIT_RE.match(revision):
            hit = verified(_from_cache(repo_id, revision, files), "HF cache")  # last known copy of a branch
            if hit is not None:
                return hit
        if bad:
            raise WeightsError(
                f"cannot load {spec}: {bad[0]} is corrupted or was tampered with, and the Hub could not supply "
                f"the right bytes ({reason}). Tried: {'; '.join(tried)}. Fix: delete {bad[0]} and load again "
                "online (or `aezoo pull` it)"
            ) from None
        fix = (
            (
                "check the repository id and revision (a commit hash printed by `aezoo publish`), or set "
                "HF_TOKEN for a private repo"
            )
            if _is_missing(e)
            else _FIX.format(spec=spec)
        )
        raise HubError(f"cannot load {spec}: {reason}. Tried: {'; '.join(tried)}. Fix: {fix}") from None
    if hit is None:
        raise WeightsError(
            f"cannot load {spec}: the bytes served as {url} do not have the expected sha256 "
            f"({'; '.join(tried)}): the repository changed at this revision or the download was tampered "
            "with. Do not use these weights; report it to the model's maintainers."
        )
    return hit


def _published_sha256(path: Path) -> str | None:
    """The sha256 the Hub published for a cached file: the name of its blob, for LFS files."""
    name = os.path.basename(os.path.realpath(path))
    return name if re.fullmatch(r"[0-9a-f]{64}", name) else None


# ---------------------------------------------------------------------- public API
def pull(repo_id: str, *, revision: str | None = None, token: str | None = None) -> Path:
    """Download a whole model repo into the Hugging Face cache; returns the snapshot folder.

    ``repo_id`` may carry the revision (``"ORG/NAME@REV"``). Offline, the cached snapshot is returned.

    >>> path = aezoo.pull("aezoo/conv-mnist@main")  # doctest: +SKIP
    """
    from huggingface_hub import HfApi, snapshot_download

    repo_id, revision = parse_repo_spec(repo_id, revision)
    rev = revision or "main"
    spec = f"{repo_id}@{rev}"
    _bound_client()
    offline = _offline()
    try:
        commit = rev
        if not offline and not COMMIT_RE.match(rev):
            info = HfApi(endpoint=_endpoint(), token=token).model_info(
                repo_id, revision=rev, timeout=_timeout("HF_HUB_ETAG_TIMEOUT")
            )
            commit = info.sha or rev
        path = snapshot_download(
            repo_id,
            revision=commit,
            cache_dir=_cache_dir(),
            token=token,
            endpoint=_endpoint(),
            local_files_only=offline,
            etag_timeout=_timeout("HF_HUB_ETAG_TIMEOUT"),
        )
        if commit != rev:  # remember the branch, so offline loads of ORG/NAME@branch find it
            from huggingface_hub.file_download import _cache_commit_hash_for_specific_revision, repo_folder_name

            _cache_commit_hash_for_specific_revision(
                os.path.join(_cache_dir(), repo_folder_name(repo_id=repo_id, repo_type="model")), rev, commit
            )
    except Exception as e:
        reason = _redact(_reason(e, repo_id, rev), token)
        where = "HF cache only (HF_HUB_OFFLINE=1)" if offline else f"Hub {_endpoint()} and HF cache {_cache_dir()}"
        fix = "check the repository id and revision" if _is_missing(e) else _FIX.format(spec=spec)
        raise HubError(f"cannot pull {spec}: {reason}. Tried: {where}. Fix: {fix}") from None
    return Path(path)


def load_from_hub(
    spec: str,
    revision: str | None = None,
    device: str | torch.device | None = None,
    *,
    token: str | None = None,
    expected_sha256: str | None = None,
) -> Autoencoder:
    """Load ``"ORG/NAME"`` or ``"ORG/NAME@REV"`` (what follows ``hf-hub:`` in ``aezoo.load``).

    >>> model = aezoo.load("hf-hub:aezoo/conv-mnist@0123abc...")  # doctest: +SKIP
    """
    from .serialization import load_dir

    repo_id, revision = parse_repo_spec(spec, revision)
    folder = fetch_model_files(repo_id, revision, token=token, expected_sha256=expected_sha256)
    return load_dir(folder, device=device, expected_sha256=expected_sha256)


def load_pretrained(
    entry: Pretrained,
    device: str | torch.device | None = None,
    revision: str | None = None,
) -> Autoencoder:
    """Load a pretrained entry: bundled copy, then the HF cache, then the Hub, sha256-checked each time.

    See :func:`aezoo.pretrained.resolve` for the order and the checks.
    """
    from .pretrained import resolve
    from .serialization import load_dir

    folder, expected = resolve(entry, revision=revision)
    return load_dir(folder, device=device, expected_sha256=expected)


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
) -> str:
    """Publish a model (or a model directory, or a pretrained name) to ``repo_id`` in one commit.

    Creates the repo if needed (and ``branch``), writes the model card, uploads ``model.safetensors``,
    ``config.json``, ``README.md`` and any figures, ``metrics.json`` or history from the directory.
    Returns the commit hash: load exactly these bytes with ``aezoo.load(f"hf-hub:{repo_id}@{hash}")``.

    >>> commit = aezoo.publish(aezoo.create("linear"), "me/linear-demo")  # doctest: +SKIP
    """
    import json

    from huggingface_hub import HfApi, get_token

    from .cards import FIGURE_SUFFIXES, build_card

    with tempfile.TemporaryDirectory(prefix="aezoo-publish-") as tmp:
        out = Path(tmp) / "repo"
        source, default_repo = _materialize(model_or_dir, Path(tmp) / "model")
        repo_id = repo_id or default_repo
        if not repo_id:
            raise HubError("publish needs a repository id: pass repo_id='ORG/NAME' (CLI: --repo ORG/NAME)")
        parse_repo_spec(repo_id)
        if "@" in repo_id:
            raise HubError(f"{repo_id!r}: publish to a branch with branch= (CLI: --branch), not '@'")
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
        if metrics is None and (source / "metrics.json").is_file():
            try:
                loaded = json.loads((source / "metrics.json").read_text())
                metrics = {k: float(v) for k, v in loaded.items() if isinstance(v, (int, float))}
            except (ValueError, AttributeError):
                metrics = None
        if metrics is None and isinstance(config.get("metrics"), dict):
            metrics = {k: float(v) for k, v in config["metrics"].items() if isinstance(v, (int, float))}
        files = [p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()]
        card = build_card(
            config,
            repo_id=repo_id,
            metrics=metrics,
            files=files,
            sha256=sha256_file(out / WEIGHTS_NAME),
            license=license,
            dataset=dataset,
        )
        (out / "README.md").write_text(str(card), encoding="utf-8")

        if _offline():
            raise HubError(f"cannot publish to {repo_id}: offline mode is on. Fix: unset HF_HUB_OFFLINE")
        if token is None and get_token() is None:
            raise HubError(
                f"cannot publish to {repo_id}: no Hugging Face token. Fix: run `hf auth login`, "
                "set HF_TOKEN, or pass --token"
            )
        _bound_client()
        api = HfApi(endpoint=_endpoint(), token=token)
        step = "create the repository"
        try:
            api.create_repo(repo_id, private=private, exist_ok=True)
            if branch:
                step = f"create branch {branch!r}"
                api.create_branch(repo_id, branch=branch, exist_ok=True)
            step = "upload"
            info = api.upload_folder(
                folder_path=out,
                repo_id=repo_id,
                revision=branch,
                commit_message=commit_message or f"Publish {config.get('architecture')} with aezoo",
            )
        except Exception as e:
            reason = _redact(_reason(e, repo_id, branch), token)
            raise HubError(
                f"cannot publish to {repo_id} at {_endpoint()} ({step} failed): {reason}. Fix: check "
                "the token's write access (HF_TOKEN, `hf auth login`, --token) and HF_ENDPOINT"
            ) from None
        return str(info.oid)


def _materialize(model_or_dir: Any, scratch: Path) -> tuple[Path, str | None]:
    """The model directory to publish, and the default repo id (a pretrained entry's)."""
    from .models.base import Autoencoder

    if isinstance(model_or_dir, Autoencoder):
        return model_or_dir.save_pretrained(scratch), None
    path = Path(model_or_dir)
    if path.is_dir():
        return path, None
    from .registry import get_pretrained, list_models

    name = str(model_or_dir)
    if name in list_models(pretrained=True):
        from .pretrained import resolve

        entry = get_pretrained(name)
        folder, _ = resolve(entry)
        return folder, entry.repo_id
    raise WeightsError(f"{name!r} is neither a model directory nor a pretrained name (see `aezoo list --pretrained`)")
