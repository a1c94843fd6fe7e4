"""`aezoo bundle`: a trained directory becomes what its Hub repository holds."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from huggingface_hub import ModelCard

import aezoo
from aezoo.cli.main import cli
from aezoo.data import load_dataset
from aezoo.io.cards import card_metrics


@pytest.mark.slow  # trains on MNIST, evaluates on its test split
def test_bundle_writes_metrics_figures_and_a_card(shared_data_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "lin"
    train = load_dataset("mnist", "train", root=shared_data_copy).subset(2000)
    trained = aezoo.create("linear")
    aezoo.Trainer(trained, aezoo.TrainConfig(epochs=1, batch_size=200), out_dir=out, progress=False).fit(train)
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
    # The bundled weights are the trained ones, and the card's numbers are what they give on the
    # test split, recomputed here from the reconstructions (not with aezoo.evaluate, which wrote them).
    model = aezoo.load(out)
    for name, tensor in trained.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name
    test = load_dataset("mnist", "test", root=shared_data_copy)
    with torch.no_grad():
        sq = torch.cat([(model(b).reconstruction - b).pow(2).flatten(1) for b in test.x.split(2000)])
    assert sq.mean().item() == pytest.approx(metrics["mse"], rel=1e-5)
    assert sq.sum(1).mean().item() == pytest.approx(metrics["sse_per_image"], rel=1e-5)
    report = json.loads((out / "eval.json").read_text())
    assert report["check_n"] == 1000 and report["first_1000"]["n"] == 1000
    assert sq[:1000].mean().item() == pytest.approx(report["first_1000"]["mse"], rel=1e-5)


def test_bundle_refuses_links_and_special_files_before_reading_or_writing(tmp_path: Path) -> None:
    """Issue 23, item 1: a figure written through a link would overwrite its target; a FIFO would block."""
    from aezoo.core.errors import WeightsError
    from aezoo.training.bundle import bundle

    d = aezoo.create("linear").save_pretrained(tmp_path / "run", training={"dataset": "mnist/train"})
    private = tmp_path / "private.png"
    private.write_bytes(b"the user's own picture")
    (d / "reconstructions.png").symlink_to(private)
    with pytest.raises(WeightsError, match=r"reconstructions\.png is a symlink"):
        bundle(d, name="x", dataset="no-such-data.npy")
    assert private.read_bytes() == b"the user's own picture"
    assert sorted(p.name for p in d.iterdir()) == ["config.json", "model.safetensors", "reconstructions.png"]
    (d / "reconstructions.png").unlink()
    os.mkfifo(d / "history.json")  # reading it would wait for a writer forever
    result = CliRunner().invoke(cli, ["bundle", str(d), "--name", "x", "--dataset", "no-such-data.npy"])
    assert result.exit_code == 1 and "history.json is a FIFO" in result.output, result.output
