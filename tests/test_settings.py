"""Settings: one module reads the environment, one parser for true/false, one table documents them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import aezoo
from aezoo.core import settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", True),
        ("true", True),
        (" Yes ", True),
        ("ON", True),
        ("0", False),
        ("", False),
        ("no", False),
        ("Off", False),
    ],
)
def test_one_true_false_parser(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("AEZOO_DISABLE_PLUGIN_AUTOLOAD", value)
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    assert settings.plugin_autoload_disabled() is expected
    assert settings.hf_offline() is expected


def test_a_value_that_is_neither_true_nor_false_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AEZOO_DISABLE_PLUGIN_AUTOLOAD", "maybe")
    with pytest.raises(aezoo.ConfigError, match=r"\$AEZOO_DISABLE_PLUGIN_AUTOLOAD is 'maybe'.*1/true/yes/on"):
        settings.plugin_autoload_disabled()


@pytest.mark.parametrize("value", ["soon", "-1", "0"])
def test_a_bad_number_is_an_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    from aezoo.hub.transport import hub_timeout
    from aezoo.io.serialization import max_weights_bytes

    monkeypatch.setenv("AEZOO_HUB_TIMEOUT", value)
    with pytest.raises(aezoo.HubError, match="AEZOO_HUB_TIMEOUT"):
        hub_timeout()
    monkeypatch.setenv("AEZOO_MAX_WEIGHTS_BYTES", value)
    with pytest.raises(aezoo.WeightsError, match="AEZOO_MAX_WEIGHTS_BYTES"):
        max_weights_bytes()


def test_paths_and_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AEZOO_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert settings.cache_dir() == tmp_path / "xdg" / "aezoo"
    monkeypatch.setenv("AEZOO_CACHE", str(tmp_path / "c"))
    assert settings.cache_dir() == tmp_path / "c"
    monkeypatch.setenv("AEZOO_WEIGHTS_DIR", f"{tmp_path / 'a'}:{tmp_path / 'b'}:")
    assert settings.weights_dirs() == [tmp_path / "a", tmp_path / "b"]
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert settings.torchrun() == (1, 0, 0)


def test_the_docs_table_lists_every_setting() -> None:
    text = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    documented = re.findall(r"^\| `([A-Z_]+)` \|", text, flags=re.M)
    assert documented == [s.name for s in settings.SETTINGS]


def test_no_other_module_reads_the_environment() -> None:
    reads = re.compile(r"os\.environ\.get\(|os\.environ\[|os\.getenv\(|environ\.get\(")
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "aezoo").rglob("*.py"))
        if path.name != "settings.py" and reads.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
