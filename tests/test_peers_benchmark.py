"""benchmarks/peers.py's tables, from synthetic results: no peer library is needed."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

BENCHMARK = "peers"  # benchmarks/peers.py, the conftest's `benchmark` fixture


@pytest.fixture(scope="module", autouse=True)
def _benchmarks_importable() -> Iterator[None]:
    """peers.py imports its clock from the benchmarks/train_speed.py beside it, as a script does."""
    had = "train_speed" in sys.modules
    sys.path.insert(0, str(BENCHMARKS))
    yield
    sys.path.remove(str(BENCHMARKS))
    if not had:
        sys.modules.pop("train_speed", None)


def _run(lib: str, seed: int, time: float | None, speed: float, samples: int, view: str = "user") -> dict:
    return {
        "library": lib,
        "model": "mlp",
        "view": view,
        "seed": seed,
        "setup_s": 0.5 if lib == "aezoo" else 0.1,
        "time_to_target_s": time,
        "samples_to_target": samples if time is not None else None,
        "samples_seen": samples,
        "samples_per_s": speed,
        "peak_rss_mib": 1200.0,
        "rss_after_data_mib": 900.0,
    }


def _result(view: str, runs: list[dict]) -> dict:
    return {"view": view, "models": ["mlp"], "runs": runs}


USER = _result(
    "user",
    [
        _run("aezoo", 0, 2.0, 40_000, 61_440),
        _run("aezoo", 1, 1.0, 60_000, 61_440),
        _run("aezoo", 2, 3.0, 50_000, 61_440),
        _run("pyod", 0, 6.0, 25_000, 159_744),
        _run("pyod", 1, 4.0, 25_000, 147_456),
        _run("pyod", 2, 5.0, 20_000, 172_032),
    ],
)
SAME = _result(
    "same",
    [
        _run("aezoo", 0, 4.0, 40_000, 159_744, "same"),
        _run("aezoo", 1, 3.0, 50_000, 159_744, "same"),
        _run("aezoo", 2, None, 45_000, 600_000, "same"),
        _run("pyod", 0, 6.0, 25_000, 159_744, "same"),
        _run("pyod", 1, 4.0, 25_000, 147_456, "same"),
        _run("pyod", 2, 5.0, 20_000, 172_032, "same"),
    ],
)


def test_summary_splits_the_lead_into_loop_and_recipe(benchmark) -> None:
    s = benchmark.summarise(USER)["mlp"]
    assert (s["aezoo"]["median_time_s"], s["aezoo"]["min_time_s"], s["aezoo"]["max_time_s"]) == (2.0, 1.0, 3.0)
    pyod = s["pyod"]
    assert pyod["peer_over_aezoo_time"] == pytest.approx(2.5)  # 5.0 s over 2.0 s
    assert pyod["aezoo_over_peer_samples_per_s"] == pytest.approx(2.0)  # 50,000 over 25,000
    assert pyod["peer_over_aezoo_samples"] == pytest.approx(159_744 / 61_440)
    assert pyod["aezoo_over_peer_time"] == pytest.approx(0.4)  # the single-view table's column, unchanged


def test_two_views_side_by_side(benchmark) -> None:
    lines = benchmark.render_views([SAME, USER]).splitlines()  # the order of the files does not matter
    assert lines[0] == "**`mlp`**, target test MSE 0.0168, seeds 0, 1, 2:"
    header = lines[2]
    assert header.index("as a user gets it") < header.index("same recipe")
    assert lines[4] == (
        "| **aezoo** | 2.0 (1.0–3.0) | 1.0× | 50,000 | 61,440 | not reached (2 of 3 seeds did) | 1.0× | 45,000 | - |"
    )
    assert lines[5] == (
        "| pyod | 5.0 (4.0–6.0) | 2.5× | 25,000 | 159,744 (147k–172k) "
        "| 5.0 (4.0–6.0) | - | 25,000 | 159,744 (147k–172k) |"
    )
    second = next(i for i, line in enumerate(lines) if line.startswith("| peer | view |"))
    decomposition = lines[second + 2 :]  # the second table: where the lead comes from
    assert decomposition == [
        "| pyod | user | 2.5× | 2.0× | 2.6× | 0.50 / 0.10 |",
        "| pyod | same | - | 1.8× | - | 0.50 / 0.10 |",
    ]


def test_one_view_keeps_the_single_table_and_old_files_read_as_user(benchmark) -> None:
    old = {k: v for k, v in USER.items() if k != "view"}
    assert benchmark._view(old) == "user"
    lines = benchmark.render(old).splitlines()
    assert lines[2].startswith("| library | time to target (s): median (per seed) | aezoo / peer time |")
    assert lines[4] == "| **aezoo** | 2.0 (2.0, 1.0, 3.0) | 1.00 | 50,000 | 61,440 | 1,200 | 300 |"
