"""Names to models: :func:`load` and :func:`create` resolve a zoo name, a folder or ``hf-hub:ORG/NAME``.

Owns the resolution of a pretrained name to its verified files (a bundled copy, the cache or the
Hub, each checked against the entry's pins) and the strict load of a model folder into the
architecture the registry names. May import every package below it: core, io, data, hub, models,
registry.
"""

from .builder import create
from .loader import (
    HF_HUB_PREFIX,
    LOCAL_DIR_PREFIX,
    entry_problem,
    load,
    load_dir,
    load_from_hub,
    load_pretrained,
    resolve,
)

__all__ = [
    "HF_HUB_PREFIX",
    "LOCAL_DIR_PREFIX",
    "create",
    "entry_problem",
    "load",
    "load_dir",
    "load_from_hub",
    "load_pretrained",
    "resolve",
]
