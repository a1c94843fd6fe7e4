"""Registry: discovery through real installed distributions, failures that never break the zoo."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch

import aezoo
from aezoo.registry import architectures as registry
from aezoo.registry.scaffold import write_dist_info

BUILTINS = {"aae", "conv", "deep", "denoising", "linear", "mlp", "sparse", "stacked", "tied", "vae"}

PLUGIN_MODULE = '''
import dataclasses
from torch import nn
import aezoo

@dataclasses.dataclass(frozen=True)
class Cfg(aezoo.AEConfig):
    latent_dim: int = 3  # code size

class {cls}(aezoo.Autoencoder):
    """A throwaway plugin architecture."""
    architecture = {arch!r}
    config_class = Cfg
    api_version = {api}

    def __init__(self, config):
        super().__init__(config)
        self.enc = nn.Linear(784, config.latent_dim)
        self.dec = nn.Linear(config.latent_dim, 784)

    def _encode(self, x):
        return self.enc(x.flatten(1))

    def _decode(self, z):
        return self.dec(z).view(-1, *self.input_shape)
'''


def make_distribution(
    root: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str], version: str = "0.1"
) -> None:
    """Install a throwaway distribution (``*.dist-info`` + modules) into ``root``, a sys.path entry."""
    write_dist_info(root, dist, version, entry_points)
    for name, source in modules.items():
        (root / f"{name}.py").write_text(textwrap.dedent(source))


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_registry: None) -> Path:
    """A fresh sys.path entry to install throwaway distributions into; the registry rescans."""
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    return tmp_path


def test_builtins_are_registered_through_entry_points() -> None:
    names = set(aezoo.list_models())
    assert names >= BUILTINS
    records = {r.name: r for r in aezoo.plugins()}
    for name in BUILTINS:
        assert records[name].builtin and records[name].distribution == "aezoo"
        assert records[name].status == "loaded", records[name].error
        assert records[name].location.endswith(".py")


def test_list_models_patterns_sorted() -> None:
    assert aezoo.list_models("conv*") == ["conv"]
    assert aezoo.list_models(["li*", "ml*"]) == ["linear", "mlp"]
    assert aezoo.list_models(exclude="*e*") == sorted(n for n in aezoo.list_models() if "e" not in n)
    assert aezoo.list_models() == sorted(aezoo.list_models())


def test_unknown_name_lists_close_matches() -> None:
    with pytest.raises(aezoo.UnknownNameError, match="did you mean 'linear'"):
        aezoo.create("linaer")
    with pytest.raises(KeyError):  # also a KeyError, for code that catches that
        aezoo.get_architecture("nope-nothing")


def test_create_with_overrides_and_bad_key() -> None:
    model = aezoo.create("linear", latent_dim=5)
    assert model.latent_dim == 5
    with pytest.raises(aezoo.ConfigError, match="did you mean 'latent_dim'"):
        aezoo.create("linear", latnt_dim=5)


def test_info_reports_size_and_shapes() -> None:
    data = aezoo.info("linear")
    assert data["architecture"] == "linear"
    assert data["num_params"] == 784 * 2 + 2 + 2 * 784 + 784
    assert data["input_shape"] == [1, 28, 28] and data["latent_dim"] == 2
    assert data["distribution"].startswith("aezoo ")


def test_plugin_distribution_joins_the_zoo(site: Path) -> None:
    make_distribution(
        site,
        "aezoo-fake",
        {"fakeae": "aezoo_fake_ok:FakeAE"},
        {"aezoo_fake_ok": PLUGIN_MODULE.format(cls="FakeAE", arch="fakeae", api=aezoo.PLUGIN_API_VERSION)},
        version="1.2.3",
    )
    assert "fakeae" in aezoo.list_models()
    model = aezoo.create("fakeae", latent_dim=4)
    assert model(torch.rand(2, 1, 28, 28)).latent.shape == (2, 4)
    rec = next(r for r in aezoo.plugins() if r.name == "fakeae")
    assert (rec.distribution, rec.version, rec.status, rec.builtin) == ("aezoo-fake", "1.2.3", "loaded", False)


def test_broken_plugins_are_reported_not_fatal(site: Path) -> None:
    make_distribution(
        site,
        "aezoo-fake-broken",
        {
            "broken": "aezoo_fake_broken:Model",  # raises at import
            "notamodel": "aezoo_fake_notmodel:thing",  # not an Autoencoder
            "conv": "aezoo_fake_shadow:FakeAE",  # tries to shadow a built-in
            "future": "aezoo_fake_future:FutureAE",  # incompatible plugin API
        },
        {
            "aezoo_fake_broken": "raise RuntimeError('boom at import')\n",
            "aezoo_fake_notmodel": "thing = 42\n",
            "aezoo_fake_shadow": PLUGIN_MODULE.format(cls="FakeAE", arch="conv", api=aezoo.PLUGIN_API_VERSION),
            "aezoo_fake_future": PLUGIN_MODULE.format(cls="FutureAE", arch="future", api=99),
        },
    )
    with pytest.warns(aezoo.PluginWarning) as caught:
        names = aezoo.list_models()
    assert len(caught) == 4
    assert set(names) >= BUILTINS
    assert not {"broken", "notamodel", "future"} & set(names)
    records = {(r.name, r.distribution): r for r in aezoo.plugins()}
    assert records[("broken", "aezoo-fake-broken")].status == "failed"
    assert "boom at import" in records[("broken", "aezoo-fake-broken")].error
    assert records[("notamodel", "aezoo-fake-broken")].status == "failed"
    shadow = records[("conv", "aezoo-fake-broken")]
    assert shadow.status == "conflict" and "built into aezoo" in shadow.error
    assert type(aezoo.create("conv")).__module__ == "aezoo.models.conv"  # the built-in still wins
    future = records[("future", "aezoo-fake-broken")]
    assert future.status == "incompatible" and "99" in future.error and str(aezoo.PLUGIN_API_VERSION) in future.error
    with pytest.raises(aezoo.PluginError, match="boom at import"):
        aezoo.create("broken")


def test_name_collision_between_plugins_keeps_the_first(site: Path) -> None:
    src = PLUGIN_MODULE.format(cls="FakeAE", arch="dup", api=aezoo.PLUGIN_API_VERSION)
    make_distribution(site, "aezoo-fake-a", {"dup": "aezoo_fake_a:FakeAE"}, {"aezoo_fake_a": src})
    make_distribution(site, "aezoo-fake-b", {"dup": "aezoo_fake_b:FakeAE"}, {"aezoo_fake_b": src})
    with pytest.warns(aezoo.PluginWarning, match="already provided by aezoo-fake-a"):
        assert "dup" in aezoo.list_models()
    status = {r.distribution: r.status for r in aezoo.plugins() if r.name == "dup"}
    assert status == {"aezoo-fake-a": "loaded", "aezoo-fake-b": "conflict"}
    assert type(aezoo.create("dup")).__module__ == "aezoo_fake_a"


def test_autoload_can_be_disabled(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_distribution(
        site,
        "aezoo-fake",
        {"fakeae": "aezoo_fake_off:FakeAE"},
        {"aezoo_fake_off": PLUGIN_MODULE.format(cls="FakeAE", arch="fakeae", api=aezoo.PLUGIN_API_VERSION)},
    )
    monkeypatch.setenv(registry.DISABLE_AUTOLOAD_ENV, "1")
    assert set(aezoo.list_models()) == BUILTINS
    rec = next(r for r in aezoo.plugins() if r.name == "fakeae")
    assert rec.status == "disabled"
    assert "aezoo_fake_off" not in sys.modules  # never imported


def test_import_aezoo_is_cheap() -> None:
    """``import aezoo`` discovers nothing and does not import torch."""
    code = "import sys, aezoo; print('torch' in sys.modules, 'aezoo.registry.architectures' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_all_is_static_and_matches_the_lazy_table() -> None:
    """``__all__`` is a literal list (what linters and type checkers read) naming exactly the lazy names."""
    assert set(aezoo.__all__) == {"__version__", *aezoo._LAZY}
    assert len(aezoo.__all__) == len(set(aezoo.__all__))


def test_lazy_api_surface() -> None:
    for name in aezoo.__all__:
        if name != "__version__":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                getattr(aezoo, name)
    with pytest.raises(AttributeError):
        aezoo.does_not_exist  # noqa: B018 -- the attribute access alone is what raises
