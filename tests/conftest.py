"""Fixtures shared by aezoo's tests."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import ModuleType

import pytest
import torch
from hypothesis import HealthCheck, settings

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
REQUIRE_DATA_ENV = "AEZOO_TEST_REQUIRE_DATA"  # 1: a missing MNIST copy fails the data tests instead of skipping them
DATA_FIXTURE = "shared_data_copy"

# Hypothesis profiles for tests/test_fuzz.py: "ci" (the default) is short and derandomized, so every
# run tries the same inputs; "long" (--fuzz=long or AEZOO_FUZZ=long) hunts with fresh random inputs.
# Neither writes an example database into the checkout. AEZOO_FUZZ_EXAMPLES sets the number of examples.
FUZZ_PROFILES = {"ci": dict(max_examples=25, derandomize=True), "long": dict(max_examples=2000, derandomize=False)}
for _name, _options in FUZZ_PROFILES.items():
    settings.register_profile(
        _name,
        deadline=timedelta(seconds=10),  # per example; generous for a busy 2-core machine
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
        **_options,
    )


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fuzz",
        choices=sorted(FUZZ_PROFILES),
        default=None,
        help="hypothesis profile of tests/test_fuzz.py: ci (short, derandomized; default) or long (env AEZOO_FUZZ)",
    )


def pytest_configure(config: pytest.Config) -> None:
    profile = config.getoption("--fuzz") or os.environ.get("AEZOO_FUZZ", "") or "ci"
    if profile not in FUZZ_PROFILES:
        raise pytest.UsageError(f"AEZOO_FUZZ={profile!r}: choose one of {', '.join(sorted(FUZZ_PROFILES))}")
    settings.load_profile(profile)
    examples = os.environ.get("AEZOO_FUZZ_EXAMPLES")
    if examples:
        settings.register_profile(f"{profile}-{examples}", settings.get_profile(profile), max_examples=int(examples))
        settings.load_profile(f"{profile}-{examples}")


# Test models are tiny, and tests start subprocesses (DDP ranks, CLI runs): one intra-op thread
# each avoids OpenMP oversubscription, which slows small kernels down by orders of magnitude.
torch.set_num_threads(1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that takes the MNIST copy carries the ``mnist`` marker (``-m "not mnist"`` leaves them out)."""
    for item in items:
        if DATA_FIXTURE in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.mnist)


@pytest.fixture(scope="session")
def shared_data_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of ``../shared/data`` (never modified in place), in torchvision's layout.

    Tests that need MNIST take this as their data root, and so carry the ``mnist`` marker
    (added at collection). Skipped when the copy is not beside the checkout (the README says
    where it comes from); with ``AEZOO_TEST_REQUIRE_DATA=1`` (what ``.ci/run`` sets) the skip is a
    failure, so CI cannot pass with the data tests silently left out.
    """
    if not (SHARED_DATA / "MNIST" / "raw").is_dir():
        message = f"offline MNIST copy not found at {SHARED_DATA}"
        if os.environ.get(REQUIRE_DATA_ENV, "") not in ("", "0"):
            pytest.fail(f"{message}, and {REQUIRE_DATA_ENV} is set: the data tests must run here")
        pytest.skip(message)
    root = tmp_path_factory.mktemp("data")
    for name in ("MNIST", "FashionMNIST"):
        shutil.copytree(SHARED_DATA / name, root / name)
        for p in (root / name).rglob("*"):
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
    return root


@pytest.fixture(scope="session", autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep caches out of the user's home (session-wide, so wider-scoped fixtures see it too)."""
    cache = tmp_path_factory.getbasetemp() / "cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AEZOO_CACHE", str(cache / "aezoo"))
        mp.setenv("HF_HOME", str(cache / "hf"))
        mp.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
        mp.delenv("AEZOO_DATA", raising=False)
        yield


@pytest.fixture
def fresh_registry() -> Iterator[None]:
    """Rediscover plugins for this test, and forget the ones it added afterwards."""
    from aezoo.registry import architectures as registry

    modules = set(sys.modules)
    registry.reset()
    yield
    registry.reset()
    for name in set(sys.modules) - modules:
        if name.startswith("aezoo_"):
            del sys.modules[name]


@pytest.fixture(scope="module")
def benchmark(request: pytest.FixtureRequest) -> Iterator[ModuleType]:
    """``benchmarks/{BENCHMARK}.py`` imported as a module, ``BENCHMARK`` named by the test module."""
    name = f"{request.module.BENCHMARK}_benchmark"
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{request.module.BENCHMARK}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    spec.loader.exec_module(module)
    yield module
    del sys.modules[name]
