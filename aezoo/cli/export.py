"""``aezoo export``: a model's encoder, decoder or full pass as ONNX, TorchScript or a torch.export program."""

from __future__ import annotations

import click

from ._common import model_argument, out_option

# aezoo.applications.export.FORMATS and PARTS, without importing torch for --help
FORMATS = {"onnx": ".onnx", "torchscript": ".pt", "exported-program": ".pt2"}
PARTS = ("encoder", "decoder", "full")


@click.command("export")
@model_argument
@click.option(
    "--format", "fmt", type=click.Choice(list(FORMATS)), default="onnx", show_default=True, help="File format."
)
@click.option(
    "--part",
    type=click.Choice(list(PARTS)),
    default="full",
    show_default=True,
    help="encoder: inputs -> codes; decoder: codes -> inputs; full: inputs -> reconstructions.",
)
@out_option(f"File to write ({', '.join(f'{s} for {f}' for f, s in FORMATS.items())}).")
@click.option("--opset", type=click.IntRange(min=7), default=None, help="ONNX opset (default: the exporter's).")
@click.option("--no-verify", is_flag=True, help="Skip running the file and comparing it with PyTorch.")
def export_cmd(model: str, fmt: str, part: str, out: str, opset: int | None, no_verify: bool) -> None:
    """Export MODEL_OR_DIR for serving, with a dynamic batch size, and check the file against PyTorch.

    \b
    aezoo export conv-mnist --format onnx --part encoder --out conv-encoder.onnx
    aezoo export vae-mnist --format exported-program --part decoder --out vae-decoder.pt2
    aezoo export runs/conv --format torchscript --out conv.pt

    ONNX needs pip install "aezoo[export]" (onnx, onnxscript, onnxruntime).
    """
    from aezoo.applications.export import export
    from aezoo.loading import load

    net = load(model, device="cpu")
    result = export(net, out, format=fmt, part=part, verify=not no_verify, opset=opset)
    click.echo(f"wrote {result.path} ({result.format}, {result.part} of {net.architecture!r})")
    shape = ", ".join(map(str, result.input_shape))
    click.echo(f"input   (batch, {shape})")
    click.echo(f"output  (batch, {', '.join(map(str, result.output_shape))})")
    if result.max_abs_diff is not None:
        click.echo(f"checked against PyTorch on a batch of 3: max |difference| {result.max_abs_diff:.3g}")
