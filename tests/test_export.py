"""`aezoo export`: the written file, run outside PyTorch's model, gives the model's outputs."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import aezoo
from aezoo.applications import export as export_module
from aezoo.applications.export import DETECTOR_PART, FORMATS, PARTS, export, load_exported, run_exported
from aezoo.cli import export as export_cli
from aezoo.cli.main import cli
from aezoo.core.errors import ExportError, InputError, MissingDependencyError, UnknownNameError

pytest.importorskip("onnxruntime", reason='the ONNX checks need pip install "aezoo[export]"')
pytest.importorskip("onnxscript", reason='the ONNX checks need pip install "aezoo[export]"')


def _tiny_vae() -> aezoo.Autoencoder:
    torch.manual_seed(0)
    return aezoo.create("vae", input_shape=(1, 8, 8), hidden_dims=(16,), latent_dim=3)


def _expected(model: aezoo.Autoencoder, part: str, x: torch.Tensor) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        if part == "encoder":
            return model.encode(x)
        if part == "decoder":
            return model.decode(x)
        return model(x).reconstruction


def _batch(model: aezoo.Autoencoder, part: str, n: int) -> torch.Tensor:
    shape = (model.latent_dim,) if part == "decoder" else model.input_shape
    return torch.rand(n, *shape)


def test_the_cli_lists_what_the_module_exports() -> None:
    assert export_cli.FORMATS == FORMATS
    assert tuple(export_cli.PARTS) == (*PARTS, DETECTOR_PART)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_bundled_encoder_runs_with_other_batch_sizes(fmt: str, tmp_path: Path) -> None:
    model = aezoo.load("conv-mnist")
    path = tmp_path / f"encoder{FORMATS[fmt]}"
    result = export(model, path, format=fmt, part="encoder")
    assert result.path == path and path.is_file()
    assert result.input_shape == (1, 28, 28) and result.output_shape == (16,)
    assert result.max_abs_diff is not None and result.max_abs_diff < 1e-5
    for n in (1, 5):  # traced with a batch of 2: the batch axis is dynamic
        x = torch.rand(n, 1, 28, 28)
        got = run_exported(path, x)
        assert got.shape == (n, 16)
        torch.testing.assert_close(got, _expected(model, "encoder", x), atol=1e-5, rtol=1e-4)
    _, meta = load_exported(path)
    assert meta["architecture"] == "conv" and meta["part"] == "encoder" and meta["format"] == fmt
    assert meta["input_shape"] == ["batch", 1, 28, 28] and "preprocessing" in meta


@pytest.mark.parametrize(("fmt", "part"), [("onnx", "decoder"), ("torchscript", "full"), ("exported-program", "full")])
def test_vae_parts_match_pytorch(fmt: str, part: str, tmp_path: Path) -> None:
    model = _tiny_vae()
    model.train()
    path = tmp_path / f"{part}{FORMATS[fmt]}"
    export(model, path, format=fmt, part=part)
    assert model.training  # the flag is restored
    x = _batch(model, part, 7)
    # the VAE's full pass is deterministic in the file: the code is the posterior mean
    torch.testing.assert_close(run_exported(path, x), _expected(model, part, x), atol=1e-5, rtol=1e-4)


def test_cli_export_of_a_bundled_model(tmp_path: Path) -> None:
    out = tmp_path / "aae-decoder.pt2"
    result = CliRunner().invoke(
        cli, ["export", "aae-mnist", "--format", "exported-program", "--part", "decoder", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "(batch, 8)" in result.output and "max |difference|" in result.output
    model = aezoo.load("aae-mnist")
    z = torch.randn(4, 8)
    torch.testing.assert_close(run_exported(out, z), _expected(model, "decoder", z), atol=1e-5, rtol=1e-4)


def test_bad_requests_are_one_clear_error(tmp_path: Path) -> None:
    model = _tiny_vae()
    with pytest.raises(UnknownNameError, match="unknown export format 'onnnx'; did you mean 'onnx'"):
        export(model, tmp_path / "m.onnx", format="onnnx")
    with pytest.raises(UnknownNameError, match="unknown model part 'discriminator'"):
        export(model, tmp_path / "m.onnx", part="discriminator")
    with pytest.raises(ExportError, match=r"torchscript files end in '\.pt'.*m\.pt'"):
        export(model, tmp_path / "m.onnx", format="torchscript")
    with pytest.raises(ExportError, match="export takes an aezoo model"):
        export(torch.nn.Linear(2, 2), tmp_path / "m.onnx")  # type: ignore[arg-type]  # the wrong type is the test
    assert not list(tmp_path.iterdir())  # nothing was written
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    with pytest.raises(ExportError, match="cannot read"):
        run_exported(tmp_path / "broken.onnx", torch.rand(1, 1, 8, 8))
    with pytest.raises(ExportError, match="no exported model"):
        load_exported(tmp_path / "missing.pt2")
    result = CliRunner().invoke(cli, ["export", "linear-mnist", "--format", "onnx", "--out", str(tmp_path / "x.pt")])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "onnx files end in '.onnx'" in result.output


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_a_batch_of_the_wrong_shape_or_dtype_is_refused_before_the_file_runs(fmt: str, tmp_path: Path) -> None:
    path = export(_tiny_vae(), tmp_path / f"m{FORMATS[fmt]}", format=fmt, part="full").path
    for x in (torch.rand(2, 1, 7, 7), torch.rand(2, 64), torch.rand(1, 8, 8), torch.tensor(1.0)):
        with pytest.raises(InputError, match=r"takes batches of shape \(N, 1, 8, 8\), got"):
            run_exported(path, x)
    with pytest.raises(InputError, match=r"takes float32 model inputs of shape \(N, 1, 8, 8\), got torch\.uint8"):
        run_exported(path, torch.zeros(2, 1, 8, 8, dtype=torch.uint8))
    assert run_exported(path, torch.rand(3, 1, 8, 8, dtype=torch.float64)).shape == (3, 1, 8, 8)


def test_missing_onnx_packages_name_the_pip_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxscript" else real(name, *a))
    with pytest.raises(MissingDependencyError, match=r'onnxscript.*pip install "aezoo\[export\]"'):
        export(_tiny_vae(), tmp_path / "m.onnx")
    assert isinstance(MissingDependencyError("x"), ImportError)


class _Branchy(type(aezoo.create("linear"))):  # type: ignore[misc]  # a base computed at run time
    """A plugin-like model whose code depends on the data's values: torch.export cannot capture it."""

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        z = super()._encode(x)
        return z if float(x.sum()) > 0 else -z


def test_an_untraceable_model_is_an_export_error(tmp_path: Path) -> None:
    model = _Branchy(aezoo.create("linear").config)
    with pytest.raises(ExportError, match=r"exported-program export failed.*try --format torchscript"):
        export(model, tmp_path / "m.pt2", format="exported-program", part="encoder")
    assert not list(tmp_path.iterdir())


def test_a_file_that_differs_from_pytorch_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = export_module.run_exported
    monkeypatch.setattr(export_module, "run_exported", lambda path, x: real(path, x) + 1e-3)
    with pytest.raises(ExportError, match="does not reproduce the PyTorch model"):
        export(_tiny_vae(), tmp_path / "m.pt", format="torchscript", part="decoder")
    assert json.dumps(export(_tiny_vae(), tmp_path / "n.pt", format="torchscript", verify=False).max_abs_diff) == "null"
