"""Layer-wise pretraining on a small MNIST subset: stages learn, unrolling is exact, fine-tuning helps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import aezoo
from aezoo import layerwise
from aezoo.data import load_dataset
from aezoo.evaluation import evaluate
from aezoo.layerwise import LayerwiseConfig, LayerwisePretrainer

DIMS = (784, 64, 32, 8)


@pytest.fixture(scope="module")
def mnist(shared_data_copy: Path) -> tuple[aezoo.DeviceDataset, aezoo.DeviceDataset]:
    """2000 training images and 500 held-out ones (also from the train split: one load only)."""
    full = load_dataset("mnist", "train", root=shared_data_copy)
    return full.subset(slice(0, 2000)), full.subset(slice(2000, 2500))


@pytest.fixture(scope="module")
def run(mnist, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One plain run; the engine keeps its stages, so the unrolled model can be rebuilt afterwards."""
    train, test = mnist
    cfg = LayerwiseConfig(
        dims=DIMS, layer_epochs=5, layer_lr=1e-2, batch_size=32, finetune_epochs=3, finetune_lr=3e-3, device="cpu"
    )
    engine = LayerwisePretrainer(cfg, progress=False)
    out = tmp_path_factory.mktemp("run") / "deep"
    model, report = engine.fit(train, out_dir=out)
    unrolled = engine.unroll(train.shape)  # rebuilt from the kept stages: the model before fine-tuning
    unrolled.preprocessing = train.preprocessing
    before = evaluate(unrolled, test)["mse"]
    return {
        "engine": engine,
        "unrolled": unrolled,
        "before": before,
        "model": model,
        "report": report,
        "out": out,
        "test": test,
    }


def test_each_stage_loss_falls(run) -> None:
    stages = run["report"].stages
    assert [s["dims"] for s in stages] == [[784, 64], [64, 32], [32, 8]]
    assert [s["loss"] for s in stages] == ["bce", "bce", "bce"]  # sigmoid pixels, then sigmoid codes
    for s in stages:
        losses = [h["loss"] for h in s["history"]]
        assert len(losses) == 5 and losses[-1] < 0.8 * losses[0], s
        assert s["wall_s"] > 0 and s["samples_per_s"] > 0 and s["flops"] > 0
        assert 0 <= s["train_error"]["mse"] < 0.1


def test_unrolled_model_is_the_stack_of_stages(run) -> None:
    stages, model = run["engine"].stages, run["unrolled"]
    x = run["test"].x
    with torch.no_grad():
        h = x.flatten(1)
        for stage in stages:
            h = stage.encode(h)
        code = h
        for stage in reversed(stages):
            h = stage.decode(h)
        torch.testing.assert_close(model.encode(x), code)
        torch.testing.assert_close(model.decode(code), h.view_as(x))
    assert model.architecture == "deep" and model.config.code_activation == "linear"


def test_finetuning_lowers_the_test_error(run) -> None:
    after = evaluate(run["model"], run["test"])["mse"]
    assert after < 0.95 * run["before"], (run["before"], after)
    report = run["report"]
    assert report.finetune["errors"]["train"]["mse"] < report.unrolled["train"]["mse"]


def test_report_is_saved_and_reloaded_with_the_model(run) -> None:
    out: Path = run["out"]
    loaded = aezoo.load(out)
    x = run["test"].x[:16]
    with torch.no_grad():
        torch.testing.assert_close(loaded(x).reconstruction, run["model"](x).reconstruction)
    saved = json.loads((out / "config.json").read_text())
    assert saved["layerwise"] == layerwise.load_report(out)
    assert saved["layerwise"]["stages"][0]["history"] == run["report"].stages[0]["history"]
    assert LayerwiseConfig.from_dict(saved["layerwise"]["config"]) == run["engine"].config
    assert saved["training"]["pretraining"] == "layerwise"  # the Trainer's recipe survives
    assert (out / "history.json").is_file()


def test_codes_are_computed_once_per_stage_and_stay_on_the_device(mnist, monkeypatch) -> None:
    train, _ = mnist
    made, trained_on = [], []
    real_encode, real_train = layerwise._encode_dataset, LayerwisePretrainer._train_stage

    def encode(stage, x, *args):
        codes, err = real_encode(stage, x, *args)
        made.append(codes)
        return codes, err

    def train_stage(self, i, stage, x):
        trained_on.append(x)
        return real_train(self, i, stage, x)

    monkeypatch.setattr(layerwise, "_encode_dataset", encode)
    monkeypatch.setattr(LayerwisePretrainer, "_train_stage", train_stage)
    cfg = LayerwiseConfig(dims=DIMS, layer_epochs=1, finetune_epochs=0, device="cpu")
    LayerwisePretrainer(cfg, progress=False).pretrain_stages(train.subset(256))
    assert len(made) == 3  # one pass per stage, not one per batch or epoch
    for codes, x in zip(made[:-1], trained_on[1:]):
        assert x is codes and x.device == train.device  # the next stage reads the very tensor


@pytest.mark.parametrize("kind", ["denoising", "sparse", "tied", ("plain", "denoising", "tied")])
def test_stage_kinds_run(mnist, kind) -> None:
    train, _ = mnist
    cfg = LayerwiseConfig(
        dims=DIMS,
        kind=kind,
        layer_epochs=2,
        layer_lr=1e-2,
        batch_size=64,
        finetune_epochs=0,
        init="transpose",
        device="cpu",
    )
    engine = LayerwisePretrainer(cfg, progress=False)
    model, report = engine.fit(train.subset(512))
    kinds = cfg.kinds
    assert [s["kind"] for s in report.stages] == list(kinds)
    for s in report.stages:
        assert s["history"][-1]["loss"] < s["history"][0]["loss"]
        assert ("penalty" in s["history"][0]) == (s["kind"] == "sparse")
    assert model.config.tied == all(k == "tied" for k in kinds)
    stage = engine.stages[0]
    x = train.x[:64].flatten(1)
    stage.train()
    if stage.kind == "denoising":  # corruption in training only
        assert (stage.corrupt(x) == 0).float().mean() > (x == 0).float().mean()
    stage.eval()
    assert model.encode(train.x[:64]).shape == (64, 8)


def test_cli_pretrain_then_load(shared_data_copy, tmp_path) -> None:
    from aezoo.cli.main import cli

    out = tmp_path / "cli"
    args = [
        "pretrain",
        "--dims",
        "784,16,4",
        "--dataset",
        "mnist",
        "--data-dir",
        str(shared_data_copy),
        "--limit",
        "300",
        "--layer-epochs",
        "1",
        "--finetune-epochs",
        "1",
        "--batch-size",
        "64",
        "--device",
        "cpu",
        "--quiet",
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "stage 2 16->4 plain" in result.output
    model = aezoo.load(out)
    assert model.config.dims == (784, 16, 4)
    assert len(layerwise.load_report(out)["stages"]) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dims", "100,16,4"], "start dims with the flattened input size"),
        (["--dims", "784,16,4", "--kind", "plain,tied,sparse"], "lists 3 kinds for 2 layers"),
        (["--dims", "784,16,4", "--kind", "denoize"], "did you mean 'denoising'"),
    ],
)
def test_cli_bad_input_is_one_line(shared_data_copy, tmp_path, args, message) -> None:
    from aezoo.cli.main import cli

    base = [
        "pretrain",
        "--data-dir",
        str(shared_data_copy),
        "--limit",
        "64",
        "--device",
        "cpu",
        "--quiet",
        "--out",
        str(tmp_path / "x"),
    ]
    result = CliRunner().invoke(cli, base + args)
    assert result.exit_code == 1, result.output
    assert message in result.output and result.output.count("\n") == 1 and "Traceback" not in result.output
