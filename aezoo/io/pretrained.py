"""Pretrained entries: the data that names a model, where its files live and what they must be.

An entry pins the whole model, not one file: the sha256 of ``model.safetensors``, the architecture,
its config and the preprocessing. :func:`aezoo.loading.loader.resolve` checks all of them from every source,
in this order:

1. a bundled copy: ``$AEZOO_WEIGHTS_DIR/<name>/`` (``os.pathsep``-separated list), then
   ``<source checkout>/weights/<name>/`` -- no network at all when one of them is the pinned model;
2. the Hugging Face cache at the pinned commit (or, for an entry not published at a commit yet,
   the repo's default branch);
3. the Hub at that revision (downloaded into the cache, verified before it is kept).

Entries come from a JSON manifest that ships inside the wheel: ``aezoo/pretrained.json`` for aezoo's
own models (written by ``aezoo release``), ``<package>/pretrained.json`` for a plugin's, read with
:func:`manifest_entries`. This module is data only: it imports nothing of aezoo above the core.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from ..core import settings
from ..core.errors import ConfigError

__all__ = [
    "MANIFEST_NAME",
    "WEIGHTS_DIR_ENV",
    "Pretrained",
    "builtin_entries",
    "bundled_dirs",
    "manifest_entries",
    "read_manifest",
]

#: Extra directories holding bundled weights, ``<dir>/<name>/model.safetensors``.
WEIGHTS_DIR_ENV = "AEZOO_WEIGHTS_DIR"
#: The file name of a package's manifest of pretrained entries.
MANIFEST_NAME = "pretrained.json"
_FIELDS = ("architecture", "repo_id", "revision", "sha256", "config", "preprocessing", "dataset", "metrics")


@dataclasses.dataclass(frozen=True)
class Pretrained:
    """A named pretrained model, pinned to exact bytes and settings.

    Architectures list theirs in their class attribute ``pretrained`` (usually from their package's
    manifest, :func:`manifest_entries`); the registry collects them.
    """

    name: str  # the name users load, e.g. "conv-mnist"
    architecture: str  # the registered architecture the weights are for
    repo_id: str  # Hugging Face Hub repository, e.g. "aezoo/conv-mnist"
    revision: str | None  # pinned commit hash on the Hub; None: not published at a commit yet (default branch)
    sha256: str  # sha256 of model.safetensors; checked on every load from every source
    config: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # the architecture config (pinned)
    dataset: str = ""  # what it was trained on
    metrics: Mapping[str, float] = dataclasses.field(default_factory=dict)  # test-split metrics
    description: str = ""  # one line for `aezoo list --pretrained`
    preprocessing: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # pinned; {}: the defaults
    package: str = "aezoo"  # the distribution to `pip install` for this entry's architecture

    def source_dict(self) -> dict[str, Any]:
        """Where the weights come from, for ``aezoo info``."""
        return {
            "repo_id": self.repo_id,
            "revision": self.revision,
            "sha256": self.sha256,
            "dataset": self.dataset,
            "metrics": dict(self.metrics),
            "package": self.package,
        }

    def to_manifest(self) -> dict[str, Any]:
        """This entry as a manifest item (without its name, which is the key)."""
        return {
            "architecture": self.architecture,
            "config": dict(self.config),
            "dataset": self.dataset,
            "description": self.description,
            "metrics": dict(self.metrics),
            "preprocessing": dict(self.preprocessing),
            "repo_id": self.repo_id,
            "revision": self.revision,
            "sha256": self.sha256,
        }


def bundled_dirs(name: str) -> list[Path]:
    """Where a bundled copy of pretrained ``name`` may live, in the order they are tried.

    ``$AEZOO_WEIGHTS_DIR`` first, then ``weights/`` of a source checkout (only when aezoo is imported
    from one: an installed wheel has no ``weights/`` beside it).
    """
    roots = settings.weights_dirs()
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file():
        roots.append(checkout / "weights")
    return [root / name for root in roots]


def read_manifest(text: str, *, package: str, source: str = MANIFEST_NAME) -> tuple[Pretrained, ...]:
    """Entries from a manifest's JSON text: ``{"NAME": {"architecture": ..., "sha256": ..., ...}}``.

    Every field is checked to have its type (a ``ConfigError``, also a ``ValueError``, otherwise),
    so that what is read is what :meth:`Pretrained.to_manifest` writes back.

    >>> read_manifest('{"m": {"architecture": "conv", "repo_id": "o/m", "sha256": "ab"}}', package="p")[0].repo_id
    'o/m'
    """
    fix = "restore it from version control or write it again with aezoo release --manifest"
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as e:  # json.JSONDecodeError is a ValueError
        raise ConfigError(f"{source} is not valid JSON ({_one_line(e)}); {fix}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a manifest is a JSON object of NAME -> entry, got {type(data).__name__}; {fix}")
    out = []
    for name, fields in sorted(data.items()):
        if not isinstance(fields, dict) or not {"architecture", "repo_id", "sha256"} <= set(fields):
            raise ConfigError(f"{source}: entry {name!r} needs at least architecture, repo_id and sha256; {fix}")
        wrong = [key for key, ok in _FIELD_TYPES.items() if key in fields and not ok(fields[key])]
        if wrong:
            key = wrong[0]
            raise ConfigError(
                f"{source}: entry {name!r} has {key} {fields[key]!r:.80}, which must be {_FIELD_WHAT[key]}; {fix}"
            )
        known = {k: fields[k] for k in _FIELDS if k in fields}
        out.append(
            Pretrained(
                name=name,
                revision=known.pop("revision", None),
                description=fields.get("description", ""),
                package=package,
                **known,
            )
        )
    return tuple(out)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# what each field of a manifest entry must be, checked by read_manifest
_FIELD_TYPES: dict[str, Any] = {
    "architecture": lambda v: isinstance(v, str) and bool(v),
    "repo_id": lambda v: isinstance(v, str) and bool(v),
    "sha256": lambda v: isinstance(v, str) and bool(v),
    "revision": lambda v: v is None or isinstance(v, str),
    "config": lambda v: isinstance(v, dict),
    "preprocessing": lambda v: isinstance(v, dict),
    "dataset": lambda v: isinstance(v, str),
    "description": lambda v: isinstance(v, str),
    "metrics": lambda v: isinstance(v, dict) and all(map(_is_number, v.values())),
}
_FIELD_WHAT = {
    "architecture": "a name",
    "repo_id": "a Hub repository (ORG/NAME)",
    "sha256": "the sha256 of model.safetensors",
    "revision": "a commit hash or null",
    "config": "a JSON object",
    "preprocessing": "a JSON object",
    "dataset": "a string",
    "description": "a string",
    "metrics": "a JSON object of numbers",
}


def _one_line(e: BaseException) -> str:
    return " ".join(f"{type(e).__name__}: {e}".split())[:200]


@functools.cache
def _package_manifest(package: str) -> tuple[Pretrained, ...]:
    resource = resources.files(package).joinpath(MANIFEST_NAME)
    if not resource.is_file():
        return ()
    distribution = package.split(".")[0].replace("_", "-")
    return read_manifest(resource.read_text(encoding="utf-8"), package=distribution, source=str(resource))


def manifest_entries(package: str, architecture: str) -> tuple[Pretrained, ...]:
    """The entries for ``architecture`` in ``<package>/pretrained.json`` (package data of its wheel).

    A plugin declares ``pretrained = manifest_entries("aezoo_myae", "myae")`` in its model class and
    ships the manifest inside its wheel; ``aezoo release --manifest`` writes it. The distribution to
    ``pip install`` (named in the model card) is the package name with ``-`` for ``_``.
    """
    return tuple(e for e in _package_manifest(package) if e.architecture == architecture)


def builtin_entries(architecture: str) -> tuple[Pretrained, ...]:
    """aezoo's own pretrained entries for ``architecture``, from ``aezoo/pretrained.json``.

    That manifest is written by ``aezoo release`` from the bundles in ``weights/``; a built-in model
    class declares ``pretrained = builtin_entries("conv")`` like a plugin declares its own.
    """
    return manifest_entries("aezoo", architecture)
