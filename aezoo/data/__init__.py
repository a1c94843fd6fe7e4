"""Datasets: the built-in ones, the user's files, streaming, and the preprocessing of model inputs.

Everything the trainer, the evaluation and the applications take as data comes from here as a
:data:`Dataset` (in memory, :class:`DeviceDataset`, or streamed from a file,
:class:`StreamedDataset`), always handing out float model inputs through ``batches()``.
:class:`~aezoo.data.preprocessing.Preprocessing` (how raw inputs map to model inputs) is stored
with every model. May import :mod:`aezoo.core` and :mod:`aezoo.io`.

>>> import torch
>>> from aezoo.data import DeviceDataset
>>> [b.shape[0] for b in DeviceDataset(torch.rand(10, 4)).batches(4, shuffle=False)]
[4, 4, 2]
"""

from .datasets import Dataset, DeviceDataset, data_root, load_dataset, load_user_data
from .preprocessing import Preprocessing
from .streaming import StreamedDataset

__all__ = [
    "Dataset",
    "DeviceDataset",
    "Preprocessing",
    "StreamedDataset",
    "data_root",
    "load_dataset",
    "load_user_data",
]
