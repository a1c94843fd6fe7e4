"""Every picture aezoo draws is a valid PNG, whatever model or data it is given."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from aezoo import plots


def _png_size(path: Path) -> tuple[int, int]:
    assert path.stat().st_size > 0
    with Image.open(path) as im:
        assert im.format == "PNG"
        im.verify()
    with Image.open(path) as im:
        return im.size


@pytest.mark.parametrize(
    "history",
    [
        {"epoch": [1, 2, 3], "train": {"loss": [0.3, 0.2, 0.1], "reconstruction": [0.3, 0.2, 0.1]},
         "val": {"loss": [0.35, 0.25, 0.2]}},
        {"train": {"loss": [torch.tensor(1.0), torch.tensor(-0.5)], "note": "x"}, "val": None},
        [{"epoch": 1, "train": {"loss": 0.5}}, {"epoch": 2, "train": {"loss": 0.4}}],
        {"train_loss": [1.0, 0.5], "val_loss": [1.1, 0.6], "epoch": [1, 2]},
    ],
    ids=["nested", "tensors-negative", "records", "flat"],
)
def test_loss_curve_writes_png(tmp_path: Path, history: object) -> None:
    path = plots.loss_curve(history, tmp_path / "sub" / "loss.png")
    assert path == tmp_path / "sub" / "loss.png"
    assert min(_png_size(path)) > 0
    assert not list(path.parent.glob(".*.tmp"))


def test_loss_curve_rejects_empty_history(tmp_path: Path) -> None:
    from aezoo.errors import InputError

    with pytest.raises(InputError, match="no per-epoch"):
        plots.loss_curve({"epoch": []}, tmp_path / "loss.png")
