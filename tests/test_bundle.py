"""`aezoo bundle`: a trained directory becomes what its Hub repository holds."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from click.testing import CliRunner
from huggingface_hub import ModelCard

import aezoo
from aezoo.cards import card_metrics
from aezoo.cli.main import cli
from aezoo.data import load_dataset
from aezoo.evaluation import evaluate


def test_bundle_writes_metrics_figures_and_a_card(shared_data_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "lin"
    train = load_dataset("mnist", "train", root=shared_data_copy).subset(2000)
    aezoo.Trainer(aezoo.create("linear"), aezoo.TrainConfig(epochs=1, batch_size=200), out_dir=out, progress=False).fit(
        train
    )
    result = CliRunner().invoke(
        cli,
        [
            "bundle",
            str(out),
            "--name",
            "linear-mnist",
            "--data-dir",
            str(shared_data_copy),
            "--reproduce",
            "aezoo train linear --out X",
            "--reproduce",
            "aezoo bundle X",
        ],
    )
    assert result.exit_code == 0, result.output
    names = {p.name for p in out.iterdir()}
    assert {
        "model.safetensors",
        "config.json",
        "README.md",
        "metrics.json",
        "eval.json",
        "reconstructions.png",
        "loss_curve.png",
        "latent_map.png",
    } <= names
    assert not any(n.startswith("checkpoint") for n in names)
    metrics = json.loads((out / "metrics.json").read_text())
    card = ModelCard.load(out / "README.md")
    assert card.data.library_name == "aezoo" and card_metrics(card) == metrics
    assert "aezoo bundle X" in card.text and "![reconstructions](reconstructions.png)" in card.text
    # the card's numbers are what the weights give on the test split
    model = aezoo.load(out)
    test = load_dataset("mnist", "test", root=shared_data_copy)
    assert abs(evaluate(model, test)["mse"] - metrics["mse"]) < 1e-6
    report = json.loads((out / "eval.json").read_text())
    assert report["check_n"] == 1000 and report["first_1000"]["n"] == 1000
    assert torch.equal(aezoo.load(out).encoder.weight, model.encoder.weight)
