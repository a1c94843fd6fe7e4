"""``aezoo new-plugin``: the generated package registers, conforms, and bad names or folders are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import aezoo
from aezoo.cli.main import cli
from aezoo.registry import architectures as registry
from aezoo.registry.scaffold import new_plugin, plugin_names, write_dist_info
from aezoo.testing.conformance import check_architecture


def test_generates_the_package(tmp_path: Path) -> None:
    root = new_plugin("aezoo-demo", tmp_path / "aezoo-demo")
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert files == [
        "README.md",
        "aezoo_demo/__init__.py",
        "aezoo_demo/model.py",
        "aezoo_demo/pretrained.json",
        "pyproject.toml",
        "tests/test_conformance.py",
    ]
    pyproject = (root / "pyproject.toml").read_text()
    assert 'name = "aezoo-demo"' in pyproject
    assert '[project.entry-points."aezoo.architectures"]\ndemo = "aezoo_demo.model:DemoAE"' in pyproject
    assert '[tool.setuptools.package-data]\naezoo_demo = ["pretrained.json"]' in pyproject  # entries in the wheel
    assert "aezoo release --weights weights --manifest aezoo_demo/pretrained.json" in (root / "README.md").read_text()
    model = (root / "aezoo_demo" / "model.py").read_text()
    assert f"api_version = {aezoo.PLUGIN_API_VERSION}" in model and 'architecture = "demo"' in model
    assert "from aezoo.models" not in model  # public API only
    assert 'conformance_parametrize(["demo"]' in (root / "tests" / "test_conformance.py").read_text()


def test_generated_plugin_registers_and_conforms(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fresh_registry: None,
) -> None:
    root = new_plugin("aezoo-demo", tmp_path / "aezoo-demo", arch_name="demo_ae")
    site = tmp_path / "site"
    write_dist_info(site, "aezoo-demo", "0.1.0", {"demo_ae": "aezoo_demo.model:DemoAeAE"})
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.syspath_prepend(str(site))
    registry.reset()
    assert "demo_ae" in aezoo.list_models()
    rec = next(r for r in aezoo.plugins() if r.name == "demo_ae")
    assert (rec.distribution, rec.version, rec.status) == ("aezoo-demo", "0.1.0", "loaded")
    assert rec.location.startswith(str(root))
    check_architecture("demo_ae", config_overrides={"input_shape": (1, 8, 8), "latent_dim": 4, "hidden_dim": 16})
    listing = CliRunner().invoke(cli, ["list", "demo*"])
    assert listing.exit_code == 0 and "[aezoo-demo 0.1.0]" in listing.output


def test_names() -> None:
    assert plugin_names("aezoo-my-ae") == {
        "distribution": "aezoo-my-ae",
        "package": "aezoo_my_ae",
        "arch": "my_ae",
        "camel": "MyAe",
    }
    assert plugin_names("Aezoo.Foo", "bar")["package"] == "aezoo_foo"


@pytest.mark.parametrize(
    ("name", "arch", "message"),
    [
        ("-bad", None, "not a valid distribution name"),
        ("aezoo foo", None, "not a valid distribution name"),
        ("aezoo", None, "cannot be called 'aezoo'"),
        ("1st-plugin", None, "not a Python identifier"),
        ("aezoo-x", "Bad-Name", "must be lowercase letters"),
        ("aezoo-vae", None, "'vae' is already in the zoo"),
    ],
)
def test_bad_names_are_refused(tmp_path: Path, name: str, arch: str | None, message: str) -> None:
    with pytest.raises(aezoo.PluginError, match=message):
        new_plugin(name, tmp_path / "out", arch_name=arch)
    assert not (tmp_path / "out").exists()


def test_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    result = CliRunner().invoke(cli, ["new-plugin", "aezoo-demo", "--dir", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "exists and is not empty" in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["keep.txt"]
    new_plugin("aezoo-demo", tmp_path / "empty")  # an empty directory is fine
    (tmp_path / "empty2").mkdir()
    assert (new_plugin("aezoo-demo", tmp_path / "empty2") / "pyproject.toml").is_file()


def test_cli_writes_into_the_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["new-plugin", "aezoo-demo"])
    assert result.exit_code == 0, result.output
    assert "architecture 'demo'" in result.output
    assert (tmp_path / "aezoo-demo" / "aezoo_demo" / "model.py").is_file()
