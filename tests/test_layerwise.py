"""Layer-wise pretraining on a small MNIST subset: stages learn, unrolling is exact, fine-tuning helps."""

from __future__ import annotations

import dataclasses
import importlib
import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import aezoo
from aezoo.data import load_dataset
from aezoo.evaluation.metrics import evaluate
from aezoo.registry.scaffold import write_dist_info
from aezoo.training import layerwise
from aezoo.training.layerwise import LayerwiseConfig, LayerwisePretrainer

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


@pytest.mark.slow  # pretrains and fine-tunes on MNIST
def test_each_stage_loss_falls(run) -> None:
    stages = run["report"].stages
    assert [s["dims"] for s in stages] == [[784, 64], [64, 32], [32, 8]]
    assert [s["loss"] for s in stages] == ["bce", "bce", "bce"]  # sigmoid pixels, then sigmoid codes
    for s in stages:
        losses = [h["loss"] for h in s["history"]]
        assert len(losses) == 5 and losses[-1] < 0.8 * losses[0], s
        assert s["wall_s"] > 0 and s["samples_per_s"] > 0 and s["flops"] > 0
        assert 0 <= s["train_error"]["mse"] < 0.1


@pytest.mark.slow  # pretrains and fine-tunes on MNIST
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


@pytest.mark.slow  # pretrains and fine-tunes on MNIST
def test_finetuning_lowers_the_test_error(run) -> None:
    after = evaluate(run["model"], run["test"])["mse"]
    assert after < 0.95 * run["before"], (run["before"], after)
    report = run["report"]
    assert report.finetune["errors"]["train"]["mse"] < report.unrolled["train"]["mse"]


@pytest.mark.slow  # pretrains and fine-tunes on MNIST
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


def test_each_stage_is_trained_and_scored_on_the_codes_below_it(mnist) -> None:
    train, _ = mnist
    train = train.subset(256)
    cfg = LayerwiseConfig(dims=DIMS, layer_epochs=1, finetune_epochs=0, device="cpu")
    engine = LayerwisePretrainer(cfg, progress=False)
    records = engine.pretrain_stages(train)
    h = train.x.flatten(1)
    with torch.no_grad():
        for stage, record in zip(engine.stages, records, strict=True):
            mse = float((stage.decode(stage.encode(h)) - h).pow(2).mean())
            assert record["train_error"]["mse"] == pytest.approx(mse, rel=1e-4)
            h = stage.encode(h)  # what the next stage was trained on


def test_same_seed_same_stages_and_the_global_generator_is_left_alone(mnist) -> None:
    train, _ = mnist
    cfg = LayerwiseConfig(dims=(784, 16, 4), kind="denoising", layer_epochs=1, finetune_epochs=0, device="cpu")
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a = LayerwisePretrainer(cfg, progress=False).fit(train.subset(256))[0]
    assert torch.equal(torch.random.get_rng_state(), before)  # seeding goes through generators
    b = LayerwisePretrainer(cfg, progress=False).fit(train.subset(256))[0]
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q), name
    c = LayerwisePretrainer(dataclasses.replace(cfg, seed=1), progress=False).fit(train.subset(256))[0]
    assert not torch.equal(a.encoder[0].weight, c.encoder[0].weight)


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
        assert ("sparsity" in s["history"][0]) == (s["kind"] == "sparse")
        assert s["architecture"] == {"plain": "mlp"}.get(s["kind"], s["kind"])
    assert model.config.tied == all(k == "tied" for k in kinds)
    stage = engine.stages[0]
    x = train.x[:64].flatten(1)
    if type(stage).capabilities.corrupt:  # the denoiser's own masking noise
        assert (stage.corrupt(x) == 0).float().mean() > (x == 0).float().mean()
    assert model.encode(train.x[:64]).shape == (64, 8)


def test_a_plugin_architecture_can_be_a_stage(mnist, tmp_path, monkeypatch, fresh_registry) -> None:
    """A third-party architecture opts in with capabilities.stage, as_stage and stage_weights."""
    write_dist_info(tmp_path, "aezoo-teststage", "0.1", {"teststage": "aezoo_teststage:TestStage"})
    (tmp_path / "aezoo_teststage.py").write_text(STAGE_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    assert "teststage" in layerwise.stage_architectures()
    train, _ = mnist
    cfg = LayerwiseConfig(
        dims=(784, 32, 8),
        kind=("teststage", "plain"),
        layer_epochs=3,
        layer_lr=1e-2,
        finetune_epochs=0,
        device="cpu",
        stage_options={"teststage": {"scale": 2.0}},
    )
    engine = LayerwisePretrainer(cfg, progress=False)
    model, report = engine.fit(train.subset(512))
    first = report.stages[0]
    assert first["architecture"] == "teststage" and engine.stages[0].config.scale == 2.0
    assert first["history"][-1]["loss"] < first["history"][0]["loss"]  # trained on the plugin's own loss
    assert "teststage_term" in first["history"][0]
    x = train.x[:32]
    with torch.no_grad():  # the unrolled deep model computes what the stacked stages compute
        h = engine.stages[1].encode(engine.stages[0].encode(x.flatten(1)))
        torch.testing.assert_close(model.encode(x), h)


def test_an_architecture_without_the_capability_is_refused() -> None:
    with pytest.raises(aezoo.UnknownNameError, match=r"capabilities\.stage"):
        LayerwiseConfig(dims=(784, 8), kind="vae")
    with pytest.raises(aezoo.ConfigError, match="cannot be a layer-wise stage"):
        aezoo.get_architecture("vae").as_stage(aezoo.StageSpec(in_dim=784, code_dim=8))


STAGE_PLUGIN = """
import dataclasses
import torch
import torch.nn.functional as F
from torch import nn
import aezoo


@dataclasses.dataclass(frozen=True)
class Cfg(aezoo.AEConfig):
    latent_dim: int = 8  # code size
    scale: float = 1.0  # weight of the plugin's own extra term


class TestStage(aezoo.Autoencoder):
    architecture = "teststage"
    config_class = Cfg
    capabilities = aezoo.Capabilities(stage=True)

    def __init__(self, config):
        super().__init__(config)
        n = config.input_shape[0]
        self.enc, self.dec = nn.Linear(n, config.latent_dim), nn.Linear(config.latent_dim, n)

    def _encode(self, x):
        return torch.sigmoid(self.enc(x.flatten(1)))

    def _decode(self, z):
        return torch.sigmoid(self.dec(z)).view(-1, *self.input_shape)

    def _loss(self, x):
        rec = F.mse_loss(self._decode(self._encode(x)), x)
        term = self.config.scale * 1e-3 * self.enc.weight.pow(2).mean()
        return {"reconstruction": rec, "teststage_term": term, "loss": rec + term}

    @classmethod
    def as_stage(cls, spec):
        return cls(Cfg(input_shape=(spec.in_dim,), latent_dim=spec.code_dim, **spec.options))

    def stage_weights(self):
        return aezoo.StageWeights(self.enc.weight, self.enc.bias, self.dec.weight, self.dec.bias, False)
"""


@pytest.mark.slow  # pretrains and fine-tunes on MNIST
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
        "--finetune-set",
        "shift=1",  # the bundled deep-mnist's augmentation reaches the fine-tuning
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
    assert json.loads((out / "config.json").read_text())["training"]["train_config"]["shift"] == 1


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
