"""The :class:`Dataset` protocol: what the trainer, the evaluation and the applications take as data.

Two kinds satisfy it, structurally (neither inherits from it): a split held whole on the device,
:class:`~aezoo.data.memory.DeviceDataset`, and one read from a file batch by batch,
:class:`~aezoo.data.streaming.StreamedDataset`. Code that takes "a dataset" is typed against the
protocol and uses only what it lists; mypy checks that both kinds satisfy it wherever one is passed
or returned as a ``Dataset`` (``load_dataset`` returns either). The rules both kinds share (which
batch requests are valid, how many batches an epoch has, how a validation split is drawn) are the
functions below, kept here once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import torch
from torch import Tensor

from ..core.errors import DataError
from .preprocessing import Preprocessing

__all__ = ["Dataset", "check_batch_request", "count_batches", "split_positions"]


class Dataset(Protocol):
    """Samples that hand out float model inputs in batches, with their labels and preprocessing.

    Not ``runtime_checkable``: on Python 3.10 and 3.11 ``isinstance`` against a protocol reads every
    member, and ``x`` builds a float copy of a whole split (or raises, for a streamed one); check
    the concrete classes instead.

    >>> import torch
    >>> from aezoo.data import DeviceDataset
    >>> def first_batch(ds: Dataset) -> tuple[int, ...]:
    ...     return tuple(next(ds.batches(4, shuffle=False)).shape)
    >>> first_batch(DeviceDataset(torch.rand(10, 3)))
    (4, 3)
    """

    @property
    def name(self) -> str:
        """What the data is, for messages and run records (e.g. ``"mnist/train"``)."""
        ...

    @property
    def y(self) -> Tensor | None:
        """``(N,)`` int64 labels on :attr:`device`, if the data has them."""
        ...

    @property
    def preprocessing(self) -> Preprocessing:
        """How raw inputs become model inputs; a trained model stores it."""
        ...

    @property
    def streamed(self) -> bool:
        """Whether batches are read from disk (then :attr:`x` is not held)."""
        ...

    def __len__(self) -> int: ...

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one sample."""
        ...

    @property
    def device(self) -> torch.device:
        """Where batches (and labels) are delivered."""
        ...

    @property
    def nbytes(self) -> int:
        """Bytes the samples take as stored."""
        ...

    @property
    def batch_order(self) -> dict[str, int]:
        """What fixes the order of batches besides the generator (a resumed run must match it)."""
        ...

    @property
    def x(self) -> Tensor:
        """All samples as float model inputs; a streamed dataset raises ``DataError`` (use :meth:`batches`)."""
        ...

    def inputs(self, index: slice | Tensor | None = None) -> Tensor:
        """Model inputs of the samples a slice or an index tensor selects (all for ``None``)."""
        ...

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = True,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
        start: int = 0,
    ) -> Iterator[Tensor]:
        """Yield batches of float model inputs on :attr:`device`, every sample once per epoch.

        ``shuffle`` draws the epoch's order from ``generator``; ``drop_last`` leaves out a last,
        smaller batch; ``start`` skips the first batches to resume mid-epoch: with the generator in
        its epoch-start state, a resumed epoch sees the same remaining batches as the uninterrupted
        one. A ``batch_size`` that is not a positive integer, or a negative ``start``, raises
        ``DataError`` (:func:`check_batch_request`).
        """
        ...

    def num_batches(self, batch_size: int, *, drop_last: bool = False) -> int:
        """How many batches :meth:`batches` yields per epoch (:func:`count_batches`)."""
        ...

    def to(self, device: str | torch.device) -> Dataset:
        """The same samples, with batches and labels delivered on ``device``."""
        ...

    def subset(self, index: int | slice | Tensor) -> Dataset:
        """The first ``index`` samples (an int), or those selected by a slice or an index tensor."""
        ...

    def split(self, fraction: float, *, seed: int = 0) -> tuple[Dataset, Dataset]:
        """``(train, val)``: a random ``fraction`` split off as validation (:func:`split_positions`)."""
        ...


def check_batch_request(batch_size: int, start: int) -> None:
    """Raise :class:`~aezoo.core.errors.DataError` unless ``batch_size`` > 0 and ``start`` >= 0.

    >>> check_batch_request(0, 0)
    Traceback (most recent call last):
    aezoo.core.errors.DataError: batch_size must be a positive integer, got 0
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise DataError(f"batch_size must be a positive integer, got {batch_size!r}")
    if start < 0:
        raise DataError(f"start must be a batch number >= 0, got {start!r}")


def count_batches(n: int, batch_size: int, *, drop_last: bool = False) -> int:
    """Batches of ``batch_size`` in ``n`` samples: the last one partial unless ``drop_last``.

    >>> count_batches(10, 4), count_batches(10, 4, drop_last=True)
    (3, 2)
    """
    return n // batch_size if drop_last else -(-n // batch_size)


def split_positions(n: int, fraction: float, *, seed: int, name: str) -> tuple[Tensor, Tensor]:
    """Sorted CPU positions ``(train, val)`` of a split of ``n`` samples, ``fraction`` of them validation.

    The same ``seed`` gives the same split on every device and for both kinds of dataset; at least
    one sample lands on each side.

    >>> train, val = split_positions(10, 0.2, seed=0, name="toy")
    >>> len(train), len(val), sorted(train.tolist() + val.tolist()) == list(range(10))
    (8, 2, True)
    """
    if not 0.0 < fraction < 1.0:
        raise DataError(f"validation fraction must be between 0 and 1 (exclusive), got {fraction!r}")
    if n < 2:
        raise DataError(f"cannot split {name or 'a dataset'!r} of {n} sample(s) into train and validation")
    n_val = min(max(round(n * fraction), 1), n - 1)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed)))
    return perm[n_val:].sort().values, perm[:n_val].sort().values
