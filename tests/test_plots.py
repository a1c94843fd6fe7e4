"""Every picture aezoo draws is a valid PNG, whatever model or data it is given."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

import aezoo
from aezoo.core.errors import InputError
from aezoo.data import DeviceDataset
from aezoo.evaluation import plots
from aezoo.models.linear import LinearAE

# Architectures still being written warn once on discovery; that is not what these tests check.
pytestmark = pytest.mark.filterwarnings("ignore::aezoo.registry.PluginWarning")


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
        {
            "epoch": [1, 2, 3],
            "train": {"loss": [0.3, 0.2, 0.1], "reconstruction": [0.3, 0.2, 0.1]},
            "val": {"loss": [0.35, 0.25, 0.2]},
        },
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
    with pytest.raises(InputError, match="no per-epoch"):
        plots.loss_curve({"epoch": []}, tmp_path / "loss.png")


# ----------------------------------------------------------------------------- model pictures


class _Generative(LinearAE):
    """A test double that declares (and has) the capabilities of a VAE and a denoiser."""

    capabilities = aezoo.Capabilities(sample=True, corrupt=True)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.decode(torch.randn(n, self.latent_dim, generator=generator, device=self.device))

    def corrupt(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        noise = torch.randn(x.shape, generator=generator, device=x.device)
        return (x + 0.3 * noise).clamp(0, 1)


def _double(**overrides: object) -> _Generative:
    return _Generative(aezoo.create("linear", **overrides).config)


@pytest.mark.parametrize("n", [8, 10])
def test_reconstruction_grid_images(tmp_path: Path, n: int) -> None:
    model = aezoo.create("linear")
    model.train()
    path = plots.reconstruction_grid(model, torch.rand(12, 1, 28, 28), tmp_path / "r.png", n=n)
    w, h = _png_size(path)
    assert w > h > 28  # two-plus rows of 28-pixel images
    assert model.training  # the mode is restored


def test_reconstruction_grid_features(tmp_path: Path) -> None:
    model = aezoo.create("linear", input_shape=(20,))
    ds = DeviceDataset(torch.randn(30, 20), name="features")
    assert min(_png_size(plots.reconstruction_grid(model, ds, tmp_path / "f.png"))) > 0


@pytest.mark.parametrize("latent_dim,labels", [(2, True), (5, True), (5, False), (1, True)])
def test_latent_map(tmp_path: Path, latent_dim: int, labels: bool) -> None:
    model = aezoo.create("linear", latent_dim=latent_dim)
    y = torch.arange(50) % 10 if labels else None
    ds = DeviceDataset(torch.rand(50, 1, 28, 28), y)
    assert min(_png_size(plots.latent_map(model, ds, tmp_path / "z.png", max_points=40))) > 0


def test_sample_and_denoising_grids(tmp_path: Path) -> None:
    model = _double()
    w, h = _png_size(plots.sample_grid(model, tmp_path / "s.png", n=20))
    assert w > 28 and h > 28
    w, h = _png_size(plots.denoising_grid(model, torch.rand(8, 1, 28, 28), tmp_path / "d.png"))
    assert h > 3 * 28


def test_capabilities_are_checked(tmp_path: Path) -> None:
    model = aezoo.create("linear")
    with pytest.raises(InputError, match="sample"):
        plots.sample_grid(model, tmp_path / "s.png")
    with pytest.raises(InputError, match="corrupt"):
        plots.denoising_grid(model, torch.rand(4, 1, 28, 28), tmp_path / "d.png")
    assert not list(tmp_path.iterdir())


def test_display_undoes_normalisation_but_keeps_unit_scale() -> None:
    from aezoo.data.preprocessing import Preprocessing

    model = aezoo.create("linear")
    model.preprocessing = Preprocessing(scale=1 / 255, mean=(0.5,), std=(0.25,))
    x = torch.full((2, 1, 28, 28), 0.4)  # raw 255 * (0.4 * 0.25 + 0.5) = 153
    assert torch.allclose(plots._to_display(model, x), torch.full_like(x, 0.6))
