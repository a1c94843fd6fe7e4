"""`aezoo export ... --part detector`: one file, inputs to decisions, that answers as the PyTorch detector does.

Parity is measured against :class:`AnomalyDetector` itself (not the traced module): scores and
error maps to float tolerance, normalized scores and p-values equal, decisions equal except for a
score exactly at the threshold; in onnxruntime, TorchScript, torch.export and (where the package
installs) OpenVINO.
"""

from __future__ import annotations

import importlib.util
import json
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import aezoo
from aezoo.applications.anomaly import AnomalyDetector
from aezoo.applications.detector_export import INPUTS, OUTPUTS, export_detector, run_exported_detector
from aezoo.applications.export import DETECTOR_PART, METADATA_NAME, export, load_exported, run_exported
from aezoo.cli.main import cli
from aezoo.core.errors import ExportError, InputError
from aezoo.io.detector import weights_sha256

SHAPE = (1, 8, 8)
SCORE_ATOL = 1e-6  # float32 scores and error maps: the runtimes sum in another order than PyTorch
needs_onnx = pytest.mark.skipif(
    any(importlib.util.find_spec(name) is None for name in ("onnx", "onnxscript", "onnxruntime")),
    reason='the ONNX checks need pip install "aezoo[export]"',
)


def _detector(score: str = "mse", **rule: float) -> AnomalyDetector:
    torch.manual_seed(0)
    model = aezoo.create("linear", input_shape=SHAPE, latent_dim=2)
    normal = torch.rand(400, *SHAPE, generator=torch.Generator().manual_seed(1))
    return AnomalyDetector.fit(model, normal, score=score, **(rule or {"quantile": 0.9}))


def _batch(n: int = 64) -> torch.Tensor:
    """Half normal, half anomalous (brighter and noisier): both decisions occur."""
    g = torch.Generator().manual_seed(2)
    return torch.cat([torch.rand(n // 2, *SHAPE, generator=g), 2 * torch.rand(n - n // 2, *SHAPE, generator=g)])


def _assert_parity(detector: AnomalyDetector, out: dict[str, torch.Tensor], x: torch.Tensor, threshold: float) -> None:
    """``out`` (a file's outputs on ``x``) against the detector's own methods."""
    assert list(out) == list(OUTPUTS)
    scores = detector.score(x)
    torch.testing.assert_close(out["score"], scores, atol=SCORE_ATOL, rtol=1e-5)
    torch.testing.assert_close(out["error_map"], detector.error_map(x), atol=SCORE_ATOL, rtol=1e-5)
    # counts of calibration scores: equal unless a score lies within rounding of a calibration score
    calib = detector.calibration_scores
    assert calib is not None
    clear = ((out["score"].double()[:, None] - calib[None, :]).abs() > 1e-6).all(1)
    assert clear.float().mean() > 0.9
    assert torch.equal(out["p_value"][clear], detector.p_value(x)[clear])
    assert torch.equal(out["normalized_score"][clear], detector.normalized_score(x)[clear])
    at_threshold = (scores - threshold).abs() <= 1e-6
    want = scores > torch.tensor(threshold, dtype=torch.float32)
    assert torch.equal(out["is_anomaly"][~at_threshold], want[~at_threshold])
    assert out["is_anomaly"].dtype == torch.bool and out["p_value"].dtype == torch.float64


# ----------------------------------------------------------------------------- ONNX
@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[AnomalyDetector, Path]:
    detector = _detector(target_fpr=0.1)
    path = tmp_path_factory.mktemp("onnx") / "detector.onnx"
    result = export_detector(detector, path)
    assert result.part == DETECTOR_PART and result.max_abs_diff is not None and result.max_abs_diff < SCORE_ATOL
    assert result.outputs == {name: () for name in OUTPUTS[:4]} | {"error_map": SHAPE}
    return detector, path


@needs_onnx
def test_onnx_detector_matches_the_pytorch_detector_with_its_threshold_or_another(onnx_file) -> None:
    detector, path = onnx_file
    x = _batch()
    assert detector.threshold is not None
    out = run_exported_detector(path, x)  # no threshold given: the calibrated default
    _assert_parity(detector, out, x, detector.threshold)
    assert torch.equal(out["is_anomaly"], detector.predict(x))  # no score of this batch sits at the threshold
    assert 0 < int(out["is_anomaly"].sum()) < len(x)
    moved = float(detector.score(x).median())
    out = run_exported_detector(path, x, threshold=moved)
    _assert_parity(detector, out, x, moved)
    assert int(out["is_anomaly"].sum()) == len(x) // 2  # torch's median of 64 scores is the 32nd: 32 lie above
    assert bool(run_exported_detector(path, x, threshold=0.0)["is_anomaly"].all())


@needs_onnx
def test_the_threshold_is_an_optional_onnx_input_and_the_calibration_is_in_the_file(onnx_file) -> None:
    import onnx
    import onnxruntime
    from onnx import numpy_helper

    detector, path = onnx_file
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert [i.name for i in proto.graph.input] == list(INPUTS) and [o.name for o in proto.graph.output] == list(OUTPUTS)
    initializers = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    assert initializers["threshold"] == np.float32(detector.threshold)  # the input's default
    assert detector.calibration_scores is not None
    np.testing.assert_array_equal(initializers["calibration_scores"], detector.calibration_scores.numpy())
    # a plain onnxruntime session: the threshold may be fed or left out
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    assert [i.name for i in session.get_overridable_initializers()] == ["threshold"]
    x = _batch(8).numpy()
    default = session.run(["is_anomaly"], {"input": x})[0]
    fed = session.run(["is_anomaly"], {"input": x, "threshold": np.array(np.inf, dtype=np.float32)})[0]
    assert default.any() and not fed.any()


@needs_onnx
def test_onnx_metadata_names_score_rule_threshold_and_weights(onnx_file) -> None:
    import onnx

    detector, path = onnx_file
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    meta = json.loads(props[METADATA_NAME])
    assert meta == load_exported(path)[1]
    d = meta["detector"]
    assert d["score"] == "mse" and d["threshold"] == detector.threshold
    assert d["threshold_rule"] == {"target_fpr": 0.1} and d["quantile"] == 0.9 and d["target_fpr"] == 0.1
    assert d["n_calibration"] == d["n_calibration_scores"] == 400
    assert d["weights_sha256"] == weights_sha256(detector.model.state_dict())
    assert meta["part"] == "detector" and meta["architecture"] == "linear" and meta["export_format"] == 1
    assert meta["input_shape"] == ["batch", *SHAPE] and "preprocessing" in meta
    assert meta["inputs"]["threshold"] == {"shape": [], "dtype": "float32", "optional": True, "default": d["threshold"]}
    assert meta["outputs"]["error_map"] == {"shape": ["batch", *SHAPE], "dtype": "float32"}
    assert list(meta["outputs"]) == sorted(OUTPUTS)  # aezoo.json is written with sorted keys
    # the same as flat keys, for tools that do not parse JSON
    assert props["aezoo.score"] == "mse" and props["aezoo.threshold_rule"] == "target_fpr=0.1"
    assert float(props["aezoo.threshold"]) == detector.threshold and props["aezoo.target_fpr"] == "0.1"
    assert props["aezoo.weights_sha256"] == d["weights_sha256"] and props["aezoo.part"] == "detector"
    assert "aezoo.model" not in props  # fitted without model_ref: null values are left out


# ----------------------------------------------------------------------------- TorchScript, torch.export
@pytest.mark.parametrize(
    ("fmt", "score", "rule"),
    [("torchscript", "mae", {"contamination": 0.05}), ("exported-program", "sse", {"quantile": 0.95})],
)
def test_torch_formats_take_the_threshold_as_a_required_input(fmt: str, score: str, rule, tmp_path: Path) -> None:
    detector = _detector(score, **rule)
    path = tmp_path / f"detector{'.pt' if fmt == 'torchscript' else '.pt2'}"
    assert export_detector(detector, path, format=fmt).max_abs_diff == 0.0
    x = _batch()
    assert detector.threshold is not None
    _assert_parity(detector, run_exported_detector(path, x), x, detector.threshold)
    _assert_parity(detector, run_exported_detector(path, x, threshold=0.5), x, 0.5)
    meta = load_exported(path)[1]
    assert meta["inputs"]["threshold"]["optional"] is False and meta["detector"]["score"] == score
    assert meta["detector"]["threshold_rule"] == rule
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notice
        call = torch.jit.load(str(path)) if fmt == "torchscript" else torch.export.load(str(path)).module()
    flagged = call(x, torch.tensor(float(detector.threshold)))[OUTPUTS.index("is_anomaly")]
    assert torch.equal(flagged, detector.predict(x))  # the file alone, threshold from the caller


def test_the_module_is_the_detector(tmp_path: Path) -> None:
    detector = _detector()
    model = detector.model.eval()
    x = _batch()
    graph = detector.as_module()
    outs = dict(zip(OUTPUTS, graph(x), strict=True))
    assert torch.equal(outs["score"], detector.score(x)) and torch.equal(outs["p_value"], detector.p_value(x))
    assert torch.equal(outs["normalized_score"], detector.normalized_score(x))
    assert torch.equal(outs["is_anomaly"], detector.predict(x))
    assert torch.equal(outs["error_map"], detector.error_map(x))
    export_detector(detector, tmp_path / "d.pt2", format="exported-program")
    assert not model.training  # the model's eval flag survives the export (the new module's is training)


# ----------------------------------------------------------------------------- CLI
@needs_onnx
def test_cli_exports_the_detector_saved_with_a_model(tmp_path: Path) -> None:
    detector = _detector()
    folder = tmp_path / "model"
    detector.model.save_pretrained(folder)
    detector.save(folder)
    out = tmp_path / "detector.onnx"
    result = CliRunner().invoke(cli, ["export", str(folder), "--part", "detector", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "detector of 'linear': mse score" in result.output and "at quantile 0.9" in result.output
    assert "threshold () optional" in result.output and "error_map (batch, 1, 8, 8)" in result.output
    assert "max |difference|" in result.output
    x = _batch()
    assert detector.threshold is not None
    _assert_parity(detector, run_exported_detector(out, x), x, detector.threshold)
    assert load_exported(out)[1]["detector"]["model"] == str(folder.resolve())


def test_cli_exports_a_detector_file_and_refuses_what_is_none(tmp_path: Path) -> None:
    detector = _detector()
    folder = tmp_path / "model"
    detector.model.save_pretrained(folder)
    detector.model_ref = str(folder)
    detector.save(tmp_path / "detector.json")
    runner = CliRunner()
    out = tmp_path / "d.pt"
    result = runner.invoke(
        cli,
        ["export", str(tmp_path / "detector.json"), "--part", "detector", "--format", "torchscript", "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "threshold () required" in result.output
    assert torch.equal(run_exported_detector(out, _batch())["is_anomaly"], detector.predict(_batch()))
    for args, message in [
        ([str(folder), "--part", "detector"], "holds no detector.json; fit one with `aezoo detect"),
        (
            ["linear-mnist", "--part", "detector"],
            "'linear-mnist' is no detector file or model directory; fit one first",
        ),
        (
            [str(tmp_path / "detector.json")],
            "is not a model; if it is an anomaly detector, export it with --part detector",
        ),
    ]:
        result = runner.invoke(cli, ["export", *args, "--format", "torchscript", "--out", str(tmp_path / "x.pt")])
        assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
        assert message in result.output
    assert not (tmp_path / "x.pt").exists()


# ----------------------------------------------------------------------------- errors
def test_wrong_objects_and_files_are_one_clear_error(tmp_path: Path) -> None:
    detector = _detector()
    with pytest.raises(ExportError, match="export_detector takes an aezoo AnomalyDetector, got Linear"):
        export_detector(detector.model, tmp_path / "d.pt", format="torchscript")  # type: ignore[arg-type]  # the wrong type is the test
    with pytest.raises(InputError, match="not fitted"):
        export_detector(AnomalyDetector(detector.model), tmp_path / "d.pt", format="torchscript")
    with pytest.raises(ExportError, match=r"torchscript files end in '\.pt'"):
        export_detector(detector, tmp_path / "d.onnx", format="torchscript")
    assert not list(tmp_path.iterdir())
    path = export_detector(detector, tmp_path / "d.pt", format="torchscript").path
    with pytest.raises(ExportError, match=r"whole anomaly detector with outputs error_map, .*run_exported_detector"):
        run_exported(path, _batch())
    with pytest.raises(InputError, match="threshold must be a finite number"):
        run_exported_detector(path, _batch(), threshold=float("nan"))
    with pytest.raises(InputError, match=r"takes batches of shape \(N, 1, 8, 8\)"):
        run_exported_detector(path, torch.rand(2, 64))
    model_file = export(detector.model, tmp_path / "m.pt", format="torchscript").path
    with pytest.raises(ExportError, match="holds the full of a model, not an anomaly detector"):
        run_exported_detector(model_file, _batch())


def _with_metadata(path: Path, meta: dict) -> Path:
    """The TorchScript file at ``path`` with its ``aezoo.json`` replaced by ``meta``, written beside it."""
    out = path.with_name(f"edited{path.suffix}")
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            edited = info.filename.endswith(f"/extra/{METADATA_NAME}")
            zout.writestr(info.filename, json.dumps(meta) if edited else zin.read(info))
    return out


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [  # each was a raw TypeError, KeyError, ValueError or the TorchScript interpreter's RuntimeError
        ("outputs", 5, "is a whole anomaly detector; run it with"),
        ("outputs", [1], "is a whole anomaly detector with outputs 1; run it with"),
        ("inputs", 5, r'"inputs" of its aezoo.json metadata must describe "threshold"'),
        ("inputs", {}, r'"inputs" of its aezoo.json metadata must describe "threshold"'),
        ("inputs", {"threshold": {"optional": False}}, r'must describe "threshold" as \{"optional"'),
        ("inputs", {"threshold": {"optional": False, "default": "x"}}, "a finite number"),
        ("inputs", {"threshold": {"optional": False, "default": float("inf")}}, "a finite number"),
        ("inputs", {"threshold": {"optional": True, "default": 0.5}}, r"failed on a batch of shape \(64, 1, 8, 8\)"),
    ],
)
def test_damaged_detector_metadata_is_an_export_error(key: str, value, message: str, tmp_path: Path) -> None:
    detector = _detector()
    path = export_detector(detector, tmp_path / "d.pt", format="torchscript", verify=False).path
    edited = _with_metadata(path, {**load_exported(path)[1], key: value})
    run = run_exported if key == "outputs" else run_exported_detector
    with pytest.raises(ExportError, match=message) as caught:
        run(edited, _batch())
    assert "export the detector again" in str(caught.value) or key == "outputs"


# ----------------------------------------------------------------------------- OpenVINO
@needs_onnx
def test_openvino_runs_the_onnx_detector(onnx_file) -> None:
    """OpenVINO reads the ONNX file as it is; what differs is said in docs/anomaly.md."""
    ov = pytest.importorskip("openvino")
    import onnx

    detector, path = onnx_file
    core = ov.Core()
    f32 = {"INFERENCE_PRECISION_HINT": "f32"}  # else a CPU with bf16 units computes in bf16
    compiled = core.compile_model(core.read_model(str(path)), "CPU", f32)
    # OpenVINO folds an input that has a default into a constant: the file's threshold is fixed there
    assert [i.get_any_name() for i in compiled.inputs] == ["input"]
    x = _batch()
    result = compiled({"input": x.numpy()})
    out = {name: torch.from_numpy(np.asarray(result[o])) for name, o in zip(OUTPUTS, compiled.outputs, strict=True)}
    assert detector.threshold is not None
    torch.testing.assert_close(out["score"], detector.score(x), atol=SCORE_ATOL, rtol=1e-5)
    torch.testing.assert_close(out["error_map"], detector.error_map(x), atol=SCORE_ATOL, rtol=1e-5)
    assert torch.equal(out["is_anomaly"], detector.predict(x))
    # float64 arithmetic runs in float32: the counts are the same, their ratios round to float32
    torch.testing.assert_close(out["p_value"], detector.p_value(x), atol=1e-7, rtol=0)
    torch.testing.assert_close(out["normalized_score"], detector.normalized_score(x), atol=1e-7, rtol=0)
    # to move the threshold in OpenVINO, drop the default: the threshold becomes a required input
    proto = onnx.load(str(path))
    kept = [i for i in proto.graph.initializer if i.name != "threshold"]
    del proto.graph.initializer[:]
    proto.graph.initializer.extend(kept)
    compiled = core.compile_model(core.read_model(proto.SerializeToString(), b""), "CPU", f32)
    assert [i.get_any_name() for i in compiled.inputs] == list(INPUTS)
    middle = detector.score(x).sort()[0][31:33]
    moved = float(middle.mean())  # halfway between two scores: rounding cannot move one across it
    flagged = compiled({"input": x.numpy(), "threshold": np.array(moved, dtype=np.float32)})[compiled.outputs[3]]
    assert torch.equal(torch.from_numpy(np.asarray(flagged)), detector.score(x) > torch.tensor(moved))
