"""Your own data: :func:`load_user_data` sends a path to the reader of its kind.

A folder is a folder of images (:mod:`aezoo.data.images`), a ``.csv``/``.tsv`` file a table
(:mod:`aezoo.data.tables`), a ``.npy``/``.npz``/``.pt``/``.safetensors`` file a tensor file
(:mod:`aezoo.data.tensors`). aezoo never unpickles user files, and each reader checks the values
once (non-empty, finite, one integer label per sample) so that the training loop does not have to.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..core.errors import DataError
from .base import Dataset
from .images import load_image_folder
from .tables import CSV_SUFFIXES, load_csv
from .tensors import STREAMABLE_SUFFIXES, TENSOR_SUFFIXES, load_tensor_file

__all__ = ["load_user_data"]


def load_user_data(
    path: str | os.PathLike[str],
    *,
    device: str | torch.device = "cpu",
    label_column: str | int | None = None,
    stream: bool | None = None,
) -> Dataset:
    """Load your own data onto ``device``, with the preprocessing it was given.

    ``stream=True`` reads a ``.npy`` or ``.safetensors`` file batch by batch instead of holding it
    (:class:`~aezoo.data.streaming.StreamedDataset`); a folder of images is first decoded, chunk by
    chunk, into a ``.npy`` in aezoo's cache (once per version of the folder), then streamed from
    there. ``None`` streams when holding the data would take more than
    :func:`~aezoo.data.streaming.memory_budget`. CSV, ``.npz`` and ``.pt`` files are always loaded whole.

    * a folder of images (PNG, JPEG, ...; all one size): ``(N, 1|3, H, W)``, ``scale=1/255``;
      images in subfolders get the subfolder's index (sorted names) as label;
    * ``.npy``/``.npz``/``.pt``/``.safetensors`` tensors (never unpickled): uint8 arrays are images
      (``scale=1/255``; ``(N, H, W)`` gains a channel, ``(N, H, W, C)`` becomes ``(N, C, H, W)``),
      2-D arrays are tables (standardised per column), other float arrays are kept as they are;
      ``.npz``/``.pt``/``.safetensors`` mappings use key ``x`` (or ``data``, ``images``...) and labels
      from ``label_column`` (default ``y``, ``labels`` or ``targets`` when present);
    * ``.csv``/``.tsv`` of numbers, with or without a header: ``(N, F)`` standardised per column
      (``mean``/``std`` of this data; a constant column gets ``std=1``); ``label_column`` (name or
      index) becomes integer labels and is left out of the features.

    >>> import numpy as np, tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "x.npy"); np.save(f, np.zeros((5, 8, 8), np.uint8))
    >>> load_user_data(f).x.shape
    torch.Size([5, 1, 8, 8])
    """
    path = Path(path).expanduser()
    if stream and path.is_file() and path.suffix.lower() not in STREAMABLE_SUFFIXES:
        raise DataError(
            f"cannot stream {str(path)!r}: aezoo streams image folders and uncompressed .npy and .safetensors "
            "files; convert it "
            "(np.save(f, images) with uint8 pixels, or float32 features) or drop --stream / stream=True"
        )
    if path.is_dir():
        if label_column is not None:
            raise DataError(f"label_column does not apply to an image folder ({path}); labels come from subfolders")
        return load_image_folder(path, device=device, stream=stream)
    if not path.is_file():
        raise DataError(f"{str(path)!r} does not exist; give a folder of images or a tensor or CSV file")
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return load_csv(path, device=device, label_column=label_column)
    if suffix not in TENSOR_SUFFIXES:
        raise DataError(
            f"cannot read {str(path)!r}: unknown file type {suffix!r}; aezoo reads a folder of images, "
            f"{', '.join(TENSOR_SUFFIXES)} and .csv"
        )
    return load_tensor_file(path, device=device, label_column=label_column, stream=stream)
