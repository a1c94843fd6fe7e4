"""The conformance kit: does an architecture honour the contract every aezoo model honours?

One call checks one architecture and raises :class:`ConformanceError` (an ``AssertionError``)
with a precise message at the first failure::

    from aezoo.testing.conformance import check_architecture
    check_architecture("contractive", config_overrides={"latent_dim": 8})

A plugin's whole conformance test is one parametrized function, one test per check::

    from aezoo.testing.conformance import conformance_parametrize

    @conformance_parametrize(["contractive"], overrides={"contractive": {"latent_dim": 8}})
    def test_conformance(case):
        case.run()

The checks, in the order they run (see :data:`CHECKS`): the declaration (entry-point name,
``api_version``, config class, pretrained entries), the config's JSON round trip, output shapes,
``encode``/``decode`` against ``forward``, errors on bad input, the ``loss`` dict, finite
gradients, ``training_step`` lowering the loss on a fixed batch, determinism under a seed,
``save_pretrained`` -> ``aezoo.load`` equality, ``evaluation_metrics``, and the declared
``capabilities`` (``sample``/``corrupt`` draw from the generator passed in; a layer-wise stage's
``as_stage`` and ``stage_weights`` stack into a deep model that computes the same). Everything runs on
small random batches in ``[0, 1)``; pass ``config_overrides`` to keep big defaults fast.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import Tensor

from .. import registry
from ..core.config import AEConfig, config_from_dict, config_to_dict
from ..core.errors import ConfigError, InputError

if TYPE_CHECKING:
    from ..io.pretrained import Pretrained
    from ..models.base import Autoencoder

__all__ = [
    "CHECKS",
    "SMALL_CONFIGS",
    "ConformanceCase",
    "ConformanceError",
    "check_architecture",
    "conformance_cases",
    "conformance_parametrize",
]

_ARCH_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


#: Small configs of aezoo's own architectures, so that the whole zoo is checked in seconds: the one
#: table the test suite uses (plugins pass their own through ``overrides``). An architecture not
#: listed runs with its defaults.
SMALL_INPUT = (1, 8, 8)
SMALL_CONFIGS: dict[str, dict[str, Any]] = {
    "aae": {"input_shape": SMALL_INPUT, "hidden_dims": (32,), "disc_hidden_dims": (32,)},
    "conv": {"input_shape": SMALL_INPUT, "channels": (4, 8), "latent_dim": 4},
    "deep": {"input_shape": SMALL_INPUT, "dims": (64, 32, 16, 8)},
    "denoising": {"input_shape": SMALL_INPUT, "dims": (64, 16)},
    "linear": {"input_shape": SMALL_INPUT},
    "mlp": {"input_shape": SMALL_INPUT, "dims": (64, 8)},
    "sparse": {"input_shape": SMALL_INPUT, "dims": (64, 16)},
    "stacked": {"input_shape": SMALL_INPUT, "dims": (64, 16, 8)},
    "tied": {"input_shape": SMALL_INPUT, "dims": (64, 16, 8)},
    "vae": {"input_shape": SMALL_INPUT, "hidden_dims": (32,), "latent_dim": 4},
}


class ConformanceError(AssertionError):
    """An architecture breaks the aezoo contract; the message names the check and what to fix."""


@dataclasses.dataclass(frozen=True)
class _Setup:
    """What every check needs: the class, how to build it, and a fixed batch."""

    cls: type[Autoencoder]
    overrides: Mapping[str, Any]
    batch_size: int
    steps: int
    seed: int
    lr: float
    device: str
    check: str = ""

    @property
    def name(self) -> str:
        return getattr(self.cls, "architecture", "") or self.cls.__name__

    def fail(self, message: str) -> ConformanceError:
        return ConformanceError(f"{self.name} [{self.check}]: {message}")

    def build(self) -> Autoencoder:
        torch.manual_seed(self.seed)
        try:
            model = self.cls.from_config(None, **dict(self.overrides))
        except Exception as e:
            raise self.fail(
                f"{self.cls.__name__}.from_config(None, **{dict(self.overrides)!r}) raised {type(e).__name__}: {e}"
            ) from e
        return model.to(self.device)

    def batch(self, model: Autoencoder) -> Tensor:
        g = torch.Generator().manual_seed(self.seed + 1)
        return torch.rand((self.batch_size, *model.input_shape), generator=g).to(self.device)

    def optimizers(self, model: Autoencoder) -> Mapping[str, torch.optim.Optimizer]:
        opts = model.configure_optimizers(lambda params: torch.optim.Adam(params, lr=self.lr))
        if not isinstance(opts, Mapping) or not opts:
            raise self.fail(f"configure_optimizers(make) must return a non-empty dict of optimizers, got {opts!r}")
        for key, opt in opts.items():
            if not isinstance(key, str) or not isinstance(opt, torch.optim.Optimizer):
                raise self.fail(f"configure_optimizers(make) returned {key!r}: {opt!r}; want str -> Optimizer")
        return opts


# ---------------------------------------------------------------------------- the checks
def _check_declaration(s: _Setup) -> None:
    from ..io.pretrained import Pretrained
    from ..models.base import PLUGIN_API_VERSION, Autoencoder

    cls = s.cls
    if not (isinstance(cls, type) and issubclass(cls, Autoencoder)):
        raise s.fail(f"{cls!r} is not a subclass of aezoo.Autoencoder")
    name = cls.__dict__.get("architecture") or ""
    if not isinstance(name, str) or not _ARCH_NAME.match(name):
        raise s.fail(
            f"{cls.__name__} must set the class attribute architecture to its entry-point name, "
            f"lowercase letters, digits and '_' (got {name!r})"
        )
    if not isinstance(cls.api_version, int) or cls.api_version != PLUGIN_API_VERSION:
        raise s.fail(f"api_version is {cls.api_version!r}; this aezoo implements plugin API {PLUGIN_API_VERSION}")
    third_party = not cls.__module__.startswith("aezoo.")
    declared = any("api_version" in k.__dict__ for k in cls.__mro__ if k is not Autoencoder)
    if third_party and not declared:
        raise s.fail(
            f"{cls.__name__} inherits api_version; declare `api_version = {PLUGIN_API_VERSION}` in the class "
            "so that a later aezoo can tell which plugin API it was written for"
        )
    try:
        registered = registry.get_architecture(name)
    except Exception as e:
        raise s.fail(
            f"architecture {name!r} is not in the registry ({type(e).__name__}: {e}); declare it under "
            f'[project.entry-points."aezoo.architectures"] as {name} = "{cls.__module__}:{cls.__qualname__}" '
            "and install the distribution (pip install -e .)"
        ) from None
    if registered is not cls:
        raise s.fail(f"the registry's {name!r} is {registered!r}, not {cls!r}")
    cfg_cls = cls.config_class
    if not (isinstance(cfg_cls, type) and issubclass(cfg_cls, AEConfig) and dataclasses.is_dataclass(cfg_cls)):
        raise s.fail(f"config_class must be a dataclass subclassing aezoo.AEConfig, got {cfg_cls!r}")
    if not cfg_cls.__dataclass_params__.frozen:  # type: ignore[attr-defined]  # set by @dataclass, untyped
        raise s.fail(f"{cfg_cls.__name__} must be @dataclasses.dataclass(frozen=True)")
    missing = [
        f.name
        for f in dataclasses.fields(cfg_cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise s.fail(f"{cfg_cls.__name__} fields {missing} have no default; every field needs one")
    for entry in cls.__dict__.get("pretrained", ()) or ():
        _check_pretrained_entry(s, entry, Pretrained)


def _check_pretrained_entry(s: _Setup, entry: Any, pretrained_cls: type[Pretrained]) -> None:
    if not isinstance(entry, pretrained_cls):
        raise s.fail(f"pretrained holds {entry!r}; each entry must be an aezoo.Pretrained")
    if entry.architecture != s.name:
        raise s.fail(f"pretrained entry {entry.name!r} names architecture {entry.architecture!r}, not {s.name!r}")
    if not entry.name.startswith(f"{s.name}-"):
        raise s.fail(f"pretrained entry {entry.name!r} should be named '{s.name}-<dataset>'")
    if entry.revision is not None and not _HEX40.match(entry.revision):
        raise s.fail(
            f"pretrained entry {entry.name!r}: revision {entry.revision!r} is not a 40-hex commit hash "
            "(a branch is not a pin; use None for weights not published yet)"
        )
    if not _HEX64.match(entry.sha256):
        raise s.fail(f"pretrained entry {entry.name!r}: sha256 {entry.sha256!r} is not 64 lowercase hex digits")
    try:
        config_from_dict(s.cls.config_class, entry.config)
    except ConfigError as e:
        raise s.fail(f"pretrained entry {entry.name!r} has a config that does not build: {e}") from None


def _check_config_json(s: _Setup) -> None:
    model = s.build()
    cfg = model.config
    cfg_cls = type(cfg)
    data = config_to_dict(cfg)
    try:
        text = json.dumps(data, sort_keys=True)
    except TypeError as e:
        raise s.fail(f"config_to_dict({cfg!r}) is not JSON-serializable: {e}") from None
    back = config_from_dict(cfg_cls, json.loads(text))
    if back != cfg:
        raise s.fail(f"config does not survive JSON: {cfg!r} came back as {back!r}")
    fields = sorted(f.name for f in dataclasses.fields(cfg_cls))
    try:
        config_from_dict(cfg_cls, {**data, "no_such_key": 1})
    except ConfigError as e:
        text = str(e)
        if "no_such_key" not in text or not all(f in text for f in fields):
            raise s.fail(f"the unknown-key error should name 'no_such_key' and list {fields}; got: {text}") from None
    else:
        raise s.fail("config_from_dict accepted an unknown key 'no_such_key'; it must raise ConfigError")


def _check_shapes(s: _Setup) -> None:
    from ..models.base import AEOutput

    model = s.build()
    if not (isinstance(model.latent_dim, int) and model.latent_dim > 0):
        raise s.fail(f"latent_dim must be a positive int, got {model.latent_dim!r}")
    x = s.batch(model)
    n, shape, k = x.shape[0], tuple(model.input_shape), model.latent_dim
    for mode in ("train", "eval"):
        model.train(mode == "train")
        out = model(x)
        if not isinstance(out, AEOutput):
            raise s.fail(f"forward must return an aezoo.AEOutput (or a subclass), got {type(out).__name__}")
        _expect_shape(s, f"forward(x).reconstruction ({mode} mode)", out.reconstruction, (n, *shape))
        _expect_shape(s, f"forward(x).latent ({mode} mode)", out.latent, (n, k))
    model.eval()
    z = model.encode(x)
    _expect_shape(s, "encode(x)", z, (n, k))
    _expect_shape(s, "decode(z)", model.decode(z), (n, *shape))


def _expect_shape(s: _Setup, what: str, t: Any, shape: tuple[int, ...]) -> None:
    if not isinstance(t, Tensor):
        raise s.fail(f"{what} must be a Tensor, got {type(t).__name__}")
    if tuple(t.shape) != shape:
        raise s.fail(f"{what} has shape {tuple(t.shape)}, expected {shape}")
    if not t.is_floating_point():
        raise s.fail(f"{what} has dtype {t.dtype}, expected a floating-point tensor")
    if not bool(torch.isfinite(t).all()):
        raise s.fail(f"{what} contains NaN or infinite values")


def _check_encode_decode(s: _Setup) -> None:
    model = s.build().eval()
    x = s.batch(model)
    with torch.no_grad():
        torch.manual_seed(s.seed)
        out = model(x)
        torch.manual_seed(s.seed)
        z = model.encode(x)
        recon = model.decode(z)
    if not torch.allclose(out.latent, z, rtol=1e-4, atol=1e-5):
        raise s.fail("in eval mode forward(x).latent differs from encode(x); forward must use the same code")
    if not torch.allclose(out.reconstruction, recon, rtol=1e-4, atol=1e-5):
        err = (out.reconstruction - recon).abs().max().item()
        raise s.fail(f"in eval mode forward(x).reconstruction differs from decode(encode(x)) (max |diff| {err:.3g})")


def _check_bad_input(s: _Setup) -> None:
    model = s.build().eval()
    x = s.batch(model)
    shape = tuple(model.input_shape)
    expected = ", ".join(str(d) for d in shape)
    wrong = torch.rand((x.shape[0], *shape[:-1], shape[-1] + 1), device=x.device)
    integer = torch.zeros(x.shape, dtype=torch.int64, device=x.device)
    nan = x.clone()
    nan.view(-1)[0] = float("nan")
    cases: list[tuple[str, Callable[[Tensor], Any], Tensor, str]] = [
        ("forward", model, wrong, expected),
        ("encode", model.encode, wrong, expected),
        ("loss", model.loss, wrong, expected),
        ("forward", model, x[0], expected),
        ("forward", model, integer, ""),
        ("loss", model.loss, integer, ""),
        ("forward", model, nan, ""),
        ("encode", model.encode, nan, ""),
        ("decode", model.decode, torch.rand(x.shape[0], model.latent_dim + 1, device=x.device), str(model.latent_dim)),
    ]
    for fn_name, fn, bad, mention in cases:
        what = f"{fn_name} on a {tuple(bad.shape)} {str(bad.dtype).replace('torch.', '')} tensor"
        what += " with a NaN" if bad is nan else ""
        try:
            fn(bad)
        except InputError as e:
            if mention and mention not in str(e):
                raise s.fail(f"{what}: the InputError should name the expected shape ({mention}); got: {e}") from None
        except Exception as e:
            raise s.fail(f"{what} raised {type(e).__name__}: {e}; it must raise aezoo.InputError") from None
        else:
            raise s.fail(f"{what} raised nothing; it must raise aezoo.InputError (validate in the public methods)")


def _loss_terms(s: _Setup, terms: Any, what: str, *, detached: bool = False) -> float:
    if not isinstance(terms, Mapping) or "loss" not in terms:
        raise s.fail(f"{what} must return a dict of named terms with key 'loss', got {terms!r}")
    for key, value in terms.items():
        if not isinstance(key, str) or not isinstance(value, Tensor):
            raise s.fail(f"{what} returned {key!r}: {value!r}; terms must be str -> Tensor")
        if detached and value.requires_grad:
            raise s.fail(f"{what}[{key!r}] requires grad; return detached terms (v.detach())")
    total = terms["loss"]
    if total.dim() != 0 or not total.is_floating_point():
        raise s.fail(f"{what}['loss'] must be a floating-point scalar, got shape {tuple(total.shape)} {total.dtype}")
    value = float(total.detach())
    if not math.isfinite(value):
        raise s.fail(f"{what}['loss'] is {value}, not finite")
    return value


def _check_loss(s: _Setup) -> None:
    model = s.build().train()
    terms = model.loss(s.batch(model))
    _loss_terms(s, terms, "loss(x)")
    if not terms["loss"].requires_grad:
        raise s.fail("loss(x)['loss'] does not require grad in train mode; it must depend on the parameters")


def _check_backward(s: _Setup) -> None:
    model = s.build().train()
    model.loss(s.batch(model))["loss"].backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    if not grads:
        raise s.fail("loss(x)['loss'].backward() gave no parameter a gradient")
    bad = [n for n, g in grads.items() if not bool(torch.isfinite(g).all())]
    if bad:
        raise s.fail(f"non-finite gradients in {bad}")
    if all(float(g.abs().sum()) == 0.0 for g in grads.values()):
        raise s.fail("every gradient of loss(x)['loss'] is zero")


def _check_training_step(s: _Setup) -> None:
    model = s.build().train()
    x = s.batch(model)
    opts = s.optimizers(model)
    torch.manual_seed(s.seed + 2)
    before = _loss_terms(s, model.loss(x), "loss(x)")
    for i in range(s.steps):
        _loss_terms(s, model.training_step(x, opts), f"training_step (step {i + 1})", detached=True)
    torch.manual_seed(s.seed + 2)
    after = _loss_terms(s, model.loss(x), "loss(x)")
    if not after < before:
        raise s.fail(
            f"{s.steps} training steps (Adam, lr={s.lr}) on one fixed batch did not lower loss(x)['loss']: "
            f"{before:.6g} -> {after:.6g}"
        )


def _check_determinism(s: _Setup) -> None:
    a, b = s.build(), s.build()
    _same_state(s, a, b, f"two models built after torch.manual_seed({s.seed})")
    x = s.batch(a)
    results = []
    for model in (a, b):
        model.train()
        opts = s.optimizers(model)
        torch.manual_seed(s.seed + 3)
        results.append(model.training_step(x, opts))
    for key in results[0]:
        if key not in results[1] or not torch.equal(results[0][key], results[1][key]):
            raise s.fail(f"the first training_step under the same seed gave different {key!r}")
    _same_state(s, a, b, "the same seed and the same first training_step")


def _same_state(s: _Setup, a: torch.nn.Module, b: torch.nn.Module, how: str) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    if list(sa) != list(sb):
        raise s.fail(f"{how} have different state_dict keys")
    diff = [k for k in sa if not torch.equal(sa[k], sb[k])]
    if diff:
        raise s.fail(f"{how} gave different tensors {diff[:5]}; draw all randomness from torch's generator")


def _check_save_load(s: _Setup) -> None:
    from ..io.serialization import read_config
    from ..loading.loader import load

    model = s.build().train()
    x = s.batch(model)
    model.training_step(x, s.optimizers(model))  # move the weights away from their init
    model.eval()
    with tempfile.TemporaryDirectory(prefix="aezoo-conformance-") as tmp:
        directory = Path(model.save_pretrained(Path(tmp) / "model"))
        saved = read_config(directory)
        if saved.get("architecture") != s.name:
            raise s.fail(f"config.json names architecture {saved.get('architecture')!r}, not {s.name!r}")
        loaded = load(directory)
    if type(loaded) is not s.cls:
        raise s.fail(f"aezoo.load gave a {type(loaded).__name__}, not a {s.cls.__name__}")
    if loaded.config != model.config:
        raise s.fail(f"aezoo.load gave config {loaded.config!r}, saved {model.config!r}")
    if loaded.training:
        raise s.fail("aezoo.load must return the model in eval mode")
    _same_state(s, model, loaded, "save_pretrained -> aezoo.load")
    with torch.no_grad():
        torch.manual_seed(s.seed)
        want = model(x).reconstruction
        torch.manual_seed(s.seed)
        got = loaded(x).reconstruction
    if not torch.equal(want, got):
        raise s.fail("the loaded model reconstructs differently from the saved one")


def _check_evaluation_metrics(s: _Setup) -> None:
    model = s.build().eval()
    x = s.batch(model)
    with torch.no_grad():
        metrics = model.evaluation_metrics(x)
    if not isinstance(metrics, Mapping):
        raise s.fail(f"evaluation_metrics must return a dict, got {type(metrics).__name__}")
    for key, value in metrics.items():
        if not isinstance(key, str) or not isinstance(value, Tensor) or tuple(value.shape) != (x.shape[0],):
            shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise s.fail(f"evaluation_metrics[{key!r}] must be a tensor of shape ({x.shape[0]},), got {shape}")
        if not bool(torch.isfinite(value).all()):
            raise s.fail(f"evaluation_metrics[{key!r}] has non-finite values")


def _check_capabilities(s: _Setup) -> None:
    """What ``capabilities`` declares is there and behaves: sample, corrupt, layer-wise stage."""
    from ..models.base import Capabilities

    caps = s.cls.capabilities
    if not isinstance(caps, Capabilities):
        raise s.fail(f"capabilities must be an aezoo.Capabilities, got {caps!r}")
    model = s.build().eval()
    x = s.batch(model)
    draws = []
    if caps.sample:
        for _ in range(2):
            with torch.no_grad():
                draws.append(cast(Any, model).sample(3, generator=torch.Generator().manual_seed(s.seed)))
            _expect_shape(s, "sample(3, generator=g)", draws[-1], (3, *model.input_shape))
    if caps.corrupt:
        for _ in range(2):
            draws.append(cast(Any, model).corrupt(x, generator=torch.Generator().manual_seed(s.seed)))
            _expect_shape(s, "corrupt(x, generator=g)", draws[-1], tuple(x.shape))
    for a, b in zip(draws[::2], draws[1::2], strict=True):
        if not torch.equal(a, b):
            raise s.fail("two draws from generators with the same seed differ; draw from the generator passed in")
    if caps.stage:
        _check_stage(s)


def _check_stage(s: _Setup) -> None:
    from ..models.base import StageSpec, StageWeights
    from ..models.mlp import DeepAE

    spec = StageSpec(in_dim=12, code_dim=5, activation="sigmoid", output_activation="sigmoid", loss="mse", noise=0.2)
    torch.manual_seed(s.seed)
    stage = s.cls.as_stage(spec)
    if not isinstance(stage, s.cls) or stage.input_shape != (12,) or stage.latent_dim != 5:
        raise s.fail(
            f"as_stage(StageSpec(in_dim=12, code_dim=5)) must build a {s.cls.__name__} with input_shape (12,) and "
            f"latent_dim 5, got {type(stage).__name__} with {stage.input_shape!r} and {stage.latent_dim!r}"
        )
    x = torch.rand(4, 12, generator=torch.Generator().manual_seed(s.seed))
    _loss_terms(s, stage.train().loss(x), "as_stage(spec).loss(x)")
    w = stage.stage_weights()
    want = {"encoder_weight": (5, 12), "encoder_bias": (5,), "decoder_weight": (12, 5), "decoder_bias": (12,)}
    if not isinstance(w, StageWeights) or any(tuple(getattr(w, k).shape) != v for k, v in want.items()):
        raise s.fail(f"stage_weights() must be an aezoo.StageWeights with shapes {want}, got {w!r}")
    deep = DeepAE.from_stages(
        [w], input_shape=(12,), activation="sigmoid", code_activation="sigmoid", output_activation="sigmoid"
    )
    stage.eval()
    with torch.no_grad():
        if not torch.allclose(deep.encode(x), stage.encode(x), atol=1e-5):
            raise s.fail(
                "a one-layer deep model built from stage_weights() encodes differently from the stage: "
                "stage_weights must be the stage's own encoder, and its code units the spec's activation"
            )
        if not torch.allclose(deep.decode(stage.encode(x)), stage.decode(stage.encode(x)), atol=1e-5):
            raise s.fail("a deep model built from stage_weights() decodes differently from the stage")


#: Every check by name, in the order :func:`check_architecture` runs them.
CHECKS: dict[str, Callable[[_Setup], None]] = {
    "declaration": _check_declaration,
    "config_json": _check_config_json,
    "shapes": _check_shapes,
    "encode_decode": _check_encode_decode,
    "bad_input": _check_bad_input,
    "loss": _check_loss,
    "backward": _check_backward,
    "training_step": _check_training_step,
    "determinism": _check_determinism,
    "save_load": _check_save_load,
    "evaluation_metrics": _check_evaluation_metrics,
    "capabilities": _check_capabilities,
}


# ---------------------------------------------------------------------------- public API
def _resolve(name_or_cls: str | type[Autoencoder]) -> type[Autoencoder]:
    if isinstance(name_or_cls, str):
        from ..registry.architectures import get_architecture

        return get_architecture(name_or_cls)
    return name_or_cls


def check_architecture(
    name_or_cls: str | type[Autoencoder],
    *,
    config_overrides: Mapping[str, Any] | None = None,
    batch_size: int = 4,
    steps: int = 8,
    seed: int = 0,
    lr: float = 1e-3,
    device: str = "cpu",
    checks: Iterable[str] | None = None,
) -> None:
    """Run the conformance checks on one architecture; raise :class:`ConformanceError` at the first failure.

    ``config_overrides`` are passed to ``from_config`` (keep models small); ``steps`` is how many
    ``training_step`` calls (Adam at ``lr``) must lower the loss on one fixed batch; ``checks``
    picks a subset of :data:`CHECKS`.

    >>> from aezoo.testing.conformance import check_architecture
    >>> check_architecture("linear", checks=["shapes", "save_load"])
    """
    names = list(CHECKS) if checks is None else list(checks)
    unknown = [c for c in names if c not in CHECKS]
    if unknown:
        raise ValueError(f"unknown conformance checks {unknown}; known: {', '.join(CHECKS)}")
    setup = _Setup(_resolve(name_or_cls), dict(config_overrides or {}), batch_size, steps, seed, lr, device)
    for check in names:
        CHECKS[check](dataclasses.replace(setup, check=check))


@dataclasses.dataclass(frozen=True)
class ConformanceCase:
    """One check on one architecture, for a parametrized test: ``case.run()``."""

    architecture: str  # registered name, resolved when the case runs
    check: str  # a key of CHECKS
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # check_architecture kwargs

    @property
    def id(self) -> str:
        return f"{self.architecture}-{self.check}"

    def run(self) -> None:
        check_architecture(self.architecture, checks=[self.check], **dict(self.options))


def conformance_cases(
    names: Iterable[str] | None = None,
    *,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    checks: Iterable[str] | None = None,
    **options: Any,
) -> list[ConformanceCase]:
    """One :class:`ConformanceCase` per (architecture, check); ``names`` defaults to ``aezoo.list_models()``.

    ``overrides`` maps an architecture name to its ``config_overrides`` (default: :data:`SMALL_CONFIGS`
    for aezoo's own, defaults for the rest); ``options`` go to
    :func:`check_architecture` (``batch_size``, ``steps``, ``seed``, ``lr``, ``device``).

    >>> [c.id for c in conformance_cases(["linear"], checks=["shapes"])]
    ['linear-shapes']
    """
    if names is None:
        from ..registry.architectures import list_models

        names = list_models()
    overrides = SMALL_CONFIGS if overrides is None else overrides
    picked = list(CHECKS) if checks is None else list(checks)
    return [
        ConformanceCase(name, check, {**options, "config_overrides": dict(overrides.get(name, {}))})
        for name in names
        for check in picked
    ]


def conformance_parametrize(names: Iterable[str] | None = None, **kwargs: Any) -> Any:
    """``pytest.mark.parametrize("case", conformance_cases(names, **kwargs))`` with readable ids."""
    import pytest

    cases = conformance_cases(names, **kwargs)
    return pytest.mark.parametrize("case", cases, ids=[c.id for c in cases])
