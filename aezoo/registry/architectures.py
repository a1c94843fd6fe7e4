"""The zoo's registry, filled through the ``aezoo.architectures`` entry-point group.

Discovery has two phases (as in flake8 and napari's npe2): the entry-point metadata is read
without importing anything, and each architecture is imported on the first lookup. A plugin
that fails to import, declares an incompatible plugin API, or claims a name already taken
becomes a :class:`PluginRecord` with its error: it is reported (a warning and ``aezoo plugins``)
while every other architecture keeps working. aezoo's own architectures join through the same
entry-point group and cannot be shadowed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import importlib.metadata as md
import signal
import sys
import threading
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

import torch

from ..core import settings
from ..core.config import config_to_dict
from ..core.errors import ConfigError, PluginError, unknown_name
from ..io.pretrained import Pretrained
from ..models.base import PLUGIN_API_VERSION, Autoencoder

__all__ = [
    "DISABLE_AUTOLOAD_ENV",
    "ENTRY_POINT_GROUP",
    "PluginRecord",
    "PluginWarning",
    "create",
    "get_architecture",
    "get_pretrained",
    "info",
    "list_models",
    "plugins",
]

ENTRY_POINT_GROUP = "aezoo.architectures"
#: Set to ``1`` to load aezoo's own architectures only (like PYTEST_DISABLE_PLUGIN_AUTOLOAD).
DISABLE_AUTOLOAD_ENV = "AEZOO_DISABLE_PLUGIN_AUTOLOAD"
_OWN_DISTRIBUTION = "aezoo"


class PluginWarning(UserWarning):
    """Warned once for every plugin architecture that could not join the zoo."""


@dataclasses.dataclass
class PluginRecord:
    """One entry point of the ``aezoo.architectures`` group and what became of it."""

    name: str  # the architecture name the entry point declares
    distribution: str  # the installed distribution that declares it
    version: str  # that distribution's version
    value: str  # "module:attribute" the entry point points at
    builtin: bool  # declared by aezoo itself
    status: str = "pending"  # pending | loaded | failed | incompatible | conflict | disabled
    error: str = ""  # why it is not loaded, and how to fix it
    location: str = ""  # the file the architecture was imported from

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class _Registry:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._records: list[PluginRecord] | None = None
        self._archs: dict[str, type[Autoencoder]] = {}
        self._pretrained: dict[str, Pretrained] = {}
        self._owners: dict[str, PluginRecord] = {}  # name (architecture or pretrained) -> record

    # ------------------------------------------------------------------ discovery
    def _ensure(self) -> None:
        if self._records is not None:
            return
        with self._lock:
            if self._records is None:
                self._load_all(self._read_metadata())

    def _read_metadata(self) -> list[PluginRecord]:
        """Phase one: what the installed distributions declare, without importing them."""
        records: dict[tuple[str, str], PluginRecord] = {}
        for ep in md.entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist
            dist_name = (dist.metadata["Name"] if dist is not None else None) or "<unknown>"
            version = (dist.version if dist is not None else None) or "?"
            builtin = _normalize(dist_name) == _OWN_DISTRIBUTION
            # The same distribution can be visible twice on sys.path (e.g. an editable and a
            # regular install); keep the first, like importlib does for the import itself.
            records.setdefault(
                (ep.name, _normalize(dist_name)),
                PluginRecord(ep.name, dist_name, version, ep.value, builtin),
            )
        # Built-ins first so that they always win a name; then a stable order by distribution.
        return sorted(records.values(), key=lambda r: (not r.builtin, _normalize(r.distribution), r.name))

    def _load_all(self, records: list[PluginRecord]) -> None:
        """Phase two: import each architecture, turning every failure into a record."""
        if not any(r.builtin for r in records):
            raise PluginError(
                "aezoo's own architectures are not registered: the 'aezoo' distribution's entry points "
                "were not found. Install aezoo (pip install aezoo, or pip install -e . in a checkout) "
                "rather than putting its source folder on sys.path."
            )
        disabled = settings.plugin_autoload_disabled()
        for rec in records:
            if disabled and not rec.builtin:
                rec.status = "disabled"
                rec.error = f"third-party autoload disabled by {DISABLE_AUTOLOAD_ENV}"
                continue
            self._load_one(rec)
        self._records = records
        for rec in records:
            if rec.status not in ("loaded", "disabled"):
                warnings.warn(
                    f"aezoo plugin {rec.name!r} from {rec.distribution} {rec.version} was not loaded "
                    f"({rec.status}): {rec.error}",
                    PluginWarning,
                    stacklevel=4,
                )

    def _load_one(self, rec: PluginRecord) -> None:
        owner = self._owners.get(rec.name)
        if owner is not None:
            rec.status = "conflict"
            what = (
                "is built into aezoo and cannot be shadowed"
                if owner.builtin
                else (f"is already provided by {owner.distribution} {owner.version}")
            )
            rec.error = f"the name {rec.name!r} {what}; rename the entry point in {rec.distribution}"
            return
        # A plugin must never break the zoo, whatever it raises: sys.exit() (SystemExit) and other
        # BaseExceptions included. Only a KeyboardInterrupt from a real Ctrl-C goes through.
        with _sigint_watch() as interrupted:
            try:
                obj = md.EntryPoint(rec.name, rec.value, ENTRY_POINT_GROUP).load()
            except BaseException as e:
                if isinstance(e, KeyboardInterrupt) and interrupted:
                    raise
                rec.status = "failed"
                rec.error = f"import of {rec.value!r} failed: {type(e).__name__}: {e}"
                return
        try:
            self._check_and_add(rec, obj)
        except Exception as e:  # a class whose attributes raise, pretrained entries of the wrong type...
            rec.status = "failed"
            rec.error = f"{rec.value!r} cannot be registered: {type(e).__name__}: {e}"

    def _check_and_add(self, rec: PluginRecord, obj: Any) -> None:
        if not (isinstance(obj, type) and issubclass(obj, Autoencoder)):
            rec.status = "failed"
            rec.error = f"{rec.value!r} is {obj!r}, not a subclass of aezoo.Autoencoder"
            return
        if obj.architecture != rec.name:
            rec.status = "failed"
            rec.error = (
                f"{obj.__name__}.architecture is {obj.architecture!r} but the entry point is named "
                f"{rec.name!r}; they must be equal"
            )
            return
        if getattr(obj, "api_version", None) != PLUGIN_API_VERSION:
            rec.status = "incompatible"
            rec.error = (
                f"written for aezoo plugin API {getattr(obj, 'api_version', None)!r}, but this aezoo "
                f"supports API {PLUGIN_API_VERSION}; install a version of {rec.distribution} made for "
                f"plugin API {PLUGIN_API_VERSION}, or an aezoo that supports its API"
            )
            return
        pretrained = list(getattr(obj, "pretrained", ()) or ())
        for entry in pretrained:
            if not isinstance(entry, Pretrained):
                rec.status = "failed"
                rec.error = f"{obj.__name__}.pretrained holds {entry!r}, not an aezoo.Pretrained entry"
                return
            if entry.architecture != rec.name:
                rec.status = "failed"
                rec.error = (
                    f"pretrained entry {entry.name!r} names architecture {entry.architecture!r}, not {rec.name!r}"
                )
                return
            if entry.name in self._owners:
                rec.status = "conflict"
                rec.error = (
                    f"pretrained name {entry.name!r} is already taken by {self._owners[entry.name].distribution}; "
                    f"rename it in {rec.distribution}"
                )
                return
        self._archs[rec.name] = obj
        self._owners[rec.name] = rec
        for entry in pretrained:
            self._pretrained[entry.name] = entry
            self._owners[entry.name] = rec
        rec.status = "loaded"
        module = sys.modules.get(obj.__module__)
        rec.location = getattr(module, "__file__", "") or ""

    def reset(self) -> None:
        """Forget everything; the next lookup discovers again (for tests and after installs)."""
        with self._lock:
            self._records = None
            self._archs.clear()
            self._pretrained.clear()
            self._owners.clear()

    # ------------------------------------------------------------------ lookups
    def records(self) -> list[PluginRecord]:
        self._ensure()
        assert self._records is not None
        return list(self._records)

    def architectures(self) -> dict[str, type[Autoencoder]]:
        self._ensure()
        return dict(self._archs)

    def pretrained(self) -> dict[str, Pretrained]:
        self._ensure()
        return dict(self._pretrained)


@contextlib.contextmanager
def _sigint_watch() -> Iterator[list[bool]]:
    """A list that becomes truthy when a real SIGINT (Ctrl-C) arrives inside the block.

    The handler in place is kept and called. Where it cannot be watched (another thread, a
    handler installed outside Python), any KeyboardInterrupt is taken as the user's.
    """
    flag: list[bool] = []
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous is None:
        yield [True]
        return

    def handler(signum: int, frame: Any) -> None:
        flag.append(True)
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:  # would have ended the program: end it the Python way
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def _normalize(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


_REGISTRY = _Registry()


# ---------------------------------------------------------------------- public API
def list_models(
    pattern: str | Iterable[str] | None = None,
    *,
    pretrained: bool = False,
    exclude: str | Iterable[str] | None = None,
) -> list[str]:
    """Sorted names of the architectures (or, with ``pretrained=True``, the pretrained models).

    ``pattern`` and ``exclude`` are fnmatch patterns (or lists of them), matched case-insensitively.

    >>> import aezoo
    >>> aezoo.list_models("conv*"), aezoo.list_models("VAE")
    (['conv'], ['vae'])
    """
    names = list(_REGISTRY.pretrained() if pretrained else _REGISTRY.architectures())
    if pattern:
        pats = [pattern] if isinstance(pattern, str) else list(pattern)
        names = [n for n in names if any(fnmatch.fnmatchcase(n.lower(), p.lower()) for p in pats)]
    if exclude:
        pats = [exclude] if isinstance(exclude, str) else list(exclude)
        names = [n for n in names if not any(fnmatch.fnmatchcase(n.lower(), p.lower()) for p in pats)]
    return sorted(names)


def get_architecture(name: str) -> type[Autoencoder]:
    """The model class registered as ``name``; an unknown name lists the closest matches."""
    archs = _REGISTRY.architectures()
    if name in archs:
        return archs[name]
    failed = {r.name: r for r in _REGISTRY.records() if r.status != "loaded" and r.name == name}
    if name in failed:
        r = failed[name]
        raise PluginError(
            f"architecture {name!r} from {r.distribution} {r.version} is not available ({r.status}): {r.error}"
        )
    raise unknown_name("architecture", name, list(archs) + list(_REGISTRY.pretrained()), "see `aezoo list`")


def get_pretrained(name: str) -> Pretrained:
    """The pretrained entry registered as ``name``."""
    entries = _REGISTRY.pretrained()
    if name in entries:
        return entries[name]
    raise unknown_name("pretrained model", name, entries, "see `aezoo list --pretrained`")


def create(name: str, **overrides: Any) -> Autoencoder:
    """A fresh, untrained model from an architecture name or a pretrained name's config.

    ``aezoo.create`` (:func:`aezoo.loading.builder.create`) is the public entry: it also loads weights.

    >>> import aezoo
    >>> aezoo.create("linear", latent_dim=3).latent_dim
    3
    """
    archs = _REGISTRY.architectures()
    if name in archs:
        return _build(name, archs[name], None, overrides)
    entries = _REGISTRY.pretrained()
    if name in entries:
        entry = entries[name]
        return _build(name, get_architecture(entry.architecture), dict(entry.config), overrides)
    return _build(name, get_architecture(name), None, overrides)  # an unknown name raises there, with close matches


def _build(name: str, cls: type[Autoencoder], config: Any, overrides: dict[str, Any]) -> Autoencoder:
    """Build the model; sizes beyond this machine's memory are a :class:`ConfigError`, not a crash."""
    try:
        return cls.from_config(config, **overrides)
    except (MemoryError, RuntimeError) as e:
        if not isinstance(e, MemoryError) and "allocate" not in str(e):
            raise
        asked = ", ".join(f"{k}={v!r}" for k, v in overrides.items()) or "its config"
        raise ConfigError(
            f"{name!r} with {asked} needs more memory than this machine has ({' '.join(str(e).split())[:200]}); "
            "choose smaller sizes"
        ) from None


def info(name: str) -> dict[str, Any]:
    """Architecture, config, parameter count, shapes and (for pretrained names) the weights' source.

    >>> import aezoo
    >>> aezoo.info("mlp")["latent_dim"]
    32
    """
    entry = _REGISTRY.pretrained().get(name)
    arch_name = entry.architecture if entry else name
    cls = get_architecture(arch_name)
    with torch.device("meta"):
        model = cls.from_config(dict(entry.config) if entry else None)
    rec = next((r for r in _REGISTRY.records() if r.name == arch_name and r.status == "loaded"), None)
    out: dict[str, Any] = {
        "name": name,
        "architecture": arch_name,
        "description": (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else "",
        "config": config_to_dict(model.config),
        "num_params": model.num_params,
        "input_shape": list(model.input_shape),
        "latent_dim": model.latent_dim,
        "distribution": f"{rec.distribution} {rec.version}" if rec else "",
        "pretrained": sorted(e.name for e in _REGISTRY.pretrained().values() if e.architecture == arch_name),
    }
    if entry:
        out["weights"] = entry.source_dict()
    return out


def plugins() -> list[PluginRecord]:
    """Every entry point of the ``aezoo.architectures`` group with its status and error."""
    return _REGISTRY.records()


def reset() -> None:
    """Forget discovered architectures; the next lookup scans the installed entry points again."""
    _REGISTRY.reset()
