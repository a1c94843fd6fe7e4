"""The first hour of a new user (issue 15): data found or refused, progress, timm/Hub habits, cards, pictures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import aezoo
from aezoo.cli.main import cli
from aezoo.core import progress
from aezoo.core.errors import DataError
from aezoo.evaluation import metrics as evaluation


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


# ------------------------------------------------------------------------------------------- data
def test_a_data_root_that_does_not_exist_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DataError, match="does not exist"):
        aezoo.load_dataset("mnist", "test", root=tmp_path / "nope")
    monkeypatch.setenv("AEZOO_DATA", str(tmp_path / "nope-either"))
    with pytest.raises(DataError, match=r"nope-either.*AEZOO_DATA.*does not exist"):
        aezoo.load_dataset("mnist", "test")
    result = run("eval", "linear-mnist", "--data-dir", str(tmp_path / "nope"), "--limit", "10")
    assert result.exit_code == 1 and result.output.count("\n") == 1 and "does not exist" in result.output


def test_the_root_named_is_the_root_read(shared_data_copy: Path, tmp_path: Path) -> None:
    """Once the cache holds a split, another root must not be served from it silently."""
    assert len(aezoo.load_dataset("mnist", "test", root=shared_data_copy)) == 10000  # fills the cache
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="not found"):
        aezoo.load_dataset("mnist", "test", root=empty, download=False)
    result = run(
        "train", "linear", "--data-dir", str(empty), "--epochs", "1", "--limit", "64", "--out", str(tmp_path / "r")
    )
    assert result.exit_code == 1 and "not found" in result.output and not (tmp_path / "r").exists()


# --------------------------------------------------------------------------------------- progress
def test_progress_prints_plain_lines_when_not_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(progress.INTERVAL_ENV, "0")
    data = aezoo.DeviceDataset(torch.rand(256, 1, 28, 28), name="toy")
    aezoo.train("linear", data, epochs=2, batch_size=64)
    err = capsys.readouterr().err
    assert "epoch 1/2: 1/4 steps (25%)" in err and "eta" in err  # periodic lines, not a redrawn bar
    assert "epoch 2/2  train loss" in err  # and one summary per epoch
    assert "\r" not in err
    aezoo.train("linear", data, epochs=1, batch_size=64, progress=False)
    assert capsys.readouterr().err == ""
    progress.set_enabled(False)
    try:
        aezoo.evaluate(aezoo.create("linear"), data, batch_size=16)
        assert capsys.readouterr().err == ""
    finally:
        progress.set_enabled(None)
    monkeypatch.setenv(progress.INTERVAL_ENV, "1000")  # a short job prints nothing at all
    aezoo.evaluate(aezoo.create("linear"), data, batch_size=16)
    assert capsys.readouterr().err == ""


def test_pretrain_and_eval_progress_move_per_batch(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(progress.INTERVAL_ENV, "0")
    cfg = aezoo.LayerwiseConfig(dims=(784, 16), layer_epochs=2, finetune_epochs=0, batch_size=64, device="cpu")
    aezoo.pretrain(cfg, aezoo.DeviceDataset(torch.rand(256, 1, 28, 28)))
    err = capsys.readouterr().err
    assert "stage 1/1 784->16 plain: 1/8 steps" in err and "stage 1/1 784->16 plain: 5/8 steps" in err
    monkeypatch.setattr(evaluation, "_NLL_BATCH_DRAWS", 256)  # 2 images of 128 draws per NLL batch
    vae = aezoo.create("vae", latent_dim=4)
    aezoo.evaluate(vae, aezoo.DeviceDataset(torch.rand(8, 1, 28, 28), name="toy"), nll_samples=128)
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("eval toy")]
    counts = [ln.split(":")[1].split()[0] for ln in lines]
    assert counts[1:5] == ["10/16", "12/16", "14/16", "16/16"]  # each NLL batch of 2 images is reported


def test_quiet_switch_on_the_cli(tmp_path: Path, shared_data_copy: Path) -> None:
    env = {**os.environ, progress.INTERVAL_ENV: "0"}
    args = [sys.executable, "-m", "aezoo", "eval", "linear-mnist", "--data-dir", str(shared_data_copy), "--limit", "50"]
    loud = subprocess.run([*args, "-b", "10"], capture_output=True, text=True, env=env)
    quiet = subprocess.run([*args, "-b", "10", "--quiet"], capture_output=True, text=True, env=env)
    assert loud.returncode == quiet.returncode == 0
    assert "eval mnist/test: 10/50 samples" in loud.stderr
    assert quiet.stderr == "" and quiet.stdout == loud.stdout.replace(
        loud.stdout.split("throughput")[1], quiet.stdout.split("throughput")[1]
    )


# ------------------------------------------------------------------------------ habits of timm/Hub
def test_create_never_gives_random_weights_for_a_weights_name() -> None:
    trained = aezoo.load("linear-mnist")
    x = torch.rand(4, 1, 28, 28)
    for model in (aezoo.create("linear-mnist"), aezoo.create("linear", pretrained=True)):
        assert torch.equal(model(x).reconstruction, trained(x).reconstruction)
    fresh = aezoo.create("linear-mnist", pretrained=False)
    assert fresh.config == trained.config and not torch.equal(fresh(x).reconstruction, trained(x).reconstruction)
    assert aezoo.create("conv", pretrained=True).config == aezoo.load("conv-mnist").config
    with pytest.raises(aezoo.ConfigError, match="pretrained=False"):
        aezoo.create("conv-mnist", latent_dim=8)
    with pytest.raises(aezoo.UnknownNameError, match="did you mean 'linear'"):
        aezoo.create("linaer", pretrained=True)


def test_from_pretrained_loads_strictly_into_its_class(tmp_path: Path) -> None:
    from aezoo.models.conv import ConvAE
    from aezoo.models.linear import LinearAE

    x = torch.rand(2, 1, 28, 28)
    with pytest.raises(aezoo.ConfigError, match=r"call aezoo\.load\('conv-mnist'\)") as info:
        aezoo.Autoencoder.from_pretrained("conv-mnist")  # the base class cannot tell which architecture
    assert "aezoo.get_architecture('conv').from_pretrained('conv-mnist')" in str(info.value)
    model = ConvAE.from_pretrained("conv-mnist")
    assert type(model) is ConvAE and not model.training
    assert torch.equal(model(x).reconstruction, aezoo.load("conv-mnist")(x).reconstruction)
    again = ConvAE.from_pretrained(model.save_pretrained(tmp_path / "conv"))
    assert type(again) is ConvAE and torch.equal(again(x).reconstruction, model(x).reconstruction)
    assert LinearAE.from_pretrained("linear-mnist").config == aezoo.load("linear-mnist").config
    with pytest.raises(aezoo.UnknownNameError, match=r"linear-mnist.*aezoo\.load\('mlp-mnist'\)"):
        LinearAE.from_pretrained("mlp-mnist")  # another class's weights: not one of LinearAE's names
    vae = aezoo.create("vae").save_pretrained(tmp_path / "vae")
    with pytest.raises(aezoo.WeightsError, match="not a ConvAE") as info:
        ConvAE.from_pretrained(vae)
    assert "'vae'" in str(info.value) and "'conv'" in str(info.value)


@pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")  # huggingface_hub's LFS upload
def test_push_to_hub_publishes_the_model_in_one_commit(local_hub, tmp_path: Path) -> None:
    from huggingface_hub import HfApi

    model = aezoo.load("linear-mnist")
    commit = model.push_to_hub("me/linear", private=True, commit_message="push")
    assert local_hub.commits("me/linear")[0] == commit and HfApi().model_info("me/linear").private
    saved = model.save_pretrained(tmp_path / "m") / "model.safetensors"
    assert local_hub.file_bytes("me/linear", "model.safetensors", commit) == saved.read_bytes()
    assert "pip install aezoo\n" in local_hub.file_bytes("me/linear", "README.md", commit).decode()
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(aezoo.load(f"hf-hub:me/linear@{commit}")(x).reconstruction, model(x).reconstruction)


def test_list_models_is_case_insensitive() -> None:
    assert aezoo.list_models("VAE") == ["vae"]
    assert aezoo.list_models("Conv*", pretrained=True) == ["conv-fashion-mnist", "conv-mnist"]
    assert "vae" not in aezoo.list_models(exclude="V*")


def test_cli_suggests_commands_and_real_config_keys(tmp_path: Path) -> None:
    bad = CliRunner().invoke(cli, ["trian"])
    assert bad.exit_code == 2 and "No such command 'trian'. Did you mean 'train'" in bad.output
    result = run("train", "mlp", "--set", "latnt_dim=8", "--epochs", "1", "--out", str(tmp_path / "x"))
    assert result.exit_code == 1 and "valid keys: activation, code_activation, dims" in result.output
    assert aezoo.create("mlp", latent_dim=8).latent_dim == 8  # the common knob maps onto dims
    assert aezoo.create("deep", latent_dim=10).config.dims == (784, 1000, 500, 250, 10)


def test_float64_batch_is_an_input_error() -> None:
    model = aezoo.create("conv")
    with pytest.raises(aezoo.InputError, match=r"dtype torch.float32.*got torch.float64"):
        model(torch.rand(2, 1, 28, 28, dtype=torch.float64))
    assert model.double()(torch.rand(2, 1, 28, 28, dtype=torch.float64)).reconstruction.dtype == torch.float64


# ---------------------------------------------------------------------------------- anomaly data
def test_train_can_leave_classes_out(tmp_path: Path, shared_data_copy: Path) -> None:
    ds = aezoo.DeviceDataset(torch.rand(6, 1, 28, 28), y=torch.tensor([0, 1, 2, 0, 1, 2]), name="toy")
    assert ds.filter_classes(exclude=[0]).y.tolist() == [1, 2, 1, 2]
    assert ds.filter_classes([2], exclude=[0]).y.tolist() == [2, 2]
    with pytest.raises(DataError, match=r"class.*7 not in 'toy'; its labels are 0, 1, 2"):
        ds.filter_classes(exclude=[7])
    out = tmp_path / "run"
    args = ["train", "linear", "--data-dir", str(shared_data_copy), "--exclude-classes", "0", "--classes", "0,1"]
    result = run(*args, "--epochs", "1", "--limit", "200", "--val-fraction", "0.5", "--out", str(out), "-q")
    assert result.exit_code == 0, result.output
    training = json.loads((out / "config.json").read_text())["training"]
    assert training["data"] == "mnist/train[classes=0,1 exclude=0]:train" and training["dataset"] == "mnist"
    assert training["num_train_samples"] + training["num_val_samples"] == 200


# ------------------------------------------------------------------------------------------ cards
def test_a_model_trained_in_python_gets_a_full_card(tmp_path: Path) -> None:
    from aezoo.io.cards import build_card
    from aezoo.io.serialization import read_config

    data = aezoo.DeviceDataset(torch.rand(128, 1, 28, 28), name="mnist/train")
    model = aezoo.train("linear", data, epochs=1, batch_size=64, progress=False)
    model.save_pretrained(tmp_path / "m")
    config = read_config(tmp_path / "m")
    training = config["training"]
    assert training["recipe"] == "aezoo.train('linear', 'mnist/train', epochs=1, batch_size=64)"
    assert training["dataset"] == "mnist" and training["epochs"] == 1
    card = str(build_card(config, repo_id="me/linear"))
    assert "Dataset: `mnist`" in card and "aezoo.train('linear'" in card and "No training record" not in card
    assert aezoo.load(tmp_path / "m").config == model.config


def test_progress_front_end_follows_where_output_goes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A terminal or a Jupyter kernel gets tqdm's bar; anything else (logs, pipes, CI) plain lines."""
    import types

    from tqdm.auto import tqdm

    monkeypatch.delenv(progress.ENV, raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert isinstance(progress.bar(3, "x"), progress.LineProgress)
    shell = types.SimpleNamespace(config={"IPKernelApp": {}})
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    b = progress.bar(3, "x")
    assert isinstance(b, tqdm) and not isinstance(b, progress.LineProgress)
    b.close()
    monkeypatch.setenv(progress.ENV, "lines")  # plain lines on request, even in a notebook
    assert isinstance(progress.bar(3, "x"), progress.LineProgress)
    monkeypatch.setenv(progress.ENV, "0")
    assert progress.bar(3, "x").disable
