"""Property-based fuzzing of every file aezoo reads: each outcome is a success or an AezooError.

Random JSON for config.json, checkpoint.json and detector files; random and mutated bytes for
model.safetensors, .npy, .npz and .csv; random values for every architecture's config fields.
Any other exception (a ValueError, a RecursionError, a MemoryError...) fails the test. Each
example has a deadline and the whole test a memory budget. ``AEZOO_FUZZ_EXAMPLES`` raises the
number of examples for a longer hunt (default 25 per test; examples are derandomized, so the
default run is the same every time).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import struct
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import aezoo
from aezoo.applications.anomaly import AnomalyDetector
from aezoo.core.errors import AezooError
from aezoo.training import TrainConfig, Trainer
from aezoo.training.checkpoint import CHECKPOINT_JSON

FUZZ = settings(
    max_examples=int(os.environ.get("AEZOO_FUZZ_EXAMPLES", "25")),
    deadline=timedelta(seconds=10),  # per example; generous for a busy 2-core machine
    derandomize=True,
    database=None,  # nothing written into the checkout
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
MEMORY_BUDGET_MB = 1024  # growth of the process's peak resident memory over one fuzz test

# JSON values with small numbers: a config may ask for any size, but sizes that are merely large
# (latent_dim=10**9) are the loading integrity checks' business, not the parser's.
SMALL_INT = st.integers(min_value=-2, max_value=16)
SCALARS = st.none() | st.booleans() | SMALL_INT | st.floats(allow_nan=True) | st.text(max_size=12)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def outcome(fn: Callable[[], Any]) -> None:
    """Call ``fn``: returning or raising an AezooError is fine; anything else fails the test."""
    with contextlib.suppress(AezooError):
        fn()


@pytest.fixture
def memory_bound() -> Iterator[None]:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    yield
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < MEMORY_BUDGET_MB, f"peak memory grew by {grown_mb:.0f} MiB"


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    """A model directory; the tests below change its files, so each example starts from :data:`PRISTINE`."""
    torch.manual_seed(0)
    d = aezoo.create("linear", input_shape=(1, 8, 8)).save_pretrained(tmp_path / "model")
    PRISTINE.update({name: (d / name).read_bytes() for name in ("config.json", "model.safetensors")})
    return d


PRISTINE: dict[str, bytes] = {}


def _dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=True)


# ------------------------------------------------------------------------------------ config.json
DEEP = "[" * 100_000 + "]" * 100_000


@FUZZ
@given(text=JSON.map(_dumps) | st.text(max_size=200) | st.just(DEEP))
@example(text=DEEP)
def test_any_text_as_config_json(model_dir: Path, memory_bound: None, text: str) -> None:
    (model_dir / "config.json").write_text(text, encoding="utf-8")
    outcome(lambda: aezoo.load(model_dir))


KNOWN_KEYS = ("architecture", "config", "format", "preprocessing", "latent_dim", "input_shape", "scale", "mean", "std")


@FUZZ
@given(
    where=st.sampled_from(["top", "config", "preprocessing"]),
    key=st.sampled_from(KNOWN_KEYS) | st.text(max_size=12),
    value=JSON,
)
@example(where="top", key="format", value="abc")
@example(where="top", key="format", value=None)
@example(where="preprocessing", key="mean", value=[1, "a"])
def test_one_field_of_config_json_replaced(
    model_dir: Path, memory_bound: None, where: str, key: str, value: Any
) -> None:
    config = json.loads(PRISTINE["config.json"])
    section = config if where == "top" else config.setdefault(where, {}) or {}
    section[key] = value
    (model_dir / "config.json").write_text(_dumps(config))
    outcome(lambda: aezoo.load(model_dir))


# ------------------------------------------------------------------------------- model.safetensors
def _mutate(blob: bytes, data: st.DataObject) -> bytes:
    """Truncate, flip bytes, or splice random bytes into ``blob``."""
    kind = data.draw(st.sampled_from(["truncate", "flip", "splice", "random"]))
    if kind == "truncate":
        return blob[: data.draw(st.integers(0, len(blob)))]
    if kind == "flip":
        out = bytearray(blob)
        for i in data.draw(st.lists(st.integers(0, len(blob) - 1), min_size=1, max_size=8)):
            out[i] = data.draw(st.integers(0, 255))
        return bytes(out)
    if kind == "splice":
        at = data.draw(st.integers(0, len(blob)))
        return blob[:at] + data.draw(st.binary(max_size=64)) + blob[at:]
    return data.draw(st.binary(max_size=512))


@FUZZ
@given(data=st.data())
def test_mutated_safetensors(model_dir: Path, memory_bound: None, data: st.DataObject) -> None:
    (model_dir / "model.safetensors").write_bytes(_mutate(PRISTINE["model.safetensors"], data))
    outcome(lambda: aezoo.load(model_dir))


@FUZZ
@given(
    dtype=st.sampled_from(["F32", "F16", "BF16", "F64", "I8", "U8", "I64", "BOOL", "F8_E4M3", "XX"]),
    shape=st.lists(st.integers(0, 2**40), max_size=3),
    offsets=st.lists(st.integers(-1, 2**40), min_size=0, max_size=3),
    header_len=st.none() | st.integers(0, 2**64 - 1),
)
def test_hostile_safetensors_header(
    model_dir: Path, memory_bound: None, dtype: str, shape: list[int], offsets: list[int], header_len: int | None
) -> None:
    """A header that lies about dtypes, shapes, offsets or its own length."""
    path = model_dir / "model.safetensors"
    header = json.dumps({"encoder.weight": {"dtype": dtype, "shape": shape, "data_offsets": offsets}}).encode()
    length = len(header) if header_len is None else header_len
    path.write_bytes(struct.pack("<Q", length) + header + b"\0" * 64)
    outcome(lambda: aezoo.load(model_dir))


# ------------------------------------------------------------------------------------ data files
def _valid_npy() -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.arange(48, dtype=np.float32).reshape(6, 8))
    return buf.getvalue()


def _valid_npz() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, x=np.arange(48, dtype=np.float32).reshape(6, 8), y=np.arange(6))
    return buf.getvalue()


VALID = {
    ".npy": _valid_npy(),
    ".npz": _valid_npz(),
    ".csv": b"a,b,label\n1,2,0\n3,4,1\n5,6.5,0\n",
}


@FUZZ
@given(suffix=st.sampled_from([".npy", ".npz", ".csv"]), data=st.data())
def test_mutated_data_files(tmp_path: Path, memory_bound: None, suffix: str, data: st.DataObject) -> None:
    path = tmp_path / f"data{suffix}"
    path.write_bytes(_mutate(VALID[suffix], data))
    outcome(lambda: aezoo.load_dataset(path))


@FUZZ
@given(
    text=st.text(alphabet=st.sampled_from(list("0123456789.,;\t-+eEnaifNI \n\"'xß\0")), max_size=200),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16"]),
)
@example(text="größe,b\n1,2\n", encoding="latin-1")
def test_csv_like_text(tmp_path: Path, memory_bound: None, text: str, encoding: str) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(text.encode(encoding))
    outcome(lambda: aezoo.load_dataset(path))


# ------------------------------------------------------------------------------------ detector files
@pytest.fixture
def detector(tmp_path: Path) -> tuple[Path, dict[str, Any], aezoo.Autoencoder]:
    torch.manual_seed(0)
    model = aezoo.create("linear", input_shape=(1, 8, 8))
    path = AnomalyDetector.fit(model, torch.rand(50, 1, 8, 8), quantile=0.9).save(tmp_path / "detector.json")
    return path, json.loads(path.read_text()), model


@FUZZ
@given(replace_all=st.booleans(), key=st.text(max_size=12), value=JSON, data=st.data())
def test_detector_files(
    detector: tuple[Path, dict[str, Any], aezoo.Autoencoder],
    memory_bound: None,
    replace_all: bool,
    key: str,
    value: Any,
    data: st.DataObject,
) -> None:
    path, valid, model = detector
    if replace_all:
        path.write_bytes(data.draw(st.binary(max_size=256)) if data.draw(st.booleans()) else _dumps(value).encode())
    else:
        key = data.draw(st.sampled_from(sorted(valid))) if data.draw(st.booleans()) else key
        path.write_text(_dumps({**valid, key: value}))
    x = torch.rand(4, 1, 8, 8)
    outcome(lambda: AnomalyDetector.load(path, model).predict(x))


# ------------------------------------------------------------------------------------ checkpoints
@pytest.fixture
def finished_run(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    out = tmp_path / "run"
    torch.manual_seed(0)
    model = aezoo.create("linear", input_shape=(1, 8, 8))
    Trainer(model, TrainConfig(epochs=1, batch_size=32, device="cpu"), out_dir=out, progress=False).fit(_toy())
    return out, json.loads((out / CHECKPOINT_JSON).read_text())


def _toy() -> aezoo.DeviceDataset:
    return aezoo.DeviceDataset(torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(0)), name="toy")


@settings(FUZZ, max_examples=max(FUZZ.max_examples // 3, 5))  # each example may train an epoch
@given(value=JSON, data=st.data())
def test_hand_edited_checkpoints(
    finished_run: tuple[Path, dict[str, Any]], memory_bound: None, value: Any, data: st.DataObject
) -> None:
    out, valid = finished_run
    meta = json.loads(json.dumps(valid))
    section = data.draw(st.sampled_from(["top", "model", "optimizers", "history", "train_config"]))
    target = meta if section == "top" else meta[section]
    key = data.draw(st.sampled_from(sorted(target)))
    target[key] = value
    (out / CHECKPOINT_JSON).write_text(_dumps(meta))
    torch.manual_seed(0)
    model = aezoo.create("linear", input_shape=(1, 8, 8))
    trainer = Trainer(model, TrainConfig(epochs=1, batch_size=32, device="cpu"), out_dir=out, progress=False)
    outcome(lambda: trainer.fit(_toy(), resume=True))


# ------------------------------------------------------------------------------------ model configs
@FUZZ
@given(arch=st.sampled_from(aezoo.list_models()), data=st.data(), value=JSON)
def test_any_value_for_any_config_field(memory_bound: None, arch: str, data: st.DataObject, value: Any) -> None:
    fields = sorted(aezoo.info(arch)["config"])
    field = data.draw(st.sampled_from(fields))
    outcome(lambda: aezoo.create(arch, **{field: value}))


@FUZZ
@given(name=st.text(max_size=40))
def test_any_name_to_load_create_and_info(memory_bound: None, name: str) -> None:
    outcome(lambda: aezoo.create(name))
    outcome(lambda: aezoo.info(name))
    if not os.path.exists(name) and not name.startswith("hf-hub:"):
        outcome(lambda: aezoo.load(name))
