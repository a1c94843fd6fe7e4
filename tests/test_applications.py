"""The applications (reduce, anomaly detection, denoising, generation), in Python and on the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import aezoo
from aezoo.applications import AnomalyDetector, add_noise, denoise, extract_features, generate, reduce, roc_auc
from aezoo.applications.anomaly import _rank_auc
from aezoo.cli.main import cli
from aezoo.core.errors import AezooError, InputError

SHAPE = (1, 8, 8)


def _tiny(arch: str, **overrides) -> aezoo.Autoencoder:
    torch.manual_seed(0)
    sizes = {"vae": {"hidden_dims": (16,), "latent_dim": 2}, "denoising": {"dims": (64, 16)}}
    return aezoo.create(arch, input_shape=SHAPE, **sizes.get(arch, {"latent_dim": 2}), **overrides)


# ----------------------------------------------------------------------------- reduce
def test_reduce_equals_encode_for_tensors_and_datasets() -> None:
    model = _tiny("linear")
    model.train()
    x = torch.rand(25, *SHAPE)
    codes = reduce(model, x, batch_size=7)
    assert codes.shape == (25, 2)
    assert torch.allclose(codes, model.encode(x))
    assert model.training  # the flag is restored
    ds = aezoo.DeviceDataset(x, name="random")
    torch.testing.assert_close(reduce(model, ds), codes)  # its own batch size: equal up to float rounding
    features = extract_features(model, ds, as_numpy=True)
    assert isinstance(features, np.ndarray) and features.shape == (25, 2)
    with pytest.raises(InputError, match=r"shape \(N, 1, 8, 8\)"):
        reduce(model, torch.rand(3, 64))
    with pytest.raises(InputError, match="batch_size"):
        reduce(model, x, batch_size=0)


# ----------------------------------------------------------------------------- ROC AUC
def test_roc_auc_by_hand_with_ties() -> None:
    # positives 0.4 and 0.8, negatives 0.1 and 0.4: pairs (0.4>0.1)=1, (0.4=0.4)=1/2, (0.8>0.1)=1, (0.8>0.4)=1
    assert roc_auc(torch.tensor([0.1, 0.4, 0.4, 0.8]), torch.tensor([0, 0, 1, 1])) == pytest.approx(3.5 / 4)
    assert roc_auc(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([True, False, False])) == 0.0
    assert roc_auc(torch.ones(4), torch.tensor([0, 1, 0, 1])) == 0.5
    s, y = torch.tensor([0.3, 0.3, 0.5, 0.1, 0.5, 0.9]), torch.tensor([1, 0, 1, 0, 0, 1])
    pairs = [
        (a > b) + 0.5 * (a == b) for a, la in zip(s, y, strict=True) if la for b, lb in zip(s, y, strict=True) if not lb
    ]
    assert roc_auc(s, y) == pytest.approx(float(sum(pairs)) / len(pairs))
    with pytest.raises(InputError, match="both classes"):
        roc_auc(torch.rand(3), torch.zeros(3))
    with pytest.raises(InputError, match="NaN"):
        roc_auc(torch.tensor([0.1, float("nan")]), torch.tensor([0, 1]))


def _auc_cases() -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    ties = torch.randint(0, 4, (200,), generator=g).double()  # four values: every rank tied
    return [
        (torch.tensor([0.1, 0.4, 0.4, 0.8]), torch.tensor([0, 0, 1, 1])),
        (torch.tensor([0.3, 0.3, 0.5, 0.1, 0.5, 0.9]), torch.tensor([1, 0, 1, 0, 0, 1])),
        (torch.ones(5), torch.tensor([0, 1, 0, 1, 1])),
        (torch.rand(500, generator=g), torch.rand(500, generator=g) < 0.1),
        (ties, ties + torch.rand(200, generator=g) > 2.5),
        (torch.tensor([float("-inf"), 0.2, float("inf"), float("inf")]), torch.tensor([0, 1, 0, 1])),
    ]


def test_roc_auc_is_scikit_learns_and_the_fallback_gives_the_same_numbers(monkeypatch) -> None:
    pytest.importorskip("sklearn")
    from sklearn.metrics import roc_auc_score

    from aezoo.applications import anomaly

    calls: list[int] = []
    monkeypatch.setattr(anomaly, "_rank_auc", lambda s, y: calls.append(1) or _rank_auc(s, y))
    cases = _auc_cases()
    by_sklearn = [roc_auc(s, y) for s, y in cases]
    assert not calls
    for (s, y), value in zip(cases[:-1], by_sklearn, strict=False):  # the last holds infinities, which it refuses
        assert value == roc_auc_score(y.numpy(), s.numpy())
    monkeypatch.setitem(sys.modules, "sklearn.metrics", None)  # as if the extra were not installed
    by_hand = [roc_auc(s, y) for s, y in cases]
    assert len(calls) == len(cases)
    assert by_hand == pytest.approx(by_sklearn, rel=1e-12, abs=0)
    # positives 0.2 and inf against negatives -inf and inf: (1 + 0) + (1 + 1/2) of 4 pairs
    assert by_sklearn[-1] == by_hand[-1] == 2.5 / 4


# ----------------------------------------------------------------------------- anomaly detection
def _subspace_task(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, aezoo.Autoencoder]:
    """Normal data on a 2-D subspace of R^64 (plus a little noise), and a linear AE fitted to it."""
    g = torch.Generator().manual_seed(seed)
    basis = torch.linalg.qr(torch.randn(64, 2, generator=g)).Q.T  # (2, 64), orthonormal rows

    def normal(n: int) -> torch.Tensor:
        z = torch.randn(n, 2, generator=g) * 3
        return (z @ basis + 0.05 * torch.randn(n, 64, generator=g)).view(n, *SHAPE)

    model = _tiny("linear")
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)
    train = normal(512)
    for _ in range(300):
        opt.zero_grad()
        model.loss(train)["loss"].backward()
        opt.step()
    return normal(3000), basis, model


@pytest.mark.slow  # trains a model on 3000 points
def test_detector_flags_off_subspace_points_at_the_calibrated_rate(tmp_path: Path) -> None:
    normal, basis, model = _subspace_task()
    calib, held_out = normal[:1000], normal[1000:]
    detector = AnomalyDetector.fit(model, calib, quantile=0.9)
    assert detector.quantile == 0.9 and detector.n_calibration == 1000
    # off the subspace: the normal points pushed 1.0 along a direction orthogonal to it
    off = torch.randn(500, 64, generator=torch.Generator().manual_seed(1))
    off = off - (off @ basis.T) @ basis
    anomalies = held_out[:500] + (off / off.norm(dim=1, keepdim=True)).view(-1, *SHAPE)
    assert detector.score(anomalies).mean() > 5 * detector.score(held_out).mean()

    fpr = detector.predict(held_out).float().mean().item()
    assert abs(fpr - 0.1) < 0.03  # near 1 - quantile on normal data it never saw
    x = torch.cat([held_out[:500], anomalies])
    labels = torch.cat([torch.zeros(500), torch.ones(500)])
    m = detector.evaluate(x, labels)
    assert m["auc"] > 0.9 and m["recall"] > 0.9 and m["precision"] > 0.8
    assert m["fpr"] == pytest.approx(detector.predict(held_out[:500]).float().mean().item())
    assert m["n"] == 1000 and m["n_anomalous"] == 500 and 0 < m["f1"] <= 1

    path = detector.save(tmp_path / "detector.json")
    saved = json.loads(path.read_text())
    assert saved["threshold"] == detector.threshold and saved["score"] == "mse" and saved["quantile"] == 0.9
    again = AnomalyDetector.load(path, model)
    assert again.threshold == detector.threshold and again.quantile == 0.9
    assert torch.equal(again.predict(x), detector.predict(x))
    with pytest.raises(InputError, match="names no model"):
        AnomalyDetector.load(path)  # fitted without model_ref


def test_detector_load_by_model_reference_and_its_errors(tmp_path: Path) -> None:
    model = _tiny("linear")
    directory = model.save_pretrained(tmp_path / "model")
    data = torch.rand(50, *SHAPE)
    detector = AnomalyDetector.fit(model, data, target_fpr=0.1, score="mae", model_ref=str(directory))
    assert detector.quantile == 0.9
    again = AnomalyDetector.load(detector.save(tmp_path / "d.json"))
    assert again.score_name == "mae" and torch.allclose(again.score(data), detector.score(data))

    with pytest.raises(InputError, match="at least 100 normal samples, got 50"):
        AnomalyDetector.fit(model, data, quantile=0.99)
    with pytest.raises(InputError, match=r"give one of quantile, target_fpr or contamination, not quantile=0\.9 and"):
        AnomalyDetector.fit(model, data, quantile=0.9, target_fpr=0.1)
    with pytest.raises(InputError, match="strictly between 0 and 1"):
        AnomalyDetector.fit(model, data, quantile=1.0)
    with pytest.raises(AezooError, match="unknown anomaly score 'msee'; did you mean 'mse'"):
        AnomalyDetector.fit(model, data, quantile=0.9, score="msee")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(AezooError, match="not an aezoo anomaly detector"):
        AnomalyDetector.load(tmp_path / "bad.json", model)


# ----------------------------------------------------------------------------- denoise, generate
def test_denoise_and_noise() -> None:
    model = _tiny("denoising")
    clean = torch.rand(6, *SHAPE)
    assert denoise(model, model.corrupt(clean)).shape == clean.shape
    assert denoise(_tiny("linear"), clean).shape == clean.shape  # any model reconstructs
    g = torch.Generator().manual_seed(0)
    masked = add_noise(clean, "masking", 0.5, generator=g)
    assert ((masked == 0) | (masked == clean)).all() and 0.3 < (masked == 0).float().mean() < 0.7
    assert torch.equal(add_noise(clean, "gaussian", 0.0), clean)
    with pytest.raises(AezooError, match="unknown noise kind 'salt'"):
        add_noise(clean, "salt", 0.1)
    with pytest.raises(InputError, match="between 0 and 1"):
        add_noise(clean, "masking", 1.5)


def test_generate_samples_and_the_error_for_models_that_cannot() -> None:
    vae = _tiny("vae")
    samples = generate(vae, 5, seed=3)
    assert samples.shape == (5, *SHAPE)
    assert torch.equal(generate(vae, 5, seed=3), samples)
    with pytest.raises(InputError, match=r"cannot generate: it has no sample\(n\).*'vae'") as info:
        generate(_tiny("linear"), 5)
    assert "'aae'" in str(info.value) and "'linear'" not in str(info.value).split("Models that can")[1]


def test_lazy_public_names() -> None:
    for name in ("reduce", "extract_features", "AnomalyDetector", "denoise", "generate"):
        assert getattr(aezoo, name) is getattr(aezoo.applications, name)


# ----------------------------------------------------------------------------- CLI
def run(*args: str | Path):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny models on 8x8 images and a labelled .npz dataset (class 1 is off the normal pattern)."""
    root = tmp_path_factory.mktemp("apps")
    g = torch.Generator().manual_seed(0)
    n = 300
    y = (torch.arange(n) % 5 == 0).long()  # 60 samples of class 1
    x = torch.rand(n, *SHAPE, generator=g) * 0.1
    x[y == 1] += 0.8  # anomalous: bright
    np.savez(root / "data.npz", x=x.numpy(), y=y.numpy())
    np.save(root / "images.npy", x.numpy())
    out = {"data": root / "data.npz", "images": root / "images.npy", "root": root}
    for arch in ("linear", "vae", "denoising"):
        out[arch] = _tiny(arch).save_pretrained(root / arch)
    return out


def test_cli_encode_writes_codes_and_labels(files: dict[str, Path], tmp_path: Path) -> None:
    for name in ("codes.npy", "codes.npz", "codes.pt", "codes.safetensors"):
        result = run("encode", files["linear"], "--dataset", files["data"], "--limit", 40, "--out", tmp_path / name)
        assert result.exit_code == 0, result.output
        assert "40 codes of size 2, with labels" in result.output
    codes = np.load(tmp_path / "codes.npy", allow_pickle=False)
    labels = np.load(tmp_path / "codes.labels.npy", allow_pickle=False)
    assert codes.shape == (40, 2) and labels.shape == (40,)
    ds = aezoo.load_user_data(tmp_path / "codes.npz")  # the codes are a dataset again
    assert ds.x.shape == (40, 2) and ds.y is not None and ds.y.tolist() == labels.tolist()
    pt = torch.load(tmp_path / "codes.pt", weights_only=True)
    assert torch.allclose(pt["features"], torch.from_numpy(codes))
    from safetensors.torch import load_file

    assert torch.equal(load_file(tmp_path / "codes.safetensors")["labels"], torch.from_numpy(labels))
    no_labels = run("encode", files["linear"], "--dataset", files["images"], "--out", tmp_path / "c.npy")
    assert no_labels.exit_code == 0 and not (tmp_path / "c.labels.npy").exists()


def test_cli_detect_reports_and_saves(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "detector.json"
    result = run(
        "detect",
        files["linear"],
        "--dataset",
        files["data"],
        "--anomalous-class",
        1,
        "--quantile",
        0.95,
        "--out",
        out,
        "--json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["auc"] > 0.9 and report["recall"] > 0.9 and report["n_anomalous"] == 60
    assert report["calibration"].endswith("(240 normal samples)")
    detector = AnomalyDetector.load(out)  # finds the model through its absolute directory
    assert detector.threshold == report["threshold"] and Path(detector.model_ref).is_absolute()

    plain = run("detect", files["linear"], "--dataset", files["images"], "--quantile", 0.9)
    assert plain.exit_code == 0 and "flagged_fraction" in plain.output


def test_cli_denoise_and_generate_write_pictures(files: dict[str, Path], tmp_path: Path) -> None:
    for model, noise in ((files["denoising"], "auto"), (files["linear"], "gaussian")):
        png = tmp_path / f"{noise}.png"
        result = run("denoise", model, "--dataset", files["images"], "--noise", noise, "--level", 0.2, "--out", png)
        assert result.exit_code == 0, result.output
        assert png.stat().st_size > 0 and "psnr_noisy" in result.output and "psnr_denoised" in result.output
    result = run("generate", files["vae"], "--n", 16, "--seed", 0, "--out", tmp_path / "samples.png")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "samples.png").stat().st_size > 0


@pytest.mark.parametrize(
    "args, message",
    [
        (("generate", "{linear}", "--out", "{tmp}/s.png"), "cannot generate: it has no sample(n) method"),
        (("encode", "{linear}", "--dataset", "{images}", "--out", "{tmp}/c.csv"), "unknown file type '.csv'"),
        (("detect", "{linear}", "--dataset", "{images}", "--anomalous-class", "1"), "needs labels"),
        (("detect", "{linear}", "--dataset", "{data}", "--calibrate-limit", "10"), "at least 100 normal samples"),
        (
            (
                "denoise",
                "{linear}",
                "--dataset",
                "{images}",
                "--noise",
                "masking",
                "--level",
                "2",
                "--out",
                "{tmp}/d.png",
            ),
            "between 0 and 1",
        ),
    ],
)
def test_cli_mistakes_are_one_line(files: dict[str, Path], tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    names = {k: str(v) for k, v in files.items()} | {"tmp": str(tmp_path)}
    result = CliRunner().invoke(cli, [a.format(**names) for a in args])
    assert result.exit_code == 1, result.output
    assert result.output.count("\n") == 1 and message in result.output and "Traceback" not in result.output
