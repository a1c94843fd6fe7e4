"""Every code block of README.md runs as written, top to bottom, offline, on small data.

Python blocks run in one namespace (as a reader pastes them into one session); ``aezoo`` command
lines run through the CLI in-process. Both see ``../shared/data`` (a private copy) from a scratch
working directory, and every split is cut to its first :data:`N` samples so that the README's
epochs cost seconds. Blocks that need the network or a GPU cluster are skipped, visibly, with the
reason; YAML and TOML blocks are not programs.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import aezoo
import aezoo.data as data_module
from aezoo.cli.main import cli

README = Path(__file__).resolve().parents[1] / "README.md"
N = {"train": 128, "test": 100}  # samples per split here (a 1 % false-positive rate needs 100 normal samples)
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.M | re.S)
# What this test cannot do offline on 2 CPU cores, and why: (pattern in a command/block, reason).
_NEEDS = [
    (re.compile(r"^pip "), "installs packages (network)"),
    (re.compile(r"^python -m pytest"), "runs the test suite, which this test is part of"),
    (re.compile(r"^torchrun "), "starts 4 data-parallel processes"),
    (re.compile(r"^aezoo (publish|pull|release)\b"), "talks to the Hugging Face Hub (network)"),
    (re.compile(r"[\"']hf-hub:"), "loads from the Hugging Face Hub (network)"),
    (re.compile(r"\b(publish|push_to_hub)\("), "publishes to the Hugging Face Hub (network)"),
]


def _blocks() -> list[tuple[str, str]]:
    return [(lang, code) for lang, code in _BLOCK.findall(README.read_text(encoding="utf-8"))]


BLOCKS = _blocks()


def _commands(code: str) -> Iterator[str]:
    """Shell lines, continuation lines joined, comments dropped, ``&&`` chains split."""
    for line in code.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        command: list[str] = []
        for w in [*words, "&&"]:
            if w == "&&":
                if command:
                    yield shlex.join(command)
                command = []
            else:
                command.append(w)


def _skip_reason(command: str) -> str | None:
    return next((why for pattern, why in _NEEDS if pattern.search(command)), None)


@pytest.fixture(scope="module")
def session(shared_data_copy: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A scratch working directory beside ``shared/data``, small datasets, a shared namespace."""
    base = tmp_path_factory.mktemp("readme")
    (base / "shared").mkdir()
    (base / "shared" / "data").symlink_to(shared_data_copy)
    work = base / "work"
    work.mkdir()
    real = data_module.load_dataset

    def small(*args: object, **kwargs: object) -> aezoo.DeviceDataset:
        split = kwargs.get("split", args[1] if len(args) > 1 else "train")
        return real(*args, **kwargs).subset(N.get(str(split), N["test"]))  # type: ignore[arg-type]

    old_cwd = os.getcwd()
    with pytest.MonkeyPatch.context() as mp:
        # The facade first: it resolves its lazy name from aezoo.data, and must find (and restore) the real one.
        mp.setattr(aezoo, "load_dataset", small, raising=False)
        mp.setattr(data_module, "load_dataset", small)
        mp.setenv("AEZOO_PROGRESS", "0")
        mp.setenv("HF_HUB_OFFLINE", "1")
        os.chdir(work)
        try:
            yield {"namespace": {"__name__": "readme"}, "work": work, "env": mp}
        finally:
            os.chdir(old_cwd)


@pytest.mark.parametrize(
    "index",
    range(len(BLOCKS)),
    ids=[f"{i}-{lang}-{code.splitlines()[0][:40]}" for i, (lang, code) in enumerate(BLOCKS)],
)
def test_readme_block(index: int, session: dict) -> None:
    lang, code = BLOCKS[index]
    if lang in ("yaml", "toml", "json"):
        pytest.skip(f"a {lang} block is not a program")
    if lang == "python":
        if reason := _skip_reason("\n".join(line.split("  #")[0] for line in code.splitlines())):
            pytest.skip(reason)
        exec(compile(code, f"README.md block {index}", "exec"), session["namespace"])
        return
    assert lang == "bash", f"README block {index} is {lang!r}: teach this test to run it"
    skipped = []
    for command in _commands(code):
        if reason := _skip_reason(command):
            skipped.append(f"{command.split()[:2]}: {reason}")
            continue
        words = shlex.split(command)
        if words[0] == "export":
            key, _, value = words[1].partition("=")
            session["env"].setenv(key, value)  # for this module only
            continue
        if words[:2] == ["python", "-c"]:
            exec(compile(words[2], f"README.md block {index}: python -c", "exec"), {"__name__": "readme"})
            continue
        assert words[0] == "aezoo", f"README block {index}: do not know how to run {command!r} offline"
        result = CliRunner().invoke(cli, words[1:], catch_exceptions=False)
        assert result.exit_code == 0, f"{command!r} failed:\n{result.output}"
    if skipped:
        pytest.skip("ran the rest; skipped " + "; ".join(skipped))
