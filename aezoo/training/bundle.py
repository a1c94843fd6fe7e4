"""Make a trained model directory what its Hub repository holds: metrics, figures and a model card.

``aezoo bundle DIR --name conv-mnist`` evaluates the model on its dataset's test split and writes,
next to ``model.safetensors`` and ``config.json``:

* ``metrics.json`` — the test-split metrics that go into the card's ``model-index``;
* ``eval.json`` — the full evaluation: every metric, throughput and hardware, and the metrics on
  the first ``check_n`` test images, which the test suite recomputes so a card never drifts from
  its weights;
* ``reconstructions.png``, ``loss_curve.png``, ``latent_map.png`` and, for models that can,
  ``samples.png`` / ``denoising.png``;
* ``README.md`` — the model card (:func:`aezoo.io.cards.build_card`), with the commands that
  reproduce the directory.

Training checkpoints are removed: they are for resuming, not for publishing. A folder whose
published files include a symlink, FIFO or device (:func:`aezoo.hub.upload.publishable_files`) is
refused before anything is read or written: a figure written through a link would overwrite its
target, and the folder is what ``aezoo publish`` uploads next.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ..core.config import dumps_json, read_json
from ..core.errors import DataError, WeightsError
from ..core.seeding import generator, seeded
from ..hub.upload import publishable_files
from ..io.cards import build_card
from ..io.serialization import CONFIG_NAME, WEIGHTS_NAME, atomic_write, read_config, sha256_file
from ..loading.loader import load_dir
from .config import History

__all__ = ["CARD_METRICS", "bundle"]

#: Metrics shown in the card (quality, not speed); model-specific ones are added when present.
CARD_METRICS = ("mse", "sse_per_image", "psnr", "bce", "neg_elbo", "nll", "psnr_noisy", "psnr_denoised")
CHECK_N = 1000  # test images re-evaluated by the test suite


def bundle(
    directory: str | Path,
    *,
    name: str,
    dataset: str | None = None,
    data_dir: str | Path | None = None,
    repo_id: str | None = None,
    nll_samples: int = 0,
    reproduce: Sequence[str] = (),
    device: str = "cpu",
    check_n: int = CHECK_N,
    probe: bool = False,
) -> dict[str, float]:
    """Evaluate the model in ``directory`` and write its metrics, figures and card; returns the metrics.

    ``probe`` adds the linear-probe accuracy of the codes and of PCA with as many components
    (:func:`aezoo.evaluation.probe.linear_probe`, trained on the train split) to the metrics and the card.

    >>> bundle("weights/mlp-mnist", name="mlp-mnist", data_dir="../shared/data")  # doctest: +SKIP
    {'bce': 0.08..., 'mse': 0.0118..., ...}
    """
    from ..data import load_dataset
    from ..evaluation import plots
    from ..evaluation.metrics import evaluate

    directory = Path(directory)
    publishable_files(directory)  # no link or special file among what is read, written and published
    config = read_config(directory)
    model = load_dir(directory, device=device)
    history = _read_history(directory)  # a damaged one fails before the evaluation, not after
    dataset = dataset or _trained_on(config)
    test = load_dataset(dataset, "test", root=data_dir, device=device)

    full = evaluate(model, test, nll_samples=nll_samples)
    check = evaluate(model, test.subset(check_n), nll_samples=0)
    metrics = {k: float(full[k]) for k in CARD_METRICS if k in full}
    if nll_samples:
        metrics["nll_samples"] = float(nll_samples)
    if probe:
        from ..evaluation.probe import linear_probe

        train = load_dataset(dataset, "train", root=data_dir, device=device)
        probed = linear_probe(model, train, test)
        metrics.update({k: float(probed[k]) for k in ("probe_accuracy", "pca_probe_accuracy")})

    can = type(model).capabilities
    # The figures are reproducible: samples and noise come from a seeded generator; the latent
    # map's PCA projection draws from torch's global one, seeded for the block only.
    with seeded(0, device):
        plots.reconstruction_grid(model, test, directory / "reconstructions.png", n=16)
        plots.latent_map(model, test, directory / "latent_map.png")
        if history is not None:
            plots.loss_curve(history, directory / "loss_curve.png")
        if can.sample:
            plots.sample_grid(model, directory / "samples.png", n=64, generator=generator(0, device))
        if can.corrupt:
            plots.denoising_grid(model, test, directory / "denoising.png", n=8, generator=generator(1, device))
    for p in directory.glob("checkpoint*"):
        p.unlink()

    _write_json(directory / "metrics.json", metrics)
    _write_json(
        directory / "eval.json",
        {
            "dataset": f"{dataset}/test",
            "test": _plain(full),
            f"first_{check_n}": _plain(check),
            "check_n": check_n,
            "nll_samples": nll_samples,
            "device": device,
            "hardware": _hardware(device),
            "torch_version": torch.__version__,
        },
    )
    if reproduce:
        config["reproduce"] = list(reproduce)
        with atomic_write(directory / CONFIG_NAME, "w") as f:
            f.write(dumps_json(config))
    files = [p.name for p in directory.iterdir() if p.is_file()]
    card = build_card(
        config,
        repo_id=repo_id or f"aezoo/{name}",
        metrics=metrics,
        files=files,
        sha256=sha256_file(directory / WEIGHTS_NAME),
        dataset=dataset,
    )
    with atomic_write(directory / "README.md", "w") as f:
        f.write(str(card))
    return metrics


def _read_history(directory: Path) -> dict[str, Any] | None:
    path = directory / "history.json"
    if not path.is_file():
        return None
    data = read_json(path, error=WeightsError, allow_nan=True, fix="train the model again")
    try:
        return History.from_dict(data).to_dict()
    except (TypeError, ValueError, AttributeError):
        raise WeightsError(f"{path} is not a training history; train the model again") from None


def _trained_on(config: Mapping[str, Any]) -> str:
    training = config.get("training")
    name = str(training.get("dataset") or "").split("/")[0] if isinstance(training, Mapping) else ""
    if not name:
        raise DataError("config.json does not say which dataset the model was trained on; pass dataset= (--dataset)")
    return name


def _plain(metrics: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v) for k, v in metrics.items()}


def _hardware(device: str) -> str:
    from .outputs import hardware_name

    return hardware_name(torch.device(device))


def _write_json(path: Path, data: Any) -> None:
    with atomic_write(path, "w") as f:
        f.write(dumps_json(data))
