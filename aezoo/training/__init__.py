"""Training: the loop, its checkpoints and run folder, DDP, layer-wise pretraining, and the bundle.

Owns :class:`Trainer` / :func:`train` (:mod:`~aezoo.training.trainer`), :class:`TrainConfig` and
:class:`History` (:mod:`~aezoo.training.config`), checkpoint and resume
(:mod:`~aezoo.training.checkpoint`), the run folder a run owns (:mod:`~aezoo.training.rundir`)
and what it writes there (:mod:`~aezoo.training.outputs`), ``torchrun`` sharding
(:mod:`~aezoo.training.distributed`), augmentation, the layer-wise engine
(:mod:`~aezoo.training.layerwise`, its config and report in :mod:`~aezoo.training.layerwise_config`)
and :func:`~aezoo.training.bundle.bundle`, which turns a trained folder into one ready to publish
(metrics, figures, card), and experiment tracking (:mod:`~aezoo.training.tracking`, the loggers in
:mod:`~aezoo.training.trackers`). May import every package up to :mod:`aezoo.evaluation`.

>>> import aezoo, torch
>>> data = aezoo.DeviceDataset(torch.rand(256, 1, 28, 28))
>>> model = aezoo.train("linear", data, epochs=1, progress=False)
"""

from .config import History, TrainConfig
from .trainer import Callback, Trainer, TrainEvent, train

__all__ = ["Callback", "History", "TrainConfig", "TrainEvent", "Trainer", "train"]
