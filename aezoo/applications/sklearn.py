"""A scikit-learn face for the zoo: an autoencoder as a transformer and an outlier detector.

``AutoencoderEstimator`` trains (or wraps) an aezoo model on a 2-D numpy array and then
``transform`` gives the codes, ``inverse_transform`` decodes them, ``score_samples`` is the
negative reconstruction error (higher is more normal, as in scikit-learn's outlier detectors)
and ``predict`` says +1 (inlier) or -1 (outlier) against a threshold set from
``contamination``. It composes with ``Pipeline``, ``GridSearchCV`` and ``clone``.

scikit-learn is an optional extra (``pip install "aezoo[sklearn]"``); ``import aezoo`` never
imports this module.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..core.errors import InputError, MissingDependencyError
from ..core.seeding import seeded
from ..data import DeviceDataset

try:
    from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, OutlierMixin, TransformerMixin
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as e:  # pragma: no cover - exercised in an environment without scikit-learn
    raise MissingDependencyError(
        f'aezoo.applications.sklearn needs scikit-learn >= 1.6 ({e}); run: pip install "aezoo[sklearn]"'
    ) from None

if TYPE_CHECKING:
    from ..models.base import Autoencoder

__all__ = ["AutoencoderEstimator"]

# Fields set for tabular data when the architecture's config has them and `config` does not:
# standardised columns are not pixel probabilities, and a ReLU code would die in 2 dimensions.
_TABULAR = {"code_activation": "linear", "output_activation": "linear", "loss": "mse"}


class AutoencoderEstimator(ClassNamePrefixFeaturesOutMixin, TransformerMixin, OutlierMixin, BaseEstimator):
    """An aezoo autoencoder as a scikit-learn transformer and outlier detector.

    Parameters
    ----------
    architecture : a registered architecture built for ``X``'s columns (``input_shape=(n_features,)``):
        ``dims = (n_features, *hidden, n_components)`` where its config has ``dims`` (mlp family),
        else ``latent_dim = n_components`` (and ``hidden_dims = hidden``).
    n_components : size of the code.
    hidden : hidden layer sizes between the input and the code.
    config : more config fields, e.g. ``{"activation": "tanh"}`` (override everything above).
    model : a trained model instead (a pretrained name, a directory, ``hf-hub:`` ref or an
        :class:`~aezoo.Autoencoder`): ``X`` has ``prod(model.input_shape)`` columns, in the model's
        input space (e.g. MNIST pixels in [0, 1]); it is fine-tuned only if ``epochs > 0``.
    epochs : training passes (default: 30 for a new model, 0 for ``model``).
    batch_size, lr : Adam's batch size and learning rate.
    contamination : expected fraction of outliers in the training data; sets ``offset_``.
    device : "cpu", "cuda", "auto", ...
    random_state : seed of the weights and the data order (an int) or None.
    verbose : show the training progress bar.

    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(200, 6))
    >>> est = AutoencoderEstimator(n_components=2, epochs=5).fit(X)
    >>> est.transform(X).shape, est.inverse_transform(est.transform(X)).shape, sorted(set(est.predict(X).tolist()))
    ((200, 2), (200, 6), [-1, 1])
    """

    def __init__(
        self,
        architecture: str = "mlp",
        *,
        n_components: int = 2,
        hidden: Sequence[int] = (64,),
        config: Mapping[str, Any] | None = None,
        model: str | Autoencoder | None = None,
        epochs: int | None = None,
        batch_size: int = 64,
        lr: float = 1e-3,
        contamination: float = 0.1,
        device: str = "cpu",
        random_state: int | None = 0,
        verbose: bool = False,
    ) -> None:
        self.architecture = architecture
        self.n_components = n_components
        self.hidden = hidden
        self.config = config
        self.model = model
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.contamination = contamination
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ----------------------------------------------------------------- sklearn API
    def fit(self, X: Any, y: Any = None) -> AutoencoderEstimator:
        """Train the autoencoder on ``X`` (n_samples, n_features); ``y`` is ignored."""
        self._check_params()
        x = self._validate(X, reset=True)
        seed = int(self.random_state) if self.random_state is not None else int(torch.seed() % 2**31)
        model = self._initial_model(x.shape[1], seed)
        epochs = self.epochs if self.epochs is not None else (0 if self.model is not None else 30)
        if epochs > 0:
            from ..training import train

            data = DeviceDataset(self._to_model(x, model), name="sklearn")
            train(
                model,
                data,
                epochs=epochs,
                batch_size=min(self.batch_size, len(x)),
                lr=self.lr,
                seed=seed,
                val_fraction=0.0,
                device=self.device,
                progress=self.verbose,
            )
        # Inference in float64, as scikit-learn computes: a sample's outputs then do not depend on
        # which batch it came in (float32 kernels differ in the last bits with the batch size).
        model.eval().double()
        self.model_ = model
        self._n_features_out = model.latent_dim
        self.offset_ = float(np.percentile(self._score(x, model), 100.0 * self.contamination))
        return self

    def transform(self, X: Any) -> np.ndarray:
        """The codes of ``X``: shape (n_samples, n_components)."""
        check_is_fitted(self)
        x = self._validate(X)
        with torch.no_grad():
            codes = self._batched(self.model_.encode, self._to_model(x, self.model_))
        return codes.cpu().numpy().astype(x.dtype, copy=False)

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Decode codes ``X`` (n_samples, n_components) back to (n_samples, n_features_in_)."""
        check_is_fitted(self)
        z = self._as_array(X, "codes")
        if z.shape[1] != self.model_.latent_dim:
            raise InputError(
                f"inverse_transform takes codes of shape (n, {self.model_.latent_dim}), got {z.shape}; "
                "pass the output of transform"
            )
        with torch.no_grad():
            out = self._batched(self.model_.decode, torch.as_tensor(z, dtype=torch.float64, device=self.model_.device))
        return out.flatten(1).cpu().numpy().astype(z.dtype, copy=False)

    def score_samples(self, X: Any) -> np.ndarray:
        """Negative reconstruction error (mean squared error per sample): the lower, the more abnormal."""
        check_is_fitted(self)
        return self._score(self._validate(X), self.model_)

    def decision_function(self, X: Any) -> np.ndarray:
        """``score_samples(X) - offset_``: negative for outliers, positive for inliers."""
        return self.score_samples(X) - self.offset_

    def predict(self, X: Any) -> np.ndarray:
        """+1 for inliers, -1 for outliers (reconstruction error above the training quantile)."""
        return np.where(self.decision_function(X) < 0, -1, 1)

    def score(self, X: Any, y: Any = None) -> float:
        """Mean negative reconstruction error on ``X`` (higher is better): GridSearchCV's default."""
        return float(np.mean(self.score_samples(X)))

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    # ----------------------------------------------------------------- internals
    def _check_params(self) -> None:
        c = self.contamination
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not 0.0 < c <= 0.5:
            raise InputError(f"contamination must be a fraction in (0, 0.5], got {c!r}")
        for name in ("n_components", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise InputError(f"{name} must be a positive integer, got {value!r}")
        if self.epochs is not None and (not isinstance(self.epochs, (int, np.integer)) or self.epochs < 0):
            raise InputError(f"epochs must be an integer >= 0 (or None for the default), got {self.epochs!r}")

    def _validate(self, X: Any, *, reset: bool = False) -> np.ndarray:
        try:
            return validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])
        except ValueError as e:
            if isinstance(e, InputError):
                raise
            raise InputError(str(e)) from None

    @staticmethod
    def _as_array(X: Any, what: str) -> np.ndarray:
        from sklearn.utils import check_array

        try:
            return check_array(X, dtype=[np.float64, np.float32], input_name=what)
        except ValueError as e:
            raise InputError(str(e)) from None

    def _initial_model(self, n_features: int, seed: int) -> Autoencoder:
        from ..models.base import Autoencoder

        if self.model is None:
            return self._build(n_features, seed)
        if isinstance(self.model, Autoencoder):
            model = copy.deepcopy(self.model)  # fit never changes a parameter
        else:
            from ..loading.loader import load

            model = load(self.model)
        model = model.to(self._device())
        size = int(np.prod(model.input_shape))
        if size != n_features:
            raise InputError(
                f"the {model.architecture!r} model takes {size} features per sample (input_shape "
                f"{tuple(model.input_shape)}), but X has {n_features} columns"
            )
        return model

    def _build(self, n_features: int, seed: int) -> Autoencoder:
        from ..registry.architectures import create, get_architecture

        fields = {f.name for f in dataclasses.fields(get_architecture(self.architecture).config_class)}
        hidden = tuple(int(h) for h in self.hidden)
        overrides: dict[str, Any] = {"input_shape": (n_features,)}
        if "dims" in fields:
            overrides["dims"] = (n_features, *hidden, int(self.n_components))
        elif "latent_dim" in fields:
            overrides["latent_dim"] = int(self.n_components)
        if "hidden_dims" in fields:
            overrides["hidden_dims"] = hidden
        overrides.update({k: v for k, v in _TABULAR.items() if k in fields})
        overrides.update(self.config or {})
        with seeded(seed):  # seed the weights without touching the caller's random state
            model = create(self.architecture, **overrides)
        return model.to(self._device())

    def _device(self) -> torch.device:
        from ..training.distributed import resolve_device

        return torch.device(resolve_device(self.device))

    @staticmethod
    def _to_model(x: np.ndarray, model: Autoencoder) -> torch.Tensor:
        dtype = next(model.parameters(), torch.empty(0)).dtype
        t = torch.tensor(x, dtype=dtype, device=model.device)  # a copy: sklearn may hand read-only arrays
        return t.view(len(x), *model.input_shape)

    @staticmethod
    def _batched(fn: Any, x: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
        return torch.cat([fn(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])

    def _score(self, x: np.ndarray, model: Autoencoder) -> np.ndarray:
        inputs = self._to_model(x, model)
        with torch.no_grad():
            recon = self._batched(lambda b: model(b).reconstruction, inputs)
        return -(recon - inputs).square().flatten(1).mean(1).double().cpu().numpy()
