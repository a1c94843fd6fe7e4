"""Every registered architecture passes the conformance kit, and the kit catches what it should."""

from __future__ import annotations

import os
from collections.abc import Mapping

import pytest
import torch
from torch import Tensor

import aezoo
from aezoo.models.linear import LinearAE, LinearConfig
from aezoo.testing.conformance import (
    CHECKS,
    ConformanceError,
    check_architecture,
    conformance_cases,
    conformance_parametrize,
)

SMALL = (1, 8, 8)
# Small configs so that the whole zoo runs in seconds; an architecture not listed runs with defaults.
OVERRIDES = {
    "aae": {"input_shape": SMALL, "hidden_dims": (32,), "disc_hidden_dims": (32,)},
    "conv": {"input_shape": SMALL, "channels": (4, 8), "latent_dim": 4},
    "deep": {"input_shape": SMALL, "dims": (64, 32, 16, 8)},
    "denoising": {"input_shape": SMALL, "dims": (64, 16)},
    "linear": {"input_shape": SMALL},
    "mlp": {"input_shape": SMALL, "dims": (64, 8)},
    "sparse": {"input_shape": SMALL, "dims": (64, 16)},
    "stacked": {"input_shape": SMALL, "dims": (64, 16, 8)},
    "tied": {"input_shape": SMALL, "dims": (64, 16, 8)},
    "vae": {"input_shape": SMALL, "hidden_dims": (32,), "latent_dim": 4},
}


@conformance_parametrize(overrides=OVERRIDES)
def test_zoo_conforms(case) -> None:
    case.run()


def test_cases_ids_and_options() -> None:
    cases = conformance_cases(["linear"], overrides=OVERRIDES, checks=["shapes", "save_load"], steps=3)
    assert [c.id for c in cases] == ["linear-shapes", "linear-save_load"]
    assert cases[0].options == {"steps": 3, "config_overrides": OVERRIDES["linear"]}
    assert [c.check for c in conformance_cases(["linear"])] == list(CHECKS)


def test_unknown_check_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown conformance checks"):
        check_architecture("linear", checks=["nope"])


# ------------------------------------------------------------------ the kit catches breakage
class _Unregistered(LinearAE):
    architecture = "unregistered"
    api_version = aezoo.PLUGIN_API_VERSION


class _NoApiVersion(LinearAE):
    architecture = "noapi"


class _NoValidation(LinearAE):
    architecture = "novalidation"

    def encode(self, x: Tensor) -> Tensor:  # skips the base class's checks
        return self._encode(x)


class _VectorLoss(LinearAE):
    architecture = "vectorloss"

    def _loss(self, x: Tensor) -> dict[str, Tensor]:
        return {"loss": (self(x).reconstruction - x).pow(2).flatten(1).mean(1)}


class _NoTraining(LinearAE):
    architecture = "notraining"

    def training_step(self, x: Tensor, optimizers: Mapping[str, torch.optim.Optimizer]) -> dict[str, Tensor]:
        return {k: v.detach() for k, v in self.loss(x).items()}


class _Random(LinearAE):
    architecture = "random"

    def __init__(self, config: LinearConfig) -> None:
        super().__init__(config)
        gen = torch.Generator().manual_seed(int.from_bytes(os.urandom(4), "little"))  # not torch's seed
        with torch.no_grad():
            self.encoder.weight.copy_(torch.randn(self.encoder.weight.shape, generator=gen))


@pytest.mark.parametrize(
    ("cls", "check", "message"),
    [
        (_Unregistered, "declaration", "is not in the registry"),
        (_NoApiVersion, "declaration", "declare `api_version = 1`"),
        (_NoValidation, "bad_input", "encode on a (4, 1, 8, 9) float32 tensor raised RuntimeError"),
        (_VectorLoss, "loss", "loss(x)['loss'] must be a floating-point scalar, got shape (4,)"),
        (_NoTraining, "training_step", "did not lower loss(x)['loss']"),
        (_Random, "determinism", "two models built after torch.manual_seed(0) gave different tensors"),
    ],
)
def test_kit_reports_breakage(cls: type, check: str, message: str) -> None:
    with pytest.raises(ConformanceError) as info:
        check_architecture(cls, config_overrides={"input_shape": SMALL}, checks=[check])
    assert f"{cls.architecture} [{check}]: " in str(info.value)
    assert message in str(info.value)
    assert isinstance(info.value, AssertionError)


def test_kit_reports_unbuildable_overrides() -> None:
    with pytest.raises(ConformanceError, match=r"linear \[shapes\]: LinearAE.from_config.*ConfigError.*latnt_dim"):
        check_architecture("linear", config_overrides={"latnt_dim": 3}, checks=["shapes"])
