"""Pretrained entries: where a named model's weights live, how to find them and how to check them.

Resolution order (:func:`resolve`), with the sha256 of ``model.safetensors`` checked at each step:

1. a bundled copy: ``$AEZOO_WEIGHTS_DIR/<name>/`` (``os.pathsep``-separated list), then
   ``<source checkout>/weights/<name>/`` -- no network at all when one of them has the pinned bytes;
2. the Hugging Face cache at the pinned commit;
3. the Hub at the pinned commit (downloaded into the cache).

A copy with other bytes is never used: resolution moves on, warns which file was skipped, and if no
source has the pinned bytes raises :class:`~aezoo.errors.WeightsError` naming the bad file.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["WEIGHTS_DIR_ENV", "Pretrained", "builtin_entries", "bundled_dirs", "resolve"]

#: Extra directories holding bundled weights, ``<dir>/<name>/model.safetensors``.
WEIGHTS_DIR_ENV = "AEZOO_WEIGHTS_DIR"


@dataclasses.dataclass(frozen=True)
class Pretrained:
    """A named set of weights for an architecture, pinned to exact bytes on the Hub.

    Architectures list theirs in their class attribute ``pretrained``; the registry collects them.
    """

    name: str  # the name users load, e.g. "conv-mnist"
    architecture: str  # the registered architecture the weights are for
    repo_id: str  # Hugging Face Hub repository, e.g. "aezoo/conv-mnist"
    revision: str | None  # pinned commit hash on the Hub; None: not published yet (the sha256 still pins the bytes)
    sha256: str  # sha256 of model.safetensors; checked on every load from every source
    config: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # the architecture config
    dataset: str = ""  # what it was trained on
    metrics: Mapping[str, float] = dataclasses.field(default_factory=dict)  # test-split metrics
    description: str = ""  # one line for `aezoo list --pretrained`

    def source_dict(self) -> dict[str, Any]:
        """Where the weights come from, for ``aezoo info``."""
        return {
            "repo_id": self.repo_id,
            "revision": self.revision,
            "sha256": self.sha256,
            "dataset": self.dataset,
            "metrics": dict(self.metrics),
        }


def bundled_dirs(name: str) -> list[Path]:
    """Where a bundled copy of pretrained ``name`` may live, in the order they are tried."""
    import aezoo

    roots = [Path(p) for p in os.environ.get(WEIGHTS_DIR_ENV, "").split(os.pathsep) if p]
    roots.append(Path(aezoo.__file__).resolve().parents[1] / "weights")
    return [root / name for root in roots]


def resolve(entry: Pretrained, *, revision: str | None = None, token: str | None = None) -> tuple[Path, str | None]:
    """A local model directory with ``entry``'s verified weights, and the sha256 they were checked against.

    ``revision`` other than the pinned one loads that revision from the cache or the Hub; the pinned
    sha256 does not cover it (it is then checked against the Hub's published hash only).
    """
    from .errors import HubError, WeightsError
    from .hub import fetch_model_files
    from .serialization import WEIGHTS_NAME, sha256_file

    pinned = revision in (None, entry.revision)
    expected = entry.sha256 if pinned else None
    tried: list[str] = []
    bad: list[tuple[Path, str]] = []
    if pinned:
        for directory in bundled_dirs(entry.name):
            weights = directory / WEIGHTS_NAME
            if not weights.is_file():
                tried.append(f"bundled {directory} (not there)")
                continue
            actual = sha256_file(weights)
            if actual == entry.sha256:
                return directory, expected
            bad.append((weights, actual))
            tried.append(f"bundled {weights} (sha256 {actual}, not the pinned {entry.sha256})")
    try:
        folder = fetch_model_files(
            entry.repo_id, revision or entry.revision, token=token, expected_sha256=expected, tried=tried
        )
    except (HubError, WeightsError) as e:
        if bad:
            path, actual = bad[0]
            raise WeightsError(
                f"pretrained {entry.name!r}: {path} has sha256 {actual}, not the pinned {entry.sha256}: it is "
                f"corrupted or was tampered with, and no other source had the pinned bytes ({e}). Fix: restore "
                f"or delete {path.parent}, then load once online"
            ) from None
        raise type(e)(f"pretrained {entry.name!r}: {e}") from None
    for path, _ in bad:
        warnings.warn(
            f"ignored {path}: its sha256 is not the pinned one; loaded the pinned bytes from {folder}", stacklevel=3
        )
    return folder, expected


@functools.lru_cache(maxsize=1)
def _manifest() -> dict[str, dict[str, Any]]:
    path = Path(__file__).with_name("pretrained.json")
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def builtin_entries(architecture: str) -> tuple[Pretrained, ...]:
    """aezoo's own pretrained entries for ``architecture``, from ``aezoo/pretrained.json``.

    That manifest is written by ``weights/manifest.py`` from the bundles in ``weights/``; a built-in
    model class declares ``pretrained = builtin_entries("conv")`` like a plugin declares its own.
    """
    return tuple(
        Pretrained(name=name, **fields)
        for name, fields in sorted(_manifest().items())
        if fields["architecture"] == architecture
    )
