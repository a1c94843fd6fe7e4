"""aezoo: a model zoo of autoencoders.

>>> import aezoo
>>> aezoo.list_models("conv*")
['conv']
>>> model = aezoo.create("vae", latent_dim=8)

Importing aezoo is cheap: the public names below load their modules (and torch) on first use,
and architectures are discovered from the ``aezoo.architectures`` entry points on first lookup.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

# public name -> module that defines it
_LAZY = {
    # registry
    "list_models": "registry",
    "create": "builder",
    "info": "registry",
    "plugins": "registry",
    "get_architecture": "registry",
    "get_pretrained": "registry",
    "PluginRecord": "registry",
    "PluginWarning": "registry",
    # the contract
    "Autoencoder": "models.base",
    "AEOutput": "models.base",
    "PLUGIN_API_VERSION": "models.base",
    "Capabilities": "models.base",
    "StageSpec": "models.base",
    "StageWeights": "models.base",
    "AEConfig": "config",
    "Preprocessing": "preprocessing",
    "Pretrained": "pretrained",
    "manifest_entries": "pretrained",
    # loading and saving
    "load": "loading",
    # data, training, evaluation
    "DeviceDataset": "data",
    "StreamedDataset": "streaming",
    "load_dataset": "data",
    "load_user_data": "data",
    "data_root": "data",
    "Trainer": "training",
    "TrainConfig": "training",
    "train": "training",
    "evaluate": "evaluation",
    "pretrain": "layerwise",
    "LayerwiseConfig": "layerwise",
    # applications
    "reduce": "applications",
    "extract_features": "applications",
    "AnomalyDetector": "applications",
    "denoise": "applications",
    "generate": "applications",
    "interpolate": "interpolation",
    "prior_interpolation": "interpolation",
    "linear_probe": "probe",
    # hub
    "publish": "hub",
    "pull": "hub",
    # errors
    "AezooError": "errors",
    "UnknownNameError": "errors",
    "ConfigError": "errors",
    "InputError": "errors",
    "WeightsError": "errors",
    "DataError": "errors",
    "HubError": "errors",
    "PluginError": "errors",
    "TrainingError": "errors",
}

# Written out, not computed, so that type checkers and linters see the public surface; a test keeps it equal
# to the names above.
__all__ = [
    "PLUGIN_API_VERSION",
    "AEConfig",
    "AEOutput",
    "AezooError",
    "AnomalyDetector",
    "Autoencoder",
    "Capabilities",
    "ConfigError",
    "DataError",
    "DeviceDataset",
    "HubError",
    "InputError",
    "LayerwiseConfig",
    "PluginError",
    "PluginRecord",
    "PluginWarning",
    "Preprocessing",
    "Pretrained",
    "StageSpec",
    "StageWeights",
    "StreamedDataset",
    "TrainConfig",
    "Trainer",
    "TrainingError",
    "UnknownNameError",
    "WeightsError",
    "__version__",
    "create",
    "data_root",
    "denoise",
    "evaluate",
    "extract_features",
    "generate",
    "get_architecture",
    "get_pretrained",
    "info",
    "interpolate",
    "linear_probe",
    "list_models",
    "load",
    "load_dataset",
    "load_user_data",
    "manifest_entries",
    "plugins",
    "pretrain",
    "prior_interpolation",
    "publish",
    "pull",
    "reduce",
    "train",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'aezoo' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:  # pragma: no cover
    from .applications import AnomalyDetector, denoise, extract_features, generate, reduce
    from .builder import create
    from .config import AEConfig
    from .data import DeviceDataset, data_root, load_dataset, load_user_data
    from .errors import (
        AezooError,
        ConfigError,
        DataError,
        HubError,
        InputError,
        PluginError,
        TrainingError,
        UnknownNameError,
        WeightsError,
    )
    from .evaluation import evaluate
    from .hub import publish, pull
    from .interpolation import interpolate, prior_interpolation
    from .layerwise import LayerwiseConfig, pretrain
    from .loading import load
    from .models.base import PLUGIN_API_VERSION, AEOutput, Autoencoder, Capabilities, StageSpec, StageWeights
    from .preprocessing import Preprocessing
    from .pretrained import Pretrained, manifest_entries
    from .probe import linear_probe
    from .registry import (
        PluginRecord,
        PluginWarning,
        get_architecture,
        get_pretrained,
        info,
        list_models,
        plugins,
    )
    from .streaming import StreamedDataset
    from .training import TrainConfig, Trainer, train
