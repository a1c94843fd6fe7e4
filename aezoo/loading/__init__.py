"""Names to models, and models to the Hub: :func:`load`, :func:`create` and :func:`publish`, the zoo's AutoModel.

Owns what needs the registry on top of :mod:`aezoo.hub`: the class a pretrained name, a folder or
``hf-hub:ORG/NAME`` is loaded as (then loaded strictly by the same machinery as
``cls.from_pretrained``), ``create`` (fresh or pretrained, as timm's ``create_model``), and the
distribution a published card names. May import every package below it: core, io, data, hub,
models, registry.
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
from .publish import distribution_of, publish

__all__ = [
    "HF_HUB_PREFIX",
    "LOCAL_DIR_PREFIX",
    "create",
    "distribution_of",
    "entry_problem",
    "load",
    "load_dir",
    "load_from_hub",
    "load_pretrained",
    "publish",
    "resolve",
]
