"""The registry commands of the CLI, through click's CliRunner and the real console script."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

import aezoo
from aezoo.cli.main import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_version_and_help() -> None:
    assert run("--version").output.strip() == f"aezoo, version {aezoo.__version__}"
    result = run("--help")
    assert result.exit_code == 0
    for command in ("list", "info", "plugins"):
        assert command in result.output
        assert run(command, "--help").exit_code == 0


def test_list_shows_all_architectures() -> None:
    result = run("list")
    assert result.exit_code == 0
    listed = {line.split()[0] for line in result.output.splitlines()}
    assert set(aezoo.list_models()) == listed
    rows = json.loads(run("list", "--json").output)
    assert [r["name"] for r in rows] == aezoo.list_models()
    assert run("list", "conv*", "--json").output.count('"name"') == 1


def test_info_and_unknown_name_is_one_line() -> None:
    result = run("info", "linear", "--json")
    assert json.loads(result.output)["latent_dim"] == 2
    bad = run("info", "linaer")
    assert bad.exit_code == 1
    assert bad.output.startswith("Error: unknown architecture 'linaer'; did you mean 'linear'")
    assert bad.output.count("\n") == 1
    assert "Traceback" not in bad.output


def test_plugins_table() -> None:
    result = run("plugins", "--json")
    records = json.loads(result.output)
    assert {r["name"] for r in records if r["status"] == "loaded"} >= set(aezoo.list_models())
    assert all({"name", "distribution", "version", "status", "error"} <= set(r) for r in records)


@pytest.mark.slow  # the installed console script and python -m, in subprocesses
def test_console_script_and_module() -> None:
    out = subprocess.run([sys.executable, "-m", "aezoo", "list", "lin*"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("linear")
    bad = subprocess.run([sys.executable, "-m", "aezoo", "info", "nope"], capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
