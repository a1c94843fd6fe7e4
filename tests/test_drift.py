"""Drift detection on codes: the statistics against hand-computed values and scipy, the error rates of
the decision, persistence without pickle, refusals, and ``aezoo drift`` end to end."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import aezoo
from aezoo.applications.drift import DriftDetector, DriftResult
from aezoo.applications.two_sample import (
    holm,
    ks_p_values,
    ks_statistics,
    median_bandwidth,
    mmd2_unbiased,
    mmd_permutation_test,
)
from aezoo.cli.drift import DRIFT_EXIT
from aezoo.cli.main import cli
from aezoo.core.errors import ConfigError, InputError
from aezoo.io.drift import codes_path

SHAPE = (1, 8, 8)


@pytest.fixture(scope="module")
def model() -> aezoo.Autoencoder:
    torch.manual_seed(0)
    return aezoo.create("linear", input_shape=SHAPE, latent_dim=2).eval()


def _inputs(n: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    return torch.rand(n, *SHAPE, generator=torch.Generator().manual_seed(seed)) + shift


# ----------------------------------------------------------------------------- statistics
def test_unbiased_mmd_matches_the_hand_computed_value() -> None:
    x, y, s = torch.tensor([[0.0], [1.0]]), torch.tensor([[0.0], [2.0], [4.0]]), 1.5

    def k(a: float, b: float) -> float:
        return math.exp(-((a - b) ** 2) / (2 * s * s))

    xs, ys = [0.0, 1.0], [0.0, 2.0, 4.0]
    kxx = sum(k(a, b) for i, a in enumerate(xs) for j, b in enumerate(xs) if i != j) / 2
    kyy = sum(k(a, b) for i, a in enumerate(ys) for j, b in enumerate(ys) if i != j) / 6
    kxy = sum(k(a, b) for a in xs for b in ys) / 6
    assert mmd2_unbiased(x, y, s) == pytest.approx(kxx + kyy - 2 * kxy, abs=1e-6)
    assert mmd2_unbiased(y, x, s) == pytest.approx(kxx + kyy - 2 * kxy, abs=1e-6)  # symmetric
    assert median_bandwidth(torch.tensor([[0.0], [1.0], [3.0]])) == 2.0


def test_permutation_p_values_hold_alpha_under_h0_and_have_power() -> None:
    g = torch.Generator().manual_seed(0)
    p = []
    for i in range(200):
        x, y = torch.randn(30, 2, generator=g), torch.randn(20, 2, generator=g)
        p.append(mmd_permutation_test(x, y, 1.0, n_permutations=99, generator=torch.Generator().manual_seed(i))[1])
    p_arr = np.array(p)
    # 200 tests at alpha = 0.05: 10 expected; 20 is beyond the binomial's 99.9 % quantile
    assert int((p_arr <= 0.05).sum()) <= 20
    assert 0.35 < float(np.mean(p_arr)) < 0.65  # uniform-ish: mean 0.5
    assert float(np.mean(p_arr <= 0.5)) == pytest.approx(0.5, abs=0.12)
    shifted = [
        mmd_permutation_test(torch.randn(30, 2, generator=g), torch.randn(20, 2, generator=g) + 1.0, 1.0)[1]
        for _ in range(20)
    ]
    assert np.mean(np.array(shifted) <= 0.05) >= 0.9
    # deterministic: the same generator seed gives the same p-value
    x, y = torch.randn(30, 2, generator=g), torch.randn(20, 2, generator=g)
    one = mmd_permutation_test(x, y, 1.0, generator=torch.Generator().manual_seed(3))
    assert one == mmd_permutation_test(x, y, 1.0, generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize(("m", "n"), [(3, 3), (10, 7), (40, 60), (30, 200), (300, 50), (2000, 100)])
def test_ks_statistics_and_p_values_match_scipy(m: int, n: int) -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(m * n)
    a = rng.normal(size=(m, 3))
    b = rng.normal(size=(n, 3)) + np.array([0.0, 0.3, 0.8])
    d = ks_statistics(torch.from_numpy(np.sort(a.T, axis=1)), torch.from_numpy(b)).numpy()
    p = ks_p_values(d, m, n)
    for j in range(3):
        ref = stats.ks_2samp(a[:, j], b[:, j], method="exact")
        assert d[j] == pytest.approx(ref.statistic, abs=1e-9)
        if m * n <= 10_000:  # exact: the same numbers
            assert p[j] == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-12)
        else:  # asymptotic with Stephens' correction: within a few percent where it matters
            assert p[j] == pytest.approx(ref.pvalue, rel=0.1, abs=2e-3)


def test_holm_adjusts_step_down() -> None:
    assert holm(np.array([0.01, 0.04, 0.03])).tolist() == pytest.approx([0.03, 0.06, 0.06])
    assert holm(np.array([0.5, 0.9])).tolist() == pytest.approx([1.0, 1.0])


# ----------------------------------------------------------------------------- the detector
def test_fit_once_and_test_many_batches(model) -> None:
    reference = _inputs(3000, 0)
    detector = DriftDetector.fit(model, reference, max_reference=400, n_permutations=199)
    assert detector.n_reference == 400 and detector.n_reference_total == 3000
    again = DriftDetector.fit(model, reference, max_reference=400, n_permutations=199)
    assert torch.equal(detector.reference_codes, again.reference_codes)  # the subset is fixed by the seed
    same = detector.test(_inputs(100, 1))
    assert isinstance(same, DriftResult) and not same.drift and same.n == 100 and same.correction == "holm"
    assert same == detector.test(_inputs(100, 1))  # deterministic
    drifted = detector.test(_inputs(100, 2, shift=0.3))
    assert drifted.drift and drifted.p_value <= 0.05 and drifted.drifted_dimensions
    assert len(drifted.ks_p_values) == len(drifted.ks_statistics) == 2
    batches = detector.test_batches(_inputs(301, 3), 100)
    assert [r.n for r in batches] == [100, 100, 100]  # the one sample left over is no test
    json.dumps(drifted.to_dict())


def test_combined_rule_is_bonferroni_over_the_two_tests(model) -> None:
    detector = DriftDetector.fit(model, _inputs(500, 0), n_permutations=199)
    r = detector.test(_inputs(60, 4, shift=0.05))
    assert r.p_value == pytest.approx(min(1.0, 2 * min(r.mmd_p_value, min(r.ks_p_values))))
    mmd = detector.with_settings(rule="mmd").test(_inputs(60, 4, shift=0.05))
    ks = detector.with_settings(rule="ks").test(_inputs(60, 4, shift=0.05))
    assert mmd.p_value == r.mmd_p_value and ks.p_value == min(r.ks_p_values)
    assert r.drift == (min(mmd.p_value, ks.p_value) <= 0.025)


def test_false_positive_rate_of_the_combined_rule_holds_alpha() -> None:
    """Held-out reference batches: the detector's own decision, 200 tests, within a binomial bound."""
    g = torch.Generator().manual_seed(1)
    reference = torch.randn(400, 3, generator=g)  # codes drawn directly: the null hypothesis holds exactly
    model = aezoo.create("linear", input_shape=SHAPE, latent_dim=3)
    detector = DriftDetector(model, reference, bandwidth=median_bandwidth(reference), n_permutations=99)
    codes = torch.randn(200, 30, 3, generator=g)
    flagged = sum(detector.test_codes(c).drift for c in codes)
    assert flagged <= 20  # 10 expected at alpha = 0.05; P(Binomial(200, 0.05) > 20) < 0.001


def test_save_and_load_round_trip_without_pickle(model, tmp_path) -> None:
    detector = DriftDetector.fit(model, _inputs(300, 0), n_permutations=99, model_ref="somewhere")
    path = detector.save(tmp_path / "drift.json")
    assert codes_path(path).is_file()
    data = json.loads(path.read_text())
    assert data["kind"] == "aezoo.DriftDetector" and data["format"] == 1 and data["correction"] == "holm"
    loaded = DriftDetector.load(path, model)
    assert torch.equal(loaded.reference_codes, detector.reference_codes)
    x = _inputs(80, 5, shift=0.1)
    assert loaded.test(x) == detector.test(x)
    with pytest.raises(InputError, match=r"\.json"):
        detector.save(tmp_path / "drift.pkl")
    nameless = DriftDetector.fit(model, _inputs(50, 0), n_permutations=99).save(tmp_path / "nameless.json")
    with pytest.raises(InputError, match=r"names no model .*DriftDetector.load\(path, model\)"):
        DriftDetector.load(nameless)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("alpha", 1.5, '"alpha"'),
        ("bandwidth", -1, '"bandwidth"'),
        ("rule", "vote", '"rule"'),
        ("n_reference", 7, '"codes"'),
        ("codes", "../x.safetensors", '"codes"'),
        ("weights_sha256", "abc", '"weights_sha256"'),
        ("seed", "0", '"seed"'),
    ],
)
def test_a_damaged_file_is_a_config_error_naming_the_field(model, tmp_path, field, value, match) -> None:
    path = DriftDetector.fit(model, _inputs(100, 0), n_permutations=99).save(tmp_path / "d.json")
    data = json.loads(path.read_text())
    data[field] = value
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=match):
        DriftDetector.load(path, model)


def test_tampered_codes_and_not_a_detector_are_refused(model, tmp_path) -> None:
    path = DriftDetector.fit(model, _inputs(100, 0), n_permutations=99).save(tmp_path / "d.json")
    codes = codes_path(path)
    raw = bytearray(codes.read_bytes())
    raw[-1] ^= 1
    codes.write_bytes(bytes(raw))
    with pytest.raises(ConfigError, match="codes_sha256"):
        DriftDetector.load(path, model)
    codes.unlink()
    with pytest.raises(ConfigError, match='"codes"'):
        DriftDetector.load(path, model)
    path.write_bytes(b"\x80\x04pickle")
    with pytest.raises(ConfigError):
        DriftDetector.load(path, model)


def test_a_model_with_other_weights_is_refused_unless_allowed(model, tmp_path) -> None:
    path = DriftDetector.fit(model, _inputs(100, 0), n_permutations=99).save(tmp_path / "d.json")
    other = aezoo.create("linear", input_shape=SHAPE, latent_dim=2)
    with pytest.raises(ConfigError, match=r"other weights.*allow_other_model=True"):
        DriftDetector.load(path, other)
    assert DriftDetector.load(path, other, allow_other_model=True).model is other
    wider = aezoo.create("linear", input_shape=SHAPE, latent_dim=3)
    with pytest.raises(ConfigError, match="latent_dim"):
        DriftDetector.load(path, wider, allow_other_model=True)


def test_too_large_a_batch_is_refused_up_front(model, monkeypatch) -> None:
    detector = DriftDetector.fit(model, _inputs(200, 0), n_permutations=99, max_batch=100)
    with pytest.raises(InputError, match=r"max_batch=100.*test_batches"):
        detector.test(_inputs(150, 1))
    monkeypatch.setenv("AEZOO_MEMORY_BUDGET", "100K")  # 300 codes need ~700 KiB
    with pytest.raises(InputError, match=r"MiB.*AEZOO_MEMORY_BUDGET.*smaller"):
        detector.test(_inputs(100, 1))


def test_bad_settings_and_inputs_are_input_errors(model) -> None:
    with pytest.raises(InputError, match="alpha"):
        DriftDetector.fit(model, _inputs(50, 0), alpha=0)
    with pytest.raises(InputError, match="n_permutations=10 cannot reach"):
        DriftDetector.fit(model, _inputs(50, 0), n_permutations=10)
    with pytest.raises(aezoo.UnknownNameError):
        DriftDetector.fit(model, _inputs(50, 0), rule="vote")
    detector = DriftDetector.fit(model, _inputs(50, 0), n_permutations=99)
    with pytest.raises(InputError, match="at least 2"):
        detector.test(_inputs(1, 1))
    with pytest.raises(InputError, match=r"\(n, 2\)"):
        detector.test_codes(torch.zeros(5, 3))


# ----------------------------------------------------------------------------- CLI
def test_cli_fits_tests_saves_and_reuses(model, tmp_path) -> None:
    model.save_pretrained(tmp_path / "m")
    np.save(tmp_path / "ref.npy", _inputs(400, 0).numpy())
    np.save(tmp_path / "same.npy", _inputs(200, 1).numpy())
    np.save(tmp_path / "moved.npy", _inputs(200, 2, shift=0.3).numpy())
    runner = CliRunner()
    base = [str(tmp_path / "m"), "--permutations", "199", "-q"]
    ok = runner.invoke(
        cli, ["drift", *base, "--reference", str(tmp_path / "ref.npy"), "--dataset", str(tmp_path / "same.npy"),
              "--save", str(tmp_path / "d.json")], catch_exceptions=False)  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert "no drift in 1 batches" in ok.output and "mmd_p" in ok.output
    moved = runner.invoke(
        cli, ["drift", *base, "--detector", str(tmp_path / "d.json"), "--dataset", str(tmp_path / "moved.npy"),
              "--batch-size", "100", "--json"], catch_exceptions=False)  # fmt: skip
    assert moved.exit_code == DRIFT_EXIT == 3, moved.output
    report = json.loads(moved.output)
    assert report["drift"] and report["batches"] == 2 and len(report["results"]) == 2
    assert report["results"][0]["ks_p_values"] and report["rule"] == "combined"
    neither = runner.invoke(cli, ["drift", *base, "--dataset", str(tmp_path / "same.npy")])
    assert neither.exit_code == 1 and "--reference" in neither.output and "Traceback" not in neither.output
