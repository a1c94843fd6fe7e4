"""The contractive autoencoder: aezoo's conformance kit, the closed-form penalty, and its pretrained entry."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest
import torch
from aezoo_contractive import ContractiveAE, contraction_penalty

import aezoo
from aezoo.testing.conformance import check_architecture, conformance_parametrize

SMALL = {"input_shape": (1, 8, 8), "latent_dim": 8}
BUNDLE = Path(__file__).resolve().parents[1] / "weights" / "contractive-mnist"


@conformance_parametrize(["contractive"], overrides={"contractive": SMALL})
def test_conformance(case) -> None:
    case.run()


def test_tied_linear_variant_conforms() -> None:
    check_architecture("contractive", config_overrides={**SMALL, "tied": True, "output_activation": "linear"})


def test_closed_form_penalty_is_the_jacobian_norm() -> None:
    model = aezoo.create("contractive", **SMALL).double()
    x = torch.rand(3, 1, 8, 8, dtype=torch.float64)
    by_autograd = []
    for xi in x:
        jac = torch.autograd.functional.jacobian(lambda v: model.encode(v.view(1, 1, 8, 8))[0], xi.flatten())
        assert jac.shape == (8, 64)
        by_autograd.append(jac.pow(2).sum())
    closed = contraction_penalty(model.encode(x), model.encoder.weight)
    torch.testing.assert_close(closed, torch.stack(by_autograd))


def test_penalty_makes_the_encoder_contractive() -> None:
    x = torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    norms = {}
    for lam in (0.0, 1.0):
        torch.manual_seed(0)
        model = aezoo.create("contractive", **SMALL, contraction=lam)
        opts = model.configure_optimizers(lambda p: torch.optim.Adam(p, lr=1e-2))
        for _ in range(30):
            model.training_step(x, opts)
        with torch.no_grad():
            norms[lam] = float(model.eval().evaluation_metrics(x)["jacobian_frobenius"].mean())
    assert norms[1.0] < 0.5 * norms[0.0]


def test_bad_config_is_a_config_error() -> None:
    with pytest.raises(aezoo.ConfigError, match="output_activation"):
        aezoo.create("contractive", output_activation="relu")


def test_pretrained_entry_is_registered() -> None:
    assert "contractive-mnist" in aezoo.list_models(pretrained=True)
    weights = aezoo.info("contractive-mnist")["weights"]
    assert weights["repo_id"] == "aezoo-contrib/contractive-mnist"
    assert weights["package"] == "aezoo-contractive"
    assert aezoo.create("contractive-mnist", pretrained=False).latent_dim == 64


def test_the_shipped_entry_pins_the_bundle() -> None:
    entry = aezoo.get_pretrained("contractive-mnist")
    assert hashlib.sha256((BUNDLE / "model.safetensors").read_bytes()).hexdigest() == entry.sha256
    assert dict(entry.metrics) == json.loads((BUNDLE / "metrics.json").read_text())


def test_release_then_load_the_shipped_entry_from_the_hub(local_hub, tmp_path, monkeypatch) -> None:
    """The maintainer's path: `aezoo release` the bundle, then users load the pinned entry by name."""
    from click.testing import CliRunner
    from huggingface_hub import ModelCard

    from aezoo.cli.main import cli
    from aezoo.io.cards import card_metrics
    from aezoo.io.pretrained import read_manifest

    manifest = tmp_path / "pretrained.json"
    manifest.write_text((Path(__file__).resolve().parents[1] / "aezoo_contractive" / "pretrained.json").read_text())
    args = ["release", "--weights", str(BUNDLE.parent), "--manifest", str(manifest)]
    result = CliRunner().invoke(cli, [*args, "--org", "aezoo-contrib", "--package", "aezoo-contractive"])
    assert result.exit_code == 0, result.output
    (entry,) = read_manifest(manifest.read_text(), package="aezoo-contractive")
    shipped = aezoo.get_pretrained("contractive-mnist")
    assert entry == dataclasses.replace(shipped, revision=entry.revision) and entry.revision
    card_file = tmp_path / "README.md"
    card_file.write_bytes(local_hub.file_bytes(entry.repo_id, "README.md", entry.revision))
    card = ModelCard.load(card_file)
    assert "pip install aezoo-contractive" in card.text and card.data.library_name == "aezoo"
    assert card_metrics(card) == dict(entry.metrics)  # jacobian_frobenius, the plugin's own, included
    monkeypatch.setenv("AEZOO_WEIGHTS_DIR", str(tmp_path / "no-bundles"))  # the Hub is the only source
    from aezoo.loading.loader import load_pretrained

    model = load_pretrained(entry)
    x = torch.rand(4, 1, 28, 28)
    assert torch.equal(model(x).reconstruction, aezoo.load(BUNDLE)(x).reconstruction)


def _train_tiny(out_dir):
    data = aezoo.DeviceDataset(torch.rand(96, 1, 8, 8, generator=torch.Generator().manual_seed(0)), name="random")
    model = aezoo.create("contractive", **SMALL)
    config = aezoo.TrainConfig(epochs=2, batch_size=32, device="cpu", seed=0, val_fraction=0.0)
    aezoo.Trainer(model, config, out_dir=out_dir, progress=False).fit(data)
    return model


def test_pretrained_entry_loads_from_the_hub_pinned_and_verified(local_hub, tmp_path) -> None:
    from aezoo.loading.loader import load_pretrained

    model = _train_tiny(tmp_path / "run")
    commit = aezoo.publish(tmp_path / "run", "aezoo-contrib/contractive-mnist")
    card = local_hub.file_bytes("aezoo-contrib/contractive-mnist", "README.md", commit).decode()
    assert "pip install aezoo-contractive" in card  # the distribution that registers the architecture
    sha256 = hashlib.sha256((tmp_path / "run" / "model.safetensors").read_bytes()).hexdigest()

    # The packaged entry with the numbers a real publication returns: commit and file hash.
    entry = dataclasses.replace(
        ContractiveAE.pretrained[0],
        revision=commit,
        sha256=sha256,
        config={**ContractiveAE.pretrained[0].config, **SMALL},
        preprocessing={},  # the pin covers the preprocessing too: the tiny model's is the default
    )
    loaded = load_pretrained(entry)
    assert type(loaded) is ContractiveAE and not loaded.training
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value.cpu()), key

    tampered = dataclasses.replace(entry, sha256="f" * 64)
    with pytest.raises((aezoo.WeightsError, aezoo.HubError), match="sha256"):
        load_pretrained(tampered)
