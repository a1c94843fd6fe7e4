"""Every registered architecture passes the conformance kit, and the kit catches what it should."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

import pytest
import torch
from torch import Tensor

import aezoo
from aezoo.models.linear import LinearAE, LinearConfig
from aezoo.testing.conformance import (
    CHECKS,
    SMALL_CONFIGS,
    SMALL_INPUT,
    ConformanceError,
    check_architecture,
    conformance_cases,
    conformance_parametrize,
)

SMALL = SMALL_INPUT


@conformance_parametrize()  # every registered architecture, aezoo's own with SMALL_CONFIGS
def test_zoo_conforms(case) -> None:
    case.run()


def test_cases_ids_and_options() -> None:
    cases = conformance_cases(["linear"], checks=["shapes", "save_load"], steps=3)
    assert [c.id for c in cases] == ["linear-shapes", "linear-save_load"]
    assert cases[0].options == {"steps": 3, "config_overrides": SMALL_CONFIGS["linear"]}
    assert conformance_cases(["linear"], overrides={}, checks=["shapes"])[0].options["config_overrides"] == {}
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


class _SampleIgnoresGenerator(LinearAE):
    architecture = "samplenogen"
    capabilities = aezoo.Capabilities(sample=True)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return self.decode(torch.randn(n, self.latent_dim))  # the global generator, not the one passed in


class _StageWithForeignWeights(LinearAE):
    architecture = "badstage"
    capabilities = aezoo.Capabilities(stage=True)

    @classmethod
    def as_stage(cls, spec: aezoo.StageSpec) -> LinearAE:
        return cls(LinearConfig(input_shape=(spec.in_dim,), latent_dim=spec.code_dim))

    def stage_weights(self) -> aezoo.StageWeights:
        n, k = self.input_shape[0], self.latent_dim
        return aezoo.StageWeights(torch.zeros(k, n), torch.zeros(k), torch.zeros(n, k), torch.zeros(n), False)


@pytest.mark.parametrize(
    ("cls", "check", "message"),
    [
        (_Unregistered, "declaration", "is not in the registry"),
        (_NoApiVersion, "declaration", "declare `api_version = 1`"),
        (_NoValidation, "bad_input", "encode on a (4, 1, 8, 9) float32 tensor raised RuntimeError"),
        (_VectorLoss, "loss", "loss(x)['loss'] must be a floating-point scalar, got shape (4,)"),
        (_NoTraining, "training_step", "did not lower loss(x)['loss']"),
        (_Random, "determinism", "two models built after torch.manual_seed(0) gave different tensors"),
        (_SampleIgnoresGenerator, "capabilities", "draw from the generator passed in"),
        (_StageWithForeignWeights, "capabilities", "encodes differently from the stage"),
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


@dataclasses.dataclass(frozen=True)
class _NoLatentConfig(aezoo.AEConfig):
    width: int = 3  # a plugin config that forgot latent_dim


class _NoLatent(LinearAE):
    architecture = "nolatent"
    config_class = _NoLatentConfig

    def __init__(self, config: _NoLatentConfig) -> None:
        aezoo.Autoencoder.__init__(self, config)


def test_a_config_without_latent_dim_is_a_clear_error() -> None:
    model = _NoLatent(_NoLatentConfig())
    with pytest.raises(aezoo.ConfigError, match=r"_NoLatentConfig has no latent_dim.*docs/plugins\.md"):
        _ = model.latent_dim
