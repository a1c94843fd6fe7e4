"""Third-party plugins end to end: the example plugin registers, and a plugin for another API is skipped."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import aezoo
from aezoo.cli.main import cli
from aezoo.registry import architectures as registry
from aezoo.registry.scaffold import write_dist_info
from aezoo.testing.conformance import check_architecture
from aezoo.training.layerwise import LayerwiseConfig, LayerwisePretrainer

EXAMPLE = Path(__file__).resolve().parents[1] / "plugins" / "aezoo-contractive"


def test_example_plugin_joins_the_zoo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_registry: None) -> None:
    write_dist_info(tmp_path, "aezoo-contractive", "0.1.0", {"contractive": "aezoo_contractive.model:ContractiveAE"})
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.reset()
    assert "contractive" in aezoo.list_models()
    assert "contractive-mnist" in aezoo.list_models(pretrained=True)
    runner = CliRunner()
    listing = runner.invoke(cli, ["list"])
    assert listing.exit_code == 0
    assert any(
        line.startswith("contractive ") and line.endswith("[aezoo-contractive 0.1.0]")
        for line in listing.output.splitlines()
    ), listing.output
    plugins = runner.invoke(cli, ["plugins"])
    assert re.search(r"^contractive +aezoo-contractive 0\.1\.0  loaded", plugins.output, re.M), plugins.output
    check_architecture("contractive", config_overrides={"input_shape": (1, 8, 8), "latent_dim": 8})
    # It opts in as a layer-wise stage: sigmoid contractive layers, then a plain linear code layer.
    data = aezoo.DeviceDataset(torch.rand(128, 1, 8, 8, generator=torch.Generator().manual_seed(0)))
    cfg = LayerwiseConfig(
        dims=(64, 16, 4),
        kind=("contractive", "plain"),
        layer_epochs=2,
        finetune_epochs=0,
        device="cpu",
        stage_options={"contractive": {"contraction": 0.1}},
    )
    engine = LayerwisePretrainer(cfg, progress=False)
    model, report = engine.fit(data)
    assert report.stages[0]["architecture"] == "contractive" and "contraction" in report.stages[0]["history"][0]
    assert engine.stages[0].config.contraction == 0.1
    with torch.no_grad():
        torch.testing.assert_close(
            model.encode(data.x), engine.stages[1].encode(engine.stages[0].encode(data.x.flatten(1)))
        )


_FUTURE = '''
import dataclasses, math
from torch import nn
import aezoo

@dataclasses.dataclass(frozen=True)
class FutureConfig(aezoo.AEConfig):
    latent_dim: int = 2  # code size

class FutureAE(aezoo.Autoencoder):
    """Written for a plugin API this aezoo does not implement."""
    architecture = "future"
    config_class = FutureConfig
    api_version = 99
'''


def test_plugin_for_another_api_version_is_skipped_and_reported(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fresh_registry: None,
) -> None:
    (tmp_path / "aezoo_future.py").write_text(_FUTURE)
    write_dist_info(tmp_path, "aezoo-future", "0.1", {"future": "aezoo_future:FutureAE"})
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.reset()
    with pytest.warns(aezoo.PluginWarning, match=r"'future' from aezoo-future 0.1 was not loaded \(incompatible\)"):
        names = aezoo.list_models()
    assert "future" not in names and "linear" in names

    rec = next(r for r in aezoo.plugins() if r.name == "future")
    assert rec.status == "incompatible"
    want = f"written for aezoo plugin API 99, but this aezoo supports API {aezoo.PLUGIN_API_VERSION}"
    assert want in rec.error
    runner = CliRunner()
    plugins = runner.invoke(cli, ["plugins"])
    assert plugins.exit_code == 0
    assert re.search(rf"^future +aezoo-future 0\.1  incompatible: {re.escape(want)}", plugins.output, re.M)
    assert "linear" in plugins.output and "loaded" in plugins.output

    # Everything else keeps working.
    listing = runner.invoke(cli, ["list"])
    assert listing.exit_code == 0 and "linear" in listing.output and "future" not in listing.output
    with pytest.raises(aezoo.PluginError, match="incompatible"):
        aezoo.create("future")
    assert aezoo.create("linear", input_shape=(1, 8, 8)).latent_dim == 2


def test_autoload_can_be_disabled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_registry: None) -> None:
    (tmp_path / "aezoo_future.py").write_text(_FUTURE)
    write_dist_info(tmp_path, "aezoo-future", "0.1", {"future": "aezoo_future:FutureAE"})
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("AEZOO_DISABLE_PLUGIN_AUTOLOAD", "1")
    registry.reset()
    assert "future" not in aezoo.list_models()  # no warning: it is not even imported
    assert "aezoo_future" not in sys.modules
    rec = next(r for r in aezoo.plugins() if r.name == "future")
    assert rec.status == "disabled" and "AEZOO_DISABLE_PLUGIN_AUTOLOAD" in rec.error
