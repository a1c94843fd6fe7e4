"""aezoo.applications.sklearn.AutoencoderEstimator: scikit-learn's contract, pipelines, grid search, outliers."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("sklearn", reason='the estimator tests need pip install "aezoo[sklearn]"')

from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import aezoo
from aezoo.applications.anomaly import roc_auc
from aezoo.applications.sklearn import AutoencoderEstimator
from aezoo.core.errors import InputError


def _subspace(n: int, dim: int = 3, features: int = 10, seed: int = 0) -> np.ndarray:
    """Points on a random ``dim``-dimensional subspace of ``features`` dimensions, with a little noise."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(features, dim)))[0].T
    return rng.normal(size=(n, dim)) @ basis * 3 + 0.05 * rng.normal(size=(n, features))


@parametrize_with_checks([AutoencoderEstimator(epochs=1)])
def test_scikit_learn_estimator_checks(estimator: AutoencoderEstimator, check: Callable[..., None]) -> None:
    check(estimator)


def test_pipeline_and_grid_search_pick_the_true_dimension() -> None:
    x = _subspace(400, dim=3)
    pipe = make_pipeline(StandardScaler(), AutoencoderEstimator(architecture="linear", epochs=40, lr=1e-2))
    search = GridSearchCV(pipe, {"autoencoderestimator__n_components": [1, 3]}, cv=2).fit(x)
    assert search.best_params_ == {"autoencoderestimator__n_components": 3}
    codes = search.best_estimator_.transform(x)
    assert codes.shape == (400, 3)
    back = search.best_estimator_.inverse_transform(codes)
    assert back.shape == x.shape and np.mean((back - x) ** 2) < 0.05 * np.var(x)


def test_outliers_off_the_subspace_score_lower() -> None:
    x = _subspace(500)
    est = AutoencoderEstimator(n_components=3, epochs=60, lr=3e-3, contamination=0.05).fit(x)
    assert abs(np.mean(est.predict(x) == -1) - 0.05) <= 0.01  # the fraction asked for, on the training data
    outliers = np.random.default_rng(1).normal(size=(100, 10)) * 3
    scores = np.concatenate([est.score_samples(x[:100]), est.score_samples(outliers)])
    is_outlier = np.r_[np.zeros(100), np.ones(100)]
    assert roc_auc(torch.from_numpy(-scores), torch.from_numpy(is_outlier)) > 0.95
    assert np.mean(est.predict(outliers) == -1) > 0.9
    np.testing.assert_allclose(est.decision_function(x), est.score_samples(x) - est.offset_)


def test_a_bundled_model_without_training(shared_data_copy: Path) -> None:
    mnist = aezoo.load_dataset("mnist", "test", root=shared_data_copy).x[:300].flatten(1).numpy()
    fashion = aezoo.load_dataset("fashion-mnist", "test", root=shared_data_copy).x[:300].flatten(1).numpy()
    est = AutoencoderEstimator(model="conv-mnist").fit(mnist)
    model = aezoo.load("conv-mnist")
    with torch.no_grad():
        expected = model.encode(torch.from_numpy(mnist[:10]).view(10, 1, 28, 28))
    np.testing.assert_allclose(est.transform(mnist[:10]), expected.numpy(), atol=1e-5)
    assert est.inverse_transform(est.transform(mnist[:10])).shape == (10, 784)
    scores = np.r_[est.score_samples(mnist), est.score_samples(fashion)]
    assert roc_auc(torch.from_numpy(-scores), torch.from_numpy(np.r_[np.zeros(300), np.ones(300)])) > 0.95
    with pytest.raises(InputError, match="takes 784 features per sample"):
        AutoencoderEstimator(model="conv-mnist").fit(mnist[:, :100])


def test_bad_input_is_an_input_error() -> None:
    x = _subspace(50)
    est = AutoencoderEstimator(epochs=1).fit(x)
    with pytest.raises(InputError, match="10 features"):
        est.transform(x[:, :4])
    with pytest.raises(InputError, match="0 sample"):
        AutoencoderEstimator(epochs=1).fit(np.empty((0, 10)))
    with pytest.raises(InputError, match="dim 3"):
        est.transform(x[None])
    with pytest.raises(InputError, match="NaN"):
        est.score_samples(np.full((2, 10), np.nan))
    with pytest.raises(InputError, match=r"codes of shape \(n, 2\)"):
        est.inverse_transform(np.zeros((3, 5)))
    with pytest.raises(InputError, match="contamination"):
        AutoencoderEstimator(contamination=0.9).fit(x)
    assert issubclass(InputError, ValueError)  # what scikit-learn's own checks expect


@pytest.mark.slow  # fresh interpreters
def test_import_aezoo_does_not_import_sklearn_and_its_absence_is_explained() -> None:
    code = "import sys, aezoo, aezoo.applications; aezoo.create('linear'); print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    code = (
        "import sys; sys.modules['sklearn'] = None\n"
        "try:\n    import aezoo.applications.sklearn\nexcept Exception as e:\n    print(type(e).__name__, e)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("MissingDependencyError") and 'pip install "aezoo[sklearn]"' in out
