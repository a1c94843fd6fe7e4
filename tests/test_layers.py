"""The layering of docs/design.md, checked on every import statement in aezoo/, function-level ones included.

``lint-imports`` (CI) checks the package layers of ``[tool.importlinter]``; this test reads the same
list and adds what import-linter cannot express: the facade (``aezoo/__init__.py``) is the top layer
that nothing imports, no module imports a deprecated path, and an import hidden in a function counts
like any other. Imports under ``if TYPE_CHECKING:`` are annotations only and are not counted.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

from aezoo._deprecated import ALIASES, MOVED

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "aezoo"
FACADE = {"aezoo", "aezoo._deprecated"}  # the top layer
BOTTOM = {"aezoo._version"}  # importable from anywhere


def _layers() -> list[list[str]]:
    """Bottom first; each layer a list of independent sibling packages."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = config["contracts"]
    return [[name.strip() for name in layer.split("|")] for layer in reversed(contract["layers"])]


LAYERS = _layers()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _rank(module: str) -> tuple[int, str] | None:
    """(layer index, sibling package) of an aezoo module; None for the facade and the bottom modules."""
    if module in FACADE or module in BOTTOM:
        return None
    if module == "aezoo.__main__":
        module = "aezoo.cli"
    for i, layer in enumerate(LAYERS):
        for package in layer:
            if module == package or module.startswith(package + "."):
                return i, package
    raise AssertionError(f"{module} is in no layer of [tool.importlinter]: add its package there")


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.Module, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute imported module) for every aezoo import outside ``if TYPE_CHECKING:``."""
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "aezoo")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] == "aezoo":
                for alias in node.names:  # `from aezoo.x import y` may name the submodule aezoo.x.y
                    sub = f"{target}.{alias.name}"
                    is_module = (ROOT / (sub.replace(".", "/") + ".py")).is_file() or (
                        ROOT / sub.replace(".", "/") / "__init__.py"
                    ).is_file()
                    found.append((node.lineno, sub if is_module else target))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _all_imports() -> list[tuple[str, int, str]]:
    rows = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        rows += [(module, line, target) for line, target in _imports(tree, module, path.name == "__init__.py")]
    return rows


IMPORTS = _all_imports()


def test_every_import_points_down() -> None:
    upward = []
    for module, line, target in IMPORTS:
        mine, theirs = _rank(module), _rank(target) if target not in FACADE else None
        if target in FACADE or target in MOVED or target in ALIASES:
            continue  # the next tests
        if mine is None or theirs is None:
            continue
        if theirs[0] > mine[0] or (theirs[0] == mine[0] and theirs[1] != mine[1]):
            upward.append(f"{module} (line {line}) imports {target}")
    assert not upward, "imports that run up or sideways:\n" + "\n".join(upward)


def test_nothing_below_the_facade_imports_it() -> None:
    up = [f"{m} (line {line})" for m, line, t in IMPORTS if t in FACADE and m not in FACADE]
    assert not up, "modules that import the aezoo facade (import from the package that owns the name):\n" + "\n".join(
        up
    )


def test_no_module_imports_a_deprecated_path() -> None:
    old = [f"{m} (line {line}) imports {t}" for m, line, t in IMPORTS if t in MOVED or t in ALIASES]
    assert not old, "\n".join(old)


def test_the_check_sees_function_level_and_relative_imports() -> None:
    tree = ast.parse("def f():\n    from .. import loading\n    import aezoo\nfrom ..core.errors import ConfigError\n")
    got = {t for _, t in _imports(tree, "aezoo.models.base", is_package=False)}
    assert got == {"aezoo.loading", "aezoo", "aezoo.core.errors"}
    assert _rank("aezoo.loading")[0] > _rank("aezoo.models.base")[0]  # type: ignore[index]


def test_moved_modules_warn_and_forward() -> None:
    import importlib

    for old, new in MOVED.items():
        if old == "aezoo.sklearn":
            pytest.importorskip("sklearn")
        sys.modules.pop(old, None)
        with pytest.warns(DeprecationWarning, match=f"{old} moved to {new}"):
            module = importlib.import_module(old)
        public = getattr(importlib.import_module(new), "__all__", [])
        for name in public:
            assert getattr(module, name) is getattr(importlib.import_module(new), name), (old, name)


def test_errors_keeps_its_public_name_without_a_warning() -> None:
    import importlib
    import warnings

    sys.modules.pop("aezoo.errors", None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        errors = importlib.import_module("aezoo.errors")
    from aezoo.core.errors import DataError

    assert errors.DataError is DataError


def _run_pytest(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_doctest_collection_survives_a_missing_extra(tmp_path: Path) -> None:
    hidden = tmp_path / "hide" / "sklearn"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError('scikit-learn hidden by the test')\n")
    r = _run_pytest(["--collect-only", "-q", "aezoo/applications"], ROOT, {"PYTHONPATH": str(tmp_path / "hide")})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "sklearn.py" not in r.stdout and "aezoo/applications/anomaly.py" in r.stdout


@pytest.mark.slow
def test_data_tests_carry_the_marker_and_fail_instead_of_skipping_when_required(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path / "tests" / "conftest.py")  # ../shared is absent there
    (tmp_path / "tests" / "test_x.py").write_text("def test_needs_data(shared_data_copy):\n    pass\n")
    env = {"AEZOO_TEST_REQUIRE_DATA": ""}
    marked = _run_pytest(["--collect-only", "-q", "-m", "mnist", "tests", "-o", "markers=mnist"], tmp_path, env)
    assert "test_needs_data" in marked.stdout, marked.stdout + marked.stderr
    skipped = _run_pytest(["-q", "tests"], tmp_path, env)
    assert skipped.returncode == 0 and "1 skipped" in skipped.stdout, skipped.stdout
    failed = _run_pytest(["-q", "tests"], tmp_path, {"AEZOO_TEST_REQUIRE_DATA": "1"})
    assert failed.returncode == 1 and "the data tests must run here" in failed.stdout, failed.stdout
