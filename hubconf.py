"""torch.hub entry points: one per pretrained model of ``aezoo/pretrained.json``, generated from it.

    model = torch.hub.load("aezoo/aezoo", "conv_mnist")                            # from GitHub
    model = torch.hub.load("path/to/clone", "conv_mnist", source="local")          # from a clone
    torch.hub.list("aezoo/aezoo")                                                 # the entry names

Each entry is the pretrained name with ``-`` written ``_`` and calls :func:`aezoo.load` (the
bundled ``weights/`` of the clone first, checked against the manifest's sha256 and config, then the
Hub); ``pretrained=False`` gives the same architecture and config with fresh weights
(:func:`aezoo.create`). Keyword arguments go to :func:`aezoo.load` (``device=``, ``revision=``).
"""

from __future__ import annotations

import json as _json
from pathlib import Path as _Path
from typing import Any as _Any

dependencies = ["torch", "torchvision", "safetensors", "huggingface_hub", "click", "tqdm", "numpy", "PIL"]

_MANIFEST = _Path(__file__).resolve().parent / "aezoo" / "pretrained.json"


def _entry(name: str, description: str) -> _Any:
    def entry(pretrained: bool = True, **kwargs: _Any) -> _Any:
        import aezoo

        return aezoo.load(name, **kwargs) if pretrained else aezoo.create(name, pretrained=False, **kwargs)

    entry.__name__ = entry.__qualname__ = name.replace("-", "_")
    entry.__doc__ = f"{description or name} (aezoo pretrained {name!r}); pretrained=False: fresh weights."
    return entry


for _name, _spec in sorted(_json.loads(_MANIFEST.read_text(encoding="utf-8")).items()):
    globals()[_name.replace("-", "_")] = _entry(_name, str(_spec.get("description", "")))
