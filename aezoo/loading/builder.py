"""``aezoo.create``: a model by name, fresh or with its pretrained weights, as timm's ``create_model``.

The registry builds fresh models (:func:`aezoo.registry.architectures.create`); loading brings trained weights
(:func:`aezoo.load`). This module sits above both and decides which one a call means, so that a
name of trained weights never silently gives random ones.
"""

from __future__ import annotations

from typing import Any

from ..core.errors import ConfigError, UnknownNameError
from ..models.base import Autoencoder
from ..registry.architectures import create as create_fresh
from ..registry.architectures import get_architecture, get_pretrained, list_models
from .loader import load

__all__ = ["create"]


def create(name: str, pretrained: bool | None = None, **overrides: Any) -> Autoencoder:
    """A model by architecture or pretrained name; keyword arguments override its config.

    * ``create("conv", latent_dim=8)``: a fresh, randomly initialised model.
    * ``create("conv", pretrained=True)``: the architecture's default pretrained weights (its
      first entry, e.g. ``conv-mnist``, with the config they were trained with), as in timm.
    * ``create("conv-mnist")`` or ``create("conv-mnist", pretrained=True)``: those weights, the
      same model as ``aezoo.load("conv-mnist")``.
    * ``create("conv-mnist", pretrained=False, ...)``: a fresh model with that entry's config.

    Trained weights fix the config, so overrides with weights are a :class:`ConfigError`, and an
    architecture without pretrained weights asked for them is an :class:`UnknownNameError`.

    >>> import aezoo
    >>> aezoo.create("linear", latent_dim=3).latent_dim
    3
    >>> aezoo.create("mlp", pretrained=True).config == aezoo.load("mlp-mnist").config
    True
    """
    entries = list_models(pretrained=True)
    if name in entries:
        if pretrained is False:
            return create_fresh(name, **overrides)
        _no_overrides(name, overrides)
        return load(name)
    if not pretrained:
        return create_fresh(name, **overrides)
    cls = get_architecture(name)  # an unknown name raises here, with close matches
    own = [entry.name for entry in cls.pretrained] or [e for e in entries if get_pretrained(e).architecture == name]
    if not own:
        raise UnknownNameError(
            f"architecture {name!r} has no pretrained weights; use aezoo.create({name!r}) for a fresh model "
            f"and train it, or pick one of {', '.join(map(repr, entries))} (see `aezoo list --pretrained`)"
        )
    _no_overrides(own[0], overrides)
    return load(own[0])


def _no_overrides(name: str, overrides: dict[str, Any]) -> None:
    if overrides:
        keys = ", ".join(f"{k}={v!r}" for k, v in overrides.items())
        raise ConfigError(
            f"{name!r} names trained weights, which fix the model's config, so {keys} cannot apply; for a "
            f"fresh model with that config and your changes use aezoo.create({name!r}, pretrained=False, {keys})"
        )
