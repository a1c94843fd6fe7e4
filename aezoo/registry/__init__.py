"""The zoo's architectures: discovered through the ``aezoo.architectures`` entry points.

Owns discovery in two phases (metadata first, import on first lookup, each failure a
:class:`PluginRecord`), name lookups with close matches, building a fresh model by name, and the
scaffold of a new plugin package (:mod:`~aezoo.registry.scaffold`). May import :mod:`aezoo.core`,
:mod:`aezoo.io`, :mod:`aezoo.data`, :mod:`aezoo.hub` and :mod:`aezoo.models`.
"""

from .architectures import (
    DISABLE_AUTOLOAD_ENV,
    ENTRY_POINT_GROUP,
    PluginRecord,
    PluginWarning,
    create,
    get_architecture,
    get_pretrained,
    info,
    list_models,
    plugins,
    reset,
)

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
    "reset",
]
