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

from ._deprecated import install as _install_moved_modules
from ._version import __version__

_install_moved_modules()

# public name -> module that defines it
_LAZY = {
    # registry
    "list_models": "registry",
    "create": "loading",
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
    "AEConfig": "core.config",
    "Preprocessing": "data",
    "Pretrained": "io.pretrained",
    "manifest_entries": "io.pretrained",
    # loading and saving
    "load": "loading",
    # data, training, evaluation
    "DeviceDataset": "data",
    "StreamedDataset": "data",
    "load_dataset": "data",
    "load_user_data": "data",
    "data_root": "data",
    "Trainer": "training",
    "TrainConfig": "training",
    "train": "training",
    "train_many": "training.many",
    "evaluate": "evaluation",
    "pretrain": "training.layerwise",
    "LayerwiseConfig": "training.layerwise",
    # applications
    "reduce": "applications",
    "extract_features": "applications",
    "AnomalyDetector": "applications",
    "DriftDetector": "applications",
    "denoise": "applications",
    "generate": "applications",
    "interpolate": "applications.interpolation",
    "prior_interpolation": "applications.interpolation",
    "linear_probe": "evaluation.probe",
    # hub
    "publish": "loading",  # names the registering distribution and resolves pretrained names
    "pull": "hub",
    # errors
    "AezooError": "core.errors",
    "UnknownNameError": "core.errors",
    "ConfigError": "core.errors",
    "InputError": "core.errors",
    "WeightsError": "core.errors",
    "DataError": "core.errors",
    "HubError": "core.errors",
    "PluginError": "core.errors",
    "TrainingError": "core.errors",
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
    "DriftDetector",
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
    "train_many",
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
    from .applications import AnomalyDetector, DriftDetector, denoise, extract_features, generate, reduce
    from .applications.interpolation import interpolate, prior_interpolation
    from .core.config import AEConfig
    from .core.errors import (
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
    from .data import DeviceDataset, Preprocessing, StreamedDataset, data_root, load_dataset, load_user_data
    from .evaluation import evaluate
    from .evaluation.probe import linear_probe
    from .hub import pull
    from .io.pretrained import Pretrained, manifest_entries
    from .loading import create, load, publish
    from .models.base import PLUGIN_API_VERSION, AEOutput, Autoencoder, Capabilities, StageSpec, StageWeights
    from .registry import (
        PluginRecord,
        PluginWarning,
        get_architecture,
        get_pretrained,
        info,
        list_models,
        plugins,
    )
    from .training import TrainConfig, Trainer, train
    from .training.layerwise import LayerwiseConfig, pretrain
