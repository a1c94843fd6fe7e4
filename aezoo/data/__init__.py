"""Datasets: the built-in ones, the user's files, streaming, and the preprocessing of model inputs.

Everything the trainer, the evaluation and the applications take as data comes from here as a
:class:`Dataset` (the protocol of :mod:`~aezoo.data.base`): held whole on the device
(:class:`DeviceDataset`, :mod:`~aezoo.data.memory`) or streamed from a file
(:class:`StreamedDataset`, :mod:`~aezoo.data.streaming`), always handing out float model inputs
through ``batches()``. Where the data comes from, one module each:

* :mod:`~aezoo.data.builtin`: :func:`load_dataset`, and the built-in sets (MNIST, Fashion-MNIST,
  CIFAR-10) through torchvision, with their uint8 safetensors cache;
* :mod:`~aezoo.data.roots`: :func:`data_root` and aezoo's own data cache;
* :mod:`~aezoo.data.files`: :func:`load_user_data`, which sends a path to
  :mod:`~aezoo.data.images` (a folder of images), :mod:`~aezoo.data.tables` (CSV/TSV) or
  :mod:`~aezoo.data.tensors` (``.npy``, ``.npz``, ``.pt``, ``.safetensors``).
* :mod:`~aezoo.data.hf`: ``hf:OWNER/NAME`` names, read through Hugging Face ``datasets`` (an
  optional extra, imported on first use).

:class:`~aezoo.data.preprocessing.Preprocessing` (how raw inputs map to model inputs) is stored
with every model. May import :mod:`aezoo.core` and :mod:`aezoo.io`.

>>> import torch
>>> from aezoo.data import DeviceDataset
>>> [b.shape[0] for b in DeviceDataset(torch.rand(10, 4)).batches(4, shuffle=False)]
[4, 4, 2]
"""

from .base import Dataset
from .builtin import load_dataset
from .files import load_user_data
from .memory import DeviceDataset
from .preprocessing import Preprocessing
from .roots import data_root
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
