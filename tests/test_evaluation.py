"""Evaluation metrics against hand computations, and the ``eval``/``reconstruct`` commands."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import aezoo
from aezoo.core.errors import InputError
from aezoo.data import DeviceDataset
from aezoo.data.preprocessing import Preprocessing
from aezoo.evaluation.metrics import PSNR_MAX_DB, evaluate, format_table, model_inputs
from aezoo.models.base import AEOutput
from aezoo.models.linear import LinearAE, LinearConfig

# Architectures still being written warn once on discovery; that is not what these tests check.
pytestmark = pytest.mark.filterwarnings("ignore::aezoo.registry.PluginWarning")


class _Identity(LinearAE):
    def _forward(self, x: torch.Tensor) -> AEOutput:
        return AEOutput(reconstruction=x.clone(), latent=self._encode(x))


class _Constant(LinearAE):
    def _forward(self, x: torch.Tensor) -> AEOutput:
        return AEOutput(reconstruction=torch.full_like(x, 0.5), latent=self._encode(x))


class _WithMetrics(_Constant):
    """Stands in for the VAE: per-sample values we can average by hand."""

    seen: list[dict[str, Any]]

    def evaluation_metrics(self, x: torch.Tensor, **options: Any) -> dict[str, torch.Tensor]:
        self.seen.append(options)
        out = {"neg_elbo": x.flatten(1).sum(1)}
        if options.get("nll_samples", 0) > 0:
            out["nll"] = torch.full((len(x),), float(options["nll_samples"]))
        return out


def _binary(n: int = 5, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, 28, 28, generator=g) > 0.7).float()


def test_identity_model_is_perfect() -> None:
    m = evaluate(_Identity(LinearConfig()), DeviceDataset(_binary(), name="bits"), batch_size=2)
    assert m["mse"] == 0 and m["sse_per_image"] == 0 and m["bce"] == 0
    assert m["psnr"] == PSNR_MAX_DB  # finite, so tables and JSON stay readable
    assert m["n"] == 5 and m["dataset"] == "bits"
    assert m["throughput"] > 0


def test_constant_model_matches_hand_computation() -> None:
    x = torch.rand(7, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    m = evaluate(_Constant(LinearConfig()), DeviceDataset(x), batch_size=3)
    err = (x.double() - 0.5) ** 2
    assert m["mse"] == pytest.approx(err.mean().item(), rel=1e-9)
    assert m["sse_per_image"] == pytest.approx(784 * m["mse"], rel=1e-9)
    assert m["psnr"] == pytest.approx((-10 * torch.log10(err.flatten(1).mean(1))).mean().item(), rel=1e-9)
    assert m["bce"] == pytest.approx(math.log(2), rel=1e-6)


def test_psnr_and_bce_need_unit_range_data() -> None:
    m = evaluate(_Constant(LinearConfig()), DeviceDataset(torch.randn(4, 1, 28, 28)))
    assert "psnr" not in m and "bce" not in m
    assert m["mse"] > 0


def test_model_metrics_are_averaged_and_get_options() -> None:
    model = _WithMetrics(LinearConfig())
    model.seen = []
    x = _binary(5)
    m = evaluate(model, DeviceDataset(x), batch_size=2, nll_samples=3)
    assert m["neg_elbo"] == pytest.approx(x.flatten(1).sum(1).mean().item())
    assert m["nll"] == 3.0
    assert model.seen == [{"nll_samples": 3}] * 3  # three batches: 2, 2, 1
    model.seen = []
    assert "nll" not in evaluate(model, DeviceDataset(x))


def test_limit_device_and_mode() -> None:
    model = aezoo.create("linear")
    model.train()
    m = evaluate(model, DeviceDataset(torch.rand(10, 1, 28, 28)), limit=4, device="cpu")
    assert m["n"] == 4 and model.training


def test_shape_mismatch_names_both_shapes() -> None:
    model = aezoo.create("linear", input_shape=(20,))
    with pytest.raises(InputError, match=r"\(1, 28, 28\).*\(20,\)"):
        evaluate(model, DeviceDataset(torch.rand(3, 1, 28, 28), name="mnist/test"))


def test_dataset_is_mapped_into_model_space() -> None:
    model = _Constant(LinearConfig())
    model.preprocessing = Preprocessing(scale=1 / 255)  # as trained on 8-bit images
    ds = DeviceDataset(torch.zeros(3, 1, 28, 28), preprocessing=Preprocessing(scale=1 / 255, mean=(0.5,)))
    assert torch.allclose(model_inputs(model, ds), torch.full((3, 1, 28, 28), 0.5))
    assert evaluate(model, ds)["mse"] == pytest.approx(0, abs=1e-12)
    model.preprocessing = Preprocessing()  # never trained: takes the dataset's inputs as they are
    assert model_inputs(model, ds) is ds.x


def test_format_table() -> None:
    text = format_table({"dataset": "mnist/test", "n": 3, "mse": 0.0123456789, "psnr": 20.5, "throughput": 12345.6})
    lines = text.splitlines()
    assert lines[0].split() == ["dataset", "mnist/test"]
    assert lines[2].split() == ["mse", "0.0123457"]
    assert lines[3].endswith("20.5 dB")
    assert lines[4].split() == ["throughput", "12,346", "samples/s"]
    assert len({line.index(line.split()[1]) for line in lines}) == 1  # values aligned


# ----------------------------------------------------------------------------- CLI
@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    return aezoo.create("linear").save_pretrained(tmp_path / "linear")


@pytest.fixture
def fake_data(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """``load_dataset`` replaced by random images, so these tests need no download."""
    calls: list[tuple[Any, ...]] = []

    def load_dataset(name: str, split: str = "train", *, root: Any = None, device: Any = "cpu", **_: Any) -> Any:
        calls.append((name, split, root, device))
        x = torch.rand(30, 1, 28, 28, generator=torch.Generator().manual_seed(0))
        return DeviceDataset(x, torch.arange(30) % 10, name=f"{name}/{split}").to(device)

    monkeypatch.setattr("aezoo.data.load_dataset", load_dataset, raising=False)
    return calls


def _invoke(*args: str) -> Any:
    from aezoo.cli.main import cli

    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_cli_eval_table_json_and_out(model_dir: Path, tmp_path: Path, fake_data: list) -> None:
    r = _invoke("eval", str(model_dir), "--limit", "12", "--device", "cpu", "--data-dir", str(tmp_path))
    assert r.exit_code == 0, r.output
    assert "mse" in r.output and "mnist/test" in r.output
    assert fake_data == [("mnist", "test", str(tmp_path), "cpu")]
    out = tmp_path / "m" / "metrics.json"
    r = _invoke("eval", str(model_dir), "--json", "--out", str(out), "--split", "val", "--batch-size", "5")
    assert r.exit_code == 0, r.output
    printed = json.loads(r.output)
    assert printed == json.loads(out.read_text())
    assert printed["n"] == 30 and printed["dataset"] == "mnist/val" and printed["mse"] > 0


def test_cli_reconstruct(model_dir: Path, tmp_path: Path, fake_data: list) -> None:
    out = tmp_path / "grid.png"
    r = _invoke("reconstruct", str(model_dir), "--out", str(out), "--n", "8", "--device", "cpu")
    assert r.exit_code == 0, r.output
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size[0] > im.size[1] > 28


def test_cli_unknown_model_is_one_line_error(tmp_path: Path, fake_data: list) -> None:
    from aezoo.cli.main import cli

    r = CliRunner().invoke(cli, ["eval", "no-such-model"])
    assert r.exit_code == 1
    assert "no-such-model" in r.output and len(r.output.strip().splitlines()) == 1
    assert "Traceback" not in r.output


def test_cli_eval_real_mnist(model_dir: Path, shared_data_copy: Path) -> None:
    r = _invoke("eval", str(model_dir), "--data-dir", str(shared_data_copy), "--limit", "200", "--json", "-b", "64")
    assert r.exit_code == 0, r.output
    m = json.loads(r.output)
    assert m["n"] == 200 and 0 < m["mse"] < 1 and "psnr" in m
