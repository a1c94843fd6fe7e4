"""``aezoo export``: a model's encoder, decoder or full pass, or a whole anomaly detector, as ONNX,
TorchScript or a torch.export program."""

from __future__ import annotations

from pathlib import Path

import click

from ._common import out_option

# aezoo.applications.export.FORMATS, PARTS and DETECTOR_PART, without importing torch for --help
FORMATS = {"onnx": ".onnx", "torchscript": ".pt", "exported-program": ".pt2"}
PARTS = ("encoder", "decoder", "full", "detector")
HF_HUB_PREFIX = "hf-hub:"  # aezoo.loading.HF_HUB_PREFIX


@click.command("export")
@click.argument("model", metavar="MODEL_OR_DETECTOR")
@click.option(
    "--format", "fmt", type=click.Choice(list(FORMATS)), default="onnx", show_default=True, help="File format."
)
@click.option(
    "--part",
    type=click.Choice(list(PARTS)),
    default="full",
    show_default=True,
    help="encoder: inputs -> codes; decoder: codes -> inputs; full: inputs -> reconstructions; detector: inputs "
    "-> score, normalized_score, p_value, is_anomaly, error_map (MODEL_OR_DETECTOR is a detector JSON, or a "
    "model directory / hf-hub: repository holding detector.json).",
)
@out_option(f"File to write ({', '.join(f'{s} for {f}' for f, s in FORMATS.items())}).")
@click.option("--opset", type=click.IntRange(min=7), default=None, help="ONNX opset (default: the exporter's).")
@click.option("--no-verify", is_flag=True, help="Skip running the file and comparing it with PyTorch.")
def export_cmd(model: str, fmt: str, part: str, out: str, opset: int | None, no_verify: bool) -> None:
    """Export MODEL_OR_DETECTOR for serving, with a dynamic batch size, and check the file against PyTorch.

    \b
    aezoo export conv-mnist --format onnx --part encoder --out conv-encoder.onnx
    aezoo export vae-mnist --format exported-program --part decoder --out vae-decoder.pt2
    aezoo export runs/conv --format torchscript --out conv.pt
    aezoo export runs/conv --part detector --out conv-detector.onnx

    A detector's ONNX file takes the threshold as an optional input whose default is the
    calibrated one; its metadata records the score, the threshold rule and the weights it was
    calibrated on. ONNX needs pip install "aezoo[export]" (onnx, onnxscript, onnxruntime).
    """
    if part == "detector":
        _export_detector(model, fmt, out, opset, no_verify)
        return
    from aezoo.applications.export import export
    from aezoo.core.errors import InputError
    from aezoo.loading import load

    if Path(model).suffix.lower() == ".json" and Path(model).is_file():
        raise InputError(f"{model} is not a model; if it is an anomaly detector, export it with --part detector")
    net = load(model, device="cpu")
    result = export(net, out, format=fmt, part=part, verify=not no_verify, opset=opset)
    click.echo(f"wrote {result.path} ({result.format}, {result.part} of {net.architecture!r})")
    shape = ", ".join(map(str, result.input_shape))
    click.echo(f"input   (batch, {shape})")
    click.echo(f"output  (batch, {', '.join(map(str, result.output_shape))})")
    if result.max_abs_diff is not None:
        click.echo(f"checked against PyTorch on a batch of 3: max |difference| {result.max_abs_diff:.3g}")


def _export_detector(ref: str, fmt: str, out: str, opset: int | None, no_verify: bool) -> None:
    from aezoo.applications.anomaly import AnomalyDetector
    from aezoo.applications.detector_export import export_detector
    from aezoo.core.errors import InputError

    if not ref.startswith(HF_HUB_PREFIX) and not Path(ref).exists():
        raise InputError(
            f"--part detector exports an anomaly detector, and {ref!r} is no detector file or model directory; "
            f"fit one first: aezoo detect {ref} --dataset NORMAL --out detector.json (for a model directory: "
            "--save-to-model), then export detector.json or the directory"
        )
    detector = AnomalyDetector.load(ref, device="cpu")
    result = export_detector(detector, out, format=fmt, verify=not no_verify, opset=opset)
    rule = detector.rule or ("quantile", detector.quantile)
    click.echo(
        f"wrote {result.path} ({result.format}, detector of {detector.model.architecture!r}: {detector.score_name} "
        f"score, threshold {detector.threshold:.6g} at {rule[0]} {rule[1]:g}, {detector.n_calibration} calibration "
        "scores)"
    )
    optional = "optional, default: the calibrated one" if fmt == "onnx" else "required (aezoo.json has its default)"
    click.echo(f"input   input (batch, {', '.join(map(str, result.input_shape))}); threshold () {optional}")
    outputs = result.outputs or {}
    click.echo("outputs " + ", ".join(f"{name} (batch{''.join(f', {d}' for d in s)})" for name, s in outputs.items()))
    if result.max_abs_diff is not None:
        click.echo(f"checked against the PyTorch detector on a batch of 3: max |difference| {result.max_abs_diff:.3g}")
