"""Two-sample tests on codes: the unbiased MMD² with a Gaussian kernel and its permutation test, and
per-dimension Kolmogorov-Smirnov tests with Holm's correction.

What :class:`aezoo.applications.drift.DriftDetector` decides with, kept apart from the detector so each
statistic can be checked on its own (``tests/test_drift.py`` checks them against hand-computed values
and against scipy). scipy is not needed: the Kolmogorov distribution is computed here, exactly for
small samples and by its asymptotic series (with Stephens' finite-sample correction) otherwise.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from ..core.errors import InputError

__all__ = [
    "EXACT_KS_MAX",
    "holm",
    "kernel_bytes",
    "ks_p_values",
    "ks_statistics",
    "median_bandwidth",
    "mmd2_unbiased",
    "mmd_permutation_test",
    "rbf_kernel",
]

#: KS p-values are exact (lattice paths) when ``m * n`` is at most this, asymptotic beyond (scipy's old rule).
EXACT_KS_MAX = 10_000
_CHUNK_BYTES = 64 << 20  # working memory of one chunk of permutations
_BANDWIDTH_SAMPLES = 2000  # reference codes the median heuristic looks at (their pairwise distances)


def rbf_kernel(x: Tensor, y: Tensor, bandwidth: float) -> Tensor:
    """The Gaussian kernel matrix ``exp(-|x_i - y_j|² / (2 bandwidth²))``, ``(len(x), len(y))``.

    Distances are computed pairwise, not through a matrix product, so they do not lose digits to
    cancellation when codes are large.

    >>> rbf_kernel(torch.zeros(1, 2), torch.tensor([[3.0, 4.0]]), 5.0)
    tensor([[0.6065]])
    """
    d = torch.cdist(x.float(), y.float(), compute_mode="donot_use_mm_for_euclid_dist")
    return torch.exp(-d.square() / (2 * bandwidth**2))


def median_bandwidth(reference: Tensor) -> float:
    """The median heuristic: the median Euclidean distance between pairs of (up to 2000) reference codes.

    The first 2000 codes are used (the detector stores a random subsample, so they are a random
    sample too). ``InputError`` when every code is the same point: no bandwidth separates them.

    >>> median_bandwidth(torch.tensor([[0.0], [1.0], [3.0]]))
    2.0
    """
    z = reference[:_BANDWIDTH_SAMPLES].float()
    if len(z) < 2:
        raise InputError(f"the median bandwidth needs at least 2 reference codes, got {len(z)}")
    d = torch.cdist(z, z, compute_mode="donot_use_mm_for_euclid_dist")
    i, j = torch.triu_indices(len(z), len(z), offset=1, device=z.device)
    # the lower median of the n(n-1)/2 distances: a distance that occurs, no interpolation
    bandwidth = float(d[i, j].median())
    if not bandwidth > 0 or not math.isfinite(bandwidth):
        raise InputError(
            f"the reference codes have a median pairwise distance of {bandwidth!r}: at least half of them are "
            "the same point, so no kernel bandwidth separates them; give more varied reference data "
            "(or a model whose codes vary)"
        )
    return bandwidth


def _mmd2_from_sums(s_gg: Tensor, d_g: Tensor, r_g: Tensor, total: float, trace: float, g: int, h: int) -> Tensor:
    """Unbiased MMD² of groups G (size g) and H (size h) from sums over the pooled kernel matrix K.

    ``s_gg`` = sum of K over G × G, ``d_g`` = its diagonal part, ``r_g`` = sum over G × all;
    ``total`` and ``trace`` are K's sum and trace. The estimator is symmetric in the two groups.
    """
    s_gh = r_g - s_gg
    s_hh = total - 2 * r_g + s_gg
    d_h = trace - d_g
    return (s_gg - d_g) / (g * (g - 1)) + (s_hh - d_h) / (h * (h - 1)) - 2 * s_gh / (g * h)


def mmd2_unbiased(x: Tensor, y: Tensor, bandwidth: float) -> float:
    """The unbiased estimate of MMD² between samples ``x`` (m, d) and ``y`` (n, d), Gaussian kernel.

    ``mean_{i≠j} k(x_i, x_j) + mean_{i≠j} k(y_i, y_j) - 2 mean_{i,j} k(x_i, y_j)`` (Gretton et al.
    2012, eq. 3); it can be negative when the samples come from one distribution.

    >>> round(mmd2_unbiased(torch.tensor([[0.0], [1.0]]), torch.tensor([[0.0], [2.0]]), 1.0), 4)
    -0.4323
    """
    return mmd_permutation_test(x, y, bandwidth, n_permutations=0)[0]


def kernel_bytes(m: int, n: int, n_permutations: int = 1000) -> int:
    """Working memory of :func:`mmd_permutation_test` on ``m`` and ``n`` codes, in bytes (an upper bound).

    The pooled kernel matrix twice (the distances, then the kernel; float32) and one chunk of
    permutations (at most 64 MiB, or what one permutation needs).
    """
    big = m + n
    chunk = big * _PER_PERMUTATION
    return 2 * big * big * 4 + max(chunk, min(_CHUNK_BYTES, chunk * n_permutations))


_PER_PERMUTATION = 28  # bytes per pooled code and permutation: draws, ranks, indicator, its product with K


def mmd_permutation_test(
    x: Tensor,
    y: Tensor,
    bandwidth: float,
    *,
    n_permutations: int = 1000,
    generator: torch.Generator | None = None,
) -> tuple[float, float]:
    """``(mmd2, p_value)``: the unbiased MMD² of ``x`` and ``y`` and its permutation p-value.

    Each permutation splits the pooled codes at random into groups of the sizes of ``x`` and ``y``
    (drawn from ``generator``, a CPU generator, default seed 0: the same seed gives the same
    p-value on any device); the p-value is ``(1 + #{permuted MMD² >= observed}) / (1 + n_permutations)``,
    valid at every level (``P(p <= a) <= a`` when both samples come from one distribution). The
    kernel matrix of the pooled codes is computed once; a permutation costs one product of its
    group indicator with it (:func:`kernel_bytes` says how much memory that takes).
    ``n_permutations=0`` gives ``p_value = 1.0``.

    >>> g = torch.Generator().manual_seed(0)
    >>> mmd2, p = mmd_permutation_test(torch.randn(50, 2), torch.randn(50, 2) + 2, 1.0, generator=g)
    >>> p < 0.01
    True
    """
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise InputError(f"the unbiased MMD² needs at least 2 codes in each sample, got {m} and {n}")
    pooled = torch.cat([x.float(), y.to(x.device).float()])
    k = rbf_kernel(pooled, pooled, bandwidth)
    rows = k.sum(1, dtype=torch.float64)
    diag = k.diagonal().double()
    total, trace = float(rows.sum()), float(diag.sum())
    g = min(m, n)  # the sums of the smaller group G decide the statistic (it is symmetric)
    h = m + n - g

    def stats(idx: Tensor) -> Tensor:  # idx (c, g): positions of group G in the pooled codes
        idx = idx.to(k.device)
        a = torch.zeros(len(idx), m + n, device=k.device).scatter_(1, idx, 1.0)
        s_gg = ((a @ k) * a).sum(1, dtype=torch.float64)
        return _mmd2_from_sums(s_gg, diag[idx].sum(1), rows[idx].sum(1), total, trace, g, h)

    observed_g = torch.arange(m, m + n) if n <= m else torch.arange(m)
    observed = float(stats(observed_g.unsqueeze(0))[0])
    if n_permutations == 0:
        return observed, 1.0
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    chunk = max(1, min(n_permutations, _CHUNK_BYTES // ((m + n) * _PER_PERMUTATION)))
    at_least, done = 0, 0
    while done < n_permutations:
        c = min(chunk, n_permutations - done)
        idx = torch.rand(c, m + n, generator=gen).topk(g, 1).indices  # a uniform random g-subset per row
        at_least += int((stats(idx) >= observed).sum())
        done += c
    return observed, (1 + at_least) / (1 + n_permutations)


# ----------------------------------------------------------------------------- Kolmogorov-Smirnov
def ks_statistics(reference_sorted: Tensor, codes: Tensor) -> Tensor:
    """The two-sample KS statistic of every dimension: ``sup |F_ref - F_new|``, ``(d,)`` float64.

    ``reference_sorted`` is ``(d, m)``, each row one dimension's reference values in ascending
    order; ``codes`` is ``(n, d)``.

    >>> ks_statistics(torch.tensor([[0.0, 1.0, 2.0]]), torch.tensor([[5.0], [6.0]])).tolist()
    [1.0]
    """
    ref = reference_sorted.float().contiguous()
    new = codes.to(ref.device).float().T.contiguous().sort(1).values
    pooled = torch.cat([ref, new], 1)
    f_ref = torch.searchsorted(ref, pooled, right=True).double() / ref.shape[1]
    f_new = torch.searchsorted(new, pooled, right=True).double() / new.shape[1]
    return (f_ref - f_new).abs().amax(1).cpu()


def ks_p_values(statistics: Tensor | np.ndarray, m: int, n: int) -> np.ndarray:
    """Two-sided p-values ``P(D >= d)`` of two-sample KS statistics for samples of sizes ``m`` and ``n``.

    Exact when ``m * n <= EXACT_KS_MAX`` (the lattice-path count of Hodges 1957: the share of the
    ``C(m+n, m)`` orderings of the pooled samples whose empirical CDFs stay closer than ``d``),
    otherwise the Kolmogorov distribution ``Q(λ) = 2 Σ (-1)^(k-1) exp(-2k²λ²)`` at
    ``λ = (√e + 0.12 + 0.11/√e) d``, ``e = mn/(m+n)`` (Stephens 1970; Numerical Recipes' ``probks``).
    Both assume continuous data (no ties), as codes are.

    >>> ks_p_values(np.array([1.0]), 3, 3).round(4).tolist()  # 2 of the C(6, 3) = 20 orderings
    [0.1]
    """
    d = np.clip(np.asarray(statistics, dtype=np.float64).reshape(-1), 0.0, 1.0)
    if m * n <= EXACT_KS_MAX:
        return _ks_exact(d, m, n)
    e = m * n / (m + n)
    return _kolmogorov_sf((math.sqrt(e) + 0.12 + 0.11 / math.sqrt(e)) * d)


def _kolmogorov_sf(lam: np.ndarray) -> np.ndarray:
    """``P(K > λ)`` of the Kolmogorov distribution, by whichever of its two series converges fast."""
    lam = np.asarray(lam, dtype=np.float64)
    out = np.ones_like(lam)
    k = np.arange(1, 101, dtype=np.float64)[:, None]
    small = (lam > 0) & (lam < 1.18)
    if small.any():  # the theta-function form of the CDF: few terms when λ is small
        ls = lam[small]
        cdf = math.sqrt(2 * math.pi) / ls * np.exp(-((2 * k - 1) ** 2) * math.pi**2 / (8 * ls**2)).sum(0)
        out[small] = 1 - cdf
    large = lam >= 1.18
    if large.any():
        ll = lam[large]
        out[large] = 2 * (((-1) ** (k - 1)) * np.exp(-2 * k**2 * ll**2)).sum(0)
    return np.clip(out, 0.0, 1.0)


def _ks_exact(d: np.ndarray, m: int, n: int) -> np.ndarray:
    """``P(D >= d)`` for every statistic in ``d``, by walking the anti-diagonals of the (m, n) lattice.

    ``w[a, b]`` is the share of the orderings of ``a`` reference and ``b`` new values whose path
    stays inside ``|a/m - b/n| < d``; ``w[a, b] = a/(a+b) w[a-1, b] + b/(a+b) w[a, b-1]`` keeps it a
    probability (no huge path counts). ``D`` is ``|i n - j m| / (m n)`` for integers, so the band is
    compared in integers, free of rounding.
    """
    h = np.rint(d * m * n).astype(np.int64)[:, None]  # (D, 1)
    b = np.arange(n + 1)[None, :]  # diagonal s holds the cells (s - b, b)
    w = np.zeros((len(d), n + 1))
    w[:, 0] = 1.0  # the origin, always inside (h >= 1 unless d == 0, handled below)
    for s in range(1, m + n + 1):
        a = s - b
        inside = (a >= 0) & (a <= m) & (np.abs(a * n - b * m) < h)
        shifted = np.zeros_like(w)
        shifted[:, 1:] = w[:, :-1]  # w[a, b - 1] sits one place to the left on the previous diagonal
        w = np.where(inside, (np.clip(a, 0, None) / s) * w + (b / s) * shifted, 0.0)
    p = 1.0 - w[:, n]
    p[h[:, 0] <= 0] = 1.0  # D >= 0 always
    return np.clip(p, 0.0, 1.0)


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values: reject those ``<= alpha`` and the family-wise error is ``<= alpha``.

    Valid whatever the dependence between the tests (the code dimensions are dependent). It rejects
    "some dimension" exactly when Bonferroni does, and never fewer dimensions.

    >>> holm(np.array([0.01, 0.04, 0.03])).round(4).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=np.float64).reshape(-1)
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (len(p) - np.arange(len(p))) * p[order])
    adjusted = np.empty_like(p)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted
