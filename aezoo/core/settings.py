"""Every environment variable aezoo reads, read here and nowhere else, with one parser per type.

Each setting is read when it is needed (never cached at import), so a test or a long-lived
process can change it. :data:`SETTINGS` is the table that ``docs/settings.md`` shows; a test
keeps the two, and the rest of the package, in step.

A true/false variable is true for ``1``, ``true``, ``yes`` or ``on`` and false for ``0``,
``false``, ``no``, ``off`` or empty (any case, surrounding spaces ignored); anything else is a
:class:`~aezoo.core.errors.ConfigError` naming the variable, rather than a silent guess.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path

from .errors import ConfigError

__all__ = [
    "SETTINGS",
    "Setting",
    "cache_dir",
    "data_dir",
    "flag",
    "hf_cache_dir",
    "hf_endpoint",
    "hf_offline",
    "hf_tokens",
    "integer",
    "plugin_autoload_disabled",
    "progress_interval",
    "progress_mode",
    "text",
    "torchrun",
    "weights_dirs",
]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


@dataclasses.dataclass(frozen=True)
class Setting:
    """One environment variable: its name, what it does, and what happens when it is unset."""

    name: str
    meaning: str
    default: str


#: Every variable aezoo reads (the HF_* ones are huggingface_hub's; aezoo reads them too).
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "AEZOO_DATA",
        "folder holding the built-in datasets in torchvision's layout (what --data-dir sets)",
        "unset: aezoo's cache",
    ),
    Setting(
        "AEZOO_CACHE",
        "aezoo's cache folder; datasets go to its data/ subfolder",
        "$XDG_CACHE_HOME/aezoo, else ~/.cache/aezoo",
    ),
    Setting("XDG_CACHE_HOME", "the user's cache base folder (freedesktop convention)", "~/.cache"),
    Setting(
        "AEZOO_WEIGHTS_DIR",
        "extra folders (os.pathsep-separated) searched for bundled pretrained weights",
        "only the checkout's weights/",
    ),
    Setting(
        "AEZOO_HUB_TIMEOUT",
        "one overall deadline in seconds for a whole load, pull, publish or (per bundle) release "
        "(a stalled server fails fast)",
        "30",
    ),
    Setting(
        "AEZOO_MAX_WEIGHTS_BYTES",
        "largest model.safetensors aezoo reads or downloads, in bytes",
        "4 GiB",
    ),
    Setting(
        "AEZOO_MEMORY_BUDGET",
        "bytes (or 512M, 8G) a dataset may take in memory (a larger one is streamed from disk) and the "
        "largest output aezoo.generate makes at once",
        "half the memory available (and half a GPU's free memory)",
    ),
    Setting(
        "AEZOO_DISABLE_PLUGIN_AUTOLOAD",
        "true/false: load aezoo's own architectures only, no third-party entry points",
        "false",
    ),
    Setting(
        "AEZOO_PROGRESS",
        "progress output: 0/false/off: none; lines: plain lines even on a terminal; 1/true/on: automatic",
        "automatic: a bar on a terminal or in a notebook, plain lines elsewhere",
    ),
    Setting("AEZOO_PROGRESS_INTERVAL", "seconds between two plain progress lines (logs, pipes, CI)", "10"),
    Setting("HF_ENDPOINT", "the Hugging Face Hub (or a mirror) to publish to and pull from", "https://huggingface.co"),
    Setting("HF_HUB_CACHE", "where pulled Hub repositories are cached", "$HF_HOME/hub"),
    Setting("HF_HOME", "huggingface_hub's home folder", "~/.cache/huggingface"),
    Setting("HF_HUB_OFFLINE", "true/false: never reach the Hub; loads are served from the cache", "false"),
    Setting(
        "HF_TOKEN",
        "Hub access token (also HUGGING_FACE_HUB_TOKEN); never written to logs or errors",
        "the token saved by `hf auth login`",
    ),
    Setting("HUGGING_FACE_HUB_TOKEN", "older name of HF_TOKEN", "unset"),
    Setting("WORLD_SIZE", "set by torchrun: number of data-parallel processes", "1"),
    Setting("RANK", "set by torchrun: this process's global rank", "0"),
    Setting("LOCAL_RANK", "set by torchrun: this process's rank on its node (picks its GPU)", "0"),
)


# ---------------------------------------------------------------------- one parser per type
def text(name: str) -> str | None:
    """The variable's value, or ``None`` when it is unset or empty."""
    value = os.environ.get(name)
    return value if value else None


def flag(name: str, default: bool = False) -> bool:
    """A true/false variable (see the module docstring); ``default`` when unset.

    >>> flag("AEZOO_UNSET_EXAMPLE"), flag("AEZOO_UNSET_EXAMPLE", default=True)
    (False, True)
    """
    value = os.environ.get(name)
    if value is None:
        return default
    word = value.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ConfigError(
        f"${name} is {value!r}, which is neither true nor false; set it to 1/true/yes/on or 0/false/no/off, or unset it"
    )


def integer(name: str, default: int) -> int:
    """A non-negative integer; ``default`` when unset or empty."""
    value = text(name)
    if value is None:
        return default
    try:
        parsed = int(value)
    except ValueError:
        parsed = -1
    if parsed < 0:
        raise ConfigError(f"${name} is {value!r}; it must be a non-negative integer, or unset")
    return parsed


def path(name: str) -> Path | None:
    """A folder or file path (``~`` expanded), or ``None`` when unset or empty."""
    value = text(name)
    return Path(value).expanduser() if value else None


# ---------------------------------------------------------------------- aezoo's own
def data_dir() -> Path | None:
    """``$AEZOO_DATA``: the folder holding the built-in datasets, if set."""
    return path("AEZOO_DATA")


def cache_dir() -> Path:
    """aezoo's cache folder: ``$AEZOO_CACHE``, else ``$XDG_CACHE_HOME/aezoo``, else ``~/.cache/aezoo``."""
    return path("AEZOO_CACHE") or (path("XDG_CACHE_HOME") or Path.home() / ".cache") / "aezoo"


def weights_dirs() -> list[Path]:
    """The folders in ``$AEZOO_WEIGHTS_DIR`` (``os.pathsep``-separated), in order."""
    return [Path(p).expanduser() for p in (text("AEZOO_WEIGHTS_DIR") or "").split(os.pathsep) if p]


def plugin_autoload_disabled() -> bool:
    """``$AEZOO_DISABLE_PLUGIN_AUTOLOAD``: load aezoo's own architectures only."""
    return flag("AEZOO_DISABLE_PLUGIN_AUTOLOAD")


def progress_mode() -> str:
    """``$AEZOO_PROGRESS``: ``"off"``, ``"lines"`` or ``"auto"`` (unset, or a true value).

    >>> progress_mode() in ("off", "lines", "auto")
    True
    """
    value = (text("AEZOO_PROGRESS") or "").strip().lower()
    if value == "lines":
        return "lines"
    return "auto" if flag("AEZOO_PROGRESS", default=True) else "off"


def progress_interval() -> int:
    """``$AEZOO_PROGRESS_INTERVAL``: seconds between plain progress lines (default 10)."""
    return integer("AEZOO_PROGRESS_INTERVAL", 10)


# ---------------------------------------------------------------------- huggingface_hub's
def hf_endpoint(default: str) -> str:
    """``$HF_ENDPOINT`` without a trailing slash, else ``default`` (huggingface_hub's)."""
    return (text("HF_ENDPOINT") or default).rstrip("/")


def hf_cache_dir(default: str) -> str:
    """``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``default`` (huggingface_hub's)."""
    home = text("HF_HOME")
    return text("HF_HUB_CACHE") or (os.path.join(home, "hub") if home else default)


def hf_offline() -> bool:
    """``$HF_HUB_OFFLINE``: never reach the Hub."""
    return flag("HF_HUB_OFFLINE")


def hf_tokens() -> list[str]:
    """The tokens set in ``$HF_TOKEN`` and ``$HUGGING_FACE_HUB_TOKEN`` (to keep them out of messages)."""
    return [t for t in (text("HF_TOKEN"), text("HUGGING_FACE_HUB_TOKEN")) if t]


def hf_timeout(name: str) -> float:
    """Deprecated in 0.2, removed in 0.3: ``$name`` (``HF_HUB_ETAG_TIMEOUT`` or ``HF_HUB_DOWNLOAD_TIMEOUT``)
    in seconds, 10 when unset. huggingface_hub reads its own timeouts since aezoo pulls through it;
    aezoo's one bound is :func:`aezoo.hub.deadline.hub_timeout` (``$AEZOO_HUB_TIMEOUT``)."""
    warnings.warn(
        "aezoo.settings.hf_timeout is deprecated since aezoo 0.2 and will be removed in 0.3: huggingface_hub "
        "reads $HF_HUB_ETAG_TIMEOUT / $HF_HUB_DOWNLOAD_TIMEOUT itself; aezoo's own bound is "
        "aezoo.hub.deadline.hub_timeout() ($AEZOO_HUB_TIMEOUT)",
        DeprecationWarning,
        stacklevel=2,
    )
    value = text(name)
    if value is None:
        return 10.0
    try:
        parsed = float(value)
    except ValueError:
        parsed = float("nan")
    if not 0 < parsed < float("inf"):
        raise ConfigError(f"${name} is {value!r}; it must be a positive number (e.g. 10), or unset")
    return parsed


# ---------------------------------------------------------------------- torchrun's
def torchrun() -> tuple[int, int, int]:
    """``(WORLD_SIZE, RANK, LOCAL_RANK)`` as torchrun sets them; ``(1, 0, 0)`` in a plain process."""
    return integer("WORLD_SIZE", 1) or 1, integer("RANK", 0), integer("LOCAL_RANK", 0)
