"""``aezoo release`` against the local Hub: one commit per bundle, pinned, idempotent; cards the Hub understands."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from huggingface_hub import ModelCard

import aezoo
from aezoo.cli.main import cli
from aezoo.io.cards import card_metrics
from aezoo.io.pretrained import read_manifest
from aezoo.io.serialization import WEIGHTS_NAME, sha256_file

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")
WEIGHTS = Path(__file__).resolve().parents[1] / "weights"


@pytest.fixture(autouse=True)
def _builtin_only(monkeypatch) -> None:
    monkeypatch.setenv("AEZOO_DISABLE_PLUGIN_AUTOLOAD", "1")


def _bundle(root: Path, name: str, seed: int, metrics: dict[str, float]) -> Path:
    torch.manual_seed(seed)
    model = aezoo.create("mlp", dims=[784, 4])
    d = model.save_pretrained(
        root / name,
        training={"command": f"aezoo train mlp --out /home/someone/runs/{name}", "dataset": "mnist/train:train"},
        reproduce=[f"aezoo train mlp --data-dir /srv/data --out /home/someone/runs/{name}"],
    )
    (d / "metrics.json").write_text(json.dumps(metrics))
    return d


def _release(weights: Path, manifest: Path, *extra: str) -> list[str]:
    result = CliRunner().invoke(
        cli, ["release", "--weights", str(weights), "--manifest", str(manifest), "--org", "zoo", *extra]
    )
    assert result.exit_code == 0, result.output
    return [m.group(0) for m in re.finditer(r"(published|unchanged) +\S+  hf-hub:\S+", result.output)]


def test_release_pins_each_bundle_once_and_is_idempotent(local_hub, tmp_path) -> None:
    weights, manifest = tmp_path / "weights", tmp_path / "pkg" / "pretrained.json"
    metrics = {"a-mnist": {"mse": 0.02, "psnr": 17.0}, "b-mnist": {"mse": 0.03, "jacobian_frobenius": 0.4}}
    for seed, (name, m) in enumerate(metrics.items()):
        _bundle(weights, name, seed, m)
    out = _release(weights, manifest, "--package", "aezoo-foo")
    assert [line.split()[0] for line in out] == ["published", "published"]
    entries = {e.name: e for e in read_manifest(manifest.read_text(), package="aezoo-foo")}
    for name, m in metrics.items():
        entry = entries[name]
        assert entry.repo_id == f"zoo/{name}" and local_hub.commits(entry.repo_id)[0] == entry.revision
        assert len(local_hub.commits(entry.repo_id)) == 2  # the repo's initial commit and one release commit
        assert entry.sha256 == sha256_file(weights / name / WEIGHTS_NAME) and dict(entry.metrics) == m
        card_path = tmp_path / f"{name}.md"
        card_path.write_bytes(local_hub.file_bytes(entry.repo_id, "README.md", entry.revision))
        card = ModelCard.load(card_path)
        assert card.data.library_name == "aezoo" and card_metrics(card) == m  # the plugin's own metric too
        assert json.loads(local_hub.file_bytes(entry.repo_id, "metrics.json", entry.revision)) == m
        assert "pip install aezoo-foo" in card.text
        assert "/home/someone" not in card.text and "/srv/data" not in card.text
        # What was released loads, pinned and verified, from the Hub.
        loaded = aezoo.load(f"hf-hub:{entry.repo_id}@{entry.revision}")
        assert torch.equal(loaded.encoder[0].weight, aezoo.load(weights / name).encoder[0].weight)
    before = manifest.read_text()
    out = _release(weights, manifest)
    assert [line.split()[0] for line in out] == ["unchanged", "unchanged"]
    assert manifest.read_text() == before
    assert all(len(local_hub.commits(f"zoo/{n}")) == 2 for n in metrics)
    # A changed bundle is published again; the other is left alone.
    _bundle(weights, "b-mnist", 7, metrics["b-mnist"])
    out = _release(weights, manifest)
    assert [line.split()[0] for line in out] == ["unchanged", "published"]
    assert len(local_hub.commits("zoo/a-mnist")) == 2 and len(local_hub.commits("zoo/b-mnist")) == 3


def test_release_of_the_real_bundles_then_load_by_name(local_hub, tmp_path, monkeypatch) -> None:
    """aezoo's own bundles: released, pinned, and loaded from the Hub alone (no bundled copy)."""
    weights = tmp_path / "weights"
    shutil.copytree(WEIGHTS / "linear-mnist", weights / "linear-mnist")
    manifest = tmp_path / "pretrained.json"
    _release(weights, manifest)
    (entry,) = read_manifest(manifest.read_text(), package="aezoo")
    builtin = aezoo.get_pretrained("linear-mnist")  # the same pin as the shipped entry, now with a commit
    assert entry == dataclasses.replace(builtin, repo_id="zoo/linear-mnist", revision=entry.revision, description="")
    from aezoo.loading.loader import load_pretrained

    x = torch.rand(4, 1, 28, 28)
    expected = aezoo.load("linear-mnist")(x).reconstruction
    monkeypatch.setattr("aezoo.hub.pins.bundled_dirs", lambda name: [])
    assert torch.equal(load_pretrained(entry)(x).reconstruction, expected)


def test_a_published_card_names_the_package_that_registers_the_architecture(local_hub, tmp_path) -> None:
    d = _bundle(tmp_path, "m", 0, {"mse": 0.1})
    commit = aezoo.publish(d, "zoo/m")
    card = local_hub.file_bytes("zoo/m", "README.md", commit).decode()
    assert "pip install aezoo\n" in card and "/home/someone" not in card


def test_release_errors_are_clear(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["release", "--weights", str(tmp_path / "nope")])
    assert result.exit_code == 1 and "is not a folder of bundles" in result.output


def test_release_refuses_a_bundle_with_a_link_before_uploading_anything(local_hub, hub_token, tmp_path) -> None:
    """Issue 23, item 1: a bundle's eval.json linking the token file is refused, for every bundle at once."""
    weights, manifest = tmp_path / "weights", tmp_path / "pkg" / "pretrained.json"
    _bundle(weights, "a-mnist", 0, {"mse": 0.02})
    bad = _bundle(weights, "b-mnist", 1, {"mse": 0.03})
    token_file = tmp_path / "token"
    token_file.write_text(hub_token)
    (bad / "eval.json").symlink_to(token_file)
    result = CliRunner().invoke(
        cli, ["release", "--weights", str(weights), "--manifest", str(manifest), "--org", "zoo"]
    )
    assert result.exit_code == 1 and "eval.json is a symlink" in result.output, result.output
    assert hub_token not in result.output
    assert local_hub.repo_ids() == [] and not manifest.exists()  # a-mnist was not published either


def test_a_release_the_hub_never_confirms_pins_nothing(local_hub, tmp_path, monkeypatch) -> None:
    """Issue 23, item 2: one deadline per bundle's publish; an unconfirmed commit gets no manifest pin."""
    weights, manifest = tmp_path / "weights", tmp_path / "pkg" / "pretrained.json"
    _bundle(weights, "a-mnist", 0, {"mse": 0.02})
    local_hub.delay = 5.0
    for args, env in ((["--timeout", "0.5"], None), ([], "0.5")):
        if env:
            monkeypatch.setenv("AEZOO_HUB_TIMEOUT", env)
        start = time.monotonic()
        result = CliRunner().invoke(
            cli, ["release", "--weights", str(weights), "--manifest", str(manifest), "--org", "zoo", *args]
        )
        assert time.monotonic() - start < 4, result.output
        assert result.exit_code == 1 and "did not confirm" in result.output, result.output
        assert "published" not in result.output.replace("nothing is reported as published", "")
        assert not manifest.exists()
    local_hub.delay = 0
