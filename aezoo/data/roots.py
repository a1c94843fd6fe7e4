"""Where datasets live: the data root the built-in sets are read from, and aezoo's own data cache.

The data root (``--data-dir``, ``$AEZOO_DATA``, else the cache) may be a shared, read-only copy:
aezoo only reads there. Everything aezoo writes (the uint8 safetensors cache of a built-in split,
archives torchvision unpacks, image folders packed for streaming) goes under its own cache folder,
``$AEZOO_CACHE/data`` (default ``~/.cache/aezoo/data``).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..core import settings

__all__ = ["CACHE_DIRNAME", "CACHE_ENV", "DATA_ENV", "cache_root", "data_root", "resolve_root"]

DATA_ENV = "AEZOO_DATA"  # a folder holding the built-in datasets (what --data-dir sets per command)
CACHE_ENV = "AEZOO_CACHE"  # aezoo's cache folder; datasets go to its "data" subfolder
CACHE_DIRNAME = "aezoo-cache"  # under aezoo's own data cache: <name>-<split>[-<root key>].safetensors


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The folder that holds the built-in datasets.

    ``root`` (the CLI's ``--data-dir``) wins, then ``$AEZOO_DATA``, then ``$AEZOO_CACHE/data``, then
    ``$XDG_CACHE_HOME/aezoo/data`` (``~/.cache/aezoo/data`` when that is unset).

    >>> data_root("/tmp/my-data")
    PosixPath('/tmp/my-data')
    """
    return resolve_root(root)[0]


def resolve_root(root: str | os.PathLike[str] | None) -> tuple[Path, str]:
    """The data root and where it came from (for error messages)."""
    if root is not None and str(root) != "":
        return Path(root).expanduser(), "root= / --data-dir"
    env = settings.data_dir()
    if env is not None:
        return env, f"${DATA_ENV}"
    return cache_root()


def cache_root() -> tuple[Path, str]:
    """aezoo's own, writable data folder: the only place aezoo writes unpacked files and caches."""
    where = f"${CACHE_ENV}/data" if settings.text(CACHE_ENV) else "the default cache folder"
    return settings.cache_dir() / "data", where
