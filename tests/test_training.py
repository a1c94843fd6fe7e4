"""The trainer end to end: loss falls, files, early stopping, bit-identical resume, DDP, the CLI."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

import aezoo
from aezoo.cli.main import cli
from aezoo.core.errors import ConfigError, TrainingError
from aezoo.core.seeding import seeded
from aezoo.data.preprocessing import Preprocessing
from aezoo.models.linear import LinearAE
from aezoo.training import History, TrainConfig, Trainer
from aezoo.training.augment import random_shift
from aezoo.training.checkpoint import CHECKPOINT_TENSORS, PREVIOUS_TENSORS, read_checkpoint

SCRIPT = Path(__file__).with_name("_train_script.py")


def toy(n: int = 512, seed: int = 0) -> aezoo.DeviceDataset:
    """Images on a 2-D plane: a 2-unit linear autoencoder can learn them exactly."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(n, 2, generator=g) @ torch.randn(2, 784, generator=g)).view(n, 1, 28, 28) * 0.1
    return aezoo.DeviceDataset(x, preprocessing=Preprocessing(scale=1 / 255), name="toy")


def linear() -> LinearAE:
    torch.manual_seed(0)
    return aezoo.create("linear")


# ---------------------------------------------------------------------------- in-process runs
def test_loss_falls_and_the_run_directory_loads(tmp_path: Path) -> None:
    out = tmp_path / "run"
    model = linear()
    cfg = TrainConfig(epochs=3, batch_size=64, lr=1e-2, schedule="constant")
    history = Trainer(model, cfg, out_dir=out, progress=False).fit(toy())
    assert history.train["loss"][-1] < 0.6 * history.train["loss"][0]
    assert history.val["loss"][-1] < history.val["loss"][0]
    assert len(history.epoch) == len(history.lr) == len(history.samples_per_s) == 3

    saved = json.loads((out / "history.json").read_text())
    assert saved == json.loads(json.dumps(history.to_dict()))
    loaded = aezoo.load(out)
    x = toy(8).x
    assert torch.equal(loaded.encode(x), model.encode(x))
    assert loaded.preprocessing == Preprocessing(scale=1 / 255)  # copied from the dataset
    recipe = json.loads((out / "config.json").read_text())["training"]
    assert (
        recipe["seed"] == 0 and recipe["epochs"] == 3 and recipe["dataset"] == "toy" and recipe["data"] == "toy:train"
    )
    assert TrainConfig.from_dict(recipe["train_config"]) == cfg
    for key in ("wall_time_s", "device", "hardware", "aezoo_version", "final_val_loss"):
        assert key in recipe
    assert (out / "checkpoint.json").is_file() and (out / CHECKPOINT_TENSORS).is_file()
    if importlib.util.find_spec("aezoo.evaluation.plots") is not None:
        assert (out / "loss_curve.png").stat().st_size > 0


class _Stuck(LinearAE):
    """Never improves: constant loss, no parameter updates."""

    def _loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"loss": x.new_ones(()) + 0 * self.encoder.weight.sum()}


def test_early_stopping_stops_after_patience_epochs() -> None:
    model = _Stuck(aezoo.create("linear").config)
    seen = []
    history = Trainer(
        model,
        TrainConfig(epochs=10, patience=2, batch_size=128),
        progress=False,
        callbacks=[lambda e: seen.append(e.epoch) if e.kind == "epoch" else None],
    ).fit(toy(256))
    assert history.stopped_early and history.epoch == [1, 2, 3] and history.best_epoch == 1
    assert seen == [0, 1, 2]


def test_train_config_round_trips_and_rejects_bad_values() -> None:
    cfg = TrainConfig(epochs=2, optimizer="sgd", schedule="onecycle", compile=True)
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ConfigError, match=r"optimizr.*did you mean 'optimizer'"):
        TrainConfig.from_dict({"optimizr": "adam"})
    with pytest.raises(ConfigError, match="unknown schedule 'linear'"):
        TrainConfig(schedule="linear")


@pytest.mark.parametrize("optimizer,schedule", [("adamw", "onecycle"), ("sgd", "cosine")])
def test_optimizers_and_schedules_train(optimizer: str, schedule: str) -> None:
    cfg = TrainConfig(epochs=2, batch_size=64, lr=1e-2, optimizer=optimizer, schedule=schedule, val_fraction=0)
    history = Trainer(linear(), cfg, progress=False).fit(toy(256))
    assert history.train["loss"][-1] < history.train["loss"][0]
    assert history.val == {}


def test_resume_errors_say_what_differs(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match=r"no checkpoint to resume from.*drop --resume"):
        Trainer(linear(), TrainConfig(epochs=1), out_dir=tmp_path / "empty", progress=False).fit(toy(128), resume=True)
    Trainer(linear(), TrainConfig(epochs=1, lr=1e-3), out_dir=tmp_path / "run", progress=False).fit(toy(128))
    with pytest.raises(TrainingError, match=r"lr 0\.001 \(checkpoint\) vs 0\.01 \(now\).*fresh --out"):
        Trainer(linear(), TrainConfig(epochs=1, lr=1e-2), out_dir=tmp_path / "run", progress=False).fit(
            toy(128), resume=True
        )
    with pytest.raises(TrainingError, match=r"model latent_dim 2 .checkpoint. vs 3"):
        Trainer(
            aezoo.create("linear", latent_dim=3), TrainConfig(epochs=1), out_dir=tmp_path / "run", progress=False
        ).fit(toy(128), resume=True)


def test_an_interrupted_checkpoint_write_falls_back_to_the_previous_pair(tmp_path: Path) -> None:
    Trainer(linear(), TrainConfig(epochs=1), out_dir=tmp_path, progress=False).fit(toy(128))
    meta, tensors = read_checkpoint(tmp_path)
    # A kill after the new tensors were written but before the JSON naming them:
    os.replace(tmp_path / CHECKPOINT_TENSORS, tmp_path / PREVIOUS_TENSORS)
    (tmp_path / CHECKPOINT_TENSORS).write_bytes(b"half-written")
    with pytest.warns(UserWarning, match="interrupted"):
        meta2, tensors2 = read_checkpoint(tmp_path)
    assert meta2 == meta and all(torch.equal(tensors[k], tensors2[k]) for k in tensors)
    (tmp_path / PREVIOUS_TENSORS).unlink()
    with pytest.raises(TrainingError, match="corrupted"):
        read_checkpoint(tmp_path)


# ---------------------------------------------------------------------------- subprocess runs
def _script(out: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), str(out), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _torchrun(out: Path, *args: str) -> subprocess.Popen:
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [str(torchrun), "--standalone", "--nproc_per_node", "2", str(SCRIPT), str(out), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait(p: subprocess.Popen, expect: int = 0) -> None:
    output, _ = p.communicate(timeout=180)
    assert p.returncode == expect, output


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An uninterrupted run, a run killed mid-epoch then resumed, and a 2-process DDP run, in parallel."""
    root = tmp_path_factory.mktemp("runs")
    dirs = {name: root / name for name in ("reference", "killed", "ddp")}
    common = ("--epochs", "3", "--checkpoint-every", "5")
    reference = _script(dirs["reference"], *common)
    killed = _script(dirs["killed"], *common, "--kill-at", "1:7")  # epoch 2, after step 7 (mid-epoch checkpoint at 3)
    ddp = _torchrun(dirs["ddp"], *common, "--batch-size", "8")  # 2 x 8 = the reference's 16 per step
    _wait(killed, -9)
    assert not (dirs["killed"] / "model.safetensors").exists()
    resumed = _script(dirs["killed"], *common, "--resume")
    for p in (reference, resumed, ddp):
        _wait(p)
    return dirs


@pytest.mark.slow  # subprocesses: a SIGKILLed run and torchrun
def test_resume_after_sigkill_is_bit_identical(runs: dict[str, Path]) -> None:
    a = load_file(runs["reference"] / "model.safetensors")
    b = load_file(runs["killed"] / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ha = json.loads((runs["reference"] / "history.json").read_text())
    hb = json.loads((runs["killed"] / "history.json").read_text())
    assert ha["train"] == hb["train"] and ha["lr"] == hb["lr"] and ha["epoch"] == [1, 2, 3]


@pytest.mark.slow  # torchrun, 2 processes
def test_ddp_on_two_processes_matches_one_process(runs: dict[str, Path]) -> None:
    out = runs["ddp"]
    r0, r1 = load_file(out / "rank0.safetensors"), load_file(out / "rank1.safetensors")
    assert all(torch.equal(r0[k], r1[k]) for k in r0)
    model = aezoo.load(out)
    assert json.loads((out / "config.json").read_text())["training"]["world_size"] == 2
    saved = model.state_dict()
    assert all(torch.equal(saved[k], r0[k]) for k in r0)
    single = load_file(runs["reference"] / "model.safetensors")
    for k in single:
        torch.testing.assert_close(r0[k], single[k], rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------- the CLI
def test_cli_trains_on_a_npy_file(tmp_path: Path) -> None:
    images = (torch.sigmoid(toy(256).x * 20) * 255).to(torch.uint8).squeeze(1).numpy()
    np.save(tmp_path / "toy.npy", images)
    out = tmp_path / "run"
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "linear",
            "--dataset",
            str(tmp_path / "toy.npy"),
            "--epochs",
            "1",
            "--out",
            str(out),
            "--device",
            "cpu",
            "--set",
            "latent_dim=3",
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output and "final val loss:" in result.output
    assert aezoo.load(out).latent_dim == 3
    recipe = json.loads((out / "config.json").read_text())["training"]
    assert recipe["command"] == "aezoo train" and recipe["arguments"]["sets"] == ["latent_dim=3"]
    assert History.from_dict(json.loads((out / "history.json").read_text())).epoch == [1]


@pytest.mark.slow  # trains on MNIST
def test_cli_trains_on_mnist_and_resumes(tmp_path: Path, shared_data_copy: Path) -> None:
    out = tmp_path / "mnist"
    args = [
        "train",
        "linear",
        "--dataset",
        "mnist",
        "--data-dir",
        str(shared_data_copy),
        "--limit",
        "512",
        "--epochs",
        "1",
        "--batch-size",
        "256",
        "--out",
        str(out),
        "-q",
        "--device",
        "cpu",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["training"]["num_train_samples"] == 461
    result = CliRunner().invoke(cli, [*args, "--resume"])  # already finished: nothing to redo
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, [*args, "--lr", "0.5", "--resume"])
    assert result.exit_code == 1
    assert "lr 0.01 (checkpoint) vs 0.5 (now)" in result.output and "--out" in result.output


def test_cli_bad_set_key_is_one_line_error(tmp_path: Path) -> None:
    np.save(tmp_path / "toy.npy", np.zeros((16, 28, 28), np.uint8))
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "linear",
            "--dataset",
            str(tmp_path / "toy.npy"),
            "--out",
            str(tmp_path / "run"),
            "--set",
            "latnet_dim=3",
        ],
    )
    assert result.exit_code == 1
    assert "latnet_dim" in result.output and "latent_dim" in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.mark.parametrize(("arch", "shift"), [("denoising", 0), ("mlp", 1)])
def test_resume_of_a_model_with_training_noise_is_bit_identical(tmp_path: Path, arch: str, shift: int) -> None:
    """The denoiser's masks and the shift augmentation's offsets come from ``model.generator``,
    whose state each checkpoint stores."""
    data = aezoo.DeviceDataset(torch.rand(96, 1, 8, 8, generator=torch.Generator().manual_seed(0)), name="noisy")
    cfg = TrainConfig(epochs=2, batch_size=16, checkpoint_every=4, val_fraction=0.0, shift=shift)

    def denoiser() -> aezoo.Autoencoder:
        with seeded(0):
            return aezoo.create(arch, input_shape=(1, 8, 8), dims=(64, 16))

    reference = denoiser()
    Trainer(reference, cfg, out_dir=tmp_path / "ref", progress=False).fit(data)

    def stop_after_step_5(event) -> None:
        if event.kind == "step" and event.global_step == 5:
            event.trainer.should_stop = True  # the run ends; its step-4 checkpoint stays

    killed = tmp_path / "killed"
    Trainer(denoiser(), cfg, out_dir=killed, progress=False, callbacks=[stop_after_step_5]).fit(data)
    assert read_checkpoint(killed)[0]["global_step"] == 4
    torch.manual_seed(1234)  # the global generator's state must not matter
    resumed = denoiser()
    Trainer(resumed, cfg, out_dir=killed, progress=False).fit(data, resume=True)
    for name, tensor in reference.state_dict().items():
        assert torch.equal(resumed.state_dict()[name], tensor), name


def test_shift_moves_each_image_by_its_own_offset_of_at_most_k_pixels() -> None:
    x, k = torch.rand(64, 3, 9, 9, generator=torch.Generator().manual_seed(0)), 2
    shifted = random_shift(x, k, torch.Generator().manual_seed(1))
    padded = torch.nn.functional.pad(x, (k, k, k, k))
    offsets = []
    for image, source in zip(shifted, padded, strict=True):
        found = [
            (dy, dx)
            for dy in range(2 * k + 1)
            for dx in range(2 * k + 1)
            if image.equal(source[:, dy : dy + 9, dx : dx + 9])
        ]
        assert len(found) == 1  # every channel moved together, by one offset in [-k, k]^2
        offsets.append(found[0])
    assert len(set(offsets)) >= 20  # 64 draws of 25 offsets: they vary from image to image
    assert random_shift(x, 0) is x
    assert random_shift(x, k, torch.Generator().manual_seed(1)).equal(shifted)  # the generator decides


def test_training_with_shift_sees_moved_images_and_refuses_flat_data(tmp_path: Path) -> None:
    def run(shift: int) -> LinearAE:
        model = linear()
        Trainer(model, TrainConfig(epochs=1, batch_size=64, shift=shift), progress=False).fit(toy(128))
        return model

    plain, shifted = run(0), run(1)
    assert not torch.equal(plain.encoder.weight, shifted.encoder.weight)
    assert torch.equal(run(1).encoder.weight, shifted.encoder.weight)  # seeded: the same offsets again
    with pytest.raises(ConfigError, match=r"shift=1 moves images.*\(784,\).*shift=0"):
        Trainer(linear(), TrainConfig(epochs=1, shift=1), out_dir=tmp_path / "run", progress=False).fit(
            torch.rand(32, 784)
        )
    assert not (tmp_path / "run").exists()  # refused before the run directory was claimed
    with pytest.raises(ConfigError, match="shift=28 would move the 28x28 images"):  # padding would be unbounded
        Trainer(linear(), TrainConfig(epochs=1, shift=28), progress=False).fit(toy(8))
    with pytest.raises(ConfigError, match="shift is a number of pixels >= 0"):
        TrainConfig(shift=-1)


# ---------------------------------------------------------------------------- defaults
@pytest.mark.parametrize("arch", aezoo.list_models())
def test_every_architecture_has_valid_training_defaults(arch: str) -> None:
    model = aezoo.create(arch)
    cfg = TrainConfig.for_model(model)  # unknown keys or bad values in train_defaults raise here
    for key, value in type(model).train_defaults.items():
        assert getattr(cfg, key) == value
    assert TrainConfig.for_model(model, lr=0.25, epochs=2).lr == 0.25  # what the caller gives wins


def test_trainer_and_cli_use_the_architectures_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(LinearAE, "train_defaults", {"lr": 0.0123, "batch_size": 32})
    assert Trainer(linear()).config == TrainConfig(lr=0.0123, batch_size=32)
    assert Trainer(linear(), TrainConfig(epochs=2)).config.lr == TrainConfig().lr  # an explicit config is kept
    np.save(tmp_path / "toy.npy", np.zeros((64, 28, 28), np.uint8))
    out = tmp_path / "run"
    args = ["train", "linear", "--dataset", str(tmp_path / "toy.npy"), "--epochs", "1", "--out", str(out), "-q"]
    result = CliRunner().invoke(cli, [*args, "--device", "cpu", "--batch-size", "16"])
    assert result.exit_code == 0, result.output
    used = json.loads((out / "config.json").read_text())["training"]["train_config"]
    assert (used["lr"], used["batch_size"], used["epochs"]) == (0.0123, 16, 1)  # the flag beats the default
