"""Pretrained entries: where a named model's weights live and how to check them."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

__all__ = ["Pretrained"]


@dataclasses.dataclass(frozen=True)
class Pretrained:
    """A named set of weights for an architecture, pinned to exact bytes on the Hub.

    Architectures list theirs in their class attribute ``pretrained``; the registry collects them.
    """

    name: str  # the name users load, e.g. "conv-mnist"
    architecture: str  # the registered architecture the weights are for
    repo_id: str  # Hugging Face Hub repository, e.g. "aezoo/conv-mnist"
    revision: str  # pinned commit hash on the Hub
    sha256: str  # sha256 of model.safetensors; checked on every load from every source
    config: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # the architecture config
    dataset: str = ""  # what it was trained on
    metrics: Mapping[str, float] = dataclasses.field(default_factory=dict)  # test-split metrics
    description: str = ""  # one line for `aezoo list --pretrained`

    def source_dict(self) -> dict[str, Any]:
        """Where the weights come from, for ``aezoo info``."""
        return {
            "repo_id": self.repo_id,
            "revision": self.revision,
            "sha256": self.sha256,
            "dataset": self.dataset,
            "metrics": dict(self.metrics),
        }
