"""Experiment tracking end to end, offline: train a tiny model, read each tracker's files back with its own reader."""

from __future__ import annotations

import json
import math
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import aezoo
from aezoo.cli.main import cli
from aezoo.core.errors import MissingDependencyError, UnknownNameError
from aezoo.training import trackers, tracking
from aezoo.training.trackers import read_csv

EPOCHS, SAMPLES, BATCH = 2, 256, 32
STEPS = EPOCHS * math.ceil((SAMPLES - round(SAMPLES * 0.1)) / BATCH)  # the Trainer holds 10% out for validation


@pytest.fixture(autouse=True)
def _offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No tracker reaches a server or the home folder."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    for var, sub in (("WANDB_DIR", "wandb"), ("WANDB_CACHE_DIR", "wcache"), ("WANDB_DATA_DIR", "wdata")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wconfig"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)


def tiny() -> aezoo.DeviceDataset:
    return aezoo.DeviceDataset(torch.rand(SAMPLES, 1, 8, 8, generator=torch.Generator().manual_seed(0)), name="tiny")


def run(out: Path, loggers: Any) -> aezoo.Autoencoder:
    model = aezoo.create("linear", input_shape=(1, 8, 8), latent_dim=4)
    settings = dict(epochs=EPOCHS, batch_size=BATCH, log_every=1, device="cpu", progress=False)
    return aezoo.train(model, tiny(), out_dir=out, loggers=loggers, **settings)


def test_csv_holds_steps_epochs_images_params_and_the_model(tmp_path: Path) -> None:
    run(tmp_path / "run", "csv")
    logs = tmp_path / "run" / "logs" / "csv"
    rows = read_csv(logs)
    tags = {r["tag"] for r in rows}
    assert {"step/loss", "step/lr", "step/samples_per_s", "train/loss", "val/loss", "epoch/lr"} <= tags
    assert [r["step"] for r in rows if r["tag"] == "step/loss"] == list(range(1, STEPS + 1))
    losses = [r["value"] for r in rows if r["tag"] == "train/loss"]
    assert len(losses) == EPOCHS and losses[-1] < losses[0]
    assert sorted(p.name for p in (logs / "images").iterdir()) == [
        f"reconstruction_{STEPS // 2 * (e + 1):08d}.png" for e in range(EPOCHS)
    ]
    params = json.loads((logs / "params.json").read_text())
    assert params["train"]["batch_size"] == BATCH and params["model"]["architecture"] == "linear"
    assert params["recipe"]["recipe"].startswith("aezoo.train('linear'")
    summary = json.loads((logs / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["metrics"]["final/epochs"] == EPOCHS
    assert summary["metrics"]["final/val/loss"] == pytest.approx(
        json.loads((tmp_path / "run" / "history.json").read_text())["val"]["loss"][-1]
    )
    assert {Path(f).name for f in summary["artifacts"]["model"]} == {
        "config.json",
        "model.safetensors",
        "history.json",
        "loss_curve.png",
    }


def test_tensorboard_event_file_reads_back_with_tensorboard(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run(tmp_path / "run", ["tensorboard"])
    events = EventAccumulator(str(tmp_path / "run" / "logs" / "tensorboard"), size_guidance={"scalars": 0}).Reload()
    tags = events.Tags()
    assert {"step/loss", "step/lr", "train/loss", "val/loss", "final/val/loss"} <= set(tags["scalars"])
    assert [e.step for e in events.Scalars("step/loss")] == list(range(1, STEPS + 1))
    assert len(events.Scalars("train/loss")) == EPOCHS
    assert "reconstruction" in tags["images"]
    image = events.Images("reconstruction")[-1]
    assert image.step == STEPS and image.width > 0 and image.encoded_image_string.startswith(b"\x89PNG")
    assert "params/text_summary" in tags["tensors"]  # the hyper-parameters as text


def test_mlflow_store_holds_params_metric_history_images_and_model(tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    run(tmp_path / "run", ["mlflow"])
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'run' / 'logs' / 'mlflow' / 'mlflow.db'}")
    (mlrun,) = client.search_runs([client.get_experiment_by_name("aezoo").experiment_id])
    assert mlrun.info.status == "FINISHED"
    assert mlrun.data.params["train.batch_size"] == str(BATCH) and mlrun.data.params["model.architecture"] == "linear"
    history = client.get_metric_history(mlrun.info.run_id, "step/loss")
    assert sorted(m.step for m in history) == list(range(1, STEPS + 1))
    assert len(client.get_metric_history(mlrun.info.run_id, "val/loss")) == EPOCHS
    assert mlrun.data.metrics["final/epochs"] == EPOCHS
    model_files = {Path(a.path).name for a in client.list_artifacts(mlrun.info.run_id, "model")}
    assert {"config.json", "model.safetensors", "history.json"} <= model_files
    assert any("reconstruction" in a.path for a in client.list_artifacts(mlrun.info.run_id, "images"))
    folder = client.download_artifacts(mlrun.info.run_id, "model", str(tmp_path / "pulled"))
    assert aezoo.load(folder).latent_dim == 4  # the artifact is a loadable model folder


def wandb_records(path: Path) -> list[Any]:
    """The records of a ``.wandb`` file: W&B's LevelDB-style log (32 KiB blocks, 7-byte record headers)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    records, chunks, pos = [], b"", 7
    while pos + 7 <= len(data):
        room = 32768 - pos % 32768
        if room < 7:  # a block's tail too short for a header is padding
            pos += room
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunks += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last piece of one
            record = pb.Record()
            record.ParseFromString(chunks)
            records.append(record)
            chunks = b""
    return records


def test_wandb_offline_run_holds_config_history_summary_images_and_model(tmp_path: Path) -> None:
    pytest.importorskip("wandb")
    run(tmp_path / "run", ["wandb"])
    (folder,) = (tmp_path / "run" / "logs" / "wandb").glob("offline-run-*")
    records = wandb_records(next(folder.glob("*.wandb")))
    kinds = [r.WhichOneof("record_type") for r in records]
    updates = [u for r in records if r.HasField("run") for u in r.run.config.update]  # the config of wandb.init
    config = {u.key: json.loads(u.value_json) for u in updates}
    assert config["train"]["batch_size"] == BATCH and config["model"]["architecture"] == "linear"
    history = [
        {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in r.history.item}
        for r in records
        if r.HasField("history")
    ]
    assert [h["_step"] for h in history if "step/loss" in h] == list(range(1, STEPS + 1))
    assert sum("val/loss" in h for h in history) == EPOCHS
    assert sum(any(k.startswith("reconstruction") for k in h) for h in history) == EPOCHS  # an image-file item
    assert len(list((folder / "files" / "media" / "images").glob("reconstruction_*.png"))) == EPOCHS
    summary = {
        u.key or "/".join(u.nested_key): json.loads(u.value_json)
        for r in records
        if r.HasField("summary")
        for u in r.summary.update
    }
    assert summary["final/epochs"] == EPOCHS
    (artifact,) = [r.artifact for r in records if r.HasField("artifact")]
    assert artifact.type == "model"
    assert {"config.json", "model.safetensors"} <= {e.path for e in artifact.manifest.contents}
    assert "exit" in kinds and next(r.exit.exit_code for r in records if r.HasField("exit")) == 0


def test_a_failed_run_marks_the_tracker_run_failed(tmp_path: Path) -> None:
    data = aezoo.DeviceDataset(torch.rand(64, 1, 8, 8), name="tiny")

    def explode(event: aezoo.TrainEvent) -> None:
        if event.kind == "epoch":
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        aezoo.train(
            aezoo.create("linear", input_shape=(1, 8, 8)),
            data,
            out_dir=tmp_path / "run",
            loggers=["csv"],
            callbacks=[explode],
            epochs=2,
            batch_size=16,
            device="cpu",
            progress=False,
        )
    summary = json.loads((tmp_path / "run" / "logs" / "csv" / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["artifacts"] == {}


def test_unknown_and_missing_trackers_fail_before_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UnknownNameError, match=r"'tensorbord'.*'tensorboard'"):
        run(tmp_path / "a", "csv,tensorbord")
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if not installed
    with pytest.raises(MissingDependencyError, match=r'pip install "aezoo\[mlflow\]"'):
        run(tmp_path / "b", ["mlflow"])
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_logger_object_and_a_failing_one(tmp_path: Path) -> None:
    class Broken(trackers.CSVLogger):
        def log_scalars(self, scalars: Any, step: int) -> None:
            raise OSError("disk full")

    mine = trackers.CSVLogger(tmp_path / "mine")
    with pytest.warns(UserWarning, match="Broken.log_scalars failed.*disk full"):
        run(tmp_path / "run", [mine, Broken(tmp_path / "broken")])
    assert any(r["tag"] == "val/loss" for r in read_csv(tmp_path / "mine"))
    assert (tmp_path / "run" / "model.safetensors").is_file()  # the run went on


def test_layerwise_pretraining_logs_each_stage_and_the_finetuning(tmp_path: Path) -> None:
    cfg = aezoo.LayerwiseConfig(
        dims=(64, 16, 4), layer_epochs=2, finetune_epochs=1, batch_size=32, device="cpu", finetune={"log_every": 1}
    )
    aezoo.pretrain(cfg, tiny(), out_dir=tmp_path / "deep", progress=False, loggers=["csv"])
    logs = tmp_path / "deep" / "logs" / "csv"
    rows = read_csv(logs)
    tags = {r["tag"] for r in rows}
    assert {"stage1/loss", "stage2/loss", "stage1/train_mse", "finetune/train/loss", "finetune/step/loss"} <= tags
    steps = [r["step"] for r in rows]
    assert steps == sorted(steps)  # one axis: stages first, then fine-tuning
    assert (logs / "images").is_dir()
    summary = json.loads((logs / "summary.json").read_text())
    assert "layerwise.json" in {Path(f).name for f in summary["artifacts"]["model"]}
    assert json.loads((logs / "params.json").read_text())["layerwise"]["dims"] == [64, 16, 4]


def test_cli_log_option_on_train_and_pretrain(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    np.save(tmp_path / "toy.npy", np.random.default_rng(0).integers(0, 255, (96, 28, 28), dtype=np.uint8))
    out = tmp_path / "run"
    args = ["train", "linear", "--dataset", str(tmp_path / "toy.npy"), "--epochs", "1", "--out", str(out), "-q"]
    result = CliRunner().invoke(cli, [*args, "--device", "cpu", "--limit", "64", "--log", "csv,tensorboard"])
    assert result.exit_code == 0, result.output
    assert "csv, tensorboard" in result.output
    assert any(r["tag"] == "train/loss" for r in read_csv(out / "logs" / "csv"))
    assert list((out / "logs" / "tensorboard").glob("events.out.tfevents.*"))
    result = CliRunner().invoke(cli, [*args, "--overwrite", "--log", "nope"])
    assert result.exit_code != 0 and "unknown tracker 'nope'" in result.output
    deep = tmp_path / "deep"
    pre = ["pretrain", "--dims", "784,8", "--dataset", str(tmp_path / "toy.npy"), "--layer-epochs", "1"]
    result = CliRunner().invoke(cli, [*pre, "--finetune-epochs", "1", "--out", str(deep), "-q", "--log", "csv"])
    assert result.exit_code == 0, result.output
    assert any(r["tag"] == "stage1/loss" for r in read_csv(deep / "logs" / "csv"))


def test_import_aezoo_imports_no_tracker() -> None:
    code = (
        "import sys, aezoo; aezoo.train; aezoo.pretrain; aezoo.Trainer; import aezoo.training.tracking; "
        "import aezoo.cli.main; "
        "print(sorted(m for m in ('tensorboard', 'torch.utils.tensorboard', 'mlflow', 'wandb') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_tracker_names_are_the_documented_ones() -> None:
    assert tracking.TRACKERS == ("csv", "mlflow", "tensorboard", "wandb")
