"""benchmarks/defaults.py's table: one seed as measured, several seeds pooled into medians."""

from __future__ import annotations

BENCHMARK = "defaults"  # benchmarks/defaults.py, the conftest's `benchmark` fixture
RECIPE = {"batch_size": 64, "lr": 1e-3, "schedule": "onecycle", "optimizer": "adam", "val_fraction": 0.1}


def _row(seed: int, tutorial: float, ours: float, epochs: int = 5) -> dict:
    return {
        "arch": "aae",
        "epochs": epochs,
        "seed": seed,
        "tutorial": {"test_mse": tutorial},
        "aezoo": {"test_mse": ours, "recipe": RECIPE},
    }


def test_one_seed_gives_the_measured_values_and_marks_a_loss(benchmark) -> None:
    table = benchmark.render([{"rows": [_row(0, 0.020, 0.030), _row(0, 0.040, 0.030, epochs=1)]}])
    lines = table.splitlines()
    assert "better in" not in lines[0]  # one seed: no count column
    assert lines[2] == "| `aae` | 1 | 0.04000 | 0.03000 | 0.75 | batch 64, adam 0.001, onecycle |"
    assert lines[3] == "| `aae` | 5 | 0.02000 | 0.03000 | 1.50 (worse) | batch 64, adam 0.001, onecycle |"


def test_seeds_from_several_files_pool_into_medians_and_a_count(benchmark) -> None:
    # Seed 2 loses; the medians (tutorial 0.025, aezoo 0.022) and 2 wins of 3 are what the table says.
    a = {"rows": [_row(0, 0.025, 0.022), _row(1, 0.026, 0.020)]}
    b = {"rows": [_row(2, 0.021, 0.023)]}
    lines = benchmark.render([a, b]).splitlines()
    assert "aezoo better in" in lines[0] and len(lines) == 3
    assert lines[2] == "| `aae` | 5 | 0.02500 | 0.02200 | 0.88 | 2 of 3 seeds | batch 64, adam 0.001, onecycle |"


def test_a_seed_given_twice_counts_once_and_old_files_read_as_their_seed(benchmark) -> None:
    new = {"rows": [_row(0, 0.025, 0.022), _row(1, 0.026, 0.020)]}
    old = {"seed": 0, "rows": [{k: v for k, v in _row(0, 0.5, 0.5).items() if k != "seed"}, _row(0, 0.03, 0.02, 20)]}
    rows = benchmark.pool([new, old])
    assert [(r["epochs"], r["seed"], r["tutorial"]["test_mse"]) for r in rows] == [
        (5, 0, 0.025),
        (5, 1, 0.026),
        (20, 0, 0.03),
    ]
    lines = benchmark.render([new, old]).splitlines()
    assert lines[2].startswith("| `aae` | 5 | 0.02550 | 0.02100 | 0.82 | 2 of 2 seeds |")
    assert lines[3].startswith("| `aae` | 20 | 0.03000 | 0.02000 | 0.67 | 1 of 1 seed |")
