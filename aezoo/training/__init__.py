"""Training: :class:`Trainer`, :class:`TrainConfig`, :class:`History`, checkpoints and DDP.

>>> import aezoo, torch
>>> data = aezoo.DeviceDataset(torch.rand(256, 1, 28, 28))
>>> model = aezoo.train("linear", data, epochs=1, progress=False)
"""

from .config import History, TrainConfig
from .trainer import Callback, Trainer, TrainEvent, train

__all__ = ["Callback", "History", "TrainConfig", "TrainEvent", "Trainer", "train"]
