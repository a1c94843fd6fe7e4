"""The plugin API keeps its word: every public name that a version of aezoo's docs mentioned, or
that a module exported in ``__all__``, still imports from that place.

``tests/plugin_api_v1.txt`` is the frozen record of plugin API 1: every ``aezoo.*`` name in the
docs (``*.md`` outside ``weights/``) and every module's ``__all__``, at every commit of main up to
the last one before the 0.2 move. It was made by this file run as a script, and can be made again::

    python tests/test_plugin_api.py --freeze a0e62fa > tests/plugin_api_v1.txt

A name that moved must still resolve from its old place, with a ``DeprecationWarning`` naming the
new one (``aezoo/_deprecated.py``; the policy is CONTRIBUTING.md's "Deprecations"). The current
docs are read live: every name they mention resolves, without a warning (the docs teach the new
places), except in CHANGELOG.md and on lines that name the ``DeprecationWarning``, which show the
old ones on purpose.
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
FROZEN = Path(__file__).with_name("plugin_api_v1.txt")

#: ``aezoo.NAME`` words in the docs that are not Python names, each with what it is
NOT_PYTHON = {
    "aezoo.architectures": "the entry-point group",
    "aezoo.json": "the metadata file beside an exported model",
    # an exported detector's flat ONNX metadata keys (docs/anomaly.md)
    **{f"aezoo.{key}": "an ONNX metadata key" for key in ("score", "threshold", "threshold_rule", "target_fpr")},
    "aezoo.weights_sha256": "an ONNX metadata key",
}
_DOTTED = re.compile(r"(?<![\w.])aezoo(?:\.[A-Za-z_]\w*)+")
_FROM = re.compile(r"^\s*from (aezoo(?:\.\w+)*) import ([\w, ]+)$", flags=re.M)
_FILE_SUFFIX = re.compile(r"\.(json|md|py|toml|txt|csv|npz|npy|pt|safetensors|onnx|png|lock)$")


def doc_names(text: str) -> set[str]:
    """The dotted ``aezoo.*`` names a Markdown text mentions, ``from aezoo.x import a, b`` included.

    >>> sorted(doc_names("call `aezoo.hub.pull(...)`\\n\\n    from aezoo.data import load_dataset, data_root\\n"))
    ['aezoo.data', 'aezoo.data.data_root', 'aezoo.data.load_dataset', 'aezoo.hub.pull']
    """
    names = set(_DOTTED.findall(text))
    for module, items in _FROM.findall(text):
        names.add(module)
        names.update(f"{module}.{item.split(' as ')[0].strip()}" for item in items.split(",") if item.strip())
    return {n for n in names if n not in NOT_PYTHON and not _FILE_SUFFIX.search(n)}


def exported_names(path: str, source: str) -> set[str]:
    """``module.name`` for each name in the module's literal ``__all__`` (``path`` is ``aezoo/x/y.py``)."""
    module = path[: -len(".py")].replace("/", ".").removesuffix(".__init__")
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            try:
                return {f"{module}.{name}" for name in ast.literal_eval(node.value) if module != "aezoo"}
            except ValueError:
                return set()
    return set()


def resolve(name: str) -> tuple[Any, list[str]]:
    """The object ``name`` names, imported as a user would, and the DeprecationWarnings that raised."""
    parts = name.split(".")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for cut in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
            except ModuleNotFoundError as e:
                if e.name and not name.startswith(e.name):  # a missing dependency, not a missing module
                    raise
                continue
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
            break
        else:
            raise ModuleNotFoundError(name)
    return obj, [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]


def _frozen() -> list[str]:
    lines = FROZEN.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line and not line.startswith("#")]


def _needs_missing_extra(name: str) -> bool:
    extras = {"aezoo.sklearn": "sklearn", "aezoo.applications.sklearn": "sklearn", "aezoo.export": "onnx"}
    for prefix, module in extras.items():
        if name.startswith(prefix) and importlib.util.find_spec(module) is None:
            return True
    return False


@pytest.mark.parametrize("name", _frozen())
def test_every_name_of_plugin_api_1_still_imports(name: str) -> None:
    if _needs_missing_extra(name):
        pytest.skip(f"{name} needs an optional extra that is not installed")
    obj, deprecations = resolve(name)
    assert obj is not None or name.endswith(("_TOKEN", "DEFAULT")), name
    for message in deprecations:  # a warning must say where the name lives now, and that it goes in 0.3
        assert "moved to" in message or "deprecated" in message, message
        assert "0.3" in message, message


def test_a_moved_name_warns_and_is_the_new_object() -> None:
    from aezoo.loading.loader import load_pretrained

    with pytest.warns(DeprecationWarning, match=r"aezoo\.hub\.load_pretrained moved to aezoo\.loading\.loader"):
        from aezoo.hub import load_pretrained as old
    assert old is load_pretrained
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        importlib.import_module("aezoo.hub").not_a_name  # noqa: B018


def test_the_old_resolve_keeps_its_return_value() -> None:
    """0.1's ``aezoo.pretrained.resolve`` returned the sha256 it checked; the new one returns the entry."""
    import aezoo

    entry = aezoo.get_pretrained("linear-mnist")
    with pytest.warns(DeprecationWarning, match=r"aezoo\.pretrained\.resolve moved to aezoo\.loading\.loader"):
        from aezoo.pretrained import resolve
    folder, sha256 = resolve(entry)
    assert sha256 == entry.sha256 and (folder / "model.safetensors").is_file()


def _current_docs() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return files + sorted((ROOT / "plugins").glob("*/README.md"))


@pytest.mark.parametrize("doc", _current_docs(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_name_the_docs_mention_imports_from_where_they_say(doc: Path) -> None:
    # a line that names a DeprecationWarning shows an old place on purpose (docs/faults.md does)
    lines = doc.read_text(encoding="utf-8").splitlines()
    bad = []
    for name in sorted(doc_names("\n".join(line for line in lines if "DeprecationWarning" not in line))):
        if _needs_missing_extra(name):
            continue
        try:
            _, deprecations = resolve(name)
        except (ImportError, AttributeError) as e:
            bad.append(f"{name}: {type(e).__name__}: {e}")
            continue
        bad += [f"{name}: teaches a deprecated place ({m})" for m in deprecations]
    assert not bad, f"{doc.relative_to(ROOT)}:\n" + "\n".join(bad)


def test_the_frozen_record_covers_the_names_the_issue_names() -> None:
    frozen = set(_frozen())
    assert {"aezoo.hub.load_pretrained", "aezoo.layerwise.pretrain", "aezoo.testing.conformance"} <= frozen


def _freeze(until: str) -> str:
    """Every documented and exported name at every commit up to ``until`` (the script's output)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout

    documented: set[str] = set()
    exported: set[str] = set()
    for commit in git("rev-list", until).split():
        for path in git("ls-tree", "-r", "--name-only", commit).split():
            if path.endswith(".md") and not path.startswith("weights/"):
                documented |= doc_names(git("show", f"{commit}:{path}"))
            elif path.startswith("aezoo/") and path.endswith(".py"):
                exported |= exported_names(path, git("show", f"{commit}:{path}"))
    names = sorted(n for n in documented | exported if n.startswith("aezoo."))
    head = [
        "# plugin API 1: every aezoo.* name in the docs and in a module's __all__, at every commit up to",
        f"# {git('rev-parse', '--short', until).strip()} (the last before the 0.2 move). Made by:",
        f"#   python tests/test_plugin_api.py --freeze {until} > tests/plugin_api_v1.txt",
    ]
    return "\n".join(head + names) + "\n"


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "--freeze":
        sys.exit("usage: python tests/test_plugin_api.py --freeze REV > tests/plugin_api_v1.txt")
    sys.stdout.write(_freeze(sys.argv[2]))
