"""A dataset held whole, as one tensor on the training device; an epoch is a handful of tensor slices.

:class:`DeviceDataset` is what every loader of this package returns unless the data is streamed:
the built-in sets (:mod:`aezoo.data.builtin`) and your own files (:mod:`aezoo.data.files`) end in
:func:`_finish`, which checks the samples once (non-empty, finite, one label each), chooses their
:class:`~aezoo.data.preprocessing.Preprocessing` and moves them to the device, so that the training
loop does not have to.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from typing import ClassVar

import torch
from torch import Tensor

from ..core.errors import DataError
from .base import check_batch_request, count_batches, split_positions
from .preprocessing import Preprocessing

__all__ = ["DeviceDataset"]


@dataclasses.dataclass(init=False, repr=False, eq=False)
class DeviceDataset:
    """A whole split as one tensor on one device; an epoch is a handful of tensor slices.

    ``x`` as given is kept as it is: uint8 pixels stay bytes (a quarter of float32's memory) and
    are mapped through ``preprocessing`` batch by batch, with the same arithmetic as mapping them
    all at once, so every batch is bit-identical to the float32 one; float data is kept as model
    inputs (already preprocessed). Without ``preprocessing``, uint8 gets ``scale=1/255``.

    >>> ds = DeviceDataset(torch.rand(10, 1, 28, 28), name="random")
    >>> [b.shape[0] for b in ds.batches(4, shuffle=False)]
    [4, 4, 2]
    >>> pixels = DeviceDataset(torch.full((3, 1, 2, 2), 255, dtype=torch.uint8))
    >>> pixels.data.dtype, next(pixels.batches(2)).dtype, pixels.x.max().item()
    (torch.uint8, torch.float32, 1.0)
    """

    data: Tensor  # (N, *shape) as stored: raw uint8 pixels, or float32 model inputs
    y: Tensor | None  # (N,) int64 labels, if the data has them
    preprocessing: Preprocessing  # raw -> model inputs
    name: str  # e.g. "mnist/train"
    streamed: ClassVar[bool] = False  # held whole in memory (a StreamedDataset reads from disk)

    def __init__(
        self,
        x: Tensor | None = None,
        y: Tensor | None = None,
        preprocessing: Preprocessing | None = None,
        name: str = "",
        *,
        data: Tensor | None = None,
    ) -> None:
        # ``data=`` is how dataclasses.replace passes the stored tensor; new samples (``x``) win.
        stored = x if x is not None else data
        if stored is None:
            raise DataError("DeviceDataset needs its samples: DeviceDataset(x, y=None, preprocessing=None, name='')")
        if preprocessing is None:
            preprocessing = Preprocessing(scale=1 / 255) if stored.dtype == torch.uint8 else Preprocessing()
        self.data, self.y, self.preprocessing, self.name = stored, y, preprocessing, name

    def __repr__(self) -> str:
        return (
            f"DeviceDataset(name={self.name!r}, n={len(self)}, shape={self.shape}, stored={self.data.dtype}, "
            f"device={str(self.device)!r})"
        )

    def __len__(self) -> int:
        return int(self.data.shape[0])

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one sample.

        >>> DeviceDataset(torch.zeros(5, 1, 28, 28)).shape
        (1, 28, 28)
        """
        return tuple(self.data.shape[1:])

    @property
    def device(self) -> torch.device:
        """Where the samples live.

        >>> DeviceDataset(torch.zeros(2, 3)).device
        device(type='cpu')
        """
        return self.data.device

    @property
    def nbytes(self) -> int:
        """Bytes the samples take as stored.

        >>> DeviceDataset(torch.zeros(2, 3, dtype=torch.uint8)).nbytes
        6
        """
        return self.data.numel() * self.data.element_size()

    @property
    def x(self) -> Tensor:
        """All samples as float model inputs, ``(N, *shape)``.

        For byte-stored images this builds a float32 copy of the whole split on every access (4
        bytes per pixel): use :meth:`batches` or :meth:`inputs` for parts of a large dataset.

        >>> DeviceDataset(torch.tensor([[0, 51]], dtype=torch.uint8)).x
        tensor([[0.0000, 0.2000]])
        """
        return self._model_inputs(self.data)

    @property
    def batch_order(self) -> dict[str, int]:
        """What fixes the order of batches besides the generator: nothing (one permutation)."""
        return {}

    def _model_inputs(self, stored: Tensor) -> Tensor:
        # Element by element the same arithmetic as mapping the whole split at once.
        return stored if stored.is_floating_point() else self.preprocessing.apply(stored).float()

    def inputs(self, index: slice | Tensor | None = None) -> Tensor:
        """Model inputs of the samples a slice or an index tensor selects (all for ``None``).

        >>> DeviceDataset(torch.tensor([[0], [255]], dtype=torch.uint8)).inputs(slice(1, 2))
        tensor([[1.]])
        """
        return self._model_inputs(self.data if index is None else self.data[index])

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = True,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
        start: int = 0,
    ) -> Iterator[Tensor]:
        """:meth:`Dataset.batches <aezoo.data.base.Dataset.batches>`: one permutation per epoch.

        The permutation is drawn whole before ``start`` batches are skipped, so the generator ends
        an epoch in the same state whatever ``start`` is.

        >>> ds = DeviceDataset(torch.arange(6.0).view(6, 1))
        >>> [b.flatten().tolist() for b in ds.batches(4, shuffle=False, start=1)]
        [[4.0, 5.0]]
        """
        check_batch_request(batch_size, start)
        n = len(self)
        order = None
        if shuffle:
            gen_device = generator.device if generator is not None else "cpu"
            order = torch.randperm(n, generator=generator, device=gen_device).to(self.device)
        stop = n - n % batch_size if drop_last else n
        for i in range(start * batch_size, stop, batch_size):
            part = self.data[order[i : i + batch_size]] if order is not None else self.data[i : i + batch_size]
            yield self._model_inputs(part)

    def check_finite(self) -> None:
        """Raise :class:`~aezoo.core.errors.DataError` if ``x`` holds NaN or infinite values.

        >>> DeviceDataset(torch.tensor([[1.0], [float("nan")]]), name="t").check_finite()  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        aezoo.core.errors.DataError: 't' has 1 NaN or infinite value(s) out of 2 (first in sample 1); ...
        """
        _check_finite(self.data, self.name or "the data")  # bytes are finite: only float data is looked at

    def num_batches(self, batch_size: int, *, drop_last: bool = False) -> int:
        """How many batches :meth:`batches` yields per epoch.

        >>> ds = DeviceDataset(torch.zeros(10, 3))
        >>> ds.num_batches(4), ds.num_batches(4, drop_last=True)
        (3, 2)
        """
        return count_batches(len(self), batch_size, drop_last=drop_last)

    def to(self, device: str | torch.device) -> DeviceDataset:
        """The same dataset with its samples and labels on ``device``.

        >>> DeviceDataset(torch.zeros(2, 3)).to("cpu").device
        device(type='cpu')
        """
        y = self.y.to(device) if self.y is not None else None
        return dataclasses.replace(self, data=self.data.to(device), y=y)

    def subset(self, index: int | slice | Tensor) -> DeviceDataset:
        """The first ``index`` samples (an int), or those selected by a slice or index tensor.

        >>> len(DeviceDataset(torch.zeros(10, 3)).subset(4))
        4
        """
        if isinstance(index, int):
            index = slice(0, index)
        y = self.y[index] if self.y is not None else None
        return dataclasses.replace(self, data=self.data[index], y=y)

    def filter_classes(
        self, classes: Iterable[int] | None = None, *, exclude: Iterable[int] | None = None
    ) -> DeviceDataset:
        """Only the samples whose label is in ``classes`` and not in ``exclude`` (e.g. normal data for
        anomaly detection: ``train.filter_classes(exclude=[0])``).

        >>> ds = DeviceDataset(torch.zeros(4, 2), y=torch.tensor([0, 1, 2, 1]), name="toy")
        >>> ds.filter_classes(exclude=[1]).y.tolist(), ds.filter_classes([1]).name
        ([0, 2], 'toy[classes=1]')
        """
        if self.y is None:
            raise DataError(f"{self.name or 'the dataset'!r} has no labels, so it cannot be filtered by class")
        present = sorted(set(self.y.unique().tolist()))
        keep = torch.ones(len(self), dtype=torch.bool, device=self.y.device)
        tags = []
        for values, inside, tag in ((classes, True, "classes"), (exclude, False, "exclude")):
            if values is None:
                continue
            values = sorted({int(v) for v in values})
            missing = [v for v in values if v not in present]
            if missing:
                raise DataError(
                    f"class(es) {', '.join(map(str, missing))} not in {self.name or 'the dataset'!r}; its labels "
                    f"are {', '.join(map(str, present))}"
                )
            member = torch.isin(self.y, torch.tensor(values, device=self.y.device))
            keep &= member if inside else ~member
            tags.append(f"{tag}={','.join(map(str, values))}")
        if not bool(keep.any()):
            raise DataError(f"no samples of {self.name or 'the dataset'!r} are left after {' '.join(tags)}")
        out = self.subset(keep.nonzero().flatten())
        return dataclasses.replace(out, name=f"{self.name}[{' '.join(tags)}]") if tags else out

    def split(self, fraction: float, *, seed: int = 0) -> tuple[DeviceDataset, DeviceDataset]:
        """Split off a random ``fraction`` of the samples as a validation set: ``(train, val)``.

        The same ``seed`` gives the same split on every device; both parts keep the original order.

        >>> train, val = DeviceDataset(torch.rand(10, 3)).split(0.2, seed=0)
        >>> len(train), len(val)
        (8, 2)
        """
        train_idx, val_idx = split_positions(len(self), fraction, seed=seed, name=self.name)
        train = dataclasses.replace(self.subset(train_idx.to(self.device)), name=f"{self.name}:train")
        val = dataclasses.replace(self.subset(val_idx.to(self.device)), name=f"{self.name}:val")
        return train, val


def _check_finite(raw: Tensor, name: str) -> None:
    if not raw.is_floating_point() or bool(torch.isfinite(raw).all()):  # one device sync when all is well
        return
    bad = ~torch.isfinite(raw)
    n_bad = int(bad.sum())
    first = int(bad.reshape(raw.shape[0], -1).any(1).nonzero()[0])
    raise DataError(
        f"{name!r} has {n_bad} NaN or infinite value(s) out of {raw.numel()} (first in sample {first}); "
        "remove or impute them before training"
    )


def _finish(
    raw: Tensor, y: Tensor | None, *, name: str, device: str | torch.device, standardise: bool = False
) -> DeviceDataset:
    """What every loader ends with: check once, choose the preprocessing, move to ``device``, apply it there."""
    if raw.shape[0] == 0 or raw.numel() == 0:
        raise DataError(f"{name!r} has no samples (shape {tuple(raw.shape)}); it must hold at least one")
    if y is not None and y.shape != (raw.shape[0],):
        raise DataError(f"{name!r} has {raw.shape[0]} samples but {y.numel()} labels")
    _check_finite(raw, name)
    if raw.dtype == torch.uint8:
        pre = Preprocessing(scale=1 / 255)
    elif standardise:
        data = raw.double()
        std = data.std(0, correction=0)
        std[std == 0] = 1.0
        pre = Preprocessing(mean=tuple(data.mean(0).tolist()), std=tuple(std.tolist()))
    else:
        pre = Preprocessing()
    raw = raw.to(device)
    y = y.to(device) if y is not None else None
    if raw.dtype == torch.uint8:  # kept as bytes; batches are scaled when they are taken
        return DeviceDataset(raw.contiguous(), y, preprocessing=pre, name=name)
    return DeviceDataset(pre.apply(raw).float().contiguous(), y, preprocessing=pre, name=name)
