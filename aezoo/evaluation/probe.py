"""Feature quality as a number: the linear-probe accuracy of a model's codes, beside PCA's.

A linear classifier (multinomial logistic regression, fitted full-batch with L-BFGS in torch,
so scikit-learn is not needed) is trained on the codes of the labelled training split and
scored on the test split. The baseline is the same probe on the first ``latent_dim``
principal components of the training inputs: a code that beats it has learnt more than the
linear subspace PCA finds with as many numbers.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ..core.errors import DataError, InputError
from ..data import Dataset

if TYPE_CHECKING:
    from ..models.base import Autoencoder

__all__ = ["LinearProbe", "linear_probe", "pca_basis"]


@dataclasses.dataclass
class LinearProbe:
    """Multinomial logistic regression on standardised features, fitted with L-BFGS.

    >>> x = torch.cat([torch.randn(50, 2) - 3, torch.randn(50, 2) + 3])
    >>> y = torch.cat([torch.zeros(50), torch.ones(50)]).long()
    >>> LinearProbe.fit(x, y).accuracy(x, y)
    1.0
    """

    weight: Tensor  # (classes, features), on standardised features
    bias: Tensor  # (classes,)
    mean: Tensor  # (features,) subtracted before the weights
    std: Tensor  # (features,) divided by after the mean

    @classmethod
    def fit(cls, features: Tensor, labels: Tensor, *, l2: float = 1e-4, max_iter: int = 500) -> LinearProbe:
        """Fit on ``features`` ``(N, D)`` and integer ``labels`` ``(N,)``; ``l2`` weighs ``|W|^2 / 2``."""
        x, y = _check(features, labels)
        classes = int(y.max()) + 1
        mean, std = x.mean(0), x.std(0, unbiased=False).clamp_min(1e-8)
        x = (x - mean) / std
        weight = torch.zeros(classes, x.shape[1], dtype=x.dtype, device=x.device, requires_grad=True)
        bias = torch.zeros(classes, dtype=x.dtype, device=x.device, requires_grad=True)
        opt = torch.optim.LBFGS(
            [weight, bias], lr=1.0, max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe",
            tolerance_grad=1e-7, tolerance_change=1e-10,
        )  # fmt: skip

        def closure() -> Tensor:
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(x @ weight.T + bias, y) + 0.5 * l2 * weight.square().sum()
            loss.backward()
            return loss

        with torch.enable_grad():
            opt.step(closure)
        return cls(weight.detach(), bias.detach(), mean, std)

    def predict(self, features: Tensor) -> Tensor:
        """The most likely class of each row of ``features``."""
        x = features.to(self.weight)
        return (((x - self.mean) / self.std) @ self.weight.T + self.bias).argmax(1)

    def accuracy(self, features: Tensor, labels: Tensor) -> float:
        """The fraction of rows whose predicted class is ``labels``."""
        x, y = _check(features, labels)
        return float((self.predict(x) == y).double().mean())


def _check(features: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    if features.dim() != 2 or labels.dim() != 1 or len(features) != len(labels):
        raise InputError(
            f"a probe takes features (N, D) and labels (N,), got {tuple(features.shape)} and {tuple(labels.shape)}"
        )
    if len(features) == 0:
        raise InputError("a probe needs at least one labelled sample, got none")
    if not bool(torch.isfinite(features).all()):
        raise InputError("the features contain NaN or infinite values")
    y = labels.long().to(features.device)
    if int(y.min()) < 0:
        raise InputError(f"labels must be class indices >= 0, got {int(y.min())}")
    return features.double(), y


def pca_basis(x: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """``(mean, components)`` of the first ``k`` principal components of ``x`` ``(N, D)``.

    Eigenvectors of the covariance (decomposed in float64), largest first;
    ``(x - mean) @ components.T`` are the PCA codes.
    """
    x = x.flatten(1)
    if not 1 <= k <= x.shape[1]:
        raise InputError(f"PCA components must be between 1 and {x.shape[1]}, got {k}")
    mean = x.double().mean(0)
    xc = x - mean.to(x.dtype)
    cov = (xc.T @ xc).double() / max(len(x) - 1, 1)  # the big product in the data's precision
    _, vectors = torch.linalg.eigh(cov)
    return mean, vectors[:, -k:].flip(1).T.contiguous()


def _codes(model: Autoencoder, x: Tensor, batch_size: int) -> Tensor:
    with torch.no_grad():
        return torch.cat([model.encode(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]).double()


def _labelled(ds: Dataset, which: str) -> Tensor:
    if ds.y is None:
        raise DataError(
            f"the linear probe needs labels, but the {which} data {ds.name!r} has none; probe on a labelled "
            "dataset (mnist, fashion-mnist, or an .npz with keys x and y)"
        )
    if len(ds) == 0:
        raise InputError(f"the {which} data {ds.name!r} is empty")
    return ds.y


def linear_probe(
    model: Autoencoder,
    train: Dataset,
    test: Dataset,
    *,
    pca: bool = True,
    l2: float = 1e-4,
    max_iter: int = 500,
    batch_size: int = 1000,
) -> dict[str, float | int]:
    """Linear-probe accuracy of ``model``'s codes, trained on ``train``, scored on ``test``.

    Returns ``probe_accuracy`` and, with ``pca``, ``pca_probe_accuracy``: the same probe on as
    many principal components of the (model-space) training inputs as the code has numbers;
    plus ``probe_dim``, ``probe_train_n`` and ``probe_test_n``.

    >>> import aezoo
    >>> ds = aezoo.DeviceDataset(torch.rand(40, 1, 28, 28), torch.arange(40) % 2, name="random")
    >>> sorted(linear_probe(aezoo.create("linear"), ds, ds, max_iter=5))  # doctest: +NORMALIZE_WHITESPACE
    ['pca_probe_accuracy', 'probe_accuracy', 'probe_dim', 'probe_test_n', 'probe_train_n']
    """
    from ..evaluation.metrics import model_inputs

    y_train, y_test = _labelled(train, "training"), _labelled(test, "test")
    x_train = model_inputs(model, train.to(model.device))
    x_test = model_inputs(model, test.to(model.device))
    was_training = model.training
    model.eval()
    try:
        c_train, c_test = _codes(model, x_train, batch_size), _codes(model, x_test, batch_size)
    finally:
        model.train(was_training)
    probe = LinearProbe.fit(c_train, y_train, l2=l2, max_iter=max_iter)
    out: dict[str, float | int] = {"probe_accuracy": probe.accuracy(c_test, y_test)}
    if pca:
        k = min(model.latent_dim, x_train[0].numel())
        mean, components = pca_basis(x_train, k)
        p_train = (x_train.flatten(1).double() - mean) @ components.T
        p_test = (x_test.flatten(1).double() - mean) @ components.T
        pca_probe = LinearProbe.fit(p_train, y_train, l2=l2, max_iter=max_iter)
        out["pca_probe_accuracy"] = pca_probe.accuracy(p_test, y_test)
    out.update(probe_dim=model.latent_dim, probe_train_n=len(train), probe_test_n=len(test))
    return out
