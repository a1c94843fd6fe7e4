"""pytest fixtures for publishing to and loading from the Hugging Face Hub, offline.

Installed with aezoo and loaded by pytest through the ``pytest11`` entry point, so a plugin's own
test suite can use them without any import:

``hub_token``
    A random write token, e.g. ``"hf_local_3f9c..."``. ``local_hub`` accepts it and rejects others,
    and exports it as ``HF_TOKEN``; use it to check that no output ever shows the token.

``local_hub``
    A fresh, empty :class:`aezoo.testing.hub_server.LocalHub` for one test, with the real
    ``huggingface_hub`` client pointed at it: ``HF_ENDPOINT`` and the client's import-time constants
    (``ENDPOINT``, the resolve URL template, the module-level ``HfApi`` behind ``create_repo`` and
    friends) are patched in-process, ``HF_HUB_DISABLE_XET=1`` keeps uploads and downloads on plain
    HTTP (nothing can reach the real Xet service), ``HF_HOME``/``HF_HUB_CACHE`` go to a temporary
    directory, ``HF_TOKEN`` is ``hub_token``, ``HF_HUB_OFFLINE`` is unset and telemetry is off.
    Everything is restored after the test. Fault injection for failure tests: ``local_hub.down =
    True`` (connection refused), ``local_hub.fail_status = 503``, ``local_hub.delay = 3.0``,
    ``local_hub.truncate_downloads = 1``, ``local_hub.trickle = 0.05``, ``local_hub.corrupt_downloads = 1``
    (see :mod:`aezoo.testing.hub_server`); ``local_hub.requests`` lists what the client asked, and
    ``huggingface_hub.scan_cache_dir()`` shows what the test's cache holds.

Example (in a plugin's tests)::

    def test_publish_roundtrip(local_hub, tmp_path):
        model = aezoo.create("my-arch")
        commit = aezoo.publish(model.save_pretrained(tmp_path / "m"), "me/my-arch")
        again = aezoo.load(f"hf-hub:me/my-arch@{commit}")

To simulate going offline after a pull, call ``hub_offline(monkeypatch)`` from this module: it sets
``HF_HUB_OFFLINE=1`` both in the environment and in the client's constants.

Nothing here imports ``huggingface_hub`` at collection time, so its constants are computed only
after the fixtures have set the environment.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from .hub_server import LocalHub

__all__ = ["hub_offline", "hub_token", "local_hub", "point_client_at"]


@pytest.fixture
def hub_token() -> str:
    """A random token that the ``local_hub`` accepts for writes."""
    return "hf_local_" + secrets.token_hex(16)


@pytest.fixture
def local_hub(
    hub_token: str, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LocalHub]:
    """An empty local Hub for this test, with ``huggingface_hub`` pointed at it (see the module doc)."""
    hub = LocalHub(token=hub_token).start()
    try:
        point_client_at(hub.url, monkeypatch, home=tmp_path_factory.mktemp("hf_home"), token=hub_token)
        yield hub
    finally:
        hub.stop()
        _close_client()


def point_client_at(endpoint: str, monkeypatch: pytest.MonkeyPatch, *, home: Path, token: str | None) -> None:
    """Point the real ``huggingface_hub`` client at ``endpoint`` for the rest of the test.

    Environment variables cover code that reads them at call time; the constants the client reads
    at import are patched too, as is the module-level ``HfApi`` instance.
    """
    import huggingface_hub
    from huggingface_hub import constants, hf_api

    cache = home / "hub"
    env = {
        "HF_ENDPOINT": endpoint,
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(cache),
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HUB_DISABLE_UPDATE_CHECK": "1",
        "HF_TOKEN_PATH": str(home / "token"),
        "HF_XET_CACHE": str(home / "xet"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in (
        "HF_HUB_OFFLINE",
        "TRANSFORMERS_OFFLINE",
        "HUGGING_FACE_HUB_TOKEN",
        "HUGGINGFACE_HUB_CACHE",
        "HF_HUB_ETAG_TIMEOUT",
        "HF_HUB_DOWNLOAD_TIMEOUT",
    ):
        monkeypatch.delenv(key, raising=False)
    if token is None:
        monkeypatch.delenv("HF_TOKEN", raising=False)
    else:
        monkeypatch.setenv("HF_TOKEN", token)

    patches = {
        "ENDPOINT": endpoint,
        "HUGGINGFACE_CO_URL_TEMPLATE": endpoint + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(cache),
        "HUGGINGFACE_HUB_CACHE": str(cache),
        "HF_ASSETS_CACHE": str(home / "assets"),
        "HUGGINGFACE_ASSETS_CACHE": str(home / "assets"),
        "HF_TOKEN_PATH": str(home / "token"),
        "HF_STORED_TOKENS_PATH": str(home / "stored_tokens"),
        "HF_XET_CACHE": str(home / "xet"),
        "HF_HUB_DISABLE_XET": True,
        "HF_HUB_OFFLINE": False,
        "HF_HUB_DISABLE_TELEMETRY": True,
        "HF_HUB_DISABLE_UPDATE_CHECK": True,
        "HF_HUB_ETAG_TIMEOUT": constants.DEFAULT_ETAG_TIMEOUT,
        "HF_HUB_DOWNLOAD_TIMEOUT": constants.DEFAULT_DOWNLOAD_TIMEOUT,
    }
    for name, constant in patches.items():
        if hasattr(constants, name):
            monkeypatch.setattr(constants, name, constant)
    # Names copied out of `constants` at import by other modules of the client.
    from huggingface_hub.utils import _cache_manager

    monkeypatch.setattr(_cache_manager, "HF_HUB_CACHE", str(cache), raising=False)
    monkeypatch.setattr(hf_api.api, "endpoint", endpoint)
    monkeypatch.setattr(
        huggingface_hub, "HUGGINGFACE_CO_URL_TEMPLATE", patches["HUGGINGFACE_CO_URL_TEMPLATE"], raising=False
    )
    os.makedirs(cache, exist_ok=True)
    _close_client()


def hub_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Switch the client to offline mode (``HF_HUB_OFFLINE=1``) for the rest of the test."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


def _close_client() -> None:
    # Pooled connections to a previous test's hub must not be reused.
    import sys

    http = sys.modules.get("huggingface_hub.utils._http")
    if http is not None:
        http.close_session()
