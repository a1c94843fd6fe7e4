"""Hugging Face ``datasets`` as input (``hf:``): built locally from the MNIST copy, read offline.

Nothing here reaches the internet: the datasets are made with ``datasets`` from a few hundred MNIST
images and read back from a ``save_to_disk`` folder or a folder of parquet files; the one Hub name
is read with ``HF_DATASETS_OFFLINE=1`` and ``HF_HUB_OFFLINE=1`` in a subprocess.
"""

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

import aezoo
from aezoo.cli.main import cli
from aezoo.core.errors import DataError
from aezoo.data.hf import parse_hf_spec

datasets = pytest.importorskip("datasets")

N_TRAIN, N_TEST = 300, 100
OFFLINE = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}


@pytest.fixture(scope="module")
def mnist_part(shared_data_copy: Path) -> tuple[aezoo.DeviceDataset, aezoo.DeviceDataset]:
    train = aezoo.load_dataset("mnist", "train", root=shared_data_copy).subset(N_TRAIN)
    test = aezoo.load_dataset("mnist", "test", root=shared_data_copy).subset(N_TEST)
    return train, test  # type: ignore[return-value]


def _as_hf(ds: aezoo.DeviceDataset) -> object:
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(num_classes=10)})
    images = list(ds.data[:, 0].numpy())  # (28, 28) uint8 each: stored as PNG by datasets
    return datasets.Dataset.from_dict({"image": images, "label": ds.y.tolist()}, features=features)


@pytest.fixture(scope="module")
def saved(mnist_part, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DatasetDict (train, test) written by ``save_to_disk``."""
    folder = tmp_path_factory.mktemp("hf") / "mnist-part"
    datasets.DatasetDict({"train": _as_hf(mnist_part[0]), "test": _as_hf(mnist_part[1])}).save_to_disk(str(folder))
    return folder


@pytest.fixture(scope="module")
def parquet_repo(mnist_part, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder laid out as a Hub dataset repo: data/{train,test}-*.parquet."""
    folder = tmp_path_factory.mktemp("hf") / "repo"
    (folder / "data").mkdir(parents=True)
    _as_hf(mnist_part[0]).to_parquet(str(folder / "data" / "train-00000-of-00001.parquet"))
    _as_hf(mnist_part[1]).to_parquet(str(folder / "data" / "test-00000-of-00001.parquet"))
    return folder


def test_spec_parsing() -> None:
    assert parse_hf_spec("hf:ylecun/mnist") == parse_hf_spec("ylecun/mnist")
    spec = parse_hf_spec("hf:ylecun/mnist@abc123:test?image=img&label=digit")
    assert (spec.source, spec.revision, spec.split, spec.image, spec.label) == (
        "ylecun/mnist",
        "abc123",
        "test",
        "img",
        "digit",
    )
    assert parse_hf_spec("hf:o/n?columns=a,b&label=").columns == ("a", "b")
    assert parse_hf_spec("hf:o/n?label=").label == ""
    with pytest.raises(DataError, match="unknown option 'colums'"):
        parse_hf_spec("hf:o/n?colums=a")
    with pytest.raises(DataError, match="not both"):
        parse_hf_spec("hf:o/n?image=a&columns=b")


def test_saved_images_read_as_the_builtin_copy(saved: Path, mnist_part) -> None:
    """The pixels, labels and preprocessing record are those of aezoo's own MNIST reader."""
    train, test = mnist_part
    got = aezoo.load_dataset(f"hf:{saved}")
    assert isinstance(got, aezoo.DeviceDataset) and got.data.dtype == torch.uint8
    assert torch.equal(got.data, train.data) and torch.equal(got.y, train.y)
    assert got.preprocessing == train.preprocessing == aezoo.Preprocessing(scale=1 / 255)
    assert torch.equal(aezoo.load_dataset(f"hf:{saved}", "test").data, test.data)  # the split a command asks for
    assert torch.equal(aezoo.load_dataset(f"hf:{saved}:test", "train").data, test.data)  # the spec's split wins
    assert aezoo.load_dataset(f"hf:{saved}?label=").y is None


def test_streamed_through_an_iterable_dataset(parquet_repo: Path, saved: Path, mnist_part) -> None:
    """``stream=True``: ``datasets`` streams the rows, aezoo packs them and streams the pack."""
    train = mnist_part[0]
    for spec in (f"hf:{parquet_repo}", f"hf:{saved}"):
        got = aezoo.load_dataset(spec, stream=True)
        assert isinstance(got, aezoo.StreamedDataset), spec
        assert len(got) == N_TRAIN and torch.equal(got.y, train.y)
        assert got.preprocessing == train.preprocessing
        first = next(got.batches(64, shuffle=False))
        assert torch.equal(first, next(train.batches(64, shuffle=False)))
    whole = aezoo.load_dataset(f"hf:{parquet_repo}:test")  # the data-files folder read whole, too
    assert torch.equal(whole.data, mnist_part[1].data)


def test_numeric_columns_are_standardised_like_a_csv(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    table = {"a": rng.normal(3, 2, 64).tolist(), "b": rng.integers(0, 9, 64).tolist(), "kind": ["x"] * 64}
    datasets.Dataset.from_dict({**table, "label": [i % 3 for i in range(64)]}).save_to_disk(str(tmp_path / "t"))
    got = aezoo.load_dataset(f"hf:{tmp_path / 't'}")  # the string column is left out, the label found
    features = np.stack([table["a"], table["b"]], 1)
    assert got.shape == (2,) and got.y.tolist() == [i % 3 for i in range(64)]
    assert got.preprocessing.mean == pytest.approx(tuple(features.mean(0)))
    assert got.preprocessing.std == pytest.approx(tuple(features.std(0)))
    streamed = aezoo.load_dataset(f"hf:{tmp_path / 't'}?columns=a", stream=True)
    assert streamed.shape == (1,) and streamed.preprocessing.mean == pytest.approx((features[:, 0].mean(),))


@pytest.mark.parametrize(
    ("suffix", "message"),
    [
        ("?image=picture", "no image column 'picture'"),
        ("?columns=a,nope", "no feature column 'nope'"),
        ("?columns=name", "column 'name' holds string values, not numbers"),
        ("?image=name", "column 'name' holds string values, not images"),
        ("?label=lable", "did you mean 'label'"),
        (":validation", "no split 'validation'"),
    ],
)
def test_columns_that_do_not_fit_are_named(tmp_path: Path, suffix: str, message: str) -> None:
    d = tmp_path / "d"
    datasets.DatasetDict(
        {"train": datasets.Dataset.from_dict({"a": [1.0, 2.0], "name": ["p", "q"], "label": [0, 1]})}
    ).save_to_disk(str(d))
    with pytest.raises(DataError, match=message):
        aezoo.load_dataset(f"hf:{d}{suffix}")


def test_images_of_two_sizes_and_text_only_are_refused(tmp_path: Path) -> None:
    images = [np.zeros((28, 28), np.uint8)] * 3 + [np.zeros((20, 28), np.uint8)]
    features = datasets.Features({"image": datasets.Image()})
    datasets.Dataset.from_dict({"image": images}, features=features).save_to_disk(str(tmp_path / "sizes"))
    with pytest.raises(DataError, match="sample 0 is 28x28 but sample 3 is 28x20"):
        aezoo.load_dataset(f"hf:{tmp_path / 'sizes'}")
    with pytest.raises(DataError, match="sample 0 is 28x28 but sample 3 is 28x20"):
        aezoo.load_dataset(f"hf:{tmp_path / 'sizes'}", stream=True)
    datasets.Dataset.from_dict({"text": ["a", "b"]}).save_to_disk(str(tmp_path / "text"))
    with pytest.raises(DataError, match=r"no image column and no numeric column.*\?image=COL"):
        aezoo.load_dataset(f"hf:{tmp_path / 'text'}")


def _run(code: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env}, timeout=timeout
    )


@pytest.mark.slow  # subprocesses, so that the offline switches are read when datasets is imported
def test_offline_unknown_dataset_and_import_aezoo_stays_light() -> None:
    code = (
        "import sys, aezoo; assert 'datasets' not in sys.modules, 'import aezoo imported datasets'\n"
        "from aezoo.core.errors import DataError\n"
        "try:\n    aezoo.load_dataset('hf:nobody-aezoo-test/no-such-dataset')\n"
        "except DataError as e:\n    print('DataError', e)\n"
    )
    out = _run(code, OFFLINE)
    assert out.returncode == 0, out.stderr
    assert "DataError cannot read Hugging Face dataset hf:nobody-aezoo-test/no-such-dataset" in out.stdout
    assert "HF_DATASETS_OFFLINE" in out.stdout


@pytest.mark.slow  # the CLI in a subprocess, offline
@pytest.mark.timeout(180)
def test_train_end_to_end_on_an_hf_dataset_offline(parquet_repo: Path, tmp_path: Path) -> None:
    """``aezoo train ... --dataset hf:FOLDER --stream``: one tiny epoch, the record in config.json."""
    out = tmp_path / "run"
    args = ["train", "linear", "--dataset", f"hf:{parquet_repo}", "--stream", "--epochs", "1", "-b", "64"]
    args += ["--device", "cpu", "-q", "--out", str(out)]
    result = _run(f"from aezoo.cli.main import main; import sys; sys.argv = ['aezoo', *{args!r}]; main()", OFFLINE)
    assert result.returncode == 0, result.stdout + result.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["preprocessing"]["scale"] == pytest.approx(1 / 255)
    assert config["training"]["dataset"] == f"hf:{parquet_repo}"
    assert config["training"]["data"].startswith(f"hf:{parquet_repo}:train")
    evaluated = CliRunner().invoke(cli, ["eval", str(out), "--dataset", f"hf:{parquet_repo}", "--limit", "50"])
    assert evaluated.exit_code == 0, evaluated.output
