"""The ecosystem's conventions: torch.hub entry points, Hub-valid model cards, warm starts recording their base.

``ModelCard.validate()`` posts the card to the Hub, so the check here is offline and explicit
(:func:`check_card`): the YAML front matter parses strictly into ``huggingface_hub.ModelCardData``
(which turns ``model-index`` into ``EvalResult`` objects and refuses a malformed one), ``library_name``
is aezoo, ``pipeline_tag`` is one of the Hub's pipeline tags, ``base_model`` (when present) is a valid
repo id, and ``model-index`` round-trips through ``model_index_to_eval_results`` /
``eval_results_to_model_index`` and has the fields the Hub's model-index schema requires
(``name``; per result ``task.type``, ``dataset.type``, ``dataset.name``, ``metrics[].type`` and a
numeric ``metrics[].value``).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from huggingface_hub import ModelCard
from huggingface_hub.repocard_data import eval_results_to_model_index, model_index_to_eval_results
from huggingface_hub.utils import validate_repo_id

import aezoo
from aezoo.cli.main import cli
from aezoo.io.cards import build_card
from aezoo.io.serialization import read_config
from aezoo.registry import get_pretrained

REPO = Path(__file__).resolve().parents[1]
NAMES = aezoo.list_models(pretrained=True)
# Some of the Hub's pipeline tags (its task list, huggingface.co/tasks): the ones an autoencoder's card may use.
PIPELINE_TAGS = {
    "feature-extraction",
    "image-feature-extraction",
    "image-to-image",
    "unconditional-image-generation",
    "image-classification",
}


def check_card(text: str) -> dict[str, Any]:
    """The offline checks of the module's docstring; returns the front matter."""
    card = ModelCard(text, ignore_metadata_errors=False)
    meta = card.data.to_dict()
    assert meta["library_name"] == "aezoo"
    assert meta["pipeline_tag"] in PIPELINE_TAGS
    if "base_model" in meta:
        validate_repo_id(meta["base_model"])
        assert meta["base_model_relation"] == "finetune"
    for dataset in meta.get("datasets") or []:
        assert isinstance(dataset, str) and not dataset.startswith(("/", "hf:"))
    index = meta["model-index"]
    name, results = model_index_to_eval_results(index)
    assert eval_results_to_model_index(name, results) == index
    for model in index:
        assert isinstance(model["name"], str) and model["results"]
        for result in model["results"]:
            assert result["task"]["type"] in PIPELINE_TAGS
            assert result["dataset"]["type"] and result["dataset"]["name"]
            for metric in result["metrics"]:
                assert metric["type"] and isinstance(metric["value"], (int, float))
    return meta


def _hubconf() -> Any:
    spec = importlib.util.spec_from_file_location("aezoo_hubconf", REPO / "hubconf.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hubconf_lists_one_entry_per_pretrained_model() -> None:
    module = _hubconf()
    # what torch.hub.list returns: the public callables of hubconf.py
    entries = sorted(f for f in dir(module) if callable(getattr(module, f)) and not f.startswith("_"))
    assert entries == sorted(n.replace("-", "_") for n in NAMES)
    assert "torch" in module.dependencies


def test_torch_hub_load_from_a_clone() -> None:
    model = torch.hub.load(str(REPO), "conv_mnist", source="local", trust_repo=True, verbose=False)
    reference = aezoo.load("conv-mnist")
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(model(x).reconstruction, reference(x).reconstruction)
    assert model.base_model["sha256"] == get_pretrained("conv-mnist").sha256
    fresh = torch.hub.load(str(REPO), "conv_mnist", source="local", pretrained=False, latent_dim=4, verbose=False)
    assert fresh.latent_dim == 4 and fresh.base_model is None


@pytest.mark.parametrize("name", NAMES)
def test_the_card_each_pretrained_model_is_published_with_validates(name: str) -> None:
    """What ``aezoo release``/``publish`` uploads for each bundle (the card is built at publish time)."""
    entry = get_pretrained(name)
    config = read_config(REPO / "weights" / name)
    meta = check_card(str(build_card(config, repo_id=entry.repo_id, metrics=dict(entry.metrics))))
    assert meta["pipeline_tag"] == "image-feature-extraction"  # every bundled model reads images
    assert "base_model" not in meta  # trained from scratch


def test_a_table_model_card_and_a_card_without_metrics() -> None:
    config = {"architecture": "mlp", "config": {"input_shape": [12], "latent_dim": 2}, "dataset": "hf:me/table"}
    meta = check_card(str(build_card(config, repo_id="me/mlp-table", metrics={"mse": 0.5})))
    assert meta["pipeline_tag"] == "feature-extraction" and meta["datasets"] == ["me/table"]
    bare = ModelCard(str(build_card(config, repo_id="me/x"))).data.to_dict()
    assert bare["library_name"] == "aezoo" and "model-index" not in bare


def test_python_warm_start_records_its_base_model(tmp_path: Path) -> None:
    data = aezoo.DeviceDataset(torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0)), name="rand")
    model = aezoo.train(aezoo.load("linear-mnist"), data, epochs=1, batch_size=32, progress=False, device="cpu")
    config = read_config(model.save_pretrained(tmp_path / "ft"))
    entry = get_pretrained("linear-mnist")
    assert config["training"]["base_model"] == {
        "name": "linear-mnist",
        "repo_id": entry.repo_id,
        "revision": entry.revision,
        "sha256": entry.sha256,
    }
    card = build_card(config, repo_id="me/linear-ft", metrics={"mse": 0.1})
    assert check_card(str(card))["base_model"] == entry.repo_id and "## Base model" in card.text
    scratch = aezoo.train("linear", data, epochs=1, batch_size=32, progress=False, device="cpu")
    assert "base_model" not in read_config(scratch.save_pretrained(tmp_path / "scratch"))["training"]


@pytest.mark.timeout(180)
def test_cli_warm_start_on_another_dataset(shared_data_copy: Path, tmp_path: Path) -> None:
    """``aezoo train conv-mnist --from-pretrained --dataset fashion-mnist``: starts from the weights, records them."""
    out = tmp_path / "ft"
    args = ["train", "conv-mnist", "--from-pretrained", "--dataset", "fashion-mnist", "--data-dir", shared_data_copy]
    args += ["--limit", "128", "--epochs", "1", "-b", "64", "--lr", "1e-9", "--device", "cpu", "-q", "--out", out]
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    tuned, base = aezoo.load(out), aezoo.load("conv-mnist")
    for (k, a), b in zip(tuned.state_dict().items(), base.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-5), k  # a learning rate of 1e-9 keeps the pretrained weights
    config = json.loads((out / "config.json").read_text())
    assert config["training"]["base_model"]["name"] == "conv-mnist"
    assert config["training"]["dataset"] == "fashion-mnist"
    meta = check_card(str(build_card(config, repo_id="me/conv-fashion-ft", metrics={"mse": 0.01})))
    assert meta["base_model"] == "aezoo/conv-mnist" and meta["datasets"] == ["fashion-mnist"]

    refused = CliRunner().invoke(cli, ["train", "conv-mnist", "--from-pretrained", "--set", "latent_dim=3", "-o", out])
    assert refused.exit_code == 1 and "--set latent_dim=3 would change the config" in refused.output
