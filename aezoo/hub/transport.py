"""Publish models to, and pull them from, the Hugging Face Hub through ``huggingface_hub``.

A published repo holds ``model.safetensors``, ``config.json``, a model card (``README.md``) and any
figures, ``metrics.json`` or history found next to the weights, all in one commit. Transfers are pinned
(a commit hash), bounded (one deadline for a whole load or pull, ``timeout=`` or ``$AEZOO_HUB_TIMEOUT``,
30 s by default; no client retries), verified (every file against the hash the Hub advertises, and the
sha256 a pretrained entry pins, before it is kept) and offline-safe: the Hugging Face cache serves what
it holds, checked against the hashes its blobs are named by, and every failure is one
:class:`~aezoo.core.errors.HubError`
that says what was tried and how to fix it. Tokens come from ``token=``, ``HF_TOKEN`` or ``hf auth
login`` and never appear in output or error messages.

>>> import aezoo  # doctest: +SKIP
>>> commit = aezoo.publish("runs/conv", "me/conv-mnist")           # doctest: +SKIP
>>> model = aezoo.load(f"hf-hub:me/conv-mnist@{commit}")          # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..core import settings
from ..core.errors import AezooError, HubError, WeightsError
from ..io.cards import FIGURE_SUFFIXES, build_card
from ..io.pretrained import bundled_dirs
from ..io.serialization import (
    CONFIG_NAME,
    MAX_WEIGHTS_BYTES_ENV,
    WEIGHTS_NAME,
    atomic_write,
    max_weights_bytes,
    read_config,
    sha256_file,
)
from ..models.base import Autoencoder
from ..registry.architectures import get_pretrained, list_models, plugins

__all__ = [
    "DEFAULT_TIMEOUT",
    "TIMEOUT_ENV",
    "Deadline",
    "fetch_model_files",
    "hub_timeout",
    "parse_repo_spec",
    "publish",
    "pull",
    "remote_etag",
]

COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
_REPO_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
#: Files copied from a model directory into the published repo besides the weights and config.
EXTRA_FILES = ("metrics.json", "history.json", "history.csv", "training.json", "eval.json", "detector.json")
_EXTRA_DIRS = ("figures", "plots")
_FIX = (
    "go online and run `aezoo pull {spec}` once (the cache then serves offline loads), unset "
    "HF_HUB_OFFLINE, or set HF_ENDPOINT (a mirror) / HF_TOKEN (a private repo)"
)


# ---------------------------------------------------------------------- settings read at call time
def _endpoint() -> str:
    from huggingface_hub import constants

    return settings.hf_endpoint(constants.ENDPOINT)


def _cache_dir() -> str:
    from huggingface_hub import constants

    return settings.hf_cache_dir(constants.HF_HUB_CACHE)


def _offline() -> bool:
    from huggingface_hub import constants

    return settings.hf_offline() or bool(constants.HF_HUB_OFFLINE)


def _secrets(token: str | None) -> list[str]:
    found = [token, *settings.hf_tokens()]
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
    if isinstance(e, _Expired):
        return f"{e} (raise it with timeout= or {TIMEOUT_ENV})"
    if isinstance(e, httpx2.TimeoutException):
        return f"the Hub did not answer in time ({type(e).__name__}; raise the deadline with timeout= or {TIMEOUT_ENV})"
    if isinstance(e, (httpx2.HTTPError, OSError)):
        return f"the Hub cannot be reached ({type(e).__name__}: {e})"
    return f"{type(e).__name__}: {e}"


def _is_missing(e: BaseException) -> bool:
    """A definite answer from the Hub that the repo, revision or file does not exist."""
    from huggingface_hub.errors import RemoteEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    return isinstance(e, (RepositoryNotFoundError, RevisionNotFoundError, RemoteEntryNotFoundError))


# ---------------------------------------------------------------------- deadline
#: One overall time bound, in seconds, for a load or pull from the Hub (``timeout=`` wins over it).
TIMEOUT_ENV = "AEZOO_HUB_TIMEOUT"
DEFAULT_TIMEOUT = 30.0
_CHUNK = 1 << 20
_MAX_OTHER_BYTES = 64 * 1024**2  # config.json, the card, metrics, figures: anything but weights


class _Expired(Exception):
    """The overall deadline of a transfer passed."""


class Deadline:
    """One time bound shared by every request of a load or pull.

    >>> Deadline(5.0).left() <= 5.0
    True
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds left; raises when none are."""
        remaining = self._end - time.monotonic()
        if remaining <= 0:
            raise _Expired(f"the transfer did not finish within its {self.seconds:g} s deadline")
        return remaining


def hub_timeout(timeout: float | None = None) -> float:
    """The overall deadline in seconds: ``timeout``, else ``$AEZOO_HUB_TIMEOUT``, else 30.

    >>> hub_timeout(5)
    5.0
    """
    source = "timeout"
    if timeout is None:
        text = (settings.text(TIMEOUT_ENV) or "").strip()
        if not text:
            return DEFAULT_TIMEOUT
        source = TIMEOUT_ENV
        try:
            timeout = float(text)
        except ValueError:
            raise HubError(f"{TIMEOUT_ENV}={text!r} is not a number of seconds; set it to e.g. 30") from None
    value = float(timeout)
    if not math.isfinite(value) or value <= 0:
        raise HubError(f"{source} must be a positive number of seconds, got {timeout!r}")
    return value


# ---------------------------------------------------------------------- the cache (huggingface_hub's layout)
def _repo_cache(repo_id: str) -> Path:
    """``<cache>/models--ORG--NAME``, the folder huggingface_hub keeps a model repo in."""
    return Path(_cache_dir()) / ("models--" + repo_id.replace("/", "--"))


def _hasher(etag: str, size: int | None) -> Any:
    """A hash object whose hex digest equals ``etag`` for the right bytes: sha256 (LFS) or git's sha1."""
    if len(etag) == 64:
        return hashlib.sha256()
    if len(etag) == 40 and size is not None:
        return hashlib.sha1(b"blob %d\0" % size)
    return None


def _file_matches(path: Path, etag: str) -> bool:
    """Whether a file's bytes are what its Hub hash (the cache blob's name) says."""
    try:
        size = path.stat().st_size
        h = _hasher(etag, size)
        if h is None:
            return False
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                h.update(chunk)
    except OSError:
        return False
    return bool(h.hexdigest() == etag)


def _etag_of(path: Path) -> str | None:
    """The Hub hash a cached file's blob is named by (sha256 of an LFS file, git sha1 otherwise)."""
    name = os.path.basename(os.path.realpath(path))
    return name if re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", name) else None


def _write_ref(repo_dir: Path, revision: str, commit: str) -> None:
    if revision == commit:
        return
    ref = repo_dir / "refs" / revision
    with atomic_write(ref, "w") as f:
        f.write(commit)


def _link(repo_dir: Path, commit: str, filename: str, etag: str) -> Path:
    """Point ``snapshots/<commit>/<filename>`` at ``blobs/<etag>``, as the client does."""
    pointer = repo_dir / "snapshots" / commit / filename
    pointer.parent.mkdir(parents=True, exist_ok=True)
    target = os.path.relpath(repo_dir / "blobs" / etag, pointer.parent)
    tmp = pointer.with_name(f".{pointer.name}.{os.getpid()}.{threading.get_ident()}.lnk")
    try:
        os.symlink(target, tmp)
        os.replace(tmp, pointer)
    except OSError:  # no symlinks (some Windows setups): a copy, like the client
        if os.path.lexists(tmp):
            os.unlink(tmp)
        shutil.copyfile(repo_dir / "blobs" / etag, tmp)
        os.replace(tmp, pointer)
    return pointer


# ---------------------------------------------------------------------- fetching
def _download(
    repo_id: str,
    filename: str,
    revision: str,
    token: str | None,
    deadline: Deadline,
    *,
    expected_sha256: str | None = None,
    force: bool = False,
) -> tuple[Path, str]:
    """Fetch one file into the cache within ``deadline``; its snapshot path and the commit it is at.

    One HEAD (no retries) gives the commit, the size and the Hub's hash; the bytes stream into a
    temporary file beside the cache's blobs, are checked against that hash (and ``expected_sha256``)
    and only then take the blob's place. A failure leaves nothing behind.
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    endpoint = _endpoint()
    meta = get_hf_file_metadata(
        hf_hub_url(repo_id, filename, revision=revision, endpoint=endpoint),
        token=token,
        timeout=deadline.left(),
        endpoint=endpoint,
    )
    commit = meta.commit_hash or revision
    etag = meta.etag or ""
    url = f"{endpoint}/{repo_id}/resolve/{commit}/{filename}"
    if _hasher(etag, meta.size) is None or meta.size is None:
        raise _BadBytes(f"the Hub sent no usable hash or size for {url} (ETag {meta.etag!r})")
    if expected_sha256 is not None and etag != expected_sha256:
        raise _BadBytes(
            f"the Hub advertises sha256 {etag} for {url}, not the pinned {expected_sha256}: the repository "
            "changed at this revision"
        )
    limit = max_weights_bytes() if filename.endswith(".safetensors") else _MAX_OTHER_BYTES
    if meta.size > limit:
        raise _BadBytes(f"{url} is {meta.size} bytes, more than the {limit} aezoo accepts ({MAX_WEIGHTS_BYTES_ENV})")
    repo_dir = _repo_cache(repo_id)
    blob = repo_dir / "blobs" / etag
    if force or not (blob.is_file() and _file_matches(blob, etag)):
        blob.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{etag}.", suffix=".aezoo-partial", dir=blob.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                got, h = _stream(meta.location or url, url, token, deadline, out, etag, meta.size)
            if got != meta.size or h.hexdigest() != etag:
                raise _BadBytes(
                    f"the bytes served as {url} ({got} bytes) do not match the hash the Hub advertises ({etag}); "
                    "they were not kept"
                )
            os.replace(tmp, blob)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    _write_ref(repo_dir, revision, commit)
    return _link(repo_dir, commit, filename, etag), commit


class _BadBytes(Exception):
    """The Hub served or advertised other bytes than expected."""


def _stream(location: str, url: str, token: str | None, deadline: Deadline, out: Any, etag: str, size: int) -> Any:
    """GET ``location`` into ``out``, hashing as it goes; a dropped connection that made progress is
    resumed with a ``Range`` request (twice at most), all within ``deadline``. Returns (bytes, hash)."""
    import httpx2
    from huggingface_hub import get_session
    from huggingface_hub.utils import build_hf_headers, hf_raise_for_status

    h, got, resumes = _hasher(etag, size), 0, 2
    while True:
        headers = build_hf_headers(token=token)
        headers["Accept-Encoding"] = "identity"
        if got:
            headers["Range"] = f"bytes={got}-"
        before = got
        try:
            with get_session().stream(
                "GET", location, headers=headers, timeout=deadline.left(), follow_redirects=True
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    hf_raise_for_status(response)
                if got and response.status_code != 206:  # the server ignored the Range: start again
                    out.seek(0)
                    out.truncate()
                    h, got = _hasher(etag, size), 0
                for chunk in response.iter_bytes():
                    deadline.left()
                    got += len(chunk)
                    if got > size:
                        raise _BadBytes(f"{url} sent more than the {size} bytes the Hub advertised")
                    h.update(chunk)
                    out.write(chunk)
            deadline.left()
            return got, h
        except (httpx2.RemoteProtocolError, httpx2.ReadError):
            if got == before or resumes == 0:
                raise
            resumes -= 1


def _from_cache(repo_id: str, revision: str, filenames: tuple[str, ...]) -> tuple[Path | None, list[str]]:
    """The snapshot folder holding ``filenames`` at ``revision`` from the cache only, and the files that
    are there but whose bytes are not what their Hub hash says (tampered or corrupted)."""
    from huggingface_hub import try_to_load_from_cache

    folder = None
    bad: list[str] = []
    for name in filenames:
        path = try_to_load_from_cache(repo_id, name, cache_dir=_cache_dir(), revision=revision)
        if not isinstance(path, str) or not os.path.isfile(path):
            return None, bad
        etag = _etag_of(Path(path))
        if etag is None or not _file_matches(Path(path), etag):
            bad.append(path)
        folder = Path(path).parent
    return (None if bad else folder), bad


Check = Callable[[Path], "str | None"]


def fetch_model_files(
    repo_id: str,
    revision: str | None = None,
    *,
    token: str | None = None,
    expected_sha256: str | None = None,
    check: Check | None = None,
    tried: list[str] | None = None,
    timeout: float | None = None,
) -> Path:
    """A local folder with ``config.json`` and ``model.safetensors`` of ``repo_id`` at ``revision``.

    A pinned commit is served from the cache when its files there still have the bytes the Hub
    published; a branch is resolved on the Hub (or from the cache when offline). Every download is
    checked against the Hub's advertised hash and ``expected_sha256`` before it is kept, and the
    whole transfer ends within ``timeout`` seconds (:func:`hub_timeout`). ``check(folder)`` (the
    pin of a pretrained entry) returns a problem or ``None``; a folder with a problem is not used.
    ``tried`` (in and out) lists what was attempted, for the error message.
    """
    revision = revision or "main"
    tried = tried if tried is not None else []
    files = (WEIGHTS_NAME, CONFIG_NAME)
    spec = f"{repo_id}@{revision}"
    cache = _cache_dir()
    bad: list[str] = []

    def accepted(folder: Path | None, source: str) -> Path | None:
        if folder is None:
            return None
        problem = None
        if expected_sha256 is not None and sha256_file(folder / WEIGHTS_NAME) != expected_sha256:
            problem = f"its sha256 is not the pinned {expected_sha256}"
        elif check is not None:
            problem = check(folder)
        if problem:
            bad.append(str(folder))
            tried.append(f"{source} {folder} ({problem})")
            return None
        return folder

    deadline = Deadline(hub_timeout(timeout))
    offline = _offline()
    if COMMIT_RE.match(revision) or offline or expected_sha256 is not None:
        # A commit never changes; a branch's cached copy is used when the pin proves it is the right one.
        folder, corrupt = _from_cache(repo_id, revision, files)
        for path in corrupt:
            bad.append(path)
            tried.append(f"HF cache {path} (its bytes are not the ones the Hub published)")
        hit = accepted(folder, "HF cache")
        if hit is not None:
            return hit
        if not bad:
            tried.append(f"HF cache {cache} (no copy of {repo_id} at {revision})")
    if offline:
        tried.append("Hub (not contacted: HF_HUB_OFFLINE=1)")
        if bad:
            raise WeightsError(
                f"cannot load {spec}: {bad[0]} is corrupted or was tampered with, and the Hub is not contacted "
                f"offline. Tried: {'; '.join(tried)}. Fix: delete {bad[0]} and load again online"
            )
        raise HubError(
            f"cannot load {spec}: offline and not in the cache. Tried: {'; '.join(tried)}. "
            f"Fix: {_FIX.format(spec=spec)}"
        )
    url = f"{_endpoint()}/{repo_id}/resolve/{revision}/{WEIGHTS_NAME}"
    try:
        folder = None
        commit = revision
        for name in files:
            local, commit = _download(
                repo_id,
                name,
                commit,
                token,
                deadline,
                expected_sha256=expected_sha256 if name == WEIGHTS_NAME else None,
                force=bool(bad),
            )
            folder = local.parent
        _write_ref(_repo_cache(repo_id), revision, commit)
        hit = accepted(folder, "Hub download")
    except _BadBytes as e:
        raise WeightsError(
            f"cannot load {spec}: {e}. Tried: {'; '.join(tried)}. Do not use these weights; report it to the "
            "model's maintainers"
        ) from None
    except Exception as e:
        if isinstance(e, AezooError):
            raise
        reason = _redact(_reason(e, repo_id, revision, WEIGHTS_NAME), token)
        tried.append(f"Hub {url} ({reason})")
        if not _is_missing(e) and not COMMIT_RE.match(revision) and not bad:
            folder, _ = _from_cache(repo_id, revision, files)  # the last known copy of a branch
            hit = accepted(folder, "HF cache")
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
            f"cannot load {spec}: the files served at {url} are not the pinned model ({'; '.join(tried)}): the "
            "repository changed at this revision or the download was tampered with. Do not use these weights; "
            "report it to the model's maintainers."
        )
    return hit


# ---------------------------------------------------------------------- public API
def remote_etag(
    repo_id: str, revision: str, filename: str = WEIGHTS_NAME, *, token: str | None = None, timeout: float | None = None
) -> str | None:
    """The hash the Hub advertises for ``filename`` at ``revision`` (the sha256 of an LFS file), with one
    HEAD request and nothing downloaded; ``None`` when the repo, revision or file does not exist."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    endpoint = _endpoint()
    try:
        meta = get_hf_file_metadata(
            hf_hub_url(repo_id, filename, revision=revision, endpoint=endpoint),
            token=token,
            timeout=hub_timeout(timeout),
            endpoint=endpoint,
        )
    except Exception as e:
        if isinstance(e, AezooError):
            raise
        if _is_missing(e):
            return None
        reason = _redact(_reason(e, repo_id, revision, filename), token)
        raise HubError(f"cannot reach {repo_id}@{revision} at {endpoint}: {reason}") from None
    return meta.etag


def pull(repo_id: str, *, revision: str | None = None, token: str | None = None, timeout: float | None = None) -> Path:
    """Download a whole model repo into the Hugging Face cache; returns the snapshot folder.

    ``repo_id`` may carry the revision (``"ORG/NAME@REV"``). Offline, the cached snapshot is returned.
    Every file is checked against the hash the Hub advertises before it is kept, and the whole pull
    ends within ``timeout`` seconds (default ``$AEZOO_HUB_TIMEOUT`` or 30).

    >>> path = aezoo.pull("aezoo/conv-mnist@main")  # doctest: +SKIP
    """
    from huggingface_hub import HfApi, snapshot_download

    repo_id, revision = parse_repo_spec(repo_id, revision)
    rev = revision or "main"
    spec = f"{repo_id}@{rev}"
    deadline = Deadline(hub_timeout(timeout))
    offline = _offline()
    try:
        if offline:
            return Path(snapshot_download(repo_id, revision=rev, cache_dir=_cache_dir(), local_files_only=True))
        info = HfApi(endpoint=_endpoint(), token=token).model_info(repo_id, revision=rev, timeout=deadline.left())
        commit = info.sha or rev
        folder = _repo_cache(repo_id) / "snapshots" / commit
        for sibling in info.siblings or []:
            _download(repo_id, sibling.rfilename, commit, token, deadline)
        folder.mkdir(parents=True, exist_ok=True)
        _write_ref(_repo_cache(repo_id), rev, commit)
    except _BadBytes as e:
        raise WeightsError(f"cannot pull {spec}: {e}. Nothing was kept; report it to the repository's owners") from None
    except Exception as e:
        if isinstance(e, AezooError):
            raise
        reason = _redact(_reason(e, repo_id, rev), token)
        where = "HF cache only (HF_HUB_OFFLINE=1)" if offline else f"Hub {_endpoint()} and HF cache {_cache_dir()}"
        fix = "check the repository id and revision" if _is_missing(e) else _FIX.format(spec=spec)
        raise HubError(f"cannot pull {spec}: {reason}. Tried: {where}. Fix: {fix}") from None
    return folder


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
) -> str:
    """Publish a model (or a model directory, or a pretrained name) to ``repo_id`` in one commit.

    Creates the repo if needed (and ``branch``), writes the model card, uploads ``model.safetensors``,
    ``config.json``, ``README.md`` and any figures, ``metrics.json`` or history from the directory.
    ``metrics`` (default: the directory's ``metrics.json``) go into the card's ``model-index`` and the
    repo's ``metrics.json``; ``package`` is the distribution the card tells users to ``pip install``
    (default: the one that registers the model's architecture, e.g. a plugin's).
    Returns the commit hash: load exactly these bytes with ``aezoo.load(f"hf-hub:{repo_id}@{hash}")``.

    >>> commit = aezoo.publish(aezoo.create("linear"), "me/linear-demo")  # doctest: +SKIP
    """
    import json

    from huggingface_hub import HfApi, get_token

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
        if metrics:
            (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        files = [p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()]
        card = build_card(
            config,
            repo_id=repo_id,
            metrics=metrics,
            files=files,
            sha256=sha256_file(out / WEIGHTS_NAME),
            license=license,
            dataset=dataset,
            package=package or _distribution_of(str(config.get("architecture", ""))),
        )
        (out / "README.md").write_text(str(card), encoding="utf-8")

        if _offline():
            raise HubError(f"cannot publish to {repo_id}: offline mode is on. Fix: unset HF_HUB_OFFLINE")
        if token is None and get_token() is None:
            raise HubError(
                f"cannot publish to {repo_id}: no Hugging Face token. Fix: run `hf auth login`, "
                "set HF_TOKEN, or pass --token"
            )
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


def _distribution_of(architecture: str) -> str:
    """The installed distribution that registers ``architecture`` (``aezoo`` for the built-ins)."""
    record = next((r for r in plugins() if r.name == architecture and r.status == "loaded"), None)
    return record.distribution if record is not None else "aezoo"


def _materialize(model_or_dir: Any, scratch: Path) -> tuple[Path, str | None]:
    """The model directory to publish, and the default repo id (a pretrained entry's)."""
    if isinstance(model_or_dir, Autoencoder):
        return model_or_dir.save_pretrained(scratch), None
    path = Path(model_or_dir)
    if path.is_dir():
        return path, None
    name = str(model_or_dir)
    if name in list_models(pretrained=True):
        entry = get_pretrained(name)
        for folder in bundled_dirs(entry.name):
            if (folder / WEIGHTS_NAME).is_file() and sha256_file(folder / WEIGHTS_NAME) == entry.sha256:
                return folder, entry.repo_id
        return fetch_model_files(entry.repo_id, entry.revision, expected_sha256=entry.sha256), entry.repo_id
    raise WeightsError(f"{name!r} is neither a model directory nor a pretrained name (see `aezoo list --pretrained`)")
