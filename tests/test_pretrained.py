"""The bundled pretrained weights: loadable offline, verified, and as good as their cards say.

Every bundle in weights/ is re-evaluated on the first test images; its numbers must match what
`aezoo bundle` recorded (eval.json), and the card's full-test metrics must meet the zoo's bars.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard

import aezoo
from aezoo.data import load_dataset
from aezoo.evaluation.metrics import evaluate
from aezoo.io.cards import card_metrics
from aezoo.io.pretrained import bundled_dirs
from aezoo.io.serialization import sha256_file

NAMES = aezoo.list_models(pretrained=True)
WEIGHTS = Path(__file__).resolve().parents[1] / "weights"

# Test MSE per pixel of PCA with as many components as the model's code (measured on the 10k test
# images; Fashion-MNIST for conv-fashion-mnist). Every nonlinear model must beat PCA at its code size.
PCA_MSE = {
    "mnist": {2: 0.05567, 8: 0.03744, 16: 0.02686, 20: 0.02354, 30: 0.01769, 32: 0.01683, 64: 0.00905, 150: 0.00342},
    "fashion-mnist": {16: 0.02045},
}
BARS = {  # the quality bars of the issue, on the full test split
    "mlp-mnist": ("mse", 0.0125),
    "stacked-mnist": ("mse", 0.0030),
    "conv-mnist": ("mse", 0.0060),
    "conv-fashion-mnist": ("mse", 0.0100),
    "deep-mnist": ("sse_per_image", 2.60),  # issue 14: beyond the 2006 paper's 3.00
}


def bundle_of(name: str) -> Path:
    return WEIGHTS / name


def test_every_bundle_is_registered_and_every_entry_bundled() -> None:
    on_disk = sorted(p.name for p in WEIGHTS.iterdir() if (p / "model.safetensors").is_file())
    assert on_disk == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_entry_pins_the_bundled_bytes_and_card(name: str) -> None:
    entry = aezoo.get_pretrained(name)
    directory = bundle_of(name)
    assert bundled_dirs(name)[-1] == directory
    assert sha256_file(directory / "model.safetensors") == entry.sha256
    metrics = json.loads((directory / "metrics.json").read_text())
    card = ModelCard.load(directory / "README.md")
    assert card.data.library_name == "aezoo"
    assert card_metrics(card) == pytest.approx(metrics) == dict(entry.metrics)
    assert entry.sha256 in card.text
    assert "```bash" in card.text and "aezoo bundle" in card.text  # the commands that made it
    for figure in ("reconstructions.png", "loss_curve.png"):
        assert (directory / figure).is_file() and f"]({figure})" in card.text


@pytest.fixture(scope="module")
def test_sets(shared_data_copy: Path) -> dict[str, aezoo.DeviceDataset]:
    return {name: load_dataset(name, "test", root=shared_data_copy) for name in ("mnist", "fashion-mnist")}


@pytest.mark.parametrize("name", NAMES)
def test_bundle_reproduces_its_recorded_numbers(name: str, test_sets: dict) -> None:
    """Re-evaluate on the first test images: the card can never drift from its weights."""
    report = json.loads((bundle_of(name) / "eval.json").read_text())
    recorded = report[f"first_{report['check_n']}"]
    model = aezoo.load(name)
    dataset = test_sets[report["dataset"].split("/")[0]].subset(report["check_n"])
    again = evaluate(model, dataset)
    for key in ("mse", "sse_per_image", "psnr", "neg_elbo", "psnr_noisy", "psnr_denoised"):
        if key in recorded:
            assert again[key] == pytest.approx(recorded[key], rel=1e-4, abs=1e-6), key
    full = report["test"]
    # the subset and the full split agree (a sanity check on eval.json itself)
    assert again["mse"] == pytest.approx(full["mse"], rel=0.15)


@pytest.mark.parametrize("name", NAMES)
def test_bundle_meets_its_bar(name: str) -> None:
    entry = aezoo.get_pretrained(name)
    metrics = entry.metrics
    if name in BARS:
        key, bar = BARS[name]
        assert metrics[key] <= bar, f"{name}: {key} {metrics[key]:.5f} > {bar}"
    code = aezoo.info(name)["latent_dim"]
    pca = PCA_MSE[entry.dataset][code]
    if entry.architecture == "linear":
        assert metrics["mse"] <= pca * 1.02, f"{name}: mse {metrics['mse']:.5f} not within 2 % of PCA-{code} {pca}"
    else:
        assert metrics["mse"] < pca, f"{name}: mse {metrics['mse']:.5f} does not beat PCA-{code} {pca}"
    if entry.architecture == "vae":
        assert metrics["nll_samples"] >= 1000 and metrics["nll"] > 0
    if entry.architecture == "denoising":
        assert metrics["psnr_denoised"] > metrics["psnr_noisy"]


@pytest.mark.slow  # a fresh offline process
def test_load_needs_no_network() -> None:
    """A fresh process with the Hub unreachable (and offline mode on) loads a bundled model."""
    code = "import aezoo; print(type(aezoo.load('conv-mnist')).__name__)"
    env = {"HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ConvAE"


def test_a_tampered_bundle_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aezoo.testing.plugin import hub_offline  # no Hub to fall back to

    name = "linear-mnist"
    copy = tmp_path / name
    copy.mkdir()
    for p in bundle_of(name).iterdir():
        (copy / p.name).write_bytes(p.read_bytes())
    data = bytearray((copy / "model.safetensors").read_bytes())
    data[-1] ^= 1
    (copy / "model.safetensors").write_bytes(bytes(data))
    monkeypatch.setenv("AEZOO_WEIGHTS_DIR", str(tmp_path))
    hub_offline(monkeypatch)
    monkeypatch.setattr("aezoo.hub.pins.bundled_dirs", lambda n: [tmp_path / n])
    with pytest.raises(aezoo.WeightsError, match="sha256"):
        aezoo.load(name)


def test_publish_a_pretrained_name_to_its_default_repo(local_hub, hub_token) -> None:
    name = "linear-mnist"
    commit = aezoo.publish(name, token=hub_token)
    entry = aezoo.get_pretrained(name)
    assert (
        local_hub.file_bytes(entry.repo_id, "model.safetensors", revision=commit)
        == (bundle_of(name) / "model.safetensors").read_bytes()
    )
    model = aezoo.load(f"hf-hub:{entry.repo_id}@{commit}")
    x = torch.rand(4, 1, 28, 28)
    assert torch.equal(model(x).reconstruction, aezoo.load(name)(x).reconstruction)


def test_cli_lists_pretrained_with_metrics() -> None:
    from click.testing import CliRunner

    from aezoo.cli.main import cli

    result = CliRunner().invoke(cli, ["list", "--pretrained"])
    assert result.exit_code == 0
    for name in NAMES:
        assert any(line.startswith(name + " ") and "mse=" in line for line in result.output.splitlines())
    info = CliRunner().invoke(cli, ["info", NAMES[0]])
    assert info.exit_code == 0 and aezoo.get_pretrained(NAMES[0]).sha256 in info.output
