"""Collection of the whole checkout (``testpaths``: tests/ and aezoo/'s doctests).

``--doctest-modules`` imports every module of aezoo/. A module that exists to wrap an optional
extra raises ``MissingDependencyError`` on import when the extra is absent; such a module is left
out of the doctest collection then, instead of breaking it (tests/test_layers.py checks this with
the extra hidden).
"""

from __future__ import annotations

import importlib

# module of aezoo -> the optional library it cannot be imported without
_NEEDS = {"aezoo/applications/sklearn.py": "sklearn"}


def _missing(library: str) -> bool:
    try:
        importlib.import_module(library)
    except ImportError:
        return True
    return False


collect_ignore = [path for path, library in _NEEDS.items() if _missing(library)]
