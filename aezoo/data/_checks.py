"""What the readers of data files share: values checked as numbers, labels as one integer per sample,
and a library's error shortened to one line for a message that says what went wrong and how to fix it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..core.errors import DataError

__all__ = ["as_tensor", "int_labels", "one_line"]


def one_line(e: BaseException, limit: int = 300) -> str:
    """``"Type: message"`` on one line, cut to ``limit`` characters.

    >>> one_line(ValueError("bad\\n  value"))
    'ValueError: bad value'
    """
    text = " ".join(f"{type(e).__name__}: {e}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def as_tensor(value: Any, path: Path) -> Tensor:
    """A CPU tensor of real numbers from an array read from ``path``: uint8 as it is, else float32.

    >>> as_tensor(np.array([[1, 2]]), Path("t.npy"))
    tensor([[1., 2.]])
    """
    if isinstance(value, Tensor):
        t = value.detach().cpu()
    else:
        array = np.asarray(value)
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
            raise DataError(f"{path} holds {array.dtype} values; aezoo reads numeric arrays")
        if array.dtype.kind == "c":
            raise DataError(f"{path} holds complex values; aezoo reads real numbers")
        if array.dtype.kind == "f" and array.dtype.itemsize > 8:  # float128: torch has none; it ends float32
            with np.errstate(over="ignore"):  # beyond float64: inf, refused by the finiteness check
                array = array.astype(np.float64)
        # torch takes native byte order only: a big-endian file ('>f4') is swapped here
        t = torch.from_numpy(np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("=")))
    if t.is_complex():
        raise DataError(f"{path} holds complex values; aezoo reads real numbers")
    if t.dim() == 0:
        raise DataError(f"{path} holds a single number; expected samples along the first dimension")
    return t if t.dtype == torch.uint8 else t.float()


def int_labels(value: Any, path: Path, key: str) -> Tensor:
    """``(N,)`` int64 labels from ``value`` (array ``key`` of ``path``): finite whole numbers only.

    >>> int_labels(np.array([0.0, 2.0]), Path("t.npz"), "y")
    tensor([0, 2])
    """
    y = as_tensor(value, path).double().flatten() if np.ndim(value) <= 1 else None
    if y is None or not bool(torch.isfinite(y).all()) or not bool((y == y.round()).all()):
        raise DataError(f"labels {key!r} in {path} must be one integer per sample")
    return y.long()
