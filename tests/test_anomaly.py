"""Anomaly detection a user can act on: threshold rules, normalised scores and p-values, error maps
and heat-maps, a detector stored with its model (bundle, publish, load), and a CSV end to end."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import aezoo
from aezoo.applications.anomaly import AnomalyDetector, error_maps, reconstruction_errors, roc_auc
from aezoo.cli.main import cli
from aezoo.core.errors import ConfigError, InputError, UnknownNameError
from aezoo.io.detector import DETECTOR_FORMAT, DETECTOR_NAME, read_detector

SHAPE = (1, 8, 8)


def _fitted_linear(seed: int = 0) -> tuple[aezoo.Autoencoder, torch.Tensor, torch.Tensor]:
    """A linear AE fitted to normal data on a 2-D subspace of R^64; (model, normal, anomalies)."""
    g = torch.Generator().manual_seed(seed)
    basis = torch.linalg.qr(torch.randn(64, 2, generator=g)).Q.T

    def normal(n: int) -> torch.Tensor:
        return (torch.randn(n, 2, generator=g) * 3 @ basis + 0.05 * torch.randn(n, 64, generator=g)).view(n, *SHAPE)

    torch.manual_seed(seed)
    model = aezoo.create("linear", input_shape=SHAPE, latent_dim=2)
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)
    train = normal(512)
    for _ in range(300):
        opt.zero_grad()
        model.loss(train)["loss"].backward()
        opt.step()
    off = torch.randn(300, 64, generator=g)
    off = off - (off @ basis.T) @ basis
    anomalies = normal(300) + (off / off.norm(dim=1, keepdim=True)).view(-1, *SHAPE)
    return model.eval(), normal(2000), anomalies


@pytest.fixture(scope="module")
def task() -> tuple[aezoo.Autoencoder, torch.Tensor, torch.Tensor]:
    return _fitted_linear()


# ----------------------------------------------------------------------------- thresholds
def test_three_threshold_rules_and_moving_the_threshold_without_the_data(task) -> None:
    model, normal, _ = task
    calib, held_out = normal[:1000], normal[1000:]
    by_quantile = AnomalyDetector.fit(model, calib, quantile=0.95)
    by_fpr = AnomalyDetector.fit(model, calib, target_fpr=0.05)
    by_contamination = AnomalyDetector.fit(model, calib, contamination=0.05)
    assert by_quantile.threshold == by_fpr.threshold == by_contamination.threshold
    assert by_contamination.rule == ("contamination", 0.05) and by_contamination.quantile == 0.95
    scores = by_quantile.score(calib).double().sort().values
    assert by_quantile.threshold == pytest.approx(float(scores[949]))  # the ceil(0.95 * 1000)-th smallest
    assert int((by_quantile.score(calib) > by_quantile.threshold).sum()) == 50

    # the kept calibration scores move the threshold; no data needed, same answer as refitting
    moved = by_quantile.set_threshold(quantile=0.99)
    assert moved is by_quantile and moved.threshold == AnomalyDetector.fit(model, calib, quantile=0.99).threshold
    fpr = AnomalyDetector.fit(model, calib, target_fpr=0.1).predict(held_out).float().mean().item()
    assert abs(fpr - 0.1) < 0.03  # the false-positive rate holds on normal data it never saw


def test_normalized_scores_and_p_values_match_their_definitions(task) -> None:
    model, normal, anomalies = task
    detector = AnomalyDetector.fit(model, normal[:500], quantile=0.9)
    x = torch.cat([normal[500:700], anomalies[:50]])
    s = detector.score(x).double().cpu()
    calib = detector.score(normal[:500]).double().cpu()
    below = (calib[None, :] < s[:, None]).double().sum(1)
    ties = (calib[None, :] == s[:, None]).double().sum(1)
    assert torch.allclose(detector.normalized_score(x), (below + ties / 2) / 500)
    at_least = (calib[None, :] >= s[:, None]).double().sum(1)
    assert torch.allclose(detector.p_value(x), (1 + at_least) / 501)

    ns, p = detector.normalized_score(x), detector.p_value(x)
    assert ((ns >= 0) & (ns <= 1)).all() and ((p > 0) & (p <= 1)).all()
    assert (ns[200:] == 1.0).all() and (p[200:] == 1 / 501).all()  # every anomaly beyond every normal score
    # the threshold sits at the calibrated quantile of the normalised scale; p <= 0.1 flags ~10 % of normals
    assert detector.normalized_score(normal[:500])[detector.score(normal[:500]) > detector.threshold].min() > 0.9
    assert abs((detector.p_value(normal[700:]) <= 0.1).double().mean().item() - 0.1) < 0.03


# ----------------------------------------------------------------------------- error maps
@pytest.mark.parametrize("score", ["mse", "mae", "sse"])
def test_error_maps_are_what_the_scores_add_up(task, score: str) -> None:
    model, normal, anomalies = task
    x = torch.cat([normal[:20], anomalies[:20]])
    maps = error_maps(model, x, score=score, batch_size=7)
    assert maps.shape == x.shape and (maps >= 0).all()
    per_sample = maps.flatten(1).sum(1) if score == "sse" else maps.flatten(1).mean(1)
    assert torch.allclose(per_sample, reconstruction_errors(model, x, score=score), rtol=1e-5)
    detector = AnomalyDetector.fit(model, normal[:200], quantile=0.9, score=score)
    torch.testing.assert_close(detector.error_map(x), maps, rtol=1e-5, atol=1e-6)  # other batches, same maps


def test_error_heatmap_pictures_for_images_and_tables(task, tmp_path: Path) -> None:
    from aezoo.evaluation import plots

    model, normal, anomalies = task
    detector = AnomalyDetector.fit(model, normal[:200], quantile=0.9)
    x = anomalies[:6]
    path = plots.error_heatmap(
        model, x, detector.error_map(x), tmp_path / "img.png", scores=detector.score(x), flagged=detector.predict(x)
    )
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = aezoo.create("linear", input_shape=(5,), latent_dim=2)
    rows = torch.randn(4, 5)
    assert plots.error_heatmap(table, rows, error_maps(table, rows), tmp_path / "tab.png").stat().st_size > 0
    with pytest.raises(InputError, match=r"errors must have the inputs' shape \(4, 5\)"):
        plots.error_heatmap(table, rows, torch.zeros(4, 6), tmp_path / "bad.png")


# ----------------------------------------------------------------------------- bad input
def test_bad_input_is_one_clear_error(task) -> None:
    model, normal, _ = task
    blank = AnomalyDetector(model)
    assert not blank.is_calibrated and "uncalibrated" in repr(blank)
    for call in (
        lambda: blank.predict(normal[:5]),
        lambda: blank.evaluate(normal[:5], torch.zeros(5)),
        lambda: blank.normalized_score(normal[:5]),
        lambda: blank.p_value(normal[:5]),
        lambda: blank.set_threshold(quantile=0.9),
        lambda: blank.save("never.json"),
    ):
        with pytest.raises(InputError, match=r"not calibrated|holds no calibration scores"):
            call()
    assert blank.score(normal[:5]).shape == (5,)  # scores need no calibration

    for bad in (0.0, 0.7, float("nan"), True, "0.1"):
        with pytest.raises(InputError, match="contamination"):
            AnomalyDetector.fit(model, normal[:200], contamination=bad)
    with pytest.raises(InputError, match="give one of quantile, target_fpr or contamination"):
        AnomalyDetector.fit(model, normal[:200], quantile=0.9, contamination=0.1)
    with pytest.raises(InputError, match="calibration data are empty"):
        AnomalyDetector.fit(model, normal[:0], quantile=0.9)
    with pytest.raises(InputError, match=r"at least 100 normal samples, got 50"):
        AnomalyDetector.fit(model, normal[:50], quantile=0.99)
    detector = AnomalyDetector.fit(model, normal[:200], quantile=0.9)
    with pytest.raises(InputError, match=r"shape \(N, 1, 8, 8\)"):
        detector.predict(torch.rand(3, 64))
    with pytest.raises(InputError, match=r"shape \(N, 1, 8, 8\)"):
        detector.error_map(torch.rand(3, 1, 7, 7))
    with pytest.raises(InputError, match="one label per sample"):
        detector.evaluate(normal[:10], torch.zeros(9))


# ----------------------------------------------------------------------------- stored with the model
def test_a_detector_saved_into_the_model_directory_travels_with_it(task, tmp_path: Path) -> None:
    model, normal, anomalies = task
    folder = model.save_pretrained(tmp_path / "model")
    detector = AnomalyDetector.fit(model, normal[:500], contamination=0.02, model_ref=str(folder))
    path = detector.save(folder)
    assert path == folder / "detector.json"
    saved = json.loads(path.read_text())
    assert (
        saved["model"] == "." and saved["rule"] == {"contamination": 0.02} and len(saved["calibration_scores"]) == 500
    )

    moved = Path(shutil.move(str(folder), tmp_path / "elsewhere"))  # the folder is self-contained
    again = AnomalyDetector.load(moved)
    x = torch.cat([normal[500:600], anomalies[:20]])
    assert again.threshold == detector.threshold and again.rule == ("contamination", 0.02)
    assert torch.equal(again.predict(x), detector.predict(x))
    assert torch.allclose(again.p_value(x), detector.p_value(x))
    assert AnomalyDetector.load(moved / "detector.json").threshold == detector.threshold

    other = _fitted_linear(seed=1)[0]
    with pytest.raises(InputError, match="not the one saved in"):
        AnomalyDetector.fit(other, normal[:200], quantile=0.9).save(moved)
    other.save_pretrained(moved)  # retrained: the stored detector no longer fits these weights
    with pytest.raises(InputError, match="calibrated on other weights"):
        AnomalyDetector.load(moved)
    with pytest.raises(InputError, match=r"holds no detector\.json"):
        AnomalyDetector.load(model.save_pretrained(tmp_path / "plain"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="not a model directory"):
        detector.save(tmp_path / "empty")


def test_a_format_1_detector_still_loads_and_says_what_it_lacks(task, tmp_path: Path) -> None:
    model, normal, _ = task
    old = {"format": 1, "kind": "aezoo.AnomalyDetector", "model": None, "architecture": "linear"}
    old |= {"n_calibration": 100, "quantile": 0.9, "score": "mse", "threshold": 0.5}
    (tmp_path / "old.json").write_text(json.dumps(old))
    with pytest.warns(UserWarning, match="does not record which weights it was calibrated on"):
        detector = AnomalyDetector.load(tmp_path / "old.json", model)
    assert detector.threshold == 0.5 and detector.predict(normal[:3]).shape == (3,)
    with pytest.raises(InputError, match="calibrate them again"):
        detector.p_value(normal[:3])


def test_a_detector_is_paired_only_with_the_weights_it_was_calibrated_on(task, tmp_path: Path) -> None:
    model, normal, _ = task
    other = _fitted_linear(seed=1)[0]
    folder = model.save_pretrained(tmp_path / "model")
    AnomalyDetector.fit(model, normal[:200], quantile=0.9).save(folder)
    beside = AnomalyDetector.fit(model, normal[:200], quantile=0.9, model_ref=str(folder)).save(tmp_path / "d.json")
    for path in (folder, beside):
        with pytest.raises(ConfigError, match=r"calibrated on other weights.*allow_other_model=True"):
            AnomalyDetector.load(path, other)
        assert AnomalyDetector.load(path, other, allow_other_model=True).model is other
        assert AnomalyDetector.load(path, model).threshold == AnomalyDetector.load(path).threshold
    # written before weights_sha256 was: the model_sha256 of the file beside it still pins the weights
    saved = json.loads((folder / DETECTOR_NAME).read_text())
    del saved["weights_sha256"]
    (folder / DETECTOR_NAME).write_text(json.dumps(saved))
    with pytest.raises(ConfigError, match="calibrated on other weights"):
        AnomalyDetector.load(folder, other)
    assert AnomalyDetector.load(folder, model).model is model
    other.save_pretrained(folder)  # the model its reference names was retrained since
    with pytest.raises(ConfigError, match="calibrated on other weights"):
        AnomalyDetector.load(beside)
    with pytest.raises(InputError, match="calibrated on other weights"):  # beside the new weights: as before
        AnomalyDetector.load(folder)
    assert AnomalyDetector.load(folder, allow_other_model=True).threshold == saved["threshold"]


def test_the_file_is_the_io_layers_and_reads_back_what_the_detector_wrote(task, tmp_path: Path) -> None:
    model, normal, _ = task
    detector = AnomalyDetector.fit(model, normal[:200], target_fpr=0.05, model_ref="somewhere")
    path = detector.save(tmp_path / DETECTOR_NAME)
    assert read_detector(path, scores=("mse",)) == detector.to_dict()
    assert detector.to_dict()["format"] == DETECTOR_FORMAT == 2
    assert path.read_text() == json.dumps(detector.to_dict(), indent=2, sort_keys=True) + "\n"
    assert path.stat().st_mode & 0o777 == 0o644
    with pytest.raises(UnknownNameError, match="unknown anomaly score 'mse'"):
        read_detector(path, scores=("mae", "sse"))


@pytest.mark.parametrize(
    ("key", "value", "message"),  # value: the JSON text written in the file
    [
        ("rule", "[0.9]", '"rule" is'),
        ("rule", '{"quantile": "x"}', '"rule" is'),
        ("rule", '{"quantile": 0.9, "contamination": 0.1}', '"rule" is'),
        ("rule", '{"median": 0.5}', '"rule" is'),
        ("calibration_scores", '"abc"', '"calibration_scores" must be'),
        ("calibration_scores", "[0.1, null]", '"calibration_scores" must be'),
        ("n_calibration", "1e400", '"n_calibration" is inf'),  # a JSON number that Python reads as infinity
        ("score", "5", '"score" must be one of mse, mae, sse'),
        ("weights_sha256", "5", '"weights_sha256" must be null or a hex sha256'),
        ("calibration_scores", "[0.1, -0.2]", '"calibration_scores" must be'),
        ("threshold", "-0.5", '"threshold" is -0.5, it must be a finite number >= 0'),
    ],
)
def test_a_damaged_rule_or_calibration_is_one_error(task, tmp_path: Path, key: str, value: str, message: str) -> None:
    model, normal, _ = task
    path = AnomalyDetector.fit(model, normal[:100], quantile=0.9).save(tmp_path / "d.json")
    path.write_text(json.dumps({**json.loads(path.read_text()), key: "EDIT"}).replace('"EDIT"', value))
    with pytest.raises(ConfigError, match=message):
        AnomalyDetector.load(path, model)


@pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")
def test_the_detector_travels_through_publish_and_the_hub(task, local_hub, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AEZOO_DISABLE_PLUGIN_AUTOLOAD", "1")
    model, normal, anomalies = task
    folder = model.save_pretrained(tmp_path / "model")
    detector = AnomalyDetector.fit(model, normal[:500], quantile=0.95)
    detector.save(folder)
    commit = aezoo.publish(folder, "org/lin-detector")
    again = AnomalyDetector.load(f"hf-hub:org/lin-detector@{commit}")
    assert again.model_ref == f"hf-hub:org/lin-detector@{commit}"
    x = torch.cat([normal[500:600], anomalies[:20]])
    assert again.threshold == detector.threshold and torch.equal(again.predict(x), detector.predict(x))
    bare = aezoo.publish(model.save_pretrained(tmp_path / "bare"), "org/lin-bare")
    with pytest.raises(InputError, match=r"holds no detector\.json"):
        AnomalyDetector.load(f"hf-hub:org/lin-bare@{bare}")


def test_bundle_keeps_the_detector_and_lists_it_in_the_card(shared_data_copy: Path, tmp_path: Path) -> None:
    from aezoo.training.bundle import bundle

    torch.manual_seed(0)
    model = aezoo.create("linear")
    folder = model.save_pretrained(tmp_path / "linear", training={"dataset": "mnist"})
    AnomalyDetector.fit(model, torch.rand(200, 1, 28, 28), quantile=0.9).save(folder)
    bundle(folder, name="linear-test", data_dir=shared_data_copy, check_n=100)
    assert "detector.json" in (folder / "README.md").read_text()
    assert AnomalyDetector.load(folder).n_calibration == 200


# ----------------------------------------------------------------------------- a table, end to end
def _sensor_tables(root: Path) -> dict[str, Path]:
    """CSV tables of 8 correlated sensors; in new.csv, 20 of 400 rows have sensor_5 drifting."""
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(3, 8))

    def rows(n: int) -> np.ndarray:
        return rng.normal(size=(n, 3)) @ mixing + 0.1 * rng.normal(size=(n, 8))

    header = ",".join(f"sensor_{i}" for i in range(8))
    new, labels = rows(400), np.zeros(400, dtype=int)
    drift = rng.choice(400, 20, replace=False)
    new[drift, 5] += rng.choice([-1.0, 1.0], 20) * rng.uniform(2, 4, 20)
    labels[drift] = 1
    files = {"normal": root / "normal.csv", "calib": root / "calib.csv", "new": root / "new.csv"}
    for name, table in (("normal", rows(1000)), ("calib", rows(500)), ("new", new)):
        np.savetxt(files[name], table, delimiter=",", header=header, comments="", fmt="%.5f")
    np.save(root / "labels.npy", labels)
    return files


def test_a_csv_table_end_to_end_on_the_command_line(tmp_path: Path) -> None:
    files = _sensor_tables(tmp_path)
    torch.manual_seed(0)
    model = aezoo.create("mlp", input_shape=(8,), dims=(8, 3), output_activation="linear")
    aezoo.train(
        model,
        aezoo.load_dataset(files["normal"]),
        epochs=40,
        lr=1e-2,
        schedule="constant",
        val_fraction=0,
        progress=False,
    )
    folder = model.save_pretrained(tmp_path / "sensors")

    def run(*args: object) -> str:
        result = CliRunner().invoke(cli, ["detect", str(folder), *map(str, args)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    args = ("--calibrate-dataset", files["calib"], "--dataset", files["new"], "--contamination", 0.01)
    paths = {"heatmap": tmp_path / "errors.png", "scores": tmp_path / "scores.csv"}
    report = json.loads(
        run(*args, "--save-to-model", "--heatmap", paths["heatmap"], "--scores-out", paths["scores"], "--json")
    )
    assert report["rule"] == "contamination=0.01" and report["n"] == 400
    assert report["saved_with_model"] == str(folder / "detector.json")
    assert paths["heatmap"].read_bytes()[:4] == b"\x89PNG"

    with open(paths["scores"], newline="") as f:
        table = list(csv.DictReader(f))
    labels = torch.from_numpy(np.load(tmp_path / "labels.npy"))
    scores = torch.tensor([float(r["score"]) for r in table])
    assert roc_auc(scores, labels) > 0.95
    flagged = torch.tensor([r["flagged"] == "1" for r in table])
    assert int(flagged.sum()) == report["flagged"] and int((flagged & labels.bool()).sum()) >= 15
    assert all(0 <= float(r["normalized_score"]) <= 1 and 0 < float(r["p_value"]) <= 1 for r in table)

    # the error map names the drifting sensor
    detector = AnomalyDetector.load(folder)
    new = aezoo.load_dataset(files["new"])
    maps = detector.error_map(new)[labels.bool()]
    assert int(maps.mean(0).argmax()) == 5

    # later: the saved detector, with its threshold moved, without the calibration data
    moved = json.loads(run("--use-saved", "--dataset", files["new"], "--target-fpr", 0.1, "--json"))
    assert moved["rule"] == "target_fpr=0.1" and moved["threshold"] < report["threshold"]
    assert moved["flagged"] > report["flagged"]


@pytest.mark.parametrize(
    "args, message",
    [
        (("--dataset", "{new}", "--contamination", "0.7"), "contamination=0.7 must lie in (0, 0.5]"),
        (("--dataset", "{new}", "--quantile", "0.9", "--target-fpr", "0.1"), "give one of quantile"),
        (("--dataset", "{new}", "--use-saved"), "holds no detector.json"),
        (("--dataset", "{empty}"), "is empty"),
        (("--dataset", "{wide}"), "shape"),
    ],
)
def test_cli_detect_mistakes_are_one_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    files = _sensor_tables(tmp_path)
    (tmp_path / "empty.csv").write_text("")
    np.savetxt(tmp_path / "wide.csv", np.zeros((5, 9)), delimiter=",")
    folder = aezoo.create("mlp", input_shape=(8,), dims=(8, 3)).save_pretrained(tmp_path / "m")
    names = {"new": files["new"], "empty": tmp_path / "empty.csv", "wide": tmp_path / "wide.csv"}
    result = CliRunner().invoke(cli, ["detect", str(folder), *(a.format(**names) for a in args)])
    assert result.exit_code == 1, result.output
    assert result.output.count("\n") == 1 and message in result.output and "Traceback" not in result.output


def test_calibration_on_non_finite_errors_is_refused_before_anything_is_saved(tmp_path: Path) -> None:
    """One infinite reconstruction error among finite ones used to give a finite threshold and a file
    holding ``Infinity`` that no aezoo could read back; it is an InputError at calibration now."""
    model = aezoo.create("linear", input_shape=SHAPE, latent_dim=2).eval()
    with torch.no_grad():  # finite weights whose output overflows float32 on one input only
        for name, p in model.named_parameters():
            p.fill_(0.0 if name.endswith("bias") else 1e20)
    normal = torch.zeros(200, *SHAPE)
    normal[3] = 1.0
    with pytest.raises(InputError, match=r"1 of the 200 reconstruction errors .* NaN or infinite"):
        AnomalyDetector.fit(model, normal, quantile=0.9)
    assert not list(tmp_path.iterdir())
