"""Property-based fuzzing of every file aezoo reads: each outcome is a correct load or an AezooError.

Each reader is reached through the entry point a user calls (``aezoo.load``, ``aezoo.load_user_data``,
``AnomalyDetector.load``, ``read_manifest``, ``run_exported``...), starting from a valid file written
by aezoo itself, then mutated: bytes flipped, truncated, spliced; JSON values replaced by other
types, huge, negative or NaN numbers, keys dropped or added; headers that lie about sizes. Any
other exception (a ValueError, a RecursionError...) fails the test, showing the input. Every call
is bounded: a deadline per example (hypothesis), a hard wall-clock bound per call (SIGALRM), and
at most 64 MiB of Python/numpy allocations per call (tracemalloc), so a header claiming 2**40
elements must be refused before anything is allocated. torch's allocations are not traced: the
tests of lying headers below check that claimed sizes are compared with the file first.

Profiles (tests/conftest.py): ``ci`` by default (25 derandomized examples per property, the same
every run); ``--fuzz=long`` or ``AEZOO_FUZZ=long`` for a random hunt; ``AEZOO_FUZZ_EXAMPLES=N`` sets N.
"""

from __future__ import annotations

import io
import json
import os
import resource
import signal
import struct
import tracemalloc
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from PIL import Image

import aezoo
from aezoo.applications.anomaly import AnomalyDetector
from aezoo.applications.export import export, load_exported, run_exported
from aezoo.core.errors import AezooError, ConfigError, DataError, ExportError, WeightsError
from aezoo.io.pretrained import read_manifest
from aezoo.training import TrainConfig, Trainer
from aezoo.training.checkpoint import CHECKPOINT_JSON

FUZZ = settings()  # the profile tests/conftest.py loaded ("ci" unless --fuzz=long / AEZOO_FUZZ=long)
MEMORY_BUDGET_MB = 1024  # growth of the process's peak resident memory over one fuzz test (torch included)
CALL_MEMORY_MB = 64  # Python and numpy allocations (tracemalloc) of one call
CALL_SECONDS = 20  # hard wall-clock bound of one call, beyond the deadline hypothesis reports


class Hang(Exception):
    """A reader ran past :data:`CALL_SECONDS` (raised by the alarm, so the test shows the input)."""


def bounded(fn: Callable[[], Any]) -> Any:
    """``fn()`` within :data:`CALL_SECONDS` and :data:`CALL_MEMORY_MB`; an AezooError gives None.

    Any other exception propagates and fails the test, as does running too long or allocating too
    much. pytest-timeout's own alarm (SIGALRM, per test) is put back afterwards.
    """

    def alarm(signum: int, frame: Any) -> None:
        raise Hang(f"a reader ran longer than {CALL_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    left, _ = signal.setitimer(signal.ITIMER_REAL, CALL_SECONDS)
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's and numpy's notices about damaged files
            return fn()
    except AezooError:
        return None
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if left:
            signal.setitimer(signal.ITIMER_REAL, left)
        assert peak < CALL_MEMORY_MB << 20, f"one call allocated {peak / 2**20:.0f} MiB (traced)"


def outcome(fn: Callable[[], Any]) -> None:
    """Call ``fn``: returning or raising an AezooError is fine; anything else fails the test."""
    bounded(fn)


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


# JSON values: sizes small, huge, negative; NaN and infinities; any type.
SMALL_INT = st.integers(min_value=-2, max_value=16)
NUMBERS = SMALL_INT | st.sampled_from([-(10**9), 2**31, 10**12, 2**63, 2**64 + 1]) | st.floats(allow_nan=True)
SCALARS = st.none() | st.booleans() | NUMBERS | st.text(max_size=12)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _load_and_run(directory: Path) -> None:
    """``aezoo.load`` the folder; a model that loads must give finite outputs of its input shape."""
    model = bounded(lambda: aezoo.load(directory))
    if model is not None:
        x = torch.rand(2, *model.input_shape, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            out = model(x).reconstruction
        assert out.shape == x.shape and bool(torch.isfinite(out).all())


# ------------------------------------------------------------------------------------ config.json
DEEP = "[" * 100_000 + "]" * 100_000


@FUZZ
@given(text=JSON.map(_dumps) | st.text(max_size=200) | st.just(DEEP))
@example(text=DEEP)
def test_any_text_as_config_json(model_dir: Path, memory_bound: None, text: str) -> None:
    (model_dir / "config.json").write_text(text, encoding="utf-8")
    _load_and_run(model_dir)


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
    _load_and_run(model_dir)


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
    _load_and_run(model_dir)


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
    _load_and_run(model_dir)


# ------------------------------------------------------------------------------------ data files
def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def _npz(compressed: bool = False, **arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


def _pt(obj: Any) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _safetensors(**tensors: torch.Tensor) -> bytes:
    from safetensors.torch import save

    return save(tensors)


X = np.arange(48, dtype=np.float32).reshape(6, 8)
Y = np.arange(6) % 2
VALID = {
    ".npy": [_npy(X), _npy(X.astype(np.uint8).reshape(6, 2, 4))],
    ".npz": [_npz(x=X, y=Y), _npz(True, x=X, y=Y)],
    ".pt": [_pt({"x": torch.from_numpy(X), "y": torch.from_numpy(Y)}), _pt((torch.from_numpy(X), torch.from_numpy(Y)))],
    ".safetensors": [
        _safetensors(x=torch.from_numpy(X), y=torch.from_numpy(Y)),
        _safetensors(x=torch.zeros(6, 4, 4).byte()),
    ],
    ".csv": [b"a,b,label\n1,2,0\n3,4,1\n5,6.5,0\n", b"1;2\n3;4\n"],
}


def _load_user_data(path: Path, **options: Any) -> None:
    """``aezoo.load_user_data``; data that loads must give finite float batches of its sample shape."""
    ds = bounded(lambda: aezoo.load_user_data(path, **options))
    if ds is not None:
        assert len(ds) >= 1
        batches = bounded(lambda: list(ds.batches(4, shuffle=False)))
        if batches is not None:  # a streamed file may be found damaged only when it is read
            assert sum(len(b) for b in batches) == len(ds)
            assert all(b.dtype == torch.float32 and tuple(b.shape[1:]) == ds.shape for b in batches)
            assert all(bool(torch.isfinite(b).all()) for b in batches)


@FUZZ
@given(suffix=st.sampled_from(sorted(VALID)), stream=st.sampled_from([None, True, False]), data=st.data())
def test_mutated_data_files(
    tmp_path: Path, memory_bound: None, suffix: str, stream: bool | None, data: st.DataObject
) -> None:
    path = tmp_path / f"data{suffix}"
    path.write_bytes(_mutate(data.draw(st.sampled_from(VALID[suffix])), data))
    _load_user_data(path, **({} if suffix in (".csv", ".npz", ".pt") else {"stream": stream}))


DESCRS = ["<f4", ">f4", "<f8", "<f2", "|u1", "|i1", "<i8", ">i4", "<u2", "<u8", "|b1", "<c8", "<f16", "<c32", "|O",
          "|V8", "<U3", "|S4", "<M8[s]", "[('a', '<f4')]"]  # fmt: skip


def _npy_header(descr: str, shape: tuple[int, ...], fortran: bool, version: tuple[int, int]) -> bytes:
    text = repr({"descr": eval(descr) if descr.startswith("[") else descr, "fortran_order": fortran, "shape": shape})
    body = (text + " " * (64 - (len(text) + 11) % 64) + "\n").encode("latin-1")
    length = struct.pack("<H" if version == (1, 0) else "<I", len(body))
    return b"\x93NUMPY" + bytes(version) + length + body


@FUZZ
@given(
    descr=st.sampled_from(DESCRS),
    shape=st.lists(st.sampled_from([0, 1, 2, 3, 6, 8, 2**31, 2**40, 2**62]), max_size=4).map(tuple),
    fortran=st.booleans(),
    version=st.sampled_from([(1, 0), (2, 0), (3, 0), (1, 13), (9, 0)]),
    payload=st.integers(0, 512),
    container=st.sampled_from([".npy", ".npz"]),
    stream=st.sampled_from([None, True, False]),
)
@example(descr="<f4", shape=(2**31,), fortran=False, version=(1, 0), payload=64, container=".npy", stream=False)
@example(descr="<f4", shape=(2**31,), fortran=False, version=(1, 0), payload=64, container=".npz", stream=None)
@example(descr=">f4", shape=(4, 2), fortran=False, version=(1, 0), payload=32, container=".npy", stream=None)
@example(descr="<f16", shape=(4, 2), fortran=False, version=(1, 0), payload=128, container=".npy", stream=False)
def test_npy_headers_that_lie(
    tmp_path: Path,
    memory_bound: None,
    descr: str,
    shape: tuple[int, ...],
    fortran: bool,
    version: tuple[int, int],
    payload: int,
    container: str,
    stream: bool | None,
) -> None:
    """Headers claiming 2**40 elements, other dtypes, orders and versions: refused before any allocation."""
    blob = _npy_header(descr, shape, fortran, version) + bytes(range(256)) * (payload // 256) + bytes(payload % 256)
    path = tmp_path / f"x{container}"
    if container == ".npz":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("x.npy", blob)
        _load_user_data(path)
    else:
        path.write_bytes(blob)
        _load_user_data(path, stream=stream)


@FUZZ
@given(
    dtype=st.sampled_from(["F32", "F16", "BF16", "F64", "I8", "U8", "I64", "BOOL", "F8_E4M3", "XX"]),
    shape=st.lists(st.sampled_from([0, 1, 2, 6, 8, 2**31, 2**40]), max_size=3),
    offsets=st.lists(st.integers(-1, 2**40), max_size=3) | st.just([0, 192]),
    header_len=st.none() | st.integers(0, 2**64 - 1),
    stream=st.sampled_from([None, True, False]),
)
def test_hostile_safetensors_data_file(
    tmp_path: Path,
    memory_bound: None,
    dtype: str,
    shape: list[int],
    offsets: list[int],
    header_len: int | None,
    stream: bool | None,
) -> None:
    header = json.dumps({"x": {"dtype": dtype, "shape": shape, "data_offsets": offsets}}).encode()
    length = len(header) if header_len is None else header_len
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", length) + header + bytes(192))
    _load_user_data(path, stream=stream)


CSV_CELLS = st.sampled_from(
    ["1", "2.5", "-3", "1e3", "nan", "inf", "", " ", "a", "x,y", '"1"', "\ufeff1", "0x10", "1_0"]
)


@FUZZ
@given(
    rows=st.lists(st.lists(CSV_CELLS, min_size=0, max_size=5), max_size=6),
    header=st.booleans(),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    bom=st.booleans(),
    label=st.none() | st.sampled_from(["label", "b", 0, -1, 7, "1"]),
)
@example(rows=[], header=False, delimiter=",", bom=False, label=None)
@example(rows=[["1", "2"], ["3"]], header=True, delimiter=",", bom=True, label="label")
def test_structured_csv(
    tmp_path: Path, memory_bound: None, rows: list[list[str]], header: bool, delimiter: str, bom: bool, label: Any
) -> None:
    """Ragged rows, words, empty files, BOMs, quotes, missing label columns."""
    lines = ([delimiter.join(["a", "b", "label"])] if header else []) + [delimiter.join(r) for r in rows]
    path = tmp_path / "t.csv"
    path.write_bytes(("\ufeff" if bom else "").encode() + "\n".join(lines).encode())
    _load_user_data(path, label_column=label)


@FUZZ
@given(
    text=st.text(alphabet=st.sampled_from(list("0123456789.,;\t-+eEnaifNI \n\"'xß\0")), max_size=200),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16"]),
)
@example(text="größe,b\n1,2\n", encoding="latin-1")
def test_csv_like_text(tmp_path: Path, memory_bound: None, text: str, encoding: str) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(text.encode(encoding))
    _load_user_data(path)


# ------------------------------------------------------------------------------------ image folders
def _image(fmt: str, mode: str, seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (8, 6, 3) if mode == "RGB" else (8, 6), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, fmt)
    return buf.getvalue()


IMAGES = {
    ".png": _image("PNG", "L"),
    ".jpg": _image("JPEG", "RGB"),
    ".bmp": _image("BMP", "L"),
    ".gif": _image("GIF", "L"),
    ".tif": _image("TIFF", "RGB"),
    ".ppm": _image("PPM", "RGB"),
}


def _png(width: int, height: int, idat: bytes) -> bytes:
    """A PNG whose header (with a valid CRC) claims ``width`` x ``height`` grey pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@FUZZ
@given(suffix=st.sampled_from(sorted(IMAGES)), alone=st.booleans(), stream=st.booleans(), data=st.data())
@example(suffix=".ppm", alone=True, stream=False, data=None)  # see test_damaged_images_are_one_error
def test_mutated_image_folders(
    tmp_path: Path, memory_bound: None, suffix: str, alone: bool, stream: bool, data: st.DataObject | None
) -> None:
    """A folder with a damaged image (alone, or beside a good one), loaded whole or streamed."""
    blob = IMAGES[suffix] if data is None else _mutate(IMAGES[suffix], data)
    if data is None:
        blob = blob.replace(b"255", b"25\xad", 1)
    (tmp_path / f"a{suffix}").write_bytes(blob)
    if not alone:
        (tmp_path / f"b{suffix}").write_bytes(IMAGES[suffix])
    _load_user_data(tmp_path, stream=stream)


@FUZZ
@given(
    width=st.sampled_from([0, 1, 6, 2**12, 2**16, 2**31 - 1, 2**32 - 1]),
    height=st.sampled_from([0, 1, 8, 2**12, 2**16, 2**31 - 1, 2**32 - 1]),
    idat=st.binary(max_size=64) | st.just(zlib.compress(bytes(48))),
)
def test_images_claiming_any_size(tmp_path: Path, memory_bound: None, width: int, height: int, idat: bytes) -> None:
    """PNG headers claiming up to 2**64 pixels over a few bytes of data."""
    if 1 << 22 < width * height <= 2 * Image.MAX_IMAGE_PIXELS:
        width = 2**16  # Pillow decodes what it allows (docs/faults.md, not covered): keep out of that band
        height = 2**16
    (tmp_path / "a.png").write_bytes(_png(width, height, idat))
    _load_user_data(tmp_path)


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


# ------------------------------------------------------------------------------------ detector files, raw bytes
@FUZZ
@given(data=st.data())
def test_mutated_detector_bytes(
    detector: tuple[Path, dict[str, Any], aezoo.Autoencoder], memory_bound: None, data: st.DataObject
) -> None:
    path, _, model = detector
    valid = json.dumps(detector[1], indent=2).encode()
    path.write_bytes(_mutate(valid, data))
    flags = bounded(lambda: AnomalyDetector.load(path, model).predict(torch.rand(4, 1, 8, 8)))
    assert flags is None or (flags.shape == (4,) and flags.dtype == torch.bool)


# ------------------------------------------------------------------------------------ manifests
MANIFEST = (Path(aezoo.__file__).parent / "pretrained.json").read_text(encoding="utf-8")


@FUZZ
@given(data=st.data(), value=JSON, mode=st.sampled_from(["bytes", "field", "drop", "entry"]))
@example(data=None, value=5, mode="field")
def test_mutated_manifests(data: st.DataObject | None, value: Any, mode: str) -> None:
    """``read_manifest`` (what ``manifest_entries`` reads): entries of the right types, or a ConfigError."""
    manifest = json.loads(MANIFEST)
    name = sorted(manifest)[0] if data is None else data.draw(st.sampled_from(sorted(manifest)))
    if mode == "bytes" and data is not None:
        text = _mutate(MANIFEST.encode(), data).decode("utf-8", errors="replace")
    else:
        entry = manifest[name]
        key = "config" if data is None else data.draw(st.sampled_from(sorted(entry)))
        if mode == "field":
            entry[key] = value
        elif mode == "drop":
            del entry[key]
        else:
            manifest[name] = value
        text = _dumps(manifest)
    entries = bounded(lambda: read_manifest(text, package="aezoo"))
    if entries is not None:  # what it read writes back as it was
        again = read_manifest(_dumps({e.name: e.to_manifest() for e in entries}), package="aezoo")
        assert again == entries


# ------------------------------------------------------------------------------------ exported files
@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, dict[str, Any]]:
    """A TorchScript export of a small model: its bytes and its ``aezoo.json`` metadata."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("export") / "m.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export(aezoo.create("linear", input_shape=(1, 8, 8)), path, format="torchscript", verify=False)
    return path.read_bytes(), load_exported(path)[1]


def _with_metadata(blob: bytes, meta: bytes) -> bytes:
    """The TorchScript archive ``blob`` with its ``extra/aezoo.json`` replaced by ``meta``."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(blob)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, meta if info.filename.endswith("/extra/aezoo.json") else zin.read(info))
    return out.getvalue()


@FUZZ
@given(mode=st.sampled_from(["bytes", "field", "drop", "whole", "file"]), value=JSON, data=st.data())
@example(mode="whole", value=[1], data=None)
@example(mode="field", value=["batch", 1, 9, 9], data=None)
def test_exported_metadata(
    tmp_path: Path, exported: tuple[bytes, dict[str, Any]], mode: str, value: Any, data: st.DataObject | None
) -> None:
    """``run_exported`` on a file whose ``aezoo.json`` is damaged or edited, or whose archive is."""
    blob, meta = exported
    meta = json.loads(json.dumps(meta))
    key = "input_shape" if data is None else data.draw(st.sampled_from(sorted(meta)))
    if mode == "bytes" and data is not None:
        raw = _mutate(json.dumps(meta).encode(), data)
    elif mode == "field":
        raw = _dumps({**meta, key: value}).encode()
    elif mode == "drop":
        raw = _dumps({k: v for k, v in meta.items() if k != key}).encode()
    else:
        raw = _dumps(value).encode()
    path = tmp_path / "m.pt"
    path.write_bytes(_mutate(blob, data) if mode == "file" and data is not None else _with_metadata(blob, raw))
    shape = value[1:] if mode == "field" and key == "input_shape" and isinstance(value, list) else [1, 8, 8]
    x = torch.rand(2, *[d if isinstance(d, int) and not isinstance(d, bool) and 0 < d <= 16 else 8 for d in shape])
    out = bounded(lambda: run_exported(path, x))
    assert out is None or (out.shape == (2, 1, 8, 8) and bool(torch.isfinite(out).all()))


# ------------------------------------------------------------------------------------ sizes claimed, never allocated
def test_a_weights_header_claiming_10_to_the_12_bytes_is_refused_before_reading(model_dir: Path) -> None:
    """torch's allocations are not traced: the claimed size must be compared with the file first."""
    header = json.dumps(
        {"encoder.weight": {"dtype": "F32", "shape": [250_000, 1_000_000], "data_offsets": [0, 10**12]}}
    )
    (model_dir / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header.encode() + bytes(64))
    with pytest.raises(WeightsError, match="does not fit its byte range"):
        aezoo.load(model_dir)


@pytest.mark.parametrize("stream", [None, True, False])
def test_data_files_claiming_10_to_the_12_bytes_are_refused_before_reading(tmp_path: Path, stream: bool | None) -> None:
    header = json.dumps({"x": {"dtype": "F32", "shape": [250_000, 1_000_000], "data_offsets": [0, 10**12]}})
    (tmp_path / "x.safetensors").write_bytes(struct.pack("<Q", len(header)) + header.encode() + bytes(64))
    (tmp_path / "x.npy").write_bytes(_npy_header("<f4", (250_000, 1_000_000), False, (1, 0)) + bytes(64))
    for name in ("x.safetensors", "x.npy"):
        with pytest.raises(DataError, match=r"truncated|damaged|invalid"):
            bounded_strict(lambda n=name: aezoo.load_user_data(tmp_path / n, stream=stream))


def bounded_strict(fn: Callable[[], Any]) -> Any:
    """:func:`bounded`, but the AezooError is raised (for ``pytest.raises``)."""
    caught: list[AezooError] = []

    def call() -> Any:
        try:
            return fn()
        except AezooError as e:
            caught.append(e)
            raise

    result = bounded(call)
    if caught:
        raise caught[0]
    return result


# ------------------------------------------------------------------------------------ regressions (issue 23 item 7)
# Each failed on main before the fix named in CHANGELOG.md, with a raw exception or an allocation.
def test_a_big_endian_npy_loads(tmp_path: Path) -> None:
    np.save(tmp_path / "b.npy", X.astype(">f4"))  # was ValueError: ... byte order different from native
    for stream in (None, False):
        got = aezoo.load_user_data(tmp_path / "b.npy", stream=stream).x
        np.testing.assert_array_equal(got, aezoo.load_user_data(_save(tmp_path / "l.npy", X)).x)


def _save(path: Path, a: np.ndarray) -> Path:
    np.save(path, a)
    return path


def test_a_float128_npy_is_read_as_float64(tmp_path: Path) -> None:
    np.save(tmp_path / "q.npy", X.astype(np.longdouble))  # was TypeError: can't convert np.ndarray of type longdouble
    assert aezoo.load_user_data(tmp_path / "q.npy", stream=False).x.shape == (6, 8)


def test_a_bool_npy_loads_whole_unless_streaming_is_asked(tmp_path: Path) -> None:
    np.save(tmp_path / "b.npy", X > 10)  # was DataError "aezoo streams numeric arrays" though nobody asked to stream
    assert aezoo.load_user_data(tmp_path / "b.npy").x.shape == (6, 8)
    with pytest.raises(DataError, match="streams"):
        aezoo.load_user_data(tmp_path / "b.npy", stream=True)


@pytest.mark.parametrize("where", ["npy", "npz", "version"])
def test_npy_headers_claiming_gigabytes_allocate_nothing(tmp_path: Path, where: str) -> None:
    """Was an 8 GiB allocation (np.load with stream=False, an .npz member; a version-2 header length)."""
    if where == "npy":
        (tmp_path / "x.npy").write_bytes(_npy_header("<f4", (2**31,), False, (1, 0)) + bytes(64))
    elif where == "npz":
        with zipfile.ZipFile(tmp_path / "x.npz", "w") as z:
            z.writestr("x.npy", _npy_header("<f4", (2**31,), False, (1, 0)) + bytes(64))
    else:  # format 2 has a 4-byte header length: numpy reads as many bytes as it claims
        (tmp_path / "x.npy").write_bytes(b"\x93NUMPY\x02\x00" + struct.pack("<I", 2**31) + bytes(64))
    name = "x.npz" if where == "npz" else "x.npy"
    with pytest.raises(DataError, match=r"truncated|damaged"):
        bounded_strict(lambda: aezoo.load_user_data(tmp_path / name, stream=False if where != "npz" else None))


def test_damaged_images_are_one_error(tmp_path: Path) -> None:
    """Pillow raises ValueError and SyntaxError for some damaged files (it used to escape)."""
    (tmp_path / "a.ppm").write_bytes(IMAGES[".ppm"].replace(b"255", b"25\xad", 1))  # ValueError: invalid literal
    with pytest.raises(DataError, match=r"cannot read image .*a\.ppm"):
        aezoo.load_user_data(tmp_path)


def test_exported_metadata_that_is_not_an_object_or_lies_is_one_error(
    tmp_path: Path, exported: tuple[bytes, dict[str, Any]]
) -> None:
    blob, meta = exported
    (tmp_path / "m.pt").write_bytes(_with_metadata(blob, b"[1]"))  # was AttributeError: 'list' ... 'get'
    with pytest.raises(ExportError, match="not a JSON object"):
        run_exported(tmp_path / "m.pt", torch.rand(2, 1, 8, 8))
    lying = json.dumps({**meta, "input_shape": ["batch", 1, 9, 9]}).encode()
    (tmp_path / "m.pt").write_bytes(_with_metadata(blob, lying))  # was the TorchScript interpreter's RuntimeError
    with pytest.raises(ExportError, match=r"failed on a batch of shape \(2, 1, 9, 9\)"):
        run_exported(tmp_path / "m.pt", torch.rand(2, 1, 9, 9))


def test_a_manifest_with_fields_of_the_wrong_type_is_a_config_error() -> None:
    for text in ("[1]", "[" * 100_000, '{"m": {"architecture": "conv", "repo_id": "o/m", "sha256": "s", "config": 5}}'):
        with pytest.raises(ConfigError):  # were ValueError, RecursionError, and an entry whose config is 5
            read_manifest(text, package="aezoo")


def test_release_refuses_a_manifest_that_is_not_an_object_of_entries(tmp_path: Path) -> None:
    from aezoo.hub.release import release

    (tmp_path / "weights").mkdir()
    for text in ("[1]", '{"m": [1]}', "[" * 100_000):  # were TypeError, AttributeError, RecursionError
        (tmp_path / "pretrained.json").write_text(text)
        with pytest.raises(WeightsError, match=r"pretrained\.json"):
            release(tmp_path / "weights", tmp_path / "pretrained.json")


def test_a_config_that_cannot_build_its_model_is_a_weights_error(model_dir: Path) -> None:
    config = json.loads(PRISTINE["config.json"])
    config["config"]["latent_dim"] = -1  # was RuntimeError: Trying to create tensor with negative dimension
    (model_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(WeightsError, match="does not build a model"):
        aezoo.load(model_dir)


def test_reading_a_small_json_file_sets_no_64_mib_aside(model_dir: Path) -> None:
    tracemalloc.start()  # read_json read f.read(64 MiB + 1), which allocates that much before reading
    aezoo.load(model_dir)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 16 << 20
