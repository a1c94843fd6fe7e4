"""Pulling a model repo's files from the Hugging Face Hub into its cache, pinned, bounded and verified.

``huggingface_hub`` does the transfer and owns the cache (``hf_hub_download``: HTTP, ``Range`` resume,
locks, the blob/snapshot/ref layout; ``try_to_load_from_cache`` and ``snapshot_download`` for offline
reads; ``scan_cache_dir`` to drop a file). What is left here is what the library does not do:

* **one deadline** for a whole load or pull (:mod:`~aezoo.hub.deadline`): the library bounds requests,
  not transfers, and retries with back-off;
* **a listing first** (``HfApi.model_info(files_metadata=True)``, no retries): the commit, and the hash
  and size the Hub advertises for every file, so that a Hub that is down or answers 5xx fails at once,
  a missing file is named, and a pin (the sha256 of a pretrained entry's weights) or a size bound
  (``$AEZOO_MAX_WEIGHTS_BYTES``) is checked before a byte is downloaded;
* **verification**: the library checks sizes only, so every file is hashed against the Hub's hash
  (sha256 for LFS files, git's blob sha1 otherwise) before it is used; a cached copy against the hash its
  blob is named by, which is how ``hf_hub_download`` documents its cache (and what ``scan_cache_dir``
  reports as ``blob_path``). Files a failed transfer brought into the cache are removed again
  (``scan_cache_dir().delete_files``), so a failure leaves the cache as it was;
* **one error** (:class:`~aezoo.core.errors.HubError`, or :class:`~aezoo.core.errors.WeightsError` for
  bytes that are not the right ones) that says what was tried and how to fix it, with every token
  redacted: tokens come from ``token=``, ``HF_TOKEN`` or ``hf auth login`` and never reach a message.

>>> import aezoo  # doctest: +SKIP
>>> commit = aezoo.publish("runs/conv", "me/conv-mnist")           # doctest: +SKIP
>>> model = aezoo.load(f"hf-hub:me/conv-mnist@{commit}")          # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import re
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, cast

from ..core.errors import AezooError, HubError, WeightsError
from ..io.serialization import CONFIG_NAME, MAX_WEIGHTS_BYTES_ENV, WEIGHTS_NAME, max_weights_bytes, sha256_file
from . import _client as client
from ._client import MissingFile, is_missing, reason, redact
from .deadline import Deadline, Expired, hub_timeout

__all__ = ["COMMIT_RE", "HF_HUB_PREFIX", "fetch_model_files", "parse_repo_spec", "pull", "remote_etag"]

HF_HUB_PREFIX = "hf-hub:"
COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
_REPO_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_CHUNK = 1 << 20
_MAX_OTHER_BYTES = 64 * 1024**2  # config.json, the card, metrics, figures: anything but weights
_FIX = (
    "go online and run `aezoo pull {spec}` once (the cache then serves offline loads), unset "
    "HF_HUB_OFFLINE, or set HF_ENDPOINT (a mirror) / HF_TOKEN (a private repo)"
)


def parse_repo_spec(spec: str, revision: str | None = None) -> tuple[str, str | None]:
    """Split ``"ORG/NAME@REV"`` into ``("ORG/NAME", "REV")``; ``revision`` wins when given.

    >>> parse_repo_spec("aezoo/conv-mnist@main")
    ('aezoo/conv-mnist', 'main')
    """
    text = spec[len(HF_HUB_PREFIX) :] if spec.startswith(HF_HUB_PREFIX) else spec
    repo_id, _, rev = text.partition("@")
    if not _REPO_RE.match(repo_id):
        raise HubError(f"{spec!r} is not a Hub repository; write it as 'ORG/NAME' or 'ORG/NAME@REVISION'")
    return repo_id, revision or rev or None


class _BadBytes(Exception):
    """The Hub served or advertised other bytes than expected."""


# ---------------------------------------------------------------------- what the Hub advertises
@dataclasses.dataclass(frozen=True)
class _Remote:
    hash: str  # sha256 of an LFS file's bytes, or git's blob sha1 of a regular file
    size: int


def _hasher(expected: str, size: int) -> Any:
    """A hash object whose hex digest is ``expected`` for the right bytes: sha256 (LFS) or git's blob sha1."""
    return hashlib.sha256() if len(expected) == 64 else hashlib.sha1(b"blob %d\0" % size)


def _matches(path: str | Path, expected: str) -> bool:
    """Whether the bytes of ``path`` have the Hub hash ``expected``."""
    try:
        h = _hasher(expected, os.path.getsize(path))
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                h.update(chunk)
    except OSError:
        return False
    return bool(h.hexdigest() == expected)


def _intact(path: str | Path) -> bool:
    """Whether a cached file still has the bytes its blob is named by (the hash the Hub advertised)."""
    name = os.path.basename(os.path.realpath(path))
    return bool(re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", name)) and _matches(path, name)


def _listing(repo_id: str, revision: str, token: str | None, deadline: Deadline) -> tuple[str, dict[str, _Remote]]:
    """The commit ``revision`` is at and every file's advertised hash and size: one request, no retries."""
    from huggingface_hub import HfApi

    info = HfApi(endpoint=client.endpoint(), token=token).model_info(
        repo_id, revision=revision, files_metadata=True, timeout=deadline.left()
    )
    files = {}
    for s in info.siblings or []:
        if s.lfs is not None:
            files[s.rfilename] = _Remote(s.lfs.sha256, s.lfs.size)
        elif s.blob_id and s.size is not None:
            files[s.rfilename] = _Remote(s.blob_id, s.size)
    return str(info.sha or revision), files


def _remove(paths: Iterable[str]) -> None:
    """Drop these snapshot files from the HF cache (and their blobs, unless another file uses them)."""
    from huggingface_hub import scan_cache_dir

    wanted = set(paths)
    if not wanted:
        return
    info = scan_cache_dir(client.cache_dir())
    files = [f for repo in info.repos for rev in repo.revisions for f in rev.files if str(f.file_path) in wanted]
    info.delete_files(*files).execute()


def _check_listing(repo_id: str, commit: str, names: list[str], remote: dict[str, _Remote], pin: str | None) -> None:
    """Everything that can be refused before a byte is downloaded: a missing file, a pin, a size."""
    for name in names:
        if name not in remote:
            raise MissingFile(name)
        url = f"{client.endpoint()}/{repo_id}/resolve/{commit}/{name}"
        expected = remote[name]
        if name == WEIGHTS_NAME and pin is not None and expected.hash != pin:
            raise _BadBytes(
                f"the Hub advertises sha256 {expected.hash} for {url}, not the pinned {pin}: the repository "
                "changed at this revision"
            )
        limit = max_weights_bytes() if name.endswith(".safetensors") else _MAX_OTHER_BYTES
        if expected.size > limit:
            raise _BadBytes(
                f"{url} is {expected.size} bytes, more than the {limit} aezoo accepts ({MAX_WEIGHTS_BYTES_ENV})"
            )


def _download(
    repo_id: str,
    revision: str,
    names: Iterable[str] | None,
    *,
    token: str | None,
    deadline: Deadline,
    cancelled: threading.Event,
    expected_sha256: str | None = None,
    force: bool = False,
) -> Path:
    """Fetch ``names`` (``None``: every file) of ``repo_id`` at ``revision`` into the cache; the snapshot folder.

    One listing, then one ``hf_hub_download`` per file, each verified as soon as it is there. A copy
    already cached with the right bytes is kept; on any failure, what this call brought is removed.
    """
    from huggingface_hub import hf_hub_download, try_to_load_from_cache
    from huggingface_hub.utils import silent_tqdm

    cache = client.cache_dir()
    commit, remote = _listing(repo_id, revision, token, deadline)
    wanted = list(names) if names is not None else sorted(remote)
    _check_listing(repo_id, commit, wanted, remote, expected_sha256)
    if not wanted:
        raise MissingFile("any file")
    brought: list[str] = []
    path = ""
    try:
        for name in wanted:
            if cancelled.is_set():
                raise Expired("the transfer was stopped at its deadline")
            before = try_to_load_from_cache(repo_id, name, cache_dir=cache, revision=commit)
            cached = isinstance(before, str) and not force and _matches(before, remote[name].hash)
            if cached and COMMIT_RE.match(revision):
                path = str(before)
                continue
            # `revision`, not the commit: the library records where a branch points (offline loads need it);
            # for a file cached with the right bytes that costs one HEAD and no download.
            path = hf_hub_download(
                repo_id,
                name,
                revision=revision,
                cache_dir=cache,
                endpoint=client.endpoint(),
                token=token,
                etag_timeout=deadline.left(),
                force_download=not cached and (force or isinstance(before, str)),  # replace a changed copy
                tqdm_class=cast(Any, silent_tqdm),  # no bar: a load never drew one
            )
            if not cached:
                brought.append(path)
            if try_to_load_from_cache(repo_id, name, cache_dir=cache, revision=commit) != path:
                raise HubError(
                    f"{repo_id}@{revision} moved away from commit {commit} during the download; load it again, "
                    "or pin a commit"
                )
            if not cached and not _matches(path, remote[name].hash):
                raise _BadBytes(
                    f"the bytes served as {client.endpoint()}/{repo_id}/resolve/{commit}/{name} do not match the "
                    f"hash the Hub advertises ({remote[name].hash}); they were not kept"
                )
    except BaseException:
        with contextlib.suppress(Exception):  # the error that stopped the transfer is the one to report
            _remove(brought)
        raise
    return Path(path).parents[len(Path(name).parts) - 1]  # the snapshot folder: the path less the file's name


# ---------------------------------------------------------------------- loading a model's files
def _from_cache(repo_id: str, revision: str, filenames: tuple[str, ...]) -> tuple[Path | None, list[str]]:
    """The snapshot folder holding ``filenames`` at ``revision`` from the cache only, and the files that
    are there but whose bytes are not what their Hub hash says (tampered or corrupted)."""
    from huggingface_hub import try_to_load_from_cache

    folder = None
    bad: list[str] = []
    for name in filenames:
        path = try_to_load_from_cache(repo_id, name, cache_dir=client.cache_dir(), revision=revision)
        if not isinstance(path, str) or not os.path.isfile(path):
            return None, bad
        if not _intact(path):
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
    whole transfer ends within ``timeout`` seconds (:func:`~aezoo.hub.deadline.hub_timeout`).
    ``check(folder)`` (the pin of a pretrained entry) returns a problem or ``None``; a folder with a
    problem is not used. ``tried`` (in and out) lists what was attempted, for the error message.
    """
    revision = revision or "main"
    tried = tried if tried is not None else []
    files = (WEIGHTS_NAME, CONFIG_NAME)
    spec = f"{repo_id}@{revision}"
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
    offline = client.offline()
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
            tried.append(f"HF cache {client.cache_dir()} (no copy of {repo_id} at {revision})")
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
    url = f"{client.endpoint()}/{repo_id}/resolve/{revision}/{WEIGHTS_NAME}"
    try:
        folder = deadline.run(
            lambda cancelled: _download(
                repo_id,
                revision,
                files,
                token=token,
                deadline=deadline,
                cancelled=cancelled,
                expected_sha256=expected_sha256,
                force=bool(bad),
            )
        )
        hit = accepted(folder, "Hub download")
    except _BadBytes as e:
        raise WeightsError(
            f"cannot load {spec}: {e}. Tried: {'; '.join(tried)}. Do not use these weights; report it to the "
            "model's maintainers"
        ) from None
    except Exception as e:
        if isinstance(e, AezooError):
            raise
        why = redact(reason(e, repo_id, revision, WEIGHTS_NAME), token)
        tried.append(f"Hub {url} ({why})")
        if not is_missing(e) and not COMMIT_RE.match(revision) and not bad:
            folder, _ = _from_cache(repo_id, revision, files)  # the last known copy of a branch
            hit = accepted(folder, "HF cache")
            if hit is not None:
                return hit
        if bad:
            raise WeightsError(
                f"cannot load {spec}: {bad[0]} is corrupted or was tampered with, and the Hub could not supply "
                f"the right bytes ({why}). Tried: {'; '.join(tried)}. Fix: delete {bad[0]} and load again "
                "online (or `aezoo pull` it)"
            ) from None
        fix = (
            (
                "check the repository id and revision (a commit hash printed by `aezoo publish`), or set "
                "HF_TOKEN for a private repo"
            )
            if is_missing(e)
            else _FIX.format(spec=spec)
        )
        raise HubError(f"cannot load {spec}: {why}. Tried: {'; '.join(tried)}. Fix: {fix}") from None
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

    endpoint = client.endpoint()
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
        if is_missing(e):
            return None
        why = redact(reason(e, repo_id, revision, filename), token)
        raise HubError(f"cannot reach {repo_id}@{revision} at {endpoint}: {why}") from None
    return meta.etag


def pull(repo_id: str, *, revision: str | None = None, token: str | None = None, timeout: float | None = None) -> Path:
    """Download a whole model repo into the Hugging Face cache; returns the snapshot folder.

    ``repo_id`` may carry the revision (``"ORG/NAME@REV"``). Offline, the cached snapshot is returned.
    Every file is checked against the hash the Hub advertises before it is kept, and the whole pull
    ends within ``timeout`` seconds (default ``$AEZOO_HUB_TIMEOUT`` or 30).

    >>> path = aezoo.pull("aezoo/conv-mnist@main")  # doctest: +SKIP
    """
    from huggingface_hub import snapshot_download

    repo_id, revision = parse_repo_spec(repo_id, revision)
    rev = revision or "main"
    spec = f"{repo_id}@{rev}"
    deadline = Deadline(hub_timeout(timeout))
    offline = client.offline()
    try:
        if offline:
            return Path(snapshot_download(repo_id, revision=rev, cache_dir=client.cache_dir(), local_files_only=True))
        return deadline.run(
            lambda cancelled: _download(repo_id, rev, None, token=token, deadline=deadline, cancelled=cancelled)
        )
    except _BadBytes as e:
        raise WeightsError(f"cannot pull {spec}: {e}. Nothing was kept; report it to the repository's owners") from None
    except Exception as e:
        if isinstance(e, AezooError):
            raise
        why = redact(reason(e, repo_id, rev), token)
        where = (
            "HF cache only (HF_HUB_OFFLINE=1)"
            if offline
            else f"Hub {client.endpoint()} and HF cache {client.cache_dir()}"
        )
        fix = "check the repository id and revision" if is_missing(e) else _FIX.format(spec=spec)
        raise HubError(f"cannot pull {spec}: {why}. Tried: {where}. Fix: {fix}") from None
