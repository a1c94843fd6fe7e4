"""Export a model's encoder, decoder or whole reconstruction pass for serving without aezoo.

(A whole anomaly detector, scores to decisions, is exported by
:func:`aezoo.applications.detector_export.export_detector`, through the writers here.)

Three formats, each with a dynamic batch dimension:

* ``onnx`` — through ``torch.onnx.export`` (the dynamo exporter, which needs ``onnx`` and
  ``onnxscript``), checked with ``onnxruntime``: ``pip install "aezoo[export]"``;
* ``torchscript`` — ``torch.jit.trace``, loadable from C++ with ``torch::jit::load``
  (PyTorch has deprecated TorchScript; prefer ``exported-program`` for new Python services);
* ``exported-program`` — ``torch.export`` saved as a ``.pt2`` archive, read back with
  ``torch.export.load(path).module()``.

Every export is verified by default: the written file is loaded again, run on a batch of a
size other than the one it was traced with, and compared with the PyTorch model. The file
carries its own description (architecture, part, input and output shapes, preprocessing) as
ONNX metadata or as an ``aezoo.json`` extra file, so a server knows how to scale raw inputs.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import importlib.util
import itertools
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import torch
from torch import Tensor, nn

from .._version import __version__
from ..core.errors import ExportError, InputError, MissingDependencyError, unknown_name

if TYPE_CHECKING:
    from ..models.base import Autoencoder

__all__ = ["DETECTOR_PART", "FORMATS", "PARTS", "ExportResult", "export", "load_exported", "run_exported"]

#: Format name -> the file suffix it is written with.
FORMATS = {"onnx": ".onnx", "torchscript": ".pt", "exported-program": ".pt2"}
METADATA_NAME = "aezoo.json"  # the extra file (TorchScript, .pt2) / metadata key (ONNX) describing the export
EXPORT_EXTRA = 'pip install "aezoo[export]"'
M = TypeVar("M", bound=nn.Module)
TRACE_BATCH, CHECK_BATCH = 2, 3  # traced with one batch size, verified with another
DETECTOR_PART = "detector"  # the "part" of a whole anomaly detector (aezoo.applications.detector_export)


# ----------------------------------------------------------------------------- the parts
class _Encoder(nn.Module):
    """inputs ``(N, *input_shape)`` -> codes ``(N, latent_dim)`` (the VAE: the posterior mean)."""

    def __init__(self, model: Autoencoder) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model._encode(x)  # the unchecked core: a value check cannot be traced


class _Decoder(_Encoder):
    """codes ``(N, latent_dim)`` -> reconstructions ``(N, *input_shape)``."""

    def forward(self, z: Tensor) -> Tensor:
        return self.model._decode(z)


class _Full(_Encoder):
    """inputs -> reconstructions, as ``model(x).reconstruction`` in eval mode."""

    def forward(self, x: Tensor) -> Tensor:
        return self.model._forward(x).reconstruction


#: Part name -> (wrapper, its input's shape after the batch axis, given the model).
PARTS: dict[str, tuple[type[nn.Module], Callable[[Autoencoder], tuple[int, ...]]]] = {
    "encoder": (_Encoder, lambda m: tuple(m.input_shape)),
    "decoder": (_Decoder, lambda m: (m.latent_dim,)),
    "full": (_Full, lambda m: tuple(m.input_shape)),
}


@dataclasses.dataclass(frozen=True)
class ExportResult:
    """What :func:`export` wrote, and how closely the file reproduces the PyTorch model."""

    path: Path
    format: str
    part: str
    input_shape: tuple[int, ...]  # per sample; the batch axis is dynamic
    output_shape: tuple[int, ...]
    max_abs_diff: float | None  # file vs PyTorch on a batch of another size (None: not verified)
    outputs: Mapping[str, tuple[int, ...]] | None = None  # a file with several outputs: each one's shape


@dataclasses.dataclass(frozen=True)
class _Signature:
    """What a writer traces: example inputs (the first one batched), their names, and the outputs' names."""

    example: tuple[Tensor, ...]
    inputs: tuple[str, ...] = ("input",)
    outputs: tuple[str, ...] = ("output",)
    defaults: Mapping[str, Tensor] = dataclasses.field(default_factory=dict)  # ONNX: optional inputs' values
    props: Mapping[str, str] = dataclasses.field(default_factory=dict)  # ONNX: more metadata_props entries

    def dynamic_shapes(self) -> tuple[dict[int, Any] | None, ...]:
        batch = torch.export.Dim("batch", min=1)
        return tuple({0: batch} if i == 0 else None for i in range(len(self.example)))


# ----------------------------------------------------------------------------- export
def export(
    model: Autoencoder,
    path: str | os.PathLike[str],
    *,
    format: str = "onnx",
    part: str = "full",
    verify: bool = True,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    opset: int | None = None,
) -> ExportResult:
    """Write ``model``'s ``part`` (``encoder``, ``decoder`` or ``full``) to ``path`` in ``format``.

    The batch dimension is dynamic. With ``verify`` (the default) the file is run on a batch
    of another size and compared with PyTorch (``atol``/``rtol``); a mismatch raises
    :class:`~aezoo.core.errors.ExportError`. The file is written atomically, on the CPU.

    >>> import aezoo, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "encoder.pt2")
    >>> result = export(aezoo.create("linear"), path, format="exported-program", part="encoder")
    >>> result.input_shape, result.output_shape, result.max_abs_diff < 1e-5
    ((1, 28, 28), (2,), True)
    """
    path = check_request(path, format, verify)
    if part not in PARTS:
        hint = "export the encoder, the decoder or the full model (a detector: export_detector)"
        raise unknown_name("model part", part, PARTS, hint=hint)
    _check_model(model)
    wrapper_class, in_shape_of = PARTS[part]
    with on_cpu_in_eval(model) as model:
        wrapper = wrapper_class(model).eval()
        in_shape = in_shape_of(model)
        generator = torch.Generator().manual_seed(0)
        example = torch.rand((TRACE_BATCH, *in_shape), generator=generator)
        with torch.no_grad():
            out_shape = tuple(wrapper(example).shape[1:])
        meta = metadata_json(model, part, format, in_shape, out_shape)
        write(format, wrapper, _Signature((example,)), path, meta, opset)
        diff = None
        if verify:
            check = torch.rand((CHECK_BATCH, *in_shape), generator=generator)
            with torch.no_grad():
                expected = wrapper(check)
            got = run_exported(path, check)
            diff = float((got - expected).abs().max())
            if got.shape != expected.shape or not torch.allclose(got, expected, atol=atol, rtol=rtol):
                raise ExportError(
                    f"the exported {part} in {path} does not reproduce the PyTorch model: shape "
                    f"{tuple(got.shape)} vs {tuple(expected.shape)}, max |difference| {diff:.3g} "
                    f"(atol {atol:g}); try another format or report the model's architecture"
                )
    return ExportResult(path, format, part, in_shape, out_shape, diff)


def check_request(path: str | os.PathLike[str], format: str, verify: bool) -> Path:
    """``path`` as a ``Path`` once ``format`` is known, matches its suffix and has its packages installed."""
    if format not in FORMATS:
        raise unknown_name("export format", format, FORMATS)
    path = Path(path)
    if path.suffix.lower() != FORMATS[format]:
        raise ExportError(
            f"{format} files end in {FORMATS[format]!r}, got {str(path)!r}; "
            f"write to {str(path.with_suffix(FORMATS[format]))!r} or choose the format that matches the name"
        )
    _require(format, verify)
    return path


@contextlib.contextmanager
def on_cpu_in_eval(module: M) -> Iterator[M]:
    """``module`` (or, if it is elsewhere, a copy of it on the CPU) in eval mode; the flag is restored after."""
    if any(t.device.type != "cpu" for t in itertools.chain(module.parameters(), module.buffers())):
        module = copy.deepcopy(module).cpu()  # the caller's model stays where it is
    flags = [(m, m.training) for m in module.modules()]  # each one's: a wrapper may hold a model in eval mode
    module.eval()
    try:
        yield module
    finally:
        for m, training in flags:
            m.training = training


def _check_model(model: Any) -> None:
    from ..models.base import Autoencoder

    if not isinstance(model, Autoencoder):
        raise ExportError(
            f"export takes an aezoo model, got {type(model).__name__}; load one with aezoo.load(NAME_OR_DIR)"
        )


def metadata_json(
    model: Autoencoder, part: str, format: str, in_shape: tuple[int, ...], out_shape: tuple[int, ...], **more: Any
) -> str:
    from ..core.config import config_to_dict

    return json.dumps(
        {
            "aezoo_version": __version__,
            "architecture": model.architecture,
            "config": config_to_dict(model.config),
            "format": format,
            "part": part,
            "input_shape": ["batch", *in_shape],
            "output_shape": ["batch", *out_shape],
            "preprocessing": model.preprocessing.to_dict(),
            **more,
        },
        sort_keys=True,
    )


def write(format: str, wrapper: nn.Module, sig: _Signature, path: Path, meta: str, opset: int | None) -> None:
    """Trace ``wrapper`` on ``sig`` and write it to ``path`` atomically as ``format``, with ``meta``."""
    with _atomic_path(path) as tmp:
        _WRITERS[format](wrapper, sig, tmp, meta, opset)


def _require(format: str, verify: bool) -> None:
    if format != "onnx":
        return
    needed = ["onnx", "onnxscript"] + (["onnxruntime"] if verify else [])
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingDependencyError(
            f"ONNX export needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not installed; "
            f"run: {EXPORT_EXTRA}"
        )


class _atomic_path:
    """A temporary file name beside ``path``; renamed onto it when the block succeeds."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=self.path.suffix, dir=self.path.parent)
        os.close(fd)
        self.tmp = Path(name)
        return self.tmp

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            self.tmp.chmod(0o644)
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


def _failed(format: str, e: Exception) -> ExportError:
    text = " ".join(str(e).split())[:300]
    other = "exported-program" if format != "exported-program" else "torchscript"
    return ExportError(f"{format} export failed: {type(e).__name__}: {text}; try --format {other}")


def _write_onnx(wrapper: nn.Module, sig: _Signature, path: Path, meta: str, opset: int | None) -> None:
    import onnx
    from onnx import numpy_helper

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                wrapper,
                sig.example,
                dynamo=True,
                dynamic_shapes=sig.dynamic_shapes(),
                input_names=list(sig.inputs),
                output_names=list(sig.outputs),
                opset_version=opset,
                external_data=False,
                verbose=False,
            )
    except Exception as e:  # the exporter raises many types; each becomes one message
        raise _failed("onnx", e) from e
    if program is None:  # only the legacy exporter returns None; dynamo=True always gives a program
        raise ExportError("torch.onnx.export returned no program; upgrade torch (aezoo uses the dynamo exporter)")
    proto = program.model_proto
    # An input with an initializer of its name is an input with a default (IR >= 4): callers may omit it.
    for name, default in sig.defaults.items():
        proto.graph.initializer.append(numpy_helper.from_array(default.detach().cpu().numpy(), name))
    for key, text in {METADATA_NAME: meta, **sig.props}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, text
    if sig.defaults:
        onnx.checker.check_model(proto)
    onnx.save_model(proto, str(path))


def _write_torchscript(wrapper: nn.Module, sig: _Signature, path: Path, meta: str, opset: int | None) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit's deprecation notices and tracer hints
            traced = torch.jit.trace(wrapper, sig.example, check_trace=False)
            torch.jit.save(traced, str(path), _extra_files={METADATA_NAME: meta})
    except Exception as e:
        raise _failed("torchscript", e) from e


def _write_exported_program(wrapper: nn.Module, sig: _Signature, path: Path, meta: str, opset: int | None) -> None:
    try:
        program = torch.export.export(wrapper, sig.example, dynamic_shapes=sig.dynamic_shapes())
    except Exception as e:
        raise _failed("exported-program", e) from e
    torch.export.save(program, str(path), extra_files={METADATA_NAME: meta})


_WRITERS = {"onnx": _write_onnx, "torchscript": _write_torchscript, "exported-program": _write_exported_program}


# ----------------------------------------------------------------------------- reading back
def _format_of(path: Path) -> str:
    for name, suffix in FORMATS.items():
        if path.suffix.lower() == suffix:
            return name
    raise ExportError(f"{str(path)!r} is not an aezoo export: expected a name ending in {', '.join(FORMATS.values())}")


def load_exported(path: str | os.PathLike[str]) -> tuple[Callable[[Tensor], Tensor], dict[str, Any]]:
    """Load an exported file; returns ``(run, metadata)`` with ``run(batch) -> Tensor`` (its first output).

    ONNX files run in an ``onnxruntime`` CPU session; the others in PyTorch.
    """
    call, meta = open_exported(path)
    return (lambda x: call(x)[0]), meta


def open_exported(path: str | os.PathLike[str]) -> tuple[Callable[..., list[Tensor]], dict[str, Any]]:
    """Load an exported file; returns ``(call, metadata)`` with ``call(*inputs) -> every output, in order``.

    Trailing ONNX inputs that the file gives a default (the detector's ``threshold``) may be left out.
    """
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"no exported model at {str(path)!r}; write one with aezoo export")
    fmt = _format_of(path)
    try:
        if fmt == "onnx":
            call, meta = _open_onnx(path)
        else:
            files = {METADATA_NAME: ""}
            if fmt == "torchscript":
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notice
                    module = torch.jit.load(str(path), map_location="cpu", _extra_files=files)
            else:
                module = torch.export.load(str(path), extra_files=files).module()
            call, meta = _outputs_of(module), json.loads(files[METADATA_NAME] or "{}")
    except (ExportError, MissingDependencyError):
        raise
    except Exception as e:
        raise ExportError(f"cannot read {str(path)!r} as {fmt}: {type(e).__name__}: {e}") from e
    if not isinstance(meta, dict):
        raise ExportError(
            f"{str(path)!r} holds {METADATA_NAME} metadata that is not a JSON object ({meta!r:.60}); "
            "the file is damaged or its metadata was edited: export the model again (aezoo export)"
        )
    return call, meta


def _outputs_of(module: Callable[..., Any]) -> Callable[..., list[Tensor]]:
    def call(*inputs: Tensor) -> list[Tensor]:
        out = module(*inputs)
        return list(out) if isinstance(out, (tuple, list)) else [out]

    return call


def _open_onnx(path: Path) -> tuple[Callable[..., list[Tensor]], dict[str, Any]]:
    if importlib.util.find_spec("onnxruntime") is None:
        raise MissingDependencyError(f"running an ONNX file needs onnxruntime; run: {EXPORT_EXTRA}")
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # not the notice that an input with a default is not constant-folded
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    meta = json.loads(session.get_modelmeta().custom_metadata_map.get(METADATA_NAME, "{}"))
    # onnxruntime lists the inputs with a default apart from the others ("overridable initializers")
    names = [i.name for i in (*session.get_inputs(), *session.get_overridable_initializers())]

    def call(*inputs: Tensor) -> list[Tensor]:
        given = zip(names, inputs, strict=False)  # trailing inputs with a default may be left out
        feeds = {name: x.detach().cpu().float().numpy() for name, x in given}  # float32 inputs only
        return [torch.from_numpy(out) for out in session.run(None, feeds)]

    return call, meta


def run_exported(path: str | os.PathLike[str], x: Tensor) -> Tensor:
    """Run the exported file at ``path`` on the batch ``x``; returns the output on the CPU.

    ``x`` must be a floating-point batch of the shape the file's ``aezoo.json`` names
    (``(N, *input_shape)``), else an ``InputError`` naming it, before the file runs.
    """
    run, meta = load_exported(path)
    if meta.get("part") == DETECTOR_PART:
        names = meta.get("outputs")  # a mapping of names (a damaged file's may be anything)
        listed = f" with outputs {', '.join(map(str, names))}" if isinstance(names, (dict, list)) else ""
        raise ExportError(
            f"{Path(path).name} is a whole anomaly detector{listed}; "
            "run it with aezoo.applications.detector_export.run_exported_detector(path, x)"
        )
    check_input(x, meta, Path(path))
    with torch.no_grad():
        try:
            return run(x.detach().cpu().float())
        except Exception as e:  # the runtime's own error: the file does not take what its metadata says
            text = " ".join(str(e).split())[:200]
            raise ExportError(
                f"{Path(path).name} failed on a batch of shape {tuple(x.shape)}, which its {METADATA_NAME} "
                f"metadata accepts ({type(e).__name__}: {text}); the file is damaged or its metadata was edited: "
                "export the model again (aezoo export)"
            ) from None


def check_input(x: Any, meta: dict[str, Any], path: Path) -> None:
    """``x`` against the input shape recorded at export: a mismatch would fail inside the runtime."""
    shape = meta.get("input_shape") if isinstance(meta, dict) else None
    want = shape[1:] if isinstance(shape, list) and shape[:1] == ["batch"] else None
    expected = f"(N, {', '.join(map(str, want))})" if want is not None else "(N, ...)"
    if not isinstance(x, Tensor):
        raise InputError(f"{path.name} takes a torch.Tensor batch of shape {expected}, got {type(x).__name__}")
    if not x.is_floating_point():
        raise InputError(
            f"{path.name} takes float32 model inputs of shape {expected}, got {x.dtype}; map raw values "
            f"(e.g. uint8 pixels) with the preprocessing in its metadata first: {meta.get('preprocessing')!r}"
        )
    if (want is not None and list(x.shape[1:]) != want) or x.dim() == 0:
        raise InputError(
            f"{path.name} ({meta.get('part', 'model')} of {meta.get('architecture', 'a model')!r}) takes batches of "
            f"shape {expected}, got {tuple(x.shape)}; reshape the batch to {expected}"
        )
