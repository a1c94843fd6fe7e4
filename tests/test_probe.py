"""The linear probe: feature quality as a number, beside PCA with as many components."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from huggingface_hub import ModelCard

import aezoo
from aezoo.cli.main import cli
from aezoo.core.errors import DataError, InputError
from aezoo.evaluation.probe import LinearProbe, linear_probe, pca_basis
from aezoo.io.cards import card_metrics


def test_probe_separates_separable_classes_and_not_random_labels() -> None:
    g = torch.Generator().manual_seed(0)
    centers = torch.randn(4, 5, generator=g) * 4
    y = torch.arange(400) % 4
    x = centers[y] + torch.randn(400, 5, generator=g)
    probe = LinearProbe.fit(x[:300], y[:300])
    assert probe.accuracy(x[300:], y[300:]) > 0.95
    noise = torch.randint(0, 4, (400,), generator=g)
    assert LinearProbe.fit(x[:300], noise[:300]).accuracy(x[300:], noise[300:]) < 0.45  # chance is 0.25
    with pytest.raises(InputError, match=r"features \(N, D\) and labels \(N,\)"):
        LinearProbe.fit(x, y[:10])
    with pytest.raises(InputError, match="at least one"):
        LinearProbe.fit(x[:0], y[:0])
    with pytest.raises(InputError, match="NaN"):
        LinearProbe.fit(torch.full((3, 2), float("nan")), y[:3])


def test_pca_basis_is_the_top_singular_vectors() -> None:
    x = torch.randn(200, 6) @ torch.randn(6, 6)
    _, components = pca_basis(x, 3)
    reference = torch.linalg.svd((x - x.mean(0)).double(), full_matrices=False).Vh[:3]
    torch.testing.assert_close((components * reference).sum(1).abs(), torch.ones(3, dtype=torch.float64))
    with pytest.raises(InputError, match="between 1 and 6"):
        pca_basis(x, 7)


def test_probe_of_a_model_and_of_pca() -> None:
    torch.manual_seed(0)
    y = torch.arange(300) % 3
    x = (torch.rand(300, 1, 8, 8) * 0.1 + y.view(-1, 1, 1, 1) * 0.3).clamp(0, 1)
    data = aezoo.DeviceDataset(x, y, name="blocks")
    result = linear_probe(aezoo.create("linear", input_shape=(1, 8, 8), latent_dim=2), data.subset(200), data)
    assert result["pca_probe_accuracy"] == 1.0  # the class is the brightness: the first component
    assert 0.0 <= result["probe_accuracy"] <= 1.0
    assert (result["probe_dim"], result["probe_train_n"], result["probe_test_n"]) == (2, 200, 300)
    with pytest.raises(DataError, match="needs labels"):
        linear_probe(aezoo.create("linear", input_shape=(1, 8, 8)), aezoo.DeviceDataset(x), data)
    with pytest.raises(InputError, match="empty"):
        linear_probe(aezoo.create("linear", input_shape=(1, 8, 8)), data.subset(0), data)


def test_eval_probe_on_a_bundled_model(shared_data_copy: Path) -> None:
    args = ["eval", "conv-mnist", "--data-dir", str(shared_data_copy), "--limit", "2000", "--json"]
    result = CliRunner().invoke(cli, [*args, "--probe", "--probe-limit", "3000"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert metrics["probe_dim"] == 16 and metrics["probe_train_n"] == 3000 and metrics["probe_test_n"] == 2000
    # the conv codes carry more of the class than 16 principal components do
    assert metrics["probe_accuracy"] > metrics["pca_probe_accuracy"] > 0.6


@pytest.mark.slow  # trains on MNIST and bundles
def test_bundle_puts_the_probe_in_the_card(shared_data_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "lin"
    train = aezoo.load_dataset("mnist", "train", root=shared_data_copy).subset(1000)
    trainer = aezoo.Trainer(aezoo.create("linear"), aezoo.TrainConfig(epochs=1, batch_size=200), out_dir=out)
    trainer.progress = False
    trainer.fit(train)
    result = CliRunner().invoke(
        cli, ["bundle", str(out), "--name", "linear-mnist", "--data-dir", str(shared_data_copy), "--probe"]
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.1 < metrics["probe_accuracy"] < 1 and 0.1 < metrics["pca_probe_accuracy"] < 1
    card = ModelCard.load(out / "README.md")
    assert card_metrics(card) == metrics
    tasks = {r.metric_type: r.task_name for r in card.data.eval_results}
    assert tasks["probe_accuracy"] == "Linear probe" and tasks["mse"] == "Reconstruction"
    assert "`probe_accuracy`: a linear classifier" in card.text
