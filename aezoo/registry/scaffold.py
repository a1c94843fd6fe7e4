"""``aezoo new-plugin``: write a minimal, working plugin package that passes the conformance kit.

The package has the naming the plugin guide (docs/plugins.md) asks for: distribution ``aezoo-<name>``,
import package ``aezoo_<name>``, a lowercase architecture name. As generated it installs with
``pip install -e`` and its own tests pass; the author then replaces the model with theirs.
"""

from __future__ import annotations

import keyword
import re
import string
import warnings
from collections.abc import Mapping
from pathlib import Path

from ..core.errors import PluginError

__all__ = ["new_plugin", "plugin_names", "write_dist_info"]

# PEP 508 distribution names.
_DIST_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
_ARCH_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def plugin_names(name: str, arch_name: str | None = None) -> dict[str, str]:
    """The names a plugin called ``name`` gets: distribution, package, architecture and class prefix.

    >>> plugin_names("aezoo-my-ae")["package"], plugin_names("aezoo-my-ae")["arch"]
    ('aezoo_my_ae', 'my_ae')
    """
    if not _DIST_NAME.match(name):
        raise PluginError(
            f"{name!r} is not a valid distribution name: use letters, digits, '-', '_' and '.', starting and "
            "ending with a letter or digit, e.g. 'aezoo-contractive'"
        )
    package = re.sub(r"[-_.]+", "_", name).lower()
    if package == "aezoo":
        raise PluginError("a plugin cannot be called 'aezoo' (that is aezoo itself); use e.g. 'aezoo-<name>'")
    if not package.isidentifier() or keyword.iskeyword(package):
        raise PluginError(
            f"{name!r} gives the import package {package!r}, which is not a Python identifier; "
            "start the name with a letter, e.g. 'aezoo-contractive'"
        )
    if arch_name is None:
        arch_name = re.sub(r"^aezoo_", "", package)
    if not _ARCH_NAME.match(arch_name):
        raise PluginError(
            f"architecture name {arch_name!r} must be lowercase letters, digits and '_', starting with a letter; "
            "choose one with --arch-name"
        )
    camel = "".join(part.capitalize() for part in arch_name.split("_") if part)
    return {"distribution": name, "package": package, "arch": arch_name, "camel": camel}


def new_plugin(name: str, directory: str | Path | None = None, *, arch_name: str | None = None) -> Path:
    """Write a plugin package for ``name`` into ``directory`` (default ``./<name>``); returns it.

    Refuses an existing non-empty directory and architecture names that the zoo already has.

    >>> import tempfile
    >>> path = new_plugin("aezoo-demo", Path(tempfile.mkdtemp()) / "aezoo-demo")
    >>> sorted(p.name for p in path.iterdir())
    ['README.md', 'aezoo_demo', 'pyproject.toml', 'tests']
    """
    from ..models.base import PLUGIN_API_VERSION
    from .architectures import PluginWarning, list_models

    names = plugin_names(name, arch_name)
    with warnings.catch_warnings():  # a broken plugin elsewhere does not concern this command
        warnings.simplefilter("ignore", PluginWarning)
        taken = list_models()
    if names["arch"] in taken:
        raise PluginError(
            f"the architecture name {names['arch']!r} is already in the zoo (see `aezoo list`); "
            "choose another with --arch-name"
        )
    root = Path(directory) if directory is not None else Path.cwd() / name
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise PluginError(f"{str(root)!r} exists and is not empty; choose another --dir or remove it first")
    values = {**names, "api_version": str(PLUGIN_API_VERSION)}
    pkg = root / names["package"]
    files = {
        root / "pyproject.toml": _PYPROJECT,
        root / "README.md": _README,
        pkg / "__init__.py": _INIT,
        pkg / "model.py": _MODEL,
        pkg / "pretrained.json": "{}\n",
        root / "tests" / "test_conformance.py": _TEST,
    }
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(string.Template(template).substitute(values), encoding="utf-8")
    return root


def write_dist_info(site_dir: str | Path, name: str, version: str, entry_points: Mapping[str, str]) -> Path:
    """Make ``site_dir`` (a ``sys.path`` entry) hold installed-looking metadata for ``name``.

    ``entry_points`` maps architecture names to ``"module:Class"``. This is what ``pip install``
    records, without building anything: tests use it to register a plugin whose source is on
    ``sys.path``; call ``aezoo.registry.reset()`` afterwards.
    """
    folder = Path(site_dir) / f"{re.sub(r'[-_.]+', '_', name)}-{version}.dist-info"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8")
    lines = ["[aezoo.architectures]", *(f"{k} = {v}" for k, v in entry_points.items()), ""]
    (folder / "entry_points.txt").write_text("\n".join(lines), encoding="utf-8")
    (folder / "RECORD").write_text("", encoding="utf-8")
    return folder


_PYPROJECT = """\
[build-system]
requires = ["setuptools>=68", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "${distribution}"
version = "0.1.0"
description = "The ${arch} autoencoder as an aezoo plugin."
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["aezoo>=0.1"]

[project.optional-dependencies]
test = ["pytest>=8"]

# What makes this an aezoo plugin: architecture name = "module:class".
[project.entry-points."aezoo.architectures"]
${arch} = "${package}.model:${camel}AE"

[tool.setuptools.packages.find]
include = ["${package}*"]

# The pretrained entries (written by `aezoo release`) travel inside the wheel.
[tool.setuptools.package-data]
${package} = ["pretrained.json"]

[tool.pytest.ini_options]
testpaths = ["tests"]
filterwarnings = ["error::aezoo.registry.PluginWarning"]
"""

_README = """\
# ${distribution}

An [aezoo](https://huggingface.co/aezoo) plugin that adds the `${arch}` architecture.

## Install and use

```bash
pip install -e .            # from this folder; aezoo finds the plugin through its entry point
aezoo list                  # shows ${arch}  [${distribution} 0.1.0]
aezoo train ${arch} --dataset mnist --epochs 5 --out runs/${arch}
```

```python
import aezoo
model = aezoo.create("${arch}", latent_dim=8)
```

## Test

```bash
pip install -e ".[test]" && python -m pytest -q
```

The tests run aezoo's conformance kit (`aezoo.testing.conformance`) over the architecture.
See aezoo's plugin guide (docs/plugins.md) for the contract, configs, pretrained weights and naming.

## Pretrained weights

Put each trained model in `weights/NAME/` (`aezoo train ${arch} ... --out weights/NAME`, then
`aezoo bundle weights/NAME --name NAME` for its metrics and card) and publish them all with

```bash
aezoo release --weights weights --manifest ${package}/pretrained.json --org YOUR-ORG --package ${distribution}
```

It uploads each bundle to `YOUR-ORG/NAME` in one commit with its model card (which tells users to
`pip install ${distribution}`) and pins the commit, the sha256, the config and the preprocessing in
`${package}/pretrained.json`, which ships inside the wheel. After `pip install ${distribution}`,
`aezoo.load("NAME")` downloads exactly those files from the Hub and verifies them.
"""

_INIT = '''\
"""${distribution}: the ${arch} autoencoder for aezoo."""

from .model import ${camel}AE, ${camel}Config

__all__ = ["${camel}AE", "${camel}Config"]
'''

_MODEL = '''\
"""The ${arch} autoencoder. Replace this docstring with what it is and the paper it comes from."""

from __future__ import annotations

import dataclasses
import math

from torch import Tensor, nn

import aezoo

__all__ = ["${camel}AE", "${camel}Config"]


@dataclasses.dataclass(frozen=True)
class ${camel}Config(aezoo.AEConfig):
    latent_dim: int = 16  # size of the code
    hidden_dim: int = 128  # width of the hidden layer of the encoder and of the decoder

    def validate(self) -> None:
        if self.latent_dim <= 0 or self.hidden_dim <= 0:
            raise aezoo.ConfigError(
                f"latent_dim and hidden_dim must be positive, got {self.latent_dim!r} and {self.hidden_dim!r}"
            )


class ${camel}AE(aezoo.Autoencoder):
    """${camel} autoencoder: one hidden ReLU layer each way, sigmoid output."""

    architecture = "${arch}"  # must equal the entry-point name in pyproject.toml
    config_class = ${camel}Config
    api_version = ${api_version}  # the aezoo plugin API this class is written for
    pretrained = aezoo.manifest_entries("${package}", "${arch}")  # ${package}/pretrained.json (`aezoo release`)
    config: ${camel}Config

    def __init__(self, config: ${camel}Config) -> None:
        super().__init__(config)
        n = math.prod(config.input_shape)
        self.encoder = nn.Sequential(
            nn.Linear(n, config.hidden_dim), nn.ReLU(), nn.Linear(config.hidden_dim, config.latent_dim)
        )
        self.decoder = nn.Sequential(
            nn.Linear(config.latent_dim, config.hidden_dim), nn.ReLU(), nn.Linear(config.hidden_dim, n), nn.Sigmoid()
        )

    def _encode(self, x: Tensor) -> Tensor:
        return self.encoder(x.flatten(1))

    def _decode(self, z: Tensor) -> Tensor:
        return self.decoder(z).view(-1, *self.input_shape)
'''

_TEST = '''\
"""aezoo's conformance kit over this plugin's architecture: one test per check."""

from aezoo.testing.conformance import conformance_parametrize

SMALL = {"input_shape": (1, 8, 8), "latent_dim": 4, "hidden_dim": 16}  # keeps the checks fast


@conformance_parametrize(["${arch}"], overrides={"${arch}": SMALL})
def test_conformance(case) -> None:
    case.run()
'''
