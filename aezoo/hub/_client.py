"""What every Hub transfer shares: huggingface_hub's settings read at call time, and its failures as one phrase.

The client reads ``HF_ENDPOINT``, ``HF_HUB_CACHE`` and ``HF_HUB_OFFLINE`` once, at import; aezoo reads
them again at call time (:mod:`aezoo.core.settings`), so a test or a user who sets them later is obeyed.
A failure becomes one phrase that says what happened, never with a token in it or a traceback.
"""

from __future__ import annotations

from pathlib import Path

from ..core import settings
from .deadline import TIMEOUT_ENV, Expired

__all__ = ["MissingFile", "cache_dir", "endpoint", "is_missing", "known_tokens", "offline", "reason", "redact"]


class MissingFile(Exception):
    """The Hub answered, and the revision has no such file (the message is the file's name)."""


def endpoint() -> str:
    from huggingface_hub import constants

    return settings.hf_endpoint(constants.ENDPOINT)


def cache_dir() -> str:
    """The HF cache folder, absolute (the form huggingface_hub uses in the paths it returns)."""
    from huggingface_hub import constants

    return str(Path(settings.hf_cache_dir(constants.HF_HUB_CACHE)).expanduser().resolve())


def offline() -> bool:
    from huggingface_hub import constants

    return settings.hf_offline() or bool(constants.HF_HUB_OFFLINE)


def known_tokens(token: str | None) -> list[str]:
    """Every token aezoo could send: ``token``, ``$HF_TOKEN`` and friends, and the one ``hf auth login`` saved."""
    found = [token, *settings.hf_tokens()]
    try:
        from huggingface_hub import constants, get_token

        found.append(get_token())
        saved = Path(constants.HF_TOKEN_PATH)  # the login's token even while $HF_TOKEN overrides it
        if saved.is_file() and saved.stat().st_size < 4096:
            found.append(saved.read_text(encoding="utf-8", errors="replace").strip())
    except Exception:
        pass
    return [t for t in dict.fromkeys(found) if isinstance(t, str) and t.strip()]


def redact(text: str, token: str | None) -> str:
    """``text`` with every token aezoo could have sent replaced by ``***``."""
    for secret in known_tokens(token):
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def reason(e: BaseException, repo_id: str, revision: str | None, filename: str | None = None) -> str:
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
    if isinstance(e, (RemoteEntryNotFoundError, MissingFile)):
        name = str(e) if isinstance(e, MissingFile) else filename
        return f"{name or 'the file'} does not exist in {repo_id} at revision {rev!r}"
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
    if isinstance(e, Expired):
        return f"{e} (raise it with timeout= or {TIMEOUT_ENV})"
    if isinstance(e, httpx2.TimeoutException):
        return f"the Hub did not answer in time ({type(e).__name__}; raise the deadline with timeout= or {TIMEOUT_ENV})"
    if isinstance(e, (httpx2.HTTPError, OSError)):
        return f"the Hub cannot be reached ({type(e).__name__}: {e})"
    return f"{type(e).__name__}: {e}"


def is_missing(e: BaseException) -> bool:
    """A definite answer from the Hub that the repo, revision or file does not exist."""
    from huggingface_hub.errors import RemoteEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    return isinstance(e, (RepositoryNotFoundError, RevisionNotFoundError, RemoteEntryNotFoundError, MissingFile))
