"""``aezoo.load``: one call from a name, a directory or a Hub repository to a ready model."""

from __future__ import annotations

from pathlib import Path

import torch

from .errors import unknown_name
from .models.base import Autoencoder
from .serialization import load_dir

__all__ = ["HF_HUB_PREFIX", "LOCAL_DIR_PREFIX", "load"]

HF_HUB_PREFIX = "hf-hub:"
LOCAL_DIR_PREFIX = "local-dir:"


def load(
    name_or_path: str | Path,
    *,
    device: str | torch.device | None = None,
    revision: str | None = None,
) -> Autoencoder:
    """Return a trained model, in eval mode, from any of:

    * a pretrained name (``"conv-mnist"``; see ``aezoo.list_models(pretrained=True)``),
    * a model directory written by ``save_pretrained`` or ``aezoo train`` (or ``local-dir:PATH``),
    * a Hub repository, ``"hf-hub:ORG/NAME"`` or ``"hf-hub:ORG/NAME@REVISION"``.

    >>> import aezoo, tempfile
    >>> d = aezoo.create("linear").save_pretrained(tempfile.mkdtemp())
    >>> aezoo.load(d).latent_dim
    2
    """
    text = str(name_or_path)
    if text.startswith(LOCAL_DIR_PREFIX):
        return load_dir(text[len(LOCAL_DIR_PREFIX) :], device=device)
    if text.startswith(HF_HUB_PREFIX):
        from .hub import load_from_hub

        return load_from_hub(text[len(HF_HUB_PREFIX) :], revision=revision, device=device)
    if isinstance(name_or_path, Path) or Path(text).is_dir():
        return load_dir(text, device=device)
    from .registry import get_pretrained, list_models

    pretrained = list_models(pretrained=True)
    if text in pretrained:
        from .hub import load_pretrained

        return load_pretrained(get_pretrained(text), device=device, revision=revision)
    if "/" in text or text.startswith("."):
        raise unknown_name(
            "model",
            text,
            pretrained,
            "not a directory; for a Hub repository write 'hf-hub:ORG/NAME'",
        )
    raise unknown_name("pretrained model", text, pretrained, "see `aezoo list --pretrained`")
