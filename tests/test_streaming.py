"""Data at any size: uint8 pixels held as bytes (bit-identical batches and weights), and streaming
from disk (coverage, shuffling, resume, automatic choice, errors, a memory cap)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file, save_file

import aezoo
from aezoo.cli.main import cli
from aezoo.core.errors import DataError
from aezoo.data import DeviceDataset, load_dataset, load_user_data
from aezoo.data.preprocessing import Preprocessing
from aezoo.data.streaming import BUDGET_ENV, StreamedDataset, TensorFile, memory_budget, parse_bytes
from aezoo.evaluation.metrics import model_inputs
from aezoo.training import TrainConfig, Trainer

SCRIPT = Path(__file__).with_name("_stream_script.py")


def _pixels(n: int = 600, seed: int = 0) -> torch.Tensor:
    """Low-rank 28x28 uint8 images: learnable, and every byte value occurs."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 3, generator=g) @ torch.randn(3, 784, generator=g)
    return (torch.sigmoid(z) * 255).round().to(torch.uint8).view(n, 1, 28, 28)


def _as_float32_before(raw: torch.Tensor) -> DeviceDataset:
    """The dataset exactly as aezoo built it before pixels were kept as bytes."""
    return DeviceDataset(raw.to(torch.float32).mul_(1 / 255), preprocessing=Preprocessing(scale=1 / 255))


# ------------------------------------------------------------------------------- bytes in memory


def test_byte_batches_are_bit_identical_to_the_float32_ones() -> None:
    raw = _pixels()
    held, before = DeviceDataset(raw), _as_float32_before(raw)
    assert held.data.dtype == torch.uint8 and held.nbytes * 4 == before.nbytes
    assert held.preprocessing == before.preprocessing  # uint8 defaults to scale 1/255
    assert torch.equal(held.x, before.x) and held.x.dtype == torch.float32
    for kwargs in ({"shuffle": False}, {"drop_last": True}, {"start": 2}):
        a = list(held.batches(64, generator=torch.Generator().manual_seed(3), **kwargs))
        b = list(before.batches(64, generator=torch.Generator().manual_seed(3), **kwargs))
        assert len(a) == len(b) and all(torch.equal(p, q) for p, q in zip(a, b, strict=True))
    train, val = held.split(0.1, seed=1)
    assert train.data.dtype == torch.uint8 and torch.equal(val.x, before.split(0.1, seed=1)[1].x)
    assert torch.equal(held.inputs(torch.tensor([5, 1])), before.x[[5, 1]])


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_training_on_bytes_gives_the_very_same_weights(arch: str) -> None:
    raw = _pixels(256)
    weights = []
    for data in (DeviceDataset(raw), _as_float32_before(raw)):
        torch.manual_seed(0)
        model = aezoo.create(arch)
        Trainer(model, TrainConfig(epochs=2, batch_size=64, device="cpu"), progress=False).fit(data)
        weights.append(model.state_dict())
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_mnist_is_held_as_bytes_and_streams_the_same_pixels(shared_data_copy: Path) -> None:
    held = load_dataset("mnist", "test", root=shared_data_copy, stream=False)
    assert isinstance(held, DeviceDataset) and held.data.dtype == torch.uint8 and held.nbytes == 10000 * 784
    assert round(held.x.mean().item(), 4) == 0.1325  # the README's figure
    streamed = load_dataset("mnist", "test", root=shared_data_copy, stream=True)
    assert isinstance(streamed, StreamedDataset) and len(streamed) == 10000 and streamed.shape == (1, 28, 28)
    assert torch.equal(streamed.y, held.y) and streamed.preprocessing == held.preprocessing
    index = torch.tensor([9999, 0, 4321, 17])
    assert torch.equal(streamed.inputs(index), held.x[index])
    assert torch.equal(model_inputs(aezoo.create("mlp"), streamed.subset(16)), held.x[:16])  # plots, apps
    in_order = torch.cat(list(streamed.batches(1000, shuffle=False)))
    assert torch.equal(in_order, held.x)
    torch.manual_seed(0)
    model = aezoo.create("mlp")
    a, b = aezoo.evaluate(model, held), aezoo.evaluate(model, streamed)
    assert {k: v for k, v in a.items() if k != "throughput"} == {k: v for k, v in b.items() if k != "throughput"}


def test_a_first_load_with_stream_builds_the_cache_then_streams(
    shared_data_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AEZOO_CACHE", str(tmp_path / "cache"))  # no cache file yet
    streamed = load_dataset("fashion-mnist", "test", root=shared_data_copy, stream=True)
    assert isinstance(streamed, StreamedDataset) and streamed.source.path.is_relative_to(tmp_path / "cache")
    held = load_dataset("fashion-mnist", "test", root=shared_data_copy)  # within the budget: held
    assert isinstance(held, DeviceDataset) and torch.equal(streamed.inputs(slice(0, 64)), held.x[:64])
    monkeypatch.setenv(BUDGET_ENV, "1M")  # over the budget: streamed without being asked
    assert isinstance(load_dataset("fashion-mnist", "test", root=shared_data_copy), StreamedDataset)


# ------------------------------------------------------------------------------------- streaming


def _numbers(tmp_path: Path, n: int = 1003) -> StreamedDataset:
    np.save(tmp_path / "n.npy", np.arange(n, dtype=np.float32).reshape(n, 1, 1))
    source = TensorFile.open(tmp_path / "n.npy")
    return StreamedDataset(source, preprocessing=Preprocessing(), buffer_bytes=400, chunk_bytes=40)


def _values(batches: list[torch.Tensor]) -> list[int]:
    return [int(v) for b in batches for v in b.flatten().tolist()]


def test_streamed_batches_cover_every_sample_once_shuffled_and_resume(tmp_path: Path) -> None:
    ds = _numbers(tmp_path)  # chunks of 10 samples, buffers of 100: 11 buffers per epoch
    assert ds.shape == (1, 1) and len(ds) == 1003 and ds.num_batches(32) == 32
    g = torch.Generator().manual_seed(7)
    epoch = list(ds.batches(32, generator=g))
    after = g.get_state()
    seen = _values(epoch)
    assert sorted(seen) == list(range(1003)) and seen != sorted(seen)
    assert [len(b) for b in epoch] == [32] * 31 + [11]
    # Chunk order is shuffled too: the first batch is not drawn from the first buffer's samples only.
    assert max(seen[:100]) > 200
    for start in (1, 3, 17, 31, 32):  # inside a buffer, across buffer boundaries, the last one, past it
        g = torch.Generator().manual_seed(7)
        resumed = list(ds.batches(32, generator=g, start=start))
        assert _values(resumed) == _values(epoch[start:])
        assert torch.equal(g.get_state(), after)  # the next epoch's shuffle is the same too
    again = list(ds.batches(32, generator=torch.Generator().manual_seed(7)))
    assert _values(again) == seen
    assert _values(list(ds.batches(32, shuffle=False))) == list(range(1003))
    dropped = _values(list(ds.batches(32, generator=torch.Generator().manual_seed(7), drop_last=True)))
    assert len(dropped) == 992 and dropped == seen[:992]
    with pytest.raises(DataError, match="batch_size"):
        next(ds.batches(0))


def test_streamed_split_and_subset_match_the_in_memory_ones(tmp_path: Path) -> None:
    ds = _numbers(tmp_path, 200)
    held = DeviceDataset(torch.arange(200, dtype=torch.float32).view(200, 1, 1))
    train, val = ds.split(0.2, seed=3)
    held_train, held_val = held.split(0.2, seed=3)
    assert len(train) == 160 and val.name.endswith(":val")
    assert torch.equal(val.inputs(), held_val.x) and torch.equal(train.inputs(), held_train.x)
    seen = _values(list(train.batches(16, generator=torch.Generator().manual_seed(0))))
    assert sorted(seen) == held_train.x.flatten().long().tolist()
    assert _values(list(ds.subset(5).batches(2, shuffle=False))) == [0, 1, 2, 3, 4]
    with pytest.raises(DataError, match="sorted index"):
        ds.subset(torch.tensor([3, 1]))
    with pytest.raises(DataError, match=r"not held in memory.*stream=False"):
        _ = ds.x


def test_files_stream_automatically_above_the_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    images = _pixels(50).numpy()[:, 0]  # (N, H, W) gains a channel, as when loaded whole
    np.save(tmp_path / "img.npy", images)
    table = np.random.default_rng(0).normal(3.0, 2.0, (1000, 5)).astype(np.float32)
    save_file({"x": torch.from_numpy(table), "labels": torch.arange(1000) % 4}, str(tmp_path / "t.safetensors"))
    monkeypatch.setenv(BUDGET_ENV, "1M")
    assert memory_budget() == 1 << 20 and parse_bytes("2g") == 2 << 30
    assert isinstance(load_user_data(tmp_path / "img.npy"), DeviceDataset)  # 39 kB: held
    monkeypatch.setenv(BUDGET_ENV, "10K")
    img = load_user_data(tmp_path / "img.npy")
    assert isinstance(img, StreamedDataset) and img.shape == (1, 28, 28)
    held = load_user_data(tmp_path / "img.npy", stream=False)
    assert torch.equal(img.inputs(), held.x)
    tab = load_user_data(tmp_path / "t.safetensors")
    held_tab = load_user_data(tmp_path / "t.safetensors", stream=False)
    assert isinstance(tab, StreamedDataset) and torch.equal(tab.y, held_tab.y)
    # Per-column standardisation from one chunked pass: the statistics of the whole table.
    for field in ("mean", "std"):
        np.testing.assert_allclose(getattr(tab.preprocessing, field), getattr(held_tab.preprocessing, field), 1e-9)
    torch.testing.assert_close(tab.inputs(), held_tab.x)
    monkeypatch.setenv(BUDGET_ENV, "lots")
    with pytest.raises(DataError, match="AEZOO_MEMORY_BUDGET"):
        memory_budget()


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_an_image_folder_is_packed_once_in_chunks_and_streamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    from PIL import Image

    monkeypatch.setenv("AEZOO_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    for label, n in (("ants", 7), ("bees", 5)):
        (tmp_path / "imgs" / label).mkdir(parents=True)
        for i in range(n):
            pixels = rng.integers(0, 256, (6, 9, 3) if mode == "RGB" else (6, 9), dtype=np.uint8)
            Image.fromarray(pixels, mode).save(tmp_path / "imgs" / label / f"{i}.png")
    held = load_user_data(tmp_path / "imgs")
    assert isinstance(held, DeviceDataset) and held.data.dtype == torch.uint8
    streamed = load_user_data(tmp_path / "imgs", stream=True)
    assert isinstance(streamed, StreamedDataset) and streamed.shape == held.shape == (3 if mode == "RGB" else 1, 6, 9)
    assert torch.equal(streamed.inputs(), held.x) and torch.equal(streamed.y, held.y)
    packed = streamed.source.path
    assert packed.is_relative_to(tmp_path / "cache") and packed.suffix == ".npy"
    written = packed.stat().st_mtime_ns
    assert load_user_data(tmp_path / "imgs", stream=True).source.path == packed  # packed once
    assert packed.stat().st_mtime_ns == written
    Image.fromarray(np.zeros((6, 9, 3) if mode == "RGB" else (6, 9), np.uint8), mode).save(tmp_path / "imgs/ants/0.png")
    changed = load_user_data(tmp_path / "imgs", stream=True)
    assert changed.source.path != packed and float(changed.inputs(slice(0, 1)).max()) == 0.0
    monkeypatch.setenv(BUDGET_ENV, "100")  # over the budget (648 bytes): streamed without being asked
    assert isinstance(load_user_data(tmp_path / "imgs"), StreamedDataset)


def test_streaming_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("1,2\n3,4\n")
    with pytest.raises(DataError, match=r"cannot stream.*convert"):
        load_user_data(tmp_path / "t.csv", stream=True)
    np.save(tmp_path / "x.npy", np.zeros((100, 4, 4), np.uint8))
    data = (tmp_path / "x.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated"):
        load_user_data(tmp_path / "cut.npy", stream=True)
    x = np.ones((10, 3), np.float32)
    x[6, 1] = np.nan
    np.save(tmp_path / "nan.npy", x)
    with pytest.raises(DataError, match="first in sample 6"):
        load_user_data(tmp_path / "nan.npy", stream=True)
    np.save(tmp_path / "hwc.npy", np.zeros((4, 8, 8, 3), np.uint8))
    with pytest.raises(DataError, match="channels-first"):
        load_user_data(tmp_path / "hwc.npy", stream=True)
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match="object"):
        load_user_data(tmp_path / "obj.npy", stream=True)


def test_cli_train_streams_with_the_flag(tmp_path: Path) -> None:
    np.save(tmp_path / "img.npy", _pixels(256).numpy())
    out = tmp_path / "run"
    args = ["train", "linear", "--dataset", str(tmp_path / "img.npy"), "--epochs", "1", "--out", str(out)]
    result = CliRunner().invoke(cli, [*args, "--device", "cpu", "--stream", "-q"])
    assert result.exit_code == 0, result.output
    assert aezoo.load(out).preprocessing == Preprocessing(scale=1 / 255)
    recipe = json.loads((out / "config.json").read_text())["training"]
    assert recipe["arguments"]["stream"] is True and recipe["num_train_samples"] == 230
    result = CliRunner().invoke(cli, [*args, "--device", "cpu", "--no-stream", "--resume", "-q"])
    assert result.exit_code == 1 and "streamed" in result.output  # another data order: not the same run


# --------------------------------------------------------------------------------- subprocess runs


def _run(*args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop(BUDGET_ENV, None)
    cmd = [sys.executable, str(SCRIPT), *args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait(p: subprocess.Popen, expect: int = 0) -> str:
    output, _ = p.communicate(timeout=300)
    assert p.returncode == expect, output
    return output


@pytest.mark.slow
def test_streamed_resume_after_sigkill_is_bit_identical(tmp_path: Path) -> None:
    g = torch.Generator().manual_seed(0)
    z = torch.randn(2000, 2, generator=g) @ torch.randn(2, 64, generator=g)
    np.save(tmp_path / "toy.npy", (torch.sigmoid(z) * 255).to(torch.uint8).view(2000, 1, 8, 8).numpy())
    data, ref, killed = str(tmp_path / "toy.npy"), tmp_path / "reference", tmp_path / "killed"
    reference = _run(data, str(ref), "--epochs", "3")
    # Epoch 2 (of 3), 4 steps after the checkpoint at its step 13: the rerun crosses buffers.
    _wait(_run(data, str(killed), "--epochs", "3", "--kill-at", "1:17"), -9)
    assert not (killed / "model.safetensors").exists()
    resumed = _run(data, str(killed), "--epochs", "3", "--resume")
    _wait(reference), _wait(resumed)
    a, b = load_file(ref / "final.safetensors"), load_file(killed / "final.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ha, hb = (json.loads((d / "history.json").read_text()) for d in (ref, killed))
    assert ha["train"] == hb["train"] and ha["val"] == hb["val"] and ha["epoch"] == [1, 2, 3]
    assert ha["train"]["loss"][-1] < 0.5 * ha["train"]["loss"][0]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads VmData from /proc (Linux)")
def test_trains_on_a_file_larger_than_the_memory_it_may_use(tmp_path: Path) -> None:
    """A process capped at 8 MiB of data memory above its own baseline trains on a 25 MB file.

    The cap is RLIMIT_DATA (heap and private writable mappings, which is where tensors and NumPy
    arrays live), set to the process's VmData after a warm-up run of the same training loop on a
    few samples, plus 8 MiB. RLIMIT_AS would also count the ~GB of virtual address space torch
    reserves without using it (and every file mapping), so its calibration is fragile; with
    RLIMIT_DATA the baseline is what the process really holds. Torch alone takes far more than
    25 MB, so the file cannot exceed the whole limit in a fast test: it exceeds, three times over,
    what the process may add to its baseline. The same process then fails to load the file whole,
    which shows that the cap bites.
    """
    np.save(tmp_path / "big.npy", np.random.default_rng(0).integers(0, 256, (32768, 1, 28, 28), dtype=np.uint8))
    output = _wait(_run(str(tmp_path / "big.npy"), str(tmp_path / "out"), "--headroom-mb", "8"))
    report = json.loads(output.strip().splitlines()[-1])
    assert report["file_bytes"] > 3 * (report["limit"] - report["baseline"])
    assert report["streamed"] is True  # chosen automatically: the budget sees the cap
    assert all(np.isfinite(report["train_loss"] + report["val_loss"]))
    assert report["whole"].startswith("DataError: not enough memory to load"), report["whole"]


# ------------------------------------------------------------------------------- users of a dataset


def test_applications_take_a_streamed_dataset(tmp_path: Path) -> None:
    """``reduce``/``AnomalyDetector``/``denoise`` read a streamed dataset whole, as they read a held one."""
    np.save(tmp_path / "img.npy", _pixels(50).numpy())
    streamed = load_user_data(tmp_path / "img.npy", stream=True)
    held = load_user_data(tmp_path / "img.npy", stream=False)
    assert isinstance(streamed, StreamedDataset) and isinstance(held, DeviceDataset)
    model = aezoo.create("linear", latent_dim=4)
    assert torch.equal(aezoo.reduce(model, streamed), aezoo.reduce(model, held))


def test_pretrain_says_in_one_line_that_it_needs_the_data_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    np.save(tmp_path / "img.npy", _pixels(50).numpy())
    monkeypatch.setenv(BUDGET_ENV, "1K")  # 50 images of 784 bytes: streamed
    args = ["pretrain", "--dataset", str(tmp_path / "img.npy"), "--dims", "784,16", "--layer-epochs", "1"]
    result = CliRunner().invoke(cli, [*args, "--device", "cpu", "--quiet", "--out", str(tmp_path / "x")])
    assert result.exit_code == 1, result.output
    assert "layer-wise pretraining holds the whole training split in memory" in result.output
    assert BUDGET_ENV in result.output and result.output.count("\n") == 1 and "Traceback" not in result.output
