"""benchmarks/one_class.py on a tiny synthetic task: the protocol, the resumable JSON and the table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import aezoo

BENCHMARK = "one_class"  # benchmarks/one_class.py, the conftest's `benchmark` fixture


def _blobs(n: int, seed: int) -> aezoo.DeviceDataset:
    """Class 0: dark 8x8 images; class 1: a bright square in the middle."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.rand(n, 1, 8, 8, generator=g) * 0.1
    x[y == 1, :, 2:6, 2:6] += 0.8
    return aezoo.DeviceDataset(x, y, name=f"blobs-{seed}")


def test_one_run_trains_on_one_class_and_scores_the_whole_test_split(benchmark) -> None:
    train, test = _blobs(200, 0), _blobs(100, 1)
    r = benchmark.one_run(
        train, test, 0, 0, arch="linear", model_args={"latent_dim": 2}, train_args={"epochs": 3, "lr": 1e-2}
    )
    assert r["n_train"] == 100 and r["n_test"] == 100 and r["class"] == 0
    assert r["auroc"] > 0.9  # the bright squares are anomalies to a model of dark images


def test_the_table_sets_the_runs_beside_the_paper(benchmark) -> None:
    runs = [
        {"dataset": "mnist", "class": c, "seed": s, "auroc": a, "train_s": 1.0, "score_s": 0.5}
        for c, s, a in ((0, 0, 0.99), (0, 1, 0.97), (1, 0, 0.90), (1, 1, 0.92))
    ]
    meta = {"hardware": "cpu", "torch_version": "x", "aezoo_version": "y"}
    results = {"setup": {"arch": "conv", "model_args": {}, "train": {"epochs": 1}}, "runs": runs, **meta}
    table = benchmark.render(benchmark.merge([results, {**results, "runs": []}]))
    assert "| 0 | 98.0 ± 1.4 | 98.0 |" in table and "| 1 | 91.0 ± 1.4 | 99.7 |" in table
    assert "| **mean** | **94.5 ± 0.0** | **94.8** |" in table  # seeds' means 94.5 and 94.5
    with pytest.raises(SystemExit, match="different setups"):
        benchmark.merge([results, {**results, "setup": {"arch": "mlp"}}])


def test_a_rerun_skips_the_runs_already_in_the_json(benchmark, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(benchmark, "load_dataset", lambda name, split, root=None: _blobs(60, int(split == "test")))
    monkeypatch.setattr(benchmark, "DEFAULT_MODEL_ARGS", {"latent_dim": 2})
    out = tmp_path / "r.json"
    argv = ["--datasets", "mnist", "--classes", "0", "1", "--seeds", "0", "--epochs", "1", "--arch", "linear"]
    assert benchmark.main([*argv, "--out", str(out)]) == 0
    first = json.loads(out.read_text())
    assert [(r["class"], r["seed"]) for r in first["runs"]] == [(0, 0), (1, 0)]
    assert benchmark.main([*argv, "--seeds", "0", "1", "--out", str(out)]) == 0
    runs = json.loads(out.read_text())["runs"]
    assert runs[:2] == first["runs"] and [(r["class"], r["seed"]) for r in runs[2:]] == [(0, 1), (1, 1)]
    with pytest.raises(SystemExit, match="another setup"):
        benchmark.main([*argv, "--epochs", "2", "--out", str(out)])


def test_many_runs_equal_the_one_by_one_runs(benchmark) -> None:
    """--many trains every class x seed with aezoo.train_many: the same AUROCs as one_run's models."""
    train, test = _blobs(200, 0), _blobs(100, 1)
    kw = {"arch": "linear", "model_args": {"latent_dim": 2}, "train_args": {"epochs": 3, "lr": 1e-2}}
    rows = benchmark.many_runs(train, test, [0, 1], [0, 1], **kw)
    assert [(r["class"], r["seed"]) for r in rows] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    for r in rows:
        single = benchmark.one_run(train, test, r["class"], r["seed"], **kw)
        assert r["auroc"] == pytest.approx(single["auroc"], abs=1e-3) and r["n_train"] == single["n_train"]
