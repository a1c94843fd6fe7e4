"""Latent interpolation: between two inputs for every model, between prior draws for the VAE and AAE."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import aezoo
from aezoo.applications.interpolation import (
    METHODS,
    interpolate,
    interpolate_codes,
    interpolation_grid,
    prior_interpolation,
)
from aezoo.cli import interpolation as interpolation_cli
from aezoo.cli.main import cli
from aezoo.core.errors import InputError, UnknownNameError

SHAPE = (1, 8, 8)


def test_code_paths_linear_and_slerp() -> None:
    z0, z1 = torch.randn(4, 6), torch.randn(4, 6)
    for method in METHODS:
        path = interpolate_codes(z0, z1, steps=7, method=method)
        assert path.shape == (4, 7, 6)
        torch.testing.assert_close(path[:, 0], z0)
        torch.testing.assert_close(path[:, -1], z1)
    linear = interpolate_codes(z0, z1, steps=3)
    torch.testing.assert_close(linear[:, 1], (z0 + z1) / 2)
    # slerp between two codes of equal norm stays on their sphere; the straight line cuts inside it
    a, b = torch.tensor([[3.0, 0.0]]), torch.tensor([[0.0, 3.0]])
    slerp = interpolate_codes(a, b, steps=5, method="slerp")
    torch.testing.assert_close(slerp.norm(dim=-1), torch.full((1, 5), 3.0))
    assert float(interpolate_codes(a, b, steps=3)[0, 1].norm()) < 2.2
    # opposite ends: no great circle is defined, the walk falls back to the line
    torch.testing.assert_close(interpolate_codes(a, -a, steps=3, method="slerp")[0, 1], torch.zeros(2))
    with pytest.raises(UnknownNameError, match="did you mean 'slerp'"):
        interpolate_codes(z0, z1, method="slurp")
    with pytest.raises(InputError, match="steps must be an integer >= 2"):
        interpolate_codes(z0, z1, steps=1)
    with pytest.raises(InputError, match="same shape"):
        interpolate_codes(z0, z1[:2])


@pytest.mark.parametrize("arch", aezoo.list_models())
def test_every_architecture_interpolates_between_inputs(arch: str) -> None:
    torch.manual_seed(0)
    shape = (1, 16, 16) if arch == "conv" else SHAPE  # strided convolutions want a few halvings
    sizes = {"denoising": {"dims": (256 if arch == "conv" else 64, 8)}, "vae": {"hidden_dims": (16,), "latent_dim": 3}}
    overrides = sizes.get(arch, {})
    try:
        model = aezoo.create(arch, input_shape=shape, **overrides)
    except aezoo.ConfigError:  # families that take dims rather than latent_dim
        model = aezoo.create(arch, input_shape=shape, dims=(shape[-1] * shape[-2], 8))
    model.train()
    a, b = torch.rand(2, *shape), torch.rand(2, *shape)
    paths = interpolate(model, a, b, steps=5)
    assert paths.shape == (2, 5, *shape)
    assert model.training  # restored
    model.eval()
    with torch.no_grad():  # the ends are the reconstructions of the two inputs
        torch.testing.assert_close(paths[:, 0], model(a).reconstruction)
        torch.testing.assert_close(paths[:, -1], model(b).reconstruction)


def test_a_linear_decoder_maps_the_midpoint_to_the_mean_of_the_ends() -> None:
    torch.manual_seed(0)
    model = aezoo.create("linear", input_shape=SHAPE, latent_dim=2)
    paths = interpolate(model, torch.rand(*SHAPE), torch.rand(*SHAPE), steps=3)  # single inputs, no batch axis
    assert paths.shape == (1, 3, *SHAPE)
    torch.testing.assert_close(paths[0, 1], (paths[0, 0] + paths[0, 2]) / 2)
    with pytest.raises(InputError, match=r"shape \(N, 1, 8, 8\)"):
        interpolate(model, torch.rand(2, 64), torch.rand(2, 64))
    with pytest.raises(InputError, match="same shape"):
        interpolate(model, torch.rand(2, *SHAPE), torch.rand(3, *SHAPE))
    with pytest.raises(InputError, match="empty"):
        interpolate(model, torch.rand(0, *SHAPE), torch.rand(0, *SHAPE))


def test_prior_paths_need_a_prior() -> None:
    vae = aezoo.create("vae", input_shape=SHAPE, hidden_dims=(16,), latent_dim=3)
    first = prior_interpolation(vae, 3, steps=4, seed=1)
    assert first.shape == (3, 4, *SHAPE)
    torch.testing.assert_close(prior_interpolation(vae, 3, steps=4, seed=1), first)  # the seed repeats the draw
    aae = aezoo.create("aae", input_shape=SHAPE, hidden_dims=(16,), disc_hidden_dims=(8,), latent_dim=2)
    assert prior_interpolation(aae, 2, steps=3, seed=0, method="linear").shape == (2, 3, *SHAPE)
    with pytest.raises(InputError, match="no prior to draw from"):
        prior_interpolation(aezoo.create("linear"), 2)
    with pytest.raises(InputError, match="positive integer"):
        prior_interpolation(vae, 0)


def test_pictures_of_images_and_of_feature_vectors(tmp_path: Path) -> None:
    model = aezoo.create("linear", input_shape=SHAPE)
    a, b = torch.rand(2, *SHAPE), torch.rand(2, *SHAPE)
    path = interpolation_grid(model, interpolate(model, a, b, steps=4), tmp_path / "i.png", ends=(a, b))
    assert Image.open(path).size == (6 * 10 + 2, 2 * 10 + 2)  # 4 steps + 2 ends per row, 8 px + 2 px padding
    tabular = aezoo.create("linear", input_shape=(5,))
    path = interpolation_grid(tabular, interpolate(tabular, torch.rand(2, 5), torch.rand(2, 5)), tmp_path / "t.png")
    assert Image.open(path).format == "PNG"


def test_cli_on_bundled_models(shared_data_copy: Path, tmp_path: Path) -> None:
    assert interpolation_cli.METHODS == METHODS
    runner = CliRunner()
    data = ["--data-dir", str(shared_data_copy)]
    out = tmp_path / "conv.png"
    result = runner.invoke(
        cli, ["interpolate", "conv-mnist", *data, "--pair", "0,1", "--steps", "6", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "1 paths of 6 steps" in result.output and Image.open(out).size == (8 * 30 + 2, 30 + 2)
    out = tmp_path / "vae.png"
    result = runner.invoke(cli, ["interpolate", "vae-mnist", "--prior", "--n", "3", "--seed", "0", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert Image.open(out).size == (8 * 30 + 2, 3 * 30 + 2)
    for args, message in [
        (["conv-mnist", "--prior"], "has no prior to draw from"),
        (["conv-mnist", *data, "--pair", "0,99999"], "--pair index 99999 is out of range"),
        (["conv-mnist", *data, "--pair", "0"], "is not two sample indices"),
    ]:
        result = runner.invoke(cli, ["interpolate", *args, "--out", str(tmp_path / "x.png")])
        assert result.exit_code != 0 and message in result.output, result.output
    assert not (tmp_path / "x.png").exists()
