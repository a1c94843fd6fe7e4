"""Module paths that moved in 0.2 stay importable for one minor version, with a DeprecationWarning.

The flat ``aezoo/`` of 0.1 became packages that follow the data flow (docs/design.md). Instead of a
stub file per old module (which would keep the flat tree on disk), one import hook answers for the
old names: ``import aezoo.serialization`` warns once and returns a module that forwards every
attribute to ``aezoo.io.serialization``. ``aezoo.errors`` is the public name of the error hierarchy
and stays without a warning. Part of the facade layer: nothing below ``aezoo/__init__`` imports it.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from typing import Any

__all__ = ["ALIASES", "MOVED", "install"]

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


class _Forward(types.ModuleType):
    """A module whose attributes are those of ``target`` (read at each access, so patches show)."""

    def __init__(self, name: str, target: str) -> None:
        super().__init__(name)
        self.__dict__["_target"] = target

    def _module(self) -> types.ModuleType:
        return importlib.import_module(self.__dict__["_target"])

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module(), name)

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


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname in MOVED or fullname in ALIASES:
            return importlib.machinery.ModuleSpec(fullname, _Loader())
        return None


def _caller_level() -> int:
    """The stack level of the ``import`` statement, past this module and importlib's frames."""
    frame: types.FrameType | None = sys._getframe(1)
    level = 1
    while frame is not None and (frame.f_code.co_filename == __file__ or "importlib" in frame.f_code.co_filename):
        frame, level = frame.f_back, level + 1
    return level


def install() -> None:
    """Put the finder on ``sys.meta_path`` once (``import aezoo`` does)."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.append(_Finder())
