"""Fault injection: runs that compete for a folder or diverge, hostile data, files and plugins.

Every case ends in one :class:`aezoo.AezooError` (one line and exit 1 on the CLI), never in a
traceback, a silent success or an exit. ``docs/faults.md`` lists these cases and what users get.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner, Result

import aezoo
from aezoo.applications.anomaly import AnomalyDetector
from aezoo.cli.main import cli
from aezoo.core.errors import ConfigError, DataError, InputError, TrainingError, WeightsError
from aezoo.training import TrainConfig, Trainer
from aezoo.training.checkpoint import CHECKPOINT_JSON, CHECKPOINT_TENSORS

pytestmark = pytest.mark.timeout(120)

HOLDER = textwrap.dedent(
    """
    import sys, torch, aezoo
    from aezoo.training import TrainConfig, Trainer

    def hold(event):  # after the first step: say so, then hold the folder until killed
        if event.kind == "step":
            print("holding", flush=True)
            sys.stdin.read()

    data = aezoo.DeviceDataset(torch.rand(32, 1, 8, 8))
    model = aezoo.create("linear", input_shape=(1, 8, 8))
    Trainer(model, TrainConfig(epochs=1, batch_size=8, device="cpu"), out_dir=sys.argv[1], callbacks=[hold],
            progress=False).fit(data)
    """
)


def tiny(n: int = 64) -> aezoo.DeviceDataset:
    return aezoo.DeviceDataset(torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(0)), name="tiny")


def small_model() -> aezoo.Autoencoder:
    torch.manual_seed(0)
    return aezoo.create("linear", input_shape=(1, 8, 8))


def train_tiny(out: Path | None, **kwargs) -> aezoo.Autoencoder:
    kwargs = {"epochs": 1, "batch_size": 16, "device": "cpu", "progress": False, **kwargs}
    return aezoo.train(small_model(), kwargs.pop("data", tiny()), out_dir=out, **kwargs)


def run_cli(*args: str) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_line_error(result: Result, *needles: str) -> None:
    """Exit 1, one line, no traceback, and every needle in it."""
    assert result.exit_code == 1, (result.exit_code, result.output, result.exception)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in result.output, result.output
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.fixture
def npy(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.npy"
    np.save(path, (np.random.default_rng(0).random((48, 8, 8)) * 255).astype(np.uint8))
    return path


def cli_train(npy: Path, out: Path, *extra: str) -> Result:
    return run_cli("train", "linear", "--dataset", npy, "--epochs", "1", "--batch-size", "16", "--out", out, "-q",
                   "--device", "cpu", "--set", "input_shape=[1,8,8]", *extra)  # fmt: skip


# ---------------------------------------------------------------------------------------- run folders
def test_a_second_run_on_a_held_folder_is_refused_at_once(tmp_path: Path) -> None:
    out, refused = tmp_path / "run", []

    def second_run(event) -> None:  # while the first run holds the folder, in another thread
        if event.kind == "step" and not refused:
            t = threading.Thread(target=lambda: refused.append(_error_of(lambda: train_tiny(out))))
            t.start()
            t.join(timeout=60)

    Trainer(small_model(), TrainConfig(epochs=1, batch_size=16, device="cpu"), out_dir=out, callbacks=[second_run],
            progress=False).fit(tiny())  # fmt: skip
    assert isinstance(refused[0], TrainingError), refused
    assert "in use by another aezoo run" in str(refused[0]) and f"pid {os.getpid()}" in str(refused[0])
    assert aezoo.load(out).input_shape == (1, 8, 8)  # the first run finished and wrote its model


def _error_of(fn) -> BaseException | None:
    try:
        fn()
    except BaseException as e:
        return e
    return None


def test_the_cli_is_refused_while_another_process_holds_the_folder_then_takes_a_killed_ones(
    tmp_path: Path, npy: Path
) -> None:
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        one_line_error(cli_train(npy, out), "in use by another aezoo run", f"pid {holder.pid}", "another --out")
        assert not (out / "model.safetensors").exists()
    finally:
        holder.send_signal(signal.SIGKILL)  # dies holding the lock: the kernel drops it
        holder.wait(timeout=30)
    result = cli_train(npy, out)
    assert result.exit_code == 0, result.output
    assert aezoo.load(out).input_shape == (1, 8, 8)


def test_a_fresh_run_into_a_finished_run_needs_overwrite_or_resume(tmp_path: Path, npy: Path) -> None:
    out = tmp_path / "run"
    train_tiny(out, lr=1e-3)
    before = (out / "model.safetensors").read_bytes()
    with pytest.raises(TrainingError, match=r"already holds a run \(model.safetensors, config.json, checkpoint"):
        train_tiny(out, lr=1e-2)
    assert (out / "model.safetensors").read_bytes() == before  # nothing of the old run was touched
    train_tiny(out, lr=1e-3, resume=True)  # resuming a finished run is fine
    nan = torch.full((32, 1, 8, 8), float("nan"))
    with pytest.raises(DataError):  # bad data is refused before --overwrite removes anything
        train_tiny(out, overwrite=True, data=nan)
    assert (out / "model.safetensors").read_bytes() == before
    train_tiny(out, lr=1e-2, overwrite=True)
    assert json.loads((out / "config.json").read_text())["training"]["train_config"]["lr"] == 1e-2
    assert json.loads((out / CHECKPOINT_JSON).read_text())["train_config"]["lr"] == 1e-2
    with pytest.raises(ConfigError, match="exclude each other"):
        train_tiny(out, resume=True, overwrite=True)
    # the same through the CLI
    cli_out = tmp_path / "cli"
    assert cli_train(npy, cli_out).exit_code == 0
    one_line_error(cli_train(npy, cli_out, "--lr", "0.01"), "already holds a run", "--resume", "--overwrite")
    assert cli_train(npy, cli_out, "--lr", "0.01", "--overwrite").exit_code == 0


def test_pretrain_owns_its_folder_too(tmp_path: Path, npy: Path) -> None:
    from aezoo.training.rundir import claim_run_dir

    out, held, done = tmp_path / "deep", threading.Event(), threading.Event()

    def hold() -> None:  # another thread of this process holds the folder meanwhile
        with claim_run_dir(out):
            held.set()
            done.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(60)
    pretrain = ("pretrain", "--dims", "64,8", "--dataset", npy, "--layer-epochs", "1", "--finetune-epochs", "0",
                "--device", "cpu", "-q", "--out", out)  # fmt: skip
    try:
        one_line_error(run_cli(*pretrain), "in use by another aezoo run")
    finally:
        done.set()
        holder.join(60)
    assert run_cli(*pretrain).exit_code == 0
    one_line_error(run_cli(*pretrain), "already holds a run", "layerwise.json")
    assert run_cli(*pretrain, "--overwrite").exit_code == 0


def test_a_file_as_out_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(TrainingError, match="is a file"):
        train_tiny(tmp_path / "f")


def test_a_diverging_run_stops_and_writes_no_model(tmp_path: Path, npy: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(TrainingError, match=r"training diverged in epoch 1 .* no model was written"):
        train_tiny(out, lr=1e30)
    assert not (out / "model.safetensors").exists() and not (out / CHECKPOINT_JSON).exists()
    one_line_error(cli_train(npy, tmp_path / "inf", "--lr", "inf"), "lr must be a finite number > 0, got inf")
    one_line_error(cli_train(npy, tmp_path / "big", "--lr", "1e30"), "training diverged", "no model was written")
    assert not (tmp_path / "big" / "model.safetensors").exists()


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_inputs_are_refused_by_the_api(bad: float) -> None:
    x = torch.rand(32, 1, 8, 8)
    x[5, 0, 1, 2] = bad
    with pytest.raises(DataError, match=r"1 NaN or infinite value.*\(first in sample 5\)"):
        train_tiny(None, data=aezoo.DeviceDataset(x))
    with pytest.raises(DataError, match="NaN or infinite"):
        Trainer(small_model(), TrainConfig(epochs=1), progress=False).fit(tiny(), aezoo.DeviceDataset(x))
    with pytest.raises(DataError, match="NaN or infinite"):
        train_tiny(None, data=x)  # a bare tensor is taken as the samples
    with pytest.raises(InputError, match=r"must be an aezoo\.DeviceDataset or a tensor"):
        train_tiny(None, data=x.numpy())


def test_a_huge_seed_is_one_error(tmp_path: Path, npy: Path) -> None:
    seed = str(2**70)
    one_line_error(cli_train(npy, tmp_path / "run", "--seed", seed), "seed must be an integer from 0 to 2**63 - 1")
    with pytest.raises(ConfigError, match="seed"):
        aezoo.generate(aezoo.create("vae"), 2, seed=2**70)
    with pytest.raises(ConfigError, match="seed"):
        aezoo.LayerwiseConfig(dims=(64, 8), seed=-1)


def _overcommits() -> bool:
    try:
        return Path("/proc/sys/vm/overcommit_memory").read_text().strip() == "1"
    except OSError:
        return False


@pytest.mark.skipif(_overcommits(), reason="with vm.overcommit_memory=1 a huge allocation succeeds lazily")
def test_a_model_larger_than_memory_is_one_error(tmp_path: Path, npy: Path) -> None:
    with pytest.raises(ConfigError, match=r"'linear' with latent_dim=1000000000 needs more memory than this machine"):
        aezoo.create("linear", latent_dim=10**9)  # 3 TB of weights: refused by the allocator at once
    one_line_error(cli_train(npy, tmp_path / "run", "--set", "latent_dim=1000000000"), "needs more memory")


# ---------------------------------------------------------------------------------------- checkpoints
@pytest.fixture(scope="module")
def _finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("finished") / "run"
    train_tiny(out)
    return out


@pytest.fixture
def finished_run(_finished: Path, tmp_path: Path) -> Path:
    """A copy of a finished run, to damage."""
    return Path(shutil.copytree(_finished, tmp_path / "run"))


def test_a_checkpoint_that_is_not_safetensors_is_one_error(finished_run: Path) -> None:
    import hashlib

    out = finished_run
    blob = pickle.dumps({"weights": [1, 2, 3]})
    (out / CHECKPOINT_TENSORS).write_bytes(blob)
    meta = json.loads((out / CHECKPOINT_JSON).read_text())
    (out / CHECKPOINT_JSON).write_text(json.dumps({**meta, "tensors_sha256": hashlib.sha256(blob).hexdigest()}))
    with pytest.raises(TrainingError, match=r"cannot be read as safetensors.* --overwrite"):
        train_tiny(out, resume=True)


@pytest.mark.parametrize(
    "edit",
    [
        {"epoch": "three"},
        {"history": {"epoch": "x"}},
        {"model": {"encoder.weight": {"__tensor__": "nope"}}},
        {"model_config": [1, 2]},
        {"format": "abc"},
    ],
    ids=["epoch", "history", "tensor", "model_config", "format"],
)
def test_a_hand_edited_checkpoint_is_one_error(finished_run: Path, edit: dict) -> None:
    out = finished_run
    meta = json.loads((out / CHECKPOINT_JSON).read_text())
    (out / CHECKPOINT_JSON).write_text(json.dumps({**meta, **edit}))
    with pytest.raises(TrainingError):
        train_tiny(out, resume=True)


# ---------------------------------------------------------------------------------------- model folders
@pytest.mark.parametrize("fmt", ["abc", None, 1.5, [1], True])
def test_a_config_json_with_a_bad_format_is_one_error(tmp_path: Path, fmt: object) -> None:
    d = aezoo.create("linear").save_pretrained(tmp_path / "m")
    config = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**config, "format": fmt}))
    with pytest.raises(WeightsError, match=r"has format .*, not a model-directory format number"):
        aezoo.load(d)
    one_line_error(run_cli("eval", d, "--dataset", "x.npy"), "not a model-directory format number")


def test_deeply_nested_json_is_one_error(tmp_path: Path) -> None:
    d = aezoo.create("linear").save_pretrained(tmp_path / "m")
    (d / "config.json").write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(WeightsError, match="nests its JSON too deeply"):
        aezoo.load(d)
    (tmp_path / "det.json").write_text('{"a":' * 100_000 + "1" + "}" * 100_000)
    with pytest.raises(ConfigError, match="too deeply"):
        AnomalyDetector.load(tmp_path / "det.json", aezoo.create("linear"))


@pytest.mark.parametrize("history", ['{"epoch": "x"}', "[1, 2", "\x80\x81"])
def test_bundle_refuses_a_damaged_history_before_evaluating(finished_run: Path, history: str) -> None:
    from aezoo.training.bundle import bundle

    (finished_run / "history.json").write_bytes(history.encode("latin-1"))
    with pytest.raises(WeightsError, match=r"history\.json"):
        bundle(finished_run, name="x", dataset="no-such-data.npy")
    (finished_run / "config.json").write_text(
        json.dumps({**json.loads((finished_run / "config.json").read_text()), "training": "text"})
    )
    (finished_run / "history.json").unlink()
    with pytest.raises(DataError, match="does not say which dataset"):
        bundle(finished_run, name="x")


# ---------------------------------------------------------------------------------------- data files
def test_an_npz_with_object_arrays_is_one_error(tmp_path: Path) -> None:
    np.savez(tmp_path / "o.npz", x=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(DataError, match="holds Python objects and needs pickle"):
        aezoo.load_dataset(tmp_path / "o.npz")


def test_a_truncated_npy_says_damaged_not_pickle(tmp_path: Path) -> None:
    np.save(tmp_path / "t.npy", np.zeros((100, 10), np.float32))
    (tmp_path / "t.npy").write_bytes((tmp_path / "t.npy").read_bytes()[:300])
    with pytest.raises(DataError, match="damaged") as e:
        aezoo.load_dataset(tmp_path / "t.npy")
    assert "pickle" not in str(e.value)


def test_a_non_utf8_csv_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "latin1.csv").write_bytes("größe,b\n1,2\n3,4\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"is not UTF-8 text.*save the CSV as UTF-8"):
        aezoo.load_dataset(tmp_path / "latin1.csv")
    one_line_error(run_cli("train", "mlp", "--dataset", tmp_path / "latin1.csv", "--out", tmp_path / "r"), "UTF-8")


# ---------------------------------------------------------------------------------------- detectors
@pytest.fixture
def detector_file(tmp_path: Path) -> tuple[Path, dict, aezoo.Autoencoder]:
    model = small_model()
    det = AnomalyDetector.fit(model, torch.rand(100, 1, 8, 8), quantile=0.9)
    path = det.save(tmp_path / "det.json")
    return path, json.loads(path.read_text()), model


@pytest.mark.parametrize(
    "edit",
    [
        {"threshold": None},
        {"threshold": "abc"},
        {"threshold": []},
        {"quantile": 2},
        {"score": 5},
        {"n_calibration": -1},
    ],
)
def test_a_detector_with_an_invalid_field_is_one_error(detector_file, edit: dict) -> None:
    path, data, model = detector_file
    path.write_text(json.dumps({**data, **edit}))
    key = next(iter(edit))
    with pytest.raises(ConfigError, match=f'"{key}"'):
        AnomalyDetector.load(path, model)


def test_a_detector_without_threshold_or_as_a_pickle_is_one_error(detector_file) -> None:
    path, data, model = detector_file
    path.write_text(json.dumps({k: v for k, v in data.items() if k != "threshold"}))
    with pytest.raises(ConfigError, match='"threshold" is missing'):
        AnomalyDetector.load(path, model)
    path.write_bytes(pickle.dumps(data))
    with pytest.raises(ConfigError, match=r"not a JSON text.*pickle"):
        AnomalyDetector.load(path, model)
    path.write_text('{"threshold": NaN}')
    with pytest.raises(ConfigError, match="NaN is not a JSON number"):
        AnomalyDetector.load(path, model)


def test_predict_before_fit_raises_instead_of_answering_all_normal() -> None:
    det = AnomalyDetector(small_model(), float("nan"), quantile=0.99)
    with pytest.raises(InputError, match="not fitted"):
        det.predict(torch.rand(4, 1, 8, 8))
    with pytest.raises(InputError, match="not fitted"):
        det.evaluate(torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 0, 1]))


# ---------------------------------------------------------------------------------------- plugins
HOSTILE_PLUGINS = {
    "exits": "import sys\nsys.exit(3)\n",
    "interrupts": "raise KeyboardInterrupt('not a real Ctrl-C')\n",
    "baseexc": "class Boom(BaseException):\n    pass\nraise Boom('a BaseException of its own')\n",
    "generatorexit": "raise GeneratorExit('odd')\n",
    "junkpretrained": "import aezoo.models.linear as m\n"
    "class Junk(m.LinearAE):\n    architecture = 'junkpretrained'\n    pretrained = ['not an entry']\n",
    "noarch": "import aezoo\nclass Meta(type(aezoo.Autoencoder)):\n    def __getattribute__(cls, name):\n"
    "        if name == 'architecture':\n            raise RuntimeError('no architecture')\n"
    "        return super().__getattribute__(name)\n"
    "class Odd(aezoo.Autoencoder, metaclass=Meta):\n    pass\n",
}


@pytest.fixture
def hostile_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_registry: None) -> Path:
    import importlib

    from aezoo.registry.scaffold import write_dist_info

    attrs = {"junkpretrained": "Junk", "noarch": "Odd"}
    entry_points = {name: f"aezoo_hostile_{name}:{attrs.get(name, 'Model')}" for name in HOSTILE_PLUGINS}
    write_dist_info(tmp_path, "aezoo-hostile", "6.6.6", entry_points)
    for name, source in HOSTILE_PLUGINS.items():
        (tmp_path / f"aezoo_hostile_{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    return tmp_path


def test_hostile_plugins_become_records_never_an_exit(hostile_site: Path) -> None:
    with pytest.warns(aezoo.PluginWarning) as caught:
        names = aezoo.list_models()
    assert "conv" in names and not set(HOSTILE_PLUGINS) & set(names)
    assert len([w for w in caught if issubclass(w.category, aezoo.PluginWarning)]) == len(HOSTILE_PLUGINS)
    records = {r.name: r for r in aezoo.plugins() if r.distribution == "aezoo-hostile"}
    assert {n: r.status for n, r in records.items()} == dict.fromkeys(HOSTILE_PLUGINS, "failed")
    assert "SystemExit: 3" in records["exits"].error
    assert "KeyboardInterrupt" in records["interrupts"].error and "Boom" in records["baseexc"].error
    assert "not an aezoo.Pretrained entry" in records["junkpretrained"].error
    assert "no architecture" in records["noarch"].error
    with pytest.raises(aezoo.PluginError, match="SystemExit"):
        aezoo.create("exits")
    assert aezoo.load("conv-mnist").architecture == "conv"


def test_the_cli_keeps_working_beside_a_plugin_that_exits(hostile_site: Path) -> None:
    with pytest.warns(aezoo.PluginWarning):
        listed = run_cli("list")
    assert listed.exit_code == 0 and "conv" in listed.output, listed.output
    plugins = run_cli("plugins")
    assert plugins.exit_code == 0
    assert re.search(r"exits +aezoo-hostile 6\.6\.6  failed: import of .* SystemExit: 3", plugins.output)
    assert run_cli("info", "conv-mnist").exit_code == 0


@pytest.mark.parametrize("handler", [signal.default_int_handler, signal.SIG_DFL])
def test_a_real_ctrl_c_during_a_plugin_import_still_stops(hostile_site: Path, handler: object) -> None:
    (hostile_site / "aezoo_hostile_interrupts.py").write_text(
        "import os, signal, time\nos.kill(os.getpid(), signal.SIGINT)\ntime.sleep(2)\n"
    )
    previous = signal.signal(signal.SIGINT, handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            aezoo.list_models()
    finally:
        signal.signal(signal.SIGINT, previous)


# ---------------------------------------------------------------------------------------- the CLI
def test_os_errors_on_user_paths_are_one_line(tmp_path: Path, npy: Path) -> None:
    d = small_model().save_pretrained(tmp_path / "m")
    one_line_error(run_cli("encode", d, "--dataset", npy, "--out", d / "config.json" / "x.npy"), "config.json")
    if os.geteuid() != 0:  # root writes anywhere
        (tmp_path / "ro").mkdir(mode=0o500)
        one_line_error(run_cli("encode", d, "--dataset", npy, "--out", tmp_path / "ro" / "x.npy"), "Permission denied")


# ------------------------------------------------------------------- files that describe a model (issue 23)
@pytest.mark.parametrize(
    ("preprocessing", "field"),
    [
        ({"std": [0]}, "preprocessing.std"),  # a division by zero at inference
        ({"std": [-0.5]}, "preprocessing.std"),
        ({"std": [1e400]}, "preprocessing.std"),  # a JSON number Python reads as infinity
        ({"scale": -1}, "preprocessing.scale"),
        ({"scale": 0}, "preprocessing.scale"),
        ({"mean": [0.1, 0.2, 0.3]}, "preprocessing.mean"),  # 3 values for 1-channel inputs
        ({"mean": [0.5, 0.5], "std": [1.0]}, "preprocessing.mean"),
    ],
)
def test_a_config_json_with_impossible_preprocessing_is_one_error(
    tmp_path: Path, npy: Path, preprocessing: dict, field: str
) -> None:
    folder = small_model().save_pretrained(tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    text = json.dumps({**config, "preprocessing": preprocessing}).replace("Infinity", "1e400")
    (folder / "config.json").write_text(text)
    with pytest.raises(WeightsError, match=rf"config\.json: {re.escape(field)}"):
        aezoo.load(folder)
    one_line_error(run_cli("encode", folder, "--dataset", npy, "--out", tmp_path / "z.npy"), field)
    assert not (tmp_path / "z.npy").exists()


@pytest.mark.parametrize("threshold", ["-0.5", "1e400", "-1e400"])
def test_a_detector_with_a_negative_or_infinite_threshold_is_one_error(detector_file, threshold: str) -> None:
    path, data, model = detector_file
    path.write_text(json.dumps({**data, "threshold": "EDIT"}).replace('"EDIT"', threshold))
    with pytest.raises(ConfigError, match=r'"threshold" is .*a finite number >= 0'):
        AnomalyDetector.load(path, model)


def test_a_detector_loaded_with_another_model_is_refused_unless_allowed(detector_file) -> None:
    path, _, model = detector_file
    torch.manual_seed(1)
    other = aezoo.create("linear", input_shape=(1, 8, 8))
    with pytest.raises(ConfigError, match=r"calibrated on other weights.*allow_other_model=True"):
        AnomalyDetector.load(path, other)
    assert AnomalyDetector.load(path, other, allow_other_model=True).model is other
    assert AnomalyDetector.load(path, model).model is model


# ------------------------------------------------------------------- inputs that cost unbounded resources
def _png_claiming(width: int, height: int) -> bytes:
    """A PNG of a few bytes whose header claims ``width`` x ``height`` grey pixels."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = chunk(b"IDAT", zlib.compress(b"\0" * 8))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + pixels + chunk(b"IEND", b"")


def test_an_image_claiming_a_huge_size_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "bomb.png").write_bytes(_png_claiming(100_000, 100_000))  # 10**10 pixels, < 100 bytes
    with pytest.raises(DataError, match=r"bomb\.png is too large.*PIL\.Image\.MAX_IMAGE_PIXELS = \d+"):
        aezoo.load_dataset(tmp_path / "images")
    one_line_error(
        run_cli("train", "mlp", "--dataset", tmp_path / "images", "--out", tmp_path / "r"), "MAX_IMAGE_PIXELS"
    )


def test_generating_more_than_memory_holds_is_refused_up_front() -> None:
    vae = aezoo.create("vae", input_shape=(1, 8, 8), hidden_dims=(16,), latent_dim=2)
    with pytest.raises(InputError, match=r"n=1000000000 samples .* needs 256000000000 bytes.*in batches of at most"):
        aezoo.generate(vae, 10**9)
    with pytest.raises(InputError, match=r"more than the 1000 allowed \(max_bytes\)"):
        aezoo.generate(vae, 4, max_bytes=1000)
    assert aezoo.generate(vae, 4, max_bytes=1024).shape == (4, 1, 8, 8)  # 4 x 64 float32 = 1024 bytes


def test_aezoo_generate_goes_through_the_same_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = aezoo.create("vae", input_shape=(1, 8, 8), hidden_dims=(16,), latent_dim=2).save_pretrained(tmp_path / "v")
    monkeypatch.setenv("AEZOO_MEMORY_BUDGET", "1K")  # 64 samples of 256 bytes need 16 KiB
    one_line_error(
        run_cli("generate", folder, "--n", "64", "--out", tmp_path / "s.png"),
        "needs 16384 bytes",
        "AEZOO_MEMORY_BUDGET",
    )
    assert not (tmp_path / "s.png").exists()
