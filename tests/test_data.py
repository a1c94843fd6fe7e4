"""aezoo.data: built-in datasets (offline copies), the safetensors cache, user data, batches and splits."""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from aezoo.core.errors import ConfigError, DataError, UnknownNameError
from aezoo.data import DeviceDataset, data_root, load_dataset, load_user_data
from aezoo.data.builtin import _cache_file
from aezoo.data.preprocessing import Preprocessing
from aezoo.data.roots import CACHE_DIRNAME

# (dataset, split) -> (n, pixel mean, first labels), from ../shared/data/README.md
FIGURES = {
    ("mnist", "train"): (60000, 0.1307, [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]),
    ("mnist", "test"): (10000, 0.1325, [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]),
    ("fashion-mnist", "train"): (60000, 0.2860, [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]),
    ("fashion-mnist", "test"): (10000, 0.2868, None),
}


class _NetworkCalls(list):
    """Every URL that code under test tried to open (none is ever opened)."""


@pytest.fixture(scope="module")
def network_calls() -> Iterator[_NetworkCalls]:
    """Make every urllib request fail at once, as on a machine without network, and record it."""
    calls = _NetworkCalls()

    def refuse(url: object, *args: object, **kwargs: object) -> None:
        calls.append(getattr(url, "full_url", url))
        raise urllib.error.URLError("network disabled in tests")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(urllib.request, "urlopen", refuse)
        yield calls


@pytest.fixture(autouse=True)
def _no_network(network_calls: _NetworkCalls) -> _NetworkCalls:
    network_calls.clear()
    return network_calls


@pytest.fixture(scope="module")
def builtin(shared_data_copy: Path, network_calls: _NetworkCalls) -> dict[tuple[str, str], DeviceDataset]:
    """All four splits, each loaded once for the whole module (the first load through torchvision)."""
    return {key: load_dataset(key[0], key[1], root=shared_data_copy) for key in FIGURES}


# ----------------------------------------------------------------------------------- built-in sets


@pytest.mark.parametrize("key", list(FIGURES), ids=lambda k: "-".join(k))
def test_builtin_figures(builtin: dict[tuple[str, str], DeviceDataset], key: tuple[str, str]) -> None:
    n, mean, first = FIGURES[key]
    ds = builtin[key]
    assert ds.x.shape == (n, 1, 28, 28) and ds.x.dtype == torch.float32
    assert ds.y is not None and ds.y.dtype == torch.int64 and ds.y.shape == (n,)
    assert round(ds.x.mean().item(), 4) == mean
    assert ds.x.min().item() >= 0.0 and ds.x.max().item() <= 1.0
    if first is not None:
        assert ds.y[:10].tolist() == first
    assert ds.preprocessing.scale == pytest.approx(1 / 255) and ds.preprocessing.mean is None
    assert ds.name == f"{key[0]}/{key[1]}"
    if key == ("mnist", "train"):
        assert round(ds.x.std().item(), 4) == 0.3081


def test_second_load_comes_from_the_cache(
    shared_data_copy: Path, builtin: dict[tuple[str, str], DeviceDataset], monkeypatch: pytest.MonkeyPatch
) -> None:
    import torchvision.datasets

    for name, split in FIGURES:
        assert _cache_file(name, split, shared_data_copy).is_file()

    def no_torchvision(*args: object, **kwargs: object) -> None:
        raise AssertionError("torchvision was used although the cache is there")

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", no_torchvision)
    for alias in ("fashion_mnist", "FashionMNIST", "fashion-mnist"):
        again = load_dataset(alias, "test", root=shared_data_copy, download=False)
        assert torch.equal(again.x, builtin[("fashion-mnist", "test")].x)
        assert torch.equal(again.y, builtin[("fashion-mnist", "test")].y)


@pytest.mark.parametrize("damage", ["truncate", "flip-a-byte"])
def test_damaged_cache_is_detected_and_rebuilt(
    shared_data_copy: Path, builtin: dict[tuple[str, str], DeviceDataset], damage: str
) -> None:
    cache = _cache_file("mnist", "test", shared_data_copy)
    data = bytearray(cache.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0xFF
    cache.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="damaged dataset cache"):
        ds = load_dataset("mnist", "test", root=shared_data_copy)
    assert torch.equal(ds.x, builtin[("mnist", "test")].x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_dataset("mnist", "test", root=shared_data_copy)  # rebuilt: no warning


def test_gz_archives_alone_load_offline(
    tmp_path: Path, network_calls: _NetworkCalls, monkeypatch: pytest.MonkeyPatch, shared_data_copy: Path
) -> None:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for gz in (shared_data_copy / "MNIST" / "raw").glob("*.gz"):
        shutil.copyfile(gz, raw / gz.name)
    monkeypatch.setenv("AEZOO_CACHE", str(tmp_path / "own"))  # no tensor cache yet: torchvision's path
    ds = load_dataset("mnist", "test", root=tmp_path, download=True)
    assert len(ds) == 10000 and ds.y[:3].tolist() == [7, 2, 1]
    assert network_calls == []
    # torchvision unpacked a copy of the archives in aezoo's cache, not beside the originals
    assert (tmp_path / "own" / "data" / "MNIST" / "raw" / "t10k-images-idx3-ubyte").is_file()
    assert not (raw / "t10k-images-idx3-ubyte").exists()


def test_cifar10_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets

    class FakeCIFAR10:  # torchvision's layout: .data (N, H, W, C) uint8 numpy, .targets a list
        def __init__(self, root: str, train: bool, download: bool) -> None:
            self.data = np.zeros((4, 32, 32, 3), np.uint8)
            self.data[..., 0] = 255  # red
            self.targets = [3, 1, 4, 1]

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    ds = load_dataset("CIFAR-10", root=tmp_path)
    assert ds.x.shape == (4, 3, 32, 32) and ds.y.tolist() == [3, 1, 4, 1]
    assert ds.x[:, 0].eq(1).all() and ds.x[:, 1:].eq(0).all()


# ------------------------------------------------------------------------------- roots and errors


def test_data_root_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AEZOO_DATA", "AEZOO_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_root() == tmp_path / "home" / ".cache" / "aezoo" / "data"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_root() == tmp_path / "xdg" / "aezoo" / "data"
    monkeypatch.setenv("AEZOO_CACHE", str(tmp_path / "cache"))
    assert data_root() == tmp_path / "cache" / "data"
    monkeypatch.setenv("AEZOO_DATA", str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data_root(str(tmp_path / "arg")) == tmp_path / "arg"


@pytest.mark.parametrize("download", [True, False])
def test_missing_dataset_says_where_and_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, network_calls: _NetworkCalls, download: bool
) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("AEZOO_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("AEZOO_CACHE", str(tmp_path / "own"))  # nothing cached either
    with pytest.raises(DataError) as info:
        load_dataset("mnist", "test", download=download)
    msg = str(info.value)
    assert "AEZOO_DATA" in msg and "--data-dir" in msg
    assert str(tmp_path / "empty" / "MNIST" / "raw") in msg
    assert str(_cache_file("mnist", "test", tmp_path / "empty")) in msg
    if download:
        assert network_calls and "download from" in msg and "network disabled" in msg
    else:
        assert not network_calls and "download=False" in msg


def test_names_splits_and_paths(tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'mnist'"):
        load_dataset("mnsit")
    with pytest.raises(DataError, match="unknown split 'val'"):
        load_dataset("mnist", "val", root=tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(str(tmp_path / "nothing.npy"))
    np.save(tmp_path / "x.npy", np.ones((3, 2), np.float32))
    assert load_dataset(str(tmp_path / "x.npy")).x.shape == (3, 2)  # a path dispatches to load_user_data


# ------------------------------------------------------------------------------------- user data


def _write_images(folder: Path, n: int, size: tuple[int, int], mode: str, seed: int = 0) -> list[np.ndarray]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = []
    for i in range(n):
        shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
        a = rng.integers(0, 256, shape, dtype=np.uint8)
        Image.fromarray(a, mode).save(folder / f"{i:03d}.png")
        arrays.append(a)
    return arrays


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_image_folder(tmp_path: Path, mode: str) -> None:
    arrays = _write_images(tmp_path / "imgs", 5, (8, 6), mode)
    ds = load_user_data(tmp_path / "imgs")
    channels = 3 if mode == "RGB" else 1
    assert ds.x.shape == (5, channels, 6, 8) and ds.y is None
    raw = torch.from_numpy(np.stack(arrays))
    raw = raw.permute(0, 3, 1, 2) if mode == "RGB" else raw.unsqueeze(1)
    assert ds.preprocessing.scale == pytest.approx(1 / 255)
    torch.testing.assert_close(ds.preprocessing.apply(raw), ds.x)  # inference sees what training saw


def test_image_folder_labels_from_subfolders_and_size_check(tmp_path: Path) -> None:
    _write_images(tmp_path / "cats", 2, (4, 4), "L")
    _write_images(tmp_path / "ants", 3, (4, 4), "L", seed=1)
    ds = load_dataset(str(tmp_path))
    assert ds.y.tolist() == [0, 0, 0, 1, 1]
    _write_images(tmp_path / "odd", 1, (5, 4), "L")
    with pytest.raises(DataError, match=r"one size.*5x4"):
        load_user_data(tmp_path)
    with pytest.raises(DataError, match="no images"):
        load_user_data((tmp_path / "empty").mkdir() or tmp_path / "empty")


def test_tensor_files(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    pixels = np.random.default_rng(0).integers(0, 256, (6, 5, 5), dtype=np.uint8)
    np.save(tmp_path / "img.npy", pixels)
    ds = load_user_data(tmp_path / "img.npy")
    assert ds.x.shape == (6, 1, 5, 5) and ds.preprocessing.scale == pytest.approx(1 / 255)
    torch.testing.assert_close(ds.x, torch.from_numpy(pixels).unsqueeze(1).float() / 255)

    np.save(tmp_path / "hwc.npy", np.zeros((6, 5, 5, 3), np.uint8))
    assert load_user_data(tmp_path / "hwc.npy").x.shape == (6, 3, 5, 5)

    table = np.random.default_rng(1).normal(3.0, 2.0, (50, 4)).astype(np.float32)
    np.savez(tmp_path / "t.npz", x=table, y=np.arange(50) % 3)
    ds = load_user_data(tmp_path / "t.npz")
    assert ds.x.shape == (50, 4) and ds.y.dtype == torch.int64 and ds.y[:4].tolist() == [0, 1, 2, 0]
    torch.testing.assert_close(ds.x.mean(0), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(ds.preprocessing.apply(torch.from_numpy(table)), ds.x)

    volumes = torch.rand(3, 2, 4, 4)
    torch.save(volumes, tmp_path / "v.pt")
    ds = load_user_data(tmp_path / "v.pt")
    assert torch.equal(ds.x, volumes) and ds.preprocessing.mean is None and ds.preprocessing.scale == 1.0

    torch.save({"images": volumes, "targets": torch.tensor([1, 0, 1])}, tmp_path / "d.pt")
    assert load_user_data(tmp_path / "d.pt").y.tolist() == [1, 0, 1]
    torch.save((volumes, torch.tensor([2, 2, 0])), tmp_path / "pair.pt")
    assert load_user_data(tmp_path / "pair.pt").y.tolist() == [2, 2, 0]
    save_file({"x": volumes, "cls": torch.tensor([0, 1, 0])}, str(tmp_path / "s.safetensors"))
    assert load_user_data(tmp_path / "s.safetensors", label_column="cls").y.tolist() == [0, 1, 0]
    with pytest.raises(DataError, match="no key 'label'"):
        load_user_data(tmp_path / "s.safetensors", label_column="label")


class Payload:
    """Something only pickle can bring back."""


def test_pickled_objects_are_refused(tmp_path: Path) -> None:
    torch.save({"x": torch.zeros(2, 2), "extra": Payload()}, tmp_path / "obj.pt")
    with pytest.raises(DataError, match="unpickling"):
        load_user_data(tmp_path / "obj.pt")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="pickle"):
        load_user_data(tmp_path / "obj.npy")


def test_csv_with_header_and_label(tmp_path: Path) -> None:
    (tmp_path / "h.csv").write_text("a,b,label,c\n1,10,0,5\n2,20,1,5\n3,30,1,5\n")
    ds = load_user_data(tmp_path / "h.csv", label_column="label")
    assert ds.x.shape == (3, 3) and ds.y.tolist() == [0, 1, 1]
    assert ds.preprocessing.mean == pytest.approx((2.0, 20.0, 5.0))
    assert ds.preprocessing.std[2] == 1.0  # a constant column is not divided by zero
    torch.testing.assert_close(ds.x[:, 0], torch.tensor([-1.2247, 0.0, 1.2247]), atol=1e-4, rtol=0)
    torch.testing.assert_close(ds.preprocessing.apply(torch.tensor([[1.0, 10.0, 5.0]])), ds.x[:1])
    with pytest.raises(DataError, match="did you mean 'label'"):
        load_user_data(tmp_path / "h.csv", label_column="lable")


def test_csv_without_header(tmp_path: Path) -> None:
    (tmp_path / "n.csv").write_text("0.5,1,7\n1.5,2,8\n\n2.5,3,9\n")
    ds = load_user_data(tmp_path / "n.csv")
    assert ds.x.shape == (3, 3) and ds.y is None
    ds = load_user_data(tmp_path / "n.csv", label_column=-1)
    assert ds.x.shape == (3, 2) and ds.y.tolist() == [7, 8, 9]
    (tmp_path / "n.tsv").write_text("1\t2\n3\t4\n")
    assert load_user_data(tmp_path / "n.tsv").x.shape == (2, 2)


def test_csv_errors_name_the_cell(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3,oops\n")
    with pytest.raises(DataError, match=r"line 3, column 2 \('b'\): 'oops' is not a number"):
        load_user_data(tmp_path / "bad.csv")
    (tmp_path / "ragged.csv").write_text("1,2\n3\n")
    with pytest.raises(DataError, match="line 2: 1 columns"):
        load_user_data(tmp_path / "ragged.csv")
    (tmp_path / "empty.csv").write_text("a,b\n")
    with pytest.raises(DataError, match="no samples"):
        load_user_data(tmp_path / "empty.csv")
    (tmp_path / "frac.csv").write_text("1,0.5\n2,1\n")
    with pytest.raises(DataError, match="one integer per sample"):
        load_user_data(tmp_path / "frac.csv", label_column=1)


def test_csv_edge_cases(tmp_path: Path) -> None:
    """What the csv module and NumPy must keep doing: quotes, BOM, CRLF, ';', blank rows, first errors first."""
    (tmp_path / "q.csv").write_bytes('\ufeff"a";"b"\r\n"1";" 2 "\r\n;\r\n3;4e1\r\n'.encode())
    ds = load_user_data(tmp_path / "q.csv", label_column="a")
    assert ds.y.tolist() == [1, 3] and ds.preprocessing.mean == pytest.approx((21.0,))
    (tmp_path / "n.csv").write_text("5,1\n6,0\n")
    assert load_user_data(tmp_path / "n.csv", label_column="0").y.tolist() == [5, 6]  # an index, as text
    with pytest.raises(DataError, match=r"label_column=2 is out of range; .* has 2 columns"):
        load_user_data(tmp_path / "n.csv", label_column=2)
    with pytest.raises(DataError, match=r"label column 'x' not found .*; columns: '0', '1'"):
        load_user_data(tmp_path / "n.csv", label_column="x")
    (tmp_path / "mixed.csv").write_text("x,1\n2,3\n")  # a number in the first row: data, not a header
    with pytest.raises(DataError, match=r"line 1, column 1 \('0'\): 'x' is not a number"):
        load_user_data(tmp_path / "mixed.csv")
    (tmp_path / "order.csv").write_text("a,b\n1,oops\n2\n")  # the first problem in file order is reported
    with pytest.raises(DataError, match=r"line 2, column 2 \('b'\): 'oops'"):
        load_user_data(tmp_path / "order.csv")
    (tmp_path / "narrow.csv").write_text("a,b,c\n1,2\n3,4\n")  # every row one width, not the header's
    with pytest.raises(DataError, match="line 2: 2 columns where the header has 3"):
        load_user_data(tmp_path / "narrow.csv")
    (tmp_path / "blank.csv").write_text("\n ,\n\n")
    with pytest.raises(DataError, match="is empty"):
        load_user_data(tmp_path / "blank.csv")


def test_both_kinds_of_dataset_have_every_member_of_the_protocol(tmp_path: Path) -> None:
    from aezoo.data import Dataset, StreamedDataset

    members = [m for m in vars(Dataset) if not m.startswith("_") or m == "__len__"]
    assert {"batches", "subset", "split", "x", "preprocessing", "streamed"} <= set(members)
    np.save(tmp_path / "x.npy", np.zeros((4, 2), np.float32))
    for ds in (DeviceDataset(torch.zeros(4, 2)), load_user_data(tmp_path / "x.npy", stream=True)):
        missing = [m for m in members if m != "x" and not hasattr(ds, m)]
        assert not missing, (type(ds).__name__, missing)
    assert isinstance(ds, StreamedDataset) and ds.split(0.5, seed=1)[1].inputs().shape == (2, 2)


def test_non_finite_values_are_refused_once_at_load(tmp_path: Path) -> None:
    x = np.ones((10, 3), np.float32)
    x[2, 1] = np.nan
    x[7, 0] = np.inf
    np.save(tmp_path / "nan.npy", x)
    with pytest.raises(DataError, match=r"2 NaN or infinite value.*first in sample 2"):
        load_user_data(tmp_path / "nan.npy")
    (tmp_path / "nan.csv").write_text("1,2\nnan,3\n")
    with pytest.raises(DataError, match="1 NaN"):
        load_user_data(tmp_path / "nan.csv")
    np.save(tmp_path / "none.npy", np.zeros((0, 3), np.float32))
    with pytest.raises(DataError, match="no samples"):
        load_user_data(tmp_path / "none.npy")


# --------------------------------------------------------------------------- batches and splits


def test_batches_cover_every_index_once_and_reproduce() -> None:
    ds = DeviceDataset(torch.arange(103.0).view(103, 1))
    for drop_last in (False, True):
        seen = torch.cat(list(ds.batches(10, generator=torch.Generator().manual_seed(1), drop_last=drop_last)))
        assert (
            len(seen)
            == (100 if drop_last else 103)
            == ds.num_batches(10, drop_last=drop_last) * 10 - (0 if drop_last else 7)
        )
        assert len(set(seen.flatten().tolist())) == len(seen)
    first = [b.flatten().tolist() for b in ds.batches(10, generator=torch.Generator().manual_seed(5))]
    again = [b.flatten().tolist() for b in ds.batches(10, generator=torch.Generator().manual_seed(5))]
    assert first == again and first != sorted(first)
    resumed = [b.flatten().tolist() for b in ds.batches(10, generator=torch.Generator().manual_seed(5), start=4)]
    assert resumed == first[4:]
    with pytest.raises(DataError, match="batch_size"):
        next(ds.batches(0))


def test_split_is_deterministic_and_disjoint() -> None:
    ds = DeviceDataset(torch.arange(50.0).view(50, 1), y=torch.arange(50), name="toy")
    train, val = ds.split(0.2, seed=3)
    train2, val2 = ds.split(0.2, seed=3)
    assert len(train) == 40 and len(val) == 10 and val.name == "toy:val"
    assert torch.equal(val.x, val2.x) and torch.equal(train.y, train2.y)
    assert sorted(train.y.tolist() + val.y.tolist()) == list(range(50))
    assert not torch.equal(ds.split(0.2, seed=4)[1].x, val.x)
    assert train.preprocessing is ds.preprocessing
    with pytest.raises(DataError, match="between 0 and 1"):
        ds.split(1.0, seed=0)


def _own_cache() -> Path:
    """aezoo's own dataset cache (the tests point AEZOO_CACHE at a temporary folder)."""
    return Path(os.environ["AEZOO_CACHE"]) / "data" / CACHE_DIRNAME


def test_a_data_root_holding_archives_is_never_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, network_calls: _NetworkCalls
) -> None:
    """AEZOO_DATA may point at a shared read-only copy (and root ignores file modes)."""
    src = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "MNIST" / "raw"
    if not src.is_dir():
        pytest.skip("offline MNIST copy not found")
    shared = tmp_path / "shared"
    (shared / "MNIST" / "raw").mkdir(parents=True)
    for gz in src.glob("*.gz"):
        shutil.copy(gz, shared / "MNIST" / "raw" / gz.name)
    own = tmp_path / "own-cache"
    monkeypatch.setenv("AEZOO_CACHE", str(own))
    monkeypatch.setenv("AEZOO_DATA", str(shared))
    before = sorted(p.relative_to(shared) for p in shared.rglob("*"))
    ds = load_dataset("mnist", "test")
    assert len(ds) == 10000 and ds.y[:3].tolist() == [7, 2, 1]
    assert sorted(p.relative_to(shared) for p in shared.rglob("*")) == before
    assert len(list((own / "data" / CACHE_DIRNAME).glob("mnist-test-*.safetensors"))) == 1  # keyed by the root
    assert not network_calls


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"std": (0.0,)}, r"preprocessing\.std must hold finite numbers > 0 .*got 0\.0"),
        ({"std": [-1.0]}, r"preprocessing\.std must hold finite numbers > 0 .*got -1\.0"),
        ({"std": (float("nan"),)}, r"preprocessing\.std .*got nan"),
        ({"scale": float("inf")}, r"preprocessing\.scale must be a finite number > 0, got inf"),
        ({"scale": -1 / 255}, r"preprocessing\.scale must be a finite number > 0"),
        ({"mean": (float("-inf"),)}, r"preprocessing\.mean must hold finite numbers, got -inf"),
        ({"mean": ()}, r"preprocessing\.mean must be null or a non-empty list"),
        ({"mean": (0.5, 0.5), "std": (0.25, 0.25, 0.25)}, r"preprocessing\.mean has 2 values but std has 3"),
    ],
)
def test_preprocessing_refuses_values_that_divide_by_zero_or_poison_inputs(fields: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Preprocessing(**fields)
    with pytest.raises(ConfigError, match=message):
        Preprocessing.from_dict({k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()})


def test_preprocessing_holds_one_value_per_channel_or_one_for_all() -> None:
    rgb = Preprocessing(scale=1 / 255, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    rgb.check_channels(3)
    Preprocessing(mean=(0.5,), std=(0.25, 0.5, 1.0)).check_channels(3)
    numpy_stats = Preprocessing(scale=np.float32(0.5), mean=(np.float32(0.5),))  # stored as floats, JSON-ready
    assert type(numpy_stats.scale) is float and type(numpy_stats.mean[0]) is float
    with pytest.raises(ConfigError, match=r"preprocessing\.mean has 3 values .* 1 channel\(s\) along dim 1"):
        rgb.check_channels(1)
