"""Drift detection in a model's code space: is a batch of new data distributed like the reference?

:class:`DriftDetector` encodes a reference set once and tests each new batch against it with two
two-sample tests on the codes (:mod:`aezoo.applications.two_sample`): the maximum mean discrepancy
(unbiased MMD², Gaussian kernel, bandwidth by the median heuristic on the reference, permutation
p-value) and a Kolmogorov-Smirnov test per code dimension (Holm-corrected). Its files are
:mod:`aezoo.io.drift`'s.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from .._version import __version__
from ..core import seeding
from ..core.errors import ConfigError, InputError, unknown_name
from ..data import Dataset, DeviceDataset, StreamedDataset
from ..data.streaming import BUDGET_ENV, memory_budget
from ..io.detector import check_paired_weights, weights_sha256
from ..io.drift import DRIFT_FORMAT, DRIFT_KIND, read_drift, write_drift
from ..loading import load
from ._batches import check_batch_size
from .features import reduce
from .two_sample import holm, kernel_bytes, ks_p_values, ks_statistics, median_bandwidth, mmd_permutation_test

if TYPE_CHECKING:
    from ..models.base import Autoencoder

__all__ = ["RULES", "DriftDetector", "DriftResult"]

#: How the two tests decide "drift" at level alpha (see :class:`DriftDetector`).
RULES = ("combined", "mmd", "ks")


@dataclasses.dataclass(frozen=True)
class DriftResult:
    """One batch tested against the reference: the decision, and the evidence behind it."""

    drift: bool  # p_value <= alpha: the batch is not distributed like the reference
    p_value: float  # the rule's p-value (combined: min(1, 2 min(mmd_p_value, min ks_p_values)))
    alpha: float  # the level the decision was taken at
    rule: str  # "combined", "mmd" or "ks"
    mmd2: float  # unbiased MMD² estimate (can be < 0 under no drift)
    mmd_p_value: float  # permutation p-value of mmd2
    ks_statistics: tuple[float, ...]  # per code dimension: sup |F_reference - F_batch|
    ks_p_values: tuple[float, ...]  # per code dimension, Holm-adjusted
    drifted_dimensions: tuple[int, ...]  # dimensions whose adjusted KS p-value <= the KS level
    correction: str  # "holm"
    n: int  # samples in the batch
    n_reference: int  # reference codes it was tested against
    bandwidth: float  # of the Gaussian kernel
    n_permutations: int

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


class DriftDetector:
    """Tests whether new data drifted away from a reference, in the model's code space.

    :meth:`fit` encodes the reference once (at most ``max_reference`` samples, a random subset
    fixed by ``seed``) and sets the Gaussian kernel's bandwidth to the median pairwise distance of
    the reference codes. :meth:`test` encodes a batch and runs two tests of "the batch comes from
    the reference distribution":

    * **MMD**: the unbiased MMD² between reference and batch codes, with a permutation p-value
      (``n_permutations`` random splits of the pooled codes, from a generator seeded with ``seed``
      for every batch: the same batch always gets the same p-value);
    * **KS**: a two-sample Kolmogorov-Smirnov test per code dimension, the p-values adjusted by
      Holm's method (the dimensions are dependent; Holm holds the family-wise error at any
      dependence, flags "some dimension" exactly when Bonferroni would, and names at least as many
      dimensions).

    ``rule`` decides: ``"combined"`` (the default) flags drift when either test rejects at
    ``alpha / 2`` (Bonferroni over the two: the false-positive rate stays at most ``alpha``, the
    result's ``p_value`` is ``min(1, 2 min(mmd_p_value, min ks_p_values))``); ``"mmd"`` uses the
    MMD p-value alone, ``"ks"`` the smallest adjusted KS p-value alone. Drift is
    ``p_value <= alpha``. BENCHMARKS.md measures the false-positive rate and the power of each rule.

    Cost: a test holds the kernel matrix of ``n_reference + n`` codes; a batch over ``max_batch``
    samples, or whose test would not fit in the memory budget (``$AEZOO_MEMORY_BUDGET``, default
    half the memory available), is refused up front with an ``InputError`` that says how to
    reduce it. :meth:`save` writes JSON and the codes as safetensors (no pickle); :meth:`load`
    refuses a model with other weights than the reference was encoded with.

    >>> import aezoo, torch
    >>> model = aezoo.create("linear", input_shape=(1, 8, 8), latent_dim=2)
    >>> detector = DriftDetector.fit(model, torch.rand(300, 1, 8, 8), n_permutations=200)
    >>> detector.test(torch.rand(100, 1, 8, 8) + 0.5).drift
    True
    """

    def __init__(
        self,
        model: Autoencoder,
        reference_codes: Tensor,
        *,
        bandwidth: float,
        alpha: float = 0.05,
        n_permutations: int = 1000,
        rule: str = "combined",
        seed: int = 0,
        max_reference: int = 2000,
        max_batch: int = 5000,
        n_reference_total: int | None = None,
        model_ref: str | None = None,
        batch_size: int = 1000,
    ) -> None:
        _check_settings(alpha, n_permutations, rule, max_reference, max_batch)
        check_batch_size(batch_size)
        self.model = model
        self.reference_codes = reference_codes.detach().float().cpu().contiguous()  # (n_reference, latent_dim)
        self.bandwidth = float(bandwidth)
        self.alpha = float(alpha)
        self.n_permutations = n_permutations
        self.rule = rule
        self.correction = "holm"
        self.seed = seeding.check_seed(seed)
        self.max_reference = max_reference
        self.max_batch = max_batch
        self.n_reference_total = len(self.reference_codes) if n_reference_total is None else int(n_reference_total)
        self.model_ref = model_ref  # how to load the model again (a directory, name or hf-hub: ref)
        self.batch_size = batch_size  # of encoding
        self._sorted = self.reference_codes.T.contiguous().sort(1).values  # (latent_dim, n_reference), for KS

    def __repr__(self) -> str:
        return (
            f"DriftDetector(model={self.model_ref or self.model.architecture!r}, n_reference={self.n_reference}, "
            f"rule={self.rule!r}, alpha={self.alpha}, bandwidth={self.bandwidth:.4g})"
        )

    @property
    def n_reference(self) -> int:
        """How many reference codes the detector holds and tests against."""
        return len(self.reference_codes)

    @classmethod
    def fit(
        cls,
        model: Autoencoder,
        reference: Tensor | Dataset,
        *,
        alpha: float = 0.05,
        n_permutations: int = 1000,
        rule: str = "combined",
        max_reference: int = 2000,
        max_batch: int = 5000,
        seed: int = 0,
        model_ref: str | None = None,
        batch_size: int = 1000,
    ) -> DriftDetector:
        """Encode ``reference`` (a dataset, or a tensor of model inputs) and keep its codes.

        At most ``max_reference`` samples are encoded: beyond that, a random subset drawn with
        ``seed`` (the same one every time). ``batch_size`` is the encoding's; ``model_ref`` is stored
        by :meth:`save` so :meth:`load` can find the model again. See the class for the rest.

        >>> import aezoo, torch
        >>> DriftDetector.fit(aezoo.create("linear"), torch.rand(50, 1, 28, 28), max_reference=20).n_reference
        20
        """
        _check_settings(alpha, n_permutations, rule, max_reference, max_batch)
        seed = seeding.check_seed(seed)
        n_total = len(reference)
        if n_total < 2:
            raise InputError(f"the reference needs at least 2 samples, got {n_total}")
        if n_total > max_reference:
            keep = torch.randperm(n_total, generator=seeding.generator(seed))[:max_reference].sort().values
            reference = _subset(reference, keep)
        codes = _codes(model, reference, batch_size, "reference")
        return cls(
            model,
            codes,
            bandwidth=median_bandwidth(codes),
            alpha=alpha,
            n_permutations=n_permutations,
            rule=rule,
            seed=seed,
            max_reference=max_reference,
            max_batch=max_batch,
            n_reference_total=n_total,
            model_ref=model_ref,
            batch_size=batch_size,
        )

    # ------------------------------------------------------------------ tests
    def encode(self, x: Tensor | Dataset) -> Tensor:
        """The codes of ``x`` ``(N, latent_dim)``, float32 on the CPU, as :meth:`test` sees them."""
        return _codes(self.model, x, self.batch_size, "batch")

    def test(self, x: Tensor | Dataset) -> DriftResult:
        """Test one batch of new data (a dataset, or a tensor of model inputs) against the reference.

        >>> import aezoo, torch
        >>> model = aezoo.create("linear", input_shape=(1, 8, 8), latent_dim=2)
        >>> d = DriftDetector.fit(model, torch.rand(200, 1, 8, 8), n_permutations=100)
        >>> d.test(torch.rand(50, 1, 8, 8)).n
        50
        """
        self._check_batch(len(x))
        return self.test_codes(self.encode(x))

    def test_batches(self, x: Tensor | Dataset, batch_size: int) -> list[DriftResult]:
        """Test ``x`` in consecutive batches of ``batch_size`` samples, one result each.

        The last batch may be smaller; a single sample left over is no test and is left out. Each
        batch is a test at level ``alpha``: over many batches of undrifted data, about ``alpha`` of
        them are flagged.
        """
        check_batch_size(batch_size)
        self._check_batch(min(batch_size, len(x)))
        codes = self.encode(x)
        starts = [i for i in range(0, len(codes), batch_size) if len(codes) - i >= 2]
        return [self.test_codes(codes[i : i + batch_size]) for i in starts]

    def with_settings(
        self, *, alpha: float | None = None, rule: str | None = None, n_permutations: int | None = None
    ) -> DriftDetector:
        """A copy that tests at another ``alpha``, by another ``rule`` or with another number of permutations.

        The reference codes and the bandwidth are shared; settings left out (``None``) are kept.
        """
        return type(self)(
            self.model,
            self.reference_codes,
            bandwidth=self.bandwidth,
            alpha=self.alpha if alpha is None else alpha,
            n_permutations=self.n_permutations if n_permutations is None else n_permutations,
            rule=self.rule if rule is None else rule,
            seed=self.seed,
            max_reference=self.max_reference,
            max_batch=self.max_batch,
            n_reference_total=self.n_reference_total,
            model_ref=self.model_ref,
            batch_size=self.batch_size,
        )

    def test_codes(self, codes: Tensor) -> DriftResult:
        """:meth:`test` on codes already computed (``(n, latent_dim)``, e.g. from :meth:`encode`)."""
        codes = torch.as_tensor(codes).detach()
        if codes.ndim != 2 or codes.shape[1] != self.reference_codes.shape[1]:
            raise InputError(
                f"expected codes of shape (n, {self.reference_codes.shape[1]}) (the model's latent_dim), "
                f"got {tuple(codes.shape)}"
            )
        n = len(codes)
        if n < 2:
            raise InputError(f"a drift test needs a batch of at least 2 samples, got {n}")
        self._check_batch(n)
        if not codes.isfinite().all():
            raise InputError(
                "the batch's codes hold NaN or infinite values; the data (or the model's weights) are not finite"
            )
        device = self.model.device
        gen = seeding.generator(self.seed)  # fresh for every batch: a batch's p-value never depends on the order
        mmd2, mmd_p = mmd_permutation_test(
            self.reference_codes.to(device),
            codes.to(device),
            self.bandwidth,
            n_permutations=self.n_permutations,
            generator=gen,
        )
        stats = ks_statistics(self._sorted.to(device), codes.to(device)).numpy()
        adjusted = holm(ks_p_values(stats, self.n_reference, n))
        ks_min = float(adjusted.min())
        ks_level = self.alpha / 2 if self.rule == "combined" else self.alpha
        p_value = {"mmd": mmd_p, "ks": ks_min, "combined": min(1.0, 2 * min(mmd_p, ks_min))}[self.rule]
        return DriftResult(
            drift=bool(p_value <= self.alpha),
            p_value=float(p_value),
            alpha=self.alpha,
            rule=self.rule,
            mmd2=float(mmd2),
            mmd_p_value=float(mmd_p),
            ks_statistics=tuple(float(s) for s in stats),
            ks_p_values=tuple(float(p) for p in adjusted),
            drifted_dimensions=tuple(int(i) for i in np.flatnonzero(adjusted <= ks_level)),
            correction=self.correction,
            n=n,
            n_reference=self.n_reference,
            bandwidth=self.bandwidth,
            n_permutations=self.n_permutations,
        )

    def _check_batch(self, n: int) -> None:
        """A batch of ``n`` samples must be at most ``max_batch`` and its test must fit the memory budget."""
        if n > self.max_batch:
            raise InputError(
                f"a batch of {n} samples is over max_batch={self.max_batch}: the test's kernel matrix grows as "
                f"(n_reference + n)²; test it in batches of at most {self.max_batch} "
                f"(detector.test_batches(x, {self.max_batch}), aezoo drift --batch-size {self.max_batch}), "
                "or set detector.max_batch higher if the memory is there"
            )
        needed, budget = kernel_bytes(self.n_reference, n, self.n_permutations), memory_budget(self.model.device)
        if needed > budget:
            sizes = (5000, 2000, 1000, 500, 200, 100, 50)
            m, perms = self.n_reference, self.n_permutations
            fits = next((b for b in sizes if b < n and kernel_bytes(m, b, perms) <= budget), 2)
            raise InputError(
                f"testing a batch of {n} samples against {self.n_reference} reference codes needs about "
                f"{needed / 2**20:.0f} MiB (the kernel matrix of {self.n_reference + n} codes), more than the "
                f"{budget / 2**20:.0f} MiB allowed (half the memory available, or ${BUDGET_ENV}); test in smaller "
                f"batches (e.g. {fits}: detector.test_batches(x, {fits}), aezoo drift --batch-size {fits}) "
                "or fit with a smaller max_reference"
            )

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready data (what :meth:`save` writes beside the codes; see :mod:`aezoo.io.drift`)."""
        return {
            "aezoo_version": __version__,
            "format": DRIFT_FORMAT,
            "kind": DRIFT_KIND,
            "model": self.model_ref,
            "architecture": self.model.architecture,
            "weights_sha256": weights_sha256(self.model.state_dict()),
            "latent_dim": int(self.reference_codes.shape[1]),
            "alpha": self.alpha,
            "rule": self.rule,
            "correction": self.correction,
            "n_permutations": self.n_permutations,
            "seed": self.seed,
            "bandwidth": self.bandwidth,
            "bandwidth_rule": "median",
            "max_reference": self.max_reference,
            "max_batch": self.max_batch,
            "n_reference": self.n_reference,
            "n_reference_total": self.n_reference_total,
        }

    def save(self, path: str | Path) -> Path:
        """Write the detector to ``path`` (a ``.json`` file) and its codes beside it (``NAME.codes.safetensors``).

        The model's weights are not copied: :meth:`load` finds the model through ``model_ref``
        (or takes it as an argument) and checks it is the one the reference was encoded with.
        """
        return write_drift(path, self.to_dict(), self.reference_codes)

    @classmethod
    def load(
        cls,
        path: str | Path,
        model: Autoencoder | None = None,
        *,
        device: str | None = None,
        allow_other_model: bool = False,
    ) -> DriftDetector:
        """Read a detector written by :meth:`save`, with ``model`` or else ``aezoo.load(model_ref)``.

        The model must hold the weights the reference was encoded with (a ``ConfigError``
        otherwise: its codes would not be comparable); ``allow_other_model=True`` pairs them anyway.

        >>> detector = DriftDetector.load("drift.json")  # doctest: +SKIP
        """
        data, codes = read_drift(path, rules=RULES)
        if model is None:
            if not data.get("model"):
                raise InputError(
                    f"{path} names no model (it was fitted without model_ref); pass the model: "
                    "DriftDetector.load(path, model)"
                )
            model = load(str(data["model"]), device=device)
        if model.latent_dim != data["latent_dim"]:
            raise ConfigError(
                f"{path} holds codes of size {data['latent_dim']}, but the {model.architecture!r} model it is "
                f"loaded with has latent_dim={model.latent_dim}; load it with the model it was fitted on"
            )
        if not allow_other_model:
            check_paired_weights(
                path,
                data["weights_sha256"],
                model.state_dict(),
                architecture=model.architecture,
                kind="DriftDetector",
                verb="fitted",
                owned="its reference codes belong",
                again="fit again (DriftDetector.fit(model, reference))",
            )
        return cls(
            model,
            codes,
            bandwidth=data["bandwidth"],
            alpha=data["alpha"],
            n_permutations=data["n_permutations"],
            rule=data["rule"],
            seed=data["seed"],
            max_reference=data["max_reference"],
            max_batch=data["max_batch"],
            n_reference_total=data["n_reference_total"],
            model_ref=data.get("model"),
        )


def _codes(model: Autoencoder, data: Tensor | Dataset, batch_size: int, what: str) -> Tensor:
    codes = reduce(model, data, batch_size=batch_size).detach().float().cpu()
    if not codes.isfinite().all():
        raise InputError(
            f"the {what}'s codes hold NaN or infinite values; the data or the model's weights are not finite "
            "(check both, e.g. torch.isfinite(x).all())"
        )
    return codes


def _subset(data: Tensor | Dataset, index: Tensor) -> Tensor | Dataset:
    if isinstance(data, (DeviceDataset, StreamedDataset)):
        return data.subset(index.to(data.device))
    if isinstance(data, Tensor):
        return data[index.to(data.device)]
    return data  # not data at all: reduce() says what it expected


def _check_settings(alpha: float, n_permutations: int, rule: str, max_reference: int, max_batch: int) -> None:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise InputError(f"alpha must be a number strictly between 0 and 1 (e.g. 0.05), got {alpha!r}")
    if rule not in RULES:
        raise unknown_name("drift rule", rule, RULES)
    for name, value, least in (("n_permutations", n_permutations, 1), ("max_reference", max_reference, 2)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise InputError(f"{name} must be an integer >= {least}, got {value!r}")
    if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 2:
        raise InputError(f"max_batch must be an integer >= 2, got {max_batch!r}")
    level = alpha / 2 if rule == "combined" else alpha  # what the MMD p-value is compared with
    if rule != "ks" and n_permutations + 1 < 1 / level:
        raise InputError(
            f"n_permutations={n_permutations} cannot reach a p-value of {level:g} (rule {rule!r}, alpha={alpha}): "
            f"the smallest permutation p-value is 1 / (n_permutations + 1); use at least "
            f"{math.ceil(1 / level - 1e-9) - 1} (1000 is the default)"
        )
