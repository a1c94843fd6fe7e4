"""Module paths that moved in 0.2 stay importable for one minor version, with a DeprecationWarning.

The flat ``aezoo/`` of 0.1 became packages that follow the data flow (docs/design.md). Instead of a
stub file per old module (which would keep the flat tree on disk), one import hook answers for the
old names: ``import aezoo.serialization`` warns once and returns a module that forwards every
attribute to ``aezoo.io.serialization``. ``aezoo.errors`` is the public name of the error hierarchy
and stays without a warning.

Names that moved out of a module that still exists (:data:`MOVED_NAMES`, e.g.
``aezoo.hub.load_pretrained``, now in ``aezoo.loading``) are served the same way: the hook lets the
module load as usual, then gives it a module ``__getattr__`` (PEP 562) that warns and forwards those
names. The module itself never imports its old names' new home, which is often a layer above it
(``aezoo.hub`` is below ``aezoo.loading``): the forwarding lives here, in the facade layer, which
nothing below ``aezoo/__init__`` imports. The policy is CONTRIBUTING.md's "Deprecations"; the names
come from every documented version of the plugin API (tests/test_plugin_api.py).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from typing import Any

__all__ = ["ALIASES", "MOVED", "MOVED_NAMES", "install"]

#: old module -> new module; removed in 0.3 (CHANGELOG.md)
MOVED = {
    "aezoo.config": "aezoo.core.config",
    "aezoo.settings": "aezoo.core.settings",
    "aezoo.seeding": "aezoo.core.seeding",
    "aezoo.progress": "aezoo.core.progress",
    "aezoo.serialization": "aezoo.io.serialization",
    "aezoo.pretrained": "aezoo.io.pretrained",
    "aezoo.cards": "aezoo.io.cards",
    "aezoo.preprocessing": "aezoo.data.preprocessing",
    "aezoo.streaming": "aezoo.data.streaming",
    "aezoo.scaffold": "aezoo.registry.scaffold",
    "aezoo.release": "aezoo.hub.release",
    "aezoo.builder": "aezoo.loading.builder",
    "aezoo.layerwise": "aezoo.training.layerwise",
    "aezoo.plots": "aezoo.evaluation.plots",
    "aezoo.bundle": "aezoo.training.bundle",
    "aezoo.interpolation": "aezoo.applications.interpolation",
    "aezoo.probe": "aezoo.evaluation.probe",
    "aezoo.export": "aezoo.applications.export",
    "aezoo.sklearn": "aezoo.applications.sklearn",
}
#: public short names that stay, without a warning
ALIASES = {"aezoo.errors": "aezoo.core.errors"}
#: module -> {name that moved out of it: module that defines it now}; removed in 0.3 (CHANGELOG.md)
MOVED_NAMES = {
    "aezoo.hub": {"load_pretrained": "aezoo.loading.loader", "load_from_hub": "aezoo.loading.loader"},
    "aezoo.serialization": {"load_dir": "aezoo.loading.loader"},
    "aezoo.pretrained": {"resolve": "aezoo._deprecated:_resolve_with_sha256"},  # kept its 0.1 return value
    "aezoo.config": {"check_seed": "aezoo.core.seeding"},  # the docs named it here; it lived in seeding
}


def _moved_name(module: str, name: str, stacklevel: int) -> Any:
    """``module.name`` from its new home, with a DeprecationWarning; ``AttributeError`` if it did not move."""
    target = MOVED_NAMES.get(module, {}).get(name)
    if target is None:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    home, _, attr = target.partition(":")
    where = f"{home}.{name}" if not attr else "aezoo.loading.loader.resolve (which returns the verified entry)"
    warnings.warn(
        f"{module}.{name} moved to {where} in aezoo 0.2 and will be removed from {module} in 0.3; use {where}",
        DeprecationWarning,
        stacklevel=stacklevel + 1,
    )
    return getattr(importlib.import_module(home), attr or name)


def _resolve_with_sha256(entry: Any, *, revision: str | None = None, token: str | None = None) -> tuple[Any, Any]:
    """0.1's ``aezoo.pretrained.resolve``: the verified folder and the sha256 it was checked against."""
    folder, verified = importlib.import_module("aezoo.loading.loader").resolve(entry, revision=revision, token=token)
    return folder, None if verified is None else verified.sha256


class _Forward(types.ModuleType):
    """A module whose attributes are those of ``target`` (read at each access, so patches show)."""

    def __init__(self, name: str, target: str) -> None:
        super().__init__(name)
        self.__dict__["_target"] = target

    def _module(self) -> types.ModuleType:
        return importlib.import_module(self.__dict__["_target"])

    def __getattr__(self, name: str) -> Any:
        module = self._module()
        if name in MOVED_NAMES.get(self.__name__, {}) and not hasattr(module, name):
            return _moved_name(self.__name__, name, stacklevel=2)
        return getattr(module, name)

    def __dir__(self) -> list[str]:
        return dir(self._module())


class _Loader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        target = MOVED.get(spec.name) or ALIASES[spec.name]
        importlib.import_module(target)  # fails here, clearly, if an optional extra is missing
        if spec.name in MOVED:
            warnings.warn(
                f"{spec.name} moved to {target} in aezoo 0.2 and will be removed in 0.3; import from {target}",
                DeprecationWarning,
                stacklevel=_caller_level(),
            )
        return _Forward(spec.name, target)

    def exec_module(self, module: types.ModuleType) -> None:
        pass


class _WithMovedNames(importlib.abc.Loader):
    """Loads a module with its own loader, then serves its :data:`MOVED_NAMES` through ``__getattr__``."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def __getattr__(self, name: str) -> Any:  # get_source, get_resource_reader, ...: the file loader's
        return getattr(self.loader, name)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        self.loader.exec_module(module)
        own = module.__dict__.get("__getattr__")  # a module's own lazy names come first
        name = module.__name__

        def __getattr__(attr: str) -> Any:
            if own is not None and attr not in MOVED_NAMES[name]:
                return own(attr)
            return _moved_name(name, attr, stacklevel=2)

        module.__getattr__ = __getattr__  # type: ignore[method-assign]


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname in MOVED or fullname in ALIASES:
            return importlib.machinery.ModuleSpec(fullname, _Loader())
        if fullname in MOVED_NAMES:
            spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _WithMovedNames(spec.loader)
            return spec
        return None


def _caller_level() -> int:
    """The stack level of the ``import`` statement, past this module and importlib's frames."""
    frame: types.FrameType | None = sys._getframe(1)
    level = 1
    while frame is not None and (frame.f_code.co_filename == __file__ or "importlib" in frame.f_code.co_filename):
        frame, level = frame.f_back, level + 1
    return level


def install() -> None:
    """Put the finder first on ``sys.meta_path``, once (``import aezoo`` does): it must see
    ``aezoo.hub`` before the path finder loads it; for every other name it answers ``None`` at once."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
