"""Datasets held as one tensor on the training device, sliced into batches by a shuffled index."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import torch
from torch import Tensor

from .preprocessing import Preprocessing

__all__ = ["DeviceDataset"]


@dataclasses.dataclass
class DeviceDataset:
    """A whole split as one tensor on one device; an epoch is a handful of tensor slices.

    >>> ds = DeviceDataset(torch.rand(10, 1, 28, 28), name="random")
    >>> [b.shape[0] for b in ds.batches(4, shuffle=False)]
    [4, 4, 2]
    """

    x: Tensor  # (N, *shape) float32, already preprocessed
    y: Tensor | None = None  # (N,) int64 labels, if the data has them
    preprocessing: Preprocessing = dataclasses.field(default_factory=Preprocessing)  # raw -> x
    name: str = ""  # e.g. "mnist/train"

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one sample."""
        return tuple(self.x.shape[1:])

    @property
    def device(self) -> torch.device:
        return self.x.device

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = True,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
        start: int = 0,
    ) -> Iterator[Tensor]:
        """Yield batches of ``x``; ``start`` skips the first batches (to resume mid-epoch)."""
        n = len(self)
        order = torch.randperm(n, generator=generator, device="cpu").to(self.x.device) if shuffle else None
        stop = n - n % batch_size if drop_last else n
        for i in range(start * batch_size, stop, batch_size):
            yield self.x[order[i : i + batch_size]] if order is not None else self.x[i : i + batch_size]

    def num_batches(self, batch_size: int, *, drop_last: bool = False) -> int:
        n = len(self)
        return n // batch_size if drop_last else -(-n // batch_size)

    def to(self, device: str | torch.device) -> DeviceDataset:
        y = self.y.to(device) if self.y is not None else None
        return dataclasses.replace(self, x=self.x.to(device), y=y)

    def subset(self, index: int | slice | Tensor) -> DeviceDataset:
        """The first ``index`` samples (an int), or those selected by a slice or index tensor."""
        if isinstance(index, int):
            index = slice(0, index)
        y = self.y[index] if self.y is not None else None
        return dataclasses.replace(self, x=self.x[index], y=y)
